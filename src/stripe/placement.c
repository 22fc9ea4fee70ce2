/*
 * placement.c - choosing the stores of a striped object (see
 * placement.h). Pure, any thread, no locks.
 *
 * Greedy on the most free bytes is also the only choice that can fail
 * no better: with the stores sorted by room and the parts by size, if the
 * k-th store cannot hold the k-th part, then k + 1 parts of at least that
 * size would need the k stores that have more room.
 */
#include <string.h>

#include "cluster/place.h"
#include "stripe/placement.h"

uint64_t
placement_free(uint64_t capacity, uint64_t use, uint64_t reserved)
{
	if (use >= capacity || reserved >= capacity - use)
		return 0;
	return capacity - use - reserved;
}

struct candidate {
	size_t c_index;
	uint64_t c_free;
	uint64_t c_weight;
};

/* Whether a ranks before b: more room, heavier, then the smaller name. */
static int
placement_before(const struct candidate *a, const struct candidate *b,
    const struct placement_store *stores)
{
	if (a->c_free != b->c_free)
		return a->c_free > b->c_free;
	if (a->c_weight != b->c_weight)
		return a->c_weight > b->c_weight;
	return strcmp(stores[a->c_index].ps_node,
	    stores[b->c_index].ps_node) < 0;
}

unsigned
placement_choose(const char *id, const struct placement_store *stores,
    size_t n, unsigned parts, const uint64_t *need, size_t *chosen)
{
	struct candidate best[64], c;
	size_t got = 0, i, j, k = parts < 64 ? parts : 64;
	unsigned placed;

	for (i = 0; i < n; i++) {
		c.c_index = i;
		c.c_free = stores[i].ps_free;
		c.c_weight = place_weight(stores[i].ps_node, id, strlen(id));
		if (got == k && !placement_before(&c, &best[k - 1], stores))
			continue;
		j = got < k ? got++ : k - 1;
		for (; j > 0 && placement_before(&c, &best[j - 1], stores); j--)
			best[j] = best[j - 1];
		best[j] = c;
	}
	for (placed = 0; placed < got; placed++) {
		if (best[placed].c_free < need[placed])
			break;
		chosen[placed] = best[placed].c_index;
	}
	return placed;
}
