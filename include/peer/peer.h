/*
 * peer.h - the HTTP client side of a worker: one request to another node
 * over a nonblocking socket driven by the worker's loop, with the response
 * parsed as strictly as a client's request and its body handed over as it
 * arrives, at the pace the consumer can take (backpressure).
 *
 * General on purpose (any method, a request head of the caller's making),
 * so that lookups, and later gossip and part transfers, share it.
 * Connections that end a response cleanly with keep-alive go back to a
 * per-worker, per-peer idle pool; a request that fails on a reused
 * connection before any byte of answer is retried once on a fresh one.
 *
 * Loop thread only. A peer_conn belongs to its handler from peer_request()
 * until on_done/on_fail or peer_conn_close(); after on_done the handler
 * gives it back with peer_conn_release().
 */
#ifndef SHOAL_PEER_H
#define SHOAL_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "event/loop.h"
#include "http/http.h"

struct config_peer;
struct worker;
struct peer_conn;

/* The header of a lookup sent by one node to another (fanout.c); a request
 * carrying it is answered from local files only (request.c), so lookups
 * never loop. The generic parser knows no X-Shoal-* header: find it with
 * http_find_header(). */
#define PEER_LOOKUP_HEADER "X-Shoal-Lookup"

enum peer_failure {
	PEER_REFUSED,		/* connect failed, reset before an answer */
	PEER_TIMEOUT,		/* no answer, or a stall, past the deadline */
	PEER_BAD_RESPONSE,	/* a head or chunk framing we do not accept */
	PEER_CUT,		/* closed before the body was complete */
};

struct peer_handler {
	/* The response head is in pc_resp. */
	void (*on_head)(struct peer_conn *pc, void *arg);
	/* Body bytes are at peer_conn_data(); call peer_conn_consumed()
	 * when done with all of them (reading pauses until then). */
	void (*on_body)(struct peer_conn *pc, void *arg);
	/* The body is complete (after its last on_body). */
	void (*on_done)(struct peer_conn *pc, void *arg);
	/* The exchange failed; the connection is already closed and freed
	 * when this returns. */
	void (*on_fail)(struct peer_conn *pc, enum peer_failure why, void *arg);
};

/* One configured peer as a worker knows it. */
struct peer {
	char p_name[300];		/* "host:port", for logs and metrics */
	struct sockaddr_storage p_addr;
	socklen_t p_addrlen;		/* 0: could not be resolved */
	int p_metrics;			/* metrics_peer index or -1 */
	struct peer_conn *p_idle;	/* keep-alive connections */
	size_t p_nidle;
	size_t p_ndiscard;		/* answers being read for nobody */
	/* rest after timeouts: see peer_asked() */
	unsigned p_timeouts;		/* in a row, without any answer */
	int64_t p_rest_until_ms;	/* loop_now() */
	int64_t p_rest_ms;		/* the last rest, doubled each time */
};

struct peer_conn {
	struct peer_conn *pc_next;	/* in the idle pool */
	struct peer_conn *pc_all_prev, *pc_all_next;	/* w_peer_conns */
	struct worker *pc_worker;
	struct peer *pc_peer;
	int pc_fd;
	int pc_state;
	struct loop_timer pc_timer;
	int64_t pc_start_ms;
	int64_t pc_timeout_ms;
	bool pc_reused;			/* came from the idle pool */
	bool pc_head_request;

	struct buf pc_out;		/* the request head */
	size_t pc_out_off;

	char *pc_in;			/* response bytes */
	size_t pc_in_len, pc_in_cap;
	struct http_message pc_resp;

	/* body framing */
	bool pc_has_body;
	bool pc_chunked;
	struct http_chunked pc_chunk;
	uint64_t pc_body_left;		/* Content-Length bytes to come */
	size_t pc_data_len;		/* decoded bytes at pc_in, unconsumed */
	bool pc_reusable;		/* nothing unexpected came */
	bool pc_discarding;		/* peer_conn_discard() took it */
	bool pc_unwatched;		/* out of the loop (peer_unwatch) */

	const struct peer_handler *pc_handler;
	void *pc_arg;
};

/*
 * Whether a lookup should be sent to p now. A peer whose last
 * PEER_REST_AFTER requests all timed out without a byte of answer (a
 * black hole: it accepts and never answers, or cannot be reached) rests:
 * it is not asked for 1 s, then once (a probe), and if that times out too,
 * not for twice as long, up to PEER_REST_MAX_MS. Any answer ends the rest.
 * Each lookup it would have had costs a connection and waits out
 * peer_timeout for nothing; a rested peer misses no answer it would have
 * given within peer_timeout.
 */
#define PEER_REST_AFTER 3
#define PEER_REST_MIN_MS 1000
#define PEER_REST_MAX_MS 30000
bool peer_asked(struct worker *w, struct peer *p);

/* "host:port" ("[v6]:port") of a configured peer, for logs and metrics. */
void peer_name(const struct config_peer *cp, char *out, size_t len);

/* Resolves the configured peers (blocking getaddrinfo; at worker start).
 * An unresolvable peer is logged and then answers every lookup with
 * PEER_REFUSED. Returns the array of cfg->npeers entries. */
struct peer *peer_setup(struct worker *w);

/* At worker exit: frees every connection, whatever its state, and the
 * array. */
void peer_teardown(struct worker *w);

/*
 * Sends `head` (a whole request head, CRLF CRLF included) to peer p and
 * drives the exchange, calling h with arg. `timeout_ms` bounds the wait for
 * the response head from now, and each stall of the body while the
 * consumer is waiting for bytes. Returns the connection; failures,
 * including immediate ones, are reported through on_fail from the loop
 * (never from inside this call).
 */
struct peer_conn *peer_request(struct worker *w, struct peer *p,
    const char *head, size_t head_len, bool head_request, int64_t timeout_ms,
    const struct peer_handler *h, void *arg);

/* The decoded body bytes waiting for the consumer. */
char *peer_conn_data(struct peer_conn *pc);
size_t peer_conn_data_len(const struct peer_conn *pc);

/* The consumer is done with the current bytes; reading goes on. */
void peer_conn_consumed(struct peer_conn *pc);

/* After on_done: keeps the connection for reuse when it ended cleanly,
 * otherwise closes it. */
void peer_conn_release(struct peer_conn *pc);

/* Abandons the exchange at any point: closes and frees, no callback. */
void peer_conn_close(struct peer_conn *pc);
/*
 * The caller no longer wants the answer (a lookup another peer won, or a
 * 404 whose body is of no interest): when the request is out and the
 * answer is small, it is read to its end, within the same deadline, and
 * the connection pooled; otherwise it is closed at once. No callback
 * follows either way. A few per peer at most, so that a peer that never
 * answers cannot pile up descriptors.
 */
void peer_conn_discard(struct peer_conn *pc);

#endif
