/*
 * members.h - who is in the cluster: the member table and the rules of
 * gossip that keep it (membership, failure detection, anti-entropy). No
 * sockets, no JSON, no clock: every call takes the time and the
 * randomness it needs as arguments, so that the daemon (over HTTP, in
 * shared memory) and the simulator of t/ (a thousand tables in one
 * process, on a virtual clock) run the very same code.
 *
 * Facts and opinions. Each node is the only writer of its own facts (its
 * name, address, incarnation, heartbeat, `store` flag, capacity and use,
 * and whether it left), versioned by (incarnation, version): incarnation
 * is the wall-clock millisecond the node started at (or one more than the
 * last it knew of itself), version a counter of its own. Facts travel
 * whole and the newer pair wins, so the table converges whatever the
 * order of messages (Scuttlebutt: a node's facts are one key it owns).
 *
 * Beside the facts, every node holds an opinion of every member: alive,
 * suspect, dead or left, about one incarnation. Anyone may raise an
 * opinion; the stronger wins: a higher incarnation first, then left >
 * dead > suspect > alive. So "suspect at 7" overrides "alive at 7", and
 * only the member itself can end it, by taking incarnation 8 (it refutes;
 * SWIM). A member whose facts have not moved for suspect_after is
 * suspected; one suspected for dead_after is dead. A node that stops says
 * it left, so nobody waits out those timeouts for it.
 *
 * An exchange. The node that starts it sends a digest, its own facts, and
 * the news it heard lately ("hot": pushed to a few rounds' worth of
 * targets). The other side merges all that, then answers with what it
 * knows that the digest lacks: facts of a newer version, stronger
 * opinions, members the sender has not heard of.
 *
 * A digest covers a slice of the table, not all of it, so that a round
 * costs the same at 1,000 members as at 100: members are ordered by a
 * 32-bit key (a hash of the name), and a digest holds every member whose
 * key is in a range [lo, hi], about MEMBERS_DIGEST_LINES of them (for
 * each: incarnation, version, opinion). The next digest starts where this
 * one ended, so a node's digests sweep the whole table every
 * members / MEMBERS_DIGEST_LINES rounds. The answer speaks of that range
 * only, where it can tell what the sender lacks, and is bounded by the
 * caller's budget.
 *
 * Forgetting. Dead and left members stay (and are gossiped to, now and
 * then, so that the two sides of a healed split find each other again)
 * until forget_after; only then does their slot go. An unknown member
 * reported dead or left is not taken in: a forgotten member cannot come
 * back as a ghost.
 *
 * Events. The table also keeps the last MEMBERS_EVENTS changes of its
 * opinions (a member heard of, suspected, dead, left, alive again), for
 * operators: /_/cluster and /_/status show them.
 *
 * Concurrency: the table lives in memory the caller provides (shared
 * memory in the daemon: workers merge exchanges they receive, the agent
 * runs the rounds) and every *_locked call wants members_lock() held.
 */
#ifndef SHOAL_CLUSTER_MEMBERS_H
#define SHOAL_CLUSTER_MEMBERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

#define MEMBER_NAME_MAX 128		/* a node's name, NUL included */
#define MEMBER_ADDR_MAX 264		/* "host:port", NUL included */
#define MEMBERS_MIN 16			/* the smallest table */
#define MEMBERS_MAX 65536		/* the largest table */
#define MEMBERS_DIGEST_LINES 128	/* a digest's slice of the table */
#define MEMBERS_EVENTS 16		/* changes of opinion remembered */

enum member_state {
	MEMBER_ALIVE,
	MEMBER_SUSPECT,
	MEMBER_DEAD,
	MEMBER_LEFT,
	MEMBER_STATES
};

/* What a node says of itself. */
struct member_facts {
	char mf_name[MEMBER_NAME_MAX];
	char mf_addr[MEMBER_ADDR_MAX];
	uint64_t mf_incarnation;
	uint64_t mf_version;
	uint64_t mf_heartbeat;
	uint64_t mf_capacity;		/* bytes offered for parts */
	uint64_t mf_used;		/* of them in use */
	uint64_t mf_cat_inc;		/* its catalogue's incarnation, and */
	uint64_t mf_cat_seq;		/* its last seq (cluster/catalogue.h) */
	bool mf_store;
	bool mf_left;			/* it said it leaves */
};

/* What a message carries about one member: its facts, and the sender's
 * opinion of it. */
struct member_news {
	struct member_facts mn_facts;
	uint8_t mn_state;		/* enum member_state */
	uint64_t mn_state_inc;		/* the incarnation it is about */
};

/* The slice of the member keys a digest covers, bounds included. */
struct member_range {
	uint32_t mr_lo;
	uint32_t mr_hi;
};

/* One line of a digest. */
struct member_digest {
	char md_name[MEMBER_NAME_MAX];
	uint64_t md_incarnation;
	uint64_t md_version;
	uint8_t md_state;
	uint64_t md_state_inc;
};

/* The rules' numbers. Zero timeouts are "auto" (members_timeouts()). */
struct members_params {
	int64_t mp_interval_ms;		/* between rounds */
	int64_t mp_suspect_ms;		/* 0: auto */
	int64_t mp_dead_ms;		/* 0: auto */
	int64_t mp_forget_ms;		/* dead or left members kept this long */
	int64_t mp_max_skew_ms;		/* incarnations ahead of the clock */
};

/* Counters since the table was made (all the table's writers add). */
struct members_stats {
	uint64_t ms_joined;		/* members heard of for the first time */
	uint64_t ms_suspected;		/* suspicions this node raised */
	uint64_t ms_declared_dead;	/* deaths this node declared */
	uint64_t ms_refuted;		/* suspicions of this node it refuted */
	uint64_t ms_forgotten;
	uint64_t ms_refused_invalid;	/* news with bad names or values */
	uint64_t ms_refused_future;	/* incarnations ahead of the clock */
	uint64_t ms_refused_full;	/* no room for a new member */
};

/* A change of this node's opinion of a member: a member heard of for the
 * first time (me_from MEMBER_STATES), or a state left for another. */
struct member_event {
	char me_name[MEMBER_NAME_MAX];
	uint8_t me_from;		/* enum member_state; MEMBER_STATES: new */
	uint8_t me_to;			/* enum member_state */
	uint64_t me_incarnation;	/* the one the opinion is about */
	int64_t me_ms;			/* when (monotonic) */
};

/* A member as the table holds it. */
struct member {
	struct member_facts m_facts;
	uint8_t m_in_use;
	uint8_t m_state;		/* this node's opinion */
	uint64_t m_state_inc;
	int64_t m_heard_ms;		/* when its facts last moved (monotonic) */
	int64_t m_state_ms;		/* when the opinion last changed */
	uint32_t m_hot;			/* pushes left for its latest news */
	uint32_t m_key;			/* member_key() of its name */
	int64_t m_skew_warned_ms;	/* its clock last said to be off (the
					   caller's business: not gossiped) */
};

struct members {
	pthread_mutex_t mt_mutex;
	uint32_t mt_capacity;
	uint32_t mt_count;		/* slots in use, this node included */
	uint32_t mt_self;		/* this node's slot */
	uint32_t mt_index_mask;		/* the name index: mask + 1 entries */
	uint64_t mt_version;		/* moves when the set, an address or an
					   opinion changes (not a heartbeat) */
	int64_t mt_last_beat_ms;	/* this node's last heartbeat */
	uint32_t mt_push_cursor;	/* where the next push looks first */
	uint32_t mt_digest_cursor;	/* the key the next digest starts at */
	struct members_params mt_params;
	struct members_stats mt_stats;
	struct member_event mt_events[MEMBERS_EVENTS];	/* a ring */
	uint64_t mt_nevents;		/* recorded since the start */
	/* then: struct member[capacity], uint32_t index[mask + 1] */
};

/* Bytes of a table of `capacity` members (MEMBERS_MIN..MEMBERS_MAX). */
size_t members_size(unsigned capacity);

/*
 * Makes a table in mem (members_size(capacity) zeroed bytes, shared or
 * not) holding this node, alive, with `self`'s facts (its incarnation
 * already chosen: members_incarnation()). Returns 0, or an errno value.
 */
int members_init(struct members *mt, unsigned capacity,
    const struct member_facts *self, const struct members_params *p,
    int64_t now_ms);

/* The incarnation a starting node takes: its wall clock in ms, or one more
 * than the last it used (`last`, kept in the state directory) when the
 * clock is behind that. */
uint64_t members_incarnation(uint64_t last, int64_t wall_ms);

/* Locks the table; a holder that died halfway leaves it repaired. */
int members_lock(struct members *mt);
void members_unlock(struct members *mt);

/* The members' slots: members_at(mt, i) for i < mt_capacity; a slot is a
 * member when m_in_use. */
struct member *members_at(struct members *mt, uint32_t i);
struct member *members_self(struct members *mt);
struct member *members_find_locked(struct members *mt, const char *name);

/* suspect_after and dead_after for the table's size now: the parameters
 * when set, else 4 * max(1, log10 n) * 5 rounds (memberlist's scaling,
 * with a probe every 5 rounds) and the same again. */
void members_timeouts(const struct members *mt, int64_t *suspect_ms,
    int64_t *dead_ms);

/* How many members are in each state (this node counts as alive). */
void members_count_locked(const struct members *mt,
    uint32_t counts[MEMBER_STATES]);

/* The last changes of opinion, newest first, into out[0..max). Returns
 * how many (at most MEMBERS_EVENTS). */
size_t members_events_locked(const struct members *mt,
    struct member_event *out, size_t max);

/*
 * Time passes: this node's heartbeat when due, suspicions and deaths of
 * the members that went quiet, forgetting. Call it every round.
 */
void members_tick_locked(struct members *mt, int64_t now_ms);

/* Merges what a message says of one member. Returns true when the table
 * changed. `wall_ms` bounds incarnations (mp_max_skew_ms). */
bool members_merge_locked(struct members *mt, const struct member_news *n,
    int64_t now_ms, int64_t wall_ms);

/* Merges the opinions of a digest (the facts come by news); a digest that
 * doubts this node makes it refute at once. */
void members_merge_digest_locked(struct members *mt,
    const struct member_digest *d, size_t n, int64_t now_ms, int64_t wall_ms);

/* A member's key: where it falls in the digests' order. */
uint32_t member_key(const char *name);

/*
 * The next digest: about MEMBERS_DIGEST_LINES members from the cursor on,
 * in key order (a group of members sharing a key is never cut), into
 * out[0..max) (room for every member is always enough); *range says which
 * keys it covers. Returns how many lines.
 */
size_t members_digest_locked(struct members *mt, struct member_digest *out,
    size_t max, struct member_range *range);

/*
 * What to send with a digest: this node's own news first, then the hot
 * news (each send uses up one of its pushes), up to max. Returns how many.
 */
size_t members_push_locked(struct members *mt, struct member_news *out,
    size_t max);

/*
 * The answer to a digest d[0..nd) of range r: news of the members in r
 * that the digest lacks, up to max, the
 * digest's sender's unknown members and newer facts first. Starts at a
 * random member so that a cut-off answer is not always the same one.
 */
size_t members_answer_locked(const struct members *mt,
    const struct member_digest *d, size_t nd, const struct member_range *r,
    struct member_news *out, size_t max, struct rng *rng);

/*
 * This round's targets: up to `fanout` distinct members alive or suspect
 * (this node never), and, with probability dead / (live + 1), one dead
 * member more (so that a healed split finds itself again). Writes slots
 * to out[]; returns how many.
 */
size_t members_targets_locked(const struct members *mt, int fanout,
    struct rng *rng, uint32_t *out, size_t max);

/* Whether this round should also go to a seed: always while this node
 * knows no other live member, else with probability 1 / (live + 1). */
bool members_want_seed_locked(const struct members *mt, struct rng *rng);

/* This node leaves: its facts say so from now on. */
void members_leave_locked(struct members *mt);

/* This node's facts were changed in place (a reload: its address, store
 * flag, capacity): a new version, pushed as news. */
void members_self_changed_locked(struct members *mt);

/* This node's store use changed. */
void members_set_use_locked(struct members *mt, uint64_t capacity,
    uint64_t used);

/*
 * This node's catalogue is at (inc, seq) (catalogue_self_seq_locked):
 * when that changes, a new version of its facts, pushed as news, so that
 * the others learn they are behind and ask for the facts. The agent calls
 * it once a round. The catalogue's incarnation is the member incarnation
 * the node started with; it stays when a refutation raises the latter.
 */
void members_set_cat_seq_locked(struct members *mt, uint64_t inc,
    uint64_t seq);

/* The news this table holds about member m (its facts and our opinion). */
void members_news_of(const struct member *m, struct member_news *out);

const char *member_state_name(enum member_state s);

/* Valid as a member's name or address: 1 to max - 1 printable ASCII
 * bytes, no space, quote, backslash or control byte. */
bool member_name_valid(const char *s, size_t max);

#endif
