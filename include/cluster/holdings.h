/*
 * holdings.h - what this node holds, told to the catalogue: the agent's
 * side of "each node announces the versions it holds durably".
 *
 * At start, the versions kept in the state directory (store/versions.h)
 * and the files of ROOT are announced, ROOT a slice at a time so that a
 * ROOT of a million files never holds up the agent's loop; then this
 * node's facts whose file is gone are withdrawn. From then on an inotify
 * watch on ROOT (created, written, moved in, deleted, moved out) has each
 * named file examined again, in batches.
 *
 * Examining a name: a file of ROOT with that name (regular, not hidden,
 * not a saved TTL copy) is announced, with its content digest (the one
 * recorded beside it when still valid, else computed once and recorded)
 * and its origin (recorded beside it; a file that has none is this
 * node's, stamped with its mtime, and that is recorded so that it stays
 * the same across restarts). Every version of the name this node
 * announced that it no longer holds (not in ROOT, not kept aside) is
 * withdrawn. When the name has versions in conflict, ROOT's file, if it
 * is a loser, is moved aside into the state directory (it stays
 * announced: this node still holds that version), and a saved copy of a
 * loser is removed with its index record.
 *
 * Conflicts found by gossip (gossip_agent_on_conflict) and losers met by
 * the replication walk have their name examined the same way.
 *
 * Agent only, loop thread; the disk work and the catalogue updates run
 * in the agent's I/O pool, one job of this module at a time.
 */
#ifndef SHOAL_CLUSTER_HOLDINGS_H
#define SHOAL_CLUSTER_HOLDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cluster;
struct digest;
struct config;
struct index;
struct iopool;
struct loop;

#define HOLDINGS_SLICE 512		/* ROOT entries examined per job */
#define HOLDINGS_BATCH_MS 50		/* events gathered before a batch */
#define HOLDINGS_PENDING_MAX 65536	/* names waiting; more: a rescan */
#define HOLDINGS_SURPLUS_MAX 256	/* surplus replicas waiting */

struct holdings_stats {
	uint64_t hs_announced;		/* announcements that were news */
	uint64_t hs_withdrawn;
	uint64_t hs_moved_aside;	/* losers moved from ROOT */
	uint64_t hs_copies_dropped;	/* saved copies of losers removed */
	uint64_t hs_surplus_dropped;	/* replicas too many removed */
	uint64_t hs_digests;		/* content digests computed */
	uint64_t hs_scans;		/* full scans of ROOT finished */
};

struct holdings;

/*
 * Starts on the agent's loop and pool: the watch on ROOT, then the scan.
 * `ix` is the node's index (saved copies), `cl` the cluster (its
 * catalogue and this node's name). Returns NULL (logged) when ROOT or
 * the state directory cannot be opened; a watch that cannot be made is
 * logged, and the scan is then repeated every minute instead.
 */
struct holdings *holdings_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct index *ix);

/* Has `name[0..len)` examined soon (a conflict, a loser met by a walk, a
 * file placed by a pull). */
void holdings_examine(struct holdings *h, const char *name, size_t len);

/*
 * Removes ROOT's file `name` as a replica too many (the replication walk
 * found that the members the name's ranking chooses all hold version d,
 * and this node is not one of them). The job looks again before it
 * removes anything: only a regular file sealed with d, not a saved copy,
 * whose recorded origin is another node, and still the file it looked
 * at (file_remove_copy()); the name is then examined, so that the fact
 * is withdrawn. Originals (uploaded here, or put in ROOT by an operator)
 * are never removed. At most HOLDINGS_SURPLUS_MAX wait; more are left
 * to the walk's next lap.
 */
void holdings_drop_surplus(struct holdings *h, const char *name, size_t len,
    const struct digest *d);

/* The gossip_conflict_fn of gossip_round.h: `arg` is the holdings. */
void holdings_on_conflict(void *arg, const char *name, size_t len,
    const struct digest *winner, const struct digest *loser);

/* The start scan (versions, ROOT, the withdrawals) is over. */
bool holdings_ready(const struct holdings *h);

const struct holdings_stats *holdings_stats(const struct holdings *h);

/* No new job; true while one is still in the pool. */
bool holdings_stop(struct holdings *h);

/* Once the pool is destroyed. */
void holdings_free(struct holdings *h);

#endif
