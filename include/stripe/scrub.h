/*
 * scrub.h - a store's scrubber: the agent walks the part files of this
 * store (parts/objects/), in turn, and checks every block against its
 * checksum (stripe/blocksum.h), at stripe.scrub_rate bytes/s at most
 * (0: off), so that rot nobody reads is found; a part a read found
 * corrupt (stripe_suspect(), stripe/stripe.h) is checked first. A
 * corrupt part (a block,
 * or its trailer) is reported to its object's origin: the next
 * generation of the manifest kept beside it, the part marked missing
 * (POST /_/parts/ID/commit, which the origin takes as the very next
 * generation: stripe/parts.h). The origin's healing (stripe/heal.h)
 * then rebuilds the part on another store and deletes the corrupt copy
 * here. The last SCRUB_FOUND_MAX corrupt parts found are not checked
 * again (nor reported twice).
 *
 * Counters (bytes checked, corrupt blocks found) in the node's
 * stripe_shared. Loop thread of the agent; the reads in its pool, which
 * touch only the fields marked for the job while sc_busy.
 */
#ifndef SHOAL_STRIPE_SCRUB_H
#define SHOAL_STRIPE_SCRUB_H

#include <stdbool.h>

struct cluster;
struct config;
struct iopool;
struct loop;
struct peer_set;
struct scrub;
struct stripe_shared;

#define SCRUB_LIST_MAX 1024		/* part files listed at a time */

/* Starts (the first check a second from now). NULL (logged) when the
 * parts directories cannot be opened. */
struct scrub *scrub_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct stripe_shared *ss,
    struct peer_set *peers);

/* No new step, a report out dropped; returns whether a job is still in
 * the pool. */
bool scrub_stop(struct scrub *sc);

/* Once the pool is destroyed, before the peer set is freed. NULL is
 * fine. */
void scrub_free(struct scrub *sc);

#endif
