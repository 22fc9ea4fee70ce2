/*
 * check_listener.c - unit tests for src/listener.c (the listen socket),
 * on loopback with real connections.
 * Includes the .c file.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc/listener.c"
#include "check_main.h"

/* A new stream socket of `family` and, in *ss, the address host:port
 * (numeric, of that family); returns the socket, and the address length
 * in *len. */
static int
socket_for(int family, const char *host, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET, host, &sin->sin_addr), 1);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6->sin6_addr),
		    1);
		*len = sizeof(*sin6);
	}
	return fd;
}

/* A port that was free a moment ago: bound by a throwaway socket on
 * `family`'s loopback, port 0, and released. */
static uint16_t
free_port(int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket_for(family, family == AF_INET ? "127.0.0.1" : "::1", 0,
	    &ss, &len);

	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof(ss);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	close(fd);
	return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static bool
ipv6_loopback_available(void)
{
	struct sockaddr_in6 sin6;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd == -1)
		return false;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	close(fd);
	return ok;
}

/* Connects to host:port (numeric), blocking; returns the fd. */
static int
connect_to(int family, const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket_for(family, host, port, &ss, &len);

	ck_assert_msg(connect(fd, (struct sockaddr *)&ss, len) == 0,
	    "connect %s port %u: %s", host, (unsigned)port, strerror(errno));
	return fd;
}

/* Accepts the connection just made (it is queued: the socket is
 * nonblocking, so wait for it with poll first). */
static void
accept_one(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int c;

	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(c, 0);
	close(c);
}

static void
assert_listen_flags(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len),
	    0);
	ck_assert_int_eq(v, 1);
	len = sizeof(v);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len), 0);
	ck_assert_int_eq(v, SOCK_STREAM);
}

/* listener_open(host, port), which must succeed with a listening socket
 * as the master wants it. */
static int
open_ok(const char *host, uint16_t port)
{
	const char *what = NULL;
	int fd = listener_open(host, port, &what);

	ck_assert_msg(fd >= 0, "%s: %s", what, strerror(errno));
	assert_listen_flags(fd);
	return fd;
}

/* A client of lfd at host:port, accepted and closed. */
static void
connect_accept(int lfd, int family, const char *host, uint16_t port)
{
	int c = connect_to(family, host, port);

	accept_one(lfd);
	close(c);
}

START_TEST(open_ipv4_loopback)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint16_t port = free_port(AF_INET);
	int fd, c;

	fd = open_ok("127.0.0.1", port);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_eq(sin.sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin.sin_port), port);
	ck_assert_uint_eq(ntohl(sin.sin_addr.s_addr), INADDR_LOOPBACK);

	/* Nothing waiting: accept would block, not hang. */
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_eq(c, -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);

	connect_accept(fd, AF_INET, "127.0.0.1", port);
	close(fd);
}
END_TEST

START_TEST(second_open_same_port_fails)
{
	const char *what = NULL;
	uint16_t port = free_port(AF_INET);
	int fd, fd2;

	fd = listener_open("127.0.0.1", port, &what);
	ck_assert_int_ge(fd, 0);
	what = NULL;
	errno = 0;
	fd2 = listener_open("127.0.0.1", port, &what);
	ck_assert_int_eq(fd2, -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	ck_assert_ptr_nonnull(what);
	ck_assert_str_eq(what, "bind");

	/* The wildcard on the same port is taken too. */
	what = NULL;
	errno = 0;
	ck_assert_int_eq(listener_open(NULL, port, &what), -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	ck_assert_str_eq(what, "bind");
	close(fd);
}
END_TEST

/* Closing the socket frees the port at once (SO_REUSEADDR), as a master
 * restarting on the same port needs. */
START_TEST(reopen_after_close_with_connection)
{
	const char *what = NULL;
	uint16_t port = free_port(AF_INET);
	int fd, c, a;
	struct pollfd p;

	fd = listener_open("127.0.0.1", port, &what);
	ck_assert_int_ge(fd, 0);
	c = connect_to(AF_INET, "127.0.0.1", port);
	p.fd = fd;
	p.events = POLLIN;
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	a = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(a, 0);
	close(a);		/* server side closes first: TIME_WAIT here */
	close(c);
	close(fd);
	fd = listener_open("127.0.0.1", port, &what);
	ck_assert_msg(fd >= 0, "%s: %s", what, strerror(errno));
	close(fd);
}
END_TEST

START_TEST(open_ipv6_loopback)
{
	struct sockaddr_in6 sin6;
	socklen_t len = sizeof(sin6);
	uint16_t port;
	int fd;

	if (!ipv6_loopback_available()) {
		fprintf(stderr, "open_ipv6_loopback: skipped, no IPv6 ::1\n");
		return;
	}
	port = free_port(AF_INET6);
	fd = open_ok("::1", port);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
	ck_assert_int_eq(sin6.sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6.sin6_port), port);
	ck_assert(memcmp(&sin6.sin6_addr, &in6addr_loopback,
	    sizeof(in6addr_loopback)) == 0);
	connect_accept(fd, AF_INET6, "::1", port);
	close(fd);
}
END_TEST

/* host NULL: every address; with IPv6, one socket takes IPv4 too. */
START_TEST(open_wildcard_serves_both)
{
	uint16_t port = free_port(AF_INET);
	int fd = open_ok(NULL, port);

	connect_accept(fd, AF_INET, "127.0.0.1", port);
	if (ipv6_loopback_available())
		connect_accept(fd, AF_INET6, "::1", port);
	close(fd);
}
END_TEST

/* An address this host does not have. */
START_TEST(open_foreign_address_fails)
{
	const char *what = NULL;
	int fd;

	errno = 0;
	fd = listener_open("192.0.2.1", free_port(AF_INET), &what);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, EADDRNOTAVAIL);
	ck_assert_str_eq(what, "bind");
}
END_TEST

START_TEST(same)
{
	ck_assert(listener_same(NULL, 8080, NULL, 8080));
	ck_assert(listener_same("127.0.0.1", 8080, "127.0.0.1", 8080));
	ck_assert(listener_same("::1", 1, "::1", 1));
	ck_assert(!listener_same(NULL, 8080, NULL, 8081));
	ck_assert(!listener_same("127.0.0.1", 8080, "127.0.0.1", 8081));
	ck_assert(!listener_same(NULL, 8080, "127.0.0.1", 8080));
	ck_assert(!listener_same("127.0.0.1", 8080, NULL, 8080));
	ck_assert(!listener_same("127.0.0.1", 8080, "127.0.0.2", 8080));
}
END_TEST

int
main(void)
{
	check_main_tcase("listener", NULL, NULL,
	    CHECK_MAIN_TESTS(open_ipv4_loopback, second_open_same_port_fails,
	    reopen_after_close_with_connection, open_ipv6_loopback,
	    open_wildcard_serves_both, open_foreign_address_fails, same));
	return check_main_run();
}
