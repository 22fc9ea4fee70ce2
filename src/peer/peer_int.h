/*
 * peer_int.h - what the two halves of the node's HTTP client share:
 * peer.c (the connection's life, reading the answer, pooling, failures)
 * and peer_send.c (connecting, the request head and its body). Private to
 * them; loop thread only.
 */
#ifndef SHOAL_PEER_PEER_INT_H
#define SHOAL_PEER_PEER_INT_H

#include <stdbool.h>

#include "core/list.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"

#define PEER_BUF_SIZE (256 * 1024)	/* body bytes read at a time, unless
					   peer_conn_read_size() says */

/* States of a connection (see peer.c). */
enum peer_state {
	PC_CONNECTING,
	PC_SENDING,
	PC_UPLOADING,
	PC_HEAD,
	PC_BODY,
	PC_DONE,
	PC_IDLE,
	PC_FAILING,
	PC_CLOSED,
};

static inline struct loop *
peer_loop(const struct peer_conn *pc)
{
	return pc->pc_set->ps_loop;
}

static inline struct peer_conn *
peer_of_timer(struct loop_timer *t)
{
	return container_of(t, struct peer_conn, pc_timer);
}

/* peer.c */
void peer_on_io(struct loop *loop, int fd, short revents, void *arg);
void peer_on_timer(struct loop *loop, struct loop_timer *t);
/* Ends the exchange: closes, counts a timeout against the peer's health
 * when no byte of answer came, and tells the handler. */
void peer_fail(struct peer_conn *pc, enum peer_failure why);
/* Drops an idle connection from its peer's pool. */
void peer_unpool(struct peer_conn *pc);

/* peer_send.c */
/* Sends what is left of the head; then the body, or waits for the
 * answer. */
void peer_send(struct peer_conn *pc);
/* Moves the request body (see peer_send.c). */
void peer_upload(struct peer_conn *pc, bool from_loop);
/* Starts the request again on a fresh connection when a pooled one died
 * before any answer. Returns true when it did. */
bool peer_retry(struct peer_conn *pc);

#endif
