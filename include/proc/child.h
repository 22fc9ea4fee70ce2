/*
 * child.h - what every child of the master (a worker, the agent) does the
 * same way: its signals, the drop of privileges and the tie to the
 * master's life, and the byte that tells the master it runs.
 *
 * Signals: SIGTERM asks for a graceful stop, SIGUSR1 for reopening the
 * logs; their handlers only set child_stop and child_reopen. They stay
 * blocked except inside the loop's wait (epoll_pwait with the mask
 * child_signals() gives), so a signal never slips in between the check of
 * the flags and the wait. SIGHUP, SIGINT and SIGQUIT are the master's
 * business and ignored: a Ctrl-C reaches the whole process group, and the
 * node must stop as one, through the master, which tells the agent first
 * whether the node leaves the cluster. SIGPIPE is ignored too (writes use
 * MSG_NOSIGNAL anyway).
 */
#ifndef SHOAL_PROC_CHILD_H
#define SHOAL_PROC_CHILD_H

#include <signal.h>
#include <sys/types.h>

struct cluster;
struct config;
struct fill_table;
struct index;
struct peer_table;
struct stripe_shared;

/* What the master maps before it forks and every child uses. */
struct child_tables {
	struct index *ct_index;
	struct fill_table *ct_fills;	/* fills waiters follow */
	struct peer_table *ct_peers;
	struct cluster *ct_cluster;	/* NULL: no `cluster:` section */
	struct stripe_shared *ct_stripe;	/* with ct_cluster */
};

/* Set by the handlers; the child clears child_reopen when it reopened,
 * and may set child_stop to 2 itself (a worker past shutdown_timeout). */
extern volatile sig_atomic_t child_stop;
extern volatile sig_atomic_t child_reopen;

/* Installs the handlers with the signals blocked; *wait_mask is the mask
 * for the loop's wait, with them unblocked. */
void child_signals(sigset_t *wait_mask);

/*
 * Drops to cfg->user when running as root with one set, then asks for
 * SIGTERM when the master dies (after the drop: a change of user clears
 * the death signal). Returns -1 (logged) when the drop fails or when the
 * master (master_pid) died already.
 */
int child_detach(const struct config *cfg, pid_t master_pid);

/* Tells the master that the child runs: one byte, then *ready_fd is closed
 * and set to -1. Nothing happens when it is -1 already. */
void child_tell_ready(int *ready_fd);

#endif
