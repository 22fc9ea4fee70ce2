/*
 * check_request.c - unit tests for the router and what it answers from
 * the node itself (src/serve/request.c, request_file.c, request_node.c):
 * GET and HEAD of the files of ROOT (small ones read with their open,
 * large ones sent by the pool), names refused, the listing, ranges and
 * If-Range, If-None-Match and If-Modified-Since, the node's endpoints,
 * methods refused, saved copies whose time is up, lookups from other
 * nodes, the open-file cache following changes, and the 503 of a worker
 * out of descriptors. A real server (serve_fixture.h) on a real loop,
 * clients on loopback: every assertion is about what a client gets.
 * Links libshoal.a. Runs in Check's fork mode.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/httpdate.h"
#include "peer/peer.h"
#include "serve_fixture.h"
#include "fake_peer.h"

static int
get(struct sfx_client *cl, const char *target, const char *extra,
    struct sfx_resp *r)
{
	char req[8192];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n",
	    target, extra != NULL ? extra : "");
	return sfx_ask(cl, req, r);
}

static int
head(struct sfx_client *cl, const char *target, const char *extra,
    struct sfx_resp *r)
{
	char req[8192];

	snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: t\r\n%s\r\n",
	    target, extra != NULL ? extra : "");
	return sfx_ask(cl, req, r);
}

static void
mtime_of(const char *name, time_t *t)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", sfx.root, name);
	ck_assert_int_eq(stat(path, &st), 0);
	*t = st.st_mtime;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

START_TEST(get_small_file)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char date[HTTPDATE_LEN + 1];
	const char *etag;
	time_t mtime;

	sfx_put_text("hello.txt", "hello, world\n");
	mtime_of("hello.txt", &mtime);
	httpdate_format(mtime, date);
	ck_assert_int_eq(get(cl, "/hello.txt", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "hello, world\n", 13);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Type"),
	    "text/plain; charset=utf-8");
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "13");
	ck_assert_str_eq(sfx_hdr(&r, "Accept-Ranges"), "bytes");
	ck_assert_str_eq(sfx_hdr(&r, "Last-Modified"), date);
	ck_assert_str_eq(sfx_hdr(&r, "Server"), "shoal/" SHOAL_VERSION);
	ck_assert_ptr_nonnull(sfx_hdr(&r, "Date"));
	etag = sfx_hdr(&r, "ETag");
	ck_assert_ptr_nonnull(etag);
	ck_assert_uint_eq(strlen(etag), 34);
	ck_assert_int_eq(etag[0], '"');
	ck_assert_int_eq(etag[33], '"');
	ck_assert_uint_eq(strspn(etag + 1, "0123456789abcdef"), 32);
	ck_assert_uint_eq(metrics_mine()->ms_local_hits, 1);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

/* HEAD: the same head as GET, no body, the connection goes on. */
START_TEST(head_of_a_file)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp g = { 0 }, h = { 0 };
	char *data = sfx_pattern_new(100000, 1);
	char etag[1024];

	sfx_put_file("f.bin", data, 100000);
	ck_assert_int_eq(head(cl, "/f.bin", NULL, &h), 200);
	ck_assert_str_eq(sfx_hdr(&h, "Content-Length"), "100000");
	ck_assert_str_eq(sfx_hdr(&h, "Content-Type"),
	    "application/octet-stream");
	ck_assert_uint_eq(h.body.len, 0);
	ck_assert_ptr_nonnull(sfx_hdr(&h, "ETag"));
	snprintf(etag, sizeof(etag), "%s", sfx_hdr(&h, "ETag"));
	ck_assert_int_eq(get(cl, "/f.bin", NULL, &g), 200);
	SFX_ASSERT_BYTES(&g.body, data, 100000);
	ck_assert_str_eq(sfx_hdr(&g, "ETag"), etag);
	ck_assert(sfx_stays_open(cl, 20));
	free(data);
	sfx_resp_free(&g);
	sfx_resp_free(&h);
}
END_TEST

/* Sizes around the one read with the open, and a large one sent by the
 * pool in several jobs: byte-exact, one connection. */
START_TEST(file_sizes)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537,
	    (3 << 20) + 123 };
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *data = sfx_pattern_new(sizes[i], (unsigned)i);
		char name[32], target[40];

		snprintf(name, sizeof(name), "s%zu", i);
		snprintf(target, sizeof(target), "/s%zu", i);
		sfx_put_file(name, data, sizes[i]);
		ck_assert_int_eq(get(cl, target, NULL, &r), 200);
		ck_assert(r.has_len);
		ck_assert_uint_eq(r.len, sizes[i]);
		SFX_ASSERT_BYTES(&r.body, data, sizes[i]);
		free(data);
	}
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(missing_is_404)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(get(cl, "/nothing.txt", NULL, &r), 404);
	SFX_ASSERT_BYTES(&r.body, "no such file\n", 13);
	ck_assert_uint_eq(metrics_mine()->ms_local_misses, 1);
	ck_assert_int_eq(head(cl, "/nothing.txt", NULL, &r), 404);
	ck_assert_uint_eq(r.body.len, 0);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

/* Names outside the contract: 400, and nothing of ROOT is reached. */
START_TEST(bad_names_are_400)
{
	static const char *const targets[] = {
		"/.hidden", "/.shoal-tmp", "/a%2Fb", "/a/b", "/%00x", "/a%zz",
		"/a%0a", "/..", "/%2e%2e",
	};
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char target[300];
	size_t i;

	sfx_put_text(".hidden", "secret");
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		ck_assert_msg(get(cl, targets[i], NULL, &r) == 400, "%s: %d",
		    targets[i], r.status);
		ck_assert_ptr_null(memmem(r.body.data, r.body.len, "secret",
		    6));
	}
	/* 256 bytes: one too many. */
	target[0] = '/';
	memset(target + 1, 'n', 256);
	target[257] = '\0';
	ck_assert_int_eq(get(cl, target, NULL, &r), 400);
	/* No body: no reason to close. */
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(encoded_names_and_queries)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char name[256], target[300];

	sfx_put_text("a b.txt", "spaced");
	ck_assert_int_eq(get(cl, "/a%20b.txt?x=1&y=2", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "spaced", 6);
	ck_assert_int_eq(get(cl, "/a%20b.txt", NULL, &r), 200);
	/* 255 bytes: the longest name. */
	memset(name, 'n', 255);
	name[255] = '\0';
	sfx_put_text(name, "long");
	snprintf(target, sizeof(target), "/%s", name);
	ck_assert_int_eq(get(cl, target, NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "long", 4);
	sfx_resp_free(&r);
}
END_TEST

/* Only regular files are served: no link is followed, no directory. */
START_TEST(links_and_directories_are_404)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char path[512];

	sfx_put_text("real", "real");
	snprintf(path, sizeof(path), "%s/link", sfx.root);
	ck_assert_int_eq(symlink("real", path), 0);
	snprintf(path, sizeof(path), "%s/abs", sfx.root);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof(path), "%s/dir", sfx.root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(get(cl, "/link", NULL, &r), 404);
	ck_assert_int_eq(get(cl, "/abs", NULL, &r), 404);
	ck_assert_int_eq(get(cl, "/dir", NULL, &r), 404);
	ck_assert_int_eq(get(cl, "/real", NULL, &r), 200);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(listing)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char path[512];

	sfx_put_text("b", "2");
	sfx_put_text("a", "1");
	sfx_put_text("c d", "3");
	sfx_put_text(".hidden", "h");
	snprintf(path, sizeof(path), "%s/sub", sfx.root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(get(cl, "/", NULL, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Type"),
	    "text/plain; charset=utf-8");
	ck_assert_str_eq(sfx_hdr(&r, "Vary"), "Accept");
	SFX_ASSERT_BYTES(&r.body, "a\nb\nc d\n", 8);
	ck_assert_int_eq(get(cl, "/", "Accept: text/html, application/json"
	    "\r\n", &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Type"), "application/json");
	SFX_ASSERT_BYTES(&r.body, "[\"a\",\"b\",\"c d\"]\n", 16);
	ck_assert_int_eq(head(cl, "/", NULL, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "8");
	ck_assert_uint_eq(r.body.len, 0);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Ranges and conditions                                               */

START_TEST(ranges)
{
	static const struct {
		const char *range;
		int status;
		size_t first, len;
		const char *content_range;
	} cases[] = {
		{ "bytes=0-9", 206, 0, 10, "bytes 0-9/1000" },
		{ "bytes=990-", 206, 990, 10, "bytes 990-999/1000" },
		{ "bytes=-5", 206, 995, 5, "bytes 995-999/1000" },
		{ "bytes=995-5000", 206, 995, 5, "bytes 995-999/1000" },
		{ "bytes=500-500", 206, 500, 1, "bytes 500-500/1000" },
		{ "bytes=1000-", 416, 0, 0, NULL },
		{ "bytes=-0", 416, 0, 0, NULL },
		{ "bytes=0-1,5-6", 200, 0, 1000, NULL },	/* several */
		{ "items=0-1", 200, 0, 1000, NULL },
		{ "bytes=9-1", 200, 0, 1000, NULL },
	};
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char *data = sfx_pattern_new(1000, 2);
	char extra[128];
	size_t i;

	sfx_put_file("r.bin", data, 1000);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(extra, sizeof(extra), "Range: %s\r\n", cases[i].range);
		ck_assert_msg(get(cl, "/r.bin", extra, &r) == cases[i].status,
		    "%s: %d", cases[i].range, r.status);
		if (cases[i].status == 416) {
			ck_assert_str_eq(sfx_hdr(&r, "Content-Range"),
			    "bytes */1000");
			continue;
		}
		SFX_ASSERT_BYTES(&r.body, data + cases[i].first, cases[i].len);
		if (cases[i].content_range != NULL)
			ck_assert_str_eq(sfx_hdr(&r, "Content-Range"),
			    cases[i].content_range);
		else
			ck_assert_ptr_null(sfx_hdr(&r, "Content-Range"));
	}
	/* HEAD: Range does not apply. */
	ck_assert_int_eq(head(cl, "/r.bin", "Range: bytes=0-9\r\n", &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "1000");
	ck_assert(sfx_stays_open(cl, 20));
	free(data);
	sfx_resp_free(&r);
}
END_TEST

/* A range of a file too large to be read with its open: sendfile from
 * the offset. */
START_TEST(range_of_a_large_file)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	size_t n = 3 << 20;
	char *data = sfx_pattern_new(n, 3);

	sfx_put_file("big", data, n);
	ck_assert_int_eq(get(cl, "/big", "Range: bytes=1000000-2999999\r\n",
	    &r), 206);
	SFX_ASSERT_BYTES(&r.body, data + 1000000, 2000000);
	ck_assert_int_eq(get(cl, "/big", "Range: bytes=-7\r\n", &r), 206);
	SFX_ASSERT_BYTES(&r.body, data + n - 7, 7);
	free(data);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(if_range)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char etag[1024], extra[2048], date[HTTPDATE_LEN + 1];
	time_t mtime;

	sfx_put_text("x", "0123456789");
	mtime_of("x", &mtime);
	ck_assert_int_eq(get(cl, "/x", NULL, &r), 200);
	snprintf(etag, sizeof(etag), "%s", sfx_hdr(&r, "ETag"));
	snprintf(extra, sizeof(extra), "Range: bytes=2-3\r\nIf-Range: %s\r\n",
	    etag);
	ck_assert_int_eq(get(cl, "/x", extra, &r), 206);
	SFX_ASSERT_BYTES(&r.body, "23", 2);
	ck_assert_int_eq(get(cl, "/x", "Range: bytes=2-3\r\n"
	    "If-Range: \"0000000000000000\"\r\n", &r), 200);
	SFX_ASSERT_BYTES(&r.body, "0123456789", 10);
	httpdate_format(mtime, date);
	snprintf(extra, sizeof(extra), "Range: bytes=2-3\r\nIf-Range: %s\r\n",
	    date);
	ck_assert_int_eq(get(cl, "/x", extra, &r), 206);
	httpdate_format(mtime - 100, date);
	snprintf(extra, sizeof(extra), "Range: bytes=2-3\r\nIf-Range: %s\r\n",
	    date);
	ck_assert_int_eq(get(cl, "/x", extra, &r), 200);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(not_modified)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char etag[1024], extra[2048], date[HTTPDATE_LEN + 1];
	time_t mtime;

	sfx_put_text("n.txt", "content");
	mtime_of("n.txt", &mtime);
	ck_assert_int_eq(get(cl, "/n.txt", NULL, &r), 200);
	snprintf(etag, sizeof(etag), "%s", sfx_hdr(&r, "ETag"));

	snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
	ck_assert_int_eq(get(cl, "/n.txt", extra, &r), 304);
	ck_assert_str_eq(sfx_hdr(&r, "ETag"), etag);
	ck_assert_ptr_nonnull(sfx_hdr(&r, "Last-Modified"));
	ck_assert_ptr_null(sfx_hdr(&r, "Content-Length"));
	ck_assert_uint_eq(cl->cl_in.len, 0);	/* no body after the head */
	snprintf(extra, sizeof(extra), "If-None-Match: \"aaaaaaaaaaaaaaaa\", "
	    "W/%s\r\n", etag);
	ck_assert_int_eq(get(cl, "/n.txt", extra, &r), 304);
	ck_assert_int_eq(get(cl, "/n.txt", "If-None-Match: *\r\n", &r), 304);
	ck_assert_int_eq(head(cl, "/n.txt", "If-None-Match: *\r\n", &r), 304);
	ck_assert_int_eq(get(cl, "/n.txt", "If-None-Match: "
	    "\"aaaaaaaaaaaaaaaa\"\r\n", &r), 200);
	SFX_ASSERT_BYTES(&r.body, "content", 7);

	httpdate_format(mtime, date);
	snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n", date);
	ck_assert_int_eq(get(cl, "/n.txt", extra, &r), 304);
	httpdate_format(mtime - 1, date);
	snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n", date);
	ck_assert_int_eq(get(cl, "/n.txt", extra, &r), 200);
	/* If-None-Match decides when both are there. */
	httpdate_format(mtime + 100, date);
	snprintf(extra, sizeof(extra), "If-None-Match: \"aaaaaaaaaaaaaaaa\""
	    "\r\nIf-Modified-Since: %s\r\n", date);
	ck_assert_int_eq(get(cl, "/n.txt", extra, &r), 200);
	ck_assert_int_eq(get(cl, "/n.txt", "If-Modified-Since: garbage\r\n",
	    &r), 200);
	ck_assert(sfx_stays_open(cl, 20));
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The node's endpoints, methods                                       */

START_TEST(health)
{
	struct sfx_client *cl = sfx_connect(), *post = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(get(cl, "/_/health", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "ok\n", 3);
	ck_assert_str_eq(sfx_hdr(&r, "Cache-Control"), "no-store");
	ck_assert_int_eq(head(cl, "/_/health", NULL, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Length"), "3");
	ck_assert_int_eq(sfx_ask(cl, "POST /_/health HTTP/1.1\r\nHost: t\r\n"
	    "\r\n", &r), 405);
	ck_assert_str_eq(sfx_hdr(&r, "Allow"), "GET, HEAD");
	ck_assert(sfx_stays_open(cl, 20));
	/* With a body it does not read: the connection closes after. */
	ck_assert_int_eq(sfx_ask(post, "PUT /_/health HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 3\r\n\r\nabc", &r), 405);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(post, 3000));
	sfx_resp_free(&r);
}
END_TEST

START_TEST(metrics_endpoint)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_put_text("m", "m");
	ck_assert_int_eq(get(cl, "/m", NULL, &r), 200);
	ck_assert_int_eq(get(cl, "/nope", NULL, &r), 404);
	ck_assert_int_eq(get(cl, "/_/metrics", NULL, &r), 200);
	ck_assert_str_eq(sfx_hdr(&r, "Content-Type"),
	    "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_str_eq(sfx_hdr(&r, "Cache-Control"), "no-store");
	buf_append(&r.body, "", 1);
	ck_assert_ptr_nonnull(strstr(r.body.data, "shoal_requests_total{method="
	    "\"GET\",status=\"200\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body.data, "shoal_requests_total{method="
	    "\"GET\",status=\"404\"} 1\n"));
	ck_assert_int_eq(sfx_ask(cl, "DELETE /_/metrics HTTP/1.1\r\nHost: t\r\n"
	    "\r\n", &r), 405);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(unknown_endpoints)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	ck_assert_int_eq(get(cl, "/_/nope", NULL, &r), 404);
	SFX_ASSERT_BYTES(&r.body, "no such endpoint\n", 17);
	ck_assert_int_eq(get(cl, "/_/", NULL, &r), 404);
	/* Only "/_/" itself: spelt otherwise it is a file name with a
	 * slash. */
	ck_assert_int_eq(get(cl, "/%5F/health", NULL, &r), 400);
	ck_assert_int_eq(get(cl, "/_/health?x=1", NULL, &r), 200);
	sfx_resp_free(&r);
}
END_TEST

START_TEST(methods)
{
	static const char *const refused[] = { "DELETE", "OPTIONS", "PATCH",
	    "TRACE" };
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char req[128];
	uint64_t n;
	size_t i;

	sfx_put_text("f", "f");
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(req, sizeof(req), "%s /f HTTP/1.1\r\nHost: t\r\n\r\n",
		    refused[i]);
		ck_assert_int_eq(sfx_ask(cl, req, &r), 405);
		ck_assert_str_eq(sfx_hdr(&r, "Allow"), "GET, HEAD, PUT, POST");
	}
	ck_assert_int_eq(sfx_ask(cl, "BREW /f HTTP/1.1\r\nHost: t\r\n\r\n",
	    &r), 501);
	ck_assert(sfx_stays_open(cl, 20));
	ck_assert_int_eq(get(cl, "/f", NULL, &r), 200);
	for (i = 0, n = 0; i < METRICS_NSTATUS; i++)
		n += metrics_mine()->ms_requests[METRICS_OTHER][i];
	ck_assert_uint_eq(n, 5);	/* counted, under "other" */
	sfx_resp_free(&r);
}
END_TEST

/* A GET with a body: answered, but the unread body leaves the stream
 * unframed, so the connection closes. */
START_TEST(get_with_a_body_closes)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_put_text("f", "file");
	ck_assert_int_eq(sfx_ask(cl, "GET /f HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 5\r\n\r\nbody!", &r), 200);
	SFX_ASSERT_BYTES(&r.body, "file", 4);
	ck_assert_str_eq(sfx_hdr(&r, "Connection"), "close");
	ck_assert(sfx_wait_closed(cl, 3000));
	sfx_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Copies, lookups, the cache, descriptors                              */

static void
record_copy(const char *name, int64_t expiry_ms)
{
	char path[512];
	struct stat st;
	struct index_identity id;

	snprintf(path, sizeof(path), "%s/%s", sfx.root, name);
	ck_assert_int_eq(stat(path, &st), 0);
	id.id_dev = (uint64_t)st.st_dev;
	id.id_ino = (uint64_t)st.st_ino;
	id.id_size = (uint64_t)st.st_size;
	ck_assert_int_eq(index_put_copy(sfx.ix, name, strlen(name), &id,
	    expiry_ms, loop_wall_ms()), 0);
}

/* A saved copy whose time is up is never served, even before the
 * sweeper removes it: to a client it is missing. */
START_TEST(expired_copy_is_missing)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	sfx_put_text("old", "stale copy");
	sfx_put_text("fresh", "fresh copy");
	sfx_put_text("mine", "an original");
	record_copy("old", loop_wall_ms() - 1000);
	record_copy("fresh", loop_wall_ms() + 60000);
	ck_assert_int_eq(get(cl, "/old", NULL, &r), 404);
	ck_assert_int_eq(head(cl, "/old", NULL, &r), 404);
	ck_assert_int_eq(get(cl, "/fresh", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "fresh copy", 10);
	ck_assert_int_eq(get(cl, "/mine", NULL, &r), 200);
	ck_assert(sfx_exists("old"));	/* the sweeper's to remove */
	sfx_resp_free(&r);
}
END_TEST

/* A lookup from another node is answered from local files only: it
 * never travels on to this node's peers. */
START_TEST(lookups_stay_local)
{
	struct fake_peer f = { 0 };
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };

	fake_answer_all(&f, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
	    "peer!", 0, 0);
	ck_assert_int_eq(fake_start(&f), 0);
	sfx_set_peers(&f.fp_port, 1, false, 0);
	sfx_put_text("here", "local");
	ck_assert_int_eq(get(cl, "/gone", PEER_LOOKUP_HEADER ": 1\r\n", &r),
	    404);
	ck_assert_int_eq(head(cl, "/gone", PEER_LOOKUP_HEADER ": 1\r\n", &r),
	    404);
	ck_assert_int_eq(get(cl, "/here", PEER_LOOKUP_HEADER ": 1\r\n", &r),
	    200);
	SFX_ASSERT_BYTES(&r.body, "local", 5);
	sfx_run_for(30);
	ck_assert_uint_eq(fake_accepts(&f), 0);
	/* The same request from a client goes to the peer. */
	ck_assert_int_eq(get(cl, "/gone", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "peer!", 5);
	ck_assert_uint_eq(fake_nreqs(&f), 1);
	fake_stop(&f);
	sfx_resp_free(&r);
}
END_TEST

/* The open-file cache never serves a file that changed. */
START_TEST(cache_follows_changes)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char a[512], b[512];
	char *big = sfx_pattern_new(200000, 4);

	if (sfx.srv.s_filecache == NULL)
		return;		/* inotify not available: nothing to test */
	sfx_put_text("v", "version one");
	sfx_put_file("w", big, 200000);
	ck_assert_int_eq(get(cl, "/v", NULL, &r), 200);
	ck_assert_int_eq(get(cl, "/v", NULL, &r), 200);	/* cached */
	SFX_ASSERT_BYTES(&r.body, "version one", 11);
	ck_assert_int_eq(get(cl, "/w", NULL, &r), 200);
	ck_assert_int_eq(get(cl, "/w", "Range: bytes=5-9\r\n", &r), 206);
	SFX_ASSERT_BYTES(&r.body, big + 5, 5);

	/* Replaced by a rename, as a careful operator does. */
	sfx_put_text("v.new", "version two!");
	snprintf(a, sizeof(a), "%s/v.new", sfx.root);
	snprintf(b, sizeof(b), "%s/v", sfx.root);
	ck_assert_int_eq(rename(a, b), 0);
	sfx_run_for(30);
	ck_assert_int_eq(get(cl, "/v", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "version two!", 12);
	/* Rewritten in place. */
	sfx_pattern(big, 1000, 5);
	sfx_put_file("w", big, 200000);
	sfx_run_for(30);
	ck_assert_int_eq(get(cl, "/w", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, big, 200000);
	/* Removed. */
	ck_assert_int_eq(unlink(b), 0);
	sfx_run_for(30);
	ck_assert_int_eq(get(cl, "/v", NULL, &r), 404);
	free(big);
	sfx_resp_free(&r);
}
END_TEST

/* A worker at its descriptor limit answers 503 with Retry-After, and
 * serves again once descriptors are free. */
START_TEST(out_of_descriptors_503)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	struct rlimit old, low;
	int fd;

	sfx_put_text("d", "descriptor");
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* The lowest free descriptor becomes the limit: no new one. */
	fd = dup(0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	low = old;
	low.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	sfx_sends(cl, "GET /d HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 503);
	ck_assert_str_eq(sfx_hdr(&r, "Retry-After"), "1");
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(get(cl, "/d", NULL, &r), 200);
	SFX_ASSERT_BYTES(&r.body, "descriptor", 10);
	sfx_resp_free(&r);
}
END_TEST

/* A file the worker may not read is 403 (as root, the test drops to
 * another user for the request: root reads anything). */
START_TEST(unreadable_file_403)
{
	struct sfx_client *cl = sfx_connect();
	struct sfx_resp r = { 0 };
	char path[512];
	bool root = geteuid() == 0;

	sfx_put_text("locked", "secret");
	snprintf(path, sizeof(path), "%s/locked", sfx.root);
	ck_assert_int_eq(chmod(path, 0200), 0);
	ck_assert_int_eq(chmod(sfx.root, 0711), 0);
	if (root)
		ck_assert_int_eq(seteuid(65534), 0);
	sfx_sends(cl, "GET /locked HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(sfx_expect(cl, false, &r), 403);
	ck_assert_ptr_null(memmem(r.body.data, r.body.len, "secret", 6));
	if (root)
		ck_assert_int_eq(seteuid(0), 0);
	ck_assert(sfx_stays_open(cl, 20));
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(get(cl, "/locked", NULL, &r), 200);
	sfx_resp_free(&r);
}
END_TEST

int
main(void)
{
	sfx_tcase("files", NULL, NULL, CHECK_MAIN_TESTS(get_small_file,
	    head_of_a_file, file_sizes, missing_is_404, bad_names_are_400,
	    encoded_names_and_queries, links_and_directories_are_404,
	    listing));
	sfx_tcase("conditions", NULL, NULL, CHECK_MAIN_TESTS(ranges,
	    range_of_a_large_file, if_range, not_modified));
	sfx_tcase("node", NULL, NULL, CHECK_MAIN_TESTS(health,
	    metrics_endpoint, unknown_endpoints, methods,
	    get_with_a_body_closes));
	sfx_tcase("state", NULL, NULL, CHECK_MAIN_TESTS(
	    expired_copy_is_missing, lookups_stay_local, cache_follows_changes,
	    out_of_descriptors_503, unreadable_file_403));
	return check_main_run();
}
