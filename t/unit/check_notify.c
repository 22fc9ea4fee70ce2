/*
 * check_notify.c - unit tests for src/notify.c (sd_notify without
 * libsystemd): real AF_UNIX datagram sockets, by path and abstract name.
 * Includes the .c file.
 * Runs in Check's fork mode: each test has its own environment.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proc/notify.c"
#include "check_main.h"
#include "tmp_dir.h"

/* A datagram socket bound to `name` (a path, or "@abstract"), as systemd
 * makes; returns the fd and sets NOTIFY_SOCKET to `name`. */
static int
listen_notify(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(name), sizeof(sun.sun_path));
	memcpy(sun.sun_path, name, strlen(name));
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		unlink(name);	/* left by an earlier test */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(name));
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, len) == 0,
	    "bind %s: %s", name, strerror(errno));
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	return fd;
}

/* Receives one datagram (NUL-terminated) without waiting: notify_send
 * has returned, so it is there or it was never sent. */
static size_t
receive(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT | MSG_TRUNC);

	ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
	ck_assert_uint_lt((size_t)n, cap);
	buf[n] = '\0';
	return (size_t)n;
}

START_TEST(not_under_systemd)
{
	ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);
	ck_assert_int_eq(notify_send("READY=1"), 0);
	ck_assert_int_eq(notify_reloading(), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), 0);
}
END_TEST

START_TEST(path_socket_gets_datagram)
{
	static const char msg[] = "READY=1\nSTATUS=serving";
	char path[128], got[256];
	int fd;

	tmp_dir_join(path, sizeof(path), tmp_dir, "notify");
	fd = listen_notify(path);
	ck_assert_int_eq(notify_send(msg), 1);
	ck_assert_uint_eq(receive(fd, got, sizeof(got)), strlen(msg));
	ck_assert_str_eq(got, msg);

	/* One datagram per call, each intact. */
	ck_assert_int_eq(notify_send("STOPPING=1"), 1);
	ck_assert_int_eq(notify_send("READY=1"), 1);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "STOPPING=1");
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "READY=1");
	close(fd);
}
END_TEST

START_TEST(abstract_socket_gets_datagram)
{
	static const char msg[] = "READY=1\nSTATUS=serving (reloaded)";
	char name[64], got[256];
	int fd;

	snprintf(name, sizeof(name), "@check_notify/%ld/%ld", (long)getpid(),
	    (long)time(NULL));
	fd = listen_notify(name);
	ck_assert_int_eq(notify_send(msg), 1);
	ck_assert_uint_eq(receive(fd, got, sizeof(got)), strlen(msg));
	ck_assert_str_eq(got, msg);
	close(fd);
}
END_TEST

START_TEST(reloading_has_monotonic_usec)
{
	char path[128], got[256];
	struct timespec ts;
	unsigned long long before, after, usec;
	int fd, used = 0;

	tmp_dir_join(path, sizeof(path), tmp_dir, "notify");
	fd = listen_notify(path);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	ck_assert_int_eq(notify_reloading(), 1);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	after = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	receive(fd, got, sizeof(got));
	ck_assert_msg(sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu%n", &usec,
	    &used) == 1 && (size_t)used == strlen(got), "got \"%s\"", got);
	ck_assert(usec >= before && usec <= after);
	close(fd);
}
END_TEST

START_TEST(bad_notify_socket_is_einval)
{
	char longname[200];

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
	errno = 0;
	ck_assert_int_eq(notify_send("READY=1"), -1);
	ck_assert_int_eq(errno, EINVAL);

	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", longname, 1), 0);
	errno = 0;
	ck_assert_int_eq(notify_send("READY=1"), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Nobody listening at the path: -1 with the errno of the send. */
START_TEST(nobody_listening_fails)
{
	char path[128];

	tmp_dir_join(path, sizeof(path), tmp_dir, "absent");
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	errno = 0;
	ck_assert_int_eq(notify_send("READY=1"), -1);
	ck_assert_msg(errno == ENOENT || errno == ECONNREFUSED, "errno %d (%s)",
	    errno, strerror(errno));
}
END_TEST

START_TEST(no_descriptor_leaked)
{
	char path[128], got[64];
	int fd, probe;

	tmp_dir_join(path, sizeof(path), tmp_dir, "notify");
	fd = listen_notify(path);
	probe = dup(0);		/* the lowest free number now */
	close(probe);
	ck_assert_int_eq(notify_send("READY=1"), 1);
	setenv("NOTIFY_SOCKET", "relative", 1);
	notify_send("READY=1");
	ck_assert_int_eq(dup(0), probe);	/* still the lowest free */
	close(probe);
	receive(fd, got, sizeof(got));
	close(fd);
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("notify", NULL, NULL,
	    CHECK_MAIN_TESTS(not_under_systemd, path_socket_gets_datagram,
	    abstract_socket_gets_datagram, reloading_has_monotonic_usec,
	    bad_notify_socket_is_einval, nobody_listening_fails,
	    no_descriptor_leaked));

	tmp_dir_add(tc);
	return check_main_run();
}
