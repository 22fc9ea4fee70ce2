/*
 * server.h - what serving clients needs, as one worker holds it: the
 * configuration, the loop and the I/O pool, ROOT and its spool, the
 * shared tables, the peers, the connections and the transfers that
 * outlive theirs, and the routes of the node's own endpoints.
 *
 * The worker (proc/) fills it and owns it; everything in serve/ and the
 * layers above it reach the worker's state only through it. Loop thread.
 */
#ifndef SHOAL_SERVE_SERVER_H
#define SHOAL_SERVE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/list.h"
#include "http/http.h"
#include "store/spool.h"

struct buf;
struct config;
struct conn;
struct filecache;
struct index;
struct iopool;
struct loop;
struct peer_set;

/* The answer to a request for "/_/PATH" (the node's own endpoints). */
typedef void server_route_fn(struct conn *c, const char *path);

#define SERVER_MAX_ROUTES 16

struct server;

/* More families for /_/metrics, from the layers above (the cluster). */
typedef void server_metrics_fn(struct server *s, struct buf *out);

#define SERVER_MAX_METRICS 4

struct server {
	const struct config *s_cfg;
	struct loop *s_loop;
	struct iopool *s_pool;
	int s_root_fd;			/* ROOT, O_PATH|O_DIRECTORY */
	struct spool_dir s_spool;	/* files written into ROOT */
	struct index *s_index;		/* shared, inherited from the master */
	struct filecache *s_filecache;	/* NULL: off */
	struct peer_set *s_peers;
	pid_t s_pid;
	struct http_limits s_limits;

	struct list s_conns;		/* every open struct conn */
	size_t s_nconns;
	struct list s_relays;		/* every relay, with or without client */
	bool s_stopping;		/* draining: no keep-alive */

	/* Called with each parsed request head (request_handle). */
	void (*s_route_request)(struct conn *c);
	struct {
		const char *r_path;
		server_route_fn *r_fn;
	} s_routes[SERVER_MAX_ROUTES];
	size_t s_nroutes;
	server_metrics_fn *s_metrics[SERVER_MAX_METRICS];
	size_t s_nmetrics;
};

/* Registers the answer to "/_/path" (before serving); a path ending in
 * "/" ("replica/") answers every path under it, the route function
 * getting the whole path. Returns 0, or -1 when SERVER_MAX_ROUTES are
 * taken. */
int server_route(struct server *s, const char *path, server_route_fn *fn);

/* Registers more families for /_/metrics. Returns 0, or -1 when
 * SERVER_MAX_METRICS are taken. */
int server_metrics(struct server *s, server_metrics_fn *fn);

/* The route of "/_/path", or NULL. */
server_route_fn *server_find_route(const struct server *s, const char *path);

/* Nothing is left to finish: no connection, no relay, no spool. */
bool server_idle(const struct server *s);

#endif
