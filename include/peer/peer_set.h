/*
 * peer_set.h - a worker's live view of the node's peers (peer_table.h):
 * one struct peer per active peer, with what only this worker has of it
 * (its idle connections), kept in step with the shared table.
 *
 * peer_set_sync() is cheap when nothing changed (one atomic load) and is
 * called before the set is used. A peer whose entry is unchanged keeps
 * its connections across any change of the others; one whose address
 * changed loses its idle ones (and those running then are not pooled when
 * they end); one that left the set is taken out of it at once but lives
 * on, unlisted, until its last connection is over.
 *
 * Loop thread only.
 */
#ifndef SHOAL_PEER_PEER_SET_H
#define SHOAL_PEER_PEER_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/list.h"
#include "http/http.h"
#include "peer/peer_table.h"

struct loop;

/* One peer as a worker knows it. */
struct peer {
	struct list p_link;		/* ps_peers while in the set */
	struct peer_set *p_set;
	uint64_t p_id;			/* the table entry's pe_id */
	uint32_t p_seq;			/* ... and pe_seq, as last read */
	struct peer_entry *p_entry;	/* shared: health, counters */
	char p_name[PEER_NAME_MAX];	/* "host:port", for logs */
	struct sockaddr_storage p_addr;
	socklen_t p_addrlen;		/* 0: could not be resolved */
	bool p_save;			/* keep copies fetched from it */
	int64_t p_ttl_ms;		/* ... for this long; 0 for ever */
	struct list p_idle;		/* keep-alive connections */
	size_t p_nidle;
	size_t p_ndiscard;		/* answers being read for nobody */
	unsigned p_refs;		/* connections pointing here */
	bool p_gone;			/* left the set */
};

struct peer_set {
	struct loop *ps_loop;
	struct peer_table *ps_table;
	const struct http_limits *ps_limits;	/* for answers' heads */
	int64_t ps_timeout_ms;		/* peer_timeout */
	uint64_t ps_version;		/* of the table, as last read */
	struct list ps_peers;		/* struct peer, in the set */
	size_t ps_count;
	bool ps_any_save;		/* some peer's copies are kept */
	struct list ps_conns;		/* every struct peer_conn */
	struct spares ps_spares;	/* input buffers for reuse (peer.c) */
	bool ps_stopping;		/* no connection goes back to a pool */
};

/* The worker's set over `table`, read at once. */
struct peer_set *peer_set_create(struct loop *loop, struct peer_table *table,
    const struct http_limits *limits, int64_t timeout_ms);

/* At exit: frees every connection, whatever its state, and every peer. */
void peer_set_free(struct peer_set *ps);

/* Brings the set up to date with the table when its version moved. */
void peer_set_sync(struct peer_set *ps);

/* The number of peers in the set, and whether any keeps copies. Both
 * sync first. */
size_t peer_set_count(struct peer_set *ps);
bool peer_set_any_save(struct peer_set *ps);

/* Each peer of the set, in table order: for (p = peer_set_first(ps); p;
 * p = peer_set_next(ps, p)). */
struct peer *peer_set_first(struct peer_set *ps);
struct peer *peer_set_next(struct peer_set *ps, struct peer *p);

/* The peer named `name` ("host:port"), or NULL. Syncs first. */
struct peer *peer_set_find(struct peer_set *ps, const char *name);

/* A connection takes and lets go of its peer; a peer that left the set
 * is freed when its last connection lets go. */
void peer_hold(struct peer *p);
void peer_release(struct peer *p);

#endif
