/*
 * metrics.h - counters shared by the master and all its children (the
 * workers and the agent), rendered in the Prometheus text format at
 * /_/metrics.
 *
 * The master maps one anonymous MAP_SHARED region before forking, so every
 * child, present and future, sees the same memory. Each child owns one
 * slot and is its only writer (relaxed atomic adds from its loop thread);
 * readers sum all slots with relaxed loads. A slot keeps its counts when
 * its child dies and is handed to the next one, so totals never go back.
 * Per-peer counters are not here but in the peer table (peer_table.h).
 */
#ifndef SHOAL_METRICS_H
#define SHOAL_METRICS_H

#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "http/http.h"

#define METRICS_SLOTS 1024	/* > 2 generations of CONFIG_MAX_WORKERS */

enum metrics_method {
	METRICS_GET, METRICS_HEAD, METRICS_PUT, METRICS_POST, METRICS_OTHER,
	METRICS_NMETHODS
};

#define METRICS_NSTATUS 32	/* see metrics.c: the status table */
#define METRICS_NUPLOAD 10	/* see metrics.c: upload outcomes */

/* Whom a miss asked (ms_miss_asks). */
enum metrics_ask {
	METRICS_ASK_HOLDERS,		/* the holders the catalogue names */
	METRICS_ASK_AFTER_HOLDERS,	/* everyone, after no holder had it */
	METRICS_ASK_EVERYONE,		/* everyone: a name nobody catalogued */
	METRICS_NASKS
};

struct metrics_slot {
	pid_t ms_pid;			/* 0: free (master only) */
	uint64_t ms_requests[METRICS_NMETHODS][METRICS_NSTATUS];
	uint64_t ms_bytes_sent;		/* response bytes, heads included */
	uint64_t ms_bytes_received;	/* request bytes */
	uint64_t ms_connections_accepted;
	uint64_t ms_connections_refused;	/* over max_connections */
	int64_t ms_connections_open;	/* gauge */
	uint64_t ms_local_hits;		/* GET/HEAD served from ROOT */
	uint64_t ms_local_misses;	/* valid name not in ROOT */
	uint64_t ms_iopool_overflows;
	uint64_t ms_peer_hits;		/* misses served from a peer */
	uint64_t ms_peer_misses;	/* misses no peer had: 404 */
	uint64_t ms_followers;		/* misses streamed from a fill */
	uint64_t ms_miss_asks[METRICS_NASKS];	/* whom a miss asked */
	uint64_t ms_saved;		/* copies kept from peers */
	uint64_t ms_save_failures;
	uint64_t ms_uploads[METRICS_NUPLOAD];	/* by outcome, see metrics.c */
	uint64_t ms_upload_bytes;	/* body bytes of stored uploads */
	/* the agent's replication pulls (cluster/replicate.h) */
	uint64_t ms_replication_ok;
	uint64_t ms_replication_failed;
	uint64_t ms_replication_bytes;
	uint64_t ms_replication_surplus;	/* replicas beyond the count removed */
	int64_t ms_replication_pending;	/* gauge: versions to pull */
};

struct metrics_shared {
	uint32_t workers;		/* gauge, written by the master */
	uint32_t generation;		/* configuration generation */
	int64_t start_time;		/* unix seconds */
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t worker_restarts;
	struct metrics_slot slots[METRICS_SLOTS];
};

/* Master: maps the region once. Returns 0 or -1 with errno. */
int metrics_init(void);
struct metrics_shared *metrics_shared(void);

/* Master: takes a free slot for a new worker (returns its index or -1);
 * the open-connections gauge is reset, the totals kept. */
int metrics_slot_claim(pid_t pid);
void metrics_slot_release(int idx);

/* Worker: the slot it writes. */
void metrics_use_slot(int idx);
struct metrics_slot *metrics_mine(void);

/* Adds n to a counter of the caller's slot. */
void metrics_add(uint64_t *counter, uint64_t n);
void metrics_gauge_add(int64_t *gauge, int64_t n);

/* Counts an upload by its answer (0: the client left before one). */
void metrics_count_upload(int status);

/* Counts a finished request. */
void metrics_count_request(enum http_method method, int status);

/* Master, before forking: the index whose counters /_/metrics shows. */
struct index;
void metrics_set_index(struct index *ix);

/* A few totals (all slots summed), as the status page shows them. */
struct metrics_totals {
	uint64_t tot_requests;
	uint64_t tot_by_class[6];	/* [k]: statuses kxx; [0]: the others */
	uint64_t tot_bytes_sent;
	uint64_t tot_bytes_received;
	uint64_t tot_local_hits;
	uint64_t tot_peer_hits;
	uint64_t tot_peer_misses;
};

void metrics_totals(struct metrics_totals *t);

/* Appends the whole exposition (all slots summed) to out. */
void metrics_render(struct buf *out);

/* For other layers' families: "# HELP" and "# TYPE" lines, and a label
 * value escaped for the text format (backslash, quote, newline: a peer's
 * host may hold any printable byte). */
void metrics_family(struct buf *out, const char *name, const char *help,
    const char *type);
void metrics_label_value(const char *in, char *out, size_t size);

/* A family of one series without labels: its "# HELP" and "# TYPE"
 * lines and "NAME VALUE". */
void metrics_counter(struct buf *out, const char *name, const char *help,
    uint64_t value);
void metrics_gauge(struct buf *out, const char *name, const char *help,
    long long value);

#endif
