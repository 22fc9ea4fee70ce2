/*
 * notify.h - the systemd notification protocol (sd_notify(3)), written
 * here so that shoald does not link libsystemd: one datagram of
 * "KEY=VALUE\n" lines to the AF_UNIX socket named by $NOTIFY_SOCKET.
 * Master only.
 */
#ifndef SHOAL_NOTIFY_H
#define SHOAL_NOTIFY_H

/* Sends `state` ("READY=1", ...). Returns 1 when sent, 0 when not under
 * systemd (no NOTIFY_SOCKET), -1 with errno on failure. */
int notify_send(const char *state);

/* "RELOADING=1\nMONOTONIC_USEC=..." as systemd wants for a reload. */
int notify_reloading(void);

#endif
