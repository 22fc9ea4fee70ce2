/*
 * check_main.h - what every unit suite's suite function and main() share:
 * a TCase made from a list of tests, and a Suite run in Check's fork mode
 * (a crash or a hang is a failure, never an abort of the whole suite).
 *
 * Runs in the test's main thread only; holds no state.
 */
#ifndef SHOAL_T_CHECK_MAIN_H
#define SHOAL_T_CHECK_MAIN_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

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

/* Adds a TCase named `name` to s, with the checked fixture setup and
 * teardown (run in the forked child around each test; either may be
 * NULL) and the tests tests[0..n), in that order. Returns the TCase, for
 * what only some suites need (an unchecked fixture, a timeout, loop
 * tests). Check owns it, as it owns s. */
static inline TCase *
check_main_tcase(Suite *s, const char *name, SFun setup, SFun teardown,
    const TTest *const *tests, size_t n)
{
	TCase *tc = tcase_create(name);
	size_t i;

	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(tc, setup, teardown);
	for (i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	return tc;
}

/* Runs every test of s, each in a child of its own, printing what
 * CK_VERBOSITY asks for (a summary line when it is not set), and frees
 * s. Returns the exit status for main(): EXIT_SUCCESS when every test
 * passed. */
static inline int
check_main_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
