/*
 * parts_sweep.h - the agent's walk of a store's parts (stripe/parts.h):
 * at start and then every quarter of stripe.pending_timeout (1 s to 60
 * s), it removes pending parts, temporary files and manifest-less
 * committed parts older than stripe.pending_timeout (the node that sent
 * them died or gave up without a DELETE that arrived), and sets the
 * store's part bytes on disk to what it found, which corrects any drift
 * of the workers' counting. Loop thread of the agent; the walk runs in
 * the agent's pool.
 */
#ifndef SHOAL_STRIPE_PARTS_SWEEP_H
#define SHOAL_STRIPE_PARTS_SWEEP_H

#include <stdbool.h>

struct cluster;
struct config;
struct iopool;
struct loop;
struct parts_sweep;
struct stripe_shared;

/* Starts the walks (the first at once). NULL (logged) when the parts
 * directories cannot be made or opened. */
struct parts_sweep *parts_sweep_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct stripe_shared *ss);

/* No new walk; returns whether one is still in the pool. */
bool parts_sweep_stop(struct parts_sweep *ps);

/* Once the pool is destroyed. NULL is fine. */
void parts_sweep_free(struct parts_sweep *ps);

#endif
