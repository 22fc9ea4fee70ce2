/*
 * accesslog.h - one line per request, in a combined-like format:
 *   ADDR - - [22/Nov/2026:03:21:08 +0000] "GET /f HTTP/1.1" 200 1234
 *   "REFERER" "USER-AGENT" 0.001
 * (one line; the last field is the time taken in seconds).
 *
 * A worker's loop thread appends lines to a memory buffer; the buffer is
 * written by an I/O pool job (the loop never writes to the disk), at most
 * one at a time. Loop thread only.
 */
#ifndef SHOAL_ACCESSLOG_H
#define SHOAL_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

struct iopool;

/* target: NULL (off), "stderr" or a path. Returns 0, or -1 with errno. */
int accesslog_open(const char *target);
bool accesslog_enabled(void);
int accesslog_reopen(void);

void accesslog_request(const char *addr, const struct http_message *req,
    int status, uint64_t bytes, int64_t ms);

/* Hands the buffered lines to the pool (once per loop turn). */
void accesslog_flush(struct iopool *pool);

/* At exit: writes what is left, synchronously. */
void accesslog_close(void);

#endif
