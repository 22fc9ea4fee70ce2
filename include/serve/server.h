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
struct digest;
struct peer;
struct filecache;
struct fill_table;
struct index;
struct iopool;
struct loop;
struct peer_set;

/* A header of the answers about striped objects (their parts' count): a
 * node that relays such an object keeps no copy of it. */
#define SERVER_STRIPED_HEADER "Shoal-Striped"

/* The answer to a request for "/_/PATH" (the node's own endpoints). */
typedef void server_route_fn(struct conn *c, const char *path);

#define SERVER_MAX_ROUTES 16

struct server;

/* More families for /_/metrics, from the layers above (the cluster). */
typedef void server_metrics_fn(struct server *s, struct buf *out);

#define SERVER_MAX_METRICS 4

/* The end of a reservation of a name with the members (server_cluster):
 * status 200 when the name is this upload's, else 409 with a reason. */
typedef void server_reserved_fn(void *arg, int status, const char *reason);

struct server_reservation;

/* A chunked upload that outgrew a plain one (s_stripe_grow): the body's
 * first sg_received bytes, on disk at sg_fd (the taker's to close; the
 * temporary file leaves its directory), and the name's
 * reservation with the members and its stamp (the taker's to end). */
struct server_grown {
	int sg_fd;
	uint64_t sg_received;
	struct server_reservation *sg_reservation;
	uint64_t sg_stamp;
};

/*
 * What the cluster layer lends to serving, in the workers of a node that
 * is in a cluster (cluster/cluster_serve.c installs it; s_cluster is
 * NULL otherwise). Serving stays below the cluster: it reaches the
 * catalogue, the clock and the members only through these. Loop thread.
 */
struct server_cluster {
	/* The peers of s_peers that hold `version` of name[0..len) (NULL:
	 * the name's winning version), alive, at most max, into out[], the
	 * heaviest for the name first (rendezvous).
	 * Returns how many; *known says whether the catalogue knows the
	 * name at all (any version, held anywhere). */
	size_t (*sc_holders)(struct server *s, const char *name, size_t len,
	    const struct digest *version, struct peer **out, size_t max,
	    bool *known);
	/* A new stamp of the node's hybrid logical clock. */
	uint64_t (*sc_stamp)(struct server *s);
	/* Reserves name[0..len) with every alive member at once, as this
	 * upload of `stamp`; done() is called once, later (never from
	 * inside), unless the handle is given to sc_reserve_end() first. */
	struct server_reservation *(*sc_reserve)(struct server *s,
	    const char *name, size_t len, uint64_t stamp,
	    server_reserved_fn *done, void *arg);
	/* The upload is over (r may be NULL): `stored` or not. A reservation
	 * not stored is released with the members, best effort. */
	void (*sc_reserve_end)(struct server *s,
	    struct server_reservation *r, bool stored);
	/* This node now holds the upload: announce it. */
	void (*sc_published)(struct server *s, const char *name, size_t len,
	    const struct digest *d, uint64_t size, uint64_t stamp);
	/* How many alive members hold that version, and how many are
	 * wanted (cluster.replicas, or fewer when fewer members are alive). */
	void (*sc_copies)(struct server *s, const char *name, size_t len,
	    const struct digest *d, unsigned *have, unsigned *want);
	/* This node's name (the origin of its uploads). */
	const char *sc_node;
};

struct server {
	const struct config *s_cfg;
	struct loop *s_loop;
	struct iopool *s_pool;
	int s_root_fd;			/* ROOT, O_PATH|O_DIRECTORY */
	int s_state_fd;			/* the state directory, the same */
	struct spool_dir s_spool;	/* files written into ROOT */
	struct index *s_index;		/* shared, inherited from the master */
	struct fill_table *s_fills;	/* shared, the same */
	struct filecache *s_filecache;	/* NULL: off */
	struct peer_set *s_peers;
	pid_t s_pid;
	struct http_limits s_limits;

	struct list s_conns;		/* every open struct conn */
	size_t s_nconns;
	struct spares s_in_spares;	/* first input buffers (conn.c) */
	struct list s_lingering;	/* those closing, oldest first */
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
	const struct server_cluster *s_cluster;	/* NULL: no cluster */
	/* Striped uploads (stripe/stripe_put.h installs it in a cluster):
	 * takes an admitted PUT or POST of c->c_name with a Content-Length
	 * when it is to be striped, and answers it; false leaves it to the
	 * plain upload. NULL: nothing is striped. */
	bool (*s_stripe_upload)(struct conn *c);
	/* ... and a chunked one whose body passed stripe.min_size: the
	 * plain upload hands over what it has (see struct server_grown),
	 * and the striped one answers. NULL: chunked bodies stay plain. */
	void (*s_stripe_grow)(struct conn *c, const struct server_grown *g);
	/* Striped objects kept here (stripe/stripe_get.h installs it): a
	 * GET or HEAD of c->c_name, which ROOT does not have, is answered
	 * from its manifest, or handed to otherwise(c) when there is none.
	 * NULL: nothing is striped. */
	void (*s_stripe_get)(struct conn *c, void (*otherwise)(struct conn *c));
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
