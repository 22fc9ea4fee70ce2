/*
 * check_blocksum.c - unit tests for src/stripe/blocksum.c: the CRC32C of
 * a block, the part file's trailer of checksums (written, read back
 * strictly, every damaged byte refused) and the stream that takes a part
 * in pieces.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stripe/blocksum.h"
#include "check_main.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned char *
random_bytes(size_t len)
{
	unsigned char *p = malloc(len > 0 ? len : 1);
	size_t i;

	ck_assert(p != NULL);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)rng();
	return p;
}

/* The standard CRC32C check values: the checksums are those of every
 * other CRC32C implementation (iSCSI's, the kernel's). */
START_TEST(test_known_values)
{
	unsigned char zeros[32] = { 0 }, ones[32];

	memset(ones, 0xff, sizeof(ones));
	ck_assert_uint_eq(blocksum_of("123456789", 9), 0xe3069283);
	ck_assert_uint_eq(blocksum_of("", 0), 0);
	/* RFC 3720, B.4. */
	ck_assert_uint_eq(blocksum_of(zeros, 32), 0x8a9136aa);
	ck_assert_uint_eq(blocksum_of(ones, 32), 0x62a8ab43);
	ck_assert(blocksum_verify("123456789", 9, 0xe3069283));
	ck_assert(!blocksum_verify("123456789", 9, 0xe3069282));
}
END_TEST

/* Every single flipped bit of a 4 KiB block, and a flipped byte anywhere
 * in a 1 MiB one, is found. */
START_TEST(test_flips_found)
{
	unsigned char *b = random_bytes(4096), *big = random_bytes(1 << 20);
	uint32_t sum = blocksum_of(b, 4096), bigsum = blocksum_of(big, 1 << 20);
	unsigned bit, missed = 0, i;
	size_t at;

	for (bit = 0; bit < 4096 * 8; bit++) {
		b[bit / 8] ^= (unsigned char)(1u << bit % 8);
		missed += blocksum_verify(b, 4096, sum);
		b[bit / 8] ^= (unsigned char)(1u << bit % 8);
	}
	ck_assert_uint_eq(missed, 0);
	ck_assert(blocksum_verify(b, 4096, sum));
	for (i = 0; i < 16; i++) {
		unsigned char flip = (unsigned char)(1 + rng() % 255);

		at = rng() % (1 << 20);
		big[at] ^= flip;
		ck_assert(!blocksum_verify(big, 1 << 20, bigsum));
		big[at] ^= flip;
	}
	ck_assert(blocksum_verify(big, 1 << 20, bigsum));
	free(b);
	free(big);
}
END_TEST

START_TEST(test_counts)
{
	ck_assert_uint_eq(blocksum_count(0, 65536), 0);
	ck_assert_uint_eq(blocksum_count(1, 65536), 1);
	ck_assert_uint_eq(blocksum_count(65535, 65536), 1);
	ck_assert_uint_eq(blocksum_count(65536, 65536), 1);
	ck_assert_uint_eq(blocksum_count(65537, 65536), 2);
	/* A 10 GiB object in six parts of 1 MiB blocks. */
	ck_assert_uint_eq(blocksum_count(1789569707ull, 1 << 20), 1707);
	ck_assert_uint_eq(blocksum_trailer_size(0, 65536), BLOCKSUM_FOOTER);
	ck_assert_uint_eq(blocksum_trailer_size(65537, 65536),
	    2 * BLOCKSUM_SIZE + BLOCKSUM_FOOTER);
}
END_TEST

/* Part sizes around a block of 16 bytes. */
static const uint64_t part_sizes[] = { 0, 1, 15, 16, 17, 32, 16 * 5 + 7 };

/* The trailer of a part of random bytes, written and read back. */
START_TEST(test_trailer_round_trip)
{
	uint64_t size = part_sizes[_i], n = blocksum_count(size, 16), i;
	unsigned char *part = random_bytes(size);
	unsigned char *t = malloc(blocksum_trailer_size(size, 16));
	uint32_t sums[16], back[16];
	const char *why = NULL;

	ck_assert(t != NULL && n <= 16);
	for (i = 0; i < n; i++)
		sums[i] = blocksum_of(part + 16 * i, i + 1 < n ? 16 :
		    size - 16 * i);
	blocksum_trailer_encode(sums, size, 16, t);
	ck_assert_msg(blocksum_trailer_decode(t, blocksum_trailer_size(size,
	    16), size, 16, back, &why) == 0, "%s", why);
	ck_assert(memcmp(sums, back, n * sizeof(uint32_t)) == 0);
	ck_assert(memcmp(t + n * 4 + 16, BLOCKSUM_MAGIC, 8) == 0);
	free(part);
	free(t);
}
END_TEST

/*
 * Strictness: every byte of a trailer flipped, a length one off either
 * way, another size or block asked for, a block of 0: all refused, each
 * with its reason.
 */
START_TEST(test_trailer_strict)
{
	uint32_t sums[6] = { 1, 2, 3, 0xdeadbeef, 5, 6 }, back[6];
	size_t len = blocksum_trailer_size(90, 16), i;
	unsigned char t[6 * 4 + BLOCKSUM_FOOTER + 1];
	const char *why;

	ck_assert_uint_eq(len, 6 * 4 + BLOCKSUM_FOOTER);
	blocksum_trailer_encode(sums, 90, 16, t);
	ck_assert_int_eq(blocksum_trailer_decode(t, len, 90, 16, back, NULL),
	    0);
	for (i = 0; i < len; i++) {
		t[i] ^= 0x10;
		why = NULL;
		ck_assert_msg(blocksum_trailer_decode(t, len, 90, 16, back,
		    &why) == -1 && why != NULL, "byte %zu flipped: taken", i);
		t[i] ^= 0x10;
	}
	ck_assert_int_eq(blocksum_trailer_decode(t, len - 1, 90, 16, back,
	    &why), -1);
	ck_assert_str_eq(why, "the trailer's length is not the part's");
	ck_assert_int_eq(blocksum_trailer_decode(t, len + 1, 90, 16, back,
	    &why), -1);
	/* 89 bytes have 6 blocks of 16 too: only the footer tells. */
	ck_assert_int_eq(blocksum_trailer_decode(t, len, 89, 16, back, &why),
	    -1);
	ck_assert_str_eq(why, "the trailer is of another size or block");
	ck_assert_int_eq(blocksum_trailer_decode(t, len, 90, 17, back, &why),
	    -1);
	ck_assert_int_eq(blocksum_trailer_decode(t, len, 90, 0, back, &why),
	    -1);
	ck_assert_str_eq(why, "no trailer fits such a part");
	t[2] ^= 1;
	ck_assert_int_eq(blocksum_trailer_decode(t, len, 90, 16, back, &why),
	    -1);
	ck_assert_str_eq(why, "the trailer's checksums are corrupt");
	t[2] ^= 1;
	t[len - 1] = '2';
	ck_assert_int_eq(blocksum_trailer_decode(t, len, 90, 16, back, &why),
	    -1);
	ck_assert_str_eq(why, "no trailer magic");
}
END_TEST

/*
 * A part fed to the stream in pieces of random length, some across block
 * ends, some inside one block: the same checksums as block by block, the
 * same trailer as blocksum_trailer_encode's.
 */
START_TEST(test_stream_pieces)
{
	const uint64_t block = 4096, size = 10 * 4096 + 123;
	unsigned char *part = random_bytes(size);
	size_t tlen = blocksum_trailer_size(size, block);
	unsigned char *t = malloc(tlen), *want = malloc(tlen);
	uint32_t sums[11];
	struct blocksum_stream s;
	uint64_t at = 0, n, i;

	ck_assert(t != NULL && want != NULL);
	for (i = 0; i < 11; i++)
		sums[i] = blocksum_of(part + block * i, i < 10 ? block : 123);
	blocksum_trailer_encode(sums, size, block, want);
	ck_assert_int_eq(blocksum_stream_init(&s, size, block), 0);
	while (at < size) {
		n = rng() % (rng() % 2 ? 3 * block : 100) + 1;
		if (n > size - at)
			n = size - at;
		ck_assert_int_eq(blocksum_stream_trailer(&s, t), -1);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_int_eq(blocksum_stream_add(&s, part + at, n), 0);
		at += n;
	}
	ck_assert_int_eq(blocksum_stream_add(&s, part, 0), 0);
	ck_assert_int_eq(blocksum_stream_trailer(&s, t), 0);
	ck_assert(memcmp(t, want, tlen) == 0);
	/* Nothing past the part's size is taken. */
	ck_assert_int_eq(blocksum_stream_add(&s, part, 1), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(blocksum_stream_trailer(&s, t), 0);
	ck_assert(memcmp(t, want, tlen) == 0);
	blocksum_stream_free(&s);
	free(part);
	free(t);
	free(want);
}
END_TEST

/* A part of a size known only at its end (an open stream): the same
 * trailer as a stream of that size, for a short last block, a whole one
 * and none at all. */
START_TEST(test_stream_open)
{
	static const uint64_t sizes[] = { 0, 1, 4096, 40 * 4096,
	    40 * 4096 + 7 };
	const uint64_t block = 4096;
	struct blocksum_stream s, k;
	unsigned char *part, *t, *want;
	uint64_t at, n, i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		part = random_bytes(sizes[i] + 1);
		t = malloc(blocksum_trailer_size(sizes[i], block));
		want = malloc(blocksum_trailer_size(sizes[i], block));
		ck_assert_int_eq(blocksum_stream_init(&k, sizes[i], block), 0);
		ck_assert_int_eq(blocksum_stream_add(&k, part, sizes[i]), 0);
		ck_assert_int_eq(blocksum_stream_trailer(&k, want), 0);
		ck_assert_int_eq(blocksum_stream_init_open(&s, block), 0);
		for (at = 0; at < sizes[i]; at += n) {
			n = rng() % (2 * block) + 1;
			if (n > sizes[i] - at)
				n = sizes[i] - at;
			ck_assert_int_eq(blocksum_stream_add(&s, part + at, n),
			    0);
		}
		ck_assert_int_eq(blocksum_stream_trailer(&s, t), -1);
		ck_assert_int_eq(blocksum_stream_close(&s), 0);
		ck_assert_uint_eq(s.bs_size, sizes[i]);
		ck_assert_int_eq(blocksum_stream_trailer(&s, t), 0);
		ck_assert(memcmp(t, want, blocksum_trailer_size(sizes[i],
		    block)) == 0);
		blocksum_stream_free(&s);
		blocksum_stream_free(&k);
		free(part);
		free(t);
		free(want);
	}
}
END_TEST

/* An empty part has a trailer of its footer alone; a block of 0 or
 * past 32 bits is refused; more than the size at once is refused whole. */
START_TEST(test_stream_edges)
{
	unsigned char t[BLOCKSUM_FOOTER], part[10] = "0123456789";
	uint32_t none[1];
	struct blocksum_stream s;

	ck_assert_int_eq(blocksum_stream_init(&s, 0, 65536), 0);
	ck_assert_int_eq(blocksum_stream_trailer(&s, t), 0);
	ck_assert_int_eq(blocksum_trailer_decode(t, sizeof(t), 0, 65536, none,
	    NULL), 0);
	blocksum_stream_free(&s);
	ck_assert_int_eq(blocksum_stream_init(&s, 10, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(blocksum_stream_init(&s, 10,
	    (uint64_t)BLOCKSUM_BLOCK_MAX + 1), -1);
	ck_assert_int_eq(blocksum_stream_init(&s, 9, 4), 0);
	ck_assert_int_eq(blocksum_stream_add(&s, part, 10), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_uint_eq(s.bs_seen, 0);
	ck_assert_int_eq(blocksum_stream_add(&s, part, 9), 0);
	ck_assert_uint_eq(s.bs_sums[2], blocksum_of("8", 1));
	blocksum_stream_free(&s);
}
END_TEST

int
main(void)
{
	TCase *tc;

	check_main_tcase("sums", NULL, NULL, CHECK_MAIN_TESTS(
	    test_known_values, test_flips_found, test_counts));
	tc = check_main_tcase("trailer", NULL, NULL, CHECK_MAIN_TESTS(
	    test_trailer_strict, test_stream_pieces, test_stream_edges,
	    test_stream_open));
	CHECK_MAIN_ROWS(tc, test_trailer_round_trip, part_sizes);
	return check_main_run();
}
