/*
 * reserve.c - the rules of name reservations (see cluster/reserve.h).
 * Any process; the table is in shared memory, guarded by its robust
 * mutex (every *_locked call).
 *
 * A name's entries (one per node asking) live in a window of
 * RESERVE_WINDOW slots from the slot its hash picks; every lookup reads
 * the whole window, so that freeing a slot never hides another entry.
 * A window with no free slot refuses (RESERVE_FULL): a reservation we
 * cannot remember must not be granted. This node's own entries carry the
 * pid of the uploading worker, checked with kill(pid, 0): the only
 * system call here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/reserve.h"
#include "core/shm.h"

#define RESERVE_WINDOW 32

enum {
	RS_FREE,
	RS_OTHER,		/* a member's, granted here */
	RS_OWN,			/* this node's, its round under way */
	RS_OWN_COMMITTED,	/* this node's, its round won */
	RS_OWN_PREEMPTED,	/* this node's, overtaken by a smaller one */
};

int
reserve_init(struct reserve_table *rt)
{
	return shm_mutex_init(&rt->rt_mutex);
}

int
reserve_lock(struct reserve_table *rt)
{
	/* A holder that died leaves at worst one entry half-written: a
	 * reservation is a hint that expires, nothing to repair. */
	return shm_mutex_lock(&rt->rt_mutex, NULL) == 0 ? 0 : -1;
}

void
reserve_unlock(struct reserve_table *rt)
{
	pthread_mutex_unlock(&rt->rt_mutex);
}

uint64_t
reserve_hash(const char *name, size_t len)
{
	uint64_t h = XXH3_64bits(name, len);

	return h != 0 ? h : 1;	/* 0 marks a free slot */
}

/* (stamp, node) order: <0 when a began first. */
static int
reserve_cmp(uint64_t sa, const char *na, uint64_t sb, const char *nb)
{
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return strcmp(na, nb);
}

static struct reserve_entry *
reserve_slot(struct reserve_table *rt, uint64_t hash, unsigned k)
{
	return &rt->rt_entries[(hash + k) % RESERVE_SLOTS];
}

/* An entry of the name, in force: not expired, and when this node's own,
 * its worker still there (a worker killed mid-upload ends nothing). */
static bool
reserve_live(const struct reserve_entry *e, uint64_t hash, int64_t now_ms)
{
	return e->re_hash == hash && e->re_state != RS_FREE &&
	    e->re_until > now_ms && (e->re_state == RS_OTHER ||
	    kill(e->re_pid, 0) == 0 || errno != ESRCH);
}

/*
 * Whether (stamp, node) may have the name, seen from this table: refused
 * by a smaller reservation of another node, or by this node's own round
 * when it is won; this node's own round under way yields to a smaller one
 * (unless `dry`: the check of this node's own new round changes nothing).
 */
static enum reserve_verdict
reserve_check(struct reserve_table *rt, uint64_t hash, uint64_t stamp,
    const char *node, int64_t now_ms, bool dry)
{
	unsigned k;

	for (k = 0; k < RESERVE_WINDOW; k++) {
		struct reserve_entry *e = reserve_slot(rt, hash, k);

		if (!reserve_live(e, hash, now_ms) ||
		    strcmp(e->re_node, node) == 0)
			continue;
		switch (e->re_state) {
		case RS_OWN_COMMITTED:
			return RESERVE_BUSY_HERE;
		case RS_OWN:
			if (reserve_cmp(e->re_stamp, e->re_node, stamp,
			    node) < 0)
				return RESERVE_BUSY_HERE;
			break;
		case RS_OTHER:
			if (reserve_cmp(e->re_stamp, e->re_node, stamp,
			    node) < 0)
				return RESERVE_EARLIER;
			break;
		default:
			break;		/* preempted: it lost already */
		}
	}
	if (dry)
		return RESERVE_GRANTED;
	for (k = 0; k < RESERVE_WINDOW; k++) {
		struct reserve_entry *e = reserve_slot(rt, hash, k);

		if (reserve_live(e, hash, now_ms) && e->re_state == RS_OWN &&
		    strcmp(e->re_node, node) != 0) {
			e->re_state = RS_OWN_PREEMPTED;
			rt->rt_preempted++;
		}
	}
	return RESERVE_GRANTED;
}

/* Records (stamp, node) in `state`, replacing the node's older entry of
 * the name. False when the window is full. */
static bool
reserve_put(struct reserve_table *rt, uint64_t hash, uint64_t stamp,
    const char *node, int state, int pid, int64_t now_ms)
{
	struct reserve_entry *free_slot = NULL, *e;
	unsigned k;

	for (k = 0; k < RESERVE_WINDOW; k++) {
		e = reserve_slot(rt, hash, k);
		if (reserve_live(e, hash, now_ms) &&
		    strcmp(e->re_node, node) == 0) {
			free_slot = e;
			break;
		}
		if (free_slot == NULL && !reserve_live(e, e->re_hash, now_ms))
			free_slot = e;
	}
	if (free_slot == NULL)
		return false;
	free_slot->re_hash = hash;
	free_slot->re_stamp = stamp;
	free_slot->re_until = now_ms + RESERVE_TTL_MS;
	free_slot->re_state = (uint8_t)state;
	free_slot->re_pid = pid;
	snprintf(free_slot->re_node, sizeof(free_slot->re_node), "%s", node);
	return true;
}

static struct reserve_entry *
reserve_find(struct reserve_table *rt, uint64_t hash, uint64_t stamp,
    const char *node)
{
	unsigned k;

	for (k = 0; k < RESERVE_WINDOW; k++) {
		struct reserve_entry *e = reserve_slot(rt, hash, k);

		if (e->re_hash == hash && e->re_state != RS_FREE &&
		    e->re_stamp == stamp && strcmp(e->re_node, node) == 0)
			return e;
	}
	return NULL;
}

static enum reserve_verdict
reserve_counted(struct reserve_table *rt, enum reserve_verdict v)
{
	if (v == RESERVE_GRANTED)
		rt->rt_granted++;
	else
		rt->rt_refused++;
	return v;
}

enum reserve_verdict
reserve_request_locked(struct reserve_table *rt, uint64_t hash,
    uint64_t stamp, const char *node, int64_t now_ms)
{
	enum reserve_verdict v;

	if ((v = reserve_check(rt, hash, stamp, node, now_ms, true)) !=
	    RESERVE_GRANTED)
		return reserve_counted(rt, v);
	if (!reserve_put(rt, hash, stamp, node, RS_OTHER, 0, now_ms))
		return reserve_counted(rt, RESERVE_FULL);
	(void)reserve_check(rt, hash, stamp, node, now_ms, false);
	return reserve_counted(rt, RESERVE_GRANTED);
}

void
reserve_release_locked(struct reserve_table *rt, uint64_t hash,
    uint64_t stamp, const char *node)
{
	struct reserve_entry *e = reserve_find(rt, hash, stamp, node);

	if (e != NULL && e->re_state == RS_OTHER)
		e->re_state = RS_FREE;
}

enum reserve_verdict
reserve_begin_locked(struct reserve_table *rt, uint64_t hash,
    uint64_t stamp, const char *self, int pid, int64_t now_ms)
{
	enum reserve_verdict v;

	if ((v = reserve_check(rt, hash, stamp, self, now_ms, true)) !=
	    RESERVE_GRANTED)
		return v;
	if (!reserve_put(rt, hash, stamp, self, RS_OWN, pid, now_ms))
		return RESERVE_FULL;
	return RESERVE_GRANTED;
}

bool
reserve_commit_locked(struct reserve_table *rt, uint64_t hash,
    uint64_t stamp, const char *self)
{
	struct reserve_entry *e = reserve_find(rt, hash, stamp, self);

	if (e == NULL || e->re_state != RS_OWN)
		return false;
	e->re_state = RS_OWN_COMMITTED;
	/* While the body streams, however long (reserve_live() frees it
	 * if the worker dies). */
	e->re_until = INT64_MAX;
	return true;
}

void
reserve_end_locked(struct reserve_table *rt, uint64_t hash, uint64_t stamp,
    const char *self)
{
	struct reserve_entry *e = reserve_find(rt, hash, stamp, self);

	if (e != NULL)
		e->re_state = RS_FREE;
}

const char *
reserve_verdict_reason(enum reserve_verdict v)
{
	switch (v) {
	case RESERVE_GRANTED:
		return "granted";
	case RESERVE_EARLIER:
		return "an upload of the name at another node began first";
	case RESERVE_BUSY_HERE:
		return "the name is being uploaded at another node";
	case RESERVE_FULL:
		return "too many uploads under way to reserve the name";
	}
	return "refused";
}
