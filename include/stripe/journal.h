/*
 * journal.h - the journal of the striped uploads a front has under way:
 * STATE_DIR/stripe/journal/ID, written durably before the first byte
 * goes to a store and removed once the upload is committed everywhere,
 * or once every store confirmed the removal of its parts. An entry left
 * behind (the front died, or a store did not confirm) is replayed by the
 * agent: at start and every 2 s, for each entry whose worker is no longer
 * alive, DELETE /_/parts/ID goes to every store it names; once all
 * confirmed, the object's manifest and name here go if they are this
 * id's, then the entry. So an upload cut by the front's death leaves
 * nothing, committed parts included.
 *
 * An entry is one JSON object:
 *   {"id":"<32 hex>","name":"<name>","pid":N,
 *    "stores":[["<node>","<host:port>"],...]}
 *
 * journal_encode/journal_decode are pure (any thread). The replay runs
 * on the agent's loop, the reading and removing in its pool.
 */
#ifndef SHOAL_STRIPE_JOURNAL_H
#define SHOAL_STRIPE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cluster/members.h"
#include "stripe/manifest.h"

struct journal_entry {
	char je_id[MANIFEST_ID_LEN + 1];
	char je_name[NAME_MAX_LEN + 1];
	pid_t je_pid;
	unsigned je_nstores;
	char je_node[CONFIG_STRIPE_PARTS_MAX][MEMBER_NAME_MAX];
	char je_addr[CONFIG_STRIPE_PARTS_MAX][MEMBER_ADDR_MAX];
};

/* The text of an entry (NUL-terminated, its length in *len), which the
 * caller frees; NULL when memory ran out. */
char *journal_encode(const char *id, const char *name, pid_t pid,
    const char *const *nodes, const char *const *addrs, unsigned n,
    size_t *len);

/* Reads an entry. Returns 0, or -1 when it is not one. */
int journal_decode(const char *text, size_t len, struct journal_entry *e);

struct cluster;
struct config;
struct iopool;
struct loop;
struct peer_set;
struct journal_replay;
struct stripe_shared;

/* The agent's replay (peers: the agent's peer set of the members; ss:
 * the node's counters, where each entry removed counts as a cleanup of
 * cause STRIPE_CLEANUP_JOURNAL). NULL (logged) when the directories
 * cannot be opened. */
struct journal_replay *journal_replay_start(struct loop *loop,
    struct iopool *pool, const struct config *cfg, struct cluster *cl,
    struct peer_set *peers, struct stripe_shared *ss);

/* No new pass; returns whether work is still under way (a job in the
 * pool, or requests out). */
bool journal_replay_stop(struct journal_replay *jr);

/* Once the pool is destroyed and before the peer set is freed. */
void journal_replay_free(struct journal_replay *jr);

#endif
