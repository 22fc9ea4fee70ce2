/*
 * loop_fixture.h - a real loop for the unit suites of the loop and of the
 * modules that run on one (accesslog, fanout, iopool, loop, peer,
 * peer_set, spool): the suite's `loop`, made and freed around each test,
 * and ways to turn it for a bounded time, so that no test can hang on it.
 *
 * The loop and everything here belong to the test's main thread.
 */
#ifndef SHOAL_T_LOOP_FIXTURE_H
#define SHOAL_T_LOOP_FIXTURE_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "event/loop.h"

static struct loop *loop;

/* A timer that does nothing: it only bounds a wait. */
static inline void
loop_fixture_noop(struct loop *l, struct loop_timer *t)
{
	(void)l;
	(void)t;
}

/* The checked setup: a new loop. */
static inline void
loop_fixture_setup(void)
{
	loop = loop_create();
	ck_assert_ptr_nonnull(loop);
}

static inline void
loop_fixture_teardown(void)
{
	loop_free(loop);
	loop = NULL;
}

/* One turn of the loop that waits at most ms (a guard timer bounds the
 * wait; it is cancelled afterwards so it never shows up in later turns).
 * turn(0) waits for nothing: a pool wakes its threads for the jobs queued
 * at the end of a turn. A failed turn fails the test. */
static inline void
turn(int64_t ms)
{
	struct loop_timer guard = { 0 };
	int rc, err;

	loop_timer_set(loop, &guard, ms, loop_fixture_noop);
	rc = loop_run_once(loop, NULL);
	err = errno;
	loop_timer_cancel(loop, &guard);
	ck_assert_msg(rc == 0, "loop_run_once: %s", strerror(err));
}

/* Turns until cond holds, ms at most; the caller asserts cond after. */
#define RUN_UNTIL(cond, ms) do {					\
	int64_t end_ = loop_clock_ms() + (ms);				\
	while (!(cond) && loop_clock_ms() < end_)			\
		turn(10);						\
} while (0)

/* Turns for ms, whatever happens. */
static inline void
run_for(int64_t ms)
{
	int64_t end = loop_clock_ms() + ms;

	while (loop_clock_ms() < end)
		turn(10);
}

#endif
