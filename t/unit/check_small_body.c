/*
 * check_small_body.c - unit tests for src/serve/small_body.c, a small
 * request body read whole with a bound: a real server (serve_fixture.h)
 * on a real loop, a test route "/small" that reads its body with
 * small_body_read() (at most SMALL_MAX bytes) and answers it back, and
 * clients on loopback. Each test asserts what the owner heard (the
 * outcome, once) and what the client got: the body in pieces or chunked,
 * 100 Continue, and the refusals (411, 413 declared or read, 400 bad
 * framing, 408), a client gone mid-body, the worker closing an owned
 * connection. Runs in Check's fork mode.
 */
#include <check.h>
#include <string.h>

#include "core/list.h"
#include "serve/small_body.h"
#include "serve_fixture.h"

#define SMALL_MAX 64

/* The owner: its state, with the reader embedded. */
static struct {
	struct small_body sb;
	int outcomes, status;
	char reason[128];
	struct buf got;
} own;

static void
small_done(struct conn *c, struct small_body *sb, int status,
    const char *reason)
{
	ck_assert_ptr_eq(container_of(sb, __typeof__(own), sb), &own);
	own.outcomes++;
	own.status = status;
	snprintf(own.reason, sizeof(own.reason), "%s", reason != NULL ?
	    reason : "");
	buf_reset(&own.got);
	buf_append(&own.got, sb->sb_body.data, sb->sb_body.len);
	buf_free(&sb->sb_body);
	if (status == 0)
		conn_send_body(c, "application/octet-stream", NULL,
		    own.got.data, own.got.len);
}

static void
test_route(struct conn *c)
{
	if (c->c_req.target.len == 6 &&
	    memcmp(c->c_req.target.p, "/small", 6) == 0) {
		memset(&own.sb, 0, sizeof(own.sb));
		own.sb.sb_max = SMALL_MAX;
		own.sb.sb_what = "thing";
		own.sb.sb_done = small_done;
		small_body_read(c, &own.sb);
		return;
	}
	request_handle(c);
}

static void
setup(void)
{
	sfx_setup();
	memset(&own, 0, sizeof(own));
	sfx.srv.s_route_request = test_route;
}

static void
teardown(void)
{
	sfx_teardown();
	buf_free(&own.got);
}

/* The body in three writes, then another request on the connection. */
START_TEST(body_in_pieces)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(cl, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 10"
	    "\r\n\r\nabc");
	sfx_run_for(20);
	ck_assert_int_eq(own.outcomes, 0);
	sfx_sends(cl, "defg");
	sfx_run_for(20);
	sfx_sends(cl, "hij");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "abcdefghij", 10);
	ck_assert_int_eq(own.outcomes, 1);
	ck_assert_int_eq(own.status, 0);
	ck_assert_int_eq(sfx_ask(cl, "GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n",
	    &r), 200);
	sfx_resp_free(&r);
}
END_TEST

/* Chunked, up to the bound exactly; an empty body. */
START_TEST(chunked_and_empty)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char req[256];

	snprintf(req, sizeof(req), "POST /small HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n20\r\n%s\r\n20\r\n%s\r\n0\r\n"
	    "\r\n", "0123456789abcdef0123456789abcdef",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345");
	ck_assert_int_eq(sfx_ask(cl, req, &r), 200);
	ck_assert_uint_eq(r.body.len, SMALL_MAX);
	ck_assert_int_eq(own.status, 0);
	ck_assert_int_eq(sfx_ask(cl, "POST /small HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 0\r\n\r\n", &r), 200);
	ck_assert_uint_eq(r.body.len, 0);
	ck_assert_int_eq(own.outcomes, 2);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(continue_when_asked)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(cl, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
	    "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 100);
	ck_assert_int_eq(own.outcomes, 0);
	sfx_sends(cl, "xyz");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "xyz", 3);
	sfx_resp_free(&r);
}
END_TEST

/* No length: 411. A declared length past the bound: 413 before any
 * byte is read. Each heard once by the owner, with the reason sent. */
START_TEST(refused_before_the_body)
{
	struct sfx_client *a = sfx_connect(), *b = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(sfx_ask(a, "POST /small HTTP/1.1\r\nHost: t\r\n\r\n",
	    &r), 411);
	SFX_ASSERT_BYTES(&r.body, "thing needs a Content-Length\n", 29);
	ck_assert_int_eq(own.outcomes, 1);
	ck_assert_int_eq(own.status, 411);
	ck_assert_str_eq(own.reason, "thing needs a Content-Length");
	ck_assert_int_eq(sfx_ask(b, "POST /small HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 65\r\n\r\n", &r), 413);
	SFX_ASSERT_BYTES(&r.body, "thing too large\n", 16);
	ck_assert_int_eq(own.outcomes, 2);
	ck_assert_int_eq(own.status, 413);
	ck_assert_uint_eq(own.got.len, 0);
	sfx_resp_free(&r);
}
END_TEST

/* A chunked body that grows past the bound: 413 as soon as it does, and
 * the connection closes (the rest of the body is not read). */
START_TEST(chunked_past_the_bound)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char req[256];

	snprintf(req, sizeof(req), "POST /small HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n41\r\n%s%s0\r\n",
	    "0123456789abcdef0123456789abcdef",
	    "0123456789abcdef0123456789abcdef");
	ck_assert_int_eq(sfx_ask(cl, req, &r), 413);
	ck_assert_int_eq(own.outcomes, 1);
	ck_assert_int_eq(own.status, 413);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(cl, 3000));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(bad_framing)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(sfx_ask(cl, "POST /small HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", &r), 400);
	ck_assert_int_eq(own.outcomes, 1);
	ck_assert_int_eq(own.status, 400);
	ck_assert_str_eq(own.reason, "bad chunked framing");
	ck_assert(sfx_wait_closed(cl, 3000));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(timeout)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx.cfg.http.body_timeout_ms = 150;
	sfx_sends(cl, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
	    "\r\nabc");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 408);
	SFX_ASSERT_BYTES(&r.body, "thing not received in time\n", 27);
	ck_assert_int_eq(own.outcomes, 1);
	ck_assert_int_eq(own.status, 408);
	ck_assert(sfx_wait_closed(cl, 3000));
	sfx_resp_free(&r);
}
END_TEST

/* The client leaves mid-body, or the worker frees the connection: -1,
 * once, and nothing is answered. */
START_TEST(gone_mid_body)
{
	struct sfx_client *cl = sfx_connect(), *other = sfx_connect();

	sfx_sends(cl, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
	    "\r\nabc");
	sfx_run_for(20);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(own.outcomes > 0, 2000);
	ck_assert_int_eq(own.outcomes, 1);
	ck_assert_int_eq(own.status, -1);
	sfx_sends(other, "POST /small HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 10\r\n\r\nabc");
	sfx_run_for(20);
	ck_assert_int_eq(own.outcomes, 1);
	conn_close_all(&sfx.srv);
	ck_assert_int_eq(own.outcomes, 2);
	ck_assert_int_eq(own.status, -1);
	sfx_pump(other);
	ck_assert(other->cl_eof);
	ck_assert_uint_eq(other->cl_in.len, 0);
}
END_TEST

int
main(void)
{
	sfx_tcase("small_body", setup, teardown, CHECK_MAIN_TESTS(
	    body_in_pieces, chunked_and_empty, continue_when_asked,
	    refused_before_the_body, chunked_past_the_bound, bad_framing,
	    timeout, gone_mid_body));
	return check_main_run();
}
