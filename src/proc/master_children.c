/*
 * master_children.c - the master's children: the table of them, forking
 * workers, their ready pipes, reaping, restarts with backoff, and
 * generations. Master process only, one thread (see master_int.h for the
 * state).
 *
 * Workers belong to a generation, one per configuration. A worker writes a
 * byte on its ready pipe once it serves. A reload (master.c) starts a whole
 * new generation and waits for all of it to be ready before asking the old
 * one to drain.
 *
 * A worker of the current generation that dies is replaced; after a quick
 * death (before it was ready, or within MASTER_STABLE_MS) the next start
 * waits, doubling from MASTER_BACKOFF_MIN_MS to MASTER_BACKOFF_MAX_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "proc/master_int.h"
#include "proc/worker.h"
#include "store/index.h"
#include "store/metrics.h"

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

int
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
		    master.index));
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

void
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

int
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

int64_t
master_respawn_missing(void)
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
