/*
 * request.c - the router: which module answers a parsed request (loop
 * thread).
 *
 * Order of checks: the node's own endpoints ("/_/NAME", whatever the
 * method: each route checks its own), then uploads (PUT, POST: upload.c
 * checks the rest), then the method (501 unknown, 405 known but not
 * allowed), then the target (400 for a bad name), then the resource: the
 * listing, or a file of ROOT (request_file.c).
 */
#include <string.h>

#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "serve/upload.h"
#include "store/name.h"

#define REQUEST_ALLOW_FILE "Allow: GET, HEAD, PUT, POST\r\n"

/* "/_/" and what follows, or NULL: the node's own endpoints. */
static bool
request_is_node(const struct conn *c)
{
	const struct http_str *t = &c->c_req.target;

	return t->len >= 3 && memcmp(t->p, "/_/", 3) == 0;
}

void
request_skip_body(struct conn *c)
{
	if ((c->c_req.has_content_length && c->c_req.content_length > 0) ||
	    c->c_req.chunked)
		c->c_close = true;
}

static void
request_node(struct conn *c)
{
	const char *reason = NULL;
	server_route_fn *fn;

	if (name_from_target(c->c_req.target.p, c->c_req.target.len,
	    c->c_name, &c->c_name_len, &reason) != NAME_NODE) {
		request_skip_body(c);
		conn_send_text(c, 400, reason != NULL ? reason : "bad target",
		    NULL);
		return;
	}
	fn = server_find_route(c->c_srv, c->c_name);
	if (fn == NULL) {
		request_skip_body(c);
		conn_send_text(c, 404, "no such endpoint", NULL);
		return;
	}
	fn(c, c->c_name);
}

/* "version=DIGEST" among the query's parameters: c_version. Returns 0
 * (with or without one), -1 when it is not 32 hex digits. */
static int
request_version(struct conn *c)
{
	struct http_str v;

	if (!http_query_value(c->c_req.target.p, c->c_req.target.len,
	    "version", &v))
		return 0;
	if (digest_parse(v.p, v.len, &c->c_version) == -1)
		return -1;
	c->c_has_version = true;
	return 0;
}

void
request_handle(struct conn *c)
{
	const struct http_message *req = &c->c_req;
	const char *reason = NULL;

	if (request_is_node(c)) {
		request_node(c);
		return;
	}
	if (req->method == HTTP_METHOD_PUT || req->method == HTTP_METHOD_POST) {
		upload_start(c);	/* it reads the body */
		return;
	}
	request_skip_body(c);
	switch (req->method) {
	case HTTP_METHOD_OTHER:
		conn_send_text(c, 501, "method not implemented", NULL);
		return;
	case HTTP_METHOD_GET:
	case HTTP_METHOD_HEAD:
		break;
	default:
		conn_send_text(c, 405, "method not allowed",
		    REQUEST_ALLOW_FILE);
		return;
	}
	switch (name_from_target(req->target.p, req->target.len, c->c_name,
	    &c->c_name_len, &reason)) {
	case NAME_INVALID:
		conn_send_text(c, 400, reason, NULL);
		return;
	case NAME_NODE:		/* "/_/" spelt otherwise ("/%5F/") */
		request_node(c);
		return;
	case NAME_ROOT:
		request_list(c);
		return;
	case NAME_FILE:
		if (request_version(c) == -1) {
			conn_send_text(c, 400, "version must be 32 hex digits "
			    "(the ETag's)", NULL);
			return;
		}
		request_file_start(c);
		return;
	}
}
