/*
 * metrics.h - counters shared by the master and all workers, rendered in
 * the Prometheus text format at /_/metrics.
 *
 * The master maps one anonymous MAP_SHARED region before forking, so every
 * worker, present and future, sees the same memory. Each worker owns one
 * slot and is its only writer (relaxed atomic adds from its loop thread);
 * readers sum all slots with relaxed loads. A slot keeps its counts when
 * its worker dies and is handed to the next one, so totals never go back.
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
	uint64_t ms_saved;		/* copies kept from peers */
	uint64_t ms_save_failures;
	uint64_t ms_uploads[METRICS_NUPLOAD];	/* by outcome, see metrics.c */
	uint64_t ms_upload_bytes;	/* body bytes of stored uploads */
};

#define METRICS_PEERS 256
#define METRICS_TTFB_BUCKETS 11	/* see metrics.c: the bucket bounds */

/* Counters of one peer, by "host:port". Several workers add to the same
 * entry, so these are atomic adds, not single-writer slots. Entries are
 * named by the master (at start and on reload) and never removed. */
struct metrics_peer {
	char mp_name[300];		/* empty: free entry */
	uint64_t mp_lookups;		/* lookups sent */
	uint64_t mp_wins;		/* first to answer 200 */
	uint64_t mp_not_found;		/* answered 404 */
	uint64_t mp_refused;
	uint64_t mp_timeout;
	uint64_t mp_bad_response;
	uint64_t mp_cut;		/* body ended early */
	uint64_t mp_skipped;		/* not asked: resting (peer_asked) */
	uint64_t mp_bytes;		/* body bytes relayed from it */
	uint64_t mp_ttfb[METRICS_TTFB_BUCKETS];	/* not cumulative */
	uint64_t mp_ttfb_sum_us;
	uint64_t mp_ttfb_count;
};

struct metrics_shared {
	uint32_t workers;		/* gauge, written by the master */
	uint32_t generation;		/* configuration generation */
	int64_t start_time;		/* unix seconds */
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t worker_restarts;
	struct metrics_slot slots[METRICS_SLOTS];
	struct metrics_peer peers[METRICS_PEERS];
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

/* Master: the entry for peer `name` ("host:port"), created if new.
 * Returns its index, or -1 when the table is full. */
int metrics_peer_register(const char *name);
/* Worker: the index of a registered peer, or -1. */
int metrics_peer_find(const char *name);
struct metrics_peer *metrics_peer(int idx);	/* NULL for -1 */
void metrics_peer_ttfb(int idx, int64_t us);

/* Counts an upload by its answer (0: the client left before one). */
void metrics_count_upload(int status);

/* Counts a finished request. */
void metrics_count_request(enum http_method method, int status);

/* Master, before forking: the index whose counters /_/metrics shows. */
struct index;
void metrics_set_index(struct index *ix);

/* Appends the whole exposition (all slots summed) to out. */
void metrics_render(struct buf *out);

#endif
