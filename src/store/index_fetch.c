/*
 * index_fetch.c - the fetch protocol of the shared index (index.h, "One
 * transfer per miss"): claims, the owner's progress, publishing and
 * finish, the waiters' check, and the end of fetches whose owner is gone.
 *
 * Processes and threads: workers claim, report and finish their fetches,
 * and poll index_fetch_changed() while another process fetches; the
 * master calls index_fetch_abandon_pid() when a worker dies.
 * index_orphan_locked() also serves the sweeper's walk (index.c) and the
 * repair at open (index_repair.c).
 * Locks: each call takes the lock of one stripe at a time, through
 * index_enter() for a name; index_fetch_changed() takes none (one atomic
 * load of the slot's sequence word, which every change advances).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "store/index_int.h"

bool
index_pid_gone(pid_t pid)
{
	int saved = errno;
	bool gone;

	/* EPERM: it exists but is not ours to signal. */
	gone = pid <= 0 || (kill(pid, 0) == -1 && errno == ESRCH);
	errno = saved;
	return gone;
}

uint8_t
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
	int found;

	if ((found = index_enter(ix, name, len, &p, &b, &w)) == -1)
		return INDEX_CLAIM_ERROR;
	st = &ix->ix_stripes[p.p_stripe];
	if (!found) {
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

/* index_enter() for the owner of fetch `fetch_id` of `name`: returns 0
 * with its FETCH entry at (*bp, *wp) and the lock of p->p_stripe held, or
 * -1 with errno and no lock (ESTALE: no such fetch now). */
static int
index_enter_fetch(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, struct index_pos *p, uint64_t *bp, unsigned *wp)
{
	int found;

	if ((found = index_enter(ix, name, len, p, bp, wp)) == -1)
		return -1;
	if (!found || ix->ix_buckets[*bp].b_state[*wp] != INDEX_FETCH ||
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
	if (index_enter_fetch(ix, name, len, fetch_id, &p, &b, &w) == -1)
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
	if (index_enter_fetch(ix, name, len, fetch_id, &p, &b, &w) == -1)
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
	if (index_enter_fetch(ix, name, len, fetch_id, &p, &b, &w) == -1)
		return -1;
	st = &ix->ix_stripes[p.p_stripe];
	if (how == INDEX_END_FAILED) {
		index_remove_locked(ix, st, b, w);
	} else {
		sl = index_change_begin_locked(ix, st, b, w);
		index_negative_end_locked(ix, st, sl, b, w, p.p_tag, until_ms,
		    now_ms);
	}
	index_unlock(ix, p.p_stripe);
	return 0;
}

bool
index_fetch_changed(const struct index *ix, const struct index_fetch *f)
{
	const struct index_slot *sl;

	if (f->f_where >= ix->ix_geo.g_capacity)
		return true;	/* not a snapshot of this table */
	sl = index_slot(ix, f->f_where / INDEX_WAYS,
	    (unsigned)(f->f_where % INDEX_WAYS));
	return __atomic_load_n(&sl->s_seq, __ATOMIC_ACQUIRE) != f->f_seq;
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
