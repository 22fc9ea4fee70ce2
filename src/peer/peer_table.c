/*
 * peer_table.c - the node's peers in shared memory (see peer_table.h).
 *
 * Writers of the set: the master (configuration peers, at start and on
 * SIGHUP); later the agent and the workers (gossip members). Readers: the
 * workers, when the version moves. All of them under pt_lock, a robust
 * process-shared mutex: a holder that dies leaves at worst one entry half
 * written, which the next writer of that name rewrites whole; the version
 * moves after a repair so that every reader reads the set again.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "core/shm.h"
#include "peer/peer_table.h"
#include "store/metrics.h"

struct peer_table {
	pthread_mutex_t pt_lock;
	uint64_t pt_version;		/* relaxed loads without the lock */
	uint64_t pt_next_id;
	size_t pt_capacity;
	size_t pt_size;			/* bytes mapped */
	struct peer_entry pt_entries[];
};

/* Upper bounds of the time-to-first-byte buckets, in microseconds; the
 * last bucket is +Inf. */
static const uint64_t peer_ttfb_le_us[PEER_TTFB_BUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
	2500000,
};

struct peer_table *
peer_table_create(size_t capacity)
{
	size_t size = sizeof(struct peer_table) +
	    capacity * sizeof(struct peer_entry);
	struct peer_table *t = shm_anon(size);
	int rc;

	if (t == NULL)
		return NULL;
	if ((rc = shm_mutex_init(&t->pt_lock)) != 0) {
		shm_free(t, size);
		errno = rc;
		return NULL;
	}
	t->pt_capacity = capacity;
	t->pt_size = size;
	t->pt_next_id = 1;
	return t;
}

void
peer_table_destroy(struct peer_table *t)
{
	if (t != NULL)
		shm_free(t, t->pt_size);
}

static void
peer_table_bump_locked(struct peer_table *t)
{
	__atomic_add_fetch(&t->pt_version, 1, __ATOMIC_RELEASE);
}

static int
peer_table_lock(struct peer_table *t)
{
	int died, rc = shm_mutex_lock(&t->pt_lock, &died);

	if (rc != 0) {
		errno = rc;
		return -1;
	}
	if (died)
		peer_table_bump_locked(t);
	return 0;
}

static void
peer_table_unlock(struct peer_table *t)
{
	pthread_mutex_unlock(&t->pt_lock);
}

static bool
peer_spec_same(const struct peer_entry *e, const struct peer_spec *s)
{
	return e->pe_addrlen == s->ps_addrlen &&
	    memcmp(&e->pe_addr, &s->ps_addr, s->ps_addrlen) == 0 &&
	    e->pe_save == s->ps_save && e->pe_ttl_ms == s->ps_ttl_ms;
}

static void
peer_spec_store(struct peer_entry *e, const struct peer_spec *s)
{
	memcpy(e->pe_name, s->ps_name, sizeof(e->pe_name));
	e->pe_name[sizeof(e->pe_name) - 1] = '\0';
	memset(&e->pe_addr, 0, sizeof(e->pe_addr));
	memcpy(&e->pe_addr, &s->ps_addr, s->ps_addrlen);
	e->pe_addrlen = s->ps_addrlen;
	e->pe_save = s->ps_save;
	e->pe_ttl_ms = s->ps_ttl_ms;
	e->pe_seq++;
}

/* The slot for a new peer named `name`: a retired one of that name (its
 * counters go on), a free one, or the one retired longest ago (a new
 * peer: new counters). Or NULL. */
static struct peer_entry *
peer_table_slot_locked(struct peer_table *t, const char *name)
{
	struct peer_entry *free_slot = NULL, *oldest = NULL;
	size_t i;

	for (i = 0; i < t->pt_capacity; i++) {
		struct peer_entry *e = &t->pt_entries[i];

		if (e->pe_state == PEER_ENTRY_RETIRED &&
		    strcmp(e->pe_name, name) == 0)
			return e;
		if (e->pe_state == PEER_ENTRY_FREE && free_slot == NULL)
			free_slot = e;
		if (e->pe_state == PEER_ENTRY_RETIRED && (oldest == NULL ||
		    e->pe_retired_ms < oldest->pe_retired_ms))
			oldest = e;
	}
	if (free_slot != NULL)
		return free_slot;
	if (oldest != NULL) {
		memset(&oldest->pe_stats, 0, sizeof(oldest->pe_stats));
		oldest->pe_id = 0;
	}
	return oldest;
}

static struct peer_entry *
peer_table_find_locked(struct peer_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->pt_capacity; i++) {
		struct peer_entry *e = &t->pt_entries[i];

		if (e->pe_state == PEER_ENTRY_ACTIVE &&
		    strcmp(e->pe_name, name) == 0)
			return e;
	}
	return NULL;
}

int
peer_table_replace(struct peer_table *t, enum peer_source source,
    const struct peer_spec *specs, size_t n, int64_t now_ms)
{
	bool changed = false, full = false;
	size_t i, j;

	if (peer_table_lock(t) == -1)
		return -1;
	/* Retire first what the source no longer names: their slots may
	 * serve the new ones. */
	for (i = 0; i < t->pt_capacity; i++) {
		struct peer_entry *e = &t->pt_entries[i];
		bool named = false;

		if (e->pe_state != PEER_ENTRY_ACTIVE || e->pe_source != source)
			continue;
		for (j = 0; j < n && !named; j++)
			named = strcmp(e->pe_name, specs[j].ps_name) == 0;
		if (!named) {
			e->pe_state = PEER_ENTRY_RETIRED;
			e->pe_retired_ms = now_ms;
			changed = true;
		}
	}
	for (j = 0; j < n; j++) {
		struct peer_entry *e = peer_table_find_locked(t,
		    specs[j].ps_name);

		if (e != NULL) {
			if (!peer_spec_same(e, &specs[j]) ||
			    e->pe_source != source) {
				peer_spec_store(e, &specs[j]);
				e->pe_source = (uint8_t)source;
				changed = true;
			}
			continue;
		}
		e = peer_table_slot_locked(t, specs[j].ps_name);
		if (e == NULL) {
			full = true;
			continue;
		}
		if (e->pe_id == 0) {
			e->pe_id = t->pt_next_id++;
			memset(&e->pe_health, 0, sizeof(e->pe_health));
		}
		peer_spec_store(e, &specs[j]);
		e->pe_source = (uint8_t)source;
		e->pe_state = PEER_ENTRY_ACTIVE;
		changed = true;
	}
	if (changed)
		peer_table_bump_locked(t);
	peer_table_unlock(t);
	if (full) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

uint64_t
peer_table_version(const struct peer_table *t)
{
	return __atomic_load_n(&t->pt_version, __ATOMIC_ACQUIRE);
}

int
peer_table_source_of(struct peer_table *t, const char *name)
{
	int source = 0;
	size_t i;

	if (peer_table_lock(t) == -1)
		return 0;
	for (i = 0; i < t->pt_capacity; i++) {
		const struct peer_entry *e = &t->pt_entries[i];

		if (e->pe_state == PEER_ENTRY_ACTIVE &&
		    strcmp(e->pe_name, name) == 0) {
			source = e->pe_source;
			break;
		}
	}
	peer_table_unlock(t);
	return source;
}

size_t
peer_table_read(struct peer_table *t, struct peer_view *out, size_t max,
    uint64_t *version)
{
	size_t i, n = 0;

	if (peer_table_lock(t) == -1) {
		*version = peer_table_version(t);
		return 0;
	}
	for (i = 0; i < t->pt_capacity && n < max; i++) {
		const struct peer_entry *e = &t->pt_entries[i];
		struct peer_view *v = &out[n];

		if (e->pe_state != PEER_ENTRY_ACTIVE)
			continue;
		v->pv_slot = i;
		v->pv_id = e->pe_id;
		v->pv_seq = e->pe_seq;
		memcpy(v->pv_spec.ps_name, e->pe_name, sizeof(e->pe_name));
		v->pv_spec.ps_addr = e->pe_addr;
		v->pv_spec.ps_addrlen = e->pe_addrlen;
		v->pv_spec.ps_save = e->pe_save;
		v->pv_spec.ps_ttl_ms = e->pe_ttl_ms;
		n++;
	}
	*version = t->pt_version;
	peer_table_unlock(t);
	return n;
}

size_t
peer_table_capacity(const struct peer_table *t)
{
	return t->pt_capacity;
}

struct peer_entry *
peer_table_entry(struct peer_table *t, size_t slot)
{
	return &t->pt_entries[slot];
}

void
peer_stats_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

void
peer_stats_ttfb(struct peer_stats *st, int64_t us)
{
	int b;

	if (us < 0)
		us = 0;
	for (b = 0; b < PEER_TTFB_BUCKETS - 1; b++)
		if ((uint64_t)us <= peer_ttfb_le_us[b])
			break;
	peer_stats_add(&st->st_ttfb[b], 1);
	peer_stats_add(&st->st_ttfb_sum_us, (uint64_t)us);
	peer_stats_add(&st->st_ttfb_count, 1);
}

int
peer_spec_resolve(const char *host, unsigned port, struct peer_spec *out,
    const char **why)
{
	struct addrinfo hints, *res;
	char portstr[8];
	int rc;

	memset(out, 0, sizeof(*out));
	peer_format_name(host, port, out->ps_name, sizeof(out->ps_name));
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		*why = gai_strerror(rc);
		return -1;
	}
	memcpy(&out->ps_addr, res->ai_addr, res->ai_addrlen);
	out->ps_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void
peer_format_name(const char *host, unsigned port, char *out, size_t len)
{
	snprintf(out, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
	    port);
}

/* ------------------------------------------------------------------ */
/* /_/metrics                                                         */

static uint64_t
peer_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* One counter of every active peer: NAME{peer="P"EXTRA} VALUE, the value
 * being the uint64_t at `offset` in struct peer_stats. */
static void
peer_table_series(struct peer_table *t, struct buf *out, const char *name,
    const char *extra, size_t offset)
{
	char label[2 * PEER_NAME_MAX + 1];
	size_t i;

	for (i = 0; i < t->pt_capacity; i++) {
		const struct peer_entry *e = &t->pt_entries[i];

		if (e->pe_state != PEER_ENTRY_ACTIVE)
			continue;
		metrics_label_value(e->pe_name, label, sizeof(label));
		buf_printf(out, "%s{peer=\"%s\"%s} %llu\n", name, label, extra,
		    (unsigned long long)peer_load((const uint64_t *)(const void *)
		    ((const char *)&e->pe_stats + offset)));
	}
}

static void
peer_table_render_ttfb(struct peer_table *t, struct buf *out)
{
	char label[2 * PEER_NAME_MAX + 1];
	size_t i;
	int b;

	metrics_family(out, "shoal_peer_first_byte_seconds",
	    "Time from sending a lookup to the answer's head.", "histogram");
	for (i = 0; i < t->pt_capacity; i++) {
		const struct peer_entry *e = &t->pt_entries[i];
		const struct peer_stats *st = &e->pe_stats;
		uint64_t cum = 0;

		if (e->pe_state != PEER_ENTRY_ACTIVE)
			continue;
		metrics_label_value(e->pe_name, label, sizeof(label));
		for (b = 0; b < PEER_TTFB_BUCKETS; b++) {
			cum += peer_load(&st->st_ttfb[b]);
			if (b < PEER_TTFB_BUCKETS - 1)
				buf_printf(out, "shoal_peer_first_byte_seconds_"
				    "bucket{peer=\"%s\",le=\"%g\"} %llu\n",
				    label, (double)peer_ttfb_le_us[b] / 1e6,
				    (unsigned long long)cum);
			else
				buf_printf(out, "shoal_peer_first_byte_seconds_"
				    "bucket{peer=\"%s\",le=\"+Inf\"} %llu\n",
				    label, (unsigned long long)cum);
		}
		buf_printf(out, "shoal_peer_first_byte_seconds_sum{peer=\"%s\"}"
		    " %.6f\nshoal_peer_first_byte_seconds_count{peer=\"%s\"} "
		    "%llu\n", label, (double)peer_load(&st->st_ttfb_sum_us) / 1e6,
		    label, (unsigned long long)peer_load(&st->st_ttfb_count));
	}
}

void
peer_table_render_metrics(struct peer_table *t, struct buf *out)
{
	static const struct {
		const char *label;
		size_t offset;
	} outcomes[] = {
		{ ",outcome=\"win\"", offsetof(struct peer_stats, st_wins) },
		{ ",outcome=\"not_found\"",
		    offsetof(struct peer_stats, st_not_found) },
		{ ",outcome=\"refused\"",
		    offsetof(struct peer_stats, st_refused) },
		{ ",outcome=\"timeout\"",
		    offsetof(struct peer_stats, st_timeout) },
		{ ",outcome=\"bad_response\"",
		    offsetof(struct peer_stats, st_bad_response) },
		{ ",outcome=\"cut\"", offsetof(struct peer_stats, st_cut) },
	};
	size_t o;

	/* Under the lock: a name is never read while a slot is rewritten. */
	if (peer_table_lock(t) == -1)
		return;
	metrics_family(out, "shoal_peer_lookups_total",
	    "Lookups sent to each peer.", "counter");
	peer_table_series(t, out, "shoal_peer_lookups_total", "",
	    offsetof(struct peer_stats, st_lookups));
	metrics_family(out, "shoal_peer_outcomes_total",
	    "How lookups to each peer ended.", "counter");
	for (o = 0; o < sizeof(outcomes) / sizeof(outcomes[0]); o++)
		peer_table_series(t, out, "shoal_peer_outcomes_total",
		    outcomes[o].label, outcomes[o].offset);
	metrics_family(out, "shoal_peer_skipped_total",
	    "Lookups not sent: the peer rests after lookups that timed out.",
	    "counter");
	peer_table_series(t, out, "shoal_peer_skipped_total", "",
	    offsetof(struct peer_stats, st_skipped));
	metrics_family(out, "shoal_peer_received_bytes_total",
	    "Body bytes relayed from each peer.", "counter");
	peer_table_series(t, out, "shoal_peer_received_bytes_total", "",
	    offsetof(struct peer_stats, st_bytes));
	peer_table_render_ttfb(t, out);
	peer_table_unlock(t);
}
