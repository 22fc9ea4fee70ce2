/*
 * agent.h - the agent process: one more child of the master, beside the
 * workers, that runs the node's periodic work on an event loop of its own,
 * so that neither a slow disk nor a busy master delays it: the TTL sweeper
 * (store/sweeper.h) and, in a cluster, the gossip rounds, what this node
 * holds told to the catalogue and the replication pulls
 * (cluster/gossip_round.h, holdings.h, replicate.h), with an I/O pool
 * of two threads for their disk work. It serves no request and holds no
 * listen socket. Its process name is "shoald-agent" (prctl PR_SET_NAME),
 * so that ps, pgrep and the tests tell it from a worker.
 */
#ifndef SHOAL_AGENT_H
#define SHOAL_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

struct child_tables;
struct config;

/*
 * Runs the agent in the freshly forked child: names the process, drops
 * privileges when the master runs as root with `user` set, starts its loop
 * and its I/O pool, writes one byte to ready_fd (then closes it)
 * and sweeps `ix` until the master tells it to stop with SIGTERM (it
 * finishes the pass in flight) or until the master (master_pid) dies.
 * With `start_pass`, the first pass is sweeper_start() and the byte is
 * written only once it is done; otherwise the byte goes first and the
 * first pass is a plain sweep. `slot` is its metrics slot. Returns the
 * exit status.
 */
int agent_run(const struct config *cfg, int slot, int ready_fd,
    pid_t master_pid, const struct child_tables *t, bool start_pass);

#endif
