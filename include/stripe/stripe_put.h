/*
 * stripe_put.h - a striped upload, at the node that takes it (the front):
 * a PUT or POST whose Content-Length is at least stripe.min_size, or a
 * chunked one whose body passed it (s_stripe_grow: the plain upload
 * hands over the bytes so far on disk and the name's reservation; the
 * stores are then chosen and reserved as below, each for its share of
 * the bytes so far plus STRIPE_GROW_BLOCKS blocks, grown by as many
 * whenever a part reaches it while the store has room (507 else); the
 * parts go as chunked PUTs, the bytes on disk first, read back in the
 * I/O pool, and their sizes are set at the body's end).
 *
 * Before a byte of the body is read: the name must be unknown to the
 * catalogue (409), then reserved with every alive member as a plain
 * upload reserves it (serve/upload.h, upload_reserve; 409 with the same
 * reasons when one refuses; the reservation ends with the answer, stored
 * or not); stripe.parts distinct store nodes are chosen among the
 * alive members with store true that this worker can reach, this node
 * included (stripe/self_peer.h) (most free
 * bytes first: capacity less gossiped use less what uploads of this node
 * have reserved there; stripe/placement.h), and the part sizes reserved
 * there in the node's shared table; fewer stores with room: 503 with
 * Retry-After and the reason, nothing stored. A journal entry
 * (STATE_DIR/stripe/journal/ID: the stores) is made durable, then a
 * signed PUT /_/parts/ID/I goes to every store at once, and "100
 * Continue" to a client that waits for it.
 *
 * The body: block i goes to part i mod parts (stripe/layout.h). Each part
 * has one buffer of one block; the client is read into the buffer of the
 * part its next byte belongs to only once that buffer is free (its last
 * block handed to the store's connection), so memory is parts x block per
 * upload, and the client goes at the pace of the slowest store. The whole
 * object and each part are hashed (XXH3-128) on the way.
 *
 * With stripe.parity m, m parity parts follow the data parts, on m more
 * distinct stores (the placement counts parts + m): for each stripe row
 * (block i of every data part), each data block goes into the row's m
 * parity blocks as it completes (stripe/erasure.h, erasure_encode_add),
 * and once the row's last data block is in, the parity blocks go to
 * their stores like data blocks. Memory: parts + m blocks; the first
 * block of a row waits until the last row's parity blocks were handed
 * over. A store that fails while the body streams (refuses, is cut,
 * stalls, answers badly) costs one part: while no more than m were
 * lost, the upload goes on without it (its bytes still hashed and
 * counted in the parity) and the object is stored degraded: the
 * manifest's `missing` names the lost parts, the 201 carries
 * Shoal-Degraded: N, shoal_stripe_uploads_total{result="degraded"}
 * counts it. A failure past m, or at the commit, fails the upload.
 *
 * When every store answered 201 with the size and digest of its part:
 * the manifest is written to STATE_DIR/stripe/manifests/ID.json, sent to
 * every store (POST /_/parts/ID/commit), and once all committed the
 * journal entry goes and the client gets 201 with the whole digest as
 * ETag. Any failure before (the client leaves, stalls past body_timeout
 * or breaks the framing, a store refuses, fails, stalls past its deadline
 * (body_timeout plus 1 ms per 10 kB of its part, counted only while it
 * does not take what it is given), or answers another digest): every
 * part connection is closed, DELETE /_/parts/ID goes to every chosen
 * store, the reservations are released, the journal entry is removed
 * once every store confirmed, and the client, when still there, gets
 * 4xx/5xx with the reason.
 *
 * Loop thread of a worker; disk work in its I/O pool. An upload lives on
 * after its client's answer while its cleanup runs.
 */
#ifndef SHOAL_STRIPE_STRIPE_PUT_H
#define SHOAL_STRIPE_STRIPE_PUT_H

/* In a 201: how many parts of the object are missing (degraded). */
#define STRIPE_DEGRADED_HEADER "Shoal-Degraded"

struct cluster;
struct server;
struct stripe_shared;

/* Installs s->s_stripe_upload (before serving, once s->s_cluster is
 * set) and makes the stripe directories of the state directory. Returns
 * 0, or -1 (logged). */
int stripe_put_attach(struct server *s, struct cluster *cl,
    struct stripe_shared *ss);

/* At worker exit, after the pool's threads are joined and the
 * connections closed, before the peer set is freed: frees every upload
 * still cleaning up (its journal entry stays for the next start). */
void stripe_put_teardown(void);

#endif
