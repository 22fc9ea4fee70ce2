/*
 * check_response.c - unit tests for src/response.c (status lines, headers
 * and short text responses).
 * Includes the .c file; links buf.c and httpdate.c.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/response.c"
#include "check_main.h"

/* A response split into its head (up to and including the blank line)
 * and whatever follows. */
struct parsed {
	char head[2048];
	size_t head_len;
	const char *body;
	size_t body_len;
};

static void
split(const struct buf *out, struct parsed *p)
{
	const char *end;

	ck_assert_uint_lt(out->len, sizeof(p->head));
	memcpy(p->head, out->data, out->len);
	p->head[out->len] = '\0';
	end = strstr(p->head, "\r\n\r\n");
	ck_assert_msg(end != NULL, "no blank line in \"%s\"", p->head);
	p->head_len = (size_t)(end - p->head) + 4;
	p->body = out->data + p->head_len;
	p->body_len = out->len - p->head_len;
	p->head[p->head_len] = '\0';
}

/* The value of header `name` in the head, or NULL; asserts that it
 * appears at most once. */
static const char *
header(const struct parsed *p, const char *name, char *val, size_t vlen)
{
	char key[64];
	const char *at, *eol;

	snprintf(key, sizeof(key), "\r\n%s: ", name);
	at = strstr(p->head, key);
	if (at == NULL)
		return NULL;
	ck_assert_msg(strstr(at + 1, key) == NULL, "%s twice", name);
	at += strlen(key);
	eol = strstr(at, "\r\n");
	ck_assert_ptr_nonnull(eol);
	ck_assert_uint_lt((size_t)(eol - at), vlen);
	memcpy(val, at, (size_t)(eol - at));
	val[eol - at] = '\0';
	return val;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

START_TEST(reason_phrases)
{
	static const struct {
		int status;
		const char *phrase;
	} want[] = {
		{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" },
		{ 204, "No Content" }, { 206, "Partial Content" },
		{ 304, "Not Modified" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 408, "Request Timeout" }, { 409, "Conflict" },
		{ 411, "Length Required" }, { 413, "Content Too Large" },
		{ 414, "URI Too Long" }, { 416, "Range Not Satisfiable" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
		{ 507, "Insufficient Storage" },
	};
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_str_eq(response_reason_phrase(want[i].status),
		    want[i].phrase);
	ck_assert_str_eq(response_reason_phrase(299), "Unknown");
	ck_assert_str_eq(response_reason_phrase(0), "Unknown");
	ck_assert_str_eq(response_reason_phrase(-1), "Unknown");
}
END_TEST

START_TEST(start_line_server_and_date)
{
	struct buf out = { 0 };
	struct parsed p;
	char val[128];
	time_t before = time(NULL), after, t;

	response_start(&out, 404);
	response_end(&out, false, false);
	after = time(NULL);
	split(&out, &p);
	ck_assert(starts_with(p.head, "HTTP/1.1 404 Not Found\r\n"));
	ck_assert_ptr_nonnull(header(&p, "Server", val, sizeof(val)));
	ck_assert_str_eq(val, "shoal/" SHOAL_VERSION);

	/* IMF-fixdate, GMT, and now. */
	ck_assert_ptr_nonnull(header(&p, "Date", val, sizeof(val)));
	ck_assert_uint_eq(strlen(val), HTTPDATE_LEN);
	ck_assert_str_eq(val + HTTPDATE_LEN - 4, " GMT");
	ck_assert_int_eq(httpdate_parse(val, strlen(val), &t), 0);
	ck_assert_int_ge(t, before);
	ck_assert_int_le(t, after);
	ck_assert_uint_eq(p.body_len, 0);
	buf_free(&out);
}
END_TEST

/* The Date of a response, with the second it was made in (retried
 * until time() agrees before and after, so the answer is exact). */
static void
date_now(char val[64], time_t *when)
{
	for (;;) {
		struct buf out = { 0 };
		struct parsed p;
		time_t t0 = time(NULL), t1;

		response_start(&out, 200);
		response_end(&out, false, false);
		t1 = time(NULL);
		split(&out, &p);
		ck_assert_ptr_nonnull(header(&p, "Date", val, 64));
		buf_free(&out);
		if (t0 == t1) {
			*when = t0;
			return;
		}
	}
}

/* The per-second Date cache follows the clock: a response in a later
 * second carries that second, not the cached one. */
START_TEST(date_follows_the_clock)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	char val[64], want[HTTPDATE_LEN + 1];
	time_t t, first;

	date_now(val, &first);
	httpdate_format(first, want);
	ck_assert_str_eq(val, want);
	while (time(NULL) == first)
		nanosleep(&nap, NULL);
	date_now(val, &t);
	ck_assert_int_gt(t, first);
	httpdate_format(t, want);
	ck_assert_str_eq(val, want);
}
END_TEST

START_TEST(header_format)
{
	struct buf out = { 0 };

	response_header(&out, "ETag", "\"abc\"");
	response_header(&out, "X-Empty", "");
	ck_assert_uint_eq(out.len, strlen("ETag: \"abc\"\r\nX-Empty: \r\n"));
	ck_assert(memcmp(out.data, "ETag: \"abc\"\r\nX-Empty: \r\n", out.len)
	    == 0);
	buf_free(&out);
}
END_TEST

START_TEST(connection_header)
{
	struct buf out = { 0 };

	response_end(&out, false, false);	/* HTTP/1.1 persists anyway */
	ck_assert_uint_eq(out.len, 2);
	ck_assert(memcmp(out.data, "\r\n", 2) == 0);

	buf_reset(&out);
	response_end(&out, true, false);
	ck_assert_uint_eq(out.len, strlen("Connection: close\r\n\r\n"));
	ck_assert(memcmp(out.data, "Connection: close\r\n\r\n", out.len) == 0);

	buf_reset(&out);
	response_end(&out, false, true);	/* HTTP/1.0 client asked */
	ck_assert_uint_eq(out.len, strlen("Connection: keep-alive\r\n\r\n"));
	ck_assert(memcmp(out.data, "Connection: keep-alive\r\n\r\n", out.len)
	    == 0);

	buf_reset(&out);
	response_end(&out, true, true);		/* closing wins */
	ck_assert_uint_eq(out.len, strlen("Connection: close\r\n\r\n"));
	ck_assert(memcmp(out.data, "Connection: close\r\n\r\n", out.len) == 0);
	buf_free(&out);
}
END_TEST

START_TEST(text_get)
{
	struct buf out = { 0 };
	struct parsed p;
	char val[128];
	size_t n;

	n = response_text(&out, 404, "no such file", NULL, false, false,
	    false);
	split(&out, &p);
	ck_assert(starts_with(p.head, "HTTP/1.1 404 Not Found\r\n"));
	ck_assert_ptr_nonnull(header(&p, "Content-Type", val, sizeof(val)));
	ck_assert(starts_with(val, "text/plain"));
	ck_assert_ptr_nonnull(header(&p, "Content-Length", val, sizeof(val)));
	ck_assert_str_eq(val, "13");
	ck_assert_ptr_null(header(&p, "Connection", val, sizeof(val)));
	ck_assert_uint_eq(p.body_len, 13);
	ck_assert(memcmp(p.body, "no such file\n", 13) == 0);
	ck_assert_uint_eq(n, 13);
	buf_free(&out);
}
END_TEST

START_TEST(text_head_has_no_body)
{
	struct buf out = { 0 }, get = { 0 };
	struct parsed p, pg;
	char val[128];

	response_text(&out, 400, "bad name", NULL, true, true, false);
	response_text(&get, 400, "bad name", NULL, false, true, false);
	split(&out, &p);
	split(&get, &pg);
	ck_assert(starts_with(p.head, "HTTP/1.1 400 Bad Request\r\n"));
	/* The same Content-Length a GET gets, and no body bytes. */
	ck_assert_ptr_nonnull(header(&p, "Content-Length", val, sizeof(val)));
	ck_assert_str_eq(val, "9");
	ck_assert_uint_eq(p.body_len, 0);
	ck_assert_str_eq(p.head, pg.head);
	ck_assert_ptr_nonnull(header(&p, "Connection", val, sizeof(val)));
	ck_assert_str_eq(val, "close");
	buf_free(&out);
	buf_free(&get);
}
END_TEST

/* 304 and 204 have neither body nor Content-Length, for GET and HEAD. */
START_TEST(text_304_204_no_length)
{
	static const int statuses[] = { 304, 204 };
	size_t i;
	int head;

	for (i = 0; i < 2; i++) {
		for (head = 0; head <= 1; head++) {
			struct buf out = { 0 };
			struct parsed p;
			char val[128], line[64];
			size_t n;

			n = response_text(&out, statuses[i], "ignored",
			    "ETag: \"x\"\r\n", head, false, false);
			split(&out, &p);
			snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n",
			    statuses[i], response_reason_phrase(statuses[i]));
			ck_assert(starts_with(p.head, line));
			ck_assert_ptr_null(header(&p, "Content-Length", val,
			    sizeof(val)));
			ck_assert_ptr_nonnull(header(&p, "ETag", val,
			    sizeof(val)));
			ck_assert_uint_eq(p.body_len, 0);
			ck_assert_uint_eq(n, 0);
			buf_free(&out);
		}
	}
}
END_TEST

START_TEST(text_extra_headers_and_keepalive)
{
	struct buf out = { 0 };
	struct parsed p;
	char val[128];

	response_text(&out, 405, "method not allowed",
	    "Allow: GET, HEAD, PUT, POST\r\n", false, false, true);
	split(&out, &p);
	ck_assert_ptr_nonnull(header(&p, "Allow", val, sizeof(val)));
	ck_assert_str_eq(val, "GET, HEAD, PUT, POST");
	ck_assert_ptr_nonnull(header(&p, "Connection", val, sizeof(val)));
	ck_assert_str_eq(val, "keep-alive");
	ck_assert_uint_eq(p.body_len, strlen("method not allowed\n"));

	/* Appends after what the buffer holds (pipelined answers). */
	buf_reset(&out);
	buf_append_str(&out, "EARLIER");
	response_text(&out, 200, "ok", NULL, false, false, false);
	ck_assert(memcmp(out.data, "EARLIER" "HTTP/1.1 200 OK\r\n", 24) == 0);
	buf_free(&out);
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("response", NULL, NULL,
	    CHECK_MAIN_TESTS(reason_phrases, start_line_server_and_date,
	    date_follows_the_clock, header_format, connection_header, text_get,
	    text_head_has_no_body, text_304_204_no_length,
	    text_extra_headers_and_keepalive));

	tcase_set_timeout(tc, 5);	/* one test waits for a new second */
	return check_main_run();
}
