/*
 * fanout.h - asks every peer at once about one name. The first peer to
 * answer 200 wins and its connection is handed over (a miss relays it, an
 * upload refuses the name); the other lookups are closed at once. When
 * every peer has said no, failed or timed out, the caller hears "missing".
 * Lookups carry the X-Shoal-Lookup header, so the peers answer from their
 * own files and never ask further.
 *
 * Loop thread only. A fanout belongs to its client connection (c_fanout)
 * until it calls back.
 */
#ifndef SHOAL_FANOUT_H
#define SHOAL_FANOUT_H

#include <stdbool.h>

struct conn;
struct peer_conn;

/* A peer has the name: pc (its 200 head just arrived) is the callee's. */
typedef void fanout_found_cb(struct conn *c, struct peer_conn *pc);
/* No peer has it (or none could say). */
typedef void fanout_missing_cb(struct conn *c);

/* Starts the lookups for c->c_name: GET, or HEAD when `head`. Needs at
 * least one configured peer. */
void fanout_start(struct conn *c, bool head, fanout_found_cb *found,
    fanout_missing_cb *missing);

/* The client connection is going away: closes every lookup. */
void fanout_abort(struct conn *c);

#endif
