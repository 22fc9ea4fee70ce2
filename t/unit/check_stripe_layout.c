/*
 * check_stripe_layout.c - the layout of a striped object: every byte in
 * exactly one place of one part, parts within one block of each other for
 * any size, and a byte range mapped to the part ranges that hold it.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "core/units.h"
#include "stripe/layout.h"

#define MIB ((uint64_t)UNITS_MIB)
#define GIB ((uint64_t)UNITS_GIB)

/* Sums the parts and checks their spread is at most one block. */
static void
check_sizes(uint64_t size, uint64_t block, unsigned parts)
{
	struct layout l = { size, block, parts };
	uint64_t sum = 0, lo = UINT64_MAX, hi = 0, s;
	unsigned p;

	for (p = 0; p < parts; p++) {
		s = layout_part_size(&l, p);
		sum += s;
		lo = s < lo ? s : lo;
		hi = s > hi ? s : hi;
		/* Earlier parts are never smaller than later ones. */
		if (p > 0)
			ck_assert_uint_le(s, layout_part_size(&l, p - 1));
	}
	ck_assert_uint_eq(sum, size);
	ck_assert_uint_le(hi - lo, block);
}

START_TEST(test_sizes_of_parts)
{
	const uint64_t b = MIB;
	const uint64_t sizes[] = { 0, 1, 5, 6, 7, b - 1, b, b + 1,
	    6 * b - 1, 6 * b, 6 * b + 1, 64 * MIB, 10 * GIB, 10 * GIB + 7,
	    1024 * GIB - 1 };
	unsigned parts, i;

	for (parts = 2; parts <= 16; parts++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			check_sizes(sizes[i], b, parts);
			check_sizes(sizes[i], 64 * 1024, parts);
			check_sizes(sizes[i], 64 * MIB, parts);
		}
}
END_TEST

START_TEST(test_known_sizes)
{
	struct layout l = { 7, MIB, 6 };
	unsigned p;

	/* Seven bytes are one short block: all of it in part 0. */
	ck_assert_uint_eq(layout_part_size(&l, 0), 7);
	for (p = 1; p < 6; p++)
		ck_assert_uint_eq(layout_part_size(&l, p), 0);
	/* Six blocks and one byte: one block each, the byte in part 0. */
	l.l_size = 6 * MIB + 1;
	ck_assert_uint_eq(layout_part_size(&l, 0), MIB + 1);
	for (p = 1; p < 6; p++)
		ck_assert_uint_eq(layout_part_size(&l, p), MIB);
	/* Six blocks less one byte: part 5 has the short block. */
	l.l_size = 6 * MIB - 1;
	ck_assert_uint_eq(layout_part_size(&l, 5), MIB - 1);
	ck_assert_uint_eq(layout_part_size(&l, 4), MIB);
	/* 10 GiB = 10240 blocks: 1707 blocks for parts 0-3, 1706 after. */
	l.l_size = 10 * GIB;
	ck_assert_uint_eq(layout_part_size(&l, 0), 1707 * MIB);
	ck_assert_uint_eq(layout_part_size(&l, 3), 1707 * MIB);
	ck_assert_uint_eq(layout_part_size(&l, 4), 1706 * MIB);
}
END_TEST

/* Every byte of small objects, tiny blocks: each (part, offset) is hit
 * once, inside its part, in the order of the object, and runs stay in a
 * block. */
START_TEST(test_every_byte_once)
{
	static unsigned char seen[16][200];
	uint64_t size, x, po, run, block;
	unsigned parts, p;

	for (parts = 2; parts <= 7; parts++)
		for (block = 1; block <= 5; block++)
			for (size = 0; size <= 90; size++) {
				struct layout l = { size, block, parts };
				uint64_t next[16] = { 0 };

				memset(seen, 0, sizeof(seen));
				for (x = 0; x < size; x++) {
					layout_locate(&l, x, &p, &po, &run);
					/* Plain checks: ck_assert is slow in
					 * a loop this long. */
					if (p >= parts || po >= layout_part_size(
					    &l, p) || seen[p][po] ||
					    po != next[p] || run < 1 ||
					    run > block - x % block ||
					    x + run > size)
						ck_abort_msg("size %llu block "
						    "%llu parts %u: byte %llu",
						    (unsigned long long)size,
						    (unsigned long long)block,
						    parts,
						    (unsigned long long)x);
					seen[p][po] = 1;
					next[p]++;
				}
				for (p = 0; p < parts; p++)
					if (next[p] != layout_part_size(&l, p))
						ck_abort_msg("part %u", p);
			}
}
END_TEST

/* A range [from, to) against brute force: for each part, the part bytes
 * of the object bytes in the range, which must be contiguous. */
START_TEST(test_ranges)
{
	uint64_t from, to, x, po, run, pf, pt;
	struct layout l = { 47, 3, 4 };
	unsigned p, q;

	for (from = 0; from <= l.l_size; from++)
		for (to = from; to <= l.l_size; to++)
			for (p = 0; p < l.l_parts; p++) {
				uint64_t lo = UINT64_MAX, hi = 0, n = 0;
				bool some;

				for (x = from; x < to; x++) {
					layout_locate(&l, x, &q, &po, &run);
					if (q != p)
						continue;
					lo = po < lo ? po : lo;
					hi = po + 1 > hi ? po + 1 : hi;
					n++;
				}
				some = layout_part_range(&l, p, from, to, &pf,
				    &pt);
				ck_assert(some == (n > 0));
				if (!some)
					continue;
				ck_assert_uint_eq(pf, lo);
				ck_assert_uint_eq(pt, hi);
				ck_assert_uint_eq(hi - lo, n);
			}
}
END_TEST

START_TEST(test_large_offsets)
{
	struct layout l = { 10 * GIB + 3, MIB, 6 };
	uint64_t po, run, pf, pt;
	unsigned p;

	layout_locate(&l, 10 * GIB + 2, &p, &po, &run);
	/* Block 10240 is part 10240 mod 6 = 4, its 1707th block. */
	ck_assert_uint_eq(p, 4);
	ck_assert_uint_eq(po, 1706 * MIB + 2);
	ck_assert_uint_eq(run, 1);
	ck_assert(layout_part_range(&l, 4, 10 * GIB, 10 * GIB + 3, &pf,
	    &pt));
	ck_assert_uint_eq(pf, 1706 * MIB);
	ck_assert_uint_eq(pt, 1706 * MIB + 3);
	ck_assert(!layout_part_range(&l, 3, 10 * GIB, 10 * GIB + 3, &pf,
	    &pt));
}
END_TEST

int
main(void)
{
	check_main_tcase("layout", NULL, NULL, CHECK_MAIN_TESTS(
	    test_sizes_of_parts,
	    test_known_sizes,
	    test_every_byte_once,
	    test_ranges,
	    test_large_offsets));
	return check_main_run();
}
