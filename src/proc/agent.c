/*
 * agent.c - the agent process (see agent.h): the node's periodic work on
 * an event loop of its own: the TTL sweeper, and with a `cluster:`
 * section the gossip rounds (cluster/gossip_round.h), what this node
 * holds told to the catalogue (cluster/holdings.h), the replication
 * pulls (cluster/replicate.h), the parts' sweep, the striped uploads'
 * journal, the rebalancer, healing and the scrubber (stripe/), timers and jobs of the same
 * loop.
 *
 * Process and threads: one agent per generation, forked by the master
 * (master_children.c). Its loop thread owns everything in struct agent;
 * AGENT_POOL_THREADS I/O pool threads run the disk work: the sweeper's
 * passes, the holdings' scans and examinations, the pulls' spools. Two,
 * so that a long scan slice does not hold up a pull's writes. A pass is
 * scheduled SWEEPER_INTERVAL_MS after the previous one is done, so
 * passes never pile up behind a slow disk and at most one is in the
 * pool. While a pass is in flight the loop thread does not touch the
 * fields the pass reads (a_cfg, a_index, a_start_pass); the pool's queue
 * lock orders the two.
 *
 * Signals as for every child (child.h): a stop means no new pass (the one
 * in flight finishes) and no new round; when the whole node stops, a last
 * round tells the cluster it leaves. Both are bounded by the master's kill
 * after shutdown_timeout. SIGUSR1 reopens the error log.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cluster/gossip_round.h"
#include "cluster/holdings.h"
#include "cluster/replicate.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "proc/agent.h"
#include "proc/child.h"
#include "store/metrics.h"
#include "store/sweeper.h"
#include "stripe/journal.h"
#include "stripe/heal.h"
#include "stripe/parts_sweep.h"
#include "stripe/rebalancer.h"
#include "stripe/scrub.h"
#include "stripe/self_peer.h"

#define AGENT_POOL_THREADS 2
#define AGENT_POOL_QUEUE 64

struct agent {
	const struct config *a_cfg;
	struct index *a_index;		/* shared, inherited from the master */
	const struct child_tables *a_tables;
	struct gossip_agent *a_gossip;	/* NULL: no cluster */
	struct holdings *a_holdings;	/* NULL: no cluster */
	struct replicate *a_replicate;	/* NULL: no cluster */
	struct parts_sweep *a_parts;	/* NULL: no cluster */
	struct journal_replay *a_journal;	/* NULL: no cluster */
	struct rebalancer *a_rebalancer;	/* NULL: no cluster */
	struct heal *a_heal;		/* NULL: no cluster */
	struct scrub *a_scrub;		/* NULL: no cluster */
	struct loop *a_loop;
	struct iopool *a_pool;
	int a_ready_fd;			/* -1 once the master was told */
	bool a_stopping;		/* no new pass */

	struct iopool_job a_sweep_job;
	bool a_sweeping;		/* a pass is in the pool */
	bool a_start_pass;		/* the next (or current) pass is the
					   start pass */
	struct loop_timer a_sweep_timer;	/* the next pass */
};

/* Pool thread: one pass over the index. */
static void
agent_sweep_work(struct iopool_job *job)
{
	struct agent *a = container_of(job, struct agent, a_sweep_job);

	if (a->a_start_pass)
		sweeper_start(a->a_index, a->a_cfg);
	else
		(void)sweeper_run(a->a_index, a->a_cfg);
}

static void agent_sweep_due(struct loop *loop, struct loop_timer *t);

/* Loop thread: the pass is over; the next one is due an interval later. */
static void
agent_sweep_done(struct iopool_job *job)
{
	struct agent *a = container_of(job, struct agent, a_sweep_job);

	a->a_sweeping = false;
	if (a->a_start_pass) {
		a->a_start_pass = false;
		child_tell_ready(&a->a_ready_fd);
	}
	if (!a->a_stopping)
		loop_timer_set(a->a_loop, &a->a_sweep_timer,
		    SWEEPER_INTERVAL_MS, agent_sweep_due);
}

static void
agent_sweep(struct agent *a)
{
	if (a->a_sweeping || a->a_stopping)
		return;
	a->a_sweeping = true;
	a->a_sweep_job.work = agent_sweep_work;
	a->a_sweep_job.done = agent_sweep_done;
	iopool_submit(a->a_pool, &a->a_sweep_job);
}

static void
agent_sweep_due(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	agent_sweep(container_of(t, struct agent, a_sweep_timer));
}

static void
agent_begin_stop(struct agent *a)
{
	if (a->a_stopping)
		return;
	a->a_stopping = true;
	loop_timer_cancel(a->a_loop, &a->a_sweep_timer);
	if (a->a_sweeping)
		log_debug("stopping after the sweep in progress");
	/* When the node stops, its last word to the cluster. */
	(void)gossip_agent_stop(a->a_gossip);
	(void)holdings_stop(a->a_holdings);
	(void)replicate_stop(a->a_replicate);
	(void)parts_sweep_stop(a->a_parts);
	(void)journal_replay_stop(a->a_journal);
	(void)rebalancer_stop(a->a_rebalancer);
	(void)heal_stop(a->a_heal);
	(void)scrub_stop(a->a_scrub);
}

/* Work of the cluster's modules still under way (after a stop). */
static bool
agent_cluster_busy(struct agent *a)
{
	bool busy = gossip_agent_busy(a->a_gossip);

	busy |= holdings_stop(a->a_holdings);
	busy |= replicate_stop(a->a_replicate);
	busy |= parts_sweep_stop(a->a_parts);
	busy |= journal_replay_stop(a->a_journal);
	busy |= rebalancer_stop(a->a_rebalancer);
	busy |= heal_stop(a->a_heal);
	busy |= scrub_stop(a->a_scrub);
	return busy;
}

static int
agent_setup(struct agent *a, pid_t master_pid)
{
	if (child_detach(a->a_cfg, master_pid) == -1)
		return -1;
	a->a_loop = loop_create();
	if (a->a_loop == NULL) {
		log_err("epoll_create1");
		return -1;
	}
	a->a_pool = iopool_create(a->a_loop, AGENT_POOL_THREADS,
	    AGENT_POOL_QUEUE);
	if (a->a_pool == NULL) {
		log_err("starting the I/O thread");
		return -1;
	}
	if (a->a_tables->ct_cluster != NULL) {
		struct cluster *cl = a->a_tables->ct_cluster;

		a->a_gossip = gossip_agent_start(a->a_loop, a->a_cfg, cl,
		    a->a_tables->ct_peers);
		if (a->a_gossip == NULL)
			return -1;
		a->a_holdings = holdings_start(a->a_loop, a->a_pool, a->a_cfg,
		    cl, a->a_index);
		if (a->a_holdings == NULL)
			return -1;
		gossip_agent_on_conflict(a->a_gossip, holdings_on_conflict,
		    a->a_holdings);
		a->a_replicate = replicate_start(a->a_loop, a->a_pool,
		    a->a_cfg, cl, a->a_index, a->a_gossip, a->a_holdings);
		if (a->a_replicate == NULL)
			return -1;
		a->a_parts = parts_sweep_start(a->a_loop, a->a_pool,
		    a->a_cfg, cl, a->a_tables->ct_stripe);
		if (a->a_parts == NULL)
			return -1;
		a->a_journal = journal_replay_start(a->a_loop, a->a_pool,
		    a->a_cfg, cl, gossip_agent_peers(a->a_gossip),
		    a->a_tables->ct_stripe);
		if (a->a_journal == NULL)
			return -1;
		a->a_rebalancer = rebalancer_start(a->a_loop, a->a_pool,
		    a->a_cfg, cl, a->a_tables->ct_stripe,
		    gossip_agent_peers(a->a_gossip));
		if (a->a_rebalancer == NULL)
			return -1;
		a->a_heal = heal_start(a->a_loop, a->a_pool, a->a_cfg, cl,
		    a->a_tables->ct_stripe, gossip_agent_peers(a->a_gossip));
		if (a->a_heal == NULL)
			return -1;
		a->a_scrub = scrub_start(a->a_loop, a->a_pool, a->a_cfg, cl,
		    a->a_tables->ct_stripe, gossip_agent_peers(a->a_gossip));
		if (a->a_scrub == NULL)
			return -1;
	}
	return 0;
}

static void
agent_teardown(struct agent *a)
{
	uint64_t overflows = 0;

	if (a->a_pool != NULL) {
		overflows = iopool_overflows(a->a_pool);
		/* Waits for a pass still in the pool. */
		iopool_destroy(a->a_pool);
		a->a_pool = NULL;
	}
	if (overflows > 0)
		metrics_add(&metrics_mine()->ms_iopool_overflows, overflows);
	/* The pool is gone: no job of theirs runs. */
	replicate_free(a->a_replicate);
	parts_sweep_free(a->a_parts);
	journal_replay_free(a->a_journal);
	rebalancer_free(a->a_rebalancer);
	heal_free(a->a_heal);
	scrub_free(a->a_scrub);
	self_peer_free();
	if (a->a_gossip != NULL)
		gossip_agent_on_conflict(a->a_gossip, NULL, NULL);
	holdings_free(a->a_holdings);
	gossip_agent_free(a->a_gossip);
	if (a->a_ready_fd != -1)
		close(a->a_ready_fd);
	loop_free(a->a_loop);
}

int
agent_run(const struct config *cfg, int slot, int ready_fd,
    pid_t master_pid, const struct child_tables *t, bool start_pass)
{
	struct agent a;
	sigset_t wait_mask;
	int status = 0;

	/* First: until this line, tools take the agent for a worker. */
	prctl(PR_SET_NAME, "shoald-agent");
	memset(&a, 0, sizeof(a));
	a.a_cfg = cfg;
	a.a_index = t->ct_index;
	a.a_tables = t;
	a.a_ready_fd = ready_fd;
	a.a_start_pass = start_pass;
	log_set_ident("agent");
	metrics_use_slot(slot);
	child_signals(&wait_mask);
	if (agent_setup(&a, master_pid) == -1) {
		agent_teardown(&a);
		return 1;
	}
	/* The start pass comes before the byte: the master starts the
	 * workers once the index is tidy, as when it tidied it itself. */
	if (!start_pass)
		child_tell_ready(&a.a_ready_fd);
	agent_sweep(&a);
	log_debug("running: sweeping %s every %d ms", cfg->root,
	    SWEEPER_INTERVAL_MS);

	for (;;) {
		if (loop_run_once(a.a_loop, &wait_mask) == -1 &&
		    errno != EINTR) {
			log_err("epoll_pwait");
			status = 1;
			break;
		}
		if (child_reopen) {
			child_reopen = 0;
			if (log_reopen() == -1)
				log_err("reopening the error log");
		}
		if (child_stop)
			agent_begin_stop(&a);
		if (a.a_stopping && !a.a_sweeping && !agent_cluster_busy(&a))
			break;
	}
	agent_teardown(&a);
	return status;
}
