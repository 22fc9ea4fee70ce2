/*
 * master.h - the master process: owns the configuration, the listen socket
 * and the shared memory; forks the workers and the agent (proc/agent.h),
 * restarts the ones that die, reloads on SIGHUP, stops on SIGTERM/SIGINT.
 * It never serves a request, and once the children run it does no periodic
 * disk work (the agent does). Its code is src/proc/master*.c.
 */
#ifndef SHOAL_MASTER_H
#define SHOAL_MASTER_H

#include <stdbool.h>

struct config;

struct master_options {
	const char *config_path;	/* re-read on SIGHUP */
	const char *base_dir;		/* for relative paths in the file */
	bool foreground;		/* -f: no detaching, log to stderr */
};

/* Runs the node with `cfg` (which it takes over) until it is stopped.
 * Returns the exit status: 0 after a clean stop, 1 when it cannot start. */
int master_run(const struct master_options *opt, struct config *cfg);

#endif
