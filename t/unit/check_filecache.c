/*
 * check_filecache.c - the open-file cache: hits, expiry of saved copies,
 * and inotify dropping entries whose names change.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include "store/filecache.c"
#include "check_main.h"
#include "tmp_dir.h"

/* Each test's ROOT: a directory of its own in tmp_dir. */
static char dir[96];
static struct loop *loop;
static struct filecache *fc;

static void
setup(void)
{
	tmp_dir_sub(dir, sizeof(dir), tmp_dir, "root");
	loop = loop_create();
	fc = filecache_create(loop, dir);
	ck_assert_ptr_nonnull(fc);
}

static void
teardown(void)
{
	filecache_free(fc);
	loop_free(loop);
	ck_assert_int_eq(tmp_dir_rm(dir), 0);
}

static void drain_events(void);

/* Writes name with text, lets its own events pass, then caches it as
 * opened read-only (which makes no event). */
static void
put(const char *name, const char *text, int64_t expiry)
{
	char path[256];
	struct file_info fi;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	drain_events();
	fd = open(path, O_RDONLY);
	memset(&fi, 0, sizeof(fi));
	fi.fi_size = strlen(text);
	filecache_put(fc, name, strlen(name), fd, &fi, text, strlen(text),
	    expiry);
	close(fd);
	drain_events();		/* nothing: the entry must survive */
}

static void
drain_events(void)
{
	struct pollfd p = { .fd = fc->fc_ifd, .events = POLLIN };

	if (poll(&p, 1, 50) == 1)
		filecache_on_event(loop, fc->fc_ifd, POLLIN, fc);
}

START_TEST(hit_with_body)
{
	const struct filecache_entry *e;

	put("a", "hello", 0);
	e = filecache_get(fc, "a", 1, 1000);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->fe_info.fi_size, 5);
	ck_assert_mem_eq(e->fe_body, "hello", 5);
	ck_assert_ptr_null(filecache_get(fc, "b", 1, 1000));
}
END_TEST

START_TEST(copy_expires)
{
	put("c", "copy", 5000);
	ck_assert_ptr_nonnull(filecache_get(fc, "c", 1, 4999));
	ck_assert_ptr_null(filecache_get(fc, "c", 1, 5000));
	ck_assert_ptr_null(filecache_get(fc, "c", 1, 1));	/* dropped */
}
END_TEST

START_TEST(change_drops_entry)
{
	char path[256];
	int fd;

	put("d", "one", 0);
	ck_assert_ptr_nonnull(filecache_get(fc, "d", 1, 0));
	snprintf(path, sizeof(path), "%s/d", dir);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	drain_events();
	ck_assert_ptr_null(filecache_get(fc, "d", 1, 0));
}
END_TEST

START_TEST(unlink_drops_entry)
{
	char path[256];

	put("e", "gone", 0);
	snprintf(path, sizeof(path), "%s/e", dir);
	ck_assert_int_eq(unlink(path), 0);
	drain_events();
	ck_assert_ptr_null(filecache_get(fc, "e", 1, 0));
}
END_TEST

/* A name known to be missing is believed only with the queued events
 * read: a file created, linked or renamed into ROOT since is never taken
 * for missing, even before the loop has read the event. */
START_TEST(missing_name_until_it_appears)
{
	const struct filecache_entry *e;
	char path[256], other[256];
	int fd;

	filecache_put_missing(fc, "m", 1);
	e = filecache_get(fc, "m", 1, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert(e->fe_missing);
	ck_assert_int_eq(e->fe_info.fi_errno, ENOENT);
	ck_assert_int_eq(e->fe_fd, -1);
	snprintf(path, sizeof(path), "%s/m", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_ptr_null(filecache_get(fc, "m", 1, 0));	/* no drain */

	/* Linked and renamed into place, as copies and uploads arrive. */
	snprintf(other, sizeof(other), "%s/.tmp", dir);
	fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	drain_events();
	filecache_put_missing(fc, "l", 1);
	filecache_put_missing(fc, "r", 1);
	ck_assert_ptr_nonnull(filecache_get(fc, "l", 1, 0));
	ck_assert_ptr_nonnull(filecache_get(fc, "r", 1, 0));
	snprintf(path, sizeof(path), "%s/l", dir);
	ck_assert_int_eq(link(other, path), 0);
	ck_assert_ptr_null(filecache_get(fc, "l", 1, 0));
	ck_assert_ptr_nonnull(filecache_get(fc, "r", 1, 0));
	snprintf(path, sizeof(path), "%s/r", dir);
	ck_assert_int_eq(rename(other, path), 0);
	ck_assert_ptr_null(filecache_get(fc, "r", 1, 0));
}
END_TEST

/* With the node's count of publications shared (as the master makes it),
 * a missing name is believed without reading inotify while the count
 * stays the same: a file an operator drops in ROOT is seen once its event
 * is read (the loop's next turn), one the node publishes at once. */
START_TEST(missing_name_believed_until_a_publication)
{
	const struct filecache_entry *e;
	char path[256];
	int fd;

	ck_assert_int_eq(file_publications_share(), 0);
	filecache_put_missing(fc, "p", 1);
	ck_assert_ptr_nonnull(filecache_get(fc, "p", 1, 0));	/* reads */
	snprintf(path, sizeof(path), "%s/p", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	e = filecache_get(fc, "p", 1, 0);	/* no read: still missing */
	ck_assert_ptr_nonnull(e);
	ck_assert(e->fe_missing);
	drain_events();				/* the loop's turn */
	ck_assert_ptr_null(filecache_get(fc, "p", 1, 0));

	/* Published by the node: seen at once, no turn needed. */
	filecache_put_missing(fc, "q", 1);
	ck_assert_ptr_nonnull(filecache_get(fc, "q", 1, 0));
	snprintf(path, sizeof(path), "%s/q", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	file_publication_note();
	ck_assert_ptr_null(filecache_get(fc, "q", 1, 0));
}
END_TEST

/* ROOT moved away: its watch is gone, so nothing is cached any more,
 * neither files nor missing names. */
START_TEST(nothing_cached_once_root_moves)
{
	char moved[128];

	put("f", "file", 0);
	filecache_put_missing(fc, "m", 1);
	snprintf(moved, sizeof(moved), "%s.moved", dir);
	ck_assert_int_eq(rename(dir, moved), 0);
	drain_events();
	ck_assert_int_eq(rename(moved, dir), 0);
	ck_assert_ptr_null(filecache_get(fc, "f", 1, 0));
	ck_assert_ptr_null(filecache_get(fc, "m", 1, 0));
	filecache_put_missing(fc, "m", 1);
	ck_assert_ptr_null(filecache_get(fc, "m", 1, 0));
}
END_TEST

START_TEST(large_file_keeps_no_body)
{
	char path[256], big[FILECACHE_BODY_MAX + 1];
	struct file_info fi;
	const struct filecache_entry *e;
	int fd;

	memset(big, 'b', sizeof(big));
	snprintf(path, sizeof(path), "%s/big", dir);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	ck_assert_int_eq(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	drain_events();
	memset(&fi, 0, sizeof(fi));
	fi.fi_size = sizeof(big);
	filecache_put(fc, "big", 3, fd, &fi, big, sizeof(big), 0);
	close(fd);
	e = filecache_get(fc, "big", 3, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(e->fe_body);
	ck_assert_int_ge(e->fe_fd, 0);
}
END_TEST

static int
open_fds(void)
{
	char path[64];
	int n = 0, fd;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

/* A small file is kept as its bytes: no descriptor held for it. */
START_TEST(small_file_holds_no_descriptor)
{
	const struct filecache_entry *e;
	int before = open_fds();

	put("s", "small", 0);
	ck_assert_int_eq(open_fds(), before);
	e = filecache_get(fc, "s", 1, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->fe_fd, -1);
	ck_assert(memcmp(e->fe_body, "small", 5) == 0);
	/* And dropped like any other when the name changes. */
	put("s", "changed", 0);
	e = filecache_get(fc, "s", 1, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert(memcmp(e->fe_body, "changed", 7) == 0);
}
END_TEST

/* A working set of a thousand small files stays (almost all) cached:
 * four ways per set, so that names of one set seldom evict each other. */
START_TEST(thousand_names_mostly_kept)
{
	struct file_info fi;
	char name[32];
	int i, found = 0, fd = open("/dev/null", O_RDONLY);

	memset(&fi, 0, sizeof(fi));
	fi.fi_size = 1;
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "f%07d", i);
		filecache_put(fc, name, strlen(name), fd, &fi, "x", 1, 0);
	}
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "f%07d", i);
		found += filecache_get(fc, name, strlen(name), 0) != NULL;
	}
	ck_assert_msg(found >= 950, "%d of 1000 kept", found);
	close(fd);
}
END_TEST

/* Large files hold a descriptor each, FILECACHE_FDS at most. */
START_TEST(descriptors_bounded)
{
	struct file_info fi;
	char name[32];
	int i, cached = 0, before = open_fds(), fd = open("/dev/null",
	    O_RDONLY);

	memset(&fi, 0, sizeof(fi));
	fi.fi_size = FILECACHE_BODY_MAX + 1;
	for (i = 0; i < FILECACHE_FDS + 100; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		filecache_put(fc, name, strlen(name), fd, &fi, NULL, 0, 0);
		cached += filecache_get(fc, name, strlen(name), 0) != NULL;
	}
	close(fd);
	ck_assert_int_le(open_fds() - before, FILECACHE_FDS);
	ck_assert_int_ge(cached, FILECACHE_FDS / 2);
	ck_assert_uint_le(fc->fc_nfds, FILECACHE_FDS);
	/* All of them go with the cache. */
	filecache_drop_all(fc);
	ck_assert_int_eq(open_fds(), before);
	ck_assert_uint_eq(fc->fc_nfds, 0);
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("filecache", setup, teardown,
	    CHECK_MAIN_TESTS(hit_with_body, copy_expires, change_drops_entry,
	    unlink_drops_entry, large_file_keeps_no_body,
	    small_file_holds_no_descriptor, thousand_names_mostly_kept,
	    descriptors_bounded, missing_name_until_it_appears,
	    missing_name_believed_until_a_publication,
	    nothing_cached_once_root_moves));

	tmp_dir_add(tc);
	return check_main_run();
}
