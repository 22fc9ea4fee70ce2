/*
 * check_follow.c - unit tests for requests that follow another's fill
 * (src/serve/follow.c) through a real server (serve_fixture.h) whose peer
 * is a fake one on loopback (fake_peer.h) that pauses mid-body: the
 * waiters get the peer's head and every byte from one transfer, a Range
 * (206) and a condition (304) are answered from the fill, and a peer that
 * cuts the body cuts every follower. Links libshoal.a. Runs in Check's
 * fork mode.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "serve_fixture.h"
#include "fake_peer.h"

#define PEER_ETAG "\"0123456789abcdef0123456789abcdef\""
#define LAST_MOD "Tue, 15 Nov 1994 08:12:31 GMT"
#define BODY (1 << 20)
#define PAUSE_MS 300

static struct fake_peer fp;
static struct buf answer;	/* the peer's canned answer */

static void
setup(void)
{
	sfx_setup();
	memset(&fp, 0, sizeof(fp));
	memset(&answer, 0, sizeof(answer));
}

static void
teardown(void)
{
	sfx_teardown();
	buf_free(&answer);
}

/* The peer answers 200 with body[0..len) but sends only `sent` bytes of
 * it: the head and `first` of them, a pause, the rest; then it closes
 * when the body was cut short. The node keeps copies. */
static void
start_peer(const char *body, size_t len, size_t first, size_t sent)
{
	size_t head;

	buf_reset(&answer);
	buf_printf(&answer, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
	    "ETag: " PEER_ETAG "\r\nLast-Modified: " LAST_MOD "\r\n\r\n", len);
	head = answer.len;
	buf_append(&answer, body, sent);
	fp.fp_answers[0].fa_bytes = answer.data;
	fp.fp_answers[0].fa_len = answer.len;
	fp.fp_answers[0].fa_split = head + first;
	fp.fp_answers[0].fa_pause_ms = PAUSE_MS;
	fp.fp_answers[0].fa_flags = sent < len ? FAKE_CLOSE : 0;
	fp.fp_nanswers = 1;
	ck_assert_int_eq(fake_start(&fp), 0);
	sfx_set_peers(&fp.fp_port, 1, true, 0);
}

/* Clients asking for /f with extra[i] as more header lines: the first
 * alone, and once the peer has its request (it fetches), the others. */
static void
ask(struct sfx_client **cl, int n, const char *const *extra)
{
	char req[256];
	int i;

	for (i = 0; i < n; i++) {
		cl[i] = sfx_connect();
		snprintf(req, sizeof(req), "GET /f HTTP/1.1\r\nHost: t\r\n%s\r\n",
		    extra[i]);
		sfx_sends(cl[i], req);
		if (i == 0) {
			SFX_RUN_UNTIL(fake_nreqs(&fp) == 1, FAKE_WAIT_MS);
			ck_assert_uint_eq(fake_nreqs(&fp), 1);
		}
	}
}

START_TEST(followers_get_every_byte_of_one_transfer)
{
	char *data = sfx_pattern_new(BODY, 3);
	const char *extra[] = { "", "", "" };
	struct sfx_client *cl[3];
	struct sfx_resp r = { 0 };
	int i;

	start_peer(data, BODY, BODY / 2, BODY);
	ask(cl, 3, extra);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(sfx_expect(cl[i], false, &r), 200);
		SFX_ASSERT_BYTES(&r.body, data, BODY);
		ck_assert_str_eq(sfx_hdr(&r, "ETag"), PEER_ETAG);
		ck_assert_str_eq(sfx_hdr(&r, "Last-Modified"), LAST_MOD);
	}
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	ck_assert_uint_eq(metrics_mine()->ms_followers, 2);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(range_and_condition_from_a_fill)
{
	char *data = sfx_pattern_new(BODY, 4);
	const char *extra[] = { "", "Range: bytes=600000-600099\r\n",
	    "If-None-Match: " PEER_ETAG "\r\n" };
	struct sfx_client *cl[3];
	struct sfx_resp r = { 0 };

	start_peer(data, BODY, BODY / 4, BODY);
	ask(cl, 3, extra);
	ck_assert_int_eq(sfx_expect(cl[1], false, &r), 206);
	SFX_ASSERT_BYTES(&r.body, data + 600000, 100);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Range"),
	    "bytes 600000-600099/1048576");
	ck_assert_int_eq(sfx_expect(cl[2], false, &r), 304);
	ck_assert_int_eq(sfx_expect(cl[0], false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, BODY);
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	ck_assert_uint_eq(metrics_mine()->ms_followers, 2);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(a_cut_body_cuts_every_follower)
{
	char *data = sfx_pattern_new(BODY, 5);
	const char *extra[] = { "", "", "" };
	struct sfx_client *cl[3];
	struct sfx_resp r = { 0 };
	int i;

	start_peer(data, BODY, BODY / 4, BODY / 2);
	ask(cl, 3, extra);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(sfx_response(cl[i], false, &r), -1);
		ck_assert(r.cut);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_le(r.body.len, BODY / 2);
		ck_assert(memcmp(r.body.data, data, r.body.len) == 0);
	}
	ck_assert_uint_eq(metrics_mine()->ms_followers, 2);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

int
main(void)
{
	sfx_tcase("follow", setup, teardown, CHECK_MAIN_TESTS(
	    followers_get_every_byte_of_one_transfer,
	    range_and_condition_from_a_fill,
	    a_cut_body_cuts_every_follower));
	return check_main_run();
}
