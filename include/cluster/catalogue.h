/*
 * catalogue.h - which object versions exist in the cluster, and which
 * nodes hold them. Pure rules over memory the caller provides (shared
 * memory in the daemon, plain memory in the simulator): no sockets, no
 * JSON, no clock, no disk.
 *
 * A version is (name, 128-bit content digest), with its size and its
 * origin: the node that first wrote it and the hybrid-logical-clock stamp
 * it took then (cluster/hlc.h). The same (name, digest) written twice is
 * one version; its origin is the smaller (stamp, node) of the two.
 *
 * Facts and owners (Scuttlebutt). The catalogue is the union of every
 * node's facts "I hold version V of name N". Each node is the only writer
 * of its own facts, and numbers them with a counter of its own (`seq`,
 * starting at 1 with each incarnation of the node): announcing a version
 * or withdrawing one (a tombstone, the fact with `gone` set) takes the
 * next number, and a fact keeps only its latest number. A node that knows
 * owner X's facts up to seq s knows all of them up to s: a delta is every
 * fact of X numbered in (s, t], in order, and it ends "complete up to t".
 * So whoever holds X's facts up to t can give them to anyone behind: the
 * facts travel through every node, not only from X.
 *
 * Forgetting tombstones. Tombstones are kept until they are older than
 * CATALOGUE_TOMBSTONES_MAX newer tombstones of the same owner; the oldest
 * go, and the owner's `floor` rises to the number of the last one gone.
 * A node behind the floor of X can no longer be given a delta (it might
 * miss a withdrawal): it is given a full resync instead, every live fact
 * of X from 0 (a chunk with from = 0), and every fact of X it holds that
 * the resync does not mention is dropped. That is also what happens when
 * X restarts: its facts of a new incarnation replace the old ones whole.
 *
 * Conflicts. Two live versions of one name (different digests) are a
 * conflict. Every node picks the same winner without talking: the
 * smallest (origin stamp, origin node name, digest). The others are
 * losers, kept and still listed; a node that holds a loser keeps it
 * aside (that is the caller's business) and still announces it.
 *
 * Memory: CATALOGUE_VERSION_BYTES per version, CATALOGUE_FACT_BYTES per
 * holder (fact), and the name rounded up to 16 bytes, once per version;
 * catalogue_size() gives the whole table's bytes.
 *
 * Concurrency: every *_locked call wants catalogue_lock() held. The
 * table's one writer per fact is the rule above, not the lock: workers
 * announce this node's uploads, the workers merge what gossip brings, the
 * agent announces what it finds in ROOT and what it replicates.
 */
#ifndef SHOAL_CLUSTER_CATALOGUE_H
#define SHOAL_CLUSTER_CATALOGUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/members.h"
#include "core/digest.h"
#include "store/name.h"

#define CATALOGUE_VERSION_BYTES 64
#define CATALOGUE_FACT_BYTES 24
#define CATALOGUE_NAME_UNIT 16
#define CATALOGUE_TOMBSTONES_MAX 4096	/* kept per owner */
#define CATALOGUE_OBJECTS_MIN 1024
#define CATALOGUE_HOLDERS_VIEW 16	/* holders listed in a view */

/* The table's size: how many versions (objects), facts (holdings: versions
 * times the expected holders, tombstones included) and owners (nodes, as
 * many as the member table holds). */
struct catalogue_params {
	uint32_t cp_versions;
	uint32_t cp_facts;
	uint32_t cp_owners;		/* at most 65535 */
	uint64_t cp_name_bytes;		/* room for names */
};

/* Counters and sizes (relaxed: read without the lock). */
struct catalogue_stats {
	uint64_t cs_versions;		/* live versions */
	uint64_t cs_names;		/* names with a live version */
	uint64_t cs_bytes;		/* the live versions' sizes, summed */
	uint64_t cs_facts;		/* live facts (holdings) */
	uint64_t cs_tombstones;
	uint64_t cs_conflicts;		/* names with more than one live version */
	uint64_t cs_conflicts_seen;	/* conflicts found since the start */
	uint64_t cs_applied;		/* facts merged from other nodes */
	uint64_t cs_resyncs;		/* full resyncs taken */
	uint64_t cs_refused_full;	/* facts dropped: no room */
	uint64_t cs_refused_invalid;	/* facts with bad names or values */
};

/* One fact as it travels (and as the simulator passes it). */
struct cat_fact_msg {
	char cm_name[NAME_MAX_LEN + 1];	/* NUL-terminated */
	size_t cm_name_len;
	struct digest cm_digest;
	uint64_t cm_size;
	char cm_origin[MEMBER_NAME_MAX];
	uint64_t cm_hlc;
	uint64_t cm_seq;
	bool cm_gone;			/* a tombstone */
	bool cm_striped;		/* the version is a striped object */
};

/* A run of one owner's facts: all of them numbered in (from, to], of the
 * owner's incarnation `inc`. from = 0 is a full resync. */
struct cat_chunk {
	char cc_owner[MEMBER_NAME_MAX];
	uint64_t cc_inc;
	uint64_t cc_from;
	uint64_t cc_to;
	uint64_t cc_floor;		/* the sender's floor for the owner */
};

/* What a node wants of one owner: its facts after `after` of incarnation
 * `inc` (0 when it holds none), and the floor it knows for the owner. A
 * node whose floor is above `after` is midway through a full resync cut
 * short by the budget: what it holds up to `after` is exact, so a sender
 * whose own floor is no higher may go on with a delta. */
struct cat_want {
	char cw_owner[MEMBER_NAME_MAX];
	uint64_t cw_inc;
	uint64_t cw_after;
	uint64_t cw_floor;
};

/* A version as callers see it. */
struct cat_version_view {
	const char *vv_name;		/* valid under the lock, until
					   the table next changes */
	size_t vv_name_len;
	struct digest vv_digest;
	uint64_t vv_size;
	const char *vv_origin;		/* valid under the lock */
	uint64_t vv_hlc;
	bool vv_winner;			/* of its name (the only one: true) */
	bool vv_striped;		/* a striped object: its holders keep
					   its manifest, its bytes are in parts
					   on store nodes; never copied */
	uint32_t vv_nversions;		/* live versions of its name */
	uint32_t vv_nholders;		/* live holders, listed or not */
	const char *vv_holders[CATALOGUE_HOLDERS_VIEW];
};

struct catalogue;

/* Bytes of a table with these parameters; 0 when they are out of range. */
size_t catalogue_size(const struct catalogue_params *p);

/* The parameters for `objects` versions and `owners` nodes, expecting
 * `holders` holders per version (cluster.replicas). */
void catalogue_params_for(struct catalogue_params *p, uint64_t objects,
    unsigned owners, unsigned holders);

/* Makes a table in mem (catalogue_size(p) zeroed bytes) for this node,
 * `self` of incarnation `inc`. Returns 0, or an errno value. */
int catalogue_init(struct catalogue *cat, const struct catalogue_params *p,
    const char *self, uint64_t inc);

/* Locks the table; a holder that died halfway leaves it rebuilt. */
int catalogue_lock(struct catalogue *cat);
void catalogue_unlock(struct catalogue *cat);

const struct catalogue_stats *catalogue_stats(const struct catalogue *cat);

/* -- this node's facts ---------------------------------------------- */

/*
 * This node holds version `digest` of name[0..len) (size, origin, stamp).
 * Returns 1 when that is news (a new seq), 0 when it was already known
 * (nothing changes), -1 with errno ENOSPC (the table is full) or EINVAL.
 */
int catalogue_announce_locked(struct catalogue *cat, const char *name,
    size_t len, const struct digest *digest, uint64_t size,
    const char *origin, uint64_t hlc);

/* The same for a striped object that this node took: the version is
 * marked striped (everywhere, with its facts), so that nobody copies it
 * and this node's holding is not taken back for want of a file. */
int catalogue_announce_striped_locked(struct catalogue *cat,
    const char *name, size_t len, const struct digest *digest, uint64_t size,
    const char *origin, uint64_t hlc);

/* This node no longer holds that version (a tombstone). Returns 1, or 0
 * when it did not hold it. */
int catalogue_withdraw_locked(struct catalogue *cat, const char *name,
    size_t len, const struct digest *digest);

/* This node's incarnation and last seq (what its member facts announce). */
void catalogue_self_seq_locked(const struct catalogue *cat, uint64_t *inc,
    uint64_t *seq);

/* -- anti-entropy ----------------------------------------------------- */

/* What this table holds of owner `owner`: the incarnation and seq of its
 * facts (both 0 when it holds none). */
void catalogue_owner_locked(const struct catalogue *cat, const char *owner,
    uint64_t *inc, uint64_t *seq);

/*
 * A chunk for a want: this table's facts of w->cw_owner after
 * w->cw_after, in seq order, at most max facts and about `budget` bytes
 * of their wire form (CATALOGUE_FACT_WIRE_BYTES + the name's length each).
 * A full resync (from 0) when the want is behind this table's floor for
 * the owner or of an older incarnation. Returns how many facts (0 with
 * *ch->cc_to == w->cw_after: nothing to give), or -1 when this table
 * cannot serve the want (it knows nothing newer of that owner).
 */
int catalogue_delta_locked(const struct catalogue *cat,
    const struct cat_want *w, struct cat_chunk *ch, struct cat_fact_msg *out,
    size_t max, size_t budget);

#define CATALOGUE_FACT_WIRE_BYTES 96

/*
 * Merges a chunk (facts f[0..n) of ch's owner, as catalogue_delta_locked
 * made them). A chunk of an older incarnation, or that does not start at
 * or before what this table holds of the owner, is ignored; one of a
 * newer incarnation replaces the owner's facts. Facts of this node itself
 * are never taken from others. `on_conflict`, when not NULL, is called
 * for every name that gains a second live version (the lock is held: no
 * blocking). Returns how many facts changed the table.
 */
typedef void catalogue_conflict_fn(void *arg, const char *name, size_t len,
    const struct digest *winner, const struct digest *loser);
size_t catalogue_apply_locked(struct catalogue *cat,
    const struct cat_chunk *ch, const struct cat_fact_msg *f, size_t n,
    catalogue_conflict_fn *on_conflict, void *arg);

/* Drops every fact of `owner` (a member forgotten). Returns how many. */
size_t catalogue_forget_owner_locked(struct catalogue *cat,
    const char *owner);

/* Forgets every owner but this node that known(arg, name) says is no
 * longer a member (called after the member table changes). Returns how
 * many facts went. */
size_t catalogue_prune_owners_locked(struct catalogue *cat,
    bool (*known)(void *arg, const char *owner), void *arg);

/*
 * The wants of this round: for each owner o[i] with announced (inc[i],
 * seq[i]) (from the member table) that this table is behind of, a want,
 * up to max, starting at a rotating point so that many owners behind are
 * all served in turn. Returns how many.
 */
size_t catalogue_wants_locked(struct catalogue *cat,
    const char *const *owners, const uint64_t *inc, const uint64_t *seq,
    size_t n, struct cat_want *out, size_t max);

/* -- reading ---------------------------------------------------------- */

/*
 * The versions of name[0..len), winner first, then in the rule's order,
 * into out[0..max). Holders are listed in vv_holders up to
 * CATALOGUE_HOLDERS_VIEW. Returns how many live versions the name has.
 */
size_t catalogue_versions_locked(const struct catalogue *cat,
    const char *name, size_t len, struct cat_version_view *out, size_t max);

/*
 * Visits up to `budget` versions from *cursor on (0 starts; it wraps to
 * 0 at the end), calling fn with each live version. Returns how many it
 * visited. The agent's replication walks the table this way, a slice per
 * tick, and so do the listings (cluster/catalogue_list.h).
 */
typedef void catalogue_visit_fn(void *arg, const struct cat_version_view *v);
size_t catalogue_walk_locked(const struct catalogue *cat, uint32_t *cursor,
    size_t budget, catalogue_visit_fn *fn, void *arg);

/* The rule: <0 when version a wins over b (smaller stamp, then origin
 * name, then digest), >0 when b wins, 0 when they are one version. */
int catalogue_rule(uint64_t hlc_a, const char *origin_a,
    const struct digest *da, uint64_t hlc_b, const char *origin_b,
    const struct digest *db);

#endif
