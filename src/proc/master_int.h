/*
 * master_int.h - what the master's three files share: its state, its
 * signal flags, and the functions of master_children.c (the children) and
 * master_env.c (the environment the children inherit). Private to
 * src/proc/master*.c; the master's interface is proc/master.h.
 *
 * The master is single-threaded: everything here belongs to its one thread
 * (and is copied, not shared, into each child by fork).
 */
#ifndef SHOAL_MASTER_INT_H
#define SHOAL_MASTER_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "proc/child.h"

#define MASTER_MAX_CHILDREN (2 * CONFIG_MAX_WORKERS + 16)
#define MASTER_READY_TIMEOUT_MS 10000
#define MASTER_STABLE_MS 10000
#define MASTER_BACKOFF_MIN_MS 100
#define MASTER_BACKOFF_MAX_MS 10000
#define MASTER_KILL_GRACE_MS 2000

struct index;
struct peer_table;
struct master_options;

/* What a child runs. Each generation has cfg->workers workers and one
 * agent. */
enum master_role {
	MASTER_WORKER,
	MASTER_AGENT,
	MASTER_NROLES
};

struct master_child {
	pid_t pid;		/* 0: free entry */
	enum master_role role;
	unsigned gen;
	int slot;		/* metrics slot */
	int ready_fd;		/* -1 once ready or failed */
	bool ready;
	bool stopping;		/* told to drain: its death is expected */
	bool start_pass;	/* an agent that tidies the index first */
	int64_t started_ms;
};

/* Restarts of one role of the current generation: after a quick death the
 * next start waits, doubling from MASTER_BACKOFF_MIN_MS. */
struct master_backoff {
	int fail_streak;
	int64_t next_spawn_ms;
};

struct master_state {
	const struct master_options *opt;
	struct config *cfg;		/* of the current generation */
	int listen_fd;
	unsigned gen;			/* the current generation */
	struct master_child children[MASTER_MAX_CHILDREN];
	struct master_backoff backoff[MASTER_NROLES];
	int pid_fd;
	char *pid_path;			/* as at start: a reload does not
					   move it */
	uid_t uid;
	gid_t gid;
	bool have_user;
	struct child_tables tables;	/* shared with every child */
	struct cluster *cluster;	/* made once; NULL until a
					   configuration has a cluster */
	bool index_tidy;		/* an agent finished the start pass */
};

extern struct master_state master;	/* master.c */

/* Set by the signal handlers (master.c), cleared where they are acted on. */
extern volatile sig_atomic_t master_sig_term;
extern volatile sig_atomic_t master_sig_chld;

/* --- master_children.c ------------------------------------------------ */

/* Forks one child of `role` and generation `gen` running `cfg`; a worker
 * accepts on `listen_fd`. Returns 0, or -1 (logged). */
int master_spawn(enum master_role role, unsigned gen,
    const struct config *cfg, int listen_fd);

/* Reaps the children that died: logs the unexpected deaths, frees their
 * slots, ends their fetches in flight, and books a restart (with backoff)
 * for a child of the current generation. Clears master_sig_chld. */
void master_reap(void);

/* Waits up to timeout_ms (-1: no limit) for a ready pipe or a signal,
 * with `wait_mask` in force; reads the ready bytes and reaps. Returns what
 * ppoll returned. */
int master_poll(const sigset_t *wait_mask, int64_t timeout_ms);

/* Starts generation `gen`: its agent, then cfg->workers workers, and waits
 * until all are ready. The first agent (master.index_tidy still false)
 * tidies the index before it is ready, and the workers are forked only
 * after it, without a deadline for its pass; then every child has
 * MASTER_READY_TIMEOUT_MS. Returns 0, or -1 when one failed or SIGTERM
 * came (logged; the caller stops the generation). */
int master_start_generation(unsigned gen, const struct config *cfg,
    int listen_fd, const sigset_t *wait_mask);

/* Starts the missing children of the current generation, if the backoff
 * allows. Returns how long to wait before trying again, or -1. */
int64_t master_respawn_missing(void);

/* Forgets the quick deaths: a new generation starts with no backoff. */
void master_backoff_reset(void);

/* Sends sig to the children of generation gen (marking them stopping, so
 * their deaths are expected), or to all children. SIGTERM and SIGKILL to
 * all mark them stopping too. */
void master_signal_gen(unsigned gen, int sig, bool mark_stopping);
void master_signal_all(int sig);

/* Children alive, of any role and generation. */
int master_children_running(void);

/* --- master_env.c ----------------------------------------------------- */

/* Makes sure ROOT is a directory, and that the state directory and the
 * temporary directory inside ROOT exist (owned by the `user` when the
 * master runs as root). With `clean` (at start, not on reload: old workers
 * may still write theirs), removes the temporary files a crash left.
 * Returns 0 or -1 (logged). */
int master_prepare_dirs(const struct config *cfg, uid_t uid, gid_t gid,
    bool chown_dirs, bool clean);

/* Makes the configuration's peers the peer table's (master.peers), which
 * every worker follows. Returns 0 or -1 (logged). */
int master_load_peers(const struct config *cfg);

/* Makes or updates the cluster's tables for cfg. Returns 0, or -1
 * (logged). */
int master_load_cluster(const struct config *cfg);

/* Looks up cfg->user when the master runs as root (*have: found). Returns
 * 0, or -1 (logged) when the user is unknown. */
int master_resolve_user(const struct config *cfg, uid_t *uid, gid_t *gid,
    bool *have);

/* The error log cfg asks for ("stderr" becomes "syslog" when detached),
 * and opening it (handed to the user). Returns 0 or -1 (logged). */
const char *master_error_log_target(const struct config *cfg);
int master_open_log(const struct config *cfg);

/* Raises the soft descriptor limit so a worker can hold
 * http.max_connections connections (never lowers it); warns once when the
 * hard limit does not allow it. Children forked afterwards inherit it. */
void master_raise_nofile(const struct config *cfg);

/* Opens (or creates, or rebuilds) the shared index in the state directory
 * into master.index and removes the copies the open lost, before any child
 * exists, and maps the table of fills beside it (master.tables). The rest
 * of the tidying is the first agent's. Returns 0 or -1 (logged). */
int master_open_index(const struct config *cfg);

#endif
