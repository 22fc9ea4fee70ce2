/*
 * index_fixture.h - what the suites of the shared index (check_index.c,
 * check_sweeper.c) share: an index file in a directory of the suite's own
 * (tmp_dir.h), the short ways to open it, record and look up names, the
 * check of every entry that the repair would make, and children that
 * work on the same mapping.
 *
 * Include it after the index .c files the suite includes (at least
 * index_repair.c, for the checks of its repair). Runs in the test's main
 * thread and in the children it forks; holds only `index_path`.
 */
#ifndef SHOAL_T_INDEX_FIXTURE_H
#define SHOAL_T_INDEX_FIXTURE_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/index.h"
#include "tmp_dir.h"

/* tmp_dir/index: each test starts without it (index_fixture_setup()). */
static char index_path[128];

/* The unchecked fixture of every tcase: tmp_dir, and the name of the
 * index file in it. */
static inline void
index_fixture_make(void)
{
	tmp_dir_make();
	tmp_dir_join(index_path, sizeof(index_path), tmp_dir, "index");
}

/* The checked setup: no index file, nor one half rebuilt. */
static inline void
index_fixture_setup(void)
{
	char p[160];

	unlink(index_path);
	snprintf(p, sizeof(p), "%s.new", index_path);
	unlink(p);
}

/* Adds index_fixture_make() and the removal of tmp_dir to tc, as its
 * unchecked fixture; the checked setup is the suite's. */
static inline void
index_fixture_add(TCase *tc)
{
	tcase_add_unchecked_fixture(tc, index_fixture_make, tmp_dir_remove);
}

/* Opens index_path for `capacity` entries, which must go as `want` says;
 * fails the test otherwise. */
static inline struct index *
open_ok(uint64_t capacity, enum index_open_how want)
{
	struct index_open_report rep;
	struct index *ix = index_open(index_path, capacity, 0, &rep);

	ck_assert_msg(ix != NULL, "index_open: %s", strerror(errno));
	ck_assert_int_eq(rep.r_how, want);
	free(rep.r_lost);
	return ix;
}

/* The identity of file number n. */
static inline struct index_identity
ident(uint64_t n)
{
	struct index_identity id = { 1000 + n, 2000 + n, 3000 + n };

	return id;
}

/* A name and its length, for the calls that take both. */
#define S(str) (str), strlen(str)

/* Records a copy of file n under name, expiring at `expiry`. */
static inline int
put(struct index *ix, const char *name, uint64_t n, int64_t expiry)
{
	struct index_identity id = ident(n);

	return index_put_copy(ix, S(name), &id, expiry, 0);
}

static inline enum index_lookup
look(struct index *ix, const char *name, int64_t now)
{
	return index_lookup(ix, S(name), NULL, now, NULL);
}

/* Checks every entry of the table as the repair would, and that the
 * per-stripe counts agree with the entries. */
static inline void
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

/* assert_consistent(), then index_close(): how most tests end. */
static inline void
close_consistent(struct index *ix)
{
	assert_consistent(ix);
	index_close(ix);
}

/* Forks a child that runs fn(ix) and exits with its result. */
static inline pid_t
spawn(struct index *ix, int (*fn)(struct index *))
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(ix));
	return pid;
}

/* Reaps pid; returns its wait status. */
static inline int
wait_status(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

#endif
