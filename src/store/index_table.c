/*
 * index_table.c - the table algorithm of the shared index: where a name
 * lives, finding it, and making room for a new one.
 *
 * The buckets of stripe s are [s * bps, (s + 1) * bps). A name's 64-bit
 * hash picks the stripe (low bits), the tag (high 32 bits) and two buckets
 * of that stripe (two mixes of the hash); the name lives in one of them.
 * Probing never leaves those two buckets, so one stripe lock guards every
 * probe, and a removal just empties its slot: there are no probe chains to
 * break and no tombstones. When both buckets of a new name are full,
 * entries are moved to their other bucket (a short cuckoo search, inside
 * the same stripe) to free a slot; so tables fill to about 95% before the
 * first refusal. Small tables get fewer stripes (INDEX_STRIPE_BUCKETS
 * buckets each at least), so that the load of a stripe stays close to the
 * table's.
 *
 * Processes and threads: any thread of any process holding a handle.
 * Locks: index_geometry() and index_locate() touch no shared data; every
 * other function runs under the lock of the stripe it works on (_locked),
 * and changes slots only through the change protocol (index_repair.c).
 */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "store/index_int.h"

/* Tests may define their own hash (to force collisions) before including
 * this file. */
#ifndef INDEX_HASH
#define INDEX_HASH(p, n) XXH3_64bits((p), (n))
#endif

static uint64_t
index_round_up(uint64_t n, uint64_t to)
{
	return (n + to - 1) / to * to;
}

int
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

void
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

bool
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
 * deadline. Never a fetch, never a copy with an expiry. Counts evictions and refusals.
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

struct index_slot *
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

void
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
	e->e_fetch.f_seq = __atomic_load_n(&sl->s_seq, __ATOMIC_ACQUIRE);
	e->e_fetch.f_where = b * INDEX_WAYS + w;
}
