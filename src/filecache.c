/*
 * filecache.c - open-file cache of a worker (loop thread only).
 *
 * Direct-mapped: a name hashes to one of FILECACHE_SLOTS slots and replaces
 * whatever was there. Memory is bounded by the slots: one descriptor and
 * at most FILECACHE_BODY_MAX bytes each.
 *
 * Honesty: inotify on ROOT reports every change to a name; the loop drops
 * the entry before it serves the next request of its turn. The window left
 * is the time between a change and the loop reading its event, during
 * which the previous version may still be served whole (never a mix: the
 * body is a copy, or sendfile of the same open file with the old length).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <xxhash.h>

#include "buf.h"
#include "filecache.h"
#include "loop.h"

#define FILECACHE_SLOTS 256

struct filecache {
	struct loop *fc_loop;
	int fc_ifd;
	struct filecache_entry fc_slots[FILECACHE_SLOTS];
};

static struct filecache_entry *
filecache_slot(struct filecache *fc, const char *name, size_t len)
{
	return &fc->fc_slots[XXH3_64bits(name, len) % FILECACHE_SLOTS];
}

static void
filecache_drop(struct filecache_entry *e)
{
	if (e->fe_fd != -1)
		close(e->fe_fd);
	free(e->fe_body);
	e->fe_body = NULL;
	e->fe_fd = -1;
}

static void
filecache_drop_all(struct filecache *fc)
{
	size_t i;

	for (i = 0; i < FILECACHE_SLOTS; i++)
		filecache_drop(&fc->fc_slots[i]);
}

static void
filecache_on_event(struct loop *loop, int fd, short revents, void *arg)
{
	struct filecache *fc = arg;
	char buf[16384] __attribute__((aligned(__alignof__(
	    struct inotify_event))));
	ssize_t n;

	(void)loop;
	(void)revents;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED |
			    IN_DELETE_SELF | IN_MOVE_SELF)) {
				filecache_drop_all(fc);
			} else if (ev->len > 0) {
				size_t len = strlen(ev->name);
				struct filecache_entry *e =
				    filecache_slot(fc, ev->name, len);

				if (e->fe_fd != -1 && e->fe_name_len == len &&
				    memcmp(e->fe_name, ev->name, len) == 0)
					filecache_drop(e);
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

struct filecache *
filecache_create(struct loop *loop, const char *root_path)
{
	struct filecache *fc = xcalloc(1, sizeof(*fc));
	size_t i;

	fc->fc_loop = loop;
	for (i = 0; i < FILECACHE_SLOTS; i++)
		fc->fc_slots[i].fe_fd = -1;
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

	if (fc == NULL)
		return NULL;
	e = filecache_slot(fc, name, len);
	if (e->fe_fd == -1 || e->fe_name_len != len ||
	    memcmp(e->fe_name, name, len) != 0)
		return NULL;
	if (e->fe_expiry_ms != 0 && now_ms >= e->fe_expiry_ms) {
		filecache_drop(e);	/* a saved copy whose time is up */
		return NULL;
	}
	return e;
}

void
filecache_put(struct filecache *fc, const char *name, size_t len, int fd,
    const struct file_info *fi, const char *body, size_t body_len,
    int64_t expiry_ms)
{
	struct filecache_entry *e;
	int dfd;

	if (fc == NULL || len > NAME_MAX_LEN)
		return;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd == -1)
		return;		/* out of descriptors: no caching */
	e = filecache_slot(fc, name, len);
	filecache_drop(e);
	memcpy(e->fe_name, name, len);
	e->fe_name[len] = '\0';
	e->fe_name_len = len;
	e->fe_fd = dfd;
	e->fe_info = *fi;
	e->fe_info.fi_fd = -1;
	e->fe_expiry_ms = expiry_ms;
	if (body != NULL && body_len == fi->fi_size &&
	    body_len <= FILECACHE_BODY_MAX) {
		e->fe_body = xrealloc(NULL, body_len ? body_len : 1);
		memcpy(e->fe_body, body, body_len);
	}
}
