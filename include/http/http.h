/*
 * http.h - a strict HTTP/1.1 message parser: request heads (from clients and
 * peers), response heads (from peers), both in http_parse.c (pass 2 in
 * http_parse_fill.c), and the chunked transfer coding, in http_chunked.c.
 *
 * Pure functions over caller-owned buffers: no allocation, no I/O, no
 * logging, no global state. Parsed fields point into the caller's buffer,
 * which must outlive the struct. Safe to call from any thread.
 *
 * Strictness follows shared/BADINPUT.md: anything that could let two
 * parsers disagree about where a message ends (CL with TE, two CLs, folded
 * lines, bare CR or LF, spaces before the colon, junk in numbers) is an
 * error, and an error always means "answer, then close the connection".
 */
#ifndef SHOAL_HTTP_H
#define SHOAL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method {
	HTTP_METHOD_OTHER,	/* a valid token we do not implement: 501 */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_PUT,
	HTTP_METHOD_POST,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_TRACE,
	HTTP_METHOD_CONNECT,
	HTTP_METHOD_PATCH,
};

struct http_limits {
	size_t max_request_line;	/* request or status line, CRLF excluded */
	size_t max_header_line;		/* one header line, CRLF excluded */
	size_t max_headers;		/* number of header lines */
	size_t max_header_size;		/* the whole head, final CRLF included */
};

struct http_str {
	const char *p;		/* into the parsed buffer; NULL when absent */
	size_t len;
};

struct http_header {
	struct http_str name;
	struct http_str value;	/* leading and trailing spaces/tabs stripped */
};

#define HTTP_MAX_HEADERS 128	/* hard cap on http_limits.max_headers */

/* What the parser found; fields it interprets are filled for the caller. */
struct http_message {
	/* request line (requests only) */
	enum http_method method;
	struct http_str method_name;
	struct http_str target;		/* raw, as sent: "/na%20me?x" */
	/* status line (responses only) */
	int status;			/* 100..599 */
	struct http_str reason;

	int version_minor;		/* HTTP/1.<minor>: 0 or 1 */

	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;

	/* Framing, already validated: at most one of these is set. */
	bool has_content_length;
	uint64_t content_length;
	bool chunked;			/* Transfer-Encoding: chunked */

	bool keep_alive;		/* from version and Connection */
	bool expect_continue;		/* Expect: 100-continue */

	/* Headers of interest (NULL p when absent). Duplicates of these are
	 * rejected where a duplicate would be ambiguous (Host); otherwise
	 * the first one counts. Any other header, such as the X-Shoal-*
	 * headers nodes send each other, is found with http_find_header(). */
	struct http_str host;
	struct http_str range;
	struct http_str if_range;
	struct http_str if_none_match;
	struct http_str if_modified_since;
	struct http_str authorization;
	struct http_str accept;
	struct http_str content_range;
	struct http_str content_type;
	struct http_str user_agent;
	struct http_str referer;
};

/* Why parsing failed: the status to answer and a one-line reason (a static
 * string, no newline). The connection is closed after the answer. */
struct http_error {
	int status;
	const char *reason;
};

enum http_parse_result {
	HTTP_PARSE_DONE,	/* a whole head was parsed */
	HTTP_PARSE_MORE,	/* incomplete; read more and call again */
	HTTP_PARSE_ERROR,	/* *err is set */
};

/* Empties msg as the parser would before a head: no headers, nothing
 * found (without clearing the header array, which nheaders bounds). */
void http_message_clear(struct http_message *msg);

/*
 * Parses a request head at the start of buf[0..len). On HTTP_PARSE_DONE,
 * *head_len is the length of the head including its final CRLF and *msg
 * is filled; the body (if any) starts at buf + *head_len. On
 * HTTP_PARSE_MORE nothing is filled; the bytes seen so far are within the
 * limits. On HTTP_PARSE_ERROR *err says what to answer:
 *   400 malformed (syntax, framing, Host, version line), 414 request line
 *   too long, 431 header line too long / too many / head too large,
 *   501 Transfer-Encoding other than a single "chunked",
 *   505 well-formed but unsupported version (HTTP/1.2, HTTP/2.0).
 * Unknown but well-formed methods are not an error (HTTP_METHOD_OTHER).
 * Leading empty lines before the request line are skipped (RFC 9112 2.2).
 */
enum http_parse_result http_parse_request(const char *buf, size_t len,
    const struct http_limits *lim, struct http_message *msg, size_t *head_len,
    struct http_error *err);

/*
 * Parses a response head from a peer, as strictly. Same contract as
 * http_parse_request; errors are all "bad response" (err->status is 502).
 * `head_request` tells that the request was HEAD, and 1xx, 204 and 304
 * responses have no body whatever their headers say. A response with
 * neither Content-Length nor chunked is framed by connection close, which
 * the caller must treat as untrustworthy (msg->has_content_length and
 * msg->chunked both false).
 */
enum http_parse_result http_parse_response(const char *buf, size_t len,
    const struct http_limits *lim, bool head_request, struct http_message *msg,
    size_t *head_len, struct http_error *err);

/* Finds a header by case-insensitive name; the first match or NULL. */
const struct http_header *http_find_header(const struct http_message *msg,
    const char *name);

/* The value of a hex digit (either case), or -1. */
int http_hex_digit(unsigned char c);

/* The value of the first parameter `key` ("key=value", '&'-separated) of
 * the query of target[0..len), as it stands (not decoded), in *out;
 * false when the target has none. */
bool http_query_value(const char *target, size_t len, const char *key,
    struct http_str *out);

/* A byte of a token (RFC 9110 5.6.2 tchar): methods, header names. */
bool http_is_tchar(unsigned char c);

/* A byte allowed in a field value or reason phrase: HTAB, SP, VCHAR,
 * obs-text. Everything else is a control byte (NUL, CR, DEL, ...). */
bool http_is_field_byte(unsigned char c);

/* Case-insensitive comparison of s with a NUL-terminated literal. */
bool http_str_eq(struct http_str s, const char *lit);

/* The chunked transfer coding, decoded incrementally. */
struct http_chunked {
	int state;
	uint64_t remaining;	/* data bytes left in the current chunk */
	size_t line_len;	/* bytes of the current size/trailer line */
	size_t trailer_bytes;	/* total trailer size, bounded */
};

enum http_chunked_result {
	HTTP_CHUNKED_MORE,	/* all input consumed; the body goes on */
	HTTP_CHUNKED_DONE,	/* the last chunk and trailers were read */
	HTTP_CHUNKED_ERROR,	/* malformed: answer 400 and close */
};

void http_chunked_init(struct http_chunked *c);

/*
 * Decodes buf[0..len) in place: the body bytes found are moved to the front
 * of buf and their count stored in *data_len (<= len). *consumed is how many
 * input bytes were used; on HTTP_CHUNKED_DONE the bytes after *consumed
 * belong to the next message, otherwise *consumed == len. Chunk sizes are
 * hex without sign or prefix, at most 16 digits and below 2^63; chunk
 * extensions are skipped but bounded; every line ends in CRLF (a bare LF is
 * an error); trailers are read and ignored, bounded to 8 KiB.
 */
enum http_chunked_result http_chunked_decode(struct http_chunked *c,
    char *buf, size_t len, size_t *consumed, size_t *data_len);

#endif
