/*
 * check_metrics.c - unit tests for src/store/metrics.c (the shared
 * counter region, per-worker slots, and the Prometheus rendering), including counts written by forked children, as workers do.
 * Includes the .c file; links buf.c.
 * Runs in Check's fork mode: each test maps its own region.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/metrics.c"
#include "check_main.h"
#include "exposition.h"

/* The rendered exposition, NUL-terminated, with a leading newline so
 * every line can be searched as "\nLINE\n". */
static char *
render(void)
{
	struct buf out = { 0 };

	buf_append(&out, "\n", 1);
	metrics_render(&out);
	buf_append(&out, "", 1);
	return out.data;
}

/* n requests of method answered with status, in this process's slot. */
static void
count_requests(enum http_method method, int status, int n)
{
	while (n-- > 0)
		metrics_count_request(method, status);
}

START_TEST(init_maps_zeroed_region)
{
	time_t before = time(NULL), after;
	struct metrics_shared *m;
	char *text;
	int i, used = 0;

	ck_assert_int_eq(metrics_init(), 0);
	after = time(NULL);
	m = metrics_shared();
	ck_assert_ptr_nonnull(m);
	ck_assert_int_ge(m->start_time, before);
	ck_assert_int_le(m->start_time, after);
	for (i = 0; i < METRICS_SLOTS; i++)
		used += m->slots[i].ms_pid != 0;
	ck_assert_int_eq(used, 0);
	ck_assert_ptr_null(metrics_mine());

	/* Nothing counted: no request series, zero totals. */
	text = render();
	ck_assert_ptr_null(strstr(text, "shoal_requests_total{"));
	exposition_assert(text, "# TYPE shoal_requests_total counter");
	exposition_assert(text, "shoal_sent_bytes_total 0");
	exposition_assert(text, "shoal_connections_open 0");
	free(text);
}
END_TEST

START_TEST(slot_claim_release_keeps_totals)
{
	struct metrics_shared *m;
	int a, b, c, n;

	ck_assert_int_eq(metrics_init(), 0);
	m = metrics_shared();
	a = metrics_slot_claim(100);
	b = metrics_slot_claim(101);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(m->slots[a].ms_pid, 100);
	ck_assert_int_eq(m->slots[b].ms_pid, 101);

	/* The worker of slot a counts, then dies with connections open. */
	metrics_use_slot(a);
	ck_assert_ptr_eq(metrics_mine(), &m->slots[a]);
	metrics_add(&metrics_mine()->ms_bytes_sent, 10);
	metrics_gauge_add(&metrics_mine()->ms_connections_open, 3);
	metrics_count_request(HTTP_METHOD_GET, 200);
	metrics_slot_release(a);
	ck_assert_int_eq(m->slots[a].ms_pid, 0);
	ck_assert_int_eq(m->slots[a].ms_connections_open, 0);

	/* Its successor gets the slot with the totals, not the gauge. */
	metrics_gauge_add(&m->slots[a].ms_connections_open, 2);
	c = metrics_slot_claim(102);
	ck_assert_int_eq(c, a);
	ck_assert_int_eq(m->slots[c].ms_pid, 102);
	ck_assert_int_eq(m->slots[c].ms_connections_open, 0);
	ck_assert_uint_eq(m->slots[c].ms_bytes_sent, 10);
	ck_assert_uint_eq(m->slots[c].ms_requests[METRICS_GET]
	    [metrics_status_index(200)], 1);

	/* Out-of-range releases are ignored. */
	metrics_slot_release(-1);
	metrics_slot_release(METRICS_SLOTS);
	ck_assert_int_eq(m->slots[b].ms_pid, 101);

	/* Every slot can be taken once, then there is none. */
	for (n = 2; n <= METRICS_SLOTS; n++)
		if (metrics_slot_claim(200 + n) == -1)
			break;
	ck_assert_int_eq(n, METRICS_SLOTS);
	metrics_slot_release(b);
	ck_assert_int_eq(metrics_slot_claim(999), b);
}
END_TEST

START_TEST(counts_from_forked_child_visible)
{
	pid_t pid;
	int slot, status;
	char *text;

	ck_assert_int_eq(metrics_init(), 0);
	slot = metrics_slot_claim(-1);
	ck_assert_int_ge(slot, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		metrics_use_slot(slot);
		count_requests(HTTP_METHOD_GET, 200, 3);
		metrics_count_request(HTTP_METHOD_PUT, 201);
		metrics_add(&metrics_mine()->ms_bytes_sent, 1234);
		metrics_gauge_add(&metrics_mine()->ms_connections_open, 2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	text = render();
	exposition_assert(text,
	    "shoal_requests_total{method=\"GET\",status=\"200\"} 3");
	exposition_assert(text,
	    "shoal_requests_total{method=\"PUT\",status=\"201\"} 1");
	exposition_assert(text, "shoal_sent_bytes_total 1234");
	exposition_assert(text, "shoal_connections_open 2");
	free(text);
}
END_TEST

START_TEST(render_sums_all_slots)
{
	struct metrics_shared *m;
	int s0, s1, s2;
	char *text, line[128];

	ck_assert_int_eq(metrics_init(), 0);
	m = metrics_shared();
	s0 = metrics_slot_claim(1);
	s1 = metrics_slot_claim(2);
	s2 = metrics_slot_claim(3);
	metrics_slot_release(s2);	/* a dead worker's counts count */

	metrics_use_slot(s0);
	count_requests(HTTP_METHOD_GET, 200, 2);
	metrics_count_request(HTTP_METHOD_HEAD, 404);
	metrics_count_request(HTTP_METHOD_GET, 299);	/* unknown */
	metrics_count_request(HTTP_METHOD_DELETE, 405);
	metrics_add(&metrics_mine()->ms_bytes_sent, 10);
	metrics_add(&metrics_mine()->ms_bytes_received, 100);
	metrics_add(&metrics_mine()->ms_local_hits, 4);
	metrics_add(&metrics_mine()->ms_connections_accepted, 7);
	metrics_gauge_add(&metrics_mine()->ms_connections_open, 3);

	metrics_use_slot(s1);
	count_requests(HTTP_METHOD_GET, 200, 3);
	metrics_count_request(HTTP_METHOD_POST, 507);
	metrics_count_request(HTTP_METHOD_OPTIONS, 405);
	metrics_add(&metrics_mine()->ms_bytes_sent, 20);
	metrics_add(&metrics_mine()->ms_bytes_received, 200);
	metrics_add(&metrics_mine()->ms_local_misses, 5);
	metrics_add(&metrics_mine()->ms_connections_accepted, 1);
	metrics_add(&metrics_mine()->ms_connections_refused, 2);
	metrics_add(&metrics_mine()->ms_iopool_overflows, 6);
	metrics_gauge_add(&metrics_mine()->ms_connections_open, 4);
	metrics_gauge_add(&metrics_mine()->ms_connections_open, -1);

	metrics_add(&metrics_mine()->ms_peer_hits, 2);
	metrics_add(&metrics_mine()->ms_peer_misses, 3);
	metrics_add(&metrics_mine()->ms_saved, 1);

	metrics_use_slot(s2);
	metrics_add(&metrics_mine()->ms_bytes_sent, 300);
	metrics_add(&metrics_mine()->ms_peer_hits, 1);
	metrics_add(&metrics_mine()->ms_save_failures, 4);

	m->workers = 2;
	m->worker_restarts = 1;
	m->reloads = 8;
	m->reload_failures = 9;

	text = render();
	exposition_assert(text,
	    "shoal_requests_total{method=\"GET\",status=\"200\"} 5");
	exposition_assert(text,
	    "shoal_requests_total{method=\"HEAD\",status=\"404\"} 1");
	exposition_assert(text,
	    "shoal_requests_total{method=\"GET\",status=\"other\"} 1");
	exposition_assert(text,
	    "shoal_requests_total{method=\"POST\",status=\"507\"} 1");
	exposition_assert(text,
	    "shoal_requests_total{method=\"other\",status=\"405\"} 2");
	/* Zero series are left out. */
	ck_assert_ptr_null(strstr(text, "method=\"PUT\""));
	ck_assert_ptr_null(strstr(text, "status=\"201\""));

	exposition_assert(text, "shoal_sent_bytes_total 330");
	exposition_assert(text, "shoal_received_bytes_total 300");
	exposition_assert(text, "shoal_local_hits_total 4");
	exposition_assert(text, "shoal_local_misses_total 5");
	exposition_assert(text, "shoal_connections_accepted_total 8");
	exposition_assert(text, "shoal_connections_refused_total 2");
	exposition_assert(text, "shoal_iopool_overflows_total 6");
	exposition_assert(text, "shoal_peer_hits_total 3");
	exposition_assert(text, "shoal_peer_misses_total 3");
	exposition_assert(text, "shoal_saved_total 1");
	exposition_assert(text, "shoal_save_failures_total 4");
	exposition_assert(text, "shoal_connections_open 6");
	exposition_assert(text, "shoal_workers 2");
	exposition_assert(text, "shoal_worker_restarts_total 1");
	exposition_assert(text, "shoal_reloads_total 8");
	exposition_assert(text, "shoal_reload_failures_total 9");
	snprintf(line, sizeof(line), "shoal_start_time_seconds %lld",
	    (long long)m->start_time);
	exposition_assert(text, line);
	exposition_assert(text, "# TYPE shoal_connections_open gauge");
	exposition_assert(text, "# TYPE shoal_workers gauge");
	exposition_assert(text, "# TYPE shoal_sent_bytes_total counter");
	free(text);
}
END_TEST

/* Every status in the table has its own series; every method maps. */
START_TEST(every_status_and_method)
{
	static const int statuses[] = {
		100, 200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 408,
		409, 411, 412, 413, 414, 415, 416, 417, 431, 500, 501, 502,
		503, 504, 505, 507,
	};
	static const struct {
		enum http_method m;
		const char *label;
	} methods[] = {
		{ HTTP_METHOD_GET, "GET" }, { HTTP_METHOD_HEAD, "HEAD" },
		{ HTTP_METHOD_PUT, "PUT" }, { HTTP_METHOD_POST, "POST" },
		{ HTTP_METHOD_OTHER, "other" }, { HTTP_METHOD_PATCH, "other" },
		{ HTTP_METHOD_TRACE, "other" },
		{ HTTP_METHOD_CONNECT, "other" },
	};
	char *text, line[128];
	size_t i;

	ck_assert_int_eq(metrics_init(), 0);
	metrics_use_slot(metrics_slot_claim(1));
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		metrics_count_request(HTTP_METHOD_HEAD, statuses[i]);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		metrics_count_request(methods[i].m, 418);
	text = render();
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		snprintf(line, sizeof(line), "shoal_requests_total{method="
		    "\"HEAD\",status=\"%d\"} 1", statuses[i]);
		exposition_assert(text, line);
	}
	for (i = 0; i < 5; i++) {
		snprintf(line, sizeof(line), "shoal_requests_total{method="
		    "\"%s\",status=\"other\"} %d", methods[i].label,
		    i == 4 ? 4 : 1);
		exposition_assert(text, line);
	}
	free(text);
}
END_TEST

/* A process without a slot (the master) counts nothing and survives. */
START_TEST(count_without_slot_is_ignored)
{
	char *text;

	ck_assert_int_eq(metrics_init(), 0);
	metrics_count_request(HTTP_METHOD_GET, 200);
	text = render();
	ck_assert_ptr_null(strstr(text, "shoal_requests_total{"));
	free(text);
}
END_TEST

/* The text format: every sample's metric has HELP and TYPE before it
 * (a histogram's samples carry _bucket, _sum and _count), and every line
 * is a comment or "name[{labels}] number". */
static bool
typed_before(char typed[][64], int ntyped, const char *name)
{
	static const char *const suffixes[] = { "", "_bucket", "_sum",
	    "_count" };
	size_t s, len = strlen(name);
	int i;

	for (i = 0; i < ntyped; i++) {
		for (s = 0; s < 4; s++) {
			size_t tl = strlen(typed[i]), sl = strlen(suffixes[s]);

			if (tl + sl == len &&
			    strncmp(name, typed[i], tl) == 0 &&
			    strcmp(name + tl, suffixes[s]) == 0)
				return true;
		}
	}
	return false;
}

START_TEST(exposition_is_well_formed)
{
	char *text, *p, *line, typed[64][64];
	int ntyped = 0, samples = 0;

	ck_assert_int_eq(metrics_init(), 0);
	metrics_use_slot(metrics_slot_claim(1));
	metrics_count_request(HTTP_METHOD_GET, 200);
	text = render();
	p = text + 1;
	while ((line = strsep(&p, "\n")) != NULL) {
		char name[64];
		size_t len;
		const char *val;

		if (*line == '\0')
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			ck_assert_int_lt(ntyped, 64);
			ck_assert_int_eq(sscanf(line + 7, "%63s",
			    typed[ntyped]), 1);
			ntyped++;
			continue;
		}
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		len = strcspn(line, "{ ");
		ck_assert_uint_lt(len, sizeof(name));
		memcpy(name, line, len);
		name[len] = '\0';
		ck_assert_msg(typed_before(typed, ntyped, name),
		    "sample before its TYPE: %s", line);
		val = strrchr(line, ' ');
		ck_assert_ptr_nonnull(val);
		ck_assert_msg(strspn(val + 1, "-.0123456789") ==
		    strlen(val + 1), "bad value in \"%s\"", line);
		samples++;
	}
	ck_assert_int_ge(samples, 25);	/* peers: check_peer_table */
	free(text);
}
END_TEST

START_TEST(totals_sum_slots_by_status_class)
{
	struct metrics_totals t;
	int a, b;

	ck_assert_int_eq(metrics_init(), 0);
	a = metrics_slot_claim(100);
	b = metrics_slot_claim(101);
	metrics_use_slot(a);
	count_requests(HTTP_METHOD_GET, 200, 3);
	count_requests(HTTP_METHOD_HEAD, 304, 1);
	count_requests(HTTP_METHOD_PUT, 201, 2);
	metrics_add(&metrics_mine()->ms_bytes_sent, 100);
	metrics_add(&metrics_mine()->ms_local_hits, 3);
	metrics_use_slot(b);
	count_requests(HTTP_METHOD_GET, 404, 4);
	count_requests(HTTP_METHOD_POST, 503, 1);
	count_requests(HTTP_METHOD_GET, 299, 1);	/* counted as "other" */
	metrics_add(&metrics_mine()->ms_bytes_sent, 23);
	metrics_add(&metrics_mine()->ms_bytes_received, 7);
	metrics_add(&metrics_mine()->ms_peer_hits, 2);
	metrics_add(&metrics_mine()->ms_peer_misses, 4);
	metrics_totals(&t);
	ck_assert_uint_eq(t.tot_requests, 12);
	ck_assert_uint_eq(t.tot_by_class[0], 1);
	ck_assert_uint_eq(t.tot_by_class[1], 0);
	ck_assert_uint_eq(t.tot_by_class[2], 5);
	ck_assert_uint_eq(t.tot_by_class[3], 1);
	ck_assert_uint_eq(t.tot_by_class[4], 4);
	ck_assert_uint_eq(t.tot_by_class[5], 1);
	ck_assert_uint_eq(t.tot_bytes_sent, 123);
	ck_assert_uint_eq(t.tot_bytes_received, 7);
	ck_assert_uint_eq(t.tot_local_hits, 3);
	ck_assert_uint_eq(t.tot_peer_hits, 2);
	ck_assert_uint_eq(t.tot_peer_misses, 4);
}
END_TEST

int
main(void)
{
	check_main_tcase("metrics", NULL, NULL,
	    CHECK_MAIN_TESTS(init_maps_zeroed_region,
	    slot_claim_release_keeps_totals, counts_from_forked_child_visible,
	    render_sums_all_slots, every_status_and_method,
	    count_without_slot_is_ignored, exposition_is_well_formed,
	    totals_sum_slots_by_status_class));
	return check_main_run();
}
