/*
 * request.h - what the node answers to a parsed request: the router
 * (request.c), files of ROOT and the listing (request_file.c), and the
 * node's own endpoints (request_node.c). Loop thread.
 */
#ifndef SHOAL_SERVE_REQUEST_H
#define SHOAL_SERVE_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct conn;
struct server;

/* The router, the server's s_route_request: c->c_req holds a valid head.
 * Answers it, now or after pool jobs, or hands the connection to the
 * module that will (an upload, a miss, a route of /_/). */
void request_handle(struct conn *c);

/* The request's body, if it has one, is not read: a body left unread
 * leaves the stream unframed, so the connection closes after the answer. */
void request_skip_body(struct conn *c);

/* A GET or HEAD of c->c_name: from the open-file cache, or opened in the
 * pool, or a miss (the peers are asked). */
void request_file_start(struct conn *c);

/* The same, opening in the pool whatever the caches say (a copy was
 * published since the name was missed). */
void request_file_open(struct conn *c);

/*
 * Appends to c_out the head of an answer from a file of `size` bytes with
 * `etag` (quoted) and `mtime` (Last-Modified), as the request asks: 304
 * (a condition), 416 (a whole text answer), 206 (a Range) or 200; sets
 * c_status, and for a GET's body c_file_off and c_file_end (the bytes to
 * send) and c_body_len.
 */
void request_file_head(struct conn *c, const char *etag, time_t mtime,
    uint64_t size);

/* GET or HEAD of "/": the names of ROOT. */
void request_list(struct conn *c);

/* Registers the node's own endpoints, /_/health and /_/metrics. */
void request_node_routes(struct server *s);

/* For routes that take only GET and HEAD: true when c is one; otherwise
 * answers 405 (and the body, if any, is not read: the connection closes
 * after the answer). */
bool request_node_read_only(struct conn *c);

#endif
