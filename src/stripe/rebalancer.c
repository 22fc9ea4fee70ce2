/*
 * rebalancer.c - the agent's rebalancer (see rebalancer.h). Loop thread
 * of the agent; the scan of the manifests beside this store's parts in
 * its pool (rb_busy), the move's own work in stripe/move.c and
 * stripe/move_copy.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "core/rng.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/http.h"
#include "stripe/move.h"
#include "stripe/parts.h"
#include "stripe/rebalance.h"
#include "stripe/rebalancer.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"

#define REBALANCER_REPLAY_MS 1000	/* between looks for records */
#define REBALANCER_NEXT_MS 10		/* after a move that went well */
#define REBALANCER_RECENT 16		/* moves counted at their target */
#define REBALANCER_RECENT_MS 3000	/* ... for so long: gossip's lag */

struct rebalancer_recent {
	char rr_node[MEMBER_NAME_MAX];
	uint64_t rr_bytes;
	uint64_t rr_base;		/* the target's use then */
	int64_t rr_until_ms;
};

struct rebalancer {
	struct loop *rb_loop;
	struct iopool *rb_pool;
	struct cluster *rb_cluster;
	struct stripe_shared *rb_shared;
	const struct config *rb_cfg;
	struct parts_dirs rb_dirs;
	struct peer_set *rb_peers;
	struct move *rb_move;
	struct rng rb_rng;
	struct loop_timer rb_timer;
	int64_t rb_interval_ms;		/* between ticks: gossip's */
	int64_t rb_replayed_ms;		/* the last look for records */
	struct iopool_job rb_job;
	bool rb_busy;			/* the scan is in the pool */
	bool rb_stopped;
	bool rb_moved;			/* since the spread was last found
					   within bounds (then logged) */
	char rb_self[MEMBER_NAME_MAX];
	struct rebalancer_recent rb_recent[REBALANCER_RECENT];
	/* the scan: input, then output */
	unsigned rb_skip;
	struct manifest *rb_objs;	/* REBALANCER_SCAN_MAX */
	unsigned rb_nobjs;
	unsigned rb_seen;		/* manifests seen by the last scan */
	/* the stores, as gossip has them at the tick */
	struct rebalance_store *rb_stores;
	char (*rb_names)[MEMBER_NAME_MAX];
	char (*rb_addrs)[MEMBER_ADDR_MAX];
	size_t rb_nstores, rb_cap;
	/* the move under way */
	char rb_what[MEMBER_NAME_MAX * 2 + NAME_MAX_LEN + 64];
};

static void rebalancer_tick(struct loop *loop, struct loop_timer *t);

static void
rebalancer_rearm(struct rebalancer *rb, int64_t ms)
{
	if (!rb->rb_stopped)
		loop_timer_set(rb->rb_loop, &rb->rb_timer, ms, rebalancer_tick);
}

/* The alive stores and their fills, what was moved to them lately
 * counted; false when this node is not among them. */
static bool
rebalancer_stores(struct rebalancer *rb)
{
	static const struct http_limits limits = { 8192, 8192, 100, 65536 };
	struct members *mt = rb->rb_cluster->cl_members;
	int64_t now = loop_now(rb->rb_loop);
	char self_addr[MEMBER_ADDR_MAX];
	struct peer_set *set;
	bool self = false;
	size_t i, k;

	rb->rb_nstores = 0;
	if (members_lock(mt) != 0)
		return false;
	if (rb->rb_cap < mt->mt_capacity) {
		rb->rb_cap = mt->mt_capacity;
		free(rb->rb_stores);
		free(rb->rb_names);
		free(rb->rb_addrs);
		rb->rb_stores = xcalloc(rb->rb_cap, sizeof(*rb->rb_stores));
		rb->rb_names = xcalloc(rb->rb_cap, sizeof(*rb->rb_names));
		rb->rb_addrs = xcalloc(rb->rb_cap, sizeof(*rb->rb_addrs));
	}
	memcpy(self_addr, members_self(mt)->m_facts.mf_addr,
	    sizeof(self_addr));
	snprintf(rb->rb_self, sizeof(rb->rb_self), "%s",
	    members_self(mt)->m_facts.mf_name);
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, (uint32_t)i);
		struct rebalance_store *s = &rb->rb_stores[rb->rb_nstores];

		if (!m->m_in_use || m->m_state != MEMBER_ALIVE ||
		    !m->m_facts.mf_store || m->m_facts.mf_capacity == 0)
			continue;
		memcpy(rb->rb_names[rb->rb_nstores], m->m_facts.mf_name,
		    MEMBER_NAME_MAX);
		memcpy(rb->rb_addrs[rb->rb_nstores], m->m_facts.mf_addr,
		    MEMBER_ADDR_MAX);
		s->rs_node = rb->rb_names[rb->rb_nstores++];
		s->rs_capacity = m->m_facts.mf_capacity;
		s->rs_used = m->m_facts.mf_used;
		s->rs_moving = 0;
	}
	members_unlock(mt);
	/* Only the stores the agent can reach (a member just found is in
	 * its peer set a moment later). */
	for (i = 0, k = 0; i < rb->rb_nstores; i++) {
		if (self_peer_find(rb->rb_peers, rb->rb_loop, self_addr,
		    rb->rb_addrs[i], &limits, 1000, &set) == NULL)
			continue;
		rb->rb_stores[k] = rb->rb_stores[i];
		memcpy(rb->rb_names[k], rb->rb_names[i], MEMBER_NAME_MAX);
		rb->rb_stores[k].rs_node = rb->rb_names[k];
		self |= strcmp(rb->rb_names[k], rb->rb_self) == 0;
		k++;
	}
	rb->rb_nstores = k;
	for (k = 0; k < REBALANCER_RECENT; k++) {
		struct rebalancer_recent *r = &rb->rb_recent[k];

		if (r->rr_node[0] == '\0' || r->rr_until_ms <= now) {
			r->rr_node[0] = '\0';
			continue;
		}
		/* Counted until the target's gossiped use shows it. */
		for (i = 0; i < rb->rb_nstores; i++)
			if (strcmp(rb->rb_stores[i].rs_node, r->rr_node) == 0) {
				if (rb->rb_stores[i].rs_used >= r->rr_base +
				    r->rr_bytes)
					r->rr_node[0] = '\0';
				else
					rb->rb_stores[i].rs_moving +=
					    r->rr_bytes;
			}
	}
	return self;
}

/* Counts bytes at node (whose use is `base` now) from the move's start
 * until its gossiped use grew by them (the target counts a part's
 * announced length in its use at once, and gossip carries that within a
 * few rounds), or REBALANCER_RECENT_MS at most. */
static void
rebalancer_count(struct rebalancer *rb, const char *node, uint64_t base,
    uint64_t bytes)
{
	int64_t now = loop_now(rb->rb_loop);
	struct rebalancer_recent *r = &rb->rb_recent[0];
	size_t k;

	for (k = 0; k < REBALANCER_RECENT; k++)
		if (rb->rb_recent[k].rr_until_ms < r->rr_until_ms)
			r = &rb->rb_recent[k];
	snprintf(r->rr_node, sizeof(r->rr_node), "%s", node);
	r->rr_bytes = bytes;
	r->rr_base = base;
	r->rr_until_ms = now + REBALANCER_RECENT_MS;
}

static void
rebalancer_moved(void *arg, enum move_result r, uint64_t bytes,
    const char *why)
{
	struct rebalancer *rb = arg;

	if (r == MOVE_DONE) {
		stripe_add(&rb->rb_shared->ss_moves_done, 1);
		stripe_add(&rb->rb_shared->ss_moved_bytes, bytes);
		log_debug("rebalance: %s", rb->rb_what);
		rb->rb_moved = true;
		rebalancer_rearm(rb, REBALANCER_NEXT_MS);
		return;
	}
	stripe_add(&rb->rb_shared->ss_moves_failed, 1);
	log_warnx("rebalance: %s failed: %s", rb->rb_what, why);
	rebalancer_rearm(rb, rb->rb_interval_ms);
}

/* -- the scan ---------------------------------------------------------- */

/* Pool: the manifests beside this store's committed parts, from the
 * rb_skip-th on (then from the first), objects with a recorded switch
 * left out. */
static void
rebalancer_scan_job(struct iopool_job *job)
{
	struct rebalancer *rb = container_of(job, struct rebalancer, rb_job);
	char part[PARTS_FILE_MAX];
	unsigned pass, seen = 0;
	struct dirent *d;
	struct stat st;
	size_t len;
	DIR *dp;
	int fd, i;

	rb->rb_nobjs = 0;
	for (pass = 0; pass < 2; pass++) {
		fd = openat(rb->rb_dirs.pd_objects, ".", O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC);
		if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
			if (fd != -1)
				close(fd);
			return;
		}
		seen = 0;
		while ((d = readdir(dp)) != NULL &&
		    rb->rb_nobjs < REBALANCER_SCAN_MAX) {
			struct manifest *m = &rb->rb_objs[rb->rb_nobjs];

			len = strlen(d->d_name);
			if (len != MANIFEST_ID_LEN + 5 ||
			    strcmp(d->d_name + MANIFEST_ID_LEN, ".json") != 0)
				continue;
			seen++;
			if ((pass == 0) != (seen > rb->rb_skip))
				continue;
			if (parts_read_manifest(rb->rb_dirs.pd_objects,
			    d->d_name, m) == -1 ||
			    (i = manifest_part_of(m, rb->rb_self)) < 0 ||
			    move_recorded(rb->rb_move, m->m_id))
				continue;
			parts_file_name(m->m_id, (unsigned)i, part);
			if (fstatat(rb->rb_dirs.pd_objects, part, &st,
			    AT_SYMLINK_NOFOLLOW) == 0)
				rb->rb_nobjs++;
		}
		closedir(dp);
		if (rb->rb_skip == 0)
			break;
	}
	rb->rb_seen = seen;
}

static void
rebalancer_scan_done(struct iopool_job *job)
{
	struct rebalancer *rb = container_of(job, struct rebalancer, rb_job);
	struct rebalance_part *parts;
	struct rebalance_move mv;
	char addr[MEMBER_ADDR_MAX], file[PARTS_FILE_MAX];
	const struct manifest *m;
	bool alive;
	size_t np = 0, i;

	rb->rb_busy = false;
	if (rb->rb_stopped)
		return;
	rb->rb_skip = rb->rb_seen > 0 ? (unsigned)rng_below(&rb->rb_rng,
	    rb->rb_seen) : 0;
	/* Fills may have moved meanwhile: the stores as they are now. */
	if (!rebalancer_stores(rb)) {
		rebalancer_rearm(rb, rb->rb_interval_ms);
		return;
	}
	parts = xcalloc(rb->rb_nobjs + 1, sizeof(*parts));
	for (i = 0; i < rb->rb_nobjs; i++) {
		m = &rb->rb_objs[i];
		alive = false;
		if (gossip_member_addr(rb->rb_cluster, m->m_origin, addr,
		    sizeof(addr), &alive) == -1 || !alive)
			continue;
		parts[np].rp_m = m;
		parts[np++].rp_index = (unsigned)manifest_part_of(m,
		    rb->rb_self);
	}
	if (!rebalance_choose(rb->rb_self, rb->rb_stores, rb->rb_nstores,
	    parts, np, rb->rb_cfg->stripe.rebalance_spread,
	    rng_next(&rb->rb_rng), &mv)) {
		free(parts);
		rebalancer_rearm(rb, rb->rb_interval_ms);
		return;
	}
	m = parts[mv.rm_part].rp_m;
	i = parts[mv.rm_part].rp_index;
	free(parts);
	snprintf(rb->rb_what, sizeof(rb->rb_what), "part %zu of %s (%s) "
	    "from %s to %s", i, m->m_name, m->m_id, rb->rb_self,
	    rb->rb_stores[mv.rm_store].rs_node);
	parts_file_name(m->m_id, (unsigned)i, file);
	rebalancer_count(rb, rb->rb_stores[mv.rm_store].rs_node,
	    rb->rb_stores[mv.rm_store].rs_used, m->m_parts[i].mp_size);
	if (move_part(rb->rb_move, m, (unsigned)i,
	    rb->rb_stores[mv.rm_store].rs_node, rb->rb_dirs.pd_objects, file,
	    rb->rb_cfg->stripe.rebalance_rate, rebalancer_moved, rb) == -1)
		rebalancer_rearm(rb, rb->rb_interval_ms);
}

/* -- the tick ---------------------------------------------------------- */

/* A look for new moves: only this store, when it is the fullest. */
static void
rebalancer_plan(struct rebalancer *rb)
{
	size_t top;

	/* Healing first: no move while parts taken here are lost. */
	if (rb->rb_cfg->stripe.rebalance_rate == 0 ||
	    stripe_get(&rb->rb_shared->ss_heal_todo_bytes) > 0 ||
	    !rebalancer_stores(rb)) {
		rebalancer_rearm(rb, rb->rb_interval_ms);
		return;
	}
	top = rebalance_mover(rb->rb_stores, rb->rb_nstores,
	    rb->rb_cfg->stripe.rebalance_spread);
	if (top == rb->rb_nstores && rb->rb_moved) {
		log_info("rebalance: the stores' fills are within %d points",
		    rb->rb_cfg->stripe.rebalance_spread);
		rb->rb_moved = false;
	}
	if (top == rb->rb_nstores ||
	    strcmp(rb->rb_stores[top].rs_node, rb->rb_self) != 0) {
		rebalancer_rearm(rb, rb->rb_interval_ms);
		return;
	}
	rb->rb_busy = true;
	rb->rb_job.work = rebalancer_scan_job;
	rb->rb_job.done = rebalancer_scan_done;
	iopool_submit(rb->rb_pool, &rb->rb_job);
}

static void
rebalancer_replayed(void *arg, enum move_result r, uint64_t bytes,
    const char *why)
{
	struct rebalancer *rb = arg;

	if (rb->rb_stopped)
		return;
	if (r == MOVE_DONE) {
		stripe_add(&rb->rb_shared->ss_moves_done, 1);
		stripe_add(&rb->rb_shared->ss_moved_bytes, bytes);
		log_info("rebalance: a switch recorded earlier is complete");
	} else if (r != MOVE_NONE)
		log_warnx("rebalance: replaying a recorded switch: %s", why);
	/* A record that cannot be replayed yet does not stop the moves of
	 * other objects. */
	rebalancer_plan(rb);
}

static void
rebalancer_tick(struct loop *loop, struct loop_timer *t)
{
	struct rebalancer *rb = container_of(t, struct rebalancer, rb_timer);

	(void)loop;
	if (rb->rb_stopped || rb->rb_busy || move_busy(rb->rb_move))
		return;
	if (loop_now(rb->rb_loop) - rb->rb_replayed_ms <
	    REBALANCER_REPLAY_MS) {
		rebalancer_plan(rb);
		return;
	}
	rb->rb_replayed_ms = loop_now(rb->rb_loop);
	if (move_replay(rb->rb_move, rebalancer_replayed, rb) == -1)
		rebalancer_rearm(rb, rb->rb_interval_ms);
}

/* -- life -------------------------------------------------------------- */

struct rebalancer *
rebalancer_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct stripe_shared *ss,
    struct peer_set *peers)
{
	struct rebalancer *rb = xcalloc(1, sizeof(*rb));
	uint64_t seed = (uint64_t)loop_wall_ms() ^ (uint64_t)getpid();
	int state_fd;

	rb->rb_loop = loop;
	rb->rb_pool = pool;
	rb->rb_cluster = cl;
	rb->rb_shared = ss;
	rb->rb_cfg = cfg;
	rb->rb_peers = peers;
	rb->rb_dirs.pd_tmp = rb->rb_dirs.pd_pending = -1;
	rb->rb_dirs.pd_objects = rb->rb_dirs.pd_names = -1;
	(void)getrandom(&seed, sizeof(seed), GRND_NONBLOCK);
	rng_seed(&rb->rb_rng, seed);
	rb->rb_objs = xcalloc(REBALANCER_SCAN_MAX, sizeof(*rb->rb_objs));
	state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (state_fd == -1 || parts_dirs_open(state_fd, &rb->rb_dirs) == -1) {
		log_err("%s/%s", cfg->state_dir, STRIPE_PARTS_DIR);
		if (state_fd != -1)
			close(state_fd);
		rebalancer_free(rb);
		return NULL;
	}
	close(state_fd);
	rb->rb_move = move_create(loop, pool, cfg, cl, peers);
	if (rb->rb_move == NULL) {
		rebalancer_free(rb);
		return NULL;
	}
	/* Fills change as gossip brings them: a look each round. */
	rb->rb_interval_ms = cfg->cluster.gossip_interval_ms;
	rb->rb_replayed_ms = loop_now(loop) - REBALANCER_REPLAY_MS;
	rebalancer_rearm(rb, REBALANCER_REPLAY_MS);
	return rb;
}

bool
rebalancer_stop(struct rebalancer *rb)
{
	bool busy;

	if (rb == NULL)
		return false;
	rb->rb_stopped = true;
	loop_timer_cancel(rb->rb_loop, &rb->rb_timer);
	busy = move_stop(rb->rb_move);
	return busy || rb->rb_busy;
}

void
rebalancer_free(struct rebalancer *rb)
{
	if (rb == NULL)
		return;
	move_free(rb->rb_move);
	parts_dirs_close(&rb->rb_dirs);
	free(rb->rb_objs);
	free(rb->rb_stores);
	free(rb->rb_names);
	free(rb->rb_addrs);
	free(rb);
}
