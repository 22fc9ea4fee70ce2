/*
 * small_body.c - a small request body read whole into memory (see
 * small_body.h). Loop thread of a worker; no locks.
 */
#include <errno.h>
#include <stdio.h>

#include "core/buf.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/small_body.h"

#define SMALL_BODY_CHUNK 16384

/* The owner hears the refusal and lets go; then it is answered. */
static void
small_body_refuse(struct conn *c, struct small_body *sb, int status,
    const char *what)
{
	char reason[128];

	snprintf(reason, sizeof(reason), "%s%s", sb->sb_what, what);
	sb->sb_done(c, sb, status, reason);
	conn_send_text(c, status, reason, NULL);
}

static void
small_body_on_io(struct conn *c, short revents)
{
	struct small_body *sb = conn_owner(c);
	struct buf *b = &sb->sb_body;
	ssize_t n;

	(void)revents;
	for (;;) {
		if (b->cap - b->len < SMALL_BODY_CHUNK)
			buf_reserve(b, SMALL_BODY_CHUNK);
		n = conn_read_body(c, b->data + b->len, b->cap - b->len);
		if (n > 0) {
			b->len += (size_t)n;
			if (b->len > sb->sb_max) {
				c->c_close = true;
				small_body_refuse(c, sb, 413, " too large");
				return;
			}
			continue;
		}
		if (n == 0 && errno == EAGAIN) {
			conn_wait_readable(c);
			return;
		}
		if (n == 0) {
			sb->sb_done(c, sb, 0, NULL);
			return;
		}
		if (errno == EPROTO) {
			c->c_close = true;
			sb->sb_done(c, sb, 400, "bad chunked framing");
			conn_send_text(c, 400, "bad chunked framing", NULL);
			return;
		}
		sb->sb_done(c, sb, -1, "the client is gone");
		conn_abort(c);
		return;
	}
}

static void
small_body_on_timeout(struct conn *c)
{
	c->c_close = true;
	small_body_refuse(c, conn_owner(c), 408, " not received in time");
}

static void
small_body_on_close(struct conn *c)
{
	struct small_body *sb = conn_owner(c);

	sb->sb_done(c, sb, -1, "the connection closed");
}

static const struct conn_handler small_body_handler = {
	.on_io = small_body_on_io,
	.on_timeout = small_body_on_timeout,
	.on_close = small_body_on_close,
};

void
small_body_read(struct conn *c, struct small_body *sb)
{
	if (!c->c_req.chunked && !c->c_req.has_content_length) {
		small_body_refuse(c, sb, 411, " needs a Content-Length");
		return;
	}
	if (c->c_req.has_content_length &&
	    c->c_req.content_length > sb->sb_max) {
		request_skip_body(c);
		small_body_refuse(c, sb, 413, " too large");
		return;
	}
	conn_own(c, &small_body_handler, sb);
	conn_body_begin(c);
	if (conn_continue(c) == -1) {
		sb->sb_done(c, sb, -1, "cannot send 100 Continue");
		conn_abort(c);
		return;
	}
	small_body_on_io(c, 0);
}
