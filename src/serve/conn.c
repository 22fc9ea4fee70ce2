/*
 * conn.c - client connections of a worker (loop thread).
 *
 * Life of a request: CONN_READ_HEAD reads until http_parse_request has a
 * whole head, which goes to the server's router; CONN_BUSY while the
 * answer is decided (perhaps through a pool job), or CONN_OWNED while an
 * owner's handler drives the connection; CONN_WRITE sends c_out and then
 * the file body in pool jobs (sendfile may block on the disk); then the
 * request is logged and counted, and the connection either waits for the
 * next head (keep-alive; pipelined bytes already read are parsed at once)
 * or closes.
 *
 * The ways a request ends, from the top: conn_send() or conn_send_text()
 * answer it, and conn_finish() is what an owner calls once its own
 * response went out whole; all of them end in conn_end_request() (log,
 * count) and then keep-alive, or conn_linger() when the connection must
 * close: our write side is shut and the client's remaining bytes are read
 * and dropped, so that a reset does not destroy the answer before the
 * client has read it. A client may be sending a whole body it was refused
 * before it reads (many scripts do), so lingering is bounded by time, not
 * bytes, as nginx's lingering_time and lingering_timeout bound it: at most
 * CONN_LINGER_MS in all, CONN_LINGER_IDLE_MS without a byte. A lingering
 * connection counts against http.max_connections, and is the first to go
 * when a new one needs the room (conn_shed_linger). conn_abort() ends the
 * request and closes at once (a response that cannot be completed must
 * look cut).
 * conn_close() frees now, or once the pool job in flight returns;
 * conn_free() is the end of every path.
 *
 * One timer per connection; what it means depends on the state (and, for
 * an owned connection, on its owner).
 *
 * Writing responses is in conn_send.c, reading a request body in
 * conn_body.c; conn_int.h is what the three share.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "http/response.h"
#include "serve/accesslog.h"
#include "serve/conn.h"
#include "serve/conn_int.h"
#include "serve/server.h"
#include "store/metrics.h"

#define CONN_IN_MIN 2048		/* first input buffer */
#define CONN_IN_SPARES 64		/* of that size, kept for reuse */
#define CONN_LINGER_MS 30000		/* lingering in all */
#define CONN_LINGER_IDLE_MS 5000	/* lingering without a byte */
#define CONN_LINGER_READS 16		/* reads per wake, for fairness */
#define CONN_DRAIN_IDLE_MS 500		/* idle connections when stopping */

/* What a connection waiting for a head watches: input, and the client's
 * hang-up, so that an owner's conn_wait_hangup() needs no change. */
#define CONN_WATCH_HEAD (POLLIN | POLLRDHUP)

static void conn_on_io(struct loop *loop, int fd, short revents, void *arg);
static void conn_process_input(struct conn *c);
static void conn_close(struct conn *c);

static void
conn_format_addr(struct conn *c, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host,
			    sizeof(host));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, host, sizeof(host));
	} else {
		snprintf(host, sizeof(host), "-");
	}
	snprintf(c->c_addr, sizeof(c->c_addr), "%s", host);
}

void
conn_accept(struct server *s, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int one = 1;

	(void)salen;
	c->c_srv = s;
	c->c_fd = fd;
	c->c_file.fi_fd = -1;
	c->c_open_fd = -1;
	c->c_state = CONN_READ_HEAD;
	conn_format_addr(c, sa);
	/* Heads go out with MSG_MORE when a body follows, so Nagle is not
	 * needed to coalesce them, and it would delay small answers. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (loop_add(s->s_loop, fd, CONN_WATCH_HEAD, conn_on_io, c) == -1) {
		log_warn("loop_add client %s", c->c_addr);
		close(fd);
		free(c);
		return;
	}
	list_insert_head(&s->s_conns, &c->c_link);
	s->s_nconns++;
	metrics_add(&metrics_mine()->ms_connections_accepted, 1);
	metrics_gauge_add(&metrics_mine()->ms_connections_open, 1);
	/* The first head of a connection gets the header timeout. */
	loop_timer_set(s->s_loop, &c->c_timer, s->s_cfg->http.header_timeout_ms,
	    conn_on_timer);
}

void
conn_refuse(int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Server: " RESPONSE_SERVER "\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
	    "too many connections\n";

	if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* The client will see the close; nothing more to do. */
	}
	close(fd);
	metrics_add(&metrics_mine()->ms_connections_refused, 1);
}

/* Gives c's input buffer back to the worker's spares: the next request
 * of any connection reads its head into the one given back last. */
static void
conn_in_give(struct conn *c)
{
	spares_give(&c->c_srv->s_in_spares, c->c_in, c->c_in_cap,
	    CONN_IN_MIN, CONN_IN_SPARES);
	c->c_in = NULL;
	c->c_in_cap = 0;
}

static void
conn_free(struct conn *c)
{
	struct server *s = c->c_srv;

	if (c->c_handler != NULL && c->c_handler->on_close != NULL)
		c->c_handler->on_close(c);
	loop_del(s->s_loop, c->c_fd);
	loop_timer_cancel(s->s_loop, &c->c_timer);
	close(c->c_fd);
	list_remove(&c->c_linger_link);
	if (c->c_file.fi_fd >= 0)
		close(c->c_file.fi_fd);
	if (c->c_open_fd >= 0)
		close(c->c_open_fd);
	conn_in_give(c);
	buf_free(&c->c_out);
	buf_free(&c->c_job_out);
	list_remove(&c->c_link);
	s->s_nconns--;
	metrics_gauge_add(&metrics_mine()->ms_connections_open, -1);
	free(c);
}

/* Closes now, or as soon as the pool job in flight returns. */
static void
conn_close(struct conn *c)
{
	if (c->c_job_busy) {
		c->c_dead = true;
		loop_del(conn_loop(c), c->c_fd);
		loop_timer_cancel(conn_loop(c), &c->c_timer);
		return;
	}
	conn_free(c);
}

static void
conn_linger(struct conn *c)
{
	struct server *s = c->c_srv;

	if (shutdown(c->c_fd, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	c->c_state = CONN_LINGER;
	c->c_linger_end = loop_now(s->s_loop) + CONN_LINGER_MS;
	list_insert_tail(&s->s_lingering, &c->c_linger_link);
	loop_set_events(s->s_loop, c->c_fd, POLLIN);
	loop_timer_set(s->s_loop, &c->c_timer, CONN_LINGER_IDLE_MS,
	    conn_on_timer);
}

/* Drops what the client sends; the idle timer starts again with each
 * byte, never past the end of the linger. */
static void
conn_linger_read(struct conn *c)
{
	static char sink[65536];	/* never read: one for all */
	int64_t left = c->c_linger_end - loop_now(conn_loop(c));
	ssize_t n;
	int i;

	for (i = 0; i < CONN_LINGER_READS; i++) {
		n = recv(c->c_fd, sink, sizeof(sink), 0);
		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		conn_close(c);	/* EOF or error: the client has it all */
		return;
	}
	if (left <= 0) {
		conn_close(c);
		return;
	}
	loop_timer_set(conn_loop(c), &c->c_timer, left < CONN_LINGER_IDLE_MS ?
	    left : CONN_LINGER_IDLE_MS, conn_on_timer);
}

bool
conn_shed_linger(struct server *s)
{
	if (list_empty(&s->s_lingering))
		return false;
	conn_close(container_of(list_first(&s->s_lingering), struct conn,
	    c_linger_link));
	return true;
}

struct conn *
conn_of_job(struct iopool_job *job)
{
	return container_of(job, struct conn, c_job);
}

/* Every job of a connection ends here first: a connection closed while
 * its job ran is freed now, instead of being handed to the caller. */
static void
conn_job_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);

	c->c_job_busy = false;
	if (c->c_dead) {
		conn_free(c);
		return;
	}
	c->c_job_then(job);
}

void
conn_submit(struct conn *c, void (*work)(struct iopool_job *),
    void (*done)(struct iopool_job *))
{
	c->c_job.work = work;
	c->c_job.done = conn_job_done;
	c->c_job_then = done;
	c->c_job_busy = true;
	iopool_submit(c->c_srv->s_pool, &c->c_job);
}

bool
conn_http10_keepalive(const struct conn *c)
{
	return c->c_req.version_minor == 0 && !c->c_close;
}

/* Ownership ends: what comes next is the connection's own business. */
void
conn_disown(struct conn *c)
{
	c->c_handler = NULL;
	c->c_owner = NULL;
}

/* Logs and counts the request that just ended and clears its state. */
static void
conn_end_request(struct conn *c)
{
	conn_disown(c);
	metrics_count_request(c->c_req.method, c->c_status);
	metrics_add(&metrics_mine()->ms_bytes_sent, c->c_sent);
	if (accesslog_enabled())
		accesslog_request(c->c_addr, &c->c_req, c->c_status, c->c_sent,
		    loop_now(conn_loop(c)) - c->c_start_ms);
	if (c->c_file.fi_fd >= 0) {
		close(c->c_file.fi_fd);
		c->c_file.fi_fd = -1;
	}
	c->c_file_off = c->c_file_end = 0;
	buf_reset(&c->c_out);
	c->c_out_off = 0;
	c->c_sent = 0;
	c->c_body_len = 0;
	c->c_status = 0;
	c->c_continued = false;
	c->c_miss_tries = 0;
	c->c_has_version = false;
	c->c_pipelined = false;
}

void
conn_finish(struct conn *c)
{
	struct server *s = c->c_srv;

	conn_end_request(c);
	if (c->c_close) {
		conn_linger(c);
		return;
	}
	/* Keep what follows the head: pipelined requests. */
	memmove(c->c_in, c->c_in + c->c_head_len, c->c_in_len - c->c_head_len);
	c->c_in_len -= c->c_head_len;
	c->c_head_len = 0;
	c->c_head_started = false;
	c->c_state = CONN_READ_HEAD;
	http_message_clear(&c->c_req);
	if (c->c_in_len > 0) {
		/* Parse it from the timer phase of this loop turn rather than
		 * recursing: a buffer of tiny pipelined requests would
		 * otherwise nest one call per request. */
		loop_set_events(s->s_loop, c->c_fd, 0);
		loop_timer_set(s->s_loop, &c->c_timer, 0, conn_on_timer);
		return;
	}
	conn_in_give(c);	/* idle connections hold no buffer */
	loop_set_events(s->s_loop, c->c_fd, CONN_WATCH_HEAD);
	/* Draining, but this answer did not say "Connection: close" (it was
	 * under way when the drain began): the client may be sending its next
	 * request right now. Serve that one with a close, as for any idle
	 * connection when a drain begins (conn_drain_all). */
	loop_timer_set(s->s_loop, &c->c_timer, s->s_stopping ?
	    CONN_DRAIN_IDLE_MS : s->s_cfg->http.keepalive_timeout_ms,
	    conn_on_timer);
}

void
conn_abort(struct conn *c)
{
	conn_end_request(c);
	conn_close(c);
}

/* -- owners ---------------------------------------------------------- */

void
conn_own(struct conn *c, const struct conn_handler *h, void *owner)
{
	c->c_state = CONN_OWNED;
	c->c_handler = h;
	c->c_owner = owner;
	c->c_hangup_wait = false;
	loop_set_events(conn_loop(c), c->c_fd, 0);
	loop_timer_cancel(conn_loop(c), &c->c_timer);
}

void *
conn_owner(const struct conn *c)
{
	return c->c_owner;
}

void
conn_release(struct conn *c)
{
	conn_disown(c);
	c->c_state = CONN_BUSY;
	loop_set_events(conn_loop(c), c->c_fd, 0);
	loop_timer_cancel(conn_loop(c), &c->c_timer);
}

void
conn_wait_writable(struct conn *c)
{
	c->c_hangup_wait = false;
	loop_set_events(conn_loop(c), c->c_fd, POLLOUT | POLLRDHUP);
	loop_timer_set(conn_loop(c), &c->c_timer,
	    conn_cfg(c)->http.send_timeout_ms, conn_on_timer);
}

/*
 * Input stays watched as it was for the head (unless bytes of a next
 * request came already): a miss or a relay that waits for the peer would
 * otherwise cost two epoll_ctl(2) calls per request, one to drop POLLIN
 * and one to watch it again for the next head. Input that comes meanwhile
 * drops it then (conn_on_io), once per request.
 */
void
conn_wait_hangup(struct conn *c)
{
	c->c_hangup_wait = true;
	loop_set_events(conn_loop(c), c->c_fd, c->c_pipelined ? POLLRDHUP :
	    CONN_WATCH_HEAD);
	loop_timer_cancel(conn_loop(c), &c->c_timer);
}

void
conn_wait_readable(struct conn *c)
{
	c->c_hangup_wait = false;
	loop_set_events(conn_loop(c), c->c_fd, POLLIN);
	loop_timer_set(conn_loop(c), &c->c_timer,
	    conn_cfg(c)->http.body_timeout_ms, conn_on_timer);
}

void
conn_wait_nothing(struct conn *c)
{
	c->c_hangup_wait = false;
	loop_set_events(conn_loop(c), c->c_fd, 0);
	loop_timer_cancel(conn_loop(c), &c->c_timer);
}

void
conn_set_timer(struct conn *c, int64_t ms)
{
	loop_timer_set(conn_loop(c), &c->c_timer, ms, conn_on_timer);
}

/* -- reading heads --------------------------------------------------- */

/* Reads what the socket has into c_in. Returns 0 when the caller should
 * parse, -1 when the connection was closed. */
static int
conn_read(struct conn *c)
{
	size_t max = c->c_srv->s_limits.max_header_size + 1;
	ssize_t n;

	for (;;) {
		if (c->c_in_len == c->c_in_cap) {
			size_t cap = c->c_in_cap ? c->c_in_cap * 2 : CONN_IN_MIN;

			if (c->c_in_cap >= max)
				return 0;	/* full: the parser decides */
			if (cap > max)
				cap = max;
			if (c->c_in_cap == 0 && cap == CONN_IN_MIN) {
				c->c_in = spares_take(&c->c_srv->s_in_spares,
				    CONN_IN_MIN);
			} else {
				c->c_in = xrealloc(c->c_in, cap);
			}
			c->c_in_cap = cap;
		}
		n = recv(c->c_fd, c->c_in + c->c_in_len,
		    c->c_in_cap - c->c_in_len, 0);
		if (n > 0) {
			size_t room = c->c_in_cap - c->c_in_len;

			c->c_in_len += (size_t)n;
			metrics_add(&metrics_mine()->ms_bytes_received,
			    (uint64_t)n);
			/* A short read took all there was: no need for a
			 * second recv to hear EAGAIN (the loop is
			 * level-triggered, nothing is lost). */
			if ((size_t)n < room)
				return 0;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		/* EOF or reset: a client may leave between requests. */
		conn_close(c);
		return -1;
	}
}

/* Answers a head that cannot be served (unparsable, or too slow), then
 * closes: what follows it cannot be trusted. */
static void
conn_refuse_head(struct conn *c, int status, const char *reason)
{
	http_message_clear(&c->c_req);
	c->c_req.method = HTTP_METHOD_OTHER;
	c->c_req.version_minor = 1;
	c->c_head_len = c->c_in_len;
	c->c_close = true;
	c->c_state = CONN_BUSY;
	loop_set_events(conn_loop(c), c->c_fd, 0);
	conn_send_text(c, status, reason, NULL);
}

static void
conn_process_input(struct conn *c)
{
	struct server *s = c->c_srv;
	struct http_error err;
	enum http_parse_result r;
	bool first = !c->c_head_started;

	if (c->c_in_len == 0)
		return;
	if (first) {
		c->c_head_started = true;
		c->c_start_ms = loop_now(s->s_loop);
	}
	r = http_parse_request(c->c_in, c->c_in_len, &s->s_limits, &c->c_req,
	    &c->c_head_len, &err);
	if (r == HTTP_PARSE_MORE) {
		if (c->c_in_len >= s->s_limits.max_header_size + 1) {
			/* The parser bounds every part of a head, so a full
			 * buffer without a verdict means a too-large head. */
			r = HTTP_PARSE_ERROR;
			err.status = 431;
			err.reason = "request head too large";
		} else {
			/* The header timeout runs from the first byte; armed
			 * only now, as most heads come whole in one read. */
			if (first)
				loop_timer_set(s->s_loop, &c->c_timer,
				    s->s_cfg->http.header_timeout_ms,
				    conn_on_timer);
			loop_set_events(s->s_loop, c->c_fd, CONN_WATCH_HEAD);
			return;
		}
	}
	loop_timer_cancel(s->s_loop, &c->c_timer);
	if (r == HTTP_PARSE_ERROR) {
		conn_refuse_head(c, err.status, err.reason);
		return;
	}
	loop_set_events(s->s_loop, c->c_fd, 0);
	c->c_state = CONN_BUSY;
	c->c_close = !c->c_req.keep_alive || s->s_stopping ||
	    s->s_cfg->http.keepalive_timeout_ms == 0;
	s->s_route_request(c);
}

static void
conn_on_io(struct loop *loop, int fd, short revents, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	switch (c->c_state) {
	case CONN_READ_HEAD:
		if (conn_read(c) == 0)
			conn_process_input(c);
		break;
	case CONN_WRITE:
		if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLOUT)) {
			conn_abort(c);
			break;
		}
		conn_write(c);
		break;
	case CONN_LINGER:
		conn_linger_read(c);
		break;
	case CONN_OWNED:
		if (c->c_hangup_wait && !c->c_pipelined &&
		    !(revents & (POLLERR | POLLHUP | POLLRDHUP))) {
			/* The next request's bytes, while the owner waits for
			 * a hang-up only: they wait in the socket. */
			c->c_pipelined = true;
			loop_set_events(conn_loop(c), c->c_fd, POLLRDHUP);
			break;
		}
		c->c_handler->on_io(c, revents);
		break;
	case CONN_BUSY:
		/* Nothing was asked for, but the loop reports a hang-up
		 * anyway; ignoring it would spin the loop until the work is
		 * done. */
		if (revents & (POLLERR | POLLHUP))
			conn_close(c);
		break;
	}
}

void
conn_on_timer(struct loop *loop, struct loop_timer *t)
{
	struct conn *c = container_of(t, struct conn, c_timer);

	(void)loop;
	switch (c->c_state) {
	case CONN_READ_HEAD:
		if (c->c_in_len > 0 && c->c_head_len == 0 &&
		    !c->c_head_started) {
			/* Pipelined bytes left by the previous request. */
			conn_process_input(c);
			return;
		}
		if (!c->c_head_started) {
			/* Idle keep-alive: close gracefully, so that a request
			 * the client sent at this very moment meets an orderly
			 * end of stream (which clients retry), not a reset. */
			conn_linger(c);
			return;
		}
		conn_refuse_head(c, 408, "request head not received in time");
		return;
	case CONN_WRITE:
		if (c->c_job_busy) {
			/* The disk is slow, not the client; wait for it. */
			loop_timer_set(conn_loop(c), &c->c_timer,
			    conn_cfg(c)->http.send_timeout_ms, conn_on_timer);
			return;
		}
		log_debug("send timeout to %s", c->c_addr);
		conn_abort(c);
		return;
	case CONN_OWNED:
		c->c_handler->on_timeout(c);
		return;
	case CONN_LINGER:
	case CONN_BUSY:
		conn_close(c);
		return;
	}
}

void
conn_drain_all(struct server *s)
{
	struct list *l;

	list_for_each(l, &s->s_conns) {
		struct conn *c = container_of(l, struct conn, c_link);

		/* An answer whose head is written already (being sent, or
		 * built by an owner) keeps what it told the client; the
		 * connection counts as idle afterwards (conn_finish). Closing
		 * it unannounced would meet the client's next request with an
		 * end of stream. Every other answer says it closes. */
		if (c->c_out.len == 0 && c->c_state != CONN_LINGER)
			c->c_close = true;
		/* An idle connection may carry a request already on its way:
		 * serve it (with "Connection: close") if it comes soon, then
		 * close gracefully. */
		if (c->c_state == CONN_READ_HEAD && !c->c_head_started &&
		    c->c_in_len == 0)
			loop_timer_set(s->s_loop, &c->c_timer,
			    CONN_DRAIN_IDLE_MS, conn_on_timer);
	}
}

void
conn_close_all(struct server *s)
{
	while (!list_empty(&s->s_conns))
		conn_free(container_of(list_first(&s->s_conns), struct conn,
		    c_link));
}
