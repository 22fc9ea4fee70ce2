/*
 * http_parse_int.h - what the two passes of the head parser share, and no
 * other file includes (the public contract is include/http/http.h):
 *
 *   http_parse.c       pass 1 (lines, limits, syntax), the fault table,
 *                      the entry points and the byte-class helpers of
 *                      http.h
 *   http_parse_fill.c  pass 2: the split headers into the message, and the
 *                      rules that need the whole head (framing, Host,
 *                      Connection)
 *
 * Runs in whichever thread calls the parser; nothing is kept between
 * calls, so there is no lock.
 */
#ifndef SHOAL_HTTP_HTTP_PARSE_INT_H
#define SHOAL_HTTP_HTTP_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

/*
 * Every way a head can fail, with the answer for a request and the reason
 * for a response (always 502). The first fault found wins.
 */
enum fault {
	F_NONE,
	F_MORE,			/* not a fault: the head is incomplete */
	F_LEADING_EMPTY,
	F_START_LINE_TOO_LONG,
	F_HEAD_TOO_LARGE,
	F_HEADER_LINE_TOO_LONG,
	F_TOO_MANY_HEADERS,
	F_BARE_LF,
	F_BARE_CR,
	F_BAD_METHOD,
	F_METHOD_TOO_LONG,
	F_BAD_REQUEST_LINE,
	F_BAD_TARGET_BYTE,
	F_NOT_ORIGIN_FORM,
	F_NO_VERSION,
	F_BAD_VERSION,
	F_UNSUPPORTED_VERSION,
	F_BAD_STATUS_LINE,
	F_FOLDED,
	F_EMPTY_NAME,
	F_SPACE_IN_NAME,
	F_BAD_NAME,
	F_NO_COLON,
	F_BAD_VALUE,
	F_TWO_CL,
	F_BAD_CL,
	F_TWO_TE,
	F_CL_AND_TE,
	F_TE_HTTP10,
	F_TE_MALFORMED,
	F_TE_CHUNKED_TWICE,
	F_TE_NOT_LAST,
	F_TE_UNSUPPORTED,
	F_NO_HOST,
	F_TWO_HOST,
	F_BAD_HOST,
};

/* What the first line says; copied into the message once the head is
 * complete. */
struct start_line {
	enum http_method method;
	struct http_str method_name;
	struct http_str target;
	int status;
	struct http_str reason;
	int version_minor;
};

/* What pass 1 hands to pass 2: the start line and the split headers. */
struct head_scan {
	struct start_line sl;
	size_t head_len;	/* final CRLF included */
	size_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];	/* split */
};

/* Byte classes both passes test on every byte they look at. */

static inline bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII only: the C locale's tolower() would do, but this cannot depend on
 * a locale someone set elsewhere in the process. */
static inline unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* p[0..n) without its leading and trailing spaces and tabs. */
struct http_str http_parse_trim(const char *p, size_t n);

/*
 * Fills *msg from a head that scan_head() accepted.
 *
 * For a response, the body length is stated so that the caller never has
 * to know the no-body rules (RFC 9112 6.3):
 *   - 1xx, 204, 304, or an answer to HEAD: has_content_length is true with
 *     content_length 0 and chunked is false, whatever the headers say (they
 *     are still checked: two Content-Lengths are garbage even there). The
 *     Content-Length a HEAD answer announces stays readable through
 *     http_find_header().
 *   - otherwise chunked, or has_content_length, or neither: the body runs
 *     to the connection close, and keep_alive is false.
 *
 * Returns F_NONE, or the first fault of the rules that need the whole
 * head; *msg is then cleared and partly filled, and the caller answers
 * the fault instead of using it.
 */
enum fault http_parse_fill_message(const struct head_scan *hs, bool response,
    bool head_request, struct http_message *msg);

#endif
