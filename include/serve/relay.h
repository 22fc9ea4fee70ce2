/*
 * relay.h - streaming the winning peer's answer to the client as it arrives,
 * and, when the peer's `save` is on, into a temporary file that is
 * published under the name only when it is whole.
 *
 * Memory is bounded: one peer buffer per relay, refilled only when the
 * client has taken its bytes and the disk has written them. If the peer
 * fails mid-body after the client has the head, the client connection is
 * closed, never finished: a short body is never passed off as whole, and
 * nothing is published. A save that fails (full disk) is dropped and
 * logged; the client still gets every byte.
 *
 * Loop thread; disk writes in the worker's I/O pool. A relay is reached
 * from its client connection (c_relay) while it has one, and lives on the
 * worker's list (w_relays) until its transfer and its disk work are over:
 * a client that walks away does not stop a copy being saved.
 */
#ifndef SHOAL_RELAY_H
#define SHOAL_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct conn;
struct peer;
struct peer_conn;
struct relay;
struct worker;

/* Takes over pc, whose 200 head has just arrived for c's request, and
 * answers the client from it. `save` keeps a copy that expires after
 * ttl_ms (0: never); the fetch c claimed in the index, if any, becomes
 * the relay's to finish. */
void relay_start(struct conn *c, struct peer_conn *pc, bool save,
    int64_t ttl_ms);

/* The client socket is writable (or failed). */
void relay_client_io(struct conn *c, short revents);

/* The client's send timeout expired. */
void relay_client_timeout(struct conn *c);

/* The client connection is going away. */
void relay_abort(struct conn *c);

/* At worker exit, after the pool stopped: frees every relay. */
void relay_teardown(struct worker *w);

#endif
