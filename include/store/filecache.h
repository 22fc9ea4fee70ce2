/*
 * filecache.h - a worker's cache of open files of ROOT, so that a hit on a
 * hot file is answered from the event loop without a trip through the I/O
 * pool: the descriptor, what fstat and the ETag digest said, and for small
 * files the bytes themselves.
 *
 * Kept honest by inotify on ROOT: any change to a name (written, replaced,
 * renamed, removed, attributes) drops its entry as soon as the loop reads
 * the event, and a lost event (queue overflow) drops them all. A saved copy
 * is cached only until its expiry. A name known to be missing from ROOT is
 * an entry too, believed only after the queued events are read. Without
 * inotify (limits reached) the cache is simply off.
 *
 * Loop thread of one worker only.
 */
#ifndef SHOAL_FILECACHE_H
#define SHOAL_FILECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/file.h"
#include "store/name.h"

struct filecache;
struct loop;

#define FILECACHE_BODY_MAX (16 * 1024)	/* bytes kept of a small file */

struct filecache_entry {
	char fe_name[NAME_MAX_LEN + 1];
	size_t fe_name_len;		/* 0: free entry */
	struct file_info fe_info;	/* fi_fd unused */
	char *fe_body;			/* the whole file, or NULL: then */
	int fe_fd;			/* an open descriptor of it, or -1: */
	bool fe_missing;		/* no such file in ROOT */
	int64_t fe_expiry_ms;		/* wall clock; 0: none */
	uint64_t fe_used;		/* when last put or found */
};

/* Starts watching root_path. Returns NULL (cache off) when inotify is not
 * available; errno says why. */
struct filecache *filecache_create(struct loop *loop, const char *root_path);
void filecache_free(struct filecache *fc);

/* The entry for name, or NULL. now_ms is the wall clock. A "missing"
 * entry (fe_missing) is returned only when no event read now drops it. */
const struct filecache_entry *filecache_get(struct filecache *fc,
    const char *name, size_t len, int64_t now_ms);

/* Remembers an opened file: copies fi and, when body_len == fi->fi_size
 * <= FILECACHE_BODY_MAX, the body; otherwise takes a duplicate of fd.
 * expiry_ms: 0 or when a saved copy expires. Silently does nothing when it
 * cannot (the cache's descriptors or bytes are all in use). */
void filecache_put(struct filecache *fc, const char *name, size_t len,
    int fd, const struct file_info *fi, const char *body, size_t body_len,
    int64_t expiry_ms);

/* Remembers that name is not in ROOT (an open said ENOENT). */
void filecache_put_missing(struct filecache *fc, const char *name,
    size_t len);

#endif
