/*
 * gossip_exchange.c - one exchange of a gossip round (see
 * gossip_round.c): the round's body sent, signed anew for its target,
 * over the agent's peer client; the answer read up to its bound, its
 * status, signature and JSON checked, its news merged into the member
 * table, its catalogue chunks applied, their stamps taken into the
 * node's clock, and the conflicts they bring logged and handed to the
 * hook, after every lock is let go; a seed's backoff kept. Loop thread
 * of the agent; the member table's lock and the catalogue's are taken
 * one after the other, never together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/gossip_msg.h"
#include "cluster/gossip_round_int.h"
#include "cluster/hlc.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/digest.h"
#include "core/list.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"

#define GOSSIP_SEED_BACKOFF_MIN_MS 1000
#define GOSSIP_SEED_BACKOFF_MAX_MS 30000
#define GOSSIP_PATH "/_/gossip"
#define GOSSIP_CONFLICTS_MAX 256	/* logged and hooked per answer */

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
	gossip_round_body_put(ge->ge_body);
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
int
gossip_exchange_send(struct gossip_agent *ga, struct gossip_body *gb,
    const char *name, int seed)
{
	struct cluster *cl = ga->ga_cl;
	struct gossip_exchange *ge;
	char sig[AUTH_SIGNATURE_SIZE];
	struct peer *p;
	struct buf head = { 0 };

	if ((p = gossip_targets_peer(ga, name)) == NULL || p->p_addrlen == 0) {
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
