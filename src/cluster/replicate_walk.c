/*
 * replicate_walk.c - what the agent's replication pulls (see
 * replicate.c): the walk of the catalogue a budget a tick, and its fast
 * path, the news of the members' facts since the last tick; a version
 * this node is chosen for and lacks is queued, unless a pull of it runs
 * or failed lately; a loser held here, or a replica now surplus, is
 * handed to the holdings. The agent's loop thread; the visits run under
 * the catalogue's lock, the members are read under the table's.
 */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/holdings.h"
#include "cluster/members.h"
#include "cluster/replicate.h"
#include "cluster/replicate_int.h"
#include "core/config.h"
#include "core/list.h"
#include "event/loop.h"

/* -- failures remembered ------------------------------------------------- */

static uint64_t
replicate_name_hash(const char *name, size_t len)
{
	return XXH3_64bits(name, len);
}

struct rep_fail *
replicate_walk_fail_find(struct replicate *r, const char *name, size_t len,
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

void
replicate_walk_fail_note(struct replicate *r, const struct rep_want *w)
{
	struct rep_fail *f = replicate_walk_fail_find(r, w->rw_name, w->rw_len,
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

void
replicate_walk_fail_forget(struct replicate *r, const struct rep_want *w)
{
	struct rep_fail *f = replicate_walk_fail_find(r, w->rw_name, w->rw_len,
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

void
replicate_walk_visit(void *arg, const struct cat_version_view *v)
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
	f = replicate_walk_fail_find(r, v->vv_name, v->vv_name_len,
	    &v->vv_digest);
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
void
replicate_walk_read_members(struct replicate *r)
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

/*
 * The fast path (catalogue lock held): the facts each alive member
 * announced since the last tick, through the same deltas gossip uses,
 * have their names' versions visited at once, so that a new version is
 * pulled within a tick of its news, however long a walk of the whole
 * table takes. What came before a member was first seen here, or before
 * it restarted, is the walk's.
 */
void
replicate_walk_news_locked(struct replicate *r)
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
				replicate_walk_visit(r, &v[m]);
		}
	}
}
