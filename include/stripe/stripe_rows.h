/*
 * stripe_rows.h - the body of a GET of a striped object with parity,
 * read row by row from any k of its k + m parts, so that up to m lost
 * parts (missing in the manifest, a store dead or unreachable, a part
 * the store refuses because a block of it is corrupt, a store that
 * fails mid-body) cost no byte of the object.
 *
 * A stripe row is block i of every part. k parts are read at once, data
 * parts first, each from the row of the range's first byte to its last;
 * a row's block of every one of them is gathered in a buffer of its own,
 * the data blocks of the row that none of them holds are rebuilt from
 * them (stripe/erasure.h), and the range's bytes of the row are sent in
 * order. Memory: a block per part, k + m at most. When a part read
 * fails, another one (a parity part, or a data part not read) takes its
 * place from the current row on; when none is left (more than m lost),
 * the client's connection is cut: never a wrong byte, never a short body
 * that looks whole.
 *
 * Loop thread of a worker.
 */
#ifndef SHOAL_STRIPE_STRIPE_ROWS_H
#define SHOAL_STRIPE_STRIPE_ROWS_H

#include <stddef.h>
#include <stdint.h>

struct cluster;
struct conn;
struct manifest;
struct server;
struct stripe_rows;
struct stripe_shared;

/* Before serving, once per worker: the cluster (addresses, the key) and
 * the node's shared counters. */
void stripe_rows_attach(struct cluster *cl, struct stripe_shared *ss);

/*
 * Starts reading the object's bytes [first, last) (first < last): k
 * parts asked for at once. Returns the read, or NULL with why[0..cap)
 * saying which parts cannot be read (fewer than k reachable) when the
 * answer must be a 502 (nothing was sent).
 */
struct stripe_rows *stripe_rows_new(struct server *s, const struct manifest *m,
    uint64_t first, uint64_t last, char *why, size_t cap);

/* The head is in c's c_out: takes c and streams the body; the read frees
 * itself when done or cut. */
void stripe_rows_run(struct stripe_rows *r, struct conn *c);

/* Frees a read that never ran (its head could not be sent). */
void stripe_rows_free(struct stripe_rows *r);

/* At worker exit, before the peer set is freed: frees every read. */
void stripe_rows_teardown(void);

#endif
