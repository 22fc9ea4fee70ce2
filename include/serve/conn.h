/*
 * conn.h - a client connection of a worker: reading request heads, handing
 * them to request.c, writing responses (a head and a body from memory, or
 * file data sent by the I/O pool), keep-alive and pipelining, timeouts.
 *
 * A connection belongs to its worker's loop thread. While one of its jobs
 * is in the I/O pool (c_job_busy), the pool thread may use c_fd and the
 * job's own fields, and nothing else; the loop does not free or close the
 * connection until the job is done.
 */
#ifndef SHOAL_CONN_H
#define SHOAL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/http.h"
#include "store/file.h"
#include "store/index.h"
#include "store/name.h"

struct fanout;
struct relay;
struct upload;
struct worker;

enum conn_state {
	CONN_READ_HEAD,		/* waiting for (the rest of) a request head */
	CONN_HANDLING,		/* request.c owns it (a pool job, say) */
	CONN_WRITE,		/* sending c_out, then the file body */
	CONN_RELAY,		/* relay.c streams a peer's answer */
	CONN_UPLOAD,		/* upload.c reads a request body */
	CONN_LINGER,		/* after an error: reading and discarding */
};

struct conn {
	struct conn *c_next, *c_prev;	/* the worker's list */
	struct worker *c_worker;
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
	char c_name[NAME_MAX_LEN + 1];
	size_t c_name_len;
	int64_t c_start_ms;
	bool c_close;			/* close after this response */

	/* the response: c_out holds the head (and a short body) */
	struct buf c_out;
	size_t c_out_off;
	int c_status;
	uint64_t c_body_len;		/* for the log: body bytes to send */
	uint64_t c_sent;		/* bytes written, head included */
	struct file_info c_file;	/* body from a file: fi_fd >= 0 */
	int c_open_fd;			/* opened from the loop, for the job */
	uint64_t c_file_off, c_file_end;

	struct fanout *c_fanout;	/* peers being asked */
	struct relay *c_relay;		/* a peer's answer being relayed */
	struct upload *c_upload;	/* a body being stored */

	/* a miss and the shared index (request.c) */
	bool c_claimed;			/* this request fetches the name */
	uint64_t c_fetch_id;
	bool c_waited;			/* counted as a collapsed waiter */
	struct index_fetch c_wait;	/* the fetch it waits for */
	unsigned c_wait_ticks;
	unsigned c_miss_tries;
	int64_t c_copy_expiry;		/* of the file opened, if a copy */

	/* the one I/O pool job a connection can have */
	struct iopool_job c_job;
	void (*c_job_then)(struct iopool_job *);	/* the caller's done */
	bool c_job_busy;
	bool c_dead;			/* closed while the job was busy */
	int c_job_err;
	struct buf c_job_out;		/* output of a job (a listing) */
};

/* Takes an accepted, nonblocking socket. */
void conn_accept(struct worker *w, int fd, const struct sockaddr *sa,
    socklen_t salen);

/* Worker stopping: every connection closes after its current (or next
 * imminent) response; idle ones close gracefully within half a second. */
void conn_drain_all(struct worker *w);

/* At exit, once the pool threads are joined: frees every connection. */
void conn_close_all(struct worker *w);

/*
 * For request.c: start sending c_out (head plus any body already in it)
 * and then, when c_file.fi_fd >= 0, the file from c_file_off to
 * c_file_end. The request is finished (logged, counted) when all is sent.
 */
void conn_send(struct conn *c);

/* For relay.c: the response is complete (c_out and the body went out);
 * log it and go on with keep-alive or close. */
void conn_done(struct conn *c);

/* For relay.c: the response cannot be completed; log it and close the
 * connection, so that the client sees it cut. */
void conn_abort(struct conn *c);

/* For relay.c: wait for the socket to take more (POLLOUT, send timeout),
 * or only watch for the client hanging up (while the peer or the disk is
 * slow), so that a client that walks away stops the relay at once. */
void conn_wait_writable(struct conn *c);
void conn_wait_hangup(struct conn *c);

/* For upload.c: wait for body bytes (POLLIN, body timeout), or for
 * nothing while the disk works. */
void conn_wait_readable(struct conn *c);
void conn_wait_nothing(struct conn *c);

/* For request.c: a complete text response (see response_text) sent with
 * conn_send. `extra` is NULL or whole header lines. */
void conn_send_text(struct conn *c, int status, const char *reason,
    const char *extra);

/* Runs work() in the pool and done() back on the loop, unless the
 * connection was closed meanwhile (then it is freed instead). */
void conn_submit(struct conn *c, void (*work)(struct iopool_job *),
    void (*done)(struct iopool_job *));

/* The connection of a job (container_of). */
struct conn *conn_of_job(struct iopool_job *job);

/* True when the response must say "Connection: keep-alive" (HTTP/1.0). */
bool conn_http10_keepalive(const struct conn *c);

#endif
