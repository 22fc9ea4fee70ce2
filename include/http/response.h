/*
 * response.h - writing response heads and short bodies into a buffer.
 * Loop thread of a worker (the Date cache is per process).
 */
#ifndef SHOAL_RESPONSE_H
#define SHOAL_RESPONSE_H

#include <stdbool.h>

#include "core/buf.h"

#define RESPONSE_SERVER "shoal/" SHOAL_VERSION

/* The reason phrase of a status ("Not Found"); "Unknown" for others. */
const char *response_reason_phrase(int status);

/* Appends the status line and the Server and Date headers. */
void response_start(struct buf *out, int status);

/* Appends "Name: value\r\n". */
void response_header(struct buf *out, const char *name, const char *value);

/* Appends the connection header when it is needed ("close", or
 * "keep-alive" for an HTTP/1.0 client that asked for it) and the blank line
 * that ends the head. */
void response_end(struct buf *out, bool close, bool http10_keepalive);

/*
 * Appends a whole error or short text response: `status`, a text/plain
 * body "reason\n" (omitted for HEAD and for 304), and `extra` (complete
 * "Name: value\r\n" lines, or NULL). Returns the length of the body.
 */
size_t response_text(struct buf *out, int status, const char *reason,
    const char *extra, bool head, bool close, bool http10_keepalive);

#endif
