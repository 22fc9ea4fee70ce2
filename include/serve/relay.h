/*
 * relay.h - streaming the winning peer's answer to the client as it
 * arrives, and, when the peer's `save` is on, into a spool that publishes
 * the copy under the name only when it is whole.
 *
 * Memory is bounded: one peer buffer and the spool's two. A block of the
 * peer's answer is given back as soon as the client has taken it and it
 * is copied into the spool, so the peer, the client and the disk all
 * work at once; the peer is read no faster than the slower of the client
 * and the disk. If the peer fails mid-body after the client has the
 * head, the client connection is cut, never finished: a short body is
 * never passed off as whole, and nothing is published. A save that fails
 * (full disk) is dropped and logged; the client still gets every byte.
 *
 * Loop thread; disk work through the spool. A relay owns its client
 * connection while it has one, and lives on the server's list
 * (s_relays) until its transfer and its disk work are over: a client
 * that walks away does not stop a copy being saved.
 */
#ifndef SHOAL_SERVE_RELAY_H
#define SHOAL_SERVE_RELAY_H

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct peer_conn;
struct server;

/* Takes over pc, whose 200 head has just arrived for c's request, and
 * answers the client from it. `save` keeps a copy that expires after
 * ttl_ms (0: never); when `claimed`, the fetch `fetch_id` the request
 * claimed in the index becomes the relay's to finish. */
void relay_start(struct conn *c, struct peer_conn *pc, bool save,
    int64_t ttl_ms, bool claimed, uint64_t fetch_id);

/* At worker exit, after the pool stopped and before the connections and
 * the peers go: frees every relay. */
void relay_teardown(struct server *s);

#endif
