/*
 * miss.h - a GET or HEAD of a name that is not in ROOT, asked of the
 * peers. Through the shared index, many requests for one name in any
 * worker make one peer transfer: the first claims the fetch, the others
 * wait for its copy (polling the index entry), then serve it.
 *
 * The miss owns the client connection while it waits and while the peers
 * are asked, and hands it over: to a relay when a peer has the name (with
 * the claim, when the copy is to be kept), or back to the file path when
 * a copy appeared meanwhile. Loop thread.
 */
#ifndef SHOAL_SERVE_MISS_H
#define SHOAL_SERVE_MISS_H

struct conn;

/* c's GET or HEAD of c_name found nothing in ROOT; the request is not a
 * lookup from another node, and the node has peers. Answers it. */
void miss_start(struct conn *c);

#endif
