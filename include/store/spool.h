/*
 * spool.h - writing a file that must appear whole, through the I/O pool:
 * a temporary file in the hidden directory (a new one, or an upload's
 * reservation of its name), the owner's buffers written in order while
 * the owner fills the next one, a digest computed on the way, then the
 * seal (fsync, digest xattr), the link into place that never replaces a
 * name, and the directory fsync; or, when the owner gives up, removal.
 * Peer copies, uploads and (later) parts all write through it.
 *
 * Overlap: a spool has SPOOL_QUEUE buffers of SPOOL_BUF_SIZE bytes. One
 * is written while the owner fills the other from its socket, so the
 * disk and the network work at the same time; each comes back through
 * sh_written when it is on disk. The buffers are the spool's, so an owner
 * that lets go never frees memory a running job still reads.
 *
 * Loop thread only (the work runs in the pool; callbacks come back on the
 * loop). A spool lives on its directory's list until it is freed:
 * spool_abort() hands it back, and it removes its temporary file and
 * frees itself once no job of its is running; spool_dir_teardown() does
 * the same at exit.
 */
#ifndef SHOAL_STORE_SPOOL_H
#define SHOAL_STORE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/digest.h"
#include "core/list.h"
#include "store/file.h"

struct iopool;
struct spool;

/* Where spools write: the directory files are published in, and its
 * hidden temporary directory (same file system). */
struct spool_dir {
	struct iopool *sd_pool;
	int sd_root_fd;
	int sd_tmp_fd;
	struct list sd_spools;		/* every spool not yet freed */
};

#define SPOOL_QUEUE 2			/* buffers */
#define SPOOL_BUF_SIZE (256 * 1024)	/* bytes each */

/* What the owner hears; `err` is 0 or an errno. No callback comes after
 * spool_abort(). A callback may call any spool function. */
struct spool_handler {
	/* The temporary file exists (or not: err; EEXIST, EBUSY, ENOSPC
	 * for a reservation, see file_reserve()). */
	void (*sh_opened)(struct spool *sp, int err, void *arg);
	/* The oldest buffer handed over is written (or not: err, and the
	 * spool takes no more writes); spool_buffer() can give it again. */
	void (*sh_written)(struct spool *sp, int err, void *arg);
	/* The file is in place under its name (or not: err, EEXIST when
	 * the name was taken meanwhile; the temporary file is gone). */
	void (*sh_published)(struct spool *sp, int err, void *arg);
};

/* How to publish. A failure to write the origin or the copy mark fails
 * the publication with its errno, but for ENOTSUP: a file system without
 * user xattrs keeps no marks (nor digests) at all. The hooks run in the pool thread, in the publish job:
 * before_link once the file is sealed (its identity known), after_link
 * once it is in place; after_link returning -1 (errno set) takes the file
 * out of place again (file_remove_copy) and the publication fails with
 * that errno. Either hook may be NULL. */
struct spool_publish {
	const char *name;		/* copied */
	const struct timespec *mtime;	/* NULL: now */
	bool have_digest;		/* use `digest`, not the computed one */
	struct digest digest;
	/* The version's origin, recorded at seal (file_origin_write()):
	 * origin_node is copied; NULL records none. */
	uint64_t origin_hlc;
	const char *origin_node;
	bool copy;			/* a saved TTL copy (file_copy_mark()) */
	void (*before_link)(struct spool *sp, const struct file_identity *id,
	    void *arg);
	int (*after_link)(struct spool *sp, const struct file_identity *id,
	    void *arg);
	void *hook_arg;
};

void spool_dir_init(struct spool_dir *d, struct iopool *pool, int root_fd,
    int tmp_fd);

/* At exit, once the pool's threads are joined (no job runs, no callback
 * will come): removes every temporary file left and frees every spool. */
void spool_dir_teardown(struct spool_dir *d);

/* No spool is left (every one published or cleaned up). */
bool spool_dir_idle(const struct spool_dir *d);

/* A spool on a new temporary file named `prefix`-PID-N-RANDOM. */
struct spool *spool_create(struct spool_dir *d, const char *prefix,
    const struct spool_handler *h, void *arg);

/* A spool on the reservation of `name` for an upload (file_reserve():
 * the name free, `need` bytes free on the disk, no other upload of it). */
struct spool *spool_reserve(struct spool_dir *d, const char *name,
    uint64_t need, const struct spool_handler *h, void *arg);

/* A free buffer of SPOOL_BUF_SIZE bytes to fill, or NULL when every one
 * is handed over (wait for sh_written) or the spool takes no more writes
 * (a write failed, publish asked). The same buffer until spool_write(). */
char *spool_buffer(struct spool *sp);

/* Hands over the buffer spool_buffer() gave, holding n bytes (1 to
 * SPOOL_BUF_SIZE), to be written after those before. May be called
 * before sh_opened (it waits). */
void spool_write(struct spool *sp, size_t n);

/* Publishes once every buffer handed over is written. */
void spool_publish(struct spool *sp, const struct spool_publish *how);

/* The owner lets go: no more callbacks; the temporary file is removed as
 * soon as no job runs, then the spool frees itself. */
void spool_abort(struct spool *sp);

/* Bytes on disk so far, and (after sh_published) the digest recorded:
 * the XXH3-128 of the bytes written, or the one publish was given. */
uint64_t spool_written(const struct spool *sp);
struct digest spool_digest(const struct spool *sp);

/* A new descriptor of the temporary file (dup(2), read-write), for an
 * owner that reads back what is on disk before it lets go: call it only
 * when every buffer handed over is written. Returns -1 with errno
 * (EBADF before open). */
int spool_dup_fd(const struct spool *sp);

/* The temporary file's name in the hidden directory ("" before open). */
const char *spool_tmp_name(const struct spool *sp);

#endif
