/*
 * upload.h - PUT or POST of a file at any node.
 *
 * Before a byte of the body is read: uploads enabled (403), the token
 * (401), the name (400; "POST /" picks a random UUID), the framing (411;
 * Content-Range: 400), the size limit (413), then, in the I/O pool, the
 * name free in ROOT (409), the room on the disk (507) and a reservation of
 * the name across the node's workers (409 for the second of two uploads at
 * once), then in a cluster the catalogue (409) and a reservation of the
 * name with every alive member (upload_reserve; 409 when one refuses),
 * and every static peer asked at once whether it has the name (409).
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

#include <stddef.h>
#include <stdint.h>

#include "serve/server.h"

struct conn;

/* The reason of the 409 for a name the catalogue knows. */
#define UPLOAD_KNOWN "the name exists in the cluster"

/* c->c_req is a PUT or POST. Answers it, now or later. */
void upload_start(struct conn *c);

/*
 * The cluster's half of "is the name free?", for an upload of
 * name[0..len) at a node in a cluster (s->s_cluster not NULL), striped
 * or not: NULL when the catalogue knows the name (the upload is answered
 * 409 UPLOAD_KNOWN, nobody asked). Else *stamp is a new stamp of the
 * node's clock (the version's origin) and the name is being reserved
 * with every alive member as this upload (server_cluster.sc_reserve):
 * done() is called once, later, 200 or 409 with the reason to answer,
 * unless the handle returned is given to sc_reserve_end() first; it is,
 * exactly once, when the upload is over, stored or not.
 */
struct server_reservation *upload_reserve(struct server *s,
    const char *name, size_t len, uint64_t *stamp, server_reserved_fn *done,
    void *arg);

#endif
