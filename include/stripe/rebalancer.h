/*
 * rebalancer.h - the agent's rebalancer: moves parts from the fullest
 * store to the emptiest until the fill ratios (use / capacity) of the
 * alive stores are within stripe.rebalance_spread points of each other,
 * at stripe.rebalance_rate bytes/s at most (0: no moves).
 *
 * Every gossip interval (at once after a move), on a store: once a
 * second a recorded switch is replayed (stripe/move.h), in turn; then,
 * when the gossiped
 * fills say that this store is the fullest and the spread is too wide
 * (stripe/rebalance.h), the manifests beside its parts are read (at most
 * REBALANCER_SCAN_MAX, objects with a recorded switch left out) and one
 * part moves to the emptiest store that holds no part of its object,
 * whose origin and stores are all alive. So one store moves at a time
 * in a cluster whose members agree on the fills, and a target counts
 * what was moved to it until gossip carries its new use.
 *
 * The counters (moves done and failed, bytes moved) are the node's
 * shared ones (stripe/stripe.h). Loop thread of the agent; the scan in
 * its pool, which fills only the fields marked for it while rb_busy.
 */
#ifndef SHOAL_STRIPE_REBALANCER_H
#define SHOAL_STRIPE_REBALANCER_H

#include <stdbool.h>

struct cluster;
struct config;
struct iopool;
struct loop;
struct peer_set;
struct rebalancer;
struct stripe_shared;

#define REBALANCER_SCAN_MAX 1024

/* Starts (the first tick a second from now). NULL (logged) when the
 * directories cannot be opened. peers: the agent's set of the members. */
struct rebalancer *rebalancer_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct stripe_shared *ss,
    struct peer_set *peers);

/* No new tick, requests out dropped; returns whether a job is still in
 * the pool. */
bool rebalancer_stop(struct rebalancer *rb);

/* Once the pool is destroyed, before the peer set is freed. NULL is
 * fine. */
void rebalancer_free(struct rebalancer *rb);

#endif
