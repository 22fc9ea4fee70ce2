/*
 * fanout.h - asks every peer of the set at once about one name. The first
 * peer to answer 200 wins and its connection is handed over (a miss
 * relays it, an upload refuses the name); the other lookups are discarded
 * at once. When every peer has said no, failed or timed out (or rests),
 * the owner hears "missing". Lookups carry PEER_LOOKUP_HEADER, so the
 * peers answer from their own files and never ask further.
 *
 * A fanout needs no client connection: its owner (a request, an upload,
 * later gossip or a part lookup) holds the handle, may abort it at any
 * time before it reports, and hears exactly one callback otherwise, never
 * from inside fanout_start(). The handle is gone once the callback runs.
 *
 * Loop thread only.
 */
#ifndef SHOAL_PEER_FANOUT_H
#define SHOAL_PEER_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

struct digest;
struct fanout;
struct peer;
struct peer_conn;
struct peer_set;

/* A peer has the name: pc (its 200 head just arrived) is the callee's. */
typedef void fanout_found_cb(void *arg, struct peer_conn *pc);
/* No peer has it (or none could say). */
typedef void fanout_missing_cb(void *arg);

/* What to ask, and whom. */
struct fanout_ask {
	const char *fa_name;		/* name[0..len) */
	size_t fa_len;
	bool fa_head;			/* HEAD, not GET */
	const struct digest *fa_version; /* that version only (?version=) */
	struct peer *const *fa_only;	/* these peers of the set only (the
					   catalogue's holders); NULL: all */
	size_t fa_nonly;
};

/* Starts the lookups. */
struct fanout *fanout_start(struct peer_set *ps, const struct fanout_ask *ask,
    fanout_found_cb *found, fanout_missing_cb *missing, void *arg);

/* The owner gives up: every lookup is discarded, no callback follows. */
void fanout_abort(struct fanout *f);

#endif
