/*
 * replicate.c - the agent's replication pulls (see replicate.h).
 *
 * Threads. The agent's loop thread owns struct replicate and its pulls.
 * A pull's prepare job (rp_job) runs in the agent's I/O pool and touches
 * only its own pull's rp_want, rp_dest and the descriptors it opens; the
 * spool's own jobs are the spool's business (store/spool.h). The
 * catalogue and the member table are shared memory under their own
 * locks, held for the walk and the announcements, never across a disk
 * call or a socket.
 *
 * This file is the replication's life, its tick and the pure rules;
 * replicate_walk.c chooses what to pull, replicate_pull.c pulls it. They
 * share replicate_int.h.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/holdings.h"
#include "cluster/members.h"
#include "cluster/place.h"
#include "cluster/replicate.h"
#include "cluster/replicate_int.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/loop.h"
#include "store/file.h"
#include "store/metrics.h"

/* -- pure rules ---------------------------------------------------------- */

bool
replicate_chosen(const char *name, size_t len, const char *const *nodes,
    size_t n, const char *self, int replicas)
{
	size_t order[64], k, i;

	if (replicas <= 0)
		return false;
	k = place_rank(name, len, nodes, n, order, (size_t)replicas > 64 ? 64 :
	    (size_t)replicas);
	for (i = 0; i < k; i++)
		if (strcmp(nodes[order[i]], self) == 0)
			return true;
	return false;
}

bool
replicate_surplus(const char *name, size_t len, const char *const *nodes,
    const bool *alive, size_t n, const char *self, int replicas,
    const char *origin, const char *const *holders, size_t nholders)
{
	size_t order[64], k, i, j;

	if (replicas <= 0 || replicas > 64 || strcmp(origin, self) == 0)
		return false;
	k = place_rank(name, len, nodes, n, order, (size_t)replicas);
	if (k < (size_t)replicas)
		return false;
	for (i = 0; i < k; i++) {
		const char *node = nodes[order[i]];

		/* A suspect chosen member may be gone with its copy. */
		if (strcmp(node, self) == 0 || !alive[order[i]])
			return false;
		for (j = 0; j < nholders; j++)
			if (strcmp(holders[j], node) == 0)
				break;
		if (j == nholders)
			return false;
	}
	return true;
}

int64_t
replicate_deadline_ms(uint64_t size, int64_t peer_timeout_ms)
{
	int64_t base = 4 * peer_timeout_ms;

	if (base < 10000)
		base = 10000;
	return base + (int64_t)(size / (REPLICATE_MIN_RATE / 1000));
}

/* -- the tick -------------------------------------------------------------- */

/* Frees the ended pulls whose spools are done. */
static void
replicate_reap(struct replicate *r)
{
	struct list *it, *tmp;

	list_for_each_safe(it, tmp, &r->r_done) {
		struct rep_pull *rp = container_of(it, struct rep_pull,
		    rp_link);

		if (rp->rp_job_busy ||
		    (rp->rp_sd_init && !spool_dir_idle(&rp->rp_sd)))
			continue;
		list_remove(&rp->rp_link);
		replicate_pull_free(rp);
	}
}

static void
replicate_on_tick(struct loop *loop, struct loop_timer *t)
{
	struct replicate *r = container_of(t, struct replicate, r_timer);
	uint32_t before;
	size_t visited, k;

	replicate_reap(r);
	if (r->r_stopping)
		return;
	loop_timer_set(loop, &r->r_timer, REPLICATE_TICK_MS, replicate_on_tick);
	if (r->r_cfg->cluster.replicas <= 0 ||
	    !holdings_ready(r->r_holdings))
		return;
	replicate_walk_read_members(r);
	r->r_now = loop_now(loop);
	if (catalogue_lock(r->r_cat) == 0) {
		replicate_walk_news_locked(r);
		catalogue_unlock(r->r_cat);
	}
	if (r->r_nqueue == 0 && catalogue_lock(r->r_cat) == 0) {
		before = r->r_cursor;
		r->r_walking = true;
		visited = catalogue_walk_locked(r->r_cat, &r->r_cursor,
		    REPLICATE_WALK_BUDGET, replicate_walk_visit, r);
		r->r_walking = false;
		catalogue_unlock(r->r_cat);
		/* A cycle is over when the cursor came back round. */
		if (visited < REPLICATE_WALK_BUDGET || r->r_cursor <= before) {
			__atomic_store_n(
			    &metrics_mine()->ms_replication_pending,
			    (int64_t)r->r_pending, __ATOMIC_RELAXED);
			r->r_pending = 0;
		}
	}
	for (k = 0; k < r->r_nqueue && r->r_npulls < REPLICATE_PULLS_MAX; k++)
		replicate_pull_start(r, &r->r_queue[k]);
	memmove(r->r_queue, r->r_queue + k, (r->r_nqueue - k) *
	    sizeof(*r->r_queue));
	r->r_nqueue -= k;
}

struct replicate *
replicate_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct index *ix,
    struct gossip_agent *ga, struct holdings *h)
{
	struct replicate *r = xcalloc(1, sizeof(*r));
	struct members *mt = cl->cl_members;

	r->r_loop = loop;
	r->r_pool = pool;
	r->r_cfg = cfg;
	r->r_cl = cl;
	r->r_cat = cl->cl_catalogue;
	r->r_index = ix;
	r->r_ga = ga;
	r->r_holdings = h;
	list_init(&r->r_pulls);
	list_init(&r->r_done);
	r->r_tmp_fd = r->r_state_fd = -1;
	r->r_names = xcalloc(mt->mt_capacity, sizeof(*r->r_names));
	r->r_nodes = xcalloc(mt->mt_capacity, sizeof(*r->r_nodes));
	r->r_slots = xcalloc(mt->mt_capacity, sizeof(*r->r_slots));
	r->r_alive = xcalloc(mt->mt_capacity, sizeof(*r->r_alive));
	r->r_owners = xcalloc(mt->mt_capacity, sizeof(*r->r_owners));
	r->r_news = xcalloc(REPLICATE_NEWS_MAX, sizeof(*r->r_news));
	r->r_queue = xcalloc(REPLICATE_QUEUE_MAX, sizeof(*r->r_queue));
	r->r_losers = xcalloc(REPLICATE_LOSERS, sizeof(*r->r_losers));
	if (members_lock(mt) == 0) {
		snprintf(r->r_self, sizeof(r->r_self), "%s",
		    members_self(mt)->m_facts.mf_name);
		members_unlock(mt);
	}
	r->r_root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->r_root_fd != -1)
		r->r_tmp_fd = openat(r->r_root_fd, FILE_TMP_DIR, O_PATH |
		    O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	r->r_state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	if (r->r_root_fd == -1 || r->r_tmp_fd == -1 || r->r_state_fd == -1) {
		log_err("replication: opening %s and %s", cfg->root,
		    cfg->state_dir);
		replicate_free(r);
		return NULL;
	}
	loop_timer_set(loop, &r->r_timer, REPLICATE_TICK_MS, replicate_on_tick);
	return r;
}

bool
replicate_stop(struct replicate *r)
{
	struct list *it, *tmp;

	if (r == NULL)
		return false;
	if (!r->r_stopping) {
		r->r_stopping = true;
		loop_timer_cancel(r->r_loop, &r->r_timer);
		list_for_each_safe(it, tmp, &r->r_pulls)
			replicate_pull_end(container_of(it, struct rep_pull,
			    rp_link), false);
	}
	replicate_reap(r);
	return !list_empty(&r->r_done);
}

void
replicate_free(struct replicate *r)
{
	struct list *it, *tmp;

	if (r == NULL)
		return;
	loop_timer_cancel(r->r_loop, &r->r_timer);
	list_for_each_safe(it, tmp, &r->r_pulls)
		replicate_pull_end(container_of(it, struct rep_pull, rp_link),
		    false);
	/* The pool is gone: no spool job runs; their files go. */
	list_for_each_safe(it, tmp, &r->r_done) {
		struct rep_pull *rp = container_of(it, struct rep_pull,
		    rp_link);

		list_remove(&rp->rp_link);
		if (rp->rp_sd_init)
			spool_dir_teardown(&rp->rp_sd);
		replicate_pull_free(rp);
	}
	free(r->r_names);
	free(r->r_nodes);
	free(r->r_slots);
	free(r->r_alive);
	free(r->r_owners);
	free(r->r_news);
	free(r->r_queue);
	free(r->r_losers);
	if (r->r_state_fd != -1)
		close(r->r_state_fd);
	if (r->r_tmp_fd != -1)
		close(r->r_tmp_fd);
	if (r->r_root_fd != -1)
		close(r->r_root_fd);
	free(r);
}
