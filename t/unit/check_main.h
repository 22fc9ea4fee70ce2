/*
 * check_main.h - what every unit suite's main() shares: TCases made from
 * lists of tests, in one Suite named after the program, run in Check's
 * fork mode (a crash or a hang is a failure, never an abort of the whole
 * suite).
 *
 * Runs in the test program's main thread only; its one piece of state is
 * the Suite.
 */
#ifndef SHOAL_T_CHECK_MAIN_H
#define SHOAL_T_CHECK_MAIN_H

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The arguments of check_main_tcase() that list its tests:
 * CHECK_MAIN_TESTS(a, b, c) for the tests a, b and c, in that order. */
#define CHECK_MAIN_TESTS(...)						\
	(const TTest *const[]){ __VA_ARGS__ },				\
	sizeof((const TTest *const[]){ __VA_ARGS__ }) / sizeof(const TTest *)

/* Adds the loop test `test` to tc, to run once for each row of the array
 * `rows` (the test reads its row as rows[_i]). */
#define CHECK_MAIN_ROWS(tc, test, rows)					\
	tcase_add_loop_test((tc), (test), 0,				\
	    (int)(sizeof(rows) / sizeof((rows)[0])))

/* The program's one Suite, named after the program without "check_"
 * (check_peer_set runs the suite "peer_set"); made by the first
 * check_main_tcase(). */
static Suite *check_main_suite;

/* Adds a TCase named `name` to the program's suite, with the checked
 * fixture setup and teardown (run in the forked child around each test;
 * either may be NULL) and the tests tests[0..n), in that order. Returns
 * the TCase, for what only some suites need (an unchecked fixture, a
 * timeout, loop tests). Check owns it, as it owns the suite. */
static inline TCase *
check_main_tcase(const char *name, SFun setup, SFun teardown,
    const TTest *const *tests, size_t n)
{
	const char *prog = program_invocation_short_name;
	TCase *tc = tcase_create(name);
	size_t i;

	if (check_main_suite == NULL)
		check_main_suite = suite_create(strncmp(prog, "check_", 6) ==
		    0 ? prog + 6 : prog);
	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(tc, setup, teardown);
	for (i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(check_main_suite, tc);
	return tc;
}

/* Runs every test of the program's suite, each in a child of its own,
 * printing what CK_VERBOSITY asks for (a summary line when it is not
 * set). Returns the exit status for main(): EXIT_SUCCESS when every test
 * passed. */
static inline int
check_main_run(void)
{
	SRunner *sr = srunner_create(check_main_suite);
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
