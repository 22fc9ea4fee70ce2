/*
 * rebalance.h - which part, if any, a store should move to another store
 * so that the stores' fill ratios (use / capacity) come within a spread:
 * the rebalancer's choice (stripe/rebalancer.h), apart from its I/O.
 *
 * Only the fullest store moves, one part at a time, each to the emptiest
 * store that holds no part of the object; so the stores of a cluster
 * that agree on their fills never pick one target together, and a
 * target's fill counts what is on its way to it.
 *
 * Pure: the caller gathers the alive stores and the parts it holds, and
 * passes the randomness; any process or thread.
 */
#ifndef SHOAL_STRIPE_REBALANCE_H
#define SHOAL_STRIPE_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct manifest;

struct rebalance_store {
	const char *rs_node;
	uint64_t rs_capacity;		/* > 0 */
	uint64_t rs_used;		/* as gossiped */
	uint64_t rs_moving;		/* bytes on their way to it, not yet
					   in its use */
};

/* Part rp_index of the object rp_m, held by the store choosing. */
struct rebalance_part {
	const struct manifest *rp_m;
	unsigned rp_index;
};

struct rebalance_move {
	size_t rm_part;			/* into the parts */
	size_t rm_store;		/* the target, into the stores */
};

/* The fill of store s ((used + moving) / capacity) in percentage points. */
double rebalance_fill(const struct rebalance_store *s);

/* The spread of the stores' fills (largest less smallest), in points;
 * 0 with fewer than two stores. */
double rebalance_spread(const struct rebalance_store *st, size_t n);

/* The store that should move a part now: when the spread exceeds
 * `spread` points, the fullest (ties: the lowest name); n otherwise. */
size_t rebalance_mover(const struct rebalance_store *st, size_t n,
    int spread);

/*
 * Whether store `self` (one of st[0..n)) should move one of its parts
 * now, and which where. Yes only when the spread exceeds `spread` points
 * and self is the fullest store (ties: the lowest name). Parts are tried
 * from parts[rnd % np] on, in turn; a part qualifies when every other
 * store of its object is among st (alive), and some store holding no
 * part of the object has room for it (capacity less use less moving)
 * and whose fills before and after the move sum below self's (each move
 * lowers the sum over the stores of capacity times fill squared, so
 * parts never go back and forth; the target may end a little above
 * self): the emptiest of those after the move (ties: the lowest name) is
 * its target. Returns true with *out for the first part that qualifies,
 * false when none does.
 */
bool rebalance_choose(const char *self, const struct rebalance_store *st,
    size_t n, const struct rebalance_part *parts, size_t np, int spread,
    uint64_t rnd, struct rebalance_move *out);

#endif
