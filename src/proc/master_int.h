/*
 * master_int.h - what the master's three files share: its state, its
 * signal flags, and the functions of master_children.c (the workers) and
 * master_env.c (the environment the workers inherit). Private to
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

#define MASTER_MAX_CHILDREN (2 * CONFIG_MAX_WORKERS + 16)
#define MASTER_READY_TIMEOUT_MS 10000
#define MASTER_STABLE_MS 10000
#define MASTER_BACKOFF_MIN_MS 100
#define MASTER_BACKOFF_MAX_MS 10000
#define MASTER_KILL_GRACE_MS 2000

struct index;
struct master_options;

struct master_child {
	pid_t pid;		/* 0: free entry */
	unsigned gen;
	int slot;		/* metrics slot */
	int ready_fd;		/* -1 once ready or failed */
	bool ready;
	bool stopping;		/* told to drain: its death is expected */
	int64_t started_ms;
};

struct master_state {
	const struct master_options *opt;
	struct config *cfg;		/* of the current generation */
	int listen_fd;
	unsigned gen;			/* the current generation */
	struct master_child children[MASTER_MAX_CHILDREN];
	int fail_streak;		/* quick deaths in a row */
	int64_t next_spawn_ms;		/* backoff: no start before */
	int pid_fd;
	char *pid_path;			/* as at start: a reload does not
					   move it */
	uid_t uid;
	gid_t gid;
	bool have_user;
	struct index *index;		/* shared with every worker */
	int64_t next_sweep_ms;
};

extern struct master_state master;	/* master.c */

/* Set by the signal handlers (master.c), cleared where they are acted on. */
extern volatile sig_atomic_t master_sig_term;
extern volatile sig_atomic_t master_sig_chld;

/* --- master_children.c ------------------------------------------------ */

/* Forks one worker of generation `gen` running `cfg` on `listen_fd`.
 * Returns 0, or -1 (logged). */
int master_spawn(unsigned gen, const struct config *cfg, int listen_fd);

/* Reaps the workers that died: logs the unexpected deaths, frees their
 * slots, ends their fetches in flight, and books a restart (with backoff)
 * for a worker of the current generation. Clears master_sig_chld. */
void master_reap(void);

/* Waits up to timeout_ms (-1: no limit) for a ready pipe or a signal,
 * with `wait_mask` in force; reads the ready bytes and reaps. Returns what
 * ppoll returned. */
int master_poll(const sigset_t *wait_mask, int64_t timeout_ms);

/* Starts cfg->workers workers of generation gen and waits until all
 * serve, at most MASTER_READY_TIMEOUT_MS. Returns 0, or -1 when one failed
 * or SIGTERM came (the caller stops the generation). */
int master_start_generation(unsigned gen, const struct config *cfg,
    int listen_fd, const sigset_t *wait_mask);

/* Starts the missing workers of the current generation, if the backoff
 * allows. Returns how long to wait before trying again, or -1. */
int64_t master_respawn_missing(void);

/* Sends sig to the workers of generation gen (marking them stopping, so
 * their deaths are expected), or to all workers. SIGTERM and SIGKILL to
 * all mark them stopping too. */
void master_signal_gen(unsigned gen, int sig, bool mark_stopping);
void master_signal_all(int sig);

/* --- master_env.c ----------------------------------------------------- */

/* Makes sure ROOT is a directory, and that the state directory and the
 * temporary directory inside ROOT exist (owned by the `user` when the
 * master runs as root). With `clean` (at start, not on reload: old workers
 * may still write theirs), removes the temporary files a crash left.
 * Returns 0 or -1 (logged). */
int master_prepare_dirs(const struct config *cfg, uid_t uid, gid_t gid,
    bool chown_dirs, bool clean);

/* Names the peers' metrics entries, so workers can find them. */
void master_register_peers(const struct config *cfg);

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
 * into master.index, before any worker exists, and tidies it
 * (sweeper_start). Returns 0 or -1 (logged). */
int master_open_index(const struct config *cfg);

#endif
