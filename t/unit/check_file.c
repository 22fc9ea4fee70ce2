/*
 * check_file.c - unit tests for src/file.c (opening names inside ROOT
 * without following links, digests, sendfile, listings, temporary files
 * and publishing), on a real temporary directory under /tmp.
 * Includes the .c file (for the static JSON escaper); links buf.c and
 * name.c.
 * Runs in Check's fork mode: a crash or a hang is a failure.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store/file.c"
#include "store/file_write.c"
#include "check_main.h"
#include "tmp_dir.h"

/* Each test makes its ROOT and an "outside" directory in tmp_dir. */
static char root[96], outside[96];
static int root_fd = -1;

static void
setup(void)
{
	tmp_dir_sub(root, sizeof(root), tmp_dir, "root");
	tmp_dir_sub(outside, sizeof(outside), tmp_dir, "out");
	/* As the worker opens ROOT. */
	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(root_fd, 0);
}

static void
teardown(void)
{
	close(root_fd);
}

/* ROOT/name, in a buffer that the next call uses again. */
static const char *
in_root(const char *name)
{
	static char path[512];

	return tmp_dir_join(path, sizeof(path), root, name);
}

/* Creates dir/name holding data[0..len); returns nothing, asserts. */
static void
make_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
make_symlink(const char *target, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	ck_assert_int_eq(symlink(target, path), 0);
}

static int
count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Expects `name` to be "not here" (ENOENT, nothing left open). */
static void
expect_enoent(const char *name)
{
	struct file_info fi;
	int before = count_open_fds();

	file_open(root_fd, name, -1, &fi);
	ck_assert_msg(fi.fi_fd == -1, "%s: opened", name);
	ck_assert_msg(fi.fi_errno == ENOENT, "%s: errno %d (%s), want ENOENT",
	    name, fi.fi_errno, strerror(fi.fi_errno));
	ck_assert_int_eq(count_open_fds(), before);
}

START_TEST(open_regular_file)
{
	struct file_info fi;
	struct stat st;
	char data[16];

	make_file(root, "f.txt", "hello", 5);
	ck_assert_int_eq(stat(in_root("f.txt"), &st), 0);
	file_open(root_fd, "f.txt", -1, &fi);
	ck_assert_int_eq(fi.fi_errno, 0);
	ck_assert_int_ge(fi.fi_fd, 0);
	ck_assert_uint_eq(fi.fi_size, 5);
	ck_assert_int_eq(fi.fi_mtime.tv_sec, st.st_mtim.tv_sec);
	ck_assert_int_eq(fi.fi_mtime.tv_nsec, st.st_mtim.tv_nsec);
	ck_assert_int_eq(read(fi.fi_fd, data, sizeof(data)), 5);
	ck_assert(memcmp(data, "hello", 5) == 0);
	ck_assert(fcntl(fi.fi_fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(fcntl(fi.fi_fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	close(fi.fi_fd);

	/* Empty files are files too. */
	make_file(root, "empty", "", 0);
	file_open(root_fd, "empty", -1, &fi);
	ck_assert_int_eq(fi.fi_errno, 0);
	ck_assert_uint_eq(fi.fi_size, 0);
	close(fi.fi_fd);
}
END_TEST

/* The loop's open never blocks: it knows, opens, or says "ask the disk". */
START_TEST(open_cached_knows_missing_names_without_the_disk)
{
	struct file_info fi;
	int fd, before;

	/* After one lookup the kernel keeps a negative entry: ENOENT. */
	expect_enoent("never-there");
	fd = file_open_cached(root_fd, "never-there");
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(errno == ENOENT || errno == EAGAIN, "errno %d", errno);

	/* A file the kernel has seen opens, and file_open() takes it over. */
	make_file(root, "seen", "abc", 3);
	file_open(root_fd, "seen", -1, &fi);
	ck_assert_int_ge(fi.fi_fd, 0);
	close(fi.fi_fd);
	before = count_open_fds();
	fd = file_open_cached(root_fd, "seen");
	if (fd == -1) {
		/* Only a kernel without RESOLVE_CACHED says this here. */
		ck_assert_int_eq(errno, EAGAIN);
		return;
	}
	file_open(root_fd, "seen", fd, &fi);
	ck_assert_int_eq(fi.fi_fd, fd);
	ck_assert_uint_eq(fi.fi_size, 3);
	close(fi.fi_fd);
	ck_assert_int_eq(count_open_fds(), before);

	/* A link is "not here" from the cache too, and nothing is left open. */
	ck_assert_int_eq(symlink("seen", in_root("link")), 0);
	expect_enoent("link");
	ck_assert_int_eq(file_open_cached(root_fd, "link"), -1);
	ck_assert_msg(errno == ENOENT || errno == EAGAIN, "errno %d", errno);
	ck_assert_int_eq(count_open_fds(), before);

	/* A directory opens from the cache, and file_open() refuses it. */
	ck_assert_int_eq(mkdir(in_root("dir"), 0755), 0);
	expect_enoent("dir");
	fd = file_open_cached(root_fd, "dir");
	file_open(root_fd, "dir", fd, &fi);
	ck_assert_int_eq(fi.fi_fd, -1);
	ck_assert_int_eq(fi.fi_errno, ENOENT);
	ck_assert_int_eq(count_open_fds(), before);
}
END_TEST

START_TEST(open_missing_file)
{
	expect_enoent("nope");
}
END_TEST

START_TEST(open_directory)
{
	ck_assert_int_eq(mkdir(in_root("sub"), 0755), 0);
	expect_enoent("sub");
	expect_enoent(".");
	expect_enoent("..");
}
END_TEST

START_TEST(open_symlinks_never_followed)
{
	char target[512];

	make_file(root, "real", "inside", 6);
	make_file(outside, "secret", "outside", 7);
	make_symlink("real", "to_inside");
	snprintf(target, sizeof(target), "%s/real", root);
	make_symlink(target, "to_inside_abs");
	snprintf(target, sizeof(target), "%s/secret", outside);
	make_symlink(target, "to_outside");
	snprintf(target, sizeof(target), "../%s/secret",
	    outside + strlen(tmp_dir) + 1);
	make_symlink(target, "to_outside_rel");
	make_symlink(outside, "to_outside_dir");
	make_symlink("missing", "dangling");

	expect_enoent("to_inside");
	expect_enoent("to_inside_abs");
	expect_enoent("to_outside");
	expect_enoent("to_outside_rel");
	expect_enoent("to_outside_dir");
	expect_enoent("dangling");
}
END_TEST

/* A FIFO must neither hang the open (no writer) nor be served. */
START_TEST(open_fifo_does_not_hang)
{
	ck_assert_int_eq(mkfifo(in_root("fifo"), 0644), 0);
	expect_enoent("fifo");
}
END_TEST

START_TEST(open_socket_file)
{
	struct sockaddr_un sun;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", root);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	expect_enoent("sock");
	close(s);
}
END_TEST

/* The digest file_open() gives root/name; *content (may be NULL) says
 * whether it is a recorded content digest. */
static struct digest
digest_of2(const char *name, bool *content)
{
	struct file_info fi;

	file_open(root_fd, name, -1, &fi);
	ck_assert_msg(fi.fi_fd >= 0, "%s: %s", name, strerror(fi.fi_errno));
	close(fi.fi_fd);
	if (content != NULL)
		*content = fi.fi_content;
	return fi.fi_digest;
}

static struct digest
digest_of(const char *name)
{
	return digest_of2(name, NULL);
}

static bool
same(struct digest a, struct digest b)
{
	return digest_equal(&a, &b);
}

static void
set_mtime(const char *name, time_t sec, long nsec)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { sec, nsec } };

	ck_assert_int_eq(utimensat(root_fd, name, ts, 0), 0);
}

START_TEST(digest_stable_then_changes)
{
	char path[512], tmp[512];
	struct digest d1, d2;
	int fd;

	make_file(root, "d", "0123456789", 10);
	set_mtime("d", 1700000000, 123456789);
	d1 = digest_of("d");
	ck_assert(same(digest_of("d"), d1));	/* unchanged: stable */

	/* Same size, other mtime. */
	set_mtime("d", 1700000001, 123456789);
	d2 = digest_of("d");
	ck_assert(!same(d2, d1));

	/* Grown. */
	snprintf(path, sizeof(path), "%s/d", root);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	set_mtime("d", 1700000001, 123456789);
	ck_assert(!same(digest_of("d"), d2));

	/* Replaced by another file (rename) of the same size and mtime:
	 * still a different file, so a different digest. */
	make_file(root, "d", "0123456789", 10);
	set_mtime("d", 1700000000, 123456789);
	d1 = digest_of("d");
	make_file(root, "d.new", "abcdefghij", 10);
	set_mtime("d.new", 1700000000, 123456789);
	snprintf(tmp, sizeof(tmp), "%s/d.new", root);
	ck_assert_int_eq(rename(tmp, path), 0);
	ck_assert(!same(digest_of("d"), d1));
}
END_TEST

/* Sets FILE_DIGEST_XATTR of root/name to `value`; false when the file
 * system refuses user xattrs (the caller then skips). */
static bool
set_digest_xattr(const char *name, const char *value)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if (setxattr(path, FILE_DIGEST_XATTR, value, strlen(value), 0) == 0)
		return true;
	ck_assert_msg(errno == ENOTSUP || errno == EOPNOTSUPP || errno == EPERM,
	    "setxattr: %s", strerror(errno));
	return false;
}

/* The "SIZE SEC NSEC HEX" value that matches root/name now. */
static void
digest_value(const char *name, struct digest digest, char *out,
    size_t outlen)
{
	char path[512], hex[DIGEST_HEX_LEN + 1];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	ck_assert_int_eq(stat(path, &st), 0);
	digest_hex(&digest, hex);
	snprintf(out, outlen, "%lld %lld %ld %s",
	    (long long)st.st_size, (long long)st.st_mtim.tv_sec,
	    (long)st.st_mtim.tv_nsec, hex);
}

START_TEST(xattr_digest_used_when_valid)
{
	const struct digest stored = { 0x0123456789abcdefULL,
	    0xfedcba9876543210ULL };
	char value[128];
	struct digest identity;
	bool content = true;

	make_file(root, "x", "content", 7);
	identity = digest_of2("x", &content);
	ck_assert(!content);		/* the identity's */
	digest_value("x", stored, value, sizeof(value));
	if (!set_digest_xattr("x", value)) {
		fprintf(stderr, "xattr_digest_used_when_valid: skipped, %s "
		    "does not take user xattrs\n", root);
		return;
	}
	ck_assert(!same(identity, stored));
	ck_assert(same(digest_of2("x", &content), stored));
	ck_assert(content);
}
END_TEST

START_TEST(xattr_digest_ignored_when_stale_or_bad)
{
	const struct digest stored = { 0xfeedfacecafebeefULL, 7 };
	char value[160], bad[200];
	struct stat st;
	char path[512];
	struct digest identity;

	make_file(root, "x", "content", 7);
	set_mtime("x", 1700000000, 5);
	digest_value("x", stored, value, sizeof(value));
	if (!set_digest_xattr("x", value)) {
		fprintf(stderr, "xattr_digest_ignored_when_stale_or_bad: "
		    "skipped, %s does not take user xattrs\n", root);
		return;
	}
	ck_assert(same(digest_of("x"), stored));

	/* mtime moved on (the file was rewritten): stale. */
	set_mtime("x", 1700000000, 6);
	identity = digest_of("x");
	ck_assert(!same(identity, stored));
	set_mtime("x", 1700000000, 5);
	ck_assert(same(digest_of("x"), stored));

	/* Size differs. */
	snprintf(path, sizeof(path), "%s/x", root);
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(bad, sizeof(bad), "%lld %lld %ld %016" PRIx64 "%016" PRIx64,
	    (long long)st.st_size + 1, (long long)st.st_mtim.tv_sec,
	    (long)st.st_mtim.tv_nsec, stored.d_hi, stored.d_lo);
	ck_assert(set_digest_xattr("x", bad));
	ck_assert(!same(digest_of("x"), stored));

	/* Malformed values. */
	snprintf(bad, sizeof(bad), "%s junk", value);
	ck_assert(set_digest_xattr("x", bad));
	ck_assert(!same(digest_of("x"), stored));
	ck_assert(set_digest_xattr("x", "garbage"));
	ck_assert(!same(digest_of("x"), stored));
	ck_assert(set_digest_xattr("x", "7 1700000000 5"));
	ck_assert(!same(digest_of("x"), stored));
	memset(bad, '7', sizeof(bad) - 1);	/* longer than any valid */
	bad[sizeof(bad) - 1] = '\0';
	ck_assert(set_digest_xattr("x", bad));
	ck_assert(!same(digest_of("x"), stored));

	/* The 64-bit form of before, under either name, counts no more. */
	snprintf(bad, sizeof(bad), "%lld %lld %ld %016" PRIx64,
	    (long long)st.st_size, (long long)st.st_mtim.tv_sec,
	    (long)st.st_mtim.tv_nsec, stored.d_hi);
	ck_assert(set_digest_xattr("x", bad));
	ck_assert(!same(digest_of("x"), stored));
	ck_assert_int_eq(removexattr(path, FILE_DIGEST_XATTR), 0);
	ck_assert_int_eq(setxattr(path, "user.shoal.xxh3", bad, strlen(bad),
	    0), 0);
	ck_assert(!same(digest_of("x"), stored));
	/* Upper-case hex digits are read too. */
	snprintf(bad, sizeof(bad), "%lld %lld %ld %016" PRIX64 "%016" PRIX64,
	    (long long)st.st_size, (long long)st.st_mtim.tv_sec,
	    (long)st.st_mtim.tv_nsec, stored.d_hi, stored.d_lo);
	ck_assert(set_digest_xattr("x", bad));
	ck_assert(same(digest_of("x"), stored));

	/* And valid again. */
	ck_assert(set_digest_xattr("x", value));
	ck_assert(same(digest_of("x"), stored));
}
END_TEST

/* file_send. The pattern makes any lost, doubled or moved byte show. */
static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static int
make_pattern_file(const char *name, size_t len)
{
	unsigned char *data = malloc(len ? len : 1);
	struct file_info fi;
	size_t i;

	ck_assert_ptr_nonnull(data);
	for (i = 0; i < len; i++)
		data[i] = pattern(i);
	make_file(root, name, data, len);
	free(data);
	file_open(root_fd, name, -1, &fi);
	ck_assert_int_ge(fi.fi_fd, 0);
	return fi.fi_fd;
}

/* A socketpair whose s[0] is the nonblocking sender with a small buffer. */
static void
make_sender(int s[2])
{
	int small = 4096;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s),
	    0);
	ck_assert_int_eq(fcntl(s[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(s[1], F_SETFL, O_NONBLOCK), 0);
	setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
}

/* Reads what is there from fd into got[*n...]. */
static void
drain(int fd, unsigned char *got, size_t cap, size_t *n)
{
	ssize_t r = 0;

	while (*n < cap && (r = read(fd, got + *n, cap - *n)) > 0)
		*n += (size_t)r;
	ck_assert(*n == cap || (r == -1 && errno == EAGAIN));
}

START_TEST(send_whole_file_through_full_socket)
{
	const size_t len = 1 << 20;
	unsigned char *got = malloc(len);
	uint64_t off = 0;
	size_t n = 0, i, sent, total = 0;
	int s[2], fd, err, eagain = 0, rounds = 0;

	ck_assert_ptr_nonnull(got);
	fd = make_pattern_file("big", len);
	make_sender(s);
	while (off < len) {
		ck_assert_int_lt(rounds++, 100000);
		sent = file_send(s[0], fd, &off, len - off, &err);
		total += sent;
		ck_assert_uint_eq(off, total);
		if (off < len) {
			/* Stopped short only because the socket is full. */
			ck_assert_msg(err == EAGAIN, "err %d (%s) at %llu",
			    err, strerror(err), (unsigned long long)off);
			eagain++;
		} else {
			ck_assert_int_eq(err, 0);
		}
		drain(s[1], got, len, &n);
	}
	drain(s[1], got, len, &n);
	ck_assert_int_gt(eagain, 0);		/* it did fill up */
	ck_assert_uint_eq(n, len);
	for (i = 0; i < len && got[i] == pattern(i); i++)
		continue;
	ck_assert_msg(i == len, "byte %zu differs", i);
	close(fd);
	close(s[0]);
	close(s[1]);
	free(got);
}
END_TEST

START_TEST(send_range_and_nothing)
{
	unsigned char got[256];
	uint64_t off = 100;
	size_t n = 0, i;
	int s[2], fd, err;

	fd = make_pattern_file("small", 1000);
	make_sender(s);

	ck_assert_uint_eq(file_send(s[0], fd, &off, 0, &err), 0);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_eq(off, 100);

	ck_assert_uint_eq(file_send(s[0], fd, &off, 50, &err), 50);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_eq(off, 150);
	drain(s[1], got, sizeof(got), &n);
	ck_assert_uint_eq(n, 50);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(got[i], pattern(100 + i));

	/* The file offset of fd is not what counts: *off is. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 0);
	close(fd);
	close(s[0]);
	close(s[1]);
}
END_TEST

/* The file shrank after it was opened: EIO, never a quiet short body. */
START_TEST(send_file_that_shrank_is_eio)
{
	unsigned char got[16384];
	uint64_t off = 0;
	size_t n = 0, sent;
	char path[512];
	int s[2], fd, err;
	int big = 1 << 20;

	fd = make_pattern_file("shrinks", 8192);
	snprintf(path, sizeof(path), "%s/shrinks", root);
	ck_assert_int_eq(truncate(path, 4096), 0);
	make_sender(s);
	setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	sent = file_send(s[0], fd, &off, 8192, &err);
	ck_assert_uint_eq(sent, 4096);
	ck_assert_uint_eq(off, 4096);
	ck_assert_int_eq(err, EIO);
	sent = file_send(s[0], fd, &off, 8192 - 4096, &err);
	ck_assert_uint_eq(sent, 0);
	ck_assert_int_eq(err, EIO);
	drain(s[1], got, sizeof(got), &n);
	ck_assert_uint_eq(n, 4096);
	close(fd);
	close(s[0]);
	close(s[1]);
}
END_TEST

START_TEST(send_to_closed_peer)
{
	uint64_t off = 0;
	int s[2], fd, err;

	signal(SIGPIPE, SIG_IGN);	/* as the daemon does */
	fd = make_pattern_file("f", 1000);
	make_sender(s);
	close(s[1]);
	ck_assert_uint_eq(file_send(s[0], fd, &off, 1000, &err), 0);
	ck_assert_msg(err == EPIPE || err == ECONNRESET, "err %d (%s)", err,
	    strerror(err));
	ck_assert_uint_eq(off, 0);
	close(fd);
	close(s[0]);
}
END_TEST

/* Listings. */
static void
make_listing_tree(void)
{
	char path[512], target[512];

	make_file(root, "b", "", 0);
	make_file(root, "a", "", 0);
	make_file(root, "Z", "", 0);
	make_file(root, "c d", "", 0);
	make_file(root, "quote\"s", "", 0);
	make_file(root, "back\\slash", "", 0);
	make_file(root, "\xc3\xbc" "n\xc3\xaf", "", 0);	/* "ünï" */
	make_file(root, ".hidden", "", 0);
	make_file(root, "ctl\x01x", "", 0);		/* control byte */
	make_file(root, "tab\tx", "", 0);
	make_file(root, "new\nline", "", 0);
	make_file(outside, "secret", "", 0);
	snprintf(path, sizeof(path), "%s/dir", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/.shoal", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/fifo", root);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	make_symlink("a", "link");
	snprintf(target, sizeof(target), "%s/secret", outside);
	make_symlink(target, "outlink");
}

START_TEST(list_text)
{
	static const char want[] = "Z\na\nb\nback\\slash\nc d\nquote\"s\n"
	    "\xc3\xbc" "n\xc3\xaf\n";
	struct buf out = { 0 };

	make_listing_tree();
	buf_append_str(&out, "PRE:");	/* appends, keeps what is there */
	ck_assert_int_eq(file_list(root_fd, false, &out), 0);
	ck_assert_uint_eq(out.len, 4 + strlen(want));
	ck_assert(memcmp(out.data, "PRE:", 4) == 0);
	ck_assert_msg(memcmp(out.data + 4, want, strlen(want)) == 0,
	    "got \"%.*s\"", (int)out.len - 4, out.data + 4);
	buf_free(&out);
}
END_TEST

START_TEST(list_json)
{
	static const char want[] = "[\"Z\",\"a\",\"b\",\"back\\\\slash\","
	    "\"c d\",\"quote\\\"s\",\"\xc3\xbc" "n\xc3\xaf\"]\n";
	struct buf out = { 0 };

	make_listing_tree();
	ck_assert_int_eq(file_list(root_fd, true, &out), 0);
	ck_assert_msg(out.len == strlen(want) &&
	    memcmp(out.data, want, out.len) == 0,
	    "got \"%.*s\", want \"%s\"", (int)out.len, out.data, want);
	buf_free(&out);
}
END_TEST

START_TEST(json_string_escapes)
{
	struct buf out = { 0 };

	file_json_string(&out, "a\"b\\c\x01\x1f\x7f/\xc3\xa9");
	ck_assert_uint_eq(out.len, strlen("\"a\\\"b\\\\c\\u0001\\u001f\\u007f/"
	    "\xc3\xa9\""));
	ck_assert(memcmp(out.data, "\"a\\\"b\\\\c\\u0001\\u001f\\u007f/"
	    "\xc3\xa9\"", out.len) == 0);
	buf_free(&out);
}
END_TEST

/*
 * BUG: with nothing to list, file_list() calls qsort(NULL, 0, ...), and
 * glibc declares qsort's base nonnull: undefined behaviour, which the
 * sanitizer build (-fsanitize=undefined -fno-sanitize-recover) stops on.
 * The plain build passes. An empty ROOT is the first state of every node.
 */
START_TEST(list_empty_root)
{
	struct buf out = { 0 };

	ck_assert_int_eq(file_list(root_fd, false, &out), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(file_list(root_fd, true, &out), 0);
	ck_assert_uint_eq(out.len, 3);
	ck_assert(memcmp(out.data, "[]\n", 3) == 0);

	/* Only things that are not listed: still empty. */
	buf_reset(&out);
	make_file(root, ".hidden", "", 0);
	make_symlink(".hidden", "link");
	ck_assert_int_eq(file_list(root_fd, false, &out), 0);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

START_TEST(list_many_sorted)
{
	enum { N = 300 };
	struct buf out = { 0 };
	char name[32], *p, *line;
	int i, count = 0;

	for (i = N - 1; i >= 0; i--) {
		snprintf(name, sizeof(name), "file%04d", (i * 37) % N);
		make_file(root, name, "", 0);
	}
	ck_assert_int_eq(file_list(root_fd, false, &out), 0);
	buf_append(&out, "", 1);
	p = out.data;
	while ((line = strsep(&p, "\n")) != NULL && *line != '\0') {
		snprintf(name, sizeof(name), "file%04d", count);
		ck_assert_str_eq(line, name);
		count++;
	}
	ck_assert_int_eq(count, N);
	buf_free(&out);
}
END_TEST

START_TEST(list_not_a_directory)
{
	struct buf out = { 0 };
	char path[512];
	int fd;

	make_file(root, "f", "x", 1);
	snprintf(path, sizeof(path), "%s/f", root);
	fd = open(path, O_PATH | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_int_eq(file_list(fd, false, &out), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	close(fd);
	buf_free(&out);
}
END_TEST

/* Temporary files and publishing (uploads and copies from peers). */
static int
open_tmp_dir(void)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, FILE_TMP_DIR);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Entries in root/FILE_TMP_DIR, "." and ".." aside. */
static int
count_tmp_entries(void)
{
	char path[160];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, FILE_TMP_DIR);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

START_TEST(tmp_create_unique_names)
{
	enum { N = 50 };
	static char names[N][FILE_TMP_NAME_MAX];
	char prefix[32];
	int tmp_fd = open_tmp_dir(), fds[N], i, j;

	snprintf(prefix, sizeof(prefix), "up-%ld-", (long)getpid());
	for (i = 0; i < N; i++) {
		fds[i] = file_tmp_create(tmp_fd, "up", names[i]);
		ck_assert_msg(fds[i] >= 0, "%s", strerror(errno));
		ck_assert_msg(strncmp(names[i], prefix, strlen(prefix)) == 0,
		    "name %s", names[i]);
		ck_assert(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
		ck_assert_int_eq(fcntl(fds[i], F_GETFL) & O_ACCMODE, O_RDWR);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(names[i], names[j]);
	}
	ck_assert_int_eq(count_tmp_entries(), N);
	for (i = 0; i < N; i++)
		file_tmp_discard(fds[i], tmp_fd, names[i]);
	ck_assert_int_eq(count_tmp_entries(), 0);
	close(tmp_fd);
}
END_TEST

START_TEST(write_all_at_offsets)
{
	char name[FILE_TMP_NAME_MAX], got[32];
	int tmp_fd = open_tmp_dir(), fd;

	fd = file_tmp_create(tmp_fd, "w", name);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(file_write_all(fd, "world", 5, 6), 0);
	ck_assert_int_eq(file_write_all(fd, "hello ", 6, 0), 0);
	ck_assert_int_eq(file_write_all(fd, "", 0, 100), 0);
	ck_assert_int_eq(pread(fd, got, sizeof(got), 0), 11);
	ck_assert(memcmp(got, "hello world", 11) == 0);
	errno = 0;
	ck_assert_int_eq(file_write_all(-1, "x", 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	file_tmp_discard(fd, tmp_fd, name);
	close(tmp_fd);
}
END_TEST

/* What a spool does to publish: seal, then link without replacing. */
static int
publish(int fd, int tmp_fd, const char *tmp_name, const char *name,
    const struct timespec *mtime, const struct digest *digest)
{
	if (file_seal(fd, mtime, digest, NULL) == -1) {
		int saved = errno;

		file_tmp_discard(fd, tmp_fd, tmp_name);
		errno = saved;
		return -1;
	}
	return file_link(fd, tmp_fd, tmp_name, root_fd, name);
}

START_TEST(publish_links_into_place)
{
	const struct timespec mtime = { 1700000000, 42 };
	const struct digest digest = { 0x1122334455667788ULL,
	    0x99aabbccddeeff00ULL };
	char name[FILE_TMP_NAME_MAX], path[512], got[128];
	struct file_info fi;
	struct buf list = { 0 };
	struct stat st;
	int tmp_fd = open_tmp_dir(), fd;

	fd = file_tmp_create(tmp_fd, "up", name);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(file_write_all(fd, "payload", 7, 0), 0);
	ck_assert_int_eq(publish(fd, tmp_fd, name, "new.bin", &mtime,
	    &digest), 0);
	ck_assert_int_eq(count_tmp_entries(), 0);

	snprintf(path, sizeof(path), "%s/new.bin", root);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_nlink, 1);	/* no temporary name left */
	ck_assert_int_eq(st.st_mtim.tv_sec, mtime.tv_sec);
	ck_assert_int_eq(st.st_mtim.tv_nsec, mtime.tv_nsec);

	/* Served as any file; the ETag is the recorded digest when the file
	 * system keeps user xattrs. */
	file_open(root_fd, "new.bin", -1, &fi);
	ck_assert_int_ge(fi.fi_fd, 0);
	ck_assert_uint_eq(fi.fi_size, 7);
	ck_assert_int_eq(read(fi.fi_fd, got, sizeof(got)), 7);
	ck_assert(memcmp(got, "payload", 7) == 0);
	close(fi.fi_fd);
	if (getxattr(path, FILE_DIGEST_XATTR, got, sizeof(got)) > 0) {
		ck_assert(same(fi.fi_digest, digest));
		ck_assert(fi.fi_content);
	} else
		fprintf(stderr, "publish_links_into_place: digest round trip "
		    "skipped, no user xattrs\n");

	ck_assert_int_eq(file_list(root_fd, false, &list), 0);
	ck_assert_uint_eq(list.len, strlen("new.bin\n"));
	ck_assert(memcmp(list.data, "new.bin\n", list.len) == 0);
	buf_free(&list);
	close(tmp_fd);
}
END_TEST

/* Publishes `data` as a saved copy `name`; fills its identity. */
static void
publish_copy(int tmp_fd, const char *name, const char *data,
    struct file_identity *id)
{
	const struct digest d = { 0, 0x1234 };
	char tmp[FILE_TMP_NAME_MAX];
	int fd = file_tmp_create(tmp_fd, "fill", tmp);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(file_write_all(fd, data, strlen(data), 0), 0);
	ck_assert_int_eq(file_seal(fd, NULL, &d, id), 0);
	ck_assert_int_eq(file_link(fd, tmp_fd, tmp, root_fd, name), 0);
}

/* An expired copy goes; anything that took its name stays, even a file
 * that got the copy's freed inode number and has its size. */
START_TEST(remove_copy_only_removes_the_copy)
{
	struct file_identity id;
	char path[512], got[32];
	int tmp_fd = open_tmp_dir(), fd;

	publish_copy(tmp_fd, "c", "copy", &id);
	ck_assert_int_eq(file_remove_copy(root_fd, tmp_fd, "c", &id), 0);
	snprintf(path, sizeof(path), "%s/c", root);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(file_remove_copy(root_fd, tmp_fd, "c", &id), 1);

	/* The operator's file in its place: same inode number (as a file
	 * system hands out a freed one) and the same size. */
	publish_copy(tmp_fd, "c", "copy", &id);
	ck_assert_int_eq(unlink(path), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "mine", 4), 4);
	close(fd);
	{
		struct stat st;

		ck_assert_int_eq(stat(path, &st), 0);
		id.id_ino = (uint64_t)st.st_ino;	/* reused, or as if */
	}
	if (getxattr(path, FILE_DIGEST_XATTR, got, sizeof(got)) == -1 &&
	    errno == ENOTSUP) {
		fprintf(stderr, "remove_copy_only_removes_the_copy: no user "
		    "xattrs here; only inode and size can tell\n");
		close(tmp_fd);
		return;
	}
	ck_assert_int_eq(file_remove_copy(root_fd, tmp_fd, "c", &id), 1);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, got, sizeof(got)), 4);
	ck_assert(memcmp(got, "mine", 4) == 0);
	close(fd);
	ck_assert_int_eq(count_tmp_entries(), 0);

	/* Another size: not the copy either. */
	id.id_size = 5;
	ck_assert_int_eq(file_remove_copy(root_fd, tmp_fd, "c", &id), 1);
	ck_assert_int_eq(access(path, F_OK), 0);
	close(tmp_fd);
}
END_TEST

/* A name taken meanwhile is never replaced. */
START_TEST(publish_never_replaces)
{
	char name[FILE_TMP_NAME_MAX], path[512];
	int tmp_fd = open_tmp_dir(), fd;

	make_file(root, "taken", "original", 8);
	fd = file_tmp_create(tmp_fd, "up", name);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(file_write_all(fd, "intruder", 8, 0), 0);
	errno = 0;
	ck_assert_int_eq(publish(fd, tmp_fd, name, "taken", NULL,
	    &(struct digest){ 0, 1 }), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(count_tmp_entries(), 0);
	snprintf(path, sizeof(path), "%s/taken", root);
	{
		char got[16];
		int rfd = open(path, O_RDONLY | O_CLOEXEC);

		ck_assert_int_ge(rfd, 0);
		ck_assert_int_eq(read(rfd, got, sizeof(got)), 8);
		ck_assert(memcmp(got, "original", 8) == 0);
		close(rfd);
	}
	close(tmp_fd);
}
END_TEST

/* After a process died: its own temporary files go, nothing else. */
START_TEST(tmp_clean_pid_removes_only_the_dead_ones)
{
	char name[FILE_TMP_NAME_MAX], path[256];
	static const char *const others[] = {
		"up-0123456789abcdef",		/* a reservation */
		"expired-%ld-3",		/* set aside by remove_copy */
		"fill-%ld0-1-0123abcd",		/* another pid */
		"fill-%ld-1-0123abcdX",		/* not made by tmp_create */
		"fill-%ld--0123abcd",
	};
	long pid = (long)getpid();
	int tmp_fd = open_tmp_dir(), i, fd;
	size_t k;

	for (i = 0; i < 3; i++) {
		fd = file_tmp_create(tmp_fd, i == 0 ? "fill" : "rep", name);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	for (k = 0; k < sizeof(others) / sizeof(others[0]); k++) {
		snprintf(name, sizeof(name), others[k], pid);
		snprintf(path, sizeof(path), "%s/%s/%s", root, FILE_TMP_DIR,
		    name);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	ck_assert_int_eq(count_tmp_entries(), 3 + (int)k);
	ck_assert_int_eq(file_tmp_clean_pid(tmp_fd, (pid_t)pid + 1), 0);
	ck_assert_int_eq(file_tmp_clean_pid(tmp_fd, (pid_t)pid), 3);
	ck_assert_int_eq(count_tmp_entries(), (int)k);
	close(tmp_fd);
}
END_TEST

START_TEST(tmp_clean_removes_leftovers)
{
	char name[FILE_TMP_NAME_MAX];
	int tmp_fd = open_tmp_dir(), i, fd;

	ck_assert_int_eq(file_tmp_clean(tmp_fd), 0);
	for (i = 0; i < 3; i++) {
		fd = file_tmp_create(tmp_fd, "crash", name);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	ck_assert_int_eq(count_tmp_entries(), 3);
	ck_assert_int_eq(file_tmp_clean(tmp_fd), 3);
	ck_assert_int_eq(count_tmp_entries(), 0);
	make_file(root, "kept", "", 0);	/* ROOT itself is not touched */
	ck_assert_int_eq(file_tmp_clean(tmp_fd), 0);
	{
		struct file_info fi;

		file_open(root_fd, "kept", -1, &fi);
		ck_assert_int_ge(fi.fi_fd, 0);
		close(fi.fi_fd);
	}
	close(tmp_fd);
}
END_TEST

/* Content digests, origins and copy marks. */

/* Opens root/name read-write. */
static int
open_rw(const char *name)
{
	int fd = openat(root_fd, name, O_RDWR | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "%s: %s", name, strerror(errno));
	return fd;
}

/* Whether root/name takes user xattrs; says so when it does not. */
static bool
xattrs_here(int fd, const char *test)
{
	if (fsetxattr(fd, "user.shoal.probe", "1", 1, 0) == 0) {
		ck_assert_int_eq(fremovexattr(fd, "user.shoal.probe"), 0);
		return true;
	}
	ck_assert_msg(errno == ENOTSUP || errno == EOPNOTSUPP, "probe: %s",
	    strerror(errno));
	fprintf(stderr, "%s: skipped, %s takes no user xattrs\n", test, root);
	return false;
}

static struct digest
xxh128_of(const void *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);

	return (struct digest){ h.high64, h.low64 };
}

START_TEST(content_digest_reads_the_whole_file)
{
	/* Sizes around the 1 MiB chunk: none, one byte, a chunk and more. */
	const size_t sizes[] = { 0, 1, 1 << 20, (3 << 20) + 7 };
	size_t i, j;
	struct digest d;
	int fd;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		unsigned char *data = malloc(n + 1);

		for (j = 0; j < n; j++)
			data[j] = pattern(j);
		make_file(root, "c", (const char *)data, n);
		fd = open_rw("c");
		memset(&d, 0xee, sizeof(d));
		ck_assert_int_eq(file_content_digest(fd, n, &d), 0);
		ck_assert_msg(same(d, xxh128_of(data, n)), "size %zu", n);
		if (n > 1) {
			/* Only the first `size` bytes count. */
			ck_assert_int_eq(file_content_digest(fd, n - 1, &d), 0);
			ck_assert(same(d, xxh128_of(data, n - 1)));
		}
		/* A file shorter than said is not digested. */
		errno = 0;
		ck_assert_int_eq(file_content_digest(fd, n + 1, &d), -1);
		ck_assert_int_eq(errno, EIO);
		close(fd);
		free(data);
	}
	/* The two halves in their order: the hex form is XXH128's
	 * canonical one (high 64 bits first). */
	make_file(root, "c", "abc", 3);
	fd = open_rw("c");
	ck_assert_int_eq(file_content_digest(fd, 3, &d), 0);
	{
		XXH128_canonical_t canon;
		char hex[DIGEST_HEX_LEN + 1], want[DIGEST_HEX_LEN + 1];

		XXH128_canonicalFromHash(&canon, XXH3_128bits("abc", 3));
		for (j = 0; j < 16; j++)
			snprintf(want + 2 * j, 3, "%02x", canon.digest[j]);
		digest_hex(&d, hex);
		ck_assert_str_eq(hex, want);
	}
	close(fd);
	errno = 0;
	ck_assert_int_eq(file_content_digest(-1, 3, &d), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(digest_record_is_found_until_the_file_changes)
{
	struct digest d, got;
	bool content = true;
	int fd;

	make_file(root, "op", "operator's file", 15);
	fd = open_rw("op");
	if (!xattrs_here(fd, "digest_record_is_found_until_the_file_changes")) {
		close(fd);
		return;
	}
	got = digest_of2("op", &content);
	ck_assert(!content);
	ck_assert(!same(got, xxh128_of("operator's file", 15)));

	ck_assert_int_eq(file_content_digest(fd, 15, &d), 0);
	ck_assert_int_eq(file_digest_record(fd, &d), 0);
	got = digest_of2("op", &content);
	ck_assert(content);
	ck_assert(same(got, xxh128_of("operator's file", 15)));
	ck_assert(same(digest_of("op"), got));		/* stable */

	/* Rewritten in place: the record is stale, the identity is used. */
	ck_assert_int_eq(pwrite(fd, "OPERATOR", 8, 0), 8);
	set_mtime("op", 1700000000, 1);
	got = digest_of2("op", &content);
	ck_assert(!content);
	ck_assert(!same(got, d));
	close(fd);

	errno = 0;
	ck_assert_int_eq(file_digest_record(-1, &d), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(origin_round_trip)
{
	char node[FILE_ORIGIN_NODE_MAX], longname[FILE_ORIGIN_NODE_MAX + 1];
	char path[512];
	uint64_t hlc = 0;
	int fd;

	make_file(root, "o", "v1", 2);
	fd = open_rw("o");
	if (!xattrs_here(fd, "origin_round_trip")) {
		close(fd);
		return;
	}
	errno = 0;
	ck_assert_int_eq(file_origin_read(fd, &hlc, node, sizeof(node)), -1);
	ck_assert_int_eq(errno, ENODATA);

	ck_assert_int_eq(file_origin_write(fd, 0x0123456789abcdefULL,
	    "node-a.example"), 0);
	ck_assert_int_eq(file_origin_read(fd, &hlc, node, sizeof(node)), 0);
	ck_assert_uint_eq(hlc, 0x0123456789abcdefULL);
	ck_assert_str_eq(node, "node-a.example");
	{
		char val[64];
		ssize_t n = fgetxattr(fd, FILE_ORIGIN_XATTR, val,
		    sizeof(val) - 1);

		ck_assert_int_gt(n, 0);
		val[n] = '\0';
		ck_assert_str_eq(val, "0123456789abcdef node-a.example");
	}
	/* The name does not fit: ERANGE, nothing written past len. */
	memset(node, 'z', sizeof(node));
	errno = 0;
	ck_assert_int_eq(file_origin_read(fd, &hlc, node, 14), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(node[14], 'z');
	ck_assert_int_eq(file_origin_read(fd, &hlc, node, 15), 0);
	ck_assert_str_eq(node, "node-a.example");

	/* A second write replaces the first; the largest stamp and name. */
	memset(longname, 'n', FILE_ORIGIN_NODE_MAX - 1);
	longname[FILE_ORIGIN_NODE_MAX - 1] = '\0';
	ck_assert_int_eq(file_origin_write(fd, UINT64_MAX, longname), 0);
	ck_assert_int_eq(file_origin_read(fd, &hlc, node, sizeof(node)), 0);
	ck_assert_uint_eq(hlc, UINT64_MAX);
	ck_assert_str_eq(node, longname);

	/* Names that cannot be written. */
	longname[FILE_ORIGIN_NODE_MAX - 1] = 'n';
	longname[FILE_ORIGIN_NODE_MAX] = '\0';
	errno = 0;
	ck_assert_int_eq(file_origin_write(fd, 1, longname), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(file_origin_write(fd, 1, ""), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(file_origin_write(fd, 1, "a b"), -1);
	ck_assert_int_eq(errno, EINVAL);

	/* What is not an origin. */
	snprintf(path, sizeof(path), "%s/o", root);
	{
		static const char *const bad[] = {
			"0123456789abcdef", "0123456789abcdef ",
			"0123456789abcdefx a", "0123456789abcdeg a",
			"123 a", "0123456789abcdef a b", "junk",
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ck_assert_int_eq(setxattr(path, FILE_ORIGIN_XATTR,
			    bad[i], strlen(bad[i]), 0), 0);
			errno = 0;
			ck_assert_msg(file_origin_read(fd, &hlc, node,
			    sizeof(node)) == -1 && errno == EINVAL, "%s",
			    bad[i]);
		}
	}
	close(fd);
}
END_TEST

START_TEST(copy_mark_holds_while_the_copy_is_unchanged)
{
	const struct digest d = { 1, 2 };
	int fd;

	make_file(root, "k", "a copy", 6);
	fd = open_rw("k");
	if (!xattrs_here(fd, "copy_mark_holds_while_the_copy_is_unchanged")) {
		close(fd);
		return;
	}
	ck_assert(!file_is_copy(fd));			/* an original */
	ck_assert_int_eq(file_copy_mark(fd), 0);
	ck_assert(!file_is_copy(fd));			/* never sealed */
	ck_assert_int_eq(file_seal(fd, NULL, &d, NULL), 0);
	ck_assert(file_is_copy(fd));
	{
		char val[8];

		ck_assert_int_eq(fgetxattr(fd, FILE_COPY_XATTR, val,
		    sizeof(val)), 1);
		ck_assert_int_eq(val[0], '1');
	}

	/* Rewritten in place by an operator: an original again. */
	ck_assert_int_eq(pwrite(fd, "A", 1, 0), 1);
	set_mtime("k", 1700000000, 3);
	ck_assert(!file_is_copy(fd));
	/* ... and stays one once its digest is recorded anew. */
	ck_assert_int_eq(file_digest_record(fd, &d), 0);
	ck_assert(!file_is_copy(fd));
	errno = 0;
	ck_assert_int_eq(fgetxattr(fd, FILE_COPY_XATTR, NULL, 0), -1);
	ck_assert_int_eq(errno, ENODATA);
	close(fd);
	ck_assert(!file_is_copy(-1));
}
END_TEST

int
main(void)
{
	TCase *tc;

	tc = check_main_tcase("open", setup, teardown,
	    CHECK_MAIN_TESTS(open_regular_file, open_missing_file,
	    remove_copy_only_removes_the_copy,
	    open_cached_knows_missing_names_without_the_disk, open_directory,
	    open_symlinks_never_followed, open_fifo_does_not_hang,
	    open_socket_file, digest_stable_then_changes,
	    xattr_digest_used_when_valid,
	    xattr_digest_ignored_when_stale_or_bad,
	    content_digest_reads_the_whole_file,
	    digest_record_is_found_until_the_file_changes, origin_round_trip,
	    copy_mark_holds_while_the_copy_is_unchanged));
	tmp_dir_add(tc);
	tcase_set_timeout(tc, 5);
	tc = check_main_tcase("send", setup, teardown,
	    CHECK_MAIN_TESTS(send_whole_file_through_full_socket,
	    send_range_and_nothing, send_file_that_shrank_is_eio,
	    send_to_closed_peer));
	tmp_dir_add(tc);
	tc = check_main_tcase("list", setup, teardown,
	    CHECK_MAIN_TESTS(list_text, list_json, json_string_escapes,
	    list_empty_root, list_many_sorted, list_not_a_directory));
	tmp_dir_add(tc);
	tc = check_main_tcase("publish", setup, teardown,
	    CHECK_MAIN_TESTS(tmp_create_unique_names, write_all_at_offsets,
	    publish_links_into_place, publish_never_replaces,
	    tmp_clean_removes_leftovers,
	    tmp_clean_pid_removes_only_the_dead_ones));
	tmp_dir_add(tc);
	return check_main_run();
}
