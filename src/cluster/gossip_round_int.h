/*
 * gossip_round_int.h - what the three files of the agent's side of the
 * cluster share: gossip_round.c (a round: its message, its targets
 * chosen, its bodies; the agent's life), gossip_targets.c (the agent's
 * peer table of members and seeds, the node's gossip peers, the
 * catalogue pruned of forgotten members) and gossip_exchange.c (one
 * exchange: the signed request, the answer checked and merged, its
 * chunks applied, its conflicts told). Nothing else includes it. Loop
 * thread of the agent.
 */
#ifndef SHOAL_CLUSTER_GOSSIP_ROUND_INT_H
#define SHOAL_CLUSTER_GOSSIP_ROUND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/gossip_msg.h"
#include "cluster/gossip_round.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/list.h"
#include "event/loop.h"
#include "http/http.h"
#include "peer/peer.h"
#include "peer/peer_table.h"

struct gossip_seed {
	char gs_name[PEER_NAME_MAX];	/* "host:port" */
	int64_t gs_next_ms;		/* not tried before */
	int64_t gs_backoff_ms;
};

/* A round's request body, shared by its exchanges. */
struct gossip_body {
	unsigned gb_refs;
	struct buf gb_json;
	uint8_t gb_digest[AUTH_DIGEST_LEN];
	struct cat_want gb_wants[GOSSIP_WANTS_MAX];	/* what it asks */
	size_t gb_nwants;
};

struct gossip_exchange {
	struct list ge_link;		/* ga_exchanges */
	struct gossip_agent *ge_agent;
	struct gossip_body *ge_body;
	struct peer_conn *ge_pc;
	int ge_seed;			/* index in ga_seeds, or -1 */
	uint8_t ge_nonce[AUTH_NONCE_LEN];
	bool ge_sent;			/* the body went out */
	int ge_status;
	char ge_sig[AUTH_SIGNATURE_SIZE];
	char ge_cluster[AUTH_CLUSTER_MAX + 1];
	struct buf ge_answer;
	bool ge_too_large;
};

/* The owners of the member table, as catalogue_wants_locked() reads
 * them; room for every member, made once. */
struct gossip_owners {
	char (*go_names)[MEMBER_NAME_MAX];
	const char **go_ptrs;
	uint64_t *go_inc;
	uint64_t *go_seq;
	size_t go_n;
};

struct gossip_agent {
	struct loop *ga_loop;
	const struct config *ga_cfg;
	struct cluster *ga_cl;
	struct peer_table *ga_peers;	/* the node's, shared */
	struct peer_table *ga_targets;	/* the agent's own */
	struct peer_set *ga_set;
	struct http_limits ga_limits;
	struct loop_timer ga_timer;
	struct rng ga_rng;
	uint64_t ga_version;		/* of the member table, last synced */
	uint64_t ga_saved_version;
	int64_t ga_saved_ms;
	struct gossip_seed *ga_seeds;
	size_t ga_nseeds;
	struct list ga_exchanges;
	size_t ga_answer_max;
	bool ga_stopping;
	struct gossip_owners ga_owners;
	gossip_conflict_fn *ga_on_conflict;
	void *ga_on_conflict_arg;
};

/* -- gossip_round.c ---------------------------------------------------- */

/* Lets go of a reference to a round's body; the last one frees it. NULL
 * is nothing. */
void gossip_round_body_put(struct gossip_body *gb);

/* -- gossip_targets.c -------------------------------------------------- */

/* After a change of the member table (its version moved): the agent's
 * targets and the gossip peers of the node's peer table made anew, the
 * catalogue pruned of the members the table forgot. */
void gossip_targets_sync(struct gossip_agent *ga, int64_t now_ms);

/* The agent's peer named "host:port" `name`, or NULL. */
struct peer *gossip_targets_peer(struct gossip_agent *ga, const char *name);

/* -- gossip_exchange.c ------------------------------------------------- */

/* Starts one exchange of body gb with the target `name` (seed: its index
 * in ga_seeds, or -1); returns 1, or 0 when it cannot be reached. */
int gossip_exchange_send(struct gossip_agent *ga, struct gossip_body *gb,
    const char *name, int seed);

#endif
