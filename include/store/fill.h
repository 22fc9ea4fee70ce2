/*
 * fill.h - the fills in flight, as their waiters follow them: a table in
 * shared memory (an anonymous MAP_SHARED mapping the master makes before
 * forking, so every worker of every generation sees the same one) where a
 * worker saving a peer's answer into a temporary file publishes what a
 * request for the same name in any worker needs to stream that file while
 * it grows: the answer's head (length, ETag, Last-Modified), the
 * temporary file's name, how many bytes are in it, and how it ended
 * (done: every byte is in the file; failed: they never will be).
 *
 * The shared index (index.h) stays the arbiter of who fetches a name; a
 * fill is found by the fetch id a BUSY claim gives. A fill is only made
 * for an answer whose length is known: a waiter must know where the body
 * ends to never pass a short one off as whole.
 *
 * Who calls what
 *   master   fill_table_create() before forking; fill_abandon_pid() when
 *            a worker dies (its fills fail, and their waiters cut their
 *            clients).
 *   workers  the owner (relay.c): fill_begin() once the temporary file
 *            exists, fill_progress() after each write, fill_end(). The
 *            waiters (follow.c): fill_find(), then fill_look() whenever
 *            they have sent all they knew of.
 * Any process and thread may call any function; none blocks or sleeps,
 * none takes a lock: the fields a waiter follows are atomic words, and a
 * slot's head is written before its state says RUNNING (release/acquire),
 * read with a recheck of the slot's id and state around it (a seqlock).
 * Waking: none. A waiter that has caught up looks again on a short timer
 * of its own (FILL_FOLLOW_TICK_MS): one atomic load per look, no
 * descriptor shared between processes, nothing to clean up when a worker
 * dies, and the lag it adds is a few ms on transfers of seconds.
 *
 * Slot lifetime: a slot that ended (done or failed) keeps its outcome for
 * FILL_LINGER_MS before a new fill may take it, so that a waiter busy with
 * a slow client still finds out how its fill ended. One that finds its
 * slot taken (ESTALE) cannot know: it must treat the fill as failed.
 */
#ifndef SHOAL_STORE_FILL_H
#define SHOAL_STORE_FILL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/index.h"

#define FILL_SLOTS 1024			/* fills in flight at once, per node */
#define FILL_ETAG_MAX 80		/* the peer's ETag, NUL included */
#define FILL_LINGER_MS 60000
#define FILL_FOLLOW_TICK_MS 5

struct fill_table;

enum fill_state {
	FILL_FREE,		/* never used */
	FILL_SETTING,		/* being taken by an owner */
	FILL_RUNNING,		/* bytes arrive */
	FILL_DONE,		/* every byte of fh_total is in the file */
	FILL_FAILED,		/* the fill stopped short, for good */
};

/* What the owner announces, once, in fill_begin(). */
struct fill_head {
	uint64_t fh_total;		/* body bytes */
	int64_t fh_mtime;		/* Last-Modified, seconds */
	char fh_etag[FILL_ETAG_MAX];	/* as the peer sent it, quotes too */
	char fh_tmp[INDEX_TMP_NAME_MAX];	/* in ROOT/.shoal-tmp */
};

/* A fill as a waiter sees it at one moment. */
struct fill_view {
	enum fill_state fv_state;	/* RUNNING, DONE or FAILED */
	uint64_t fv_written;		/* bytes in the file from offset 0 */
};

/* Maps a new table (master, before forking). Returns it, or NULL with
 * errno (mmap's). */
struct fill_table *fill_table_create(void);

/* Unmaps this process's view; NULL is fine. */
void fill_table_free(struct fill_table *ft);

/*
 * The owner of fetch `fetch_id` (index.h) announces its fill. Takes a
 * free slot, or one that ended at least FILL_LINGER_MS before now_ms.
 * Returns the slot (for the calls below), or -1 with errno ENOSPC (no
 * slot: the waiters wait for the copy instead) or EINVAL (fetch_id 0, or
 * an ETag or temporary name too long).
 */
int fill_begin(struct fill_table *ft, uint64_t fetch_id, pid_t pid,
    const struct fill_head *head, int64_t now_ms);

/* The owner: `written` bytes are in the file (they only grow). */
void fill_progress(struct fill_table *ft, int slot, uint64_t written);

/* The owner: the fill is over, `done` (every byte is in) or failed. Only
 * the first end counts. */
void fill_end(struct fill_table *ft, int slot, bool done, int64_t now_ms);

/* Fails every running fill of `pid` (a worker that died). Returns how
 * many. */
int fill_abandon_pid(struct fill_table *ft, pid_t pid, int64_t now_ms);

/* A waiter finds the fill of fetch `fetch_id` and copies its head.
 * Returns its slot, or -1 with errno ENOENT (no such fill: none was made,
 * or its slot was taken since). */
int fill_find(const struct fill_table *ft, uint64_t fetch_id,
    struct fill_head *head);

/* A waiter looks at the fill of fetch `fetch_id` in `slot`. Returns 0, or
 * -1 with errno ESTALE (the slot holds another fill now: the outcome is
 * unknown). */
int fill_look(const struct fill_table *ft, int slot, uint64_t fetch_id,
    struct fill_view *view);

#endif
