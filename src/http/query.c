/*
 * query.c - the parameters of a request target's query string. Pure;
 * any thread.
 */
#include <string.h>

#include "http/http.h"

bool
http_query_value(const char *target, size_t len, const char *key,
    struct http_str *out)
{
	const char *q = memchr(target, '?', len), *end = target + len;
	size_t klen = strlen(key);

	while (q != NULL && q < end) {
		const char *p = q + 1, *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;

		if ((size_t)(stop - p) > klen && memcmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			out->p = p + klen + 1;
			out->len = (size_t)(stop - out->p);
			return true;
		}
		q = amp;
	}
	return false;
}
