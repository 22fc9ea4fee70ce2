/*
 * cluster.h - a node's part in the cluster, as its processes share it:
 * the member table (cluster/members.h), the catalogue
 * (cluster/catalogue.h) and the clock that stamps versions
 * (cluster/hlc.h), the nonces of signed requests seen lately
 * (cluster/auth.h), the gossip counters, and the key.
 *
 * The master makes it before the first fork (cluster_create) when the
 * configuration has a `cluster:` section, and keeps it across reloads, so
 * that a new generation of workers and agent carries on with the same
 * table. The workers answer gossip (gossip_serve.c: POST /_/gossip, GET
 * /_/cluster); the agent sends the rounds, feeds the members to the peer
 * table, and keeps the member list in the state directory
 * (gossip_round.c).
 */
#ifndef SHOAL_CLUSTER_CLUSTER_H
#define SHOAL_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct auth_cache;
struct auth_key;
struct catalogue;
struct reserve_table;
struct config;
struct members;
struct peer_table;

/* Why a gossip exchange was refused (by this node, as the receiver). */
enum cluster_refusal {
	CLUSTER_REFUSED_UNSIGNED,	/* no signature */
	CLUSTER_REFUSED_BAD_SIGNATURE,	/* malformed or wrong */
	CLUSTER_REFUSED_STALE,
	CLUSTER_REFUSED_REPLAYED,
	CLUSTER_REFUSED_OTHER_CLUSTER,
	CLUSTER_REFUSED_MALFORMED,	/* the JSON */
	CLUSTER_REFUSED_TOO_LARGE,
	CLUSTER_REFUSED_BUSY,
	CLUSTER_REFUSALS
};

/* Counters in shared memory, added to by every process (relaxed atomics). */
struct cluster_stats {
	uint64_t cs_rounds;
	uint64_t cs_exchanges_ok;	/* answered, signed, merged */
	uint64_t cs_exchanges_failed;	/* no answer, or not a good one */
	uint64_t cs_bytes_sent;		/* gossip bodies, both directions */
	uint64_t cs_bytes_received;
	uint64_t cs_refused[CLUSTER_REFUSALS];
	uint64_t cs_clock_skews;	/* members' clocks found off by more
					   than max_clock_skew */
	int cs_leaving;			/* the node stops: the agent says so */
};

/* Makes a section of /_/cluster (cluster_set_section). */
struct json_t;
typedef struct json_t *cluster_section_fn(void *arg);

struct cluster {
	struct members *cl_members;	/* shared */
	size_t cl_members_size;
	struct catalogue *cl_catalogue;	/* shared (cluster/catalogue.h) */
	size_t cl_catalogue_size;
	uint64_t *cl_hlc;		/* shared: the node's clock (cluster/hlc.h) */
	struct reserve_table *cl_reserve; /* shared (cluster/reserve.h) */
	uint64_t cl_max_objects;	/* the catalogue's, at its making */
	struct auth_cache *cl_nonces;	/* shared */
	void *cl_nonces_mem;
	size_t cl_nonces_size;
	struct cluster_stats *cl_stats;	/* shared */
	struct auth_key *cl_key;	/* of the current configuration */
	char cl_name[65];		/* cluster.name */
	const char *cl_section_key;	/* cluster_set_section() */
	cluster_section_fn *cl_section_fn;
	void *cl_section_arg;
	char cl_statefile[4096];	/* STATE_DIR/members.json */
};

/*
 * Master: makes the shared tables for cfg (which has a cluster section).
 * This node's incarnation and the members it knew come from the state
 * directory's members.json when there is one (a node that restarts
 * rejoins through them even when its seeds are gone). The catalogue is
 * made empty, of incarnation the node's (its facts of an earlier life
 * are replaced whole at the others), for cluster.max_objects versions.
 * Returns NULL (with a message in *why) on failure.
 */
struct cluster *cluster_create(const struct config *cfg, int64_t now_ms,
    int64_t wall_ms, const char **why);

/* Master, on a reload that keeps the cluster: the new key and the rules'
 * numbers. A change of node name or of a table's size (max_members,
 * max_objects) needs a restart (logged). */
void cluster_reconfigure(struct cluster *cl, const struct config *cfg);

void cluster_destroy(struct cluster *cl);

/* This node's advertised "host:port" from cfg. */
void cluster_self_addr(const struct config *cfg, char *out, size_t len);

/* Writes members.json (this node's incarnation and the members with their
 * addresses) atomically. Returns 0, or -1 with errno. */
int cluster_save(struct cluster *cl);

/* The JSON of GET /_/cluster. */
void cluster_render_json(struct cluster *cl, int64_t now_ms, struct buf *out);

/* A section a higher layer adds to /_/cluster under `key` (striping: its
 * health): fn(arg) makes a new JSON object (jansson) at each render, or
 * NULL. One section; set in each process that serves, before serving. */
void cluster_set_section(struct cluster *cl, const char *key,
    cluster_section_fn *fn, void *arg);

/* What an event's member was before: a state's name, or "new". */
struct member_event;
const char *cluster_event_from(const struct member_event *e);

/* The cluster's families of /_/metrics. */
void cluster_render_metrics(struct cluster *cl, int64_t now_ms,
    struct buf *out);

void cluster_stat_add(uint64_t *counter, uint64_t n);

/* The refusal counted for a signature's verdict (not AUTH_OK). */
enum cluster_refusal cluster_refusal_of(int auth_verdict);

/* A member's clock was found off by more than max_clock_skew: counts it,
 * and says whether to warn now (once a minute per member, the member
 * table's lock taken and let go here). */
bool cluster_skew_warn_due(struct cluster *cl, const char *member,
    int64_t now_ms);

/* A stamp's millisecond (cluster/hlc.h) as RFC 3339 UTC,
 * "2026-12-03T10:17:23.123Z", in out[CLUSTER_TIME_LEN]. */
#define CLUSTER_TIME_LEN 32
void cluster_time_text(uint64_t hlc, char *out, size_t len);

#endif
