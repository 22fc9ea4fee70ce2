/*
 * digest.h - a content digest: the 128 bits of XXH3-128 over a file's
 * bytes. It names a version of a file across the cluster (the catalogue,
 * `?version=`), and it is the ETag ("32 hex digits", quoted). Computing it
 * is the store's business (store/file.h, store/spool.h); this is only the
 * value and its text form.
 */
#ifndef SHOAL_CORE_DIGEST_H
#define SHOAL_CORE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_HEX_LEN 32		/* its text form, without a NUL */

struct digest {
	uint64_t d_hi;
	uint64_t d_lo;
};

/* Writes the 32 lowercase hex digits and a NUL to out[DIGEST_HEX_LEN + 1]. */
void digest_hex(const struct digest *d, char *out);

/* Reads exactly 32 hex digits (either case) from s[0..len). Returns 0, or
 * -1 when s is anything else. */
int digest_parse(const char *s, size_t len, struct digest *d);

/* <0, 0, >0 in the order of (hi, lo): the order of their hex forms. */
int digest_cmp(const struct digest *a, const struct digest *b);

static inline bool
digest_equal(const struct digest *a, const struct digest *b)
{
	return a->d_hi == b->d_hi && a->d_lo == b->d_lo;
}

#endif
