/*
 * filecache.c - open-file cache of a worker (loop thread only).
 *
 * Four-way set-associative: a name hashes to one set of four entries, and a
 * new name replaces the one of the four used longest ago. A small file
 * (FILECACHE_BODY_MAX bytes or less) is kept as its bytes, without a
 * descriptor; a larger one as a descriptor for sendfile. Bounded: at most
 * FILECACHE_FDS descriptors and FILECACHE_BODY_BYTES bytes of bodies; what
 * would go over is not cached.
 *
 * Honesty: inotify on ROOT reports every change to a name; the loop drops
 * the entry before it serves the next request of its turn. The window left
 * is the time between a change and the loop reading its event, during
 * which the previous version may still be served whole (never a mix: the
 * body is a copy, or sendfile of the same open file with the old length).
 *
 * A name found missing is remembered too (a miss asked of the peers over
 * and over costs no open), with no window for what the node itself
 * publishes: before a "missing" entry is believed, the events already
 * queued are read, unless the node's count of publications
 * (file_publications()) is what it was at the last such read, so a file
 * that appeared before the request (an upload another worker just
 * answered, a copy the agent pulled) is never taken for missing, and the
 * common case costs no system call. A file an operator puts in ROOT has
 * the positive entries' window: it is seen once the loop reads its event,
 * at the latest in the next turn. Once the watch of ROOT is gone (ROOT
 * removed or moved), nothing is cached.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/buf.h"
#include "event/loop.h"
#include "store/file.h"
#include "store/filecache.h"

#define FILECACHE_SETS 1024
#define FILECACHE_WAYS 4
#define FILECACHE_FDS 256			/* descriptors held at most */
#define FILECACHE_BODY_BYTES (8 << 20)		/* bytes of bodies at most */

struct filecache {
	struct loop *fc_loop;
	int fc_ifd;
	size_t fc_nfds;
	size_t fc_body_bytes;
	bool fc_blind;			/* the watch of ROOT is gone */
	uint64_t fc_clock;		/* use stamps */
	uint64_t fc_publications;	/* file_publications() before the
					   last read of the events */
	struct filecache_entry fc_slots[FILECACHE_SETS][FILECACHE_WAYS];
};

static struct filecache_entry *
filecache_set(struct filecache *fc, const char *name, size_t len)
{
	return fc->fc_slots[XXH3_64bits(name, len) % FILECACHE_SETS];
}

/* The entry of name, or NULL. */
static struct filecache_entry *
filecache_find(struct filecache *fc, const char *name, size_t len)
{
	struct filecache_entry *set = filecache_set(fc, name, len);
	size_t i;

	for (i = 0; i < FILECACHE_WAYS; i++)
		if (set[i].fe_name_len == len &&
		    memcmp(set[i].fe_name, name, len) == 0)
			return &set[i];
	return NULL;
}

static void
filecache_drop(struct filecache *fc, struct filecache_entry *e)
{
	if (e->fe_fd != -1) {
		close(e->fe_fd);
		fc->fc_nfds--;
	}
	if (e->fe_body != NULL)
		fc->fc_body_bytes -= e->fe_info.fi_size;
	free(e->fe_body);
	e->fe_body = NULL;
	e->fe_fd = -1;
	e->fe_missing = false;
	e->fe_name_len = 0;
}

static void
filecache_drop_all(struct filecache *fc)
{
	size_t i, j;

	for (i = 0; i < FILECACHE_SETS; i++)
		for (j = 0; j < FILECACHE_WAYS; j++)
			filecache_drop(fc, &fc->fc_slots[i][j]);
}

/* Reads the queued events and drops the entries they name. */
static void
filecache_read_events(struct filecache *fc)
{
	char buf[16384] __attribute__((aligned(__alignof__(
	    struct inotify_event))));
	ssize_t n;

	/* Loaded before the read: a publication counted after it may have
	 * queued its event after the read too, and changes the count. */
	fc->fc_publications = file_publications();

	while ((n = read(fc->fc_ifd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF |
			    IN_MOVE_SELF))
				fc->fc_blind = true;
			if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED |
			    IN_DELETE_SELF | IN_MOVE_SELF)) {
				filecache_drop_all(fc);
			} else if (ev->len > 0) {
				struct filecache_entry *e = filecache_find(fc,
				    ev->name, strlen(ev->name));

				if (e != NULL)
					filecache_drop(fc, e);
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

static void
filecache_on_event(struct loop *loop, int fd, short revents, void *arg)
{
	(void)loop;
	(void)fd;
	(void)revents;
	filecache_read_events(arg);
}

struct filecache *
filecache_create(struct loop *loop, const char *root_path)
{
	struct filecache *fc = xcalloc(1, sizeof(*fc));
	size_t i, j;

	fc->fc_loop = loop;
	fc->fc_publications = FILE_PUBLICATIONS_UNKNOWN;
	for (i = 0; i < FILECACHE_SETS; i++)
		for (j = 0; j < FILECACHE_WAYS; j++)
			fc->fc_slots[i][j].fe_fd = -1;
	fc->fc_ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fc->fc_ifd == -1)
		goto fail;
	if (inotify_add_watch(fc->fc_ifd, root_path, IN_MODIFY | IN_ATTRIB |
	    IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE |
	    IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR) == -1 ||
	    loop_add(loop, fc->fc_ifd, POLLIN, filecache_on_event, fc) == -1) {
		int saved = errno;

		close(fc->fc_ifd);
		errno = saved;
		goto fail;
	}
	return fc;
fail:
	free(fc);
	return NULL;
}

void
filecache_free(struct filecache *fc)
{
	if (fc == NULL)
		return;
	filecache_drop_all(fc);
	loop_del(fc->fc_loop, fc->fc_ifd);
	close(fc->fc_ifd);
	free(fc);
}

const struct filecache_entry *
filecache_get(struct filecache *fc, const char *name, size_t len,
    int64_t now_ms)
{
	struct filecache_entry *e;

	if (fc == NULL || fc->fc_blind ||
	    (e = filecache_find(fc, name, len)) == NULL)
		return NULL;
	if (e->fe_missing && (fc->fc_publications ==
	    FILE_PUBLICATIONS_UNKNOWN ||
	    fc->fc_publications != file_publications())) {
		/* Believed only with every publication's event applied. */
		filecache_read_events(fc);
		if (fc->fc_blind || (e = filecache_find(fc, name, len)) ==
		    NULL)
			return NULL;
	}
	if (e->fe_expiry_ms != 0 && now_ms >= e->fe_expiry_ms) {
		filecache_drop(fc, e);	/* a saved copy whose time is up */
		return NULL;
	}
	e->fe_used = ++fc->fc_clock;
	return e;
}

/* The entry to (re)use for name, emptied: its own, else a free one, else
 * the one of its set used longest ago. */
static struct filecache_entry *
filecache_slot(struct filecache *fc, const char *name, size_t len)
{
	struct filecache_entry *set = filecache_set(fc, name, len), *e;
	size_t i;

	e = filecache_find(fc, name, len);
	for (i = 0; e == NULL && i < FILECACHE_WAYS; i++)
		if (set[i].fe_name_len == 0)
			e = &set[i];
	if (e == NULL) {
		e = &set[0];
		for (i = 1; i < FILECACHE_WAYS; i++)
			if (set[i].fe_used < e->fe_used)
				e = &set[i];
	}
	filecache_drop(fc, e);
	return e;
}

/* Names the entry e, which holds what it should. */
static void
filecache_name(struct filecache *fc, struct filecache_entry *e,
    const char *name, size_t len)
{
	memcpy(e->fe_name, name, len);
	e->fe_name[len] = '\0';
	e->fe_name_len = len;
	e->fe_used = ++fc->fc_clock;
}

void
filecache_put(struct filecache *fc, const char *name, size_t len, int fd,
    const struct file_info *fi, const char *body, size_t body_len,
    int64_t expiry_ms)
{
	struct filecache_entry *e;
	bool small;

	if (fc == NULL || fc->fc_blind || len == 0 || len > NAME_MAX_LEN)
		return;
	small = body != NULL && body_len == fi->fi_size &&
	    body_len <= FILECACHE_BODY_MAX;
	e = filecache_slot(fc, name, len);
	if (small ? fc->fc_body_bytes + body_len > FILECACHE_BODY_BYTES :
	    fc->fc_nfds >= FILECACHE_FDS)
		return;		/* over the budget: not cached */
	if (small) {
		e->fe_body = xrealloc(NULL, body_len ? body_len : 1);
		memcpy(e->fe_body, body, body_len);
		fc->fc_body_bytes += body_len;
	} else {
		e->fe_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (e->fe_fd == -1)
			return;		/* out of descriptors: no caching */
		fc->fc_nfds++;
	}
	e->fe_info = *fi;
	e->fe_info.fi_fd = -1;
	e->fe_expiry_ms = expiry_ms;
	filecache_name(fc, e, name, len);
}

void
filecache_put_missing(struct filecache *fc, const char *name, size_t len)
{
	struct filecache_entry *e;

	if (fc == NULL || fc->fc_blind || len == 0 || len > NAME_MAX_LEN)
		return;
	e = filecache_slot(fc, name, len);
	memset(&e->fe_info, 0, sizeof(e->fe_info));
	e->fe_info.fi_fd = -1;
	e->fe_info.fi_errno = ENOENT;
	e->fe_expiry_ms = 0;
	e->fe_missing = true;
	filecache_name(fc, e, name, len);
}
