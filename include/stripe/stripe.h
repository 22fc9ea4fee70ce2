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
 * also sets the bytes on disk from what it found), so no lock; but for
 * the reservations of the fronts' uploads in flight: the bytes each
 * upload is about to send to each store, so that uploads in several
 * workers choose their stores knowing of each other (the stores' own
 * use catches up only as gossip brings it), behind ss_mutex.
 */
#ifndef SHOAL_STRIPE_STRIPE_H
#define SHOAL_STRIPE_STRIPE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "cluster/members.h"

struct cluster;

/* Under the state directory. */
#define STRIPE_PARTS_DIR "parts"		/* a store's parts: */
#define STRIPE_PARTS_TMP "parts/tmp"		/*   being received */
#define STRIPE_PARTS_PENDING "parts/pending"	/*   whole, not committed */
#define STRIPE_PARTS_OBJECTS "parts/objects"	/*   committed, manifests */
#define STRIPE_PARTS_NAMES "parts/names"	/*   the manifests by name */
#define STRIPE_ORIGIN_DIR "stripe"		/* the uploads taken here: */
#define STRIPE_ORIGIN_MANIFESTS "stripe/manifests"	/* by id */
#define STRIPE_ORIGIN_NAMES "stripe/names"	/*   by name */
#define STRIPE_MOVES "stripe/moves"		/* the moves under way */

#define STRIPE_RESERVATIONS 256
#define STRIPE_SUSPECTS 16		/* part files a read found corrupt,
					   for the scrubber to check first */
#define STRIPE_SUSPECT_NAME 48		/* "ID.I" and its NUL */

struct stripe_reservation {
	char sr_node[MEMBER_NAME_MAX];	/* "": a free slot */
	pid_t sr_pid;			/* the uploading worker */
	uint64_t sr_bytes;
};

/* Why the parts of an upload were removed (shoal_stripe_cleanups_total's
 * cause): at the front, by its failure; at a store, by the sweep; at a
 * front's start, by its journal. */
enum stripe_cleanup_cause {
	STRIPE_CLEANUP_CLIENT,		/* left, broke the framing, too large */
	STRIPE_CLEANUP_STORE,		/* refused, failed, left, full */
	STRIPE_CLEANUP_TIMEOUT,		/* the client or a store stalled */
	STRIPE_CLEANUP_LOCAL,		/* this node's disk, the name taken */
	STRIPE_CLEANUP_SWEPT,		/* a store's pending parts, timed out */
	STRIPE_CLEANUP_JOURNAL,		/* uploads cut short by a restart */
	STRIPE_CLEANUP_CAUSES
};

struct stripe_shared {
	uint64_t ss_disk;		/* bytes of part files here */
	uint64_t ss_inflight;		/* announced, being received */
	uint64_t ss_parts_held;		/* part files here, as ss_disk */
	uint64_t ss_parts_received;	/* counters since the start */
	uint64_t ss_parts_refused;
	uint64_t ss_parts_committed;
	uint64_t ss_parts_deleted;	/* by DELETE */
	uint64_t ss_parts_swept;	/* pending past stripe.pending_timeout */
	uint64_t ss_part_bytes_sent;	/* part GETs */
	uint64_t ss_corrupt_blocks;	/* found by part GETs */
	/* Reads of objects with parity (stripe/stripe_rows.h). */
	uint64_t ss_reads_rebuilt;	/* done, some block rebuilt */
	uint64_t ss_reads_cut;		/* more parts lost than parity */
	uint64_t ss_read_parts_lost;	/* part reads lost or skipped */
	uint64_t ss_rebuilt_bytes;	/* data bytes rebuilt for reads */
	/* The fronts' side: striped uploads by outcome. */
	uint64_t ss_puts_ok;
	uint64_t ss_puts_degraded;	/* stored with parts missing */
	uint64_t ss_puts_failed;
	uint64_t ss_puts_refused;	/* too few stores with room */
	uint64_t ss_cleanups[STRIPE_CLEANUP_CAUSES];	/* uploads whose
					   parts were removed, by cause */
	/* The rebalancer's (stripe/rebalancer.h). */
	uint64_t ss_moves_done;
	uint64_t ss_moves_failed;
	uint64_t ss_moved_bytes;
	/* Healing, at the objects' origin (stripe/heal.h): parts rebuilt
	 * (done, failed), their bytes; at the last scan, the objects with
	 * parts lost and those parts' bytes. As a store: stale parts
	 * dropped, and the scrubber's bytes checked and corrupt blocks. */
	uint64_t ss_marked_missing;	/* manifests kept here switched
					   with parts missing */
	uint64_t ss_heals_done;
	uint64_t ss_heals_failed;
	uint64_t ss_healed_bytes;
	uint64_t ss_degraded_objects;
	uint64_t ss_heal_todo_bytes;
	uint64_t ss_stale_dropped;
	uint64_t ss_scrubbed_bytes;
	uint64_t ss_scrub_corrupt;
	pthread_mutex_t ss_mutex;	/* the reservations, the suspects */
	struct stripe_reservation ss_res[STRIPE_RESERVATIONS];
	uint64_t ss_suspect_seq;	/* suspects ever named */
	char ss_suspects[STRIPE_SUSPECTS][STRIPE_SUSPECT_NAME];
};

/* Master: zeroed shared memory for it, or NULL with errno. */
struct stripe_shared *stripe_shared_create(void);

/* The reservations; *_locked calls want stripe_lock() held. */
int stripe_lock(struct stripe_shared *ss);
void stripe_unlock(struct stripe_shared *ss);

/* Bytes reserved at `node` (NULL: at every store) by uploads of live
 * workers. */
uint64_t stripe_reserved_locked(struct stripe_shared *ss, const char *node);

/* Reserves `bytes` at `node` for worker pid. Returns 0, or -1 when every
 * slot is taken (slots of dead workers are taken back first). */
int stripe_reserve_locked(struct stripe_shared *ss, const char *node,
    pid_t pid, uint64_t bytes);

/* Gives back what worker pid reserved at node (one reservation). */
void stripe_release_locked(struct stripe_shared *ss, const char *node,
    pid_t pid, uint64_t bytes);

/* A worker's read found part file `name` ("ID.I") corrupt: the
 * scrubber (stripe/scrub.h) checks it first. Takes the lock; a name
 * that does not fit, or a lock that fails, is left out. */
void stripe_suspect(struct stripe_shared *ss, const char *name);

/* The suspects named since *seq (the last STRIPE_SUSPECTS at most), into
 * out[0..n); *seq moves past them. Takes the lock. */
size_t stripe_suspects_since(struct stripe_shared *ss, uint64_t *seq,
    char (*out)[STRIPE_SUSPECT_NAME]);

/* Adds d (which may be "negative": two's complement) to *counter. */
void stripe_add(uint64_t *counter, uint64_t d);
uint64_t stripe_get(const uint64_t *counter);

struct manifest;

/* Tells the catalogue that this node holds the striped object m (its
 * manifest: the node that took it, or a store of one of its parts), with
 * the manifest's origin and stamp: a striped version, which nobody
 * copies. Logged when the catalogue is full. */
void stripe_announce(struct cluster *cl, const struct manifest *m);

/* This node no longer holds m (its parts were deleted here). */
void stripe_withdraw(struct cluster *cl, const struct manifest *m);

/* This node's use (disk + inflight), published in its member facts when
 * it changed, for gossip to carry. */
void stripe_publish_use(struct stripe_shared *ss, struct cluster *cl);

#endif
