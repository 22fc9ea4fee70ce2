/*
 * http_chunked.c - the decoder of the chunked transfer coding (RFC 9112
 * 7.1), for upload bodies from clients and bodies from peers (see
 * include/http/http.h for the contract and shared/BADINPUT.md for the
 * cases).
 *
 * Runs in whichever thread calls it. All state is in the caller's struct
 * http_chunked, so there is no lock. The decoder takes bytes in any split
 * and gives the same data and result whatever the split (the unit tests
 * and the fuzzer check this).
 */
#include "http/http.h"

#include <string.h>

#define CHUNK_MAX_LINE		4096	/* a size line with its extensions */
#define CHUNK_MAX_TRAILERS	8192	/* all trailer lines, final CRLF too */

enum chunk_state {
	CH_SIZE,		/* hex digits; line_len counts them */
	CH_EXT,			/* ";ext..." skipped up to the CR */
	CH_SIZE_LF,		/* the LF ending the size line */
	CH_DATA,		/* `remaining` bytes of data */
	CH_DATA_CR,		/* the CRLF after the data */
	CH_DATA_LF,
	CH_TRAILER_NAME,	/* a trailer line's name, or the final CR */
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,		/* the LF of the final CRLF */
	CH_DONE,
	CH_ERROR,
};

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

/*
 * One byte outside the data; returns the next state (CH_ERROR on a fault).
 * Size lines and trailers are small, so byte-at-a-time is fine here; data
 * is moved in bulk by the caller.
 */
static int
chunk_byte(struct http_chunked *c, unsigned char ch)
{
	int v;

	switch (c->state) {
	case CH_SIZE:
		v = http_hex_digit(ch);
		if (v >= 0) {
			/* 16 digits cannot overflow a uint64_t; the value
			 * must stay below 2^63 so it fits an off_t. */
			if (++c->line_len > 16)
				return CH_ERROR;
			c->remaining = (c->remaining << 4) | (uint64_t)v;
			if (c->remaining > (uint64_t)INT64_MAX)
				return CH_ERROR;
			return CH_SIZE;
		}
		if (c->line_len == 0)
			return CH_ERROR;	/* "", " 5", "0x5"... */
		if (ch == ';') {
			c->line_len++;
			return CH_EXT;
		}
		return ch == '\r' ? CH_SIZE_LF : CH_ERROR;
	case CH_EXT:
		if (ch == '\r')
			return CH_SIZE_LF;
		if (!http_is_field_byte(ch) || ++c->line_len > CHUNK_MAX_LINE)
			return CH_ERROR;
		return CH_EXT;
	case CH_SIZE_LF:
		if (ch != '\n')
			return CH_ERROR;
		c->line_len = 0;
		return c->remaining == 0 ? CH_TRAILER_NAME : CH_DATA;
	case CH_DATA_CR:
		return ch == '\r' ? CH_DATA_LF : CH_ERROR;
	case CH_DATA_LF:
		return ch == '\n' ? CH_SIZE : CH_ERROR;
	}

	/* Trailers: header-like lines, checked, bounded and dropped. */
	if (++c->trailer_bytes > CHUNK_MAX_TRAILERS)
		return CH_ERROR;
	switch (c->state) {
	case CH_TRAILER_NAME:
		if (ch == '\r' && c->line_len == 0)
			return CH_END_LF;
		if (ch == ':' && c->line_len > 0)
			return CH_TRAILER_VALUE;
		if (!http_is_tchar(ch))
			return CH_ERROR;
		c->line_len++;
		return CH_TRAILER_NAME;
	case CH_TRAILER_VALUE:
		if (ch == '\r')
			return CH_TRAILER_LF;
		return http_is_field_byte(ch) ? CH_TRAILER_VALUE : CH_ERROR;
	case CH_TRAILER_LF:
		c->line_len = 0;
		return ch == '\n' ? CH_TRAILER_NAME : CH_ERROR;
	case CH_END_LF:
		return ch == '\n' ? CH_DONE : CH_ERROR;
	default:
		return CH_ERROR;	/* a corrupt state */
	}
}

enum http_chunked_result
http_chunked_decode(struct http_chunked *c, char *buf, size_t len,
    size_t *consumed, size_t *data_len)
{
	size_t i = 0, out = 0, n;

	*consumed = 0;
	*data_len = 0;
	if (c->state == CH_DONE)
		return HTTP_CHUNKED_DONE;
	while (i < len && c->state != CH_DONE && c->state != CH_ERROR) {
		if (c->state == CH_DATA) {
			n = len - i;
			if ((uint64_t)n > c->remaining)
				n = (size_t)c->remaining;
			if (out != i)
				memmove(buf + out, buf + i, n);
			out += n;
			i += n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		c->state = chunk_byte(c, (unsigned char)buf[i]);
		i++;
	}
	*consumed = i;
	*data_len = out;
	if (c->state == CH_ERROR)
		return HTTP_CHUNKED_ERROR;
	if (c->state == CH_DONE)
		return HTTP_CHUNKED_DONE;
	return HTTP_CHUNKED_MORE;
}
