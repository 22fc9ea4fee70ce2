/*
 * check_replicate.c - unit tests for the pure rules of
 * src/cluster/replicate.c: which nodes are chosen to hold a name (exactly
 * `replicas` of the alive ones, the same whatever the order they are
 * listed in, and when one of them dies only its place moves, to the next
 * of the ranking), and the pull's deadline. The pulls themselves are
 * tested black-box (t/blackbox/test_catalogue.py). Runs in Check's fork
 * mode.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cluster/replicate.h"
#include "check_main.h"

static const char *const nodes4[] = { "a:1", "b:2", "c:3", "d:4" };

/* How many of nodes[0..n) are chosen for name, and which (a bit each). */
static int
chosen(const char *name, const char *const *nodes, size_t n, int replicas,
    unsigned *which)
{
	size_t i;
	int k = 0;

	*which = 0;
	for (i = 0; i < n; i++)
		if (replicate_chosen(name, strlen(name), nodes, n, nodes[i],
		    replicas)) {
			k++;
			*which |= 1u << i;
		}
	return k;
}

START_TEST(exactly_replicas_nodes_are_chosen)
{
	unsigned which, seen = 0;
	char name[32];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "object-%d", i);
		ck_assert_int_eq(chosen(name, nodes4, 4, 2, &which), 2);
		seen |= which;
		ck_assert_int_eq(chosen(name, nodes4, 4, 1, &which), 1);
		/* More replicas than nodes: every node. */
		ck_assert_int_eq(chosen(name, nodes4, 4, 9, &which), 4);
		ck_assert_int_eq(chosen(name, nodes4, 4, 0, &which), 0);
	}
	/* Every node is chosen for some names. */
	ck_assert_uint_eq(seen, 0xf);
}
END_TEST

START_TEST(choice_does_not_depend_on_the_order)
{
	static const char *const rev[] = { "d:4", "c:3", "b:2", "a:1" };
	char name[32];
	int i, j;

	for (i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		for (j = 0; j < 4; j++)
			ck_assert_int_eq(replicate_chosen(name, strlen(name),
			    nodes4, 4, nodes4[j], 2),
			    replicate_chosen(name, strlen(name), rev, 4,
			    nodes4[j], 2));
	}
}
END_TEST

START_TEST(a_dead_holder_moves_only_its_place)
{
	const char *alive[3];
	unsigned before, after;
	char name[32];
	int i, dead, k, n;

	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "obj/%d", i);
		ck_assert_int_eq(chosen(name, nodes4, 4, 2, &before), 2);
		for (dead = 0; dead < 4; dead++) {
			unsigned mapped = 0;

			for (k = 0, n = 0; k < 4; k++)
				if (k != dead)
					alive[n++] = nodes4[k];
			ck_assert_int_eq(chosen(name, alive, 3, 2, &after), 2);
			for (k = 0, n = 0; k < 4; k++)
				if (k != dead && (after >> n++ & 1))
					mapped |= 1u << k;
			/* The survivors that were chosen stay chosen; the
			 * count comes back to two. */
			ck_assert_uint_eq(mapped & before,
			    before & ~(1u << dead));
		}
	}
}
END_TEST

/* The members chosen for name among nodes4 (2 of them), the others. */
static void
split(const char *name, const char **in, const char **out)
{
	unsigned which;
	int i, a = 0, b = 0;

	ck_assert_int_eq(chosen(name, nodes4, 4, 2, &which), 2);
	for (i = 0; i < 4; i++) {
		if (which >> i & 1)
			in[a++] = nodes4[i];
		else
			out[b++] = nodes4[i];
	}
}

START_TEST(a_replica_is_surplus_once_the_chosen_hold_it)
{
	const bool all[4] = { true, true, true, true };
	const char *in[2], *out[2], *holders[4], *pair[2];
	char name[32];
	bool rest;
	int i, j;

	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "s/%d", i);
		split(name, in, out);
		/* out[0] holds a replica, from out[1]; both chosen hold it. */
		holders[0] = in[0];
		holders[1] = out[0];
		holders[2] = in[1];
		ck_assert(replicate_surplus(name, strlen(name), nodes4, all, 4,
		    out[0], 2, out[1], holders, 3));
		/* The same in any order of the holders. */
		holders[0] = in[1];
		holders[2] = in[0];
		ck_assert(replicate_surplus(name, strlen(name), nodes4, all, 4,
		    out[0], 2, out[1], holders, 3));
		/* The origin keeps its own, always. */
		ck_assert(!replicate_surplus(name, strlen(name), nodes4, all,
		    4, out[0], 2, out[0], holders, 3));
		/* A chosen member never drops. */
		ck_assert(!replicate_surplus(name, strlen(name), nodes4, all,
		    4, in[0], 2, out[1], holders, 3));
		/* One chosen member without it: kept until it has it. */
		holders[0] = out[0];
		holders[1] = in[0];
		ck_assert(!replicate_surplus(name, strlen(name), nodes4, all,
		    4, out[0], 2, out[1], holders, 2));
		/* A chosen member suspect: kept, it may be gone with it. */
		holders[2] = in[1];
		for (j = 0; j < 4; j++) {
			bool some[4] = { true, true, true, true };

			some[j] = false;
			rest = replicate_surplus(name, strlen(name), nodes4,
			    some, 4, out[0], 2, out[1], holders, 3);
			ck_assert(rest == (nodes4[j] != in[0] &&
			    nodes4[j] != in[1]));
		}
		/* No more members than replicas: nothing is too many. */
		pair[0] = in[0];
		pair[1] = out[0];
		ck_assert(!replicate_surplus(name, strlen(name), pair, all, 2,
		    out[0], 2, out[1], holders, 3));
		ck_assert(!replicate_surplus(name, strlen(name), nodes4, all,
		    4, out[0], 0, out[1], holders, 3));
	}
}
END_TEST

START_TEST(deadline_grows_with_the_size)
{
	int64_t small = replicate_deadline_ms(0, 2000);
	int64_t big = replicate_deadline_ms(1ULL << 30, 2000);

	ck_assert_int_ge(small, 8000);
	ck_assert_int_ge(replicate_deadline_ms(0, 100), 10000);
	/* 1 GiB at the slowest rate allowed: 256 s more. */
	ck_assert_int_ge(big - small, 250000);
	ck_assert_int_le(big - small, 270000);
}
END_TEST

int
main(void)
{
	check_main_tcase("replicate", NULL, NULL,
	    CHECK_MAIN_TESTS(exactly_replicas_nodes_are_chosen,
	    choice_does_not_depend_on_the_order,
	    a_dead_holder_moves_only_its_place,
	    a_replica_is_surplus_once_the_chosen_hold_it,
	    deadline_grows_with_the_size));
	return check_main_run();
}
