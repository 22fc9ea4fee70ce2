/*
 * stripe.h - what the processes of one node share about striping: the
 * bytes of parts this node holds as a store (part files on disk, pending
 * or committed, and the announced lengths of part uploads being
 * received), which make the `use` it gossips, and the counters of
 * /_/metrics. The directories of the state directory it all lives in.
 *
 * The master maps it before the first fork of a node in a cluster
 * (stripe_shared_create) and keeps it across reloads. Every field is
 * touched with relaxed atomics by workers (part uploads, commits,
 * deletions) and the agent (the walk that sweeps pending parts, which
 * also sets the bytes on disk from what it found), so no lock.
 */
#ifndef SHOAL_STRIPE_STRIPE_H
#define SHOAL_STRIPE_STRIPE_H

#include <stdint.h>

struct cluster;

/* Under the state directory. */
#define STRIPE_PARTS_DIR "parts"		/* a store's parts: */
#define STRIPE_PARTS_TMP "parts/tmp"		/*   being received */
#define STRIPE_PARTS_PENDING "parts/pending"	/*   whole, not committed */
#define STRIPE_PARTS_OBJECTS "parts/objects"	/*   committed, manifests */

struct stripe_shared {
	uint64_t ss_disk;		/* bytes of part files here */
	uint64_t ss_inflight;		/* announced, being received */
	uint64_t ss_parts_received;	/* counters since the start */
	uint64_t ss_parts_refused;
	uint64_t ss_parts_committed;
	uint64_t ss_parts_deleted;	/* by DELETE */
	uint64_t ss_parts_swept;	/* pending past stripe.pending_timeout */
	uint64_t ss_part_bytes_sent;	/* part GETs */
};

/* Master: zeroed shared memory for it, or NULL with errno. */
struct stripe_shared *stripe_shared_create(void);

/* Adds d (which may be "negative": two's complement) to *counter. */
void stripe_add(uint64_t *counter, uint64_t d);
uint64_t stripe_get(const uint64_t *counter);

/* This node's use (disk + inflight), published in its member facts when
 * it changed, for gossip to carry. */
void stripe_publish_use(struct stripe_shared *ss, struct cluster *cl);

#endif
