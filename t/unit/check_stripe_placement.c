/*
 * check_stripe_placement.c - choosing the stores of striped objects: the
 * most room first, distinct stores, ties spread by the object id, a
 * refusal when too few stores have room, a new store chosen at once, and
 * stores that fill evenly over many uploads.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "core/rng.h"
#include "stripe/layout.h"
#include "stripe/placement.h"

#define MIB (1024ULL * 1024)
#define MAX_STORES 32

static char names[MAX_STORES][32];
static struct placement_store stores[MAX_STORES];

static void
make_stores(size_t n, uint64_t free_bytes)
{
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "store-%zu", i);
		stores[i].ps_node = names[i];
		stores[i].ps_free = free_bytes;
	}
}

static void
sizes_of(uint64_t size, unsigned parts, uint64_t *need)
{
	struct layout l = { size, MIB, parts };
	unsigned i;

	for (i = 0; i < parts; i++)
		need[i] = layout_part_size(&l, i);
}

START_TEST(test_free)
{
	ck_assert_uint_eq(placement_free(100, 30, 20), 50);
	ck_assert_uint_eq(placement_free(100, 130, 0), 0);
	ck_assert_uint_eq(placement_free(100, 30, 80), 0);
	ck_assert_uint_eq(placement_free(100, 100, 0), 0);
}
END_TEST

START_TEST(test_most_room_first_and_distinct)
{
	uint64_t need[6];
	size_t chosen[6], i, j;

	make_stores(10, 100 * MIB);
	stores[3].ps_free = 500 * MIB;
	stores[7].ps_free = 400 * MIB;
	stores[9].ps_free = 1 * MIB;
	sizes_of(60 * MIB, 6, need);
	ck_assert_uint_eq(placement_choose("0123456789abcdef0123456789abcdef",
	    stores, 10, 6, need, chosen), 6);
	ck_assert_uint_eq(chosen[0], 3);
	ck_assert_uint_eq(chosen[1], 7);
	for (i = 0; i < 6; i++) {
		ck_assert_uint_ne(chosen[i], 9);
		for (j = 0; j < i; j++)
			ck_assert_uint_ne(chosen[i], chosen[j]);
	}
}
END_TEST

START_TEST(test_refused_without_room)
{
	uint64_t need[6];
	size_t chosen[6];

	/* Five stores only. */
	make_stores(5, 100 * MIB);
	sizes_of(6 * MIB, 6, need);
	ck_assert_uint_eq(placement_choose("id", stores, 5, 6, need, chosen),
	    5);
	/* Seven stores, but two have no room for a part of 10 MiB. */
	make_stores(7, 100 * MIB);
	stores[1].ps_free = 9 * MIB;
	stores[4].ps_free = 0;
	sizes_of(60 * MIB, 6, need);
	ck_assert_uint_lt(placement_choose("id", stores, 7, 6, need, chosen),
	    6);
	/* The largest part needs one byte more than any store has. */
	make_stores(7, 10 * MIB);
	stores[4].ps_free = 0;
	sizes_of(60 * MIB + 1, 6, need);
	ck_assert_uint_lt(placement_choose("id", stores, 7, 6, need, chosen),
	    6);
	stores[1].ps_free = 100 * MIB;
	ck_assert_uint_eq(placement_choose("id", stores, 7, 6, need, chosen),
	    6);
	/* Empty objects need no room, but still distinct stores. */
	make_stores(6, 0);
	sizes_of(0, 6, need);
	ck_assert_uint_eq(placement_choose("id", stores, 6, 6, need, chosen),
	    6);
}
END_TEST

/* Equal room: the choice depends on the id, and spreads over the stores. */
START_TEST(test_ties_spread)
{
	unsigned count[12] = { 0 };
	uint64_t need[6];
	size_t chosen[6], i;
	char id[40];
	int k;

	make_stores(12, 100 * MIB);
	sizes_of(6 * MIB, 6, need);
	for (k = 0; k < 1200; k++) {
		snprintf(id, sizeof(id), "%032x", k);
		ck_assert_uint_eq(placement_choose(id, stores, 12, 6, need,
		    chosen), 6);
		for (i = 0; i < 6; i++)
			count[chosen[i]]++;
	}
	/* 600 each expected. */
	for (i = 0; i < 12; i++) {
		ck_assert_uint_gt(count[i], 500);
		ck_assert_uint_lt(count[i], 700);
	}
}
END_TEST

/* 100 uploads of random sizes over 7 stores, use updated after each: the
 * spread of fill stays within one upload's part; a store that joins is
 * chosen by the next upload. */
START_TEST(test_even_fill_and_join)
{
	const uint64_t cap = 100000 * MIB;
	uint64_t used[MAX_STORES] = { 0 }, need[6], lo, hi;
	size_t chosen[6], n = 7, i;
	struct rng r;
	char id[40];
	int k;

	make_stores(n, cap);
	rng_seed(&r, 42);
	for (k = 0; k < 200; k++) {
		uint64_t size = rng_below(&r, 600 * MIB);

		if (k == 100) {
			n = 8;	/* a store joins, empty */
			make_stores(n, cap);
		}
		for (i = 0; i < n; i++)
			stores[i].ps_free = placement_free(cap, used[i], 0);
		sizes_of(size, 6, need);
		snprintf(id, sizeof(id), "%032x", k);
		ck_assert_uint_eq(placement_choose(id, stores, n, 6, need,
		    chosen), 6);
		if (k >= 100 && used[7] < used[0]) {
			for (i = 0; i < 6 && chosen[i] != 7; i++)
				;
			ck_assert_msg(i < 6, "upload %d left out the new "
			    "store", k);
		}
		for (i = 0; i < 6; i++)
			used[chosen[i]] += need[i];
		if (k == 99 || k == 199) {
			lo = hi = used[0];
			for (i = 1; i < 7; i++) {
				lo = used[i] < lo ? used[i] : lo;
				hi = used[i] > hi ? used[i] : hi;
			}
			/* Within one largest part (100 MiB) of each other. */
			ck_assert_uint_le(hi - lo, 101 * MIB);
		}
	}
}
END_TEST

int
main(void)
{
	check_main_tcase("placement", NULL, NULL, CHECK_MAIN_TESTS(
	    test_free,
	    test_most_room_first_and_distinct,
	    test_refused_without_room,
	    test_ties_spread,
	    test_even_fill_and_join));
	return check_main_run();
}
