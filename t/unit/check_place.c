/*
 * check_place.c - rendezvous placement: the same ranking everywhere,
 * distinct nodes, an even spread, and a node that goes moves only the
 * names it ranked for.
 */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "cluster/place.h"

#define NODES 20
#define NAMES 20000
#define K 3

static char node_names[NODES][24];
static const char *nodes[NODES];

static void
make_nodes(void)
{
	int i;

	for (i = 0; i < NODES; i++) {
		snprintf(node_names[i], sizeof(node_names[i]), "node-%d", i);
		nodes[i] = node_names[i];
	}
}

static size_t
name_of(int i, char *buf, size_t size)
{
	return (size_t)snprintf(buf, size, "object-%d.jpg", i);
}

START_TEST(test_deterministic_and_distinct)
{
	size_t a[K], b[K], k, j, l;
	const char *rev[NODES];
	char name[32];
	int i;

	make_nodes();
	for (i = 0; i < NODES; i++)
		rev[i] = nodes[NODES - 1 - i];
	for (i = 0; i < 1000; i++) {
		size_t len = name_of(i, name, sizeof(name));

		ck_assert_uint_eq(place_rank(name, len, nodes, NODES, a, K), K);
		ck_assert_uint_eq(place_rank(name, len, nodes, NODES, b, K), K);
		for (k = 0; k < K; k++) {
			ck_assert_uint_eq(a[k], b[k]);
			for (j = 0; j < k; j++)
				ck_assert_uint_ne(a[k], a[j]);
			if (k > 0)
				ck_assert_uint_ge(place_weight(nodes[a[k - 1]],
				    name, len), place_weight(nodes[a[k]], name,
				    len));
		}
		/* The order the nodes are given in does not matter. */
		place_rank(name, len, rev, NODES, b, K);
		for (k = 0; k < K; k++)
			ck_assert_str_eq(nodes[a[k]], rev[b[k]]);
		/* The heaviest of all, checked by brute force. */
		for (l = 0; l < NODES; l++)
			ck_assert_uint_ge(place_weight(nodes[a[0]], name, len),
			    place_weight(nodes[l], name, len));
	}
	/* Fewer nodes than asked for: all of them. */
	ck_assert_uint_eq(place_rank("x", 1, nodes, 2, a, K), 2);
	ck_assert_uint_ne(a[0], a[1]);
	ck_assert_uint_eq(place_rank("x", 1, nodes, 0, a, K), 0);
}
END_TEST

START_TEST(test_removing_a_node_moves_only_its_names)
{
	static size_t before[NAMES][K];
	const char *less[NODES - 1];
	size_t after[K], moved = 0, k, j;
	int i, gone = 7, n = 0;
	char name[32];

	make_nodes();
	for (i = 0; i < NODES; i++)
		if (i != gone)
			less[n++] = nodes[i];
	for (i = 0; i < NAMES; i++) {
		size_t len = name_of(i, name, sizeof(name));
		bool had = false;

		place_rank(name, len, nodes, NODES, before[i], K);
		place_rank(name, len, less, NODES - 1, after, K);
		for (k = 0; k < K; k++)
			had |= before[i][k] == (size_t)gone;
		if (!had) {
			/* Untouched: the same top K, in the same order. */
			for (k = 0; k < K; k++)
				ck_assert_str_eq(nodes[before[i][k]],
				    less[after[k]]);
			continue;
		}
		moved++;
		/* The others keep their order; the next node comes in. */
		for (k = 0, j = 0; k < K; k++) {
			if (before[i][k] == (size_t)gone)
				continue;
			ck_assert_str_eq(nodes[before[i][k]], less[after[j]]);
			j++;
		}
	}
	printf("place: removing 1 of %d nodes touched %.3f of the names "
	    "(k/n = %.3f)\n", NODES, (double)moved / NAMES, (double)K / NODES);
	ck_assert_double_lt(fabs((double)moved / NAMES - (double)K / NODES),
	    0.02);
}
END_TEST

START_TEST(test_spread_is_even)
{
	unsigned count[NODES] = { 0 };
	double expect = (double)NAMES / NODES, chi = 0;
	size_t order[1];
	char name[32];
	int i;

	make_nodes();
	for (i = 0; i < NAMES; i++) {
		size_t len = name_of(i, name, sizeof(name));

		place_rank(name, len, nodes, NODES, order, 1);
		count[order[0]]++;
	}
	for (i = 0; i < NODES; i++)
		chi += (count[i] - expect) * (count[i] - expect) / expect;
	printf("place: %d names over %d nodes, chi-square %.1f (19 degrees "
	    "of freedom; 43.8 is p = 0.001)\n", NAMES, NODES, chi);
	ck_assert_double_lt(chi, 43.8);
}
END_TEST

START_TEST(test_long_ranking)
{
	size_t order[NODES];
	int i;

	make_nodes();
	ck_assert_uint_eq(place_rank("a", 1, nodes, NODES, order, 100), NODES);
	for (i = 1; i < NODES; i++)
		ck_assert_uint_ge(place_weight(nodes[order[i - 1]], "a", 1),
		    place_weight(nodes[order[i]], "a", 1));
}
END_TEST

int
main(void)
{
	check_main_tcase("place", NULL, NULL, CHECK_MAIN_TESTS(
	    test_deterministic_and_distinct,
	    test_removing_a_node_moves_only_its_names,
	    test_spread_is_even,
	    test_long_ranking));
	return check_main_run();
}
