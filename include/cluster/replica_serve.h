/*
 * replica_serve.h - a worker's answer to another member's replication
 * pull: GET /_/replica/<name percent-encoded>?version=<32 hex>, signed
 * with the cluster key (cluster/auth.h). The bytes of that version come
 * from ROOT when ROOT's file of that name is that version, else from the
 * versions kept in the state directory (store/versions.h); the answer
 * says where the version comes from in `Shoal-Origin: <16 hex HLC>
 * <node>`.
 *
 * Answers: 200 with the bytes; 401 (unsigned, bad, stale or replayed
 * signature; nothing is read), 403 (another cluster), 405 (not GET), 400
 * (a bad name, or ?version= missing or not 32 hex digits), 404 (this node
 * holds no such version), 503 (the nonce cache is full). Loop thread;
 * the disk work runs in the worker's I/O pool.
 *
 * The pure helpers below (the query's version, the origin header) are
 * shared with the puller (cluster/replicate.h).
 */
#ifndef SHOAL_CLUSTER_REPLICA_SERVE_H
#define SHOAL_CLUSTER_REPLICA_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/members.h"
#include "core/digest.h"

struct cluster;
struct server;

#define REPLICA_ROUTE "replica/"	/* under /_/ */
#define REPLICA_ORIGIN_HEADER "Shoal-Origin"
/* "<16 hex> <node>": the longest value */
#define REPLICA_ORIGIN_MAX (16 + 1 + MEMBER_NAME_MAX)

/* Registers the route on s (before serving), answering for cl; opens the
 * state directory of cfg (s->s_cfg). Returns 0, or -1 (logged). */
int replica_serve_routes(struct server *s, struct cluster *cl);

/* The version a target asks for: the value of its `version` query
 * parameter, exactly 32 hex digits. Returns 0, or -1 when the target has
 * no query, no such parameter, or a bad value. */
int replica_version_of(const char *target, size_t len, struct digest *d);

/* The value of Shoal-Origin for (hlc, node) into out[REPLICA_ORIGIN_MAX]
 * (NUL-terminated). */
void replica_origin_format(uint64_t hlc, const char *node, char *out);

/* Parses a Shoal-Origin value: 16 hex digits, one space, a node name of
 * 1 to MEMBER_NAME_MAX - 1 visible bytes (0x21-0x7e). Returns 0, or -1. */
int replica_origin_parse(const char *v, size_t len, uint64_t *hlc,
    char node[MEMBER_NAME_MAX]);

#endif
