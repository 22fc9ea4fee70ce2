/*
 * gossip_serve.h - a worker's endpoints of the cluster: POST /_/gossip,
 * GET /_/cluster, the cluster's families of /_/metrics, and the
 * catalogue's endpoints (cluster/catalogue_serve.h).
 */
#ifndef SHOAL_CLUSTER_GOSSIP_SERVE_H
#define SHOAL_CLUSTER_GOSSIP_SERVE_H

struct cluster;
struct server;

/* Registers them on s (before serving), answering from cl. */
void gossip_serve_routes(struct server *s, struct cluster *cl);

#endif
