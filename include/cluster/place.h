/*
 * place.h - where copies of an object go: rendezvous (highest random
 * weight) hashing of the name over the nodes. Every node that knows the
 * same set of nodes computes the same ranking without talking to any;
 * when a node leaves the set, only the objects it ranked high for move,
 * each to the next node of its own ranking.
 */
#ifndef SHOAL_CLUSTER_PLACE_H
#define SHOAL_CLUSTER_PLACE_H

#include <stddef.h>
#include <stdint.h>

/* The weight of node `node` for object name[0..len): a 64-bit hash of
 * both (XXH3-64 of the name seeded with a hash of the node's name). */
uint64_t place_weight(const char *node, const char *name, size_t len);

/*
 * Ranks nodes[0..n) for name[0..len): writes to order[0..k) the indices of
 * the k heaviest (heaviest first; ties by node name, bytewise, smaller
 * first), k = min(n, max). Returns k.
 */
size_t place_rank(const char *name, size_t len, const char *const *nodes,
    size_t n, size_t *order, size_t max);

#endif
