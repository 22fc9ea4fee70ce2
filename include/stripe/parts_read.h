/*
 * parts_read.h - a store's answers to a signed GET or HEAD of
 * /_/parts/ID/I (a committed part's bytes) or /_/parts/ID/manifest (the
 * manifest kept beside the parts), for parts_serve.h's route. Loop
 * thread of a worker; disk work in its I/O pool.
 *
 * One Range is honoured (206, 416). A part is sent a block at a time,
 * each block read and checked against its CRC32C in the part file's
 * trailer (stripe/blocksum.h) by a pool job just before it goes, so a
 * read holds one block: a corrupt first block (or a trailer that does
 * not check) is a 500 with Shoal-Corrupt-Block (the block's index, or
 * "trailer") before any byte, a corrupt later block cuts the answer;
 * each is logged and counted (shoal_stripe_corrupt_blocks_total). A part
 * or manifest not committed here is 404.
 */
#ifndef SHOAL_STRIPE_PARTS_READ_H
#define SHOAL_STRIPE_PARTS_READ_H

#include <stdbool.h>

struct conn;
struct stripe_shared;

/* Before serving, once per worker: the shared counters, the parts'
 * objects directory (stripe/parts.h, pd_objects) and the directory of
 * the manifests of this node's own uploads (STRIPE_ORIGIN_MANIFESTS). */
void parts_read_attach(struct stripe_shared *ss, int objects_fd,
    int origin_fd);

/* Answers c, whose c_name is "ID.I" (or "ID.json" with manifest) in the
 * objects directory, a name the route made; the signature was checked. */
void parts_read_start(struct conn *c, bool manifest);

#endif
