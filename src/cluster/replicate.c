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
 * A pull: prepare (pool: is the version here already? where does it go?
 * make room), then the request to a holder, the body streamed into a
 * spool and hashed on the way (XXH3-128, the content digest), the check,
 * the publication, the announcement. A pull that ends, well or not, waits
 * on r_done until its spool directory is idle (no spool job runs), then
 * it is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "cluster/holdings.h"
#include "cluster/members.h"
#include "cluster/place.h"
#include "cluster/replica_serve.h"
#include "cluster/replicate.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "store/file.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/name.h"
#include "store/spool.h"
#include "store/versions.h"

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

static void replicate_pump(struct rep_pull *rp);

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

/* -- failures remembered ------------------------------------------------- */

static uint64_t
replicate_name_hash(const char *name, size_t len)
{
	return XXH3_64bits(name, len);
}

static struct rep_fail *
replicate_fail_find(struct replicate *r, const char *name, size_t len,
    const struct digest *d)
{
	uint64_t h = replicate_name_hash(name, len);
	size_t i;

	for (i = 0; i < r->r_nfails; i++)
		if (r->r_fails[i].f_name_hash == h &&
		    digest_equal(&r->r_fails[i].f_digest, d))
			return &r->r_fails[i];
	return NULL;
}

static void
replicate_fail_note(struct replicate *r, const struct rep_want *w)
{
	struct rep_fail *f = replicate_fail_find(r, w->rw_name, w->rw_len,
	    &w->rw_digest);
	size_t i, oldest = 0;

	if (f == NULL) {
		if (r->r_nfails < REPLICATE_FAILS)
			f = &r->r_fails[r->r_nfails++];
		else {
			for (i = 1; i < REPLICATE_FAILS; i++)
				if (r->r_fails[i].f_until_ms <
				    r->r_fails[oldest].f_until_ms)
					oldest = i;
			f = &r->r_fails[oldest];
		}
		memset(f, 0, sizeof(*f));
		f->f_digest = w->rw_digest;
		f->f_name_hash = replicate_name_hash(w->rw_name, w->rw_len);
	}
	f->f_tries++;
	f->f_backoff_ms = f->f_backoff_ms == 0 ? REPLICATE_RETRY_MS :
	    2 * f->f_backoff_ms;
	if (f->f_backoff_ms > REPLICATE_RETRY_MAX_MS)
		f->f_backoff_ms = REPLICATE_RETRY_MAX_MS;
	f->f_until_ms = loop_now(r->r_loop) + f->f_backoff_ms;
}

static void
replicate_fail_forget(struct replicate *r, const struct rep_want *w)
{
	struct rep_fail *f = replicate_fail_find(r, w->rw_name, w->rw_len,
	    &w->rw_digest);

	if (f != NULL)
		*f = r->r_fails[--r->r_nfails];
}

/* -- the walk (loop thread, catalogue lock held) -------------------------- */

static bool
replicate_busy_with(struct replicate *r, const struct cat_version_view *v)
{
	struct list *it;
	size_t i;

	for (i = 0; i < r->r_nqueue; i++)
		if (digest_equal(&r->r_queue[i].rw_digest, &v->vv_digest) &&
		    r->r_queue[i].rw_len == v->vv_name_len &&
		    memcmp(r->r_queue[i].rw_name, v->vv_name,
		    v->vv_name_len) == 0)
			return true;
	list_for_each(it, &r->r_pulls) {
		struct rep_pull *rp = container_of(it, struct rep_pull,
		    rp_link);

		if (digest_equal(&rp->rp_want.rw_digest, &v->vv_digest) &&
		    rp->rp_want.rw_len == v->vv_name_len &&
		    memcmp(rp->rp_want.rw_name, v->vv_name,
		    v->vv_name_len) == 0)
			return true;
	}
	return false;
}

/* Whether the loser v was handed to the holdings already: each is
 * examined once (a conflict found by gossip is examined anyway), not at
 * every pass of the walk. The set is emptied when full. */
static bool
replicate_loser_seen(struct replicate *r, const struct cat_version_view *v)
{
	uint64_t key = replicate_name_hash(v->vv_name, v->vv_name_len) ^
	    v->vv_digest.d_hi ^ (v->vv_digest.d_lo * 0x9e3779b97f4a7c15ULL);
	size_t i, mask = REPLICATE_LOSERS - 1;

	if (key == 0)
		key = 1;
	for (i = key & mask; r->r_losers[i] != 0; i = (i + 1) & mask)
		if (r->r_losers[i] == key)
			return true;
	if (r->r_nlosers >= REPLICATE_LOSERS / 2) {
		memset(r->r_losers, 0, REPLICATE_LOSERS * sizeof(*r->r_losers));
		r->r_nlosers = 0;
		for (i = key & mask; r->r_losers[i] != 0; i = (i + 1) & mask)
			;
	}
	r->r_losers[i] = key;
	r->r_nlosers++;
	return false;
}

static bool
replicate_alive(const struct replicate *r, const char *node)
{
	size_t i;

	for (i = 0; i < r->r_nnodes; i++)
		if (strcmp(r->r_nodes[i], node) == 0)
			return true;
	return false;
}

static void
replicate_visit(void *arg, const struct cat_version_view *v)
{
	struct replicate *r = arg;
	struct rep_want *w;
	struct rep_fail *f;
	bool mine = false;
	uint32_t i, listed = v->vv_nholders < CATALOGUE_HOLDERS_VIEW ?
	    v->vv_nholders : CATALOGUE_HOLDERS_VIEW;

	/* A striped object is in parts on its stores: never copied. */
	if (v->vv_striped)
		return;
	for (i = 0; i < listed; i++)
		if (strcmp(v->vv_holders[i], r->r_self) == 0)
			mine = true;
	/* A loser held here: out of ROOT, if it is there. */
	if (mine && !v->vv_winner && !replicate_loser_seen(r, v))
		holdings_examine(r->r_holdings, v->vv_name, v->vv_name_len);
	/* A replica made while the ranking was another (members joined
	 * since) goes once the chosen members all hold the version. */
	if (mine && v->vv_winner && v->vv_nholders <= listed &&
	    replicate_surplus(v->vv_name, v->vv_name_len, r->r_nodes,
	    r->r_alive, r->r_nnodes, r->r_self, r->r_cfg->cluster.replicas,
	    v->vv_origin, v->vv_holders, listed))
		holdings_drop_surplus(r->r_holdings, v->vv_name,
		    v->vv_name_len, &v->vv_digest);
	/* Holders past the view's list may include this node: it cannot
	 * tell, and does not pull what it may hold. */
	if (mine || v->vv_nholders > listed ||
	    !replicate_chosen(v->vv_name, v->vv_name_len, r->r_nodes,
	    r->r_nnodes, r->r_self, r->r_cfg->cluster.replicas))
		return;
	if (r->r_walking)
		r->r_pending++;
	if (r->r_nqueue == REPLICATE_QUEUE_MAX || replicate_busy_with(r, v))
		return;
	f = replicate_fail_find(r, v->vv_name, v->vv_name_len, &v->vv_digest);
	if (f != NULL && f->f_until_ms > r->r_now)
		return;
	w = &r->r_queue[r->r_nqueue];
	memset(w, 0, sizeof(*w));
	for (i = 0; i < listed && w->rw_nholders < REPLICATE_HOLDERS; i++)
		if (replicate_alive(r, v->vv_holders[i]))
			snprintf(w->rw_holders[w->rw_nholders++],
			    MEMBER_NAME_MAX, "%s", v->vv_holders[i]);
	if (w->rw_nholders == 0)
		return;		/* nobody alive to pull from */
	memcpy(w->rw_name, v->vv_name, v->vv_name_len);
	w->rw_name[v->vv_name_len] = '\0';
	w->rw_len = v->vv_name_len;
	w->rw_digest = v->vv_digest;
	w->rw_size = v->vv_size;
	snprintf(w->rw_origin, sizeof(w->rw_origin), "%s", v->vv_origin);
	w->rw_hlc = v->vv_hlc;
	w->rw_winner = v->vv_winner;
	r->r_nqueue++;
}

/* The alive members (alive or suspect), this node included, when the
 * table's version moved. */
static void
replicate_read_members(struct replicate *r)
{
	struct members *mt = r->r_cl->cl_members;
	uint64_t version = __atomic_load_n(&mt->mt_version, __ATOMIC_RELAXED);
	uint32_t i;

	if (r->r_members_read && version == r->r_members_version)
		return;
	if (members_lock(mt) == -1)
		return;
	r->r_nnodes = 0;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || m->m_state > MEMBER_SUSPECT)
			continue;
		memcpy(r->r_names[r->r_nnodes], m->m_facts.mf_name,
		    MEMBER_NAME_MAX);
		r->r_nodes[r->r_nnodes] = r->r_names[r->r_nnodes];
		r->r_slots[r->r_nnodes] = i;
		r->r_alive[r->r_nnodes] = m->m_state == MEMBER_ALIVE;
		r->r_nnodes++;
	}
	r->r_members_version = mt->mt_version;
	r->r_members_read = true;
	members_unlock(mt);
}

/* -- a pull ---------------------------------------------------------------- */

static void
replicate_count(uint64_t *counter, uint64_t n)
{
	metrics_add(counter, n);
}

/* The pull is over: it lets go of its connection and spool and waits on
 * r_done for the spool's jobs to end. */
static void
replicate_end(struct rep_pull *rp, bool ok)
{
	struct replicate *r = rp->rp_rep;

	if (rp->rp_over)
		return;
	rp->rp_over = true;
	loop_timer_cancel(r->r_loop, &rp->rp_timer);
	if (rp->rp_pc != NULL) {
		peer_conn_close(rp->rp_pc);
		rp->rp_pc = NULL;
	}
	if (rp->rp_spool != NULL && !ok) {
		spool_abort(rp->rp_spool);
	}
	rp->rp_spool = NULL;
	if (rp->rp_hash != NULL) {
		XXH3_freeState(rp->rp_hash);
		rp->rp_hash = NULL;
	}
	if (ok)
		replicate_fail_forget(r, &rp->rp_want);
	else if (!r->r_stopping) {	/* a stop is no failure of the pull */
		replicate_count(&metrics_mine()->ms_replication_failed, 1);
		replicate_fail_note(r, &rp->rp_want);
	}
	list_remove(&rp->rp_link);
	r->r_npulls--;
	list_insert_head(&r->r_done, &rp->rp_link);
}

static void
replicate_fail(struct rep_pull *rp, const char *why)
{
	char hex[DIGEST_HEX_LEN + 1];

	digest_hex(&rp->rp_want.rw_digest, hex);
	log_debug("replication: %s version %s from %s: %s",
	    rp->rp_want.rw_name, hex, rp->rp_from[0] != '\0' ? rp->rp_from :
	    "-", why);
	replicate_end(rp, false);
}

static void
replicate_announce(struct replicate *r, const struct rep_want *w,
    const char *origin, uint64_t hlc)
{
	int rc;

	if (catalogue_lock(r->r_cat) == -1)
		return;
	rc = catalogue_announce_locked(r->r_cat, w->rw_name, w->rw_len,
	    &w->rw_digest, w->rw_size, origin, hlc);
	catalogue_unlock(r->r_cat);
	if (rc == -1)
		log_warn("replication: announcing %s", w->rw_name);
}

/* The content digest of an opened file (recorded, else computed and
 * recorded). */
static int
replicate_digest_of(const struct file_info *fi, struct digest *d)
{
	if (fi->fi_content) {
		*d = fi->fi_digest;
		return 0;
	}
	if (file_content_digest(fi->fi_fd, fi->fi_size, d) == -1)
		return -1;
	(void)file_digest_record(fi->fi_fd, d);
	return 0;
}

/*
 * Pool thread: where the version goes. Here already (in ROOT, not as a
 * saved copy, or kept aside): HELD. ROOT's name free, or a saved copy
 * (removed with its record), or a loser while this is the winner (moved
 * aside): ROOT. Otherwise aside.
 */
static void
replicate_prepare(struct iopool_job *job)
{
	struct rep_pull *rp = container_of(job, struct rep_pull, rp_job);
	struct replicate *r = rp->rp_rep;
	const struct rep_want *w = &rp->rp_want;
	struct file_info fi;
	struct digest d;
	bool copy = false, have_d = false;

	rp->rp_dest = REP_DEST_FAIL;
	versions_open(r->r_state_fd, w->rw_name, &w->rw_digest, &fi);
	if (fi.fi_fd != -1) {
		if (file_origin_read(fi.fi_fd, &rp->rp_held_hlc,
		    rp->rp_held_origin, MEMBER_NAME_MAX) == -1)
			rp->rp_held_origin[0] = '\0';
		close(fi.fi_fd);
		rp->rp_dest = REP_DEST_HELD;
		return;
	}
	file_open(r->r_root_fd, w->rw_name, -1, &fi);
	if (fi.fi_fd == -1 && fi.fi_errno != ENOENT) {
		rp->rp_err = fi.fi_errno;
		return;
	}
	if (fi.fi_fd != -1) {
		/* Before a digest is recorded: recording one unmarks a
		 * copy. */
		copy = file_is_copy(fi.fi_fd);
		have_d = replicate_digest_of(&fi, &d) == 0;
		if (have_d && !copy && digest_equal(&d, &w->rw_digest)) {
			if (file_origin_read(fi.fi_fd, &rp->rp_held_hlc,
			    rp->rp_held_origin, MEMBER_NAME_MAX) == -1)
				rp->rp_held_origin[0] = '\0';
			close(fi.fi_fd);
			rp->rp_dest = REP_DEST_HELD;
			return;
		}
		close(fi.fi_fd);
		if (copy) {
			struct index_identity iid = {
				fi.fi_id.id_dev, fi.fi_id.id_ino,
				fi.fi_id.id_size
			};
			/* A saved copy makes way for a durable replica. */
			if (file_remove_copy(r->r_root_fd, r->r_tmp_fd,
			    w->rw_name, &fi.fi_id) == -1) {
				rp->rp_err = errno;
				return;
			}
			(void)index_remove_if(r->r_index, w->rw_name,
			    w->rw_len, &iid, loop_wall_ms());
		} else if (w->rw_winner && have_d) {
			/* ROOT holds a loser: aside first; it stays
			 * announced (this node still holds it). */
			char hex[DIGEST_HEX_LEN + 1];

			if (versions_move(r->r_root_fd, r->r_state_fd,
			    w->rw_name, &d) == -1) {
				rp->rp_err = errno;
				return;
			}
			digest_hex(&d, hex);
			log_info("catalogue: %s version %s lost a conflict; "
			    "kept in %s/%s/%s", w->rw_name, hex,
			    r->r_cfg->state_dir, VERSIONS_DIR, hex);
		} else {
			goto aside;
		}
	}
	rp->rp_dest = REP_DEST_ROOT;
	return;
aside:
	rp->rp_tmp_fd = versions_tmp_open(r->r_state_fd, false);
	if (rp->rp_tmp_fd == -1) {
		rp->rp_err = errno;
		return;
	}
	rp->rp_dir_fd = versions_dir_open(r->r_state_fd, &w->rw_digest, true);
	if (rp->rp_dir_fd == -1) {
		rp->rp_err = errno;
		return;
	}
	rp->rp_dest = REP_DEST_ASIDE;
}

static void
replicate_on_deadline(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	replicate_fail(container_of(t, struct rep_pull, rp_timer),
	    "deadline passed");
}

/* -- the answer ---------------------------------------------------------- */

static void
replicate_on_head(struct peer_conn *pc, void *arg)
{
	struct rep_pull *rp = arg;
	const struct http_message *m = &pc->pc_resp;
	const struct http_header *h;
	char why[64];

	if (m->status != 200) {
		snprintf(why, sizeof(why), "answered %d", m->status);
		rp->rp_pc = NULL;
		peer_conn_discard(pc);
		replicate_fail(rp, why);
		return;
	}
	if (!m->has_content_length || m->content_length != rp->rp_want.rw_size) {
		replicate_fail(rp, "not the version's length");
		return;
	}
	h = http_find_header(m, REPLICA_ORIGIN_HEADER);
	if (h != NULL && replica_origin_parse(h->value.p, h->value.len,
	    &rp->rp_hlc, rp->rp_origin) == -1)
		rp->rp_origin[0] = '\0';
}

/* Moves the peer's bytes into spool buffers, as far as buffers are free;
 * the peer is told to go on when all of them are taken. */
static void
replicate_pump(struct rep_pull *rp)
{
	struct peer_conn *pc = rp->rp_pc;
	size_t len, n;
	char *data;

	if (pc == NULL || !rp->rp_waiting)
		return;
	data = peer_conn_data(pc);
	len = peer_conn_data_len(pc);
	while (rp->rp_data_off < len) {
		if (rp->rp_buf == NULL &&
		    (rp->rp_buf = spool_buffer(rp->rp_spool)) == NULL)
			return;		/* sh_written brings one back */
		n = len - rp->rp_data_off;
		if (n > SPOOL_BUF_SIZE - rp->rp_fill)
			n = SPOOL_BUF_SIZE - rp->rp_fill;
		memcpy(rp->rp_buf + rp->rp_fill, data + rp->rp_data_off, n);
		(void)XXH3_128bits_update(rp->rp_hash, data + rp->rp_data_off,
		    n);
		rp->rp_fill += n;
		rp->rp_data_off += n;
		rp->rp_got += n;
		if (rp->rp_fill == SPOOL_BUF_SIZE) {
			spool_write(rp->rp_spool, rp->rp_fill);
			rp->rp_buf = NULL;
			rp->rp_fill = 0;
		}
	}
	rp->rp_waiting = false;
	rp->rp_data_off = 0;
	/* May hand over more bytes at once (on_body again). */
	peer_conn_consumed(pc);
}

static void
replicate_on_body(struct peer_conn *pc, void *arg)
{
	struct rep_pull *rp = arg;

	(void)pc;
	if (rp->rp_got + peer_conn_data_len(pc) > rp->rp_want.rw_size) {
		replicate_fail(rp, "longer than the version");
		return;
	}
	rp->rp_waiting = true;
	rp->rp_data_off = 0;
	replicate_pump(rp);
}

static void
replicate_on_done(struct peer_conn *pc, void *arg)
{
	struct rep_pull *rp = arg;
	struct spool_publish how;
	XXH128_hash_t h;
	struct digest d;

	rp->rp_pc = NULL;
	peer_conn_release(pc);
	h = XXH3_128bits_digest(rp->rp_hash);
	d.d_hi = h.high64;
	d.d_lo = h.low64;
	if (rp->rp_got != rp->rp_want.rw_size ||
	    !digest_equal(&d, &rp->rp_want.rw_digest)) {
		replicate_fail(rp, "the bytes are not the version's");
		return;
	}
	if (rp->rp_fill > 0) {
		spool_write(rp->rp_spool, rp->rp_fill);
		rp->rp_buf = NULL;
		rp->rp_fill = 0;
	}
	if (rp->rp_origin[0] == '\0') {
		snprintf(rp->rp_origin, sizeof(rp->rp_origin), "%s",
		    rp->rp_want.rw_origin);
		rp->rp_hlc = rp->rp_want.rw_hlc;
	}
	memset(&how, 0, sizeof(how));
	how.name = rp->rp_want.rw_name;
	how.have_digest = true;
	how.digest = rp->rp_want.rw_digest;
	how.origin_hlc = rp->rp_hlc;
	how.origin_node = rp->rp_origin;
	rp->rp_publishing = true;
	spool_publish(rp->rp_spool, &how);
}

static void
replicate_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct rep_pull *rp = arg;
	static const char *const whys[] = {
		"refused", "timed out", "bad answer", "cut",
	};

	(void)pc;
	rp->rp_pc = NULL;
	replicate_fail(rp, (unsigned)why < 4 ? whys[why] : "failed");
}

static const struct peer_handler replicate_peer_handler = {
	.on_head = replicate_on_head,
	.on_body = replicate_on_body,
	.on_done = replicate_on_done,
	.on_fail = replicate_on_fail,
};

/* -- the spool ----------------------------------------------------------- */

static void
replicate_sp_opened(struct spool *sp, int err, void *arg)
{
	(void)sp;
	if (err != 0) {
		errno = err;
		log_warn("replication: a temporary file for %s",
		    ((struct rep_pull *)arg)->rp_want.rw_name);
		replicate_fail(arg, "no temporary file");
	}
}

static void
replicate_sp_written(struct spool *sp, int err, void *arg)
{
	struct rep_pull *rp = arg;

	(void)sp;
	if (err != 0) {
		errno = err;
		log_warn("replication: writing %s", rp->rp_want.rw_name);
		replicate_fail(rp, "write failed");
		return;
	}
	replicate_pump(rp);
}

static void
replicate_sp_published(struct spool *sp, int err, void *arg)
{
	struct rep_pull *rp = arg;
	struct replicate *r = rp->rp_rep;
	char hex[DIGEST_HEX_LEN + 1];

	(void)sp;
	rp->rp_spool = NULL;		/* it frees itself */
	if (err != 0) {
		replicate_fail(rp, err == EEXIST ? "the name was taken "
		    "meanwhile" : "publishing failed");
		return;
	}
	replicate_announce(r, &rp->rp_want, rp->rp_origin, rp->rp_hlc);
	replicate_count(&metrics_mine()->ms_replication_ok, 1);
	replicate_count(&metrics_mine()->ms_replication_bytes, rp->rp_got);
	digest_hex(&rp->rp_want.rw_digest, hex);
	log_debug("replication: %s version %s (%llu bytes) from %s%s",
	    rp->rp_want.rw_name, hex, (unsigned long long)rp->rp_got,
	    rp->rp_from, rp->rp_dest == REP_DEST_ASIDE ? ", kept aside" : "");
	replicate_end(rp, true);
}

static const struct spool_handler replicate_spool_handler = {
	.sh_opened = replicate_sp_opened,
	.sh_written = replicate_sp_written,
	.sh_published = replicate_sp_published,
};

/* -- starting ------------------------------------------------------------ */

static struct peer *
replicate_peer(struct replicate *r, const char *addr)
{
	struct peer_set *ps = gossip_agent_peers(r->r_ga);
	struct peer *p;

	if (ps == NULL)
		return NULL;
	peer_set_sync(ps);
	for (p = peer_set_first(ps); p != NULL; p = peer_set_next(ps, p))
		if (strcmp(p->p_name, addr) == 0)
			return p;
	return NULL;
}

/* Sends the signed request to a holder (the next one at each try). */
static int
replicate_send(struct rep_pull *rp)
{
	struct replicate *r = rp->rp_rep;
	struct cluster *cl = r->r_cl;
	const struct rep_want *w = &rp->rp_want;
	struct rep_fail *f = replicate_fail_find(r, w->rw_name, w->rw_len,
	    &w->rw_digest);
	char enc[3 * NAME_MAX_LEN + 1], hex[DIGEST_HEX_LEN + 1];
	char target[sizeof(enc) + 64], sig[AUTH_SIGNATURE_SIZE];
	uint8_t nonce[AUTH_NONCE_LEN];
	const char *holder;
	struct buf head = { 0 };
	struct peer *p;
	bool alive = false;

	holder = w->rw_holders[(f != NULL ? f->f_tries : 0) % w->rw_nholders];
	if (gossip_member_addr(cl, holder, rp->rp_from, sizeof(rp->rp_from),
	    &alive) == -1 || !alive ||
	    (p = replicate_peer(r, rp->rp_from)) == NULL || p->p_addrlen == 0)
		return -1;
	name_encode(w->rw_name, w->rw_len, enc, sizeof(enc));
	digest_hex(&w->rw_digest, hex);
	snprintf(target, sizeof(target), "/_/%s%s?version=%s", REPLICA_ROUTE,
	    enc, hex);
	if (auth_nonce(nonce) == -1 ||
	    auth_sign_request(cl->cl_key, cl->cl_name, "GET", target, NULL,
	    loop_wall_ms(), nonce, sig, sizeof(sig)) == -1) {
		log_warn("replication: signing");
		return -1;
	}
	buf_printf(&head, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\n%s: %s\r\n%s: %s\r\n\r\n",
	    target, p->p_name, AUTH_CLUSTER_HEADER, cl->cl_name,
	    AUTH_SIGNATURE_HEADER, sig);
	rp->rp_pc = peer_request(gossip_agent_peers(r->r_ga), p, head.data,
	    head.len, 0, r->r_cfg->peer_timeout_ms, &replicate_peer_handler,
	    rp);
	buf_free(&head);
	return 0;
}

static void
replicate_prepared(struct iopool_job *job)
{
	struct rep_pull *rp = container_of(job, struct rep_pull, rp_job);
	struct replicate *r = rp->rp_rep;

	rp->rp_job_busy = false;
	if (rp->rp_over)
		return;		/* abandoned meanwhile */
	switch (rp->rp_dest) {
	case REP_DEST_FAIL:
		errno = rp->rp_err;
		log_warn("replication: making room for %s", rp->rp_want.rw_name);
		replicate_fail(rp, "no room");
		return;
	case REP_DEST_HELD:
		/* Here already: the walk saw it before it was announced. */
		replicate_announce(r, &rp->rp_want, rp->rp_held_origin[0] ?
		    rp->rp_held_origin : rp->rp_want.rw_origin,
		    rp->rp_held_origin[0] ? rp->rp_held_hlc :
		    rp->rp_want.rw_hlc);
		replicate_end(rp, true);
		return;
	case REP_DEST_ROOT:
		spool_dir_init(&rp->rp_sd, r->r_pool, r->r_root_fd,
		    r->r_tmp_fd);
		break;
	case REP_DEST_ASIDE:
		spool_dir_init(&rp->rp_sd, r->r_pool, rp->rp_dir_fd,
		    rp->rp_tmp_fd);
		break;
	}
	rp->rp_sd_init = true;
	rp->rp_hash = XXH3_createState();
	if (rp->rp_hash == NULL || XXH3_128bits_reset(rp->rp_hash) ==
	    XXH_ERROR) {
		replicate_fail(rp, "out of memory");
		return;
	}
	rp->rp_spool = spool_create(&rp->rp_sd, "rep",
	    &replicate_spool_handler, rp);
	if (rp->rp_spool == NULL) {
		replicate_fail(rp, "no spool");
		return;
	}
	if (replicate_send(rp) == -1) {
		replicate_fail(rp, "no alive holder reachable");
		return;
	}
	loop_timer_set(r->r_loop, &rp->rp_timer,
	    replicate_deadline_ms(rp->rp_want.rw_size,
	    r->r_cfg->peer_timeout_ms), replicate_on_deadline);
}

static void
replicate_start_pull(struct replicate *r, const struct rep_want *w)
{
	struct rep_pull *rp = xcalloc(1, sizeof(*rp));

	rp->rp_rep = r;
	rp->rp_want = *w;
	rp->rp_dir_fd = rp->rp_tmp_fd = -1;
	list_insert_head(&r->r_pulls, &rp->rp_link);
	r->r_npulls++;
	rp->rp_job_busy = true;
	rp->rp_job.work = replicate_prepare;
	rp->rp_job.done = replicate_prepared;
	iopool_submit(r->r_pool, &rp->rp_job);
}

/* -- the tick -------------------------------------------------------------- */

static void
replicate_pull_free(struct rep_pull *rp)
{
	if (rp->rp_dir_fd != -1)
		close(rp->rp_dir_fd);
	if (rp->rp_tmp_fd != -1)
		close(rp->rp_tmp_fd);
	free(rp);
}

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

/*
 * The fast path (catalogue lock held): the facts each alive member
 * announced since the last tick, through the same deltas gossip uses,
 * have their names' versions visited at once, so that a new version is
 * pulled within a tick of its news, however long a walk of the whole
 * table takes. What came before a member was first seen here, or before
 * it restarted, is the walk's.
 */
static void
replicate_news_locked(struct replicate *r)
{
	struct cat_version_view v[REPLICATE_NAME_VERSIONS];
	struct cat_want w;
	struct cat_chunk ch;
	uint64_t inc, seq;
	size_t k, m, nv;
	int n, i;

	for (k = 0; k < r->r_nnodes; k++) {
		struct rep_owner *o = &r->r_owners[r->r_slots[k]];

		if (strcmp(r->r_nodes[k], r->r_self) == 0)
			continue;
		catalogue_owner_locked(r->r_cat, r->r_nodes[k], &inc, &seq);
		if (strcmp(o->ro_name, r->r_nodes[k]) != 0 ||
		    inc != o->ro_inc || seq < o->ro_seq) {
			snprintf(o->ro_name, sizeof(o->ro_name), "%s",
			    r->r_nodes[k]);
			o->ro_inc = inc;
			o->ro_seq = seq;
			continue;
		}
		if (seq == o->ro_seq)
			continue;
		memset(&w, 0, sizeof(w));
		memcpy(w.cw_owner, o->ro_name, sizeof(w.cw_owner));
		w.cw_inc = inc;
		/* A backlog (the member's facts still coming in) is the
		 * walk's; the latest facts are looked at now. */
		w.cw_after = seq - o->ro_seq > REPLICATE_NEWS_MAX ?
		    seq - REPLICATE_NEWS_MAX : o->ro_seq;
		n = catalogue_delta_locked(r->r_cat, &w, &ch, r->r_news,
		    REPLICATE_NEWS_MAX, SIZE_MAX);
		if (n <= 0 || ch.cc_from != w.cw_after) {
			o->ro_seq = seq;	/* a resync: the walk's */
			continue;
		}
		o->ro_seq = ch.cc_to;
		for (i = 0; i < n; i++) {
			if (r->r_news[i].cm_gone)
				continue;
			nv = catalogue_versions_locked(r->r_cat,
			    r->r_news[i].cm_name, r->r_news[i].cm_name_len, v,
			    REPLICATE_NAME_VERSIONS);
			for (m = 0; m < nv && m < REPLICATE_NAME_VERSIONS; m++)
				replicate_visit(r, &v[m]);
		}
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
	replicate_read_members(r);
	r->r_now = loop_now(loop);
	if (catalogue_lock(r->r_cat) == 0) {
		replicate_news_locked(r);
		catalogue_unlock(r->r_cat);
	}
	if (r->r_nqueue == 0 && catalogue_lock(r->r_cat) == 0) {
		before = r->r_cursor;
		r->r_walking = true;
		visited = catalogue_walk_locked(r->r_cat, &r->r_cursor,
		    REPLICATE_WALK_BUDGET, replicate_visit, r);
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
		replicate_start_pull(r, &r->r_queue[k]);
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
			replicate_end(container_of(it, struct rep_pull,
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
		replicate_end(container_of(it, struct rep_pull, rp_link),
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
