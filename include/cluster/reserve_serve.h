/*
 * reserve_serve.h - reservations of names between members, over HTTP:
 * the route "reserve/" of the workers (POST /_/reserve/NAME?stamp=HEX&
 * node=NODE reserves, DELETE releases; signed, no body; 200, or 409 with
 * a `Shoal-Refusal` header saying why: exists, earlier, busy, full), and
 * the client side an upload drives (struct server_cluster's sc_reserve
 * and sc_reserve_end). cluster/reserve.h has the rules. Loop thread of a
 * worker.
 */
#ifndef SHOAL_CLUSTER_RESERVE_SERVE_H
#define SHOAL_CLUSTER_RESERVE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/server.h"

struct cluster;

/* Registers the route and the reservation metrics on s. */
void reserve_serve_routes(struct server *s, struct cluster *cl);

/* See struct server_cluster. */
struct server_reservation *reserve_serve_start(struct server *s,
    const char *name, size_t len, uint64_t stamp, server_reserved_fn *done,
    void *arg);
void reserve_serve_end(struct server *s, struct server_reservation *r,
    bool stored);

#endif
