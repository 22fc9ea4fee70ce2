/*
 * fuzz_request.c - libFuzzer driver for http_parse_request()
 * (src/http/http_parse.c and http_parse_fill.c), the parser of every
 * request head a client or a peer sends.
 *
 * The input is bytes on the wire, so a raw request is a useful seed; it is
 * parsed with two sets of limits. Besides crashes and UB, the driver checks
 * what conn.c relies on:
 *   - a DONE head lies within the input, ends in CRLF, and its fields point
 *     into it; the method, target, Host and framing obey the contract;
 *   - an error is one of the documented statuses with a one-line reason;
 *   - the result never depends on how the bytes arrived: a prefix gives
 *     MORE, or the same answer as the whole;
 *   - pipelined requests after a Content-Length body parse the same way;
 *   - the readers of what a target's query and a head's Shoal-Origin say
 *     (http_query_value, catalogue_query_parse, replica_version_of,
 *     replica_origin_parse) stay within them, and what they accept obeys
 *     their contract; each round trip of an accepted origin is exact.
 * Seeds: t/fuzz/corpus/request/, dictionary: t/fuzz/request.dict.
 */
#include "fuzz_common.h"

#include "cluster/catalogue_serve.h"
#include "cluster/members.h"
#include "cluster/replica_serve.h"
#include "core/digest.h"
#include "peer/peer.h"
#include "store/name.h"

static struct http_message whole, part;

/* The parser keeps the peer layer's headers like any other. */
static bool
has_lookup(const struct http_message *m)
{
	return http_find_header(m, PEER_LOOKUP_HEADER) != NULL;
}

/* The query readers on the target, and Shoal-Origin on its header. */
static void
check_query(const struct http_message *m)
{
	static const char *const keys[] = { "version", "stamp", "node",
	    "prefix", "after", "limit" };
	const char *t = m->target.p, *q = memchr(t, '?', m->target.len);
	const struct http_header *h;
	struct catalogue_query cq;
	char node[MEMBER_NAME_MAX], back[REPLICA_ORIGIN_MAX];
	const char *why = NULL;
	struct http_str v;
	struct digest d;
	uint64_t hlc;
	size_t k;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (!http_query_value(t, m->target.len, keys[k], &v))
			continue;
		CHECK(q != NULL && v.p > q && v.p + v.len <= t + m->target.len);
		CHECK(memchr(v.p, '&', v.len) == NULL);
	}
	if (catalogue_query_parse(t, m->target.len, &cq, &why) == 0)
		CHECK(cq.cq_limit >= 1 &&
		    cq.cq_limit <= CATALOGUE_SERVE_LIMIT_MAX &&
		    cq.cq_plen <= NAME_MAX_LEN && cq.cq_alen <= NAME_MAX_LEN);
	else
		CHECK(why != NULL && strchr(why, '\n') == NULL);
	if (replica_version_of(t, m->target.len, &d) == 0)
		CHECK(q != NULL);
	h = http_find_header(m, REPLICA_ORIGIN_HEADER);
	if (h != NULL && replica_origin_parse(h->value.p, h->value.len, &hlc,
	    node) == 0) {
		CHECK(strlen(node) >= 1 && strlen(node) < MEMBER_NAME_MAX);
		replica_origin_format(hlc, node, back);
		CHECK(strlen(back) == h->value.len &&
		    strncasecmp(back, h->value.p, 16) == 0 &&
		    memcmp(back + 16, h->value.p + 16, h->value.len - 16) == 0);
	}
}

static void
check_request(const struct http_message *m, const char *buf, size_t len,
    size_t head_len, const struct http_limits *lim)
{
	fuzz_check_head(m, buf, len, head_len, lim);
	CHECK(m->status == 0 && m->reason.p == NULL);
	CHECK(m->target.len > 0 && m->target.p[0] == '/');
	CHECK(m->method_name.len >= 1 && m->method_name.len <= 32);
	CHECK(m->method != HTTP_METHOD_GET ||
	    (m->method_name.len == 3 && memcmp(m->method_name.p, "GET", 3) == 0));
	CHECK(m->method != HTTP_METHOD_OTHER ||
	    !(m->method_name.len == 3 && memcmp(m->method_name.p, "GET", 3) == 0));
	if (m->version_minor == 1)
		CHECK(m->host.p != NULL && m->host.len > 0);
	CHECK(!m->expect_continue || m->version_minor == 1);
	check_query(m);
}

static void
check_error(const struct http_error *err)
{
	CHECK(err->reason != NULL && strchr(err->reason, '\n') == NULL);
	CHECK(strncmp(err->reason, "bad response", 12) != 0);
	CHECK(err->status == 400 || err->status == 414 ||
	    err->status == 431 || err->status == 501 || err->status == 505);
}

/* Parses the input whole and one prefix of it; the two must agree.
 * Returns where a pipelined request would start, or 0 when none can. */
static size_t
fuzz_head(const uint8_t *data, size_t size, const struct http_limits *lim)
{
	const char *buf = (const char *)data;
	struct http_error err, perr;
	size_t head_len = 0, phead_len = 0, k;
	enum http_parse_result r, pr;
	char *copy;

	r = http_parse_request(buf, size, lim, &whole, &head_len, &err);
	if (r == HTTP_PARSE_DONE)
		check_request(&whole, buf, size, head_len, lim);
	else if (r == HTTP_PARSE_ERROR)
		check_error(&err);

	k = fuzz_pick(data, size, 0);
	copy = fuzz_dup(buf, k);
	pr = http_parse_request(copy, k, lim, &part, &phead_len, &perr);
	switch (r) {
	case HTTP_PARSE_DONE:
		if (k < head_len) {
			CHECK(pr == HTTP_PARSE_MORE);
		} else {
			CHECK(pr == HTTP_PARSE_DONE);
			CHECK(phead_len == head_len);
			CHECK(part.method == whole.method);
			CHECK(part.nheaders == whole.nheaders);
			CHECK(part.has_content_length ==
			    whole.has_content_length);
			CHECK(part.content_length == whole.content_length);
			CHECK(part.chunked == whole.chunked);
			CHECK(part.keep_alive == whole.keep_alive);
			CHECK(part.expect_continue == whole.expect_continue);
			CHECK(has_lookup(&part) == has_lookup(&whole));
		}
		break;
	case HTTP_PARSE_ERROR:
		CHECK(pr == HTTP_PARSE_MORE || (pr == HTTP_PARSE_ERROR &&
		    perr.status == err.status &&
		    strcmp(perr.reason, err.reason) == 0));
		break;
	case HTTP_PARSE_MORE:
		CHECK(pr == HTTP_PARSE_MORE);
		break;
	}
	free(copy);
	if (r != HTTP_PARSE_DONE || whole.chunked ||
	    whole.content_length > size - head_len)
		return 0;
	return head_len + (size_t)whole.content_length;
}

/* Walks the requests pipelined from `at` on, the way conn.c does: the next
 * head starts after the previous one's Content-Length body. Each sits in a
 * block of its own size. Chunked bodies are fuzz_chunked's business; the
 * walk stops there. */
static void
fuzz_pipeline(const uint8_t *data, size_t size, const struct http_limits *lim,
    size_t at)
{
	struct http_error err;
	size_t head_len, n;
	enum http_parse_result r;
	char *copy;

	for (n = 0; n < 8 && at > 0 && at < size; n++) {
		copy = fuzz_dup(data + at, size - at);
		r = http_parse_request(copy, size - at, lim, &part, &head_len,
		    &err);
		if (r == HTTP_PARSE_DONE)
			check_request(&part, copy, size - at, head_len, lim);
		else if (r == HTTP_PARSE_ERROR)
			check_error(&err);
		free(copy);
		if (r != HTTP_PARSE_DONE || part.chunked ||
		    part.content_length > size - at - head_len)
			break;
		at += head_len + (size_t)part.content_length;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t next;
	int i;

	for (i = 0; i < FUZZ_NLIMITS; i++) {
		next = fuzz_head(data, size, &fuzz_limits[i]);
		fuzz_pipeline(data, size, &fuzz_limits[i], next);
	}
	return 0;
}
