/*
 * place.c - rendezvous placement (see cluster/place.h). Pure functions,
 * any thread, no locks. The weight of (node, name) is XXH3-64 of the
 * name, seeded with XXH3-64 of the node's name: independent enough across
 * nodes that every node is first for about 1/n of the names, and a node
 * that goes away moves only the names it ranked for.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/place.h"

#define PLACE_STACK 64			/* weights kept on the stack */

uint64_t
place_weight(const char *node, const char *name, size_t len)
{
	return XXH3_64bits_withSeed(name, len, XXH3_64bits(node,
	    strlen(node)));
}

/* Whether (wa, a) ranks before (wb, b): heavier, then the smaller name. */
static int
place_before(uint64_t wa, const char *a, uint64_t wb, const char *b)
{
	if (wa != wb)
		return wa > wb;
	return strcmp(a, b) < 0;
}

size_t
place_rank(const char *name, size_t len, const char *const *nodes,
    size_t n, size_t *order, size_t max)
{
	uint64_t stack[PLACE_STACK], *w = stack, wi;
	size_t k = n < max ? n : max, got = 0, i, j;

	if (k == 0)
		return 0;
	if (k > PLACE_STACK && (w = malloc(k * sizeof(*w))) == NULL) {
		/* No memory for the weights of a long ranking: give the
		 * part that fits on the stack, still in order. */
		w = stack;
		k = PLACE_STACK;
	}
	/* An insertion into the k best so far: n * k at worst, and k is
	 * the replica count in every use. */
	for (i = 0; i < n; i++) {
		wi = place_weight(nodes[i], name, len);
		if (got == k && !place_before(wi, nodes[i], w[k - 1],
		    nodes[order[k - 1]]))
			continue;
		j = got < k ? got++ : k - 1;
		for (; j > 0 && place_before(wi, nodes[i], w[j - 1],
		    nodes[order[j - 1]]); j--) {
			w[j] = w[j - 1];
			order[j] = order[j - 1];
		}
		w[j] = wi;
		order[j] = i;
	}
	if (w != stack)
		free(w);
	return got;
}
