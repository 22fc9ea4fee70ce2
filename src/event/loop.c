/*
 * loop.c - epoll(7) event loop and timer heap of a worker or of the agent.
 *
 * epoll rather than poll: a worker holds many descriptors that are quiet
 * most of the time (idle keep-alive clients, pooled peer connections), and
 * poll pays for every one of them on every turn; epoll pays only for the
 * ready ones and for changes. The interface speaks poll's event bits,
 * which Linux gives the same values in epoll; registrations are level-
 * triggered, as with poll.
 *
 * Registrations are indexed by fd and carry a generation, which travels
 * with each event: when a callback closes an fd and a later one in the
 * same turn reuses its number (accept), the stale events of the old
 * descriptor are not delivered to the new one. Every fd is deleted before
 * it is closed (epoll keys on the open file, not the number).
 *
 * A change of the events watched is applied when the loop is about to
 * wait, not when it is asked for: a request's owners in turn stop and
 * start watching its connection (the router, a miss, a relay), and of
 * those changes within one turn only the last one costs an epoll_ctl(2),
 * if it differs from what the kernel has.
 *
 * Only the main thread of the process (a worker, the agent) touches a loop,
 * which is made after fork.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "event/loop.h"

#define LOOP_MAX_FD (1 << 20)
#define LOOP_MAX_EVENTS 256	/* taken per turn; the rest wait a turn */

_Static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT &&
    POLLERR == EPOLLERR && POLLHUP == EPOLLHUP && POLLRDHUP == EPOLLRDHUP,
    "poll and epoll event bits differ");

struct loop_reg {
	loop_io_cb *cb;		/* NULL: not registered */
	void *arg;
	uint32_t gen;
	short events;		/* wanted */
	short applied;		/* what epoll has */
	bool dirty;		/* in the loop's list of changes */
};

/* A timer in the heap, with the deadline it was filed under inline, so
 * that sifting reads the array alone and touches no timer's memory. */
struct loop_heap_entry {
	int64_t key;			/* <= the timer's lt_deadline */
	struct loop_timer *t;
};

struct loop {
	int epfd;
	struct loop_reg *regs;
	size_t nregs;
	size_t count;
	int *changed;		/* fds whose events may differ from epoll's */
	size_t nchanged, changed_cap;
	struct epoll_event events[LOOP_MAX_EVENTS];
	struct loop_heap_entry *heap;
	size_t nheap, heap_cap;
	int64_t now;
	struct {
		loop_hook_cb *cb;
		void *arg;
	} hooks[LOOP_MAX_HOOKS];
	size_t nhooks;
};

int64_t
loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
loop_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *
loop_create(void)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd == -1) {
		free(loop);
		return NULL;
	}
	loop->now = loop_clock_ms();
	return loop;
}

void
loop_free(struct loop *loop)
{
	if (loop == NULL)
		return;
	close(loop->epfd);
	free(loop->regs);
	free(loop->changed);
	free(loop->heap);
	free(loop);
}

int64_t
loop_now(const struct loop *loop)
{
	return loop->now;
}

size_t
loop_count(const struct loop *loop)
{
	return loop->count;
}

static int
loop_ctl(struct loop *loop, int op, int fd)
{
	const struct loop_reg *r = &loop->regs[fd];
	struct epoll_event ev = {
		.events = (uint16_t)r->events,
		.data.u64 = (uint64_t)r->gen << 32 | (uint32_t)fd,
	};

	return epoll_ctl(loop->epfd, op, fd, &ev);
}

int
loop_add(struct loop *loop, int fd, short events, loop_io_cb *cb, void *arg)
{
	struct loop_reg *r;

	if (fd < 0 || fd >= LOOP_MAX_FD) {
		errno = EMFILE;
		return -1;
	}
	if ((size_t)fd >= loop->nregs) {
		size_t n = loop->nregs ? loop->nregs : 64;

		while (n <= (size_t)fd)
			n *= 2;
		loop->regs = xrealloc(loop->regs, n * sizeof(*loop->regs));
		memset(loop->regs + loop->nregs, 0,
		    (n - loop->nregs) * sizeof(*loop->regs));
		loop->nregs = n;
	}
	r = &loop->regs[fd];
	r->gen++;
	r->events = r->applied = events;
	if (loop_ctl(loop, EPOLL_CTL_ADD, fd) == -1)
		return -1;
	r->cb = cb;
	r->arg = arg;
	loop->count++;
	return 0;
}

void
loop_set_events(struct loop *loop, int fd, short events)
{
	struct loop_reg *r;

	if (fd < 0 || (size_t)fd >= loop->nregs || loop->regs[fd].cb == NULL)
		return;
	r = &loop->regs[fd];
	r->events = events;
	if (r->dirty || r->events == r->applied)
		return;
	if (loop->nchanged == loop->changed_cap) {
		loop->changed_cap = loop->changed_cap ? 2 * loop->changed_cap :
		    64;
		loop->changed = xrealloc(loop->changed, loop->changed_cap *
		    sizeof(*loop->changed));
	}
	loop->changed[loop->nchanged++] = fd;
	r->dirty = true;
}

/* Before a wait: epoll learns the changes of this turn, one call per
 * descriptor whose events end up other than they were. */
static void
loop_apply_changes(struct loop *loop)
{
	size_t i;

	for (i = 0; i < loop->nchanged; i++) {
		struct loop_reg *r = &loop->regs[loop->changed[i]];

		r->dirty = false;
		if (r->cb == NULL || r->events == r->applied)
			continue;	/* deleted, or back as it was */
		r->applied = r->events;
		/* Fails only for a descriptor closed behind our back:
		 * nothing to watch then. */
		(void)loop_ctl(loop, EPOLL_CTL_MOD, loop->changed[i]);
	}
	loop->nchanged = 0;
}

void
loop_del(struct loop *loop, int fd)
{
	struct loop_reg *r;

	if (fd < 0 || (size_t)fd >= loop->nregs || loop->regs[fd].cb == NULL)
		return;
	r = &loop->regs[fd];
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	r->cb = NULL;
	r->gen++;
	loop->count--;
}

/*
 * The heap stores lt_index as position + 1, so 0 means "not armed".
 *
 * Re-arming a timer later than it is filed (a connection's idle timeout,
 * pushed back by every request) only writes lt_deadline: the entry stays
 * where it is, and when its key comes due it is filed again under the
 * deadline it has then. A busy connection so costs one heap operation per
 * timeout period, not one per request; the price is one early wake-up of
 * the loop per period at most.
 */
static void
heap_put(struct loop *loop, size_t i, struct loop_heap_entry e)
{
	loop->heap[i] = e;
	e.t->lt_index = i + 1;
}

static void
heap_up(struct loop *loop, size_t i)
{
	struct loop_heap_entry e = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->heap[parent].key <= e.key)
			break;
		heap_put(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_put(loop, i, e);
}

static void
heap_down(struct loop *loop, size_t i)
{
	struct loop_heap_entry e = loop->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = l;

		if (l >= loop->nheap)
			break;
		if (r < loop->nheap && loop->heap[r].key < loop->heap[l].key)
			m = r;
		if (e.key <= loop->heap[m].key)
			break;
		heap_put(loop, i, loop->heap[m]);
		i = m;
	}
	heap_put(loop, i, e);
}

void
loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
	size_t i;

	if (t->lt_index == 0)
		return;
	i = t->lt_index - 1;
	t->lt_index = 0;
	loop->nheap--;
	if (i == loop->nheap)
		return;
	heap_put(loop, i, loop->heap[loop->nheap]);
	heap_down(loop, i);
	heap_up(loop, i);
}

void
loop_timer_set(struct loop *loop, struct loop_timer *t, int64_t ms,
    loop_timer_cb *cb)
{
	int64_t deadline = loop->now + ms;

	t->lt_cb = cb;
	if (t->lt_index != 0 && loop->heap[t->lt_index - 1].key <= deadline) {
		t->lt_deadline = deadline;	/* filed again when due */
		return;
	}
	loop_timer_cancel(loop, t);
	if (loop->nheap == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		loop->heap = xrealloc(loop->heap,
		    loop->heap_cap * sizeof(*loop->heap));
	}
	t->lt_deadline = deadline;
	heap_put(loop, loop->nheap++, (struct loop_heap_entry){ deadline, t });
	heap_up(loop, loop->nheap - 1);
}

static void
loop_run_timers(struct loop *loop)
{
	while (loop->nheap > 0 && loop->heap[0].key <= loop->now) {
		struct loop_timer *t = loop->heap[0].t;

		if (t->lt_deadline > loop->now) {
			/* Re-armed later while filed: file it again. */
			loop->heap[0].key = t->lt_deadline;
			heap_down(loop, 0);
			continue;
		}
		loop_timer_cancel(loop, t);
		t->lt_cb(loop, t);
	}
}

int
loop_before_wait(struct loop *loop, loop_hook_cb *cb, void *arg)
{
	if (loop->nhooks == LOOP_MAX_HOOKS)
		return -1;
	loop->hooks[loop->nhooks].cb = cb;
	loop->hooks[loop->nhooks].arg = arg;
	loop->nhooks++;
	return 0;
}

void
loop_cancel_hook(struct loop *loop, loop_hook_cb *cb, void *arg)
{
	size_t h;

	for (h = 0; h < loop->nhooks; h++) {
		if (loop->hooks[h].cb != cb || loop->hooks[h].arg != arg)
			continue;
		loop->nhooks--;
		memmove(&loop->hooks[h], &loop->hooks[h + 1],
		    (loop->nhooks - h) * sizeof(loop->hooks[0]));
		return;
	}
}

int
loop_run_once(struct loop *loop, const sigset_t *sigmask)
{
	int timeout = -1;
	int i, n, saved;
	size_t h;

	for (h = 0; h < loop->nhooks; h++)
		loop->hooks[h].cb(loop->hooks[h].arg);
	if (loop->nheap > 0) {
		int64_t wait = loop->heap[0].key - loop_clock_ms();

		timeout = wait < 0 ? 0 : wait > 1000000 ? 1000000 : (int)wait;
	}
	loop_apply_changes(loop);
	n = epoll_pwait(loop->epfd, loop->events, LOOP_MAX_EVENTS, timeout,
	    sigmask);
	saved = errno;
	loop->now = loop_clock_ms();
	for (i = 0; i < n; i++) {
		const struct epoll_event *ev = &loop->events[i];
		int fd = (int)(uint32_t)ev->data.u64;
		struct loop_reg *r = &loop->regs[fd];

		/* Deleted, or its number reused, earlier in this turn. */
		if (r->cb == NULL || r->gen != (uint32_t)(ev->data.u64 >> 32))
			continue;
		r->cb(loop, fd, (short)ev->events, r->arg);
	}
	loop_run_timers(loop);
	if (n == -1) {
		errno = saved;
		return -1;
	}
	return 0;
}
