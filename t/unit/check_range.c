/*
 * check_range.c - unit tests for src/range.c (the Range header).
 * Includes the .c file so the static number reader is covered too.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/range.c"
#include "check_main.h"

/* Parses a NUL-terminated value; first/last are poisoned beforehand so
 * a result other than RANGE_OK is seen not to write them. */
static enum range_result
parse(const char *v, uint64_t size, uint64_t *first, uint64_t *last)
{
	*first = *last = 0xdeadbeef;
	return range_parse(v, strlen(v), size, first, last);
}

static void
expect_ok(const char *v, uint64_t size, uint64_t want_first,
    uint64_t want_last)
{
	uint64_t first, last;

	ck_assert_msg(parse(v, size, &first, &last) == RANGE_OK,
	    "%s of %llu: not RANGE_OK", v, (unsigned long long)size);
	ck_assert_msg(first == want_first && last == want_last,
	    "%s of %llu: got %llu-%llu", v, (unsigned long long)size,
	    (unsigned long long)first, (unsigned long long)last);
}

static void
expect(const char *v, uint64_t size, enum range_result want)
{
	uint64_t first, last;
	enum range_result r = parse(v, size, &first, &last);

	ck_assert_msg(r == want, "%s of %llu: got %d, want %d", v,
	    (unsigned long long)size, (int)r, (int)want);
	ck_assert_msg(first == 0xdeadbeef && last == 0xdeadbeef,
	    "%s: outputs written on failure", v);
}

/* Values that give a range of a file of `size` bytes: first..last. */
static const struct {
	const char *v;
	uint64_t size, first, last;
} ranges[] = {
	/* The rows of BADINPUT.md "Ranges and conditions", a 1000-byte
	 * file. */
	{ "bytes=0-8", 1000, 0, 8 },
	{ "bytes=-10", 1000, 990, 999 },
	{ "bytes=990-1990", 1000, 990, 999 },
	/* Every form. */
	{ "bytes=0-0", 1000, 0, 0 },
	{ "bytes=0-999", 1000, 0, 999 },
	{ "bytes=999-999", 1000, 999, 999 },
	{ "bytes=0-", 1000, 0, 999 },
	{ "bytes=500-", 1000, 500, 999 },
	{ "bytes=999-", 1000, 999, 999 },
	{ "bytes=-1", 1000, 999, 999 },
	{ "bytes=-1000", 1000, 0, 999 },
	{ "bytes=007-010", 1000, 7, 10 },	/* leading zeros */
	{ "bytes=1-1", 2, 1, 1 },
	/* The unit in any case. */
	{ "BYTES=0-1", 10, 0, 1 },
	{ "Bytes=-3", 10, 7, 9 },
	{ "bYtEs=4-", 10, 4, 9 },
	/* Clipped to the file. */
	{ "bytes=0-1000", 1000, 0, 999 },
	{ "bytes=5-18446744073709551615", 1000, 5, 999 },
	/* A suffix longer than the file is the whole file. */
	{ "bytes=-10", 5, 0, 4 },
	{ "bytes=-18446744073709551615", 5, 0, 4 },
	/* A file of 2^64 - 1 bytes. */
	{ "bytes=-1", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1 },
	{ "bytes=0-", UINT64_MAX, 0, UINT64_MAX - 1 },
	{ "bytes=18446744073709551614-", UINT64_MAX,
	    UINT64_MAX - 1, UINT64_MAX - 1 },
};

/* Values that give no range of a file of `size` bytes: `want` says why. */
static const struct {
	const char *v;
	uint64_t size;
	enum range_result want;
} refusals[] = {
	/* BADINPUT.md: past the end of a 1000-byte file. */
	{ "bytes=100000-", 1000, RANGE_UNSATISFIABLE },
	/* Unsatisfiable. */
	{ "bytes=1000-", 1000, RANGE_UNSATISFIABLE },
	{ "bytes=1000-1000", 1000, RANGE_UNSATISFIABLE },
	{ "bytes=1000-2000", 1000, RANGE_UNSATISFIABLE },
	{ "bytes=-0", 1000, RANGE_UNSATISFIABLE },
	{ "bytes=-000", 1000, RANGE_UNSATISFIABLE },
	/* A huge first byte that still fits in 64 bits is a valid range. */
	{ "bytes=18446744073709551615-", 1000, RANGE_UNSATISFIABLE },
	{ "bytes=18446744073709551615-18446744073709551615", 1000,
	    RANGE_UNSATISFIABLE },
	/* An empty file. */
	{ "bytes=0-", 0, RANGE_UNSATISFIABLE },
	{ "bytes=0-0", 0, RANGE_UNSATISFIABLE },
	{ "bytes=0-99", 0, RANGE_UNSATISFIABLE },
	{ "bytes=-5", 0, RANGE_UNSATISFIABLE },
	{ "bytes=-0", 0, RANGE_UNSATISFIABLE },
	/* Still invalid before it is unsatisfiable. */
	{ "bytes=5-3", 0, RANGE_NONE },
	{ "bytes=x", 0, RANGE_NONE },
	/* Invalid: the header is ignored. */
	{ "", 1000, RANGE_NONE },
	{ "b", 1000, RANGE_NONE },
	{ "bytes", 1000, RANGE_NONE },
	{ "bytes=", 1000, RANGE_NONE },
	{ "bytes=-", 1000, RANGE_NONE },
	{ "bytes=--5", 1000, RANGE_NONE },
	{ "bytes=5--6", 1000, RANGE_NONE },
	{ "bytes=-5-", 1000, RANGE_NONE },
	{ "bytes=a-b", 1000, RANGE_NONE },
	{ "bytes=1-b", 1000, RANGE_NONE },
	{ "bytes=0x10-", 1000, RANGE_NONE },
	{ "bytes=+1-2", 1000, RANGE_NONE },
	{ "bytes=1-+2", 1000, RANGE_NONE },
	{ "bytes=-+2", 1000, RANGE_NONE },
	{ "bytes=1", 1000, RANGE_NONE },
	{ "bytes=1-2x", 1000, RANGE_NONE },
	{ "bytes=1.5-2", 1000, RANGE_NONE },
	{ "bytes==1-2", 1000, RANGE_NONE },
	{ "bytes 1-2", 1000, RANGE_NONE },
	{ "bytes:1-2", 1000, RANGE_NONE },
	{ "bytes =1-2", 1000, RANGE_NONE },
	{ "bytes= 1-2", 1000, RANGE_NONE },
	{ "bytes=1 -2", 1000, RANGE_NONE },
	{ "bytes=1- 2", 1000, RANGE_NONE },
	{ "bytes=1-2 ", 1000, RANGE_NONE },
	{ " bytes=1-2", 1000, RANGE_NONE },
	{ "bytes=\t1-2", 1000, RANGE_NONE },
	{ "byte=1-2", 1000, RANGE_NONE },
	{ "bytesx=1-2", 1000, RANGE_NONE },
	{ "items=1-2", 1000, RANGE_NONE },
	{ "none", 1000, RANGE_NONE },
	{ "bytes=5-4", 1000, RANGE_NONE },	/* last before first */
	{ "bytes=1000-999", 1000, RANGE_NONE },
	{ "bytes=0-1,5-6", 1000, RANGE_NONE },	/* several ranges */
	{ "bytes=0-1, 5-6", 1000, RANGE_NONE },
	{ "bytes=-5,0-1", 1000, RANGE_NONE },
	{ "bytes=0-,", 1000, RANGE_NONE },
	{ "bytes=,0-1", 1000, RANGE_NONE },
	{ "bytes=0-1,", 1000, RANGE_NONE },
	/* 2^64 and beyond do not parse: the header is ignored. */
	{ "bytes=18446744073709551616-", 1000, RANGE_NONE },
	{ "bytes=0-18446744073709551616", 1000, RANGE_NONE },
	{ "bytes=-18446744073709551616", 1000, RANGE_NONE },
	{ "bytes=99999999999999999999999999-", 1000, RANGE_NONE },
	{ "bytes=1-99999999999999999999999999", 1000, RANGE_NONE },
	/* A file of 2^64 - 1 bytes. */
	{ "bytes=18446744073709551615-", UINT64_MAX, RANGE_UNSATISFIABLE },
};

START_TEST(range_rows)
{
	expect_ok(ranges[_i].v, ranges[_i].size, ranges[_i].first,
	    ranges[_i].last);
}
END_TEST

START_TEST(refusal_rows)
{
	expect(refusals[_i].v, refusals[_i].size, refusals[_i].want);
}
END_TEST

START_TEST(length_bounds)
{
	uint64_t first, last;
	/* Only the first len bytes count: what follows is not read. */
	const char v[] = "bytes=0-8,9-10";

	ck_assert_int_eq(range_parse(v, 9, 1000, &first, &last), RANGE_OK);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(last, 8);
	ck_assert_int_eq(range_parse(v, 6, 1000, &first, &last), RANGE_NONE);
	ck_assert_int_eq(range_parse(v, 0, 1000, &first, &last), RANGE_NONE);

	/* A NUL inside the value is just a bad byte. */
	ck_assert_int_eq(range_parse("bytes=0\0-8", 10, 1000, &first, &last),
	    RANGE_NONE);
}
END_TEST

START_TEST(number_reader)
{
	const char s[] = "123x";
	const char *p = s;
	uint64_t n = 7;

	ck_assert(range_number(&p, s + 4, &n));
	ck_assert_uint_eq(n, 123);
	ck_assert_ptr_eq(p, s + 3);
	ck_assert(!range_number(&p, s + 4, &n));	/* at "x" */
	ck_assert_ptr_eq(p, s + 3);
	ck_assert(!range_number(&p, p, &n));		/* empty */
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("parse", NULL, NULL,
	    CHECK_MAIN_TESTS(length_bounds, number_reader));

	CHECK_MAIN_ROWS(tc, range_rows, ranges);
	CHECK_MAIN_ROWS(tc, refusal_rows, refusals);
	return check_main_run();
}
