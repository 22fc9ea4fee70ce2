/*
 * worker.h - a worker process: accepts on the inherited listen socket and
 * serves its connections from one event loop, with an I/O pool for disk
 * work. Everything in struct worker belongs to the worker's loop thread.
 */
#ifndef SHOAL_WORKER_H
#define SHOAL_WORKER_H

#include <stdbool.h>
#include <sys/types.h>

#include "event/loop.h"
#include "serve/server.h"

struct child_tables;
struct config;

struct worker {
	struct server w_srv;		/* what serving needs */
	int w_listen_fd;		/* -1 once stopping */
	struct loop_timer w_accept_timer;	/* accepting paused: EMFILE, or full */
	struct loop_timer w_stop_timer;		/* shutdown_timeout */
};

/*
 * Runs a worker in the freshly forked child: drops privileges when the
 * master runs as root with `user` set, opens ROOT, starts the pool, writes
 * one byte to ready_fd (then closes it) and serves until told to stop by
 * SIGTERM (drain within shutdown_timeout) or until the
 * master (master_pid) dies. `slot` is its metrics slot; `t` the tables
 * the master made. Returns the exit status.
 */
int worker_run(const struct config *cfg, int listen_fd, int slot,
    int ready_fd, pid_t master_pid, const struct child_tables *t);

#endif
