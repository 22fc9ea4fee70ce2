/*
 * gossip_serve.c - a worker's side of the cluster: POST /_/gossip (one
 * exchange another member started: its signed digest and news in, the
 * news it lacks out, signed), GET /_/cluster (the member table as JSON)
 * and the cluster's families of /_/metrics. Loop thread.
 *
 * A gossip request is refused before its body is read when it names
 * another cluster (403) or announces a body larger than any exchange
 * needs (413); after, when its signature does not hold (401, or 503 when
 * the nonce cache is full) or its JSON is not a gossip message (400).
 * Nothing of a refused request is merged.
 *
 * The answer also carries the catalogue's chunks the request wants
 * (catalogue_delta_locked), within GOSSIP_CAT_BUDGET for all of them.
 * The member table's lock and the catalogue's are taken one after the
 * other, never one inside the other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/catalogue_serve.h"
#include "cluster/cluster.h"
#include "cluster/gossip_msg.h"
#include "cluster/gossip_serve.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "event/loop.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "serve/small_body.h"

#define GOSSIP_ANSWER_MAX 256		/* news in one answer */
/* Facts in one answer: the budget's worth of the shortest. */
#define GOSSIP_ANSWER_FACTS (GOSSIP_CAT_BUDGET / \
	(CATALOGUE_FACT_WIRE_BYTES + 1) + GOSSIP_WANTS_MAX)

/* The cluster of this worker (one per process). */
static struct cluster *gossip_cluster;

struct gossip_in {
	struct conn *gi_conn;
	struct small_body gi_body;
};

static void
gossip_refuse(struct conn *c, enum cluster_refusal why, int status,
    const char *reason)
{
	cluster_stat_add(&gossip_cluster->cl_stats->cs_refused[why], 1);
	log_debug("gossip from %s refused: %s", c->c_addr, reason);
	conn_send_text(c, status, reason, status == 503 ?
	    "Retry-After: 1\r\n" : NULL);
}

static void
gossip_in_free(struct gossip_in *gi)
{
	buf_free(&gi->gi_body.sb_body);
	free(gi);
}

/*
 * The chunks for the wants of `in`, into out (gm_chunks and gm_facts
 * allocated, for gossip_msg_free()): one per want this table can serve
 * with something new, the budget shared by all in order.
 */
static void
gossip_cat_answer(struct cluster *cl, const struct gossip_msg *in,
    struct gossip_msg *out)
{
	struct catalogue *cat = cl->cl_catalogue;
	size_t used = 0, spent = 0, i, k;
	struct gossip_chunk *gc;
	int n;

	if (in->gm_nwants == 0)
		return;
	out->gm_chunks = calloc(in->gm_nwants, sizeof(*out->gm_chunks));
	out->gm_facts = malloc(GOSSIP_ANSWER_FACTS * sizeof(*out->gm_facts));
	if (out->gm_chunks == NULL || out->gm_facts == NULL ||
	    catalogue_lock(cat) != 0) {
		free(out->gm_chunks);
		free(out->gm_facts);
		out->gm_chunks = NULL;
		out->gm_facts = NULL;
		return;
	}
	for (i = 0; i < in->gm_nwants && spent < GOSSIP_CAT_BUDGET &&
	    used < GOSSIP_ANSWER_FACTS; i++) {
		gc = &out->gm_chunks[out->gm_nchunks];
		n = catalogue_delta_locked(cat, &in->gm_wants[i], &gc->gc_chunk,
		    out->gm_facts + used, GOSSIP_ANSWER_FACTS - used,
		    GOSSIP_CAT_BUDGET - spent);
		/* An empty delta says nothing; an empty resync says the
		 * owner holds nothing now, which the asker must hear. */
		if (n < 0 || (n == 0 && gc->gc_chunk.cc_from != 0)) {
			memset(gc, 0, sizeof(*gc));
			continue;
		}
		gc->gc_facts = out->gm_facts + used;
		gc->gc_nfacts = (size_t)n;
		for (k = 0; k < gc->gc_nfacts; k++)
			spent += CATALOGUE_FACT_WIRE_BYTES +
			    gc->gc_facts[k].cm_name_len;
		used += (size_t)n;
		out->gm_nchunks++;
	}
	catalogue_unlock(cat);
	out->gm_nfacts = used;
}

/*
 * The sender's clock ("t") against this node's: off by more than
 * max_clock_skew is counted, and said once a minute per member.
 */
static void
gossip_check_clock(struct cluster *cl, const struct gossip_msg *in,
    int64_t now_ms, int64_t wall_ms)
{
	struct members *mt = cl->cl_members;
	int64_t skew, max = mt->mt_params.mp_max_skew_ms;

	if (in->gm_wall_ms == 0)
		return;
	skew = (int64_t)in->gm_wall_ms - wall_ms;
	if (skew <= max && skew >= -max)
		return;
	if (cluster_skew_warn_due(cl, in->gm_from, now_ms))
		log_warnx("cluster: the clock of %s is %+.3f s off this "
		    "node's (more than max_clock_skew, %.3f s)", in->gm_from,
		    (double)skew / 1000, (double)max / 1000);
}

/* The whole body is in: check it, merge it, answer. */
static void
gossip_answer(struct gossip_in *gi)
{
	struct cluster *cl = gossip_cluster;
	struct conn *c = gi->gi_conn;
	struct members *mt = cl->cl_members;
	uint8_t digest[AUTH_DIGEST_LEN], req_nonce[AUTH_NONCE_LEN];
	uint8_t nonce[AUTH_NONCE_LEN];
	int64_t now = loop_now(c->c_srv->s_loop), wall = loop_wall_ms();
	struct gossip_msg in, out;
	struct member_news *news;
	struct buf body = { 0 };
	char extra[2 * AUTH_SIGNATURE_SIZE + 128];
	char sig[AUTH_SIGNATURE_SIZE];
	enum auth_verdict v;
	const char *why = NULL;
	struct rng rng;
	size_t i;

	cluster_stat_add(&cl->cl_stats->cs_bytes_received,
	    gi->gi_body.sb_body.len);
	if (auth_body_digest(gi->gi_body.sb_body.data,
	    gi->gi_body.sb_body.len, digest) == -1)
		v = AUTH_ERROR;
	else
		v = auth_verify_request(cl->cl_key, cl->cl_name, &c->c_req,
		    digest, wall, cl->cl_nonces, req_nonce);
	if (v != AUTH_OK) {
		gossip_in_free(gi);
		gossip_refuse(c, cluster_refusal_of(v), auth_verdict_status(v),
		    auth_verdict_reason(v));
		return;
	}
	if (gossip_msg_decode(gi->gi_body.sb_body.data,
	    gi->gi_body.sb_body.len, mt->mt_capacity, &in, &why) == -1) {
		gossip_in_free(gi);
		gossip_refuse(c, CLUSTER_REFUSED_MALFORMED, 400, why);
		return;
	}
	gossip_in_free(gi);
	if (strcmp(in.gm_cluster, cl->cl_name) != 0) {
		gossip_msg_free(&in);
		gossip_refuse(c, CLUSTER_REFUSED_OTHER_CLUSTER, 403,
		    "another cluster");
		return;
	}
	news = calloc(GOSSIP_ANSWER_MAX, sizeof(*news));
	memset(&out, 0, sizeof(out));
	rng_seed(&rng, (uint64_t)wall ^ ((uint64_t)c->c_srv->s_pid << 32));
	if (news == NULL || members_lock(mt) == -1) {
		free(news);
		gossip_msg_free(&in);
		conn_send_text(c, 500, "cannot reach the member table", NULL);
		return;
	}
	for (i = 0; i < in.gm_nnews; i++)
		(void)members_merge_locked(mt, &in.gm_news[i], now, wall);
	members_merge_digest_locked(mt, in.gm_digest, in.gm_ndigest, now,
	    wall);
	out.gm_nnews = members_answer_locked(mt, in.gm_digest, in.gm_ndigest,
	    &in.gm_range, news, GOSSIP_ANSWER_MAX, &rng);
	snprintf(out.gm_from, sizeof(out.gm_from), "%s",
	    members_self(mt)->m_facts.mf_name);
	members_unlock(mt);
	gossip_check_clock(cl, &in, now, wall);
	gossip_cat_answer(cl, &in, &out);
	gossip_msg_free(&in);
	snprintf(out.gm_cluster, sizeof(out.gm_cluster), "%s", cl->cl_name);
	out.gm_news = news;
	out.gm_range.mr_hi = UINT32_MAX;	/* an answer has no digest */
	if (gossip_msg_encode(&out, &body) == -1 ||
	    auth_body_digest(body.data, body.len, digest) == -1 ||
	    auth_nonce(nonce) == -1 ||
	    auth_sign_answer(cl->cl_key, cl->cl_name, 200, req_nonce, digest,
	    wall, nonce, sig, sizeof(sig)) == -1) {
		gossip_msg_free(&out);
		buf_free(&body);
		conn_send_text(c, 500, "cannot sign the answer", NULL);
		return;
	}
	gossip_msg_free(&out);
	snprintf(extra, sizeof(extra), "%s: %s\r\n%s: %s\r\n"
	    "Cache-Control: no-store\r\n", AUTH_CLUSTER_HEADER, cl->cl_name,
	    AUTH_SIGNATURE_HEADER, sig);
	cluster_stat_add(&cl->cl_stats->cs_bytes_sent, body.len);
	conn_send_body(c, "application/json", extra, body.data, body.len);
	buf_free(&body);
}

/* The body is in, or was refused (413 and 400 are counted). */
static void
gossip_body_in(struct conn *c, struct small_body *sb, int status,
    const char *reason)
{
	struct gossip_in *gi = container_of(sb, struct gossip_in, gi_body);

	if (status == 0) {
		gossip_answer(gi);
		return;
	}
	gossip_in_free(gi);
	if (status == 413 || status == 400) {
		cluster_stat_add(&gossip_cluster->cl_stats->cs_refused[
		    status == 413 ? CLUSTER_REFUSED_TOO_LARGE :
		    CLUSTER_REFUSED_MALFORMED], 1);
		log_debug("gossip from %s refused: %s", c->c_addr, reason);
	}
}

static void
gossip_route(struct conn *c, const char *path)
{
	struct cluster *cl = gossip_cluster;
	const struct http_header *h;
	struct gossip_in *gi;

	(void)path;
	if (c->c_req.method != HTTP_METHOD_POST) {
		request_skip_body(c);
		conn_send_text(c, 405, "method not allowed here",
		    "Allow: POST\r\n");
		return;
	}
	h = http_find_header(&c->c_req, AUTH_CLUSTER_HEADER);
	if (h != NULL && (h->value.len != strlen(cl->cl_name) ||
	    memcmp(h->value.p, cl->cl_name, h->value.len) != 0)) {
		request_skip_body(c);
		gossip_refuse(c, CLUSTER_REFUSED_OTHER_CLUSTER, 403,
		    "another cluster");
		return;
	}
	gi = calloc(1, sizeof(*gi));
	if (gi == NULL) {
		request_skip_body(c);
		conn_send_text(c, 503, "out of memory", NULL);
		return;
	}
	gi->gi_conn = c;
	gi->gi_body.sb_max = gossip_body_max(cl->cl_members->mt_capacity);
	gi->gi_body.sb_what = "gossip body";
	gi->gi_body.sb_done = gossip_body_in;
	small_body_read(c, &gi->gi_body);
}

static void
cluster_route(struct conn *c, const char *path)
{
	struct buf body = { 0 };

	(void)path;
	if (!request_node_read_only(c))
		return;
	cluster_render_json(gossip_cluster, loop_now(c->c_srv->s_loop), &body);
	conn_send_body(c, "application/json", "Cache-Control: no-store\r\n",
	    body.data, body.len);
	buf_free(&body);
}

static void
gossip_metrics(struct server *s, struct buf *out)
{
	cluster_render_metrics(gossip_cluster, loop_now(s->s_loop), out);
}

void
gossip_serve_routes(struct server *s, struct cluster *cl)
{
	gossip_cluster = cl;
	(void)server_route(s, "gossip", gossip_route);
	(void)server_route(s, "cluster", cluster_route);
	catalogue_serve_routes(s, cl);
	(void)server_metrics(s, gossip_metrics);
}
