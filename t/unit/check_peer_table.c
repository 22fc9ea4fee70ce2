/*
 * check_peer_table.c - unit tests for src/peer/peer_table.c: the node's
 * peers in shared memory (replacing a source's set, identities and
 * sequences, retirement and reuse of slots, counters from forked workers,
 * the /_/metrics families). Includes the .c file; links the rest.
 * Runs in Check's fork mode: each test maps its own table.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer/peer_table.c"
#include "check_main.h"
#include "exposition.h"

static struct peer_spec
spec(const char *host, unsigned port, bool save, int64_t ttl_ms)
{
	struct peer_spec s;
	const char *why;

	ck_assert_int_eq(peer_spec_resolve(host, port, &s, &why), 0);
	s.ps_save = save;
	s.ps_ttl_ms = ttl_ms;
	return s;
}

/* The active entry named `name` in a fresh read, or NULL. */
static const struct peer_view *
find(const struct peer_view *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].pv_spec.ps_name, name) == 0)
			return &v[i];
	return NULL;
}

static char *
render(struct peer_table *t)
{
	struct buf out = { 0 };

	buf_append(&out, "\n", 1);
	peer_table_render_metrics(t, &out);
	buf_append(&out, "", 1);
	return out.data;
}

START_TEST(replace_adds_keeps_and_retires)
{
	struct peer_table *t = peer_table_create(8);
	struct peer_spec s[3];
	struct peer_view v[8];
	const struct peer_view *a, *b;
	uint64_t version, v0, id_a;
	uint32_t seq_a;
	size_t n;

	ck_assert_ptr_nonnull(t);
	v0 = peer_table_version(t);
	s[0] = spec("127.0.0.1", 8082, true, 0);
	s[1] = spec("::1", 8083, false, 600000);
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 1), 0);
	ck_assert_uint_gt(peer_table_version(t), v0);
	n = peer_table_read(t, v, 8, &version);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(version, peer_table_version(t));
	a = find(v, n, "127.0.0.1:8082");
	b = find(v, n, "[::1]:8083");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(a->pv_spec.ps_save);
	ck_assert(!b->pv_spec.ps_save);
	ck_assert_int_eq(b->pv_spec.ps_ttl_ms, 600000);
	ck_assert_uint_ne(a->pv_id, b->pv_id);
	id_a = a->pv_id;
	seq_a = a->pv_seq;

	/* The same set again changes nothing, not even the version. */
	version = peer_table_version(t);
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 2), 0);
	ck_assert_uint_eq(peer_table_version(t), version);

	/* a unchanged, b gone, c new: a keeps its id and sequence. */
	s[1] = spec("127.0.0.1", 8084, true, 0);
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 3), 0);
	ck_assert_uint_gt(peer_table_version(t), version);
	n = peer_table_read(t, v, 8, &version);
	ck_assert_uint_eq(n, 2);
	a = find(v, n, "127.0.0.1:8082");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->pv_id, id_a);
	ck_assert_uint_eq(a->pv_seq, seq_a);
	ck_assert_ptr_null(find(v, n, "[::1]:8083"));
	ck_assert_ptr_nonnull(find(v, n, "127.0.0.1:8084"));

	/* a's ttl changes: same id, another sequence. */
	s[0].ps_ttl_ms = 5000;
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 4), 0);
	n = peer_table_read(t, v, 8, &version);
	a = find(v, n, "127.0.0.1:8082");
	ck_assert_uint_eq(a->pv_id, id_a);
	ck_assert_uint_ne(a->pv_seq, seq_a);
	ck_assert_int_eq(a->pv_spec.ps_ttl_ms, 5000);

	/* Another source's peers are not touched by this one's set. */
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_GOSSIP,
	    &s[1], 0, 5), 0);
	ck_assert_uint_eq(peer_table_read(t, v, 8, &version), 2);
	peer_table_destroy(t);
}
END_TEST

START_TEST(retired_peer_keeps_counters_and_full_table_says_so)
{
	struct peer_table *t = peer_table_create(2);
	struct peer_spec s[3];
	struct peer_view v[2];
	uint64_t version;
	size_t n, slot;

	s[0] = spec("127.0.0.1", 1, false, 0);
	s[1] = spec("127.0.0.1", 2, false, 0);
	s[2] = spec("127.0.0.1", 3, false, 0);
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 1), 0);
	n = peer_table_read(t, v, 2, &version);
	slot = find(v, n, "127.0.0.1:1")->pv_slot;
	peer_stats_add(&peer_table_entry(t, slot)->pe_stats.st_lookups, 7);

	/* Three peers in a table of two: the two that fit are in. */
	errno = 0;
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 3, 2),
	    -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_uint_eq(peer_table_read(t, v, 2, &version), 2);

	/* Peer 1 leaves, then comes back: the same slot, the same counts. */
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, &s[1], 1,
	    3), 0);
	ck_assert_uint_eq(peer_table_read(t, v, 2, &version), 1);
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 4), 0);
	n = peer_table_read(t, v, 2, &version);
	ck_assert_uint_eq(find(v, n, "127.0.0.1:1")->pv_slot, slot);
	ck_assert_uint_eq(peer_table_entry(t, slot)->pe_stats.st_lookups, 7);

	/* A new peer may take the slot of one retired: fresh counters. */
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, &s[1], 1,
	    5), 0);
	s[0] = s[2];
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 6), 0);
	n = peer_table_read(t, v, 2, &version);
	ck_assert_uint_eq(find(v, n, "127.0.0.1:3")->pv_slot, slot);
	ck_assert_uint_eq(peer_table_entry(t, slot)->pe_stats.st_lookups, 0);
	peer_table_destroy(t);
}
END_TEST

/* Counters and health are shared by all workers: atomic adds from two
 * forked children land in the same entry. */
START_TEST(counts_from_workers)
{
	struct peer_table *t = peer_table_create(4);
	struct peer_spec s = spec("127.0.0.1", 8082, true, 0);
	struct peer_view v[4];
	uint64_t version;
	pid_t pids[2];
	int i, status;
	char *text;

	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, &s, 1, 1),
	    0);
	ck_assert_uint_eq(peer_table_read(t, v, 4, &version), 1);
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct peer_entry *e = peer_table_entry(t,
			    v[0].pv_slot);
			int j;

			for (j = 0; j < 1000; j++)
				peer_stats_add(&e->pe_stats.st_lookups, 1);
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	text = render(t);
	exposition_assert(text,
	    "shoal_peer_lookups_total{peer=\"127.0.0.1:8082\"} 2000");
	free(text);
	peer_table_destroy(t);
}
END_TEST

START_TEST(render_outcomes_and_histogram)
{
	static const char *const want[] = {
		"shoal_peer_lookups_total{peer=\"127.0.0.1:8082\"} 3",
		"shoal_peer_outcomes_total{peer=\"127.0.0.1:8082\","
		    "outcome=\"win\"} 1",
		"shoal_peer_outcomes_total{peer=\"127.0.0.1:8082\","
		    "outcome=\"not_found\"} 1",
		"shoal_peer_outcomes_total{peer=\"127.0.0.1:8082\","
		    "outcome=\"refused\"} 0",
		"shoal_peer_outcomes_total{peer=\"127.0.0.1:8082\","
		    "outcome=\"timeout\"} 1",
		"shoal_peer_outcomes_total{peer=\"127.0.0.1:8082\","
		    "outcome=\"bad_response\"} 0",
		"shoal_peer_outcomes_total{peer=\"127.0.0.1:8082\","
		    "outcome=\"cut\"} 0",
		"shoal_peer_received_bytes_total{peer=\"127.0.0.1:8082\"} 100",
		/* 0 (from -5), 500 and 1000 us; 3000 us; 3 s. Cumulative. */
		"shoal_peer_first_byte_seconds_bucket{peer=\"127.0.0.1:8082\","
		    "le=\"0.001\"} 3",
		"shoal_peer_first_byte_seconds_bucket{peer=\"127.0.0.1:8082\","
		    "le=\"0.0025\"} 3",
		"shoal_peer_first_byte_seconds_bucket{peer=\"127.0.0.1:8082\","
		    "le=\"0.005\"} 4",
		"shoal_peer_first_byte_seconds_bucket{peer=\"127.0.0.1:8082\","
		    "le=\"1\"} 4",
		"shoal_peer_first_byte_seconds_bucket{peer=\"127.0.0.1:8082\","
		    "le=\"2.5\"} 4",
		"shoal_peer_first_byte_seconds_bucket{peer=\"127.0.0.1:8082\","
		    "le=\"+Inf\"} 5",
		"shoal_peer_first_byte_seconds_sum{peer=\"127.0.0.1:8082\"} "
		    "3.004500",
		"shoal_peer_first_byte_seconds_count{peer=\"127.0.0.1:8082\"} "
		    "5",
		/* A peer with nothing yet still has its series. */
		"shoal_peer_lookups_total{peer=\"127.0.0.2:1\"} 0",
		"shoal_peer_first_byte_seconds_bucket{peer=\"127.0.0.2:1\","
		    "le=\"+Inf\"} 0",
		"shoal_peer_first_byte_seconds_count{peer=\"127.0.0.2:1\"} 0",
		"# TYPE shoal_peer_first_byte_seconds histogram",
	};
	struct peer_table *t = peer_table_create(4);
	struct peer_spec s[2];
	struct peer_view v[4];
	struct peer_stats *st;
	uint64_t version;
	char *text;
	size_t i, n;

	s[0] = spec("127.0.0.1", 8082, true, 0);
	s[1] = spec("127.0.0.2", 1, true, 0);
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, s, 2, 1), 0);
	n = peer_table_read(t, v, 4, &version);
	st = &peer_table_entry(t, find(v, n, "127.0.0.1:8082")->pv_slot)->
	    pe_stats;
	peer_stats_add(&st->st_lookups, 3);
	peer_stats_add(&st->st_wins, 1);
	peer_stats_add(&st->st_not_found, 1);
	peer_stats_add(&st->st_timeout, 1);
	peer_stats_add(&st->st_bytes, 100);
	peer_stats_ttfb(st, 500);
	peer_stats_ttfb(st, 1000);		/* on a bound: "le" */
	peer_stats_ttfb(st, -5);		/* clock oddity: as 0 */
	peer_stats_ttfb(st, 3000);
	peer_stats_ttfb(st, 3000000);
	text = render(t);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		exposition_assert(text, want[i]);
	free(text);

	/* A peer that left the set has no series any more. */
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, &s[1], 1,
	    2), 0);
	text = render(t);
	ck_assert_ptr_null(strstr(text, "127.0.0.1:8082"));
	free(text);
	peer_table_destroy(t);
}
END_TEST

/* Peer names go into label values escaped: \\, \" and \n, so that any
 * printable host of the configuration keeps /_/metrics parsable. */
START_TEST(label_escaped)
{
	struct peer_table *t = peer_table_create(2);
	struct peer_spec s;
	char *text;

	memset(&s, 0, sizeof(s));
	snprintf(s.ps_name, sizeof(s.ps_name), "we\"ird\\host:1");
	ck_assert_int_eq(peer_table_replace(t, PEER_SOURCE_CONFIG, &s, 1, 1),
	    0);
	text = render(t);
	exposition_assert(text,
	    "shoal_peer_lookups_total{peer=\"we\\\"ird\\\\host:1\"} 0");
	free(text);
	peer_table_destroy(t);
}
END_TEST

START_TEST(resolve_names)
{
	struct peer_spec s;
	const char *why = NULL;

	ck_assert_int_eq(peer_spec_resolve("::1", 80, &s, &why), 0);
	ck_assert_str_eq(s.ps_name, "[::1]:80");
	ck_assert_int_eq(s.ps_addr.ss_family, AF_INET6);
	/* No such host: a name, no address, and the resolver's reason. */
	ck_assert_int_eq(peer_spec_resolve("no-such-host.invalid", 80, &s,
	    &why), -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(s.ps_name, "no-such-host.invalid:80");
	ck_assert_int_eq(s.ps_addrlen, 0);
}
END_TEST

int
main(void)
{
	check_main_tcase("peer_table", NULL, NULL,
	    CHECK_MAIN_TESTS(replace_adds_keeps_and_retires,
	    retired_peer_keeps_counters_and_full_table_says_so,
	    counts_from_workers, render_outcomes_and_histogram, label_escaped,
	    resolve_names));
	return check_main_run();
}
