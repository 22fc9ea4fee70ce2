/*
 * peer_table.h - the node's peers, in memory shared by all its processes:
 * which other nodes a miss (and an upload's name check) may ask, where
 * they are, their `save` and `ttl`, their health and their counters.
 *
 * The set changes while the node runs. The master fills the peers of the
 * configuration (`peers:`) at start and on SIGHUP; gossip (a later
 * source) adds and removes members. Each worker keeps a view of its own
 * (peer_set.h) with its connections, and brings it up to date when the
 * table's version moves.
 *
 * An entry is found by its slot and identified by pe_id, never reused for
 * another peer; pe_seq moves whenever its address, save or ttl change. A
 * peer that leaves the set is retired: its slot keeps its counters (and
 * takes them up again if the same name comes back) until the slot is
 * needed for a new peer.
 *
 * Locking: one process-shared robust mutex for the set (adding, changing,
 * retiring, reading a consistent view). Health and counters are written
 * without it, by relaxed atomics, from every worker: an entry's slot is
 * never unmapped, so a stale pointer into it is harmless.
 */
#ifndef SHOAL_PEER_PEER_TABLE_H
#define SHOAL_PEER_PEER_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"

#define PEER_NAME_MAX 300		/* "host:port", NUL included */
#define PEER_TABLE_CAPACITY 1024	/* the least capacity of the node's
					   table; more with a cluster */
#define PEER_TTFB_BUCKETS 11		/* see peer_table.c: the bounds */

enum peer_source {
	PEER_SOURCE_CONFIG = 1,		/* `peers:` of the configuration */
	PEER_SOURCE_GOSSIP,		/* a member found by gossip */
};

enum peer_entry_state {
	PEER_ENTRY_FREE,		/* never used */
	PEER_ENTRY_ACTIVE,
	PEER_ENTRY_RETIRED,		/* left the set; counters kept */
};

/* Counters of one peer, added to by every worker (relaxed atomics). */
struct peer_stats {
	uint64_t st_lookups;		/* lookups sent */
	uint64_t st_wins;		/* first to answer 200 */
	uint64_t st_not_found;		/* answered 404 */
	uint64_t st_refused;
	uint64_t st_timeout;
	uint64_t st_bad_response;
	uint64_t st_cut;		/* body ended early */
	uint64_t st_skipped;		/* not asked: resting */
	uint64_t st_bytes;		/* body bytes relayed from it */
	uint64_t st_ttfb[PEER_TTFB_BUCKETS];	/* not cumulative */
	uint64_t st_ttfb_sum_us;
	uint64_t st_ttfb_count;
};

/* Health, shared by the node's workers so that they agree on a peer that
 * never answers (see peer_may_ask()). Times are CLOCK_MONOTONIC ms, the
 * same clock in every process. */
struct peer_health {
	uint32_t he_timeouts;		/* in a row, without any answer */
	int64_t he_rest_until_ms;
	int64_t he_rest_ms;		/* the last rest, doubled each time */
};

struct peer_entry {
	uint64_t pe_id;			/* 0: free */
	uint32_t pe_seq;		/* moves when the fields below change */
	uint8_t pe_state;		/* enum peer_entry_state */
	uint8_t pe_source;		/* enum peer_source */
	char pe_name[PEER_NAME_MAX];
	struct sockaddr_storage pe_addr;
	socklen_t pe_addrlen;		/* 0: could not be resolved */
	bool pe_save;
	int64_t pe_ttl_ms;
	int64_t pe_retired_ms;		/* when it left the set */
	struct peer_health pe_health;
	struct peer_stats pe_stats;
};

struct peer_table;

/* What a source says a peer is. */
struct peer_spec {
	char ps_name[PEER_NAME_MAX];
	struct sockaddr_storage ps_addr;
	socklen_t ps_addrlen;		/* 0: unresolved */
	bool ps_save;
	int64_t ps_ttl_ms;
};

/* One active entry as a worker reads it (peer_table_read()). */
struct peer_view {
	size_t pv_slot;
	uint64_t pv_id;
	uint32_t pv_seq;
	struct peer_spec pv_spec;
};

/* Master, before forking: maps a table of `capacity` entries. Returns NULL
 * with errno. */
struct peer_table *peer_table_create(size_t capacity);
void peer_table_destroy(struct peer_table *t);

/*
 * Makes the active peers of `source` exactly specs[0..n): an entry of the
 * same name is kept (its pe_seq moves only if address, save or ttl
 * changed), a new name takes a slot (a retired one of the same name
 * first, then a free one, then the retired one retired longest ago), and
 * the source's peers not named are retired. `now_ms` (monotonic) stamps
 * retirements. Returns 0, or -1 with ENOSPC when the table is full (the
 * peers that fit are in).
 */
int peer_table_replace(struct peer_table *t, enum peer_source source,
    const struct peer_spec *specs, size_t n, int64_t now_ms);

/* Moves whenever the active set or an active entry changes. One relaxed
 * load: call it as often as you like. */
uint64_t peer_table_version(const struct peer_table *t);

/* Copies up to `max` active entries to out[]. Returns how many; *version
 * receives the version they are consistent with. */
size_t peer_table_read(struct peer_table *t, struct peer_view *out,
    size_t max, uint64_t *version);

size_t peer_table_capacity(const struct peer_table *t);

/* The source (enum peer_source) of the active peer named `name`, or 0
 * when there is none. */
int peer_table_source_of(struct peer_table *t, const char *name);

/* The entry in `slot` (for its health and counters). */
struct peer_entry *peer_table_entry(struct peer_table *t, size_t slot);

/* Counts a time to first byte of `us` microseconds. */
void peer_stats_ttfb(struct peer_stats *st, int64_t us);
void peer_stats_add(uint64_t *counter, uint64_t n);

/* Fills `out` for host:port: its name and its first address (blocking
 * getaddrinfo, for names of the configuration; numeric addresses need no
 * lookup). Returns 0, or -1 with *why the resolver's reason: the spec is
 * then usable, with no address (the peer counts as refusing). */
int peer_spec_resolve(const char *host, unsigned port, struct peer_spec *out,
    const char **why);

/* "host:port" ("[v6]:port"), as peers are named in logs and metrics. */
void peer_format_name(const char *host, unsigned port, char *out,
    size_t len);

/* Appends the per-peer families of /_/metrics: every active peer. */
void peer_table_render_metrics(struct peer_table *t, struct buf *out);

#endif
