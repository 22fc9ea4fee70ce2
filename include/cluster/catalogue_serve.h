/*
 * catalogue_serve.h - a worker's endpoints of the catalogue: GET
 * /_/catalogue (the names the cluster holds, a page at a time, with a
 * prefix filter) and GET /_/conflicts (the names held in more than one
 * version, each version, and the winner).
 *
 * Both take the query parameters prefix=P (the names starting with P),
 * after=NAME (the names after NAME, bytewise) and limit=N (1 to
 * CATALOGUE_SERVE_LIMIT_MAX names, CATALOGUE_SERVE_LIMIT by default),
 * percent-decoded; anything else is a 400 with a one-line reason. A
 * page ends with "next": the name to pass as `after` for the next page,
 * or null at the end.
 *
 * A name is given as it is when it is UTF-8, else percent-encoded
 * (store/name.h name_encode()) with "encoded": true beside it (and
 * "next_encoded": true beside a "next" so given): JSON holds only UTF-8.
 */
#ifndef SHOAL_CLUSTER_CATALOGUE_SERVE_H
#define SHOAL_CLUSTER_CATALOGUE_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/name.h"

#define CATALOGUE_SERVE_LIMIT 1000
#define CATALOGUE_SERVE_LIMIT_MAX 10000

struct buf;
struct catalogue;
struct cluster;
struct server;

/* A page's parameters, as a query gives them. */
struct catalogue_query {
	char cq_prefix[NAME_MAX_LEN + 1];
	size_t cq_plen;			/* 0: every name */
	char cq_after[NAME_MAX_LEN + 1];
	size_t cq_alen;
	bool cq_has_after;		/* else from the start */
	size_t cq_limit;
};

/*
 * Reads the query of a request target (what follows its '?', if any)
 * into q. Returns 0, or -1 with a static one-line reason in *why: an
 * unknown or repeated parameter, a value that does not decode (prefix
 * and after as names: store/name.h), a limit that is not 1 to
 * CATALOGUE_SERVE_LIMIT_MAX.
 */
int catalogue_query_parse(const char *target, size_t len,
    struct catalogue_query *q, const char **why);

/*
 * Appends the JSON of one page to out: the names (`conflicts` false) or
 * the conflicts (true). Takes the catalogue's lock for the page's
 * making. Returns 0, or -1 when the lock cannot be had (out as it was).
 */
int catalogue_render_page(struct catalogue *cat,
    const struct catalogue_query *q, bool conflicts, struct buf *out);

/* Registers both routes on s (before serving), answering from cl. */
void catalogue_serve_routes(struct server *s, struct cluster *cl);

#endif
