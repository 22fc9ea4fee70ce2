/*
 * check_http_parse.c - unit tests for src/http/http_parse.c and its pass 2,
 * src/http/http_parse_fill.c: request and response heads, limits,
 * incremental parsing, and every row of shared/BADINPUT.md that the head
 * parser decides. The chunked decoder has its own suite,
 * check_http_chunked.c.
 *
 * Includes both files to reach their static helpers; runs single-threaded,
 * one forked process per test (Check's fork mode), so a crash is a failure.
 */
#include "http/http_parse.c"
#include "http/http_parse_fill.c"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "check_main.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static const struct http_limits lim_default = {
	.max_request_line = 8190,
	.max_header_line = 8190,
	.max_headers = 100,
	.max_header_size = 65536,
};

/* A byte string that may hold NULs. */
struct bytes {
	const char *p;
	size_t len;
};
#define B(s)	{ s, sizeof(s) - 1 }

static struct http_message msg;	/* 4 KiB: keep it off the stack */
static size_t head_len;
static struct http_error err;

/*
 * Parses s[0..n). Unless the caller checks pointers into s (copy false),
 * the bytes go into a heap block of exactly n bytes so that under
 * AddressSanitizer a read past the end is a crash. The message then
 * points into freed memory and only its scalars may be looked at.
 */
static enum http_parse_result
parse_copy(const char *s, size_t n, const struct http_limits *lim,
    bool response, bool head_request)
{
	char *copy = malloc(n > 0 ? n : 1);
	enum http_parse_result r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, s, n);
	head_len = (size_t)-1;
	err.status = 0;
	err.reason = NULL;
	r = response ? http_parse_response(copy, n, lim, head_request, &msg,
	    &head_len, &err) : http_parse_request(copy, n, lim, &msg,
	    &head_len, &err);
	free(copy);
	return r;
}

static enum http_parse_result
req_n(const char *s, size_t n, const struct http_limits *lim)
{
	head_len = (size_t)-1;
	err.status = 0;
	err.reason = NULL;
	return http_parse_request(s, n, lim, &msg, &head_len, &err);
}

static enum http_parse_result
req(const char *s)
{
	return req_n(s, strlen(s), &lim_default);
}

static enum http_parse_result
resp_n(const char *s, size_t n, bool head_request)
{
	head_len = (size_t)-1;
	err.status = 0;
	err.reason = NULL;
	return http_parse_response(s, n, &lim_default, head_request, &msg,
	    &head_len, &err);
}

static enum http_parse_result
resp(const char *s, bool head_request)
{
	return resp_n(s, strlen(s), head_request);
}

/* A response head s, which must parse whole (the answer of a GET). */
static void
resp_done(const char *s)
{
	ck_assert_int_eq(resp(s, false), HTTP_PARSE_DONE);
}

#define ck_assert_str_is(s, lit) do { \
	ck_assert_ptr_nonnull((s).p); \
	ck_assert_uint_eq((s).len, strlen(lit)); \
	ck_assert_mem_eq((s).p, lit, strlen(lit)); \
} while (0)

#define ck_assert_req_error(s, st) do { \
	ck_assert_int_eq(req(s), HTTP_PARSE_ERROR); \
	ck_assert_int_eq(err.status, st); \
	ck_assert_ptr_nonnull(err.reason); \
} while (0)

#define ck_assert_resp_error(s) do { \
	ck_assert_int_eq(resp(s, false), HTTP_PARSE_ERROR); \
	ck_assert_int_eq(err.status, 502); \
	ck_assert_ptr_nonnull(err.reason); \
	ck_assert(strncmp(err.reason, "bad response: ", 14) == 0); \
} while (0)

/* PEER_LOOKUP_HEADER: a header of the peer layer, which the generic parser
 * keeps like any other for http_find_header(). */
#define LOOKUP "X-Shoal-Lookup"

static bool
str_same(struct http_str a, struct http_str b)
{
	return a.p == b.p && a.len == b.len;
}

/* Two parses of the same buffer agree on everything the caller sees. */
static void
assert_same_message(const struct http_message *a, const struct http_message *b)
{
	size_t i;

	ck_assert_int_eq(a->method, b->method);
	ck_assert(str_same(a->method_name, b->method_name));
	ck_assert(str_same(a->target, b->target));
	ck_assert_int_eq(a->status, b->status);
	ck_assert(str_same(a->reason, b->reason));
	ck_assert_int_eq(a->version_minor, b->version_minor);
	ck_assert_uint_eq(a->nheaders, b->nheaders);
	for (i = 0; i < a->nheaders; i++) {
		ck_assert(str_same(a->headers[i].name, b->headers[i].name));
		ck_assert(str_same(a->headers[i].value, b->headers[i].value));
	}
	ck_assert_int_eq(a->has_content_length, b->has_content_length);
	ck_assert_uint_eq(a->content_length, b->content_length);
	ck_assert_int_eq(a->chunked, b->chunked);
	ck_assert_int_eq(a->keep_alive, b->keep_alive);
	ck_assert_int_eq(a->expect_continue, b->expect_continue);
	ck_assert(str_same(a->host, b->host));
	ck_assert(str_same(a->range, b->range));
	ck_assert(str_same(a->if_range, b->if_range));
	ck_assert(str_same(a->if_none_match, b->if_none_match));
	ck_assert(str_same(a->if_modified_since, b->if_modified_since));
	ck_assert(str_same(a->authorization, b->authorization));
	ck_assert(str_same(a->accept, b->accept));
	ck_assert(str_same(a->content_range, b->content_range));
	ck_assert(str_same(a->content_type, b->content_type));
	ck_assert(str_same(a->user_agent, b->user_agent));
	ck_assert(str_same(a->referer, b->referer));
	ck_assert_int_eq(http_find_header(a, LOOKUP) != NULL,
	    http_find_header(b, LOOKUP) != NULL);
}

#define G "GET /f HTTP/1.1\r\nHost: h\r\n"
#define P "PUT /f HTTP/1.1\r\nHost: h\r\n"

/* ------------------------------------------------------------------ */
/* Good requests                                                       */

START_TEST(test_get_all_headers)
{
	const char *s =
	    "GET /na%20me?x=1 HTTP/1.1\r\n"
	    "Host: node1:8080\r\n"
	    "Range:  bytes=0-8 \t\r\n"
	    "If-Range: \"abc\"\r\n"
	    "If-None-Match: \"abc\", W/\"def\"\r\n"
	    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "Authorization: Bearer s3cret\r\n"
	    "Accept: application/json\r\n"
	    "Content-Range: bytes 0-1/2\r\n"
	    "Content-Type: text/plain\r\n"
	    "User-Agent: curl/7.88.1\r\n"
	    "Referer: http://example/\r\n"
	    "X-Shoal-Lookup: 1\r\n"
	    "X-Other: \xc3\xa9t\xc3\xa9\r\n"
	    "X-Empty:\r\n"
	    "\r\n"
	    "BODY";

	ck_assert_int_eq(req(s), HTTP_PARSE_DONE);
	ck_assert_uint_eq(head_len, strlen(s) - 4);
	ck_assert_int_eq(msg.method, HTTP_METHOD_GET);
	ck_assert_str_is(msg.method_name, "GET");
	ck_assert_str_is(msg.target, "/na%20me?x=1");
	ck_assert_int_eq(msg.version_minor, 1);
	ck_assert_uint_eq(msg.nheaders, 14);
	ck_assert_str_is(msg.host, "node1:8080");
	ck_assert_str_is(msg.range, "bytes=0-8");
	ck_assert_str_is(msg.if_range, "\"abc\"");
	ck_assert_str_is(msg.if_none_match, "\"abc\", W/\"def\"");
	ck_assert_str_is(msg.if_modified_since,
	    "Sun, 06 Nov 1994 08:49:37 GMT");
	ck_assert_str_is(msg.authorization, "Bearer s3cret");
	ck_assert_str_is(msg.accept, "application/json");
	ck_assert_str_is(msg.content_range, "bytes 0-1/2");
	ck_assert_str_is(msg.content_type, "text/plain");
	ck_assert_str_is(msg.user_agent, "curl/7.88.1");
	ck_assert_str_is(msg.referer, "http://example/");
	ck_assert_ptr_nonnull(http_find_header(&msg, LOOKUP));
	ck_assert(msg.keep_alive);
	ck_assert(!msg.expect_continue);
	ck_assert(!msg.has_content_length);
	ck_assert(!msg.chunked);
	ck_assert_str_is(msg.headers[12].value, "\xc3\xa9t\xc3\xa9");
	ck_assert_str_is(msg.headers[13].name, "X-Empty");
	ck_assert_ptr_nonnull(msg.headers[13].value.p);
	ck_assert_uint_eq(msg.headers[13].value.len, 0);
	/* the fields point into the caller's buffer */
	ck_assert_ptr_eq(msg.target.p, s + 4);
}
END_TEST

START_TEST(test_minimal_get)
{
	ck_assert_int_eq(req(G "\r\n"), HTTP_PARSE_DONE);
	ck_assert_uint_eq(head_len, strlen(G "\r\n"));
	ck_assert_str_is(msg.target, "/f");
	ck_assert_str_is(msg.host, "h");
	ck_assert_ptr_null(msg.range.p);
	ck_assert_ptr_null(msg.authorization.p);
	ck_assert_ptr_null(http_find_header(&msg, LOOKUP));
	ck_assert(msg.keep_alive);
}
END_TEST

START_TEST(test_head)
{
	ck_assert_int_eq(req("HEAD /f HTTP/1.1\r\nHost: h\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_int_eq(msg.method, HTTP_METHOD_HEAD);
	ck_assert_str_is(msg.method_name, "HEAD");
}
END_TEST

START_TEST(test_methods)
{
	static const struct {
		const char *name;
		enum http_method m;
	} rows[] = {
		{ "GET", HTTP_METHOD_GET }, { "HEAD", HTTP_METHOD_HEAD },
		{ "PUT", HTTP_METHOD_PUT }, { "POST", HTTP_METHOD_POST },
		{ "DELETE", HTTP_METHOD_DELETE },
		{ "OPTIONS", HTTP_METHOD_OPTIONS },
		{ "TRACE", HTTP_METHOD_TRACE },
		{ "CONNECT", HTTP_METHOD_CONNECT },
		{ "PATCH", HTTP_METHOD_PATCH },
		{ "FOO", HTTP_METHOD_OTHER },
		{ "get", HTTP_METHOD_OTHER },	/* methods are case-sensitive */
		{ "GETS", HTTP_METHOD_OTHER },
		{ "M-SEARCH", HTTP_METHOD_OTHER },
		{ "!#$%&'*+-.^_`|~09azAZ", HTTP_METHOD_OTHER },
	};
	char buf[128];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /f HTTP/1.1\r\nHost: h\r\n\r\n",
		    rows[i].name);
		ck_assert_int_eq(req(buf), HTTP_PARSE_DONE);
		ck_assert_int_eq(msg.method, rows[i].m);
		ck_assert_str_is(msg.method_name, rows[i].name);
	}
}
END_TEST

START_TEST(test_method_length)
{
	char buf[128];

	/* 32 bytes is the longest method */
	snprintf(buf, sizeof(buf), "%s /f HTTP/1.1\r\nHost: h\r\n\r\n",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF");
	ck_assert_int_eq(req(buf), HTTP_PARSE_DONE);
	ck_assert_int_eq(msg.method, HTTP_METHOD_OTHER);
	snprintf(buf, sizeof(buf), "%s /f HTTP/1.1\r\nHost: h\r\n\r\n",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG");
	ck_assert_req_error(buf, 400);
}
END_TEST

START_TEST(test_http10)
{
	ck_assert_int_eq(req("GET /f HTTP/1.0\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_int_eq(msg.version_minor, 0);
	ck_assert(!msg.keep_alive);
	ck_assert_ptr_null(msg.host.p);

	ck_assert_int_eq(req("GET /f HTTP/1.0\r\nConnection: Keep-Alive\r\n"
	    "\r\n"), HTTP_PARSE_DONE);
	ck_assert(msg.keep_alive);

	ck_assert_int_eq(req("GET /f HTTP/1.0\r\nConnection: keep-alive, "
	    "close\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert(!msg.keep_alive);

	/* Host is optional in 1.0, and may be empty */
	ck_assert_int_eq(req("GET /f HTTP/1.0\r\nHost:\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_ptr_nonnull(msg.host.p);
	ck_assert_uint_eq(msg.host.len, 0);
}
END_TEST

START_TEST(test_connection_close)
{
	ck_assert_int_eq(req(G "Connection: close\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert(!msg.keep_alive);
	ck_assert_int_eq(req(G "Connection: Upgrade, CLOSE\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert(!msg.keep_alive);
	ck_assert_int_eq(req(G "Connection: foo\r\nConnection: close\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert(!msg.keep_alive);
	ck_assert_int_eq(req(G "Connection: closed\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert(msg.keep_alive);
	ck_assert_int_eq(req(G "Connection: keep-alive\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert(msg.keep_alive);
}
END_TEST

START_TEST(test_expect)
{
	ck_assert_int_eq(req(P "Expect: 100-continue\r\nContent-Length: 5\r\n"
	    "\r\n"), HTTP_PARSE_DONE);
	ck_assert(msg.expect_continue);
	ck_assert_int_eq(req(P "Expect: 100-Continue\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert(msg.expect_continue);
	ck_assert_int_eq(req(P "Expect: something-else\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert(!msg.expect_continue);
	/* RFC 9110 10.1.1: ignored from HTTP/1.0 clients */
	ck_assert_int_eq(req("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert(!msg.expect_continue);
}
END_TEST

START_TEST(test_content_length)
{
	const char *s = P "Content-Length: 5\r\n\r\nhello";

	ck_assert_int_eq(req(s), HTTP_PARSE_DONE);
	ck_assert(msg.has_content_length);
	ck_assert_uint_eq(msg.content_length, 5);
	ck_assert(!msg.chunked);
	ck_assert_str_eq(s + head_len, "hello");

	ck_assert_int_eq(req(P "Content-Length: 0\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert(msg.has_content_length);
	ck_assert_uint_eq(msg.content_length, 0);
	ck_assert_int_eq(req(P "Content-Length: 007\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_uint_eq(msg.content_length, 7);
	ck_assert_int_eq(req(P "content-length:\t 12 \t\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_uint_eq(msg.content_length, 12);
	ck_assert_int_eq(req(P "Content-Length: 9223372036854775807\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_uint_eq(msg.content_length, (uint64_t)INT64_MAX);
	ck_assert_int_eq(req(P "Content-Length: 0000000000000000001\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_uint_eq(msg.content_length, 1);
}
END_TEST

START_TEST(test_transfer_encoding_chunked)
{
	ck_assert_int_eq(req(P "Transfer-Encoding: chunked\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert(msg.chunked);
	ck_assert(!msg.has_content_length);
	ck_assert_int_eq(req(P "transfer-encoding:  CHUNKED \r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert(msg.chunked);
}
END_TEST

START_TEST(test_pipelined)
{
	const char *s = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	    "HEAD /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	size_t first;

	ck_assert_int_eq(req(s), HTTP_PARSE_DONE);
	ck_assert_str_is(msg.target, "/a");
	ck_assert(msg.keep_alive);
	first = head_len;
	ck_assert_int_eq(req(s + first), HTTP_PARSE_DONE);
	ck_assert_int_eq(msg.method, HTTP_METHOD_HEAD);
	ck_assert_str_is(msg.target, "/b");
	ck_assert(!msg.keep_alive);
	ck_assert_uint_eq(first + head_len, strlen(s));
}
END_TEST

START_TEST(test_pipelined_after_body)
{
	const char *s = P "Content-Length: 3\r\n\r\nabc"
	    "GET /g HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t next;

	ck_assert_int_eq(req(s), HTTP_PARSE_DONE);
	next = head_len + msg.content_length;
	ck_assert_int_eq(req(s + next), HTTP_PARSE_DONE);
	ck_assert_str_is(msg.target, "/g");
}
END_TEST

START_TEST(test_leading_empty_lines)
{
	const char *s = "\r\n\r\nGET /f HTTP/1.1\r\nHost: h\r\n\r\n";

	ck_assert_int_eq(req(s), HTTP_PARSE_DONE);
	ck_assert_uint_eq(head_len, strlen(s));
	ck_assert_str_is(msg.target, "/f");
	ck_assert_int_eq(req("\r\n"), HTTP_PARSE_MORE);
	ck_assert_int_eq(req("\r\n\r"), HTTP_PARSE_MORE);
	/* bounded */
	ck_assert_int_eq(req("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n" G "\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_req_error("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n" G "\r\n",
	    400);
	ck_assert_req_error("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", 400);
	/* and strict: a bare LF is no empty line */
	ck_assert_req_error("\n" G "\r\n", 400);
	ck_assert_req_error("\r\r\n" G "\r\n", 400);
}
END_TEST

START_TEST(test_first_of_repeated)
{
	ck_assert_int_eq(req(G "Range: bytes=1-2\r\nrange: bytes=3-4\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_str_is(msg.range, "bytes=1-2");
	ck_assert_uint_eq(msg.nheaders, 3);
}
END_TEST

/* The fields of interest are matched by whole name, in any case: a longer
 * or shorter name with the same start fills nothing. */
START_TEST(test_fields_by_whole_name)
{
	ck_assert_int_eq(req(G "Accept-Language: en\r\nRanges: x\r\n"
	    "Rang: y\r\nContent-Types: z\r\nUser-Agen: u\r\n"
	    "X-Referer: r\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_ptr_null(msg.accept.p);
	ck_assert_ptr_null(msg.range.p);
	ck_assert_ptr_null(msg.content_type.p);
	ck_assert_ptr_null(msg.user_agent.p);
	ck_assert_ptr_null(msg.referer.p);
	ck_assert_uint_eq(msg.nheaders, 7);
	ck_assert_int_eq(req(G "ACCEPT: a\r\nuser-AGENT: u\r\n"
	    "IF-none-MATCH: \"e\"\r\nREFERER: r\r\nCONTENT-range: c\r\n"
	    "\r\n"), HTTP_PARSE_DONE);
	ck_assert_str_is(msg.accept, "a");
	ck_assert_str_is(msg.user_agent, "u");
	ck_assert_str_is(msg.if_none_match, "\"e\"");
	ck_assert_str_is(msg.referer, "r");
	ck_assert_str_is(msg.content_range, "c");
}
END_TEST

START_TEST(test_find_header)
{
	const struct http_header *h;

	ck_assert_int_eq(req(G "X-A: 1\r\nx-a: 2\r\nContent-Type: t\r\n\r\n"),
	    HTTP_PARSE_DONE);
	h = http_find_header(&msg, "x-A");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_is(h->value, "1");
	h = http_find_header(&msg, "HOST");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_is(h->value, "h");
	ck_assert_ptr_null(http_find_header(&msg, "X-B"));
	ck_assert_ptr_null(http_find_header(&msg, "X-A-"));
	ck_assert_ptr_null(http_find_header(&msg, "X-"));
}
END_TEST

START_TEST(test_str_eq)
{
	struct http_str s = { "Chunked", 7 }, none = { NULL, 0 };
	struct http_str empty = { "", 0 };

	ck_assert(http_str_eq(s, "chunked"));
	ck_assert(http_str_eq(s, "CHUNKED"));
	ck_assert(!http_str_eq(s, "chunke"));
	ck_assert(!http_str_eq(s, "chunkedx"));
	ck_assert(!http_str_eq(none, ""));
	ck_assert(http_str_eq(empty, ""));
	/* ASCII only: 0xc3 and 0xe3 are not one letter in two cases */
	ck_assert(!http_str_eq((struct http_str){ "\xc3", 1 }, "\xe3"));
}
END_TEST

START_TEST(test_obs_text_and_tabs)
{
	ck_assert_int_eq(req(G "X: a\tb \x80\xff\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_str_is(msg.headers[1].value, "a\tb \x80\xff");
}
END_TEST

START_TEST(test_host_forms)
{
	static const char *good[] = {
		"h", "example.com", "example.com:8080", "[::1]:80",
		"127.0.0.1", "xn--bcher-kva.example", "a_b-c~d",
	};
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
		    good[i]);
		ck_assert_int_eq(req(buf), HTTP_PARSE_DONE);
		ck_assert_str_is(msg.host, good[i]);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* BADINPUT rows and other refusals                                    */

static const struct {
	struct bytes in;
	int status;
} bad_requests[] = {
	/* Request framing (smuggling) */
	{ B(P "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400 },
	{ B(P "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"), 400 },
	{ B(P "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400 },
	{ B(P "Content-Length: 4 2\r\n\r\n"), 400 },
	{ B(P "Content-Length: +5\r\n\r\n"), 400 },
	{ B(P "Content-Length: 0x0d\r\n\r\n"), 400 },
	{ B(P "Content-Length: -1\r\n\r\n"), 400 },
	{ B(P "Content-Length: 99999999999999999999999\r\n\r\n"), 400 },
	{ B(P "Content-Length: 9223372036854775808\r\n\r\n"), 400 },
	{ B(P "Content-Length: 00000000000000000001\r\n\r\n"), 400 },
	{ B(P "Content-Length:\r\n\r\n"), 400 },
	{ B(P "Content-Length: 5, 5\r\n\r\n"), 400 },
	{ B(P "Content-Length: 5;\r\n\r\n"), 400 },
	{ B(P "Content-Length: 1e3\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n"), 400 },
	{ B(P "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    400 },
	{ B(P "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding: chunked,\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding: ,chunked\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding:\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding: identity\r\n\r\n"), 501 },
	{ B(P "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501 },
	{ B(P "Transfer-Encoding: xchunked\r\n\r\n"), 501 },
	{ B(P "Transfer-Encoding: chunked;q=1\r\n\r\n"), 501 },
	{ B("PUT /f HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	{ B("PUT /f HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: identity\r\n"
	    "\r\n"), 400 },

	/* Header syntax */
	{ B(G "X: a\r\n b\r\n\r\n"), 400 },
	{ B(G "X: a\r\n\tb\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\n Host: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\n\tHost: h\r\n\r\n"), 400 },
	{ B(P "Transfer-Encoding : chunked\r\n\r\n"), 400 },
	{ B(P "Content-Length\t: 5\r\n\r\n"), 400 },
	{ B(G "X/Y: a\r\n\r\n"), 400 },
	{ B(G "X Y: a\r\n\r\n"), 400 },
	{ B(G ": a\r\n\r\n"), 400 },
	{ B(G "NoColon\r\n\r\n"), 400 },
	{ B(G "X: a\rB: c\r\n\r\n"), 400 },
	{ B(G "X\r: a\r\n\r\n"), 400 },
	{ B(G "X: a\r\r\n\r\n"), 400 },
	{ B(G "\rX: a\r\n\r\n"), 400 },
	{ B(G "X: a\x00" "b\r\n\r\n"), 400 },
	{ B(G "X: a\x01" "b\r\n\r\n"), 400 },
	{ B(G "X: a\x0b" "b\r\n\r\n"), 400 },
	{ B(G "X: a\x1b" "b\r\n\r\n"), 400 },
	{ B(G "X: a\x7f" "b\r\n\r\n"), 400 },
	{ B(G "X\x00: a\r\n\r\n"), 400 },
	{ B(G "X: a\n\r\n"), 400 },
	{ B(G "X: a\r\n\n"), 400 },
	{ B("GET /f HTTP/1.1\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\n\r\n"), 400 },
	{ B(G "Host: h\r\n\r\n"), 400 },
	{ B(G "Host: other\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\nHost: h\x01\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\nHost: h\x00\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\nHost: \r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\nHost: a b\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\nHost: u@h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n"), 400 },

	/* Request line */
	{ B("GET /\r\n"), 400 },
	{ B("GET /\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.2\r\nHost: h\r\n\r\n"), 505 },
	{ B("GET /f HTTP/2.0\r\nHost: h\r\n\r\n"), 505 },
	{ B("GET /f HTTP/0.9\r\nHost: h\r\n\r\n"), 505 },
	{ B("GET /f HTTP/3.1\r\nHost: h\r\n\r\n"), 505 },
	{ B("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET f HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET http://h/f HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f http/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.10\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/11\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/2\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1 \r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f \r\nHost: h\r\n\r\n"), 400 },
	{ B("GET  /f HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f  HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B(" GET /f HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET\t/f HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f\tHTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f\x80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f\x00 HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\r\r\nHost: h\r\n\r\n"), 400 },
	{ B("GET\r\nHost: h\r\n\r\n"), 400 },
	{ B("G(T /f HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ B("\x16\x03\x01\x02\x00\x01\r\n\r\n"), 400 },
	{ B("GET /f HTTP/1.1\n\n"), 400 },
};

START_TEST(test_bad_request)
{
	ck_assert_int_eq(parse_copy(bad_requests[_i].in.p,
	    bad_requests[_i].in.len, &lim_default, false, false),
	    HTTP_PARSE_ERROR);
	ck_assert_msg(err.status == bad_requests[_i].status,
	    "row %d: status %d, want %d (%s)", _i, err.status,
	    bad_requests[_i].status, err.reason);
	ck_assert_ptr_nonnull(err.reason);
	ck_assert_ptr_null(strchr(err.reason, '\n'));
}
END_TEST

/*
 * Fed one byte at a time, a bad request is refused with the same status:
 * every shorter prefix is MORE or that same error, never DONE.
 */
START_TEST(test_bad_request_incremental)
{
	const struct bytes *in = &bad_requests[_i].in;
	enum http_parse_result r;
	size_t k;
	int first = 0;

	for (k = 0; k <= in->len; k++) {
		r = parse_copy(in->p, k, &lim_default, false, false);
		ck_assert_int_ne(r, HTTP_PARSE_DONE);
		if (r == HTTP_PARSE_ERROR) {
			if (first == 0)
				first = err.status;
			ck_assert_int_eq(err.status, first);
		}
	}
	ck_assert_int_eq(first, bad_requests[_i].status);
}
END_TEST

START_TEST(test_error_reasons)
{
	ck_assert_req_error(P "Content-Length: 1\r\nContent-Length: 1\r\n\r\n",
	    400);
	ck_assert_str_eq(err.reason, "two Content-Length headers");
	ck_assert_req_error(P "Transfer-Encoding : chunked\r\n\r\n", 400);
	ck_assert_str_eq(err.reason,
	    "whitespace in a header name or before the colon");
	ck_assert_req_error("GET /f HTTP/1.2\r\n\r\n", 505);
	ck_assert_str_eq(err.reason, "HTTP version not supported");
	ck_assert_req_error(G "X: a\rB: c\r\n\r\n", 400);
	ck_assert_str_eq(err.reason, "bare CR in the head");
	ck_assert_req_error(G "X: a\n\r\n", 400);
	ck_assert_str_eq(err.reason, "line ends in a bare LF");
	ck_assert_req_error("GET /f HTTP/1.1\r\n\r\n", 400);
	ck_assert_str_eq(err.reason, "missing Host header");
	ck_assert_req_error(G "X: a\r\n b\r\n\r\n", 400);
	ck_assert_str_eq(err.reason, "folded header line");
	ck_assert_req_error("GET /f HTTP/1.1\r\n Host: h\r\n\r\n", 400);
	ck_assert_str_eq(err.reason, "folded header line");
	ck_assert_req_error(P "Transfer-Encoding: xchunked\r\n\r\n", 501);
	ck_assert_str_eq(err.reason, "unsupported Transfer-Encoding");
}
END_TEST

/* The first fault in the bytes decides, and framing waits for the whole
 * head: CL+TE and a later syntax error answer the syntax error. */
START_TEST(test_fault_order)
{
	ck_assert_req_error(P "Content-Length: 5\r\nTransfer-Encoding: "
	    "chunked\r\nX : y\r\n\r\n", 400);
	ck_assert_str_eq(err.reason,
	    "whitespace in a header name or before the colon");
	/* CL+TE outranks an unsupported coding */
	ck_assert_req_error(P "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n"
	    "\r\n", 400);
	/* an unsupported version outranks a missing Host */
	ck_assert_req_error("GET /f HTTP/1.2\r\n\r\n", 505);
	/* a missing Host outranks an unsupported coding */
	ck_assert_req_error("PUT /f HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
	    "\r\n", 400);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits                                                              */

static const struct http_limits lim_small = {
	.max_request_line = 32,
	.max_header_line = 16,
	.max_headers = 3,
	.max_header_size = 128,
};

/* A request line of exactly n bytes: "GET /aaa... HTTP/1.1". */
static void
make_request_line(char *buf, size_t n)
{
	size_t path = n - strlen("GET / HTTP/1.1");

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', path);
	memcpy(buf + 5 + path, " HTTP/1.1", 9);
	buf[n] = '\0';
}

START_TEST(test_limit_request_line)
{
	char buf[256];

	make_request_line(buf, 32);
	strcat(buf, "\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req_n(buf, strlen(buf), &lim_small), HTTP_PARSE_DONE);

	make_request_line(buf, 33);
	strcat(buf, "\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req_n(buf, strlen(buf), &lim_small), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 414);

	/* on partial input: 32 bytes and a CR may still end well */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET /", 5);
	ck_assert_int_eq(req_n(buf, 32, &lim_small), HTTP_PARSE_MORE);
	buf[32] = '\r';
	ck_assert_int_eq(req_n(buf, 33, &lim_small), HTTP_PARSE_MORE);
	buf[32] = 'a';
	ck_assert_int_eq(req_n(buf, 33, &lim_small), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 414);
	ck_assert_str_eq(err.reason, "request line too long");

	/* garbage with no CRLF at all is cut off at the limit too */
	ck_assert_int_eq(req_n(buf + 5, 33, &lim_small), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 414);
}
END_TEST

START_TEST(test_limit_header_line)
{
	/* "X: 0123456789ab" is 15 bytes, "X: 0123456789abc" 16 */
	ck_assert_int_eq(req_n(G "X: 0123456789abc\r\n\r\n",
	    strlen(G "X: 0123456789abc\r\n\r\n"), &lim_small), HTTP_PARSE_DONE);
	ck_assert_int_eq(req_n(G "X: 0123456789abcd\r\n\r\n",
	    strlen(G "X: 0123456789abcd\r\n\r\n"), &lim_small),
	    HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	/* partial */
	ck_assert_int_eq(req_n(G "X: 0123456789abc\r", strlen(G
	    "X: 0123456789abc\r"), &lim_small), HTTP_PARSE_MORE);
	ck_assert_int_eq(req_n(G "X: 0123456789abcd", strlen(G
	    "X: 0123456789abcd"), &lim_small), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	ck_assert_str_eq(err.reason, "header line too long");
}
END_TEST

START_TEST(test_limit_header_count)
{
	const char *ok = G "A: 1\r\nB: 2\r\n\r\n";
	const char *bad = G "A: 1\r\nB: 2\r\nC: 3\r\n\r\n";

	ck_assert_int_eq(req_n(ok, strlen(ok), &lim_small), HTTP_PARSE_DONE);
	ck_assert_uint_eq(msg.nheaders, 3);
	ck_assert_int_eq(req_n(bad, strlen(bad), &lim_small), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	ck_assert_str_eq(err.reason, "too many header lines");
	/* as soon as the first byte of the line too many arrives */
	ck_assert_int_eq(req_n(bad, strlen(G "A: 1\r\nB: 2\r\n"), &lim_small),
	    HTTP_PARSE_MORE);
	ck_assert_int_eq(req_n(bad, strlen(G "A: 1\r\nB: 2\r\n") + 1,
	    &lim_small), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	/* the CR of the final CRLF is not a header line */
	ck_assert_int_eq(req_n(ok, strlen(ok) - 1, &lim_small),
	    HTTP_PARSE_MORE);
}
END_TEST

START_TEST(test_limit_header_count_cap)
{
	static char buf[8192];
	struct http_limits lim = lim_default;
	size_t i, n;

	lim.max_headers = 1000;	/* capped at HTTP_MAX_HEADERS */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 1; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(buf + n, "X%zu: v\r\n", i);
	strcpy(buf + n, "\r\n");
	ck_assert_int_eq(req_n(buf, n + 2, &lim), HTTP_PARSE_DONE);
	ck_assert_uint_eq(msg.nheaders, HTTP_MAX_HEADERS);
	n += (size_t)sprintf(buf + n, "Y: v\r\n\r\n");
	ck_assert_int_eq(req_n(buf, n, &lim), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
}
END_TEST

START_TEST(test_limit_head_size)
{
	struct http_limits lim = lim_default;
	const char *s = G "X-Long: 0123456789\r\n\r\n";
	size_t n = strlen(s);

	lim.max_header_size = n;
	ck_assert_int_eq(req_n(s, n, &lim), HTTP_PARSE_DONE);
	lim.max_header_size = n - 1;
	ck_assert_int_eq(req_n(s, n, &lim), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	ck_assert_str_eq(err.reason, "head too large");
	/* on partial input, as soon as the head cannot fit */
	lim.max_header_size = 30;
	ck_assert_int_eq(req_n(s, 30, &lim), HTTP_PARSE_MORE);
	ck_assert_int_eq(req_n(s, 31, &lim), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	/* the body is not part of the head */
	lim.max_header_size = strlen(P "Content-Length: 9\r\n\r\n");
	ck_assert_int_eq(req_n(P "Content-Length: 9\r\n\r\n123456789",
	    lim.max_header_size + 9, &lim), HTTP_PARSE_DONE);
}
END_TEST

/* With a head limit below the request-line limit, the head limit holds. */
START_TEST(test_limit_head_below_line)
{
	struct http_limits lim = lim_default;

	lim.max_header_size = 10;
	ck_assert_int_eq(req_n(G "\r\n", strlen(G "\r\n"), &lim),
	    HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	ck_assert_int_eq(req_n("GET /abcdef", 11, &lim), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 431);
	ck_assert_int_eq(req_n("GET /abcde", 10, &lim), HTTP_PARSE_MORE);
}
END_TEST

/*
 * s breaks two limits; every prefix of it must give MORE or the error the
 * whole gives (`reason`), never the other limit. Found by fuzz_request: a
 * header line too long that ran past the head limit was "header line too
 * long" whole but "head too large" when cut inside the line.
 */
static void
assert_limit_at_every_split(const char *s, const struct http_limits *lim,
    bool response, int status, const char *reason)
{
	size_t n = strlen(s), k;
	enum http_parse_result r;

	for (k = 0; k <= n; k++) {
		r = parse_copy(s, k, lim, response, false);
		if (k == n)
			ck_assert_int_eq(r, HTTP_PARSE_ERROR);
		if (r == HTTP_PARSE_MORE)
			continue;
		ck_assert_int_eq(r, HTTP_PARSE_ERROR);
		ck_assert_int_eq(err.status, status);
		ck_assert_str_eq(err.reason, reason);
	}
}

/* Of two limits broken, the one broken at the earlier byte is reported,
 * however the bytes are split. */
START_TEST(test_limit_first_broken_wins_at_any_split)
{
	struct http_limits lim = { 16, 16, 3, 40 };
	/* the header line starts at 26 and breaks its limit at byte 42 */
	const char *long_line = G "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	/* here at byte 40: a tie, which goes to the head size */
	const char *resp_line = "HTTP/1.1 200 OK\r\nA: 12\r\n"
	    "X: aaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	/* the request line breaks a limit of 20 at byte 20, of 64 never */
	const char *long_target = "GET /"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"
	    "Host: h\r\n\r\n";

	assert_limit_at_every_split(long_line, &lim, false, 431,
	    "head too large");
	assert_limit_at_every_split(resp_line, &lim, true, 502,
	    "bad response: head too large");
	lim.max_header_size = 50;
	assert_limit_at_every_split(long_line, &lim, false, 431,
	    "header line too long");
	assert_limit_at_every_split(resp_line, &lim, true, 502,
	    "bad response: header line too long");

	/* a request-line limit above the head limit, as a configuration may
	 * set: the head limit is broken first */
	lim.max_header_size = 40;
	lim.max_request_line = 64;
	assert_limit_at_every_split(long_target, &lim, false, 431,
	    "head too large");
	lim.max_request_line = 20;
	assert_limit_at_every_split(long_target, &lim, false, 414,
	    "request line too long");
	/* a tie goes to the head size: a CR at byte 40 may yet end the line */
	lim.max_request_line = 40;
	assert_limit_at_every_split(long_target, &lim, false, 431,
	    "head too large");
}
END_TEST

START_TEST(test_limit_no_input)
{
	ck_assert_int_eq(req_n(NULL, 0, &lim_default), HTTP_PARSE_MORE);
	ck_assert_int_eq(req_n("G", 1, &lim_default), HTTP_PARSE_MORE);
	ck_assert_int_eq(resp_n(NULL, 0, false), HTTP_PARSE_MORE);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Incremental parsing                                                 */

static const char *good_requests[] = {
	G "\r\n",
	"GET /na%20me?x=1 HTTP/1.1\r\nHost: n:1\r\nRange: bytes=0-8\r\n"
	    "If-None-Match: \"x\"\r\nX-Shoal-Lookup: 1\r\nAccept: */*\r\n\r\n",
	"\r\n\r\nHEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	P "Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
	P "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"FOO /x HTTP/1.1\r\nHost: h\r\nX:\r\nY: \t a b \t\r\n\r\nGET",
};

/* Every prefix of a good head is MORE; the whole gives the same message
 * as a parse of everything at once. */
START_TEST(test_incremental_request)
{
	static struct http_message whole;
	const char *s = good_requests[_i];
	size_t n = strlen(s), whole_len, k;

	ck_assert_int_eq(req_n(s, n, &lim_default), HTTP_PARSE_DONE);
	whole = msg;
	whole_len = head_len;
	for (k = 0; k < whole_len; k++) {
		ck_assert_int_eq(parse_copy(s, k, &lim_default, false, false),
		    HTTP_PARSE_MORE);
	}
	for (k = whole_len; k <= n; k++) {
		ck_assert_int_eq(req_n(s, k, &lim_default), HTTP_PARSE_DONE);
		ck_assert_uint_eq(head_len, whole_len);
		assert_same_message(&msg, &whole);
	}
}
END_TEST

/* MORE leaves the caller's message alone (http.h: "nothing is filled"). */
START_TEST(test_more_fills_nothing)
{
	const char *s = G "X: y\r\n";

	memset(&msg, 0xa5, sizeof(msg));
	ck_assert_int_eq(req(s), HTTP_PARSE_MORE);
	ck_assert_uint_eq(head_len, (size_t)-1);
	ck_assert_uint_eq(msg.nheaders, (size_t)0xa5a5a5a5a5a5a5a5ULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Responses                                                           */

START_TEST(test_response_content_length)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Content-Type: text/plain\r\n\r\nhello";

	resp_done(s);
	ck_assert_int_eq(msg.status, 200);
	ck_assert_str_is(msg.reason, "OK");
	ck_assert_int_eq(msg.version_minor, 1);
	ck_assert(msg.has_content_length);
	ck_assert_uint_eq(msg.content_length, 5);
	ck_assert(!msg.chunked);
	ck_assert(msg.keep_alive);
	ck_assert_str_is(msg.content_type, "text/plain");
	ck_assert_str_eq(s + head_len, "hello");
	ck_assert_ptr_null(msg.target.p);
}
END_TEST

START_TEST(test_response_chunked)
{
	const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n";

	resp_done(s);
	ck_assert(msg.chunked);
	ck_assert(!msg.has_content_length);
	ck_assert(msg.keep_alive);
}
END_TEST

START_TEST(test_response_no_body)
{
	static const char *rows[] = {
		"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		resp_done(rows[i]);
		ck_assert(msg.has_content_length);
		ck_assert_uint_eq(msg.content_length, 0);
		ck_assert(!msg.chunked);
		ck_assert(msg.keep_alive);
	}
}
END_TEST

START_TEST(test_response_head)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
	const struct http_header *h;

	ck_assert_int_eq(resp(s, true), HTTP_PARSE_DONE);
	ck_assert(msg.has_content_length);
	ck_assert_uint_eq(msg.content_length, 0);
	ck_assert(msg.keep_alive);
	h = http_find_header(&msg, "Content-Length");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_is(h->value, "1000");
	resp_done(s);
	ck_assert_uint_eq(msg.content_length, 1000);

	/* still checked: garbage framing in a HEAD answer is garbage */
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\n", true), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 502);
}
END_TEST

START_TEST(test_response_close_delimited)
{
	resp_done("HTTP/1.1 200 OK\r\n\r\nall of it");
	ck_assert(!msg.has_content_length);
	ck_assert(!msg.chunked);
	ck_assert(!msg.keep_alive);
}
END_TEST

START_TEST(test_response_versions)
{
	resp_done("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
	ck_assert_int_eq(msg.version_minor, 0);
	ck_assert(!msg.keep_alive);
	resp_done("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: keep-alive\r\n\r\n");
	ck_assert(msg.keep_alive);
	resp_done("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n");
	ck_assert(!msg.keep_alive);
}
END_TEST

START_TEST(test_response_lenient_reason)
{
	resp_done("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
	ck_assert_int_eq(msg.status, 200);
	ck_assert_ptr_nonnull(msg.reason.p);
	ck_assert_uint_eq(msg.reason.len, 0);
	resp_done("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n");
	ck_assert_int_eq(msg.status, 404);
	ck_assert_uint_eq(msg.reason.len, 0);
	resp_done("HTTP/1.1 599 Odd  reason\t\xc3\xa9\r\n"
	    "Content-Length: 0\r\n\r\n");
	ck_assert_int_eq(msg.status, 599);
	ck_assert_str_is(msg.reason, "Odd  reason\t\xc3\xa9");
	/* no Host requirement, and two Hosts are not our business */
	resp_done("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n"
	    "Content-Length: 0\r\n\r\n");
}
END_TEST

static const struct bytes bad_responses[] = {
	B("HTTP/1.1 2000 OK\r\n\r\n"),
	B("HTTP/1.1 20 OK\r\n\r\n"),
	B("HTTP/1.1 abc OK\r\n\r\n"),
	B("HTTP/1.1 600 Nope\r\n\r\n"),
	B("HTTP/1.1 099 Nope\r\n\r\n"),
	B("HTTP/1.1 200OK\r\n\r\n"),
	B("HTTP/1.1  200 OK\r\n\r\n"),
	B("HTTP/1.1\t200 OK\r\n\r\n"),
	B("HTTP/2 200 OK\r\n\r\n"),
	B("HTTP/2.0 200 OK\r\n\r\n"),
	B("HTTP/1.2 200 OK\r\n\r\n"),
	B("http/1.1 200 OK\r\n\r\n"),
	B("HTTP/1.1 200 O\x01K\r\n\r\n"),
	B("HTTP/1.1 200 O\rK\r\n\r\n"),
	B("HTTP/1.1 200 OK\n\r\n"),
	B("\r\nHTTP/1.1 200 OK\r\n\r\n"),
	B("GET / HTTP/1.1\r\n\r\n"),
	B("garbage\r\n\r\n"),
	B("\r\n"),
	B("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
	B("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	B("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n"),
	B("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
	B("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
	B("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	B("HTTP/1.1 200 OK\r\nX : y\r\n\r\n"),
	B("HTTP/1.1 200 OK\r\n folded\r\n\r\n"),
	B("HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n"),
};

START_TEST(test_bad_response)
{
	const struct bytes *in = &bad_responses[_i];
	enum http_parse_result r;
	size_t k;

	ck_assert_int_eq(parse_copy(in->p, in->len, &lim_default, true, false),
	    HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 502);
	ck_assert(strncmp(err.reason, "bad response: ", 14) == 0);
	ck_assert_int_eq(parse_copy(in->p, in->len, &lim_default, true, true),
	    HTTP_PARSE_ERROR);
	for (k = 0; k < in->len; k++) {
		r = parse_copy(in->p, k, &lim_default, true, false);
		ck_assert_int_ne(r, HTTP_PARSE_DONE);
		if (r == HTTP_PARSE_ERROR)
			ck_assert_int_eq(err.status, 502);
	}
}
END_TEST

START_TEST(test_response_reasons)
{
	ck_assert_resp_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n");
	ck_assert_str_eq(err.reason, "bad response: two Content-Length headers");
	ck_assert_resp_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	ck_assert_str_eq(err.reason,
	    "bad response: Content-Length with Transfer-Encoding");
	ck_assert_resp_error("HTTP/1.1 OK\r\n\r\n");
	ck_assert_str_eq(err.reason, "bad response: malformed status line");
}
END_TEST

START_TEST(test_response_limits)
{
	char buf[128];

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "HTTP/1.1 200 ", 13);
	ck_assert_int_eq(http_parse_response(buf, 33, &lim_small, false, &msg,
	    &head_len, &err), HTTP_PARSE_ERROR);
	ck_assert_int_eq(err.status, 502);
	ck_assert_str_eq(err.reason, "bad response: status line too long");
}
END_TEST

/* ------------------------------------------------------------------ */

int
main(void)
{
	TCase *tc;

	tc = check_main_tcase("request", NULL, NULL,
	    CHECK_MAIN_TESTS(test_get_all_headers, test_minimal_get, test_head,
	    test_methods, test_method_length, test_http10,
	    test_connection_close, test_expect, test_content_length,
	    test_transfer_encoding_chunked, test_pipelined,
	    test_pipelined_after_body, test_leading_empty_lines,
	    test_first_of_repeated, test_fields_by_whole_name,
	    test_find_header, test_str_eq, test_obs_text_and_tabs,
	    test_host_forms));
	tc = check_main_tcase("badinput", NULL, NULL,
	    CHECK_MAIN_TESTS(test_error_reasons, test_fault_order));
	CHECK_MAIN_ROWS(tc, test_bad_request, bad_requests);
	CHECK_MAIN_ROWS(tc, test_bad_request_incremental, bad_requests);
	tc = check_main_tcase("limits", NULL, NULL,
	    CHECK_MAIN_TESTS(test_limit_request_line, test_limit_header_line,
	    test_limit_header_count, test_limit_header_count_cap,
	    test_limit_head_size, test_limit_head_below_line,
	    test_limit_first_broken_wins_at_any_split, test_limit_no_input));
	tc = check_main_tcase("incremental", NULL, NULL,
	    CHECK_MAIN_TESTS(test_more_fills_nothing));
	CHECK_MAIN_ROWS(tc, test_incremental_request, good_requests);
	tc = check_main_tcase("response", NULL, NULL,
	    CHECK_MAIN_TESTS(test_response_content_length,
	    test_response_chunked, test_response_no_body, test_response_head,
	    test_response_close_delimited, test_response_versions,
	    test_response_lenient_reason, test_response_reasons,
	    test_response_limits));
	CHECK_MAIN_ROWS(tc, test_bad_response, bad_responses);
	return check_main_run();
}
