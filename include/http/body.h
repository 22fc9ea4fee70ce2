/*
 * body.h - where a message body ends: Content-Length or chunked framing,
 * decoded from raw bytes as they arrive, for request bodies read by a
 * connection and response bodies read by the peer client alike.
 *
 * Pure functions over the caller's buffer: no I/O, no allocation. Any
 * thread.
 */
#ifndef SHOAL_HTTP_BODY_H
#define SHOAL_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

struct http_body {
	bool hb_chunked;
	struct http_chunked hb_chunk;
	uint64_t hb_left;		/* Content-Length bytes still to come */
	uint64_t hb_data;		/* body bytes decoded so far */
	bool hb_done;
};

enum http_body_result {
	HTTP_BODY_MORE,		/* every raw byte was body; more to come */
	HTTP_BODY_DONE,		/* the body ended (perhaps inside the input) */
	HTTP_BODY_ERROR,	/* bad chunked framing: answer 400, close */
};

/* A body framed by `chunked`, or else of `length` bytes (0: none). */
void http_body_init(struct http_body *b, bool chunked, uint64_t length);

/*
 * Decodes raw bytes buf[0..len) in place: on return buf[0..*data) are body
 * bytes, and *consumed raw bytes belonged to the body; when the body ended
 * inside the input, buf[*consumed..len) is what follows it (the next
 * message). After HTTP_BODY_DONE every call consumes nothing.
 */
enum http_body_result http_body_decode(struct http_body *b, char *buf,
    size_t len, size_t *consumed, size_t *data);

#endif
