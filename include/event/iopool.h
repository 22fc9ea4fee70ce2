/*
 * iopool.h - a worker's pool of threads for disk work (the agent has one
 * too, of a single thread, for its sweeps).
 *
 * The loop thread submits jobs; a pool thread runs job->work(); the loop
 * thread later runs job->done() from its eventfd callback. Jobs are
 * embedded in their owner's struct and must stay alive until done() runs.
 * Pool threads block every signal.
 *
 * The shared queue is bounded (`queue_max`). When it is full a job waits in
 * a backlog owned by the loop thread and enters the queue as others finish;
 * this is logged once per episode and counted. Each connection has at most
 * one job in flight, so the backlog is bounded by the connection cap.
 */
#ifndef SHOAL_IOPOOL_H
#define SHOAL_IOPOOL_H

#include <stddef.h>
#include <stdint.h>

struct loop;

struct iopool_job {
	void (*work)(struct iopool_job *job);	/* pool thread */
	void (*done)(struct iopool_job *job);	/* loop thread */
	struct iopool_job *next;
};

struct iopool;

/* Starts `nthreads` threads and registers the completion eventfd with
 * `loop`. Returns NULL with errno set when threads or the eventfd cannot be
 * created. */
struct iopool *iopool_create(struct loop *loop, int nthreads,
    size_t queue_max);

/* Queues a job (loop thread only). Never fails; see the backlog above. */
void iopool_submit(struct iopool *pool, struct iopool_job *job);

/* Jobs submitted and not yet done. */
size_t iopool_pending(const struct iopool *pool);

/* Times the queue was found full since the start. */
uint64_t iopool_overflows(const struct iopool *pool);

/* Waits for the queued jobs to be worked, joins the threads and frees the
 * pool. done() callbacks of jobs not yet delivered are not called. */
void iopool_destroy(struct iopool *pool);

#endif
