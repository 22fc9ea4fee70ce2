/*
 * master_children.c - the master's children: the table of them, forking
 * workers and the agent, their ready pipes, reaping, restarts with
 * backoff, and generations. Master process only, one thread (see
 * master_int.h for the state).
 *
 * Children belong to a generation, one per configuration: cfg->workers
 * workers and one agent. A child writes a byte on its ready pipe once it
 * runs (the first agent only after its start pass). A generation is ready
 * when all its children are; a reload (master.c) starts a whole new one
 * and waits for that before asking the old one to drain.
 *
 * A child of the current generation that dies is replaced; after a quick
 * death (before it was ready, or within MASTER_STABLE_MS) the next start
 * of that role waits, doubling from MASTER_BACKOFF_MIN_MS to
 * MASTER_BACKOFF_MAX_MS. Workers and the agent back off separately, so a
 * crashing agent never delays a worker, nor the other way round.
 *
 * A child that dies without cleaning up (killed, or failed) leaves its
 * fetches in the index, which end at once, and its temporary files, which
 * a short-lived process of the master's removes (master_clean_after).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "proc/agent.h"
#include "proc/master_int.h"
#include "proc/worker.h"
#include "store/file.h"
#include "store/fill.h"
#include "store/index.h"
#include "store/metrics.h"

static const char *const master_role_names[MASTER_NROLES] = {
	[MASTER_WORKER] = "worker",
	[MASTER_AGENT] = "agent",
};

/* The `workers` gauge counts workers only, never the agent. */
static void
master_update_gauge(void)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++)
		if (master.children[i].pid > 0 &&
		    master.children[i].role == MASTER_WORKER)
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

/* "worker 3" or "agent", as its log lines name it. */
static const char *
master_child_name(const struct master_child *ch, char *buf, size_t size)
{
	if (ch->role == MASTER_WORKER)
		snprintf(buf, size, "worker %d", ch->slot);
	else
		snprintf(buf, size, "%s", master_role_names[ch->role]);
	return buf;
}

/* In the new child: closes what belongs to the master and to the other
 * children. A worker keeps listen_fd; the agent keeps no listen socket. */
static void
master_child_close(enum master_role role, int listen_fd)
{
	int i;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++)
		if (master.children[i].pid > 0 &&
		    master.children[i].ready_fd != -1)
			close(master.children[i].ready_fd);
	if (master.pid_fd != -1)
		close(master.pid_fd);
	if (master.listen_fd != -1 && master.listen_fd != listen_fd)
		close(master.listen_fd);
	if (role == MASTER_AGENT && listen_fd != -1)
		close(listen_fd);
}

int
master_spawn(enum master_role role, unsigned gen, const struct config *cfg,
    int listen_fd)
{
	struct master_child *ch = master_find(0);
	bool start_pass = role == MASTER_AGENT && !master.index_tidy;
	pid_t self = getpid(), pid;
	int pfd[2], slot;

	if (ch == NULL) {
		log_errx("too many child processes for a new %s",
		    master_role_names[role]);
		return -1;
	}
	slot = metrics_slot_claim(-1);
	if (slot == -1) {
		log_errx("no free metrics slot for a new %s",
		    master_role_names[role]);
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
		master_child_close(role, listen_fd);
		if (role == MASTER_AGENT)
			exit(agent_run(cfg, slot, pfd[1], self,
			    &master.tables, start_pass));
		exit(worker_run(cfg, listen_fd, slot, pfd[1], self,
		    &master.tables));
	}
	close(pfd[1]);
	__atomic_store_n(&metrics_shared()->slots[slot].ms_pid, pid,
	    __ATOMIC_RELAXED);
	*ch = (struct master_child){ .pid = pid, .role = role, .gen = gen,
	    .slot = slot, .ready_fd = pfd[0], .start_pass = start_pass,
	    .started_ms = loop_clock_ms() };
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
	if (ch->ready && ch->start_pass)
		master.index_tidy = true;
}

/* The next start of `role` after one of its children of the current
 * generation died. */
static void
master_book_restart(enum master_role role, bool quick)
{
	struct master_backoff *b = &master.backoff[role];
	int64_t delay = 0;

	if (quick) {
		b->fail_streak++;
		delay = MASTER_BACKOFF_MIN_MS;
		for (int i = 1; i < b->fail_streak &&
		    delay < MASTER_BACKOFF_MAX_MS; i++)
			delay *= 2;
		if (delay > MASTER_BACKOFF_MAX_MS)
			delay = MASTER_BACKOFF_MAX_MS;
		log_warnx("starting a new %s in %lld ms",
		    master_role_names[role], (long long)delay);
	} else {
		b->fail_streak = 0;
	}
	b->next_spawn_ms = loop_clock_ms() + delay;
	if (role == MASTER_WORKER)
		metrics_add(&metrics_shared()->worker_restarts, 1);
}

/*
 * Removes the temporary files the dead child `dead` was writing (its name
 * is in theirs: file_tmp_clean_pid), not the upload reservations, which
 * the next upload of the name takes over. In a process of its own, so
 * that the master never waits on the disk; its exit is reaped, and
 * ignored, like any process the table does not know. Its name is
 * "shoald-clean".
 */
static void
master_clean_after(pid_t dead)
{
	char tmp[4096];
	pid_t pid;
	int fd, n;

	pid = fork();
	if (pid == -1)
		log_warn("fork (removing the temporary files of pid %ld)",
		    (long)dead);
	if (pid != 0)
		return;
	master_child_close(MASTER_AGENT, -1);
	prctl(PR_SET_NAME, "shoald-clean");
	snprintf(tmp, sizeof(tmp), "%s/%s", master.cfg->root, FILE_TMP_DIR);
	fd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	n = fd == -1 ? -1 : file_tmp_clean_pid(fd, dead);
	if (n == -1)
		log_warn("removing the temporary files of pid %ld in %s",
		    (long)dead, tmp);
	else if (n > 0)
		log_info("removed %d temporary file%s of pid %ld", n,
		    n == 1 ? "" : "s", (long)dead);
	_exit(0);
}

void
master_reap(void)
{
	struct master_child *ch;
	char name[32];
	int status;
	pid_t pid;

	master_sig_chld = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool quick;

		ch = master_find(pid);
		if (ch == NULL)
			continue;
		master_child_name(ch, name, sizeof(name));
		if (!ch->stopping) {
			if (WIFSIGNALED(status))
				log_errx("%s (pid %ld) killed by signal %d",
				    name, (long)pid, WTERMSIG(status));
			else if (WEXITSTATUS(status) != 0)
				log_errx("%s (pid %ld) exited with status %d",
				    name, (long)pid, WEXITSTATUS(status));
			else
				log_warnx("%s (pid %ld) exited", name,
				    (long)pid);
		}
		if (ch->ready_fd != -1)
			close(ch->ready_fd);
		metrics_slot_release(ch->slot);
		/* Its fetches in flight end now, and their waiters wake. */
		if (index_fetch_abandon_pid(master.tables.ct_index, pid) == -1)
			log_warn("index: ending the fetches of pid %ld",
			    (long)pid);
		/* And the clients following its fills are cut (they keep
		 * their descriptors: the files can go). */
		(void)fill_abandon_pid(master.tables.ct_fills, pid,
		    loop_wall_ms());
		if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)
			master_clean_after(pid);
		quick = !ch->ready ||
		    loop_clock_ms() - ch->started_ms < MASTER_STABLE_MS;
		if (!ch->stopping && ch->gen == master.gen)
			master_book_restart(ch->role, quick);
		memset(ch, 0, sizeof(*ch));
		ch->ready_fd = -1;
	}
	master_update_gauge();
}

/* Children of generation gen and `role` that are not told to stop. */
static int
master_count(unsigned gen, enum master_role role)
{
	int i, n = 0;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++) {
		const struct master_child *ch = &master.children[i];

		if (ch->pid > 0 && ch->gen == gen && ch->role == role &&
		    !ch->stopping)
			n++;
	}
	return n;
}

int
master_children_running(void)
{
	int i, n = 0;

	for (i = 0; i < MASTER_MAX_CHILDREN; i++)
		if (master.children[i].pid > 0)
			n++;
	return n;
}

void
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

void
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

int
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

/* Waits until the `want` children of generation gen are all ready (0), or
 * one of them died or closed its pipe without a byte, or `deadline` passed
 * (-1: none), or SIGTERM came (-1). */
static int
master_wait_ready(unsigned gen, int want, int64_t deadline,
    const sigset_t *wait_mask)
{
	int i;

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
		if (alive < want)
			return -1;		/* one died */
		if (ready == want)
			return 0;
		if (deadline >= 0 && loop_clock_ms() >= deadline) {
			log_errx("generation %u not ready after %d ms", gen,
			    MASTER_READY_TIMEOUT_MS);
			return -1;
		}
		master_poll(wait_mask, deadline >= 0 ?
		    deadline - loop_clock_ms() : -1);
		if (master_sig_term)
			return -1;
	}
}

int
master_start_generation(unsigned gen, const struct config *cfg, int listen_fd,
    const sigset_t *wait_mask)
{
	int i;

	if (master_spawn(MASTER_AGENT, gen, cfg, listen_fd) == -1)
		return -1;
	/* The start pass has no deadline: on a large index it takes what
	 * the disk takes, as it did in the master, which meanwhile still
	 * answers signals. Workers start on a tidy index, as before. */
	if (!master.index_tidy &&
	    master_wait_ready(gen, 1, -1, wait_mask) == -1)
		return -1;
	for (i = 0; i < cfg->workers; i++)
		if (master_spawn(MASTER_WORKER, gen, cfg, listen_fd) == -1)
			return -1;
	return master_wait_ready(gen, cfg->workers + 1,
	    loop_clock_ms() + MASTER_READY_TIMEOUT_MS, wait_mask);
}

/* Starts the missing children of `role`, as many as `want`. */
static int64_t
master_respawn_role(enum master_role role, int want, int64_t now)
{
	struct master_backoff *b = &master.backoff[role];
	int missing = want - master_count(master.gen, role);

	if (missing <= 0)
		return -1;
	if (now < b->next_spawn_ms)
		return b->next_spawn_ms - now;
	while (missing-- > 0)
		if (master_spawn(role, master.gen, master.cfg,
		    master.listen_fd) == -1) {
			b->next_spawn_ms = now + MASTER_BACKOFF_MAX_MS;
			return MASTER_BACKOFF_MAX_MS;
		}
	return -1;
}

int64_t
master_respawn_missing(void)
{
	int64_t now = loop_clock_ms();
	int64_t w = master_respawn_role(MASTER_WORKER, master.cfg->workers,
	    now);
	int64_t a = master_respawn_role(MASTER_AGENT, 1, now);

	if (w < 0)
		return a;
	if (a < 0)
		return w;
	return w < a ? w : a;
}

void
master_backoff_reset(void)
{
	memset(master.backoff, 0, sizeof(master.backoff));
}
