/*
 * conn_int.h - what conn.c (a connection's life), conn_send.c (writing
 * responses) and conn_body.c (reading a request body) share; nothing
 * outside those three includes it.
 */
#ifndef SHOAL_SERVE_CONN_INT_H
#define SHOAL_SERVE_CONN_INT_H

#include "serve/conn.h"
#include "serve/server.h"

static inline const struct config *
conn_cfg(const struct conn *c)
{
	return c->c_srv->s_cfg;
}

static inline struct loop *
conn_loop(const struct conn *c)
{
	return c->c_srv->s_loop;
}

/* The connection's timer callback; its meaning follows c_state. */
void conn_on_timer(struct loop *loop, struct loop_timer *t);

/* Ownership ends: what comes next is the connection's own business. */
void conn_disown(struct conn *c);

/* Sends on: c_out, then the file body in pool jobs; finishes or aborts
 * the request when done. */
void conn_write(struct conn *c);

#endif
