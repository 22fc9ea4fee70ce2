/*
 * request.h - what the node answers to a parsed request: files of ROOT,
 * the listing, the node's own endpoints, and the errors. Loop thread.
 */
#ifndef SHOAL_REQUEST_H
#define SHOAL_REQUEST_H

struct conn;

/* c->c_req holds a valid head. Answers it, now or after pool jobs, always
 * ending in conn_send() or conn_send_text(). */
void request_handle(struct conn *c);

#endif
