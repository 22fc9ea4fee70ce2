/*
 * index_repair.c - the locks of the shared index, the protocol every
 * change of an entry goes through, and the repair of what a process
 * killed in the middle of one left behind.
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
 *
 * Processes and threads: any thread of any process holding a handle;
 * index_recover_all() only in index_open(), while no other process uses the
 * file.
 * Locks: the stripe mutexes (robust, process-shared) live in the mapping;
 * everything here but index_lock() and index_unlock() runs under the lock
 * of its stripe (index_int.h says what it guards).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/shm.h"
#include "store/index_int.h"

/* Advances a slot's sequence word, which index_fetch_changed() reads
 * without the lock. */
static void
index_seq_bump(uint32_t *seq)
{
	__atomic_store_n(seq, __atomic_load_n(seq, __ATOMIC_RELAXED) + 1,
	    __ATOMIC_RELEASE);
}

struct index_slot *
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

void
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

void
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

void
index_negative_end_locked(struct index *ix, struct index_stripe *st,
    struct index_slot *sl, uint64_t b, unsigned w, uint32_t tag,
    int64_t until_ms, int64_t now_ms)
{
	index_slot_reset(sl, true);
	sl->s_expiry_ms = until_ms;
	sl->s_updated_ms = now_ms;
	index_change_end_locked(ix, st, b, w, INDEX_NEGATIVE, tag);
}

void
index_remove_locked(struct index *ix, struct index_stripe *st, uint64_t b,
    unsigned w)
{
	struct index_slot *sl = index_change_begin_locked(ix, st, b, w);

	index_slot_reset(sl, false);
	index_change_end_locked(ix, st, b, w, INDEX_EMPTY, 0);
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

int
index_lock(struct index *ix, uint32_t s)
{
	int owner_died, rc;

	rc = shm_mutex_lock(&ix->ix_stripes[s].st_mutex, &owner_died);
	if (rc == 0 && owner_died) {
		/* Still ours: a death during the repair is found by the next
		 * locker, who repairs again. */
		index_repair_locked(ix, s, false, 0, NULL);
		__atomic_add_fetch(&ix->ix_hdr->h_lock_repairs, 1,
		    __ATOMIC_RELAXED);
	}
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

void
index_unlock(struct index *ix, uint32_t s)
{
	pthread_mutex_unlock(&ix->ix_stripes[s].st_mutex);
}

int
index_recover_all(struct index *ix, int64_t now_ms, uint64_t *dropped)
{
	uint32_t s;
	int rc;

	for (s = 0; s < ix->ix_geo.g_nstripes; s++) {
		if ((rc = shm_mutex_init(&ix->ix_stripes[s].st_mutex)) != 0) {
			errno = rc;
			return -1;
		}
		index_repair_locked(ix, s, true, now_ms, dropped);
	}
	return 0;
}
