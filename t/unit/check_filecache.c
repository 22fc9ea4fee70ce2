/*
 * check_filecache.c - the open-file cache: hits, expiry of saved copies,
 * and inotify dropping entries whose names change.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include "filecache.c"

static char dir[] = "/tmp/check_filecache.XXXXXX";
static struct loop *loop;
static struct filecache *fc;

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	loop = loop_create();
	fc = filecache_create(loop, dir);
	ck_assert_ptr_nonnull(fc);
}

static void
teardown(void)
{
	char cmd[128];

	filecache_free(fc);
	loop_free(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
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

int
main(void)
{
	Suite *s = suite_create("filecache");
	TCase *tc = tcase_create("filecache");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hit_with_body);
	tcase_add_test(tc, copy_expires);
	tcase_add_test(tc, change_drops_entry);
	tcase_add_test(tc, unlink_drops_entry);
	tcase_add_test(tc, large_file_keeps_no_body);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
