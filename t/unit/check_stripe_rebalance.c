/*
 * check_stripe_rebalance.c - the rebalancer's choice: fills and spread,
 * nothing to do within the spread or for a store that is not the
 * fullest, never a target holding a part of the object or without room,
 * a store of the object not alive, what is moving counted, no move that
 * would reverse the order but one of a part larger than half the gap,
 * and simulated clusters that gain a store and settle within the spread,
 * also small ones of large parts.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "core/rng.h"
#include "stripe/manifest.h"
#include "stripe/rebalance.h"

#define MIB (1024ULL * 1024)
#define MAX_STORES 8
#define MAX_OBJECTS 400

static char names[MAX_STORES][32];
static struct rebalance_store st[MAX_STORES];

static void
make_stores(size_t n, uint64_t capacity)
{
	size_t i;

	memset(st, 0, sizeof(st));
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "s%zu", i);
		st[i].rs_node = names[i];
		st[i].rs_capacity = capacity;
	}
}

/* An object of 6 parts of `size` bytes on stores first..first+5. */
static void
make_object(struct manifest *m, const size_t *on, uint64_t size)
{
	unsigned i;

	memset(m, 0, sizeof(*m));
	m->m_nparts = 6;
	for (i = 0; i < 6; i++) {
		snprintf(m->m_parts[i].mp_node, sizeof(m->m_parts[i].mp_node),
		    "%s", names[on[i]]);
		m->m_parts[i].mp_size = size;
	}
}

START_TEST(test_fill_and_spread)
{
	make_stores(3, 200);
	st[0].rs_used = 100;
	st[1].rs_used = 20;
	st[1].rs_moving = 30;
	ck_assert(rebalance_fill(&st[0]) == 50.0);
	ck_assert(rebalance_fill(&st[1]) == 25.0);
	ck_assert(rebalance_spread(st, 3) == 50.0);
	ck_assert(rebalance_spread(st, 1) == 0.0);
}
END_TEST

START_TEST(test_fullest_moves_to_the_emptiest_outside_the_object)
{
	static const size_t on[6] = { 0, 1, 2, 3, 4, 5 };
	struct rebalance_part p;
	struct rebalance_move mv;
	struct manifest m;
	size_t i;

	make_stores(8, 100 * MIB);
	for (i = 0; i < 6; i++)
		st[i].rs_used = 50 * MIB;
	st[2].rs_used = 60 * MIB;
	st[6].rs_used = 10 * MIB;
	st[7].rs_used = 5 * MIB;
	make_object(&m, on, MIB);
	p.rp_m = &m;
	p.rp_index = 2;
	ck_assert(rebalance_choose("s2", st, 8, &p, 1, 5, 0, &mv));
	ck_assert_uint_eq(mv.rm_part, 0);
	ck_assert_str_eq(st[mv.rm_store].rs_node, "s7");
	/* What is moving to s7 counts: s6 is emptier then. */
	st[7].rs_moving = 6 * MIB;
	ck_assert(rebalance_choose("s2", st, 8, &p, 1, 5, 0, &mv));
	ck_assert_str_eq(st[mv.rm_store].rs_node, "s6");
	/* Another store is not the fullest: it waits. */
	p.rp_index = 0;
	ck_assert(!rebalance_choose("s0", st, 8, &p, 1, 5, 0, &mv));
	/* Within the spread, nobody moves. */
	for (i = 0; i < 8; i++)
		st[i].rs_used = 50 * MIB, st[i].rs_moving = 0;
	st[2].rs_used = 54 * MIB;
	p.rp_index = 2;
	ck_assert(!rebalance_choose("s2", st, 8, &p, 1, 5, 0, &mv));
	ck_assert(rebalance_choose("s2", st, 8, &p, 1, 3, 0, &mv));
	/* A tie for the fullest: the lowest name moves. */
	st[1].rs_used = 54 * MIB;
	ck_assert(!rebalance_choose("s2", st, 8, &p, 1, 3, 0, &mv));
}
END_TEST

START_TEST(test_no_target_holding_the_object_or_full_or_not_alive)
{
	static const size_t on[6] = { 0, 1, 2, 3, 4, 6 };
	struct rebalance_part p;
	struct rebalance_move mv;
	struct manifest m;
	size_t i;

	make_stores(8, 100 * MIB);
	for (i = 0; i < 8; i++)
		st[i].rs_used = 50 * MIB;
	st[0].rs_used = 90 * MIB;
	st[6].rs_used = 0;		/* emptiest, but holds a part */
	st[7].rs_used = 0;		/* emptiest, no room for 1 MiB */
	st[7].rs_capacity = MIB / 2;
	make_object(&m, on, MIB);
	p.rp_m = &m;
	p.rp_index = 0;
	ck_assert(rebalance_choose("s0", st, 8, &p, 1, 5, 0, &mv));
	ck_assert_str_eq(st[mv.rm_store].rs_node, "s5");
	/* s6, a store of the object, is not alive (not among the stores):
	 * the object is left alone. */
	st[6] = st[7];
	ck_assert(!rebalance_choose("s0", st, 7, &p, 1, 5, 0, &mv));
}
END_TEST

START_TEST(test_no_move_that_reverses_the_order)
{
	static const size_t on[6] = { 0, 1, 2, 3, 4, 5 };
	struct rebalance_part p;
	struct rebalance_move mv;
	struct manifest m;
	size_t i;

	/* A part as large as the gap: the target would end fuller than
	 * the mover, so it stays. */
	make_stores(7, 100 * MIB);
	for (i = 0; i < 7; i++)
		st[i].rs_used = 40 * MIB;
	st[0].rs_used = 50 * MIB;
	make_object(&m, on, 10 * MIB);
	p.rp_m = &m;
	p.rp_index = 0;
	ck_assert(!rebalance_choose("s0", st, 7, &p, 1, 5, 0, &mv));
	make_object(&m, on, 4 * MIB);
	ck_assert(rebalance_choose("s0", st, 7, &p, 1, 5, 0, &mv));
	ck_assert_str_eq(st[mv.rm_store].rs_node, "s6");
}
END_TEST

START_TEST(test_a_part_over_half_the_gap_moves)
{
	static const size_t on[6] = { 0, 1, 2, 3, 4, 5 };
	struct rebalance_part p;
	struct rebalance_move mv;
	struct manifest m;
	size_t i;

	/* The fills of a black-box run that stayed 5.4 points apart: s6
	 * ends at 20.5, above s0's 19.5, and the spread is 2 points. */
	make_stores(7, 100 * MIB);
	for (i = 0; i < 7; i++)
		st[i].rs_used = 21 * MIB;
	st[0].rs_used = 23 * MIB;
	st[6].rs_used = 17 * MIB;
	make_object(&m, on, 7 * MIB / 2);
	p.rp_m = &m;
	p.rp_index = 0;
	ck_assert(rebalance_choose("s0", st, 7, &p, 1, 5, 0, &mv));
	ck_assert_str_eq(st[mv.rm_store].rs_node, "s6");
	/* A part the size of the gap would only swap the two. */
	make_object(&m, on, 6 * MIB);
	ck_assert(!rebalance_choose("s0", st, 7, &p, 1, 5, 0, &mv));
}
END_TEST

/* Moves of the n stores' parts among objs[0..nobj), one at a time by
 * the fullest store, until none qualifies; returns how many. */
static size_t
settle(struct manifest *objs, size_t nobj, size_t n, struct rng *rng)
{
	static struct rebalance_part parts[MAX_OBJECTS];
	struct rebalance_move mv;
	size_t i, np, s, moves = 0;
	unsigned idx;

	for (;;) {
		bool moved = false;

		for (s = 0; s < n && !moved; s++) {
			np = 0;
			for (i = 0; i < nobj; i++) {
				int at = manifest_part_of(&objs[i],
				    st[s].rs_node);

				if (at >= 0) {
					parts[np].rp_m = &objs[i];
					parts[np++].rp_index = (unsigned)at;
				}
			}
			if (!rebalance_choose(st[s].rs_node, st, n, parts, np,
			    5, rng_next(rng), &mv))
				continue;
			idx = parts[mv.rm_part].rp_index;
			i = (size_t)(parts[mv.rm_part].rp_m - objs);
			st[s].rs_used -= objs[i].m_parts[idx].mp_size;
			st[mv.rm_store].rs_used += objs[i].m_parts[idx].mp_size;
			snprintf(objs[i].m_parts[idx].mp_node, MEMBER_NAME_MAX,
			    "%s", st[mv.rm_store].rs_node);
			moved = true;
			moves++;
		}
		if (!moved)
			return moves;
		ck_assert_uint_lt(moves, 2000);
	}
}

/* Six stores full of objects, a seventh and an eighth join: moves, one
 * at a time by the fullest store, settle the spread within 5 points. */
START_TEST(test_a_cluster_settles)
{
	static struct manifest objs[MAX_OBJECTS];
	static const size_t first6[6] = { 0, 1, 2, 3, 4, 5 };
	struct rng rng;
	size_t n, i, k, moves = 0;

	rng_seed(&rng, 7);
	make_stores(8, 1000 * MIB);
	for (i = 0; i < MAX_OBJECTS; i++) {
		make_object(&objs[i], first6, (1 + rng_below(&rng, 4)) * MIB);
		for (k = 0; k < 6; k++)
			st[k].rs_used += objs[i].m_parts[k].mp_size;
	}
	for (n = 7; n <= 8; n++) {
		moves += settle(objs, MAX_OBJECTS, n, &rng);
		ck_assert(rebalance_spread(st, n) <= 5.0);
		/* Still six distinct stores per object. */
		for (i = 0; i < MAX_OBJECTS; i++)
			for (k = 0; k < 6; k++)
				ck_assert_int_eq(manifest_part_of(&objs[i],
				    objs[i].m_parts[k].mp_node), (int)k);
	}
	ck_assert_uint_gt(moves, 100);
}
END_TEST

/* As test_rebalance.py: six stores of 8 MiB holding ten objects whose
 * parts are 2 to 5 blocks of 64 KiB (1.6 to 3.9 points each), a seventh
 * joins; in every one of many shuffles the spread settles. */
START_TEST(test_small_clusters_of_large_parts_settle)
{
	static struct manifest objs[10];
	size_t on[6], i, k, j, t, seed;
	struct rng rng;

	for (seed = 0; seed < 1000; seed++) {
		rng_seed(&rng, seed);
		make_stores(7, 8 * MIB);
		for (i = 0; i < 10; i++) {
			for (k = 0; k < 6; k++)
				on[k] = k;
			for (k = 5; k > 0; k--) {
				j = (size_t)rng_below(&rng, k + 1);
				t = on[k];
				on[k] = on[j];
				on[j] = t;
			}
			make_object(&objs[i], on, (2 + rng_below(&rng, 4)) *
			    64 * 1024);
			for (k = 0; k < 6; k++)
				st[on[k]].rs_used += objs[i].m_parts[k].mp_size;
		}
		(void)settle(objs, 10, 7, &rng);
		ck_assert_msg(rebalance_spread(st, 7) <= 5.0, "seed %zu: "
		    "%.2f points", seed, rebalance_spread(st, 7));
	}
}
END_TEST

int
main(void)
{
	check_main_tcase("rebalance", NULL, NULL, CHECK_MAIN_TESTS(
	    test_fill_and_spread,
	    test_fullest_moves_to_the_emptiest_outside_the_object,
	    test_no_target_holding_the_object_or_full_or_not_alive,
	    test_no_move_that_reverses_the_order,
	    test_a_part_over_half_the_gap_moves,
	    test_a_cluster_settles,
	    test_small_clusters_of_large_parts_settle));
	return check_main_run();
}
