/*
 * peer.c - requests from a worker to other nodes (loop thread only).
 *
 * States of a connection:
 *   CONNECTING  nonblocking connect in progress (POLLOUT)
 *   SENDING     the request head going out (POLLOUT)
 *   HEAD        reading the response head (POLLIN); the deadline runs
 *   BODY        body bytes: read only when the consumer has taken the last
 *               ones; a stall while waiting for the peer hits the deadline
 *   DONE        body complete, waiting for peer_conn_release()
 *   IDLE        in the keep-alive pool, watched for a close by the peer
 *   CLOSED      gone; freed from a zero timer so that no caller up the
 *               stack touches freed memory
 *
 * The whole response is parsed strictly (http_parse_response): exactly one
 * framing, no junk. Bytes past a Content-Length are dropped and the
 * connection is not reused. A 200 without any framing (ended by close)
 * cannot be told from a cut one, so it is a bad response.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "peer/peer.h"
#include "proc/worker.h"
#include "store/metrics.h"

#define PEER_BUF_SIZE (256 * 1024)	/* body bytes read at a time */
#define PEER_BUF_MIN (16 * 1024)	/* first buffer, for the head */
#define PEER_IDLE_MAX 64		/* kept connections per peer */
#define PEER_IDLE_MS 30000
#define PEER_DISCARD_BODY_MAX (64 * 1024)	/* read for nobody, at most */
#define PEER_DISCARD_MAX 64		/* answers read for nobody, per peer */

enum peer_state {
	PC_CONNECTING,
	PC_SENDING,
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

static struct loop *
peer_loop(const struct peer_conn *pc)
{
	return pc->pc_worker->w_loop;
}

void
peer_name(const struct config_peer *cp, char *out, size_t len)
{
	snprintf(out, len, strchr(cp->host, ':') ? "[%s]:%u" : "%s:%u",
	    cp->host, (unsigned)cp->port);
}

struct peer *
peer_setup(struct worker *w)
{
	const struct config *cfg = w->w_cfg;
	struct peer *peers = xcalloc(cfg->npeers ? cfg->npeers : 1,
	    sizeof(*peers));
	size_t i;

	for (i = 0; i < cfg->npeers; i++) {
		const struct config_peer *cp = &cfg->peers[i];
		struct peer *p = &peers[i];
		struct addrinfo hints, *res;
		char port[8];
		int rc;

		peer_name(cp, p->p_name, sizeof(p->p_name));
		p->p_metrics = metrics_peer_find(p->p_name);
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		snprintf(port, sizeof(port), "%u", (unsigned)cp->port);
		rc = getaddrinfo(cp->host, port, &hints, &res);
		if (rc != 0) {
			log_warnx("peer %s: %s; it will count as refusing",
			    p->p_name, gai_strerror(rc));
			continue;
		}
		memcpy(&p->p_addr, res->ai_addr, res->ai_addrlen);
		p->p_addrlen = res->ai_addrlen;
		freeaddrinfo(res);
	}
	return peers;
}

static void
peer_conn_free(struct peer_conn *pc)
{
	struct worker *w = pc->pc_worker;

	if (pc->pc_all_prev != NULL)
		pc->pc_all_prev->pc_all_next = pc->pc_all_next;
	else
		w->w_peer_conns = pc->pc_all_next;
	if (pc->pc_all_next != NULL)
		pc->pc_all_next->pc_all_prev = pc->pc_all_prev;

	loop_timer_cancel(w->w_loop, &pc->pc_timer);
	if (pc->pc_fd != -1) {
		loop_del(w->w_loop, pc->pc_fd);
		close(pc->pc_fd);
	}
	buf_free(&pc->pc_out);
	free(pc->pc_in);
	free(pc);
}

/* Drops an idle connection from its peer's pool. */
static void
peer_unpool(struct peer_conn *pc)
{
	struct peer_conn **pp;

	for (pp = &pc->pc_peer->p_idle; *pp != NULL; pp = &(*pp)->pc_next) {
		if (*pp == pc) {
			*pp = pc->pc_next;
			pc->pc_peer->p_nidle--;
			return;
		}
	}
}

void
peer_teardown(struct worker *w)
{
	while (w->w_peer_conns != NULL)
		peer_conn_free(w->w_peer_conns);
	free(w->w_peers);
	w->w_peers = NULL;
}

static void
peer_free_later(struct loop *loop, struct loop_timer *t)
{
	struct peer_conn *pc = (struct peer_conn *)(void *)((char *)t -
	    offsetof(struct peer_conn, pc_timer));

	(void)loop;
	peer_conn_free(pc);
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

/* A request got no answer at all within its deadline. */
static void
peer_timed_out(struct peer_conn *pc)
{
	struct peer *p = pc->pc_peer;
	int64_t now = loop_now(peer_loop(pc));

	if (++p->p_timeouts < PEER_REST_AFTER)
		return;
	p->p_rest_ms = p->p_rest_ms == 0 ? PEER_REST_MIN_MS :
	    p->p_rest_ms * 2 > PEER_REST_MAX_MS ? PEER_REST_MAX_MS :
	    p->p_rest_ms * 2;
	p->p_rest_until_ms = now + p->p_rest_ms;
	log_warnx("peer %s: %u lookups in a row got no answer within "
	    "peer_timeout; not asked for %lld ms", p->p_name, p->p_timeouts,
	    (long long)p->p_rest_ms);
}

/* The peer answered something: whatever rest it had is over. */
static void
peer_answered(struct peer *p)
{
	if (p->p_rest_ms != 0)
		log_info("peer %s answers again", p->p_name);
	p->p_timeouts = 0;
	p->p_rest_ms = 0;
	p->p_rest_until_ms = 0;
}

bool
peer_asked(struct worker *w, struct peer *p)
{
	int64_t now = loop_now(w->w_loop);

	if (p->p_timeouts < PEER_REST_AFTER || now >= p->p_rest_until_ms) {
		/* Resting over: this lookup is the probe; the next ones wait
		 * for its answer, or for its deadline. */
		if (p->p_timeouts >= PEER_REST_AFTER)
			p->p_rest_until_ms = now + w->w_cfg->peer_timeout_ms;
		return true;
	}
	return false;
}

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
	struct peer_conn *pc = (struct peer_conn *)(void *)((char *)t -
	    offsetof(struct peer_conn, pc_timer));

	(void)loop;
	peer_fail(pc, PEER_REFUSED);
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

/*
 * A pooled connection is almost always writable: the request goes out at
 * once, with no turn of the loop and no change of the events watched (an
 * idle connection already waits for input). Whatever goes wrong is left
 * for the loop to find, so that no callback runs inside peer_request().
 */
static void
peer_send_now(struct peer_conn *pc)
{
	ssize_t n = send(pc->pc_fd, pc->pc_out.data, pc->pc_out.len,
	    MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n > 0)
		pc->pc_out_off = (size_t)n;
	if (pc->pc_out_off == pc->pc_out.len) {
		pc->pc_state = PC_HEAD;
		loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
		return;
	}
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLOUT);
}

struct peer_conn *
peer_request(struct worker *w, struct peer *p, const char *head,
    size_t head_len, bool head_request, int64_t timeout_ms,
    const struct peer_handler *h, void *arg)
{
	struct peer_conn *pc = p->p_idle;

	if (pc != NULL) {
		peer_unpool(pc);
		pc->pc_reused = true;
		pc->pc_state = PC_SENDING;
	} else {
		pc = xcalloc(1, sizeof(*pc));
		pc->pc_worker = w;
		pc->pc_peer = p;
		pc->pc_fd = -1;
		pc->pc_all_next = w->w_peer_conns;
		if (w->w_peer_conns != NULL)
			w->w_peer_conns->pc_all_prev = pc;
		w->w_peer_conns = pc;
	}
	pc->pc_handler = h;
	pc->pc_arg = arg;
	pc->pc_head_request = head_request;
	pc->pc_start_ms = loop_now(w->w_loop);
	pc->pc_timeout_ms = timeout_ms;
	pc->pc_in_len = 0;
	pc->pc_data_len = 0;
	pc->pc_reusable = true;
	buf_reset(&pc->pc_out);
	buf_append(&pc->pc_out, head, head_len);
	pc->pc_out_off = 0;
	if (!pc->pc_reused && peer_connect(pc) == -1) {
		pc->pc_state = PC_FAILING;
		loop_timer_set(w->w_loop, &pc->pc_timer, 0, peer_fail_later);
		return pc;
	}
	loop_timer_set(w->w_loop, &pc->pc_timer, timeout_ms, peer_on_timer);
	if (pc->pc_reused)
		peer_send_now(pc);
	return pc;
}

/* A reused connection that died before any answer was probably closed by
 * the peer while idle: try once more on a fresh one. Returns true when a
 * retry started. */
static bool
peer_retry(struct peer_conn *pc)
{
	if (!pc->pc_reused || pc->pc_in_len > 0 || pc->pc_discarding)
		return false;
	loop_del(peer_loop(pc), pc->pc_fd);
	close(pc->pc_fd);
	pc->pc_fd = -1;
	pc->pc_out_off = 0;
	if (peer_connect(pc) == -1)
		return false;
	return true;
}

static void
peer_send(struct peer_conn *pc)
{
	while (pc->pc_out_off < pc->pc_out.len) {
		ssize_t n = send(pc->pc_fd, pc->pc_out.data + pc->pc_out_off,
		    pc->pc_out.len - pc->pc_out_off, MSG_NOSIGNAL);

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
	pc->pc_state = PC_HEAD;
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
}

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
	const struct config *cfg = pc->pc_worker->w_cfg;
	const struct http_limits *lim = &pc->pc_worker->w_limits;
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
	r = http_parse_response(pc->pc_in, pc->pc_in_len, lim,
	    pc->pc_head_request, &pc->pc_resp, &head_len, &err);
	if (r == HTTP_PARSE_MORE)
		return;
	if (r == HTTP_PARSE_ERROR || pc->pc_resp.status < 200 ||
	    (pc->pc_resp.status == 200 && !pc->pc_head_request &&
	    !pc->pc_resp.chunked && !pc->pc_resp.has_content_length)) {
		log_debug("peer %s: %s", pc->pc_peer->p_name,
		    r == HTTP_PARSE_ERROR ? err.reason :
		    "no usable framing or an interim response");
		peer_fail(pc, PEER_BAD_RESPONSE);
		return;
	}
	/* The parser leaves no framing for bodiless responses. */
	pc->pc_chunked = pc->pc_resp.chunked;
	pc->pc_has_body = pc->pc_chunked ||
	    (pc->pc_resp.has_content_length && pc->pc_resp.content_length > 0);
	pc->pc_body_left = pc->pc_resp.has_content_length ?
	    pc->pc_resp.content_length : 0;
	if (!pc->pc_resp.chunked && !pc->pc_resp.has_content_length &&
	    !pc->pc_head_request && pc->pc_resp.status != 204 &&
	    pc->pc_resp.status != 304)
		pc->pc_reusable = false;	/* framed by close */
	if (!pc->pc_resp.keep_alive)
		pc->pc_reusable = false;
	if (pc->pc_chunked)
		http_chunked_init(&pc->pc_chunk);
	/* The head's fields point into pc_in; keep them valid by leaving the
	 * head where it is and moving nothing until the handler is done with
	 * on_head. Body bytes after it are processed next. */
	pc->pc_state = PC_BODY;
	loop_timer_set(peer_loop(pc), &pc->pc_timer, cfg->peer_timeout_ms,
	    peer_on_timer);
	pc->pc_handler->on_head(pc, pc->pc_arg);
	if (pc->pc_state != PC_BODY)
		return;		/* the handler closed it */
	memmove(pc->pc_in, pc->pc_in + head_len, pc->pc_in_len - head_len);
	pc->pc_in_len -= head_len;
	/* The head's pointers are stale from here on. */
	memset(&pc->pc_resp.headers, 0, sizeof(pc->pc_resp.headers));
	pc->pc_resp.nheaders = 0;
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
	size_t data = 0;
	bool complete;

	if (!pc->pc_has_body) {
		if (pc->pc_in_len > 0)
			pc->pc_reusable = false;
		complete = true;
	} else if (pc->pc_chunked) {
		size_t consumed = 0;
		enum http_chunked_result r = http_chunked_decode(&pc->pc_chunk,
		    pc->pc_in, pc->pc_in_len, &consumed, &data);

		if (r == HTTP_CHUNKED_ERROR) {
			peer_fail(pc, PEER_BAD_RESPONSE);
			return;
		}
		complete = r == HTTP_CHUNKED_DONE;
		if (complete && consumed < pc->pc_in_len)
			pc->pc_reusable = false;
	} else {
		data = pc->pc_in_len;
		if ((uint64_t)data > pc->pc_body_left) {
			/* Bytes past the declared length are ignored. */
			data = (size_t)pc->pc_body_left;
			pc->pc_reusable = false;
		}
		pc->pc_body_left -= data;
		complete = pc->pc_body_left == 0;
	}
	pc->pc_in_len = 0;
	pc->pc_data_len = data;
	if (complete)
		pc->pc_has_body = false;
	/* Input stays watched while the consumer holds bytes, or after the
	 * end: most consumers are done before anything more comes, and the
	 * watch is dropped only when something does (peer_on_io). */
	if (data > 0) {
		pc->pc_handler->on_body(pc, pc->pc_arg);
		return;
	}
	if (complete) {
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
	loop_timer_set(peer_loop(pc), &pc->pc_timer,
	    pc->pc_worker->w_cfg->peer_timeout_ms, peer_on_timer);
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
	struct peer_conn *pc = (struct peer_conn *)(void *)((char *)t -
	    offsetof(struct peer_conn, pc_timer));

	loop_timer_set(loop, &pc->pc_timer, pc->pc_worker->w_cfg->peer_timeout_ms,
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
	if (pc->pc_state != PC_DONE || !pc->pc_reusable ||
	    p->p_nidle >= PEER_IDLE_MAX || pc->pc_worker->w_stopping) {
		peer_conn_close(pc);
		return;
	}
	pc->pc_state = PC_IDLE;
	pc->pc_handler = NULL;
	/* An idle connection has nothing to say: data or EOF ends it. */
	peer_watch(pc);
	loop_timer_set(peer_loop(pc), &pc->pc_timer, PEER_IDLE_MS,
	    peer_on_timer);
	pc->pc_next = p->p_idle;
	p->p_idle = pc;
	p->p_nidle++;
}

/* Whether what is left of the answer is worth reading for nobody. */
static bool
peer_answer_small(const struct peer_conn *pc)
{
	return !pc->pc_has_body ||
	    (!pc->pc_chunked && pc->pc_body_left <= PEER_DISCARD_BODY_MAX);
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
	discard_on_head, discard_on_body, discard_on_done, discard_on_fail,
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
	    pc->pc_worker->w_stopping) {
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
	struct peer_conn *pc = (struct peer_conn *)(void *)((char *)t -
	    offsetof(struct peer_conn, pc_timer));

	switch (pc->pc_state) {
	case PC_IDLE:
		peer_conn_close(pc);
		return;
	case PC_BODY:
		if (pc->pc_data_len > 0) {
			/* The consumer (a slow client) holds the bytes; the
			 * peer is not stalling. */
			loop_timer_set(loop, &pc->pc_timer,
			    pc->pc_worker->w_cfg->peer_timeout_ms,
			    peer_on_timer);
			return;
		}
		peer_fail(pc, PEER_TIMEOUT);
		return;
	default:
		peer_fail(pc, PEER_TIMEOUT);
		return;
	}
}
