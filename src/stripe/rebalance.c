/*
 * rebalance.c - the rebalancer's choice of a move (see rebalance.h).
 * Pure; any process or thread, no shared state.
 */
#include <string.h>

#include "stripe/manifest.h"
#include "stripe/rebalance.h"

double
rebalance_fill(const struct rebalance_store *s)
{
	return 100.0 * (double)(s->rs_used + s->rs_moving) /
	    (double)s->rs_capacity;
}

double
rebalance_spread(const struct rebalance_store *st, size_t n)
{
	double lo = 0, hi = 0, f;
	size_t i;

	for (i = 0; i < n; i++) {
		f = rebalance_fill(&st[i]);
		if (i == 0 || f < lo)
			lo = f;
		if (i == 0 || f > hi)
			hi = f;
	}
	return hi - lo;
}

/* The index of node in st, or n. */
static size_t
rebalance_find(const struct rebalance_store *st, size_t n, const char *node)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(st[i].rs_node, node) == 0)
			return i;
	return n;
}

/* The target of part p moved from st[me], or n when it has none. */
static size_t
rebalance_target(const struct rebalance_store *st, size_t n, size_t me,
    const struct rebalance_part *p)
{
	const struct manifest *m = p->rp_m;
	uint64_t size = m->m_parts[p->rp_index].mp_size;
	struct rebalance_store after = st[me];
	double mine, best = 0, f;
	size_t i, t = n;
	unsigned k;

	for (k = 0; k < m->m_nparts; k++)
		if (k != p->rp_index &&
		    rebalance_find(st, n, m->m_parts[k].mp_node) == n)
			return n;	/* a store of the object is not alive */
	after.rs_used = after.rs_used > size ? after.rs_used - size : 0;
	/* A target qualifies when its fills before and after the move sum
	 * below the mover's: each move then lowers the sum over the stores
	 * of capacity times fill squared, so parts never go back and forth.
	 * It may end a little above the mover (a part over half the gap):
	 * refusing that left the spread above its bound for good when every
	 * part the fullest store could move was that large. */
	mine = rebalance_fill(&st[me]) + rebalance_fill(&after);
	for (i = 0; i < n; i++) {
		if (manifest_part_of(m, st[i].rs_node) >= 0 ||
		    st[i].rs_capacity < size || st[i].rs_used +
		    st[i].rs_moving > st[i].rs_capacity - size)
			continue;
		after = st[i];
		after.rs_moving += size;
		f = rebalance_fill(&after);
		if (rebalance_fill(&st[i]) + f >= mine)
			continue;
		if (t == n || f < best || (f == best &&
		    strcmp(st[i].rs_node, st[t].rs_node) < 0)) {
			t = i;
			best = f;
		}
	}
	return t;
}

size_t
rebalance_mover(const struct rebalance_store *st, size_t n, int spread)
{
	size_t i, top = n;
	double best = 0, f;

	if (rebalance_spread(st, n) <= (double)spread)
		return n;
	for (i = 0; i < n; i++) {
		f = rebalance_fill(&st[i]);
		if (top == n || f > best || (f == best &&
		    strcmp(st[i].rs_node, st[top].rs_node) < 0)) {
			top = i;
			best = f;
		}
	}
	return top;
}

bool
rebalance_choose(const char *self, const struct rebalance_store *st,
    size_t n, const struct rebalance_part *parts, size_t np, int spread,
    uint64_t rnd, struct rebalance_move *out)
{
	size_t me = rebalance_find(st, n, self), i, k, t;

	if (me == n || np == 0 || rebalance_mover(st, n, spread) != me)
		return false;	/* nothing to do, or another store moves */
	for (k = 0; k < np; k++) {
		i = (size_t)((rnd + k) % np);
		if ((t = rebalance_target(st, n, me, &parts[i])) < n) {
			out->rm_part = i;
			out->rm_store = t;
			return true;
		}
	}
	return false;
}
