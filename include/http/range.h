/*
 * range.h - the Range request header for one byte range (RFC 9110 14.2).
 * Pure functions; any thread.
 */
#ifndef SHOAL_RANGE_H
#define SHOAL_RANGE_H

#include <stddef.h>
#include <stdint.h>

enum range_result {
	RANGE_NONE,		/* no usable Range: send the whole file (200) */
	RANGE_OK,		/* one satisfiable range: 206 with *first..*last */
	RANGE_UNSATISFIABLE,	/* 416 with "Content-Range: bytes * /size" */
};

/*
 * Interprets the value of a Range header against a representation of `size`
 * bytes. "bytes=A-B", "bytes=A-" and "bytes=-N" are understood; B past the
 * end is clipped to size-1. A syntactically invalid header, another unit or
 * several ranges yield RANGE_NONE (a server may ignore Range). A valid range
 * that starts at or past the end, or a suffix of 0 bytes, or any range of an
 * empty file, is RANGE_UNSATISFIABLE. On RANGE_OK, *first and *last are
 * inclusive offsets.
 */
enum range_result range_parse(const char *value, size_t len, uint64_t size,
    uint64_t *first, uint64_t *last);

#endif
