/*
 * self_peer.h - this node as a peer of its own: a store node that takes a
 * striped upload (or reads one) holds one of its parts itself, reached
 * like any other store, over HTTP at its advertised address, through the
 * same signed part routes. The peer sets of the workers and of the agent
 * never hold the node itself (lookups must not come back to it), so each
 * process that needs it makes a one-peer set of its own, on its loop, the
 * first time.
 *
 * Loop thread of the process that calls it; one per process.
 */
#ifndef SHOAL_STRIPE_SELF_PEER_H
#define SHOAL_STRIPE_SELF_PEER_H

#include <stdint.h>

struct http_limits;
struct loop;
struct peer;
struct peer_set;

/* The set that holds only this node, at `addr` ("host:port", the member
 * address it advertises), or NULL (logged once) when it cannot be made. */
struct peer_set *self_peer_set(struct loop *loop, const char *addr,
    const struct http_limits *limits, int64_t timeout_ms);

/* The peer for `addr`: in `others` (the process's set of members), or
 * this node's own when addr is its address; NULL when neither. *set is
 * the set the peer belongs to (to send through). */
struct peer *self_peer_find(struct peer_set *others, struct loop *loop,
    const char *self_addr, const char *addr, const struct http_limits *limits,
    int64_t timeout_ms, struct peer_set **set);

/* At exit, before the loop goes: frees the set and its table. */
void self_peer_free(void);

#endif
