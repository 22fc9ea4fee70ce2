/*
 * check_http_chunked.c - unit tests for src/http/http_chunked.c, the
 * decoder of the chunked transfer coding: whole and split input, decoding
 * in place, the bounds on sizes, extensions and trailers, and every
 * malformed body of shared/BADINPUT.md that the decoder decides.
 *
 * Includes http_chunked.c, like the other suites include their module;
 * runs single-threaded, one forked process per test (Check's fork mode),
 * so a crash is a failure.
 */
#include "http/http_chunked.c"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "check_main.h"

/* A byte string that may hold NULs. */
struct bytes {
	const char *p;
	size_t len;
};
#define B(s)	{ s, sizeof(s) - 1 }

/* Decodes s in the given number of pieces cut at cuts[]; returns the last
 * result, and the data and total bytes consumed. */
static enum http_chunked_result
decode_split(const char *s, size_t n, const size_t *cuts, size_t ncuts,
    char *data, size_t *data_total, size_t *consumed_total)
{
	struct http_chunked c;
	enum http_chunked_result r = HTTP_CHUNKED_MORE;
	char *work = malloc(n + 1);
	size_t from = 0, to, i, used, got;

	ck_assert_ptr_nonnull(work);
	memcpy(work, s, n);
	http_chunked_init(&c);
	*data_total = 0;
	*consumed_total = 0;
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : n;
		r = http_chunked_decode(&c, work + from, to - from, &used, &got);
		ck_assert_uint_le(got, to - from);
		memcpy(data + *data_total, work + from, got);
		*data_total += got;
		*consumed_total += used;
		if (r != HTTP_CHUNKED_MORE)
			break;
		ck_assert_uint_eq(used, to - from);
		from = to;
	}
	free(work);
	return r;
}

static enum http_chunked_result
decode_all(const char *s, size_t n, char *data, size_t *data_len,
    size_t *consumed)
{
	return decode_split(s, n, NULL, 0, data, data_len, consumed);
}

/* Bodies decoded whole: the data each carries, and what follows it (the
 * next message, not taken). */
static const struct {
	const char *in;
	const char *data;
	const char *rest;
} good_chunked[] = {
	{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", "" },
	{ "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc",
	    "GET / HTTP/1.1\r\n" },
	/* extensions and trailers */
	{ "5;name=value;x=\"q s\"\r\nhello\r\nA;e\r\n0123456789"
	    "\r\n0;last\r\nX-Trailer: a\r\nChecksum:\r\n\r\n",
	    "hello0123456789", "" },
	/* sizes in either case, with leading zeros */
	{ "a\r\n0123456789\r\nB\r\n0123456789A\r\n"
	    "000000000000000F\r\n0123456789ABCDE\r\n0\r\n\r\n",
	    "01234567890123456789A0123456789ABCDE", "" },
};

START_TEST(test_chunked_good)
{
	const char *s = good_chunked[_i].in, *want = good_chunked[_i].data;
	char data[64];
	size_t dl, used;

	ck_assert_int_eq(decode_all(s, strlen(s), data, &dl, &used),
	    HTTP_CHUNKED_DONE);
	ck_assert_uint_eq(dl, strlen(want));
	ck_assert_mem_eq(data, want, dl);
	ck_assert_str_eq(s + used, good_chunked[_i].rest);
}
END_TEST

/* The decoder of the tests that decode in place, and what its last call
 * said: the bytes it took, and the data it left at the start of them. */
static struct http_chunked dec;
static size_t dec_used, dec_data;

/* Feeds buf[0..len) to dec, to decode in place. */
static enum http_chunked_result
decode_more(char *buf, size_t len)
{
	return http_chunked_decode(&dec, buf, len, &dec_used, &dec_data);
}

/* The same with a new decoder. */
static enum http_chunked_result
decode_fresh(char *buf, size_t len)
{
	http_chunked_init(&dec);
	return decode_more(buf, len);
}

/* The data of the last call is `want`, at the start of buf. */
static void
expect_data(const char *buf, const char *want)
{
	ck_assert_uint_eq(dec_data, strlen(want));
	ck_assert_mem_eq(buf, want, dec_data);
}

START_TEST(test_chunked_in_place)
{
	char buf[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

	ck_assert_int_eq(decode_fresh(buf, strlen(buf)), HTTP_CHUNKED_DONE);
	expect_data(buf, "abcde");
	ck_assert_uint_eq(dec_used,
	    strlen("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
	/* once done, it stays done and takes nothing */
	ck_assert_int_eq(decode_more(buf, 3), HTTP_CHUNKED_DONE);
	ck_assert_uint_eq(dec_used, 0);
	ck_assert_uint_eq(dec_data, 0);
}
END_TEST

/* A huge chunk: below 2^63 is fine, data flows. */
START_TEST(test_chunked_big_size)
{
	char buf[] = "7FFFFFFFFFFFFFFF\r\nabcdef";

	ck_assert_int_eq(decode_fresh(buf, strlen(buf)), HTTP_CHUNKED_MORE);
	expect_data(buf, "abcdef");
	ck_assert_uint_eq(dec.remaining, (uint64_t)INT64_MAX - 6);
}
END_TEST

/* Every split of the body into two and three pieces, and byte by byte,
 * gives the same data and the same end. */
START_TEST(test_chunked_every_split)
{
	const char *s = "4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks."
	    "\r\n0\r\nT: v\r\n\r\nNEXT";
	size_t n = strlen(s), a, b, dl, used, cuts[2];
	size_t *each;
	char data[128];
	const char *want = "Wikipedia in\r\n\r\nchunks.";

	for (a = 0; a <= n; a++) {
		cuts[0] = a;
		ck_assert_int_eq(decode_split(s, n, cuts, 1, data, &dl, &used),
		    HTTP_CHUNKED_DONE);
		ck_assert_uint_eq(dl, strlen(want));
		ck_assert_mem_eq(data, want, dl);
		ck_assert_uint_eq(used, n - 4);
		for (b = a; b <= n; b++) {
			cuts[1] = b;
			ck_assert_int_eq(decode_split(s, n, cuts, 2, data, &dl,
			    &used), HTTP_CHUNKED_DONE);
			ck_assert_uint_eq(dl, strlen(want));
			ck_assert_mem_eq(data, want, dl);
			ck_assert_uint_eq(used, n - 4);
		}
	}
	each = malloc(n * sizeof(*each));
	ck_assert_ptr_nonnull(each);
	for (a = 0; a < n; a++)
		each[a] = a + 1;
	ck_assert_int_eq(decode_split(s, n, each, n - 1, data, &dl, &used),
	    HTTP_CHUNKED_DONE);
	ck_assert_mem_eq(data, want, dl);
	ck_assert_uint_eq(used, n - 4);
	free(each);
}
END_TEST

static const struct bytes bad_chunked[] = {
	B("FFFFFFFFFFFFFFED\r\n"),
	B("8000000000000000\r\n"),
	B("00000000000000001\r\n"),	/* 17 digits */
	B("Z\r\n"),
	B("\r\n"),
	B(" 5\r\nhello\r\n0\r\n\r\n"),
	B("5 \r\nhello\r\n0\r\n\r\n"),
	B("5\t\r\nhello\r\n0\r\n\r\n"),
	B("0x5\r\nhello\r\n0\r\n\r\n"),
	B("+5\r\nhello\r\n0\r\n\r\n"),
	B("-5\r\nhello\r\n0\r\n\r\n"),
	B("5\nhello\r\n0\r\n\r\n"),
	B("5\rhello\r\n0\r\n\r\n"),
	B("5;x\nhello\r\n0\r\n\r\n"),
	B("5;x\x01\r\nhello\r\n0\r\n\r\n"),
	B("5;x\x00\r\nhello\r\n0\r\n\r\n"),
	B("4\r\nSEE-THIS\r\n0\r\n\r\n"),
	B("5\r\nhello\n0\r\n\r\n"),
	B("5\r\nhello\r0\r\n\r\n"),
	B("5\r\nhelloX\r\n0\r\n\r\n"),
	B("5\r\nhelloX\n0\r\n\r\n"),	/* only the CR is wrong */
	B("5\r\nhello\n\n0\r\n\r\n"),
	B("5\r\nhello\r\r0\r\n\r\n"),
	B("5\rXhello\r\n0\r\n\r\n"),
	B("0\r\nX: a\rX\r\n"),
	B("0\r\n\rX"),
	B("0\r\n\n"),
	B("0\r\n\rX"),
	B("0\r\nX: a\n\r\n"),
	B("0\r\nX: a\rb\r\n\r\n"),
	B("0\r\nX a\r\n\r\n"),
	B("0\r\n: a\r\n\r\n"),
	B("0\r\n a: b\r\n\r\n"),
	B("0\r\nX: \x01\r\n\r\n"),
	B("0\r\nNoColon\r\n\r\n"),
	B("0\r\n\r\r\n"),
	B(";x\r\n"),
	B("G\r\n"),
};

START_TEST(test_chunked_bad)
{
	const struct bytes *in = &bad_chunked[_i];
	char data[64];
	size_t dl, used, a, cuts[1];

	ck_assert_msg(decode_all(in->p, in->len, data, &dl, &used) ==
	    HTTP_CHUNKED_ERROR, "row %d accepted", _i);
	/* however it is split */
	for (a = 0; a <= in->len; a++) {
		cuts[0] = a;
		ck_assert_int_eq(decode_split(in->p, in->len, cuts, 1, data, &dl,
		    &used), HTTP_CHUNKED_ERROR);
	}
}
END_TEST

START_TEST(test_chunked_error_sticks)
{
	char buf[] = "Z\r\n0\r\n\r\n";

	ck_assert_int_eq(decode_fresh(buf, strlen(buf)), HTTP_CHUNKED_ERROR);
	memcpy(buf, "0\r\n\r\n", 5);
	ck_assert_int_eq(decode_more(buf, 5), HTTP_CHUNKED_ERROR);
	ck_assert_uint_eq(dec_data, 0);
}
END_TEST

/* A chunk of one byte whose size line ("1;eee...") is `line` bytes long,
 * then the last chunk, in buf; returns the body's length. */
static size_t
long_size_line(char *buf, size_t line)
{
	buf[0] = '1';
	buf[1] = ';';
	memset(buf + 2, 'e', line - 2);
	memcpy(buf + line, "\r\nx\r\n0\r\n\r\n", 10);
	return line + 10;
}

/* The last chunk with one trailer "X: vvv..." that ends at byte n, then
 * the final CRLF, in buf; returns the body's length. The trailers start
 * after "0\r\n": they are n - 3 + 4 bytes. */
static size_t
long_trailers(char *buf, size_t n)
{
	memcpy(buf, "0\r\nX: ", 6);
	memset(buf + 6, 'v', n - 6);
	memcpy(buf + n, "\r\n\r\n", 4);
	return n + 4;
}

START_TEST(test_chunked_bounds)
{
	static char buf[3 * 8192];
	size_t len;

	/* a size line of 4 KiB is fine, a byte more is not */
	len = long_size_line(buf, 4096);
	ck_assert_int_eq(decode_fresh(buf, len), HTTP_CHUNKED_DONE);
	ck_assert_uint_eq(dec_data, 1);
	len = long_size_line(buf, 4097);
	ck_assert_int_eq(decode_fresh(buf, len), HTTP_CHUNKED_ERROR);

	/* trailers: 8 KiB in all, the final CRLF included */
	len = long_trailers(buf, 8191);
	ck_assert_int_eq(decode_fresh(buf, len), HTTP_CHUNKED_DONE);
	ck_assert_uint_eq(dec_used, len);
	len = long_trailers(buf, 8192);
	ck_assert_int_eq(decode_fresh(buf, len), HTTP_CHUNKED_ERROR);
}
END_TEST

START_TEST(test_chunked_empty_input)
{
	dec_used = dec_data = 9;
	ck_assert_int_eq(decode_fresh(NULL, 0), HTTP_CHUNKED_MORE);
	ck_assert_uint_eq(dec_used, 0);
	ck_assert_uint_eq(dec_data, 0);
}
END_TEST

/* ------------------------------------------------------------------ */

int
main(void)
{
	TCase *tc = check_main_tcase("chunked", NULL, NULL,
	    CHECK_MAIN_TESTS(test_chunked_in_place, test_chunked_big_size,
	    test_chunked_every_split, test_chunked_error_sticks,
	    test_chunked_bounds, test_chunked_empty_input));

	CHECK_MAIN_ROWS(tc, test_chunked_good, good_chunked);
	CHECK_MAIN_ROWS(tc, test_chunked_bad, bad_chunked);
	return check_main_run();
}
