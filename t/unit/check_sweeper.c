/*
 * check_sweeper.c - unit tests for the index's side of the sweeper: the
 * walks that src/store/sweeper.c runs, index_expired() (expired copies
 * out, lapsed negative entries and fetches of dead owners dropped in
 * passing) and index_list() (every entry, nothing changed). sweeper.c's
 * own work on files (sweeper_run(), sweeper_start()) is tested black-box
 * (t/blackbox/test_index.py). Includes index_repair.c to reach the checks
 * of its repair; the rest comes from build/libshoal.a. Runs in Check's
 * fork mode; tests that could hang arm alarm().
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/index_repair.c"
#include "check_main.h"

/* A directory made and removed by the runner (an unchecked fixture), so
 * that a failing test leaves nothing behind; each test starts without an
 * index file in it. */
static char dir[64];
static char path[128];

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
make_dir(void)
{
	strcpy(dir, "/tmp/check_sweeper_XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/index", dir);
}

static void
remove_dir(void)
{
	nftw(dir, rm_entry, 4, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	char p[160];

	unlink(path);
	snprintf(p, sizeof(p), "%s.new", path);
	unlink(p);
}

static struct index *
open_ok(uint64_t capacity, enum index_open_how want)
{
	struct index_open_report rep;
	struct index *ix = index_open(path, capacity, 0, &rep);

	ck_assert_msg(ix != NULL, "index_open: %s", strerror(errno));
	ck_assert_int_eq(rep.r_how, want);
	free(rep.r_lost);
	return ix;
}

static struct index_identity
ident(uint64_t n)
{
	struct index_identity id = { 1000 + n, 2000 + n, 3000 + n };

	return id;
}

#define S(str) (str), strlen(str)

static int
put(struct index *ix, const char *name, uint64_t n, int64_t expiry)
{
	struct index_identity id = ident(n);

	return index_put_copy(ix, S(name), &id, expiry, 0);
}

static enum index_lookup
look(struct index *ix, const char *name, int64_t now)
{
	return index_lookup(ix, S(name), NULL, now, NULL);
}

/* Checks every entry of the table as the repair would, and that the
 * per-stripe counts agree with the entries. */
static void
assert_consistent(struct index *ix)
{
	uint32_t s;

	for (s = 0; s < ix->ix_geo.g_nstripes; s++) {
		uint64_t count[INDEX_STATES] = { 0 }, b;
		uint64_t first = (uint64_t)s * ix->ix_geo.g_bps;
		unsigned w;

		ck_assert_int_eq(ix->ix_stripes[s].st_undo.u_active, 0);
		for (b = first; b < first + ix->ix_geo.g_bps; b++)
			for (w = 0; w < INDEX_WAYS; w++) {
				uint8_t st = ix->ix_buckets[b].b_state[w];

				if (st == INDEX_EMPTY)
					continue;
				ck_assert_msg(index_slot_valid(ix, s, b, w),
				    "bad entry at %llu/%u",
				    (unsigned long long)b, w);
				ck_assert_msg(!index_slot_duplicate(ix, b, w),
				    "duplicate entry at %llu/%u",
				    (unsigned long long)b, w);
				count[st]++;
			}
		for (w = 1; w < INDEX_STATES; w++)
			ck_assert_uint_eq(count[w],
			    ix->ix_stripes[s].st_count[w]);
	}
}

/* Forks a child that runs fn(ix) and exits with its result. */
static pid_t
spawn(struct index *ix, int (*fn)(struct index *))
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(ix));
	return pid;
}

static int
wait_status(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* ------------------------------------------------------------------ */

START_TEST(sweeper_collects_expired)
{
	struct index *ix = open_ok(1024, INDEX_OPEN_CREATED);
	struct index_entry out[7];
	struct index_stats stats;
	bool seen[200] = { false };
	uint64_t cursor = 0;
	char name[32];
	int i, total = 0, calls = 0;

	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		/* Even: expire at i; odd: at 100000; every tenth: never. */
		ck_assert_int_eq(put(ix, name, (uint64_t)i, i % 10 == 0 ? 0 :
		    i % 2 == 0 ? i : 100000), 0);
	}
	ck_assert_int_eq(index_put_negative(ix, S("lapsed"), 50, 0), 0);
	ck_assert_int_eq(index_put_negative(ix, S("live"), 5000, 0), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("busy"), getppid(), 0, 0,
	    NULL), INDEX_CLAIMED);
	while (cursor < index_capacity(ix)) {
		size_t n = index_expired(ix, 150, &cursor, out, 7), k;

		ck_assert_uint_le(n, 7);
		for (k = 0; k < n; k++) {
			int v = atoi(out[k].e_name + 1);

			ck_assert_int_eq(out[k].e_kind, INDEX_COPY);
			ck_assert_int_le(out[k].e_expiry_ms, 150);
			ck_assert(!seen[v]);
			seen[v] = true;
			total++;
			/* The caller removes the file, then the record. */
			ck_assert_int_eq(index_remove_if(ix, out[k].e_name,
			    out[k].e_name_len, &out[k].e_id, 150), 1);
		}
		ck_assert_int_lt(++calls, 1000);
	}
	ck_assert_uint_eq(cursor, index_capacity(ix));
	/* Even, not a multiple of ten, and below 150: 60 of them. */
	ck_assert_int_eq(total, 60);
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(seen[i], i % 2 == 0 && i % 10 != 0 && i < 150);
	ck_assert_int_eq(look(ix, "lapsed", 0), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(look(ix, "live", 150), INDEX_LOOKUP_NEGATIVE);
	ck_assert_int_eq(look(ix, "busy", 150), INDEX_LOOKUP_FETCH);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_expirations, 60);
	ck_assert_uint_eq(stats.is_copies, 140);
	ck_assert_uint_eq(stats.is_negatives, 1);
	assert_consistent(ix);
	index_close(ix);
}
END_TEST

static int
child_claims_dies_sweep(struct index *ix)
{
	return index_fetch_claim(ix, S("dead-fetch"), getpid(), 0, 0, NULL) ==
	    INDEX_CLAIMED ? 0 : 1;
}

START_TEST(sweeper_ends_dead_fetches)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_entry out[4];
	uint64_t cursor = 0;

	alarm(5);
	ck_assert_int_eq(wait_status(spawn(ix, child_claims_dies_sweep)), 0);
	ck_assert_int_eq(look(ix, "dead-fetch", 0), INDEX_LOOKUP_FETCH);
	ck_assert_uint_eq(index_expired(ix, 0, &cursor, out, 4), 0);
	ck_assert_int_eq(look(ix, "dead-fetch", 0), INDEX_LOOKUP_NONE);
	index_close(ix);
}
END_TEST

START_TEST(list_walks_every_entry)
{
	struct index *ix = open_ok(512, INDEX_OPEN_CREATED);
	struct index_entry out[5];
	int kinds[INDEX_STATES] = { 0 }, i;
	uint64_t cursor = 0;
	char name[32];

	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		ck_assert_int_eq(put(ix, name, (uint64_t)i, 1), 0);
	}
	ck_assert_int_eq(index_put_negative(ix, S("n"), 10, 0), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("f"), 1, 0, 0, NULL),
	    INDEX_CLAIMED);
	while (cursor < index_capacity(ix)) {
		size_t n = index_list(ix, &cursor, out, 5), k;

		for (k = 0; k < n; k++)
			kinds[out[k].e_kind]++;
	}
	ck_assert_int_eq(kinds[INDEX_COPY], 50);
	ck_assert_int_eq(kinds[INDEX_NEGATIVE], 1);
	ck_assert_int_eq(kinds[INDEX_FETCH], 1);
	/* Listing changes nothing, even for lapsed entries. */
	ck_assert_int_eq(look(ix, "n", 0), INDEX_LOOKUP_NEGATIVE);
	index_close(ix);
}
END_TEST

static Suite *
sweeper_suite(void)
{
	Suite *s = suite_create("sweeper");
	TCase *sweep_tc = check_main_tcase(s, "sweep", setup, NULL,
	    CHECK_MAIN_TESTS(sweeper_collects_expired,
	    sweeper_ends_dead_fetches, list_walks_every_entry));
	tcase_add_unchecked_fixture(sweep_tc, make_dir, remove_dir);

	return s;
}

int
main(void)
{
	return check_main_run(sweeper_suite());
}
