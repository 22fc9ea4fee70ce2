/*
 * reserve.h - reservations of names being uploaded, so that of two
 * uploads of one new name at two nodes at the same moment exactly one
 * gets 201 while the network is whole. Pure rules over a table the
 * caller provides (shared memory in the daemon); time is an argument.
 *
 * An upload takes a stamp of the node's hybrid logical clock and asks
 * every alive member at once to reserve the name for (stamp, node); the
 * node itself holds its own reservation in the same table. A member
 * grants a reservation unless it holds one of another node with a smaller
 * (stamp, node) (that upload began first), or its own node's upload of
 * the name has already collected its grants. The uploading node itself,
 * while its own round is still out, grants a smaller reservation of
 * another node and gives its own up (it is "preempted"): so of two
 * concurrent rounds the one that began first wins everywhere, and a
 * round that finished first is never overtaken by a later-arriving one.
 *
 * Members that do not answer do not block an upload (availability
 * first): that is where conflicts come from, and the catalogue's rule
 * settles them. A reservation lasts RESERVE_TTL_MS unless its upload
 * ends it sooner (released, or its name is then in the catalogue); a
 * node's new reservation of a name replaces its old one, so a client
 * that retries is not refused by its own first attempt.
 *
 * Concurrency: every *_locked call wants reserve_lock() held.
 */
#ifndef SHOAL_CLUSTER_RESERVE_H
#define SHOAL_CLUSTER_RESERVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/members.h"

#define RESERVE_SLOTS 4096
#define RESERVE_TTL_MS 60000

enum reserve_verdict {
	RESERVE_GRANTED,
	RESERVE_EARLIER,	/* another node's upload began first */
	RESERVE_BUSY_HERE,	/* this node's own upload holds the name */
	RESERVE_FULL,		/* no room: refused, to be safe */
};

struct reserve_entry {
	uint64_t re_hash;		/* of the name; 0: free */
	uint64_t re_stamp;
	int64_t re_until;		/* wall ms */
	uint8_t re_state;		/* see reserve.c */
	int32_t re_pid;			/* this node's: the uploading worker */
	char re_node[MEMBER_NAME_MAX];
};

struct reserve_table {
	pthread_mutex_t rt_mutex;
	uint64_t rt_granted;		/* counters since the start */
	uint64_t rt_refused;
	uint64_t rt_preempted;
	struct reserve_entry rt_entries[RESERVE_SLOTS];
};

/* Makes a table in mem (sizeof(struct reserve_table) zeroed bytes).
 * Returns 0 or an errno value. */
int reserve_init(struct reserve_table *rt);
int reserve_lock(struct reserve_table *rt);
void reserve_unlock(struct reserve_table *rt);

/* The hash a name is reserved under. */
uint64_t reserve_hash(const char *name, size_t len);

/* Another member asks: reserve the name (hash) for (stamp, node). */
enum reserve_verdict reserve_request_locked(struct reserve_table *rt,
    uint64_t hash, uint64_t stamp, const char *node, int64_t now_ms);

/* That member's upload of (stamp) ended without the file: forget it. */
void reserve_release_locked(struct reserve_table *rt, uint64_t hash,
    uint64_t stamp, const char *node);

/* This node (`self`) begins an upload of (stamp) in worker `pid`: its own
 * reservation, unless an earlier one of another node is known here
 * already. Once its round is won it lasts as long as the upload, however
 * long; an entry whose worker died is taken for free. */
enum reserve_verdict reserve_begin_locked(struct reserve_table *rt,
    uint64_t hash, uint64_t stamp, const char *self, int pid,
    int64_t now_ms);

/* This node's round is over: true when the name is its upload's (then
 * no later request overtakes it), false when a smaller reservation
 * preempted it meanwhile. */
bool reserve_commit_locked(struct reserve_table *rt, uint64_t hash,
    uint64_t stamp, const char *self);

/* This node's upload of (stamp) is over, stored or not. */
void reserve_end_locked(struct reserve_table *rt, uint64_t hash,
    uint64_t stamp, const char *self);

const char *reserve_verdict_reason(enum reserve_verdict v);

#endif
