/*
 * xxh3.c - XXH3-128 on the fastest code the CPU runs (see core/xxh3.h).
 * Any thread; no shared state but the CPU's features, read once by the
 * compiler's runtime.
 *
 * Debian's libxxhash is built for the x86-64 baseline (SSE2). Its header
 * holds the whole implementation: included a second time with
 * XXH_INLINE_ALL (every name prefixed, nothing clashes with the library's)
 * under an AVX2 target, it compiles the AVX2 code here, and a state made
 * by one is only ever touched by the same one. Elsewhere than x86-64,
 * and built by clang (which has no target pragma: the fuzzers), the
 * library alone.
 */
#include <stdlib.h>
#include <xxhash.h>

#include "core/digest.h"
#include "core/xxh3.h"

/* One implementation: the library's, or the AVX2 code compiled here. */
struct xxh3_impl {
	void *(*xi_new)(void);
	void (*xi_update)(void *s, const void *p, size_t n);
	void (*xi_digest)(const void *s, struct digest *d);
	void (*xi_free)(void *s);
};

struct xxh3 {
	const struct xxh3_impl *x_impl;
	void *x_state;
};

/* The library's functions, named before the second inclusion renames
 * them. */
static void *
xxh3_lib_new(void)
{
	XXH3_state_t *s = XXH3_createState();

	if (s != NULL)
		(void)XXH3_128bits_reset(s);
	return s;
}

static void
xxh3_lib_update(void *s, const void *p, size_t n)
{
	(void)XXH3_128bits_update(s, p, n);
}

static void
xxh3_lib_digest(const void *s, struct digest *d)
{
	XXH128_hash_t h = XXH3_128bits_digest(s);

	d->d_hi = h.high64;
	d->d_lo = h.low64;
}

static void
xxh3_lib_free(void *s)
{
	XXH3_freeState(s);
}

static const struct xxh3_impl xxh3_lib = {
	xxh3_lib_new, xxh3_lib_update, xxh3_lib_digest, xxh3_lib_free,
};

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx2")
#define XXH_INLINE_ALL
#include <xxhash.h>

static void *
xxh3_avx2_new(void)
{
	XXH3_state_t *s = XXH3_createState();

	if (s != NULL)
		(void)XXH3_128bits_reset(s);
	return s;
}

static void
xxh3_avx2_update(void *s, const void *p, size_t n)
{
	(void)XXH3_128bits_update(s, p, n);
}

static void
xxh3_avx2_digest(const void *s, struct digest *d)
{
	XXH128_hash_t h = XXH3_128bits_digest(s);

	d->d_hi = h.high64;
	d->d_lo = h.low64;
}

static void
xxh3_avx2_free(void *s)
{
	XXH3_freeState(s);
}
#pragma GCC pop_options

static const struct xxh3_impl xxh3_avx2 = {
	xxh3_avx2_new, xxh3_avx2_update, xxh3_avx2_digest, xxh3_avx2_free,
};

static const struct xxh3_impl *
xxh3_best(void)
{
	return __builtin_cpu_supports("avx2") ? &xxh3_avx2 : &xxh3_lib;
}
#else
static const struct xxh3_impl *
xxh3_best(void)
{
	return &xxh3_lib;
}
#endif

struct xxh3 *
xxh3_new(void)
{
	struct xxh3 *h = malloc(sizeof(*h));

	if (h == NULL)
		return NULL;
	h->x_impl = xxh3_best();
	if ((h->x_state = h->x_impl->xi_new()) == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
xxh3_update(struct xxh3 *h, const void *p, size_t n)
{
	h->x_impl->xi_update(h->x_state, p, n);
}

void
xxh3_digest(const struct xxh3 *h, struct digest *d)
{
	h->x_impl->xi_digest(h->x_state, d);
}

void
xxh3_free(struct xxh3 *h)
{
	if (h == NULL)
		return;
	h->x_impl->xi_free(h->x_state);
	free(h);
}
