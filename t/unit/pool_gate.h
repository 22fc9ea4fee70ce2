/*
 * pool_gate.h - a gate that holds an I/O pool job inside its work() until
 * the test opens it: a disk as slow as the test likes (check_iopool.c,
 * check_accesslog.c).
 *
 * The job's pool thread passes the gate; the test's main thread, which
 * runs the loop (loop_fixture.h), waits for it and opens it. The two
 * semaphores are all the state.
 */
#ifndef SHOAL_T_POOL_GATE_H
#define SHOAL_T_POOL_GATE_H

#include <check.h>
#include <errno.h>
#include <semaphore.h>
#include <time.h>

#include "loop_fixture.h"

static sem_t pool_gate_started, pool_gate_opened;

/* Before the first job that passes the gate. */
static inline void
pool_gate_init(void)
{
	sem_init(&pool_gate_started, 0, 0);
	sem_init(&pool_gate_opened, 0, 0);
}

static inline void
pool_gate_destroy(void)
{
	sem_destroy(&pool_gate_started);
	sem_destroy(&pool_gate_opened);
}

/* In a job's work(), on a pool thread: says it is inside, then waits
 * until the test opens the gate. */
static inline void
pool_gate_pass(void)
{
	sem_post(&pool_gate_started);
	while (sem_wait(&pool_gate_opened) == -1 && errno == EINTR)
		continue;
}

/* Waits until a job is inside the gate, 3 s at most (else fails the
 * test). First one turn of the loop that does not wait: the pool wakes
 * its threads for the jobs queued at the end of a turn. */
static inline void
pool_gate_wait(void)
{
	struct timespec ts;

	turn(0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	ck_assert_int_eq(sem_timedwait(&pool_gate_started, &ts), 0);
}

/* Lets one job through. */
static inline void
pool_gate_open(void)
{
	sem_post(&pool_gate_opened);
}

#endif
