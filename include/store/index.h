/*
 * index.h - the shared index: a fixed-size hash table in a file-backed
 * MAP_SHARED mapping (STATE_DIR/index) that every process of one shoald
 * sees. It records, by file name:
 *
 *   COPY      a copy saved from a peer: its expiry and the identity
 *             (device, inode, size) of the file that was published;
 *   NEGATIVE  "no peer had it", until a deadline;
 *   FETCH     a peer transfer in flight: who fetches (pid), a fetch id,
 *             progress, the temporary file, so that one transfer serves
 *             every request that missed the name.
 *
 * Originals (put there by an operator, or uploaded) are not recorded and
 * never expire. A COPY whose expiry is 0 never expires either.
 *
 * Who calls what
 *   master   index_open() at start, before forking (the workers and the
 *            agent inherit the mapping and the handle); on a worker's
 *            death, index_fetch_abandon_pid().
 *   agent    the sweeper (store/sweeper.h), in its I/O thread: the first
 *            agent of a node, before the workers start, index_list() to
 *            drop the records whose file is gone; then, a second after
 *            each pass, index_expired() then index_remove_if().
 *   workers  index_lookup() before serving a local file; index_fetch_*()
 *            on a miss; index_remove() after an upload is published;
 *            index_stats() for /_/metrics.
 * Every function may be called from any process and any thread sharing the
 * handle; none sleeps (index_open() blocks on the disk). No function
 * logs: they return -1 (or an ERROR outcome) with errno set.
 * Times are CLOCK_REALTIME milliseconds passed in by the caller, so that
 * expiries survive a restart (and tests can fake the clock).
 *
 * Table and eviction
 *   The table has buckets of INDEX_WAYS entries, grouped under (up to) 256
 *   striped locks; a name hashes (XXH3-64) to one stripe and to two buckets
 *   of that stripe, and lives in either. A new entry goes to a free entry of
 *   the emptier bucket; when both are full, to a lapsed NEGATIVE entry's
 *   place, else to a slot freed by moving entries to their other bucket
 *   (cuckoo, within the stripe), else it evicts, in order: the oldest COPY
 *   that never expires (its record guards nothing), then the live NEGATIVE
 *   entry nearest its deadline. A FETCH in flight and a COPY with an
 *   expiry (even a past one) are never evicted: the record of a copy that
 *   must expire leaves the table only with index_remove_if() (after the
 *   caller removed the file) or index_remove(); so the index never loses
 *   track of an expiry. When no victim exists the insertion is refused:
 *   index_fetch_claim() answers INDEX_CLAIM_FULL (fetch without collapsing
 *   and do not keep a copy), index_put_copy() fails with ENOSPC (do not
 *   keep the copy). Evictions and refusals are counted (index_stats()).
 *
 * One transfer per miss: the protocol
 *   claim = index_fetch_claim(NAME, my pid)
 *     CLAIMED   fetch. While writing ROOT/.shoal-tmp/TMP, call
 *               index_fetch_progress(); once the file is whole and synced,
 *               index_fetch_publishing(identity, expiry), link it into
 *               place, then index_fetch_finish(INDEX_END_COPY). Or finish
 *               with INDEX_END_NEGATIVE (no peer had it) or
 *               INDEX_END_FAILED (discarded).
 *     BUSY      someone alive fetches: follow its fill (store/fill.h,
 *               found by f_id) once it announces one; until then, or
 *               if it never does, poll index_fetch_changed() (one atomic
 *               load, no lock); after any change or a timeout, claim
 *               again: the answer
 *               tells whether it is still running (BUSY), done (COPY,
 *               NEGATIVE), failed or orphaned (CLAIMED: now it is yours).
 *               Count the waiter with index_note_collapsed().
 *     NEGATIVE  answer 404.
 *     COPY      serve the file. If it turns out to be missing or another
 *               file, index_remove_if(its identity) and claim again.
 *     EXPIRED   a copy is recorded but has expired: remove the file (when
 *               it still is that copy), index_remove_if(), claim again; or
 *               relay without keeping a copy.
 *     FULL      no room: fetch without collapsing, keep no copy.
 *   A fetch whose owner process is gone is taken over by the next claim at
 *   once (kill(pid, 0) fails with ESRCH), and the master may clear all of a
 *   dead worker's fetches with index_fetch_abandon_pid(); its waiters see
 *   the change. The "publishing" step makes the publication crash-safe: if
 *   the owner dies between it and the finish, the entry becomes a COPY with
 *   the announced identity, and whoever finds the file missing drops it.
 *
 * Durability: index_open() reserves the file's blocks (posix_fallocate), so
 * a full disk cannot turn a page fault into SIGBUS. Entries survive close,
 * restart and SIGKILL; a file whose header does not match this layout and
 * geometry is rebuilt, never misread (entries of a smaller or larger table
 * of the same layout are carried over). Memory: 408 bytes per entry (a
 * 400-byte slot holding the whole name, and 8 bytes of bucket head), plus
 * a page of header and 512 bytes per stripe; see index_file_size().
 */
#ifndef SHOAL_INDEX_H
#define SHOAL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define INDEX_NAME_MAX 255		/* bytes of a name, no NUL */
#define INDEX_TMP_NAME_MAX 64		/* temporary name, NUL included */
#define INDEX_WAYS 8			/* entries per bucket */
#define INDEX_CAPACITY_MIN INDEX_WAYS
#define INDEX_CAPACITY_MAX (UINT64_C(1) << 28)
#define INDEX_SIZE_UNKNOWN UINT64_MAX	/* f_total when the peer sent no
					   length */

struct index;				/* one process's handle */

enum index_kind {
	INDEX_NONE,
	INDEX_COPY,
	INDEX_NEGATIVE,
	INDEX_FETCH,
};

/* Which file a COPY record is about: compare with fstat() before removing
 * a file (st_dev, st_ino, st_size). */
struct index_identity {
	uint64_t id_dev;
	uint64_t id_ino;
	uint64_t id_size;
};

/* A fetch in flight, as seen at one moment. */
struct index_fetch {
	pid_t f_pid;			/* the owner */
	uint64_t f_id;			/* unique for this index file */
	uint64_t f_written;		/* bytes in the temporary file */
	uint64_t f_total;		/* expected, or INDEX_SIZE_UNKNOWN */
	int64_t f_updated_ms;		/* the claim or last progress */
	bool f_publishing;		/* linking into place now */
	char f_tmp[INDEX_TMP_NAME_MAX];	/* in ROOT/.shoal-tmp, or "" */
	uint32_t f_seq;			/* see index_fetch_changed() */
	uint64_t f_where;		/* opaque: the entry's position */
};

/* A snapshot of one entry, copied out under its lock. */
struct index_entry {
	enum index_kind e_kind;
	size_t e_name_len;
	char e_name[INDEX_NAME_MAX + 1];	/* NUL-terminated */
	int64_t e_expiry_ms;	/* COPY: 0 never; NEGATIVE: deadline */
	struct index_identity e_id;	/* COPY; FETCH once publishing */
	struct index_fetch e_fetch;		/* FETCH */
};

enum index_open_how {
	INDEX_OPEN_KEPT,	/* an existing file: entries kept */
	INDEX_OPEN_CREATED,	/* there was none (or it was empty) */
	INDEX_OPEN_RESIZED,	/* another capacity: entries carried over */
	INDEX_OPEN_REBUILT_LAYOUT,	/* another layout version or geometry:
					   rebuilt empty */
	INDEX_OPEN_REBUILT_CORRUPT,	/* bad header or size: rebuilt */
};

/* What index_open() did. r_lost lists the COPY records with an expiry that
 * did not fit into a smaller table: the caller removes those files (when
 * they still are those copies) and frees the list with free(). */
struct index_open_report {
	enum index_open_how r_how;
	uint64_t r_kept;		/* entries in the table after open */
	uint64_t r_dropped;	/* fetches of the previous run, lapsed
				   negative entries, invalid entries */
	struct index_entry *r_lost;
	size_t r_nlost;
};

/*
 * Opens the index file at `path`, creating or rebuilding it as needed, for
 * at least `capacity` entries (rounded up; see index_capacity()). The file
 * is locked (flock LOCK_EX) for as long as the handle's descriptor is open
 * in any process: a second shoald on the same state directory gets
 * EWOULDBLOCK. Must be called while no other process uses the file (the
 * master, at start). Repairs what a crash left: half-written entries are
 * rolled back, locks reinitialised, fetches of the previous run dropped
 * (their temporary files are gone) except those that were publishing,
 * which become COPY records to be checked. A rebuilt file is written as
 * PATH.new and renamed over PATH. The file is created with mode 0600 and
 * the caller's owner (chown it if workers run as another user and may
 * reopen it; they need not: they inherit the mapping). Blocks on the disk.
 * Returns a handle (close with index_close()) and fills *report (may be
 * NULL), or NULL with errno: EINVAL (capacity out of range), EWOULDBLOCK
 * (in use), ENOSPC (no room for the file), or the failing call's errno.
 */
struct index *index_open(const char *path, uint64_t capacity, int64_t now_ms,
    struct index_open_report *report);

/* Unmaps this process's view and closes its descriptor; NULL is fine.
 * Other processes' handles (inherited through fork) are unaffected, and the
 * file lock stays until the last of them closes. */
void index_close(struct index *ix);

/* The number of entries the table holds (the rounded capacity). */
uint64_t index_capacity(const struct index *ix);

/* The size of the file in bytes (what the mapping may use). */
uint64_t index_file_size(const struct index *ix);

/*
 * The serving check, for a file about to be served from ROOT. `file` is
 * its identity from fstat (or NULL: any record of the name counts).
 * Returns:
 *   INDEX_LOOKUP_NONE      no record (or a record of another file, or a
 *                          lapsed negative one): serve;
 *   INDEX_LOOKUP_COPY      a saved copy still valid: serve;
 *   INDEX_LOOKUP_EXPIRED   a saved copy whose time passed (now_ms >=
 *                          expiry): never serve it;
 *   INDEX_LOOKUP_NEGATIVE  a live negative record;
 *   INDEX_LOOKUP_FETCH     a fetch in flight;
 *   INDEX_LOOKUP_ERROR     errno EINVAL (bad name length) or
 *                          ENOTRECOVERABLE (the lock is beyond repair).
 * When `out` is not NULL it receives the entry found (even one reported
 * as NONE), or e_kind INDEX_NONE. On INDEX_LOOKUP_ERROR the caller cannot
 * know whether the file expired: it should not serve it.
 * Cost: a hash, one stripe lock, one or two 64-byte bucket heads, and the
 * name compare of a candidate.
 */
enum index_lookup {
	INDEX_LOOKUP_ERROR = -1,
	INDEX_LOOKUP_NONE,
	INDEX_LOOKUP_COPY,
	INDEX_LOOKUP_EXPIRED,
	INDEX_LOOKUP_NEGATIVE,
	INDEX_LOOKUP_FETCH,
};
enum index_lookup index_lookup(struct index *ix, const char *name,
    size_t len, const struct index_identity *file, int64_t now_ms,
    struct index_entry *out);

/*
 * Records a COPY of `name` (identity `id`, expiry_ms: 0 never) without a
 * claim, replacing any entry of the name (a fetch in flight is superseded:
 * its later calls fail with ESTALE). Returns 0, or -1 with ENOSPC (no
 * room: the caller must not keep the copy, or must remove it), EINVAL.
 */
int index_put_copy(struct index *ix, const char *name, size_t len,
    const struct index_identity *id, int64_t expiry_ms, int64_t now_ms);

/* Records that no peer has `name` until `until_ms`, unless the name has a
 * COPY or FETCH entry (-1, EEXIST). Returns 0, or -1 with ENOSPC, EINVAL. */
int index_put_negative(struct index *ix, const char *name, size_t len,
    int64_t until_ms, int64_t now_ms);

/* Removes the entry of `name`, whatever its kind (after an upload of the
 * name is published: it clears a negative record, and a fetch in flight
 * learns with ESTALE that it lost). Returns 1 removed, 0 none, -1 error. */
int index_remove(struct index *ix, const char *name, size_t len);

/* Removes the COPY record of `name` only if it is exactly the copy `id`
 * (the caller removed that file, or found the name missing or replaced).
 * Counts an expiration when the copy had expired at now_ms. Returns 1
 * removed, 0 no such record, -1 error. */
int index_remove_if(struct index *ix, const char *name, size_t len,
    const struct index_identity *id, int64_t now_ms);

/*
 * The sweeper. Walks the table from *cursor (0 to start a pass) and copies
 * up to `max` expired COPY records into out[], then sets *cursor where to
 * go on; the pass is over when *cursor == index_capacity(). One stripe lock
 * at a time, never held across calls. In passing it drops lapsed negative
 * entries, and fetches whose owner is gone (a publishing one becomes a
 * COPY). Returns how many records it copied. The caller removes each file
 * (when it still is that copy) and then calls index_remove_if(). Entries
 * may move between their two buckets while a pass is between calls, so a
 * pass can miss one or return one twice; the next pass catches up.
 */
size_t index_expired(struct index *ix, int64_t now_ms, uint64_t *cursor,
    struct index_entry *out, size_t max);

/* Like index_expired(), but copies every entry of any kind (the pass at
 * start: drop records whose file is gone or replaced). */
size_t index_list(struct index *ix, uint64_t *cursor,
    struct index_entry *out, size_t max);

enum index_claim {
	INDEX_CLAIM_ERROR = -1,	/* errno EINVAL or ENOTRECOVERABLE */
	INDEX_CLAIMED,		/* yours: fetch (out->e_fetch.f_id) */
	INDEX_CLAIM_BUSY,	/* a live process fetches (out->e_fetch) */
	INDEX_CLAIM_NEGATIVE,	/* no peer had it (till e_expiry_ms) */
	INDEX_CLAIM_COPY,	/* a valid copy is recorded (out->e_id) */
	INDEX_CLAIM_EXPIRED,	/* an expired copy is there (out->e_id) */
	INDEX_CLAIM_FULL,	/* no room for a fetch entry */
};

/*
 * Claims the fetch of `name` for process `pid` (getpid()). Atomic across
 * all processes: of many concurrent claims with no entry, exactly one gets
 * INDEX_CLAIMED. A FETCH entry is taken over (INDEX_CLAIMED, counted) when
 * its owner is gone (a zombie counts as alive until the master reaps it),
 * or when stall_ms > 0 and it made no progress for stall_ms (0: never;
 * this also covers a reused pid); a claim by the owner's own pid answers
 * BUSY. An orphaned or stalled fetch that was publishing becomes the COPY
 * it announced instead (answer COPY or EXPIRED; should its owner link the
 * file later, its INDEX_END_COPY records it again). A lapsed NEGATIVE
 * entry is replaced. A NEGATIVE answer is counted as a negative hit.
 * `out` (may be NULL) receives the entry.
 */
enum index_claim index_fetch_claim(struct index *ix, const char *name,
    size_t len, pid_t pid, int64_t now_ms, int64_t stall_ms,
    struct index_entry *out);

/*
 * The owner reports progress: `written` bytes are in the temporary file
 * `tmp` (NULL: unchanged; at most INDEX_TMP_NAME_MAX - 1 bytes), out of
 * `total` (INDEX_SIZE_UNKNOWN if not known); waiters see the change
 * (index_fetch_changed()). Returns 0, or -1 with ESTALE (the fetch is no
 * longer this one: taken over, or removed by an upload), ENAMETOOLONG,
 * EINVAL.
 */
int index_fetch_progress(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, uint64_t written, uint64_t total, const char *tmp,
    int64_t now_ms);

/* The owner announces the copy it is about to link into place: its
 * identity and expiry (0 never). Returns 0 or -1 (ESTALE, EINVAL). */
int index_fetch_publishing(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, const struct index_identity *id, int64_t expiry_ms,
    int64_t now_ms);

enum index_end {
	INDEX_END_COPY,		/* published: id and until_ms = expiry */
	INDEX_END_NEGATIVE,	/* no peer had it: until_ms = deadline */
	INDEX_END_FAILED,	/* nothing kept: the entry goes */
};

/*
 * The owner ends its fetch. INDEX_END_COPY records the
 * copy (id must not be NULL) even if the fetch was taken over or removed
 * meanwhile (the file is on disk now, so its expiry must be known): it
 * then fails only with ENOSPC, and the caller must remove the file. The
 * other ends change nothing when the fetch is no longer this one (-1,
 * ESTALE). Returns 0 or -1 with errno.
 */
int index_fetch_finish(struct index *ix, const char *name, size_t len,
    uint64_t fetch_id, enum index_end how, const struct index_identity *id,
    int64_t until_ms, int64_t now_ms);

/* Has the entry of snapshot `f` (from a BUSY claim) changed since? Every
 * update of the entry (progress, publishing, finish, takeover, removal, a
 * move to its other bucket) changes it. One atomic load, no lock: call it
 * as often as you like. */
bool index_fetch_changed(const struct index *ix, const struct index_fetch *f);

/* Ends every fetch owned by `pid` (a worker that died): publishing ones
 * become COPY records, the others are removed; their waiters see the
 * change. Returns how many, or -1 with errno. Cheap when the table has no
 * fetch. */
long index_fetch_abandon_pid(struct index *ix, pid_t pid);

/* Adds n to the collapsed-waiters counter (a request that waited for
 * another's fetch instead of starting its own). */
void index_note_collapsed(struct index *ix, uint64_t n);

/* Counters live in the file, shared by every process; kept across
 * restarts. Entry counts are read without locks (a moment stale). */
struct index_stats {
	uint64_t is_capacity;
	uint64_t is_copies;		/* entries by kind, now */
	uint64_t is_negatives;
	uint64_t is_fetches;
	uint64_t is_expirations;	/* expired copies removed */
	uint64_t is_evictions;		/* live entries pushed out */
	uint64_t is_full;		/* insertions refused: no victim */
	uint64_t is_collapsed;		/* index_note_collapsed() */
	uint64_t is_negative_hits;	/* claims answered NEGATIVE */
	uint64_t is_takeovers;		/* from dead or stalled owners */
	uint64_t is_lock_repairs;	/* locks recovered from a dead owner */
};
void index_stats(const struct index *ix, struct index_stats *out);

#endif
