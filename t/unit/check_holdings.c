/*
 * check_holdings.c - unit tests for src/cluster/holdings.c on a real loop
 * and I/O pool, with a catalogue and a member table in plain memory and
 * ROOT and the state directory in a directory of the suite's own: the
 * start scan announces ROOT's files (digest and origin recorded beside
 * them) and the versions kept aside, and withdraws what is gone; the
 * watch follows files written, rewritten, removed; saved copies are not
 * announced; a loser found in ROOT is moved aside and stays announced.
 * Runs in Check's fork mode; every wait is bounded (RUN_UNTIL).
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
#include <xxhash.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/holdings.h"
#include "cluster/hlc.h"
#include "cluster/members.h"
#include "core/config.h"
#include "event/iopool.h"
#include "store/file.h"
#include "store/index.h"
#include "store/versions.h"
#include "check_main.h"
#include "loop_fixture.h"
#include "tmp_dir.h"

static char root[160], state[160];
static int root_fd, state_fd;
static struct config cfg;
static struct cluster cl;
static struct iopool *pool;
static struct index *ix;
static struct holdings *h;

static void
setup(void)
{
	static int n;
	struct catalogue_params cp;
	struct members_params mp = { 200, 1000, 1000, 60000, 10000 };
	struct member_facts self;
	struct index_open_report rep;
	char path[200];
	size_t size;

	loop_fixture_setup();
	snprintf(root, sizeof(root), "%s/root%d-%d", tmp_dir, (int)getpid(),
	    n);
	snprintf(state, sizeof(state), "%s/state%d-%d", tmp_dir,
	    (int)getpid(), n++);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(mkdir(state, 0755), 0);
	snprintf(path, sizeof(path), "%s/" FILE_TMP_DIR, root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	root_fd = open(root, O_PATH | O_DIRECTORY);
	state_fd = open(state, O_PATH | O_DIRECTORY);
	ck_assert_int_ne(root_fd, -1);
	ck_assert_int_ne(state_fd, -1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.root = root;
	cfg.state_dir = state;

	memset(&self, 0, sizeof(self));
	snprintf(self.mf_name, sizeof(self.mf_name), "self");
	snprintf(self.mf_addr, sizeof(self.mf_addr), "127.0.0.1:1");
	self.mf_incarnation = 1;
	self.mf_version = 1;
	memset(&cl, 0, sizeof(cl));
	cl.cl_members = calloc(1, members_size(MEMBERS_MIN));
	ck_assert_int_eq(members_init(cl.cl_members, MEMBERS_MIN, &self, &mp,
	    0), 0);
	catalogue_params_for(&cp, 1000, MEMBERS_MIN, 2);
	size = catalogue_size(&cp);
	ck_assert_uint_gt(size, 0);
	cl.cl_catalogue = calloc(1, size);
	ck_assert_int_eq(catalogue_init(cl.cl_catalogue, &cp, "self", 1), 0);

	snprintf(path, sizeof(path), "%s/index", state);
	ix = index_open(path, 1024, 0, &rep);
	ck_assert_ptr_nonnull(ix);
	free(rep.r_lost);
	pool = iopool_create(loop, 2, 16);
	ck_assert_ptr_nonnull(pool);
	h = NULL;
}

static void
teardown(void)
{
	if (h != NULL) {
		(void)holdings_stop(h);
		RUN_UNTIL(!holdings_stop(h), 5000);
	}
	iopool_destroy(pool);
	holdings_free(h);
	index_close(ix);
	free(cl.cl_catalogue);
	free(cl.cl_members);
	loop_fixture_teardown();
}

static void
put(const char *name, const char *body, int64_t mtime_s)
{
	struct timespec t[2] = { { mtime_s, 0 }, { mtime_s, 0 } };
	int fd = openat(root_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	if (mtime_s != 0)
		ck_assert_int_eq(futimens(fd, t), 0);
	close(fd);
}

static struct digest
digest_of(const char *body)
{
	XXH128_hash_t x = XXH3_128bits(body, strlen(body));
	struct digest d = { x.high64, x.low64 };

	return d;
}

/* The live versions of name (at most 4) into v; how many. */
static size_t
versions(const char *name, struct cat_version_view *v)
{
	size_t n;

	ck_assert_int_eq(catalogue_lock(cl.cl_catalogue), 0);
	n = catalogue_versions_locked(cl.cl_catalogue, name, strlen(name), v,
	    4);
	catalogue_unlock(cl.cl_catalogue);
	return n;
}

/* Whether self holds version d of name. */
static bool
holds(const char *name, const char *body)
{
	struct cat_version_view v[4];
	struct digest d = digest_of(body);
	size_t n = versions(name, v), i;
	uint32_t k;

	for (i = 0; i < n && i < 4; i++) {
		if (!digest_equal(&v[i].vv_digest, &d))
			continue;
		for (k = 0; k < v[i].vv_nholders && k < CATALOGUE_HOLDERS_VIEW;
		    k++)
			if (strcmp(v[i].vv_holders[k], "self") == 0)
				return true;
	}
	return false;
}

static size_t
live(const char *name)
{
	struct cat_version_view v[4];

	return versions(name, v);
}

static void
start(void)
{
	h = holdings_start(loop, pool, &cfg, &cl, ix);
	ck_assert_ptr_nonnull(h);
	RUN_UNTIL(holdings_ready(h), 5000);
	ck_assert(holdings_ready(h));
}

START_TEST(start_announces_root_and_kept_versions)
{
	struct cat_version_view v[4];
	char origin[64], want[64], path[200];
	struct digest dk = digest_of("kept aside");
	ssize_t n;

	put("f1", "one", 1700000000);
	put("f2", "two", 0);
	put(".hidden", "not a name", 0);
	ck_assert_int_eq(mkdirat(root_fd, "dir", 0755), 0);
	put("k", "kept aside", 0);
	ck_assert_int_eq(versions_move(root_fd, state_fd, "k", &dk), 0);
	start();
	ck_assert(holds("f1", "one"));
	ck_assert(holds("f2", "two"));
	ck_assert(holds("k", "kept aside"));
	ck_assert_uint_eq(live(".hidden"), 0);
	ck_assert_uint_eq(live("dir"), 0);
	/* f1's origin: this node, at its mtime; recorded beside it. */
	ck_assert_uint_eq(versions("f1", v), 1);
	ck_assert_str_eq(v[0].vv_origin, "self");
	ck_assert_uint_eq(v[0].vv_hlc, hlc_from_ms(1700000000000LL));
	ck_assert_uint_eq(v[0].vv_size, 3);
	snprintf(path, sizeof(path), "%s/f1", root);
	n = getxattr(path, FILE_ORIGIN_XATTR, origin, sizeof(origin) - 1);
	if (n > 0) {
		origin[n] = '\0';
		snprintf(want, sizeof(want), "%016llx self",
		    (unsigned long long)hlc_from_ms(1700000000000LL));
		ck_assert_str_eq(origin, want);
	}
	/* f1 and f2 read once; the kept version is named by its digest. */
	ck_assert_uint_eq(holdings_stats(h)->hs_digests, 2);
	ck_assert_uint_eq(holdings_stats(h)->hs_announced, 3);
}
END_TEST

START_TEST(start_withdraws_what_is_gone)
{
	struct digest d = digest_of("ghost");

	ck_assert_int_eq(catalogue_lock(cl.cl_catalogue), 0);
	ck_assert_int_eq(catalogue_announce_locked(cl.cl_catalogue, "ghost",
	    5, &d, 5, "self", 1), 1);
	catalogue_unlock(cl.cl_catalogue);
	put("real", "here", 0);
	start();
	ck_assert_uint_eq(live("ghost"), 0);
	ck_assert(holds("real", "here"));
	ck_assert_uint_eq(holdings_stats(h)->hs_withdrawn, 1);
}
END_TEST

START_TEST(watch_follows_writes_rewrites_and_removals)
{
	start();
	put("g", "first", 0);
	RUN_UNTIL(holds("g", "first"), 5000);
	ck_assert(holds("g", "first"));
	put("g", "second bytes", 0);
	RUN_UNTIL(holds("g", "second bytes") && !holds("g", "first"), 5000);
	ck_assert(holds("g", "second bytes"));
	ck_assert_uint_eq(live("g"), 1);
	ck_assert_int_eq(unlinkat(root_fd, "g", 0), 0);
	RUN_UNTIL(live("g") == 0, 5000);
	ck_assert_uint_eq(live("g"), 0);
	/* Moved in from outside ROOT, moved out. */
	put("m", "moved", 0);
	RUN_UNTIL(holds("m", "moved"), 5000);
	ck_assert_int_eq(renameat(root_fd, "m", state_fd, "m"), 0);
	RUN_UNTIL(live("m") == 0, 5000);
	ck_assert_uint_eq(live("m"), 0);
}
END_TEST

START_TEST(saved_copies_are_not_announced)
{
	struct digest d = digest_of("a copy");
	char path[200];
	int fd;

	snprintf(path, sizeof(path), "%s/c", root);
	put("c", "a copy", 0);
	fd = open(path, O_RDWR);
	ck_assert_int_ne(fd, -1);
	if (file_copy_mark(fd) == -1 && errno == ENOTSUP) {
		close(fd);
		return;		/* no user xattrs here: no marks at all */
	}
	ck_assert_int_eq(file_seal(fd, NULL, &d, NULL), 0);
	close(fd);
	put("o", "an original", 0);
	start();
	ck_assert(holds("o", "an original"));
	ck_assert_uint_eq(live("c"), 0);
}
END_TEST

START_TEST(a_loser_in_root_moves_aside_and_stays_announced)
{
	struct digest mine = digest_of("later bytes"), theirs = digest_of("x");
	struct cat_chunk ch;
	struct cat_fact_msg f;
	struct file_info fi;

	put("x", "later bytes", 1700000000);
	start();
	ck_assert(holds("x", "later bytes"));
	/* Another node wrote x first, with other bytes. */
	memset(&ch, 0, sizeof(ch));
	snprintf(ch.cc_owner, sizeof(ch.cc_owner), "other");
	ch.cc_inc = 1;
	ch.cc_to = 1;
	memset(&f, 0, sizeof(f));
	snprintf(f.cm_name, sizeof(f.cm_name), "x");
	f.cm_name_len = 1;
	f.cm_digest = theirs;
	f.cm_size = 1;
	snprintf(f.cm_origin, sizeof(f.cm_origin), "other");
	f.cm_hlc = hlc_from_ms(1600000000000LL);
	f.cm_seq = 1;
	ck_assert_int_eq(catalogue_lock(cl.cl_catalogue), 0);
	ck_assert_uint_eq(catalogue_apply_locked(cl.cl_catalogue, &ch, &f, 1,
	    NULL, NULL), 1);
	catalogue_unlock(cl.cl_catalogue);
	holdings_on_conflict(h, "x", 1, &theirs, &mine);
	RUN_UNTIL(faccessat(root_fd, "x", F_OK, AT_SYMLINK_NOFOLLOW) == -1,
	    5000);
	ck_assert_int_eq(faccessat(root_fd, "x", F_OK, AT_SYMLINK_NOFOLLOW),
	    -1);
	versions_open(state_fd, "x", &mine, &fi);
	ck_assert_int_ne(fi.fi_fd, -1);
	close(fi.fi_fd);
	/* Still held here, kept aside: still announced, even after the
	 * watch saw x leave ROOT. */
	run_for(200);
	ck_assert(holds("x", "later bytes"));
	ck_assert_uint_eq(live("x"), 2);
	ck_assert_uint_eq(holdings_stats(h)->hs_moved_aside, 1);
}
END_TEST

/* Merges one fact of `owner` (its only one) into the catalogue. */
static void
fact_of(const char *owner, const char *name, const char *body, int64_t ms)
{
	struct cat_chunk ch;
	struct cat_fact_msg f;

	memset(&ch, 0, sizeof(ch));
	snprintf(ch.cc_owner, sizeof(ch.cc_owner), "%s", owner);
	ch.cc_inc = 1;
	ch.cc_to = 1;
	memset(&f, 0, sizeof(f));
	snprintf(f.cm_name, sizeof(f.cm_name), "%s", name);
	f.cm_name_len = strlen(name);
	f.cm_digest = digest_of(body);
	f.cm_size = strlen(body);
	snprintf(f.cm_origin, sizeof(f.cm_origin), "%s", owner);
	f.cm_hlc = hlc_from_ms(ms);
	f.cm_seq = 1;
	ck_assert_int_eq(catalogue_lock(cl.cl_catalogue), 0);
	ck_assert_uint_eq(catalogue_apply_locked(cl.cl_catalogue, &ch, &f, 1,
	    NULL, NULL), 1);
	catalogue_unlock(cl.cl_catalogue);
}

START_TEST(a_saved_copy_of_a_loser_is_dropped_with_its_record)
{
	struct digest w = digest_of("winner"), l = digest_of("loser");
	struct file_identity id;
	struct index_identity iid;
	struct index_entry e;
	char path[200];
	int fd;

	snprintf(path, sizeof(path), "%s/c", root);
	put("c", "loser", 0);
	fd = open(path, O_RDWR);
	ck_assert_int_ne(fd, -1);
	if (file_copy_mark(fd) == -1 && errno == ENOTSUP) {
		close(fd);
		return;		/* no user xattrs here: no marks at all */
	}
	ck_assert_int_eq(file_seal(fd, NULL, &l, &id), 0);
	close(fd);
	iid.id_dev = id.id_dev;
	iid.id_ino = id.id_ino;
	iid.id_size = id.id_size;
	ck_assert_int_eq(index_put_copy(ix, "c", 1, &iid, 0, 0), 0);
	start();
	ck_assert_uint_eq(live("c"), 0);
	/* Two nodes wrote c; the copy here is of the later one. */
	fact_of("other", "c", "winner", 1600000000000LL);
	fact_of("third", "c", "loser", 1650000000000LL);
	ck_assert_uint_eq(live("c"), 2);
	holdings_on_conflict(h, "c", 1, &w, &l);
	/* Counted once the file and its record are both gone. */
	RUN_UNTIL(__atomic_load_n(&holdings_stats(h)->hs_copies_dropped,
	    __ATOMIC_RELAXED) == 1, 5000);
	ck_assert_int_eq(faccessat(root_fd, "c", F_OK, AT_SYMLINK_NOFOLLOW),
	    -1);
	ck_assert_int_eq(index_lookup(ix, "c", 1, &iid, 0, &e),
	    INDEX_LOOKUP_NONE);
	ck_assert_uint_eq(holdings_stats(h)->hs_copies_dropped, 1);
	/* Nothing of it was ever this node's. */
	ck_assert(!holds("c", "loser"));
}
END_TEST

START_TEST(a_saved_copy_of_the_winner_stays)
{
	struct digest w = digest_of("winner"), l = digest_of("loser");
	char path[200];
	int fd;

	snprintf(path, sizeof(path), "%s/c", root);
	put("c", "winner", 0);
	fd = open(path, O_RDWR);
	ck_assert_int_ne(fd, -1);
	if (file_copy_mark(fd) == -1 && errno == ENOTSUP) {
		close(fd);
		return;
	}
	ck_assert_int_eq(file_seal(fd, NULL, &w, NULL), 0);
	close(fd);
	start();
	fact_of("other", "c", "winner", 1600000000000LL);
	fact_of("third", "c", "loser", 1650000000000LL);
	holdings_on_conflict(h, "c", 1, &w, &l);
	run_for(300);
	ck_assert_int_eq(faccessat(root_fd, "c", F_OK, AT_SYMLINK_NOFOLLOW),
	    0);
	ck_assert_uint_eq(holdings_stats(h)->hs_copies_dropped, 0);
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("holdings", setup, teardown,
	    CHECK_MAIN_TESTS(start_announces_root_and_kept_versions,
	    start_withdraws_what_is_gone,
	    watch_follows_writes_rewrites_and_removals,
	    saved_copies_are_not_announced,
	    a_loser_in_root_moves_aside_and_stays_announced,
	    a_saved_copy_of_a_loser_is_dropped_with_its_record,
	    a_saved_copy_of_the_winner_stays));

	tcase_add_unchecked_fixture(tc, tmp_dir_make, tmp_dir_remove);
	tcase_set_timeout(tc, 30);
	return check_main_run();
}
