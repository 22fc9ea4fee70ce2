/*
 * conn_body.c - reading a request body for the connection's owner: the
 * bytes that came with the head first, then the socket, decoded
 * (Content-Length or chunked) and never past the body's end; "100
 * Continue" when the client waits for it.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "serve/conn.h"
#include "serve/conn_int.h"
#include "store/metrics.h"

void
conn_body_begin(struct conn *c)
{
	http_body_init(&c->c_body, c->c_req.chunked,
	    c->c_req.has_content_length ? c->c_req.content_length : 0);
}

bool
conn_body_done(const struct conn *c)
{
	return c->c_body.hb_done;
}

int
conn_continue(struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (!c->c_req.expect_continue || c->c_continued)
		return 0;
	c->c_continued = true;
	/* 25 bytes into an idle socket: failing means it is gone. */
	if (send(c->c_fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(cont) - 1)
		return -1;
	return 0;
}

/* Bytes that follow the body go back to the input, for the next head,
 * before whatever of the head's leftover is still there. */
static void
conn_push_back(struct conn *c, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (c->c_in_len + n > c->c_in_cap) {
		c->c_in = xrealloc(c->c_in, c->c_in_len + n);
		c->c_in_cap = c->c_in_len + n;
	}
	memmove(c->c_in + c->c_head_len + n, c->c_in + c->c_head_len,
	    c->c_in_len - c->c_head_len);
	memcpy(c->c_in + c->c_head_len, p, n);
	c->c_in_len += n;
}

ssize_t
conn_read_body(struct conn *c, char *buf, size_t cap)
{
	struct http_body *b = &c->c_body;
	size_t leftover = c->c_in_len - c->c_head_len, raw, consumed, data;
	ssize_t n;

	for (;;) {
		size_t want = cap;

		if (b->hb_done) {
			errno = 0;
			return 0;
		}
		/* With a length, never read into the next request. */
		if (!b->hb_chunked && b->hb_left < want)
			want = (size_t)b->hb_left;
		if (leftover > 0) {
			/* Body bytes that came with the head. */
			raw = leftover < want ? leftover : want;
			memcpy(buf, c->c_in + c->c_head_len, raw);
			memmove(c->c_in + c->c_head_len,
			    c->c_in + c->c_head_len + raw, leftover - raw);
			c->c_in_len -= raw;
			leftover -= raw;
		} else {
			do
				n = recv(c->c_fd, buf, want, 0);
			while (n == -1 && errno == EINTR);
			if (n == 0 || (n == -1 && errno != EAGAIN)) {
				errno = ECONNRESET;
				return -1;
			}
			if (n == -1)
				return 0;	/* EAGAIN */
			raw = (size_t)n;
			metrics_add(&metrics_mine()->ms_bytes_received,
			    (uint64_t)n);
		}
		if (http_body_decode(b, buf, raw, &consumed, &data) ==
		    HTTP_BODY_ERROR) {
			errno = EPROTO;
			return -1;
		}
		/* What follows the body belongs to the next request. */
		if (consumed < raw)
			conn_push_back(c, buf + consumed, raw - consumed);
		if (data > 0)
			return (ssize_t)data;
		/* Only framing was read (a chunk size line): go on. */
	}
}
