/*
 * check_log.c - unit tests for src/log.c: the rate limit of messages that
 * a passing state could repeat in a storm.
 */
#include <check.h>
#include <stdlib.h>

#include "core/log.h"
#include "check_main.h"

START_TEST(due_first_then_once_per_period)
{
	int64_t last = -1;

	ck_assert(log_due(&last, 5000));
	ck_assert_int_eq(last, 5000);
	ck_assert(!log_due(&last, 5001));
	ck_assert(!log_due(&last, 5000 + LOG_EVERY_MS - 1));
	ck_assert_int_eq(last, 5000);
	ck_assert(log_due(&last, 5000 + LOG_EVERY_MS));
	ck_assert(!log_due(&last, 5000 + LOG_EVERY_MS + 1));
}
END_TEST

/* A clock that starts at 0 still says the first message. */
START_TEST(due_at_time_zero)
{
	int64_t last = -1;

	ck_assert(log_due(&last, 0));
	ck_assert(!log_due(&last, 1));
}
END_TEST

int
main(void)
{
	check_main_tcase("due", NULL, NULL,
	    CHECK_MAIN_TESTS(due_first_then_once_per_period,
	    due_at_time_zero));
	return check_main_run();
}
