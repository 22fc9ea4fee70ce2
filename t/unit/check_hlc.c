/*
 * check_hlc.c - the hybrid logical clock: stamps only grow, whatever the
 * wall clock does; a remote stamp pulls the clock forward unless it is
 * too far ahead; two threads stamping at once never get the same stamp.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>

#include "check_main.h"
#include "cluster/hlc.h"

#define T0 1800000000000LL

START_TEST(test_stamp_is_the_wall_clock_when_ahead)
{
	uint64_t last = 0, s;

	s = hlc_now(&last, T0);
	ck_assert_uint_eq(s, hlc_from_ms(T0));
	ck_assert_int_eq(hlc_ms(s), T0);
	ck_assert_uint_eq(s & 0xffff, 0);
	ck_assert_uint_eq(last, s);
	s = hlc_now(&last, T0 + 5);
	ck_assert_uint_eq(s, hlc_from_ms(T0 + 5));
}
END_TEST

START_TEST(test_monotonic_when_the_wall_steps_back)
{
	uint64_t last = 0, prev, s;
	int i;

	prev = hlc_now(&last, T0);
	for (i = 0; i < 1000; i++) {
		/* Back a minute, then stuck: the logical part counts. */
		s = hlc_now(&last, T0 - 60000 + (i % 7));
		ck_assert_uint_gt(s, prev);
		ck_assert_int_eq(hlc_ms(s), T0);
		prev = s;
	}
	ck_assert_uint_eq(prev & 0xffff, 1000);
	/* The wall clock catches up: the stamp is the wall again. */
	s = hlc_now(&last, T0 + 1);
	ck_assert_uint_eq(s, hlc_from_ms(T0 + 1));
}
END_TEST

START_TEST(test_logical_overflow_carries_into_the_ms)
{
	uint64_t last = hlc_from_ms(T0) | 0xfffe, s;

	s = hlc_now(&last, T0);
	ck_assert_uint_eq(s, hlc_from_ms(T0) | 0xffff);
	s = hlc_now(&last, T0);
	ck_assert_uint_eq(s, hlc_from_ms(T0 + 1));
	ck_assert_int_eq(hlc_ms(s), T0 + 1);
	s = hlc_now(&last, T0);
	ck_assert_uint_eq(s, hlc_from_ms(T0 + 1) | 1);
}
END_TEST

START_TEST(test_observe_pulls_forward_within_the_skew)
{
	uint64_t last = 0, remote = hlc_from_ms(T0 + 3000) | 7, s;

	hlc_now(&last, T0);
	ck_assert(hlc_observe(&last, remote, T0, 10000));
	ck_assert_uint_eq(last, remote);
	s = hlc_now(&last, T0);
	ck_assert_uint_gt(s, remote);
	/* A stamp behind the clock changes nothing. */
	ck_assert(hlc_observe(&last, hlc_from_ms(T0 - 5), T0, 10000));
	ck_assert_uint_eq(last, s);
}
END_TEST

START_TEST(test_observe_refuses_beyond_the_skew)
{
	uint64_t last = 0, before;

	before = hlc_now(&last, T0);
	ck_assert(!hlc_observe(&last, hlc_from_ms(T0 + 10001), T0, 10000));
	ck_assert_uint_eq(last, before);
	ck_assert(hlc_observe(&last, hlc_from_ms(T0 + 10000), T0, 10000));
	ck_assert_uint_eq(last, hlc_from_ms(T0 + 10000));
}
END_TEST

START_TEST(test_from_ms_and_ms)
{
	ck_assert_uint_eq(hlc_from_ms(0), 0);
	ck_assert_uint_eq(hlc_from_ms(-5), 0);
	ck_assert_int_eq(hlc_ms(hlc_from_ms(T0) | 0x1234), T0);
	ck_assert_uint_lt(hlc_from_ms(T0), hlc_from_ms(T0 + 1));
}
END_TEST

#define STAMPS 50000

struct stamper {
	uint64_t *last;
	uint64_t *out;
};

static void *
stamp_many(void *arg)
{
	struct stamper *st = arg;
	int i;

	/* A wall clock that barely moves: most stamps are logical. */
	for (i = 0; i < STAMPS; i++)
		st->out[i] = hlc_now(st->last, T0 + i / 250);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_two_threads_stamp_unique)
{
	uint64_t last = 0, *all = malloc(2 * STAMPS * sizeof(uint64_t));
	struct stamper a = { &last, all }, b = { &last, all + STAMPS };
	pthread_t ta, tb;
	int i;

	ck_assert_ptr_nonnull(all);
	ck_assert_int_eq(pthread_create(&ta, NULL, stamp_many, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, stamp_many, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	/* Each thread's own stamps grow. */
	for (i = 1; i < STAMPS; i++) {
		ck_assert_uint_gt(all[i], all[i - 1]);
		ck_assert_uint_gt(all[STAMPS + i], all[STAMPS + i - 1]);
	}
	qsort(all, 2 * STAMPS, sizeof(uint64_t), cmp_u64);
	for (i = 1; i < 2 * STAMPS; i++)
		ck_assert_uint_ne(all[i], all[i - 1]);
	ck_assert_uint_eq(last, all[2 * STAMPS - 1]);
	free(all);
}
END_TEST

int
main(void)
{
	/* Two threads on a loaded machine (the sanitized suites run beside
	 * the plain ones) may take a while to interleave. */
	tcase_set_timeout(check_main_tcase("hlc", NULL, NULL, CHECK_MAIN_TESTS(
	    test_stamp_is_the_wall_clock_when_ahead,
	    test_monotonic_when_the_wall_steps_back,
	    test_logical_overflow_carries_into_the_ms,
	    test_observe_pulls_forward_within_the_skew,
	    test_observe_refuses_beyond_the_skew,
	    test_from_ms_and_ms,
	    test_two_threads_stamp_unique)), 30);
	return check_main_run();
}
