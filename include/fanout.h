/*
 * fanout.h - a local miss asks every peer at once. The first peer to answer
 * 200 wins and its answer is relayed to the client (relay.h); the other
 * lookups are closed at once. When every peer has said no, failed or timed
 * out, the client gets 404. Lookups carry the X-Shoal-Lookup header, so the
 * peers answer from their own files and never ask further.
 *
 * Loop thread only. A fanout belongs to its client connection (c_fanout)
 * until it hands over to a relay or answers 404.
 */
#ifndef SHOAL_FANOUT_H
#define SHOAL_FANOUT_H

struct conn;

/* Starts the lookups for c->c_name (GET or HEAD, as the client asked). */
void fanout_start(struct conn *c);

/* The client connection is going away: closes every lookup. */
void fanout_abort(struct conn *c);

#endif
