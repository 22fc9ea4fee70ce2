/*
 * condition.c - entity tags and the conditional request headers
 * (RFC 9110 8.8.3 and 13.1).
 *
 * Our ETags are strong: the quoted 128-bit digest of the content
 * (core/digest.h). The
 * header parsers follow the RFC grammar closely and treat anything
 * else as "no match": for If-None-Match and If-Modified-Since that
 * means a full 200 instead of a 304, for If-Range the whole file
 * instead of a part. Both are always correct answers, only larger,
 * so being strict here is safe.
 *
 * Pure: no state, no allocation; any thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/digest.h"
#include "http/condition.h"
#include "http/httpdate.h"

void
condition_etag_format(const struct digest *d,
    char out[CONDITION_ETAG_LEN + 1])
{
	out[0] = '"';
	digest_hex(d, out + 1);
	out[1 + DIGEST_HEX_LEN] = '"';
	out[2 + DIGEST_HEX_LEN] = '\0';
}

/* etagc = %x21 / %x23-7E / obs-text: visible bytes except DQUOTE. */
static bool
condition_etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/*
 * Reads one entity-tag at s[*pos..len). On success *pos is past it,
 * *weak tells whether it had "W/", and the opaque tag, quotes
 * included, is s[*tag_start..*pos).
 */
static bool
condition_tag(const char *s, size_t len, size_t *pos, bool *weak,
    size_t *tag_start)
{
	size_t i = *pos;

	*weak = false;
	if (len - i >= 2 && s[i] == 'W' && s[i + 1] == '/') {
		*weak = true;
		i += 2;
	}
	if (i == len || s[i] != '"')
		return false;
	*tag_start = i++;
	while (i < len && condition_etagc((unsigned char)s[i]))
		i++;
	if (i == len || s[i] != '"')
		return false;
	*pos = i + 1;
	return true;
}

/* Does the opaque tag s[0..n) equal `etag`, ignoring a "W/" on it? */
static bool
condition_same_opaque(const char *s, size_t n, const char *etag)
{
	if (etag[0] == 'W' && etag[1] == '/')
		etag += 2;
	return strlen(etag) == n && memcmp(s, etag, n) == 0;
}

static bool
condition_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool
condition_none_match(const char *value, size_t len, const char *etag)
{
	size_t i = 0, start;
	bool weak, matched = false;

	/* "*" must be the whole field; it matches whatever exists, and
	 * the caller only asks about files that exist. */
	while (len > 0 && condition_ows(value[len - 1]))
		len--;
	while (i < len && condition_ows(value[i]))
		i++;
	if (len - i == 1 && value[i] == '*')
		return true;

	/*
	 * #entity-tag: the RFC asks us to skip empty elements (", ,").
	 * The whole list is read before answering, so that a malformed
	 * element after a matching one still means "no match".
	 */
	while (i < len) {
		if (value[i] == ',' || condition_ows(value[i])) {
			i++;
			continue;
		}
		if (!condition_tag(value, len, &i, &weak, &start))
			return false;
		if (condition_same_opaque(value + start, i - start, etag))
			matched = true;
		while (i < len && condition_ows(value[i]))
			i++;
		if (i < len && value[i] != ',')
			return false;
	}
	return matched;
}

bool
condition_not_modified_since(const char *value, size_t len, time_t mtime)
{
	time_t date;

	if (httpdate_parse(value, len, &date) != 0)
		return false;
	return mtime <= date;
}

bool
condition_if_range(const char *value, size_t len, const char *etag,
    time_t mtime)
{
	size_t pos = 0, start;
	bool weak;
	time_t date;

	/* A date may start with 'W' too ("Wed, ..."): look for "W/". */
	if ((len > 0 && value[0] == '"') ||
	    (len > 1 && value[0] == 'W' && value[1] == '/')) {
		/* Strong comparison: a weak tag on either side never
		 * matches, the opaque tags must be equal byte for byte. */
		if (!condition_tag(value, len, &pos, &weak, &start) ||
		    pos != len || weak)
			return false;
		if (etag[0] == 'W' && etag[1] == '/')
			return false;
		return strlen(etag) == len && memcmp(value, etag, len) == 0;
	}
	if (httpdate_parse(value, len, &date) != 0)
		return false;
	return date == mtime;
}
