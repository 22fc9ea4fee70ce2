/*
 * miss.c - a local miss asked of the peers (loop thread; see miss.h).
 *
 * The shared index protocol, seen from a request: claim the fetch of the
 * name; CLAIMED: ask the peers, and the winner's relay saves the copy and
 * finishes the claim; BUSY: another request (in any worker) fetches it,
 * so stream its temporary file while it grows, once that fetch has
 * announced its fill (follow.c); until then (or when it announces none:
 * no length from the peer, no room in the table of fills) wait for its
 * entry to change (a cheap poll after 1, 2 and 4 ms, as a fill is most
 * often announced within a round trip to the peer, then every 10 ms; and
 * a new claim now and then so that a stalled fetch is taken over), then
 * claim again; NEGATIVE: 404
 * from a recent "nobody has it"; COPY: published since we looked, serve
 * it. A HEAD, or a node whose peers keep no copies, asks the peers
 * without claiming: there is no copy to wait for, nor a file to follow.
 * A peer whose `save` is false leaves no file either: its relay ends the
 * claim at once, and each waiter then fetches for itself.
 */
#include <poll.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/log.h"
#include "peer/fanout.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/follow.h"
#include "serve/miss.h"
#include "serve/relay.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/index.h"
#include "store/metrics.h"

#define MISS_WAIT_TICK_MS 10
#define MISS_WAIT_RECLAIM 25	/* ticks between claims regardless */
#define MISS_COPY_TRIES 2	/* "a copy is there" believed this often */

/* Holders asked first: one, the heaviest for the name (server_cluster
 * gives them in that order). Asking every holder would cost each of them
 * a lookup and a discarded answer per miss; when the one asked does not
 * have it, everyone is asked, the other holders included. */
#define MISS_HOLDERS_MAX 1

struct miss {
	struct conn *m_conn;
	struct fanout *m_fanout;	/* the peers being asked */
	bool m_asked_holders;		/* only the catalogue's holders */
	bool m_claimed;			/* this request fetches the name */
	uint64_t m_fetch_id;
	bool m_waited;			/* counted as a collapsed waiter */
	struct index_fetch m_wait;	/* the fetch it waits for */
	unsigned m_wait_ticks;
};

static void miss_claim(struct miss *m);

static struct server *
miss_srv(const struct miss *m)
{
	return m->m_conn->c_srv;
}

/* Ends the fetch this request claimed, when it has one. */
static void
miss_end_claim(struct miss *m, enum index_end how)
{
	struct server *s = miss_srv(m);
	int64_t now = loop_wall_ms();
	int64_t until = now + s->s_cfg->index.negative_ttl_ms;

	if (!m->m_claimed)
		return;
	m->m_claimed = false;
	if (how == INDEX_END_NEGATIVE && s->s_cfg->index.negative_ttl_ms == 0)
		how = INDEX_END_FAILED;
	(void)index_fetch_finish(s->s_index, m->m_conn->c_name,
	    m->m_conn->c_name_len, m->m_fetch_id, how, NULL, until, now);
}

/* The miss is over, one way or the other: nothing of it is left. */
static void
miss_free(struct miss *m)
{
	fanout_abort(m->m_fanout);
	miss_end_claim(m, INDEX_END_FAILED);
	free(m);
}

static void
miss_not_found(struct miss *m)
{
	struct conn *c = m->m_conn;

	metrics_add(&metrics_mine()->ms_peer_misses, 1);
	miss_free(m);
	conn_send_text(c, 404, "no such file here or on any peer", NULL);
}

/* A peer has the file: relay it, and keep a copy when that peer's `save`
 * says so (and this request holds the fetch of the name), unless the
 * file is a striped object (SERVER_STRIPED_HEADER): its stores keep it,
 * and a copy of it would be as large as the object. */
static void
miss_found(void *arg, struct peer_conn *pc)
{
	struct miss *m = arg;
	struct conn *c = m->m_conn;
	const struct peer *p = pc->pc_peer;
	bool claimed = m->m_claimed;
	bool save = p->p_save && claimed &&
	    http_find_header(&pc->pc_resp, SERVER_STRIPED_HEADER) == NULL;
	uint64_t fetch_id = m->m_fetch_id;

	m->m_fanout = NULL;
	metrics_add(&metrics_mine()->ms_peer_hits, 1);
	m->m_claimed = false;	/* the relay's now, or ended by it */
	free(m);
	relay_start(c, pc, save, p->p_ttl_ms, claimed, fetch_id);
}

static void miss_ask_everyone(struct miss *m);

static void
miss_missing(void *arg)
{
	struct miss *m = arg;

	m->m_fanout = NULL;
	if (m->m_asked_holders) {
		/* The holders said no, or could not: the catalogue may lag
		 * behind a removal, or they are down. Everyone, then. */
		m->m_asked_holders = false;
		metrics_add(&metrics_mine()->ms_miss_asks[
		    METRICS_ASK_AFTER_HOLDERS], 1);
		miss_ask_everyone(m);
		return;
	}
	miss_end_claim(m, INDEX_END_NEGATIVE);
	miss_not_found(m);
}

static void
miss_ask(struct miss *m, struct peer *const *only, size_t n)
{
	struct conn *c = m->m_conn;
	struct fanout_ask ask = {
		.fa_name = c->c_name,
		.fa_len = c->c_name_len,
		.fa_head = c->c_req.method == HTTP_METHOD_HEAD,
		.fa_version = c->c_has_version ? &c->c_version : NULL,
		.fa_only = only,
		.fa_nonly = n,
	};

	m->m_fanout = fanout_start(c->c_srv->s_peers, &ask, miss_found,
	    miss_missing, m);
}

static void
miss_ask_everyone(struct miss *m)
{
	miss_ask(m, NULL, 0);
}

/* A holder the catalogue names when it knows the name (a miss through
 * 64 members then costs about what a miss through one does), else every
 * peer and member at once. */
static void
miss_ask_peers(struct miss *m)
{
	struct conn *c = m->m_conn;
	struct server *s = c->c_srv;
	struct peer *holders[MISS_HOLDERS_MAX];
	size_t n = 0;
	bool known = false;

	if (s->s_cluster != NULL)
		n = s->s_cluster->sc_holders(s, c->c_name, c->c_name_len,
		    c->c_has_version ? &c->c_version : NULL, holders,
		    MISS_HOLDERS_MAX, &known);
	if (n == 0) {
		metrics_add(&metrics_mine()->ms_miss_asks[
		    METRICS_ASK_EVERYONE], 1);
		miss_ask_everyone(m);
		return;
	}
	m->m_asked_holders = true;
	metrics_add(&metrics_mine()->ms_miss_asks[METRICS_ASK_HOLDERS], 1);
	miss_ask(m, holders, n);
}

/* How long a waiter waits before its next look: short at first, since
 * every follower's first byte waits for the look that finds the fill. */
static int64_t
miss_wait_tick(const struct miss *m)
{
	return m->m_wait_ticks < 3 ? (int64_t)1 << m->m_wait_ticks :
	    MISS_WAIT_TICK_MS;
}

/* Another request fetches the name: look again when its entry changes
 * (or now and then, so that a stalled fetch is taken over). */
static void
miss_timeout(struct conn *c)
{
	struct miss *m = conn_owner(c);

	if (index_fetch_changed(c->c_srv->s_index, &m->m_wait) ||
	    ++m->m_wait_ticks % MISS_WAIT_RECLAIM == 0) {
		miss_claim(m);
		return;
	}
	conn_set_timer(c, miss_wait_tick(m));
}

/* The client hung up while the peers are asked, or while it waits. */
static void
miss_io(struct conn *c, short revents)
{
	struct miss *m = conn_owner(c);

	if (!(revents & (POLLERR | POLLHUP | POLLRDHUP)))
		return;
	miss_free(m);
	c->c_status = 499;	/* for the log: the client closed (as nginx) */
	conn_abort(c);
}

/* The connection is being freed (worker exit). */
static void
miss_close(struct conn *c)
{
	miss_free(conn_owner(c));
}

static const struct conn_handler miss_handler = {
	.on_io = miss_io,
	.on_timeout = miss_timeout,
	.on_close = miss_close,
};

static void
miss_claim(struct miss *m)
{
	struct conn *c = m->m_conn;
	struct server *s = c->c_srv;
	struct index_entry e;

	switch (index_fetch_claim(s->s_index, c->c_name, c->c_name_len,
	    s->s_pid, loop_wall_ms(), s->s_cfg->peer_timeout_ms, &e)) {
	case INDEX_CLAIMED:
		m->m_claimed = true;
		m->m_fetch_id = e.e_fetch.f_id;
		miss_ask_peers(m);
		return;
	case INDEX_CLAIM_BUSY:
		if (!m->m_waited)
			index_note_collapsed(s->s_index, 1);
		m->m_waited = true;
		if (follow_start(c, e.e_fetch.f_id)) {
			miss_free(m);	/* the connection is the follower's */
			return;
		}
		m->m_wait = e.e_fetch;
		conn_set_timer(c, miss_wait_tick(m));
		return;
	case INDEX_CLAIM_NEGATIVE:
		miss_not_found(m);
		return;
	case INDEX_CLAIM_COPY:
		/* Published since we looked: serve it (twice at most, in
		 * case the record is of a file since removed). */
		if (c->c_miss_tries++ < MISS_COPY_TRIES) {
			miss_free(m);
			conn_release(c);
			request_file_open(c);
			return;
		}
		break;
	case INDEX_CLAIM_EXPIRED:	/* the sweeper is about to remove it */
	case INDEX_CLAIM_FULL:
	case INDEX_CLAIM_ERROR:
		break;
	}
	miss_ask_peers(m);	/* relayed, but no copy kept */
}

void
miss_start(struct conn *c)
{
	struct server *s = c->c_srv;
	struct miss *m = xcalloc(1, sizeof(*m));

	m->m_conn = c;
	conn_own(c, &miss_handler, m);
	/* conn_own() watches nothing: without this, miss_io() would never
	 * hear a client that closes while the peers are asked or while it
	 * waits for another's fetch. */
	conn_wait_hangup(c);
	/* A version asked by digest is relayed, never kept: ROOT holds
	 * one version of a name, the winner. */
	if (c->c_req.method == HTTP_METHOD_HEAD || c->c_has_version ||
	    !peer_set_any_save(s->s_peers)) {
		miss_ask_peers(m);
		return;
	}
	miss_claim(m);
}
