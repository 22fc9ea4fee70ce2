/*
 * parts.h - the disk side of a store's parts, in the state directory:
 *
 *   parts/tmp/            part bodies being received (spool temporary
 *                         files), and manifests being written
 *   parts/pending/ID.I    part I of object ID, whole and fsynced, not yet
 *                         committed by the upload that sent it
 *   parts/objects/ID.I    a committed part, and beside it
 *   parts/objects/ID.json the object's manifest: written last, it is what
 *                         makes the parts of ID here committed
 *   parts/names/NAME      the same manifest under the object's name, for
 *                         reads by name at this store
 *
 * Every function does blocking I/O: a pool thread, or the agent's pool.
 * The directories are shared by every process of the node; a name is
 * only ever created by link or rename, so a reader sees a part whole or
 * not at all. No locks.
 */
#ifndef SHOAL_STRIPE_PARTS_H
#define SHOAL_STRIPE_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stripe/manifest.h"

/*
 * A part file is the part's bytes followed by their blocks' checksums
 * (stripe/blocksum.h): written by the store as the part arrives, checked
 * at commit against the manifest's size and block, and on every read.
 */

/* The directories, opened (O_PATH) by parts_dirs_open(). */
struct parts_dirs {
	int pd_tmp;
	int pd_pending;
	int pd_objects;
	int pd_names;
};

#define PARTS_FILE_MAX (MANIFEST_ID_LEN + 8)	/* "ID.json", "ID.15" */

/* Makes the directories under state_fd when missing and opens them.
 * Returns 0, or -1 with errno (the descriptors opened so far closed). */
int parts_dirs_open(int state_fd, struct parts_dirs *d);
void parts_dirs_close(struct parts_dirs *d);

/* "ID.I" and "ID.json" into out[PARTS_FILE_MAX]. */
void parts_file_name(const char *id, unsigned index, char *out);
void parts_manifest_name(const char *id, char *out);

/* Writes text[0..len) as dir_fd/name, whole or not at all: a temporary
 * file in tmp_fd (same file system), fsynced, linked (never replacing a
 * name: EEXIST), the directory fsynced. Returns 0 or -1 with errno. */
int parts_write_file(int tmp_fd, int dir_fd, const char *name,
    const char *text, size_t len);

/* The same, replacing what is there (a rename over it). */
int parts_replace_file(int tmp_fd, int dir_fd, const char *name,
    const char *text, size_t len);

enum parts_commit_result {
	PARTS_COMMITTED,	/* now (or already) committed here */
	PARTS_NO_PART,		/* no pending part of this index here */
	PARTS_MISMATCH,		/* the part's size or digest is not m's */
	PARTS_STALE,		/* a manifest of m's generation or later is
				   here */
	PARTS_ERROR,		/* errno */
};

/*
 * Commits part `index` of m here: the pending part must have the size and
 * digest m gives it, and a trailer made for that size and m's block; it
 * moves to objects/ (its mtime made now: the sweep does not take it for
 * an orphan before m is there), then m is written beside it
 * (fsynced, linked, the directories fsynced). A part already committed
 * with the same manifest is PARTS_COMMITTED again (a retried commit), as
 * is one in objects/ with no manifest beside it yet (a commit under way
 * in another thread, or cut short), once checked and m written; a
 * pending part of an object with another manifest here is PARTS_STALE
 * (left pending), and so is a part that manifest does not place here
 * (another move's commit came first: the part goes back to pending). A part already committed under a manifest of a lower generation (a
 * part of the object moved elsewhere: stripe/move.h) is that too, once
 * parts_switch_manifest() put m in its place.
 */
enum parts_commit_result parts_commit(const struct parts_dirs *d,
    const struct manifest *m, unsigned index);

/* The trailer of the part file open as fd, `file_size` bytes long. */
struct parts_trailer {
	uint64_t pt_size;		/* of the part, trailer excluded */
	uint64_t pt_block;
	uint32_t *pt_sums;		/* owned; parts_trailer_free() */
};

/* Reads and checks the trailer. Returns 0, or -1 with errno (EINVAL:
 * no valid trailer, *why then says why when not NULL). */
int parts_trailer_read(int fd, uint64_t file_size, struct parts_trailer *t,
    const char **why);
void parts_trailer_free(struct parts_trailer *t);

/* Reads block b of the part (b below blocksum_count()) into buf, which
 * has room for a block, its length to *len, and checks it against its
 * checksum. Returns 0 when it is good, 1 when it is corrupt, -1 with
 * errno when reading fails. */
int parts_read_block(int fd, const struct parts_trailer *t, uint64_t b,
    unsigned char *buf, size_t *len);

/*
 * Replaces the manifest of m's object kept in dir_fd ("ID.json", and
 * under its name in names_fd unless the name holds another object's) by
 * m, when m is of a higher generation and differs from it only in where
 * the parts are; with next_only, only when m is the very next generation
 * and moves exactly one part, or moves none and marks more parts missing
 * (the origin's copy: where moves of one object are put in one order,
 * stripe/move.h; a store's scrubber reports a corrupt part so,
 * stripe/scrub.h). Each file is replaced
 * whole by a rename (tmp_fd on the same file system), the directories
 * fsynced. PARTS_COMMITTED when m is in place (or was already),
 * PARTS_NO_PART when no manifest of the object is there, PARTS_STALE when
 * m is refused (the copy there is of m's generation or later, or with
 * next_only not the one m follows), PARTS_MISMATCH when it describes
 * another object.
 */
enum parts_commit_result parts_switch_manifest(int tmp_fd, int dir_fd,
    int names_fd, const struct manifest *m, bool next_only);

/* Removes every part of object id here, pending or committed, and its
 * manifest (also under its name, when the name is this object's; the
 * manifest into *m and *had true when there was one). Returns the bytes
 * of part files removed (*count: how many files). Never fails: what
 * cannot be removed is left for the sweep. */
uint64_t parts_delete(const struct parts_dirs *d, const char *id,
    unsigned *count, struct manifest *m, bool *had);

/* The manifest kept in dir under `name` (a name, or "ID.json"), into *m.
 * Returns 0, or -1 (errno ENOENT when there is none, EINVAL when it is
 * not a manifest). */
int parts_read_manifest(int dir, const char *name, struct manifest *m);

/*
 * The sweep: removes pending parts and temporary files older than
 * timeout_ms (by their mtime, against the wall clock now_ms), and
 * committed parts without a manifest as old (a commit cut in the middle).
 * Returns the bytes of part files left (pending and committed: the
 * store's part bytes on disk), *held how many they are; *swept counts
 * the files removed.
 */
uint64_t parts_sweep(const struct parts_dirs *d, int64_t timeout_ms,
    int64_t now_ms, unsigned *swept, uint64_t *held);

#endif
