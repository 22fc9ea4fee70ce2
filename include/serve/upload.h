/*
 * upload.h - PUT or POST of a file at any node.
 *
 * Before a byte of the body is read: uploads enabled (403), the token
 * (401), the name (400; "POST /" picks a random UUID), the framing (411;
 * Content-Range: 400), the size limit (413), then, in the I/O pool, the
 * name free in ROOT (409), the room on the disk (507) and a reservation of
 * the name across the node's workers (409 for the second of two uploads at
 * once), then every peer asked at once whether it has the name (409).
 * Only then "100 Continue" for a client that waits for it, and the body.
 *
 * The body goes to the reserved temporary file through a spool, read from
 * the client into one of the spool's two buffers while the other is
 * written (a 10 GiB upload uses two buffers of memory), hashed for the
 * ETag on the way. When it is whole: fsync, link into place without ever
 * replacing a file, fsync ROOT, 201. A client that leaves, stalls past
 * body_timeout or breaks the framing, or a full disk (507), leaves
 * nothing: the temporary file is removed and the name is free again.
 *
 * Loop thread. An upload owns its connection until it answers; the spool
 * cleans up after it on its own.
 */
#ifndef SHOAL_SERVE_UPLOAD_H
#define SHOAL_SERVE_UPLOAD_H

struct conn;

/* c->c_req is a PUT or POST. Answers it, now or later. */
void upload_start(struct conn *c);

#endif
