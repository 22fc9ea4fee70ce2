/*
 * cluster_serve.h - what a worker of a node in a cluster lends to serving
 * (serve/server.h, struct server_cluster): the holders the catalogue
 * names for a miss, the node's clock for an upload's stamp, the
 * announcement of a stored upload, the count of its copies; and the
 * reservations of names being uploaded (POST and DELETE /_/reserve/NAME
 * between members, and the client side of them; cluster/reserve.h has the
 * rules). Loop thread of a worker.
 */
#ifndef SHOAL_CLUSTER_CLUSTER_SERVE_H
#define SHOAL_CLUSTER_CLUSTER_SERVE_H

#include "cluster/auth.h"

struct cluster;
struct conn;
struct server;

/* Installs s->s_cluster and the route "reserve/" (before serving). */
void cluster_serve_attach(struct server *s, struct cluster *cl);

/*
 * Checks the signature of c's request, which has no body (a signed GET,
 * or a POST or DELETE whose meaning is all in its target). On failure it
 * answers (401, 403, 503 with the reason; counted as refusals of the
 * cluster) and returns false; the caller answers otherwise.
 */
bool cluster_serve_signed(struct conn *c, struct cluster *cl);

#endif
