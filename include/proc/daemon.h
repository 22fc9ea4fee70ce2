/*
 * daemon.h - becoming a classic daemon: detaching, the pid file, and
 * dropping root. Master only, except the privilege drop, which the
 * workers and the agent do (through proc/child.h).
 */
#ifndef SHOAL_DAEMON_H
#define SHOAL_DAEMON_H

#include <sys/types.h>

/*
 * Detaches: fork, setsid, fork again, chdir("/"), stdio to /dev/null. The
 * process that called it does not return: it waits until the daemon calls
 * daemon_ready() and exits 0, or exits 1 when the daemon dies or gives up
 * first (so "shoald -c FILE" fails visibly when start-up fails). Returns 0
 * in the daemon, with *ready_fd set, or -1 with errno before forking.
 */
int daemon_detach(int *ready_fd);

/* Tells the waiting parent that the daemon serves. */
void daemon_ready(int ready_fd);

/*
 * Creates `path` holding our pid and keeps it locked (flock) for as long as
 * the process lives, so a second daemon sees the first one running.
 * Returns the descriptor, or -1 with errno (EWOULDBLOCK: another shoald
 * holds it, and *other is its pid when readable).
 */
int daemon_pidfile_write(const char *path, pid_t *other);
void daemon_pidfile_remove(const char *path, int fd);

/* Looks a user up: 0, or -1 with errno (ENOENT when unknown). */
int daemon_user_lookup(const char *name, uid_t *uid, gid_t *gid);

/* Drops to name/uid/gid (supplementary groups included) and verifies that
 * root cannot be regained. Returns 0 or -1 with errno. */
int daemon_drop_privileges(const char *name, uid_t uid, gid_t gid);

#endif
