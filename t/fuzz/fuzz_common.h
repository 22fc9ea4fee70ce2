/*
 * fuzz_common.h - helpers shared by the libFuzzer drivers of src/http/
 * (fuzz_request.c, fuzz_response.c, fuzz_chunked.c); CHECK() serves
 * fuzz_name.c too, CHECK() and fuzz_dup() fuzz_gossip_msg.c,
 * fuzz_manifest.c and fuzz_part.c.
 *
 * Header-only and static: each driver is one translation unit linked with
 * the library, single-threaded, built with -fsanitize=fuzzer,address,
 * undefined.
 */
#ifndef SHOAL_FUZZ_COMMON_H
#define SHOAL_FUZZ_COMMON_H

#include "http/http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the callers rely on; a failure is a finding. */
#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* The limits heads are parsed with: the defaults, a small set that makes
 * every limit reachable, and one whose request line may be longer than the
 * whole head (a configuration allows it), so that which limit is reported
 * when two are broken is exercised. */
#define FUZZ_NLIMITS 3
static const struct http_limits fuzz_limits[FUZZ_NLIMITS] = {
	{ 8192, 8192, 100, 65536 },
	{ 64, 48, 8, 256 },
	{ 300, 40, 4, 200 },
};

/* A cut position in [0, size] picked by the input itself, so the fuzzer
 * steers where a split falls. */
static inline size_t
fuzz_pick(const uint8_t *data, size_t size, size_t at)
{
	if (size == 0)
		return 0;
	return (size_t)data[at % size] * (size + 1) / 256;
}

/* A field of a parsed head is absent, or lies within the head. */
static inline void
fuzz_check_str(struct http_str s, const char *buf, size_t head_len)
{
	if (s.p == NULL) {
		CHECK(s.len == 0);
		return;
	}
	CHECK(s.p >= buf && s.p <= buf + head_len);
	CHECK(s.len <= head_len - (size_t)(s.p - buf));
}

/* What holds for any DONE head, request or response, of buf[0..len). */
static inline void
fuzz_check_head(const struct http_message *m, const char *buf, size_t len,
    size_t head_len, const struct http_limits *lim)
{
	char name[64];
	size_t i;

	CHECK(head_len >= 4 && head_len <= len);
	CHECK(head_len <= lim->max_header_size);
	CHECK(buf[head_len - 2] == '\r' && buf[head_len - 1] == '\n');
	CHECK(m->nheaders <= HTTP_MAX_HEADERS &&
	    m->nheaders <= lim->max_headers);
	CHECK(m->version_minor == 0 || m->version_minor == 1);
	CHECK(!(m->has_content_length && m->chunked));
	CHECK(!m->has_content_length ||
	    m->content_length <= (uint64_t)INT64_MAX);
	CHECK(!m->chunked || m->version_minor == 1);
	for (i = 0; i < m->nheaders; i++) {
		fuzz_check_str(m->headers[i].name, buf, head_len);
		fuzz_check_str(m->headers[i].value, buf, head_len);
		CHECK(m->headers[i].name.len > 0);
	}
	CHECK(http_find_header(m, "x-no-such-header-here") == NULL);
	if (m->nheaders > 0 && m->headers[0].name.len < sizeof(name)) {
		memcpy(name, m->headers[0].name.p, m->headers[0].name.len);
		name[m->headers[0].name.len] = '\0';
		CHECK(http_find_header(m, name) == &m->headers[0]);
	}
	fuzz_check_str(m->method_name, buf, head_len);
	fuzz_check_str(m->target, buf, head_len);
	fuzz_check_str(m->reason, buf, head_len);
	fuzz_check_str(m->host, buf, head_len);
	fuzz_check_str(m->range, buf, head_len);
	fuzz_check_str(m->if_range, buf, head_len);
	fuzz_check_str(m->if_none_match, buf, head_len);
	fuzz_check_str(m->if_modified_since, buf, head_len);
	fuzz_check_str(m->authorization, buf, head_len);
	fuzz_check_str(m->accept, buf, head_len);
	fuzz_check_str(m->content_range, buf, head_len);
	fuzz_check_str(m->content_type, buf, head_len);
	fuzz_check_str(m->user_agent, buf, head_len);
	fuzz_check_str(m->referer, buf, head_len);
}

/* A copy of buf[0..len) in a block of exactly its size (one byte for an
 * empty one), so that ASan sees a read past the end. */
static inline char *
fuzz_dup(const void *buf, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	CHECK(p != NULL);
	if (len > 0)
		memcpy(p, buf, len);
	return p;
}

#endif
