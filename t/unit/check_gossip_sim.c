/*
 * check_gossip_sim.c - the gossip rules at scale: up to a thousand member
 * tables in one process on a virtual clock (gossip_sim.h), with message
 * loss, late answers, a split and seeds down at start. The figures each
 * test prints are the ones doc/benchmarks.md quotes; the bounds asserted leave a
 * margin over them, beside Serf's convergence model (all nodes in 9
 * rounds at 64 and 11 at 1,000, fanout 3, no loss).
 *
 * The catalogue's tests give every node a catalogue table too: 10,000
 * objects announced over 1,000 nodes reach every table, the same at
 * every node; and the same names written on both sides of a split get
 * the same winner everywhere once it heals. Under AddressSanitizer the
 * 1,000 nodes are 200 (the plain build runs the 1,000).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "check_main.h"
#include "cluster/hlc.h"
#include "cluster/place.h"
#include "gossip_sim.h"

/*
 * The catalogue's simulation: SHOAL_SIM_NODES nodes announcing
 * SHOAL_SIM_OBJECTS objects (the environment; `make sim` and the bench's
 * gossip case run 1,000 and 10,000, about 40 s). make check runs a
 * smaller cluster of the same shape, to stay within its time.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SIM_CAT_NODES_CHECK 100		/* four times slower under ASan */
#define SIM_CAT_OBJECTS_CHECK 1000
#else
#define SIM_CAT_NODES_CHECK 250
#define SIM_CAT_OBJECTS_CHECK 2500
#endif
#define SIM_CAT_HOLDERS 2

static int
sim_env(const char *name, int dflt)
{
	const char *v = getenv(name);
	int n = v != NULL ? atoi(v) : 0;

	return n > 0 ? n : dflt;
}

#define SIM_MAX_ROUNDS 200

/* Rounds until every node up knows node `who` alive, and it knows them. */
static int
sim_rounds_to_know(struct sim *s, int who)
{
	int up = sim_up(s);

	while (s->s_round < SIM_MAX_ROUNDS) {
		sim_round(s);
		if (sim_seen(s, who, MEMBER_ALIVE) == up - 1 &&
		    members_at(s->s_nodes[who].sn_mt, 0)->m_in_use &&
		    s->s_nodes[who].sn_mt->mt_count == (uint32_t)s->s_n)
			return s->s_round;
	}
	return -1;
}

/* A converged cluster of n, then one node more that names node 0 as its
 * seed: rounds until all know it and it knows all. */
static int
join_rounds(int n, unsigned loss_pct, unsigned delay_pct, uint64_t seed)
{
	struct sim s;
	int rounds;

	sim_init(&s, n + 1, seed);
	sim_converged(&s, n);
	s.s_loss_pct = loss_pct;
	s.s_delay_pct = delay_pct;
	sim_add(&s, n);
	rounds = sim_rounds_to_know(&s, n);
	sim_free(&s);
	return rounds;
}

/* The worst of a few runs with different dice. */
static int
join_worst(int n, unsigned loss_pct, unsigned delay_pct, int runs)
{
	int r, worst = 0, i;

	for (i = 0; i < runs; i++) {
		r = join_rounds(n, loss_pct, delay_pct, 1000 + (uint64_t)i);
		if (r < 0)
			return -1;
		if (r > worst)
			worst = r;
	}
	printf("gossip sim: a new member known to all %d in %d rounds "
	    "(worst of %d runs; %u%% loss, %u%% late)\n", n + 1, worst, runs,
	    loss_pct, delay_pct);
	return worst;
}

START_TEST(join_64)
{
	int r = join_worst(64, 0, 0, 5);

	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 10);
}
END_TEST

START_TEST(join_64_lossy)
{
	int r = join_worst(64, 30, 0, 5);

	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 20);
}
END_TEST

START_TEST(join_64_late)
{
	int r = join_worst(64, 10, 20, 5);

	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 20);
}
END_TEST

START_TEST(join_1000)
{
	int r = join_worst(1000, 0, 0, 1);

	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 13);
}
END_TEST

START_TEST(join_1000_lossy)
{
	int r = join_worst(1000, 30, 0, 1);

	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 26);
}
END_TEST

static uint64_t
sim_sum(struct sim *s, size_t off)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < s->s_n; i++)
		sum += *(uint64_t *)(void *)((char *)&s->s_nodes[i].sn_mt->
		    mt_stats + off);
	return sum;
}

#define SIM_SUM(s, field) sim_sum(s, offsetof(struct members_stats, field))

START_TEST(no_false_death_at_30_percent_loss)
{
	struct sim s;
	uint32_t counts[MEMBER_STATES];
	int i;

	sim_init(&s, 64, 7);
	sim_converged(&s, 64);
	s.s_loss_pct = 30;
	for (i = 0; i < 1000; i++) {
		sim_round(&s);
		ck_assert_uint_eq(SIM_SUM(&s, ms_declared_dead), 0);
	}
	printf("gossip sim: 64 members, 30%% loss, 1000 rounds: %llu "
	    "suspicions, %llu refuted, none declared dead\n",
	    (unsigned long long)SIM_SUM(&s, ms_suspected),
	    (unsigned long long)SIM_SUM(&s, ms_refuted));
	for (i = 0; i < 64; i++) {
		members_count_locked(s.s_nodes[i].sn_mt, counts);
		ck_assert_uint_eq(counts[MEMBER_DEAD], 0);
	}
	sim_free(&s);
}
END_TEST

START_TEST(a_dead_member_is_dead_everywhere_in_time)
{
	struct sim s;
	int64_t suspect_ms, dead_ms;
	int bound, died_at, r = -1;

	sim_init(&s, 64, 11);
	sim_converged(&s, 64);
	s.s_loss_pct = 10;
	members_timeouts(s.s_nodes[0].sn_mt, &suspect_ms, &dead_ms);
	bound = (int)((suspect_ms + dead_ms) / SIM_INTERVAL_MS) + 10;
	s.s_nodes[17].sn_up = false;
	died_at = s.s_round;
	while (s.s_round < died_at + 2 * bound) {
		sim_round(&s);
		if (sim_seen(&s, 17, MEMBER_DEAD) == 63) {
			r = s.s_round - died_at;
			break;
		}
	}
	printf("gossip sim: a member that died is dead to all 63 others in %d "
	    "rounds (suspect_after + dead_after = %lld rounds)\n", r,
	    (long long)((suspect_ms + dead_ms) / SIM_INTERVAL_MS));
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, bound);
	sim_free(&s);
}
END_TEST

START_TEST(a_split_merges_again)
{
	struct sim s;
	int i, healed, r = -1;

	sim_init(&s, 64, 23);
	sim_converged(&s, 64);
	for (i = 0; i < 64; i++)
		s.s_nodes[i].sn_side = i < 32;
	s.s_split = true;
	for (i = 0; i < 100; i++)
		sim_round(&s);
	/* Each side has given the other up. */
	ck_assert_int_eq(sim_seen(&s, 40, MEMBER_DEAD), 32);
	ck_assert_int_eq(sim_seen(&s, 3, MEMBER_DEAD), 32);
	s.s_split = false;
	healed = s.s_round;
	while (s.s_round < healed + 100) {
		sim_round(&s);
		if (sim_all_alive(&s)) {
			r = s.s_round - healed;
			break;
		}
	}
	printf("gossip sim: two halves of 32, split for 100 rounds, one again "
	    "%d rounds after the link healed\n", r);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 20);
	sim_free(&s);
}
END_TEST

START_TEST(a_seed_down_at_start_is_joined_when_it_comes)
{
	struct sim s;
	int i, r;

	sim_init(&s, 17, 5);
	sim_converged(&s, 16);
	s.s_nodes[0].sn_up = false;
	sim_add(&s, 16);
	for (i = 0; i < 30; i++)
		sim_round(&s);
	/* Nobody to ask: it knows only itself. */
	ck_assert_uint_eq(s.s_nodes[16].sn_mt->mt_count, 1);
	s.s_nodes[0].sn_up = true;
	s.s_round = 0;
	r = sim_rounds_to_know(&s, 16);
	printf("gossip sim: the seed back after 30 rounds; the new member "
	    "known to all 16 in %d rounds more\n", r);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 12);
	sim_free(&s);
}
END_TEST

START_TEST(a_member_that_leaves_is_left_everywhere_at_once)
{
	struct sim s;
	int r = -1;

	sim_init(&s, 64, 3);
	sim_converged(&s, 64);
	members_leave_locked(s.s_nodes[9].sn_mt);
	sim_round(&s);		/* its last round, then it stops */
	s.s_nodes[9].sn_up = false;
	while (s.s_round < 30) {
		if (sim_seen(&s, 9, MEMBER_LEFT) == 63) {
			r = s.s_round;
			break;
		}
		sim_round(&s);
	}
	printf("gossip sim: a member that left is left to all 63 others in %d "
	    "rounds\n", r);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 10);
	ck_assert_uint_eq(SIM_SUM(&s, ms_suspected), 0);
	sim_free(&s);
}
END_TEST

START_TEST(a_dead_member_that_restarts_is_alive_again)
{
	struct sim s;
	int i, r;

	sim_init(&s, 32, 9);
	sim_converged(&s, 32);
	s.s_nodes[12].sn_up = false;
	for (i = 0; i < 150; i++)
		sim_round(&s);
	ck_assert_int_eq(sim_seen(&s, 12, MEMBER_DEAD), 31);
	/* A new process: a new table, a later incarnation, only the seed. */
	free(s.s_nodes[12].sn_mt);
	sim_add(&s, 12);
	s.s_round = 0;
	r = sim_rounds_to_know(&s, 12);
	printf("gossip sim: a dead member restarted is alive to all 31 others "
	    "in %d rounds\n", r);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 12);
	sim_free(&s);
}
END_TEST

/* Bytes a node sends per round, requests and answers, in a cluster at
 * rest (after a warm-up), with the daemon's auto timeouts. */
static double
round_cost(int n, int rounds)
{
	struct sim s;
	double bytes;
	int i;

	sim_init(&s, n, 77);
	sim_converged(&s, n);
	for (i = 0; i < 30; i++)
		sim_round(&s);
	s.s_sent_lines = s.s_sent_news = s.s_exchanges = 0;
	for (i = 0; i < rounds; i++)
		sim_round(&s);
	bytes = (double)(s.s_sent_lines * SIM_LINE_BYTES + s.s_sent_news *
	    SIM_NEWS_BYTES + 2 * s.s_exchanges * SIM_MESSAGE_BYTES);
	printf("gossip sim: a round at rest costs %.1f KB per node at %d "
	    "members (%.1f exchanges, %.1f news each)\n", bytes / rounds / n /
	    1000, n, (double)s.s_exchanges / rounds / n,
	    (double)s.s_sent_news / (double)s.s_exchanges);
	sim_free(&s);
	return bytes / rounds / n;
}

START_TEST(a_round_costs_what_the_readme_says)
{
	/* doc/benchmarks.md quotes these; the bounds hold them there. */
	ck_assert_double_lt(round_cost(64, 50), 20000);
	ck_assert_double_lt(round_cost(1000, 10), 300000);
}
END_TEST


/* -- the catalogue ----------------------------------------------------- */

/* The fingerprint of one version: its name, digest, origin, stamp and
 * holders (summed: their order does not count); a table's is the sum
 * over its versions. */
static uint64_t
version_print(const char *name, size_t len, const struct digest *d,
    const char *origin, uint64_t hlc, const char **holders, size_t nh)
{
	uint64_t f[5];
	size_t k;

	f[0] = XXH3_64bits(name, len);
	f[1] = d->d_hi ^ (d->d_lo * 0x9e3779b97f4a7c15ULL);
	f[2] = XXH3_64bits(origin, strlen(origin));
	f[3] = hlc;
	f[4] = nh;
	for (k = 0; k < nh; k++)
		f[4] += XXH3_64bits(holders[k], strlen(holders[k]));
	return XXH3_64bits(f, sizeof(f));
}

static void
print_visit(void *arg, const struct cat_version_view *v)
{
	const char *h[CATALOGUE_HOLDERS_VIEW];
	size_t k, nh = 0;

	ck_assert_uint_le(v->vv_nholders, CATALOGUE_HOLDERS_VIEW);
	for (k = 0; k < CATALOGUE_HOLDERS_VIEW && v->vv_holders[k]; k++)
		h[nh++] = v->vv_holders[k];
	*(uint64_t *)arg += version_print(v->vv_name, v->vv_name_len,
	    &v->vv_digest, v->vv_origin, v->vv_hlc, h, nh);
}

static uint64_t
table_print(const struct catalogue *c)
{
	uint64_t sum = 0;
	uint32_t cursor = 0;

	do
		catalogue_walk_locked(c, &cursor, 4096, print_visit, &sum);
	while (cursor != 0);
	return sum;
}

/* Whether every node's table holds as many versions and facts as given,
 * and knows every owner up to what it announces. */
static bool
sim_cat_caught_up(struct sim *s, uint64_t versions, uint64_t facts)
{
	int i;

	for (i = 0; i < s->s_cat_n; i++) {
		const struct catalogue_stats *st =
		    catalogue_stats(s->s_nodes[i].sn_cat);

		if (st->cs_versions != versions || st->cs_facts != facts)
			return false;
	}
	return true;
}

START_TEST(catalogue_everywhere_in_bounded_rounds)
{
	const char **nodes;
	struct sim s;
	uint64_t expect = 0, hlc0 = hlc_from_ms(SIM_WALL0), prev, peak = 0;
	int n = sim_env("SHOAL_SIM_NODES", SIM_CAT_NODES_CHECK), i, r = -1;
	int objects = sim_env("SHOAL_SIM_OBJECTS", SIM_CAT_OBJECTS_CHECK);
	size_t order[SIM_CAT_HOLDERS], k;
	char name[32];

	sim_init(&s, n, 99);
	sim_converged(&s, n);
	sim_cat_start(&s, objects);
	nodes = s.s_cat_owners;
	/* Each object at the two nodes its name ranks first; the first is
	 * its origin, which stamped it. */
	for (i = 0; i < objects; i++) {
		const char *h[SIM_CAT_HOLDERS];
		struct digest d = { (uint64_t)i * 0x9e3779b97f4a7c15ULL,
		    (uint64_t)i };
		size_t len = (size_t)snprintf(name, sizeof(name),
		    "obj-%05d.jpg", i);
		uint64_t hlc = hlc0 + (uint64_t)i;

		ck_assert_uint_eq(place_rank(name, len, nodes, (size_t)n,
		    order, SIM_CAT_HOLDERS), SIM_CAT_HOLDERS);
		for (k = 0; k < SIM_CAT_HOLDERS; k++) {
			ck_assert_int_eq(catalogue_announce_locked(
			    s.s_nodes[order[k]].sn_cat, name, len, &d, 1000,
			    nodes[order[0]], hlc), 1);
			h[k] = nodes[order[k]];
		}
		expect += version_print(name, len, &d, nodes[order[0]], hlc, h,
		    SIM_CAT_HOLDERS);
	}
	prev = 0;
	while (s.s_round < 60) {
		sim_round(&s);
		if (s.s_cat_bytes - prev > peak)
			peak = s.s_cat_bytes - prev;
		prev = s.s_cat_bytes;
		if (sim_cat_caught_up(&s, objects, objects *
		    SIM_CAT_HOLDERS)) {
			r = s.s_round;
			break;
		}
	}
	printf("catalogue sim: %d nodes, %d objects (%d holders each): every "
	    "table complete in %d rounds; %.1f KB per node per round on "
	    "average, %.1f KB in the busiest round; %.2f MB per node in all "
	    "(%llu facts, %llu wants sent)\n", n, objects,
	    SIM_CAT_HOLDERS, r, (double)s.s_cat_bytes / r / n / 1000,
	    (double)peak / n / 1000, (double)s.s_cat_bytes / n / 1e6,
	    (unsigned long long)s.s_cat_facts,
	    (unsigned long long)s.s_cat_wants);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, n > 500 ? 16 : 14);
	/* The same table at every node, the one the announcements make. */
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(table_print(s.s_nodes[i].sn_cat), expect);
	/* At rest, nothing is wanted and nothing sent. */
	prev = s.s_cat_bytes;
	sim_round(&s);
	ck_assert_uint_eq(s.s_cat_bytes, prev);
	sim_free(&s);
}
END_TEST

#define SPLIT_NODES 100
#define SPLIT_NAMES 50

START_TEST(catalogue_split_gets_one_winner_everywhere)
{
	struct sim s;
	struct cat_version_view v[4];
	struct digest da, db, win[SPLIT_NAMES];
	uint64_t hlc0 = hlc_from_ms(SIM_WALL0), ha, hb;
	int i, k, healed, r = -1, wa, wb;
	char name[32];
	size_t len;

	sim_init(&s, SPLIT_NODES, 31);
	sim_converged(&s, SPLIT_NODES);
	sim_cat_start(&s, 1024);
	for (i = 0; i < SPLIT_NODES; i++)
		s.s_nodes[i].sn_side = i < SPLIT_NODES / 2;
	s.s_split = true;
	/* The same names, other bytes, one writer on each side. A third of
	 * them with the same stamp: the origin's name decides. */
	for (k = 0; k < SPLIT_NAMES; k++) {
		len = (size_t)snprintf(name, sizeof(name), "clash-%02d", k);
		wa = (k * 7) % (SPLIT_NODES / 2);
		wb = SPLIT_NODES / 2 + (k * 13) % (SPLIT_NODES / 2);
		da.d_hi = 0xa000 + (uint64_t)k;
		da.d_lo = 1;
		db.d_hi = 0xb000 + (uint64_t)k;
		db.d_lo = 2;
		ha = hlc0 + 100 * (uint64_t)k;
		hb = k % 3 == 0 ? ha : k % 3 == 1 ? ha + 7 : ha - 7;
		ck_assert_int_eq(catalogue_announce_locked(s.s_nodes[wa].sn_cat,
		    name, len, &da, 10, s.s_cat_owners[wa], ha), 1);
		ck_assert_int_eq(catalogue_announce_locked(s.s_nodes[wb].sn_cat,
		    name, len, &db, 20, s.s_cat_owners[wb], hb), 1);
		win[k] = catalogue_rule(ha, s.s_cat_owners[wa], &da, hb,
		    s.s_cat_owners[wb], &db) < 0 ? da : db;
	}
	for (i = 0; i < 40; i++)
		sim_round(&s);
	/* Each side has its own writers' versions, and no conflict. */
	for (i = 0; i < SPLIT_NODES; i++) {
		const struct catalogue_stats *st =
		    catalogue_stats(s.s_nodes[i].sn_cat);

		ck_assert_uint_eq(st->cs_versions, SPLIT_NAMES);
		ck_assert_uint_eq(st->cs_conflicts, 0);
	}
	s.s_split = false;
	healed = s.s_round;
	while (s.s_round < healed + 100) {
		sim_round(&s);
		if (sim_cat_caught_up(&s, 2 * SPLIT_NAMES, 2 * SPLIT_NAMES)) {
			r = s.s_round - healed;
			break;
		}
	}
	printf("catalogue sim: %d names written on both sides of a split of "
	    "%d nodes; one winner for each at every node %d rounds after "
	    "the link healed (%llu conflicts seen in all)\n", SPLIT_NAMES,
	    SPLIT_NODES, r, (unsigned long long)s.s_cat_conflicts);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, 40);
	for (i = 0; i < SPLIT_NODES; i++) {
		const struct catalogue *c = s.s_nodes[i].sn_cat;

		ck_assert_uint_eq(catalogue_stats(c)->cs_conflicts, SPLIT_NAMES);
		for (k = 0; k < SPLIT_NAMES; k++) {
			len = (size_t)snprintf(name, sizeof(name), "clash-%02d",
			    k);
			ck_assert_uint_eq(catalogue_versions_locked(c, name, len,
			    v, 4), 2);
			ck_assert(v[0].vv_winner);
			ck_assert(digest_equal(&v[0].vv_digest, &win[k]));
			ck_assert(!v[1].vv_winner);
		}
	}
	/* Every node saw each conflict once, its writers too. */
	ck_assert_uint_eq(s.s_cat_conflicts, (uint64_t)SPLIT_NODES *
	    SPLIT_NAMES);
	sim_free(&s);
}
END_TEST

static void
gossip_sim_suite(void)
{
	TCase *tc = check_main_tcase("sim", NULL, NULL, NULL, 0);

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, join_64);
	tcase_add_test(tc, join_64_lossy);
	tcase_add_test(tc, join_64_late);
	tcase_add_test(tc, join_1000);
	tcase_add_test(tc, join_1000_lossy);
	tcase_add_test(tc, no_false_death_at_30_percent_loss);
	tcase_add_test(tc, a_dead_member_is_dead_everywhere_in_time);
	tcase_add_test(tc, a_split_merges_again);
	tcase_add_test(tc, a_seed_down_at_start_is_joined_when_it_comes);
	tcase_add_test(tc, a_member_that_leaves_is_left_everywhere_at_once);
	tcase_add_test(tc, a_dead_member_that_restarts_is_alive_again);
	tcase_add_test(tc, a_round_costs_what_the_readme_says);
	tc = check_main_tcase("catalogue", NULL, NULL, NULL, 0);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, catalogue_everywhere_in_bounded_rounds);
	tcase_add_test(tc, catalogue_split_gets_one_winner_everywhere);
}

int
main(void)
{
	gossip_sim_suite();
	return check_main_run();
}
