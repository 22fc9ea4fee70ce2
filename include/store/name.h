/*
 * name.h - file names as the contract defines them: the request path after
 * the leading "/", percent-decoded once, 1 to 255 bytes, no "/", no NUL, no
 * control byte, not starting with ".". Pure functions; any thread.
 */
#ifndef SHOAL_NAME_H
#define SHOAL_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 255
/* The longest path of the node's own endpoints after "/_/": a route
 * ("replica/", "reserve/") and a whole file name. */
#define NAME_TARGET_MAX (NAME_MAX_LEN + 32)

enum name_kind {
	NAME_FILE,	/* a valid file name, decoded into the caller's buffer */
	NAME_ROOT,	/* "/": the listing */
	NAME_NODE,	/* "/_/...": the node's own endpoints (health, metrics) */
	NAME_INVALID,	/* anything else: 400 with *reason */
};

/*
 * Classifies a raw request target (origin-form, starting with "/"). A query
 * ("?...") is ignored. For NAME_FILE the decoded name is written to
 * out[0..NAME_MAX_LEN] with a terminating NUL and its length to *out_len.
 * For NAME_NODE, out holds the path after "/_/" (decoded the same way, up
 * to NAME_TARGET_MAX bytes, and may be empty). For NAME_INVALID, *reason is a static one-line reason.
 */
enum name_kind name_from_target(const char *target, size_t len,
    char out[NAME_TARGET_MAX + 1], size_t *out_len, const char **reason);

/* True when name[0..len) is a valid file name as it stands (no decoding):
 * used for directory listings and names from peers. */
bool name_is_valid(const char *name, size_t len);

/* Percent-encodes name[0..len) for a request target (everything but
 * unreserved bytes, RFC 3986 2.3), without the leading "/", NUL-terminated.
 * `out` needs 3 * len + 1 bytes; a shorter out is cut at a whole escape.
 * Returns the length written. */
size_t name_encode(const char *name, size_t len, char *out, size_t out_size);

/*
 * The inverse of name_encode(): percent-decodes s[0..len) once into
 * out[0..NAME_MAX_LEN] (NUL-terminated), its length in *out_len, and
 * checks it is a valid file name, as name_from_target() does for a
 * target's path. Returns 0, or -1 with a static one-line *reason (when
 * reason is not NULL) and out empty.
 */
int name_decode(const char *s, size_t len, char out[NAME_MAX_LEN + 1],
    size_t *out_len, const char **reason);

#endif
