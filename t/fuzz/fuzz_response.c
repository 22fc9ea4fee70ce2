/*
 * fuzz_response.c - libFuzzer driver for http_parse_response()
 * (src/http/http_parse.c and http_parse_fill.c), the parser of what a peer
 * answers to a lookup.
 *
 * The input is bytes on the wire, parsed as the answer to a GET and to a
 * HEAD, with two sets of limits. Besides crashes and UB, the driver checks
 * what peer.c relies on:
 *   - a DONE head lies within the input, ends in CRLF, and its fields point
 *     into it; the status is 100..599;
 *   - the framing is stated for the caller: 1xx, 204, 304 and answers to
 *     HEAD have a zero Content-Length and no chunking; a body framed by the
 *     close is never keep-alive;
 *   - every error is a 502 "bad response: ..." on one line;
 *   - GET or HEAD changes the framing only, never whether the head is
 *     accepted, where it ends, or the error;
 *   - a prefix gives MORE, or the same answer as the whole;
 *   - a chunked body after the head decodes within its bounds.
 * Seeds: t/fuzz/corpus/response/, dictionary: t/fuzz/response.dict.
 */
#include "fuzz_common.h"

static struct http_message whole[2], part;

static void
check_response(const struct http_message *m, const char *buf, size_t len,
    size_t head_len, const struct http_limits *lim, bool head_request)
{
	fuzz_check_head(m, buf, len, head_len, lim);
	CHECK(m->status >= 100 && m->status <= 599);
	CHECK(m->target.p == NULL && m->method_name.p == NULL);
	CHECK(!m->expect_continue);
	if (m->status < 200 || m->status == 204 || m->status == 304 ||
	    head_request)
		CHECK(m->has_content_length && m->content_length == 0 &&
		    !m->chunked);
	if (!m->has_content_length && !m->chunked)
		CHECK(!m->keep_alive);
}

/* The body that follows a chunked head, decoded the way peer.c does:
 * in place, in a block of its own size. */
static void
fuzz_body(const uint8_t *body, size_t len)
{
	struct http_chunked c;
	size_t used, got;
	char *copy;

	copy = fuzz_dup(body, len);
	http_chunked_init(&c);
	(void)http_chunked_decode(&c, copy, len, &used, &got);
	CHECK(used <= len && got <= used);
	free(copy);
}

static void
fuzz_limits_set(const uint8_t *data, size_t size,
    const struct http_limits *lim)
{
	const char *buf = (const char *)data;
	struct http_error err[2], perr;
	size_t head_len[2] = { 0, 0 }, phead_len = 0, k;
	enum http_parse_result r[2], pr;
	char *copy;
	int h;

	for (h = 0; h < 2; h++) {
		r[h] = http_parse_response(buf, size, lim, h == 1, &whole[h],
		    &head_len[h], &err[h]);
		if (r[h] == HTTP_PARSE_DONE) {
			check_response(&whole[h], buf, size, head_len[h], lim,
			    h == 1);
		} else if (r[h] == HTTP_PARSE_ERROR) {
			CHECK(err[h].status == 502);
			CHECK(err[h].reason != NULL &&
			    strncmp(err[h].reason, "bad response: ", 14) == 0 &&
			    strchr(err[h].reason, '\n') == NULL);
		}
	}
	CHECK(r[0] == r[1]);
	if (r[0] == HTTP_PARSE_ERROR)
		CHECK(strcmp(err[0].reason, err[1].reason) == 0);
	if (r[0] == HTTP_PARSE_DONE) {
		CHECK(head_len[0] == head_len[1]);
		CHECK(whole[0].status == whole[1].status);
		CHECK(whole[0].nheaders == whole[1].nheaders);
		if (whole[0].chunked)
			fuzz_body(data + head_len[0], size - head_len[0]);
	}

	k = fuzz_pick(data, size, 0);
	copy = fuzz_dup(buf, k);
	h = (int)(k & 1);
	pr = http_parse_response(copy, k, lim, h == 1, &part, &phead_len,
	    &perr);
	switch (r[h]) {
	case HTTP_PARSE_DONE:
		if (k < head_len[h]) {
			CHECK(pr == HTTP_PARSE_MORE);
		} else {
			CHECK(pr == HTTP_PARSE_DONE);
			CHECK(phead_len == head_len[h]);
			CHECK(part.status == whole[h].status);
			CHECK(part.nheaders == whole[h].nheaders);
			CHECK(part.has_content_length ==
			    whole[h].has_content_length);
			CHECK(part.content_length == whole[h].content_length);
			CHECK(part.chunked == whole[h].chunked);
			CHECK(part.keep_alive == whole[h].keep_alive);
		}
		break;
	case HTTP_PARSE_ERROR:
		CHECK(pr == HTTP_PARSE_MORE || (pr == HTTP_PARSE_ERROR &&
		    strcmp(perr.reason, err[h].reason) == 0));
		break;
	case HTTP_PARSE_MORE:
		CHECK(pr == HTTP_PARSE_MORE);
		break;
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int i;

	for (i = 0; i < FUZZ_NLIMITS; i++)
		fuzz_limits_set(data, size, &fuzz_limits[i]);
	return 0;
}
