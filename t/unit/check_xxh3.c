/*
 * check_xxh3.c - the streamed XXH3-128 gives the library's one-shot
 * digest whatever the size and however the bytes are cut (the AVX2 code
 * where the CPU has it, the library's elsewhere).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <xxhash.h>

#include "check_main.h"
#include "core/digest.h"
#include "core/xxh3.h"

#define BYTES (3 * 1024 * 1024 + 17)

static unsigned char *
fill(void)
{
	unsigned char *b = malloc(BYTES);
	uint32_t x = 2463534242u;
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < BYTES; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	return b;
}

static struct digest
oneshot(const unsigned char *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);
	struct digest d = { h.high64, h.low64 };

	return d;
}

/* Sizes around the algorithm's own edges (16, 128, 240 bytes, a stripe
 * of 64, a block of 1 KiB) and large ones, in one piece. */
START_TEST(test_one_piece_is_the_library_digest)
{
	static const size_t sizes[] = { 0, 1, 3, 16, 17, 128, 129, 240, 241,
	    1023, 1024, 1025, 65536, 1048576 + 3, BYTES };
	unsigned char *b = fill();
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct xxh3 *h = xxh3_new();
		struct digest d, want = oneshot(b, sizes[i]);

		ck_assert_ptr_nonnull(h);
		xxh3_update(h, b, sizes[i]);
		xxh3_digest(h, &d);
		ck_assert_msg(digest_equal(&d, &want), "size %zu", sizes[i]);
		xxh3_free(h);
	}
	free(b);
}
END_TEST

/* The same bytes in pieces of every kind of length, from one byte to a
 * MiB, unaligned; the digest on the way is that of the bytes so far. */
START_TEST(test_pieces_give_the_same_digest)
{
	static const size_t steps[] = { 1, 7, 63, 64, 65, 1000, 4096, 65537,
	    262144, 1048576 };
	unsigned char *b = fill();
	struct digest want = oneshot(b, BYTES);
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct xxh3 *h = xxh3_new();
		struct digest d, part;
		size_t off = 0, n, k = 0;

		ck_assert_ptr_nonnull(h);
		while (off < BYTES) {
			/* Alternate the step with a ragged one. */
			n = (k++ % 2 == 0) ? steps[i] : steps[i] / 3 + 1;
			if (n > BYTES - off)
				n = BYTES - off;
			xxh3_update(h, b + off, n);
			off += n;
			if (k == 5) {
				struct digest so_far = oneshot(b, off);

				xxh3_digest(h, &part);
				ck_assert(digest_equal(&part, &so_far));
			}
		}
		xxh3_digest(h, &d);
		ck_assert_msg(digest_equal(&d, &want), "step %zu", steps[i]);
		xxh3_free(h);
	}
	free(b);
}
END_TEST

int
main(void)
{
	check_main_tcase("xxh3", NULL, NULL, CHECK_MAIN_TESTS(
	    test_one_piece_is_the_library_digest,
	    test_pieces_give_the_same_digest));
	return check_main_run();
}
