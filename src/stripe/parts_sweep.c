/*
 * parts_sweep.c - the agent's periodic walk of the parts directories (see
 * parts_sweep.h). Loop thread of the agent; the walk (stripe/parts.c) in
 * its pool, reading only the fields set before the job is submitted.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "stripe/parts.h"
#include "stripe/parts_sweep.h"
#include "stripe/stripe.h"

struct parts_sweep {
	struct loop *sw_loop;
	struct iopool *sw_pool;
	struct cluster *sw_cluster;
	struct stripe_shared *sw_shared;
	struct parts_dirs sw_dirs;
	int64_t sw_timeout_ms;
	int64_t sw_interval_ms;
	struct loop_timer sw_timer;
	struct iopool_job sw_job;
	bool sw_busy;			/* the job is in the pool */
	bool sw_stopped;
	/* the job's input and output */
	int64_t sw_now_ms;
	uint64_t sw_kept;
	uint64_t sw_held;
	unsigned sw_swept;
};

static void
parts_sweep_work(struct iopool_job *job)
{
	struct parts_sweep *sw = container_of(job, struct parts_sweep, sw_job);

	sw->sw_kept = parts_sweep(&sw->sw_dirs, sw->sw_timeout_ms,
	    sw->sw_now_ms, &sw->sw_swept, &sw->sw_held);
}

static void parts_sweep_tick(struct loop *loop, struct loop_timer *t);

static void
parts_sweep_done(struct iopool_job *job)
{
	struct parts_sweep *sw = container_of(job, struct parts_sweep, sw_job);

	sw->sw_busy = false;
	__atomic_store_n(&sw->sw_shared->ss_disk, sw->sw_kept,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&sw->sw_shared->ss_parts_held, sw->sw_held,
	    __ATOMIC_RELAXED);
	if (sw->sw_swept > 0) {
		log_info("parts: removed %u pending part files older than "
		    "%lld ms", sw->sw_swept, (long long)sw->sw_timeout_ms);
		stripe_add(&sw->sw_shared->ss_parts_swept, sw->sw_swept);
		stripe_add(&sw->sw_shared->ss_cleanups[STRIPE_CLEANUP_SWEPT],
		    sw->sw_swept);
	}
	stripe_publish_use(sw->sw_shared, sw->sw_cluster);
	if (!sw->sw_stopped)
		loop_timer_set(sw->sw_loop, &sw->sw_timer, sw->sw_interval_ms,
		    parts_sweep_tick);
}

static void
parts_sweep_tick(struct loop *loop, struct loop_timer *t)
{
	struct parts_sweep *sw = container_of(t, struct parts_sweep, sw_timer);

	(void)loop;
	if (sw->sw_busy || sw->sw_stopped)
		return;
	sw->sw_busy = true;
	sw->sw_now_ms = loop_wall_ms();
	sw->sw_job.work = parts_sweep_work;
	sw->sw_job.done = parts_sweep_done;
	iopool_submit(sw->sw_pool, &sw->sw_job);
}

struct parts_sweep *
parts_sweep_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct stripe_shared *ss)
{
	struct parts_sweep *sw = xcalloc(1, sizeof(*sw));
	int state_fd;

	sw->sw_loop = loop;
	sw->sw_pool = pool;
	sw->sw_cluster = cl;
	sw->sw_shared = ss;
	sw->sw_timeout_ms = cfg->stripe.pending_timeout_ms;
	sw->sw_interval_ms = sw->sw_timeout_ms / 4;
	if (sw->sw_interval_ms < 1000)
		sw->sw_interval_ms = 1000;
	if (sw->sw_interval_ms > 60000)
		sw->sw_interval_ms = 60000;
	state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (state_fd == -1 || parts_dirs_open(state_fd, &sw->sw_dirs) == -1) {
		log_err("%s/%s", cfg->state_dir, STRIPE_PARTS_DIR);
		if (state_fd != -1)
			close(state_fd);
		free(sw);
		return NULL;
	}
	close(state_fd);
	parts_sweep_tick(loop, &sw->sw_timer);
	return sw;
}

bool
parts_sweep_stop(struct parts_sweep *sw)
{
	if (sw == NULL)
		return false;
	sw->sw_stopped = true;
	loop_timer_cancel(sw->sw_loop, &sw->sw_timer);
	return sw->sw_busy;
}

void
parts_sweep_free(struct parts_sweep *sw)
{
	if (sw == NULL)
		return;
	parts_dirs_close(&sw->sw_dirs);
	free(sw);
}
