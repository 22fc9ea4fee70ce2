/*
 * replicate.h - the agent's replication: every REPLICATE_TICK_MS it walks
 * a slice of the catalogue and, for each version whose name ranks this
 * node among the first `cluster.replicas` of the alive members
 * (rendezvous hashing, cluster/place.h; this node included), and that
 * this node does not hold, pulls it from an alive holder: a signed GET
 * /_/replica/NAME?version=HEX (cluster/replica_serve.h), streamed into a
 * spool, checked against the version's digest, published (into ROOT; or
 * kept aside in the state directory when ROOT's name holds another
 * version; a loser in ROOT is moved aside first when the version pulled
 * is the winner), then announced. When a holder dies, the ranking over
 * the alive members brings the next node in, so the count comes back.
 *
 * Besides the walk (REPLICATE_WALK_BUDGET versions a tick: a million
 * versions are all seen every minute), each tick looks at the facts the
 * alive members announced since the last one (catalogue deltas, as gossip
 * sends them), so that a new version is pulled within a tick of its news
 * whatever the size of the table.
 *
 * At most REPLICATE_PULLS_MAX pulls at once, each bounded by a deadline
 * that grows with the size. A version whose pull failed waits a while
 * before it is tried again (from another holder when there is one).
 * Counted in /_/metrics: shoal_replication_pulls_total{result},
 * shoal_replication_bytes_total, shoal_replication_pending.
 *
 * The walk also hands every loser this node holds to the holdings
 * (cluster/holdings.h), which move it out of ROOT if it is there.
 *
 * Agent only, loop thread; disk work in the agent's I/O pool.
 */
#ifndef SHOAL_CLUSTER_REPLICATE_H
#define SHOAL_CLUSTER_REPLICATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"

struct cluster;
struct config;
struct gossip_agent;
struct holdings;
struct index;
struct iopool;
struct loop;

#define REPLICATE_TICK_MS 250
#define REPLICATE_WALK_BUDGET 4096	/* versions visited per tick */
#define REPLICATE_PULLS_MAX 4		/* at once */
#define REPLICATE_QUEUE_MAX 64		/* versions waiting for a pull */
#define REPLICATE_RETRY_MS 2000		/* after a failure, doubling */
#define REPLICATE_RETRY_MAX_MS 60000
#define REPLICATE_MIN_RATE (4 << 20)	/* bytes/s a pull's deadline allows */

struct replicate;

/* Starts the ticks on the agent's loop. NULL (logged) when ROOT or the
 * state directory cannot be opened. */
struct replicate *replicate_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct index *ix,
    struct gossip_agent *ga, struct holdings *h);

/*
 * Whether this node is among the first `replicas` of nodes[0..n) for
 * name[0..len) (`self` is one of them, by name). Pure: the walk's rule,
 * exposed for the tests.
 */
bool replicate_chosen(const char *name, size_t len, const char *const *nodes,
    size_t n, const char *self, int replicas);

/*
 * Whether this node's copy of a version is one too many: its origin is
 * another node, this node is not among the first `replicas` of
 * nodes[0..n) for the name, there are that many, and every one of them
 * is alive (alive[i] for nodes[i]) and among holders[0..nholders). Pure:
 * the walk's rule, exposed for the tests.
 */
bool replicate_surplus(const char *name, size_t len,
    const char *const *nodes, const bool *alive, size_t n, const char *self,
    int replicas, const char *origin, const char *const *holders,
    size_t nholders);

/* The deadline of a pull of `size` bytes, in ms. */
int64_t replicate_deadline_ms(uint64_t size, int64_t peer_timeout_ms);

/* Stops the ticks and abandons the pulls; true while some of their disk
 * work is still in the pool (call again, then replicate_free()). */
bool replicate_stop(struct replicate *r);

/* Once the pool is destroyed. */
void replicate_free(struct replicate *r);

#endif
