/*
 * loop.c - poll(2) event loop and timer heap of a worker.
 *
 * Registrations are indexed by fd. The pollfd array is kept dense; an entry
 * deleted while callbacks run is only blanked (fd -1) and the array is
 * compacted after the turn, so indexes stay valid during dispatch. Each
 * registration carries a generation: when a callback closes an fd and a
 * later one in the same turn reuses its number (accept), the stale revents
 * of the old descriptor are not delivered to the new one.
 *
 * Only the worker's main thread touches a loop.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "loop.h"

#define LOOP_MAX_FD (1 << 20)

struct loop_reg {
	loop_io_cb *cb;		/* NULL: not registered */
	void *arg;
	uint32_t gen;
	size_t pidx;		/* index into pfds */
};

struct loop {
	struct loop_reg *regs;
	size_t nregs;
	struct pollfd *pfds;
	uint32_t *pgens;	/* generation of the registration at pfds[i] */
	size_t npfds, cap;
	size_t count;
	bool dirty;		/* blanked entries to compact */
	struct loop_timer **heap;
	size_t nheap, heap_cap;
	int64_t now;
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

	loop->now = loop_clock_ms();
	return loop;
}

void
loop_free(struct loop *loop)
{
	if (loop == NULL)
		return;
	free(loop->regs);
	free(loop->pfds);
	free(loop->pgens);
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
	if (loop->npfds == loop->cap) {
		loop->cap = loop->cap ? loop->cap * 2 : 64;
		loop->pfds = xrealloc(loop->pfds, loop->cap * sizeof(*loop->pfds));
		loop->pgens = xrealloc(loop->pgens,
		    loop->cap * sizeof(*loop->pgens));
	}
	r = &loop->regs[fd];
	r->cb = cb;
	r->arg = arg;
	r->gen++;
	r->pidx = loop->npfds++;
	loop->pfds[r->pidx] = (struct pollfd){ .fd = fd, .events = events };
	loop->pgens[r->pidx] = r->gen;
	loop->count++;
	return 0;
}

void
loop_set_events(struct loop *loop, int fd, short events)
{
	if (fd < 0 || (size_t)fd >= loop->nregs || loop->regs[fd].cb == NULL)
		return;
	loop->pfds[loop->regs[fd].pidx].events = events;
}

void
loop_del(struct loop *loop, int fd)
{
	struct loop_reg *r;

	if (fd < 0 || (size_t)fd >= loop->nregs || loop->regs[fd].cb == NULL)
		return;
	r = &loop->regs[fd];
	loop->pfds[r->pidx].fd = -1;
	loop->pfds[r->pidx].revents = 0;
	r->cb = NULL;
	r->gen++;
	loop->count--;
	loop->dirty = true;
}

static void
loop_compact(struct loop *loop)
{
	size_t i, j = 0;

	for (i = 0; i < loop->npfds; i++) {
		if (loop->pfds[i].fd < 0)
			continue;
		loop->pfds[j] = loop->pfds[i];
		loop->pgens[j] = loop->pgens[i];
		loop->regs[loop->pfds[j].fd].pidx = j;
		j++;
	}
	loop->npfds = j;
	loop->dirty = false;
}

/* The heap stores lt_index as position + 1, so 0 means "not armed". */
static void
heap_swap(struct loop *loop, size_t a, size_t b)
{
	struct loop_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->lt_index = a + 1;
	loop->heap[b]->lt_index = b + 1;
}

static void
heap_up(struct loop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->heap[parent]->lt_deadline <= loop->heap[i]->lt_deadline)
			break;
		heap_swap(loop, i, parent);
		i = parent;
	}
}

static void
heap_down(struct loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < loop->nheap &&
		    loop->heap[l]->lt_deadline < loop->heap[m]->lt_deadline)
			m = l;
		if (r < loop->nheap &&
		    loop->heap[r]->lt_deadline < loop->heap[m]->lt_deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(loop, i, m);
		i = m;
	}
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
	loop->heap[i] = loop->heap[loop->nheap];
	loop->heap[i]->lt_index = i + 1;
	heap_down(loop, i);
	heap_up(loop, i);
}

void
loop_timer_set(struct loop *loop, struct loop_timer *t, int64_t ms,
    loop_timer_cb *cb)
{
	loop_timer_cancel(loop, t);
	if (loop->nheap == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		loop->heap = xrealloc(loop->heap,
		    loop->heap_cap * sizeof(*loop->heap));
	}
	t->lt_deadline = loop->now + ms;
	t->lt_cb = cb;
	t->lt_index = loop->nheap + 1;
	loop->heap[loop->nheap++] = t;
	heap_up(loop, loop->nheap - 1);
}

static void
loop_run_timers(struct loop *loop)
{
	while (loop->nheap > 0 && loop->heap[0]->lt_deadline <= loop->now) {
		struct loop_timer *t = loop->heap[0];

		loop_timer_cancel(loop, t);
		t->lt_cb(loop, t);
	}
}

int
loop_run_once(struct loop *loop, const sigset_t *sigmask)
{
	struct timespec ts, *tsp = NULL;
	size_t i, n;
	int rc, saved;

	if (loop->dirty)
		loop_compact(loop);
	if (loop->nheap > 0) {
		int64_t wait = loop->heap[0]->lt_deadline - loop_clock_ms();

		if (wait < 0)
			wait = 0;
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000;
		tsp = &ts;
	}
	rc = ppoll(loop->pfds, loop->npfds, tsp, sigmask);
	saved = errno;
	loop->now = loop_clock_ms();
	if (rc > 0) {
		n = loop->npfds;	/* entries added by callbacks wait */
		for (i = 0; i < n; i++) {
			struct pollfd *p = &loop->pfds[i];
			struct loop_reg *r;
			short rev = p->revents;

			if (p->fd < 0 || rev == 0)
				continue;
			p->revents = 0;
			r = &loop->regs[p->fd];
			if (r->cb == NULL || r->gen != loop->pgens[i])
				continue;
			r->cb(loop, p->fd, rev, r->arg);
		}
	}
	loop_run_timers(loop);
	if (rc == -1) {
		errno = saved;
		return -1;
	}
	return 0;
}
