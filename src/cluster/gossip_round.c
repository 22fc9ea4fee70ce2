/*
 * gossip_round.c - the agent's side of the cluster (see gossip_round.h).
 * Loop thread of the agent.
 *
 * A round encodes one request body (digest, this node's facts, hot news)
 * and sends it, signed anew for each, to every target of the round at
 * once over the peer client; each answer is checked (status, signature,
 * JSON) and merged as it comes. The targets live in a peer table of the
 * agent's own (members and seeds by "host:port"), so that connections to
 * them are kept alive between rounds; it is brought up to date, with the
 * node's shared peer table, whenever the member table's version moves.
 *
 * The catalogue rides on the rounds: each round this node's facts say
 * where its catalogue is (inc, seq), and the body asks for what this
 * node lacks of the others' catalogues (catalogue_wants_locked, from the
 * member table's cinc and cseq), the wants shared out among the round's
 * targets, so that each asks a different part, and an owner already
 * asked in an exchange still under way is not asked again (an answer may
 * take longer than a round). Each answer's chunks are
 * applied, their stamps taken into the node's clock, and the conflicts
 * they bring logged and handed to the hook, after every lock is let go.
 * The member table's lock and the catalogue's are never held together.
 *
 * This file is the round (its message, its targets, its bodies) and the
 * agent's life; gossip_targets.c keeps the agent's targets and the
 * node's gossip peers; gossip_exchange.c is one exchange, its answer
 * and the catalogue's chunks it brings. They share gossip_round_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/gossip_msg.h"
#include "cluster/gossip_round.h"
#include "cluster/gossip_round_int.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"

#define GOSSIP_PUSH_MAX 64		/* news pushed with a digest */
#define GOSSIP_MAX_TARGETS 40		/* per round, a seed included */
#define GOSSIP_SAVE_EVERY_MS 10000

static void gossip_on_timer(struct loop *loop, struct loop_timer *t);

void
gossip_round_body_put(struct gossip_body *gb)
{
	if (gb != NULL && --gb->gb_refs == 0) {
		buf_free(&gb->gb_json);
		free(gb);
	}
}

/* -- a round ----------------------------------------------------------- */

/* A seed to try now, at random among those due; -1 when none is. */
static int
gossip_pick_seed(struct gossip_agent *ga, int64_t now_ms)
{
	size_t k, due = 0;
	int pick = -1;

	for (k = 0; k < ga->ga_nseeds; k++)
		if (ga->ga_seeds[k].gs_next_ms <= now_ms &&
		    rng_below(&ga->ga_rng, ++due) == 0)
			pick = (int)k;
	return pick;
}

/* Whether an exchange under way asks for owner's facts. */
static bool
gossip_asked(struct gossip_agent *ga, const char *owner)
{
	struct list *l;
	size_t k;

	for (l = ga->ga_exchanges.next; l != &ga->ga_exchanges; l = l->next) {
		const struct gossip_exchange *ge = container_of(l,
		    struct gossip_exchange, ge_link);

		for (k = 0; k < ge->ge_body->gb_nwants; k++)
			if (strcmp(ge->ge_body->gb_wants[k].cw_owner,
			    owner) == 0)
				return true;
	}
	return false;
}

/* Keeps of w[0..n) the wants of owners no exchange under way asks for, at
 * most GOSSIP_WANTS_MAX; returns how many. */
static size_t
gossip_wants_not_asked(struct gossip_agent *ga, struct cat_want *w,
    size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k < GOSSIP_WANTS_MAX; i++)
		if (!gossip_asked(ga, w[i].cw_owner))
			w[k++] = w[i];
	return k;
}

/* Where this node's catalogue is, for its facts. */
static void
gossip_self_cat(struct cluster *cl, uint64_t *inc, uint64_t *seq)
{
	*inc = *seq = 0;
	if (catalogue_lock(cl->cl_catalogue) != 0)
		return;
	catalogue_self_seq_locked(cl->cl_catalogue, inc, seq);
	catalogue_unlock(cl->cl_catalogue);
}

/* The owners whose catalogues the member table announces (every member
 * but this node and those that left), under the table's lock. */
static void
gossip_owners_locked(struct gossip_agent *ga, struct members *mt)
{
	struct gossip_owners *go = &ga->ga_owners;
	uint32_t i;

	go->go_n = 0;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || i == mt->mt_self ||
		    m->m_state == MEMBER_LEFT || m->m_facts.mf_cat_inc == 0)
			continue;
		memcpy(go->go_names[go->go_n], m->m_facts.mf_name,
		    MEMBER_NAME_MAX);
		go->go_ptrs[go->go_n] = go->go_names[go->go_n];
		go->go_inc[go->go_n] = m->m_facts.mf_cat_inc;
		go->go_seq[go->go_n++] = m->m_facts.mf_cat_seq;
	}
}

/*
 * Fills this round's message (its arrays are the caller's: a digest line
 * per member, GOSSIP_PUSH_MAX news, 2 * GOSSIP_WANTS_MAX wants) and its
 * targets' addresses, under the locks one after the other. `fanout` is
 * the round's (twice the configured one for the last word). Returns 0,
 * or -1 when the table cannot be read.
 */
static int
gossip_prepare(struct gossip_agent *ga, int fanout, bool leave,
    struct gossip_msg *msg, char (*names)[MEMBER_ADDR_MAX],
    size_t *ntargets, bool *want_seed)
{
	struct cluster *cl = ga->ga_cl;
	struct members *mt = cl->cl_members;
	struct gossip_owners *go = &ga->ga_owners;
	uint32_t slots[GOSSIP_MAX_TARGETS];
	uint64_t cinc, cseq;
	size_t k;

	*ntargets = 0;
	gossip_self_cat(cl, &cinc, &cseq);
	if (members_lock(mt) == -1)
		return -1;
	if (leave)
		members_leave_locked(mt);
	else
		members_tick_locked(mt, loop_now(ga->ga_loop));
	if (cinc != 0)
		members_set_cat_seq_locked(mt, cinc, cseq);
	*ntargets = members_targets_locked(mt, fanout, &ga->ga_rng, slots,
	    GOSSIP_MAX_TARGETS - 1);
	for (k = 0; k < *ntargets; k++)
		memcpy(names[k], members_at(mt, slots[k])->m_facts.mf_addr,
		    MEMBER_ADDR_MAX);
	*want_seed = !leave && members_want_seed_locked(mt, &ga->ga_rng);
	msg->gm_ndigest = members_digest_locked(mt, msg->gm_digest,
	    mt->mt_capacity, &msg->gm_range);
	msg->gm_nnews = members_push_locked(mt, msg->gm_news, GOSSIP_PUSH_MAX);
	snprintf(msg->gm_from, sizeof(msg->gm_from), "%s",
	    members_self(mt)->m_facts.mf_name);
	if (!leave)
		gossip_owners_locked(ga, mt);
	members_unlock(mt);
	snprintf(msg->gm_cluster, sizeof(msg->gm_cluster), "%s", cl->cl_name);
	msg->gm_wall_ms = (uint64_t)loop_wall_ms();
	msg->gm_nwants = 0;
	if (!leave && go->go_n > 0 && catalogue_lock(cl->cl_catalogue) == 0) {
		msg->gm_nwants = catalogue_wants_locked(cl->cl_catalogue,
		    go->go_ptrs, go->go_inc, go->go_seq, go->go_n,
		    msg->gm_wants, 2 * GOSSIP_WANTS_MAX);
		catalogue_unlock(cl->cl_catalogue);
	}
	msg->gm_nwants = gossip_wants_not_asked(ga, msg->gm_wants,
	    msg->gm_nwants);
	return 0;
}

/*
 * The body for the round's target `j` of `n`: the message with the wants
 * j, j + n, j + 2n... (every target asks for a different part of what
 * this node lacks). NULL when it cannot be written.
 */
static struct gossip_body *
gossip_body_for(const struct gossip_msg *msg, size_t j, size_t n)
{
	struct gossip_body *gb = xcalloc(1, sizeof(*gb));
	struct cat_want part[GOSSIP_WANTS_MAX];
	struct gossip_msg m = *msg;
	size_t k;

	m.gm_wants = part;
	m.gm_nwants = 0;
	for (k = j; k < msg->gm_nwants; k += n)
		part[m.gm_nwants++] = msg->gm_wants[k];
	memcpy(gb->gb_wants, part, m.gm_nwants * sizeof(*part));
	gb->gb_nwants = m.gm_nwants;
	gb->gb_refs = 1;
	if (gossip_msg_encode(&m, &gb->gb_json) == -1 ||
	    auth_body_digest(gb->gb_json.data, gb->gb_json.len,
	    gb->gb_digest) == -1) {
		log_warnx("gossip: cannot write a round's message");
		gossip_round_body_put(gb);
		return NULL;
	}
	return gb;
}

/* Returns how many exchanges it started. */
static size_t
gossip_round(struct gossip_agent *ga, bool leave)
{
	struct members *mt = ga->ga_cl->cl_members;
	char (*names)[MEMBER_ADDR_MAX];
	int64_t now = loop_now(ga->ga_loop);
	struct cat_want wants[2 * GOSSIP_WANTS_MAX];
	struct gossip_body *gb = NULL;
	struct gossip_msg msg;
	size_t n, k, nbodies, sent = 0;
	bool want_seed;
	int seed = -1;

	memset(&msg, 0, sizeof(msg));
	names = calloc(GOSSIP_MAX_TARGETS, sizeof(*names));
	msg.gm_digest = calloc(mt->mt_capacity, sizeof(*msg.gm_digest));
	msg.gm_news = calloc(GOSSIP_PUSH_MAX, sizeof(*msg.gm_news));
	msg.gm_wants = wants;
	if (names == NULL || msg.gm_digest == NULL || msg.gm_news == NULL ||
	    gossip_prepare(ga, leave ? 2 * ga->ga_cfg->cluster.fanout :
	    ga->ga_cfg->cluster.fanout, leave, &msg, names, &n,
	    &want_seed) == -1)
		goto out;
	if (__atomic_load_n(&mt->mt_version, __ATOMIC_RELAXED) !=
	    ga->ga_version)
		gossip_targets_sync(ga, now);
	if (want_seed)
		seed = gossip_pick_seed(ga, now);
	/* One body for all, unless the wants are shared out. */
	nbodies = n + (seed != -1);
	if (msg.gm_nwants == 0 || nbodies < 2)
		nbodies = 1;
	for (k = 0; k < n + (seed != -1); k++) {
		if (gb == NULL || nbodies > 1) {
			gossip_round_body_put(gb);
			if ((gb = gossip_body_for(&msg, k, nbodies)) == NULL)
				break;
		}
		sent += k < n ? gossip_exchange_send(ga, gb, names[k], -1) :
		    gossip_exchange_send(ga, gb, ga->ga_seeds[seed].gs_name,
		    seed);
	}
	gossip_round_body_put(gb);
	cluster_stat_add(&ga->ga_cl->cl_stats->cs_rounds, 1);
	if (!leave && ga->ga_version != ga->ga_saved_version &&
	    now - ga->ga_saved_ms >= GOSSIP_SAVE_EVERY_MS) {
		if (cluster_save(ga->ga_cl) == -1)
			log_warn("saving %s", ga->ga_cl->cl_statefile);
		ga->ga_saved_version = ga->ga_version;
		ga->ga_saved_ms = now;
	}
out:
	free(names);
	free(msg.gm_digest);
	free(msg.gm_news);
	return sent;
}

static void
gossip_on_timer(struct loop *loop, struct loop_timer *t)
{
	struct gossip_agent *ga = container_of(t, struct gossip_agent,
	    ga_timer);
	int64_t interval = ga->ga_cfg->cluster.gossip_interval_ms;

	gossip_round(ga, false);
	/* A tenth of jitter, so that the nodes' rounds do not fall into
	 * step. */
	loop_timer_set(loop, &ga->ga_timer, interval - interval / 20 +
	    (int64_t)rng_below(&ga->ga_rng, (uint64_t)interval / 10 + 1),
	    gossip_on_timer);
}

/* -- life ---------------------------------------------------------------- */

struct gossip_agent *
gossip_agent_start(struct loop *loop, const struct config *cfg,
    struct cluster *cl, struct peer_table *peers)
{
	const struct config_cluster *cc = &cfg->cluster;
	struct gossip_agent *ga = xcalloc(1, sizeof(*ga));
	char self[MEMBER_ADDR_MAX];
	size_t k;

	ga->ga_loop = loop;
	ga->ga_cfg = cfg;
	ga->ga_cl = cl;
	ga->ga_peers = peers;
	list_init(&ga->ga_exchanges);
	rng_seed(&ga->ga_rng, (uint64_t)loop_wall_ms() ^
	    ((uint64_t)getpid() << 40));
	ga->ga_answer_max = gossip_body_max(cl->cl_members->mt_capacity);
	ga->ga_limits.max_request_line = cfg->http.max_request_line;
	ga->ga_limits.max_header_line = cfg->http.max_header_line;
	ga->ga_limits.max_headers = cfg->http.max_headers;
	ga->ga_limits.max_header_size = cfg->http.max_header_size;
	ga->ga_seeds = xcalloc(cc->nseeds + 1, sizeof(*ga->ga_seeds));
	cluster_self_addr(cfg, self, sizeof(self));
	for (k = 0; k < cc->nseeds; k++) {
		struct gossip_seed *s = &ga->ga_seeds[ga->ga_nseeds];

		peer_format_name(cc->seeds[k].host, cc->seeds[k].port,
		    s->gs_name, sizeof(s->gs_name));
		if (strcmp(s->gs_name, self) != 0)
			ga->ga_nseeds++;	/* not itself */
	}
	ga->ga_targets = peer_table_create(cl->cl_members->mt_capacity +
	    ga->ga_nseeds);
	if (ga->ga_targets == NULL) {
		log_err("gossip: the targets' table");
		free(ga->ga_seeds);
		free(ga);
		return NULL;
	}
	ga->ga_set = peer_set_create(loop, ga->ga_targets, &ga->ga_limits,
	    cfg->peer_timeout_ms);
	ga->ga_owners.go_names = xcalloc(cl->cl_members->mt_capacity,
	    sizeof(*ga->ga_owners.go_names));
	ga->ga_owners.go_ptrs = xcalloc(cl->cl_members->mt_capacity,
	    sizeof(*ga->ga_owners.go_ptrs));
	ga->ga_owners.go_inc = xcalloc(cl->cl_members->mt_capacity,
	    sizeof(*ga->ga_owners.go_inc));
	ga->ga_owners.go_seq = xcalloc(cl->cl_members->mt_capacity,
	    sizeof(*ga->ga_owners.go_seq));
	gossip_targets_sync(ga, loop_now(loop));
	loop_timer_set(loop, &ga->ga_timer, 0, gossip_on_timer);
	return ga;
}

bool
gossip_agent_busy(const struct gossip_agent *ga)
{
	return ga != NULL && !list_empty(&ga->ga_exchanges);
}

bool
gossip_agent_stop(struct gossip_agent *ga)
{
	if (ga == NULL)
		return false;
	if (!ga->ga_stopping) {
		ga->ga_stopping = true;
		loop_timer_cancel(ga->ga_loop, &ga->ga_timer);
		if (__atomic_load_n(&ga->ga_cl->cl_stats->cs_leaving,
		    __ATOMIC_RELAXED))
			log_info("cluster: leaving; telling %zu members",
			    gossip_round(ga, true));
	}
	return gossip_agent_busy(ga);
}

void
gossip_agent_free(struct gossip_agent *ga)
{
	if (ga == NULL)
		return;
	while (!list_empty(&ga->ga_exchanges)) {
		struct gossip_exchange *ge = container_of(list_first(
		    &ga->ga_exchanges), struct gossip_exchange, ge_link);

		peer_conn_close(ge->ge_pc);
		list_remove(&ge->ge_link);
		gossip_round_body_put(ge->ge_body);
		buf_free(&ge->ge_answer);
		free(ge);
	}
	loop_timer_cancel(ga->ga_loop, &ga->ga_timer);
	(void)cluster_save(ga->ga_cl);
	peer_set_free(ga->ga_set);
	peer_table_destroy(ga->ga_targets);
	free(ga->ga_seeds);
	free(ga->ga_owners.go_names);
	free(ga->ga_owners.go_ptrs);
	free(ga->ga_owners.go_inc);
	free(ga->ga_owners.go_seq);
	free(ga);
}

void
gossip_agent_on_conflict(struct gossip_agent *ga, gossip_conflict_fn *fn,
    void *arg)
{
	ga->ga_on_conflict = fn;
	ga->ga_on_conflict_arg = arg;
}

struct peer_set *
gossip_agent_peers(struct gossip_agent *ga)
{
	return ga->ga_set;
}

int
gossip_member_addr(struct cluster *cl, const char *name, char *out,
    size_t len, bool *alive)
{
	struct members *mt = cl->cl_members;
	const struct member *m;
	int rc = -1;

	if (members_lock(mt) != 0)
		return -1;
	if ((m = members_find_locked(mt, name)) != NULL) {
		snprintf(out, len, "%s", m->m_facts.mf_addr);
		*alive = m->m_state <= MEMBER_SUSPECT && !m->m_facts.mf_left;
		rc = 0;
	}
	members_unlock(mt);
	return rc;
}
