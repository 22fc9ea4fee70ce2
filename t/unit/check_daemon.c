/*
 * check_daemon.c - unit tests for the pid file part of src/daemon.c
 * (daemon_detach and the privilege drop are covered by the black-box
 * tests, which run real processes).
 * Includes the .c file. A second "daemon" is a forked child: flock
 * belongs to the open file description, so a second open in the same
 * process is what a second process would see.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/daemon.c"
#include "check_main.h"
#include "tmp_dir.h"

/* Each test has its own pid file in tmp_dir. */
static char pidpath[128];

static void
setup(void)
{
	snprintf(pidpath, sizeof(pidpath), "%s/shoald.%d.pid", tmp_dir,
	    (int)getpid());
}

static char *
slurp(const char *path)
{
	static char text[256];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, text, sizeof(text) - 1);
	ck_assert_int_ge(n, 0);
	text[n] = '\0';
	close(fd);
	return text;
}

static void
write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

/* The pid file holds our pid, one line. */
static void
assert_our_pid(void)
{
	char want[32];

	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_str_eq(slurp(pidpath), want);
}

/* What a second daemon saw, reported by the forked child. */
struct second {
	int fd;		/* daemon_pidfile_write's result */
	int err;	/* errno when it failed */
	pid_t other;
};

static struct second
try_from_child(const char *path)
{
	struct second r;
	int p[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct second c;

		c.other = -1;
		errno = 0;
		c.fd = daemon_pidfile_write(path, &c.other);
		c.err = errno;
		_exit(write(p[1], &c, sizeof(c)) == sizeof(c) ? 0 : 1);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return r;
}

START_TEST(writes_our_pid_and_holds_it)
{
	pid_t other = -1;
	int fd;

	fd = daemon_pidfile_write(pidpath, &other);
	ck_assert_msg(fd >= 0, "%s", strerror(errno));
	ck_assert_int_eq(other, 0);
	assert_our_pid();
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* Held: nobody else can lock it. */
	{
		int probe = open(pidpath, O_RDONLY | O_CLOEXEC);

		ck_assert_int_ge(probe, 0);
		ck_assert_int_eq(flock(probe, LOCK_EX | LOCK_NB), -1);
		ck_assert_int_eq(errno, EWOULDBLOCK);
		close(probe);
	}
	daemon_pidfile_remove(pidpath, fd);
}
END_TEST

START_TEST(second_daemon_sees_the_first)
{
	struct second r;
	pid_t other;
	int fd;

	fd = daemon_pidfile_write(pidpath, &other);
	ck_assert_int_ge(fd, 0);
	r = try_from_child(pidpath);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_int_eq(r.err, EWOULDBLOCK);
	ck_assert_int_eq(r.other, getpid());
	/* The failed attempt did not touch the first one's file. */
	assert_our_pid();
	daemon_pidfile_remove(pidpath, fd);
}
END_TEST

START_TEST(remove_deletes_and_releases)
{
	struct second r;
	pid_t other;
	int fd;

	fd = daemon_pidfile_write(pidpath, &other);
	ck_assert_int_ge(fd, 0);
	daemon_pidfile_remove(pidpath, fd);
	ck_assert_int_eq(access(pidpath, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);	/* closed */

	/* A new daemon can start. */
	r = try_from_child(pidpath);
	ck_assert_int_ge(r.fd, 0);
	ck_assert_int_eq(r.other, 0);
	unlink(pidpath);

	/* No pid file in use: nothing to do. */
	write_file(pidpath, "keep\n");
	daemon_pidfile_remove(pidpath, -1);
	ck_assert_int_eq(access(pidpath, F_OK), 0);
}
END_TEST

/* A pid file left by a dead daemon (no lock) is taken over, its old,
 * longer content replaced entirely. */
START_TEST(stale_file_is_replaced)
{
	pid_t other = -1;
	int fd;

	write_file(pidpath, "1234567890123\n");
	fd = daemon_pidfile_write(pidpath, &other);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(other, 0);
	assert_our_pid();
	daemon_pidfile_remove(pidpath, fd);
}
END_TEST

/* The lock goes with the process: once the holder exits, the next
 * daemon gets the file even though it was never removed. */
START_TEST(lock_released_when_holder_dies)
{
	pid_t pid, other = -1;
	int status, fd, p[2];
	char c;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pid_t o;

		close(p[0]);
		if (daemon_pidfile_write(pidpath, &o) == -1)
			_exit(1);
		/* Dies holding it. */
		_exit(write(p[1], "", 1) == 1 ? 0 : 1);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	fd = daemon_pidfile_write(pidpath, &other);
	ck_assert_int_ge(fd, 0);
	assert_our_pid();
	daemon_pidfile_remove(pidpath, fd);
}
END_TEST

START_TEST(unwritable_place_fails)
{
	char path[160];
	pid_t other = -1;

	tmp_dir_join(path, sizeof(path), tmp_dir, "no/such/dir.pid");
	errno = 0;
	ck_assert_int_eq(daemon_pidfile_write(path, &other), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(other, 0);
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("pidfile", setup, NULL,
	    CHECK_MAIN_TESTS(writes_our_pid_and_holds_it,
	    second_daemon_sees_the_first, remove_deletes_and_releases,
	    stale_file_is_replaced, lock_released_when_holder_dies,
	    unwritable_place_fails));

	tmp_dir_add(tc);
	return check_main_run();
}
