/*
 * file.h - the disk side of serving ROOT: opening a name without following
 * links, entity tags, sending file data to a socket, listing ROOT, and
 * removing an expired copy (file.c); the temporary files in the hidden
 * directory, sealing, the link into place, upload reservations and the
 * cleanup at start (file_write.c, driven by store/spool.h).
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

/* The extended attribute where a content digest is kept beside a file,
 * with the size and mtime it was computed for. */
#define FILE_DIGEST_XATTR "user.shoal.xxh3"

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
	uint64_t fi_digest;	/* the ETag's 64 bits */
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
 * still valid for the file's size and mtime, otherwise a digest of the
 * file's identity (device, inode, size, mtime), which changes whenever the
 * file does. `fd`, when not -1, is the file already opened by
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
 * is not NULL, records `digest` for the ETag, fsyncs it, and gives its
 * identity in *id (may be NULL). Returns 0 or -1 with errno. */
int file_seal(int fd, const struct timespec *mtime, uint64_t digest,
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

/* Removes the temporary file, then closes fd. */
void file_tmp_discard(int fd, int tmp_fd, const char *tmp_name);

/* Removes every file in the temporary directory (at start, before any
 * worker runs: what is there was left by a crash). Returns how many, or -1
 * with errno. */
int file_tmp_clean(int tmp_fd);

#endif
