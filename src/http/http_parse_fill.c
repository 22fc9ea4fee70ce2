/*
 * http_parse_fill.c - pass 2 of the head parser (see http_parse.c for the
 * two passes): once scan_head() has cut a complete head into its start
 * line and split headers, http_parse_fill_message() takes them into the
 * caller's message and applies the rules that need the whole head:
 * Content-Length and Transfer-Encoding (framing), Host, Connection,
 * Expect, and the headers that keep their first value.
 *
 * Runs in whichever thread calls the parser; nothing is kept between
 * calls, so there is no lock.
 */
#include "http/http_parse_int.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Strings                                                             */

/* Case-insensitive: p[0..n) against a lower-case literal of length n. */
static bool
lower_eq(const char *p, const char *lower, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_lower((unsigned char)p[i]) != (unsigned char)lower[i])
			return false;
	return true;
}

/* Whether the string s is the lower-case literal lit, ignoring case: the
 * lengths first, so that most mismatches cost one comparison. */
#define STR_IS(s, lit) \
	((s).len == sizeof(lit) - 1 && lower_eq((s).p, lit, sizeof(lit) - 1))

/*
 * Takes the next element of a comma-separated list, trimmed of spaces and
 * tabs; false once the list is used up. Empty elements are returned, so
 * that the caller decides whether "a,,b" is acceptable.
 */
static bool
list_next(struct http_str *list, struct http_str *elem)
{
	const char *comma;
	size_t n;

	if (list->p == NULL)
		return false;
	comma = memchr(list->p, ',', list->len);
	n = comma != NULL ? (size_t)(comma - list->p) : list->len;
	*elem = http_parse_trim(list->p, n);
	if (comma != NULL) {
		list->p = comma + 1;
		list->len -= n + 1;
	} else {
		list->p = NULL;
		list->len = 0;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Pass 2: fill the message, framing                                   */

/* What pass 2 gathers beyond the message fields. */
struct framing {
	struct http_str te;	/* the Transfer-Encoding value, if any */
	bool conn_close;
	bool conn_keep_alive;
	bool expect_100;
};

/*
 * 1*DIGIT, at most 19 digits and at most INT64_MAX, so that it fits any
 * off_t. No sign, no spaces, no list ("5, 5"): RFC 9110 8.6 lets a
 * recipient merge equal values, but rejecting is never unsafe.
 */
static bool
parse_content_length(struct http_str v, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (v.len == 0 || v.len > 19)
		return false;
	for (i = 0; i < v.len; i++) {
		if (!is_digit((unsigned char)v.p[i]))
			return false;
		x = x * 10 + (uint64_t)(v.p[i] - '0');	/* < 10^19 < 2^64 */
	}
	if (x > (uint64_t)INT64_MAX)
		return false;
	*out = x;
	return true;
}

/*
 * Only a single "chunked" is implemented. Faults that make the framing
 * ambiguous come first (400); a well-formed list with another coding is
 * 501 (RFC 9112 6.1: chunked must be last, and only once).
 */
static enum fault
check_transfer_encoding(struct http_str te)
{
	struct http_str list = te, elem;
	size_t nchunked = 0, nother = 0;
	bool last_chunked = false;

	while (list_next(&list, &elem)) {
		if (elem.len == 0)
			return F_TE_MALFORMED;
		last_chunked = http_str_eq(elem, "chunked");
		if (last_chunked)
			nchunked++;
		else
			nother++;
	}
	if (nchunked > 1)
		return F_TE_CHUNKED_TWICE;
	if (nchunked == 1 && !last_chunked)
		return F_TE_NOT_LAST;
	if (nother > 0)
		return F_TE_UNSUPPORTED;
	return F_NONE;
}

/* uri-host [":" port] (RFC 3986 3.2.2): reg-name, IPv4 or an IP literal in
 * brackets. Only the character set is checked; it rules out spaces, "/",
 * "@" and the like, which no Host can hold. */
static bool
host_is_valid(struct http_str host)
{
	size_t i;
	unsigned char c;

	if (host.len == 0)
		return false;
	for (i = 0; i < host.len; i++) {
		c = (unsigned char)host.p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    is_digit(c))
			continue;
		if (strchr("-._~%!$&'()*+,;=:[]", c) == NULL || c == '\0')
			return false;
	}
	return true;
}

/*
 * Headers of interest that keep their first value, and the field of struct
 * http_message each goes to. Only the framing headers and Host are
 * ambiguous when repeated; note_header() refuses those itself.
 */
#define FIRST(lname, field) \
	{ lname, sizeof(lname) - 1, offsetof(struct http_message, field) }

static const struct first_value {
	const char *name;	/* lower case */
	size_t len;
	size_t offset;		/* of a struct http_str */
} first_values[] = {
	FIRST("range", range),
	FIRST("if-range", if_range),
	FIRST("if-none-match", if_none_match),
	FIRST("if-modified-since", if_modified_since),
	FIRST("authorization", authorization),
	FIRST("accept", accept),
	FIRST("content-range", content_range),
	FIRST("content-type", content_type),
	FIRST("user-agent", user_agent),
	FIRST("referer", referer),
};

#undef FIRST

static void
keep_first(struct http_message *msg, struct http_str name,
    struct http_str v)
{
	const struct first_value *fv;
	struct http_str *slot;

	for (fv = first_values; fv < first_values + sizeof(first_values) /
	    sizeof(first_values[0]); fv++) {
		if (fv->len != name.len || !lower_eq(name.p, fv->name, fv->len))
			continue;
		slot = (struct http_str *)(void *)((char *)msg + fv->offset);
		if (slot->p == NULL)
			*slot = v;
		return;
	}
}

/*
 * Interprets one header: the framing headers, Connection, Host and Expect
 * here, the headers that keep their first value through first_values[].
 */
static enum fault
note_header(struct http_message *msg, const struct http_header *h,
    bool response, struct framing *fr)
{
	struct http_str name = h->name, v = h->value, list, elem;

	if (STR_IS(name, "content-length")) {
		if (msg->has_content_length)
			return F_TWO_CL;
		if (!parse_content_length(v, &msg->content_length))
			return F_BAD_CL;
		msg->has_content_length = true;
	} else if (STR_IS(name, "transfer-encoding")) {
		if (fr->te.p != NULL)
			return F_TWO_TE;
		fr->te = v;
	} else if (STR_IS(name, "connection")) {
		list = v;
		while (list_next(&list, &elem)) {
			if (STR_IS(elem, "close"))
				fr->conn_close = true;
			else if (STR_IS(elem, "keep-alive"))
				fr->conn_keep_alive = true;
		}
	} else if (STR_IS(name, "host")) {
		if (msg->host.p != NULL && !response)
			return F_TWO_HOST;
		if (msg->host.p == NULL)
			msg->host = v;
	} else if (STR_IS(name, "expect")) {
		if (STR_IS(v, "100-continue"))
			fr->expect_100 = true;
	} else {
		keep_first(msg, name, v);
	}
	return F_NONE;
}

/* Framing rules shared by requests and responses (RFC 9112 6.1, 6.3). */
static enum fault
check_framing(struct http_message *msg, const struct framing *fr)
{
	if (fr->te.p == NULL)
		return F_NONE;
	/* HTTP/1.0 has no chunked coding: a 1.0 peer could not agree with
	 * us on where the body ends. */
	if (msg->version_minor == 0)
		return F_TE_HTTP10;
	if (msg->has_content_length)
		return F_CL_AND_TE;
	return F_NONE;
}

/* The contract is in http_parse_int.h. */
enum fault
http_parse_fill_message(const struct head_scan *hs, bool response,
    bool head_request, struct http_message *msg)
{
	struct framing fr;
	size_t i;
	enum fault f;
	int st;

	http_message_clear(msg);
	memset(&fr, 0, sizeof(fr));
	msg->method = hs->sl.method;
	msg->method_name = hs->sl.method_name;
	msg->target = hs->sl.target;
	msg->status = hs->sl.status;
	msg->reason = hs->sl.reason;
	msg->version_minor = hs->sl.version_minor;

	memcpy(msg->headers, hs->headers,
	    hs->nheaders * sizeof(hs->headers[0]));
	msg->nheaders = hs->nheaders;
	for (i = 0; i < hs->nheaders; i++) {
		f = note_header(msg, &msg->headers[i], response, &fr);
		if (f != F_NONE)
			return f;
	}

	f = check_framing(msg, &fr);
	if (f != F_NONE)
		return f;
	if (!response) {
		if (msg->host.p == NULL && msg->version_minor == 1)
			return F_NO_HOST;
		/* An empty Host is legal only in HTTP/1.0 (where Host is
		 * optional anyway). */
		if (msg->host.p != NULL && (msg->host.len > 0 ||
		    msg->version_minor == 1) && !host_is_valid(msg->host))
			return F_BAD_HOST;
	}
	if (fr.te.p != NULL) {
		f = check_transfer_encoding(fr.te);
		if (f != F_NONE)
			return f;
		msg->chunked = true;
	}

	if (msg->version_minor == 1)
		msg->keep_alive = !fr.conn_close;
	else
		msg->keep_alive = fr.conn_keep_alive && !fr.conn_close;
	/* RFC 9110 10.1.1: ignore 100-continue from an HTTP/1.0 client. */
	msg->expect_continue = !response && fr.expect_100 &&
	    msg->version_minor == 1;

	if (response) {
		st = msg->status;
		if (st < 200 || st == 204 || st == 304 || head_request) {
			msg->has_content_length = true;
			msg->content_length = 0;
			msg->chunked = false;
		} else if (!msg->has_content_length && !msg->chunked) {
			msg->keep_alive = false;
		}
	}
	return F_NONE;
}
