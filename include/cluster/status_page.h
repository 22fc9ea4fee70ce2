/*
 * status_page.h - GET /_/status: the page operators look at first. One
 * HTML document, whole in itself (its style and script inline), rendered
 * by the server from the shared tables so that it reads with JavaScript
 * off; its script then reads /_/cluster and /_/metrics every second and
 * redraws the same elements.
 */
#ifndef SHOAL_CLUSTER_STATUS_PAGE_H
#define SHOAL_CLUSTER_STATUS_PAGE_H

#include <stdint.h>

struct buf;
struct cluster;
struct server;

/*
 * Appends the page to out: node is this node's name; cl the cluster (NULL
 * for a node without a `cluster` section: the page then shows its
 * requests alone). Takes the member table's lock for the members' rows.
 */
void status_page_render(struct cluster *cl, const char *node,
    int64_t now_ms, struct buf *out);

/* Registers GET and HEAD /_/status on s (before serving); cl may be
 * NULL. */
void status_page_routes(struct server *s, struct cluster *cl);

#endif
