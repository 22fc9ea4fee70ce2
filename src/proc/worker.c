/*
 * worker.c - a worker process (see worker.h).
 *
 * Signals as for every child (child.h): a stop drains the connections
 * within shutdown_timeout; SIGUSR1 reopens the error and access logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/cluster_serve.h"
#include "cluster/gossip_serve.h"
#include "cluster/replica_serve.h"
#include "cluster/status_page.h"
#include "core/config.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer_set.h"
#include "proc/child.h"
#include "proc/worker.h"
#include "serve/accesslog.h"
#include "serve/conn.h"
#include "serve/relay.h"
#include "serve/request.h"
#include "store/file.h"
#include "store/filecache.h"
#include "store/metrics.h"
#include "stripe/parts_serve.h"
#include "stripe/self_peer.h"
#include "stripe/stripe_get.h"
#include "stripe/stripe_put.h"
#include "stripe/stripe_rows.h"

#define WORKER_ACCEPT_BATCH 64
#define WORKER_ACCEPT_PAUSE_MS 100
#define WORKER_FULL_PAUSE_MS 50		/* at the cap: time for other workers */
#define WORKER_POOL_QUEUE 4096

static void worker_on_accept(struct loop *loop, int fd, short revents,
    void *arg);

static void worker_warn_accept_pause(struct loop *loop);

/* At the cap, a worker stops watching the listen socket, so that workers
 * with room take the new connections. What still waits in the backlog
 * after WORKER_FULL_PAUSE_MS found no worker with room: it is refused. */
static void
worker_refuse_waiting(struct worker *w)
{
	int i, cfd;

	for (i = 0; i < WORKER_ACCEPT_BATCH; i++) {
		cfd = accept4(w->w_listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				worker_warn_accept_pause(w->w_srv.s_loop);
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		conn_refuse(cfd);
	}
}

/* At the cap, with no lingering connection to close for a new one. */
static bool
worker_is_full(const struct worker *w)
{
	return w->w_srv.s_nconns >= w->w_srv.s_cfg->http.max_connections &&
	    list_empty(&w->w_srv.s_lingering);
}

static void
worker_resume_accept(struct loop *loop, struct loop_timer *t)
{
	struct worker *w = (struct worker *)(void *)((char *)t -
	    offsetof(struct worker, w_accept_timer));

	if (w->w_listen_fd == -1)
		return;
	if (worker_is_full(w)) {
		worker_refuse_waiting(w);
		loop_timer_set(loop, &w->w_accept_timer, WORKER_FULL_PAUSE_MS,
		    worker_resume_accept);
		return;
	}
	loop_add(loop, w->w_listen_fd, POLLIN, worker_on_accept, w);
}

/* Out of descriptors: says so at once, then at most once a minute with the
 * number of pauses since, however often the worker goes in and out of the
 * state (each connection that closes lets one more in). errno is the
 * accept's. */
static void
worker_warn_accept_pause(struct loop *loop)
{
	static int64_t warned_ms = -1;
	static unsigned long pauses;

	pauses++;
	if (!log_due(&warned_ms, loop_now(loop)))
		return;
	if (pauses == 1)
		log_warn("accept (pausing %d ms)", WORKER_ACCEPT_PAUSE_MS);
	else
		log_warn("accept (pausing %d ms, %lu times in the last %d s)",
		    WORKER_ACCEPT_PAUSE_MS, pauses, LOG_EVERY_MS / 1000);
	pauses = 0;
}

static void
worker_on_accept(struct loop *loop, int fd, short revents, void *arg)
{
	struct worker *w = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	int i, cfd;

	(void)revents;
	for (i = 0; i < WORKER_ACCEPT_BATCH; i++) {
		if (worker_is_full(w)) {
			loop_del(loop, fd);
			loop_timer_set(loop, &w->w_accept_timer,
			    WORKER_FULL_PAUSE_MS, worker_resume_accept);
			return;
		}
		len = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: the pending connection
				 * would wake us at once again. Pause. */
				worker_warn_accept_pause(loop);
				loop_del(loop, fd);
				loop_timer_set(loop, &w->w_accept_timer,
				    WORKER_ACCEPT_PAUSE_MS, worker_resume_accept);
				return;
			}
			continue;	/* ECONNABORTED and friends */
		}
		/* At the cap, a connection that lingers makes the room. */
		if (w->w_srv.s_nconns >= w->w_srv.s_cfg->http.max_connections)
			conn_shed_linger(&w->w_srv);
		conn_accept(&w->w_srv, cfd, (struct sockaddr *)&ss, len);
	}
}

static void
worker_stop_deadline(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	(void)t;
	log_warnx("shutdown_timeout reached; closing the remaining "
	    "connections");
	child_stop = 2;
}

static void
worker_begin_stop(struct worker *w)
{
	struct server *s = &w->w_srv;

	if (s->s_stopping)
		return;
	s->s_stopping = true;
	s->s_peers->ps_stopping = true;
	if (w->w_listen_fd != -1) {
		loop_del(s->s_loop, w->w_listen_fd);
		loop_timer_cancel(s->s_loop, &w->w_accept_timer);
		close(w->w_listen_fd);
		w->w_listen_fd = -1;
	}
	conn_drain_all(s);
	loop_timer_set(s->s_loop, &w->w_stop_timer, s->s_cfg->shutdown_timeout_ms,
	    worker_stop_deadline);
}

static int
worker_setup(struct worker *w, const struct config *cfg, int listen_fd,
    pid_t master_pid, const struct child_tables *t)
{
	struct server *s = &w->w_srv;
	int tmp_fd;

	s->s_cfg = cfg;
	w->w_listen_fd = listen_fd;
	s->s_limits.max_request_line = cfg->http.max_request_line;
	s->s_limits.max_header_line = cfg->http.max_header_line;
	s->s_limits.max_headers = cfg->http.max_headers;
	s->s_limits.max_header_size = cfg->http.max_header_size;
	s->s_route_request = request_handle;
	request_node_routes(s);
	status_page_routes(s, t->ct_cluster);
	if (t->ct_cluster != NULL) {
		gossip_serve_routes(s, t->ct_cluster);
		cluster_serve_attach(s, t->ct_cluster);
		if (replica_serve_routes(s, t->ct_cluster) == -1)
			return -1;
		if (parts_serve_routes(s, t->ct_cluster, t->ct_stripe) == -1 ||
		    stripe_put_attach(s, t->ct_cluster, t->ct_stripe) == -1 ||
		    stripe_get_attach(s, t->ct_cluster) == -1)
			return -1;
		stripe_rows_attach(t->ct_cluster, t->ct_stripe);
	}

	if (accesslog_open(cfg->access_log) == -1) {
		log_err("open access log %s", cfg->access_log);
		return -1;
	}
	if (child_detach(cfg, master_pid) == -1)
		return -1;
	s->s_root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->s_root_fd == -1) {
		log_err("root %s", cfg->root);
		return -1;
	}
	tmp_fd = openat(s->s_root_fd, FILE_TMP_DIR, O_PATH | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
	if (tmp_fd == -1) {
		log_err("%s/%s", cfg->root, FILE_TMP_DIR);
		return -1;
	}
	s->s_state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->s_state_fd == -1) {
		log_err("state directory %s", cfg->state_dir);
		return -1;
	}
	s->s_loop = loop_create();
	if (s->s_loop == NULL) {
		close(tmp_fd);
		log_err("epoll_create1");
		return -1;
	}
	s->s_pool = iopool_create(s->s_loop, cfg->io_threads,
	    WORKER_POOL_QUEUE);
	if (s->s_pool == NULL) {
		close(tmp_fd);
		log_err("starting %d I/O threads", cfg->io_threads);
		return -1;
	}
	spool_dir_init(&s->s_spool, s->s_pool, s->s_root_fd, tmp_fd);
	s->s_peers = peer_set_create(s->s_loop, t->ct_peers, &s->s_limits,
	    cfg->peer_timeout_ms);
	s->s_filecache = filecache_create(s->s_loop, cfg->root);
	if (s->s_filecache == NULL)
		log_warn("inotify on %s: the open-file cache is off", cfg->root);
	if (loop_add(s->s_loop, listen_fd, POLLIN, worker_on_accept, w) == -1) {
		log_err("loop_add listen socket");
		return -1;
	}
	return 0;
}

static void
worker_teardown(struct worker *w)
{
	struct server *s = &w->w_srv;
	uint64_t overflows = 0;

	if (s->s_pool != NULL) {
		overflows = iopool_overflows(s->s_pool);
		/* Joins the threads first: no job runs when the rest goes. */
		iopool_destroy(s->s_pool);
		s->s_pool = NULL;
	}
	if (overflows > 0)
		metrics_add(&metrics_mine()->ms_iopool_overflows, overflows);
	/* Relays first: they let go of their connections, peers and
	 * spools; then the temporary files of every spool go. */
	relay_teardown(s);
	conn_close_all(s);
	spares_free_all(&s->s_in_spares);
	if (s->s_spool.sd_pool != NULL) {
		spool_dir_teardown(&s->s_spool);
		close(s->s_spool.sd_tmp_fd);
	}
	parts_serve_teardown();
	stripe_put_teardown();
	stripe_get_teardown();
	stripe_rows_teardown();
	peer_set_free(s->s_peers);
	self_peer_free();
	filecache_free(s->s_filecache);
	accesslog_close();
	if (w->w_listen_fd != -1)
		close(w->w_listen_fd);
	if (s->s_root_fd != -1)
		close(s->s_root_fd);
	if (s->s_state_fd != -1)
		close(s->s_state_fd);
	if (s->s_loop != NULL)
		loop_free(s->s_loop);
}

int
worker_run(const struct config *cfg, int listen_fd, int slot, int ready_fd,
    pid_t master_pid, const struct child_tables *t)
{
	struct worker w;
	sigset_t wait_mask;
	char ident[32];
	int status = 0;

	memset(&w, 0, sizeof(w));
	w.w_srv.s_root_fd = -1;
	w.w_srv.s_state_fd = -1;
	w.w_listen_fd = -1;
	w.w_srv.s_index = t->ct_index;
	w.w_srv.s_fills = t->ct_fills;
	w.w_srv.s_pid = getpid();
	list_init(&w.w_srv.s_conns);
	list_init(&w.w_srv.s_lingering);
	list_init(&w.w_srv.s_relays);
	snprintf(ident, sizeof(ident), "worker %d", slot);
	log_set_ident(ident);
	metrics_use_slot(slot);
	child_signals(&wait_mask);
	if (worker_setup(&w, cfg, listen_fd, master_pid, t) == -1) {
		close(ready_fd);
		worker_teardown(&w);
		return 1;
	}
	child_tell_ready(&ready_fd);
	log_debug("serving %s", cfg->root);

	while (child_stop != 2) {
		accesslog_flush(w.w_srv.s_pool);
		if (loop_run_once(w.w_srv.s_loop, &wait_mask) == -1 &&
		    errno != EINTR) {
			log_err("epoll_pwait");
			status = 1;
			break;
		}
		if (child_reopen) {
			child_reopen = 0;
			if (log_reopen() == -1)
				log_err("reopening the error log");
			if (accesslog_reopen() == -1)
				log_err("reopening the access log");
		}
		if (child_stop)
			worker_begin_stop(&w);
		/* Copies still being saved for clients that left finish
		 * too, within shutdown_timeout. */
		if (w.w_srv.s_stopping && server_idle(&w.w_srv))
			break;
	}
	worker_teardown(&w);
	return status;
}
