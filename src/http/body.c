/*
 * body.c - message body framing (see body.h). Any thread.
 */
#include <string.h>

#include "http/body.h"

void
http_body_init(struct http_body *b, bool chunked, uint64_t length)
{
	memset(b, 0, sizeof(*b));
	b->hb_chunked = chunked;
	if (chunked)
		http_chunked_init(&b->hb_chunk);
	else
		b->hb_left = length;
	b->hb_done = !chunked && length == 0;
}

enum http_body_result
http_body_decode(struct http_body *b, char *buf, size_t len,
    size_t *consumed, size_t *data)
{
	*consumed = 0;
	*data = 0;
	if (b->hb_done)
		return HTTP_BODY_DONE;
	if (b->hb_chunked) {
		switch (http_chunked_decode(&b->hb_chunk, buf, len, consumed,
		    data)) {
		case HTTP_CHUNKED_ERROR:
			return HTTP_BODY_ERROR;
		case HTTP_CHUNKED_DONE:
			b->hb_done = true;
			break;
		case HTTP_CHUNKED_MORE:
			break;
		}
	} else {
		*data = (uint64_t)len < b->hb_left ? len : (size_t)b->hb_left;
		*consumed = *data;
		b->hb_left -= *data;
		b->hb_done = b->hb_left == 0;
	}
	b->hb_data += *data;
	return b->hb_done ? HTTP_BODY_DONE : HTTP_BODY_MORE;
}
