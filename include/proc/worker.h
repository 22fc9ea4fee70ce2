/*
 * worker.h - a worker process: accepts on the inherited listen socket and
 * serves its connections from one event loop, with an I/O pool for disk
 * work. Everything in struct worker belongs to the worker's loop thread.
 */
#ifndef SHOAL_WORKER_H
#define SHOAL_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "event/loop.h"
#include "http/http.h"

struct config;
struct conn;
struct filecache;
struct index;
struct iopool;
struct peer;
struct peer_conn;
struct relay;
struct upload;

struct worker {
	const struct config *w_cfg;
	struct loop *w_loop;
	struct iopool *w_pool;
	int w_listen_fd;		/* -1 once stopping */
	int w_root_fd;			/* ROOT, O_PATH|O_DIRECTORY */
	int w_tmp_fd;			/* ROOT/.shoal-tmp, for temporaries */
	struct index *w_index;		/* shared, inherited from the master */
	struct filecache *w_filecache;	/* NULL: off */
	pid_t w_pid;
	struct http_limits w_limits;

	struct conn *w_conns;		/* every open connection */
	size_t w_nconns;

	struct peer *w_peers;		/* cfg->npeers of them */
	struct peer_conn *w_peer_conns;	/* every peer connection */
	struct relay *w_relays;		/* every relay, with or without client */
	struct upload *w_uploads;	/* every upload, until cleaned up */

	bool w_stopping;		/* draining: no accept, no keep-alive */
	struct loop_timer w_accept_timer;	/* accepting paused: EMFILE, or full */
	struct loop_timer w_stop_timer;		/* shutdown_timeout */
};

/*
 * Runs a worker in the freshly forked child: drops privileges when the
 * master runs as root with `user` set, opens ROOT, starts the pool, writes
 * one byte to ready_fd (then closes it) and serves until told to stop by
 * SIGTERM, SIGINT or SIGQUIT (drain within shutdown_timeout) or until the
 * master (master_pid) dies. `slot` is its metrics slot; `ix` the shared
 * index the master opened. Returns the exit status.
 */
int worker_run(const struct config *cfg, int listen_fd, int slot,
    int ready_fd, pid_t master_pid, struct index *ix);

#endif
