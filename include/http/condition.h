/*
 * condition.h - entity tags and the conditional request headers
 * (If-None-Match, If-Modified-Since, If-Range). Pure functions; any thread.
 */
#ifndef SHOAL_CONDITION_H
#define SHOAL_CONDITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/digest.h"

/* An ETag as sent, quotes included: "\"" 32 hex digits "\"". */
#define CONDITION_ETAG_LEN (DIGEST_HEX_LEN + 2)

/* Formats a digest as a strong ETag (lowercase hex) with a terminating
 * NUL. */
void condition_etag_format(const struct digest *d,
    char out[CONDITION_ETAG_LEN + 1]);

/*
 * True when an If-None-Match value (a list of entity tags, weak or strong,
 * or "*") matches `etag` by weak comparison: the request's GET/HEAD is
 * answered 304. A malformed list matches nothing.
 */
bool condition_none_match(const char *value, size_t len, const char *etag);

/* True when If-Modified-Since holds a valid date and the file's mtime (in
 * whole seconds) is not later than it: answer 304. Only to be consulted when
 * the request has no If-None-Match. */
bool condition_not_modified_since(const char *value, size_t len, time_t mtime);

/* True when an If-Range value lets the Range apply: a strong ETag equal to
 * `etag`, or an HTTP date equal to the file's mtime. */
bool condition_if_range(const char *value, size_t len, const char *etag,
    time_t mtime);

#endif
