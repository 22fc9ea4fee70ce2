/*
 * index_int.h - what the files of the shared index share and nobody else
 * sees: the structures of the mapping, its geometry, and the functions one
 * index file offers the others. Only src/store/index*.c (and the unit
 * tests) include it; the rest of shoal uses store/index.h.
 *
 * The files
 *   index.c         open and close, the entry API (lookup, put, remove,
 *                   the walks, stats) and index_enter(), the start of every
 *                   call about one name;
 *   index_table.c   the table algorithm: geometry, where a name lives,
 *                   finding it, cuckoo moves, choosing room, snapshots;
 *   index_repair.c  the process-shared robust locks, the change protocol
 *                   (undo record), the repair of half-written entries;
 *   index_file.c    the file: layout, header, create, map, classify,
 *                   migrate;
 *   index_fetch.c   the fetch protocol.
 *
 * Locks (who guards what)
 *   st_mutex of stripe s guards the stripe's buckets (tags, states, slots),
 *   its counts and its undo record. Exception: a slot's s_seq word, which
 *   only the lock holder advances but index_fetch_changed() reads without
 *   the lock; it is left out of every copy of a slot (a move or a rollback
 *   never brings an old value back). st_count is written under the lock
 *   with atomic stores, and read without it (index_stats()).
 *   The header's counters are atomic and need no lock. The geometry in the
 *   header is written once, before any other process exists.
 *   Nobody ever holds two stripe locks, nor a lock across calls, nor while
 *   sleeping; under a lock the only system call is kill(pid, 0).
 *   A function whose name ends in _locked is called with the lock of the
 *   stripe it works on held. index_enter() (or index_lock()) takes it,
 *   index_unlock() releases it.
 */
#ifndef SHOAL_INDEX_INT_H
#define SHOAL_INDEX_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/index.h"

#define INDEX_MAGIC "shoalidx"
#define INDEX_VERSION 1
#define INDEX_PAGE 4096
#define INDEX_STRIPES_MAX 256
#define INDEX_STRIPE_BUCKETS 256	/* fewer stripes in small tables */
#define INDEX_CUCKOO_NODES 18		/* buckets searched to make room */
#define INDEX_SLOT_PUBLISHING 0x01

/* The state byte of a slot; the values are those of enum index_kind. */
enum {
	INDEX_EMPTY = INDEX_NONE,
	INDEX_STATES = INDEX_FETCH + 1,
};

/* The structures below are the file's layout (index_file.c): any change
 * to them changes the sizes the header records, and the file is rebuilt. */

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

/* One process's handle: read only after index_open(). */
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

static inline struct index_slot *
index_slot(const struct index *ix, uint64_t b, unsigned w)
{
	return &ix->ix_buckets[b].b_slot[w];
}

static inline bool
index_expired_at(int64_t expiry_ms, int64_t now_ms)
{
	return expiry_ms != 0 && now_ms >= expiry_ms;
}

/* index.c */

/* The start of every call about one name: checks the name, finds where
 * it may live (*p) and takes the lock of its stripe. Returns 1 with the
 * name's entry at (*bp, *wp), or 0 when it has none; either way the lock
 * of p->p_stripe is held, for the caller to release with index_unlock().
 * Returns -1 with errno (EINVAL: bad name; ENOTRECOVERABLE: the lock is
 * beyond repair) and no lock held. */
int index_enter(struct index *ix, const char *name, size_t len,
    struct index_pos *p, uint64_t *bp, unsigned *wp);

/* index_table.c */

/* The geometry of a table of at least `capacity` entries. Returns 0, or -1
 * with EINVAL (capacity out of range). */
int index_geometry(uint64_t capacity, struct index_geometry *g);

/* Where `name` may live: its stripe, its tag, its two buckets. */
void index_locate(const struct index_geometry *g, const char *name,
    size_t len, struct index_pos *p);

/* Finds `name` in its buckets; returns true and its place, or false. */
bool index_find_locked(const struct index *ix, const struct index_pos *p,
    const char *name, size_t len, uint64_t *bp, unsigned *wp);

/* Begins a new entry for `name` (index_change_begin_locked()), evicting
 * if need be. Returns the slot (name set, the rest cleared) and its place,
 * or NULL when there is no room. The caller ends the change. */
struct index_slot *index_insert_begin_locked(struct index *ix,
    const struct index_pos *p, const char *name, size_t len,
    int64_t now_ms, uint64_t *bp, unsigned *wp);

/* Copies the entry at (b, w) out into *e. */
void index_snapshot_locked(const struct index *ix, uint64_t b, unsigned w,
    struct index_entry *e);

/* index_repair.c */

/* Takes stripe s's lock, repairing the stripe when its last owner died
 * holding it. Returns 0, or -1 with errno. */
int index_lock(struct index *ix, uint32_t s);
void index_unlock(struct index *ix, uint32_t s);

/* A change of slot (b, w) of stripe st: begin saves the slot so that a
 * death before the end rolls it back, and returns it; end makes it an
 * entry of `state` and `tag` (the state byte is written last), and
 * advances its counts and its sequence word. */
struct index_slot *index_change_begin_locked(struct index *ix,
    struct index_stripe *st, uint64_t b, unsigned w);
void index_change_end_locked(struct index *ix, struct index_stripe *st,
    uint64_t b, unsigned w, uint8_t state, uint32_t tag);

/* Clears every field but the sequence word (and, if keep_name, the name);
 * inside a change. */
void index_slot_reset(struct index_slot *sl, bool keep_name);

/* Empties slot (b, w) of stripe st through the change protocol. */
/* Ends the change begun on slot sl at (b, w) (an insert, or a change of
 * an entry) by making it a negative entry until until_ms; the name
 * stays. */
void index_negative_end_locked(struct index *ix, struct index_stripe *st,
    struct index_slot *sl, uint64_t b, unsigned w, uint32_t tag,
    int64_t until_ms, int64_t now_ms);

void index_remove_locked(struct index *ix, struct index_stripe *st,
    uint64_t b, unsigned w);

/* At open, while no other process uses the file: initialises every lock
 * and repairs every stripe (see index_repair.c). Adds the entries dropped
 * to *dropped. Returns 0, or -1 with errno. */
int index_recover_all(struct index *ix, int64_t now_ms, uint64_t *dropped);

/* index_file.c */

/* What an existing file of `size` bytes holds, judged by its header alone;
 * *old gets the geometry of a file of this layout (for KEPT and RESIZED). */
enum index_open_how index_classify(int fd, off_t size,
    const struct index_geometry *want, struct index_geometry *old);

/* Maps the file of descriptor fd. Returns a handle holding fd, or NULL
 * with errno. index_unmap() unmaps and frees it (fd stays open). */
struct index *index_map(int fd, const struct index_geometry *g);
void index_unmap(struct index *ix);

/* Creates a new, empty index file at `path` (the caller renames it into
 * place), locked, sized, with its blocks reserved. Returns the mapped
 * handle or NULL with errno. */
struct index *index_create(const char *path, const struct index_geometry *g);

/* Copies the entries of `old` into `ix` (both private to this process) and
 * the shared counters; copies with an expiry that find no room go to
 * rep->r_lost, other entries that find none count in rep->r_dropped.
 * Returns 0, or -1 (ENOMEM). */
int index_migrate(struct index *old, struct index *ix,
    struct index_open_report *rep);

/* index_fetch.c */

/* Has process pid gone (or is pid not a process)? */
bool index_pid_gone(pid_t pid);

/* A fetch that will not finish: a publishing one becomes the COPY it
 * announced, any other goes. Returns the new state. */
uint8_t index_orphan_locked(struct index *ix, struct index_stripe *st,
    uint64_t b, unsigned w);

#endif
