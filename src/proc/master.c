/*
 * master.c - the master process (see master.h).
 *
 * Single-threaded. Signal handlers only set flags; the signals are blocked
 * except inside ppoll(2), which the master sleeps in, so none is missed
 * between a check and the wait.
 *
 * Workers belong to a generation, one per configuration. A worker writes a
 * byte on its ready pipe once it serves. A reload starts a whole new
 * generation and waits for all of it to be ready before asking the old one
 * to drain (SIGTERM); if the new one cannot start, it is stopped and the
 * old one keeps serving. The listen socket stays open throughout, so
 * connections queued during the switch are accepted by the new workers.
 *
 * A worker of the current generation that dies is replaced; after a quick
 * death (before it was ready, or within MASTER_STABLE_MS) the next start
 * waits, doubling from MASTER_BACKOFF_MIN_MS to MASTER_BACKOFF_MAX_MS.
 *
 * Workers inherit the master's descriptor limit. A shell's soft limit
 * (often 1024) is below the default http.max_connections, so the master
 * raises its soft limit towards the hard one before it forks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/peer_table.h"
#include "proc/daemon.h"
#include "proc/listener.h"
#include "proc/master.h"
#include "proc/notify.h"
#include "proc/worker.h"
#include "store/file.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/sweeper.h"

#define MASTER_MAX_CHILDREN (2 * CONFIG_MAX_WORKERS + 16)
#define MASTER_READY_TIMEOUT_MS 10000
#define MASTER_STABLE_MS 10000
#define MASTER_BACKOFF_MIN_MS 100
#define MASTER_BACKOFF_MAX_MS 10000
#define MASTER_KILL_GRACE_MS 2000

struct master_child {
	pid_t pid;		/* 0: free entry */
	unsigned gen;
	int slot;		/* metrics slot */
	int ready_fd;		/* -1 once ready or failed */
	bool ready;
	bool stopping;		/* told to drain: its death is expected */
	int64_t started_ms;
};

static struct {
	const struct master_options *opt;
	struct config *cfg;
	int listen_fd;
	unsigned gen;
	struct master_child children[MASTER_MAX_CHILDREN];
	int fail_streak;
	int64_t next_spawn_ms;
	int pid_fd;
	char *pid_path;		/* as at start: a reload does not move it */
	uid_t uid;
	gid_t gid;
	bool have_user;
	struct index *index;		/* shared with every worker */
	struct peer_table *peers;	/* shared with every worker */
	int64_t next_sweep_ms;
} master = { .listen_fd = -1, .pid_fd = -1 };

static volatile sig_atomic_t master_sig_term;
static volatile sig_atomic_t master_sig_hup;
static volatile sig_atomic_t master_sig_usr1;
static volatile sig_atomic_t master_sig_chld;

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
master_update_gauge(void)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++)
		if (master.children[i].pid > 0)
			n++;
	__atomic_store_n(&metrics_shared()->workers, n, __ATOMIC_RELAXED);
}

static struct master_child *
master_find(pid_t pid)
{
	int i;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++)
		if (master.children[i].pid == pid)
			return &master.children[i];
	return NULL;
}

/* Forks one worker of generation `gen` running `cfg` on `listen_fd`.
 * Returns 0, or -1 (logged). */
static int
master_spawn(unsigned gen, const struct config *cfg, int listen_fd)
{
	struct master_child *ch = master_find(0);
	pid_t self = getpid(), pid;
	int pfd[2], slot, i;

	if (ch == NULL) {
		log_errx("too many worker processes");
		return -1;
	}
	slot = metrics_slot_claim(-1);
	if (slot == -1) {
		log_errx("no free metrics slot for a worker");
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		log_err("pipe");
		metrics_slot_release(slot);
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		log_err("fork");
		close(pfd[0]);
		close(pfd[1]);
		metrics_slot_release(slot);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		for (i = 0; i < MASTER_MAX_CHILDREN; i++)
			if (master.children[i].pid > 0 &&
			    master.children[i].ready_fd != -1)
				close(master.children[i].ready_fd);
		if (master.pid_fd != -1)
			close(master.pid_fd);
		if (master.listen_fd != -1 && master.listen_fd != listen_fd)
			close(master.listen_fd);
		exit(worker_run(cfg, listen_fd, slot, pfd[1], self,
		    master.index, master.peers));
	}
	close(pfd[1]);
	__atomic_store_n(&metrics_shared()->slots[slot].ms_pid, pid,
	    __ATOMIC_RELAXED);
	*ch = (struct master_child){ .pid = pid, .gen = gen, .slot = slot,
	    .ready_fd = pfd[0], .started_ms = loop_clock_ms() };
	master_update_gauge();
	return 0;
}

/* Reads the ready pipe of a child that poll found readable. */
static void
master_read_ready(struct master_child *ch)
{
	char c;
	ssize_t n;

	do
		n = read(ch->ready_fd, &c, 1);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return;
	close(ch->ready_fd);
	ch->ready_fd = -1;
	ch->ready = n == 1;
}

static void
master_reap(void)
{
	struct master_child *ch;
	int status;
	pid_t pid;

	master_sig_chld = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool quick;

		ch = master_find(pid);
		if (ch == NULL)
			continue;
		if (!ch->stopping) {
			if (WIFSIGNALED(status))
				log_errx("worker %d (pid %ld) killed by signal "
				    "%d", ch->slot, (long)pid, WTERMSIG(status));
			else if (WEXITSTATUS(status) != 0)
				log_errx("worker %d (pid %ld) exited with "
				    "status %d", ch->slot, (long)pid,
				    WEXITSTATUS(status));
			else
				log_warnx("worker %d (pid %ld) exited",
				    ch->slot, (long)pid);
		}
		if (ch->ready_fd != -1)
			close(ch->ready_fd);
		metrics_slot_release(ch->slot);
		/* Its fetches in flight end now, and their waiters wake. */
		if (index_fetch_abandon_pid(master.index, pid) == -1)
			log_warn("index: ending the fetches of pid %ld",
			    (long)pid);
		quick = !ch->ready ||
		    loop_clock_ms() - ch->started_ms < MASTER_STABLE_MS;
		if (!ch->stopping && ch->gen == master.gen) {
			int64_t delay = 0;

			if (quick) {
				master.fail_streak++;
				delay = MASTER_BACKOFF_MIN_MS;
				for (int i = 1; i < master.fail_streak &&
				    delay < MASTER_BACKOFF_MAX_MS; i++)
					delay *= 2;
				if (delay > MASTER_BACKOFF_MAX_MS)
					delay = MASTER_BACKOFF_MAX_MS;
				log_warnx("starting a new worker in %lld ms",
				    (long long)delay);
			} else {
				master.fail_streak = 0;
			}
			master.next_spawn_ms = loop_clock_ms() + delay;
			metrics_add(&metrics_shared()->worker_restarts, 1);
		}
		memset(ch, 0, sizeof(*ch));
		ch->ready_fd = -1;
	}
	master_update_gauge();
}

static int
master_count(unsigned gen, bool only_ready)
{
	int i, n = 0;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++) {
		const struct master_child *ch = &master.children[i];

		if (ch->pid > 0 && ch->gen == gen && !ch->stopping &&
		    (!only_ready || ch->ready))
			n++;
	}
	return n;
}

static void
master_signal_gen(unsigned gen, int sig, bool mark_stopping)
{
	int i;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++) {
		struct master_child *ch = &master.children[i];

		if (ch->pid <= 0 || ch->gen != gen)
			continue;
		if (mark_stopping)
			ch->stopping = true;
		kill(ch->pid, sig);
	}
}

static void
master_signal_all(int sig)
{
	int i;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++)
		if (master.children[i].pid > 0) {
			if (sig == SIGTERM || sig == SIGKILL)
				master.children[i].stopping = true;
			kill(master.children[i].pid, sig);
		}
}

/*
 * Waits for the pending ready pipes. With `gen_to_wait`, returns once every
 * worker of that generation is ready (0) or one of them failed or the
 * deadline passed (-1). Otherwise waits up to timeout_ms for any event.
 */
static int
master_poll(const sigset_t *wait_mask, int64_t timeout_ms)
{
	struct pollfd pfds[MASTER_MAX_CHILDREN];
	struct master_child *who[MASTER_MAX_CHILDREN];
	struct timespec ts, *tsp = NULL;
	int i, n = 0, rc;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++) {
		if (master.children[i].pid > 0 &&
		    master.children[i].ready_fd != -1) {
			pfds[n].fd = master.children[i].ready_fd;
			pfds[n].events = POLLIN;
			who[n++] = &master.children[i];
		}
	}
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000;
		tsp = &ts;
	}
	rc = ppoll(pfds, (nfds_t)n, tsp, wait_mask);
	if (rc > 0)
		for (i = 0; i < n; i++)
			if (pfds[i].revents != 0)
				master_read_ready(who[i]);
	if (master_sig_chld)
		master_reap();
	return rc;
}

/* Starts cfg->workers workers of generation gen and waits until all serve.
 * Returns 0, or -1 when one failed (the caller stops the generation). */
static int
master_start_generation(unsigned gen, const struct config *cfg, int listen_fd,
    const sigset_t *wait_mask)
{
	int64_t deadline = loop_clock_ms() + MASTER_READY_TIMEOUT_MS;
	int i;

	for (i = 0; i < cfg->workers; i++)
		if (master_spawn(gen, cfg, listen_fd) == -1)
			return -1;
	for (;;) {
		int ready = 0, alive = 0;

		for (i = 0; i < MASTER_MAX_CHILDREN; i++) {
			const struct master_child *ch = &master.children[i];

			if (ch->pid <= 0 || ch->gen != gen)
				continue;
			alive++;
			if (ch->ready)
				ready++;
			else if (ch->ready_fd == -1)
				return -1;	/* closed without a byte */
		}
		if (alive < cfg->workers)
			return -1;		/* one died */
		if (ready == cfg->workers)
			return 0;
		if (loop_clock_ms() >= deadline) {
			log_errx("workers not ready after %d ms",
			    MASTER_READY_TIMEOUT_MS);
			return -1;
		}
		master_poll(wait_mask, deadline - loop_clock_ms());
		if (master_sig_term)
			return -1;
	}
}

static int
master_make_dir(const char *path, uid_t uid, gid_t gid, bool chown_dir)
{
	if (mkdir(path, 0750) == -1 && errno != EEXIST) {
		log_err("mkdir %s", path);
		return -1;
	}
	if (chown_dir && chown(path, uid, gid) == -1) {
		log_err("chown %s", path);
		return -1;
	}
	return 0;
}

/* Makes sure ROOT is a directory, and that the state directory and the
 * temporary directory inside ROOT exist (owned by the worker user when we
 * run as root). At start (`clean`), temporary files left by a crash are
 * removed; not on reload, where old workers may still be writing theirs.
 * Returns 0 or -1 (logged). */
static int
master_prepare_dirs(const struct config *cfg, uid_t uid, gid_t gid,
    bool chown_dirs, bool clean)
{
	char tmp[4096];
	struct stat st;
	int fd, n;

	if (stat(cfg->root, &st) == -1) {
		log_err("root %s", cfg->root);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_errx("root %s: not a directory", cfg->root);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/%s", cfg->root, FILE_TMP_DIR);
	if (master_make_dir(cfg->state_dir, uid, gid, chown_dirs) == -1 ||
	    master_make_dir(tmp, uid, gid, chown_dirs) == -1)
		return -1;
	if (!clean)
		return 0;
	fd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	n = fd == -1 ? -1 : file_tmp_clean(fd);
	if (n == -1)
		log_err("cleaning %s", tmp);
	else if (n > 0)
		log_info("removed %d temporary file%s left in %s", n,
		    n == 1 ? "" : "s", tmp);
	if (fd != -1)
		close(fd);
	return 0;
}

/* Makes the configuration's peers the table's: resolved here (blocking,
 * as nginx resolves its upstreams when it reads its configuration), so
 * that no worker ever waits for a name server. Returns 0 or -1 (logged). */
static int
master_load_peers(const struct config *cfg)
{
	struct peer_spec *specs = xcalloc(cfg->npeers ? cfg->npeers : 1,
	    sizeof(*specs));
	const char *why;
	size_t i;
	int rc;

	for (i = 0; i < cfg->npeers; i++) {
		const struct config_peer *cp = &cfg->peers[i];

		if (peer_spec_resolve(cp->host, cp->port, &specs[i], &why) == -1)
			log_warnx("peer %s: %s; it will count as refusing",
			    specs[i].ps_name, why);
		specs[i].ps_save = cp->save;
		specs[i].ps_ttl_ms = cp->ttl_ms;
	}
	rc = peer_table_replace(master.peers, PEER_SOURCE_CONFIG, specs,
	    cfg->npeers, loop_clock_ms());
	if (rc == -1)
		log_warn("peers");
	free(specs);
	return rc;
}

static int
master_resolve_user(const struct config *cfg, uid_t *uid, gid_t *gid,
    bool *have)
{
	*have = false;
	if (cfg->user == NULL || geteuid() != 0)
		return 0;
	if (daemon_user_lookup(cfg->user, uid, gid) == -1) {
		log_err("user %s", cfg->user);
		return -1;
	}
	*have = true;
	return 0;
}

static const char *
master_error_log_target(const struct config *cfg)
{
	/* A detached daemon has no stderr: send "stderr" to syslog. */
	if (!master.opt->foreground && strcmp(cfg->error_log, "stderr") == 0)
		return "syslog";
	return cfg->error_log;
}

static int
master_open_log(const struct config *cfg)
{
	const char *target = master_error_log_target(cfg);

	if (log_open(target, cfg->log_level, cfg->node) == -1) {
		log_err("error_log %s", target);
		return -1;
	}
	if (master.have_user && log_chown(master.uid, master.gid) == -1)
		log_warn("chown error_log %s", target);
	return 0;
}

/* Descriptors a worker may need: a socket per connection, and as many
 * again for files, peers and temporary files, plus its own few. */
static rlim_t
master_nofile_wanted(const struct config *cfg)
{
	return (rlim_t)cfg->http.max_connections * 2 + 256;
}

/* Raises the soft RLIMIT_NOFILE (never lowers it) so that a worker can
 * hold http.max_connections connections; says so once when the hard
 * limit does not allow it. Workers forked afterwards inherit it. */
static void
master_raise_nofile(const struct config *cfg)
{
	static rlim_t warned_at;
	struct rlimit rl;
	rlim_t want = master_nofile_wanted(cfg);

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)rl.rlim_cur);
			rl.rlim_cur = old;
		} else {
			log_debug("descriptor limit raised from %llu to %llu",
			    (unsigned long long)old,
			    (unsigned long long)rl.rlim_cur);
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)cfg->http.max_connections + 64 &&
	    warned_at != rl.rlim_cur) {
		warned_at = rl.rlim_cur;
		log_warnx("the descriptor limit (%llu) is below "
		    "http.max_connections (%zu): a worker will stop accepting "
		    "before it; raise the hard limit (LimitNOFILE=, ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur, cfg->http.max_connections);
	}
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
	if (config_same_but_peers(master.cfg, cfg)) {
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
	master_raise_nofile(cfg);
	master.gen++;
	if (master_start_generation(master.gen, cfg, listen_fd,
	    wait_mask) == -1) {
		log_errx("reload failed: the new workers did not start; "
		    "keeping the running ones");
		master_signal_gen(master.gen, SIGKILL, true);
		master.gen = old_gen;
		master_open_log(master.cfg);
		goto failed_listen;
	}
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
	master.fail_streak = 0;
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
	/* Workers reopen theirs by path: make sure they may create it. */
	master_signal_all(SIGUSR1);
}

/* Stops every worker within shutdown_timeout (then kills). */
static void
master_shutdown(const sigset_t *wait_mask)
{
	int64_t deadline = loop_clock_ms() + master.cfg->shutdown_timeout_ms +
	    MASTER_KILL_GRACE_MS;
	bool killed = false;

	notify_send("STOPPING=1");
	log_info("stopping");
	master_signal_all(SIGTERM);
	for (;;) {
		int64_t left;

		master_reap();
		if (metrics_shared()->workers == 0)
			break;
		left = deadline - loop_clock_ms();
		if (left <= 0) {
			if (killed)
				break;
			log_warnx("workers still running after "
			    "shutdown_timeout; killing them");
			master_signal_all(SIGKILL);
			killed = true;
			deadline = loop_clock_ms() + MASTER_KILL_GRACE_MS;
			continue;
		}
		master_poll(wait_mask, left < 100 ? left : 100);
	}
}

/* Opens (or creates, or rebuilds) the shared index in the state directory,
 * before any worker exists, and tidies it. Returns 0 or -1 (logged). */
static int
master_open_index(const struct config *cfg)
{
	struct index_open_report report;
	char path[4096];
	static const char *const how[] = {
		[INDEX_OPEN_KEPT] = "opened",
		[INDEX_OPEN_CREATED] = "created",
		[INDEX_OPEN_RESIZED] = "resized",
		[INDEX_OPEN_REBUILT_LAYOUT] = "rebuilt (another layout)",
		[INDEX_OPEN_REBUILT_CORRUPT] = "rebuilt (it was damaged)",
	};

	snprintf(path, sizeof(path), "%s/index", cfg->state_dir);
	master.index = index_open(path, cfg->index.capacity, loop_wall_ms(),
	    &report);
	if (master.index == NULL) {
		if (errno == EWOULDBLOCK)
			log_errx("index %s: in use by another shoald", path);
		else
			log_err("index %s", path);
		return -1;
	}
	metrics_set_index(master.index);
	log_info("index %s %s: %llu entries of %llu", path, how[report.r_how],
	    (unsigned long long)report.r_kept,
	    (unsigned long long)index_capacity(master.index));
	sweeper_start(master.index, cfg, &report);
	free(report.r_lost);
	return 0;
}

/* Starts the missing workers of the current generation, if the backoff
 * allows. Returns how long to wait before trying again, or -1. */
static int64_t
master_maintain(void)
{
	int64_t now = loop_clock_ms();
	int missing = master.cfg->workers - master_count(master.gen, false);

	if (missing <= 0)
		return -1;
	if (now < master.next_spawn_ms)
		return master.next_spawn_ms - now;
	while (missing-- > 0)
		if (master_spawn(master.gen, master.cfg, master.listen_fd) == -1) {
			master.next_spawn_ms = now + MASTER_BACKOFF_MAX_MS;
			return MASTER_BACKOFF_MAX_MS;
		}
	return -1;
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
	if (metrics_init() == -1) {
		log_err("mmap metrics");
		return 1;
	}
	master.peers = peer_table_create(PEER_TABLE_CAPACITY);
	if (master.peers == NULL) {
		log_err("mmap peer table");
		return 1;
	}
	master_load_peers(cfg);
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
		log_errx("workers did not start; exiting");
		master_shutdown(&wait_mask);
		daemon_pidfile_remove(master.pid_path, master.pid_fd);
		return 1;
	}
	log_info("serving %s on %s:%u with %d workers", cfg->root,
	    cfg->listen_host ? cfg->listen_host : "*",
	    (unsigned)cfg->listen_port, cfg->workers);
	notify_send("READY=1\nSTATUS=serving");
	daemon_ready(ready_fd);

	master.next_sweep_ms = loop_clock_ms() + SWEEPER_INTERVAL_MS;
	while (!master_sig_term) {
		int64_t wait = master_maintain();
		int64_t to_sweep = master.next_sweep_ms - loop_clock_ms();

		if (to_sweep <= 0) {
			sweeper_run(master.index, master.cfg);
			master.next_sweep_ms = loop_clock_ms() +
			    SWEEPER_INTERVAL_MS;
			to_sweep = SWEEPER_INTERVAL_MS;
		}
		if (wait < 0 || wait > to_sweep)
			wait = to_sweep;
		master_poll(&wait_mask, wait);
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
	index_close(master.index);
	config_free(master.cfg);
	free(master.cfg);
	return 0;
}
