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
#include "index_fixture.h"

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
	close_consistent(ix);
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

int
main(void)
{
	TCase *tc = check_main_tcase("sweep", index_fixture_setup, NULL,
	    CHECK_MAIN_TESTS(sweeper_collects_expired,
	    sweeper_ends_dead_fetches, list_walks_every_entry));

	index_fixture_add(tc);
	return check_main_run();
}
