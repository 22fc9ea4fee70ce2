/*
 * self_peer.c - this node's one-peer set (see self_peer.h). Loop thread;
 * the set and its table are this process's own (a table of one entry in
 * an anonymous mapping no other process uses), made at first use.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"
#include "stripe/self_peer.h"

static struct peer_table *self_table;
static struct peer_set *self_set;
static bool self_failed;

/* "host:port" or "[v6]:port" into host and port. */
static int
self_split(const char *addr, char *host, size_t cap, unsigned *port)
{
	const char *colon = strrchr(addr, ':');
	size_t len;

	if (colon == NULL || sscanf(colon + 1, "%u", port) != 1 ||
	    *port == 0 || *port > 65535)
		return -1;
	len = (size_t)(colon - addr);
	if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
		addr++;
		len -= 2;
	}
	if (len == 0 || len >= cap)
		return -1;
	memcpy(host, addr, len);
	host[len] = '\0';
	return 0;
}

struct peer_set *
self_peer_set(struct loop *loop, const char *addr,
    const struct http_limits *limits, int64_t timeout_ms)
{
	struct peer_spec spec;
	const char *why = NULL;
	char host[256];
	unsigned port;

	if (self_set != NULL || self_failed)
		return self_set;
	memset(&spec, 0, sizeof(spec));
	if (self_split(addr, host, sizeof(host), &port) == -1 ||
	    peer_spec_resolve(host, port, &spec, &why) == -1 ||
	    (self_table = peer_table_create(1)) == NULL) {
		log_warnx("stripe: this node (%s) cannot reach itself: %s; it "
		    "takes no part of its own uploads", addr, why != NULL ?
		    why : "bad address");
		self_failed = true;
		return NULL;
	}
	snprintf(spec.ps_name, sizeof(spec.ps_name), "%s", addr);
	if (peer_table_replace(self_table, PEER_SOURCE_GOSSIP, &spec, 1,
	    loop_now(loop)) == -1 || (self_set = peer_set_create(loop,
	    self_table, limits, timeout_ms)) == NULL) {
		log_warnx("stripe: this node cannot reach itself");
		peer_table_destroy(self_table);
		self_table = NULL;
		self_failed = true;
	}
	return self_set;
}

struct peer *
self_peer_find(struct peer_set *others, struct loop *loop,
    const char *self_addr, const char *addr, const struct http_limits *limits,
    int64_t timeout_ms, struct peer_set **set)
{
	struct peer_set *mine;

	if (strcmp(addr, self_addr) != 0) {
		*set = others;
		return peer_set_find(others, addr);
	}
	mine = self_peer_set(loop, self_addr, limits, timeout_ms);
	*set = mine;
	return mine != NULL ? peer_set_find(mine, addr) : NULL;
}

void
self_peer_free(void)
{
	if (self_set != NULL)
		peer_set_free(self_set);
	if (self_table != NULL)
		peer_table_destroy(self_table);
	self_set = NULL;
	self_table = NULL;
}
