/*
 * erasure.c - Reed-Solomon parity over ISA-L (see stripe/erasure.h).
 *
 * Any thread. The matrix and the encode tables are written once by
 * erasure_new() and only read after. The decode cache (e_cache, e_clock
 * and the counters) is guarded by e_lock; a pattern's tables are copied
 * out under it, so an entry can be replaced while another thread decodes
 * with its copy.
 *
 * Decoding, for the k survivors s = B d (B: their k rows of the encode
 * matrix A, d: the data blocks): d = B^-1 s, so a lost data block i is
 * row i of B^-1 times s, and a lost parity block j is A[j] B^-1 times s.
 * Those rows make a small matrix that ISA-L applies to the survivors as
 * it would an encode matrix.
 */
#include <errno.h>
#include <isa-l/erasure_code.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stripe/erasure.h"

/* Bytes of ISA-L's expanded tables for k sources and `rows` outputs. */
#define ERASURE_TABLES(k, rows) (32 * (size_t)(k) * (rows))

struct erasure_pattern {
	uint32_t ep_have;	/* the k survivors read */
	uint32_t ep_want;	/* the blocks rebuilt */
	uint64_t ep_used;	/* e_clock at the last use; 0: a free slot */
	unsigned char ep_tables[ERASURE_TABLES(ERASURE_DATA_MAX,
	    ERASURE_PARITY_MAX)];
};

struct erasure {
	unsigned e_k, e_m;
	/* A, (k + m) x k, row-major: the identity, then the parity rows. */
	unsigned char e_matrix[ERASURE_BLOCKS_MAX * ERASURE_DATA_MAX];
	unsigned char e_encode[ERASURE_TABLES(ERASURE_DATA_MAX,
	    ERASURE_PARITY_MAX)];
	pthread_mutex_t e_lock;
	uint64_t e_clock;
	uint64_t e_hits, e_misses;
	struct erasure_pattern e_cache[ERASURE_CACHE];
};

struct erasure *
erasure_new(unsigned k, unsigned m)
{
	struct erasure *e;

	if (k < ERASURE_DATA_MIN || k > ERASURE_DATA_MAX ||
	    m > ERASURE_PARITY_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->e_k = k;
	e->e_m = m;
	gf_gen_cauchy1_matrix(e->e_matrix, (int)(k + m), (int)k);
	if (m > 0)
		ec_init_tables((int)k, (int)m, &e->e_matrix[k * k],
		    e->e_encode);
	if ((errno = pthread_mutex_init(&e->e_lock, NULL)) != 0) {
		free(e);
		return NULL;
	}
	return e;
}

void
erasure_free(struct erasure *e)
{
	if (e == NULL)
		return;
	pthread_mutex_destroy(&e->e_lock);
	free(e);
}

unsigned
erasure_data(const struct erasure *e)
{
	return e->e_k;
}

unsigned
erasure_parity(const struct erasure *e)
{
	return e->e_m;
}

unsigned char *
erasure_buf_alloc(size_t size)
{
	void *p;
	size_t rounded = (size + ERASURE_ALIGN - 1) / ERASURE_ALIGN *
	    ERASURE_ALIGN;

	if (rounded < size || (errno = posix_memalign(&p, ERASURE_ALIGN,
	    rounded > 0 ? rounded : ERASURE_ALIGN)) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

size_t
erasure_row_len(const struct erasure *e, const size_t *lens)
{
	size_t len = 0;
	unsigned i;

	for (i = 0; i < e->e_k; i++)
		if (lens[i] > len)
			len = lens[i];
	return len;
}

static int
erasure_aligned(const unsigned char *p)
{
	return p != NULL && (uintptr_t)p % ERASURE_ALIGN == 0;
}

/* Zeroes data block i's padding, from lens[i] to the row's length. */
static void
erasure_pad(unsigned char *block, size_t have, size_t len)
{
	if (have < len)
		memset(block + have, 0, len - have);
}

enum erasure_result
erasure_encode(struct erasure *e, unsigned char *const *blocks,
    const size_t *lens)
{
	unsigned char *data[ERASURE_DATA_MAX], *parity[ERASURE_PARITY_MAX];
	size_t len = erasure_row_len(e, lens);
	unsigned i;

	if (len > ERASURE_LEN_MAX)
		return ERASURE_INVALID;
	for (i = 0; i < e->e_k + e->e_m; i++)
		if (!erasure_aligned(blocks[i]))
			return ERASURE_INVALID;
	for (i = 0; i < e->e_k; i++) {
		erasure_pad(blocks[i], lens[i], len);
		data[i] = blocks[i];
	}
	if (e->e_m == 0 || len == 0)
		return ERASURE_OK;
	for (i = 0; i < e->e_m; i++)
		parity[i] = blocks[e->e_k + i];
	ec_encode_data((int)len, (int)e->e_k, (int)e->e_m,
	    e->e_encode, data, parity);
	return ERASURE_OK;
}

enum erasure_result
erasure_encode_add(struct erasure *e, unsigned index, unsigned char *block,
    size_t have, size_t row_len, unsigned char *const *parity)
{
	unsigned char *out[ERASURE_PARITY_MAX];
	unsigned i;

	if (index >= e->e_k || have > row_len || row_len > ERASURE_LEN_MAX ||
	    !erasure_aligned(block))
		return ERASURE_INVALID;
	for (i = 0; i < e->e_m; i++)
		if (!erasure_aligned(out[i] = parity[i]))
			return ERASURE_INVALID;
	erasure_pad(block, have, row_len);
	if (e->e_m == 0 || row_len == 0)
		return ERASURE_OK;
	ec_encode_data_update((int)row_len, (int)e->e_k, (int)e->e_m,
	    (int)index, e->e_encode, block, out);
	return ERASURE_OK;
}

/* `have` cut to its k lowest blocks: the survivors a decode reads. */
static uint32_t
erasure_survivors(uint32_t have, unsigned k)
{
	uint32_t used = 0;

	while (k-- > 0 && have != 0) {
		used |= have & -have;
		have &= have - 1;
	}
	return used;
}

/*
 * Builds the decode tables of the pattern (have: exactly k survivors,
 * want: the blocks to rebuild) into tables. ERASURE_SINGULAR when the
 * survivors' matrix does not invert: nothing is then built from it.
 */
static enum erasure_result
erasure_tables_build(const struct erasure *e, uint32_t have, uint32_t want,
    unsigned char *tables)
{
	unsigned char b[ERASURE_DATA_MAX * ERASURE_DATA_MAX];
	unsigned char inv[ERASURE_DATA_MAX * ERASURE_DATA_MAX];
	unsigned char rows[ERASURE_PARITY_MAX * ERASURE_DATA_MAX];
	unsigned k = e->e_k, n = 0, i, j, r = 0, w;

	for (i = 0; i < k + e->e_m; i++)
		if (have & (uint32_t)1 << i)
			memcpy(&b[k * r++], &e->e_matrix[k * i], k);
	/* gf_invert_matrix() destroys b, and says when it cannot invert. */
	if (gf_invert_matrix(b, inv, (int)k) != 0)
		return ERASURE_SINGULAR;
	for (w = 0; w < k + e->e_m; w++) {
		if (!(want & (uint32_t)1 << w))
			continue;
		if (w < k) {
			memcpy(&rows[k * n], &inv[k * w], k);
		} else {
			for (j = 0; j < k; j++) {
				unsigned char s = 0;

				for (i = 0; i < k; i++)
					s ^= gf_mul(e->e_matrix[k * w + i],
					    inv[k * i + j]);
				rows[k * n + j] = s;
			}
		}
		n++;
	}
	ec_init_tables((int)k, (int)n, rows, tables);
	return ERASURE_OK;
}

/* The cache slot of the pattern, or NULL. Under e_lock. */
static struct erasure_pattern *
erasure_cache_find_locked(struct erasure *e, uint32_t have, uint32_t want)
{
	unsigned i;

	for (i = 0; i < ERASURE_CACHE; i++)
		if (e->e_cache[i].ep_used != 0 &&
		    e->e_cache[i].ep_have == have &&
		    e->e_cache[i].ep_want == want)
			return &e->e_cache[i];
	return NULL;
}

/* The slot a new pattern takes: a free one, else the least recently
 * used. Under e_lock. */
static struct erasure_pattern *
erasure_cache_victim_locked(struct erasure *e)
{
	struct erasure_pattern *v = &e->e_cache[0];
	unsigned i;

	for (i = 1; i < ERASURE_CACHE; i++)
		if (e->e_cache[i].ep_used < v->ep_used)
			v = &e->e_cache[i];
	return v;
}

/* The pattern's decode tables into tables: from the cache, or built and
 * then kept there. */
static enum erasure_result
erasure_tables(struct erasure *e, uint32_t have, uint32_t want,
    unsigned nwant, unsigned char *tables)
{
	size_t size = ERASURE_TABLES(e->e_k, nwant);
	struct erasure_pattern *p;
	enum erasure_result r;

	pthread_mutex_lock(&e->e_lock);
	if ((p = erasure_cache_find_locked(e, have, want)) != NULL) {
		p->ep_used = ++e->e_clock;
		memcpy(tables, p->ep_tables, size);
		e->e_hits++;
		pthread_mutex_unlock(&e->e_lock);
		return ERASURE_OK;
	}
	e->e_misses++;
	pthread_mutex_unlock(&e->e_lock);

	if ((r = erasure_tables_build(e, have, want, tables)) != ERASURE_OK)
		return r;

	pthread_mutex_lock(&e->e_lock);
	/* Another thread may have built the same pattern meanwhile. */
	if ((p = erasure_cache_find_locked(e, have, want)) == NULL) {
		p = erasure_cache_victim_locked(e);
		p->ep_have = have;
		p->ep_want = want;
		memcpy(p->ep_tables, tables, size);
	}
	p->ep_used = ++e->e_clock;
	pthread_mutex_unlock(&e->e_lock);
	return ERASURE_OK;
}

enum erasure_result
erasure_decode(struct erasure *e, unsigned char *const *blocks,
    const size_t *lens, uint32_t have, uint32_t want)
{
	unsigned char tables[ERASURE_TABLES(ERASURE_DATA_MAX,
	    ERASURE_PARITY_MAX)];
	unsigned char *src[ERASURE_DATA_MAX], *out[ERASURE_PARITY_MAX];
	unsigned k = e->e_k, n = e->e_k + e->e_m, nsrc = 0, nout = 0, i;
	uint32_t all = ((uint32_t)1 << n) - 1;
	size_t len = erasure_row_len(e, lens);
	enum erasure_result r;

	if ((have & ~all) != 0 || (want & ~all) != 0 || (have & want) != 0 ||
	    len > ERASURE_LEN_MAX)
		return ERASURE_INVALID;
	if (want == 0)
		return ERASURE_OK;
	have = erasure_survivors(have, k);
	if ((unsigned)__builtin_popcount(have) < k)
		return ERASURE_TOO_FEW;
	for (i = 0; i < n; i++)
		if (((have | want) & (uint32_t)1 << i) != 0 &&
		    !erasure_aligned(blocks[i]))
			return ERASURE_INVALID;
	for (i = 0; i < n; i++)
		if (want & (uint32_t)1 << i)
			out[nout++] = blocks[i];
	if (len == 0)
		return ERASURE_OK;
	if ((r = erasure_tables(e, have, want, nout, tables)) != ERASURE_OK)
		return r;
	for (i = 0; i < n; i++) {
		if (!(have & (uint32_t)1 << i))
			continue;
		if (i < k)
			erasure_pad(blocks[i], lens[i], len);
		src[nsrc++] = blocks[i];
	}
	ec_encode_data((int)len, (int)k, (int)nout, tables, src, out);
	return ERASURE_OK;
}

void
erasure_cache_counts(struct erasure *e, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&e->e_lock);
	*hits = e->e_hits;
	*misses = e->e_misses;
	pthread_mutex_unlock(&e->e_lock);
}

const char *
erasure_result_str(enum erasure_result r)
{
	switch (r) {
	case ERASURE_OK:
		return "ok";
	case ERASURE_TOO_FEW:
		return "more blocks lost than parity can rebuild";
	case ERASURE_SINGULAR:
		return "the survivors' matrix does not invert";
	case ERASURE_INVALID:
		return "invalid arguments";
	}
	return "?";
}
