/*
 * check_spool.c - unit tests for src/store/spool.c: files that must
 * appear whole, written through a real I/O pool with a real loop, in a
 * ROOT and its hidden temporary directory under /tmp. Writing with two
 * buffers in flight, publishing (bytes, mtime, digest, xattr, never over
 * a name), reservations, the link hooks, giving up at every stage, a disk
 * that fills (a small tmpfs: root only), and the teardown at exit.
 * Includes the .c file (for the spool's state); links the rest.
 * Runs in Check's fork mode: a crash or a hang is a failure.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "store/spool.c"
#include "check_main.h"
#include "loop_fixture.h"
#include "tmp_dir.h"

/* Each test makes its ROOT (with the hidden directory) in tmp_dir. */
static char root[96], tmpdir[128], small[96];
static int root_fd = -1, tmp_fd = -1;
static struct iopool *pool;
static struct spool_dir dir;
static pthread_t loop_thread;

static void
make_base(void)
{
	tmp_dir_make();
	tmp_dir_join(small, sizeof(small), tmp_dir, "small");
}

static void
remove_base(void)
{
	/* A test that failed may have left its small tmpfs mounted. */
	(void)umount2(small, MNT_DETACH);
	tmp_dir_remove();
}

/* ROOT and its hidden directory under `parent`, opened as a worker does,
 * and a spool directory over them. */
static void
make_root(const char *parent, struct spool_dir *d, int *rfd, int *tfd)
{
	tmp_dir_sub(root, sizeof(root), parent, "root");
	tmp_dir_join(tmpdir, sizeof(tmpdir), root, FILE_TMP_DIR);
	ck_assert_int_eq(mkdir(tmpdir, 0755), 0);
	*rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(*rfd, 0);
	*tfd = openat(*rfd, FILE_TMP_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	ck_assert_int_ge(*tfd, 0);
	spool_dir_init(d, pool, *rfd, *tfd);
}

static void
setup(void)
{
	loop_thread = pthread_self();
	loop_fixture_setup();
	pool = iopool_create(loop, 2, 64);
	ck_assert_ptr_nonnull(pool);
	make_root(tmp_dir, &dir, &root_fd, &tmp_fd);
}

static void
teardown(void)
{
	if (pool != NULL) {
		iopool_destroy(pool);
		spool_dir_teardown(&dir);
	}
	pool = NULL;
	loop_fixture_teardown();
	close(tmp_fd);
	close(root_fd);
}

/* Until the pool is idle and the loop has seen its last completion. */
static void
settle(void)
{
	RUN_UNTIL(iopool_pending(pool) == 0, 3000);
	ck_assert_uint_eq(iopool_pending(pool), 0);
	turn(0);
}

/* Until every spool of d is gone, ms at most. */
static void
wait_idle(struct spool_dir *d, int64_t ms)
{
	RUN_UNTIL(spool_dir_idle(d), ms);
	ck_assert(spool_dir_idle(d));
}

/* Gives sp up and waits until it is gone and the pool idle. */
static void
abort_and_settle(struct spool *sp)
{
	spool_abort(sp);
	wait_idle(&dir, 3000);
	settle();
}

/* The entries of a directory, "." and ".." aside. */
static int
count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static bool
exists_in(const char *path, const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", path, name);
	return lstat(p, &st) == 0;
}

/* The whole content of root/name (malloc'd; *len set), or NULL. */
static char *
slurp(const char *name, size_t *len)
{
	char p[512], *data;
	struct stat st;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	ck_assert_int_eq(fstat(fd, &st), 0);
	data = malloc((size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, data, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return data;
}

static void
write_file(const char *name, const char *content)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
}

static void
pattern(char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)((i * 131 + (i >> 9) + seed) & 0xff);
}

/* ------------------------------------------------------------------ */
/* An owner: feeds its bytes through the spool's buffers              */

struct owner {
	struct spool *sp;
	int opened, written, published;
	int open_err, pub_err;
	int write_err[64];
	char tmp_name[FILE_TMP_NAME_MAX];
	struct digest digest;
	uint64_t written_bytes;
	/* what to write */
	const char *data;
	size_t len, handed;
	size_t lens[SPOOL_QUEUE];	/* buffers in flight, oldest first */
	unsigned inflight, max_inflight;
	char *bufs[2];			/* the first two buffers given */
	bool feed_on_written;		/* hand over more as buffers return */
	bool publish_at_end;		/* ... and publish after the last */
	struct spool_publish how;
	bool nested;			/* a callback from outside the loop */
};

static void
owner_feed(struct owner *o)
{
	char *b;

	while (o->handed < o->len && (b = spool_buffer(o->sp)) != NULL) {
		size_t n = o->len - o->handed < SPOOL_BUF_SIZE ?
		    o->len - o->handed : SPOOL_BUF_SIZE;

		/* The same buffer until it is handed over. */
		ck_assert_ptr_eq(spool_buffer(o->sp), b);
		if (o->bufs[0] == NULL)
			o->bufs[0] = b;
		else if (o->bufs[1] == NULL && b != o->bufs[0])
			o->bufs[1] = b;
		memcpy(b, o->data + o->handed, n);
		o->lens[o->inflight++] = n;
		if (o->inflight > o->max_inflight)
			o->max_inflight = o->inflight;
		spool_write(o->sp, n);
		o->handed += n;
	}
	if (o->handed == o->len && o->publish_at_end) {
		o->publish_at_end = false;
		spool_publish(o->sp, &o->how);
		ck_assert_ptr_null(spool_buffer(o->sp));
	}
}

/* The owner of a callback, which must be for its spool; notes a call
 * from off the loop thread. */
static struct owner *
owner_called(struct spool *sp, void *arg)
{
	struct owner *o = arg;

	o->nested |= !pthread_equal(pthread_self(), loop_thread);
	ck_assert_ptr_eq(sp, o->sp);
	return o;
}

static void
owner_opened(struct spool *sp, int err, void *arg)
{
	struct owner *o = owner_called(sp, arg);

	o->opened++;
	o->open_err = err;
	snprintf(o->tmp_name, sizeof(o->tmp_name), "%s", spool_tmp_name(sp));
}

static void
owner_written(struct spool *sp, int err, void *arg)
{
	struct owner *o = owner_called(sp, arg);

	if (o->written < 64)
		o->write_err[o->written] = err;
	o->written++;
	ck_assert_uint_gt(o->inflight, 0);
	memmove(o->lens, o->lens + 1, sizeof(o->lens[0]) * --o->inflight);
	o->written_bytes = spool_written(sp);
	if (err == 0 && o->feed_on_written)
		owner_feed(o);
}

static void
owner_published(struct spool *sp, int err, void *arg)
{
	struct owner *o = owner_called(sp, arg);

	o->published++;
	o->pub_err = err;
	o->digest = spool_digest(sp);
	o->written_bytes = spool_written(sp);
}

static const struct spool_handler owner_handler = {
	.sh_opened = owner_opened,
	.sh_written = owner_written,
	.sh_published = owner_published,
};

static int
callbacks(const struct owner *o)
{
	return o->opened + o->written + o->published;
}

static struct digest
xxh128_of(const void *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);

	return (struct digest){ h.high64, h.low64 };
}

static bool
same(struct digest a, struct digest b)
{
	return digest_equal(&a, &b);
}

/* The digest xattr of root/name: 1 and *digest when there, 0 when the
 * file system keeps no user xattrs; asserts size and mtime recorded. */
static int
xattr_digest(const char *name, struct digest *digest)
{
	unsigned long long size, sec, nsec;
	char p[512], val[128];
	int hex = -1;
	struct stat st;
	ssize_t n;

	snprintf(p, sizeof(p), "%s/%s", root, name);
	n = getxattr(p, FILE_DIGEST_XATTR, val, sizeof(val) - 1);
	if (n == -1 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return 0;
	ck_assert_int_gt(n, 0);
	val[n] = '\0';
	ck_assert_int_eq(sscanf(val, "%llu %llu %llu %n", &size, &sec, &nsec,
	    &hex), 3);
	ck_assert_int_eq(digest_parse(val + hex, (size_t)(n - hex), digest),
	    0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(size, (unsigned long long)st.st_size);
	ck_assert_uint_eq(sec, (unsigned long long)st.st_mtim.tv_sec);
	ck_assert_uint_eq(nsec, (unsigned long long)st.st_mtim.tv_nsec);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Publishing                                                         */

#define LEN (4 * SPOOL_BUF_SIZE + 12345)	/* five buffers, the last short */
static char data[LEN];

/* o, to write len bytes of data (a pattern of seed) through a new spool
 * of dir; feed_on_written: handing more over as buffers come back. */
static void
start_owner(struct owner *o, unsigned seed, size_t len, bool feed_on_written)
{
	pattern(data, LEN, seed);
	o->data = data;
	o->len = len;
	o->feed_on_written = feed_on_written;
	o->sp = spool_create(&dir, "cp", &owner_handler, o);
	ck_assert_ptr_nonnull(o->sp);
}

START_TEST(write_and_publish_whole)
{
	static const struct timespec mtime = { 1700000000, 123456789 };
	struct owner o = { 0 };
	struct digest xd;
	size_t len;
	char *got;
	struct stat st;
	char p[512];

	pattern(data, LEN, 1);
	o.data = data;
	o.len = LEN;
	o.feed_on_written = true;
	o.publish_at_end = true;
	o.how.name = "whole";
	o.how.mtime = &mtime;
	ck_assert(spool_dir_idle(&dir));
	o.sp = spool_create(&dir, "cp", &owner_handler, &o);
	ck_assert_ptr_nonnull(o.sp);
	ck_assert(!spool_dir_idle(&dir));

	/* Two buffers handed over before the file is even open; then none
	 * until one comes back. */
	owner_feed(&o);
	ck_assert_uint_eq(o.inflight, SPOOL_QUEUE);
	ck_assert_ptr_null(spool_buffer(o.sp));
	ck_assert_ptr_nonnull(o.bufs[1]);
	ck_assert_ptr_ne(o.bufs[0], o.bufs[1]);

	RUN_UNTIL(o.published > 0, 5000);
	ck_assert_int_eq(o.published, 1);
	ck_assert_int_eq(o.pub_err, 0);
	ck_assert_int_eq(o.opened, 1);
	ck_assert_int_eq(o.open_err, 0);
	ck_assert(strncmp(o.tmp_name, "cp-", 3) == 0);
	ck_assert_int_eq(o.written, 5);
	ck_assert_int_eq(o.max_inflight, SPOOL_QUEUE);
	ck_assert(!o.nested);
	ck_assert_uint_eq(o.written_bytes, LEN);
	ck_assert(same(o.digest, xxh128_of(data, LEN)));

	/* Whole, under its name, with its mtime and its digest. */
	got = slurp("whole", &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, LEN);
	ck_assert(memcmp(got, data, LEN) == 0);
	free(got);
	snprintf(p, sizeof(p), "%s/whole", root);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mtim.tv_sec, mtime.tv_sec);
	ck_assert_int_eq(st.st_mtim.tv_nsec, mtime.tv_nsec);
	if (xattr_digest("whole", &xd))
		ck_assert(same(xd, xxh128_of(data, LEN)));
	else
		fprintf(stderr, "write_and_publish_whole: no user xattrs on "
		    "/tmp; the xattr is not checked\n");
	/* No temporary left; the spool freed itself. */
	ck_assert_int_eq(count_entries(tmpdir), 0);
	wait_idle(&dir, 1000);
}
END_TEST

/* The digest given (a peer's ETag) is the one recorded; no mtime given
 * means now. */
START_TEST(publish_with_given_digest)
{
	struct owner o = { 0 };
	time_t before = time(NULL);
	const struct digest given = { 0x0123456789abcdefULL, 42 };
	struct digest xd;
	char p[512];
	struct stat st;

	o.data = "hello";
	o.len = 5;
	o.publish_at_end = true;
	o.how.name = "given";
	o.how.have_digest = true;
	o.how.digest = given;
	o.sp = spool_create(&dir, "cp", &owner_handler, &o);
	owner_feed(&o);
	RUN_UNTIL(o.published > 0, 3000);
	ck_assert_int_eq(o.pub_err, 0);
	ck_assert(same(o.digest, given));
	if (xattr_digest("given", &xd))
		ck_assert(same(xd, given));
	snprintf(p, sizeof(p), "%s/given", root);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert_int_ge(st.st_mtim.tv_sec, before);
	ck_assert_int_le(st.st_mtim.tv_sec, time(NULL));
	wait_idle(&dir, 1000);
	ck_assert_int_eq(count_entries(tmpdir), 0);
}
END_TEST

/* An empty file is a file too. */
START_TEST(publish_empty)
{
	struct owner o = { 0 };
	size_t len = 1;
	char *got;

	o.how.name = "empty";
	o.sp = spool_create(&dir, "cp", &owner_handler, &o);
	spool_publish(o.sp, &o.how);
	RUN_UNTIL(o.published > 0, 3000);
	ck_assert_int_eq(o.pub_err, 0);
	ck_assert_int_eq(o.written, 0);
	ck_assert(same(o.digest, xxh128_of("", 0)));
	got = slurp("empty", &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, 0);
	free(got);
	wait_idle(&dir, 1000);
}
END_TEST

/* Opens root/name read-only, or asserts. */
static int
open_published(const char *name)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	return fd;
}

/* The origin and the copy mark are recorded at seal, the node's name
 * copied when publish is asked; without them, none is recorded. */
START_TEST(publish_with_origin_and_copy)
{
	struct owner orig = { 0 }, copy = { 0 }, plain = { 0 };
	struct owner bad = { 0 };
	char node[FILE_ORIGIN_NODE_MAX], got[FILE_ORIGIN_NODE_MAX];
	uint64_t hlc = 0;
	int fd;

	snprintf(node, sizeof(node), "node-a");
	orig.data = "original";
	orig.len = 8;
	orig.publish_at_end = true;
	orig.how.name = "orig";
	orig.how.origin_hlc = 0x00000190a1b2c3d4ULL;
	orig.how.origin_node = node;
	orig.sp = spool_create(&dir, "up", &owner_handler, &orig);
	owner_feed(&orig);
	/* Publish was asked: the spool keeps its own copy of the name. */
	snprintf(node, sizeof(node), "overwritten");

	copy.data = "saved copy";
	copy.len = 10;
	copy.publish_at_end = true;
	copy.how.name = "copy";
	copy.how.copy = true;
	copy.sp = spool_create(&dir, "fill", &owner_handler, &copy);
	owner_feed(&copy);

	plain.data = "plain";
	plain.len = 5;
	plain.publish_at_end = true;
	plain.how.name = "plain";
	plain.sp = spool_create(&dir, "cp", &owner_handler, &plain);
	owner_feed(&plain);
	RUN_UNTIL(orig.published && copy.published && plain.published, 3000);
	ck_assert_int_eq(orig.pub_err, 0);
	ck_assert_int_eq(copy.pub_err, 0);
	ck_assert_int_eq(plain.pub_err, 0);
	ck_assert(same(copy.digest, xxh128_of("saved copy", 10)));

	fd = open_published("orig");
	if (fsetxattr(fd, "user.shoal.probe", "1", 1, 0) == -1) {
		fprintf(stderr, "publish_with_origin_and_copy: no user xattrs "
		    "on %s; the marks are not checked\n", root);
		close(fd);
		wait_idle(&dir, 1000);
		return;
	}
	ck_assert_int_eq(file_origin_read(fd, &hlc, got, sizeof(got)), 0);
	ck_assert_uint_eq(hlc, 0x00000190a1b2c3d4ULL);
	ck_assert_str_eq(got, "node-a");
	ck_assert(!file_is_copy(fd));
	close(fd);

	fd = open_published("copy");
	ck_assert(file_is_copy(fd));
	errno = 0;
	ck_assert_int_eq(file_origin_read(fd, &hlc, got, sizeof(got)), -1);
	ck_assert_int_eq(errno, ENODATA);
	close(fd);

	fd = open_published("plain");
	ck_assert(!file_is_copy(fd));
	errno = 0;
	ck_assert_int_eq(file_origin_read(fd, &hlc, got, sizeof(got)), -1);
	ck_assert_int_eq(errno, ENODATA);
	close(fd);

	/* An origin that cannot be recorded fails the publication: nothing
	 * appears under the name, no temporary file is left. */
	bad.data = "bad";
	bad.len = 3;
	bad.publish_at_end = true;
	bad.how.name = "bad";
	bad.how.origin_node = "two words";
	bad.sp = spool_create(&dir, "up", &owner_handler, &bad);
	owner_feed(&bad);
	RUN_UNTIL(bad.published > 0, 3000);
	ck_assert_int_eq(bad.pub_err, EINVAL);
	ck_assert(!exists_in(root, "bad"));
	wait_idle(&dir, 1000);
	ck_assert_int_eq(count_entries(tmpdir), 0);
}
END_TEST

START_TEST(publish_never_replaces)
{
	struct owner o = { 0 };
	size_t len;
	char *got;

	write_file("taken", "old");
	o.data = "new bytes";
	o.len = 9;
	o.publish_at_end = true;
	o.how.name = "taken";
	o.sp = spool_create(&dir, "cp", &owner_handler, &o);
	owner_feed(&o);
	RUN_UNTIL(o.published > 0, 3000);
	ck_assert_int_eq(o.published, 1);
	ck_assert_int_eq(o.pub_err, EEXIST);
	got = slurp("taken", &len);
	ck_assert_uint_eq(len, 3);
	ck_assert(memcmp(got, "old", 3) == 0);
	free(got);
	ck_assert_int_eq(count_entries(tmpdir), 0);
	wait_idle(&dir, 1000);
	ck_assert_int_eq(count_entries(root), 2);	/* taken, the hidden dir */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Reservations                                                       */

START_TEST(reserve_refusals)
{
	struct owner busy = { 0 }, taken = { 0 }, full = { 0 };
	struct owner held = { 0 }, again = { 0 };
	size_t len;
	char *got;

	write_file("exists", "x");
	taken.sp = spool_reserve(&dir, "exists", 0, &owner_handler, &taken);
	full.sp = spool_reserve(&dir, "huge", UINT64_MAX, &owner_handler,
	    &full);
	held.sp = spool_reserve(&dir, "up", 10, &owner_handler, &held);
	RUN_UNTIL(taken.opened && full.opened && held.opened, 3000);
	ck_assert_int_eq(taken.open_err, EEXIST);
	ck_assert_int_eq(full.open_err, ENOSPC);
	ck_assert_int_eq(held.open_err, 0);
	ck_assert(strncmp(held.tmp_name, "up-", 3) == 0);
	ck_assert(exists_in(tmpdir, held.tmp_name));

	/* A second upload of the same name. */
	busy.sp = spool_reserve(&dir, "up", 10, &owner_handler, &busy);
	RUN_UNTIL(busy.opened, 3000);
	ck_assert_int_eq(busy.open_err, EBUSY);

	/* A failed open takes no writes; the owner hands them back. */
	ck_assert_ptr_null(spool_buffer(busy.sp));
	spool_abort(taken.sp);
	spool_abort(full.sp);
	spool_abort(busy.sp);
	settle();
	/* Letting go of the refused one did not remove the holder's
	 * reservation (the same temporary name). */
	ck_assert(exists_in(tmpdir, held.tmp_name));
	ck_assert_int_eq(count_entries(tmpdir), 1);
	ck_assert_int_eq(taken.opened + taken.written + taken.published, 1);

	/* The holder publishes under the reserved name. */
	held.data = "reserved";
	held.len = 8;
	held.publish_at_end = true;
	held.how.name = NULL;
	owner_feed(&held);
	RUN_UNTIL(held.published > 0, 3000);
	ck_assert_int_eq(held.pub_err, 0);
	got = slurp("up", &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, 8);
	ck_assert(memcmp(got, "reserved", 8) == 0);
	free(got);
	ck_assert_int_eq(count_entries(tmpdir), 0);

	/* Now the name exists. */
	again.sp = spool_reserve(&dir, "up", 0, &owner_handler, &again);
	RUN_UNTIL(again.opened, 3000);
	ck_assert_int_eq(again.open_err, EEXIST);
	spool_abort(again.sp);
	wait_idle(&dir, 1000);
}
END_TEST

/* An upload that gives up frees the name for the next one. */
START_TEST(reservation_released_on_abort)
{
	struct owner a = { 0 }, b = { 0 };

	a.sp = spool_reserve(&dir, "n", 0, &owner_handler, &a);
	RUN_UNTIL(a.opened, 3000);
	ck_assert_int_eq(a.open_err, 0);
	spool_abort(a.sp);
	wait_idle(&dir, 3000);
	ck_assert_int_eq(count_entries(tmpdir), 0);
	b.sp = spool_reserve(&dir, "n", 0, &owner_handler, &b);
	RUN_UNTIL(b.opened, 3000);
	ck_assert_int_eq(b.open_err, 0);
	spool_abort(b.sp);
	RUN_UNTIL(spool_dir_idle(&dir), 3000);
	ck_assert_int_eq(a.opened, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The link hooks                                                     */

struct hooks {
	int before, after;
	bool off_loop;
	bool name_free_before;		/* before_link: not in place yet */
	bool name_there_after;		/* after_link: in place, this file */
	struct file_identity id;
	int fail_errno;			/* after_link returns -1 with it */
};

/* "hooked" in ROOT: -1 not there (ENOENT), 1 there and the file of id,
 * 0 otherwise. */
static int
hooked(const struct file_identity *id)
{
	struct stat st;

	if (fstatat(root_fd, "hooked", &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? -1 : 0;
	return (uint64_t)st.st_ino == id->id_ino &&
	    (uint64_t)st.st_size == id->id_size;
}

static void
hook_before(struct spool *sp, const struct file_identity *id, void *arg)
{
	struct hooks *h = arg;

	(void)sp;
	h->before++;
	h->off_loop = !pthread_equal(pthread_self(), loop_thread);
	h->name_free_before = hooked(id) == -1;
	h->id = *id;
}

static int
hook_after(struct spool *sp, const struct file_identity *id, void *arg)
{
	struct hooks *h = arg;

	(void)sp;
	h->after++;
	h->name_there_after = h->before == 1 && hooked(id) == 1;
	if (h->fail_errno != 0) {
		errno = h->fail_errno;
		return -1;
	}
	return 0;
}

static void
publish_hooked(struct hooks *h, struct owner *o)
{
	o->data = "hooked bytes";
	o->len = 12;
	o->publish_at_end = true;
	o->how.name = "hooked";
	o->how.before_link = hook_before;
	o->how.after_link = hook_after;
	o->how.hook_arg = h;
	o->sp = spool_create(&dir, "cp", &owner_handler, o);
	owner_feed(o);
	RUN_UNTIL(o->published > 0, 3000);
	ck_assert_int_eq(o->published, 1);
	ck_assert_int_eq(h->before, 1);
	ck_assert_int_eq(h->after, 1);
	ck_assert(h->off_loop);
	ck_assert(h->name_free_before);
	ck_assert(h->name_there_after);
	ck_assert_uint_eq(h->id.id_size, 12);
}

START_TEST(hooks_run_around_the_link)
{
	struct hooks h = { 0 };
	struct owner o = { 0 };

	publish_hooked(&h, &o);
	ck_assert_int_eq(o.pub_err, 0);
	ck_assert(exists_in(root, "hooked"));
	ck_assert_int_eq(count_entries(tmpdir), 0);
}
END_TEST

/* after_link says no: the file is taken out of place again and the
 * publication fails with its errno. */
START_TEST(after_link_failure_unpublishes)
{
	struct hooks h = { .fail_errno = EROFS };
	struct owner o = { 0 };

	publish_hooked(&h, &o);
	ck_assert_int_eq(o.pub_err, EROFS);
	ck_assert(!exists_in(root, "hooked"));
	ck_assert_int_eq(count_entries(tmpdir), 0);
	wait_idle(&dir, 1000);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Giving up                                                          */

/* Aborted while its file is being made. */
START_TEST(abort_before_open)
{
	struct owner o = { 0 };

	o.sp = spool_create(&dir, "cp", &owner_handler, &o);
	ck_assert(o.sp->sp_job_busy);
	ck_assert_int_eq(o.sp->sp_job_kind, SPOOL_JOB_CREATE);
	abort_and_settle(o.sp);
	ck_assert_int_eq(callbacks(&o), 0);
	ck_assert_int_eq(count_entries(tmpdir), 0);
}
END_TEST

/* Aborted with a write running and one queued. */
START_TEST(abort_with_a_write_in_flight)
{
	struct owner o = { 0 };

	start_owner(&o, 2, LEN, false);
	RUN_UNTIL(o.opened, 3000);
	ck_assert_int_eq(o.open_err, 0);
	owner_feed(&o);
	ck_assert(o.sp->sp_job_busy);
	ck_assert_int_eq(o.sp->sp_job_kind, SPOOL_JOB_WRITE);
	ck_assert_uint_eq(o.sp->sp_count, 2);
	abort_and_settle(o.sp);
	ck_assert_int_eq(o.written + o.published, 0);
	ck_assert_int_eq(count_entries(tmpdir), 0);
}
END_TEST

/* Aborted after its writes, never published. */
START_TEST(abort_after_writes)
{
	struct owner o = { 0 };

	start_owner(&o, 3, LEN, true);
	owner_feed(&o);
	RUN_UNTIL(o.written == 5, 5000);
	ck_assert_int_eq(o.written, 5);
	ck_assert_uint_eq(spool_written(o.sp), LEN);
	ck_assert(exists_in(tmpdir, o.tmp_name));
	abort_and_settle(o.sp);
	ck_assert_int_eq(o.written, 5);
	ck_assert_int_eq(o.published, 0);
	ck_assert_int_eq(count_entries(tmpdir), 0);
	ck_assert_int_eq(count_entries(root), 1);
}
END_TEST

/* A descriptor taken once every write is done reads the bytes back
 * after the abort removed the file (a chunked upload turned striped). */
START_TEST(dup_reads_back_after_abort)
{
	struct owner o = { 0 };
	static char back[LEN + 1];
	int fd;

	start_owner(&o, 5, LEN, true);
	ck_assert_int_eq(spool_dup_fd(o.sp), -1);	/* not open yet */
	ck_assert_int_eq(errno, EBADF);
	owner_feed(&o);
	RUN_UNTIL(o.written == 5, 5000);
	ck_assert_uint_eq(spool_written(o.sp), LEN);
	fd = spool_dup_fd(o.sp);
	ck_assert_int_ge(fd, 0);
	abort_and_settle(o.sp);
	ck_assert_int_eq(count_entries(tmpdir), 0);
	ck_assert_int_eq(pread(fd, back, LEN + 1, 0), LEN);
	ck_assert_mem_eq(back, data, LEN);
	close(fd);
}
END_TEST

/* Aborted with the publication asked but a write still running: the
 * publication never happens. */
START_TEST(abort_with_publish_pending)
{
	struct owner o = { 0 };

	start_owner(&o, 4, 2 * SPOOL_BUF_SIZE, false);
	o.publish_at_end = true;
	o.how.name = "never";
	RUN_UNTIL(o.opened, 3000);
	owner_feed(&o);		/* two buffers, then the publish */
	ck_assert(o.sp->sp_job_busy);
	ck_assert_int_eq(o.sp->sp_job_kind, SPOOL_JOB_WRITE);
	ck_assert(o.sp->sp_publish_wanted);
	abort_and_settle(o.sp);
	ck_assert_int_eq(o.written + o.published, 0);
	ck_assert(!exists_in(root, "never"));
	ck_assert_int_eq(count_entries(tmpdir), 0);
}
END_TEST

/* Aborted while the publication runs: it cannot be taken back, but no
 * callback comes, no temporary is left, and the file, if there, is
 * whole. (After sh_published the spool is gone: no abort then.) */
START_TEST(abort_while_publishing)
{
	struct owner o = { 0 };
	size_t len;
	char *got;

	start_owner(&o, 5, LEN, true);
	owner_feed(&o);
	RUN_UNTIL(o.written == 5, 5000);
	o.how.name = "late";
	spool_publish(o.sp, &o.how);
	ck_assert(o.sp->sp_job_busy);
	ck_assert_int_eq(o.sp->sp_job_kind, SPOOL_JOB_PUBLISH);
	abort_and_settle(o.sp);
	ck_assert_int_eq(o.published, 0);
	ck_assert_int_eq(count_entries(tmpdir), 0);
	got = slurp("late", &len);
	if (got != NULL) {
		ck_assert_uint_eq(len, LEN);
		ck_assert(memcmp(got, data, LEN) == 0);
		free(got);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* A disk that fills                                                  */

START_TEST(write_failure_stops_the_spool)
{
	struct spool_dir sdir;
	struct owner o = { 0 };
	int sroot_fd, stmp_fd, i, first_err = -1;
	char saved_root[sizeof(root)], saved_tmp[sizeof(tmpdir)];

	if (geteuid() != 0) {
		fprintf(stderr, "write_failure_stops_the_spool: skipped: not "
		    "root, cannot mount a small tmpfs\n");
		return;
	}
	ck_assert_int_eq(mkdir(small, 0755), 0);
	if (mount("tmpfs", small, "tmpfs", 0, "size=512k") == -1) {
		fprintf(stderr, "write_failure_stops_the_spool: skipped: "
		    "mount tmpfs: %s\n", strerror(errno));
		return;
	}
	memcpy(saved_root, root, sizeof(root));
	memcpy(saved_tmp, tmpdir, sizeof(tmpdir));
	make_root(small, &sdir, &sroot_fd, &stmp_fd);

	/* Twice the room. */
	o.data = data;
	o.len = LEN;
	pattern(data, LEN, 6);
	o.feed_on_written = true;
	o.sp = spool_create(&sdir, "cp", &owner_handler, &o);
	owner_feed(&o);
	RUN_UNTIL(o.written > 0 && o.inflight == 0, 5000);
	ck_assert_int_eq(o.opened, 1);
	for (i = 0; i < o.written && i < 64; i++)
		if (o.write_err[i] != 0) {
			first_err = i;
			break;
		}
	ck_assert_msg(first_err >= 0, "no write failed");
	ck_assert_int_eq(o.write_err[first_err], ENOSPC);
	/* What was queued behind comes back too, not written. */
	for (i = first_err + 1; i < o.written; i++)
		ck_assert_int_eq(o.write_err[i], ECANCELED);
	ck_assert_uint_lt(o.handed, LEN);
	ck_assert_ptr_null(spool_buffer(o.sp));
	ck_assert(o.sp->sp_failed);

	/* Publishing is not even tried. */
	o.how.name = "full";
	spool_publish(o.sp, &o.how);
	settle();
	ck_assert(!o.sp->sp_job_busy);
	ck_assert_int_eq(o.published, 0);
	ck_assert(!exists_in(root, "full"));
	spool_abort(o.sp);
	wait_idle(&sdir, 3000);
	ck_assert_int_eq(count_entries(tmpdir), 0);
	ck_assert_int_eq(o.published, 0);

	close(stmp_fd);
	close(sroot_fd);
	ck_assert_int_eq(umount2(small, MNT_DETACH), 0);
	memcpy(root, saved_root, sizeof(root));
	memcpy(tmpdir, saved_tmp, sizeof(tmpdir));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Exit                                                               */

/* Once the pool's threads are joined, whatever is left goes: files
 * made (even one whose opening was never reported), reservations. */
START_TEST(teardown_removes_what_is_left)
{
	struct owner a = { 0 }, b = { 0 }, c = { 0 };

	a.data = "abc";
	a.len = 3;
	a.sp = spool_create(&dir, "cp", &owner_handler, &a);
	owner_feed(&a);
	c.sp = spool_reserve(&dir, "r", 0, &owner_handler, &c);
	RUN_UNTIL(a.written == 1 && c.opened == 1, 3000);
	ck_assert_int_eq(a.written, 1);
	ck_assert_int_eq(c.open_err, 0);
	b.sp = spool_create(&dir, "cp", &owner_handler, &b);
	iopool_destroy(pool);	/* b's open is worked, never reported */
	pool = NULL;
	ck_assert_int_eq(count_entries(tmpdir), 3);
	ck_assert(!spool_dir_idle(&dir));
	spool_dir_teardown(&dir);
	ck_assert(spool_dir_idle(&dir));
	ck_assert_int_eq(count_entries(tmpdir), 0);
	ck_assert_int_eq(b.opened, 0);
}
END_TEST

int
main(void)
{
	TCase *tc;

	tc = check_main_tcase("publish", setup, teardown,
	    CHECK_MAIN_TESTS(write_and_publish_whole,
	    publish_with_given_digest, publish_empty, publish_never_replaces,
	    publish_with_origin_and_copy,
	    hooks_run_around_the_link, after_link_failure_unpublishes,
	    write_failure_stops_the_spool, teardown_removes_what_is_left));
	tcase_add_unchecked_fixture(tc, make_base, remove_base);
	tc = check_main_tcase("reserve", setup, teardown,
	    CHECK_MAIN_TESTS(reserve_refusals, reservation_released_on_abort));
	tcase_add_unchecked_fixture(tc, make_base, remove_base);
	tc = check_main_tcase("abort", setup, teardown,
	    CHECK_MAIN_TESTS(abort_before_open, abort_with_a_write_in_flight,
	    abort_after_writes, dup_reads_back_after_abort,
	    abort_with_publish_pending,
	    abort_while_publishing));
	tcase_add_unchecked_fixture(tc, make_base, remove_base);
	return check_main_run();
}
