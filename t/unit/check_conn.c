/*
 * check_conn.c - unit tests for the client connections of a worker
 * (src/serve/conn*.c), through include/serve/conn.h only: a real server
 * (serve_fixture.h) on a real loop, clients on loopback, every assertion
 * about the bytes a client gets.
 *
 * Heads: in pieces, pipelined, keep-alive, Connection: close and
 * HTTP/1.0, the header and keep-alive timers, heads refused (400, 414,
 * 431, 408) and the linger that lets the client read the refusal. Bodies:
 * Content-Length and chunked through conn_read_body(), the bytes after a
 * body kept for the next request, 100 Continue, bad framing, a client
 * that leaves mid-body, the body timeout. Owners: conn_sendv() batches and
 * backpressure, the handler's callbacks (on_io, on_timeout, on_close when
 * the worker frees an owned connection), conn_release, conn_abort; the
 * send timeout of a file body; draining; the 503 of a full worker.
 *
 * A test router stands in for request_handle() where an owner is needed
 * ("/echo", "/own", "/sendv"); everything else goes to the real router.
 * Links libshoal.a. Runs in Check's fork mode: a crash or a hang is a
 * failure.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/response.h"
#include "proc/child.h"
#include "proc/worker.h"
#include "serve_fixture.h"

#define HEALTH "GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n"
#define HEALTH10_KA "GET /_/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"

/* ------------------------------------------------------------------ */
/* The test's owner                                                    */

enum own_mode {
	OWN_TIMER,		/* conn_set_timer, answer on the timeout */
	OWN_HANGUP,		/* conn_wait_hangup, abort on the hang-up */
	OWN_HANGUP_TIMER,	/* the same, and answer on the timeout */
	OWN_NOTHING,		/* conn_wait_nothing: only on_close */
	OWN_RELEASE,		/* on the timer, conn_release + the router */
};

static struct {
	/* /echo */
	size_t cap;			/* read buffer; 0: 64 KiB */
	bool use_continue;
	int continue_rc[2];
	int reads, waits, read_err;
	bool done_at_start;		/* conn_body_done() before any read */
	struct buf body;
	/* /own */
	enum own_mode mode;
	int ios, timeouts, closes;
	short revents;
	int64_t owned_at, timeout_at;
	/* /sendv */
	const char *data;
	size_t len, off, piece, cut_at;
	int niov;
	int partial, sendv_calls, send_err;
	int sendv_rc_einval, sendv_errno;
} ow;

static void
ow_reset(void)
{
	buf_free(&ow.body);
	memset(&ow, 0, sizeof(ow));
	ow.niov = 3;
	ow.piece = 1000;
}

/* /echo: reads the body, answers it back. */
static void
echo_pump(struct conn *c)
{
	static char buf[65536];
	size_t cap = ow.cap ? ow.cap : sizeof(buf);

	for (;;) {
		ssize_t n = conn_read_body(c, buf, cap);

		if (n > 0) {
			ow.reads++;
			buf_append(&ow.body, buf, (size_t)n);
			continue;
		}
		if (n == 0 && errno == 0) {
			conn_send_body(c, "application/octet-stream", NULL,
			    ow.body.data, ow.body.len);
			return;
		}
		if (n == 0) {
			ow.waits++;
			conn_wait_readable(c);
			return;
		}
		ow.read_err = errno;
		if (errno == EPROTO) {
			c->c_close = true;
			conn_send_text(c, 400, "bad chunked encoding", NULL);
		} else {
			conn_abort(c);
		}
		return;
	}
}

static void
echo_io(struct conn *c, short revents)
{
	ow.ios++;
	ow.revents |= revents;
	echo_pump(c);
}

static void
echo_timeout(struct conn *c)
{
	ow.timeouts++;
	c->c_close = true;
	conn_send_text(c, 408, "request body not received in time", NULL);
}

static void
any_close(struct conn *c)
{
	(void)c;
	ow.closes++;
}

static const struct conn_handler echo_handler = {
	.on_io = echo_io,
	.on_timeout = echo_timeout,
	.on_close = any_close,
};

/* /own */
static void
own_io(struct conn *c, short revents)
{
	ow.ios++;
	ow.revents |= revents;
	if (revents & (POLLERR | POLLHUP | POLLRDHUP))
		conn_abort(c);
}

static void
own_timeout(struct conn *c)
{
	ow.timeouts++;
	ow.timeout_at = loop_now(c->c_srv->s_loop);
	if (ow.mode == OWN_RELEASE) {
		conn_release(c);
		request_handle(c);	/* the file "own" of ROOT */
		return;
	}
	conn_send_text(c, 200, "timed out as asked", NULL);
}

static const struct conn_handler own_handler = {
	.on_io = own_io,
	.on_timeout = own_timeout,
	.on_close = any_close,
};

/* /sendv: ow.data[0..len) as the body, ow.niov vectors of ow.piece bytes
 * per conn_sendv(); ow.cut_at > 0 aborts once that much went. */
static void
sendv_pump(struct conn *c)
{
	for (;;) {
		struct iovec iov[8];
		size_t total = 0, off = ow.off;
		ssize_t n;
		int i;

		if (ow.cut_at > 0 && ow.off >= ow.cut_at) {
			conn_abort(c);
			return;
		}
		for (i = 0; i < ow.niov && off < ow.len; i++) {
			size_t k = ow.len - off < ow.piece ? ow.len - off :
			    ow.piece;

			iov[i].iov_base = (void *)(uintptr_t)(ow.data + off);
			iov[i].iov_len = k;
			off += k;
			total += k;
		}
		ow.sendv_calls++;
		n = conn_sendv(c, iov, i, off < ow.len);
		if (n < 0) {
			ow.send_err = errno;
			conn_abort(c);
			return;
		}
		ow.off += (size_t)n;
		if ((size_t)n < total || conn_out_pending(c) > 0) {
			ow.partial++;
			conn_wait_writable(c);
			return;
		}
		if (ow.off == ow.len) {
			conn_finish(c);
			return;
		}
	}
}

static void
sendv_io(struct conn *c, short revents)
{
	ow.ios++;
	ow.revents |= revents;
	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLOUT)) {
		conn_abort(c);
		return;
	}
	sendv_pump(c);
}

static void
sendv_timeout(struct conn *c)
{
	ow.timeouts++;
	conn_abort(c);
}

static const struct conn_handler sendv_handler = {
	.on_io = sendv_io,
	.on_timeout = sendv_timeout,
	.on_close = any_close,
};

static bool
target_is(const struct conn *c, const char *t)
{
	return c->c_req.target.len == strlen(t) &&
	    memcmp(c->c_req.target.p, t, strlen(t)) == 0;
}

static void
test_route(struct conn *c)
{
	if (target_is(c, "/echo")) {
		buf_reset(&ow.body);
		conn_own(c, &echo_handler, &ow);
		conn_body_begin(c);
		ow.done_at_start = conn_body_done(c);
		if (ow.use_continue) {
			ow.continue_rc[0] = conn_continue(c);
			ow.continue_rc[1] = conn_continue(c);
		}
		echo_pump(c);
		return;
	}
	if (target_is(c, "/own")) {
		conn_own(c, &own_handler, &ow);
		ck_assert_ptr_eq(conn_owner(c), &ow);
		ow.owned_at = loop_now(c->c_srv->s_loop);
		switch (ow.mode) {
		case OWN_TIMER:
		case OWN_RELEASE:
			conn_set_timer(c, 50);
			break;
		case OWN_HANGUP:
			conn_wait_hangup(c);
			break;
		case OWN_HANGUP_TIMER:
			conn_wait_hangup(c);
			conn_set_timer(c, 50);
			break;
		case OWN_NOTHING:
			conn_wait_nothing(c);
			break;
		}
		return;
	}
	if (target_is(c, "/sendv")) {
		struct iovec many[8];
		char num[32];

		memset(many, 0, sizeof(many));
		c->c_status = 200;
		buf_reset(&c->c_out);
		response_start(&c->c_out, 200);
		snprintf(num, sizeof(num), "%zu", ow.len);
		response_header(&c->c_out, "Content-Length", num);
		response_end(&c->c_out, c->c_close, conn_http10_keepalive(c));
		conn_own(c, &sendv_handler, &ow);
		/* More vectors than one call takes: refused, nothing sent. */
		ow.sendv_rc_einval = (int)conn_sendv(c, many, 8, false);
		ow.sendv_errno = errno;
		sendv_pump(c);
		return;
	}
	request_handle(c);
}

static void
setup(void)
{
	sfx_setup();
	ow_reset();
	sfx.srv.s_route_request = test_route;
}

static void
teardown(void)
{
	sfx_teardown();
	buf_free(&ow.body);
}

/* ------------------------------------------------------------------ */
/* Heads                                                               */

START_TEST(head_in_pieces)
{
	static const char *const pieces[] = { "GE", "T /_/hea",
	    "lth HTTP/1.1\r", "\nHost: t\r\n", "\r", "\n" };
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t i;

	for (i = 0; i < 6; i++) {
		sfx_sends(cl, pieces[i]);
		sfx_run_for(5);
		sfx_pump(cl);
		if (i < 5)
			ck_assert_uint_eq(cl->cl_in.len, 0);
	}
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Cache-Control"), "no-store");
	ck_assert_str_eq(sfx_hdr(&r, "Content-Type"),
	    "text/plain; charset=utf-8");
	ck_assert_ptr_null(sfx_hdr(&r, "Connection"));
	SFX_ASSERT_BYTES(&r.body, "ok\n", 3);
	ck_assert(sfx_stays_open(cl, 30));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(keepalive_serves_many_requests)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	int i;

	sfx_put_text("a.txt", "alpha");
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(sfx_ask(cl, "GET /a.txt HTTP/1.1\r\n"
		    "Host: t\r\n\r\n", &r), 200);
		SFX_ASSERT_BYTES(&r.body, "alpha", 5);
	}
	ck_assert(sfx_stays_open(cl, 30));
	ck_assert_uint_eq(sfx.srv.s_nconns, 1);
	ck_assert_uint_eq(metrics_mine()->ms_connections_accepted, 1);
	ck_assert_int_eq(metrics_mine()->ms_connections_open, 1);
	ck_assert_uint_eq(metrics_mine()->ms_requests[METRICS_GET][2], 5);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(pipelined_in_one_write)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_put_text("a", "first");
	sfx_put_text("b", "second!");
	sfx_put_text("c", "third file");
	sfx_sends(cl, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
	    "HEAD /c HTTP/1.1\r\nHost: t\r\n\r\n"
	    "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "first", 5);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "second!", 7);
	ck_assert_int_eq(sfx_expect(cl, true, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "10");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 404);
	ck_assert(sfx_stays_open(cl, 30));
	sfx_resp_free(&r);
}
END_TEST

/* Hundreds of tiny requests in one buffer: each answered in order (the
 * next is parsed from a timer, never by recursion). */
START_TEST(pipelined_hundreds)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct buf req = { 0 };
	int i;

	for (i = 0; i < 300; i++)
		buf_append_str(&req, i % 2 ? HEALTH :
		    "GET /_/nothing HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_send(cl, req.data, req.len), 0);
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(sfx_expect(cl, false, &r), i % 2 ? 200 : 404);
	ck_assert(sfx_stays_open(cl, 30));
	buf_free(&req);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(connection_close_is_honoured)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(sfx_ask(cl, "GET /_/health HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(cl, 1000));
	ck_assert_int_eq(cl->cl_err, 0);	/* an orderly end, no reset */
	ck_assert_uint_eq(cl->cl_in.len, 0);
	/* The server lingers until the client closes too. */
	ck_assert_uint_eq(sfx.srv.s_nconns, 1);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 1000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_eq(metrics_mine()->ms_connections_open, 0);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(http10_closes_unless_asked)
{
	struct sfx_client *a = sfx_connect(), *b = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(a, "GET /_/health HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(sfx_expect(a, false, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(a, 1000));

	sfx_sends(b, HEALTH10_KA);
	ck_assert_int_eq(sfx_expect(b, false, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "keep-alive");
	ck_assert(sfx_stays_open(b, 50));
	sfx_sends(b, HEALTH10_KA);
	ck_assert_int_eq(sfx_expect(b, false, &r), 200);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(keepalive_timeout_closes_gracefully)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	int64_t t0;

	sfx.cfg.http.keepalive_timeout_ms = 150;
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	t0 = loop_clock_ms();
	ck_assert(sfx_wait_closed(cl, 2000));
	ck_assert_int_ge(loop_clock_ms() - t0, 140);
	ck_assert_int_eq(cl->cl_err, 0);
	ck_assert_uint_eq(cl->cl_in.len, 0);	/* nothing said */
	sfx_resp_free(&r);
}
END_TEST

/* A keep-alive timeout of 0 means no keep-alive at all. */
START_TEST(keepalive_off)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx.cfg.http.keepalive_timeout_ms = 0;
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(cl, 1000));
	sfx_resp_free(&r);
}
END_TEST

/* A connection that never sends a byte is closed without a word; one
 * that starts a head and stalls gets a 408. */
START_TEST(header_timeout)
{
	struct sfx_client *idle, *slow;
	struct sfx_resp r = { 0 };
	int64_t t0;

	sfx.cfg.http.header_timeout_ms = 150;
	t0 = loop_clock_ms();
	idle = sfx_connect();
	slow = sfx_connect();
	sfx_sends(slow, "GET /_/health HTTP/1.1\r\nHost:");
	ck_assert(sfx_wait_closed(idle, 2000));
	ck_assert_int_ge(loop_clock_ms() - t0, 140);
	ck_assert_uint_eq(idle->cl_in.len, 0);
	ck_assert_int_eq(idle->cl_err, 0);
	ck_assert_int_eq(sfx_expect(slow, false, &r), 408);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(slow, 2000));
	/* Both linger until their clients close. */
	sfx_hang_up(idle);
	sfx_hang_up(slow);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 2000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	sfx_resp_free(&r);
}
END_TEST

/* Heads the parser refuses: the status it names, "Connection: close",
 * then the close. */
START_TEST(bad_heads_refused)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "GARBAGE\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		    "\r\n", 501 },
		{ "GET /a HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
		{ "GET /a HTTP/1.1\r\n\r\n", 400 },		/* no Host */
		{ "GET /a HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\nHost: a\n\n", 400 },	/* bare LF */
	};
	struct sfx_resp r = { 0 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sfx_client *cl = sfx_connect();

		ck_assert_int_eq(sfx_ask(cl, cases[i].req, &r),
		    cases[i].status);
		ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
		ck_assert(sfx_wait_closed(cl, 3000));
		ck_assert_int_eq(cl->cl_err, 0);
	}
	sfx_resp_free(&r);
}
END_TEST

/* Nothing after a request that says "Connection: close" is answered,
 * even when it came in the same write. */
START_TEST(close_ends_the_pipeline)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(cl, "GET /_/health HTTP/1.1\r\nHost: t\r\nConnection: close"
	    "\r\n\r\n" HEALTH HEALTH);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(cl, 3000));
	ck_assert_uint_eq(cl->cl_in.len, 0);
	ck_assert_int_eq(cl->cl_err, 0);
	ck_assert_uint_eq(metrics_mine()->ms_requests[METRICS_GET][2], 1);
	sfx_resp_free(&r);
}
END_TEST

/* Empty lines before a request line are skipped (RFC 9112 2.2), as
 * after a body some clients send a stray CRLF. */
START_TEST(leading_empty_lines)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(sfx_ask(cl, "\r\n\r\n" HEALTH, &r), 200);
	ck_assert_int_eq(sfx_ask(cl, "\r\n" HEALTH, &r), 200);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

static void
assert_too_large(const char *what, size_t line, size_t lines, int status)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct buf req = { 0 };
	size_t i;

	if (strcmp(what, "target") == 0) {
		buf_append_str(&req, "GET /");
		for (i = 0; i < line; i++)
			buf_append_str(&req, "x");
		buf_append_str(&req, " HTTP/1.1\r\n");
	} else {
		buf_append_str(&req, "GET / HTTP/1.1\r\n");
		for (i = 0; i < lines; i++) {
			buf_printf(&req, "X-%zu: ", i);
			for (size_t k = 0; k < line; k++)
				buf_append_str(&req, "v");
			buf_append_str(&req, "\r\n");
		}
	}
	/* No end of head: the limit alone decides. */
	ck_assert_int_eq(sfx_send(cl, req.data, req.len), 0);
	ck_assert_int_eq(sfx_expect(cl, false, &r), status);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(cl, 3000));
	ck_assert_int_eq(cl->cl_err, 0);
	buf_free(&req);
	sfx_resp_free(&r);
}

START_TEST(oversize_heads)
{
	assert_too_large("target", 5000, 0, 414);	/* request line */
	assert_too_large("header", 5000, 1, 431);	/* one header line */
	assert_too_large("header", 1000, 10, 431);	/* the whole head */
	sfx.srv.s_limits.max_headers = 4;
	assert_too_large("header", 10, 6, 431);		/* too many lines */
}
END_TEST

/*
 * After a refusal the server reads and drops what the client still sends
 * (it lingers) instead of closing on unread bytes, which would reset the
 * connection and could destroy the answer before the client read it.
 * Lingering is bounded by time, not bytes: 8 MiB go (1 MiB did before).
 */
START_TEST(refusal_lingers)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t off, size = 8 << 20;
	char *junk = sfx_pattern_new(size, 1);

	sfx_sends(cl, "BAD\r\n\r\n");
	sfx_run_for(20);
	for (off = 0; off < size; off += 65536) {
		ck_assert_int_eq(sfx_send(cl, junk + off, 65536), 0);
		sfx_pump(cl);
	}
	shutdown(cl->cl_fd, SHUT_WR);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 400);
	ck_assert(sfx_wait_closed(cl, 3000));
	ck_assert_int_eq(cl->cl_err, 0);	/* not reset */
	ck_assert_uint_eq(cl->cl_in.len, 0);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 1000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	free(junk);
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Request bodies                                                      */

/* A PUT of /echo with body[0..len) (NUL-terminated, for sfx_ask() when
 * the body is text); *total is its length. */
static char *
echo_request(const char *body, size_t len, size_t *total)
{
	struct buf b = { 0 };

	buf_printf(&b, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
	    "%zu\r\n\r\n", len);
	buf_append(&b, body, len);
	if (total != NULL)
		*total = b.len;
	buf_append(&b, "", 1);
	return b.data;
}

START_TEST(body_with_the_head)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *req = echo_request("hello, body", 11, NULL);

	ck_assert_int_eq(sfx_ask(cl, req, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "hello, body", 11);
	ck_assert_int_eq(ow.waits, 0);
	ck_assert(!ow.done_at_start);
	/* The connection goes on. */
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	free(req);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(body_in_later_pieces)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *body = sfx_pattern_new(300000, 2);
	size_t off;

	sfx_sends(cl, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
	    "300000\r\n\r\n");
	sfx_run_for(10);
	for (off = 0; off < 300000; off += 30000) {
		ck_assert_int_eq(sfx_send(cl, body + off, 30000), 0);
		sfx_run_for(2);
	}
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, body, 300000);
	ck_assert_int_ge(ow.waits, 1);		/* waited for the socket */
	ck_assert(sfx_stays_open(cl, 20));
	free(body);
	sfx_resp_free(&r);
}
END_TEST

/* conn_read_body() never gives more than asked. */
START_TEST(body_read_in_small_steps)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *body = sfx_pattern_new(100, 3);
	size_t total;
	char *req = echo_request(body, 100, &total);

	ow.cap = 7;
	ck_assert_int_eq(sfx_send(cl, req, total), 0);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, body, 100);
	ck_assert_int_eq(ow.reads, 15);		/* ceil(100 / 7) */
	free(body);
	free(req);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(empty_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(sfx_ask(cl, "PUT /echo HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 0\r\n\r\n", &r), 200);
	ck_assert_uint_eq(r.body.len, 0);
	ck_assert(ow.done_at_start);
	ck_assert_int_eq(ow.reads, 0);
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	sfx_resp_free(&r);
}
END_TEST

/* A chunked body one byte per write: sizes, extensions, data and the
 * trailer all split anywhere. */
START_TEST(chunked_body_byte_by_byte)
{
	static const char req[] = "PUT /echo HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	static const char body[] = "5;ext=1\r\nhello\r\n1\r\n,\r\n"
	    "B\r\n 0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t i;

	sfx_sends(cl, req);
	for (i = 0; i < sizeof(body) - 1; i++)
		ck_assert_int_eq(sfx_send(cl, body + i, 1), 0);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "hello, 0123456789", 17);
	ck_assert_int_ge(ow.waits, 1);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

/* What follows a body in the same write is the next request. */
START_TEST(bytes_after_a_body_are_the_next_request)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct buf req = { 0 };

	buf_append_str(&req, "PUT /echo HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 4\r\n\r\nabcd" HEALTH
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n3\r\nxyz\r\n0\r\n\r\n" HEALTH
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
	ck_assert_int_eq(sfx_send(cl, req.data, req.len), 0);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "abcd", 4);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "ok\n", 3);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "xyz", 3);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "ok\n", 3);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "ok", 2);
	ck_assert(sfx_stays_open(cl, 20));
	buf_free(&req);
	sfx_resp_free(&r);
}
END_TEST

/* The same when the chunked body was read in small steps: what the
 * decoder read past the end goes back before what the head left. */
START_TEST(pushback_with_small_reads)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ow.cap = 5;
	sfx_sends(cl, "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n" HEALTH HEALTH);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "wxyz", 4);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "ok\n", 3);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(bad_chunked_framing)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(sfx_ask(cl, "PUT /echo HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", &r), 400);
	ck_assert_int_eq(ow.read_err, EPROTO);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(cl, 3000));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(client_leaves_mid_body)
{
	struct sfx_client *cl = sfx_connect();

	sfx_sends(cl, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
	    "\r\nonly this much");
	sfx_run_for(20);
	ck_assert_int_ge(ow.waits, 1);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 2000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_eq(ow.read_err, ECONNRESET);
	ck_assert_int_eq(ow.closes, 0);		/* ended by its owner */
}
END_TEST

/* 100 Continue once, only when asked for, before any body byte. */
START_TEST(expect_100_continue)
{
	struct sfx_client *a = sfx_connect(), *b = sfx_connect();
	struct sfx_resp r = { 0 };

	ow.use_continue = true;
	sfx_sends(a, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
	    "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(sfx_expect(a, false, &r), 100);
	ck_assert_int_eq(ow.continue_rc[0], 0);
	ck_assert_int_eq(ow.continue_rc[1], 0);
	ck_assert_uint_eq(r.head.len, 25);
	ck_assert(sfx_stays_open(a, 30));	/* only one */
	sfx_sends(a, "abc");
	ck_assert_int_eq(sfx_expect(a, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "abc", 3);

	/* Not asked: not sent. */
	sfx_sends(b, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
	    "\r\nxyz");
	ck_assert_int_eq(sfx_expect(b, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "xyz", 3);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(body_timeout)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	int64_t t0 = loop_clock_ms();

	sfx.cfg.http.body_timeout_ms = 150;
	sfx_sends(cl, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
	    "\r\nabc");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 408);
	ck_assert_int_ge(loop_clock_ms() - t0, 140);
	ck_assert_int_eq(ow.timeouts, 1);
	ck_assert(sfx_wait_closed(cl, 3000));
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Owners                                                              */

START_TEST(sendv_batches_vectors)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(2500, 4);
	uint64_t sent0;

	ow.data = data;
	ow.len = 2500;
	ow.piece = 1000;
	ow.niov = 3;
	sent0 = metrics_mine()->ms_bytes_sent;
	ck_assert_int_eq(sfx_ask(cl, "GET /sendv HTTP/1.1\r\nHost: t\r\n\r\n",
	    &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, 2500);
	ck_assert_int_eq(ow.sendv_calls, 1);	/* head and 3 vectors at once */
	ck_assert_int_eq(ow.partial, 0);
	ck_assert_int_eq(ow.sendv_rc_einval, -1);
	ck_assert_int_eq(ow.sendv_errno, EINVAL);
	/* Counted as sent: the head and the body. */
	ck_assert_uint_eq(metrics_mine()->ms_bytes_sent - sent0,
	    r.head.len + 2500);
	/* conn_finish: the connection goes on. */
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* A client slower than the data: conn_sendv takes what fits, the owner
 * waits for room, and the client gets every byte in order. */
START_TEST(sendv_backpressure)
{
	struct sfx_client *cl = sfx_connect_rcvbuf(8192);
	struct sfx_resp r = { 0 };
	size_t n = 4 << 20;
	char *data = sfx_pattern_new(n, 5);
	int small = 16384;

	setsockopt(sfx_newest_conn()->c_fd, SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small));
	ow.data = data;
	ow.len = n;
	ow.piece = 100000;
	ow.niov = 7;
	sfx_sends(cl, "GET /sendv HTTP/1.1\r\nHost: t\r\n\r\n");
	sfx_run_for(50);		/* the client reads nothing meanwhile */
	ck_assert_int_ge(ow.partial, 1);
	ck_assert_uint_lt(ow.off, n);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	ck_assert_int_gt(ow.ios, 0);
	ck_assert_int_eq(ow.timeouts, 0);
	ck_assert(sfx_stays_open(cl, 20));
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* An owner that stops halfway: the client sees the body cut, never a
 * whole answer. */
START_TEST(owner_abort_cuts_the_answer)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(10000, 6);

	ow.data = data;
	ow.len = 10000;
	ow.piece = 1000;
	ow.niov = 1;
	ow.cut_at = 4000;
	sfx_sends(cl, "GET /sendv HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_response(cl, false, &r), -1);
	ck_assert(r.cut);
	ck_assert_int_eq(r.status, 200);
	SFX_ASSERT_BYTES(&r.body, data, 4000);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 1000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* A client that stops reading: the owner's wait for room times out. */
START_TEST(sendv_send_timeout)
{
	struct sfx_client *cl = sfx_connect_rcvbuf(8192);
	size_t n = 8 << 20;
	char *data = sfx_pattern_new(n, 7);
	int small = 16384;
	int64_t t0;

	sfx.cfg.http.send_timeout_ms = 150;
	setsockopt(sfx_newest_conn()->c_fd, SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small));
	ow.data = data;
	ow.len = n;
	ow.piece = 65536;
	sfx_sends(cl, "GET /sendv HTTP/1.1\r\nHost: t\r\n\r\n");
	t0 = loop_clock_ms();
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 3000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_ge(loop_clock_ms() - t0, 140);
	ck_assert_int_eq(ow.timeouts, 1);
	ck_assert_uint_lt(ow.off, n);
	ck_assert(sfx_wait_closed(cl, 3000));
	free(data);
}
END_TEST

START_TEST(owner_timer)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ow.mode = OWN_TIMER;
	ck_assert_int_eq(sfx_ask(cl, "GET /own HTTP/1.1\r\nHost: t\r\n\r\n",
	    &r), 200);
	SFX_ASSERT_BYTES(&r.body, "timed out as asked\n", 19);
	ck_assert_int_eq(ow.timeouts, 1);
	ck_assert_int_ge(ow.timeout_at - ow.owned_at, 50);
	ck_assert_int_eq(ow.ios, 0);
	/* Answered: the owner is gone, keep-alive goes on. */
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	ck_assert_int_eq(ow.timeouts, 1);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(owner_hears_the_hang_up)
{
	struct sfx_client *cl = sfx_connect();

	ow.mode = OWN_HANGUP;
	sfx_sends(cl, "GET /own HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert(sfx_stays_open(cl, 30));	/* waiting, silent */
	ck_assert_int_eq(ow.ios, 0);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(ow.ios > 0, 1000);
	ck_assert_int_eq(ow.ios, 1);
	ck_assert(ow.revents & (POLLRDHUP | POLLHUP));
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_eq(ow.closes, 0);
}
END_TEST

/* The next request's bytes come while the owner waits for a hang-up: the
 * owner does not hear of them (nor does the loop spin on them), a
 * hang-up still reaches it; with the owner's answer out, they are the
 * next request, answered in order. */
START_TEST(owner_waiting_for_a_hang_up_ignores_the_next_request)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	int64_t end;
	int turns = 0;

	ow.mode = OWN_HANGUP;
	sfx_sends(cl, "GET /own HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert(sfx_stays_open(cl, 30));
	sfx_sends(cl, HEALTH);
	/* Level-triggered input that nobody reads would end every turn at
	 * once: 100 ms of turns of 10 ms are about 10 when it does not. */
	end = loop_clock_ms() + 100;
	while (loop_clock_ms() < end) {
		sfx_turn(10);
		turns++;
	}
	ck_assert_int_eq(ow.ios, 0);
	ck_assert_int_lt(turns, 30);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(ow.ios > 0, 1000);
	ck_assert(ow.revents & (POLLRDHUP | POLLHUP));
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);

	cl = sfx_connect();
	ow_reset();
	ow.mode = OWN_HANGUP_TIMER;
	sfx_sends(cl, "GET /own HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert(sfx_stays_open(cl, 10));
	sfx_sends(cl, HEALTH);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "timed out as asked\n", 19);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	ck_assert_int_eq(ow.ios, 0);
	ck_assert_int_eq(ow.timeouts, 1);
	/* Keep-alive goes on, with input watched again. */
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	sfx_resp_free(&r);
}
END_TEST

/* The worker exits with a connection owned: the owner hears on_close,
 * once, and nothing else. */
START_TEST(owner_on_close_when_freed)
{
	struct sfx_client *cl = sfx_connect(), *idle = sfx_connect();

	ow.mode = OWN_NOTHING;
	sfx_sends(cl, "GET /own HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert(sfx_stays_open(cl, 30));
	ck_assert_uint_eq(sfx.srv.s_nconns, 2);
	iopool_destroy(sfx.srv.s_pool);
	sfx.srv.s_pool = NULL;
	conn_close_all(&sfx.srv);
	ck_assert_int_eq(ow.closes, 1);
	ck_assert_int_eq(ow.ios + ow.timeouts, 0);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_eq(metrics_mine()->ms_connections_open, 0);
	sfx_pump(cl);
	sfx_pump(idle);
	ck_assert(cl->cl_eof);
	ck_assert(idle->cl_eof);
	ck_assert_uint_eq(cl->cl_in.len, 0);
}
END_TEST

/* The owner lets go: the request is answered by whoever it hands it to. */
START_TEST(owner_releases)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_put_text("own", "from ROOT");
	ow.mode = OWN_RELEASE;
	ck_assert_int_eq(sfx_ask(cl, "GET /own HTTP/1.1\r\nHost: t\r\n\r\n",
	    &r), 200);
	SFX_ASSERT_BYTES(&r.body, "from ROOT", 9);
	ck_assert_int_eq(ow.timeouts, 1);
	ck_assert_int_eq(sfx_ask(cl, HEALTH, &r), 200);
	ck_assert_int_eq(ow.closes, 0);
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* File bodies, draining, a full worker                                */

/* A file body to a client that stops reading: closed after the send
 * timeout, the answer cut. */
START_TEST(file_send_timeout)
{
	struct sfx_client *cl = sfx_connect_rcvbuf(8192);
	struct sfx_resp r = { 0 };
	size_t n = 8 << 20;
	char *data = sfx_pattern_new(n, 8);
	int small = 16384;

	sfx_put_file("big", data, n);
	sfx.cfg.http.send_timeout_ms = 200;
	setsockopt(sfx_newest_conn()->c_fd, SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small));
	sfx_sends(cl, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 4000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_eq(sfx_response(cl, false, &r), -1);
	ck_assert(r.cut);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_lt(r.body.len, n);
	ck_assert(memcmp(r.body.data, data, r.body.len) == 0);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* The worker stops: idle connections close within half a second; a
 * request that comes meanwhile is served with "Connection: close". */
START_TEST(drain)
{
	struct sfx_client *idle = sfx_connect(), *busy = sfx_connect();
	struct sfx_resp r = { 0 };
	int64_t t0;

	sfx.srv.s_stopping = true;
	conn_drain_all(&sfx.srv);
	t0 = loop_clock_ms();
	ck_assert_int_eq(sfx_ask(busy, HEALTH, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(busy, 1000));
	ck_assert(sfx_wait_closed(idle, 2000));
	ck_assert_int_ge(loop_clock_ms() - t0, 400);
	ck_assert_uint_eq(idle->cl_in.len, 0);
	ck_assert_int_eq(idle->cl_err, 0);
	sfx_hang_up(idle);
	sfx_hang_up(busy);
	SFX_RUN_UNTIL(server_idle(&sfx.srv), 1000);
	ck_assert(server_idle(&sfx.srv));
	sfx_resp_free(&r);
}
END_TEST

/* Forks a real worker process (worker_run) on sfx.lfd, as the master
 * forks it, with `max_connections`; returns its pid once it is ready,
 * its metrics slot in *slot. */
static pid_t
start_worker(size_t max_connections, int *slot)
{
	struct pollfd pfd;
	int ready[2];
	pid_t pid;
	char byte;

	sfx.cfg.http.max_connections = max_connections;
	/* Far away: an exit before it is the drain's doing. */
	sfx.cfg.shutdown_timeout_ms = 10000;
	*slot = metrics_slot_claim(1);
	ck_assert_int_ge(*slot, 0);
	/* Forked as the master forks it, from a process without threads:
	 * a fork keeps the locks that other threads held (the sanitizers'
	 * allocator's, say) locked for ever in the child. */
	iopool_destroy(sfx.srv.s_pool);
	sfx.srv.s_pool = NULL;
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct child_tables t = { .ct_index = sfx.ix,
		    .ct_peers = sfx.table };

		close(ready[0]);
		_exit(worker_run(&sfx.cfg, sfx.lfd, *slot, ready[1],
		    getppid(), &t));
	}
	close(ready[1]);
	pfd.fd = ready[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, SFX_WAIT_MS), 1);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	return pid;
}

/* n clients connected to the worker, accepted in this order. */
static void
connect_to_worker(struct sfx_client *cl, int n)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int i;

	ck_assert_int_eq(getsockname(sfx.lfd, (struct sockaddr *)&sin, &len),
	    0);
	for (i = 0; i < n; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].cl_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(cl[i].cl_fd, (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
		fcntl(cl[i].cl_fd, F_SETFL, O_NONBLOCK);
		usleep(20000);
	}
}

/* The worker, told to stop, must exit 0 within 5 s. */
static void
wait_worker_exit(pid_t pid)
{
	int status = -1, i;

	for (i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 500) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("the worker did not stop on SIGTERM");
	}
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

/* A real worker process at http.max_connections answers the next client
 * 503 and closes; SIGTERM stops it cleanly. */
START_TEST(full_worker_refuses_503)
{
	struct sfx_client cl[3];
	struct sfx_resp r = { 0 };
	int slot, i;
	pid_t pid = start_worker(2, &slot);

	connect_to_worker(cl, 3);
	ck_assert_int_eq(sfx_response(&cl[2], false, &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(sfx_hdr(&r, "Retry-After"), "1");
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	SFX_ASSERT_BYTES(&r.body, "too many connections\n", 21);
	ck_assert(sfx_wait_closed(&cl[2], 1000));
	ck_assert_uint_eq(metrics_shared()->slots[slot].ms_connections_refused,
	    1);
	/* The two it holds are served. */
	for (i = 0; i < 2; i++) {
		sfx_sends(&cl[i], HEALTH);
		ck_assert_int_eq(sfx_expect(&cl[i], false, &r), 200);
	}

	/* Stopping: the idle connections are closed gracefully (within
	 * half a second), and once their clients close too the worker
	 * exits, long before shutdown_timeout. */
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	for (i = 0; i < 3; i++) {
		ck_assert(sfx_wait_closed(&cl[i], 1500));
		ck_assert_int_eq(cl[i].cl_err, 0);
		close(cl[i].cl_fd);
		buf_free(&cl[i].cl_in);
	}
	wait_worker_exit(pid);
	sfx_resp_free(&r);
}
END_TEST

/* At the cap, a connection that lingers after its answer (its client
 * still sending what was refused) is closed to make room: the next
 * client is served, not refused. */
START_TEST(full_worker_closes_a_lingering_connection_first)
{
	struct sfx_client cl[3];
	struct sfx_resp r = { 0 };
	int slot, i;
	pid_t pid = start_worker(2, &slot);
	ssize_t n = 0;

	connect_to_worker(cl, 2);
	sfx_sends(&cl[0], "BAD\r\n\r\n");
	ck_assert_int_eq(sfx_expect(&cl[0], false, &r), 400);
	ck_assert(sfx_wait_closed(&cl[0], 1000));	/* our side: shut */
	connect_to_worker(&cl[2], 1);
	sfx_sends(&cl[2], HEALTH);
	ck_assert_int_eq(sfx_expect(&cl[2], false, &r), 200);
	ck_assert_uint_eq(metrics_shared()->slots[slot].ms_connections_refused,
	    0);
	/* The lingering one was closed: what its client sends meets a
	 * reset. */
	for (i = 0; i < 100 && n >= 0; i++) {
		n = send(cl[0].cl_fd, "x", 1, MSG_NOSIGNAL);
		usleep(10000);
	}
	ck_assert(n == -1 && (errno == EPIPE || errno == ECONNRESET));
	for (i = 0; i < 3; i++) {
		close(cl[i].cl_fd);
		buf_free(&cl[i].cl_in);
	}
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	wait_worker_exit(pid);
	sfx_resp_free(&r);
}
END_TEST

int
main(void)
{
	sfx_tcase("heads", setup, teardown, CHECK_MAIN_TESTS(head_in_pieces,
	    keepalive_serves_many_requests, pipelined_in_one_write,
	    pipelined_hundreds, connection_close_is_honoured,
	    close_ends_the_pipeline, leading_empty_lines,
	    http10_closes_unless_asked, keepalive_timeout_closes_gracefully,
	    keepalive_off, header_timeout, bad_heads_refused, oversize_heads,
	    refusal_lingers));
	sfx_tcase("bodies", setup, teardown, CHECK_MAIN_TESTS(
	    body_with_the_head, body_in_later_pieces, body_read_in_small_steps,
	    empty_body, chunked_body_byte_by_byte,
	    bytes_after_a_body_are_the_next_request, pushback_with_small_reads,
	    bad_chunked_framing, client_leaves_mid_body, expect_100_continue,
	    body_timeout));
	sfx_tcase("owners", setup, teardown, CHECK_MAIN_TESTS(
	    sendv_batches_vectors, sendv_backpressure,
	    owner_abort_cuts_the_answer, sendv_send_timeout, owner_timer,
	    owner_hears_the_hang_up,
	    owner_waiting_for_a_hang_up_ignores_the_next_request,
	    owner_on_close_when_freed,
	    owner_releases));
	sfx_tcase("life", setup, teardown, CHECK_MAIN_TESTS(file_send_timeout,
	    drain, full_worker_refuses_503,
	    full_worker_closes_a_lingering_connection_first));
	return check_main_run();
}
