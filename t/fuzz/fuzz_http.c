/*
 * fuzz_http.c - libFuzzer driver for src/http.c.
 *
 * The whole input is used as bytes on the wire (so a raw request is a
 * useful seed), and is parsed as a request, as a response (to GET and to
 * HEAD) and as a chunked body, with two sets of limits. Besides crashes and
 * UB, the driver checks what the callers rely on:
 *   - a DONE head lies within the input and its fields point into it;
 *   - the result never depends on how the bytes arrived: a prefix gives
 *     MORE, or the same answer as the whole;
 *   - the chunked decoder gives the same data and end whether the body
 *     comes at once or in several feeds cut at positions the input picks.
 *
 * Single-threaded; built with -fsanitize=fuzzer,address,undefined.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* max_header_size leaves room for the start line and the leading empty
 * lines, so a 414 can never turn into a 431 depending on the split; the
 * small set is small enough for every limit to be reachable. */
static const struct http_limits limits[2] = {
	{ 8190, 8190, 100, 65536 },
	{ 64, 48, 8, 256 },
};

static struct http_message whole, part;

/* A cut position in [0, size] picked by the input itself. */
static size_t
pick(const uint8_t *data, size_t size, size_t at)
{
	if (size == 0)
		return 0;
	return (size_t)data[at % size] * (size + 1) / 256;
}

static void
check_str(struct http_str s, const char *buf, size_t head_len)
{
	if (s.p == NULL) {
		CHECK(s.len == 0);
		return;
	}
	CHECK(s.p >= buf && s.p <= buf + head_len);
	CHECK(s.len <= head_len - (size_t)(s.p - buf));
}

static void
check_message(const struct http_message *m, const char *buf, size_t len,
    size_t head_len, const struct http_limits *lim, bool response)
{
	char name[64];
	size_t i;

	CHECK(head_len >= 4 && head_len <= len);
	CHECK(head_len <= lim->max_header_size);
	CHECK(buf[head_len - 2] == '\r' && buf[head_len - 1] == '\n');
	CHECK(m->nheaders <= HTTP_MAX_HEADERS && m->nheaders <= lim->max_headers);
	CHECK(m->version_minor == 0 || m->version_minor == 1);
	CHECK(!(m->has_content_length && m->chunked));
	CHECK(!m->has_content_length || m->content_length <= (uint64_t)INT64_MAX);
	for (i = 0; i < m->nheaders; i++) {
		check_str(m->headers[i].name, buf, head_len);
		check_str(m->headers[i].value, buf, head_len);
		CHECK(m->headers[i].name.len > 0);
	}
	CHECK(http_find_header(m, "x-no-such-header-here") == NULL);
	if (m->nheaders > 0 && m->headers[0].name.len < sizeof(name)) {
		memcpy(name, m->headers[0].name.p, m->headers[0].name.len);
		name[m->headers[0].name.len] = '\0';
		CHECK(http_find_header(m, name) == &m->headers[0]);
	}
	check_str(m->method_name, buf, head_len);
	check_str(m->target, buf, head_len);
	check_str(m->reason, buf, head_len);
	check_str(m->host, buf, head_len);
	check_str(m->range, buf, head_len);
	check_str(m->if_none_match, buf, head_len);
	check_str(m->authorization, buf, head_len);
	if (response) {
		CHECK(m->status >= 100 && m->status <= 599);
		CHECK(m->target.p == NULL);
		if (!m->has_content_length && !m->chunked)
			CHECK(!m->keep_alive);
	} else {
		CHECK(m->target.len > 0 && m->target.p[0] == '/');
		CHECK(m->method_name.len >= 1 && m->method_name.len <= 32);
		if (m->version_minor == 1)
			CHECK(m->host.p != NULL && m->host.len > 0);
		if (m->chunked)
			CHECK(m->version_minor == 1);
	}
}

static enum http_parse_result
parse(const char *buf, size_t len, const struct http_limits *lim, int mode,
    struct http_message *m, size_t *head_len, struct http_error *err)
{
	if (mode == 0)
		return http_parse_request(buf, len, lim, m, head_len, err);
	return http_parse_response(buf, len, lim, mode == 2, m, head_len, err);
}

static void
fuzz_head(const uint8_t *data, size_t size, const struct http_limits *lim,
    int mode)
{
	const char *buf = (const char *)data;
	struct http_error err, perr;
	size_t head_len = 0, phead_len = 0, k;
	enum http_parse_result r, pr;
	char *copy;

	r = parse(buf, size, lim, mode, &whole, &head_len, &err);
	if (r == HTTP_PARSE_DONE) {
		check_message(&whole, buf, size, head_len, lim, mode != 0);
	} else if (r == HTTP_PARSE_ERROR) {
		CHECK(err.reason != NULL && strchr(err.reason, '\n') == NULL);
		if (mode == 0)
			CHECK(err.status == 400 || err.status == 414 ||
			    err.status == 431 || err.status == 501 ||
			    err.status == 505);
		else
			CHECK(err.status == 502);
	}

	/* A prefix, in a block of its own size so ASan sees any overread. */
	k = pick(data, size, 0);
	copy = malloc(k > 0 ? k : 1);
	CHECK(copy != NULL);
	if (k > 0)
		memcpy(copy, buf, k);
	pr = parse(copy, k, lim, mode, &part, &phead_len, &perr);
	switch (r) {
	case HTTP_PARSE_DONE:
		if (k < head_len) {
			CHECK(pr == HTTP_PARSE_MORE);
		} else {
			CHECK(pr == HTTP_PARSE_DONE);
			CHECK(phead_len == head_len);
			CHECK(part.nheaders == whole.nheaders);
			CHECK(part.content_length == whole.content_length);
			CHECK(part.chunked == whole.chunked);
			CHECK(part.keep_alive == whole.keep_alive);
		}
		break;
	case HTTP_PARSE_ERROR:
		CHECK(pr == HTTP_PARSE_MORE || (pr == HTTP_PARSE_ERROR &&
		    perr.status == err.status));
		break;
	case HTTP_PARSE_MORE:
		CHECK(pr == HTTP_PARSE_MORE);
		break;
	}
	free(copy);
}

/* Decodes data whole, then in up to four feeds; both must agree. */
static void
fuzz_chunked(const uint8_t *data, size_t size)
{
	struct http_chunked c1, c2;
	char *a, *b, *out;
	size_t used1, got1, used2 = 0, got2 = 0, used, got, cuts[4], from, to;
	enum http_chunked_result r1, r2 = HTTP_CHUNKED_MORE;
	size_t i, j, t;

	a = malloc(size + 1);
	b = malloc(size + 1);
	out = malloc(size + 1);
	CHECK(a != NULL && b != NULL && out != NULL);
	memcpy(a, data, size);
	memcpy(b, data, size);

	http_chunked_init(&c1);
	r1 = http_chunked_decode(&c1, a, size, &used1, &got1);
	CHECK(got1 <= size && used1 <= size);
	if (r1 != HTTP_CHUNKED_DONE && r1 != HTTP_CHUNKED_ERROR)
		CHECK(used1 == size);

	for (i = 0; i < 3; i++)
		cuts[i] = pick(data, size, 1 + i * 7);
	cuts[3] = size;
	for (i = 1; i < 3; i++) {	/* sort the three cuts */
		for (j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			t = cuts[j];
			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	}
	http_chunked_init(&c2);
	for (i = 0, from = 0; i < 4; i++, from = to) {
		to = cuts[i];
		r2 = http_chunked_decode(&c2, b + from, to - from, &used,
		    &got);
		CHECK(got <= to - from && used <= to - from);
		memmove(out + got2, b + from, got);
		got2 += got;
		used2 += used;
		if (r2 != HTTP_CHUNKED_MORE)
			break;
		CHECK(used == to - from);
	}

	CHECK(r1 == r2);
	CHECK(used1 == used2);
	CHECK(got1 == got2);
	CHECK(got1 == 0 || memcmp(a, out, got1) == 0);
	if (r1 == HTTP_CHUNKED_DONE) {
		/* the decoded data never outgrows what it came from */
		CHECK(got1 < used1);
		/* and after DONE the decoder takes nothing more */
		r2 = http_chunked_decode(&c2, b, size, &used, &got);
		CHECK(r2 == HTTP_CHUNKED_DONE && used == 0 && got == 0);
	}
	free(a);
	free(b);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int lim, mode;

	for (lim = 0; lim < 2; lim++) {
		for (mode = 0; mode < 3; mode++)
			fuzz_head(data, size, &limits[lim], mode);
	}
	fuzz_chunked(data, size);
	return 0;
}
