/*
 * gossip_round.h - the agent's side of the cluster: a round every
 * gossip_interval (tick the table, exchange with `fanout` members, now
 * and then a dead one and a seed), the gossip peers of the peer table
 * kept in step with the members, the member list saved in the state
 * directory, and the last word when the node stops.
 *
 * Seeds are retried for ever: a seed that does not answer is tried again
 * after 1 s, then twice as long each time, up to 30 s; any answer resets
 * that. A node whose seeds are all down serves its own files meanwhile.
 */
#ifndef SHOAL_CLUSTER_GOSSIP_ROUND_H
#define SHOAL_CLUSTER_GOSSIP_ROUND_H

#include <stdbool.h>
#include <stddef.h>

struct cluster;
struct config;
struct loop;
struct digest;
struct peer_set;
struct peer_table;
struct gossip_agent;

/* Starts the rounds on the agent's loop. `peers` is the node's shared
 * peer table (its gossip source is the agent's to fill). NULL (logged) on
 * failure. */
struct gossip_agent *gossip_agent_start(struct loop *loop,
    const struct config *cfg, struct cluster *cl, struct peer_table *peers);

/*
 * The agent stops. When the node itself stops (cluster_stats.cs_leaving),
 * this node says it leaves: a last exchange with up to twice `fanout`
 * members, so that the others need not wait out its timeouts. Returns
 * true while exchanges are still under way (bounded by the peer timeout);
 * call again until false, then gossip_agent_free().
 */
bool gossip_agent_stop(struct gossip_agent *ga);

/* Called after each exchange that found names in conflict, for each such
 * name (outside every lock): the agent's local side moves a loser it
 * holds aside, drops saved copies of it. One callback; NULL removes it. */
typedef void gossip_conflict_fn(void *arg, const char *name, size_t len,
    const struct digest *winner, const struct digest *loser);
void gossip_agent_on_conflict(struct gossip_agent *ga, gossip_conflict_fn *fn,
    void *arg);

/* The agent's peer set: every member but this node and those that left
 * (and the seeds), named by their addresses ("host:port"), for the
 * agent's other requests to members (replication pulls). */
struct peer_set *gossip_agent_peers(struct gossip_agent *ga);

/* The address of the member named `name` in out[MEMBER_ADDR_MAX], and
 * whether it is alive (or suspect). Returns 0, or -1 when the table does
 * not know it. */
int gossip_member_addr(struct cluster *cl, const char *name, char *out,
    size_t len, bool *alive);
bool gossip_agent_busy(const struct gossip_agent *ga);
void gossip_agent_free(struct gossip_agent *ga);

#endif
