/*
 * check_versions.c - unit tests for src/store/versions.c: versions moved
 * out of ROOT (one rename on one file system, a durable copy across two),
 * opened by (name, digest), listed for the start scan, and the temporary
 * directory emptied at start. Includes versions.c to reach its copy.
 * Runs in Check's fork mode, in a directory of its own (tmp_dir.h); the
 * test across file systems uses /dev/shm when that is another one.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store/versions.c"
#include "check_main.h"
#include "tmp_dir.h"

static int root_fd = -1, state_fd = -1;
static char root_path[128], state_path[128];

static const struct digest d1 = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
static const struct digest d2 = { 0x1111111111111111ULL, 0x2222222222222222ULL };

static int
open_dir(const char *path)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	ck_assert_int_ne(fd, -1);
	return fd;
}

/* Each test: ROOT and STATE_DIR of its own, under tmp_dir. */
static void
setup(void)
{
	static int n;

	snprintf(root_path, sizeof(root_path), "%s/root%d-%d", tmp_dir,
	    (int)getpid(), n);
	snprintf(state_path, sizeof(state_path), "%s/state%d-%d", tmp_dir,
	    (int)getpid(), n++);
	ck_assert_int_eq(mkdir(root_path, 0755), 0);
	ck_assert_int_eq(mkdir(state_path, 0755), 0);
	root_fd = open_dir(root_path);
	state_fd = open_dir(state_path);
}

static void
put_file(int dir_fd, const char *name, const char *body)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
}

/* The bytes of an open file, NUL-terminated, in a static buffer. */
static const char *
read_fd(int fd)
{
	static char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static bool
exists(int dir_fd, const char *name)
{
	struct stat st;

	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

START_TEST(move_renames_on_one_file_system)
{
	struct file_info fi;
	struct stat before, after;

	put_file(root_fd, "a.txt", "loser bytes");
	ck_assert_int_eq(fstatat(root_fd, "a.txt", &before, 0), 0);
	ck_assert_int_eq(versions_move(root_fd, state_fd, "a.txt", &d1), 0);
	ck_assert(!exists(root_fd, "a.txt"));
	ck_assert(exists(state_fd,
	    "versions/0123456789abcdeffedcba9876543210/a.txt"));
	versions_open(state_fd, "a.txt", &d1, &fi);
	ck_assert_int_ne(fi.fi_fd, -1);
	ck_assert_uint_eq(fi.fi_size, 11);
	ck_assert_str_eq(read_fd(fi.fi_fd), "loser bytes");
	/* The same inode: a rename, not a copy. */
	ck_assert_int_eq(fstat(fi.fi_fd, &after), 0);
	ck_assert_uint_eq(after.st_ino, before.st_ino);
	close(fi.fi_fd);
	/* Another digest of the same name is another version: not there. */
	versions_open(state_fd, "a.txt", &d2, &fi);
	ck_assert_int_eq(fi.fi_fd, -1);
	ck_assert_int_eq(fi.fi_errno, ENOENT);
}
END_TEST

START_TEST(move_of_a_missing_file_does_nothing)
{
	ck_assert_int_eq(versions_move(root_fd, state_fd, "nope", &d1), 1);
	ck_assert_int_eq(mkdirat(root_fd, "dir", 0755), 0);
	ck_assert_int_eq(versions_move(root_fd, state_fd, "dir", &d1), 1);
	ck_assert_int_eq(symlinkat("/etc/passwd", root_fd, "link"), 0);
	ck_assert_int_eq(versions_move(root_fd, state_fd, "link", &d1), 1);
	ck_assert(exists(root_fd, "link"));
	errno = 0;
	ck_assert_int_eq(versions_move(root_fd, state_fd, ".hidden", &d1), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(move_of_a_version_kept_already_removes_the_root_copy)
{
	struct file_info fi;

	put_file(root_fd, "b", "one");
	ck_assert_int_eq(versions_move(root_fd, state_fd, "b", &d1), 0);
	put_file(root_fd, "b", "one");
	ck_assert_int_eq(versions_move(root_fd, state_fd, "b", &d1), 0);
	ck_assert(!exists(root_fd, "b"));
	versions_open(state_fd, "b", &d1, &fi);
	ck_assert_int_ne(fi.fi_fd, -1);
	ck_assert_str_eq(read_fd(fi.fi_fd), "one");
	close(fi.fi_fd);
}
END_TEST

START_TEST(copy_keeps_bytes_mtime_and_attributes)
{
	char tmp_name[FILE_TMP_NAME_MAX], val[64];
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 1000000, 5 } };
	struct stat st;
	int src, tfd, copy;
	ssize_t n;

	put_file(root_fd, "c", "copied bytes");
	src = openat(root_fd, "c", O_RDONLY);
	ck_assert_int_ne(src, -1);
	ck_assert_int_eq(futimens(src, times), 0);
	if (fsetxattr(src, "user.shoal.origin", "x y", 3, 0) == -1)
		ck_assert_int_eq(errno, ENOTSUP);	/* no user xattrs here */
	(void)fsetxattr(src, "user.other", "z", 1, 0);
	tfd = versions_tmp_open(state_fd, false);
	ck_assert_int_ne(tfd, -1);
	copy = versions_copy(src, tfd, tmp_name);
	ck_assert_int_ne(copy, -1);
	ck_assert_str_eq(read_fd(copy), "copied bytes");
	ck_assert_int_eq(fstat(copy, &st), 0);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1000000);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 5);
	n = fgetxattr(src, "user.shoal.origin", val, sizeof(val));
	if (n == 3) {
		ck_assert_int_eq(fgetxattr(copy, "user.shoal.origin", val,
		    sizeof(val)), 3);
		ck_assert_int_eq(memcmp(val, "x y", 3), 0);
		/* Only the project's own attributes travel. */
		ck_assert_int_eq(fgetxattr(copy, "user.other", val,
		    sizeof(val)), -1);
	}
	ck_assert(exists(tfd, tmp_name));
	close(copy);
	close(src);
	close(tfd);
}
END_TEST

START_TEST(move_across_file_systems_copies_then_unlinks)
{
	char shm[128];
	struct stat a, b;
	struct file_info fi;
	int shm_fd, tfd;

	if (stat("/dev/shm", &a) == -1 || stat(tmp_dir, &b) == -1 ||
	    a.st_dev == b.st_dev) {
		/* No second file system here: the copy is tested above. */
		return;
	}
	snprintf(shm, sizeof(shm), "/dev/shm/check_versions_%d",
	    (int)getpid());
	ck_assert_int_eq(mkdir(shm, 0755), 0);
	shm_fd = open_dir(shm);
	put_file(shm_fd, "far", "across");
	ck_assert_int_eq(versions_move(shm_fd, state_fd, "far", &d2), 0);
	ck_assert(!exists(shm_fd, "far"));
	versions_open(state_fd, "far", &d2, &fi);
	ck_assert_int_ne(fi.fi_fd, -1);
	ck_assert_str_eq(read_fd(fi.fi_fd), "across");
	close(fi.fi_fd);
	/* Nothing left in the temporary directory. */
	tfd = versions_tmp_open(state_fd, false);
	ck_assert_int_eq(file_tmp_clean(tfd), 0);
	close(tfd);
	close(shm_fd);
	(void)tmp_dir_rm(shm);
}
END_TEST

struct seen {
	int n;
	char names[8][32];
	struct digest digests[8];
};

static int
collect(void *arg, const char *name, size_t len, const struct digest *d)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 8);
	ck_assert_uint_eq(strlen(name), len);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->digests[s->n++] = *d;
	return 0;
}

static int
stop_at_first(void *arg, const char *name, size_t len, const struct digest *d)
{
	(void)name;
	(void)len;
	(void)d;
	++*(int *)arg;
	return 7;
}

START_TEST(list_finds_kept_versions_only)
{
	struct seen s = { 0 };
	int vfd, dfd, calls = 0, i, found = 0;

	errno = 0;
	ck_assert_int_eq(versions_list(state_fd, collect, &s), -1);
	ck_assert_int_eq(errno, ENOENT);
	put_file(root_fd, "x", "1");
	put_file(root_fd, "y", "2");
	ck_assert_int_eq(versions_move(root_fd, state_fd, "x", &d1), 0);
	ck_assert_int_eq(versions_move(root_fd, state_fd, "y", &d2), 0);
	vfd = openat(state_fd, VERSIONS_DIR, O_PATH | O_DIRECTORY);
	ck_assert_int_ne(vfd, -1);
	/* What the listing must skip: a directory that no digest names
	 * (upper case, short), hidden names, links, sub-directories. */
	ck_assert_int_eq(mkdirat(vfd, "0123456789ABCDEFFEDCBA9876543210", 0755),
	    0);
	ck_assert_int_eq(mkdirat(vfd, "0123", 0755), 0);
	dfd = versions_dir_open(state_fd, &d1, false);
	ck_assert_int_ne(dfd, -1);
	put_file(dfd, ".tmpname", "h");
	ck_assert_int_eq(symlinkat("x", dfd, "ln"), 0);
	ck_assert_int_eq(mkdirat(dfd, "sub", 0755), 0);
	put_file(vfd, "loose", "l");
	(void)versions_tmp_open(state_fd, false);
	ck_assert_int_eq(versions_list(state_fd, collect, &s), 0);
	ck_assert_int_eq(s.n, 2);
	for (i = 0; i < 2; i++) {
		if (strcmp(s.names[i], "x") == 0) {
			ck_assert(digest_equal(&s.digests[i], &d1));
			found |= 1;
		} else {
			ck_assert_str_eq(s.names[i], "y");
			ck_assert(digest_equal(&s.digests[i], &d2));
			found |= 2;
		}
	}
	ck_assert_int_eq(found, 3);
	ck_assert_int_eq(versions_list(state_fd, stop_at_first, &calls), 7);
	ck_assert_int_eq(calls, 1);
	close(dfd);
	close(vfd);
}
END_TEST

START_TEST(tmp_open_cleans_what_a_crash_left)
{
	char name[FILE_TMP_NAME_MAX];
	int tfd, fd;

	tfd = versions_tmp_open(state_fd, false);
	ck_assert_int_ne(tfd, -1);
	fd = file_tmp_create(tfd, "ver", name);
	ck_assert_int_ne(fd, -1);
	close(fd);
	close(tfd);
	tfd = versions_tmp_open(state_fd, false);
	ck_assert(exists(tfd, name));
	close(tfd);
	tfd = versions_tmp_open(state_fd, true);
	ck_assert(!exists(tfd, name));
	close(tfd);
}
END_TEST

START_TEST(open_refuses_bad_names)
{
	struct file_info fi;

	versions_open(state_fd, "../x", &d1, &fi);
	ck_assert_int_eq(fi.fi_fd, -1);
	ck_assert_int_eq(fi.fi_errno, ENOENT);
	versions_open(state_fd, "", &d1, &fi);
	ck_assert_int_eq(fi.fi_fd, -1);
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("versions", setup, NULL,
	    CHECK_MAIN_TESTS(move_renames_on_one_file_system,
	    move_of_a_missing_file_does_nothing,
	    move_of_a_version_kept_already_removes_the_root_copy,
	    copy_keeps_bytes_mtime_and_attributes,
	    move_across_file_systems_copies_then_unlinks,
	    list_finds_kept_versions_only, tmp_open_cleans_what_a_crash_left,
	    open_refuses_bad_names));

	tcase_add_unchecked_fixture(tc, tmp_dir_make, tmp_dir_remove);
	return check_main_run();
}
