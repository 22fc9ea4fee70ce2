/*
 * small_body.h - a small request body read whole into memory, with a
 * bound, for a route that must have all of it before it can answer (a
 * gossip message, a part's manifest): Content-Length or chunked, "100
 * Continue" when the client waits for it, within the connection's body
 * timeout. The connection is the reader's until the outcome. Loop
 * thread of a worker.
 */
#ifndef SHOAL_SERVE_SMALL_BODY_H
#define SHOAL_SERVE_SMALL_BODY_H

#include <stddef.h>

#include "core/buf.h"

struct conn;
struct small_body;

/*
 * The outcome, heard once. status 0: the whole body is in sb_body, and
 * the connection is the owner's to answer (or to hand on). Otherwise
 * the owner frees its state (sb_body too) and must not answer: status
 * is the answer the reader sends next, with `reason` (411 a body with
 * no length, 413 longer than sb_max, 400 bad chunked framing, 408 not
 * in time), or -1 when the connection is aborted or closed.
 */
typedef void small_body_done_fn(struct conn *c, struct small_body *sb,
    int status, const char *reason);

struct small_body {
	struct buf sb_body;		/* the bytes; the owner frees it */
	size_t sb_max;			/* longer is refused (413) */
	const char *sb_what;		/* in the refusals: "manifest" */
	small_body_done_fn *sb_done;
};

/* Reads c's body into sb, which the owner embeds in its state (found
 * again with container_of()) with sb_max, sb_what and sb_done set and
 * sb_body empty. sb_done may be called before this returns. */
void small_body_read(struct conn *c, struct small_body *sb);

#endif
