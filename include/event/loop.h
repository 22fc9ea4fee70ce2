/*
 * loop.h - the event loop of a worker or of the agent: epoll(7) over
 * nonblocking descriptors and a min-heap of timers. One loop per process,
 * driven by its main thread only; nothing here is thread-safe (pool
 * threads talk to the loop through the eventfd that iopool registers).
 */
#ifndef SHOAL_LOOP_H
#define SHOAL_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

/* Called with the poll revents of fd (POLLIN, POLLOUT, POLLERR, POLLHUP). */
typedef void loop_io_cb(struct loop *loop, int fd, short revents, void *arg);

struct loop_timer;
typedef void loop_timer_cb(struct loop *loop, struct loop_timer *t);

/* Embedded in its owner's struct; zero-initialised means "not set". */
struct loop_timer {
	int64_t lt_deadline;	/* loop_now() ms */
	size_t lt_index;	/* position in the heap + 1; 0: not armed */
	loop_timer_cb *lt_cb;
};

/* Returns NULL (errno set) when the kernel cannot give an epoll instance. */
struct loop *loop_create(void);
void loop_free(struct loop *loop);

/* Registers fd (at most one registration per fd) for `events`. Returns 0,
 * or -1 when fd is out of range or cannot be watched (a regular file). A
 * callback may add and delete any fd, including its own; a deleted fd gets
 * no further callback. Delete an fd before closing it. */
int loop_add(struct loop *loop, int fd, short events, loop_io_cb *cb,
    void *arg);
void loop_set_events(struct loop *loop, int fd, short events);
void loop_del(struct loop *loop, int fd);
size_t loop_count(const struct loop *loop);	/* registered fds */

/* Arms t to fire `ms` from now (re-arming moves it). */
void loop_timer_set(struct loop *loop, struct loop_timer *t, int64_t ms,
    loop_timer_cb *cb);
void loop_timer_cancel(struct loop *loop, struct loop_timer *t);

/* Calls cb(arg) at the end of every turn, just before the loop waits
 * (work batched over a turn: waking pool threads once, not per job).
 * Returns 0, or -1 when LOOP_MAX_HOOKS are taken. */
#define LOOP_MAX_HOOKS 4
typedef void loop_hook_cb(void *arg);
int loop_before_wait(struct loop *loop, loop_hook_cb *cb, void *arg);
/* Removes that hook (no-op when it is not there). */
void loop_cancel_hook(struct loop *loop, loop_hook_cb *cb, void *arg);

/* Milliseconds of CLOCK_MONOTONIC, read once per loop turn. */
int64_t loop_now(const struct loop *loop);
int64_t loop_clock_ms(void);

/* Milliseconds of CLOCK_REALTIME: for expiries that outlive the process. */
int64_t loop_wall_ms(void);

/*
 * Waits with epoll_pwait(2) for events or the next timer, with `sigmask` in
 * force while waiting (so a signal blocked elsewhere interrupts exactly
 * the wait), then runs the callbacks and the expired timers. Returns 0, or
 * -1 with errno EINTR when a signal arrived (callbacks may still have run).
 */
int loop_run_once(struct loop *loop, const sigset_t *sigmask);

#endif
