/*
 * listener.c - opening the listen socket (master only).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc/listener.h"

#define LISTENER_BACKLOG 4096

static int
listener_try(const struct addrinfo *ai, const char **what)
{
	int fd, one = 1, zero = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		*what = "socket";
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail_opt;
	/* A wildcard IPv6 socket serves IPv4 too. */
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == -1)
		goto fail_opt;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		*what = "bind";
		goto fail;
	}
	if (listen(fd, LISTENER_BACKLOG) == -1) {
		*what = "listen";
		goto fail;
	}
	return fd;
fail_opt:
	*what = "setsockopt";
fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

int
listener_open(const char *host, uint16_t port, const char **what)
{
	struct addrinfo hints, *res, *ai;
	char service[8];
	int fd = -1, rc, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	hints.ai_family = host == NULL ? AF_INET6 : AF_UNSPEC;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0 && host == NULL) {
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, service, &hints, &res);
	}
	if (rc != 0) {
		*what = "getaddrinfo";
		errno = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = listener_try(ai, what);
		if (fd == -1)
			saved = errno;
	}
	freeaddrinfo(res);
	if (fd == -1 && host == NULL && hints.ai_family == AF_INET6 &&
	    (saved == EAFNOSUPPORT || saved == EADDRNOTAVAIL)) {
		/* No IPv6 on this host: fall back to IPv4 alone. */
		hints.ai_family = AF_INET;
		if (getaddrinfo(NULL, service, &hints, &res) == 0) {
			fd = listener_try(res, what);
			saved = errno;
			freeaddrinfo(res);
		}
	}
	if (fd == -1)
		errno = saved;
	return fd;
}

int
listener_same(const char *old_host, uint16_t old_port, const char *host,
    uint16_t port)
{
	if (old_port != port)
		return 0;
	if (old_host == NULL || host == NULL)
		return old_host == host;
	return strcmp(old_host, host) == 0;
}
