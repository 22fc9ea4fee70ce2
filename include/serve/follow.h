/*
 * follow.h - a request that streams another request's fill of the same
 * name while it grows (see follow.c). Loop thread.
 */
#ifndef SHOAL_SERVE_FOLLOW_H
#define SHOAL_SERVE_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

struct conn;

/*
 * A GET of c->c_name missed while fetch `fetch_id` (index.h) of the name
 * runs in some worker. If that fetch announced a fill that is running,
 * takes the connection (conn_own) and answers it from the fill: true.
 * Otherwise false, and the connection is untouched (the caller waits for
 * the copy). Should the fill turn out gone before anything was sent, the
 * request starts over with miss_start(); should its file fail to open
 * while the fill runs (out of descriptors), the answer is 503.
 */
bool follow_start(struct conn *c, uint64_t fetch_id);

#endif
