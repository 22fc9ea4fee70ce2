/*
 * stripe_get.h - GET and HEAD of a striped object at a node that keeps
 * its manifest under its name: the node that took its upload
 * (STATE_DIR/stripe/names/NAME), and every store of one of its parts
 * (STATE_DIR/parts/names/NAME): all of them are its holders in the
 * catalogue, so the object is read while any of them is up (and every
 * part's store). Other nodes reach it as any file they
 * miss: the catalogue names this node as the holder of the striped
 * version (stripe_announce), they ask it, and relay its answer (with the
 * same ETag, keeping no copy: SERVER_STRIPED_HEADER).
 *
 * The answer: 200 (or 206 for one satisfiable Range, 416 otherwise, 304
 * when If-None-Match matches), ETag the object's whole digest,
 * Accept-Ranges. The body: a signed GET with Range of every part that
 * holds bytes of the range, all at once; the bytes are sent in the
 * object's order straight from the parts' connections (each read only
 * while the client takes what it has: memory is one peer buffer per
 * part, whatever the size). Every part read whole is checked against its
 * digest in the manifest before the response's last byte goes; a part
 * that fails, a store that does not answer in time, or a digest that
 * does not match cuts the connection, so the client never takes a short
 * or wrong body for a whole one.
 *
 * Loop thread of a worker; the name's manifest is read in its I/O pool.
 */
#ifndef SHOAL_STRIPE_STRIPE_GET_H
#define SHOAL_STRIPE_STRIPE_GET_H

struct cluster;
struct server;

/* Installs s->s_stripe_get (before serving; after stripe_put_attach(),
 * which makes the directories). Returns 0, or -1 (logged). */
int stripe_get_attach(struct server *s, struct cluster *cl);

/* At worker exit, after the connections are closed and before the peer
 * set is freed. */
void stripe_get_teardown(void);

#endif
