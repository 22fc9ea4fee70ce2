/*
 * peer.c - requests from a node to other nodes (loop thread only).
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
#include "peer/peer_set.h"

#define PEER_BUF_SIZE (256 * 1024)	/* body bytes read at a time */
#define PEER_BUF_MIN (16 * 1024)	/* first buffer, for the head */
#define PEER_IDLE_MAX 64		/* kept connections per peer */
#define PEER_IDLE_MS 30000
#define PEER_DISCARD_BODY_MAX (64 * 1024)	/* read for nobody, at most */
#define PEER_DISCARD_MAX 64		/* answers read for nobody, per peer */

enum peer_state {
	PC_CONNECTING,
	PC_SENDING,
	PC_UPLOADING,
	PC_HEAD,
	PC_BODY,
	PC_DONE,
	PC_IDLE,
	PC_FAILING,
	PC_CLOSED,
};

static void peer_on_io(struct loop *loop, int fd, short revents, void *arg);
static void peer_on_timer(struct loop *loop, struct loop_timer *t);
static void peer_feed(struct peer_conn *pc);
static void peer_upload(struct peer_conn *pc, bool from_loop);

static struct loop *
peer_loop(const struct peer_conn *pc)
{
	return pc->pc_set->ps_loop;
}

static struct peer_conn *
peer_of_timer(struct loop_timer *t)
{
	return container_of(t, struct peer_conn, pc_timer);
}

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
}

/* Drops an idle connection from its peer's pool. */
static void
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

/* ------------------------------------------------------------------ */
/* Sending                                                            */

static void
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

/* A failure found inside peer_request() is reported from the loop. */
static void
peer_fail_later(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	peer_fail(peer_of_timer(t), PEER_REFUSED);
}

/* Starts a fresh connection. Returns 0, or -1 (refused at once). */
static int
peer_connect(struct peer_conn *pc)
{
	struct peer *p = pc->pc_peer;
	int fd, one = 1;

	if (p->p_addrlen == 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	fd = socket(p->p_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&p->p_addr, p->p_addrlen)
	    == -1 && errno != EINPROGRESS) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	if (loop_add(peer_loop(pc), fd, POLLOUT, peer_on_io, pc) == -1) {
		close(fd);
		return -1;
	}
	pc->pc_fd = fd;
	pc->pc_state = PC_CONNECTING;
	pc->pc_reused = false;
	return 0;
}

/* The head is out: the body, or the wait for the answer. */
static void
peer_head_sent(struct peer_conn *pc)
{
	if (pc->pc_flags & PEER_REQ_BODY) {
		pc->pc_state = PC_UPLOADING;
		pc->pc_asked = true;
		peer_upload(pc, true);
		return;
	}
	pc->pc_state = PC_HEAD;
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
}

/*
 * A pooled connection is almost always writable: a head-only request goes
 * out at once, with no turn of the loop and no change of the events
 * watched (an idle connection already waits for input). Whatever goes
 * wrong is left for the loop to find, so that no callback runs inside
 * peer_request().
 */
static void
peer_send_now(struct peer_conn *pc)
{
	ssize_t n = send(pc->pc_fd, pc->pc_out.data, pc->pc_out.len,
	    MSG_NOSIGNAL | MSG_DONTWAIT |
	    ((pc->pc_flags & PEER_REQ_BODY) ? MSG_MORE : 0));

	if (n > 0)
		pc->pc_out_off = (size_t)n;
	if (pc->pc_out_off == pc->pc_out.len &&
	    !(pc->pc_flags & PEER_REQ_BODY)) {
		pc->pc_state = PC_HEAD;
		loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
		return;
	}
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLOUT);
}

struct peer_conn *
peer_request(struct peer_set *ps, struct peer *p, const char *head,
    size_t head_len, unsigned flags, int64_t timeout_ms,
    const struct peer_handler *h, void *arg)
{
	struct list *idle = list_first(&p->p_idle);
	struct peer_conn *pc;

	if (idle != NULL) {
		pc = container_of(idle, struct peer_conn, pc_idle_link);
		peer_unpool(pc);
		pc->pc_reused = true;
		pc->pc_state = PC_SENDING;
	} else {
		pc = xcalloc(1, sizeof(*pc));
		pc->pc_set = ps;
		pc->pc_peer = p;
		pc->pc_fd = -1;
		list_init(&pc->pc_idle_link);
		list_insert_tail(&ps->ps_conns, &pc->pc_link);
		peer_hold(p);
	}
	pc->pc_handler = h;
	pc->pc_arg = arg;
	pc->pc_flags = flags;
	pc->pc_start_ms = loop_now(ps->ps_loop);
	pc->pc_timeout_ms = timeout_ms;
	pc->pc_in_len = 0;
	pc->pc_data_len = 0;
	pc->pc_reusable = true;
	pc->pc_piece = NULL;
	pc->pc_piece_len = pc->pc_piece_sent = pc->pc_frame_len = 0;
	pc->pc_body_taken = pc->pc_body_end = pc->pc_asked = false;
	pc->pc_last_sent = false;
	buf_reset(&pc->pc_out);
	buf_append(&pc->pc_out, head, head_len);
	pc->pc_out_off = 0;
	if (!pc->pc_reused && peer_connect(pc) == -1) {
		pc->pc_state = PC_FAILING;
		loop_timer_set(ps->ps_loop, &pc->pc_timer, 0, peer_fail_later);
		return pc;
	}
	loop_timer_set(ps->ps_loop, &pc->pc_timer, timeout_ms, peer_on_timer);
	if (pc->pc_reused)
		peer_send_now(pc);
	return pc;
}

/* A reused connection that died before any answer was probably closed by
 * the peer while idle: try once more on a fresh one, unless the producer
 * already handed over body bytes (they cannot be sent again). Returns
 * true when a retry started. */
static bool
peer_retry(struct peer_conn *pc)
{
	if (!pc->pc_reused || pc->pc_in_len > 0 || pc->pc_discarding ||
	    pc->pc_body_taken)
		return false;
	loop_del(peer_loop(pc), pc->pc_fd);
	close(pc->pc_fd);
	pc->pc_fd = -1;
	pc->pc_out_off = 0;
	pc->pc_asked = false;
	if (peer_connect(pc) == -1)
		return false;
	return true;
}

static void
peer_send(struct peer_conn *pc)
{
	while (pc->pc_out_off < pc->pc_out.len) {
		ssize_t n = send(pc->pc_fd, pc->pc_out.data + pc->pc_out_off,
		    pc->pc_out.len - pc->pc_out_off, MSG_NOSIGNAL |
		    ((pc->pc_flags & PEER_REQ_BODY) ? MSG_MORE : 0));

		if (n > 0) {
			pc->pc_out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (!peer_retry(pc))
			peer_fail(pc, PEER_REFUSED);
		return;
	}
	peer_head_sent(pc);
}

/* Bytes of the current piece, framing included. */
static size_t
peer_piece_total(const struct peer_conn *pc)
{
	return pc->pc_frame_len + pc->pc_piece_len + (pc->pc_frame_len > 0 ?
	    2 : 0);
}

/*
 * Moves the request body: sends the pending piece (and its chunk framing),
 * then the last chunk once the producer said the body is over, then waits
 * for the answer. The deadline runs only while the peer does not take
 * what we have: a producer with nothing to give is not the peer's fault.
 * The producer hears on_send only from the loop (`from_loop`), never
 * from inside its own peer_conn_send(), so a fast socket cannot nest one
 * call per piece.
 */
static void
peer_upload(struct peer_conn *pc, bool from_loop)
{
	static char crlf[] = "\r\n";
	static const char last[] = "0\r\n\r\n";

	for (;;) {
		struct iovec iov[3];
		struct msghdr msg;
		size_t skip;
		int n_iov = 0;
		ssize_t n;

		if (pc->pc_piece == NULL && pc->pc_body_end &&
		    (pc->pc_flags & PEER_REQ_CHUNKED) && !pc->pc_last_sent) {
			pc->pc_last_sent = true;
			pc->pc_piece = last;
			pc->pc_piece_len = sizeof(last) - 1;
			pc->pc_piece_sent = pc->pc_frame_len = 0;
		}
		if (pc->pc_piece == NULL)
			break;
		/* Read only now: the last chunk has just reset it. */
		skip = pc->pc_piece_sent;
		if (skip < pc->pc_frame_len) {
			iov[n_iov].iov_base = pc->pc_frame + skip;
			iov[n_iov++].iov_len = pc->pc_frame_len - skip;
			skip = 0;
		} else {
			skip -= pc->pc_frame_len;
		}
		if (skip < pc->pc_piece_len) {
			iov[n_iov].iov_base = (char *)(uintptr_t)pc->pc_piece +
			    skip;
			iov[n_iov++].iov_len = pc->pc_piece_len - skip;
			skip = 0;
		} else {
			skip -= pc->pc_piece_len;
		}
		if (pc->pc_frame_len > 0) {
			iov[n_iov].iov_base = crlf + skip;
			iov[n_iov++].iov_len = 2 - skip;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n_iov;
		n = sendmsg(pc->pc_fd, &msg, MSG_NOSIGNAL | MSG_MORE);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			loop_set_events(peer_loop(pc), pc->pc_fd,
			    POLLOUT | POLLIN);
			loop_timer_set(peer_loop(pc), &pc->pc_timer,
			    pc->pc_timeout_ms, peer_on_timer);
			return;
		}
		if (n <= 0) {
			peer_fail(pc, PEER_CUT);
			return;
		}
		pc->pc_piece_sent += (size_t)n;
		if (pc->pc_piece_sent == peer_piece_total(pc)) {
			pc->pc_piece = NULL;
			pc->pc_asked = !pc->pc_body_end;
		}
	}
	if (pc->pc_body_end) {
		/* All of it is out: now the answer, within the deadline. A
		 * last send without MSG_MORE is not needed: TCP_NODELAY
		 * pushes what MSG_MORE held once no more is corked. */
		pc->pc_state = PC_HEAD;
		loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
		loop_timer_set(peer_loop(pc), &pc->pc_timer, pc->pc_timeout_ms,
		    peer_on_timer);
		return;
	}
	loop_timer_cancel(peer_loop(pc), &pc->pc_timer);
	if (pc->pc_asked && !from_loop) {
		/* The socket took it all: ask from the next turn. */
		loop_set_events(peer_loop(pc), pc->pc_fd, POLLOUT | POLLIN);
		return;
	}
	/* Waiting for the producer: only an early answer is of interest. */
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
	if (pc->pc_asked) {
		pc->pc_asked = false;
		pc->pc_handler->on_send(pc, pc->pc_arg);
	}
}

int
peer_conn_send(struct peer_conn *pc, const void *p, size_t n)
{
	if (pc->pc_state != PC_UPLOADING || pc->pc_piece != NULL ||
	    pc->pc_body_end || n == 0)
		return -1;
	pc->pc_piece = p;
	pc->pc_piece_len = n;
	pc->pc_piece_sent = 0;
	pc->pc_body_taken = true;
	pc->pc_frame_len = (pc->pc_flags & PEER_REQ_CHUNKED) ?
	    (size_t)snprintf(pc->pc_frame, sizeof(pc->pc_frame), "%zx\r\n", n) :
	    0;
	pc->pc_asked = false;
	peer_upload(pc, false);
	return 0;
}

int
peer_conn_send_end(struct peer_conn *pc)
{
	if (pc->pc_state != PC_UPLOADING || pc->pc_body_end)
		return -1;
	pc->pc_body_end = true;
	pc->pc_asked = false;
	if (pc->pc_piece == NULL)
		peer_upload(pc, false);
	return 0;
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
	if (pc->pc_in_len == pc->pc_in_cap &&
	    pc->pc_in_cap < lim->max_header_size + PEER_BUF_SIZE) {
		pc->pc_in_cap = pc->pc_in_cap ? 2 * pc->pc_in_cap :
		    PEER_BUF_MIN;
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
	if (pc->pc_in_cap < PEER_BUF_SIZE) {
		pc->pc_in_cap = PEER_BUF_SIZE;
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

static void
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
		if (pc->pc_data_len == 0)
			peer_read_body(pc);
		else	/* backpressure: read on once consumed */
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

static void
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
