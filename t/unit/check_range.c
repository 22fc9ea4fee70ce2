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

/* The rows of BADINPUT.md "Ranges and conditions", a 1000-byte file. */
START_TEST(badinput_rows)
{
	expect_ok("bytes=0-8", 1000, 0, 8);
	expect_ok("bytes=-10", 1000, 990, 999);
	expect_ok("bytes=990-1990", 1000, 990, 999);
	expect("bytes=100000-", 1000, RANGE_UNSATISFIABLE);
}
END_TEST

START_TEST(valid_forms)
{
	expect_ok("bytes=0-0", 1000, 0, 0);
	expect_ok("bytes=0-999", 1000, 0, 999);
	expect_ok("bytes=999-999", 1000, 999, 999);
	expect_ok("bytes=0-", 1000, 0, 999);
	expect_ok("bytes=500-", 1000, 500, 999);
	expect_ok("bytes=999-", 1000, 999, 999);
	expect_ok("bytes=-1", 1000, 999, 999);
	expect_ok("bytes=-1000", 1000, 0, 999);
	expect_ok("bytes=007-010", 1000, 7, 10);	/* leading zeros */
	expect_ok("bytes=1-1", 2, 1, 1);
}
END_TEST

START_TEST(unit_case_insensitive)
{
	expect_ok("BYTES=0-1", 10, 0, 1);
	expect_ok("Bytes=-3", 10, 7, 9);
	expect_ok("bYtEs=4-", 10, 4, 9);
}
END_TEST

START_TEST(clipping)
{
	expect_ok("bytes=0-1000", 1000, 0, 999);
	expect_ok("bytes=5-18446744073709551615", 1000, 5, 999);
	/* A suffix longer than the file is the whole file. */
	expect_ok("bytes=-10", 5, 0, 4);
	expect_ok("bytes=-18446744073709551615", 5, 0, 4);
}
END_TEST

START_TEST(unsatisfiable)
{
	expect("bytes=1000-", 1000, RANGE_UNSATISFIABLE);
	expect("bytes=1000-1000", 1000, RANGE_UNSATISFIABLE);
	expect("bytes=1000-2000", 1000, RANGE_UNSATISFIABLE);
	expect("bytes=-0", 1000, RANGE_UNSATISFIABLE);
	expect("bytes=-000", 1000, RANGE_UNSATISFIABLE);
	/* A huge first byte that still fits in 64 bits is a valid range. */
	expect("bytes=18446744073709551615-", 1000, RANGE_UNSATISFIABLE);
	expect("bytes=18446744073709551615-18446744073709551615", 1000,
	    RANGE_UNSATISFIABLE);
}
END_TEST

START_TEST(empty_file)
{
	expect("bytes=0-", 0, RANGE_UNSATISFIABLE);
	expect("bytes=0-0", 0, RANGE_UNSATISFIABLE);
	expect("bytes=0-99", 0, RANGE_UNSATISFIABLE);
	expect("bytes=-5", 0, RANGE_UNSATISFIABLE);
	expect("bytes=-0", 0, RANGE_UNSATISFIABLE);
	/* Still invalid before it is unsatisfiable. */
	expect("bytes=5-3", 0, RANGE_NONE);
	expect("bytes=x", 0, RANGE_NONE);
}
END_TEST

START_TEST(invalid_syntax)
{
	static const char *const bad[] = {
		"",
		"b",
		"bytes",
		"bytes=",
		"bytes=-",
		"bytes=--5",
		"bytes=5--6",
		"bytes=-5-",
		"bytes=a-b",
		"bytes=1-b",
		"bytes=0x10-",
		"bytes=+1-2",
		"bytes=1-+2",
		"bytes=-+2",
		"bytes=1",
		"bytes=1-2x",
		"bytes=1.5-2",
		"bytes==1-2",
		"bytes 1-2",
		"bytes:1-2",
		"bytes =1-2",
		"bytes= 1-2",
		"bytes=1 -2",
		"bytes=1- 2",
		"bytes=1-2 ",
		" bytes=1-2",
		"bytes=\t1-2",
		"byte=1-2",
		"bytesx=1-2",
		"items=1-2",
		"none",
		"bytes=5-4",			/* last before first */
		"bytes=1000-999",
		"bytes=0-1,5-6",		/* several ranges */
		"bytes=0-1, 5-6",
		"bytes=-5,0-1",
		"bytes=0-,",
		"bytes=,0-1",
		"bytes=0-1,",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(bad[i], 1000, RANGE_NONE);
}
END_TEST

START_TEST(overflow)
{
	/* 2^64 and beyond do not parse: the header is ignored. */
	expect("bytes=18446744073709551616-", 1000, RANGE_NONE);
	expect("bytes=0-18446744073709551616", 1000, RANGE_NONE);
	expect("bytes=-18446744073709551616", 1000, RANGE_NONE);
	expect("bytes=99999999999999999999999999-", 1000, RANGE_NONE);
	expect("bytes=1-99999999999999999999999999", 1000, RANGE_NONE);
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

START_TEST(huge_file)
{
	expect_ok("bytes=-1", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1);
	expect_ok("bytes=0-", UINT64_MAX, 0, UINT64_MAX - 1);
	expect_ok("bytes=18446744073709551614-", UINT64_MAX,
	    UINT64_MAX - 1, UINT64_MAX - 1);
	expect("bytes=18446744073709551615-", UINT64_MAX,
	    RANGE_UNSATISFIABLE);
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
	check_main_tcase("parse", NULL, NULL, CHECK_MAIN_TESTS(badinput_rows,
	    valid_forms, unit_case_insensitive, clipping, unsatisfiable,
	    empty_file, invalid_syntax, overflow, length_bounds, huge_file,
	    number_reader));
	return check_main_run();
}
