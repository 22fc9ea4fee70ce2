/*
 * fanout.c - one name, every peer asked at once (loop thread).
 *
 * Each peer is a "leg" with its own peer_conn and deadline (peer_timeout),
 * all driven by the worker's poll loop: a slow or dead peer delays nothing
 * but its own leg. The first 200 wins; 404s and failures are counted per
 * peer; when no leg is left, the answer is 404. A peer resting after
 * timeouts (peer_asked) gets no leg. A 404, and the lookups
 * still running when another peer wins, are handed to peer_conn_discard():
 * a small answer is read on its own so that its connection goes back to
 * the pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "peer/fanout.h"
#include "peer/peer.h"
#include "proc/worker.h"
#include "serve/conn.h"
#include "store/metrics.h"
#include "store/name.h"

struct fanout_leg {
	struct fanout *l_fanout;
	struct peer_conn *l_pc;		/* NULL once the leg is over */
	size_t l_idx;			/* index of the peer */
};

struct fanout {
	struct conn *f_conn;
	fanout_found_cb *f_found;
	fanout_missing_cb *f_missing;
	size_t f_pending;		/* legs still running */
	size_t f_nlegs;
	struct fanout_leg f_legs[];
};

static void fanout_on_head(struct peer_conn *pc, void *arg);
static void fanout_on_body(struct peer_conn *pc, void *arg);
static void fanout_on_done(struct peer_conn *pc, void *arg);
static void fanout_on_fail(struct peer_conn *pc, enum peer_failure why,
    void *arg);

static const struct peer_handler fanout_handler = {
	fanout_on_head, fanout_on_body, fanout_on_done, fanout_on_fail,
};

static struct metrics_peer *
fanout_metrics(const struct fanout_leg *l)
{
	const struct worker *w = l->l_fanout->f_conn->c_worker;

	return metrics_peer(w->w_peers[l->l_idx].p_metrics);
}

static void
fanout_free(struct fanout *f)
{
	f->f_conn->c_fanout = NULL;
	free(f);
}

/* A leg is over; with none left and no winner, the answer is 404. */
static void
fanout_leg_over(struct fanout_leg *l)
{
	struct fanout *f = l->l_fanout;
	struct conn *c = f->f_conn;

	fanout_missing_cb *missing = f->f_missing;

	l->l_pc = NULL;
	if (--f->f_pending > 0)
		return;
	fanout_free(f);
	missing(c);
}

static void
fanout_on_head(struct peer_conn *pc, void *arg)
{
	struct fanout_leg *l = arg;
	struct fanout *f = l->l_fanout;
	struct conn *c = f->f_conn;
	struct metrics_peer *mp = fanout_metrics(l);
	fanout_found_cb *found = f->f_found;
	size_t i;

	metrics_peer_ttfb(c->c_worker->w_peers[l->l_idx].p_metrics,
	    (loop_now(c->c_worker->w_loop) - pc->pc_start_ms) * 1000);
	if (pc->pc_resp.status != 200) {
		if (mp != NULL)
			metrics_add(pc->pc_resp.status == 404 ?
			    &mp->mp_not_found : &mp->mp_bad_response, 1);
		if (pc->pc_resp.status != 404)
			log_debug("peer %s answered %d for %s",
			    c->c_worker->w_peers[l->l_idx].p_name,
			    pc->pc_resp.status, c->c_name);
		peer_conn_discard(pc);
		fanout_leg_over(l);
		return;
	}
	if (mp != NULL)
		metrics_add(&mp->mp_wins, 1);
	/* First hit: the other lookups end at once. Their answers are
	 * still read, when small, so that their connections stay pooled. */
	for (i = 0; i < f->f_nlegs; i++)
		if (&f->f_legs[i] != l && f->f_legs[i].l_pc != NULL)
			peer_conn_discard(f->f_legs[i].l_pc);
	fanout_free(f);
	found(c, pc);
}

/* Legs hand over at the head; these cannot happen while a leg is ours. */
static void
fanout_on_body(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_close(pc);
}

static void
fanout_on_done(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_close(pc);
}

static void
fanout_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct fanout_leg *l = arg;
	struct metrics_peer *mp = fanout_metrics(l);
	const char *what = "";

	(void)pc;
	switch (why) {
	case PEER_REFUSED:
		what = "refused";
		if (mp != NULL)
			metrics_add(&mp->mp_refused, 1);
		break;
	case PEER_TIMEOUT:
		what = "timed out";
		if (mp != NULL)
			metrics_add(&mp->mp_timeout, 1);
		break;
	case PEER_BAD_RESPONSE:
		what = "sent a bad response";
		if (mp != NULL)
			metrics_add(&mp->mp_bad_response, 1);
		break;
	case PEER_CUT:
		what = "cut the response";
		if (mp != NULL)
			metrics_add(&mp->mp_cut, 1);
		break;
	}
	log_info("lookup of %s: peer %s %s", l->l_fanout->f_conn->c_name,
	    l->l_fanout->f_conn->c_worker->w_peers[l->l_idx].p_name, what);
	fanout_leg_over(l);
}

void
fanout_start(struct conn *c, bool head, fanout_found_cb *found,
    fanout_missing_cb *missing)
{
	struct worker *w = c->c_worker;
	const struct config *cfg = w->w_cfg;
	char target[3 * NAME_MAX_LEN + 2];
	struct buf req = { 0 };
	struct fanout *f;
	size_t i;

	f = xcalloc(1, sizeof(*f) + cfg->npeers * sizeof(f->f_legs[0]));
	f->f_conn = c;
	f->f_found = found;
	f->f_missing = missing;
	f->f_nlegs = cfg->npeers;
	c->c_fanout = f;
	name_encode(c->c_name, c->c_name_len, target, sizeof(target));
	for (i = 0; i < cfg->npeers; i++) {
		struct fanout_leg *l = &f->f_legs[i];
		struct peer *p = &w->w_peers[i];
		struct metrics_peer *mp = metrics_peer(p->p_metrics);

		l->l_fanout = f;
		l->l_idx = i;
		if (!peer_asked(w, p)) {
			if (mp != NULL)
				metrics_add(&mp->mp_skipped, 1);
			continue;	/* resting after timeouts */
		}
		f->f_pending++;
		buf_reset(&req);
		buf_printf(&req, "%s /%s HTTP/1.1\r\nHost: %s\r\n"
		    PEER_LOOKUP_HEADER ": 1\r\nUser-Agent: shoal/" SHOAL_VERSION
		    "\r\n\r\n", head ? "HEAD" : "GET", target, p->p_name);
		if (mp != NULL)
			metrics_add(&mp->mp_lookups, 1);
		l->l_pc = peer_request(w, p, req.data, req.len, head,
		    cfg->peer_timeout_ms, &fanout_handler, l);
	}
	buf_free(&req);
	if (f->f_pending == 0) {	/* every peer rests */
		fanout_free(f);
		missing(c);
	}
}

void
fanout_abort(struct conn *c)
{
	struct fanout *f = c->c_fanout;
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->f_nlegs; i++)
		if (f->f_legs[i].l_pc != NULL)
			peer_conn_discard(f->f_legs[i].l_pc);
	fanout_free(f);
}
