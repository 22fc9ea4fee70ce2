/*
 * iopool.c - the I/O thread pool of a worker (or of the agent).
 *
 * Locking: `mu` guards the queue (queue_head/tail/len), `idle`, `waking`
 * and `stopping`; `cv` wakes idle threads, once per turn of the loop (see
 * iopool_wake). The done list takes no lock: pool
 * threads push with compare-and-swap, the loop takes the whole list with
 * one atomic exchange; the thread that finds it empty writes the eventfd,
 * so a burst of completions costs one wake-up. The backlog, `pending` and
 * the counters belong to the loop thread alone.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"

struct iopool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct iopool_job *queue_head, *queue_tail;
	size_t queue_len, queue_max;
	struct iopool_job *done_list;	/* lock-free: see iopool_complete */
	bool stopping;
	int idle;			/* threads waiting on cv */
	int waking;			/* of those, signalled already */
	bool unwoken;			/* loop thread: jobs queued since
					   the last iopool_wake() */

	struct iopool_job *backlog_head, *backlog_tail;	/* loop thread */
	size_t pending;
	uint64_t overflows;
	bool overflow_logged;

	struct loop *loop;
	int efd;
	pthread_t *threads;
	int nthreads;
};

/* Pushes a finished job for the loop (any pool thread, no lock): the
 * thread that finds the list empty wakes the loop, once per batch. */
static void
iopool_complete(struct iopool *pool, struct iopool_job *job)
{
	struct iopool_job *head = __atomic_load_n(&pool->done_list,
	    __ATOMIC_ACQUIRE);

	do
		job->next = head;
	while (!__atomic_compare_exchange_n(&pool->done_list, &head, job, true,
	    __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
	if (head == NULL) {
		uint64_t one = 1;

		/* Cannot fail short of a bug: the counter never nears its
		 * maximum because the loop drains it. */
		if (write(pool->efd, &one, sizeof(one)) < 0) {
			/* nothing to do */
		}
	}
}

static void *
iopool_thread(void *arg)
{
	struct iopool *pool = arg;
	struct iopool_job *job;

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		while (pool->queue_head == NULL && !pool->stopping) {
			pool->idle++;
			pthread_cond_wait(&pool->cv, &pool->mu);
			pool->idle--;
			if (pool->waking > 0)
				pool->waking--;
		}
		if (pool->queue_head == NULL)
			break;
		job = pool->queue_head;
		pool->queue_head = job->next;
		if (pool->queue_head == NULL)
			pool->queue_tail = NULL;
		pool->queue_len--;
		pthread_mutex_unlock(&pool->mu);

		job->work(job);
		iopool_complete(pool, job);

		pthread_mutex_lock(&pool->mu);
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

static void
iopool_enqueue_locked(struct iopool *pool, struct iopool_job *job)
{
	job->next = NULL;
	if (pool->queue_tail != NULL)
		pool->queue_tail->next = job;
	else
		pool->queue_head = job;
	pool->queue_tail = job;
	pool->queue_len++;
	pool->unwoken = true;
}

/* Moves backlog jobs into the queue while there is room. */
static void
iopool_feed(struct iopool *pool)
{
	if (pool->backlog_head == NULL)
		return;
	pthread_mutex_lock(&pool->mu);
	while (pool->backlog_head != NULL && pool->queue_len < pool->queue_max) {
		struct iopool_job *job = pool->backlog_head;

		pool->backlog_head = job->next;
		if (pool->backlog_head == NULL)
			pool->backlog_tail = NULL;
		iopool_enqueue_locked(pool, job);
	}
	pthread_mutex_unlock(&pool->mu);
	if (pool->backlog_head == NULL && pool->overflow_logged) {
		log_info("io pool queue has room again");
		pool->overflow_logged = false;
	}
}

static void
iopool_on_wake(struct loop *loop, int fd, short revents, void *arg)
{
	struct iopool *pool = arg;
	struct iopool_job *list, *job, *rev = NULL;
	uint64_t n;

	(void)loop;
	(void)revents;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("io pool eventfd read");
	list = __atomic_exchange_n(&pool->done_list, NULL, __ATOMIC_ACQ_REL);

	/* The done list is LIFO; restore completion order. */
	while (list != NULL) {
		job = list;
		list = job->next;
		job->next = rev;
		rev = job;
	}
	while (rev != NULL) {
		job = rev;
		rev = job->next;
		pool->pending--;
		job->done(job);
	}
	iopool_feed(pool);
}

/*
 * Wakes sleeping threads for the jobs queued in this turn of the loop, at
 * its end (a loop_before_wait hook): one wake per job a busy thread will
 * not take, never more threads than jobs. Waking at each submit instead
 * made the loop give way to a pool thread in the middle of its turn, job
 * after job: a third more CPU per request for files not cached.
 */
static void
iopool_wake(void *arg)
{
	struct iopool *pool = arg;
	size_t want;

	if (!pool->unwoken)
		return;
	pool->unwoken = false;
	pthread_mutex_lock(&pool->mu);
	want = pool->queue_len;
	while (pool->idle - pool->waking > 0 && want > 0) {
		pthread_cond_signal(&pool->cv);
		pool->waking++;
		want--;
	}
	pthread_mutex_unlock(&pool->mu);
}

struct iopool *
iopool_create(struct loop *loop, int nthreads, size_t queue_max)
{
	struct iopool *pool = xcalloc(1, sizeof(*pool));
	sigset_t all, old;
	int i, rc;

	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cv, NULL);
	pool->queue_max = queue_max;
	pool->loop = loop;
	pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->efd == -1)
		goto fail;
	if (loop_add(loop, pool->efd, POLLIN, iopool_on_wake, pool) == -1)
		goto fail;
	if (loop_before_wait(loop, iopool_wake, pool) == -1) {
		loop_del(loop, pool->efd);
		errno = ENOSPC;
		goto fail;
	}
	pool->threads = xcalloc((size_t)nthreads, sizeof(*pool->threads));

	/* Threads inherit the creator's mask: block everything while
	 * creating them so that signals always reach the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		rc = pthread_create(&pool->threads[i], NULL, iopool_thread, pool);
		if (rc != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			pool->nthreads = i;
			iopool_destroy(pool);
			errno = rc;
			return NULL;
		}
	}
	pool->nthreads = nthreads;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pool;
fail:
	rc = errno;
	if (pool->efd != -1)
		close(pool->efd);
	free(pool);
	errno = rc;
	return NULL;
}

void
iopool_submit(struct iopool *pool, struct iopool_job *job)
{
	pool->pending++;
	job->next = NULL;
	if (pool->backlog_head == NULL) {
		pthread_mutex_lock(&pool->mu);
		if (pool->queue_len < pool->queue_max) {
			iopool_enqueue_locked(pool, job);
			pthread_mutex_unlock(&pool->mu);
			return;
		}
		pthread_mutex_unlock(&pool->mu);
	}
	pool->overflows++;
	if (!pool->overflow_logged) {
		log_warnx("io pool queue full (%zu jobs); holding jobs in the "
		    "loop until it drains", pool->queue_max);
		pool->overflow_logged = true;
	}
	if (pool->backlog_tail != NULL)
		pool->backlog_tail->next = job;
	else
		pool->backlog_head = job;
	pool->backlog_tail = job;
}

size_t
iopool_pending(const struct iopool *pool)
{
	return pool->pending;
}

uint64_t
iopool_overflows(const struct iopool *pool)
{
	return pool->overflows;
}

void
iopool_destroy(struct iopool *pool)
{
	int i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->mu);
	/* Jobs waiting in the backlog were promised to run too. */
	while (pool->backlog_head != NULL) {
		struct iopool_job *job = pool->backlog_head;

		pool->backlog_head = job->next;
		iopool_enqueue_locked(pool, job);
	}
	pool->backlog_tail = NULL;
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	loop_cancel_hook(pool->loop, iopool_wake, pool);
	loop_del(pool->loop, pool->efd);
	close(pool->efd);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
	free(pool->threads);
	free(pool);
}
