/*
 * master.c - the master process (see master.h): start-up, signals, reload,
 * shutdown and the main loop. Master process only, one thread; its state
 * and the helpers of master_children.c and master_env.c are declared in
 * master_int.h.
 *
 * Signal handlers only set flags; the signals are blocked except inside
 * ppoll(2), which the master sleeps in, so none is missed between a check
 * and the wait.
 *
 * The master's disk work happens before any child exists (directories,
 * the index, the copies its open lost). Once the node runs, the master
 * never blocks on the disk: it waits in ppoll, and touches files only when
 * an operator's signal asks (SIGHUP: the new configuration's directories
 * and log; SIGUSR1: reopening the log). The sweeper and every other
 * periodic chore belong to the agent (agent.c).
 *
 * A reload starts a whole new generation (workers and an agent, see
 * master_children.c) and waits for all of it to be ready before asking the
 * old one to drain (SIGTERM); if the new one cannot start, it is stopped
 * and the old one keeps serving. The listen socket stays open throughout,
 * so connections queued during the switch are accepted by the new workers.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "cluster/cluster.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/peer_table.h"
#include "proc/daemon.h"
#include "proc/listener.h"
#include "proc/master.h"
#include "proc/master_int.h"
#include "proc/notify.h"
#include "store/fill.h"
#include "store/index.h"
#include "store/file.h"
#include "store/metrics.h"

struct master_state master = { .listen_fd = -1, .pid_fd = -1 };

volatile sig_atomic_t master_sig_term;
volatile sig_atomic_t master_sig_chld;
static volatile sig_atomic_t master_sig_hup;
static volatile sig_atomic_t master_sig_usr1;

static void
master_on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		master_sig_term = 1;
		break;
	case SIGHUP:
		master_sig_hup = 1;
		break;
	case SIGUSR1:
		master_sig_usr1 = 1;
		break;
	case SIGCHLD:
		master_sig_chld = 1;
		break;
	}
}

static void
master_signals(sigset_t *wait_mask)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
	    SIGCHLD };
	struct sigaction sa;
	sigset_t block;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&block);
	sa.sa_handler = master_on_signal;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaddset(&block, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigdelset(wait_mask, sigs[i]);
}

static void
master_reload(const sigset_t *wait_mask)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct config_errors errs = { 0 };
	int listen_fd = master.listen_fd;
	const char *what = "";
	uid_t uid = 0;
	gid_t gid = 0;
	bool have_user, new_listen = false;
	unsigned old_gen = master.gen;
	size_t i;

	master_sig_hup = 0;
	notify_reloading();
	log_info("reloading %s", master.opt->config_path);
	if (config_load(master.opt->config_path, master.opt->base_dir, cfg,
	    &errs) == -1) {
		for (i = 0; i < errs.count; i++)
			log_errx("%s", errs.msgs[i]);
		log_errx("reload refused: %zu error%s; keeping the running "
		    "configuration", errs.count, errs.count == 1 ? "" : "s");
		config_errors_free(&errs);
		free(cfg);
		goto failed;
	}
	if (config_compare(master.cfg, cfg) == CONFIG_PEERS_ONLY) {
		/* Only the peer set changed: the workers follow the table,
		 * and keep their connections to the peers that stayed. */
		master_load_peers(cfg);
		config_free(master.cfg);
		free(master.cfg);
		master.cfg = cfg;
		metrics_add(&metrics_shared()->reloads, 1);
		log_info("reloaded: peers only (%zu); the workers stay",
		    cfg->npeers);
		notify_send("READY=1\nSTATUS=serving (reloaded)");
		return;
	}
	if (master_resolve_user(cfg, &uid, &gid, &have_user) == -1 ||
	    master_prepare_dirs(cfg, uid, gid, have_user, false) == -1) {
		log_errx("reload refused; keeping the running configuration");
		goto failed_cfg;
	}
	if (!listener_same(master.cfg->listen_host, master.cfg->listen_port,
	    cfg->listen_host, cfg->listen_port)) {
		listen_fd = listener_open(cfg->listen_host, cfg->listen_port,
		    &what);
		if (listen_fd == -1) {
			log_err("reload refused: %s port %u", what,
			    (unsigned)cfg->listen_port);
			goto failed_cfg;
		}
		new_listen = true;
	}
	if (strcmp(master_error_log_target(cfg),
	    master_error_log_target(master.cfg)) != 0 ||
	    cfg->log_level != master.cfg->log_level)
		if (master_open_log(cfg) == -1)
			goto failed_listen;

	master_load_peers(cfg);
	if (master_load_cluster(cfg) == -1)
		goto failed_listen;
	master_raise_nofile(cfg);
	master.gen++;
	if (master_start_generation(master.gen, cfg, listen_fd,
	    wait_mask) == -1) {
		log_errx("reload failed: the new workers and agent did not "
		    "start; keeping the running ones");
		master_signal_gen(master.gen, SIGKILL, true);
		master.gen = old_gen;
		master_open_log(master.cfg);
		goto failed_listen;
	}
	/* The old generation, its agent too, drains and goes. */
	master_signal_gen(old_gen, SIGTERM, true);
	if (new_listen)
		close(master.listen_fd);
	master.listen_fd = listen_fd;
	config_free(master.cfg);
	free(master.cfg);
	master.cfg = cfg;
	master.uid = uid;
	master.gid = gid;
	master.have_user = have_user;
	master_backoff_reset();
	metrics_add(&metrics_shared()->reloads, 1);
	log_info("reloaded: %d workers of generation %u", cfg->workers,
	    master.gen);
	notify_send("READY=1\nSTATUS=serving (reloaded)");
	return;

failed_listen:
	if (new_listen)
		close(listen_fd);
failed_cfg:
	config_free(cfg);
	free(cfg);
failed:
	metrics_add(&metrics_shared()->reload_failures, 1);
	notify_send("READY=1\nSTATUS=serving (reload refused; see the log)");
}

static void
master_reopen_logs(void)
{
	master_sig_usr1 = 0;
	if (log_reopen() == -1)
		log_err("reopening the error log");
	else if (master.have_user && log_chown(master.uid, master.gid) == -1)
		log_warn("chown error log");
	/* Children reopen theirs by path: make sure they may create it. */
	master_signal_all(SIGUSR1);
}

/* Stops every child, workers and agents, within shutdown_timeout (then
 * kills). */
static void
master_shutdown(const sigset_t *wait_mask)
{
	int64_t deadline = loop_clock_ms() + master.cfg->shutdown_timeout_ms +
	    MASTER_KILL_GRACE_MS;
	bool killed = false;

	notify_send("STOPPING=1");
	log_info("stopping");
	/* The node goes, not just a generation: its agent says so. */
	if (master.tables.ct_cluster != NULL)
		__atomic_store_n(&master.tables.ct_cluster->cl_stats->cs_leaving,
		    1, __ATOMIC_RELAXED);
	master_signal_all(SIGTERM);
	for (;;) {
		int64_t left;

		master_reap();
		if (master_children_running() == 0)
			break;
		left = deadline - loop_clock_ms();
		if (left <= 0) {
			if (killed)
				break;
			log_warnx("children still running after "
			    "shutdown_timeout; killing them");
			master_signal_all(SIGKILL);
			killed = true;
			deadline = loop_clock_ms() + MASTER_KILL_GRACE_MS;
			continue;
		}
		master_poll(wait_mask, left < 100 ? left : 100);
	}
}

int
master_run(const struct master_options *opt, struct config *cfg)
{
	sigset_t wait_mask;
	const char *what = "";
	int ready_fd = -1;
	pid_t other;

	master.opt = opt;
	master.cfg = cfg;
	log_set_ident("master");
	if (master_resolve_user(cfg, &master.uid, &master.gid,
	    &master.have_user) == -1)
		return 1;
	if (master_prepare_dirs(cfg, master.uid, master.gid,
	    master.have_user, true) == -1)
		return 1;
	master.listen_fd = listener_open(cfg->listen_host, cfg->listen_port,
	    &what);
	if (master.listen_fd == -1) {
		log_err("%s %s%s%u", what,
		    cfg->listen_host ? cfg->listen_host : "*", ":",
		    (unsigned)cfg->listen_port);
		return 1;
	}
	if (metrics_init() == -1 || file_publications_share() == -1) {
		log_err("mmap of the shared counters");
		return 1;
	}
	/* Room for every member a cluster may have, beside the static
	 * peers (a cluster enabled only by a later reload gets what the
	 * first configuration made). */
	master.tables.ct_peers = peer_table_create(cfg->cluster.enabled &&
	    cfg->cluster.max_members + CONFIG_MAX_PEERS > PEER_TABLE_CAPACITY ?
	    cfg->cluster.max_members + CONFIG_MAX_PEERS : PEER_TABLE_CAPACITY);
	if (master.tables.ct_peers == NULL) {
		log_err("mmap peer table");
		return 1;
	}
	master_load_peers(cfg);
	if (master_load_cluster(cfg) == -1)
		return 1;
	if (!opt->foreground && daemon_detach(&ready_fd) == -1) {
		log_err("detaching");
		return 1;
	}
	if (master_open_log(cfg) == -1)
		return 1;
	if (!opt->foreground) {
		master.pid_path = xstrdup(cfg->pid_file);
		master.pid_fd = daemon_pidfile_write(master.pid_path, &other);
		if (master.pid_fd == -1) {
			if (errno == EWOULDBLOCK)
				log_errx("pid file %s: shoald is already "
				    "running (pid %ld)", cfg->pid_file,
				    (long)other);
			else
				log_err("pid file %s", cfg->pid_file);
			return 1;
		}
	}
	if (master_open_index(cfg) == -1) {
		daemon_pidfile_remove(master.pid_path, master.pid_fd);
		return 1;
	}
	master_signals(&wait_mask);
	master_raise_nofile(cfg);

	master.gen = 1;
	if (master_start_generation(master.gen, cfg, master.listen_fd,
	    &wait_mask) == -1) {
		log_errx("workers and agent did not start; exiting");
		master_shutdown(&wait_mask);
		daemon_pidfile_remove(master.pid_path, master.pid_fd);
		return 1;
	}
	log_info("serving %s on %s:%u with %d workers", cfg->root,
	    cfg->listen_host ? cfg->listen_host : "*",
	    (unsigned)cfg->listen_port, cfg->workers);
	notify_send("READY=1\nSTATUS=serving");
	daemon_ready(ready_fd);

	while (!master_sig_term) {
		master_poll(&wait_mask, master_respawn_missing());
		if (master_sig_hup && !master_sig_term)
			master_reload(&wait_mask);
		if (master_sig_usr1)
			master_reopen_logs();
	}
	master_shutdown(&wait_mask);
	daemon_pidfile_remove(master.pid_path, master.pid_fd);
	free(master.pid_path);
	close(master.listen_fd);
	log_info("stopped");
	index_close(master.tables.ct_index);
	fill_table_free(master.tables.ct_fills);
	config_free(master.cfg);
	free(master.cfg);
	return 0;
}
