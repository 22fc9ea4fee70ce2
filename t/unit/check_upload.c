/*
 * check_upload.c - unit tests for PUT and POST (src/serve/upload.c)
 * through a real server (serve_fixture.h): the file appears under its
 * name only when it is whole, never replaces one, and a client that
 * leaves, stalls or breaks the framing leaves nothing behind (no file,
 * no temporary file, the name free again). The checks before the body
 * (403, 401, 400, 405, 411, 413, 409, 507) and their "100 Continue"
 * that never goes; chunked bodies; large bodies through both spool
 * buffers; the peers asked whether they have the name (fake_peer.h); the
 * worker exiting mid-upload. Links libshoal.a. Runs in Check's fork mode.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/digest.h"
#include "http/condition.h"
#include "peer/peer.h"
#include "serve_fixture.h"
#include "fake_peer.h"

#define NOT_FOUND "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

/* "PUT target" with a Content-Length body; extra header lines may be
 * NULL. Sent whole. */
static void
put(struct sfx_client *cl, const char *method, const char *target,
    const char *extra, const void *body, size_t len)
{
	struct buf b = { 0 };

	buf_printf(&b, "%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n"
	    "%s\r\n", method, target, len, extra != NULL ? extra : "");
	buf_append(&b, body, len);
	ck_assert_int_eq(sfx_send(cl, b.data, b.len), 0);
	buf_free(&b);
}

static int
put_expect(struct sfx_client *cl, const char *target, const char *extra,
    const void *body, size_t len, struct sfx_resp *r)
{
	put(cl, "PUT", target, extra, body, len);
	return sfx_expect(cl, false, r);
}

/* Nothing under the name, nothing in the temporary directory, once the
 * disk work is done. */
static void
assert_nothing_left(const char *name)
{
	sfx_settle();
	ck_assert_msg(!sfx_exists(name), "%s exists", name);
	ck_assert_int_eq(sfx_tmp_files(), 0);
}

static void
assert_file(const char *name, const void *data, size_t len)
{
	struct buf b = { 0 };

	ck_assert_msg(sfx_get_file(name, &b) == 0, "no file %s", name);
	SFX_ASSERT_BYTES(&b, data, len);
	buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Stored                                                              */

/* The ETag of content p[0..n): its XXH3-128, quoted (a static
 * buffer). */
static const char *
content_etag(const void *p, size_t n)
{
	static char etag[CONDITION_ETAG_LEN + 1];
	XXH128_hash_t h = XXH3_128bits(p, n);

	condition_etag_format(&(struct digest){ h.high64, h.low64 }, etag);
	return etag;
}

START_TEST(put_stores_the_file)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char etag[1024];

	ck_assert_int_eq(put_expect(cl, "/new%20file.txt", NULL, "contents\n",
	    9, &r), 201);
	ck_assert_str_eq(sfx_hdr(&r, "Location"), "/new%20file.txt");
	ck_assert_ptr_nonnull(sfx_hdr(&r, "ETag"));
	snprintf(etag, sizeof(etag), "%s", sfx_hdr(&r, "ETag"));
	ck_assert_uint_eq(strlen(etag), CONDITION_ETAG_LEN);
	ck_assert_str_eq(etag, content_etag("contents\n", 9));
	assert_file("new file.txt", "contents\n", 9);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	/* Served at once, under the ETag the upload gave. */
	sfx_sends(cl, "GET /new%20file.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "contents\n", 9);
	ck_assert_str_eq(sfx_hdr(&r, "ETag"), etag);
	ck_assert_uint_eq(metrics_mine()->ms_upload_bytes, 9);
	sfx_resp_free(&r);
}
END_TEST

/* Several spool buffers' worth, sent in pieces while the server writes. */
START_TEST(large_upload)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = (3 << 20) + 4321;
	char *data = sfx_pattern_new(n, 1);

	ck_assert_int_eq(put_expect(cl, "/big.bin", NULL, data, n, &r), 201);
	assert_file("big.bin", data, n);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	ck_assert(sfx_stays_open(cl, 20));
	free(data);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(empty_upload)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(put_expect(cl, "/empty", NULL, "", 0, &r), 201);
	assert_file("empty", "", 0);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(chunked_upload)
{
	static const char body[] = "4\r\nWiki\r\n6;x=y\r\npedia \r\n"
	    "E\r\nin \r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n";
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t i;

	sfx_sends(cl, "PUT /chunked.txt HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < sizeof(body) - 1; i += 3) {
		size_t k = sizeof(body) - 1 - i < 3 ? sizeof(body) - 1 - i : 3;

		ck_assert_int_eq(sfx_send(cl, body + i, k), 0);
		sfx_run_for(1);
	}
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	assert_file("chunked.txt", "Wikipedia in \r\n\r\nchunks.", 24);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

/* The file appears only when it is whole. */
START_TEST(whole_or_nothing)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 700000;
	char *data = sfx_pattern_new(n, 2);

	sfx_sends(cl, "PUT /half HTTP/1.1\r\nHost: t\r\nContent-Length: "
	    "700000\r\n\r\n");
	ck_assert_int_eq(sfx_send(cl, data, n - 1), 0);
	sfx_run_for(100);
	ck_assert(!sfx_exists("half"));
	ck_assert_int_eq(sfx_tmp_files(), 1);	/* the reservation */
	sfx_pump(cl);
	ck_assert_uint_eq(cl->cl_in.len, 0);	/* no answer yet */
	ck_assert_int_eq(sfx_send(cl, data + n - 1, 1), 0);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	assert_file("half", data, n);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(post_picks_a_name)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 }, r2 = { 0 };
	const char *loc;
	char name[1024];
	size_t i;

	put(cl, "POST", "/", NULL, "anonymous", 9);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	loc = sfx_hdr(&r, "Location");
	ck_assert_ptr_nonnull(loc);
	ck_assert_uint_eq(strlen(loc), 37);
	ck_assert_int_eq(loc[0], '/');
	snprintf(name, sizeof(name), "%s", loc + 1);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			ck_assert_int_eq(name[i], '-');
		else
			ck_assert_ptr_nonnull(strchr("0123456789abcdef",
			    name[i]));
	}
	ck_assert_int_eq(name[14], '4');		/* version 4 */
	ck_assert_ptr_nonnull(strchr("89ab", name[19]));
	assert_file(name, "anonymous", 9);
	/* Another POST, another name. */
	put(cl, "POST", "/", NULL, "again", 5);
	ck_assert_int_eq(sfx_expect(cl, false, &r2), 201);
	ck_assert_str_ne(sfx_hdr(&r2, "Location") + 1, name);
	ck_assert_int_eq(sfx_root_files(), 2);
	/* POST of a name is a PUT of it. */
	put(cl, "POST", "/named", NULL, "n", 1);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	assert_file("named", "n", 1);
	sfx_resp_free(&r);
	sfx_resp_free(&r2);
}
END_TEST

/* The upload's body ends where its framing says: what follows is the
 * next request, which sees the stored file. */
START_TEST(pipelined_after_the_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(cl, "PUT /p HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n"
	    "fiveGET /p HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "five", 4);
	/* The same after a chunked body and its trailer. */
	sfx_sends(cl, "PUT /q HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3\r\nsix\r\n0\r\nX-T: 1\r\n\r\n"
	    "GET /q HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "six", 3);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refused before the body                                             */

START_TEST(admission_refusals)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n",
		    405 },
		{ "PUT /.hidden HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
		    "\r\n", 400 },
		{ "PUT /a%2Fb HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n",
		    400 },
		{ "PUT /x HTTP/1.1\r\nHost: t\r\n\r\n", 411 },
		{ "PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
		    "Content-Range: bytes 0-0/1\r\n\r\n", 400 },
		{ "PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n",
		    413 },
		{ "PUT /_/health HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
		    "\r\n", 405 },
	};
	struct sfx_resp r = { 0 };
	size_t i;

	sfx.cfg.upload.max_size = 1024;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sfx_client *cl = sfx_connect();

		sfx_sends(cl, cases[i].req);
		ck_assert_msg(sfx_expect(cl, false, &r) == cases[i].status,
		    "%zu: %d", i, r.status);
		if (cases[i].status != 411) {
			/* The body is not read: the connection closes. */
			ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
			ck_assert(sfx_wait_closed(cl, 3000));
		}
	}
	ck_assert_int_eq(sfx_root_files(), 0);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(disabled_and_tokens)
{
	struct sfx_client *cl;
	struct sfx_resp r = { 0 };
	char token[] = "s3cret";

	sfx.cfg.upload.enabled = false;
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/x", NULL, "x", 1, &r), 403);

	sfx.cfg.upload.enabled = true;
	sfx.cfg.upload.token = token;
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/x", NULL, "x", 1, &r), 401);
	ck_assert_str_eq(sfx_hdr(&r, "WWW-Authenticate"), "Bearer");
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/x", "Authorization: Bearer s3cres"
	    "\r\n", "x", 1, &r), 401);
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/x", "Authorization: Bearer s3cret2"
	    "\r\n", "x", 1, &r), 401);
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/x", "Authorization: Basic s3cret\r\n",
	    "x", 1, &r), 401);
	ck_assert(!sfx_exists("x"));
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/x", "Authorization: bearer s3cret"
	    "\r\n", "x", 1, &r), 201);
	assert_file("x", "x", 1);
	/* Counted as "unauthorized". */
	ck_assert_uint_eq(metrics_mine()->ms_uploads[3], 4);
	sfx_resp_free(&r);
}
END_TEST

/* A name taken is 409, and the file there is untouched. With
 * "Expect: 100-continue" the client is told before it sends a byte. */
START_TEST(existing_name_conflicts)
{
	struct sfx_client *a = sfx_connect(), *b = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_put_text("taken", "original");
	ck_assert_int_eq(put_expect(a, "/taken", NULL, "replacement", 11, &r),
	    409);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(a, 3000));
	sfx_sends(b, "PUT /taken HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n"
	    "Expect: 100-continue\r\n\r\n");
	/* The 409 comes first: no 100 Continue. */
	ck_assert_int_eq(sfx_expect(b, false, &r), 409);
	assert_file("taken", "original", 8);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	sfx_resp_free(&r);
}
END_TEST

/* Too large for the configuration: before the body when it says so
 * (no 100 Continue), during it when it is chunked; nothing kept. */
START_TEST(size_limits)
{
	struct sfx_client *a = sfx_connect(), *b = sfx_connect();
	struct sfx_resp r = { 0 };
	char chunk[600];

	sfx.cfg.upload.max_size = 1000;
	sfx_sends(a, "PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n"
	    "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(sfx_expect(a, false, &r), 413);
	ck_assert(sfx_wait_closed(a, 3000));

	sfx_sends(b, "PUT /big HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	memset(chunk, 'c', sizeof(chunk));
	sfx_sends(b, "258\r\n");		/* 600 */
	ck_assert_int_eq(sfx_send(b, chunk, 600), 0);
	sfx_sends(b, "\r\n258\r\n");
	ck_assert_int_eq(sfx_send(b, chunk, 600), 0);
	ck_assert_int_eq(sfx_expect(b, false, &r), 413);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	assert_nothing_left("big");
	/* Exactly the limit is fine. */
	b = sfx_connect();
	ck_assert_int_eq(put_expect(b, "/big", NULL, chunk, 600, &r), 201);
	sfx_resp_free(&r);
}
END_TEST

/* No room on the disk for what the client declares: 507 before the body. */
START_TEST(no_room_507)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx.cfg.upload.max_size = UINT64_MAX;
	sfx_sends(cl, "PUT /huge HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 4611686018427387904\r\n"
	    "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 507);
	assert_nothing_left("huge");
	sfx_resp_free(&r);
}
END_TEST

START_TEST(expect_100_continue)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(cl, "PUT /c HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
	    "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 100);
	ck_assert(!sfx_exists("c"));
	sfx_sends(cl, "body");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	assert_file("c", "body", 4);
	sfx_resp_free(&r);
}
END_TEST

/* Two uploads of one name at once: the second is refused, the first
 * goes on unharmed. */
START_TEST(concurrent_uploads_of_one_name)
{
	struct sfx_client *a = sfx_connect(), *b = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(a, "PUT /same HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n"
	    "\r\nfir");
	SFX_RUN_UNTIL(sfx_tmp_files() == 1, 2000);	/* a's reservation */
	ck_assert_int_eq(put_expect(b, "/same", NULL, "second", 6, &r), 409);
	sfx_sends(a, "st!");
	ck_assert_int_eq(sfx_expect(a, false, &r), 201);
	assert_file("same", "first!", 6);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Given up                                                            */

/* A client that walks away mid-body leaves nothing, and the name can be
 * uploaded again at once. */
START_TEST(client_walks_away)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 600000;
	char *data = sfx_pattern_new(n, 3);

	sfx_sends(cl, "PUT /w HTTP/1.1\r\nHost: t\r\nContent-Length: 600000\r\n"
	    "\r\n");
	ck_assert_int_eq(sfx_send(cl, data, 400000), 0);
	SFX_RUN_UNTIL(sfx_tmp_files() == 1, 2000);
	ck_assert_int_eq(sfx_tmp_files(), 1);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 2000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	assert_nothing_left("w");
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/w", NULL, data, n, &r), 201);
	assert_file("w", data, n);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* The same with a reset, and with a chunked body. */
START_TEST(client_resets)
{
	struct sfx_client *a = sfx_connect(), *b = sfx_connect();

	sfx_sends(a, "PUT /r1 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
	    "\r\nsome");
	sfx_sends(b, "PUT /r2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n4\r\nsome\r\n");
	sfx_run_for(50);
	sfx_reset(a);
	sfx_reset(b);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 2000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	assert_nothing_left("r1");
	assert_nothing_left("r2");
	ck_assert_uint_eq(metrics_mine()->ms_uploads[7], 2);	/* aborted */
}
END_TEST

START_TEST(body_timeout)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx.cfg.http.body_timeout_ms = 150;
	sfx_sends(cl, "PUT /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
	    "\r\nabc");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 408);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	assert_nothing_left("slow");
	sfx_resp_free(&r);
}
END_TEST

START_TEST(bad_chunked_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(cl, "PUT /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3\r\nabc\r\nnot hex\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 400);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	assert_nothing_left("bad");
	sfx_resp_free(&r);
}
END_TEST

/* An operator puts a file under the name while the body comes: the
 * upload does not replace it. */
START_TEST(name_taken_meanwhile)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_sends(cl, "PUT /race HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n"
	    "\r\nup");
	SFX_RUN_UNTIL(sfx_tmp_files() == 1, 2000);	/* reserved */
	sfx_put_text("race", "operator");
	sfx_sends(cl, "load");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 409);
	assert_file("race", "operator", 8);
	sfx_settle();
	ck_assert_int_eq(sfx_tmp_files(), 0);
	sfx_resp_free(&r);
}
END_TEST

/* The disk fails mid-body (a file size limit stands in for it): 500,
 * and nothing is left. */
START_TEST(write_fails)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct rlimit old, lim;
	size_t n = 1 << 20;
	char *data = sfx_pattern_new(n, 4);

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 300000;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	put(cl, "PUT", "/fails", NULL, data, n);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 500);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	assert_nothing_left("fails");
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

static void
small_setup(void)
{
	sfx.small_root = 1 << 20;
	sfx_setup();
}

/* The disk fills mid-body: 507, and nothing is left (root only: a small
 * tmpfs). */
START_TEST(disk_fills_507)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(65536, 5);
	int i, rc = 0;

	if (!sfx.mounted)
		return;		/* not root: no small disk to fill */
	sfx_sends(cl, "PUT /filler HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 40 && rc == 0; i++) {
		sfx_sends(cl, "10000\r\n");
		rc = sfx_send(cl, data, 65536);
		if (rc == 0)
			rc = sfx_send(cl, "\r\n", 2);
	}
	ck_assert_int_eq(sfx_expect(cl, false, &r), 507);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	assert_nothing_left("filler");
	/* The room is back: a small one fits. */
	cl = sfx_connect();
	ck_assert_int_eq(put_expect(cl, "/small", NULL, data, 1000, &r), 201);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* The worker exits while an upload waits for its body: the upload hears
 * on_close, and the exit removes its temporary file. */
START_TEST(worker_exit_mid_upload)
{
	struct sfx_client *cl = sfx_connect();
	struct server *s = &sfx.srv;

	sfx_sends(cl, "PUT /exit HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
	    "\r\nabc");
	SFX_RUN_UNTIL(sfx_tmp_files() == 1, 2000);
	sfx_run_for(20);
	ck_assert_int_eq(sfx_tmp_files(), 1);
	/* worker_teardown(), in its order. */
	iopool_destroy(s->s_pool);
	s->s_pool = NULL;
	relay_teardown(s);
	conn_close_all(s);
	spool_dir_teardown(&s->s_spool);
	ck_assert_uint_eq(s->s_nconns, 0);
	ck_assert(!sfx_exists("exit"));
	ck_assert_int_eq(sfx_tmp_files(), 0);
	sfx_pump(cl);
	ck_assert(cl->cl_eof);
	ck_assert_uint_eq(cl->cl_in.len, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Peers                                                               */

/* Every peer is asked (a HEAD lookup) before the body; one that has the
 * name makes it a conflict. */
START_TEST(peer_has_the_name)
{
	struct fake_peer has = { 0 }, hasnt = { 0 };
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	unsigned ports[2];
	char *h;

	fake_answer_all(&has, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
	    0, 0);
	fake_answer_all(&hasnt, NOT_FOUND, 0, 0);
	ck_assert_int_eq(fake_start(&has), 0);
	ck_assert_int_eq(fake_start(&hasnt), 0);
	ports[0] = hasnt.fp_port;
	ports[1] = has.fp_port;
	sfx_set_peers(ports, 2, false, 0);
	sfx_sends(cl, "PUT /dup%20name HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 409);
	assert_nothing_left("dup name");
	ck_assert_uint_eq(fake_nreqs(&has), 1);
	h = fake_req_head(&has, 0);
	ck_assert_msg(strncmp(h, "HEAD /dup%20name HTTP/1.1\r\n", 27) == 0,
	    "%s", h);
	ck_assert_ptr_nonnull(strstr(h, PEER_LOOKUP_HEADER ": 1\r\n"));
	free(h);
	fake_stop(&has);
	fake_stop(&hasnt);
	sfx_resp_free(&r);
}
END_TEST

/* Peers that do not have it, or cannot be reached, do not block it. */
START_TEST(peers_without_the_name)
{
	struct fake_peer hasnt = { 0 };
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	unsigned ports[2];
	int refusing;

	fake_answer_all(&hasnt, NOT_FOUND, 0, 0);
	ck_assert_int_eq(fake_start(&hasnt), 0);
	ports[0] = hasnt.fp_port;
	ports[1] = fake_refusing_port(&refusing);
	sfx_set_peers(ports, 2, false, 0);
	sfx_sends(cl, "PUT /solo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
	    "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 100);
	ck_assert_uint_eq(fake_nreqs(&hasnt), 1);	/* asked before */
	sfx_sends(cl, "solo");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 201);
	assert_file("solo", "solo", 4);
	fake_stop(&hasnt);
	close(refusing);
	sfx_resp_free(&r);
}
END_TEST

/* "No peer has it", remembered in the index, is wrong once the name is
 * uploaded: the record goes. */
START_TEST(upload_clears_a_negative_record)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct index_entry e;

	ck_assert_int_eq(index_put_negative(sfx.ix, "neg", 3,
	    loop_wall_ms() + 60000, loop_wall_ms()), 0);
	ck_assert_int_eq(index_lookup(sfx.ix, "neg", 3, NULL, loop_wall_ms(),
	    &e), INDEX_LOOKUP_NEGATIVE);
	ck_assert_int_eq(put_expect(cl, "/neg", NULL, "now here", 8, &r), 201);
	ck_assert_int_eq(index_lookup(sfx.ix, "neg", 3, NULL, loop_wall_ms(),
	    &e), INDEX_LOOKUP_NONE);
	sfx_sends(cl, "GET /neg HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "now here", 8);
	sfx_resp_free(&r);
}
END_TEST

int
main(void)
{
	sfx_tcase("stored", NULL, NULL, CHECK_MAIN_TESTS(put_stores_the_file,
	    large_upload, empty_upload, chunked_upload, whole_or_nothing,
	    post_picks_a_name, pipelined_after_the_body));
	sfx_tcase("refused", NULL, NULL, CHECK_MAIN_TESTS(admission_refusals,
	    disabled_and_tokens, existing_name_conflicts, size_limits,
	    no_room_507, expect_100_continue, concurrent_uploads_of_one_name));
	sfx_tcase("given_up", NULL, NULL, CHECK_MAIN_TESTS(client_walks_away,
	    client_resets, body_timeout, bad_chunked_body,
	    name_taken_meanwhile, write_fails, worker_exit_mid_upload));
	sfx_tcase("full_disk", small_setup, NULL, CHECK_MAIN_TESTS(
	    disk_fills_507));
	sfx_tcase("peers", NULL, NULL, CHECK_MAIN_TESTS(peer_has_the_name,
	    peers_without_the_name, upload_clears_a_negative_record));
	return check_main_run();
}
