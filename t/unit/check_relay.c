/*
 * check_relay.c - unit tests for a miss answered by a peer
 * (src/serve/miss.c, relay.c) through a real server (serve_fixture.h)
 * whose peers are fake ones on loopback (fake_peer.h): the peer's answer
 * relayed byte-exact (Content-Length, chunked, to HTTP/1.0), a copy kept
 * when the peer's `save` is on (whole, with the peer's Last-Modified and
 * the digest of its bytes, which is the peer's ETag when that one is a
 * content digest, marked as a copy, recorded in the index, served
 * locally afterwards) and
 * none when it is off; a peer that cuts or stalls mid-body makes the
 * client's connection close and keeps nothing; 304 from the peer's ETag;
 * a client that leaves mid-relay (the copy still saved when wanted, the
 * peer dropped when not); HEAD; "nobody has it" and its negative record;
 * many clients of one name making one transfer; the worker exiting
 * mid-relay. Links libshoal.a. Runs in Check's fork mode.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/digest.h"
#include "http/condition.h"
#include "http/httpdate.h"
#include "peer/peer.h"
#include "store/file.h"
#include "serve_fixture.h"
#include "fake_peer.h"

/* A peer's ETag that is no content digest (one of a file it has not
 * digested yet, which names the file's identity). */
#define PEER_ETAG "\"0123456789abcdef0123456789abcdef\""
#define LAST_MOD "Tue, 15 Nov 1994 08:12:31 GMT"
#define LAST_MOD_T 784887151
#define NOT_FOUND "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

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

/* A 200 of body[0..len) with Content-Length, `etag` and the
 * Last-Modified above. */
static void
answer_200_etag(const char *body, size_t len, const char *etag)
{
	buf_reset(&answer);
	buf_printf(&answer, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
	    "ETag: %s\r\nLast-Modified: " LAST_MOD "\r\n\r\n", len, etag);
	buf_append(&answer, body, len);
}

/* The same with PEER_ETAG. */
static void
answer_200(const char *body, size_t len)
{
	answer_200_etag(body, len, PEER_ETAG);
}

/* The ETag of content p[0..n): its XXH3-128, quoted. */
static void
content_etag(const void *p, size_t n, char out[CONDITION_ETAG_LEN + 1])
{
	XXH128_hash_t h = XXH3_128bits(p, n);

	condition_etag_format(&(struct digest){ h.high64, h.low64 }, out);
}

/* Whether the file system of ROOT keeps user xattrs (the digests and
 * marks live there); says so when it does not. */
static bool
root_xattrs(void)
{
	char path[256];
	bool ok;
	int fd;

	snprintf(path, sizeof(path), "%s/.probe", sfx.base);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ok = fsetxattr(fd, "user.shoal.probe", "1", 1, 0) == 0;
	close(fd);
	unlink(path);
	if (!ok)
		fprintf(stderr, "no user xattrs under %s: the copy's digest "
		    "and mark are not checked\n", sfx.base);
	return ok;
}

/* Whether root/name carries the mark of a saved copy. */
static bool
marked_copy(const char *name)
{
	char path[512];
	bool copy;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", sfx.root, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	copy = file_is_copy(fd);
	close(fd);
	return copy;
}

/* The same, chunked in pieces of `piece` bytes. */
static void
answer_chunked(const char *body, size_t len, size_t piece)
{
	size_t off;

	buf_reset(&answer);
	buf_append_str(&answer, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\nETag: " PEER_ETAG "\r\n\r\n");
	for (off = 0; off < len; off += piece) {
		size_t k = len - off < piece ? len - off : piece;

		buf_printf(&answer, "%zx\r\n", k);
		buf_append(&answer, body + off, k);
		buf_append_str(&answer, "\r\n");
	}
	buf_append_str(&answer, "0\r\n\r\n");
}

/* Starts the fake peer with `answer` for every request (flags: FAKE_*;
 * split > 0: that many bytes, then a pause of pause_ms) and makes it the
 * node's only peer. */
static void
start_peer(unsigned flags, size_t split, int pause_ms, bool save,
    int64_t ttl_ms)
{
	fp.fp_answers[0].fa_bytes = answer.data;
	fp.fp_answers[0].fa_len = answer.len;
	fp.fp_answers[0].fa_flags = flags;
	fp.fp_answers[0].fa_split = split;
	fp.fp_answers[0].fa_pause_ms = pause_ms;
	fp.fp_nanswers = 1;
	ck_assert_int_eq(fake_start(&fp), 0);
	sfx_set_peers(&fp.fp_port, 1, save, ttl_ms);
}

static int
get(struct sfx_client *cl, const char *target, const char *extra,
    struct sfx_resp *r)
{
	char req[4096];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n",
	    target, extra != NULL ? extra : "");
	return sfx_ask(cl, req, r);
}

static void
assert_file(const char *name, const void *data, size_t len)
{
	struct buf b = { 0 };

	ck_assert_msg(sfx_get_file(name, &b) == 0, "no file %s", name);
	SFX_ASSERT_BYTES(&b, data, len);
	buf_free(&b);
}

/* Nothing saved under the name, no temporary file, no relay left, and
 * no claim of the name in the index. */
static void
assert_no_copy(const char *name)
{
	struct index_entry e;

	sfx_settle();
	ck_assert_msg(!sfx_exists(name), "%s was saved", name);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	ck_assert(list_empty(&sfx.srv.s_relays));
	ck_assert_int_ne(index_lookup(sfx.ix, name, strlen(name), NULL,
	    loop_wall_ms(), &e), INDEX_LOOKUP_FETCH);
}

/* ------------------------------------------------------------------ */
/* Relayed                                                             */

START_TEST(relayed_byte_exact)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *h;

	answer_200("from the peer\n", 14);
	start_peer(0, 0, 0, false, 0);
	ck_assert_int_eq(get(cl, "/far%20away.txt", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "from the peer\n", 14);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "14");
	ck_assert_str_eq(sfx_hdr(&r, "Content-Type"),
	    "text/plain; charset=utf-8");
	ck_assert_str_eq(sfx_hdr(&r, "ETag"), PEER_ETAG);
	ck_assert_str_eq(sfx_hdr(&r, "Last-Modified"), LAST_MOD);
	ck_assert_uint_eq(metrics_mine()->ms_peer_hits, 1);
	/* What the peer was asked: a lookup of the name. */
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	h = fake_req_head(&fp, 0);
	ck_assert_msg(strncmp(h, "GET /far%20away.txt HTTP/1.1\r\n", 30) == 0,
	    "%s", h);
	ck_assert_ptr_nonnull(strstr(h, PEER_LOOKUP_HEADER ": 1\r\n"));
	free(h);
	/* The connection goes on. */
	ck_assert_int_eq(get(cl, "/_/health", NULL, &r), 200);
	assert_no_copy("far away.txt");
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* Many blocks, to a client slower than the peer. */
START_TEST(relayed_large_to_a_slow_client)
{
	struct sfx_client *cl = sfx_connect_rcvbuf(16384);
	struct sfx_resp r = { 0 };
	size_t n = 5 << 20;
	char *data = sfx_pattern_new(n, 1);
	int small = 16384;

	setsockopt(sfx_newest_conn()->c_fd, SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small));
	answer_200(data, n);
	start_peer(0, 0, 0, false, 0);
	sfx_sends(cl, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	sfx_run_for(100);	/* the client reads nothing for a while */
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	assert_no_copy("big.bin");
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* save on: the copy is kept, whole, with the peer's ETag (its content
 * digest) and date, marked as a copy, recorded with its expiry, and
 * served locally from then on. */
START_TEST(saved_copy)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 1 << 20;
	char *data = sfx_pattern_new(n, 2);
	char etag[CONDITION_ETAG_LEN + 1];
	struct index_entry e;
	struct stat st;
	char path[512];
	int64_t t0 = loop_wall_ms();

	content_etag(data, n, etag);
	answer_200_etag(data, n, etag);
	start_peer(0, 0, 0, true, 60000);
	ck_assert_int_eq(get(cl, "/kept.bin", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	sfx_settle();
	assert_file("kept.bin", data, n);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	snprintf(path, sizeof(path), "%s/kept.bin", sfx.root);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mtime, LAST_MOD_T);
	ck_assert_int_eq(index_lookup(sfx.ix, "kept.bin", 8, NULL,
	    loop_wall_ms(), &e), INDEX_LOOKUP_COPY);
	ck_assert_int_ge(e.e_expiry_ms, t0 + 60000);
	ck_assert_int_le(e.e_expiry_ms, loop_wall_ms() + 60000);
	ck_assert_uint_eq(metrics_mine()->ms_saved, 1);

	if (root_xattrs())
		ck_assert(marked_copy("kept.bin"));

	/* Served from ROOT now, under the same ETag. */
	ck_assert_int_eq(get(cl, "/kept.bin", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	ck_assert_str_eq(sfx_hdr(&r, "ETag"), etag);
	ck_assert_str_eq(sfx_hdr(&r, "Last-Modified"), LAST_MOD);
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* save off: no copy, and every miss asks again. */
/* A peer's ETag that is not the content's digest is relayed as it is, but
 * the copy is recorded with the digest of the bytes it holds. */
START_TEST(saved_copy_has_its_content_digest)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 70000;
	char *data = sfx_pattern_new(n, 5);
	char etag[CONDITION_ETAG_LEN + 1];

	content_etag(data, n, etag);
	ck_assert_str_ne(etag, PEER_ETAG);
	answer_200(data, n);
	start_peer(0, 0, 0, true, 60000);
	ck_assert_int_eq(get(cl, "/own.bin", NULL, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "ETag"), PEER_ETAG);
	sfx_settle();
	assert_file("own.bin", data, n);
	ck_assert_int_eq(get(cl, "/own.bin", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	if (root_xattrs()) {
		ck_assert_str_eq(sfx_hdr(&r, "ETag"), etag);
		ck_assert(marked_copy("own.bin"));
	}
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(no_copy_when_save_is_off)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(300000, 3);

	answer_200(data, 300000);
	start_peer(0, 0, 0, false, 0);
	ck_assert_int_eq(get(cl, "/nc", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, 300000);
	assert_no_copy("nc");
	ck_assert_int_eq(get(cl, "/nc", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, 300000);
	ck_assert_uint_eq(fake_nreqs(&fp), 2);
	ck_assert_uint_eq(metrics_mine()->ms_saved, 0);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* A chunked answer is relayed chunked to an HTTP/1.1 client, and its
 * copy kept. */
START_TEST(chunked_answer)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 200000;
	char *data = sfx_pattern_new(n, 4);

	answer_chunked(data, n, 7000);
	start_peer(0, 0, 0, true, 0);
	ck_assert_int_eq(get(cl, "/ch", NULL, &r), 200);
	ck_assert(r.chunked);
	ck_assert_ptr_null(sfx_hdr(&r, "Content-Length"));
	SFX_ASSERT_BYTES(&r.body, data, n);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_settle();
	assert_file("ch", data, n);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* To an HTTP/1.0 client a body of unknown length ends with the close. */
START_TEST(chunked_answer_to_http10)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	answer_chunked("old client, new body", 20, 6);
	start_peer(0, 0, 0, false, 0);
	sfx_sends(cl, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	ck_assert(!r.chunked);
	ck_assert(!r.has_len);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	SFX_ASSERT_BYTES(&r.body, "old client, new body", 20);
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(head_is_relayed_without_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *h;

	buf_append_str(&answer, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n"
	    "ETag: " PEER_ETAG "\r\n\r\n");
	start_peer(0, 0, 0, true, 0);
	sfx_sends(cl, "HEAD /h.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, true, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "1234");
	ck_assert_str_eq(sfx_hdr(&r, "ETag"), PEER_ETAG);
	ck_assert(sfx_stays_open(cl, 30));	/* nothing after the head */
	h = fake_req_head(&fp, 0);
	ck_assert_msg(strncmp(h, "HEAD /h.txt ", 12) == 0, "%s", h);
	free(h);
	assert_no_copy("h.txt");
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* The client already has what the peer offers: 304, no body, no copy,
 * and the connection goes on. */
START_TEST(not_modified_from_the_peer)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(100000, 5);

	answer_200(data, 100000);
	start_peer(0, 0, 0, true, 0);
	ck_assert_int_eq(get(cl, "/etagged", "If-None-Match: " PEER_ETAG "\r\n",
	    &r), 304);
	ck_assert_str_eq(sfx_hdr(&r, "ETag"), PEER_ETAG);
	ck_assert_ptr_null(sfx_hdr(&r, "Content-Length"));
	ck_assert_uint_eq(r.body.len, 0);
	ck_assert(sfx_stays_open(cl, 30));
	assert_no_copy("etagged");
	/* Another tag: the body. */
	ck_assert_int_eq(get(cl, "/etagged", "If-None-Match: \"x\"\r\n", &r),
	    200);
	SFX_ASSERT_BYTES(&r.body, data, 100000);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Failures                                                            */

/* The peer closes mid-body: the client's connection is closed too (a
 * short body never passes for a whole one), and nothing is kept. */
START_TEST(peer_cuts_mid_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 600000;
	char *data = sfx_pattern_new(n, 6);

	answer_200(data, n);
	answer.len -= n / 2;		/* half the body, then the close */
	start_peer(FAKE_CLOSE, 0, 0, true, 0);
	sfx_sends(cl, "GET /cut HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_response(cl, false, &r), -1);
	ck_assert(r.cut);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_le(r.body.len, n / 2);
	ck_assert(memcmp(r.body.data, data, r.body.len) == 0);
	assert_no_copy("cut");
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_uint_eq(metrics_mine()->ms_saved, 0);
	ck_assert_uint_eq(sfx.srv.s_peers->ps_count, 1);
	ck_assert_uint_eq(peer_set_first(sfx.srv.s_peers)->p_entry->pe_stats.
	    st_cut, 1);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* The same when the cut comes inside a chunked answer. */
START_TEST(peer_cuts_chunked_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(50000, 7);

	answer_chunked(data, 50000, 10000);
	answer.len -= 25000;
	start_peer(FAKE_CLOSE, 0, 0, true, 0);
	sfx_sends(cl, "GET /cutc HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_response(cl, false, &r), -1);
	ck_assert(r.cut);
	ck_assert(r.chunked);
	assert_no_copy("cutc");
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* The peer stops sending mid-body: after peer_timeout the client is cut
 * and nothing is kept. */
START_TEST(peer_stalls_mid_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(100000, 8);
	int64_t t0;

	sfx.cfg.peer_timeout_ms = 200;
	sfx.srv.s_peers->ps_timeout_ms = 200;	/* as the worker would have */
	answer_200(data, 100000);
	answer.len -= 40000;
	start_peer(FAKE_HOLD, 0, 0, true, 0);
	t0 = loop_clock_ms();
	sfx_sends(cl, "GET /stall HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_response(cl, false, &r), -1);
	ck_assert(r.cut);
	ck_assert_int_ge(loop_clock_ms() - t0, 190);
	ck_assert_uint_eq(r.body.len, 60000);
	ck_assert(memcmp(r.body.data, data, 60000) == 0);
	assert_no_copy("stall");
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* An answer framed only by the close is refused: nobody could tell a
 * cut body from a whole one. */
START_TEST(unframed_answer_is_refused)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	buf_append_str(&answer, "HTTP/1.1 200 OK\r\n\r\nno length");
	start_peer(FAKE_CLOSE, 0, 0, true, 0);
	ck_assert_int_eq(get(cl, "/unframed", NULL, &r), 404);
	assert_no_copy("unframed");
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The client leaves                                                   */

/* save on: the copy is still saved whole. */
START_TEST(client_gone_copy_still_saved)
{
	struct sfx_client *cl = sfx_connect();
	size_t n = 2 << 20;
	char *data = sfx_pattern_new(n, 9);

	answer_200(data, n);
	start_peer(0, answer.len - n + 100000, 300, true, 0);
	sfx_sends(cl, "GET /left HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL((sfx_pump(cl), cl->cl_in.len > 50000), 2000);
	ck_assert_uint_gt(cl->cl_in.len, 50000);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 1000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert(!list_empty(&sfx.srv.s_relays));	/* goes on alone */
	sfx_settle();
	assert_file("left", data, n);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	fake_stop(&fp);
	free(data);
}
END_TEST

/* save off: nobody wants the rest; the peer connection is dropped at
 * once, without waiting for its body. */
START_TEST(client_gone_nothing_kept)
{
	struct sfx_client *cl = sfx_connect();
	size_t n = 2 << 20;
	char *data = sfx_pattern_new(n, 10);
	int64_t t0;

	answer_200(data, n);
	start_peer(0, answer.len - n + 100000, 1000, false, 0);
	sfx_sends(cl, "GET /dropped HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL((sfx_pump(cl), cl->cl_in.len > 50000), 2000);
	ck_assert_uint_gt(cl->cl_in.len, 50000);
	t0 = loop_clock_ms();
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(list_empty(&sfx.srv.s_relays) &&
	    list_empty(&sfx.srv.s_peers->ps_conns), 2000);
	ck_assert(list_empty(&sfx.srv.s_relays));
	ck_assert(list_empty(&sfx.srv.s_peers->ps_conns));
	ck_assert_int_lt(loop_clock_ms() - t0, 500);	/* not the pause */
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	assert_no_copy("dropped");
	fake_stop(&fp);
	free(data);
}
END_TEST

/* A client that stops reading is dropped after send_timeout; the copy
 * is saved all the same. */
START_TEST(slow_client_times_out_copy_saved)
{
	struct sfx_client *cl = sfx_connect_rcvbuf(8192);
	size_t n = 4 << 20;
	char *data = sfx_pattern_new(n, 11);
	int small = 16384;

	sfx.cfg.http.send_timeout_ms = 200;
	setsockopt(sfx_newest_conn()->c_fd, SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small));
	answer_200(data, n);
	start_peer(0, 0, 0, true, 0);
	sfx_sends(cl, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 3000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	sfx_settle();
	assert_file("slow", data, n);
	ck_assert(sfx_wait_closed(cl, 1000));
	fake_stop(&fp);
	free(data);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Misses, many clients, exit                                          */

/* Nobody has it: 404, remembered for negative_ttl when copies are kept
 * (the peers are not asked again meanwhile). */
START_TEST(nobody_has_it)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	buf_append_str(&answer, NOT_FOUND);
	start_peer(0, 0, 0, true, 0);
	ck_assert_int_eq(get(cl, "/none", NULL, &r), 404);
	SFX_ASSERT_BYTES(&r.body, "no such file here or on any peer\n", 33);
	ck_assert_int_eq(get(cl, "/none", NULL, &r), 404);
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	ck_assert_uint_eq(metrics_mine()->ms_peer_misses, 2);
	ck_assert(sfx_stays_open(cl, 20));
	/* save off: nothing remembered, the peers asked each time. */
	sfx_set_peers(&fp.fp_port, 1, false, 0);
	ck_assert_int_eq(get(cl, "/other", NULL, &r), 404);
	ck_assert_int_eq(get(cl, "/other", NULL, &r), 404);
	ck_assert_uint_eq(fake_nreqs(&fp), 3);
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* Three clients miss one name at once: one peer transfer, every client
 * gets every byte. */
START_TEST(one_transfer_for_many_clients)
{
	struct sfx_client *cl[3];
	struct sfx_resp r = { 0 };
	size_t n = 1 << 20;
	char *data = sfx_pattern_new(n, 12);
	int i;

	answer_200(data, n);
	fp.fp_answers[0].fa_delay_ms = 150;
	start_peer(0, 0, 0, true, 0);
	for (i = 0; i < 3; i++) {
		cl[i] = sfx_connect();
		sfx_sends(cl[i], "GET /popular HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(sfx_expect(cl[i], false, &r), 200);
		SFX_ASSERT_BYTES(&r.body, data, n);
	}
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	sfx_settle();
	assert_file("popular", data, n);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* A file put under the name while the copy is on its way is not
 * replaced; the client still gets the peer's bytes whole. */
START_TEST(copy_never_replaces_a_file)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 500000;
	char *data = sfx_pattern_new(n, 13);

	answer_200(data, n);
	start_peer(0, answer.len - n + 1000, 200, true, 0);
	sfx_sends(cl, "GET /raced HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL((sfx_pump(cl), cl->cl_in.len > 500), 2000);
	ck_assert_uint_gt(cl->cl_in.len, 500);	/* the relay is under way */
	sfx_put_text("raced", "the operator's");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	sfx_settle();
	assert_file("raced", "the operator's", 14);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* The worker exits mid-relay: the client is cut, the temporary file
 * removed, nothing published. */
START_TEST(worker_exit_mid_relay)
{
	struct sfx_client *cl = sfx_connect();
	struct server *s = &sfx.srv;
	size_t n = 1 << 20;
	char *data = sfx_pattern_new(n, 14);

	answer_200(data, n);
	start_peer(0, answer.len - n + 300000, 2000, true, 0);
	sfx_sends(cl, "GET /exiting HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL((sfx_pump(cl), cl->cl_in.len > 100000), 2000);
	ck_assert(!list_empty(&s->s_relays));
	iopool_destroy(s->s_pool);
	s->s_pool = NULL;
	relay_teardown(s);
	conn_close_all(s);
	spool_dir_teardown(&s->s_spool);
	ck_assert(list_empty(&s->s_relays));
	ck_assert_uint_eq(s->s_nconns, 0);
	ck_assert(!sfx_exists("exiting"));
	ck_assert_int_eq(sfx_tmp_files(), 0);
	ck_assert(sfx_wait_closed(cl, 1000));
	fake_stop(&fp);
	free(data);
}
END_TEST

/* An empty body is relayed and saved like any other. */
START_TEST(empty_body)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	answer_200("", 0);
	start_peer(0, 0, 0, true, 0);
	ck_assert_int_eq(get(cl, "/zero", NULL, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "0");
	ck_assert_uint_eq(r.body.len, 0);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_settle();
	assert_file("zero", "", 0);
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* Requests behind a relayed one, in the same write or sent while the
 * body streams, are answered after it, in order. */
START_TEST(pipelined_behind_a_relay)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 1 << 20;
	char *data = sfx_pattern_new(n, 15);

	answer_200(data, n);
	start_peer(0, answer.len - n + 1000, 100, false, 0);
	sfx_put_text("local", "local file");
	sfx_sends(cl, "GET /remote HTTP/1.1\r\nHost: t\r\n\r\n"
	    "GET /local HTTP/1.1\r\nHost: t\r\n\r\n");
	sfx_run_for(30);
	sfx_sends(cl, "GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "local file", 10);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "ok\n", 3);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* The client hangs up while the peers are being asked: the miss lets go
 * of everything, its claim of the name included. */
START_TEST(client_gone_while_asking)
{
	struct sfx_client *cl = sfx_connect();
	struct index_entry e;

	answer_200("late", 4);
	fp.fp_answers[0].fa_delay_ms = 300;
	start_peer(0, 0, 0, true, 0);
	sfx_sends(cl, "GET /asked HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL(fake_nreqs(&fp) == 1, 2000);
	ck_assert_int_eq(index_lookup(sfx.ix, "asked", 5, NULL, loop_wall_ms(),
	    &e), INDEX_LOOKUP_FETCH);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 1000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_eq(index_lookup(sfx.ix, "asked", 5, NULL, loop_wall_ms(),
	    &e), INDEX_LOOKUP_NONE);
	sfx_run_for(400);		/* the late answer is read for nobody */
	assert_no_copy("asked");
	fake_stop(&fp);
}
END_TEST

/* The client hangs up while it waits for another's fetch: it is let go
 * at once, and the other fetch goes on untouched. */
START_TEST(client_gone_while_waiting)
{
	struct sfx_client *cl = sfx_connect();
	struct index_entry e, now;

	answer_200("unused", 6);
	start_peer(0, 0, 0, true, 0);
	ck_assert_int_eq(index_fetch_claim(sfx.ix, "pending", 7, getppid(),
	    loop_wall_ms(), 0, &e), INDEX_CLAIMED);
	sfx_sends(cl, "GET /pending HTTP/1.1\r\nHost: t\r\n\r\n");
	sfx_run_for(50);
	ck_assert_uint_eq(sfx.srv.s_nconns, 1);
	sfx_hang_up(cl);
	SFX_RUN_UNTIL(sfx.srv.s_nconns == 0, 1000);
	ck_assert_uint_eq(sfx.srv.s_nconns, 0);
	ck_assert_int_eq(index_lookup(sfx.ix, "pending", 7, NULL,
	    loop_wall_ms(), &now), INDEX_LOOKUP_FETCH);
	ck_assert_uint_eq(now.e_fetch.f_id, e.e_fetch.f_id);
	ck_assert_uint_eq(fake_nreqs(&fp), 0);
	fake_stop(&fp);
}
END_TEST

/* Another process fetches the name: the request waits for its copy and
 * serves it, without asking the peers itself. */
START_TEST(waits_for_another_fetch)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct index_entry e;
	struct index_identity id;
	struct stat st;
	char path[512];

	answer_200("from the peer", 13);
	start_peer(0, 0, 0, true, 0);
	/* The master is alive: its fetch is not taken over. */
	ck_assert_int_eq(index_fetch_claim(sfx.ix, "shared", 6, getppid(),
	    loop_wall_ms(), 0, &e), INDEX_CLAIMED);
	sfx_sends(cl, "GET /shared HTTP/1.1\r\nHost: t\r\n\r\n");
	sfx_run_for(100);
	sfx_pump(cl);
	ck_assert_uint_eq(cl->cl_in.len, 0);		/* waiting */
	/* Its copy is published. */
	sfx_put_text("shared", "fetched by another");
	snprintf(path, sizeof(path), "%s/shared", sfx.root);
	ck_assert_int_eq(stat(path, &st), 0);
	id.id_dev = (uint64_t)st.st_dev;
	id.id_ino = (uint64_t)st.st_ino;
	id.id_size = (uint64_t)st.st_size;
	ck_assert_int_eq(index_fetch_finish(sfx.ix, "shared", 6,
	    e.e_fetch.f_id, INDEX_END_COPY, &id, 0, loop_wall_ms()), 0);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "fetched by another", 18);
	ck_assert_uint_eq(fake_nreqs(&fp), 0);
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* A fetch that makes no progress for peer_timeout is taken over: the
 * waiting request asks the peers itself. */
START_TEST(stalled_fetch_taken_over)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct index_entry e;

	sfx.cfg.peer_timeout_ms = 200;
	answer_200("taken over", 10);
	start_peer(0, 0, 0, true, 0);
	ck_assert_int_eq(index_fetch_claim(sfx.ix, "stuck", 5, getppid(),
	    loop_wall_ms(), 0, &e), INDEX_CLAIMED);
	sfx_sends(cl, "GET /stuck HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "taken over", 10);
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	sfx_settle();
	assert_file("stuck", "taken over", 10);
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* A saved copy is served only until its ttl: then it is a miss again,
 * relayed from the peer (and not kept over the expired one). */
START_TEST(copy_expires)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	answer_200("short-lived", 11);
	start_peer(0, 0, 0, true, 300);
	ck_assert_int_eq(get(cl, "/ttl", NULL, &r), 200);
	sfx_settle();
	assert_file("ttl", "short-lived", 11);
	ck_assert_int_eq(get(cl, "/ttl", NULL, &r), 200);	/* local */
	ck_assert_int_eq(get(cl, "/ttl", NULL, &r), 200);	/* cached */
	ck_assert_uint_eq(fake_nreqs(&fp), 1);
	sfx_run_for(350);
	ck_assert_int_eq(get(cl, "/ttl", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "short-lived", 11);
	ck_assert_uint_eq(fake_nreqs(&fp), 2);
	sfx_settle();
	ck_assert_int_eq(sfx_tmp_files(), 0);
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* An upload of the name while its copy is on the way: the upload wins,
 * the copy is dropped, and the relay's client still gets every byte. */
START_TEST(upload_wins_over_a_copy_in_flight)
{
	struct sfx_client *cl = sfx_connect(), *up = sfx_connect();
	struct sfx_resp r = { 0 }, u = { 0 };
	struct index_entry e;
	size_t n = 800000;
	char *data = sfx_pattern_new(n, 16);

	answer_200(data, n);
	start_peer(0, answer.len - n + 300000, 300, true, 0);
	sfx_sends(cl, "GET /contested HTTP/1.1\r\nHost: t\r\n\r\n");
	SFX_RUN_UNTIL((sfx_pump(cl), cl->cl_in.len > 1000), 2000);
	ck_assert_int_eq(index_lookup(sfx.ix, "contested", 9, NULL,
	    loop_wall_ms(), &e), INDEX_LOOKUP_FETCH);
	/* The peer leaves the set (its transfer goes on): the upload's
	 * name check has nobody to ask. */
	sfx_set_peers(NULL, 0, false, 0);
	sfx_sends(up, "PUT /contested HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 8\r\n\r\nuploaded");
	ck_assert_int_eq(sfx_expect(up, false, &u), 201);
	ck_assert_int_eq(sfx_expect(cl, false, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	sfx_settle();
	assert_file("contested", "uploaded", 8);
	ck_assert_int_eq(sfx_tmp_files(), 0);
	ck_assert_int_eq(index_lookup(sfx.ix, "contested", 9, NULL,
	    loop_wall_ms(), &e), INDEX_LOOKUP_NONE);	/* an original */
	ck_assert_uint_eq(metrics_mine()->ms_saved, 0);
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
	sfx_resp_free(&u);
}
END_TEST

/* A client that asks for the close gets it after the relayed body. */
START_TEST(relayed_then_closed)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	answer_200("and goodbye", 11);
	start_peer(0, 0, 0, true, 0);
	ck_assert_int_eq(get(cl, "/bye", "Connection: close\r\n", &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	SFX_ASSERT_BYTES(&r.body, "and goodbye", 11);
	ck_assert(sfx_wait_closed(cl, 3000));
	ck_assert_int_eq(cl->cl_err, 0);
	sfx_settle();
	assert_file("bye", "and goodbye", 11);
	fake_stop(&fp);
	sfx_resp_free(&r);
}
END_TEST

/* Peers that cannot be reached have nothing: 404. */
START_TEST(unreachable_peers)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	unsigned port;
	int fd;

	port = fake_refusing_port(&fd);
	ck_assert_uint_ne(port, 0);
	sfx_set_peers(&port, 1, false, 0);
	ck_assert_int_eq(get(cl, "/nowhere", NULL, &r), 404);
	sfx_sends(cl, "HEAD /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, true, &r), 404);
	ck_assert(sfx_stays_open(cl, 20));
	assert_no_copy("nowhere");
	close(fd);
	sfx_resp_free(&r);
}
END_TEST

/* The disk refuses the copy halfway (a file size limit stands in for a
 * full disk): the copy is dropped, the client still gets every byte. */
START_TEST(failed_save_client_still_served)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct rlimit old, lim;
	size_t n = 2 << 20;
	char *data = sfx_pattern_new(n, 17);

	answer_200(data, n);
	start_peer(0, 0, 0, true, 0);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 300000;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(get(cl, "/toolarge", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, data, n);
	assert_no_copy("toolarge");
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_uint_eq(metrics_mine()->ms_save_failures, 1);
	ck_assert(sfx_stays_open(cl, 20));
	fake_stop(&fp);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

int
main(void)
{
	sfx_tcase("relayed", setup, teardown, CHECK_MAIN_TESTS(
	    relayed_byte_exact, relayed_large_to_a_slow_client, saved_copy,
	    saved_copy_has_its_content_digest,
	    no_copy_when_save_is_off, chunked_answer, chunked_answer_to_http10,
	    head_is_relayed_without_body, not_modified_from_the_peer,
	    empty_body, pipelined_behind_a_relay, relayed_then_closed));
	sfx_tcase("failures", setup, teardown, CHECK_MAIN_TESTS(
	    peer_cuts_mid_body, peer_cuts_chunked_body, peer_stalls_mid_body,
	    unframed_answer_is_refused, failed_save_client_still_served));
	sfx_tcase("client_gone", setup, teardown, CHECK_MAIN_TESTS(
	    client_gone_copy_still_saved, client_gone_nothing_kept,
	    slow_client_times_out_copy_saved));
	sfx_tcase("misses", setup, teardown, CHECK_MAIN_TESTS(nobody_has_it,
	    unreachable_peers, one_transfer_for_many_clients,
	    copy_never_replaces_a_file, copy_expires,
	    upload_wins_over_a_copy_in_flight, worker_exit_mid_relay,
	    client_gone_while_asking, waits_for_another_fetch,
	    client_gone_while_waiting, stalled_fetch_taken_over));
	return check_main_run();
}
