/*
 * conn.h - a client connection of a worker: reading request heads and
 * handing each to the server's router, reading a request body, writing
 * responses (a head and a body from memory, file data sent by the I/O
 * pool, or vectors its owner streams), keep-alive and pipelining,
 * timeouts.
 *
 * Owners. While a request is answered from the node's own state, the
 * connection is busy and needs nobody. When another module must drive it
 * (a relay streaming a peer's answer, an upload reading the body, a miss
 * waiting for peers, later a striped transfer), that module installs a
 * handler with conn_own(): from then on the connection's events and timer
 * go to the handler, and the module uses the connection only through the
 * calls below (conn_sendv, conn_read_body, the waits), never the socket.
 * Ownership ends with the answer (conn_send, conn_send_text), or with
 * conn_finish / conn_abort; the connection names no module above it.
 *
 * A connection belongs to its worker's loop thread. While one of its jobs
 * is in the I/O pool (c_job_busy), the pool thread may use c_fd and the
 * job's own fields, and nothing else; the loop does not free or close the
 * connection until the job is done.
 */
#ifndef SHOAL_SERVE_CONN_H
#define SHOAL_SERVE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/list.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/body.h"
#include "http/http.h"
#include "store/file.h"
#include "store/name.h"

struct conn;
struct server;

enum conn_state {
	CONN_READ_HEAD,		/* waiting for (the rest of) a request head */
	CONN_BUSY,		/* being answered; only a hang-up is watched */
	CONN_OWNED,		/* an owner's handler drives it */
	CONN_WRITE,		/* sending c_out, then the file body */
	CONN_LINGER,		/* closing: reading and discarding */
};

/* What an owner hears. on_io gets the events it waits for (conn_wait_*),
 * plus errors and hang-ups; on_timeout when the connection's timer fires;
 * on_close when the connection is freed while still owned (the worker
 * exits, say): the owner lets go, and must not answer. */
struct conn_handler {
	void (*on_io)(struct conn *c, short revents);
	void (*on_timeout)(struct conn *c);
	void (*on_close)(struct conn *c);
};

struct conn {
	struct list c_link;		/* the server's s_conns */
	struct server *c_srv;
	int c_fd;
	enum conn_state c_state;
	struct loop_timer c_timer;
	char c_addr[64];		/* client address, for the log */

	/* input: the head being read, then any pipelined bytes after it */
	char *c_in;
	size_t c_in_len, c_in_cap;
	size_t c_head_len;		/* of the request being handled */
	bool c_head_started;		/* a byte of this head has arrived */

	/* the request being handled */
	struct http_message c_req;
	char c_name[NAME_TARGET_MAX + 1];	/* a name, or a node's path */
	size_t c_name_len;
	bool c_has_version;		/* GET /NAME?version=DIGEST */
	struct digest c_version;
	int64_t c_start_ms;
	bool c_close;			/* close after this response */
	struct http_body c_body;	/* its body, once conn_body_begin() */
	bool c_continued;		/* "100 Continue" went out */
	bool c_hangup_wait;		/* the owner waits for a hang-up only */
	bool c_pipelined;		/* the next request's bytes came */

	/* the response: c_out holds the head (and a short body) */
	struct buf c_out;
	size_t c_out_off;
	int c_status;
	uint64_t c_body_len;		/* for the log: body bytes to send */
	uint64_t c_sent;		/* bytes written, head included */
	struct file_info c_file;	/* body from a file: fi_fd >= 0 */
	uint64_t c_file_off, c_file_end;
	int c_open_fd;			/* opened from the loop, for the job */
	int64_t c_copy_expiry;		/* of the file opened, if a copy */
	unsigned c_miss_tries;		/* back to ROOT after a miss */

	/* closing, when CONN_LINGER */
	struct list c_linger_link;	/* the server's s_lingering */
	int64_t c_linger_end;		/* loop time it closes at the latest */

	/* the owner, when CONN_OWNED */
	const struct conn_handler *c_handler;
	void *c_owner;

	/* the one I/O pool job a connection can have */
	struct iopool_job c_job;
	void (*c_job_then)(struct iopool_job *);	/* the caller's done */
	bool c_job_busy;
	bool c_dead;			/* closed while the job was busy */
	int c_job_err;
	struct buf c_job_out;		/* output of a job (a listing) */
};

/* Takes an accepted, nonblocking socket. */
void conn_accept(struct server *s, int fd, const struct sockaddr *sa,
    socklen_t salen);

/* Over the connection cap: answers an accepted socket 503 "too many
 * connections" (Retry-After: 1), closes it, and counts it refused. */
void conn_refuse(int fd);

/* At the connection cap: closes the connection that has lingered longest
 * (its answer went out; the client is still sending what it was refused),
 * to make room for a new one. Returns false when none lingers. */
bool conn_shed_linger(struct server *s);

/* Worker stopping: every connection closes after its current (or next
 * imminent) response; idle ones close gracefully within half a second. */
void conn_drain_all(struct server *s);

/* At exit, once the pool threads are joined: frees every connection (the
 * owners hear on_close). */
void conn_close_all(struct server *s);

/* -- answering ----------------------------------------------------- */

/*
 * Starts sending c_out (head plus any body already in it) and then, when
 * c_file.fi_fd >= 0, the file from c_file_off to c_file_end. The request
 * is finished (logged, counted) when all is sent. Ends any ownership.
 */
void conn_send(struct conn *c);

/* A complete text response (see response_text) sent with conn_send.
 * `extra` is NULL or whole header lines. */
void conn_send_text(struct conn *c, int status, const char *reason,
    const char *extra);

/* A 200 with `body` (copied; only its length for HEAD) of `type`, and
 * more header lines in `extra` (NULL: none), sent with conn_send. */
void conn_send_body(struct conn *c, const char *type, const char *extra,
    const char *body, size_t len);

/* True when the response must say "Connection: keep-alive" (HTTP/1.0). */
bool conn_http10_keepalive(const struct conn *c);

/* -- owners -------------------------------------------------------- */

/* Installs h with `owner` as its argument (conn_owner()); the connection
 * watches nothing until the owner says what to wait for. */
void conn_own(struct conn *c, const struct conn_handler *h, void *owner);
void *conn_owner(const struct conn *c);

/* The owner lets go without answering: the connection is busy again, to
 * be answered by whoever the owner hands the request to. */
void conn_release(struct conn *c);

/*
 * Sends what is left of c_out (the head) and then iov[0..n) (n at most
 * CONN_SENDV_MAX, or EINVAL), with MSG_MORE when `more` body follows.
 * Returns how many bytes of iov went
 * (the head's are not counted); when that is less than all of them, the
 * socket is full: wait with conn_wait_writable(). Returns -1 (errno) when
 * the client is gone.
 */
#define CONN_SENDV_MAX 7
ssize_t conn_sendv(struct conn *c, const struct iovec *iov, int n,
    bool more);

/*
 * Sends file bytes of c_file.fi_fd from c_file_off (advanced) towards
 * c_file_end, at most a chunk, by a pool job; the head (c_out) must have
 * gone (conn_out_pending() == 0). The owner hears on_io: POLLOUT when it
 * may go on (after waiting for room, if the socket was full; or its send
 * timeout), POLLERR when the client is gone. Nothing is watched while the
 * job runs.
 */
void conn_send_file_owned(struct conn *c);

/* Head bytes of c_out not yet sent. */
size_t conn_out_pending(const struct conn *c);

/* The owner sent a whole response: it is logged, counted, and the
 * connection goes on with keep-alive or closes. */
void conn_finish(struct conn *c);

/* The owner cannot complete the response: it is logged and the
 * connection closes at once, so the client sees it cut. */
void conn_abort(struct conn *c);

/* What the owner waits for: room to write (POLLOUT, send timeout); only a
 * hang-up (while a peer or the disk is slow; no timer; bytes of the next
 * request are not reported, they wait in the socket); body bytes
 * (POLLIN, body timeout); or nothing (no timer). */
void conn_wait_writable(struct conn *c);
void conn_wait_hangup(struct conn *c);
void conn_wait_readable(struct conn *c);
void conn_wait_nothing(struct conn *c);

/* Arms the connection's timer: on_timeout in `ms`. */
void conn_set_timer(struct conn *c, int64_t ms);

/* -- the request body ---------------------------------------------- */

/* The body of c_req (Content-Length or chunked) is to be read. */
void conn_body_begin(struct conn *c);

/* Sends "100 Continue" when the client asked for it and it has not gone
 * yet. Returns 0, or -1 when the client is gone. */
int conn_continue(struct conn *c);

/*
 * Reads body bytes, decoded, into buf[0..cap): the bytes that came with
 * the head first, then the socket. Never reads past the body: what
 * follows it (a pipelined request) stays for the connection. Returns how
 * many (> 0); 0 with errno EAGAIN when none are there now (wait with
 * conn_wait_readable()), or with errno 0 when the body is complete; -1
 * with errno ECONNRESET (the client closed or reset) or EPROTO (bad
 * chunked framing: answer 400).
 */
ssize_t conn_read_body(struct conn *c, char *buf, size_t cap);

bool conn_body_done(const struct conn *c);

/* -- pool jobs ----------------------------------------------------- */

/* Runs work() in the pool and done() back on the loop, unless the
 * connection was closed meanwhile (then it is freed instead). */
void conn_submit(struct conn *c, void (*work)(struct iopool_job *),
    void (*done)(struct iopool_job *));

/* The connection of a job. */
struct conn *conn_of_job(struct iopool_job *job);

#endif
