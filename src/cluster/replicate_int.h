/*
 * replicate_int.h - what the three files of the agent's replication
 * share: replicate.c (its life, its tick, the pure rules),
 * replicate_walk.c (what to pull: the walk of the catalogue, the news,
 * failures remembered, losers and surplus handed to the holdings) and
 * replicate_pull.c (one pull: room made, the request, the body spooled
 * and checked, the announcement). Nothing else includes it. The agent's
 * loop thread, but for a pull's prepare job (see replicate.c).
 */
#ifndef SHOAL_CLUSTER_REPLICATE_INT_H
#define SHOAL_CLUSTER_REPLICATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#include "cluster/catalogue.h"
#include "cluster/members.h"
#include "core/list.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "store/name.h"
#include "store/spool.h"

#define REPLICATE_HOLDERS 4		/* holders remembered per version */
#define REPLICATE_FAILS 256		/* versions waiting to be retried */
#define REPLICATE_LOSERS 4096		/* losers handed to the holdings */
#define REPLICATE_NEWS_MAX 256		/* new facts looked at per tick */
#define REPLICATE_NAME_VERSIONS 8	/* versions of a new fact's name */

/* What this node has looked at of a member's facts (the fast path). */
struct rep_owner {
	char ro_name[MEMBER_NAME_MAX];	/* "" : not tracked yet */
	uint64_t ro_inc;
	uint64_t ro_seq;
};

/* A version to pull, as the walk saw it. */
struct rep_want {
	char rw_name[NAME_MAX_LEN + 1];
	size_t rw_len;
	struct digest rw_digest;
	uint64_t rw_size;
	char rw_origin[MEMBER_NAME_MAX];
	uint64_t rw_hlc;
	bool rw_winner;
	unsigned rw_nholders;
	char rw_holders[REPLICATE_HOLDERS][MEMBER_NAME_MAX];
};

/* A version whose pull failed, not tried again before f_until_ms. */
struct rep_fail {
	struct digest f_digest;
	uint64_t f_name_hash;
	int64_t f_until_ms;
	int64_t f_backoff_ms;
	unsigned f_tries;
};

enum rep_dest {
	REP_DEST_FAIL,			/* rp_err says why */
	REP_DEST_HELD,			/* here already: announce it */
	REP_DEST_ROOT,
	REP_DEST_ASIDE,			/* STATE_DIR/versions/HEX/ */
};

struct rep_pull {
	struct list rp_link;		/* r_pulls, then r_done */
	struct replicate *rp_rep;
	struct rep_want rp_want;
	bool rp_over;			/* ended: on r_done */

	/* prepare (job) */
	struct iopool_job rp_job;
	bool rp_job_busy;
	enum rep_dest rp_dest;
	int rp_err;
	int rp_dir_fd;			/* ASIDE: the version's directory */
	int rp_tmp_fd;			/* ASIDE: the versions' temporary one */
	char rp_held_origin[MEMBER_NAME_MAX];	/* HELD: its origin */
	uint64_t rp_held_hlc;

	/* the transfer */
	struct spool_dir rp_sd;
	bool rp_sd_init;
	struct spool *rp_spool;
	struct peer_conn *rp_pc;
	char rp_from[MEMBER_ADDR_MAX];
	XXH3_state_t *rp_hash;
	uint64_t rp_got;
	char *rp_buf;			/* the spool's buffer being filled */
	size_t rp_fill;
	size_t rp_data_off;		/* of the peer's current bytes */
	bool rp_waiting;		/* peer bytes wait for a buffer */
	bool rp_publishing;
	char rp_origin[MEMBER_NAME_MAX];	/* from Shoal-Origin */
	uint64_t rp_hlc;
	struct loop_timer rp_timer;	/* the deadline */
};

struct replicate {
	struct loop *r_loop;
	struct iopool *r_pool;
	const struct config *r_cfg;
	struct cluster *r_cl;
	struct catalogue *r_cat;
	struct index *r_index;
	struct gossip_agent *r_ga;
	struct holdings *r_holdings;
	int r_root_fd, r_tmp_fd, r_state_fd;
	char r_self[MEMBER_NAME_MAX];
	struct loop_timer r_timer;
	bool r_stopping;

	/* the alive members, this node included, as last read */
	uint64_t r_members_version;
	bool r_members_read;
	char (*r_names)[MEMBER_NAME_MAX];
	const char **r_nodes;
	uint32_t *r_slots;		/* each one's slot in the member table */
	bool *r_alive;			/* each one alive, not suspect */
	size_t r_nnodes;
	struct rep_owner *r_owners;	/* by member slot */
	struct cat_fact_msg *r_news;	/* REPLICATE_NEWS_MAX */

	/* the walk */
	uint32_t r_cursor;
	uint64_t r_pending;		/* wanted in the walk's current cycle */
	bool r_walking;			/* visits count in r_pending */
	struct rep_want *r_queue;	/* REPLICATE_QUEUE_MAX */
	size_t r_nqueue;
	struct rep_fail r_fails[REPLICATE_FAILS];
	uint64_t *r_losers;		/* keys of losers handed over once */
	size_t r_nlosers;
	size_t r_nfails;
	int64_t r_now;			/* of the tick */

	struct list r_pulls;		/* running */
	size_t r_npulls;
	struct list r_done;		/* ended, their spools finishing */
};

/* -- replicate_walk.c -------------------------------------------------- */

/* The failure remembered of version (name, digest), or NULL. */
struct rep_fail *replicate_walk_fail_find(struct replicate *r,
    const char *name, size_t len, const struct digest *d);

/* A pull of w failed: it waits longer (doubled, up to
 * REPLICATE_RETRY_MAX_MS) before it is tried again, from the next
 * holder. */
void replicate_walk_fail_note(struct replicate *r, const struct rep_want *w);

/* A pull of w succeeded: its failures are forgotten. */
void replicate_walk_fail_forget(struct replicate *r,
    const struct rep_want *w);

/* The catalogue's visit (catalogue lock held): a loser held here or a
 * surplus replica handed to the holdings; a version this node is chosen
 * for and lacks queued on r_queue. */
void replicate_walk_visit(void *arg, const struct cat_version_view *v);

/* The alive members (alive or suspect), this node included, read again
 * when the table's version moved. */
void replicate_walk_read_members(struct replicate *r);

/* The members' facts announced since the last tick, their names'
 * versions visited at once (catalogue lock held). */
void replicate_walk_news_locked(struct replicate *r);

/* -- replicate_pull.c -------------------------------------------------- */

/* Starts pulling w: its prepare job first, then the request. */
void replicate_pull_start(struct replicate *r, const struct rep_want *w);

/* The pull is over, well (ok) or not: it lets go of its connection and
 * spool and waits on r_done for the spool's jobs to end; once more does
 * nothing. */
void replicate_pull_end(struct rep_pull *rp, bool ok);

/* Frees an ended pull that no job uses any longer. */
void replicate_pull_free(struct rep_pull *rp);

#endif
