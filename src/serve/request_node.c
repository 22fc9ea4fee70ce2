/*
 * request_node.c - the node's own endpoints under "/_/" that every node
 * has: /_/health and /_/metrics (loop thread). Other layers register more
 * routes in the server's table (server_route).
 */
#include "core/buf.h"
#include "http/http.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/metrics.h"

bool
request_node_read_only(struct conn *c)
{
	request_skip_body(c);
	if (c->c_req.method == HTTP_METHOD_GET ||
	    c->c_req.method == HTTP_METHOD_HEAD)
		return true;
	conn_send_text(c, 405, "method not allowed here",
	    "Allow: GET, HEAD\r\n");
	return false;
}

static void
request_health(struct conn *c, const char *path)
{
	(void)path;
	if (request_node_read_only(c))
		conn_send_text(c, 200, "ok", "Cache-Control: no-store\r\n");
}

static void
request_metrics(struct conn *c, const char *path)
{
	struct buf body = { 0 };
	size_t i;

	(void)path;
	if (!request_node_read_only(c))
		return;
	metrics_render(&body);
	peer_table_render_metrics(c->c_srv->s_peers->ps_table, &body);
	for (i = 0; i < c->c_srv->s_nmetrics; i++)
		c->c_srv->s_metrics[i](c->c_srv, &body);
	conn_send_body(c, "text/plain; version=0.0.4; charset=utf-8",
	    "Cache-Control: no-store\r\n", body.data, body.len);
	buf_free(&body);
}

void
request_node_routes(struct server *s)
{
	(void)server_route(s, "health", request_health);
	(void)server_route(s, "metrics", request_metrics);
}
