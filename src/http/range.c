/*
 * range.c - the Range request header, one byte range only (RFC 9110 14.2).
 *
 * The parser is strict: "bytes" (any case), "=", then a single
 * range spec with no whitespace anywhere. Whatever it does not
 * understand is RANGE_NONE, because a server may always ignore Range
 * and send the whole file; 416 is kept for a well-formed range that
 * misses the file. Several ranges are RANGE_NONE too: we do not
 * build multipart/byteranges bodies.
 *
 * Pure: no state, no allocation; any thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/range.h"

/*
 * Reads 1*DIGIT from *p. Returns false when there is no digit or the
 * number does not fit in 64 bits; on success *p is past the digits.
 */
static bool
range_number(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t n = 0;

	if (s == end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*p = s;
	*out = n;
	return true;
}

enum range_result
range_parse(const char *value, size_t len, uint64_t size, uint64_t *first,
    uint64_t *last)
{
	static const char unit[] = "bytes";
	const char *p = value, *end = value + len;
	uint64_t a, b;
	size_t i;

	if (len < sizeof(unit))		/* "bytes" and "=" */
		return RANGE_NONE;
	for (i = 0; i < sizeof(unit) - 1; i++, p++) {
		/* ASCII folding by hand: tolower() depends on the locale. */
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != unit[i])
			return RANGE_NONE;
	}
	if (*p++ != '=')
		return RANGE_NONE;

	if (p < end && *p == '-') {
		/* suffix-range: the last b bytes. */
		p++;
		if (!range_number(&p, end, &b) || p != end)
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return RANGE_OK;
	}

	if (!range_number(&p, end, &a) || p == end || *p++ != '-')
		return RANGE_NONE;
	if (p == end) {
		b = UINT64_MAX;		/* "A-": to the end */
	} else {
		if (!range_number(&p, end, &b) || p != end)
			return RANGE_NONE;
		if (a > b)
			return RANGE_NONE;
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*first = a;
	*last = b < size - 1 ? b : size - 1;
	return RANGE_OK;
}
