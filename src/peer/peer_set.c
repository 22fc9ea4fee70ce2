/*
 * peer_set.c - a worker's view of the node's peers (see peer_set.h).
 * Loop thread only.
 *
 * A sync reads the active entries of the shared table and matches them to
 * the worker's peers by entry id: the same id and sequence is the same
 * peer, untouched; the same id with another sequence is the same peer
 * with a new address or new settings; an id not read any more is a peer
 * that left. Connections point at their struct peer (p_refs), so a peer
 * that left is freed only when the last of them is over.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "peer/peer.h"
#include "peer/peer_set.h"

struct peer_set *
peer_set_create(struct loop *loop, struct peer_table *table,
    const struct http_limits *limits, int64_t timeout_ms)
{
	struct peer_set *ps = xcalloc(1, sizeof(*ps));

	ps->ps_loop = loop;
	ps->ps_table = table;
	ps->ps_limits = limits;
	ps->ps_timeout_ms = timeout_ms;
	ps->ps_version = UINT64_MAX;	/* read at once */
	list_init(&ps->ps_peers);
	list_init(&ps->ps_conns);
	peer_set_sync(ps);
	return ps;
}

static void
peer_free(struct peer *p)
{
	free(p);
}

void
peer_hold(struct peer *p)
{
	p->p_refs++;
}

void
peer_release(struct peer *p)
{
	if (--p->p_refs == 0 && p->p_gone)
		peer_free(p);
}

/* Closes the idle connections of p (their peer moved or left). */
static void
peer_drop_idle(struct peer *p)
{
	struct list *l, *tmp;

	list_for_each_safe(l, tmp, &p->p_idle)
		peer_conn_close(container_of(l, struct peer_conn,
		    pc_idle_link));
}

/* p has a new address: its idle connections close, and those running
 * (to the old address) must not go back to its pool when they end. */
static void
peer_moved(struct peer_set *ps, struct peer *p)
{
	struct list *l;

	peer_drop_idle(p);
	list_for_each(l, &ps->ps_conns) {
		struct peer_conn *pc = container_of(l, struct peer_conn,
		    pc_link);

		if (pc->pc_peer == p)
			pc->pc_reusable = false;
	}
}

/* p leaves the set: out of the list now, freed with its last
 * connection. */
static void
peer_leave(struct peer_set *ps, struct peer *p)
{
	list_remove(&p->p_link);
	ps->ps_count--;
	p->p_gone = true;
	peer_drop_idle(p);
	if (p->p_refs == 0)
		peer_free(p);
}

static void
peer_take_view(struct peer *p, const struct peer_view *v)
{
	const struct peer_spec *s = &v->pv_spec;

	p->p_seq = v->pv_seq;
	memcpy(p->p_name, s->ps_name, sizeof(p->p_name));
	p->p_addr = s->ps_addr;
	p->p_addrlen = s->ps_addrlen;
	p->p_save = s->ps_save;
	p->p_ttl_ms = s->ps_ttl_ms;
}

void
peer_set_sync(struct peer_set *ps)
{
	size_t cap = peer_table_capacity(ps->ps_table), n, i;
	struct list old, *l, *tmp;
	struct peer_view *views;
	uint64_t version;

	if (peer_table_version(ps->ps_table) == ps->ps_version)
		return;
	views = xcalloc(cap, sizeof(*views));
	n = peer_table_read(ps->ps_table, views, cap, &version);
	/* Every peer moves from `old` back into the set as the table names
	 * it, in table order; what stays in `old` has left. */
	list_init(&old);
	list_for_each_safe(l, tmp, &ps->ps_peers) {
		list_remove(l);
		list_insert_tail(&old, l);
	}
	ps->ps_any_save = false;
	for (i = 0; i < n; i++) {
		const struct peer_view *v = &views[i];
		struct peer *p = NULL;

		list_for_each(l, &old) {
			struct peer *q = container_of(l, struct peer, p_link);

			if (q->p_id == v->pv_id) {
				p = q;
				break;
			}
		}
		if (p != NULL) {
			list_remove(&p->p_link);
			if (p->p_seq != v->pv_seq) {
				if (p->p_addrlen != v->pv_spec.ps_addrlen ||
				    memcmp(&p->p_addr, &v->pv_spec.ps_addr,
				    p->p_addrlen) != 0)
					peer_moved(ps, p);
				peer_take_view(p, v);
			}
		} else {
			p = xcalloc(1, sizeof(*p));
			p->p_set = ps;
			p->p_id = v->pv_id;
			p->p_entry = peer_table_entry(ps->ps_table, v->pv_slot);
			list_init(&p->p_idle);
			peer_take_view(p, v);
			ps->ps_count++;
		}
		list_insert_tail(&ps->ps_peers, &p->p_link);
		ps->ps_any_save |= p->p_save;
	}
	list_for_each_safe(l, tmp, &old)
		peer_leave(ps, container_of(l, struct peer, p_link));
	ps->ps_version = version;
	free(views);
}

size_t
peer_set_count(struct peer_set *ps)
{
	peer_set_sync(ps);
	return ps->ps_count;
}

bool
peer_set_any_save(struct peer_set *ps)
{
	peer_set_sync(ps);
	return ps->ps_any_save;
}

struct peer *
peer_set_first(struct peer_set *ps)
{
	struct list *l = list_first(&ps->ps_peers);

	return l == NULL ? NULL : container_of(l, struct peer, p_link);
}

struct peer *
peer_set_next(struct peer_set *ps, struct peer *p)
{
	return p->p_link.next == &ps->ps_peers ? NULL :
	    container_of(p->p_link.next, struct peer, p_link);
}

struct peer *
peer_set_find(struct peer_set *ps, const char *name)
{
	struct peer *p;

	peer_set_sync(ps);
	for (p = peer_set_first(ps); p != NULL; p = peer_set_next(ps, p))
		if (strcmp(p->p_name, name) == 0)
			return p;
	return NULL;
}

void
peer_set_free(struct peer_set *ps)
{
	struct list *l, *tmp;

	if (ps == NULL)
		return;
	/* Every connection first: each lets go of its peer. */
	peer_conn_free_all(ps);
	list_for_each_safe(l, tmp, &ps->ps_peers) {
		list_remove(l);
		peer_free(container_of(l, struct peer, p_link));
	}
	free(ps);
}
