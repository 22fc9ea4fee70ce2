/*
 * http_parse.c - the strict HTTP/1.1 head parser: request heads from
 * clients and peers, response heads from peers (see include/http/http.h for
 * the contract and shared/BADINPUT.md for the cases). The chunked decoder
 * is in http_chunked.c.
 *
 * Runs in whichever thread calls it: workers parse client requests, peer
 * lookups parse responses. Nothing is kept between calls, so there is no
 * lock.
 *
 * A head is read in two passes over the caller's buffer:
 *
 *   1. scan_head() cuts the bytes into lines, enforces the limits and checks
 *      the syntax of every complete line, in order, splitting each header
 *      line into name and value on the way (into its own array, not the
 *      caller's message). The first fault in the bytes decides the answer,
 *      and a partial head that already breaks a limit is refused at once
 *      instead of waiting for a CRLF that may never come.
 *   2. Only when the empty line ending the head has arrived,
 *      http_parse_fill_message() (in http_parse_fill.c) takes the split
 *      headers into the message and applies the rules that need the whole
 *      head: framing, Host, Connection.
 *
 * This file has pass 1, the answer to each fault and the entry points; the
 * passes share enum fault, struct head_scan and the byte classes through
 * http_parse_int.h.
 *
 * So on HTTP_PARSE_MORE the caller's struct is untouched, as http.h says.
 *
 * Both passes are linear in the head. The caller re-parses from the start
 * as bytes arrive, so a client trickling one byte per read costs work
 * quadratic in the head, bounded by max_header_size squared and by the
 * header timeout. The result is a function of the bytes alone, never of
 * how they were split (the unit tests and the fuzzer check this).
 */
#include "http/http_parse_int.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bounds of our own, on top of the caller's limits. */
#define HTTP_MAX_METHOD		32	/* bytes in a method token */
#define HTTP_MAX_LEADING_EMPTY	8	/* CRLFs skipped before a request */

/* The answer to each enum fault (http_parse_int.h). */
struct fault_text {
	int status;		/* for a request */
	const char *request;
	const char *response;	/* status 502 */
};

#define FAULT(st, text)	{ st, text, "bad response: " text }
#define FAULT2(st, req, resp) { st, req, "bad response: " resp }

static const struct fault_text fault_texts[] = {
	[F_NONE] = FAULT(500, "no fault"),
	[F_MORE] = FAULT(500, "incomplete head"),
	[F_LEADING_EMPTY] =
	    FAULT(400, "too many empty lines before the request line"),
	[F_START_LINE_TOO_LONG] =
	    FAULT2(414, "request line too long", "status line too long"),
	[F_HEAD_TOO_LARGE] = FAULT(431, "head too large"),
	[F_HEADER_LINE_TOO_LONG] = FAULT(431, "header line too long"),
	[F_TOO_MANY_HEADERS] = FAULT(431, "too many header lines"),
	[F_BARE_LF] = FAULT(400, "line ends in a bare LF"),
	[F_BARE_CR] = FAULT(400, "bare CR in the head"),
	[F_BAD_METHOD] = FAULT(400, "malformed method"),
	[F_METHOD_TOO_LONG] = FAULT(400, "method too long"),
	[F_BAD_REQUEST_LINE] = FAULT(400, "malformed request line"),
	[F_BAD_TARGET_BYTE] = FAULT(400, "bad byte in the request target"),
	[F_NOT_ORIGIN_FORM] =
	    FAULT(400, "request target must be a path starting with '/'"),
	[F_NO_VERSION] = FAULT(400, "missing HTTP version"),
	[F_BAD_VERSION] = FAULT(400, "malformed HTTP version"),
	[F_UNSUPPORTED_VERSION] =
	    FAULT2(505, "HTTP version not supported", "unsupported HTTP version"),
	[F_BAD_STATUS_LINE] = FAULT(400, "malformed status line"),
	[F_FOLDED] = FAULT(400, "folded header line"),
	[F_EMPTY_NAME] = FAULT(400, "empty header name"),
	[F_SPACE_IN_NAME] =
	    FAULT(400, "whitespace in a header name or before the colon"),
	[F_BAD_NAME] = FAULT(400, "bad byte in a header name"),
	[F_NO_COLON] = FAULT(400, "header line without a colon"),
	[F_BAD_VALUE] = FAULT(400, "control byte in a header value"),
	[F_TWO_CL] = FAULT(400, "two Content-Length headers"),
	[F_BAD_CL] = FAULT(400, "bad Content-Length"),
	[F_TWO_TE] = FAULT(400, "two Transfer-Encoding headers"),
	[F_CL_AND_TE] = FAULT(400, "Content-Length with Transfer-Encoding"),
	[F_TE_HTTP10] = FAULT(400, "Transfer-Encoding in HTTP/1.0"),
	[F_TE_MALFORMED] = FAULT(400, "malformed Transfer-Encoding"),
	[F_TE_CHUNKED_TWICE] = FAULT(400, "chunked applied twice"),
	[F_TE_NOT_LAST] =
	    FAULT(400, "chunked is not the last transfer coding"),
	[F_TE_UNSUPPORTED] = FAULT2(501, "unsupported Transfer-Encoding",
	    "unsupported Transfer-Encoding"),
	[F_NO_HOST] = FAULT(400, "missing Host header"),
	[F_TWO_HOST] = FAULT(400, "two Host headers"),
	[F_BAD_HOST] = FAULT(400, "bad Host header"),
};

/* ------------------------------------------------------------------ */
/* Bytes and strings                                                   */

/* RFC 9110 5.6.2 tchar, as a table: names and methods are checked byte by
 * byte, and a lookup is one load where the ranges were up to six tests. */
static const bool tchars[256] = {
	['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true,
	['\''] = true, ['*'] = true, ['+'] = true, ['-'] = true,
	['.'] = true, ['^'] = true, ['_'] = true, ['`'] = true, ['|'] = true,
	['~'] = true, ['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true,
	['4'] = true, ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true,
	['9'] = true, ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true,
	['E'] = true, ['F'] = true, ['G'] = true, ['H'] = true, ['I'] = true,
	['J'] = true, ['K'] = true, ['L'] = true, ['M'] = true, ['N'] = true,
	['O'] = true, ['P'] = true, ['Q'] = true, ['R'] = true, ['S'] = true,
	['T'] = true, ['U'] = true, ['V'] = true, ['W'] = true, ['X'] = true,
	['Y'] = true, ['Z'] = true, ['a'] = true, ['b'] = true, ['c'] = true,
	['d'] = true, ['e'] = true, ['f'] = true, ['g'] = true, ['h'] = true,
	['i'] = true, ['j'] = true, ['k'] = true, ['l'] = true, ['m'] = true,
	['n'] = true, ['o'] = true, ['p'] = true, ['q'] = true, ['r'] = true,
	['s'] = true, ['t'] = true, ['u'] = true, ['v'] = true, ['w'] = true,
	['x'] = true, ['y'] = true, ['z'] = true
};

bool
http_is_tchar(unsigned char c)
{
	return tchars[c];
}

static bool
is_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

bool
http_is_field_byte(unsigned char c)
{
	/* HTAB, SP, VCHAR and obs-text: all but the other controls. */
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

int
http_hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
ieq(const char *p, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0' ||
		    ascii_lower((unsigned char)p[i]) !=
		    ascii_lower((unsigned char)lit[i]))
			return false;
	}
	return lit[n] == '\0';
}

bool
http_str_eq(struct http_str s, const char *lit)
{
	return s.p != NULL && ieq(s.p, s.len, lit);
}

const struct http_header *
http_find_header(const struct http_message *msg, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < msg->nheaders && i < HTTP_MAX_HEADERS; i++) {
		if (msg->headers[i].name.len == n &&
		    ieq(msg->headers[i].name.p, n, name))
			return &msg->headers[i];
	}
	return NULL;
}

struct http_str
http_parse_trim(const char *p, size_t n)
{
	struct http_str s;

	while (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	s.p = p;
	s.len = n;
	return s;
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */

enum line_kind {
	LINE_COMPLETE,		/* ends in CRLF */
	LINE_PARTIAL,		/* no LF yet */
	LINE_BARE_LF,		/* ends in an LF without CR */
};

/*
 * Finds the line starting at buf[pos]. *content_len is its length without
 * the line end; for a partial line, a CR that is the last byte received is
 * not counted, as it may be the first half of the CRLF, so that limits are
 * never broken by a line that would have fitted. *next is where the
 * following line starts (complete or bare-LF lines only).
 */
static enum line_kind
next_line(const char *buf, size_t len, size_t pos, size_t *content_len,
    size_t *next)
{
	const char *lf = NULL;
	size_t at;

	if (pos < len)
		lf = memchr(buf + pos, '\n', len - pos);
	if (lf == NULL) {
		*content_len = len - pos;
		if (*content_len > 0 && buf[len - 1] == '\r')
			(*content_len)--;
		*next = len;
		return LINE_PARTIAL;
	}
	at = (size_t)(lf - buf);
	*next = at + 1;
	if (at == pos || buf[at - 1] != '\r') {
		*content_len = at - pos;
		return LINE_BARE_LF;
	}
	*content_len = at - 1 - pos;
	return LINE_COMPLETE;
}

/* ------------------------------------------------------------------ */
/* Start lines                                                         */

static const struct {
	const char *name;
	enum http_method method;
} methods[] = {
	{ "GET", HTTP_METHOD_GET },
	{ "HEAD", HTTP_METHOD_HEAD },
	{ "PUT", HTTP_METHOD_PUT },
	{ "POST", HTTP_METHOD_POST },
	{ "DELETE", HTTP_METHOD_DELETE },
	{ "OPTIONS", HTTP_METHOD_OPTIONS },
	{ "TRACE", HTTP_METHOD_TRACE },
	{ "CONNECT", HTTP_METHOD_CONNECT },
	{ "PATCH", HTTP_METHOD_PATCH },
};

/* Methods are case-sensitive (RFC 9110 9.1): "get" is an unknown method. */
static enum http_method
method_from_token(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strlen(methods[i].name) == n &&
		    memcmp(methods[i].name, p, n) == 0)
			return methods[i].method;
	}
	return HTTP_METHOD_OTHER;
}

/* "HTTP/" DIGIT "." DIGIT and nothing else (RFC 9112 2.3). */
static bool
parse_version(const char *p, size_t n, int *major, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) ||
	    p[6] != '.' || !is_digit(p[7]))
		return false;
	*major = p[5] - '0';
	*minor = p[7] - '0';
	return true;
}

/* method SP origin-form SP HTTP-version, CRLF already cut off. */
static enum fault
parse_request_line(const char *p, size_t n, struct start_line *sl)
{
	size_t i = 0, target_at;
	int major, minor;

	while (i < n && http_is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0)
		return p[0] == '\r' ? F_BARE_CR : F_BAD_METHOD;
	if (i > HTTP_MAX_METHOD)
		return F_METHOD_TOO_LONG;
	if (i == n)
		return F_BAD_REQUEST_LINE;	/* a lone token */
	if (p[i] != ' ')
		return p[i] == '\r' ? F_BARE_CR : F_BAD_REQUEST_LINE;
	sl->method_name.p = p;
	sl->method_name.len = i;
	sl->method = method_from_token(p, i);

	target_at = ++i;
	while (i < n && is_vchar((unsigned char)p[i]))
		i++;
	if (i == target_at)
		return F_BAD_REQUEST_LINE;	/* two spaces, or nothing */
	if (i < n && p[i] != ' ')
		return p[i] == '\r' ? F_BARE_CR : F_BAD_TARGET_BYTE;
	sl->target.p = p + target_at;
	sl->target.len = i - target_at;
	if (i == n)
		return F_NO_VERSION;	/* "GET /" is HTTP/0.9: not served */
	/* Only origin-form: "*" (OPTIONS), absolute-form (proxies) and
	 * authority-form (CONNECT) have no meaning for a file node. */
	if (p[target_at] != '/')
		return F_NOT_ORIGIN_FORM;

	i++;
	if (!parse_version(p + i, n - i, &major, &minor))
		return memchr(p + i, '\r', n - i) != NULL ? F_BARE_CR :
		    F_BAD_VERSION;
	if (major != 1 || minor > 1)
		return F_UNSUPPORTED_VERSION;
	sl->version_minor = minor;
	return F_NONE;
}

/*
 * HTTP-version SP 3DIGIT SP reason. The reason may be empty; "HTTP/1.1 200"
 * without the second SP is accepted too, as some servers send it and it is
 * not ambiguous.
 */
static enum fault
parse_status_line(const char *p, size_t n, struct start_line *sl)
{
	int major, minor;
	size_t i;

	if (n < 12 || !parse_version(p, 8, &major, &minor) || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || !is_digit(p[10]) || !is_digit(p[11]) ||
	    (n > 12 && p[12] != ' '))
		return memchr(p, '\r', n) != NULL ? F_BARE_CR :
		    F_BAD_STATUS_LINE;
	for (i = 13; i < n; i++) {
		if (!http_is_field_byte((unsigned char)p[i]))
			return p[i] == '\r' ? F_BARE_CR : F_BAD_STATUS_LINE;
	}
	if (major != 1 || minor > 1)
		return F_UNSUPPORTED_VERSION;
	sl->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	sl->reason.p = p + (n > 12 ? 13 : 12);
	sl->reason.len = n > 12 ? n - 13 : 0;
	sl->version_minor = minor;
	return F_NONE;
}

/* ------------------------------------------------------------------ */
/* Header lines                                                        */

/*
 * Whether every byte of p[0..n) is a field byte (http_is_field_byte). Eight
 * bytes at a time: a word with no byte below 0x20 and none equal to 0x7f
 * is all field bytes; only a word that has one (a tab, or a fault) is
 * looked at byte by byte. Header values are most of a head's bytes.
 */
static bool
all_field_bytes(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t w, x;
	size_t i = 0, k;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		x = w ^ (0x7f * ones);
		/* A byte below 0x20, or a zero byte of x (a 0x7f of w); bytes
		 * of 0x80 and above never set their high bit here. */
		if ((((w - 0x20 * ones) & ~w) | ((x - ones) & ~x)) & highs) {
			for (k = i; k < i + 8; k++)
				if (!http_is_field_byte((unsigned char)p[k]))
					return false;
		}
	}
	for (; i < n; i++)
		if (!http_is_field_byte((unsigned char)p[i]))
			return false;
	return true;
}

/*
 * Checks one non-empty header line (CRLF cut off) and splits it into name
 * and trimmed value: field-name ":" OWS field-value OWS (RFC 9112 5).
 */
static enum fault
split_header(const char *p, size_t n, struct http_header *h)
{
	size_t i = 0, j;
	unsigned char c;

	/* obs-fold, or a first header line that would continue the request
	 * line in a lenient parser. */
	if (p[0] == ' ' || p[0] == '\t')
		return F_FOLDED;
	while (i < n && http_is_tchar((unsigned char)p[i]))
		i++;
	if (i == n)
		return F_NO_COLON;
	if (p[i] != ':') {
		if (p[i] == ' ' || p[i] == '\t')
			return F_SPACE_IN_NAME;
		if (p[i] == '\r')
			return F_BARE_CR;
		return i == 0 ? F_EMPTY_NAME : F_BAD_NAME;
	}
	if (i == 0)
		return F_EMPTY_NAME;
	if (!all_field_bytes(p + i + 1, n - i - 1)) {
		for (j = i + 1; j < n; j++) {
			c = (unsigned char)p[j];
			if (!http_is_field_byte(c))
				return c == '\r' ? F_BARE_CR : F_BAD_VALUE;
		}
	}
	h->name.p = p;
	h->name.len = i;
	h->value = http_parse_trim(p + i + 1, n - i - 1);
	return F_NONE;
}

/* ------------------------------------------------------------------ */
/* Pass 1: lines, limits, syntax                                       */

/*
 * Which limit a line breaks, if any. A line's own limit (length, or the
 * number of lines) is first broken by the byte at `line_at` (SIZE_MAX when
 * it is not broken), the head's size by the byte at max_header_size, where
 * the line ends at `end`. When both are broken, the one broken at the
 * earlier byte is reported: a prefix of the head that breaks one limit
 * breaks that one first, so the answer never depends on how the bytes
 * were split. A tie goes to the head's size, the only limit a partial
 * line ending in a CR can be seen to break.
 */
static enum fault
first_limit(size_t line_at, enum fault line_fault, size_t end,
    const struct http_limits *lim)
{
	if (end > lim->max_header_size && line_at >= lim->max_header_size)
		return F_HEAD_TOO_LARGE;
	return line_at != SIZE_MAX ? line_fault : F_NONE;
}

static enum fault
scan_head(const char *buf, size_t len, const struct http_limits *lim,
    bool response, struct head_scan *hs)
{
	size_t pos = 0, n, next, end, nheaders, skipped = 0;
	size_t max_headers = lim->max_headers < HTTP_MAX_HEADERS ?
	    lim->max_headers : HTTP_MAX_HEADERS;
	enum line_kind kind;
	enum fault f;

	/* RFC 9112 2.2: a server should skip empty lines before a request
	 * line (some clients send a CRLF after a POST body). Responses get
	 * no such grace. */
	for (;;) {
		kind = next_line(buf, len, pos, &n, &next);
		if (response || kind != LINE_COMPLETE || n != 0)
			break;
		if (++skipped > HTTP_MAX_LEADING_EMPTY)
			return F_LEADING_EMPTY;
		pos = next;
	}

	/* Limits first, so that a partial line is judged as its whole would
	 * be: the result never depends on how the bytes were split. */
	end = kind == LINE_PARTIAL ? len : next;
	f = first_limit(n > lim->max_request_line ?
	    pos + lim->max_request_line : SIZE_MAX, F_START_LINE_TOO_LONG,
	    end, lim);
	if (f != F_NONE)
		return f;
	if (kind == LINE_PARTIAL)
		return F_MORE;
	if (kind == LINE_BARE_LF)
		return F_BARE_LF;
	memset(&hs->sl, 0, sizeof(hs->sl));
	f = response ? parse_status_line(buf + pos, n, &hs->sl) :
	    parse_request_line(buf + pos, n, &hs->sl);
	if (f != F_NONE)
		return f;
	pos = next;

	for (nheaders = 0;; nheaders++) {
		kind = next_line(buf, len, pos, &n, &next);
		end = kind == LINE_PARTIAL ? len : next;
		if (n > 0 && nheaders >= max_headers)
			f = first_limit(pos, F_TOO_MANY_HEADERS, end, lim);
		else
			f = first_limit(n > lim->max_header_line ?
			    pos + lim->max_header_line : SIZE_MAX,
			    F_HEADER_LINE_TOO_LONG, end, lim);
		if (f != F_NONE)
			return f;
		if (kind == LINE_PARTIAL)
			return F_MORE;
		if (kind == LINE_BARE_LF)
			return F_BARE_LF;
		if (n == 0) {
			hs->head_len = next;
			hs->nheaders = nheaders;
			return F_NONE;
		}
		/* Below max_headers here, which is at most HTTP_MAX_HEADERS. */
		f = split_header(buf + pos, n, &hs->headers[nheaders]);
		if (f != F_NONE)
			return f;
		pos = next;
	}
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */

static enum http_parse_result
parse_head(const char *buf, size_t len, const struct http_limits *lim,
    bool response, bool head_request, struct http_message *msg,
    size_t *head_len, struct http_error *err)
{
	struct head_scan hs;
	enum fault f;

	f = scan_head(buf, len, lim, response, &hs);
	if (f == F_MORE)
		return HTTP_PARSE_MORE;
	if (f == F_NONE)
		f = http_parse_fill_message(&hs, response, head_request, msg);
	if (f != F_NONE) {
		err->status = response ? 502 : fault_texts[f].status;
		err->reason = response ? fault_texts[f].response :
		    fault_texts[f].request;
		return HTTP_PARSE_ERROR;
	}
	*head_len = hs.head_len;
	return HTTP_PARSE_DONE;
}

void
http_message_clear(struct http_message *msg)
{
	/* Entries of headers[] past nheaders are never read: only the rest
	 * is cleared (the array is most of the message). */
	memset(msg, 0, offsetof(struct http_message, headers));
	memset((char *)msg + offsetof(struct http_message, nheaders), 0,
	    sizeof(*msg) - offsetof(struct http_message, nheaders));
}

enum http_parse_result
http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
    struct http_message *msg, size_t *head_len, struct http_error *err)
{
	return parse_head(buf, len, lim, false, false, msg, head_len, err);
}

enum http_parse_result
http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
    bool head_request, struct http_message *msg, size_t *head_len,
    struct http_error *err)
{
	return parse_head(buf, len, lim, true, head_request, msg, head_len,
	    err);
}
