/*
 * peer.c - requests from a node to other nodes (loop thread only): the
 * life of a connection, the answer, the idle pool and failures. The
 * request side is in peer_send.c.
 *
 * States of a connection:
 *   CONNECTING  nonblocking connect in progress (POLLOUT)
 *   SENDING     the request head going out (POLLOUT)
 *   UPLOADING   the request body going out, a piece at a time from the
 *               producer (POLLOUT while a piece is pending; POLLIN for an
 *               answer that comes early)
 *   HEAD        reading the response head (POLLIN); the deadline runs
 *   BODY        body bytes: read only when the consumer has taken the last
 *               ones; a stall while waiting for the peer hits the deadline
 *   DONE        body complete, waiting for peer_conn_release()
 *   IDLE        in the keep-alive pool, watched for a close by the peer
 *   FAILING     failed inside peer_request(); reported from a zero timer
 *   CLOSED      gone; freed from a zero timer so that no caller up the
 *               stack touches freed memory
 *
 * The whole response is parsed strictly (http_parse_response): exactly one
 * framing, no junk. Bytes past the end of the body are dropped and the
 * connection is not reused. A 200 without any framing (ended by close)
 * cannot be told from a cut one, so it is a bad response.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "peer/peer.h"
#include "peer/peer_int.h"
#include "peer/peer_set.h"

#define PEER_BUF_MIN (16 * 1024)	/* first buffer, for the head */
#define PEER_IDLE_MAX 64		/* kept connections per peer */
#define PEER_IDLE_MS 30000
#define PEER_DISCARD_BODY_MAX (64 * 1024)	/* read for nobody, at most */
#define PEER_DISCARD_MAX 64		/* answers read for nobody, per peer */
#define PEER_SPARES_MAX 8		/* idle input buffers kept, per set */

static void peer_feed(struct peer_conn *pc);



static void
peer_conn_free(struct peer_conn *pc)
{
	list_remove(&pc->pc_link);
	list_remove(&pc->pc_idle_link);
	loop_timer_cancel(peer_loop(pc), &pc->pc_timer);
	if (pc->pc_fd != -1) {
		loop_del(peer_loop(pc), pc->pc_fd);
		close(pc->pc_fd);
	}
	peer_release(pc->pc_peer);
	buf_free(&pc->pc_out);
	free(pc->pc_in);
	free(pc);
}

void
peer_conn_free_all(struct peer_set *ps)
{
	while (!list_empty(&ps->ps_conns))
		peer_conn_free(container_of(list_first(&ps->ps_conns),
		    struct peer_conn, pc_link));
	spares_free_all(&ps->ps_spares);
}

/*
 * Input buffers of the first size (PEER_BUF_MIN, enough for most answers
 * and their heads) outlive the exchanges that used them: an idle
 * connection holds none, and the next answer of any connection is read
 * into the one given back last, warm in the cache, without an allocation.
 */
static void
peer_buf_take(struct peer_conn *pc)
{
	pc->pc_in = spares_take(&pc->pc_set->ps_spares, PEER_BUF_MIN);
	pc->pc_in_cap = PEER_BUF_MIN;
}

static void
peer_buf_give(struct peer_conn *pc)
{
	spares_give(&pc->pc_set->ps_spares, pc->pc_in, pc->pc_in_cap,
	    PEER_BUF_MIN, PEER_SPARES_MAX);
	pc->pc_in = NULL;
	pc->pc_in_cap = 0;
}

/* Drops an idle connection from its peer's pool. */
void
peer_unpool(struct peer_conn *pc)
{
	list_remove(&pc->pc_idle_link);
	pc->pc_peer->p_nidle--;
}

static void
peer_free_later(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	peer_conn_free(peer_of_timer(t));
}

/* A discarded answer is over, one way or the other. */
static void
peer_discard_over(struct peer_conn *pc)
{
	if (pc->pc_discarding) {
		pc->pc_discarding = false;
		pc->pc_peer->p_ndiscard--;
	}
}

void
peer_conn_close(struct peer_conn *pc)
{
	if (pc->pc_state == PC_CLOSED)
		return;
	peer_discard_over(pc);
	if (pc->pc_state == PC_IDLE)
		peer_unpool(pc);
	if (pc->pc_fd != -1) {
		loop_del(peer_loop(pc), pc->pc_fd);
		close(pc->pc_fd);
		pc->pc_fd = -1;
	}
	pc->pc_state = PC_CLOSED;
	loop_timer_set(peer_loop(pc), &pc->pc_timer, 0, peer_free_later);
}

/* ------------------------------------------------------------------ */
/* Health, shared by the node's workers                               */

/* A request got no answer at all within its deadline. */
static void
peer_timed_out(struct peer_conn *pc)
{
	struct peer *p = pc->pc_peer;
	struct peer_health *he = &p->p_entry->pe_health;
	int64_t now = loop_now(peer_loop(pc)), rest;
	uint32_t n = __atomic_add_fetch(&he->he_timeouts, 1, __ATOMIC_RELAXED);

	if (n < PEER_REST_AFTER)
		return;
	rest = __atomic_load_n(&he->he_rest_ms, __ATOMIC_RELAXED);
	rest = rest == 0 ? PEER_REST_MIN_MS : rest * 2 > PEER_REST_MAX_MS ?
	    PEER_REST_MAX_MS : rest * 2;
	__atomic_store_n(&he->he_rest_ms, rest, __ATOMIC_RELAXED);
	__atomic_store_n(&he->he_rest_until_ms, now + rest, __ATOMIC_RELAXED);
	log_warnx("peer %s: %u lookups in a row got no answer within "
	    "peer_timeout; not asked for %lld ms", p->p_name, n,
	    (long long)rest);
}

/* The peer answered something: whatever rest it had is over. */
static void
peer_answered(struct peer *p)
{
	struct peer_health *he = &p->p_entry->pe_health;

	if (__atomic_load_n(&he->he_timeouts, __ATOMIC_RELAXED) == 0)
		return;		/* the common case: no write to shared memory */
	if (__atomic_exchange_n(&he->he_rest_ms, 0, __ATOMIC_RELAXED) != 0)
		log_info("peer %s answers again", p->p_name);
	__atomic_store_n(&he->he_timeouts, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&he->he_rest_until_ms, 0, __ATOMIC_RELAXED);
}

bool
peer_may_ask(struct peer_set *ps, struct peer *p)
{
	struct peer_health *he = &p->p_entry->pe_health;
	int64_t now = loop_now(ps->ps_loop);

	if (__atomic_load_n(&he->he_timeouts, __ATOMIC_RELAXED) <
	    PEER_REST_AFTER)
		return true;
	if (now < __atomic_load_n(&he->he_rest_until_ms, __ATOMIC_RELAXED))
		return false;
	/* Resting over: this lookup is the probe; the next ones wait for
	 * its answer, or for its deadline. */
	__atomic_store_n(&he->he_rest_until_ms, now + ps->ps_timeout_ms,
	    __ATOMIC_RELAXED);
	return true;
}

void
peer_fail(struct peer_conn *pc, enum peer_failure why)
{
	const struct peer_handler *h = pc->pc_handler;
	void *arg = pc->pc_arg;

	if (why == PEER_TIMEOUT && pc->pc_in_len == 0 &&
	    (pc->pc_state == PC_CONNECTING || pc->pc_state == PC_SENDING ||
	    pc->pc_state == PC_HEAD))
		peer_timed_out(pc);
	peer_conn_close(pc);
	h->on_fail(pc, why, arg);
}

/* ------------------------------------------------------------------ */
/* Receiving                                                          */

/* Reads into pc_in. Returns the bytes read, 0 at EOF, -1 with errno. */
static ssize_t
peer_read(struct peer_conn *pc)
{
	ssize_t n;

	if (pc->pc_in_cap - pc->pc_in_len == 0) {
		errno = ENOBUFS;
		return -1;
	}
	do
		n = recv(pc->pc_fd, pc->pc_in + pc->pc_in_len,
		    pc->pc_in_cap - pc->pc_in_len, 0);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		pc->pc_in_len += (size_t)n;
	return n;
}

static void
peer_read_head(struct peer_conn *pc)
{
	const struct http_limits *lim = pc->pc_set->ps_limits;
	bool head_request = (pc->pc_flags & PEER_REQ_HEAD) != 0;
	struct http_message *resp = &pc->pc_resp;
	struct http_error err;
	enum http_parse_result r;
	size_t head_len;
	ssize_t n;

	/* Most answers (a 404, a small file) fit a small buffer; it grows
	 * for a long head, and for a body (peer_read_body). */
	if (pc->pc_in_cap == 0) {
		peer_buf_take(pc);
	} else if (pc->pc_in_len == pc->pc_in_cap &&
	    pc->pc_in_cap < lim->max_header_size + PEER_BUF_SIZE) {
		pc->pc_in_cap *= 2;
		if (pc->pc_in_cap > lim->max_header_size + PEER_BUF_SIZE)
			pc->pc_in_cap = lim->max_header_size + PEER_BUF_SIZE;
		pc->pc_in = xrealloc(pc->pc_in, pc->pc_in_cap);
	}
	n = peer_read(pc);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (peer_retry(pc))
			return;
		peer_fail(pc, pc->pc_in_len == 0 ? PEER_REFUSED :
		    PEER_BAD_RESPONSE);
		return;
	}
	peer_answered(pc->pc_peer);
	r = http_parse_response(pc->pc_in, pc->pc_in_len, lim, head_request,
	    resp, &head_len, &err);
	if (r == HTTP_PARSE_MORE)
		return;
	if (r == HTTP_PARSE_ERROR || resp->status < 200 ||
	    (resp->status == 200 && !head_request && !resp->chunked &&
	    !resp->has_content_length)) {
		log_debug("peer %s: %s", pc->pc_peer->p_name,
		    r == HTTP_PARSE_ERROR ? err.reason :
		    "no usable framing or an interim response");
		peer_fail(pc, PEER_BAD_RESPONSE);
		return;
	}
	/* The parser leaves no framing for bodiless responses. */
	http_body_init(&pc->pc_rbody, resp->chunked,
	    resp->has_content_length ? resp->content_length : 0);
	if (!resp->chunked && !resp->has_content_length && !head_request &&
	    resp->status != 204 && resp->status != 304)
		pc->pc_reusable = false;	/* framed by close */
	if (!resp->keep_alive)
		pc->pc_reusable = false;
	if (pc->pc_state == PC_UPLOADING) {
		/* An answer before the whole body went: the peer has decided
		 * without it, and may not read the rest. */
		pc->pc_reusable = false;
		pc->pc_piece = NULL;
		pc->pc_body_end = true;
	}
	/* The head's fields point into pc_in; keep them valid by leaving the
	 * head where it is and moving nothing until the handler is done with
	 * on_head. Body bytes after it are processed next. */
	pc->pc_state = PC_BODY;
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
	loop_timer_set(peer_loop(pc), &pc->pc_timer, pc->pc_set->ps_timeout_ms,
	    peer_on_timer);
	pc->pc_handler->on_head(pc, pc->pc_arg);
	if (pc->pc_state != PC_BODY)
		return;		/* the handler closed it */
	memmove(pc->pc_in, pc->pc_in + head_len, pc->pc_in_len - head_len);
	pc->pc_in_len -= head_len;
	/* The head's pointers are stale from here on. */
	memset(&resp->headers, 0, sizeof(resp->headers));
	resp->nheaders = 0;
	peer_feed(pc);
}

/* Watches for input again (after peer_unwatch). */
static void
peer_watch(struct peer_conn *pc)
{
	if (pc->pc_unwatched) {
		pc->pc_unwatched = false;
		if (loop_add(peer_loop(pc), pc->pc_fd, POLLIN, peer_on_io, pc)
		    == 0)
			return;
		/* Cannot happen for a descriptor the loop held before; the
		 * deadline ends the exchange if it does. */
	}
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
}

/* Turns the raw bytes in pc_in into body bytes for the consumer, or
 * finishes the body. */
static void
peer_feed(struct peer_conn *pc)
{
	size_t consumed, data;
	enum http_body_result r = http_body_decode(&pc->pc_rbody, pc->pc_in,
	    pc->pc_in_len, &consumed, &data);

	if (r == HTTP_BODY_ERROR) {
		peer_fail(pc, PEER_BAD_RESPONSE);
		return;
	}
	if (r == HTTP_BODY_DONE && consumed < pc->pc_in_len)
		pc->pc_reusable = false;	/* bytes past the end */
	pc->pc_in_len = 0;
	pc->pc_data_len = data;
	/* Input stays watched while the consumer holds bytes, or after the
	 * end: most consumers are done before anything more comes, and the
	 * watch is dropped only when something does (peer_on_io). */
	if (data > 0) {
		pc->pc_handler->on_body(pc, pc->pc_arg);
		/* Taken at once (peer_conn_consumed armed the kick) and nothing
		 * more comes: done now, as the kick would have found. */
		if (r == HTTP_BODY_DONE && pc->pc_state == PC_BODY &&
		    pc->pc_data_len == 0) {
			pc->pc_state = PC_DONE;
			loop_timer_cancel(peer_loop(pc), &pc->pc_timer);
			pc->pc_handler->on_done(pc, pc->pc_arg);
		}
		return;
	}
	if (r == HTTP_BODY_DONE) {
		pc->pc_state = PC_DONE;
		loop_timer_cancel(peer_loop(pc), &pc->pc_timer);
		pc->pc_handler->on_done(pc, pc->pc_arg);
		return;
	}
	peer_watch(pc);
}

static void
peer_read_body(struct peer_conn *pc)
{
	ssize_t n;

	/* Nothing is held in the buffer now (the consumer took it all). */
	if (pc->pc_in_cap < pc->pc_read_size) {
		pc->pc_in_cap = pc->pc_read_size;
		pc->pc_in = xrealloc(pc->pc_in, pc->pc_in_cap);
	}
	n = peer_read(pc);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		peer_fail(pc, PEER_CUT);
		return;
	}
	loop_timer_set(peer_loop(pc), &pc->pc_timer, pc->pc_set->ps_timeout_ms,
	    peer_on_timer);
	peer_feed(pc);
}

char *
peer_conn_data(struct peer_conn *pc)
{
	return pc->pc_in;
}

size_t
peer_conn_data_len(const struct peer_conn *pc)
{
	return pc->pc_data_len;
}

void
peer_conn_read_size(struct peer_conn *pc, size_t size)
{
	pc->pc_read_size = size;
}

static void
peer_on_kick(struct loop *loop, struct loop_timer *t)
{
	struct peer_conn *pc = peer_of_timer(t);

	loop_timer_set(loop, &pc->pc_timer, pc->pc_set->ps_timeout_ms,
	    peer_on_timer);
	peer_feed(pc);		/* nothing raw is left: finishes or reads on */
}

void
peer_conn_consumed(struct peer_conn *pc)
{
	if (pc->pc_state != PC_BODY)
		return;
	pc->pc_data_len = 0;
	/* From the loop, not from inside the consumer's call. */
	loop_timer_set(peer_loop(pc), &pc->pc_timer, 0, peer_on_kick);
}

void
peer_conn_release(struct peer_conn *pc)
{
	struct peer *p = pc->pc_peer;

	peer_discard_over(pc);
	if (pc->pc_state != PC_DONE || !pc->pc_reusable || p->p_gone ||
	    p->p_nidle >= PEER_IDLE_MAX || pc->pc_set->ps_stopping) {
		peer_conn_close(pc);
		return;
	}
	pc->pc_state = PC_IDLE;
	pc->pc_handler = NULL;
	/* An idle connection holds no buffer: a pool of them costs only
	 * their sockets, and the next answer is read into the buffer given
	 * back last (warm in the cache), not into this connection's own,
	 * untouched since it last answered. */
	peer_buf_give(pc);
	/* An idle connection has nothing to say: data or EOF ends it. */
	peer_watch(pc);
	loop_timer_set(peer_loop(pc), &pc->pc_timer, PEER_IDLE_MS,
	    peer_on_timer);
	list_insert_head(&p->p_idle, &pc->pc_idle_link);
	p->p_nidle++;
}

/* Whether what is left of the answer is worth reading for nobody. */
static bool
peer_answer_small(const struct peer_conn *pc)
{
	return pc->pc_rbody.hb_done || (!pc->pc_rbody.hb_chunked &&
	    pc->pc_rbody.hb_left <= PEER_DISCARD_BODY_MAX);
}

static void
discard_on_head(struct peer_conn *pc, void *arg)
{
	(void)arg;
	if (!peer_answer_small(pc))
		peer_conn_close(pc);
}

static void
discard_on_body(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_consumed(pc);
}

static void
discard_on_done(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_release(pc);
}

static void
discard_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	(void)pc;
	(void)why;
	(void)arg;
}

static const struct peer_handler discard_handler = {
	.on_head = discard_on_head,
	.on_body = discard_on_body,
	.on_done = discard_on_done,
	.on_fail = discard_on_fail,
};

void
peer_conn_discard(struct peer_conn *pc)
{
	struct peer *p = pc->pc_peer;

	if (pc->pc_discarding)
		return;
	/* Before the request is out there is nothing to wait for; a large
	 * or unframed body would cost more than a new connection. */
	if ((pc->pc_state != PC_HEAD && pc->pc_state != PC_BODY) ||
	    (pc->pc_state == PC_BODY && !peer_answer_small(pc)) ||
	    !pc->pc_reusable || p->p_ndiscard >= PEER_DISCARD_MAX ||
	    pc->pc_set->ps_stopping) {
		peer_conn_close(pc);
		return;
	}
	pc->pc_handler = &discard_handler;
	pc->pc_arg = NULL;
	pc->pc_discarding = true;
	p->p_ndiscard++;
	if (pc->pc_state == PC_BODY && pc->pc_data_len > 0)
		peer_conn_consumed(pc);
}

/* Stops watching a connection whose bytes must wait. An error or hang-up
 * is reported whatever the events asked for, so then the descriptor
 * leaves the loop until peer_watch(). */
static void
peer_unwatch(struct peer_conn *pc, short revents)
{
	if (revents & (POLLERR | POLLHUP)) {
		loop_del(peer_loop(pc), pc->pc_fd);
		pc->pc_unwatched = true;
	} else {
		loop_set_events(peer_loop(pc), pc->pc_fd, 0);
	}
}

void
peer_on_io(struct loop *loop, int fd, short revents, void *arg)
{
	struct peer_conn *pc = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)loop;
	switch (pc->pc_state) {
	case PC_CONNECTING:
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
		    err != 0) {
			peer_fail(pc, PEER_REFUSED);
			return;
		}
		pc->pc_state = PC_SENDING;
		/* fall through */
	case PC_SENDING:
		peer_send(pc);
		return;
	case PC_UPLOADING:
		/* Input while uploading is an answer that came early. */
		if (revents & (POLLIN | POLLERR | POLLHUP))
			peer_read_head(pc);
		else
			peer_upload(pc, true);
		return;
	case PC_HEAD:
		peer_read_head(pc);
		return;
	case PC_BODY:
		/* Backpressure: read on once consumed. A body already whole
		 * waits for the consumer too, or a close right after it would
		 * read as an answer cut short. */
		if (pc->pc_data_len == 0 && !pc->pc_rbody.hb_done)
			peer_read_body(pc);
		else
			peer_unwatch(pc, revents);
		return;
	case PC_DONE:
		/* Bytes past the end, or the peer closing: not reusable. */
		pc->pc_reusable = false;
		peer_unwatch(pc, revents);
		return;
	case PC_IDLE:
		peer_conn_close(pc);
		return;
	default:
		(void)revents;
		return;
	}
}

void
peer_on_timer(struct loop *loop, struct loop_timer *t)
{
	struct peer_conn *pc = peer_of_timer(t);

	switch (pc->pc_state) {
	case PC_IDLE:
		peer_conn_close(pc);
		return;
	case PC_BODY:
		if (pc->pc_data_len > 0) {
			/* The consumer (a slow client) holds the bytes; the
			 * peer is not stalling. */
			loop_timer_set(loop, &pc->pc_timer,
			    pc->pc_set->ps_timeout_ms, peer_on_timer);
			return;
		}
		peer_fail(pc, PEER_TIMEOUT);
		return;
	default:
		peer_fail(pc, PEER_TIMEOUT);
		return;
	}
}
