/*
 * check_catalogue.c - the catalogue's table and rules: the conflict rule
 * whatever the order of arrival, merges that commute and can be
 * repeated, deltas, withdrawals, full resyncs and new incarnations, the
 * budget of a delta, a full table, listing, walking and the name heap.
 * Each table is plain memory here, one per simulated node.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "cluster/catalogue.h"
#include "cluster/catalogue_list.h"

#define T0 (UINT64_C(1800000000000) << 16)
#define MAXF 8192

static struct cat_fact_msg facts[MAXF];

static struct catalogue *
table(const char *self, uint64_t inc, uint64_t objects)
{
	struct catalogue_params p;
	struct catalogue *c;

	catalogue_params_for(&p, objects, 16, 3);
	c = calloc(1, catalogue_size(&p));
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(catalogue_init(c, &p, self, inc), 0);
	return c;
}

static struct digest
dg(uint64_t n)
{
	struct digest d = { n, n * 0x9e3779b97f4a7c15ULL };

	return d;
}

static int
announce(struct catalogue *c, const char *name, uint64_t d,
    const char *origin, uint64_t hlc)
{
	struct digest x = dg(d);

	return catalogue_announce_locked(c, name, strlen(name), &x, 100 + d,
	    origin, hlc);
}

static int
withdraw(struct catalogue *c, const char *name, uint64_t d)
{
	struct digest x = dg(d);

	return catalogue_withdraw_locked(c, name, strlen(name), &x);
}

/* dst asks src for what it lacks of owner `who` (whose own table is
 * `own`), a chunk at a time, until it has it all. Returns chunks taken. */
static int
pull(struct catalogue *dst, const struct catalogue *src,
    struct catalogue *own, const char *who, size_t max, size_t budget)
{
	const char *owners[1] = { who };
	uint64_t inc, seq;
	struct cat_want w;
	struct cat_chunk ch;
	uint64_t was_inc, was_seq, now_inc, now_seq;
	int n, chunks = 0;

	catalogue_self_seq_locked(own, &inc, &seq);
	while (catalogue_wants_locked(dst, owners, &inc, &seq, 1, &w, 1) == 1) {
		n = catalogue_delta_locked(src, &w, &ch, facts, max, budget);
		if (n < 0)
			break;
		catalogue_owner_locked(dst, who, &was_inc, &was_seq);
		catalogue_apply_locked(dst, &ch, facts, (size_t)n, NULL, NULL);
		catalogue_owner_locked(dst, who, &now_inc, &now_seq);
		chunks++;
		if (now_inc == was_inc && now_seq == was_seq)
			break;		/* no progress: a full table */
		ck_assert_int_lt(chunks, 100000);
	}
	return chunks;
}

/* Everything a table holds, one line a version, sorted: name, digest,
 * origin, stamp, live holders sorted, whether it wins. */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct dump {
	char **lines;
	size_t n, cap;
};

static void
dump_one(void *arg, const struct cat_version_view *v)
{
	struct dump *d = arg;
	const char *h[CATALOGUE_HOLDERS_VIEW];
	char line[1024], hex[DIGEST_HEX_LEN + 1];
	size_t k, n = 0, len;

	for (k = 0; k < CATALOGUE_HOLDERS_VIEW && v->vv_holders[k]; k++)
		h[n++] = v->vv_holders[k];
	qsort(h, n, sizeof(h[0]), cmp_str);
	digest_hex(&v->vv_digest, hex);
	len = (size_t)snprintf(line, sizeof(line), "%.*s %s %s %llu %d %u:",
	    (int)v->vv_name_len, v->vv_name, hex, v->vv_origin,
	    (unsigned long long)v->vv_hlc, v->vv_winner, v->vv_nholders);
	for (k = 0; k < n; k++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %s",
		    h[k]);
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->lines = realloc(d->lines, d->cap * sizeof(char *));
	}
	d->lines[d->n++] = strdup(line);
}

static char *
dump(const struct catalogue *c)
{
	struct dump d = { 0 };
	uint32_t cursor = 0;
	size_t k, total = 1;
	char *s;

	while (catalogue_walk_locked(c, &cursor, 1000, dump_one, &d) > 0 &&
	    cursor != 0)
		;
	qsort(d.lines, d.n, sizeof(char *), cmp_str);
	for (k = 0; k < d.n; k++)
		total += strlen(d.lines[k]) + 1;
	s = calloc(1, total);
	for (k = 0; k < d.n; k++) {
		strcat(s, d.lines[k]);
		strcat(s, "\n");
		free(d.lines[k]);
	}
	free(d.lines);
	return s;
}

static void
assert_same(const struct catalogue *a, const struct catalogue *b)
{
	char *x = dump(a), *y = dump(b);

	ck_assert_str_eq(x, y);
	free(x);
	free(y);
}

/* The winner of a name, as its digest's low word (0: none). */
static uint64_t
winner(const struct catalogue *c, const char *name, size_t *nversions)
{
	struct cat_version_view v[8];
	size_t n = catalogue_versions_locked(c, name, strlen(name), v, 8);

	if (nversions != NULL)
		*nversions = n;
	if (n == 0)
		return 0;
	ck_assert(v[0].vv_winner);
	return v[0].vv_digest.d_hi;
}

/* -- the rule ------------------------------------------------------------ */

START_TEST(test_rule_order)
{
	struct digest a = dg(1), b = dg(2);

	ck_assert_int_lt(catalogue_rule(5, "z", &b, 6, "a", &a), 0);
	ck_assert_int_gt(catalogue_rule(6, "a", &a, 5, "z", &b), 0);
	ck_assert_int_lt(catalogue_rule(5, "a", &b, 5, "b", &a), 0);
	ck_assert_int_lt(catalogue_rule(5, "a", &a, 5, "a", &b), 0);
	ck_assert_int_gt(catalogue_rule(5, "a", &b, 5, "a", &a), 0);
	ck_assert_int_eq(catalogue_rule(5, "a", &a, 9, "b", &a), 0);
}
END_TEST

static int conflicts_called;
static uint64_t conflict_winner;

static void
on_conflict(void *arg, const char *name, size_t len,
    const struct digest *w, const struct digest *l)
{
	(void)arg;
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(name[0], 'x');
	ck_assert(!digest_equal(w, l));
	conflicts_called++;
	conflict_winner = w->d_hi;
}

/*
 * Three owners write "x" with three contents; a fourth holds the same
 * bytes as the second (one version, two holders). Every order of arrival
 * of their chunks gives the same winner, the same table.
 */
START_TEST(test_conflict_winner_in_every_order)
{
	static const int perms[6][3] = { {0, 1, 2}, {0, 2, 1}, {1, 0, 2},
	    {1, 2, 0}, {2, 0, 1}, {2, 1, 0} };
	const char *names[4] = { "a", "b", "c", "d" };
	struct catalogue *own[4], *first = NULL;
	struct cat_chunk ch[4];
	struct cat_want w;
	size_t nf[4], nv, k;
	static struct cat_fact_msg f[4][4];
	int p, i;

	for (i = 0; i < 4; i++)
		own[i] = table(names[i], 1, 1024);
	/* c writes first by the clock; b and d the same bytes, b's origin
	 * stamp the same as a's: b wins over a by the name only. */
	ck_assert_int_eq(announce(own[0], "x", 10, "a", T0 + 5), 1);
	ck_assert_int_eq(announce(own[1], "x", 20, "b", T0 + 5), 1);
	ck_assert_int_eq(announce(own[2], "x", 30, "c", T0 + 9), 1);
	ck_assert_int_eq(announce(own[3], "x", 20, "b", T0 + 5), 1);
	for (i = 0; i < 4; i++) {
		memset(&w, 0, sizeof(w));
		strcpy(w.cw_owner, names[i]);
		nf[i] = (size_t)catalogue_delta_locked(own[i], &w, &ch[i],
		    f[i], 4, 1 << 20);
		ck_assert_uint_eq(nf[i], 1);
	}
	for (p = 0; p < 6; p++) {
		struct catalogue *z = table("z", 1, 1024);

		conflicts_called = 0;
		for (k = 0; k < 3; k++) {
			i = perms[p][k];
			catalogue_apply_locked(z, &ch[i], f[i], nf[i],
			    on_conflict, NULL);
		}
		/* a (T0+5, "a") beats b (T0+5, "b") beats c (T0+9). */
		ck_assert_uint_eq(winner(z, "x", &nv), 10);
		ck_assert_uint_eq(nv, 3);
		ck_assert_int_eq(conflicts_called, 2);
		ck_assert_uint_eq(conflict_winner, 10);
		ck_assert_uint_eq(catalogue_stats(z)->cs_conflicts, 1);
		ck_assert_uint_eq(catalogue_stats(z)->cs_names, 1);
		ck_assert_uint_eq(catalogue_stats(z)->cs_versions, 3);
		ck_assert_uint_eq(catalogue_stats(z)->cs_bytes, 110 + 120 + 130);
		/* d's copy of b's bytes: no conflict more, a holder more. */
		catalogue_apply_locked(z, &ch[3], f[3], nf[3], on_conflict,
		    NULL);
		ck_assert_int_eq(conflicts_called, 2);
		ck_assert_uint_eq(catalogue_stats(z)->cs_versions, 3);
		ck_assert_uint_eq(catalogue_stats(z)->cs_facts, 4);
		ck_assert_uint_eq(catalogue_stats(z)->cs_bytes, 110 + 120 + 130);
		if (first == NULL)
			first = z;
		else {
			assert_same(first, z);
			free(z);
		}
	}
	/* The winner withdrawn: the next by the rule wins. */
	ck_assert_int_eq(withdraw(own[0], "x", 10), 1);
	pull(first, own[0], own[0], "a", 16, 1 << 20);
	ck_assert_uint_eq(winner(first, "x", &nv), 20);
	ck_assert_uint_eq(nv, 2);
	free(first);
	for (i = 0; i < 4; i++)
		free(own[i]);
}
END_TEST

/* -- merging -------------------------------------------------------------- */

#define OWNERS 4

static const char *onames[OWNERS] = { "n0", "n1", "n2", "n3" };

/* Owners that announce and withdraw a few hundred names, some shared. */
static void
make_owners(struct catalogue **own, unsigned seed)
{
	int i, k;

	srand(seed);
	for (i = 0; i < OWNERS; i++)
		own[i] = table(onames[i], 1, 4096);
	for (k = 0; k < 600; k++) {
		char name[32];

		i = rand() % OWNERS;
		snprintf(name, sizeof(name), "obj-%d", rand() % 300);
		if (rand() % 4 == 0)
			withdraw(own[i], name, (uint64_t)(rand() % 3));
		else
			announce(own[i], name, (uint64_t)(rand() % 3),
			    onames[rand() % OWNERS], T0 + (uint64_t)(rand() % 5));
	}
}

struct chunkset {
	struct cat_chunk ch;
	struct cat_fact_msg *f;
	size_t n;
};

/* The owners' facts as chunks of at most `max` facts, in order. */
static size_t
chunks_of(struct catalogue **own, struct chunkset *cs, size_t max)
{
	struct cat_want w;
	size_t k = 0;
	int i, n;

	for (i = 0; i < OWNERS; i++) {
		memset(&w, 0, sizeof(w));
		strcpy(w.cw_owner, onames[i]);
		w.cw_inc = 1;
		for (;;) {
			cs[k].f = malloc(max * sizeof(struct cat_fact_msg));
			n = catalogue_delta_locked(own[i], &w, &cs[k].ch,
			    cs[k].f, max, 1 << 20);
			if (n <= 0) {
				free(cs[k].f);
				break;
			}
			cs[k].n = (size_t)n;
			w.cw_after = cs[k].ch.cc_to;
			k++;
		}
	}
	return k;
}

START_TEST(test_merge_commutes_and_repeats)
{
	struct catalogue *own[OWNERS], *x, *y, *z;
	static struct chunkset cs[4096];
	size_t n, k, r, order[4096];
	int i;

	make_owners(own, 42);
	n = chunks_of(own, cs, 37);
	ck_assert_uint_gt(n, 8);
	x = table("x", 1, 4096);
	y = table("y", 1, 4096);
	z = table("z", 1, 4096);
	/* x: in order. */
	for (k = 0; k < n; k++)
		catalogue_apply_locked(x, &cs[k].ch, cs[k].f, cs[k].n, NULL,
		    NULL);
	/* y: shuffled, each several times; a chunk that comes before the
	 * one it follows is ignored and taken again later. */
	srand(7);
	for (r = 0; r < 20; r++) {
		for (k = 0; k < n; k++)
			order[k] = k;
		for (k = n - 1; k > 0; k--) {
			size_t j = (size_t)rand() % (k + 1), t = order[k];

			order[k] = order[j];
			order[j] = t;
		}
		for (k = 0; k < n; k++)
			catalogue_apply_locked(y, &cs[order[k]].ch,
			    cs[order[k]].f, cs[order[k]].n, NULL, NULL);
	}
	assert_same(x, y);
	/* z: from y and x by deltas, the owners in reverse. */
	for (i = OWNERS - 1; i >= 0; i--)
		pull(z, i % 2 ? x : y, own[i], onames[i], 5, 1 << 20);
	assert_same(x, z);
	/* And all of them agree with pulling from the owners themselves. */
	for (k = 0; k < n; k++)
		free(cs[k].f);
	free(z);
	z = table("z", 1, 4096);
	for (i = 0; i < OWNERS; i++)
		pull(z, own[i], own[i], onames[i], 1000, 1 << 20);
	assert_same(x, z);
	ck_assert_uint_gt(catalogue_stats(x)->cs_versions, 100);
	/* Applied again: nothing changes. */
	n = chunks_of(own, cs, 1000);
	for (k = 0; k < n; k++) {
		ck_assert_uint_eq(catalogue_apply_locked(x, &cs[k].ch, cs[k].f,
		    cs[k].n, NULL, NULL), 0);
		free(cs[k].f);
	}
	assert_same(x, z);
	for (i = 0; i < OWNERS; i++)
		free(own[i]);
	free(x);
	free(y);
	free(z);
}
END_TEST

/* -- deltas ---------------------------------------------------------------- */

START_TEST(test_withdrawal_reaches_a_node_behind)
{
	struct catalogue *a = table("a", 1, 1024), *b = table("b", 1, 1024),
	    *c = table("c", 1, 1024);
	size_t nv;

	announce(a, "one", 1, "a", T0);
	announce(a, "two", 2, "a", T0);
	pull(b, a, a, "a", 100, 1 << 20);
	pull(c, b, a, "a", 100, 1 << 20);
	ck_assert_uint_eq(winner(c, "one", NULL), 1);
	ck_assert_int_eq(withdraw(a, "one", 1), 1);
	ck_assert_int_eq(withdraw(a, "one", 1), 0);
	announce(a, "three", 3, "a", T0);
	/* c hears it through b, not from a. */
	pull(b, a, a, "a", 100, 1 << 20);
	pull(c, b, a, "a", 100, 1 << 20);
	ck_assert_uint_eq(winner(c, "one", &nv), 0);
	ck_assert_uint_eq(nv, 0);
	ck_assert_uint_eq(winner(c, "three", NULL), 3);
	ck_assert_uint_eq(catalogue_stats(c)->cs_tombstones, 1);
	ck_assert_uint_eq(catalogue_stats(c)->cs_facts, 2);
	assert_same(a, c);
	free(a);
	free(b);
	free(c);
}
END_TEST

/* A striped version stays striped through pulls, at every node; a plain
 * one stays plain. */
START_TEST(test_striped_travels)
{
	struct catalogue *a = table("a", 1, 1024), *b = table("b", 1, 1024),
	    *c = table("c", 1, 1024);
	struct cat_version_view v;
	struct digest x = dg(7);

	ck_assert_int_eq(catalogue_announce_striped_locked(a, "big", 3, &x,
	    107, "a", T0), 1);
	announce(a, "small", 8, "a", T0);
	pull(b, a, a, "a", 100, 1 << 20);
	pull(c, b, a, "a", 100, 1 << 20);
	ck_assert_uint_eq(catalogue_versions_locked(c, "big", 3, &v, 1), 1);
	ck_assert(v.vv_striped);
	ck_assert_str_eq(v.vv_holders[0], "a");
	ck_assert_uint_eq(catalogue_versions_locked(c, "small", 5, &v, 1), 1);
	ck_assert(!v.vv_striped);
	ck_assert_uint_eq(catalogue_versions_locked(a, "big", 3, &v, 1), 1);
	ck_assert(v.vv_striped);
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(test_resync_behind_the_floor)
{
	struct catalogue *a = table("a", 1, 16384), *b = table("b", 1, 16384),
	    *c = table("c", 1, 16384);
	uint64_t inc, seq;
	char name[32];
	int i;

	announce(a, "kept", 1, "a", T0);
	announce(a, "dropped", 2, "a", T0);
	pull(b, a, a, "a", 100, 1 << 20);
	pull(c, a, a, "a", 100, 1 << 20);
	ck_assert_uint_eq(winner(b, "dropped", NULL), 2);
	/* "dropped" goes, then so many more that its tombstone is
	 * forgotten and a's floor rises past it. */
	withdraw(a, "dropped", 2);
	for (i = 0; i < CATALOGUE_TOMBSTONES_MAX + 10; i++) {
		snprintf(name, sizeof(name), "tmp-%d", i);
		announce(a, name, 3, "a", T0);
		withdraw(a, name, 3);
	}
	ck_assert_uint_le(catalogue_stats(a)->cs_tombstones,
	    CATALOGUE_TOMBSTONES_MAX);
	ck_assert_uint_eq(winner(a, "dropped", NULL), 0);
	/* b catches up in one go, c a little at a time (a resync cut by
	 * the budget, then deltas): both drop "dropped". */
	pull(b, a, a, "a", 100000, 1 << 30);
	ck_assert_uint_ge(catalogue_stats(b)->cs_resyncs, 1);
	ck_assert_uint_eq(winner(b, "dropped", NULL), 0);
	ck_assert_uint_eq(winner(b, "kept", NULL), 1);
	ck_assert_int_gt(pull(c, a, a, "a", 50, 4096), 10);
	ck_assert_uint_eq(winner(c, "dropped", NULL), 0);
	assert_same(a, b);
	assert_same(a, c);
	catalogue_owner_locked(c, "a", &inc, &seq);
	ck_assert_uint_eq(inc, 1);
	ck_assert_uint_eq(seq, 2 + 1 + 2 * (CATALOGUE_TOMBSTONES_MAX + 10));
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(test_new_incarnation_replaces)
{
	struct catalogue *a = table("a", 1, 1024), *b = table("b", 1, 1024);
	uint64_t inc, seq;

	announce(a, "one", 1, "a", T0);
	announce(a, "two", 2, "a", T0);
	announce(a, "three", 3, "a", T0);
	pull(b, a, a, "a", 100, 1 << 20);
	ck_assert_uint_eq(catalogue_stats(b)->cs_facts, 3);
	/* a restarts, and finds only "two" and a new "four". */
	free(a);
	a = table("a", 2, 1024);
	announce(a, "two", 2, "a", T0);
	announce(a, "four", 4, "a", T0);
	pull(b, a, a, "a", 100, 1 << 20);
	catalogue_owner_locked(b, "a", &inc, &seq);
	ck_assert_uint_eq(inc, 2);
	ck_assert_uint_eq(seq, 2);
	ck_assert_uint_eq(winner(b, "one", NULL), 0);
	ck_assert_uint_eq(winner(b, "three", NULL), 0);
	ck_assert_uint_eq(winner(b, "two", NULL), 2);
	ck_assert_uint_eq(winner(b, "four", NULL), 4);
	assert_same(a, b);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_delta_budget_and_max_leave_no_gap)
{
	struct catalogue *a = table("a", 1, 1024), *b = table("b", 1, 1024);
	struct cat_want w = { .cw_owner = "a", .cw_inc = 1 };
	struct cat_chunk ch;
	char name[64];
	size_t bytes, k;
	int i, n;

	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "name-%03d-%.*s", i, i % 40,
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		announce(a, name, (uint64_t)i, "a", T0);
	}
	withdraw(a, "name-000-", 0);
	n = catalogue_delta_locked(a, &w, &ch, facts, 10, 1 << 20);
	ck_assert_int_eq(n, 10);
	ck_assert_uint_eq(ch.cc_from, 0);
	ck_assert_uint_eq(ch.cc_to, facts[9].cm_seq);
	for (k = 1; k < 10; k++)
		ck_assert_uint_gt(facts[k].cm_seq, facts[k - 1].cm_seq);
	/* A byte budget: what fits, and no more. */
	w.cw_after = 20;
	n = catalogue_delta_locked(a, &w, &ch, facts, 1000, 1000);
	ck_assert_int_gt(n, 0);
	for (k = 0, bytes = 0; k < (size_t)n; k++)
		bytes += CATALOGUE_FACT_WIRE_BYTES + facts[k].cm_name_len;
	ck_assert_uint_le(bytes, 1000);
	ck_assert_uint_gt(bytes + CATALOGUE_FACT_WIRE_BYTES + 48, 1000);
	ck_assert_uint_eq(ch.cc_from, 20);
	ck_assert_uint_eq(facts[0].cm_seq, 21);
	ck_assert_uint_eq(ch.cc_to, facts[n - 1].cm_seq);
	/* A budget smaller than one fact still gives one. */
	n = catalogue_delta_locked(a, &w, &ch, facts, 1000, 1);
	ck_assert_int_eq(n, 1);
	/* Nothing newer: -1. */
	w.cw_after = 101;
	ck_assert_int_eq(catalogue_delta_locked(a, &w, &ch, facts, 10, 1000),
	    -1);
	/* Pulled in small chunks, the whole lot arrives. */
	ck_assert_int_gt(pull(b, a, a, "a", 7, 600), 14);
	assert_same(a, b);
	ck_assert_uint_eq(catalogue_stats(b)->cs_facts, 99);
	ck_assert_uint_eq(catalogue_stats(b)->cs_tombstones, 1);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_chunks_with_gaps_or_stale_are_ignored)
{
	struct catalogue *a = table("a", 2, 1024), *b = table("b", 1, 1024);
	struct cat_want w = { .cw_owner = "a", .cw_inc = 2 };
	struct cat_chunk ch;
	uint64_t inc, seq;
	int n;

	announce(a, "one", 1, "a", T0);
	announce(a, "two", 2, "a", T0);
	w.cw_after = 1;
	n = catalogue_delta_locked(a, &w, &ch, facts, 10, 1 << 20);
	ck_assert_int_eq(n, 1);
	/* b holds nothing of a: a chunk from 1 would leave a gap. */
	ck_assert_uint_eq(catalogue_apply_locked(b, &ch, facts, 1, NULL,
	    NULL), 0);
	catalogue_owner_locked(b, "a", &inc, &seq);
	ck_assert_uint_eq(inc, 0);
	pull(b, a, a, "a", 10, 1 << 20);
	/* An older incarnation's chunk is ignored. */
	ch.cc_inc = 1;
	ch.cc_from = 0;
	ck_assert_uint_eq(catalogue_apply_locked(b, &ch, facts, 1, NULL,
	    NULL), 0);
	ck_assert_uint_eq(catalogue_stats(b)->cs_facts, 2);
	/* This node's own facts are never taken from others. */
	strcpy(ch.cc_owner, "b");
	ch.cc_inc = 9;
	ck_assert_uint_eq(catalogue_apply_locked(b, &ch, facts, 1, NULL,
	    NULL), 0);
	catalogue_self_seq_locked(b, &inc, &seq);
	ck_assert_uint_eq(inc, 1);
	ck_assert_uint_eq(seq, 0);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_invalid_facts_are_refused)
{
	struct catalogue *a = table("a", 1, 1024);
	struct cat_chunk ch = { .cc_owner = "o", .cc_inc = 1, .cc_from = 0,
	    .cc_to = 6 };
	static const char *bad[] = { "", "a/b", ".hidden", "ctl\x01", "ok" };
	struct digest d = dg(1);
	size_t k;

	ck_assert_int_eq(catalogue_announce_locked(a, "a/b", 3, &d, 1, "a",
	    T0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(catalogue_announce_locked(a, "ok", 2, &d, 1,
	    "bad name", T0), -1);
	memset(facts, 0, 6 * sizeof(facts[0]));
	for (k = 0; k < 5; k++) {
		strcpy(facts[k].cm_name, bad[k]);
		facts[k].cm_name_len = strlen(bad[k]);
		facts[k].cm_digest = d;
		strcpy(facts[k].cm_origin, "o");
		facts[k].cm_seq = k + 1;
	}
	/* A good name with a bad origin, and one with a seq out of order. */
	facts[5] = facts[4];
	strcpy(facts[5].cm_origin, "a b");
	facts[5].cm_seq = 6;
	ck_assert_uint_eq(catalogue_apply_locked(a, &ch, facts, 6, NULL, NULL),
	    1);
	ck_assert_uint_eq(catalogue_stats(a)->cs_refused_invalid, 5);
	ck_assert_uint_eq(catalogue_stats(a)->cs_versions, 1);
	ck_assert_uint_eq(winner(a, "ok", NULL), 1);
	free(a);
}
END_TEST

/* -- a full table ------------------------------------------------------------ */

static struct catalogue *
small_table(const char *self, uint32_t versions, uint32_t nfacts)
{
	struct catalogue_params p = { versions, nfacts, 8, 16 * 16 * 4 };
	struct catalogue *c = calloc(1, catalogue_size(&p));

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(catalogue_init(c, &p, self, 1), 0);
	return c;
}

START_TEST(test_full_table_refuses_and_stays_whole)
{
	struct catalogue *a = table("a", 1, 1024), *b = small_table("b", 8, 12);
	struct cat_want w;
	struct cat_chunk ch;
	uint64_t inc, seq;
	char name[32];
	int i, n;

	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		announce(a, name, (uint64_t)i, "a", T0);
	}
	/* b holds 2 of its own; room for 6 more versions. */
	ck_assert_int_eq(announce(b, "mine1", 1, "b", T0), 1);
	ck_assert_int_eq(announce(b, "mine2", 2, "b", T0), 1);
	memset(&w, 0, sizeof(w));
	strcpy(w.cw_owner, "a");
	n = catalogue_delta_locked(a, &w, &ch, facts, 100, 1 << 20);
	ck_assert_int_eq(n, 20);
	ck_assert_uint_eq(catalogue_apply_locked(b, &ch, facts, 20, NULL,
	    NULL), 6);
	ck_assert_uint_eq(catalogue_stats(b)->cs_refused_full, 14);
	catalogue_owner_locked(b, "a", &inc, &seq);
	ck_assert_uint_eq(seq, 6);	/* complete up to the last it took */
	ck_assert_uint_eq(catalogue_stats(b)->cs_versions, 8);
	errno = 0;
	ck_assert_int_eq(announce(b, "mine3", 3, "b", T0), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_uint_eq(winner(b, "f05", NULL), 5);
	ck_assert_uint_eq(winner(b, "f06", NULL), 0);
	ck_assert_uint_eq(winner(b, "mine2", NULL), 2);
	/* a withdraws its first four: their tombstones come after facts b
	 * has no room for, so b stays where it is, whole. */
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		withdraw(a, name, (uint64_t)i);
	}
	pull(b, a, a, "a", 100, 1 << 20);
	catalogue_owner_locked(b, "a", &inc, &seq);
	ck_assert_uint_eq(seq, 6);
	ck_assert_uint_eq(catalogue_stats(b)->cs_facts, 8);
	ck_assert_uint_eq(catalogue_stats(b)->cs_refused_full, 14 + 18);
	ck_assert_uint_eq(winner(b, "f00", NULL), 0 + 0);
	/* Room again (a forgotten, then wanted from 0): what fits. */
	ck_assert_uint_eq(catalogue_forget_owner_locked(b, "a"), 6);
	ck_assert_uint_eq(catalogue_stats(b)->cs_versions, 2);
	pull(b, a, a, "a", 100, 1 << 20);
	catalogue_owner_locked(b, "a", &inc, &seq);
	ck_assert_uint_eq(seq, 10);
	ck_assert_uint_eq(winner(b, "f00", NULL), 0);
	ck_assert_uint_eq(winner(b, "f09", NULL), 9);
	ck_assert_uint_eq(winner(b, "f10", NULL), 0);
	ck_assert_uint_eq(winner(b, "mine1", NULL), 1);
	free(a);
	free(b);
}
END_TEST

/* Round after round, a's new incarnation replaces its names in b, whose
 * heap holds two rounds' worth: the units freed are taken again. */
START_TEST(test_name_heap_is_reused)
{
	struct catalogue_params p = { 64, 64, 8, 16 * 48 };
	struct catalogue *b = calloc(1, catalogue_size(&p)), *a;
	char name[256];
	int round, i;

	ck_assert_int_eq(catalogue_init(b, &p, "b", 1), 0);
	for (round = 0; round < 40; round++) {
		a = table("a", (uint64_t)round + 1, 1024);
		/* 16 names of 1 to 4 units, 40 units, in another order. */
		for (i = 0; i < 16; i++) {
			int j = (i * 7 + round) % 16;
			size_t len = (size_t)(16 * (j % 4) + 8 + round % 8);

			snprintf(name, sizeof(name), "%02d-%03d-", round, j);
			memset(name + 7, 'x', len - 7);
			name[len] = '\0';
			ck_assert_int_eq(announce(a, name, (uint64_t)j, "a", T0),
			    1);
		}
		pull(b, a, a, "a", 100, 1 << 20);
		ck_assert_uint_eq(catalogue_stats(b)->cs_refused_full, 0);
		ck_assert_uint_eq(catalogue_stats(b)->cs_versions, 16);
		assert_same(a, b);
		free(a);
	}
	free(b);
}
END_TEST

START_TEST(test_forget_frees_versions_and_names)
{
	/* A table with room for 16 units of names; owners that come and
	 * go leave it empty each time. */
	struct catalogue_params p = { 64, 64, 8, 16 * 16 };
	struct catalogue *b = calloc(1, catalogue_size(&p)), *a;
	char name[256];
	size_t k;
	int round, i;

	ck_assert_int_eq(catalogue_init(b, &p, "b", 1), 0);
	for (round = 0; round < 20; round++) {
		int units = 0;

		a = table("a", (uint64_t)round + 1, 1024);
		for (i = 0; ; i++) {
			size_t len = (size_t)(1 + (i * 53 + round * 29) % 255);

			if (units + (int)((len + 15) / 16) > 16)
				break;
			units += (int)((len + 15) / 16);
			memset(name, 'a' + i % 26, len);
			name[len] = '\0';
			announce(a, name, (uint64_t)i, "a", T0);
		}
		pull(b, a, a, "a", 100, 1 << 20);
		ck_assert_uint_eq(catalogue_stats(b)->cs_refused_full, 0);
		assert_same(a, b);
		k = catalogue_forget_owner_locked(b, "a");
		ck_assert_uint_eq(k, (size_t)i);
		ck_assert_uint_eq(catalogue_stats(b)->cs_versions, 0);
		ck_assert_uint_eq(catalogue_stats(b)->cs_bytes, 0);
		free(a);
	}
	free(b);
}
END_TEST

static bool
known_even(void *arg, const char *owner)
{
	(void)arg;
	return (owner[1] - '0') % 2 == 0;
}

START_TEST(test_prune_owners)
{
	struct catalogue *z = table("z", 1, 1024), *o[4];
	const char *names[4] = { "n0", "n1", "n2", "n3" };
	uint64_t inc, seq;
	int i;

	for (i = 0; i < 4; i++) {
		o[i] = table(names[i], 1, 1024);
		announce(o[i], "x", (uint64_t)i, "n0", T0 + (uint64_t)i);
		announce(o[i], names[i], 9, names[i], T0);
		pull(z, o[i], o[i], names[i], 100, 1 << 20);
	}
	ck_assert_uint_eq(catalogue_stats(z)->cs_facts, 8);
	ck_assert_uint_eq(catalogue_prune_owners_locked(z, known_even, NULL),
	    4);
	ck_assert_uint_eq(catalogue_stats(z)->cs_facts, 4);
	catalogue_owner_locked(z, "n1", &inc, &seq);
	ck_assert_uint_eq(inc, 0);
	ck_assert_uint_eq(winner(z, "n1", NULL), 0);
	ck_assert_uint_eq(winner(z, "n2", NULL), 9);
	ck_assert_uint_eq(winner(z, "x", NULL), 0);
	/* n1 comes back: it is wanted from 0 again. */
	pull(z, o[1], o[1], "n1", 100, 1 << 20);
	ck_assert_uint_eq(winner(z, "n1", NULL), 9);
	for (i = 0; i < 4; i++)
		free(o[i]);
	free(z);
}
END_TEST

/* -- reading --------------------------------------------------------------- */

/* A page as GET /_/catalogue reads it: the names a slice at a time, then
 * each name's winner. */
static size_t
list_page(struct catalogue *c, const char *prefix, const char *after,
    bool conflicts, struct cat_version_view *v, size_t max, bool *more)
{
	struct cat_list *l = catalogue_list_new(prefix, prefix ? strlen(prefix)
	    : 0, after, after ? strlen(after) : 0, conflicts, max);
	const char *name;
	size_t n, k, len;

	ck_assert_ptr_nonnull(l);
	while (!catalogue_list_step_locked(c, l))
		continue;
	n = catalogue_list_done(l, more);
	for (k = 0; k < n; k++) {
		name = catalogue_list_name(l, k, &len);
		ck_assert_uint_ge(catalogue_versions_locked(c, name, len, &v[k],
		    1), 1);
	}
	catalogue_list_free(l);
	return n;
}

/* Every page of `page` names, each after the one before; the names'
 * winners are `origin`'s when given. Returns how many, the last in last. */
static size_t
list_all(struct catalogue *c, size_t page, const char *origin, char *last,
    size_t last_size)
{
	struct cat_version_view *v = calloc(page, sizeof(*v));
	size_t n, total = 0;
	bool more;

	ck_assert_ptr_nonnull(v);
	last[0] = '\0';
	do {
		n = list_page(c, NULL, total ? last : NULL, false, v, page,
		    &more);
		for (size_t k = 0; k < n; k++) {
			char cur[NAME_MAX_LEN + 1];

			snprintf(cur, sizeof(cur), "%.*s",
			    (int)v[k].vv_name_len, v[k].vv_name);
			ck_assert_int_lt(strcmp(last, cur), 0);
			snprintf(last, last_size, "%s", cur);
			ck_assert(v[k].vv_winner);
			if (origin != NULL)
				ck_assert_str_eq(v[k].vv_origin, origin);
		}
		total += n;
	} while (more);
	free(v);
	return total;
}

START_TEST(test_list_pages_prefix_conflicts)
{
	struct catalogue *a = table("a", 1, 1024), *b = table("b", 1, 1024),
	    *z = table("z", 1, 1024);
	struct cat_version_view v[7];
	char name[32], last[NAME_MAX_LEN + 1];
	size_t n;
	bool more;
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "%c%02d", i % 2 ? 'p' : 'q', 49 - i);
		announce(a, name, (uint64_t)i, "a", T0);
		if (i % 10 == 0)
			announce(b, name, 1000 + (uint64_t)i, "b", T0 + 1);
	}
	pull(z, a, a, "a", 1000, 1 << 20);
	pull(z, b, b, "b", 1000, 1 << 20);
	ck_assert_uint_eq(catalogue_stats(z)->cs_names, 50);
	ck_assert_uint_eq(catalogue_stats(z)->cs_conflicts, 5);
	/* Pages of 7, in order, each name once. */
	ck_assert_uint_eq(list_all(z, 7, "a", last, sizeof(last)), 50);
	ck_assert_str_eq(last, "q49");
	/* The prefix "p": the odd ones. */
	n = list_page(z, "p", NULL, false, v, 7, &more);
	ck_assert_uint_eq(n, 7);
	ck_assert(more);
	ck_assert_int_eq(memcmp(v[0].vv_name, "p00", 3), 0);
	n = list_page(z, "p4", "p44", false, v, 7, &more);
	ck_assert_uint_eq(n, 2);	/* p46, p48 */
	ck_assert(!more);
	/* Conflicts only: the five names b wrote too, a's version winning. */
	n = list_page(z, NULL, NULL, true, v, 7, &more);
	ck_assert_uint_eq(n, 5);
	ck_assert(!more);
	for (size_t k = 0; k < n; k++) {
		ck_assert_uint_eq(v[k].vv_nversions, 2);
		ck_assert_str_eq(v[k].vv_origin, "a");
	}
	n = catalogue_versions_locked(z, "q49", 3, v, 7);
	ck_assert_uint_eq(n, 2);
	ck_assert(v[0].vv_winner);
	ck_assert(!v[1].vv_winner);
	ck_assert_str_eq(v[1].vv_origin, "b");
	ck_assert_str_eq(v[1].vv_holders[0], "b");
	ck_assert_ptr_null(v[1].vv_holders[1]);
	free(a);
	free(b);
	free(z);
}
END_TEST

/* A table larger than a slice: the listing takes several holds of the
 * lock, and still gives every name once, in order. */
START_TEST(test_list_in_slices)
{
	struct catalogue *c = table("a", 1, 3 * CATALOGUE_LIST_SLICE);
	struct cat_list *l;
	char name[32], last[NAME_MAX_LEN + 1];
	size_t steps = 0;
	int i;

	for (i = 0; i < 2 * CATALOGUE_LIST_SLICE + 5; i++) {
		snprintf(name, sizeof(name), "s%06d", (i * 7919) %
		    (2 * CATALOGUE_LIST_SLICE + 5));
		ck_assert_int_eq(announce(c, name, (uint64_t)i + 1, "a", T0),
		    1);
	}
	l = catalogue_list_new("", 0, NULL, 0, false, 10);
	while (!catalogue_list_step_locked(c, l))
		steps++;
	ck_assert_uint_ge(steps, 2);
	catalogue_list_free(l);
	ck_assert_uint_eq(list_all(c, 1000, "a", last, sizeof(last)),
	    2 * CATALOGUE_LIST_SLICE + 5);
	free(c);
}
END_TEST

static void
count_visit(void *arg, const struct cat_version_view *v)
{
	unsigned *seen = arg;
	int i = atoi(v->vv_name + 1);

	seen[i]++;
}

START_TEST(test_walk_visits_each_once_a_lap)
{
	struct catalogue *a = table("a", 1, 1024);
	unsigned seen[300] = { 0 };
	uint32_t cursor = 0;
	char name[16];
	size_t visited = 0, n;
	int i, laps = 0;

	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		announce(a, name, (uint64_t)i, "a", T0);
	}
	/* Some freed: their slots are skipped (versions held by a
	 * tombstone are not live). */
	for (i = 0; i < 300; i += 3) {
		snprintf(name, sizeof(name), "w%d", i);
		withdraw(a, name, (uint64_t)i);
	}
	while (laps < 2) {
		n = catalogue_walk_locked(a, &cursor, 17, count_visit, seen);
		visited += n;
		if (cursor == 0)
			laps++;
		ck_assert_uint_lt(visited, 10000);
	}
	for (i = 0; i < 300; i++)
		ck_assert_uint_eq(seen[i], i % 3 ? 2 : 0);
	free(a);
}
END_TEST

START_TEST(test_wants_rotate)
{
	struct catalogue *z = table("z", 1, 1024);
	const char *owners[5] = { "o0", "o1", "z", "o3", "o4" };
	uint64_t inc[5] = { 1, 1, 1, 1, 0 }, seq[5] = { 3, 4, 9, 5, 6 };
	struct cat_want w[4];
	size_t n;

	/* Itself and an owner of incarnation 0 are never wanted. */
	n = catalogue_wants_locked(z, owners, inc, seq, 5, w, 4);
	ck_assert_uint_eq(n, 3);
	n = catalogue_wants_locked(z, owners, inc, seq, 5, w, 2);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(w[0].cw_owner, "o0");
	ck_assert_str_eq(w[1].cw_owner, "o1");
	n = catalogue_wants_locked(z, owners, inc, seq, 5, w, 2);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(w[0].cw_owner, "o3");
	ck_assert_str_eq(w[1].cw_owner, "o0");
	ck_assert_uint_eq(w[0].cw_inc, 0);
	ck_assert_uint_eq(w[0].cw_after, 0);
	free(z);
}
END_TEST

START_TEST(test_sizes)
{
	struct catalogue_params p;
	size_t s;

	catalogue_params_for(&p, 1 << 20, 64, 3);
	s = catalogue_size(&p);
	printf("catalogue: 2^20 versions, 64 members, 3 holders: %u facts, "
	    "%u owners, %.1f MiB in all (%zu bytes a version, %zu a holder, "
	    "names in 16-byte units)\n", p.cp_facts, p.cp_owners,
	    (double)s / (1 << 20), (size_t)CATALOGUE_VERSION_BYTES,
	    (size_t)CATALOGUE_FACT_BYTES);
	ck_assert_uint_eq(p.cp_versions, 1 << 20);
	ck_assert_uint_ge(p.cp_facts, 3 << 20);
	ck_assert_uint_lt(s, 400u << 20);
	p.cp_owners = 0;
	ck_assert_uint_eq(catalogue_size(&p), 0);
}
END_TEST

int
main(void)
{
	TCase *tc;

	check_main_tcase("rule", NULL, NULL, CHECK_MAIN_TESTS(
	    test_rule_order,
	    test_conflict_winner_in_every_order));
	check_main_tcase("merge", NULL, NULL, CHECK_MAIN_TESTS(
	    test_merge_commutes_and_repeats,
	    test_withdrawal_reaches_a_node_behind,
	    test_striped_travels,
	    test_new_incarnation_replaces,
	    test_delta_budget_and_max_leave_no_gap,
	    test_chunks_with_gaps_or_stale_are_ignored,
	    test_invalid_facts_are_refused));
	tc = check_main_tcase("resync", NULL, NULL, CHECK_MAIN_TESTS(
	    test_resync_behind_the_floor));
	tcase_set_timeout(tc, 60);
	check_main_tcase("room", NULL, NULL, CHECK_MAIN_TESTS(
	    test_full_table_refuses_and_stays_whole,
	    test_name_heap_is_reused,
	    test_forget_frees_versions_and_names,
	    test_prune_owners,
	    test_sizes));
	check_main_tcase("read", NULL, NULL, CHECK_MAIN_TESTS(
	    test_list_pages_prefix_conflicts, test_list_in_slices,
	    test_walk_visits_each_once_a_lap,
	    test_wants_rotate));
	return check_main_run();
}
