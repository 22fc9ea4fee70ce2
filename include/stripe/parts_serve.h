/*
 * parts_serve.h - a store node's answers to the part routes, served by its
 * workers (loop thread; disk work in the worker's I/O pool). Every request
 * is signed with the cluster key (cluster/auth.h); ID is an object id (32
 * lowercase hex digits), I a part index (0 to 15, decimal, no leading
 * zero). Anything else under /_/parts/ is 400; an index out of range is
 * 404; no name outside the parts directories is ever opened.
 *
 *   PUT /_/parts/ID/I        the part's bytes, Content-Length exact (411
 *                            without, chunked refused), streamed to
 *                            parts/tmp, the checksums of its blocks of
 *                            Shoal-Part-Block bytes (the object's block;
 *                            default this node's stripe.block; 400
 *                            outside 64 KiB..64 MiB) appended as its
 *                            trailer (stripe/blocksum.h), and linked as
 *                            parts/pending/ID.I once fsynced: 201 with Shoal-Part-Size and
 *                            Shoal-Part-Digest (its XXH3-128); 409 when
 *                            that part is here already; 507 when the
 *                            store's capacity or disk has no room.
 *                            Signed over its head only: the body digest
 *                            in the MAC is that of zero bytes, since the
 *                            sender streams a body it cannot hash ahead.
 *                            The bytes are checked at commit, whose
 *                            signed body gives each part's digest.
 *   POST /_/parts/ID/commit  body: the manifest (stripe/manifest.h),
 *                            signed with its digest. The part the
 *                            manifest places on this node must be pending
 *                            here with that size and digest: it moves to
 *                            parts/objects/, the manifest is written
 *                            beside it and under the name, fsynced, and
 *                            the catalogue hears that this store holds
 *                            the striped object: 200. 404 no such
 *                            pending part, 409 it does not match, 400 a
 *                            bad manifest or one of another object or
 *                            placing nothing here. A retried commit of a
 *                            committed part is 200. A manifest of a
 *                            higher generation (a part moved: stripe/
 *                            move.h) replaces the one beside a part
 *                            committed here, or, at the node that took
 *                            the upload (its origin), the one it keeps:
 *                            200; 412 when the manifest here is of that
 *                            generation or later (at the origin: when it
 *                            is not the one it follows), or when a
 *                            pending part's object has another manifest
 *                            here.
 *   DELETE /_/parts/ID       removes every part of ID here, pending or
 *                            committed, and its manifest: 200, also when
 *                            there was nothing. The catalogue hears that
 *                            this node no longer holds the object, but
 *                            at its origin.
 *   GET|HEAD /_/parts/ID/I   (stripe/parts_read.h)
 *                            a committed part's bytes; one Range honoured
 *                            (206, 416), each block checked against its
 *                            checksum just before it goes: a corrupt
 *                            first one (or a trailer that does not
 *                            check) is 500 with Shoal-Corrupt-Block, a
 *                            later one cuts the answer; never sent.
 *   GET|HEAD /_/parts/ID/manifest   the manifest: at the object's
 *                            origin its own copy, elsewhere the one kept
 *                            beside the parts (a store asks the origin
 *                            whether its part is stale: stripe/heal.h).
 */
#ifndef SHOAL_STRIPE_PARTS_SERVE_H
#define SHOAL_STRIPE_PARTS_SERVE_H

#include <stddef.h>
#include <stdint.h>

struct cluster;
struct server;
struct stripe_shared;

#define PARTS_DIGEST_HEADER "Shoal-Part-Digest"
#define PARTS_SIZE_HEADER "Shoal-Part-Size"
#define PARTS_BLOCK_HEADER "Shoal-Part-Block"
#define PARTS_CORRUPT_HEADER "Shoal-Corrupt-Block"

/* What a target under /_/parts/ names. */
enum part_kind { PART_OBJECT, PART_BYTES, PART_COMMIT, PART_MANIFEST };

/*
 * The parsers of the route's outside bytes, pure (any thread; t/fuzz/
 * fuzz_part.c drives them). parts_serve_target() reads a target after
 * "/_/" (a NUL-terminated path): "parts/ID" (PART_OBJECT), "parts/ID/I"
 * (PART_BYTES, *index set), "parts/ID/commit", "parts/ID/manifest", into
 * *kind and id[MANIFEST_ID_LEN + 1]. Returns 0, 400 when malformed, 404
 * for a well-formed index out of range (CONFIG_STRIPE_PARTS_MAX).
 */
int parts_serve_target(const char *path, char *id, enum part_kind *kind,
    unsigned *index);

/* The value p[0..len) of Shoal-Part-Block: decimal digits only, a block
 * of MANIFEST_BLOCK_MIN..MANIFEST_BLOCK_MAX bytes. Returns 0 with *block
 * set, or -1. */
int parts_serve_block(const char *p, size_t len, uint64_t *block);

/* Registers the route "parts/" and the striping metrics on s (before
 * serving). Returns 0, or -1 (logged) when the parts directories cannot
 * be made or opened. */
int parts_serve_routes(struct server *s, struct cluster *cl,
    struct stripe_shared *ss);

/* At worker exit, once the pool's threads are joined: removes the
 * temporary files of part uploads cut short, frees what is left. */
void parts_serve_teardown(void);

#endif
