/*
 * child.c - the parts of a worker and of the agent that are the same (see
 * child.h).
 */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "proc/child.h"
#include "proc/daemon.h"

volatile sig_atomic_t child_stop;
volatile sig_atomic_t child_reopen;

static void
child_on_signal(int sig)
{
	if (sig == SIGUSR1)
		child_reopen = 1;
	else
		child_stop = 1;
}

void
child_signals(sigset_t *wait_mask)
{
	static const int sigs[] = { SIGTERM, SIGUSR1 };
	struct sigaction sa;
	sigset_t block;
	size_t i;

	sigemptyset(&block);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = child_on_signal;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaddset(&block, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigdelset(wait_mask, sigs[i]);
}

int
child_detach(const struct config *cfg, pid_t master_pid)
{
	uid_t uid;
	gid_t gid;

	if (cfg->user != NULL && geteuid() == 0) {
		if (daemon_user_lookup(cfg->user, &uid, &gid) == -1) {
			log_err("user %s", cfg->user);
			return -1;
		}
		if (daemon_drop_privileges(cfg->user, uid, gid) == -1) {
			log_err("dropping privileges to %s", cfg->user);
			return -1;
		}
	}
	/* Die with the master, and notice if it died before this line. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master_pid)
		return -1;
	return 0;
}

void
child_tell_ready(int *ready_fd)
{
	if (*ready_fd == -1)
		return;
	if (write(*ready_fd, "", 1) < 0) {
		/* The master notices a missing byte on its own. */
	}
	close(*ready_fd);
	*ready_fd = -1;
}
