/*
 * index.c - the shared index (see index.h): a hash table of fixed size in
 * a file mapped MAP_SHARED by the master and, through fork, every worker
 * and the agent.
 * This file opens and closes it, and holds the entry API: lookups, putting
 * and removing entries, the walks of the sweeper, the counters. The table
 * is in index_table.c, the locks and the crash repair in index_repair.c,
 * the file in index_file.c, the fetch protocol in index_fetch.c; what they
 * share is in index_int.h.
 *
 * Processes and threads
 *   Any thread of any process holding a handle (the handle itself is only
 *   read after index_open()). index_open() runs alone: it holds an
 *   exclusive flock on the file for as long as the descriptor is open
 *   anywhere, so no other shoald can map it meanwhile.
 *
 * Locks
 *   Every call about one name starts with index_enter(), which takes the
 *   lock of the name's stripe; the call releases it before it returns. The
 *   walks take one stripe lock at a time. index_stats() takes none. Who
 *   guards what: index_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/index_int.h"

static bool
index_name_ok(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > INDEX_NAME_MAX) {
		errno = EINVAL;
		return false;
	}
	return true;
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

int
index_enter(struct index *ix, const char *name, size_t len,
    struct index_pos *p, uint64_t *bp, unsigned *wp)
{
	if (!index_name_ok(name, len))
		return -1;
	index_locate(&ix->ix_geo, name, len, p);
	index_prefetch(ix, p);
	if (index_lock(ix, p->p_stripe) == -1)
		return -1;
	return index_find_locked(ix, p, name, len, bp, wp) ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Opening                                                            */

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

enum index_lookup
index_lookup(struct index *ix, const char *name, size_t len,
    const struct index_identity *file, int64_t now_ms,
    struct index_entry *out)
{
	enum index_lookup res = INDEX_LOOKUP_NONE;
	const struct index_slot *sl;
	struct index_pos p;
	uint64_t b;
	unsigned w;
	int found;

	if ((found = index_enter(ix, name, len, &p, &b, &w)) == -1)
		return INDEX_LOOKUP_ERROR;
	if (!found) {
		index_unlock(ix, p.p_stripe);
		if (out != NULL)
			out->e_kind = INDEX_NONE;
		return INDEX_LOOKUP_NONE;
	}
	sl = index_slot(ix, b, w);
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
	int found;

	if (id == NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((found = index_enter(ix, name, len, &p, &b, &w)) == -1)
		return -1;
	st = &ix->ix_stripes[p.p_stripe];
	if (found)
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
	int found;

	if ((found = index_enter(ix, name, len, &p, &b, &w)) == -1)
		return -1;
	st = &ix->ix_stripes[p.p_stripe];
	if (found) {
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
	index_negative_end_locked(ix, st, sl, b, w, p.p_tag, until_ms, now_ms);
	index_unlock(ix, p.p_stripe);
	return 0;
}

int
index_remove(struct index *ix, const char *name, size_t len)
{
	struct index_pos p;
	uint64_t b;
	unsigned w;
	int found;

	if ((found = index_enter(ix, name, len, &p, &b, &w)) == -1)
		return -1;
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
	int found, done = 0;

	if (id == NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((found = index_enter(ix, name, len, &p, &b, &w)) == -1)
		return -1;
	if (found && ix->ix_buckets[b].b_state[w] == INDEX_COPY &&
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
