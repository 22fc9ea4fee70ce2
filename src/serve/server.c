/*
 * server.c - the routes of the node's own endpoints, and the question
 * whether a stopping worker has anything left (see server.h). Loop
 * thread.
 */
#include <string.h>

#include "serve/server.h"

int
server_route(struct server *s, const char *path, server_route_fn *fn)
{
	if (s->s_nroutes == SERVER_MAX_ROUTES)
		return -1;
	s->s_routes[s->s_nroutes].r_path = path;
	s->s_routes[s->s_nroutes].r_fn = fn;
	s->s_nroutes++;
	return 0;
}

int
server_metrics(struct server *s, server_metrics_fn *fn)
{
	if (s->s_nmetrics == SERVER_MAX_METRICS)
		return -1;
	s->s_metrics[s->s_nmetrics++] = fn;
	return 0;
}

server_route_fn *
server_find_route(const struct server *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->s_nroutes; i++) {
		const char *r = s->s_routes[i].r_path;
		size_t n = strlen(r);

		if (n > 0 && r[n - 1] == '/' ? strncmp(r, path, n) == 0 :
		    strcmp(r, path) == 0)
			return s->s_routes[i].r_fn;
	}
	return NULL;
}

bool
server_idle(const struct server *s)
{
	return s->s_nconns == 0 && list_empty(&s->s_relays) &&
	    spool_dir_idle(&s->s_spool);
}
