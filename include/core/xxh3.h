/*
 * xxh3.h - XXH3-128 over a stream of bytes (the content digest of
 * core/digest.h), on the fastest code this CPU runs: the xxhash library
 * (built for any x86-64), or, on a CPU with AVX2, the library's own AVX2
 * code compiled into xxh3.c, which takes half the CPU per byte. Both give
 * the same digest. Any thread; a state is its user's.
 */
#ifndef SHOAL_CORE_XXH3_H
#define SHOAL_CORE_XXH3_H

#include <stddef.h>

#include "core/digest.h"

struct xxh3;

/* A fresh state (the digest of nothing so far); NULL when out of memory. */
struct xxh3 *xxh3_new(void);

/* Adds the n bytes at p. */
void xxh3_update(struct xxh3 *h, const void *p, size_t n);

/* The digest of the bytes added so far; more may follow. */
void xxh3_digest(const struct xxh3 *h, struct digest *d);

/* Frees h (NULL is nothing). */
void xxh3_free(struct xxh3 *h);

#endif
