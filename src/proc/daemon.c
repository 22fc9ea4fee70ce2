/*
 * daemon.c - detaching, pid file and privilege drop. The master runs the
 * first two (at start, before any child); workers and the agent drop
 * their privileges with daemon_drop_privileges() after they start.
 *
 * The original process waits on a pipe for a byte from the daemon: without
 * it, a start-up failure after detaching (workers that cannot start) would
 * be invisible to the shell or init script that started shoald.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/daemon.h"

int
daemon_detach(int *ready_fd)
{
	int pipefd[2], devnull;
	pid_t pid;
	char c;

	if (pipe2(pipefd, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid > 0) {
		ssize_t n;

		close(pipefd[1]);
		do
			n = read(pipefd[0], &c, 1);
		while (n == -1 && errno == EINTR);
		/* Reap the intermediate child. */
		waitpid(pid, NULL, 0);
		_exit(n == 1 ? 0 : 1);
	}
	close(pipefd[0]);
	if (setsid() == -1)
		_exit(1);
	pid = fork();
	if (pid == -1)
		_exit(1);
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		_exit(1);
	umask(027);
	devnull = open("/dev/null", O_RDWR);
	if (devnull != -1) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	*ready_fd = pipefd[1];
	return 0;
}

void
daemon_ready(int ready_fd)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, "", 1) < 0) {
		/* The parent is gone; nobody is waiting. */
	}
	close(ready_fd);
}

int
daemon_pidfile_write(const char *path, pid_t *other)
{
	char buf[32];
	int fd, n;

	*other = 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int saved = errno;
		ssize_t r = read(fd, buf, sizeof(buf) - 1);

		if (r > 0) {
			buf[r] = '\0';
			*other = (pid_t)atol(buf);
		}
		close(fd);
		errno = saved;
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void
daemon_pidfile_remove(const char *path, int fd)
{
	if (fd < 0)
		return;
	unlink(path);
	close(fd);
}

int
daemon_user_lookup(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL) {
		if (errno == 0)
			errno = ENOENT;
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
daemon_drop_privileges(const char *name, uid_t uid, gid_t gid)
{
	if (initgroups(name, gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return -1;
	/* Paranoia that costs nothing: root must be gone for good. */
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}
