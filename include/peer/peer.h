/*
 * peer.h - the HTTP client side of a node: one request to another node
 * over a nonblocking socket driven by the worker's loop, with the response
 * parsed as strictly as a client's request and its body handed over as it
 * arrives, at the pace the consumer can take (backpressure).
 *
 * General on purpose: any method, a request head of the caller's making,
 * and a request body streamed from a producer (Content-Length or
 * chunked), so that lookups, uploads' name checks, gossip, replication and
 * part transfers share it. Connections that end a response cleanly with
 * keep-alive go back to a per-peer idle pool; a request that fails on a
 * reused connection before any byte of answer (and before any byte of
 * its body was taken from the producer) is retried once on a fresh one.
 *
 * Loop thread only. A peer_conn belongs to its handler from peer_request()
 * until on_done/on_fail or peer_conn_close(); after on_done the handler
 * gives it back with peer_conn_release().
 */
#ifndef SHOAL_PEER_PEER_H
#define SHOAL_PEER_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/list.h"
#include "event/loop.h"
#include "http/body.h"
#include "http/http.h"

struct peer;
struct peer_conn;
struct peer_set;

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
	/* The response head is in pc_resp. An answer that comes while the
	 * request body is still going out ends the sending: on_send is not
	 * called again. Body bytes read with the head are handed over
	 * (on_body, or on_done) as soon as on_head returns, in the same
	 * call. */
	void (*on_head)(struct peer_conn *pc, void *arg);
	/* Body bytes are at peer_conn_data(); call peer_conn_consumed()
	 * when done with all of them (reading pauses until then). */
	void (*on_body)(struct peer_conn *pc, void *arg);
	/* The body is complete (after its last on_body; right after it,
	 * once it returns, when that on_body consumed the last bytes). */
	void (*on_done)(struct peer_conn *pc, void *arg);
	/* The exchange failed; the connection is already closed and freed
	 * when this returns. */
	void (*on_fail)(struct peer_conn *pc, enum peer_failure why, void *arg);
	/* Requests with a body (PEER_REQ_BODY): the connection can take the
	 * next piece (peer_conn_send) or the end (peer_conn_send_end). The
	 * producer may also call those later, when it has something. */
	void (*on_send)(struct peer_conn *pc, void *arg);
};

/* peer_request() flags. */
#define PEER_REQ_HEAD		0x1	/* a HEAD request: no body in the answer */
#define PEER_REQ_BODY		0x2	/* a body follows the head (on_send) */
#define PEER_REQ_CHUNKED	0x4	/* ... framed here as chunks; the head
					   says Transfer-Encoding: chunked */

struct peer_conn {
	struct list pc_link;		/* the set's ps_conns */
	struct list pc_idle_link;	/* the peer's p_idle, when idle */
	struct peer_set *pc_set;
	struct peer *pc_peer;
	int pc_fd;
	int pc_state;
	struct loop_timer pc_timer;
	int64_t pc_start_ms;
	int64_t pc_timeout_ms;
	unsigned pc_flags;		/* PEER_REQ_* */
	bool pc_reused;			/* came from the idle pool */

	struct buf pc_out;		/* the request head */
	size_t pc_out_off;

	/* the request body: the producer's current piece */
	const char *pc_piece;
	size_t pc_piece_len;
	size_t pc_piece_sent;		/* framing included */
	char pc_frame[24];		/* "HEX\r\n" of a chunk */
	size_t pc_frame_len;
	bool pc_body_taken;		/* a piece was handed over */
	bool pc_body_end;		/* the producer said it is over */
	bool pc_last_sent;		/* the last chunk is on its way */
	bool pc_asked;			/* on_send due, not yet called */

	char *pc_in;			/* response bytes */
	size_t pc_in_len, pc_in_cap;
	size_t pc_read_size;		/* body bytes read at a time */
	struct http_message pc_resp;
	struct http_body pc_rbody;	/* the response body's framing */
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
 * given within peer_timeout. The rest is shared by the node's workers.
 * A true answer books the probe: the caller must then send.
 */
#define PEER_REST_AFTER 3
#define PEER_REST_MIN_MS 1000
#define PEER_REST_MAX_MS 30000
bool peer_may_ask(struct peer_set *ps, struct peer *p);

/*
 * Sends `head` (a whole request head, CRLF CRLF included) to peer p and
 * drives the exchange, calling h with arg. `flags` are PEER_REQ_*.
 * `timeout_ms` bounds the wait for the response head from the end of the
 * request, each stall of the request while the peer does not take it, and
 * each stall of the body while the consumer is waiting for bytes. Returns
 * the connection; failures, including immediate ones, are reported
 * through on_fail from the loop (never from inside this call).
 */
struct peer_conn *peer_request(struct peer_set *ps, struct peer *p,
    const char *head, size_t head_len, unsigned flags, int64_t timeout_ms,
    const struct peer_handler *h, void *arg);

/* The producer's next piece of request body: n > 0 bytes at p, which stay
 * valid until on_send asks for more (or the exchange ends). Returns 0, or
 * -1 when the connection takes no body now (a piece is pending, an answer
 * came, the body ended, or the exchange failed). */
int peer_conn_send(struct peer_conn *pc, const void *p, size_t n);

/* The request body is complete. Returns 0 or -1 as above. */
int peer_conn_send_end(struct peer_conn *pc);

/* The deadline of the exchange is timeout_ms from now on, in place of
 * peer_request()'s (a producer that learns the body's size late: a
 * chunked upload's legs). It bounds the waits that begin after this call;
 * a wait already running keeps its own. */
void peer_conn_timeout(struct peer_conn *pc, int64_t timeout_ms);

/* The decoded body bytes waiting for the consumer. */
char *peer_conn_data(struct peer_conn *pc);
size_t peer_conn_data_len(const struct peer_conn *pc);

/*
 * Body bytes are read up to `size` at a time from now on (the default,
 * for every request, is 256 KiB): a consumer that forwards a large body
 * takes it in fewer, larger reads, each of which it holds until consumed.
 */
void peer_conn_read_size(struct peer_conn *pc, size_t size);

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

/* At worker exit (peer_set_free): frees every connection of the set,
 * whatever its state, with no callback. */
void peer_conn_free_all(struct peer_set *ps);

#endif
