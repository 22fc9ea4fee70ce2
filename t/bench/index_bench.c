/*
 * index_bench.c - figures for the shared index (src/store/index*.c):
 * lookups per second with a million entries (hits and misses, one process
 * and several), the cost of the fetch protocol, memory, open times, and
 * how the table holds up under churn. Run by t/bench/index.sh; not part of
 * make check. Uses only the public API (include/store/index.h).
 *
 *   index_bench [-d DIR] [-n ENTRIES] [-p PROCS] [-c CHURN_CAPACITY]
 *
 * The index file goes to DIR (default: a new directory in $TMPDIR or
 * /tmp), and is removed at the end. Times are faked for the churn runs
 * (one insert per millisecond), so they are deterministic.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/index.h"

#define NAME_LEN 40	/* names are "bench-file-%08u.dat" and the like */

static char bench_dir[256];
static char bench_path[300];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
remove_index(void)
{
	char p[320];

	unlink(bench_path);
	snprintf(p, sizeof(p), "%s.new", bench_path);
	unlink(p);
}

/* Names: a flat array of fixed-size strings, made before timing. */
static char *
make_names(const char *fmt, uint64_t n)
{
	char *names = malloc(n * NAME_LEN);
	uint64_t i;

	if (names == NULL)
		die("malloc");
	for (i = 0; i < n; i++)
		snprintf(names + i * NAME_LEN, NAME_LEN, fmt, (unsigned)i);
	return names;
}

static struct index *
open_fresh(uint64_t capacity, double *secs)
{
	struct index_open_report rep;
	struct index *ix;
	double t0;

	remove_index();
	t0 = now_s();
	ix = index_open(bench_path, capacity, 0, &rep);
	if (ix == NULL)
		die("index_open");
	if (secs != NULL)
		*secs = now_s() - t0;
	free(rep.r_lost);
	return ix;
}

/* Looks up `count` random names of `names`, in three rounds; returns
 * the best round's lookups per second (the machine is shared: the best is
 * the least disturbed), and how many were found. */
static double
lookups(struct index *ix, const char *names, uint64_t n, uint64_t count,
    uint64_t seed, uint64_t *found)
{
	double best = 0;
	uint64_t i;
	int round;

	*found = 0;
	for (round = 0; round < 3; round++) {
		double t0 = now_s(), rate;

		for (i = 0; i < count / 3; i++) {
			const char *name = names + rnd(&seed) % n * NAME_LEN;

			if (index_lookup(ix, name, strlen(name), NULL, 1000,
			    NULL) == INDEX_LOOKUP_COPY)
				(*found)++;
		}
		rate = (double)(count / 3) / (now_s() - t0);
		if (rate > best)
			best = rate;
	}
	return best;
}

/* The same from `procs` processes at once; returns the total rate. */
static double
lookups_parallel(struct index *ix, const char *names, uint64_t n,
    uint64_t count, int procs)
{
	int pfd[2], i;
	double total = 0;

	if (pipe(pfd) == -1)
		die("pipe");
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid == -1)
			die("fork");
		if (pid == 0) {
			uint64_t found;
			double rate = lookups(ix, names, n, count,
			    0x9e3779b97f4a7c15u * (uint64_t)(i + 7), &found);

			if (write(pfd[1], &rate, sizeof(rate)) !=
			    (ssize_t)sizeof(rate))
				_exit(1);
			_exit(0);
		}
	}
	for (i = 0; i < procs; i++) {
		double rate;

		if (read(pfd[0], &rate, sizeof(rate)) != (ssize_t)sizeof(rate))
			die("read");
		total += rate;
	}
	while (wait(NULL) > 0)
		;
	close(pfd[0]);
	close(pfd[1]);
	return total;
}

/* The machine's latency of one dependent load at random in `bytes` of
 * memory (a pointer chase): what a lookup's cache misses cost here. */
static double
memory_latency_ns(size_t bytes)
{
	size_t n = bytes / 64, i, p = 0;
	size_t *a = malloc(n * 64), *perm = malloc(n * sizeof(*perm));
	uint64_t x = 88172645463325252u;
	double t0;

	if (a == NULL || perm == NULL)
		die("malloc");
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j = rnd(&x) % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < n; i++)
		a[perm[i] * 8] = perm[(i + 1) % n] * 8;
	t0 = now_s();
	for (i = 0; i < 2000000; i++)
		p = a[p];
	t0 = (now_s() - t0) / 2e6 * 1e9;
	free(a);
	free(perm);
	return p == (size_t)-1 ? 0 : t0;
}

static long
rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void
bench_million(uint64_t entries, int procs)
{
	struct index_identity id = { 1, 0, 4096 };
	struct index_stats st;
	struct stat sb;
	struct index *ix;
	double t_create, t_reopen, t0, rate;
	uint64_t capacity = entries + entries / 10, i, found;
	uint64_t count = 4000000;
	char *hits = make_names("bench-file-%08u.dat", entries);
	char *misses = make_names("bench-miss-%08u.dat", entries);
	long rss0;

	printf("== %" PRIu64 " entries (capacity asked %" PRIu64 ")\n",
	    entries, capacity);
	ix = open_fresh(capacity, &t_create);
	if (stat(bench_path, &sb) == -1)
		die("stat");
	printf("file: %.1f MiB (%" PRIu64 " bytes), %.0f bytes per entry of "
	    "capacity %" PRIu64 ", %.0f per stored entry; blocks reserved: "
	    "%.1f MiB\n", (double)index_file_size(ix) / 1048576,
	    index_file_size(ix), (double)index_file_size(ix) /
	    (double)index_capacity(ix), index_capacity(ix),
	    (double)index_file_size(ix) / (double)entries,
	    (double)sb.st_blocks * 512 / 1048576);
	printf("create (ftruncate, posix_fallocate, locks): %.3f s\n",
	    t_create);

	rss0 = rss_kib();
	t0 = now_s();
	for (i = 0; i < entries; i++) {
		const char *name = hits + i * NAME_LEN;

		id.id_ino = i;
		if (index_put_copy(ix, name, strlen(name), &id,
		    (int64_t)(1000000 + i), 0) == -1 && errno != ENOSPC)
			die("index_put_copy");
	}
	printf("inserts: %.2f M/s (%.0f ns each); process RSS grew %.1f MiB "
	    "(the pages touched)\n", (double)entries / (now_s() - t0) / 1e6,
	    (now_s() - t0) / (double)entries * 1e9,
	    (double)(rss_kib() - rss0) / 1024);
	index_stats(ix, &st);
	printf("stored %" PRIu64 " copies, %" PRIu64 " refused, load %.1f%%\n",
	    st.is_copies, st.is_full, 100.0 * (double)st.is_copies /
	    (double)st.is_capacity);

	{
		const char *name = hits + 1234 * NAME_LEN;

		t0 = now_s();
		for (i = 0; i < count; i++)
			index_lookup(ix, name, strlen(name), NULL, 0, NULL);
		printf("lookup of one name again and again (all in cache: the "
		    "CPU cost): %.0f ns\n", (now_s() - t0) / (double)count *
		    1e9);
	}
	printf("this machine: a dependent load at random in %.0f MiB takes "
	    "%.0f ns (pointer chase)\n", (double)index_file_size(ix) /
	    1048576, memory_latency_ns(index_file_size(ix)));
	rate = lookups(ix, hits, entries, count, 1, &found);
	printf("lookups, hits:   %6.2f M/s (%.0f ns), 1 process (%" PRIu64
	    "/%" PRIu64 " found)\n", rate / 1e6, 1e9 / rate, found,
	    count / 3 * 3);
	rate = lookups(ix, misses, entries, count, 2, &found);
	printf("lookups, misses: %6.2f M/s (%.0f ns), 1 process (%" PRIu64
	    " found)\n", rate / 1e6, 1e9 / rate, found);
	rate = lookups_parallel(ix, hits, entries, count, procs);
	printf("lookups, hits:   %6.2f M/s total, %d processes at once\n",
	    rate / 1e6, procs);
	rate = lookups_parallel(ix, misses, entries, count, procs);
	printf("lookups, misses: %6.2f M/s total, %d processes at once\n",
	    rate / 1e6, procs);

	/* The miss path: claim, progress, finish as negative. */
	t0 = now_s();
	for (i = 0; i < 1000000; i++) {
		const char *name = misses + (i % entries) * NAME_LEN;
		size_t len = strlen(name);
		struct index_entry e;

		if (index_fetch_claim(ix, name, len, getpid(), (int64_t)i, 0,
		    &e) != INDEX_CLAIMED)
			continue;
		index_fetch_progress(ix, name, len, e.e_fetch.f_id, 100, 100,
		    "fill-1-2-xyz", (int64_t)i);
		index_fetch_finish(ix, name, len, e.e_fetch.f_id,
		    INDEX_END_FAILED, NULL, 0, (int64_t)i);
	}
	printf("fetch cycle (claim + progress + finish): %.2f M/s (%.0f ns)\n",
	    1e6 / (now_s() - t0) / 1e6, (now_s() - t0) / 1e6 * 1e9);
	index_close(ix);

	t0 = now_s();
	ix = index_open(bench_path, capacity, 0, NULL);
	if (ix == NULL)
		die("reopen");
	t_reopen = now_s() - t0;
	index_stats(ix, &st);
	printf("reopen (check and repair every entry): %.3f s, %" PRIu64
	    " copies kept\n", t_reopen, st.is_copies);
	{
		uint64_t cursor = 0, n = 0;
		struct index_entry *out = malloc(1024 * sizeof(*out));

		if (out == NULL)
			die("malloc");
		t0 = now_s();
		while (cursor < index_capacity(ix))
			n += index_expired(ix, 1500000, &cursor, out, 1024);
		printf("sweep pass: %.3f s, %" PRIu64 " expired found\n",
		    now_s() - t0, n);
		free(out);
	}
	index_close(ix);
	remove_index();
	free(hits);
	free(misses);
}

/*
 * Churn: a stream of `stream` distinct names, one per (fake) millisecond,
 * into a table of `capacity`. kind 0: copies living ttl ms on average
 * (uniform in [ttl/2, 3ttl/2]), with a sweeper that every sweep_ms
 * collects expired copies and removes their records, as the master does;
 * kind 1: copies that never expire; kind 2: negative entries living ttl.
 * Reports which fraction of the last `recent` names that should still be
 * there are findable, evictions, refusals.
 */
static void
churn(const char *what, uint64_t capacity, uint64_t stream, int kind,
    int64_t ttl, int64_t sweep_ms, uint64_t recent)
{
	struct index *ix = open_fresh(capacity, NULL);
	struct index_entry *out = malloc(4096 * sizeof(*out));
	int64_t *expiry = malloc(stream * sizeof(*expiry));
	struct index_stats st;
	uint64_t i, cursor = 0, seed = 42, want = 0, have = 0;
	char name[NAME_LEN];
	double t0 = now_s();

	if (out == NULL || expiry == NULL)
		die("malloc");
	for (i = 0; i < stream; i++) {
		int64_t now = (int64_t)i;
		struct index_identity id = { 1, i, 100 };

		snprintf(name, sizeof(name), "churn-%010" PRIu64, i);
		expiry[i] = kind == 1 ? 0 : now + ttl / 2 +
		    (int64_t)(rnd(&seed) % (uint64_t)ttl);
		if (kind == 2)
			index_put_negative(ix, name, strlen(name), expiry[i],
			    now);
		else
			index_put_copy(ix, name, strlen(name), &id, expiry[i],
			    now);
		if (kind == 0 && now % sweep_ms == 0) {
			size_t n, k;

			/* One whole pass, as a master's timer would. */
			cursor = 0;
			while (cursor < index_capacity(ix)) {
				n = index_expired(ix, now, &cursor, out, 4096);
				for (k = 0; k < n; k++)
					index_remove_if(ix, out[k].e_name,
					    out[k].e_name_len, &out[k].e_id,
					    now);
			}
		}
	}
	for (i = stream - recent; i < stream; i++) {
		enum index_lookup r;

		if (expiry[i] != 0 && expiry[i] <= (int64_t)stream)
			continue;	/* gone by its time: not expected */
		snprintf(name, sizeof(name), "churn-%010" PRIu64, i);
		r = index_lookup(ix, name, strlen(name), NULL,
		    (int64_t)stream, NULL);
		want++;
		have += r == INDEX_LOOKUP_COPY || r == INDEX_LOOKUP_NEGATIVE;
	}
	index_stats(ix, &st);
	printf("%-44s %5.1f%% of %7" PRIu64 " findable; load %5.1f%%; "
	    "evictions %8" PRIu64 "; refused %8" PRIu64 "; expirations %8"
	    PRIu64 " (%.2f s)\n", what, want ? 100.0 * (double)have /
	    (double)want : 0.0, want, 100.0 * (double)(st.is_copies +
	    st.is_negatives) / (double)st.is_capacity, st.is_evictions,
	    st.is_full, st.is_expirations, now_s() - t0);
	index_close(ix);
	remove_index();
	free(out);
	free(expiry);
}

static void
usage(void)
{
	fprintf(stderr, "usage: index_bench [-d DIR] [-n ENTRIES] [-p PROCS] "
	    "[-c CHURN_CAPACITY]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	uint64_t entries = 1000000, cap = 65536;
	const char *dir = NULL;
	int procs = 0, ch;
	char label[128];

	while ((ch = getopt(argc, argv, "d:n:p:c:")) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			entries = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			procs = atoi(optarg);
			break;
		case 'c':
			cap = strtoull(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (entries < 1000 || cap < 1024)
		usage();
	if (procs <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		procs = n > 1 ? (int)n : 2;
	}
	if (dir == NULL) {
		const char *tmp = getenv("TMPDIR");

		snprintf(bench_dir, sizeof(bench_dir), "%s/index_bench_XXXXXX",
		    tmp != NULL ? tmp : "/tmp");
		if (mkdtemp(bench_dir) == NULL)
			die("mkdtemp");
	} else {
		snprintf(bench_dir, sizeof(bench_dir), "%s", dir);
	}
	snprintf(bench_path, sizeof(bench_path), "%s/index", bench_dir);

	bench_million(entries, procs);

	printf("== churn: capacity %" PRIu64 ", a stream of %" PRIu64
	    " names, one per ms; findable among the last %" PRIu64 "\n",
	    cap, 10 * cap, cap / 2);
	snprintf(label, sizeof(label), "copies, live set 0.5x capacity");
	churn(label, cap, 10 * cap, 0, (int64_t)cap / 2, (int64_t)cap / 64,
	    cap / 2);
	snprintf(label, sizeof(label), "copies, live set 0.9x capacity");
	churn(label, cap, 10 * cap, 0, (int64_t)cap * 9 / 10,
	    (int64_t)cap / 64, cap / 2);
	snprintf(label, sizeof(label), "copies, live set 1.5x capacity");
	churn(label, cap, 10 * cap, 0, (int64_t)cap * 3 / 2,
	    (int64_t)cap / 64, cap / 2);
	snprintf(label, sizeof(label), "copies, live set 0.9x, sweep 4x rarer");
	churn(label, cap, 10 * cap, 0, (int64_t)cap * 9 / 10,
	    (int64_t)cap / 16, cap / 2);
	snprintf(label, sizeof(label), "copies that never expire (ttl: 0)");
	churn(label, cap, 10 * cap, 1, 0, 1, cap / 2);
	snprintf(label, sizeof(label),
	    "negative entries, live set 2x capacity");
	churn(label, cap, 10 * cap, 2, (int64_t)cap * 2, 1, cap / 2);
	if (dir == NULL)
		rmdir(bench_dir);
	return 0;
}
