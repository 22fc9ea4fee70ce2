/*
 * listener.h - the listen socket, opened once by the master and inherited
 * by every worker (so a reload never drops a queued connection).
 */
#ifndef SHOAL_LISTENER_H
#define SHOAL_LISTENER_H

#include <stdint.h>

/* Opens a nonblocking, close-on-exec TCP listen socket on host:port (host
 * NULL: every address, IPv6 with IPv4 mapped, or IPv4 alone when the host
 * has no IPv6). Returns the fd, or -1 with errno set; *what names the call
 * that failed (for the log). */
int listener_open(const char *host, uint16_t port, const char **what);

/* True when a listen socket for host:port would be the same as the one
 * already open for old_host:old_port. */
int listener_same(const char *old_host, uint16_t old_port, const char *host,
    uint16_t port);

#endif
