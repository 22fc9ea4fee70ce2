/*
 * reserve_serve.c - reservations of names between members, over HTTP
 * (see cluster/reserve_serve.h). Loop thread of a worker; the table is
 * the node's shared one (cluster.h, cl_reserve), behind its lock.
 *
 * A round: this node's own reservation first, then one signed request
 * per member of the worker's peer set (the members alive or suspect that
 * gossip put there), all at once, each bounded by peer_timeout. A member
 * that does not answer is left out; one 409 loses the round; when every
 * member has answered or timed out, the round commits, unless a smaller
 * reservation of another node preempted it meanwhile (reserve.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/cluster_serve.h"
#include "cluster/members.h"
#include "cluster/reserve.h"
#include "cluster/reserve_serve.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "http/http.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/name.h"

#define RESERVE_PATH "reserve/"
#define RESERVE_REFUSAL_HEADER "Shoal-Refusal"
#define RESERVE_TARGET_MAX (3 * NAME_MAX_LEN + 3 * MEMBER_NAME_MAX + 64)

/* The cluster of this worker (one per process). */
static struct cluster *rs_cluster;

struct reserve_leg {
	struct server_reservation *rl_round;	/* NULL: a release */
	struct peer_conn *rl_pc;		/* NULL once over */
};

struct server_reservation {
	struct server *sr_srv;
	char sr_name[NAME_MAX_LEN + 1];
	size_t sr_len;
	uint64_t sr_hash;
	uint64_t sr_stamp;
	server_reserved_fn *sr_done;		/* NULL once reported */
	void *sr_arg;
	struct loop_timer sr_timer;		/* reports from the loop */
	int sr_status;
	const char *sr_reason;
	size_t sr_pending;
	size_t sr_nlegs;
	struct reserve_leg *sr_legs;
};

static const char *
reserve_self(void)
{
	return members_self(rs_cluster->cl_members)->m_facts.mf_name;
}

/* "/_/reserve/NAME?stamp=HEX&node=HEX" into out: the node's name in hex,
 * so that any member name travels as it is, signed with the target. */
static void
reserve_target(const char *name, size_t len, uint64_t stamp, char *out,
    size_t cap)
{
	char ename[3 * NAME_MAX_LEN + 1], enode[2 * MEMBER_NAME_MAX + 1];
	const char *self = reserve_self();
	size_t i;

	name_encode(name, len, ename, sizeof(ename));
	for (i = 0; self[i] != '\0' && i < MEMBER_NAME_MAX; i++)
		snprintf(enode + 2 * i, 3, "%02x", (unsigned char)self[i]);
	enode[2 * i] = '\0';
	snprintf(out, cap, "/_/" RESERVE_PATH "%s?stamp=%016" PRIx64
	    "&node=%s", ename, stamp, enode);
}

/* -- the client: a round, and releases ------------------------------ */

static const char *
reserve_refusal_reason(const struct http_message *resp)
{
	const struct http_header *h = http_find_header(resp,
	    RESERVE_REFUSAL_HEADER);

	if (h != NULL && h->value.len == 6 && memcmp(h->value.p, "exists",
	    6) == 0)
		return "the name exists in the cluster";
	if (h != NULL && h->value.len == 7 && memcmp(h->value.p, "earlier",
	    7) == 0)
		return reserve_verdict_reason(RESERVE_EARLIER);
	return "the name is being uploaded at another node";
}

static void
reserve_report(struct loop *loop, struct loop_timer *t)
{
	struct server_reservation *r = container_of(t,
	    struct server_reservation, sr_timer);
	server_reserved_fn *done = r->sr_done;

	(void)loop;
	r->sr_done = NULL;
	done(r->sr_arg, r->sr_status, r->sr_reason);
}

/* Every member answered or timed out: the round's verdict. */
static void
reserve_round_over(struct server_reservation *r)
{
	struct reserve_table *rt = rs_cluster->cl_reserve;
	bool won = false;

	if (r->sr_status == 0) {
		if (reserve_lock(rt) == 0) {
			won = reserve_commit_locked(rt, r->sr_hash, r->sr_stamp,
			    reserve_self());
			reserve_unlock(rt);
		}
		r->sr_status = won ? 200 : 409;
		if (!won)
			r->sr_reason = reserve_verdict_reason(RESERVE_EARLIER);
	}
	reserve_report(NULL, &r->sr_timer);
}

static void
reserve_timer_over(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	reserve_round_over(container_of(t, struct server_reservation,
	    sr_timer));
}

static void
reserve_leg_over(struct reserve_leg *l)
{
	struct server_reservation *r = l->rl_round;

	l->rl_pc = NULL;
	if (r == NULL) {
		free(l);	/* a release: nobody waits */
		return;
	}
	if (--r->sr_pending == 0 && r->sr_done != NULL)
		reserve_round_over(r);
}

static void
reserve_on_head(struct peer_conn *pc, void *arg)
{
	struct reserve_leg *l = arg;
	struct server_reservation *r = l->rl_round;

	if (r != NULL && pc->pc_resp.status == 409 && r->sr_status == 0) {
		r->sr_status = 409;
		r->sr_reason = reserve_refusal_reason(&pc->pc_resp);
	} else if (pc->pc_resp.status != 200 && pc->pc_resp.status != 409) {
		log_info("reserving a name: %s answered %d",
		    pc->pc_peer->p_name, pc->pc_resp.status);
	}
	peer_conn_discard(pc);
	reserve_leg_over(l);
}

static void
reserve_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	log_debug("reserving a name: %s failed (%d)", pc->pc_peer->p_name,
	    (int)why);
	reserve_leg_over(arg);
}

static void
reserve_on_end(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_close(pc);	/* handed over at the head: not ours */
}

static const struct peer_handler reserve_handler = {
	.on_head = reserve_on_head,
	.on_body = reserve_on_end,
	.on_done = reserve_on_end,
	.on_fail = reserve_on_fail,
};

/* Sends `method` of target to p for leg l. Returns false when it could
 * not be signed. */
static bool
reserve_send(struct server *s, struct peer *p, const char *method,
    const char *target, struct reserve_leg *l)
{
	struct cluster *cl = rs_cluster;
	uint8_t nonce[AUTH_NONCE_LEN];
	char sig[AUTH_SIGNATURE_SIZE];
	struct buf head = { 0 };

	if (auth_nonce(nonce) == -1 ||
	    auth_sign_request(cl->cl_key, cl->cl_name, method, target, NULL,
	    loop_wall_ms(), nonce, sig, sizeof(sig)) == -1)
		return false;
	buf_printf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\nContent-Length: 0\r\n"
	    "%s: %s\r\n%s: %s\r\n\r\n", method, target, p->p_name,
	    AUTH_CLUSTER_HEADER, cl->cl_name, AUTH_SIGNATURE_HEADER, sig);
	l->rl_pc = peer_request(s->s_peers, p, head.data, head.len, 0,
	    s->s_cfg->peer_timeout_ms, &reserve_handler, l);
	buf_free(&head);
	return true;
}

/* The members: the peers gossip put in the set. */
static bool
reserve_is_member(const struct peer *p)
{
	return p->p_entry->pe_source == PEER_SOURCE_GOSSIP;
}

struct server_reservation *
reserve_serve_start(struct server *s, const char *name, size_t len,
    uint64_t stamp, server_reserved_fn *done, void *arg)
{
	struct reserve_table *rt = rs_cluster->cl_reserve;
	struct server_reservation *r = xcalloc(1, sizeof(*r));
	char target[RESERVE_TARGET_MAX];
	enum reserve_verdict v = RESERVE_FULL;
	size_t n = peer_set_count(s->s_peers);
	struct peer *p;

	r->sr_srv = s;
	memcpy(r->sr_name, name, len);
	r->sr_len = len;
	r->sr_hash = reserve_hash(name, len);
	r->sr_stamp = stamp;
	r->sr_done = done;
	r->sr_arg = arg;
	r->sr_legs = xcalloc(n + 1, sizeof(*r->sr_legs));
	if (reserve_lock(rt) == 0) {
		v = reserve_begin_locked(rt, r->sr_hash, stamp, reserve_self(),
		    (int)s->s_pid, loop_wall_ms());
		reserve_unlock(rt);
	}
	if (v != RESERVE_GRANTED) {
		r->sr_status = 409;
		r->sr_reason = reserve_verdict_reason(v);
		loop_timer_set(s->s_loop, &r->sr_timer, 0, reserve_report);
		return r;
	}
	reserve_target(name, len, stamp, target, sizeof(target));
	for (p = peer_set_first(s->s_peers); p != NULL && r->sr_nlegs < n;
	    p = peer_set_next(s->s_peers, p)) {
		struct reserve_leg *l = &r->sr_legs[r->sr_nlegs];

		if (!reserve_is_member(p) || !peer_may_ask(s->s_peers, p))
			continue;
		l->rl_round = r;
		if (reserve_send(s, p, "POST", target, l)) {
			r->sr_nlegs++;
			r->sr_pending++;
		}
	}
	if (r->sr_pending == 0)		/* alone: the round is won here */
		loop_timer_set(s->s_loop, &r->sr_timer, 0, reserve_timer_over);
	return r;
}

/* Releases the name with every member, best effort: nobody waits. */
static void
reserve_release(struct server_reservation *r)
{
	struct server *s = r->sr_srv;
	char target[RESERVE_TARGET_MAX];
	struct peer *p;

	reserve_target(r->sr_name, r->sr_len, r->sr_stamp, target,
	    sizeof(target));
	for (p = peer_set_first(s->s_peers); p != NULL;
	    p = peer_set_next(s->s_peers, p)) {
		struct reserve_leg *l;

		if (!reserve_is_member(p) || !peer_may_ask(s->s_peers, p))
			continue;
		l = xcalloc(1, sizeof(*l));
		if (!reserve_send(s, p, "DELETE", target, l))
			free(l);
	}
}

void
reserve_serve_end(struct server *s, struct server_reservation *r,
    bool stored)
{
	struct reserve_table *rt = rs_cluster->cl_reserve;
	size_t i;

	if (r == NULL)
		return;
	loop_timer_cancel(s->s_loop, &r->sr_timer);
	for (i = 0; i < r->sr_nlegs; i++)
		if (r->sr_legs[i].rl_pc != NULL)
			peer_conn_discard(r->sr_legs[i].rl_pc);
	if (reserve_lock(rt) == 0) {
		reserve_end_locked(rt, r->sr_hash, r->sr_stamp, reserve_self());
		reserve_unlock(rt);
	}
	if (!stored)
		reserve_release(r);
	free(r->sr_legs);
	free(r);
}

/* -- the route ------------------------------------------------------- */

/* The value of `key` in the target's query, hex-decoded into out (cap
 * bytes, NUL included) when `hex`, else copied. */
static bool
reserve_query(const struct http_str *t, const char *key, bool hex,
    char *out, size_t cap)
{
	struct http_str v;
	size_t i;

	if (!http_query_value(t->p, t->len, key, &v))
		return false;
	if (!hex) {
		if (v.len >= cap)
			return false;
		memcpy(out, v.p, v.len);
		out[v.len] = '\0';
		return true;
	}
	if (v.len % 2 != 0 || v.len / 2 >= cap)
		return false;
	for (i = 0; i < v.len / 2; i++) {
		int hi = http_hex_digit((unsigned char)v.p[2 * i]);
		int lo = http_hex_digit((unsigned char)v.p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (char)(hi << 4 | lo);
	}
	out[i] = '\0';
	return true;
}

static void
reserve_answer(struct conn *c, enum reserve_verdict v)
{
	static const char *const refusal[] = {
		[RESERVE_EARLIER] = "earlier",
		[RESERVE_BUSY_HERE] = "busy",
		[RESERVE_FULL] = "full",
	};
	char extra[64];

	if (v == RESERVE_GRANTED) {
		conn_send_text(c, 200, "granted", NULL);
		return;
	}
	snprintf(extra, sizeof(extra), RESERVE_REFUSAL_HEADER ": %s\r\n",
	    refusal[v]);
	conn_send_text(c, 409, reserve_verdict_reason(v), extra);
}

static bool
reserve_known(const char *name, size_t len)
{
	struct catalogue *cat = rs_cluster->cl_catalogue;
	struct cat_version_view v;
	size_t n = 0;

	if (catalogue_lock(cat) == 0) {
		n = catalogue_versions_locked(cat, name, len, &v, 1);
		catalogue_unlock(cat);
	}
	return n > 0;
}

static void
reserve_route(struct conn *c, const char *path)
{
	struct reserve_table *rt = rs_cluster->cl_reserve;
	const char *name = path + strlen(RESERVE_PATH);
	size_t len = strlen(name);
	char node[MEMBER_NAME_MAX], hex[17];
	enum reserve_verdict v = RESERVE_FULL;
	uint64_t stamp;
	char *end;

	if (c->c_req.method != HTTP_METHOD_POST &&
	    c->c_req.method != HTTP_METHOD_DELETE) {
		request_skip_body(c);
		conn_send_text(c, 405, "method not allowed here",
		    "Allow: POST, DELETE\r\n");
		return;
	}
	if (!cluster_serve_signed(c, rs_cluster))
		return;
	if (!name_is_valid(name, len) ||
	    !reserve_query(&c->c_req.target, "node", true, node,
	    sizeof(node)) || !member_name_valid(node, sizeof(node)) ||
	    !reserve_query(&c->c_req.target, "stamp", false, hex,
	    sizeof(hex)) ||
	    strlen(hex) != 16 || (stamp = strtoull(hex, &end, 16), *end) !=
	    '\0') {
		conn_send_text(c, 400, "a reservation needs a valid name, "
		    "stamp (16 hex digits) and node", NULL);
		return;
	}
	if (c->c_req.method == HTTP_METHOD_DELETE) {
		if (reserve_lock(rt) == 0) {
			reserve_release_locked(rt, reserve_hash(name, len),
			    stamp, node);
			reserve_unlock(rt);
		}
		conn_send_text(c, 200, "released", NULL);
		return;
	}
	if (reserve_known(name, len)) {
		conn_send_text(c, 409, "the name exists in the cluster",
		    RESERVE_REFUSAL_HEADER ": exists\r\n");
		return;
	}
	if (reserve_lock(rt) == 0) {
		v = reserve_request_locked(rt, reserve_hash(name, len), stamp,
		    node, loop_wall_ms());
		reserve_unlock(rt);
	}
	reserve_answer(c, v);
}

static void
reserve_metrics(struct server *s, struct buf *out)
{
	struct reserve_table *rt = rs_cluster->cl_reserve;

	(void)s;
	buf_printf(out, "# HELP shoal_reservations_total Reservations of "
	    "names asked of this node by members, by verdict.\n"
	    "# TYPE shoal_reservations_total counter\n"
	    "shoal_reservations_total{verdict=\"granted\"} %llu\n"
	    "shoal_reservations_total{verdict=\"refused\"} %llu\n"
	    "# HELP shoal_reservations_preempted_total Uploads here that "
	    "gave the name up to an earlier one at another node.\n"
	    "# TYPE shoal_reservations_preempted_total counter\n"
	    "shoal_reservations_preempted_total %llu\n",
	    (unsigned long long)__atomic_load_n(&rt->rt_granted,
	    __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&rt->rt_refused,
	    __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&rt->rt_preempted,
	    __ATOMIC_RELAXED));
}

void
reserve_serve_routes(struct server *s, struct cluster *cl)
{
	rs_cluster = cl;
	(void)server_route(s, RESERVE_PATH, reserve_route);
	(void)server_metrics(s, reserve_metrics);
}
