/*
 * index.c - the shared index (see index.h): a hash table of fixed size in
 * a file mapped MAP_SHARED by the master and, through fork, every worker.
 *
 * Layout of the file
 *   header (one page)  magic, layout version, the sizes of every structure,
 *                      the geometry, a checksum of all that, then the
 *                      shared counters;
 *   stripes            nstripes (a power of two, at most 256) records: a
 *                      robust process-shared mutex, entry counts by kind,
 *                      and an undo record;
 *   buckets            nstripes * bps buckets. A bucket is a 64-byte head
 *                      (a 32-bit tag and a state byte per way) and
 *                      INDEX_WAYS slots (the full name and the fields).
 *   The buckets of stripe s are [s * bps, (s + 1) * bps). A name's 64-bit
 *   hash picks the stripe (low bits), the tag (high 32 bits) and two
 *   buckets of that stripe (two mixes of the hash); the name lives in one
 *   of them. Probing never leaves those two buckets, so one stripe lock
 *   guards every probe, and a removal just empties its slot: there are no
 *   probe chains to break and no tombstones. When both buckets of a new
 *   name are full, entries are moved to their other bucket (a short
 *   cuckoo search, inside the same stripe) to free a slot; so tables fill
 *   to about 95% before the first refusal. Small tables get fewer stripes
 *   (INDEX_STRIPE_BUCKETS buckets each at least), so that the load of a
 *   stripe stays close to the table's.
 *
 * Processes and threads
 *   Any thread of any process holding a handle (the handle itself is only
 *   read after index_open()). index_open() runs alone: it holds an
 *   exclusive flock on the file for as long as the descriptor is open
 *   anywhere, so no other shoald can map it meanwhile.
 *
 * Locks (who guards what)
 *   st_mutex of stripe s guards the stripe's buckets (tags, states, slots),
 *   its counts and its undo record. Exception: a slot's s_seq word, which
 *   only the lock holder advances (CAS) but waiters, without the lock, may
 *   mark with INDEX_SEQ_WAITERS (CAS); it is never written plainly and is
 *   left out of every copy of a slot. st_count is written under the lock
 *   with atomic stores, and read without it (index_stats()).
 *   The header's counters are atomic and need no lock. The geometry in the
 *   header is written once, before any other process exists.
 *   Nobody ever holds two stripe locks, nor a lock across calls, nor while
 *   sleeping; under a lock the only system call is kill(pid, 0).
 *
 * Crash safety
 *   Every change of an entry goes through index_change_begin_locked(),
 *   which saves the slot, its tag and its state into the stripe's undo
 *   record and then marks the record active, and index_change_end_locked(),
 *   which writes the state byte last and clears the mark. A process killed
 *   inside leaves the mutex "owner dead": the next locker gets EOWNERDEAD,
 *   rolls the slot back from the undo record, checks every entry of the
 *   stripe (valid state, name length, tag and place agree with the name's
 *   hash, no duplicate), recounts, and marks the mutex consistent. So an
 *   entry is seen either as before or as after a change, never half. At
 *   index_open() the same repair runs on every stripe, and the mutexes are
 *   initialised again. Moving an entry is two changes (copy, then empty
 *   the source): a death between them leaves two identical entries, and
 *   the repair's duplicate check keeps the first.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "store/index.h"

/* Tests may define their own hash (to force collisions) before including
 * this file. */
#ifndef INDEX_HASH
#define INDEX_HASH(p, n) XXH3_64bits((p), (n))
#endif

#define INDEX_MAGIC "shoalidx"
#define INDEX_VERSION 1
#define INDEX_PAGE 4096
#define INDEX_STRIPES_MAX 256
#define INDEX_STRIPE_BUCKETS 256	/* fewer stripes in small tables */
#define INDEX_CUCKOO_NODES 18		/* buckets searched to make room */
#define INDEX_SEQ_WAITERS 0x80000000u
#define INDEX_SLOT_PUBLISHING 0x01

/* The state byte of a slot; the values are those of enum index_kind. */
enum {
	INDEX_EMPTY = INDEX_NONE,
	INDEX_STATES = INDEX_FETCH + 1,
};

struct index_slot {
	uint32_t s_seq;			/* first: never copied (above) */
	int32_t s_pid;			/* FETCH: the owner */
	int64_t s_expiry_ms;		/* COPY, NEGATIVE, publishing */
	uint64_t s_dev;			/* COPY, FETCH publishing */
	uint64_t s_ino;
	uint64_t s_size;
	uint64_t s_fetch_id;		/* FETCH */
	uint64_t s_written;
	uint64_t s_total;
	int64_t s_updated_ms;		/* recorded; FETCH: progress */
	uint8_t s_flags;		/* INDEX_SLOT_PUBLISHING */
	uint8_t s_name_len;
	char s_name[INDEX_NAME_MAX];	/* not NUL-terminated */
	char s_tmp[INDEX_TMP_NAME_MAX];	/* NUL-terminated */
};

/* Copies and clears of a slot start here, past s_seq. */
#define INDEX_SLOT_BODY offsetof(struct index_slot, s_pid)

struct index_bucket {
	uint32_t b_tag[INDEX_WAYS];	/* high 32 bits of the name's hash */
	uint8_t b_state[INDEX_WAYS];	/* INDEX_EMPTY, INDEX_COPY, ... */
	uint8_t b_pad[64 - 5 * INDEX_WAYS];
	struct index_slot b_slot[INDEX_WAYS];
};

struct index_undo {
	uint32_t u_active;		/* the slot below is being changed */
	uint32_t u_way;
	uint64_t u_bucket;
	uint32_t u_tag;
	uint8_t u_state;
	struct index_slot u_slot;	/* its body as it was */
};

struct index_stripe {
	_Alignas(64) pthread_mutex_t st_mutex;
	uint64_t st_count[INDEX_STATES];	/* entries by kind */
	struct index_undo st_undo;
};

struct index_header {
	char h_magic[8];
	uint32_t h_version;
	uint32_t h_header_size;
	uint32_t h_slot_size;
	uint32_t h_bucket_size;
	uint32_t h_stripe_size;
	uint32_t h_mutex_size;
	uint32_t h_ways;
	uint32_t h_nstripes;
	uint64_t h_bps;			/* buckets per stripe */
	uint64_t h_capacity;
	uint64_t h_stripes_off;
	uint64_t h_buckets_off;
	uint64_t h_file_size;
	uint64_t h_check;		/* XXH3 of everything above */
	/* Shared counters: atomic, outside the checksum. */
	uint64_t h_next_fetch_id;
	uint64_t h_expirations;
	uint64_t h_evictions;
	uint64_t h_full;
	uint64_t h_collapsed;
	uint64_t h_negative_hits;
	uint64_t h_takeovers;
	uint64_t h_lock_repairs;
};

struct index_geometry {
	uint32_t g_nstripes;
	uint64_t g_bps;
	uint64_t g_capacity;
	uint64_t g_stripes_off;
	uint64_t g_buckets_off;
	uint64_t g_file_size;
};

struct index {
	int ix_fd;
	char *ix_map;
	struct index_geometry ix_geo;
	struct index_header *ix_hdr;
	struct index_stripe *ix_stripes;
	struct index_bucket *ix_buckets;
};

/* Where a name may live. */
struct index_pos {
	uint32_t p_stripe;
	uint32_t p_tag;
	uint64_t p_bucket[2];	/* equal when the stripe has one bucket */
};

_Static_assert(sizeof(struct index_header) <= INDEX_PAGE, "header page");
_Static_assert(offsetof(struct index_bucket, b_slot) == 64, "bucket head");
_Static_assert(INDEX_TMP_NAME_MAX == 64, "temporary name size");

/* ------------------------------------------------------------------ */
/* Geometry and hashing                                               */

static uint64_t
index_round_up(uint64_t n, uint64_t to)
{
	return (n + to - 1) / to * to;
}

static int
index_geometry(uint64_t capacity, struct index_geometry *g)
{
	uint64_t nb;

	if (capacity < INDEX_CAPACITY_MIN || capacity > INDEX_CAPACITY_MAX) {
		errno = EINVAL;
		return -1;
	}
	nb = (capacity + INDEX_WAYS - 1) / INDEX_WAYS;
	/* A name's two buckets are in one stripe, so a stripe must be large
	 * for its load to be even: INDEX_STRIPE_BUCKETS buckets at least. */
	g->g_nstripes = 1;
	while (g->g_nstripes < INDEX_STRIPES_MAX &&
	    g->g_nstripes * 2 * INDEX_STRIPE_BUCKETS <= nb)
		g->g_nstripes *= 2;
	g->g_bps = (nb + g->g_nstripes - 1) / g->g_nstripes;
	g->g_capacity = g->g_nstripes * g->g_bps * INDEX_WAYS;
	g->g_stripes_off = INDEX_PAGE;
	g->g_buckets_off = index_round_up(g->g_stripes_off +
	    g->g_nstripes * sizeof(struct index_stripe), INDEX_PAGE);
	g->g_file_size = index_round_up(g->g_buckets_off +
	    g->g_nstripes * g->g_bps * sizeof(struct index_bucket), INDEX_PAGE);
	return 0;
}

/* Lemire's multiply-shift: x scaled into [0, n). */
static uint64_t
index_scale(uint32_t x, uint64_t n)
{
	return ((uint64_t)x * n) >> 32;
}

static void
index_locate(const struct index_geometry *g, const char *name, size_t len,
    struct index_pos *p)
{
	uint64_t h = INDEX_HASH(name, len);
	uint64_t m1 = h * UINT64_C(0x9e3779b97f4a7c15);
	uint64_t m2 = (h ^ (h >> 29)) * UINT64_C(0xbf58476d1ce4e5b9);
	uint64_t first = (uint64_t)(h & (g->g_nstripes - 1)) * g->g_bps;

	p->p_stripe = (uint32_t)(h & (g->g_nstripes - 1));
	p->p_tag = (uint32_t)(h >> 32);
	p->p_bucket[0] = first + index_scale((uint32_t)(m1 >> 32), g->g_bps);
	p->p_bucket[1] = first + index_scale((uint32_t)(m2 >> 32), g->g_bps);
}

/* Starts the loads a probe of p will need (the stripe's lock, both bucket
 * heads) so that their cache misses overlap instead of following one
 * another. A hint only. */
static void
index_prefetch(const struct index *ix, const struct index_pos *p)
{
	__builtin_prefetch(&ix->ix_stripes[p->p_stripe].st_mutex, 1);
	__builtin_prefetch(&ix->ix_buckets[p->p_bucket[0]], 0);
	__builtin_prefetch(&ix->ix_buckets[p->p_bucket[1]], 0);
}

static bool
index_name_ok(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > INDEX_NAME_MAX) {
		errno = EINVAL;
		return false;
	}
	return true;
}

static bool
index_pid_gone(pid_t pid)
{
	int saved = errno;
	bool gone;

	/* EPERM: it exists but is not ours to signal. */
	gone = pid <= 0 || (kill(pid, 0) == -1 && errno == ESRCH);
	errno = saved;
	return gone;
}

static bool
index_expired_at(int64_t expiry_ms, int64_t now_ms)
{
	return expiry_ms != 0 && now_ms >= expiry_ms;
}

/* ------------------------------------------------------------------ */
/* Sequence words: a change counter per slot that waiters can sleep on */

static uint32_t *
index_seq_at(const struct index *ix, uint64_t where)
{
	if (where >= ix->ix_geo.g_capacity)
		return NULL;
	return &ix->ix_buckets[where / INDEX_WAYS].b_slot[where %
	    INDEX_WAYS].s_seq;
}

/* Advances a slot's sequence; wakes its sleepers if any marked it. */
static void
index_seq_bump(uint32_t *seq)
{
	uint32_t old = __atomic_load_n(seq, __ATOMIC_RELAXED), next;

	do
		next = ((old & ~INDEX_SEQ_WAITERS) + 1) & ~INDEX_SEQ_WAITERS;
	while (!__atomic_compare_exchange_n(seq, &old, next, false,
	    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (old & INDEX_SEQ_WAITERS)
		syscall(SYS_futex, seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Locks and repair                                                   */

static void index_repair_locked(struct index *ix, uint32_t s, bool at_open,
    int64_t now_ms, uint64_t *dropped);
static void index_remove_locked(struct index *ix, struct index_stripe *st,
    uint64_t b, unsigned w);

static int
index_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;
	int rc;

	if ((rc = pthread_mutexattr_init(&attr)) != 0)
		return rc;
	rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (rc == 0)
		rc = pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc;
}

/* Takes stripe s's lock, repairing the stripe when its last owner died
 * holding it. Returns 0, or -1 with errno. */
static int
index_lock(struct index *ix, uint32_t s)
{
	struct index_stripe *st = &ix->ix_stripes[s];
	int rc = pthread_mutex_lock(&st->st_mutex);

	if (rc == EOWNERDEAD) {
		index_repair_locked(ix, s, false, 0, NULL);
		rc = pthread_mutex_consistent(&st->st_mutex);
		__atomic_add_fetch(&ix->ix_hdr->h_lock_repairs, 1,
		    __ATOMIC_RELAXED);
	}
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

static void
index_unlock(struct index *ix, uint32_t s)
{
	pthread_mutex_unlock(&ix->ix_stripes[s].st_mutex);
}

static struct index_slot *
index_slot(const struct index *ix, uint64_t b, unsigned w)
{
	return &ix->ix_buckets[b].b_slot[w];
}

/* Starts changing slot (b, w), which stripe st guards: saves it so that a
 * death before index_change_end_locked() rolls it back. */
static struct index_slot *
index_change_begin_locked(struct index *ix, struct index_stripe *st,
    uint64_t b, unsigned w)
{
	struct index_bucket *bk = &ix->ix_buckets[b];
	struct index_undo *u = &st->st_undo;

	u->u_bucket = b;
	u->u_way = w;
	u->u_tag = bk->b_tag[w];
	u->u_state = bk->b_state[w];
	memcpy((char *)&u->u_slot + INDEX_SLOT_BODY,
	    (char *)&bk->b_slot[w] + INDEX_SLOT_BODY,
	    sizeof(struct index_slot) - INDEX_SLOT_BODY);
	__atomic_store_n(&u->u_active, 1, __ATOMIC_RELEASE);
	/* No store to the slot may pass the mark. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return &bk->b_slot[w];
}

static void
index_count_locked(struct index_stripe *st, uint8_t from, uint8_t to)
{
	if (from == to)
		return;
	if (from != INDEX_EMPTY && from < INDEX_STATES)
		__atomic_store_n(&st->st_count[from], st->st_count[from] - 1,
		    __ATOMIC_RELAXED);
	if (to != INDEX_EMPTY)
		__atomic_store_n(&st->st_count[to], st->st_count[to] + 1,
		    __ATOMIC_RELAXED);
}

/* Ends the change begun on (b, w): the entry becomes `state` (the state
 * byte is written last), counts follow, waiters are woken. */
static void
index_change_end_locked(struct index *ix, struct index_stripe *st,
    uint64_t b, unsigned w, uint8_t state, uint32_t tag)
{
	struct index_bucket *bk = &ix->ix_buckets[b];

	bk->b_tag[w] = tag;
	__atomic_store_n(&bk->b_state[w], state, __ATOMIC_RELEASE);
	index_count_locked(st, st->st_undo.u_state, state);
	index_seq_bump(&bk->b_slot[w].s_seq);
	__atomic_store_n(&st->st_undo.u_active, 0, __ATOMIC_RELEASE);
}

/* Clears every field but the sequence word (and, if keep_name, the name). */
static void
index_slot_reset(struct index_slot *sl, bool keep_name)
{
	uint8_t len = sl->s_name_len;
	char name[INDEX_NAME_MAX];

	if (keep_name)
		memcpy(name, sl->s_name, len);
	memset((char *)sl + INDEX_SLOT_BODY, 0,
	    sizeof(*sl) - INDEX_SLOT_BODY);
	if (keep_name) {
		sl->s_name_len = len;
		memcpy(sl->s_name, name, len);
	}
}

/* Empties slot (b, w) outside the change protocol: only for repair,
 * which is itself redone if it dies halfway. */
static void
index_drop_raw_locked(struct index *ix, uint64_t b, unsigned w)
{
	struct index_bucket *bk = &ix->ix_buckets[b];

	__atomic_store_n(&bk->b_state[w], INDEX_EMPTY, __ATOMIC_RELEASE);
	bk->b_tag[w] = 0;
	index_slot_reset(&bk->b_slot[w], false);
	index_seq_bump(&bk->b_slot[w].s_seq);
}

/* Is slot (b, w) of stripe s a well-formed entry in its rightful place? */
static bool
index_slot_valid(const struct index *ix, uint32_t s, uint64_t b, unsigned w)
{
	const struct index_bucket *bk = &ix->ix_buckets[b];
	const struct index_slot *sl = &bk->b_slot[w];
	struct index_pos p;

	if (bk->b_state[w] >= INDEX_STATES || sl->s_name_len == 0)
		return false;
	index_locate(&ix->ix_geo, sl->s_name, sl->s_name_len, &p);
	return p.p_stripe == s && p.p_tag == bk->b_tag[w] &&
	    (p.p_bucket[0] == b || p.p_bucket[1] == b) &&
	    memchr(sl->s_tmp, '\0', sizeof(sl->s_tmp)) != NULL;
}

/* Does an earlier slot of the name's buckets hold the same name? */
static bool
index_slot_duplicate(const struct index *ix, uint64_t b, unsigned w)
{
	const struct index_slot *sl = index_slot(ix, b, w);
	struct index_pos p;
	int k;

	index_locate(&ix->ix_geo, sl->s_name, sl->s_name_len, &p);
	for (k = 0; k < 2; k++) {
		const struct index_bucket *ob = &ix->ix_buckets[p.p_bucket[k]];
		unsigned ow;

		if (k == 1 && p.p_bucket[1] == p.p_bucket[0])
			break;
		for (ow = 0; ow < INDEX_WAYS; ow++) {
			const struct index_slot *o = &ob->b_slot[ow];

			if (p.p_bucket[k] == b && ow == w)
				return false;	/* reached itself first */
			if (ob->b_state[ow] != INDEX_EMPTY &&
			    ob->b_tag[ow] == p.p_tag &&
			    o->s_name_len == sl->s_name_len &&
			    memcmp(o->s_name, sl->s_name, sl->s_name_len) == 0)
				return true;
		}
	}
	return false;
}

/* A fetch that will not finish: a publishing one becomes the COPY it
 * announced, any other goes. Returns the new state. */
static uint8_t
index_orphan_locked(struct index *ix, struct index_stripe *st, uint64_t b,
    unsigned w)
{
	struct index_slot *sl = index_change_begin_locked(ix, st, b, w);
	uint32_t tag = ix->ix_buckets[b].b_tag[w];
	uint8_t state;

	if (sl->s_flags & INDEX_SLOT_PUBLISHING) {
		int64_t expiry = sl->s_expiry_ms;
		uint64_t dev = sl->s_dev, ino = sl->s_ino, size = sl->s_size;

		index_slot_reset(sl, true);
		sl->s_expiry_ms = expiry;
		sl->s_dev = dev;
		sl->s_ino = ino;
		sl->s_size = size;
		state = INDEX_COPY;
	} else {
		index_slot_reset(sl, false);
		state = INDEX_EMPTY;
		tag = 0;
	}
	index_change_end_locked(ix, st, b, w, state, tag);
	return state;
}

/*
 * Repairs stripe s under its lock: rolls back a change its last owner died
 * in, drops entries that are not well formed, recounts. At open (no other
 * process runs), also drops lapsed negative entries and ends the fetches
 * of the previous run.
 */
static void
index_repair_locked(struct index *ix, uint32_t s, bool at_open,
    int64_t now_ms, uint64_t *dropped)
{
	struct index_stripe *st = &ix->ix_stripes[s];
	struct index_undo *u = &st->st_undo;
	uint64_t first = (uint64_t)s * ix->ix_geo.g_bps, b;
	uint64_t count[INDEX_STATES] = { 0 };
	unsigned w;

	if (__atomic_load_n(&u->u_active, __ATOMIC_ACQUIRE)) {
		if (u->u_bucket >= first && u->u_bucket < first +
		    ix->ix_geo.g_bps && u->u_way < INDEX_WAYS) {
			struct index_bucket *bk = &ix->ix_buckets[u->u_bucket];

			memcpy((char *)&bk->b_slot[u->u_way] + INDEX_SLOT_BODY,
			    (char *)&u->u_slot + INDEX_SLOT_BODY,
			    sizeof(struct index_slot) - INDEX_SLOT_BODY);
			bk->b_tag[u->u_way] = u->u_tag;
			__atomic_store_n(&bk->b_state[u->u_way], u->u_state,
			    __ATOMIC_RELEASE);
			index_seq_bump(&bk->b_slot[u->u_way].s_seq);
		}
		__atomic_store_n(&u->u_active, 0, __ATOMIC_RELEASE);
	}
	for (b = first; b < first + ix->ix_geo.g_bps; b++) {
		struct index_bucket *bk = &ix->ix_buckets[b];

		for (w = 0; w < INDEX_WAYS; w++) {
			uint8_t state = bk->b_state[w];
			struct index_slot *sl = &bk->b_slot[w];

			if (state == INDEX_EMPTY)
				continue;
			if (!index_slot_valid(ix, s, b, w) ||
			    index_slot_duplicate(ix, b, w)) {
				index_drop_raw_locked(ix, b, w);
				state = INDEX_EMPTY;
			} else if (at_open && state == INDEX_NEGATIVE &&
			    now_ms >= sl->s_expiry_ms) {
				index_drop_raw_locked(ix, b, w);
				state = INDEX_EMPTY;
			} else if (at_open && state == INDEX_FETCH) {
				/* Counts are redone below. */
				state = index_orphan_locked(ix, st, b, w);
				if (state == INDEX_COPY)
					goto counted;
			} else {
				goto counted;
			}
			if (dropped != NULL)
				(*dropped)++;
			continue;
counted:
			count[state]++;
		}
	}
	for (w = 0; w < INDEX_STATES; w++)
		__atomic_store_n(&st->st_count[w], count[w], __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Finding and placing entries                                        */

/* Finds `name` in its buckets; returns true and its place, or false. */
static bool
index_find_locked(const struct index *ix, const struct index_pos *p,
    const char *name, size_t len, uint64_t *bp, unsigned *wp)
{
	int k;

	for (k = 0; k < 2; k++) {
		uint64_t b = p->p_bucket[k];
		const struct index_bucket *bk = &ix->ix_buckets[b];
		unsigned w;

		if (k == 1 && b == p->p_bucket[0])
			break;
		for (w = 0; w < INDEX_WAYS; w++) {
			const struct index_slot *sl;

			if (bk->b_tag[w] != p->p_tag ||
			    bk->b_state[w] == INDEX_EMPTY)
				continue;
			sl = &bk->b_slot[w];
			if (sl->s_name_len == len &&
			    memcmp(sl->s_name, name, len) == 0) {
				*bp = b;
				*wp = w;
				return true;
			}
		}
	}
	return false;
}

/* Moves the entry at (sb, sw) to the empty slot (db, dw), both of stripe
 * st. Two changes: if the mover dies between them, the name is in two
 * slots with the same contents, and the repair keeps one. */
static void
index_move_locked(struct index *ix, struct index_stripe *st, uint64_t sb,
    unsigned sw, uint64_t db, unsigned dw)
{
	const struct index_bucket *src = &ix->ix_buckets[sb];
	struct index_slot *d = index_change_begin_locked(ix, st, db, dw);

	memcpy((char *)d + INDEX_SLOT_BODY,
	    (const char *)&src->b_slot[sw] + INDEX_SLOT_BODY,
	    sizeof(*d) - INDEX_SLOT_BODY);
	index_change_end_locked(ix, st, db, dw, src->b_state[sw],
	    src->b_tag[sw]);
	index_remove_locked(ix, st, sb, sw);
}

static int
index_free_way(const struct index_bucket *bk)
{
	unsigned w;

	for (w = 0; w < INDEX_WAYS; w++)
		if (bk->b_state[w] == INDEX_EMPTY)
			return (int)w;
	return -1;
}

/*
 * Cuckoo step: both buckets of a new name are full, so look (breadth
 * first, up to INDEX_CUCKOO_NODES buckets, all in the same stripe) for an
 * entry that can go to its other bucket, directly or after others made
 * way, and move the chain. Returns true with the freed slot, which is in
 * one of p's buckets.
 */
static bool
index_cuckoo_locked(struct index *ix, const struct index_pos *p,
    uint64_t *bp, unsigned *wp)
{
	struct {
		uint64_t n_bucket;
		int n_parent;		/* -1: one of p's buckets */
		unsigned n_way;		/* whose entry would come here */
	} q[INDEX_CUCKOO_NODES];
	struct index_stripe *st = &ix->ix_stripes[p->p_stripe];
	int head = 0, tail = 0, k;

	q[tail].n_bucket = p->p_bucket[0];
	q[tail].n_parent = -1;
	q[tail++].n_way = 0;
	if (p->p_bucket[1] != p->p_bucket[0]) {
		q[tail].n_bucket = p->p_bucket[1];
		q[tail].n_parent = -1;
		q[tail++].n_way = 0;
	}
	for (head = 0; head < tail; head++) {
		uint64_t b = q[head].n_bucket;
		unsigned w;

		for (w = 0; w < INDEX_WAYS; w++) {
			const struct index_slot *sl = index_slot(ix, b, w);
			struct index_pos other;
			uint64_t alt;
			int fw, node;

			index_locate(&ix->ix_geo, sl->s_name, sl->s_name_len,
			    &other);
			alt = other.p_bucket[0] == b ? other.p_bucket[1] :
			    other.p_bucket[0];
			if (alt == b)
				continue;
			if ((fw = index_free_way(&ix->ix_buckets[alt])) >= 0) {
				/* Move down the chain, from the free end. */
				uint64_t db = alt, sb = b;
				unsigned dw = (unsigned)fw, sw = w;

				for (node = head;; node = q[node].n_parent) {
					index_move_locked(ix, st, sb, sw, db,
					    dw);
					db = sb;
					dw = sw;
					if (q[node].n_parent < 0)
						break;
					sb = q[q[node].n_parent].n_bucket;
					sw = q[node].n_way;
				}
				*bp = db;
				*wp = dw;
				return true;
			}
			for (k = 0; k < tail && q[k].n_bucket != alt; k++)
				;
			if (k == tail && tail < INDEX_CUCKOO_NODES) {
				q[tail].n_bucket = alt;
				q[tail].n_parent = head;
				q[tail++].n_way = w;
			}
		}
	}
	return false;
}

/*
 * Chooses the slot for a new entry among the name's two buckets: a free
 * one in the emptier bucket; else a lapsed negative entry; else one freed
 * by moving entries to their other buckets; else, evicting, the oldest
 * copy that never expires, then the live negative entry nearest its
 * deadline. Never
 * a fetch, never a copy with an expiry. Counts evictions and refusals.
 * Returns true and the place, or false (no room).
 */
static bool
index_room_locked(struct index *ix, const struct index_pos *p,
    int64_t now_ms, uint64_t *bp, unsigned *wp)
{
	const struct index_stripe *st = &ix->ix_stripes[p->p_stripe];
	int best_rank = 3, k, nk = p->p_bucket[1] == p->p_bucket[0] ? 1 : 2;
	unsigned w, free_w[2] = { 0, 0 }, nfree[2] = { 0, 0 };
	int64_t best_key = 0, key;
	uint64_t used;

	for (k = 0; k < nk; k++) {
		const struct index_bucket *bk = &ix->ix_buckets[p->p_bucket[k]];

		for (w = INDEX_WAYS; w-- > 0;)
			if (bk->b_state[w] == INDEX_EMPTY) {
				nfree[k]++;
				free_w[k] = w;
			}
	}
	if (nfree[0] > 0 || nfree[1] > 0) {
		k = nfree[1] > nfree[0];
		*bp = p->p_bucket[k];
		*wp = free_w[k];
		return true;
	}
	for (k = 0; k < nk; k++) {
		const struct index_bucket *bk = &ix->ix_buckets[p->p_bucket[k]];

		for (w = 0; w < INDEX_WAYS; w++) {
			const struct index_slot *sl = &bk->b_slot[w];
			int rank;

			if (bk->b_state[w] == INDEX_NEGATIVE &&
			    now_ms >= sl->s_expiry_ms) {
				*bp = p->p_bucket[k];
				*wp = w;
				return true;	/* lapsed: as if free */
			}
			if (bk->b_state[w] == INDEX_COPY &&
			    sl->s_expiry_ms == 0)
				rank = 1;
			else if (bk->b_state[w] == INDEX_NEGATIVE)
				rank = 2;
			else
				continue;
			/* Copies: the oldest record; negative entries: the
			 * nearest deadline. */
			key = rank == 1 ? sl->s_updated_ms : sl->s_expiry_ms;
			if (rank < best_rank || (rank == best_rank &&
			    key < best_key)) {
				best_rank = rank;
				best_key = key;
				*bp = p->p_bucket[k];
				*wp = w;
			}
		}
	}
	/* Moving entries about is worth it while the stripe has room; in a
	 * nearly full one the search would mostly fail. */
	used = st->st_count[INDEX_COPY] + st->st_count[INDEX_NEGATIVE] +
	    st->st_count[INDEX_FETCH];
	if (used + used / 50 < ix->ix_geo.g_bps * INDEX_WAYS &&
	    index_cuckoo_locked(ix, p, bp, wp))
		return true;
	if (best_rank == 3) {
		__atomic_add_fetch(&ix->ix_hdr->h_full, 1, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_add_fetch(&ix->ix_hdr->h_evictions, 1, __ATOMIC_RELAXED);
	return true;
}

/* Begins a new entry for `name`, evicting if need be. Returns the slot
 * (name set, the rest cleared) and its place, or NULL when full. */
static struct index_slot *
index_insert_begin_locked(struct index *ix, const struct index_pos *p,
    const char *name, size_t len, int64_t now_ms, uint64_t *bp, unsigned *wp)
{
	struct index_slot *sl;

	if (!index_room_locked(ix, p, now_ms, bp, wp))
		return NULL;
	sl = index_change_begin_locked(ix, &ix->ix_stripes[p->p_stripe], *bp,
	    *wp);
	index_slot_reset(sl, false);
	sl->s_name_len = (uint8_t)len;
	memcpy(sl->s_name, name, len);
	return sl;
}

static void
index_snapshot_locked(const struct index *ix, uint64_t b, unsigned w,
    struct index_entry *e)
{
	const struct index_bucket *bk = &ix->ix_buckets[b];
	const struct index_slot *sl = &bk->b_slot[w];
	uint8_t state = bk->b_state[w];

	memset(e, 0, sizeof(*e));
	e->e_kind = (enum index_kind)state;
	e->e_name_len = sl->s_name_len;
	memcpy(e->e_name, sl->s_name, sl->s_name_len);
	e->e_expiry_ms = sl->s_expiry_ms;
	if (state == INDEX_COPY || (state == INDEX_FETCH &&
	    (sl->s_flags & INDEX_SLOT_PUBLISHING))) {
		e->e_id.id_dev = sl->s_dev;
		e->e_id.id_ino = sl->s_ino;
		e->e_id.id_size = sl->s_size;
	}
	if (state == INDEX_FETCH) {
		e->e_fetch.f_pid = sl->s_pid;
		e->e_fetch.f_id = sl->s_fetch_id;
		e->e_fetch.f_written = sl->s_written;
		e->e_fetch.f_total = sl->s_total;
		e->e_fetch.f_updated_ms = sl->s_updated_ms;
		e->e_fetch.f_publishing =
		    (sl->s_flags & INDEX_SLOT_PUBLISHING) != 0;
		memcpy(e->e_fetch.f_tmp, sl->s_tmp, sizeof(sl->s_tmp));
		e->e_fetch.f_tmp[INDEX_TMP_NAME_MAX - 1] = '\0';
	}
	e->e_fetch.f_seq = __atomic_load_n(&sl->s_seq, __ATOMIC_ACQUIRE) &
	    ~INDEX_SEQ_WAITERS;
	e->e_fetch.f_where = b * INDEX_WAYS + w;
}

static bool
index_same_copy(const struct index_slot *sl, const struct index_identity *id)
{
	return sl->s_dev == id->id_dev && sl->s_ino == id->id_ino &&
	    sl->s_size == id->id_size;
}

static void
index_set_copy(struct index_slot *sl, const struct index_identity *id,
    int64_t expiry_ms, int64_t now_ms)
{
	index_slot_reset(sl, true);
	sl->s_expiry_ms = expiry_ms;
	sl->s_updated_ms = now_ms;
	sl->s_dev = id->id_dev;
	sl->s_ino = id->id_ino;
	sl->s_size = id->id_size;
}

static void
index_set_fetch(struct index *ix, struct index_slot *sl, pid_t pid,
    int64_t now_ms)
{
	index_slot_reset(sl, true);
	sl->s_pid = pid;
	sl->s_fetch_id = __atomic_add_fetch(&ix->ix_hdr->h_next_fetch_id, 1,
	    __ATOMIC_RELAXED);
	sl->s_total = INDEX_SIZE_UNKNOWN;
	sl->s_updated_ms = now_ms;
}

/* ------------------------------------------------------------------ */
/* Opening                                                            */

static uint64_t
index_header_check(const struct index_header *h)
{
	return XXH3_64bits(h, offsetof(struct index_header, h_check));
}

static void
index_header_fill(struct index_header *h, const struct index_geometry *g)
{
	memset(h, 0, offsetof(struct index_header, h_next_fetch_id));
	memcpy(h->h_magic, INDEX_MAGIC, sizeof(h->h_magic));
	h->h_version = INDEX_VERSION;
	h->h_header_size = sizeof(struct index_header);
	h->h_slot_size = sizeof(struct index_slot);
	h->h_bucket_size = sizeof(struct index_bucket);
	h->h_stripe_size = sizeof(struct index_stripe);
	h->h_mutex_size = sizeof(pthread_mutex_t);
	h->h_ways = INDEX_WAYS;
	h->h_nstripes = g->g_nstripes;
	h->h_bps = g->g_bps;
	h->h_capacity = g->g_capacity;
	h->h_stripes_off = g->g_stripes_off;
	h->h_buckets_off = g->g_buckets_off;
	h->h_file_size = g->g_file_size;
	h->h_check = index_header_check(h);
}

/* What an existing file holds, judged by its header alone; *old gets the
 * geometry of a file of this layout (for KEPT and RESIZED). */
static enum index_open_how
index_classify(int fd, off_t size, const struct index_geometry *want,
    struct index_geometry *old)
{
	struct index_header h, expect;

	if (size == 0)
		return INDEX_OPEN_CREATED;
	if ((size_t)size < sizeof(h) || pread(fd, &h, sizeof(h), 0) !=
	    (ssize_t)sizeof(h))
		return INDEX_OPEN_REBUILT_CORRUPT;
	if (memcmp(h.h_magic, INDEX_MAGIC, sizeof(h.h_magic)) != 0 ||
	    h.h_check != index_header_check(&h))
		return INDEX_OPEN_REBUILT_CORRUPT;
	if (h.h_version != INDEX_VERSION ||
	    h.h_header_size != sizeof(struct index_header) ||
	    h.h_slot_size != sizeof(struct index_slot) ||
	    h.h_bucket_size != sizeof(struct index_bucket) ||
	    h.h_stripe_size != sizeof(struct index_stripe) ||
	    h.h_mutex_size != sizeof(pthread_mutex_t) ||
	    h.h_ways != INDEX_WAYS)
		return INDEX_OPEN_REBUILT_LAYOUT;
	/* The geometry must be exactly what this code derives from the
	 * capacity, or the file is not one of ours. */
	if (index_geometry(h.h_capacity, old) == -1)
		return INDEX_OPEN_REBUILT_LAYOUT;
	index_header_fill(&expect, old);
	if (memcmp(&expect, &h, offsetof(struct index_header, h_check)) != 0)
		return INDEX_OPEN_REBUILT_LAYOUT;
	if ((uint64_t)size != old->g_file_size)
		return INDEX_OPEN_REBUILT_CORRUPT;
	if (old->g_capacity != want->g_capacity)
		return INDEX_OPEN_RESIZED;
	return INDEX_OPEN_KEPT;
}

static struct index *
index_map(int fd, const struct index_geometry *g)
{
	struct index *ix = calloc(1, sizeof(*ix));
	void *p;

	if (ix == NULL)
		return NULL;
	p = mmap(NULL, g->g_file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	if (p == MAP_FAILED) {
		free(ix);
		return NULL;
	}
	ix->ix_fd = fd;
	ix->ix_map = p;
	ix->ix_geo = *g;
	ix->ix_hdr = p;
	ix->ix_stripes = (void *)(ix->ix_map + g->g_stripes_off);
	ix->ix_buckets = (void *)(ix->ix_map + g->g_buckets_off);
	return ix;
}

static void
index_unmap(struct index *ix)
{
	munmap(ix->ix_map, ix->ix_geo.g_file_size);
	free(ix);
}

/* Initialises every lock (nobody else uses the file) and repairs every
 * stripe. */
static int
index_recover_all(struct index *ix, int64_t now_ms, uint64_t *dropped)
{
	uint32_t s;
	int rc;

	for (s = 0; s < ix->ix_geo.g_nstripes; s++) {
		if ((rc = index_mutex_init(&ix->ix_stripes[s].st_mutex)) != 0) {
			errno = rc;
			return -1;
		}
		index_repair_locked(ix, s, true, now_ms, dropped);
	}
	return 0;
}

/* Creates a new, empty index file at `path` (replacing nothing yet: the
 * caller renames it into place), locked, sized and with its blocks
 * reserved. Returns the mapped handle or NULL with errno. */
static struct index *
index_create(const char *path, const struct index_geometry *g)
{
	struct index *ix;
	uint32_t s;
	int fd, rc;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return NULL;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 ||
	    ftruncate(fd, (off_t)g->g_file_size) == -1)
		goto fail;
	do
		rc = posix_fallocate(fd, 0, (off_t)g->g_file_size);
	while (rc == EINTR);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	if ((ix = index_map(fd, g)) == NULL)
		goto fail;
	for (s = 0; s < g->g_nstripes; s++)
		if ((rc = index_mutex_init(&ix->ix_stripes[s].st_mutex)) != 0) {
			errno = rc;
			index_unmap(ix);
			goto fail;
		}
	/* Last: a file without its header is never taken for an index. */
	index_header_fill(ix->ix_hdr, g);
	return ix;
fail:
	rc = errno;
	close(fd);
	unlink(path);
	errno = rc;
	return NULL;
}

/* Copies the entries of `old` into `ix` (both private to this process);
 * copies with an expiry that find no room go to the report. */
static int
index_migrate(struct index *old, struct index *ix,
    struct index_open_report *rep)
{
	uint64_t b;
	unsigned w;

	for (b = 0; b < old->ix_geo.g_nstripes * old->ix_geo.g_bps; b++) {
		const struct index_bucket *bk = &old->ix_buckets[b];

		for (w = 0; w < INDEX_WAYS; w++) {
			const struct index_slot *sl = &bk->b_slot[w];
			struct index_identity id = { sl->s_dev, sl->s_ino,
			    sl->s_size };
			int rc;

			if (bk->b_state[w] == INDEX_COPY)
				rc = index_put_copy(ix, sl->s_name,
				    sl->s_name_len, &id, sl->s_expiry_ms, 0);
			else if (bk->b_state[w] == INDEX_NEGATIVE)
				rc = index_put_negative(ix, sl->s_name,
				    sl->s_name_len, sl->s_expiry_ms, 0);
			else
				continue;
			if (rc == 0)
				continue;
			if (bk->b_state[w] == INDEX_COPY &&
			    sl->s_expiry_ms != 0) {
				struct index_entry *lost = realloc(rep->r_lost,
				    (rep->r_nlost + 1) * sizeof(*lost));

				if (lost == NULL)
					return -1;
				rep->r_lost = lost;
				index_snapshot_locked(old, b, w,
				    &lost[rep->r_nlost++]);
			} else {
				rep->r_dropped++;
			}
		}
	}
	/* Counters carry over; refusals while moving do not count. */
	memcpy(&ix->ix_hdr->h_next_fetch_id, &old->ix_hdr->h_next_fetch_id,
	    sizeof(struct index_header) -
	    offsetof(struct index_header, h_next_fetch_id));
	return 0;
}

struct index *
index_open(const char *path, uint64_t capacity, int64_t now_ms,
    struct index_open_report *report)
{
	struct index_open_report rep = { 0 };
	struct index_geometry want, old_geo;
	struct index *ix = NULL, *old = NULL;
	char new_path[PATH_MAX];
	struct stat st;
	int fd, saved;

	if (index_geometry(capacity, &want) == -1)
		return NULL;
	if ((size_t)snprintf(new_path, sizeof(new_path), "%s.new", path) >=
	    sizeof(new_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return NULL;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 || fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	rep.r_how = index_classify(fd, st.st_size, &want, &old_geo);
	if (rep.r_how == INDEX_OPEN_KEPT) {
		if ((ix = index_map(fd, &want)) == NULL ||
		    index_recover_all(ix, now_ms, &rep.r_dropped) == -1)
			goto fail;
		unlink(new_path);	/* left by a rebuild that died */
		goto done;
	}
	if (rep.r_how == INDEX_OPEN_RESIZED) {
		if ((old = index_map(fd, &old_geo)) == NULL ||
		    index_recover_all(old, now_ms, &rep.r_dropped) == -1)
			goto fail;
	}
	if ((ix = index_create(new_path, &want)) == NULL)
		goto fail;
	if (old != NULL && index_migrate(old, ix, &rep) == -1)
		goto fail;
	if (rename(new_path, path) == -1)
		goto fail;
	if (old != NULL)
		index_unmap(old);
	close(fd);
	fd = ix->ix_fd;
done:
	if (report != NULL) {
		struct index_stats stats;

		index_stats(ix, &stats);
		rep.r_kept = stats.is_copies + stats.is_negatives +
		    stats.is_fetches;
		*report = rep;
	} else {
		free(rep.r_lost);
	}
	return ix;
fail:
	saved = errno;
	if (ix != NULL && ix->ix_fd != fd) {
		close(ix->ix_fd);
		unlink(new_path);
	}
	if (ix != NULL)
		index_unmap(ix);
	if (old != NULL)
		index_unmap(old);
	free(rep.r_lost);
	close(fd);
	errno = saved;
	return NULL;
}

void
index_close(struct index *ix)
{
	int fd;

	if (ix == NULL)
		return;
	fd = ix->ix_fd;
	index_unmap(ix);
	close(fd);
}

uint64_t
index_capacity(const struct index *ix)
{
	return ix->ix_geo.g_capacity;
}

uint64_t
index_file_size(const struct index *ix)
{
	return ix->ix_geo.g_file_size;
}

/* ------------------------------------------------------------------ */
/* Entries                                                            */

enum index_lookup
index_lookup(struct index *ix, const char *name, size_t len,
    const struct index_identity *file, int64_t now_ms,
    struct index_entry *out)
{
	enum index_lookup res = INDEX_LOOKUP_NONE;
	struct index_pos p;
	uint64_t b;
	unsigned w;

	if (!index_name_ok(name, len))
		return INDEX_LOOKUP_ERROR;
	index_locate(&ix->ix_geo, name, len, &p);
	index_prefetch(ix, &p);
	if (index_lock(ix, p.p_stripe) == -1)
		return INDEX_LOOKUP_ERROR;
	if (!index_find_locked(ix, &p, name, len, &b, &w)) {
		index_unlock(ix, p.p_stripe);
		if (out != NULL)
			out->e_kind = INDEX_NONE;
		return INDEX_LOOKUP_NONE;
	}
	{
		const struct index_slot *sl = index_slot(ix, b, w);

		switch (ix->ix_buckets[b].b_state[w]) {
		case INDEX_COPY:
			if (file != NULL && !index_same_copy(sl, file))
				res = INDEX_LOOKUP_NONE;
			else if (index_expired_at(sl->s_expiry_ms, now_ms))
				res = INDEX_LOOKUP_EXPIRED;
			else
				res = INDEX_LOOKUP_COPY;
			break;
		case INDEX_NEGATIVE:
			res = now_ms < sl->s_expiry_ms ? INDEX_LOOKUP_NEGATIVE :
			    INDEX_LOOKUP_NONE;
			break;
		case INDEX_FETCH:
			res = INDEX_LOOKUP_FETCH;
			break;
		}
	}
	if (out != NULL)
		index_snapshot_locked(ix, b, w, out);
	index_unlock(ix, p.p_stripe);
	return res;
}

int
index_put_copy(struct index *ix, const char *name, size_t len,
    const struct index_identity *id, int64_t expiry_ms, int64_t now_ms)
{
	struct index_stripe *st;
	struct index_slot *sl;
	struct index_pos p;
	uint64_t b;
	unsigned w;

	if (!index_name_ok(name, len))
		return -1;
	if (id == NULL) {
		errno = EINVAL;
		return -1;
	}
	index_locate(&ix->ix_geo, name, len, &p);
	index_prefetch(ix, &p);
	st = &ix->ix_stripes[p.p_stripe];
	if (index_lock(ix, p.p_stripe) == -1)
		return -1;
	if (index_find_locked(ix, &p, name, len, &b, &w))
		sl = index_change_begin_locked(ix, st, b, w);
	else if ((sl = index_insert_begin_locked(ix, &p, name, len, now_ms,
	    &b, &w)) == NULL) {
		index_unlock(ix, p.p_stripe);
		errno = ENOSPC;
		return -1;
	}
	index_set_copy(sl, id, expiry_ms, now_ms);
	index_change_end_locked(ix, st, b, w, INDEX_COPY, p.p_tag);
	index_unlock(ix, p.p_stripe);
	return 0;
}

int
index_put_negative(struct index *ix, const char *name, size_t len,
    int64_t until_ms, int64_t now_ms)
{
	struct index_stripe *st;
	struct index_slot *sl;
	struct index_pos p;
	uint64_t b;
	unsigned w;

	if (!index_name_ok(name, len))
		return -1;
	index_locate(&ix->ix_geo, name, len, &p);
	index_prefetch(ix, &p);
	st = &ix->ix_stripes[p.p_stripe];
	if (index_lock(ix, p.p_stripe) == -1)
		return -1;
	if (index_find_locked(ix, &p, name, len, &b, &w)) {
		if (ix->ix_buckets[b].b_state[w] != INDEX_NEGATIVE) {
			index_unlock(ix, p.p_stripe);
			errno = EEXIST;
			return -1;
		}
		sl = index_change_begin_locked(ix, st, b, w);
	} else if ((sl = index_insert_begin_locked(ix, &p, name, len, now_ms,
	    &b, &w)) == NULL) {
		index_unlock(ix, p.p_stripe);
		errno = ENOSPC;
		return -1;
	}
	index_slot_reset(sl, true);
	sl->s_expiry_ms = until_ms;
	sl->s_updated_ms = now_ms;
	index_change_end_locked(ix, st, b, w, INDEX_NEGATIVE, p.p_tag);
	index_unlock(ix, p.p_stripe);
	return 0;
}

/* Empties slot (b, w) of stripe st through the change protocol. */
static void
index_remove_locked(struct index *ix, struct index_stripe *st, uint64_t b,
    unsigned w)
{
	struct index_slot *sl = index_change_begin_locked(ix, st, b, w);

	index_slot_reset(sl, false);
	index_change_end_locked(ix, st, b, w, INDEX_EMPTY, 0);
}

int
index_remove(struct index *ix, const char *name, size_t len)
{
	struct index_pos p;
	uint64_t b;
	unsigned w;
	int found;

	if (!index_name_ok(name, len))
		return -1;
	index_locate(&ix->ix_geo, name, len, &p);
	index_prefetch(ix, &p);
	if (index_lock(ix, p.p_stripe) == -1)
		return -1;
	found = index_find_locked(ix, &p, name, len, &b, &w);
	if (found)
		index_remove_locked(ix, &ix->ix_stripes[p.p_stripe], b, w);
	index_unlock(ix, p.p_stripe);
	return found;
}

int
index_remove_if(struct index *ix, const char *name, size_t len,
    const struct index_identity *id, int64_t now_ms)
{
	struct index_pos p;
	uint64_t b;
	unsigned w;
	int done = 0;

	if (!index_name_ok(name, len))
		return -1;
	if (id == NULL) {
		errno = EINVAL;
		return -1;
	}
	index_locate(&ix->ix_geo, name, len, &p);
	index_prefetch(ix, &p);
	if (index_lock(ix, p.p_stripe) == -1)
		return -1;
	if (index_find_locked(ix, &p, name, len, &b, &w) &&
	    ix->ix_buckets[b].b_state[w] == INDEX_COPY &&
	    index_same_copy(index_slot(ix, b, w), id)) {
		if (index_expired_at(index_slot(ix, b, w)->s_expiry_ms, now_ms))
			__atomic_add_fetch(&ix->ix_hdr->h_expirations, 1,
			    __ATOMIC_RELAXED);
		index_remove_locked(ix, &ix->ix_stripes[p.p_stripe], b, w);
		done = 1;
	}
	index_unlock(ix, p.p_stripe);
	return done;
}

/* The walk behind index_expired() and index_list(). */
static size_t
index_walk(struct index *ix, bool expired_only, int64_t now_ms,
    uint64_t *cursor, struct index_entry *out, size_t max)
{
	uint64_t slot = *cursor, cap = ix->ix_geo.g_capacity;
	size_t n = 0;

	while (slot < cap && n < max) {
		uint64_t b = slot / INDEX_WAYS;
		uint32_t s = (uint32_t)(b / ix->ix_geo.g_bps);
		uint64_t end = ((uint64_t)s + 1) * ix->ix_geo.g_bps *
		    INDEX_WAYS;
		struct index_stripe *st = &ix->ix_stripes[s];

		if (index_lock(ix, s) == -1) {
			slot = end;	/* beyond repair: skip the stripe */
			continue;
		}
		for (; slot < end && n < max; slot++) {
			unsigned w = (unsigned)(slot % INDEX_WAYS);
			struct index_bucket *bk;
			struct index_slot *sl;
			uint8_t state;

			b = slot / INDEX_WAYS;
			bk = &ix->ix_buckets[b];
			sl = &bk->b_slot[w];
			state = bk->b_state[w];
			if (state == INDEX_EMPTY)
				continue;
			if (expired_only && state == INDEX_NEGATIVE &&
			    now_ms >= sl->s_expiry_ms) {
				index_remove_locked(ix, st, b, w);
				continue;
			}
			if (expired_only && state == INDEX_FETCH &&
			    index_pid_gone(sl->s_pid))
				state = index_orphan_locked(ix, st, b, w);
			if (!expired_only || (state == INDEX_COPY &&
			    index_expired_at(sl->s_expiry_ms, now_ms)))
				index_snapshot_locked(ix, b, w, &out[n++]);
		}
		index_unlock(ix, s);
	}
	*cursor = slot < cap ? slot : cap;
	return n;
}

size_t
index_expired(struct index *ix, int64_t now_ms, uint64_t *cursor,
    struct index_entry *out, size_t max)
{
	return index_walk(ix, true, now_ms, cursor, out, max);
}

size_t
index_list(struct index *ix, uint64_t *cursor, struct index_entry *out,
    size_t max)
{
	return index_walk(ix, false, 0, cursor, out, max);
}

/* ------------------------------------------------------------------ */
/* Fetches                                                            */

enum index_claim
index_fetch_claim(struct index *ix, const char *name, size_t len, pid_t pid,
    int64_t now_ms, int64_t stall_ms, struct index_entry *out)
{
	enum index_claim res;
	struct index_stripe *st;
	struct index_slot *sl;
	struct index_pos p;
	uint64_t b;
	unsigned w;

	if (!index_name_ok(name, len))
		return INDEX_CLAIM_ERROR;
	index_locate(&ix->ix_geo, name, len, &p);
	index_prefetch(ix, &p);
	st = &ix->ix_stripes[p.p_stripe];
	if (index_lock(ix, p.p_stripe) == -1)
		return INDEX_CLAIM_ERROR;
	if (!index_find_locked(ix, &p, name, len, &b, &w)) {
		sl = index_insert_begin_locked(ix, &p, name, len, now_ms, &b,
		    &w);
		if (sl == NULL) {
			index_unlock(ix, p.p_stripe);
			if (out != NULL)
				memset(out, 0, sizeof(*out));
			return INDEX_CLAIM_FULL;
		}
		index_set_fetch(ix, sl, pid, now_ms);
		index_change_end_locked(ix, st, b, w, INDEX_FETCH, p.p_tag);
		res = INDEX_CLAIMED;
		goto out;
	}
	sl = index_slot(ix, b, w);
	switch (ix->ix_buckets[b].b_state[w]) {
	case INDEX_COPY:
		res = index_expired_at(sl->s_expiry_ms, now_ms) ?
		    INDEX_CLAIM_EXPIRED : INDEX_CLAIM_COPY;
		break;
	case INDEX_NEGATIVE:
		if (now_ms < sl->s_expiry_ms) {
			__atomic_add_fetch(&ix->ix_hdr->h_negative_hits, 1,
			    __ATOMIC_RELAXED);
			res = INDEX_CLAIM_NEGATIVE;
			break;
		}
		index_change_begin_locked(ix, st, b, w);
		index_set_fetch(ix, sl, pid, now_ms);
		index_change_end_locked(ix, st, b, w, INDEX_FETCH, p.p_tag);
		res = INDEX_CLAIMED;
		break;
	default: /* INDEX_FETCH */
		if (sl->s_pid == pid || !(index_pid_gone(sl->s_pid) ||
		    (stall_ms > 0 && now_ms - sl->s_updated_ms >= stall_ms))) {
			res = INDEX_CLAIM_BUSY;
			break;
		}
		if (sl->s_flags & INDEX_SLOT_PUBLISHING) {
			/* The file may be in place: it is a copy now, and
			 * whoever finds it missing drops the record. */
			index_orphan_locked(ix, st, b, w);
			res = index_expired_at(sl->s_expiry_ms, now_ms) ?
			    INDEX_CLAIM_EXPIRED : INDEX_CLAIM_COPY;
			break;
		}
		index_change_begin_locked(ix, st, b, w);
		index_set_fetch(ix, sl, pid, now_ms);
		index_change_end_locked(ix, st, b, w, INDEX_FETCH, p.p_tag);
		__atomic_add_fetch(&ix->ix_hdr->h_takeovers, 1,
		    __ATOMIC_RELAXED);
		res = INDEX_CLAIMED;
		break;
	}
out:
	if (out != NULL)
		index_snapshot_locked(ix, b, w, out);
	index_unlock(ix, p.p_stripe);
	return res;
}

/* Finds the FETCH entry of `name` with id `fetch_id` under the stripe's
 * lock (taken here; the caller unlocks p->p_stripe on success). Returns
 * 0, or -1 with errno (ESTALE: no such fetch now; lock released). */
static int
index_own_fetch_lock(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, struct index_pos *p, uint64_t *bp, unsigned *wp)
{
	if (!index_name_ok(name, len))
		return -1;
	index_locate(&ix->ix_geo, name, len, p);
	index_prefetch(ix, p);
	if (index_lock(ix, p->p_stripe) == -1)
		return -1;
	if (!index_find_locked(ix, p, name, len, bp, wp) ||
	    ix->ix_buckets[*bp].b_state[*wp] != INDEX_FETCH ||
	    index_slot(ix, *bp, *wp)->s_fetch_id != fetch_id) {
		index_unlock(ix, p->p_stripe);
		errno = ESTALE;
		return -1;
	}
	return 0;
}

int
index_fetch_progress(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, uint64_t written, uint64_t total, const char *tmp,
    int64_t now_ms)
{
	struct index_stripe *st;
	struct index_slot *sl;
	struct index_pos p;
	size_t tmp_len = 0;
	uint64_t b;
	unsigned w;

	if (tmp != NULL && (tmp_len = strnlen(tmp, INDEX_TMP_NAME_MAX)) ==
	    INDEX_TMP_NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (index_own_fetch_lock(ix, name, len, fetch_id, &p, &b, &w) == -1)
		return -1;
	st = &ix->ix_stripes[p.p_stripe];
	sl = index_change_begin_locked(ix, st, b, w);
	sl->s_written = written;
	sl->s_total = total;
	sl->s_updated_ms = now_ms;
	if (tmp != NULL) {
		memset(sl->s_tmp, 0, sizeof(sl->s_tmp));
		memcpy(sl->s_tmp, tmp, tmp_len);
	}
	index_change_end_locked(ix, st, b, w, INDEX_FETCH, p.p_tag);
	index_unlock(ix, p.p_stripe);
	return 0;
}

int
index_fetch_publishing(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, const struct index_identity *id, int64_t expiry_ms,
    int64_t now_ms)
{
	struct index_stripe *st;
	struct index_slot *sl;
	struct index_pos p;
	uint64_t b;
	unsigned w;

	if (id == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (index_own_fetch_lock(ix, name, len, fetch_id, &p, &b, &w) == -1)
		return -1;
	st = &ix->ix_stripes[p.p_stripe];
	sl = index_change_begin_locked(ix, st, b, w);
	sl->s_flags |= INDEX_SLOT_PUBLISHING;
	sl->s_dev = id->id_dev;
	sl->s_ino = id->id_ino;
	sl->s_size = id->id_size;
	sl->s_expiry_ms = expiry_ms;
	sl->s_updated_ms = now_ms;
	index_change_end_locked(ix, st, b, w, INDEX_FETCH, p.p_tag);
	index_unlock(ix, p.p_stripe);
	return 0;
}

int
index_fetch_finish(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, enum index_end how, const struct index_identity *id,
    int64_t until_ms, int64_t now_ms)
{
	struct index_stripe *st;
	struct index_slot *sl;
	struct index_pos p;
	uint64_t b;
	unsigned w;

	if (how == INDEX_END_COPY) {
		/* Recorded whoever holds the entry now: the file is there. */
		return index_put_copy(ix, name, len, id, until_ms, now_ms);
	}
	if (how != INDEX_END_NEGATIVE && how != INDEX_END_FAILED) {
		errno = EINVAL;
		return -1;
	}
	if (index_own_fetch_lock(ix, name, len, fetch_id, &p, &b, &w) == -1)
		return -1;
	st = &ix->ix_stripes[p.p_stripe];
	if (how == INDEX_END_FAILED) {
		index_remove_locked(ix, st, b, w);
	} else {
		sl = index_change_begin_locked(ix, st, b, w);
		index_slot_reset(sl, true);
		sl->s_expiry_ms = until_ms;
		sl->s_updated_ms = now_ms;
		index_change_end_locked(ix, st, b, w, INDEX_NEGATIVE, p.p_tag);
	}
	index_unlock(ix, p.p_stripe);
	return 0;
}

bool
index_fetch_changed(const struct index *ix, const struct index_fetch *f)
{
	const uint32_t *seq = index_seq_at(ix, f->f_where);

	return seq == NULL || (__atomic_load_n(seq, __ATOMIC_ACQUIRE) &
	    ~INDEX_SEQ_WAITERS) != f->f_seq;
}

int
index_fetch_wait(const struct index *ix, const struct index_fetch *f,
    int timeout_ms)
{
	uint32_t *seq = index_seq_at(ix, f->f_where);
	struct timespec ts;
	uint32_t v;

	if (seq == NULL)
		return 1;
	v = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
	for (;;) {
		if ((v & ~INDEX_SEQ_WAITERS) != f->f_seq)
			return 1;
		if (v & INDEX_SEQ_WAITERS)
			break;
		/* Mark the word so that the next change wakes us. */
		if (__atomic_compare_exchange_n(seq, &v, v | INDEX_SEQ_WAITERS,
		    false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			v |= INDEX_SEQ_WAITERS;
			break;
		}
	}
	if (timeout_ms < 0)
		timeout_ms = 0;
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
	/* Shared futex: the word is in a MAP_SHARED file mapping. EAGAIN
	 * means it changed before we slept. */
	syscall(SYS_futex, seq, FUTEX_WAIT, v, &ts, NULL, 0);
	return index_fetch_changed(ix, f) ? 1 : 0;
}

long
index_fetch_abandon_pid(struct index *ix, pid_t pid)
{
	long n = 0;
	uint32_t s;

	for (s = 0; s < ix->ix_geo.g_nstripes; s++) {
		struct index_stripe *st = &ix->ix_stripes[s];
		uint64_t b, first = (uint64_t)s * ix->ix_geo.g_bps;

		if (__atomic_load_n(&st->st_count[INDEX_FETCH],
		    __ATOMIC_RELAXED) == 0)
			continue;
		if (index_lock(ix, s) == -1)
			return -1;
		for (b = first; b < first + ix->ix_geo.g_bps; b++) {
			unsigned w;

			for (w = 0; w < INDEX_WAYS; w++)
				if (ix->ix_buckets[b].b_state[w] ==
				    INDEX_FETCH &&
				    index_slot(ix, b, w)->s_pid == pid) {
					index_orphan_locked(ix, st, b, w);
					n++;
				}
		}
		index_unlock(ix, s);
	}
	return n;
}

void
index_note_collapsed(struct index *ix, uint64_t n)
{
	__atomic_add_fetch(&ix->ix_hdr->h_collapsed, n, __ATOMIC_RELAXED);
}

void
index_stats(const struct index *ix, struct index_stats *out)
{
	const struct index_header *h = ix->ix_hdr;
	uint32_t s;

	memset(out, 0, sizeof(*out));
	out->is_capacity = ix->ix_geo.g_capacity;
	for (s = 0; s < ix->ix_geo.g_nstripes; s++) {
		const uint64_t *c = ix->ix_stripes[s].st_count;

		out->is_copies += __atomic_load_n(&c[INDEX_COPY],
		    __ATOMIC_RELAXED);
		out->is_negatives += __atomic_load_n(&c[INDEX_NEGATIVE],
		    __ATOMIC_RELAXED);
		out->is_fetches += __atomic_load_n(&c[INDEX_FETCH],
		    __ATOMIC_RELAXED);
	}
	out->is_expirations = __atomic_load_n(&h->h_expirations,
	    __ATOMIC_RELAXED);
	out->is_evictions = __atomic_load_n(&h->h_evictions, __ATOMIC_RELAXED);
	out->is_full = __atomic_load_n(&h->h_full, __ATOMIC_RELAXED);
	out->is_collapsed = __atomic_load_n(&h->h_collapsed, __ATOMIC_RELAXED);
	out->is_negative_hits = __atomic_load_n(&h->h_negative_hits,
	    __ATOMIC_RELAXED);
	out->is_takeovers = __atomic_load_n(&h->h_takeovers, __ATOMIC_RELAXED);
	out->is_lock_repairs = __atomic_load_n(&h->h_lock_repairs,
	    __ATOMIC_RELAXED);
}
