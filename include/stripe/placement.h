/*
 * placement.h - which store nodes take the parts of a new striped object:
 * the `parts` stores with the most free bytes (capacity less use less
 * what uploads in flight have reserved there), ties broken by the
 * rendezvous weight of (object id, node) (cluster/place.h), then by node
 * name; always distinct nodes. The largest parts (the layout puts them
 * first) go to the stores with the most room. A store joins the choice
 * the moment it is known and empty: it has the most room.
 *
 * Pure: the caller gathers the stores (alive members with store true)
 * and their free bytes; any process or thread.
 */
#ifndef SHOAL_STRIPE_PLACEMENT_H
#define SHOAL_STRIPE_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

struct placement_store {
	const char *ps_node;
	uint64_t ps_free;		/* placement_free() */
};

/* capacity - use - reserved, or 0 when that is negative. */
uint64_t placement_free(uint64_t capacity, uint64_t use, uint64_t reserved);

/*
 * Chooses stores[chosen[i]] for part i, i < parts, where need[0..parts)
 * are the part sizes, largest first (stripe/layout.h). Returns `parts`
 * when every part has a distinct store with room for it; otherwise the
 * number of parts that could be placed (< parts), and chosen[] means
 * nothing: the upload is refused.
 */
unsigned placement_choose(const char *id, const struct placement_store *stores,
    size_t n, unsigned parts, const uint64_t *need, size_t *chosen);

#endif
