/*
 * digest.c - a content digest's text form and order (see core/digest.h).
 * Pure functions; any thread.
 */
#include <stdio.h>

#include "core/digest.h"

void
digest_hex(const struct digest *d, char *out)
{
	snprintf(out, DIGEST_HEX_LEN + 1, "%016llx%016llx",
	    (unsigned long long)d->d_hi, (unsigned long long)d->d_lo);
}

static int
digest_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
digest_parse(const char *s, size_t len, struct digest *d)
{
	uint64_t half[2] = { 0, 0 };
	size_t i;
	int v;

	if (len != DIGEST_HEX_LEN)
		return -1;
	for (i = 0; i < DIGEST_HEX_LEN; i++) {
		if ((v = digest_nibble(s[i])) < 0)
			return -1;
		half[i / 16] = half[i / 16] << 4 | (uint64_t)v;
	}
	d->d_hi = half[0];
	d->d_lo = half[1];
	return 0;
}

int
digest_cmp(const struct digest *a, const struct digest *b)
{
	if (a->d_hi != b->d_hi)
		return a->d_hi < b->d_hi ? -1 : 1;
	if (a->d_lo != b->d_lo)
		return a->d_lo < b->d_lo ? -1 : 1;
	return 0;
}
