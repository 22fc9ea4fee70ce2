/*
 * holdings_int.h - what holdings.c (the loop side: events, batches,
 * surplus, the phases' order, life) and holdings_work.c (the job in the
 * agent's I/O pool: a name examined, the phases' steps) share. Nothing
 * else includes it. The fields of struct holdings marked "job" are the
 * job's while h_busy (see holdings.c).
 */
#ifndef SHOAL_CLUSTER_HOLDINGS_INT_H
#define SHOAL_CLUSTER_HOLDINGS_INT_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/catalogue.h"
#include "cluster/holdings.h"
#include "cluster/members.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "store/name.h"

enum holdings_phase {
	HOLDINGS_VERSIONS,
	HOLDINGS_ROOT,
	HOLDINGS_CHECK,
	HOLDINGS_WATCH,
};

enum holdings_job_kind {
	HOLDINGS_JOB_SCAN,		/* a step of the phase */
	HOLDINGS_JOB_BATCH,		/* names to examine */
};

struct holdings {
	struct loop *h_loop;
	struct iopool *h_pool;
	const struct config *h_cfg;
	struct cluster *h_cl;
	struct catalogue *h_cat;
	struct index *h_index;
	int h_root_fd;
	int h_tmp_fd;			/* ROOT's hidden directory */
	int h_state_fd;
	int h_inotify_fd;		/* -1: no watch */
	char h_self[MEMBER_NAME_MAX];
	struct holdings_stats h_stats;	/* job and loop: relaxed adds */

	enum holdings_phase h_phase;
	bool h_ready;			/* the first scan is over */
	bool h_rescan;			/* an event was lost: scan again */
	bool h_stopping;
	struct loop_timer h_timer;	/* the batch's delay; the rescan */

	/* names waiting for the next batch (loop) */
	char **h_pending;
	size_t h_npending, h_pending_cap;
	struct holdings_surplus *h_surplus;	/* HOLDINGS_SURPLUS_MAX */
	size_t h_nsurplus;

	/* job */
	struct iopool_job h_job;
	bool h_busy;
	enum holdings_job_kind h_kind;
	bool h_step_done;		/* the phase's last step ran */
	DIR *h_dir;			/* ROOT, while scanning it */
	char **h_batch;
	size_t h_nbatch;
	struct holdings_surplus *h_surplus_batch; /* HOLDINGS_SURPLUS_MAX */
	size_t h_nsurplus_batch;
	uint64_t h_check_inc;		/* this node's facts before the scan */
	uint64_t h_check_upto;
	uint64_t h_check_after;		/* the check's cursor */
	struct cat_fact_msg *h_facts;	/* HOLDINGS_SLICE of them */
	int64_t h_full_warned;		/* log_due() of "catalogue full" */
};

/* A replica to remove as one too many (holdings_drop_surplus). */
struct holdings_surplus {
	char hs_name[NAME_MAX_LEN + 1];
	struct digest hs_digest;
};

/* -- holdings.c -------------------------------------------------------- */

/* Adds n to a counter of h_stats (relaxed: the job and the loop both
 * count). */
void holdings_count(uint64_t *counter, uint64_t n);

/* -- holdings_work.c --------------------------------------------------- */

/* The job (pool thread): a step of the phase (HOLDINGS_JOB_SCAN), or the
 * batch of names and surplus replicas examined (HOLDINGS_JOB_BATCH). */
void holdings_work(struct iopool_job *job);

#endif
