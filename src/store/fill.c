/*
 * fill.c - the fills in flight, in shared memory (see fill.h).
 *
 * Processes and threads: the master makes the table; workers' loop
 * threads own and follow fills; the master fails a dead worker's.
 * Locks: none. A slot's owner is whoever moved its state word from FREE
 * (or from an end older than FILL_LINGER_MS) to SETTING with a
 * compare-and-swap; only the owner writes the slot until it ends it, and
 * only the master writes it besides, once the owner is dead. Readers check
 * the id and the state before and after what they copy.
 */
#include <errno.h>
#include <string.h>

#include "core/shm.h"
#include "store/fill.h"

struct fill_slot {
	uint64_t fs_id;			/* the fetch's id; 0: never used */
	uint32_t fs_state;		/* enum fill_state */
	int32_t fs_pid;			/* the owner */
	uint64_t fs_written;
	int64_t fs_ended_ms;
	struct fill_head fs_head;
};

struct fill_table {
	struct fill_slot ft_slot[FILL_SLOTS];
};

struct fill_table *
fill_table_create(void)
{
	/* Anonymous shared memory is zeroed: every slot FILL_FREE. */
	return shm_anon(sizeof(struct fill_table));
}

void
fill_table_free(struct fill_table *ft)
{
	shm_free(ft, sizeof(*ft));
}

/* Where the search for a fill starts: spread, so that a lookup is one
 * slot in the usual case. */
static unsigned
fill_home(uint64_t fetch_id)
{
	return (unsigned)((fetch_id * UINT64_C(0x9e3779b97f4a7c15)) >> 54) %
	    FILL_SLOTS;
}

static uint32_t
fill_state_of(const struct fill_slot *sl)
{
	return __atomic_load_n(&sl->fs_state, __ATOMIC_ACQUIRE);
}

/* Takes slot `sl` if it is free or ended long enough ago. */
static bool
fill_take(struct fill_slot *sl, int64_t now_ms)
{
	uint32_t st = fill_state_of(sl);

	if (st != FILL_FREE && !((st == FILL_DONE || st == FILL_FAILED) &&
	    now_ms - __atomic_load_n(&sl->fs_ended_ms, __ATOMIC_RELAXED) >=
	    FILL_LINGER_MS))
		return false;
	if (!__atomic_compare_exchange_n(&sl->fs_state, &st, FILL_SETTING,
	    false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return false;
	/* Readers that see what follows see SETTING too (fill_find). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return true;
}

int
fill_begin(struct fill_table *ft, uint64_t fetch_id, pid_t pid,
    const struct fill_head *head, int64_t now_ms)
{
	unsigned home = fill_home(fetch_id), i;

	if (fetch_id == 0 ||
	    strnlen(head->fh_etag, FILL_ETAG_MAX) == FILL_ETAG_MAX ||
	    strnlen(head->fh_tmp, INDEX_TMP_NAME_MAX) == INDEX_TMP_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < FILL_SLOTS; i++) {
		unsigned k = (home + i) % FILL_SLOTS;
		struct fill_slot *sl = &ft->ft_slot[k];

		if (!fill_take(sl, now_ms))
			continue;
		__atomic_store_n(&sl->fs_id, fetch_id, __ATOMIC_RELAXED);
		sl->fs_pid = (int32_t)pid;
		__atomic_store_n(&sl->fs_written, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&sl->fs_ended_ms, 0, __ATOMIC_RELAXED);
		sl->fs_head = *head;
		__atomic_store_n(&sl->fs_state, FILL_RUNNING, __ATOMIC_RELEASE);
		return (int)k;
	}
	errno = ENOSPC;
	return -1;
}

void
fill_progress(struct fill_table *ft, int slot, uint64_t written)
{
	__atomic_store_n(&ft->ft_slot[slot].fs_written, written,
	    __ATOMIC_RELEASE);
}

/* Moves a running slot to its end; false when it had ended already. */
static bool
fill_end_slot(struct fill_slot *sl, bool done, int64_t now_ms)
{
	uint32_t st = FILL_RUNNING;

	__atomic_store_n(&sl->fs_ended_ms, now_ms, __ATOMIC_RELAXED);
	return __atomic_compare_exchange_n(&sl->fs_state, &st,
	    done ? FILL_DONE : FILL_FAILED, false, __ATOMIC_RELEASE,
	    __ATOMIC_RELAXED);
}

void
fill_end(struct fill_table *ft, int slot, bool done, int64_t now_ms)
{
	(void)fill_end_slot(&ft->ft_slot[slot], done, now_ms);
}

int
fill_abandon_pid(struct fill_table *ft, pid_t pid, int64_t now_ms)
{
	int n = 0;
	unsigned k;

	for (k = 0; k < FILL_SLOTS; k++) {
		struct fill_slot *sl = &ft->ft_slot[k];

		if (fill_state_of(sl) == FILL_RUNNING && sl->fs_pid == pid &&
		    fill_end_slot(sl, false, now_ms))
			n++;
	}
	return n;
}

/* Is slot `sl` the fill of fetch_id, past its setting? */
static bool
fill_is(const struct fill_slot *sl, uint64_t fetch_id)
{
	return fill_state_of(sl) >= FILL_RUNNING &&
	    __atomic_load_n(&sl->fs_id, __ATOMIC_ACQUIRE) == fetch_id;
}

int
fill_find(const struct fill_table *ft, uint64_t fetch_id,
    struct fill_head *head)
{
	unsigned home = fill_home(fetch_id), i;

	for (i = 0; fetch_id != 0 && i < FILL_SLOTS; i++) {
		unsigned k = (home + i) % FILL_SLOTS;
		const struct fill_slot *sl = &ft->ft_slot[k];

		if (!fill_is(sl, fetch_id))
			continue;
		*head = sl->fs_head;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!fill_is(sl, fetch_id))
			break;	/* taken meanwhile: the fill is gone */
		head->fh_etag[FILL_ETAG_MAX - 1] = '\0';
		head->fh_tmp[INDEX_TMP_NAME_MAX - 1] = '\0';
		return (int)k;
	}
	errno = ENOENT;
	return -1;
}

int
fill_look(const struct fill_table *ft, int slot, uint64_t fetch_id,
    struct fill_view *view)
{
	const struct fill_slot *sl = &ft->ft_slot[slot];

	if (!fill_is(sl, fetch_id))
		goto stale;
	/* The state first: a DONE read here means every byte is written
	 * (the owner stored the count before the state). */
	view->fv_state = (enum fill_state)fill_state_of(sl);
	view->fv_written = __atomic_load_n(&sl->fs_written, __ATOMIC_ACQUIRE);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&sl->fs_id, __ATOMIC_RELAXED) == fetch_id &&
	    view->fv_state >= FILL_RUNNING)
		return 0;
stale:
	errno = ESTALE;
	return -1;
}
