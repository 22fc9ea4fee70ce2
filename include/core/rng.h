/*
 * rng.h - a small, fast, seedable pseudo-random generator (xorshift64*)
 * for choices that need to be spread, not secret: gossip targets, jitter,
 * a simulator's message loss. Cluster logic takes a struct rng as an
 * argument, so that a test replays a run exactly from its seed. Never for
 * keys or nonces (those come from libcrypto).
 */
#ifndef SHOAL_CORE_RNG_H
#define SHOAL_CORE_RNG_H

#include <stdint.h>

struct rng {
	uint64_t r_state;		/* never 0 */
};

static inline void
rng_seed(struct rng *r, uint64_t seed)
{
	/* Spread a small seed over the bits; 0 would stay 0. */
	seed = (seed ^ 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
	r->r_state = seed != 0 ? seed : 0x2545f4914f6cdd1dULL;
}

static inline uint64_t
rng_next(struct rng *r)
{
	uint64_t x = r->r_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->r_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n), n > 0 (the bias of the modulo is below 2^-32 for
 * every n the program uses). */
static inline uint64_t
rng_below(struct rng *r, uint64_t n)
{
	return (rng_next(r) >> 11) % n;
}

/* True with probability num/den. */
static inline int
rng_chance(struct rng *r, uint64_t num, uint64_t den)
{
	return den > 0 && rng_below(r, den) < num;
}

#endif
