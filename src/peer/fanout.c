/*
 * fanout.c - one name, every peer (or the holders the catalogue names)
 * asked at once (loop thread).
 *
 * Each peer is a "leg" with its own peer_conn and deadline (peer_timeout),
 * all driven by the worker's loop: a slow or dead peer delays nothing but
 * its own leg. The first 200 wins; 404s and failures are counted per
 * peer; when no leg is left, the answer is "missing". A peer resting after
 * timeouts (peer_may_ask) gets no leg. A 404, and the lookups still
 * running when another peer wins, are handed to peer_conn_discard(): a
 * small answer is read on its own so that its connection goes back to
 * the pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/fanout.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "store/name.h"

struct fanout_leg {
	struct fanout *l_fanout;
	struct peer_conn *l_pc;		/* NULL once the leg is over */
	struct peer *l_peer;		/* held while the leg runs */
};

struct fanout {
	struct peer_set *f_set;
	char f_name[NAME_MAX_LEN + 1];	/* for the log */
	fanout_found_cb *f_found;
	fanout_missing_cb *f_missing;
	void *f_arg;
	struct loop_timer f_timer;	/* "missing" when no leg started */
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
	.on_head = fanout_on_head,
	.on_body = fanout_on_body,
	.on_done = fanout_on_done,
	.on_fail = fanout_on_fail,
};

static struct peer_stats *
fanout_stats(const struct fanout_leg *l)
{
	return &l->l_peer->p_entry->pe_stats;
}

/* Lets go of every peer and frees the fanout; the legs are over. */
static void
fanout_free(struct fanout *f)
{
	size_t i;

	loop_timer_cancel(f->f_set->ps_loop, &f->f_timer);
	for (i = 0; i < f->f_nlegs; i++)
		if (f->f_legs[i].l_peer != NULL)
			peer_release(f->f_legs[i].l_peer);
	free(f);
}

static void
fanout_report_missing(struct fanout *f)
{
	fanout_missing_cb *missing = f->f_missing;
	void *arg = f->f_arg;

	fanout_free(f);
	missing(arg);
}

/* A leg is over; with none left and no winner, the name is missing. */
static void
fanout_leg_over(struct fanout_leg *l)
{
	struct fanout *f = l->l_fanout;

	l->l_pc = NULL;
	if (--f->f_pending == 0)
		fanout_report_missing(f);
}

static void
fanout_on_head(struct peer_conn *pc, void *arg)
{
	struct fanout_leg *l = arg;
	struct fanout *f = l->l_fanout;
	struct peer_stats *st = fanout_stats(l);
	fanout_found_cb *found = f->f_found;
	void *found_arg = f->f_arg;
	size_t i;

	peer_stats_ttfb(st, (loop_now(f->f_set->ps_loop) - pc->pc_start_ms) *
	    1000);
	if (pc->pc_resp.status != 200) {
		peer_stats_add(pc->pc_resp.status == 404 ? &st->st_not_found :
		    &st->st_bad_response, 1);
		if (pc->pc_resp.status != 404)
			log_debug("peer %s answered %d for %s",
			    l->l_peer->p_name, pc->pc_resp.status, f->f_name);
		peer_conn_discard(pc);
		fanout_leg_over(l);
		return;
	}
	peer_stats_add(&st->st_wins, 1);
	/* First hit: the other lookups end at once. Their answers are
	 * still read, when small, so that their connections stay pooled. */
	for (i = 0; i < f->f_nlegs; i++)
		if (&f->f_legs[i] != l && f->f_legs[i].l_pc != NULL)
			peer_conn_discard(f->f_legs[i].l_pc);
	fanout_free(f);
	found(found_arg, pc);
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
	struct peer_stats *st = fanout_stats(l);
	const char *what = "";

	(void)pc;
	switch (why) {
	case PEER_REFUSED:
		what = "refused";
		peer_stats_add(&st->st_refused, 1);
		break;
	case PEER_TIMEOUT:
		what = "timed out";
		peer_stats_add(&st->st_timeout, 1);
		break;
	case PEER_BAD_RESPONSE:
		what = "sent a bad response";
		peer_stats_add(&st->st_bad_response, 1);
		break;
	case PEER_CUT:
		what = "cut the response";
		peer_stats_add(&st->st_cut, 1);
		break;
	}
	log_info("lookup of %s: peer %s %s", l->l_fanout->f_name,
	    l->l_peer->p_name, what);
	fanout_leg_over(l);
}

static void
fanout_on_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	fanout_report_missing(container_of(t, struct fanout, f_timer));
}

/* Starts the leg of peer p: `head` or GET of path ("/NAME?QUERY"). The
 * request is put together in one buffer for the process (loop thread
 * only; peer_request copies it), by appending: no allocation and no
 * format per lookup. */
static void
fanout_leg_start(struct fanout *f, struct peer *p, const char *path,
    bool head)
{
	static struct buf req;
	struct fanout_leg *l = &f->f_legs[f->f_nlegs++];
	struct peer_stats *st = &p->p_entry->pe_stats;

	l->l_fanout = f;
	if (!peer_may_ask(f->f_set, p)) {
		peer_stats_add(&st->st_skipped, 1);
		return;		/* resting after timeouts */
	}
	l->l_peer = p;
	peer_hold(p);
	f->f_pending++;
	peer_stats_add(&st->st_lookups, 1);
	buf_reset(&req);
	buf_append_str(&req, head ? "HEAD " : "GET ");
	buf_append_str(&req, path);
	buf_append_str(&req, " HTTP/1.1\r\nHost: ");
	buf_append_str(&req, p->p_name);
	buf_append_str(&req, "\r\n" PEER_LOOKUP_HEADER ": 1\r\nUser-Agent: "
	    "shoal/" SHOAL_VERSION "\r\n\r\n");
	l->l_pc = peer_request(f->f_set, p, req.data, req.len,
	    head ? PEER_REQ_HEAD : 0, f->f_set->ps_timeout_ms,
	    &fanout_handler, l);
}

struct fanout *
fanout_start(struct peer_set *ps, const struct fanout_ask *ask,
    fanout_found_cb *found, fanout_missing_cb *missing, void *arg)
{
	char path[3 * NAME_MAX_LEN + DIGEST_HEX_LEN + 16];
	char hex[DIGEST_HEX_LEN + 1];
	size_t plen;
	struct fanout *f;
	struct peer *p;
	size_t n = ask->fa_only != NULL ? ask->fa_nonly : peer_set_count(ps);
	size_t k;

	f = xcalloc(1, sizeof(*f) + n * sizeof(f->f_legs[0]));
	f->f_set = ps;
	/* f is zeroed: the name stays terminated. */
	memcpy(f->f_name, ask->fa_name, ask->fa_len < NAME_MAX_LEN ?
	    ask->fa_len : NAME_MAX_LEN);
	f->f_found = found;
	f->f_missing = missing;
	f->f_arg = arg;
	path[0] = '/';
	plen = 1 + name_encode(ask->fa_name, ask->fa_len, path + 1,
	    sizeof(path) - 1);
	if (ask->fa_version != NULL) {
		digest_hex(ask->fa_version, hex);
		snprintf(path + plen, sizeof(path) - plen, "?version=%s", hex);
	}
	if (ask->fa_only != NULL)
		for (k = 0; k < n; k++)
			fanout_leg_start(f, ask->fa_only[k], path, ask->fa_head);
	else
		for (p = peer_set_first(ps); p != NULL && f->f_nlegs < n;
		    p = peer_set_next(ps, p))
			fanout_leg_start(f, p, path, ask->fa_head);
	if (f->f_pending == 0)	/* no peer, or every one rests */
		loop_timer_set(ps->ps_loop, &f->f_timer, 0, fanout_on_timer);
	return f;
}

void
fanout_abort(struct fanout *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->f_nlegs; i++)
		if (f->f_legs[i].l_pc != NULL)
			peer_conn_discard(f->f_legs[i].l_pc);
	fanout_free(f);
}
