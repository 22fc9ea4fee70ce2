/*
 * check_erasure.c - unit tests for src/stripe/erasure.c (Reed-Solomon
 * parity over ISA-L): every pattern of up to m lost blocks rebuilt byte
 * for byte, more refused, rows of unequal blocks, the decode cache, and a
 * rotten block found by its checksum (stripe/blocksum.h) and rebuilt.
 * Includes the .c file, to make a singular matrix by hand.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stripe/erasure.c"
#include "stripe/blocksum.h"
#include "check_main.h"

#define GARBAGE 0xa5

/* xorshift64*: the same data on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Whether p[0..len) are all c. (Check's asserts cost a system call
 * each: one per byte would make the suite crawl.) */
static bool
all_bytes(const unsigned char *p, size_t len, unsigned char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

/*
 * A row of a (k, m) code: the right blocks (orig, data then parity, each
 * with its padding zeroed, as encoding leaves it) and the blocks handed
 * to the code (work), every buffer of the row's length.
 */
struct row {
	struct erasure *e;
	unsigned k, n;
	size_t lens[ERASURE_DATA_MAX];
	size_t len;
	unsigned char *orig[ERASURE_BLOCKS_MAX];
	unsigned char *work[ERASURE_BLOCKS_MAX];
};

/* Bytes of block i that matter: lens[i] for data, the row's for parity. */
static size_t
row_bytes(const struct row *r, unsigned i)
{
	return i < r->k ? r->lens[i] : r->len;
}

/* Makes the row of data blocks lens[0..k) long, random, and encodes it
 * with garbage in the data blocks' padding (encoding must zero it). */
static void
row_make(struct row *r, struct erasure *e, const size_t *lens)
{
	unsigned i;
	size_t j;

	memset(r, 0, sizeof(*r));
	r->e = e;
	r->k = erasure_data(e);
	r->n = r->k + erasure_parity(e);
	memcpy(r->lens, lens, r->k * sizeof(size_t));
	r->len = erasure_row_len(e, lens);
	for (i = 0; i < r->n; i++) {
		r->orig[i] = erasure_buf_alloc(r->len);
		r->work[i] = erasure_buf_alloc(r->len);
		ck_assert(r->orig[i] != NULL && r->work[i] != NULL);
		memset(r->orig[i], GARBAGE, r->len);
		if (i < r->k)
			for (j = 0; j < lens[i]; j++)
				r->orig[i][j] = (unsigned char)rng();
	}
	ck_assert_int_eq(erasure_encode(e, r->orig, lens), ERASURE_OK);
	for (i = 0; i < r->k; i++)
		ck_assert_msg(all_bytes(r->orig[i] + lens[i], r->len - lens[i],
		    0), "block %u: padding not zeroed", i);
}

static void
row_free(struct row *r)
{
	unsigned i;

	for (i = 0; i < r->n; i++) {
		free(r->orig[i]);
		free(r->work[i]);
	}
}

/* The work blocks as a reader would have them: the good ones right but
 * for garbage in their padding, the others all garbage. */
static void
row_lose(struct row *r, uint32_t have)
{
	unsigned i;

	for (i = 0; i < r->n; i++) {
		memset(r->work[i], GARBAGE, r->len);
		if (have & (uint32_t)1 << i)
			memcpy(r->work[i], r->orig[i], row_bytes(r, i));
	}
}

/* Loses the blocks of `lost`, rebuilds them all, and compares them with
 * the right ones, padding (zeros) included. */
static void
row_check_pattern(struct row *r, uint32_t lost)
{
	uint32_t all = ((uint32_t)1 << r->n) - 1;
	enum erasure_result res;
	unsigned i;

	row_lose(r, all & ~lost);
	res = erasure_decode(r->e, r->work, r->lens, all & ~lost, lost);
	ck_assert_msg(res == ERASURE_OK, "k %u n %u len %zu lost %#x: %s",
	    r->k, r->n, r->len, (unsigned)lost, erasure_result_str(res));
	for (i = 0; i < r->n; i++)
		if (lost & (uint32_t)1 << i)
			ck_assert_msg(memcmp(r->work[i], r->orig[i], r->len) ==
			    0, "k %u n %u len %zu lost %#x: block %u wrong",
			    r->k, r->n, r->len, (unsigned)lost, i);
}

/* The next set of n bits with as many bits as x (Gosper's hack), or a
 * value with bit n set when there is none. */
static uint32_t
next_pattern(uint32_t x)
{
	uint32_t c = x & -x, r = x + c;

	return (((r ^ x) >> 2) / c) | r;
}

/* Sizes of every data block of a row, around ISA-L's vector widths and
 * the 64 KiB of the smallest stripe block. */
static const size_t sizes[] = {
	1, 15, 16, 31, 32, 33, 65535, 65536, 65537,
};

/* Rows of unequal blocks, as the last row of an object: blocks 0..full)
 * whole, block `full` `tail` bytes, the others empty. */
static const struct {
	size_t block, tail;
	unsigned full;
} short_rows[] = {
	{ 65536, 1000, 2 },
	{ 65536, 65535, 0 },
	{ 65536, 0, 1 },	/* whole blocks, then empty ones */
	{ 33, 1, 4 },
};

static void
short_lens(unsigned k, unsigned which, size_t *lens)
{
	unsigned i;

	for (i = 0; i < k; i++)
		lens[i] = i < short_rows[which].full ? short_rows[which].block :
		    i == short_rows[which].full ? short_rows[which].tail : 0;
}

/* Every pattern of 1..m lost blocks of a (k, m) code on a row of data
 * blocks lens[0..k). */
static void
every_pattern(struct erasure *e, const size_t *lens)
{
	unsigned n = erasure_data(e) + erasure_parity(e), lost;
	struct row r;
	uint32_t p;

	row_make(&r, e, lens);
	for (lost = 1; lost <= erasure_parity(e); lost++)
		for (p = ((uint32_t)1 << lost) - 1; p < (uint32_t)1 << n;
		    p = next_pattern(p))
			row_check_pattern(&r, p);
	row_free(&r);
}

/* The codes whose every pattern is tried at every size: k = 6 and the
 * smallest k, for m = 1..4. */
static const unsigned full_codes[][2] = {
	{ 6, 1 }, { 6, 2 }, { 6, 3 }, { 6, 4 },
	{ 2, 1 }, { 2, 2 }, { 2, 3 }, { 2, 4 },
};

/* Parity built one data block at a time, the blocks in reverse order,
 * is erasure_encode()'s, for full and short rows. */
START_TEST(test_encode_add)
{
	struct erasure *e = erasure_new(full_codes[_i][0], full_codes[_i][1]);
	unsigned k = full_codes[_i][0], m = full_codes[_i][1], s, i;
	unsigned char *par[ERASURE_PARITY_MAX], *blk;
	size_t lens[ERASURE_DATA_MAX];
	struct row r;

	ck_assert(e != NULL);
	for (s = 0; s < 8; s++) {
		if (s < 4)
			short_lens(k, s, lens);
		else
			for (i = 0; i < k; i++)
				lens[i] = sizes[s + 1];
		row_make(&r, e, lens);
		for (i = 0; i < m; i++) {
			par[i] = erasure_buf_alloc(r.len + 1);
			memset(par[i], 0, r.len + 1);
		}
		blk = erasure_buf_alloc(r.len + 1);
		for (i = k; i-- > 0;) {
			if (lens[i] == 0)
				continue;
			memset(blk, GARBAGE, r.len + 1);
			memcpy(blk, r.orig[i], lens[i]);
			ck_assert_int_eq(erasure_encode_add(e, i, blk, lens[i],
			    r.len, par), ERASURE_OK);
		}
		for (i = 0; i < m; i++) {
			ck_assert_msg(memcmp(par[i], r.orig[k + i], r.len) ==
			    0, "k %u m %u row %u: parity %u differs", k, m, s,
			    i);
			ck_assert_int_eq(par[i][r.len], 0);	/* untouched */
			free(par[i]);
		}
		ck_assert_int_eq(erasure_encode_add(e, k, blk, 1, 1, par),
		    ERASURE_INVALID);
		free(blk);
		row_free(&r);
	}
	erasure_free(e);
}
END_TEST

START_TEST(test_every_pattern)
{
	struct erasure *e = erasure_new(full_codes[_i][0], full_codes[_i][1]);
	size_t lens[ERASURE_DATA_MAX];
	unsigned s, i;

	ck_assert(e != NULL);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (i = 0; i < full_codes[_i][0]; i++)
			lens[i] = sizes[s];
		every_pattern(e, lens);
	}
	for (s = 0; s < sizeof(short_rows) / sizeof(short_rows[0]); s++) {
		short_lens(full_codes[_i][0], s, lens);
		every_pattern(e, lens);
	}
	erasure_free(e);
}
END_TEST

/*
 * k = 16, the most data blocks: every pattern of up to m lost blocks
 * (6,195 for m = 4), on rows taken in turn from one pattern to the next:
 * seven patterns on the short rows (up to 64 bytes a block), the eighth
 * on a long one (64 KiB or so), so that every size meets thousands of
 * patterns within the time a unit suite may take.
 */
START_TEST(test_every_pattern_k16)
{
	unsigned m = (unsigned)_i + 1, n = 16 + m, nrows = 0, lost, i, j;
	unsigned nsmall = 0, nlarge = 0, t = 0;
	struct erasure *e = erasure_new(16, m);
	struct row rows[sizeof(sizes) / sizeof(sizes[0]) +
	    sizeof(short_rows) / sizeof(short_rows[0])];
	struct row *small[sizeof(rows) / sizeof(rows[0])];
	struct row *large[sizeof(rows) / sizeof(rows[0])];
	size_t lens[ERASURE_DATA_MAX];
	uint32_t p;

	ck_assert(e != NULL);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < 16; j++)
			lens[j] = sizes[i];
		row_make(&rows[nrows++], e, lens);
	}
	for (i = 0; i < sizeof(short_rows) / sizeof(short_rows[0]); i++) {
		short_lens(16, i, lens);
		row_make(&rows[nrows++], e, lens);
	}
	for (i = 0; i < nrows; i++) {
		if (rows[i].len <= 64)
			small[nsmall++] = &rows[i];
		else
			large[nlarge++] = &rows[i];
	}
	for (lost = 1; lost <= m; lost++)
		for (p = ((uint32_t)1 << lost) - 1; p < (uint32_t)1 << n;
		    p = next_pattern(p), t++)
			row_check_pattern(t % 8 == 7 ? large[t / 8 % nlarge] :
			    small[t % nsmall], p);
	for (i = 0; i < nrows; i++)
		row_free(&rows[i]);
	erasure_free(e);
}
END_TEST

/* Rebuilding only some of the lost blocks writes those and no other. */
START_TEST(test_want_some)
{
	struct erasure *e = erasure_new(6, 3);
	size_t lens[6] = { 4096, 4096, 4096, 4096, 4096, 4096 };
	struct row r;
	/* Data 1 and 4 and parity 7 lost; only data 1 and parity 7 wanted. */
	uint32_t lost = 1u << 1 | 1u << 4 | 1u << 7, want = 1u << 1 | 1u << 7;

	row_make(&r, e, lens);
	row_lose(&r, 0x1ff & ~lost);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0x1ff & ~lost, want),
	    ERASURE_OK);
	ck_assert(memcmp(r.work[1], r.orig[1], 4096) == 0);
	ck_assert(memcmp(r.work[7], r.orig[7], 4096) == 0);
	ck_assert(all_bytes(r.work[4], 4096, GARBAGE));
	/* Nothing wanted: nothing to do, whatever is missing. */
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0, 0), ERASURE_OK);
	row_free(&r);
	erasure_free(e);
}
END_TEST

/*
 * The last row of an object whose parts 4 and 5 hold no block there: with
 * their stores and a third lost, 6 + 2 still rebuilds the row, the empty
 * blocks counted as good whatever their buffers hold.
 */
START_TEST(test_empty_blocks_count)
{
	struct erasure *e = erasure_new(6, 2);
	size_t lens[6] = { 65536, 65536, 65536, 777, 0, 0 };
	uint32_t lost = 1u << 1 | 1u << 4 | 1u << 5;
	struct row r;

	row_make(&r, e, lens);
	row_lose(&r, 0xff & ~lost);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0xff & ~lost,
	    lost), ERASURE_TOO_FEW);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0xff & ~(1u << 1),
	    1u << 1), ERASURE_OK);
	ck_assert(memcmp(r.work[1], r.orig[1], 65536) == 0);
	row_free(&r);
	erasure_free(e);
}
END_TEST

/* The block buffers the garbage check reads after a refusal. */
static void
expect_untouched(const struct row *r, uint32_t blocks)
{
	unsigned i;

	for (i = 0; i < r->n; i++)
		if (blocks & (uint32_t)1 << i)
			ck_assert_msg(all_bytes(r->work[i], r->len, GARBAGE),
			    "block %u written on a refusal", i);
}

/* m + 1 lost blocks (every such pattern): refused, nothing written. */
START_TEST(test_too_many_lost)
{
	unsigned k = full_codes[_i][0], m = full_codes[_i][1], n = k + m;
	struct erasure *e = erasure_new(k, m);
	size_t lens[ERASURE_DATA_MAX];
	uint32_t all = ((uint32_t)1 << n) - 1, p;
	struct row r;
	unsigned i;

	for (i = 0; i < k; i++)
		lens[i] = 100;
	row_make(&r, e, lens);
	for (p = ((uint32_t)1 << (m + 1)) - 1; p <= all; p = next_pattern(p)) {
		row_lose(&r, all & ~p);
		ck_assert_int_eq(erasure_decode(e, r.work, lens, all & ~p, p),
		    ERASURE_TOO_FEW);
		expect_untouched(&r, p);
	}
	row_free(&r);
	erasure_free(e);
}
END_TEST

/* Without parity nothing can be rebuilt. */
START_TEST(test_no_parity)
{
	struct erasure *e = erasure_new(6, 0);
	size_t lens[6] = { 10, 10, 10, 10, 10, 9 };
	struct row r;

	ck_assert(e != NULL);
	row_make(&r, e, lens);
	row_lose(&r, 0x3e);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0x3e, 0x01),
	    ERASURE_TOO_FEW);
	expect_untouched(&r, 0x01);
	row_free(&r);
	erasure_free(e);
}
END_TEST

START_TEST(test_invalid)
{
	struct erasure *e = erasure_new(6, 2);
	size_t lens[6] = { 64, 64, 64, 64, 64, 64 };
	unsigned char *saved;
	struct row r;

	ck_assert(erasure_new(1, 2) == NULL && errno == EINVAL);
	ck_assert(erasure_new(17, 2) == NULL && errno == EINVAL);
	ck_assert(erasure_new(6, 5) == NULL && errno == EINVAL);
	ck_assert(e != NULL);
	ck_assert_uint_eq(erasure_data(e), 6);
	ck_assert_uint_eq(erasure_parity(e), 2);
	row_make(&r, e, lens);
	row_lose(&r, 0xfe);
	/* want and have overlap; a block past k + m. */
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0xfe, 0x03),
	    ERASURE_INVALID);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0x7e, 0x101),
	    ERASURE_INVALID);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0x1fe, 0x01),
	    ERASURE_INVALID);
	expect_untouched(&r, 0x01);
	/* A misaligned buffer, read or written, and a row too long. */
	saved = r.work[3];
	r.work[3] = saved + 1;
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0xfe, 0x01),
	    ERASURE_INVALID);
	ck_assert_int_eq(erasure_encode(e, r.work, lens), ERASURE_INVALID);
	r.work[3] = saved;
	saved = r.work[0];
	r.work[0] = saved + 16;
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0xfe, 0x01),
	    ERASURE_INVALID);
	r.work[0] = saved;
	expect_untouched(&r, 0x01);
	lens[2] = (size_t)ERASURE_LEN_MAX + 1;
	ck_assert_int_eq(erasure_encode(e, r.work, lens), ERASURE_INVALID);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0xfe, 0x01),
	    ERASURE_INVALID);
	row_free(&r);
	erasure_free(e);
}
END_TEST

/*
 * A matrix that does not invert is refused, never used: the two parity
 * rows made equal by hand, then both data blocks they would replace lost.
 * (Cauchy's matrices always invert; this is the check that guards it.)
 */
START_TEST(test_singular_refused)
{
	struct erasure *e = erasure_new(6, 2);
	size_t lens[6] = { 512, 512, 512, 512, 512, 512 };
	struct row r;

	row_make(&r, e, lens);
	memcpy(&e->e_matrix[6 * 7], &e->e_matrix[6 * 6], 6);
	row_lose(&r, 0xfc);
	ck_assert_int_eq(erasure_decode(e, r.work, lens, 0xfc, 0x03),
	    ERASURE_SINGULAR);
	expect_untouched(&r, 0x03);
	row_free(&r);
	erasure_free(e);
}
END_TEST

static void
expect_counts(struct erasure *e, uint64_t hits, uint64_t misses)
{
	uint64_t h, m;

	erasure_cache_counts(e, &h, &m);
	ck_assert_msg(h == hits && m == misses, "hits %llu misses %llu, "
	    "want %llu %llu", (unsigned long long)h, (unsigned long long)m,
	    (unsigned long long)hits, (unsigned long long)misses);
}

/*
 * The decode cache: a pattern's second decode finds its tables (and
 * rebuilds right with them); the least recently used pattern is the one
 * that goes when ERASURE_CACHE others came after it.
 */
START_TEST(test_cache)
{
	struct erasure *e = erasure_new(6, 4);
	size_t lens[6] = { 1024, 1024, 1024, 1024, 1024, 1024 };
	uint32_t first = 0x003, p = 0x007;	/* 3 lost: 120 patterns */
	uint64_t misses;
	struct row r;
	unsigned i;

	row_make(&r, e, lens);
	row_check_pattern(&r, first);
	expect_counts(e, 0, 1);
	row_check_pattern(&r, first);
	expect_counts(e, 1, 1);
	/* Other patterns fill the cache; `first`, used again before the
	 * last one, stays. */
	for (i = 0; i < ERASURE_CACHE - 1; i++, p = next_pattern(p))
		row_check_pattern(&r, p);
	expect_counts(e, 1, ERASURE_CACHE);
	row_check_pattern(&r, first);
	expect_counts(e, 2, ERASURE_CACHE);
	row_check_pattern(&r, p);		/* evicts the oldest other */
	p = next_pattern(p);
	row_check_pattern(&r, first);
	expect_counts(e, 3, ERASURE_CACHE + 1);
	row_check_pattern(&r, 0x007);		/* that oldest: gone */
	expect_counts(e, 3, ERASURE_CACHE + 2);
	/* ERASURE_CACHE new patterns push `first` out. */
	for (i = 0; i < ERASURE_CACHE; i++, p = next_pattern(p))
		row_check_pattern(&r, p);
	misses = ERASURE_CACHE + 2 + ERASURE_CACHE;
	expect_counts(e, 3, misses);
	row_check_pattern(&r, first);
	expect_counts(e, 3, misses + 1);
	row_free(&r);
	erasure_free(e);
}
END_TEST

/* One thread of test_cache_threads: its row (made beforehand: the data's
 * generator is not for threads), patterns of 3 lost blocks taken in turn,
 * more of them than the cache keeps. */
static void *
cache_thread(void *arg)
{
	struct row *r = arg;
	uint32_t p = 0x007;
	unsigned i;

	for (i = 0; i < 400; i++) {
		row_check_pattern(r, p);
		p = i % 50 == 49 ? 0x007 : next_pattern(p);
	}
	return NULL;
}

/*
 * Two threads decoding with one struct erasure, their patterns evicting
 * each other's from the cache: every row still comes back right (each
 * decodes with its own copy of the tables).
 */
START_TEST(test_cache_threads)
{
	struct erasure *e = erasure_new(6, 4);
	size_t lens[6] = { 4096, 4096, 4096, 4096, 4096, 4000 };
	uint64_t hits, misses;
	struct row a, b;
	pthread_t t;

	row_make(&a, e, lens);
	row_make(&b, e, lens);
	ck_assert_int_eq(pthread_create(&t, NULL, cache_thread, &b), 0);
	cache_thread(&a);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	erasure_cache_counts(e, &hits, &misses);
	ck_assert_uint_eq(hits + misses, 800);
	ck_assert_uint_gt(misses, ERASURE_CACHE);
	row_free(&a);
	row_free(&b);
	erasure_free(e);
}
END_TEST

/*
 * A rotten block: found by its checksum (a byte flipped after the
 * checksums were taken), counted as lost, rebuilt from the others, and
 * the rebuilt block has its checksum again.
 */
START_TEST(test_corrupt_block_found_and_rebuilt)
{
	struct erasure *e = erasure_new(6, 2);
	size_t lens[6] = { 65536, 65536, 65536, 65536, 30000, 0 };
	uint32_t sums[8], have = 0;
	struct row r;
	unsigned i;

	row_make(&r, e, lens);
	for (i = 0; i < 8; i++)
		sums[i] = blocksum_of(r.orig[i], row_bytes(&r, i));
	row_lose(&r, 0xff);
	r.work[2][12345] ^= 0x01;
	r.work[6][0] ^= 0x80;
	for (i = 0; i < 8; i++)
		if (blocksum_verify(r.work[i], row_bytes(&r, i), sums[i]))
			have |= 1u << i;
	ck_assert_uint_eq(have, 0xff & ~(1u << 2 | 1u << 6));
	ck_assert_int_eq(erasure_decode(e, r.work, lens, have, 0xff & ~have),
	    ERASURE_OK);
	for (i = 0; i < 8; i++)
		ck_assert(blocksum_verify(r.work[i], row_bytes(&r, i),
		    sums[i]));
	ck_assert(memcmp(r.work[2], r.orig[2], 65536) == 0);
	row_free(&r);
	erasure_free(e);
}
END_TEST

int
main(void)
{
	TCase *tc;

	tc = check_main_tcase("patterns", NULL, NULL, CHECK_MAIN_TESTS(
	    test_want_some, test_empty_blocks_count, test_no_parity,
	    test_invalid,
	    test_singular_refused, test_cache, test_cache_threads,
	    test_corrupt_block_found_and_rebuilt));
	tc = check_main_tcase("every", NULL, NULL, NULL, 0);
	CHECK_MAIN_ROWS(tc, test_every_pattern, full_codes);
	CHECK_MAIN_ROWS(tc, test_encode_add, full_codes);
	CHECK_MAIN_ROWS(tc, test_too_many_lost, full_codes);
	tcase_add_loop_test(tc, test_every_pattern_k16, 0, ERASURE_PARITY_MAX);
	return check_main_run();
}
