/*
 * name.c - request targets to file names (the rules are in shoald(8),
 * HTTP INTERFACE).
 *
 * Pure functions over caller-owned buffers, called by workers for every
 * request and by peer code for names received from other nodes; no state,
 * no lock.
 *
 * The rules are checked on the decoded bytes, after one round of
 * percent-decoding, because those are the bytes that reach the file
 * system: "/%2e%2e%2fx" must be refused as firmly as "/../x". A "/" in the
 * raw path is refused before decoding, so that no path with two segments
 * ever looks like a name.
 */
#include "http/http.h"
#include "store/name.h"

#include <string.h>


/* The bytes no name may hold, decoded or not; NULL when c is fine. */
static const char *
bad_byte(unsigned char c)
{
	if (c == '\0')
		return "name must not contain NUL";
	if (c < 0x20 || c == 0x7f)
		return "name must not contain a control byte";
	return NULL;
}

/*
 * Percent-decodes p[0..n) once into out (NUL-terminated, at most max
 * bytes) and checks each byte. A file name (`file`) may hold
 * no "/" and may not start with "."; a node path may hold "/". Returns
 * NULL or the reason for refusing.
 */
static const char *
decode(const char *p, size_t n, bool file, char *out, size_t max,
    size_t *out_len)
{
	size_t i = 0, o = 0;
	unsigned char c;
	const char *why;
	int hi, lo;

	if (file && memchr(p, '/', n) != NULL)
		return "name must not contain '/'";
	while (i < n) {
		c = (unsigned char)p[i];
		if (c == '%') {
			hi = lo = -1;
			if (n - i >= 3) {
				hi = http_hex_digit((unsigned char)p[i + 1]);
				lo = http_hex_digit((unsigned char)p[i + 2]);
			}
			if (hi < 0 || lo < 0)
				return "bad percent-encoding";
			c = (unsigned char)((hi << 4) | lo);
			i += 3;
		} else {
			i++;
		}
		if (o == max)
			return "name too long";
		if ((why = bad_byte(c)) != NULL)
			return why;
		if (file && c == '/')
			return "name must not contain '/'";
		/* "." names are the node's own (state, temporary files),
		 * and this also rules out "." and "..". */
		if (file && o == 0 && c == '.')
			return "name must not start with '.'";
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*out_len = o;
	return NULL;
}

enum name_kind
name_from_target(const char *target, size_t len, char out[NAME_TARGET_MAX + 1],
    size_t *out_len, const char **reason)
{
	const char *query, *why;
	size_t plen;

	out[0] = '\0';
	*out_len = 0;
	if (reason != NULL)
		*reason = NULL;
	if (len == 0 || target[0] != '/') {
		why = "target must start with '/'";
		goto invalid;
	}
	query = memchr(target, '?', len);
	plen = query != NULL ? (size_t)(query - target) : len;
	if (plen == 1)
		return NAME_ROOT;
	if (plen >= 3 && target[1] == '_' && target[2] == '/') {
		why = decode(target + 3, plen - 3, false, out, NAME_TARGET_MAX,
		    out_len);
		if (why == NULL)
			return NAME_NODE;
	} else {
		why = decode(target + 1, plen - 1, true, out, NAME_MAX_LEN,
		    out_len);
		if (why == NULL)
			return NAME_FILE;
	}
	out[0] = '\0';
	*out_len = 0;
invalid:
	if (reason != NULL)
		*reason = why;
	return NAME_INVALID;
}

bool
name_is_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > NAME_MAX_LEN || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] == '/' || bad_byte((unsigned char)name[i]) != NULL)
			return false;
	}
	return true;
}

size_t
name_encode(const char *name, size_t len, char *out, size_t out_size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
		    || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~';

		if (o + (plain ? 1 : 3) >= out_size)
			break;
		if (plain) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (out_size > 0)
		out[o] = '\0';
	return o;
}

int
name_decode(const char *s, size_t len, char out[NAME_MAX_LEN + 1],
    size_t *out_len, const char **reason)
{
	const char *why = len == 0 ? "name is empty" :
	    decode(s, len, true, out, NAME_MAX_LEN, out_len);

	if (why == NULL)
		return 0;
	out[0] = '\0';
	*out_len = 0;
	if (reason != NULL)
		*reason = why;
	return -1;
}
