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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/gossip_msg.h"
#include "cluster/gossip_round.h"
#include "cluster/hlc.h"
#include "cluster/members.h"
#include "core/digest.h"
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
#define GOSSIP_SEED_BACKOFF_MIN_MS 1000
#define GOSSIP_SEED_BACKOFF_MAX_MS 30000
#define GOSSIP_SAVE_EVERY_MS 10000
#define GOSSIP_PATH "/_/gossip"
#define GOSSIP_CONFLICTS_MAX 256	/* logged and hooked per answer */

struct gossip_seed {
	char gs_name[PEER_NAME_MAX];	/* "host:port" */
	int64_t gs_next_ms;		/* not tried before */
	int64_t gs_backoff_ms;
};

/* A round's request body, shared by its exchanges. */
struct gossip_body {
	unsigned gb_refs;
	struct buf gb_json;
	uint8_t gb_digest[AUTH_DIGEST_LEN];
	struct cat_want gb_wants[GOSSIP_WANTS_MAX];	/* what it asks */
	size_t gb_nwants;
};

struct gossip_exchange {
	struct list ge_link;		/* ga_exchanges */
	struct gossip_agent *ge_agent;
	struct gossip_body *ge_body;
	struct peer_conn *ge_pc;
	int ge_seed;			/* index in ga_seeds, or -1 */
	uint8_t ge_nonce[AUTH_NONCE_LEN];
	bool ge_sent;			/* the body went out */
	int ge_status;
	char ge_sig[AUTH_SIGNATURE_SIZE];
	char ge_cluster[AUTH_CLUSTER_MAX + 1];
	struct buf ge_answer;
	bool ge_too_large;
};

/* A conflict an answer brought: the name, and both versions as the
 * catalogue shows them. */
struct gossip_conflict {
	char cf_name[NAME_MAX_LEN + 1];
	size_t cf_len;
	struct digest cf_digest[2];	/* the winner, the loser */
	char cf_origin[2][MEMBER_NAME_MAX];
	uint64_t cf_hlc[2];
};

struct gossip_conflicts {
	struct gossip_conflict *cs_list;
	size_t cs_n;
	size_t cs_dropped;		/* past GOSSIP_CONFLICTS_MAX */
};

/* The owners of the member table, as catalogue_wants_locked() reads
 * them; room for every member, made once. */
struct gossip_owners {
	char (*go_names)[MEMBER_NAME_MAX];
	const char **go_ptrs;
	uint64_t *go_inc;
	uint64_t *go_seq;
	size_t go_n;
};

struct gossip_agent {
	struct loop *ga_loop;
	const struct config *ga_cfg;
	struct cluster *ga_cl;
	struct peer_table *ga_peers;	/* the node's, shared */
	struct peer_table *ga_targets;	/* the agent's own */
	struct peer_set *ga_set;
	struct http_limits ga_limits;
	struct loop_timer ga_timer;
	struct rng ga_rng;
	uint64_t ga_version;		/* of the member table, last synced */
	uint64_t ga_saved_version;
	int64_t ga_saved_ms;
	struct gossip_seed *ga_seeds;
	size_t ga_nseeds;
	struct list ga_exchanges;
	size_t ga_answer_max;
	bool ga_stopping;
	struct gossip_owners ga_owners;
	gossip_conflict_fn *ga_on_conflict;
	void *ga_on_conflict_arg;
};

static void gossip_on_timer(struct loop *loop, struct loop_timer *t);

static void
gossip_body_put(struct gossip_body *gb)
{
	if (gb != NULL && --gb->gb_refs == 0) {
		buf_free(&gb->gb_json);
		free(gb);
	}
}

/* -- targets ---------------------------------------------------------- */

/* "host:port" or "[v6]:port" into host (len bytes at most, NUL
 * included) and port. Returns 0, or -1 when it is neither. */
static int
gossip_split_addr(const char *addr, char *host, size_t len, unsigned *port)
{
	const char *colon = strrchr(addr, ':'), *h = addr;
	size_t hlen;
	char *end;
	long p;

	if (colon == NULL)
		return -1;
	hlen = (size_t)(colon - addr);
	if (addr[0] == '[') {
		if (hlen < 2 || addr[hlen - 1] != ']')
			return -1;
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= len)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (unsigned)p;
	return 0;
}

/* Appends the spec of "host:port" `name` to spec[*n], resolved (a name is
 * looked up, blocking), and named as the member or seed names itself, so
 * that it is found again by that name. False when name is not an
 * address. */
static bool
gossip_spec(const char *name, struct peer_spec *spec, size_t *n)
{
	char host[PEER_NAME_MAX];
	const char *why;
	unsigned port;

	if (gossip_split_addr(name, host, sizeof(host), &port) == -1)
		return false;
	if (peer_spec_resolve(host, port, &spec[*n], &why) == -1)
		log_debug("gossip target %s: %s", name, why);
	snprintf(spec[*n].ps_name, sizeof(spec[*n].ps_name), "%s", name);
	(*n)++;
	return true;
}

static int
gossip_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the member table (as read into the sorted arg) has owner. */
static bool
gossip_known(void *arg, const char *owner)
{
	const struct gossip_owners *go = arg;

	return bsearch(&owner, go->go_ptrs, go->go_n, sizeof(*go->go_ptrs),
	    gossip_name_cmp) != NULL;
}

/* The catalogue forgets the facts of owners the member table forgot. */
static void
gossip_prune(struct gossip_agent *ga)
{
	struct cluster *cl = ga->ga_cl;
	struct members *mt = cl->cl_members;
	struct gossip_owners *go = &ga->ga_owners;
	size_t n;
	uint32_t i;

	if (members_lock(mt) != 0)
		return;
	go->go_n = 0;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (m->m_in_use) {
			memcpy(go->go_names[go->go_n], m->m_facts.mf_name,
			    MEMBER_NAME_MAX);
			go->go_ptrs[go->go_n] = go->go_names[go->go_n];
			go->go_n++;
		}
	}
	members_unlock(mt);
	qsort(go->go_ptrs, go->go_n, sizeof(*go->go_ptrs), gossip_name_cmp);
	if (catalogue_lock(cl->cl_catalogue) != 0)
		return;
	n = catalogue_prune_owners_locked(cl->cl_catalogue, gossip_known, go);
	catalogue_unlock(cl->cl_catalogue);
	if (n > 0)
		log_info("catalogue: %zu facts of forgotten members dropped", n);
}

/*
 * After a change of the member table, from one reading of it and one
 * lookup per member: the agent's targets (every member but this node and
 * those that left, and the seeds), and the gossip peers of the node's
 * peer table (the members alive or suspect, with the global save and
 * ttl), which workers ask on a miss. A member whose address is a static
 * peer's stays that peer, with its own save and ttl; the table knows the
 * peers of the configuration in force, which a reload of peers alone
 * changes under the agent.
 */
static void
gossip_sync(struct gossip_agent *ga, int64_t now_ms)
{
	struct members *mt = ga->ga_cl->cl_members;
	size_t cap = mt->mt_capacity + ga->ga_nseeds, n = 0, np = 0, k, j;
	char (*names)[MEMBER_ADDR_MAX] = calloc(cap, sizeof(*names));
	bool *live = calloc(cap, sizeof(*live));
	struct peer_spec *specs = calloc(cap, sizeof(*specs));
	struct peer_spec *peers = calloc(cap, sizeof(*peers));
	size_t nnames = 0;
	uint32_t i;

	if (names == NULL || live == NULL || specs == NULL || peers == NULL ||
	    members_lock(mt) == -1)
		goto out;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || i == mt->mt_self ||
		    m->m_state == MEMBER_LEFT)
			continue;
		live[nnames] = m->m_state <= MEMBER_SUSPECT;
		memcpy(names[nnames++], m->m_facts.mf_addr, MEMBER_ADDR_MAX);
	}
	ga->ga_version = mt->mt_version;
	members_unlock(mt);
	gossip_prune(ga);
	/* Looking names up may block: outside the lock. */
	for (k = 0; k < nnames; k++) {
		if (!gossip_spec(names[k], specs, &n) || !live[k] ||
		    peer_table_source_of(ga->ga_peers, names[k]) ==
		    PEER_SOURCE_CONFIG)
			continue;
		peers[np] = specs[n - 1];
		peers[np].ps_save = ga->ga_cfg->save;
		peers[np++].ps_ttl_ms = ga->ga_cfg->ttl_ms;
	}
	for (k = 0; k < ga->ga_nseeds; k++) {
		for (j = 0; j < nnames; j++)
			if (strcmp(names[j], ga->ga_seeds[k].gs_name) == 0)
				break;
		if (j == nnames)
			(void)gossip_spec(ga->ga_seeds[k].gs_name, specs, &n);
	}
	if (peer_table_replace(ga->ga_targets, PEER_SOURCE_GOSSIP, specs, n,
	    now_ms) == -1)
		log_warnx("gossip: more targets than the agent's table holds");
	if (peer_table_replace(ga->ga_peers, PEER_SOURCE_GOSSIP, peers, np,
	    now_ms) == -1)
		log_warnx("the peer table is full: some members are not asked "
		    "on a miss");
out:
	free(names);
	free(live);
	free(specs);
	free(peers);
}

static struct peer *
gossip_peer(struct gossip_agent *ga, const char *name)
{
	struct peer *p;

	peer_set_sync(ga->ga_set);
	for (p = peer_set_first(ga->ga_set); p != NULL;
	    p = peer_set_next(ga->ga_set, p))
		if (strcmp(p->p_name, name) == 0)
			return p;
	return NULL;
}

/* -- one exchange ----------------------------------------------------- */

static void
gossip_seed_result(struct gossip_agent *ga, int seed, bool ok)
{
	struct gossip_seed *s;

	if (seed < 0)
		return;
	s = &ga->ga_seeds[seed];
	if (ok) {
		s->gs_backoff_ms = 0;
		s->gs_next_ms = 0;
		return;
	}
	s->gs_backoff_ms = s->gs_backoff_ms == 0 ? GOSSIP_SEED_BACKOFF_MIN_MS :
	    s->gs_backoff_ms * 2;
	if (s->gs_backoff_ms > GOSSIP_SEED_BACKOFF_MAX_MS)
		s->gs_backoff_ms = GOSSIP_SEED_BACKOFF_MAX_MS;
	s->gs_next_ms = loop_now(ga->ga_loop) + s->gs_backoff_ms;
}

static void
gossip_exchange_end(struct gossip_exchange *ge, bool ok)
{
	struct gossip_agent *ga = ge->ge_agent;

	cluster_stat_add(ok ? &ga->ga_cl->cl_stats->cs_exchanges_ok :
	    &ga->ga_cl->cl_stats->cs_exchanges_failed, 1);
	gossip_seed_result(ga, ge->ge_seed, ok);
	list_remove(&ge->ge_link);
	gossip_body_put(ge->ge_body);
	buf_free(&ge->ge_answer);
	free(ge);
}

static void
gossip_copy_header(const struct http_message *m, const char *name,
    char *out, size_t cap)
{
	const struct http_header *h = http_find_header(m, name);

	out[0] = '\0';
	if (h != NULL && h->value.len < cap) {
		memcpy(out, h->value.p, h->value.len);
		out[h->value.len] = '\0';
	}
}

static void
gossip_on_head(struct peer_conn *pc, void *arg)
{
	struct gossip_exchange *ge = arg;

	/* The head's strings live until this returns: keep what the
	 * signature check needs. */
	ge->ge_status = pc->pc_resp.status;
	gossip_copy_header(&pc->pc_resp, AUTH_SIGNATURE_HEADER, ge->ge_sig,
	    sizeof(ge->ge_sig));
	gossip_copy_header(&pc->pc_resp, AUTH_CLUSTER_HEADER, ge->ge_cluster,
	    sizeof(ge->ge_cluster));
}

static void
gossip_on_body(struct peer_conn *pc, void *arg)
{
	struct gossip_exchange *ge = arg;
	size_t n = peer_conn_data_len(pc);

	if (ge->ge_answer.len + n > ge->ge_agent->ga_answer_max)
		ge->ge_too_large = true;
	else
		buf_append(&ge->ge_answer, peer_conn_data(pc), n);
	peer_conn_consumed(pc);
}

/* -- the catalogue's part of an answer ------------------------------- */

/* catalogue_conflict_fn: noted under the catalogue's lock, told after. */
static void
gossip_note_conflict(void *arg, const char *name, size_t len,
    const struct digest *winner, const struct digest *loser)
{
	struct gossip_conflicts *cs = arg;
	struct gossip_conflict *cf;

	if (cs->cs_n == GOSSIP_CONFLICTS_MAX || len > NAME_MAX_LEN) {
		cs->cs_dropped++;
		return;
	}
	cf = &cs->cs_list[cs->cs_n++];
	memset(cf, 0, sizeof(*cf));
	memcpy(cf->cf_name, name, len);
	cf->cf_len = len;
	cf->cf_digest[0] = *winner;
	cf->cf_digest[1] = *loser;
}

/* The origins and stamps of a conflict's two versions, from the
 * catalogue (its lock held). */
static void
gossip_conflict_versions_locked(struct catalogue *cat,
    struct gossip_conflict *cf)
{
	struct cat_version_view v[8];
	size_t n, k;
	int i;

	n = catalogue_versions_locked(cat, cf->cf_name, cf->cf_len, v, 8);
	for (k = 0; k < n && k < 8; k++)
		for (i = 0; i < 2; i++)
			if (digest_equal(&v[k].vv_digest, &cf->cf_digest[i])) {
				snprintf(cf->cf_origin[i],
				    sizeof(cf->cf_origin[i]), "%s",
				    v[k].vv_origin);
				cf->cf_hlc[i] = v[k].vv_hlc;
			}
}

/* A stamp from a clock too far ahead was not taken in: counted, and
 * said once a minute per origin. */
static void
gossip_stamp_refused(struct gossip_agent *ga, const struct cat_fact_msg *f,
    int64_t now_ms, int64_t wall_ms)
{
	struct cluster *cl = ga->ga_cl;

	if (cluster_skew_warn_due(cl, f->cm_origin, now_ms))
		log_warnx("cluster: %s stamped a version %.3f s ahead of this "
		    "node's clock (more than max_clock_skew): not taken into "
		    "the clock", f->cm_origin,
		    (double)(hlc_ms(f->cm_hlc) - wall_ms) / 1000);
}

/*
 * Applies the chunks of an answer, takes their stamps into the clock,
 * then logs the conflicts they brought and hands them to the hook.
 */
static void
gossip_apply_chunks(struct gossip_agent *ga, const struct gossip_msg *msg,
    int64_t now_ms, int64_t wall_ms)
{
	struct cluster *cl = ga->ga_cl;
	struct catalogue *cat = cl->cl_catalogue;
	int64_t skew = cl->cl_members->mt_params.mp_max_skew_ms;
	struct gossip_conflicts cs = { 0 };
	char hex[2][DIGEST_HEX_LEN + 1], when[2][CLUSTER_TIME_LEN];
	const char *refused = NULL;
	size_t i, k;

	if (msg->gm_nchunks == 0)
		return;
	cs.cs_list = xcalloc(GOSSIP_CONFLICTS_MAX, sizeof(*cs.cs_list));
	if (catalogue_lock(cat) != 0) {
		free(cs.cs_list);
		return;
	}
	for (i = 0; i < msg->gm_nchunks; i++)
		(void)catalogue_apply_locked(cat, &msg->gm_chunks[i].gc_chunk,
		    msg->gm_chunks[i].gc_facts, msg->gm_chunks[i].gc_nfacts,
		    gossip_note_conflict, &cs);
	for (k = 0; k < cs.cs_n; k++)
		gossip_conflict_versions_locked(cat, &cs.cs_list[k]);
	catalogue_unlock(cat);
	for (i = 0; i < msg->gm_nfacts; i++) {
		const struct cat_fact_msg *f = &msg->gm_facts[i];

		if (f->cm_gone || hlc_observe(cl->cl_hlc, f->cm_hlc, wall_ms,
		    skew))
			continue;
		/* A run of one origin's facts is said once. */
		if (refused == NULL || strcmp(refused, f->cm_origin) != 0)
			gossip_stamp_refused(ga, f, now_ms, wall_ms);
		refused = f->cm_origin;
	}
	for (k = 0; k < cs.cs_n; k++) {
		struct gossip_conflict *cf = &cs.cs_list[k];

		for (i = 0; i < 2; i++) {
			digest_hex(&cf->cf_digest[i], hex[i]);
			cluster_time_text(cf->cf_hlc[i], when[i],
			    sizeof(when[i]));
		}
		log_warnx("conflict: %s: %s (%s, %s) wins over %s (%s, %s)",
		    cf->cf_name, hex[0], cf->cf_origin[0], when[0], hex[1],
		    cf->cf_origin[1], when[1]);
		if (ga->ga_on_conflict != NULL)
			ga->ga_on_conflict(ga->ga_on_conflict_arg, cf->cf_name,
			    cf->cf_len, &cf->cf_digest[0], &cf->cf_digest[1]);
	}
	if (cs.cs_dropped > 0)
		log_warnx("conflict: %zu more in one answer, not told (see "
		    "/_/conflicts)", cs.cs_dropped);
	free(cs.cs_list);
}

/* The answer is whole: check it and merge it. */
static bool
gossip_take_answer(struct gossip_exchange *ge)
{
	struct gossip_agent *ga = ge->ge_agent;
	struct cluster *cl = ga->ga_cl;
	struct members *mt = cl->cl_members;
	uint8_t digest[AUTH_DIGEST_LEN];
	struct http_message head;
	struct gossip_msg msg;
	enum auth_verdict v;
	const char *why;
	int64_t wall = loop_wall_ms(), now = loop_now(ga->ga_loop);
	size_t i;

	if (ge->ge_status != 200 || ge->ge_too_large) {
		log_debug("gossip: %s answered %d%s", ge->ge_pc->pc_peer->p_name,
		    ge->ge_status, ge->ge_too_large ? " (too large)" : "");
		return false;
	}
	cluster_stat_add(&cl->cl_stats->cs_bytes_received, ge->ge_answer.len);
	/* The two headers the check reads, as a head of their own. */
	memset(&head, 0, sizeof(head));
	head.status = ge->ge_status;
	head.headers[0].name.p = AUTH_SIGNATURE_HEADER;
	head.headers[0].name.len = strlen(AUTH_SIGNATURE_HEADER);
	head.headers[0].value.p = ge->ge_sig;
	head.headers[0].value.len = strlen(ge->ge_sig);
	head.headers[1].name.p = AUTH_CLUSTER_HEADER;
	head.headers[1].name.len = strlen(AUTH_CLUSTER_HEADER);
	head.headers[1].value.p = ge->ge_cluster;
	head.headers[1].value.len = strlen(ge->ge_cluster);
	head.nheaders = ge->ge_cluster[0] != '\0' ? 2 : 1;
	if (auth_body_digest(ge->ge_answer.data, ge->ge_answer.len, digest) ==
	    -1)
		return false;
	v = auth_verify_answer(cl->cl_key, cl->cl_name, &head, digest, wall,
	    ge->ge_nonce);
	if (v != AUTH_OK) {
		log_debug("gossip: the answer of %s: %s",
		    ge->ge_pc->pc_peer->p_name, auth_verdict_reason(v));
		return false;
	}
	if (gossip_msg_decode(ge->ge_answer.data, ge->ge_answer.len,
	    mt->mt_capacity, &msg, &why) == -1) {
		log_debug("gossip: the answer of %s: %s",
		    ge->ge_pc->pc_peer->p_name, why);
		return false;
	}
	if (members_lock(mt) == 0) {
		for (i = 0; i < msg.gm_nnews; i++)
			(void)members_merge_locked(mt, &msg.gm_news[i], now,
			    wall);
		members_unlock(mt);
	}
	gossip_apply_chunks(ga, &msg, now, wall);
	gossip_msg_free(&msg);
	return true;
}

static void
gossip_on_done(struct peer_conn *pc, void *arg)
{
	struct gossip_exchange *ge = arg;
	bool ok = gossip_take_answer(ge);

	peer_conn_release(pc);
	gossip_exchange_end(ge, ok);
}

static void
gossip_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct gossip_exchange *ge = arg;

	log_debug("gossip: %s failed (%d)", pc->pc_peer->p_name, (int)why);
	gossip_exchange_end(ge, false);
}

static void
gossip_on_send(struct peer_conn *pc, void *arg)
{
	struct gossip_exchange *ge = arg;
	struct buf *json = &ge->ge_body->gb_json;

	if (!ge->ge_sent) {
		ge->ge_sent = true;
		(void)peer_conn_send(pc, json->data, json->len);
		return;
	}
	(void)peer_conn_send_end(pc);
}

static const struct peer_handler gossip_peer_handler = {
	.on_head = gossip_on_head,
	.on_body = gossip_on_body,
	.on_done = gossip_on_done,
	.on_fail = gossip_on_fail,
	.on_send = gossip_on_send,
};

/* Starts one exchange with the target `name`; returns 1, or 0 when it
 * cannot be reached. */
static int
gossip_send(struct gossip_agent *ga, struct gossip_body *gb,
    const char *name, int seed)
{
	struct cluster *cl = ga->ga_cl;
	struct gossip_exchange *ge;
	char sig[AUTH_SIGNATURE_SIZE];
	struct peer *p;
	struct buf head = { 0 };

	if ((p = gossip_peer(ga, name)) == NULL || p->p_addrlen == 0) {
		log_debug("gossip: %s cannot be reached (%s)", name,
		    p == NULL ? "not a target" : "no address");
		gossip_seed_result(ga, seed, false);
		return 0;
	}
	ge = xcalloc(1, sizeof(*ge));
	if (auth_nonce(ge->ge_nonce) == -1 ||
	    auth_sign_request(cl->cl_key, cl->cl_name, "POST", GOSSIP_PATH,
	    gb->gb_digest, loop_wall_ms(), ge->ge_nonce, sig,
	    sizeof(sig)) == -1) {
		log_warn("gossip: signing");
		free(ge);
		return 0;
	}
	ge->ge_agent = ga;
	ge->ge_body = gb;
	ge->ge_seed = seed;
	gb->gb_refs++;
	list_insert_head(&ga->ga_exchanges, &ge->ge_link);
	buf_printf(&head, "POST " GOSSIP_PATH " HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "%s: %s\r\n%s: %s\r\n\r\n", p->p_name, gb->gb_json.len,
	    AUTH_CLUSTER_HEADER, cl->cl_name, AUTH_SIGNATURE_HEADER, sig);
	cluster_stat_add(&cl->cl_stats->cs_bytes_sent, gb->gb_json.len);
	ge->ge_pc = peer_request(ga->ga_set, p, head.data, head.len,
	    PEER_REQ_BODY, ga->ga_cfg->peer_timeout_ms, &gossip_peer_handler,
	    ge);
	buf_free(&head);
	return 1;
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
		gossip_body_put(gb);
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
		gossip_sync(ga, now);
	if (want_seed)
		seed = gossip_pick_seed(ga, now);
	/* One body for all, unless the wants are shared out. */
	nbodies = n + (seed != -1);
	if (msg.gm_nwants == 0 || nbodies < 2)
		nbodies = 1;
	for (k = 0; k < n + (seed != -1); k++) {
		if (gb == NULL || nbodies > 1) {
			gossip_body_put(gb);
			if ((gb = gossip_body_for(&msg, k, nbodies)) == NULL)
				break;
		}
		sent += k < n ? gossip_send(ga, gb, names[k], -1) :
		    gossip_send(ga, gb, ga->ga_seeds[seed].gs_name, seed);
	}
	gossip_body_put(gb);
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
	gossip_sync(ga, loop_now(loop));
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
		gossip_body_put(ge->ge_body);
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
