/*
 * metrics.c - the shared counter region and its Prometheus rendering.
 *
 * Writers: a child (a worker, the agent) writes only its own slot, from its
 * loop thread; the master writes the header fields and ms_pid. Readers: any
 * worker rendering /_/metrics. All accesses are relaxed atomics: counts may
 * be a moment stale across slots but are never torn.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "store/index.h"
#include "store/metrics.h"

static struct metrics_shared *metrics_region;
static struct metrics_slot *metrics_my_slot;
static struct index *metrics_index;

void
metrics_set_index(struct index *ix)
{
	metrics_index = ix;
}

/* Statuses counted by name; anything else is counted as "other" (index 0). */
static const int metrics_statuses[METRICS_NSTATUS] = {
	0, 100, 200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 408, 409,
	411, 412, 413, 414, 415, 416, 417, 431, 500, 501, 502, 503, 504, 505,
	507,
};

/* Upload outcomes: the answer that ended an upload, by name. */
static const struct {
	int status;
	const char *outcome;
} metrics_upload_outcomes[METRICS_NUPLOAD] = {
	{ 201, "created" }, { 409, "conflict" }, { 413, "too_large" },
	{ 401, "unauthorized" }, { 403, "disabled" },
	{ 411, "length_required" }, { 507, "no_space" }, { 0, "aborted" },
	{ 400, "bad_request" }, { -1, "failed" },	/* anything else */
};

static const char *const metrics_method_names[METRICS_NMETHODS] = {
	"GET", "HEAD", "PUT", "POST", "other",
};

int
metrics_init(void)
{
	void *p = mmap(NULL, sizeof(struct metrics_shared),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	metrics_region = p;
	metrics_region->start_time = (int64_t)time(NULL);
	return 0;
}

struct metrics_shared *
metrics_shared(void)
{
	return metrics_region;
}

int
metrics_slot_claim(pid_t pid)
{
	int i;

	for (i = 0; i < METRICS_SLOTS; i++) {
		struct metrics_slot *s = &metrics_region->slots[i];

		if (__atomic_load_n(&s->ms_pid, __ATOMIC_RELAXED) == 0) {
			/* The dead owner's connections died with it, and
			 * so did an agent's view of what it had to pull. */
			__atomic_store_n(&s->ms_connections_open, 0,
			    __ATOMIC_RELAXED);
			__atomic_store_n(&s->ms_replication_pending, 0,
			    __ATOMIC_RELAXED);
			__atomic_store_n(&s->ms_pid, pid, __ATOMIC_RELAXED);
			return i;
		}
	}
	return -1;
}

void
metrics_slot_release(int idx)
{
	if (idx < 0 || idx >= METRICS_SLOTS)
		return;
	__atomic_store_n(&metrics_region->slots[idx].ms_connections_open, 0,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&metrics_region->slots[idx].ms_replication_pending,
	    0, __ATOMIC_RELAXED);
	__atomic_store_n(&metrics_region->slots[idx].ms_pid, 0,
	    __ATOMIC_RELAXED);
}

void
metrics_use_slot(int idx)
{
	metrics_my_slot = &metrics_region->slots[idx];
}

struct metrics_slot *
metrics_mine(void)
{
	return metrics_my_slot;
}

void
metrics_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

void
metrics_gauge_add(int64_t *gauge, int64_t n)
{
	__atomic_fetch_add(gauge, n, __ATOMIC_RELAXED);
}

static int
metrics_status_index(int status)
{
	int i;

	for (i = 1; i < METRICS_NSTATUS && metrics_statuses[i] != 0; i++)
		if (metrics_statuses[i] == status)
			return i;
	return 0;
}

static enum metrics_method
metrics_method_index(enum http_method m)
{
	switch (m) {
	case HTTP_METHOD_GET:
		return METRICS_GET;
	case HTTP_METHOD_HEAD:
		return METRICS_HEAD;
	case HTTP_METHOD_PUT:
		return METRICS_PUT;
	case HTTP_METHOD_POST:
		return METRICS_POST;
	default:
		return METRICS_OTHER;
	}
}

void
metrics_count_request(enum http_method method, int status)
{
	if (metrics_my_slot == NULL)
		return;
	metrics_add(&metrics_my_slot->ms_requests[metrics_method_index(method)]
	    [metrics_status_index(status)], 1);
}





void
metrics_count_upload(int status)
{
	int i;

	if (metrics_my_slot == NULL)
		return;
	for (i = 0; i < METRICS_NUPLOAD - 1; i++)
		if (metrics_upload_outcomes[i].status == status)
			break;
	metrics_add(&metrics_my_slot->ms_uploads[i], 1);
}

static uint64_t
load_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Sums one uint64_t field, at `offset` in each slot, over every slot. */
static uint64_t
metrics_sum(size_t offset)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < METRICS_SLOTS; i++)
		total += load_u64((const uint64_t *)(const void *)
		    ((const char *)&metrics_region->slots[i] + offset));
	return total;
}

/* Requests of method i and status index j, over every slot. */
static uint64_t
metrics_requests(int i, int j)
{
	uint64_t n = 0;
	int k;

	for (k = 0; k < METRICS_SLOTS; k++)
		n += load_u64(&metrics_region->slots[k].ms_requests[i][j]);
	return n;
}


void
metrics_label_value(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in != '\0' && o + 3 < size; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

void
metrics_family(struct buf *out, const char *name, const char *help,
    const char *type)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
metrics_counter(struct buf *out, const char *name, const char *help,
    uint64_t value)
{
	metrics_family(out, name, help, "counter");
	buf_printf(out, "%s %llu\n", name, (unsigned long long)value);
}

void
metrics_gauge(struct buf *out, const char *name, const char *help,
    long long value)
{
	metrics_family(out, name, help, "gauge");
	buf_printf(out, "%s %lld\n", name, value);
}

static void
metrics_render_index(struct buf *out)
{
	struct index_stats st;

	if (metrics_index == NULL)
		return;
	index_stats(metrics_index, &st);
	metrics_family(out, "shoal_index_entries",
	    "Entries of the shared index, by kind.", "gauge");
	buf_printf(out, "shoal_index_entries{kind=\"copy\"} %llu\n"
	    "shoal_index_entries{kind=\"negative\"} %llu\n"
	    "shoal_index_entries{kind=\"fetch\"} %llu\n",
	    (unsigned long long)st.is_copies,
	    (unsigned long long)st.is_negatives,
	    (unsigned long long)st.is_fetches);
	metrics_gauge(out, "shoal_index_capacity",
	    "Entries the shared index holds.", (long long)st.is_capacity);
	metrics_counter(out, "shoal_index_expirations_total",
	    "Saved copies removed when their time was up.",
	    st.is_expirations);
	metrics_counter(out, "shoal_index_evictions_total",
	    "Entries pushed out of a full index.", st.is_evictions);
	metrics_counter(out, "shoal_index_full_total",
	    "Entries refused by a full index (copies not kept).", st.is_full);
	metrics_counter(out, "shoal_index_collapsed_waiters_total",
	    "Requests that waited for another's fetch of the same name.",
	    st.is_collapsed);
	metrics_counter(out, "shoal_index_negative_hits_total",
	    "Misses answered 404 from a recent \"no peer has it\".",
	    st.is_negative_hits);
	metrics_counter(out, "shoal_index_takeovers_total",
	    "Fetches taken over from a dead or stalled owner.",
	    st.is_takeovers);
}

void
metrics_totals(struct metrics_totals *t)
{
	int i, j, c;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < METRICS_NMETHODS; i++) {
		for (j = 0; j < METRICS_NSTATUS; j++) {
			uint64_t n;

			if (j > 0 && metrics_statuses[j] == 0)
				break;
			n = metrics_requests(i, j);
			c = metrics_statuses[j] / 100;
			t->tot_by_class[c >= 1 && c <= 5 ? c : 0] += n;
			t->tot_requests += n;
		}
	}
	t->tot_bytes_sent = metrics_sum(offsetof(struct metrics_slot,
	    ms_bytes_sent));
	t->tot_bytes_received = metrics_sum(offsetof(struct metrics_slot,
	    ms_bytes_received));
	t->tot_local_hits = metrics_sum(offsetof(struct metrics_slot,
	    ms_local_hits));
	t->tot_peer_hits = metrics_sum(offsetof(struct metrics_slot,
	    ms_peer_hits));
	t->tot_peer_misses = metrics_sum(offsetof(struct metrics_slot,
	    ms_peer_misses));
}

void
metrics_render(struct buf *out)
{
	struct metrics_shared *m = metrics_region;
	int i, j, k;
	int64_t open = 0;

	metrics_family(out, "shoal_requests_total",
	    "Requests answered, by method and status.", "counter");
	for (i = 0; i < METRICS_NMETHODS; i++) {
		for (j = 0; j < METRICS_NSTATUS; j++) {
			uint64_t n;

			if (j > 0 && metrics_statuses[j] == 0)
				break;
			n = metrics_requests(i, j);
			if (n == 0)
				continue;
			if (j == 0)
				buf_printf(out, "shoal_requests_total{method=\"%s\","
				    "status=\"other\"} %llu\n",
				    metrics_method_names[i], (unsigned long long)n);
			else
				buf_printf(out, "shoal_requests_total{method=\"%s\","
				    "status=\"%d\"} %llu\n", metrics_method_names[i],
				    metrics_statuses[j], (unsigned long long)n);
		}
	}
	metrics_counter(out, "shoal_sent_bytes_total",
	    "Bytes sent to clients, heads included.",
	    metrics_sum(offsetof(struct metrics_slot, ms_bytes_sent)));
	metrics_counter(out, "shoal_received_bytes_total",
	    "Bytes received from clients.",
	    metrics_sum(offsetof(struct metrics_slot, ms_bytes_received)));
	metrics_counter(out, "shoal_local_hits_total",
	    "GET and HEAD answered from local files.",
	    metrics_sum(offsetof(struct metrics_slot, ms_local_hits)));
	metrics_counter(out, "shoal_local_misses_total",
	    "GET and HEAD of valid names not in ROOT.",
	    metrics_sum(offsetof(struct metrics_slot, ms_local_misses)));
	metrics_counter(out, "shoal_connections_accepted_total",
	    "Client connections accepted.",
	    metrics_sum(offsetof(struct metrics_slot, ms_connections_accepted)));
	metrics_counter(out, "shoal_connections_refused_total",
	    "Client connections refused over http.max_connections.",
	    metrics_sum(offsetof(struct metrics_slot, ms_connections_refused)));
	metrics_counter(out, "shoal_iopool_overflows_total",
	    "Disk jobs that found the I/O pool queue full.",
	    metrics_sum(offsetof(struct metrics_slot, ms_iopool_overflows)));
	metrics_counter(out, "shoal_peer_hits_total",
	    "Local misses served from a peer.",
	    metrics_sum(offsetof(struct metrics_slot, ms_peer_hits)));
	metrics_counter(out, "shoal_peer_misses_total",
	    "Local misses that no peer had (404).",
	    metrics_sum(offsetof(struct metrics_slot, ms_peer_misses)));
	metrics_counter(out, "shoal_miss_followers_total",
	    "Local misses streamed from another request's fetch of the "
	    "name while it arrived.",
	    metrics_sum(offsetof(struct metrics_slot, ms_followers)));
	metrics_family(out, "shoal_miss_lookups_total",
	    "Local misses asked of peers, by whom they asked.", "counter");
	for (i = 0; i < METRICS_NASKS; i++) {
		static const char *const asked[METRICS_NASKS] = {
			"holders", "everyone_after_holders", "everyone"
		};

		buf_printf(out, "shoal_miss_lookups_total{asked=\"%s\"} %llu\n",
		    asked[i], (unsigned long long)metrics_sum(
		    offsetof(struct metrics_slot, ms_miss_asks) +
		    i * sizeof(uint64_t)));
	}
	metrics_counter(out, "shoal_saved_total",
	    "Copies fetched from peers and kept.",
	    metrics_sum(offsetof(struct metrics_slot, ms_saved)));
	metrics_counter(out, "shoal_save_failures_total",
	    "Copies from peers that could not be kept.",
	    metrics_sum(offsetof(struct metrics_slot, ms_save_failures)));
	metrics_family(out, "shoal_uploads_total",
	    "Uploads, by how they ended.", "counter");
	for (i = 0; i < METRICS_NUPLOAD; i++) {
		uint64_t n = 0;

		for (k = 0; k < METRICS_SLOTS; k++)
			n += load_u64(&m->slots[k].ms_uploads[i]);
		buf_printf(out, "shoal_uploads_total{outcome=\"%s\"} %llu\n",
		    metrics_upload_outcomes[i].outcome, (unsigned long long)n);
	}
	metrics_counter(out, "shoal_upload_received_bytes_total",
	    "Body bytes of stored uploads.",
	    metrics_sum(offsetof(struct metrics_slot, ms_upload_bytes)));
	metrics_render_index(out);
	for (k = 0; k < METRICS_SLOTS; k++)
		open += __atomic_load_n(&m->slots[k].ms_connections_open,
		    __ATOMIC_RELAXED);
	metrics_gauge(out, "shoal_connections_open",
	    "Client connections open now.", (long long)open);
	metrics_gauge(out, "shoal_workers", "Worker processes running.",
	    (long long)__atomic_load_n(&m->workers, __ATOMIC_RELAXED));
	metrics_counter(out, "shoal_worker_restarts_total",
	    "Workers started again after they died.",
	    load_u64(&m->worker_restarts));
	metrics_counter(out, "shoal_reloads_total",
	    "Configurations reloaded by SIGHUP.", load_u64(&m->reloads));
	metrics_counter(out, "shoal_reload_failures_total",
	    "SIGHUP reloads refused (invalid file or workers not started).",
	    load_u64(&m->reload_failures));
	metrics_gauge(out, "shoal_start_time_seconds",
	    "When the master started, in unix time.",
	    (long long)m->start_time);
}
