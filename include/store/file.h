/*
 * file.h - the disk side of serving ROOT: opening a name without following
 * links, entity tags, content digests and the marks beside a file (origin,
 * saved copy), sending file data to a socket, listing ROOT, and removing
 * an expired copy (file.c); the temporary files in the hidden directory,
 * sealing, recording digests and marks, the link into place, upload
 * reservations and the cleanup at start (file_write.c, driven by
 * store/spool.h).
 *
 * Every function here but file_open_cached() may block on the disk, so the
 * workers and the agent call them only from their I/O pool threads (the
 * master only at start, before any child exists). They do not log; they
 * return what happened.
 */
#ifndef SHOAL_FILE_H
#define SHOAL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/buf.h"
#include "core/digest.h"

/* The extended attribute where a file's content digest (XXH3-128) is kept
 * beside it, with the size and mtime it was computed for: the text
 * "SIZE MTIME_SEC MTIME_NSEC" and the digest's 32 hex digits. */
#define FILE_DIGEST_XATTR "user.shoal.xxh128"

/* Where a version's origin is kept: "<16 hex digits of the HLC stamp>
 * <node name>", written when the version was first sealed. */
#define FILE_ORIGIN_XATTR "user.shoal.origin"
#define FILE_ORIGIN_NODE_MAX 128	/* a node's name, NUL included */

/* The mark of a saved TTL copy of a peer's file ("1"): not an original,
 * never announced to the cluster. */
#define FILE_COPY_XATTR "user.shoal.copy"

/* Which file: what a saved copy's record in the index compares with. The
 * same fields as struct index_identity, so the two convert directly. */
struct file_identity {
	uint64_t id_dev;
	uint64_t id_ino;
	uint64_t id_size;
};

struct file_info {
	int fi_fd;		/* open read-only, or -1 */
	int fi_errno;		/* 0, or why it could not be opened */
	uint64_t fi_size;
	struct timespec fi_mtime;
	struct digest fi_digest;	/* the ETag's 128 bits */
	bool fi_content;	/* fi_digest is the content's XXH3-128, not
				 * the fallback digest of the identity */
	struct file_identity fi_id;
};

/*
 * The same open as file_open()'s, tried without any disk I/O (openat2
 * RESOLVE_CACHED), so that the loop thread may call it. Returns the
 * descriptor (hand it to file_open()), or -1 with errno: ENOENT when the
 * kernel's caches already know there is no such file (or only a link),
 * EAGAIN when only the disk can tell (or the kernel cannot try), another
 * errno on failure.
 */
int file_open_cached(int root_fd, const char *name);

/*
 * Opens `name` directly inside the directory root_fd: no symbolic link is
 * followed anywhere (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or
 * O_NOFOLLOW where openat2 is missing), and only a regular file counts.
 * Fills *fi: fi_errno ENOENT when there is no regular file of that name
 * (missing, a directory, a link, a socket...), another errno on failure.
 * The digest is the content digest stored in FILE_DIGEST_XATTR when it is
 * still valid for the file's size and mtime (fi_content true), otherwise
 * the XXH3-128 of the file's identity (device, inode, size, mtime), which
 * changes whenever the file does (fi_content false). `fd`, when not -1, is the file already opened by
 * file_open_cached(); it is used (or closed) instead of a new open.
 */
void file_open(int root_fd, const char *name, int fd, struct file_info *fi);

/* Appends the first `size` bytes of fd to out. Returns 0, or -1 when the
 * file could not be read or has fewer bytes now (the caller falls back to
 * sendfile, which will cut the connection rather than send less). */
int file_read_all(int fd, struct buf *out, uint64_t size);

/*
 * Sends up to `max` bytes of fd from *off to the nonblocking socket sock
 * (sendfile), advancing *off, until max bytes went, the socket would block
 * or an error happened. Returns the bytes sent; *err is 0, EAGAIN (the
 * socket is full), or the errno of a failure (EPIPE, ECONNRESET: the client
 * left; EIO; or ESPIPE-like surprises when the file shrank: reported as
 * EIO so the caller closes instead of sending a short body).
 */
size_t file_send(int sock, int fd, uint64_t *off, uint64_t max, int *err);

/*
 * Computes the content digest (XXH3-128) of the first `size` bytes of fd,
 * reading it whole with pread in 1 MiB chunks: for a pool thread. Returns
 * 0, or -1 with errno: EIO when the file has fewer bytes than `size`,
 * EAGAIN when its size or mtime changed while it was read (the digest
 * would describe no version of it), ENOMEM, or the read's errno.
 */
int file_content_digest(int fd, uint64_t size, struct digest *out);

/*
 * Records `d` as fd's content digest in FILE_DIGEST_XATTR, for the file's
 * current size and mtime, so that file_open() finds it (fi_content) and
 * the file is not read again until it changes. Call it right after
 * file_content_digest() said the file did not change while it was read.
 * A file whose digest is recorded anew has changed since it was sealed,
 * so a copy mark it carries is removed. Returns 0, or -1 with errno
 * (ENOTSUP: the file system keeps no user xattrs; EACCES, EPERM: the
 * file is not ours to mark).
 */
int file_digest_record(int fd, const struct digest *d);

/* Records the version's origin in FILE_ORIGIN_XATTR: the HLC stamp it was
 * first written with and the node that wrote it (at most
 * FILE_ORIGIN_NODE_MAX - 1 bytes, no space). Returns 0, or -1 with errno
 * (EINVAL for a bad node name). */
int file_origin_write(int fd, uint64_t hlc, const char *node);

/* Reads the origin recorded by file_origin_write(): the stamp in *hlc and
 * the node's name in node[0..len) with a NUL. Returns 0, or -1 with
 * errno: ENODATA when the file has none, EINVAL when what it has is not
 * an origin, ERANGE when the name does not fit in len bytes. */
int file_origin_read(int fd, uint64_t *hlc, char *node, size_t len);

/* Marks fd as a saved TTL copy (FILE_COPY_XATTR). Returns 0 or -1 with
 * errno. */
int file_copy_mark(int fd);

/* True when fd is marked as a saved copy and has not changed since it was
 * sealed (its recorded digest is still valid for its size and mtime): an
 * operator who rewrites a copy in place makes it an original. */
bool file_is_copy(int fd);

/*
 * Appends the names of the regular files directly in root_fd that are valid
 * file names (hidden ones excluded), sorted bytewise: one per line, or as a
 * JSON array when json is true. Returns 0, or -1 with errno.
 */
int file_list(int root_fd, bool json, struct buf *out);

/* The hidden directory inside ROOT where files are written before they are
 * published (same file system, so publishing is one atomic link). */
#define FILE_TMP_DIR ".shoal-tmp"
#define FILE_TMP_NAME_MAX 64

/* Creates an empty temporary file in tmp_fd, named `prefix`-PID-N-RANDOM
 * (written to name). Returns a read-write descriptor or -1 with errno. */
int file_tmp_create(int tmp_fd, const char *prefix,
    char name[FILE_TMP_NAME_MAX]);

/* Writes all n bytes at off (pwrite, retrying short writes). Returns 0 or
 * -1 with errno (ENOSPC, EDQUOT, EIO...). */
int file_write_all(int fd, const void *p, size_t n, uint64_t off);

/* Makes a finished temporary file durable: sets its mtime when `mtime`
 * is not NULL, records the content digest `d` in FILE_DIGEST_XATTR for
 * its size and mtime, fsyncs it, and gives its identity in *id (may be NULL). Marks written
 * before (file_origin_write(), file_copy_mark()) become durable with it.
 * Returns 0 or -1 with errno. */
int file_seal(int fd, const struct timespec *mtime, const struct digest *d,
    struct file_identity *id);

/* Links the sealed temporary file into place as `name` without ever
 * replacing a file, removes the temporary name, closes fd, fsyncs ROOT
 * (a failure of that last fsync is not reported: the file is in place).
 * Returns 0, or -1 with errno (EEXIST: the name is taken; then the
 * temporary file is removed). */
int file_link(int fd, int tmp_fd, const char *tmp_name, int root_fd,
    const char *name);

/*
 * Removes `name` from ROOT only if it still is the file `id` (a saved copy
 * whose time is up): the name is first renamed into the temporary
 * directory, then checked (same inode, same size, and sealed with a digest
 * that is still valid), then unlinked or put back. Returns 0 removed,
 * 1 not removed (missing, or another file: left in place), -1 with errno.
 */
int file_remove_copy(int root_fd, int tmp_fd, const char *name,
    const struct file_identity *id);

/*
 * Reserves `name` for an upload across every process of the node: fails
 * with EEXIST when a file (or anything) of that name is in ROOT, ENOSPC
 * when fewer than `need` bytes are free, EBUSY when another upload of the
 * name is in progress. The reservation is the temporary file the upload is
 * written to ("up-" and a digest of the name, in tmp_name), locked with
 * flock for as long as the returned descriptor is open; one left by a dead
 * upload is taken over. Publish or discard it with the functions below.
 */
int file_reserve(int root_fd, int tmp_fd, const char *name, uint64_t need,
    char tmp_name[FILE_TMP_NAME_MAX]);

/*
 * The node's count of publications: names that file_link() (or the
 * put-back of file_remove_copy()) made appear, in any process of the node,
 * counted after the name is in place and before anyone is answered. A
 * reader that loaded the count, then read what inotify had queued, knows
 * that every publication a client can have heard of is among what it read
 * for as long as the count stays the same (the open-file cache believes a
 * missing name that way without a system call).
 *
 * file_publications_share() makes the count shared (the master, before it
 * forks; -1 when the mapping fails); until then file_publications() says
 * FILE_PUBLICATIONS_UNKNOWN, and a reader must read inotify every time.
 */
#define FILE_PUBLICATIONS_UNKNOWN UINT64_MAX
int file_publications_share(void);
uint64_t file_publications(void);
void file_publication_note(void);	/* one more, once the name is in place */

/* Removes the temporary file, then closes fd. */
void file_tmp_discard(int fd, int tmp_fd, const char *tmp_name);

/* Removes every file in the temporary directory (at start, before any
 * worker runs: what is there was left by a crash). Returns how many, or -1
 * with errno. */
int file_tmp_clean(int tmp_fd);

/* Removes the temporary files that process `pid`, now dead, made with
 * file_tmp_create() (copies being fetched, replicas being pulled): nobody
 * owns them any more. Never a reservation (file_reserve(): another upload
 * of the name takes it over) nor a name set aside by file_remove_copy()
 * (it may be an operator's file; a restart decides). Returns how many, or
 * -1 with errno. */
int file_tmp_clean_pid(int tmp_fd, pid_t pid);

#endif
