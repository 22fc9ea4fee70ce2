/*
 * check_condition.c - unit tests for src/http/condition.c: ETags and the
 * conditional headers (If-None-Match, If-Modified-Since, If-Range). The
 * HTTP dates it parses through httpdate.c have their own suite,
 * check_httpdate.c.
 * Includes condition.c, so the static helpers can be tested; httpdate.c
 * comes from the library.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/condition.c"
#include "check_main.h"

/* condition_etag_format */

/* Sixteen zeros: the high half of the small digests below. */
#define Z16 "0000000000000000"

START_TEST(etag_format)
{
	char out[CONDITION_ETAG_LEN + 1];

	ck_assert_int_eq(CONDITION_ETAG_LEN, 34);
	condition_etag_format(&(struct digest){ 0, 0 }, out);
	ck_assert_str_eq(out, "\"" Z16 Z16 "\"");
	condition_etag_format(&(struct digest){ 0x0123456789abcdefULL,
	    0xfedcba9876543210ULL }, out);
	ck_assert_str_eq(out, "\"0123456789abcdeffedcba9876543210\"");
	condition_etag_format(&(struct digest){ UINT64_MAX, UINT64_MAX },
	    out);
	ck_assert_str_eq(out, "\"ffffffffffffffffffffffffffffffff\"");
	condition_etag_format(&(struct digest){ 0xa5, 0 }, out);
	ck_assert_str_eq(out, "\"00000000000000a5" Z16 "\"");
	ck_assert_uint_eq(strlen(out), CONDITION_ETAG_LEN);
	condition_etag_format(&(struct digest){ 0, 0xa5 }, out);
	ck_assert_str_eq(out, "\"" Z16 "00000000000000a5\"");
}
END_TEST

/* condition_none_match */

static bool
none_match(const char *v, const char *etag)
{
	return condition_none_match(v, strlen(v), etag);
}

START_TEST(none_match_single)
{
	char etag[CONDITION_ETAG_LEN + 1];

	condition_etag_format(&(struct digest){ 0, 0x1234 }, etag);
	ck_assert(none_match("\"" Z16 "0000000000001234\"", etag));
	/* Weak comparison. */
	ck_assert(none_match("W/\"" Z16 "0000000000001234\"", etag));
	/* The 64-bit ETags of before name no version now. */
	ck_assert(!none_match("\"0000000000001234\"", etag));
	ck_assert(!none_match("\"" Z16 "0000000000001235\"", etag));
	ck_assert(!none_match("\"" Z16 "000000000000123\"", etag));
	ck_assert(!none_match("\"" Z16 "00000000000012345\"", etag));
	ck_assert(none_match("\"\"", "\"\""));		/* empty opaque tag */
	ck_assert(!none_match("\"\"", "\"a\""));
}
END_TEST

START_TEST(none_match_list)
{
	ck_assert(none_match("\"a\", W/\"b\"", "\"a\""));
	ck_assert(none_match("\"a\", W/\"b\"", "\"b\""));
	ck_assert(!none_match("\"a\", W/\"b\"", "\"c\""));
	ck_assert(none_match("\"a\",\"b\",\"c\"", "\"c\""));
	ck_assert(none_match(" \t\"x\" ,\t\"a\" ", "\"a\""));
	/* Empty list elements are skipped, as RFC 9110 5.6.1.2 asks. */
	ck_assert(none_match("\"x\", , \"a\"", "\"a\""));
	ck_assert(none_match(",,\"a\",,", "\"a\""));
	/* Our own tag weak: weak comparison ignores W/ on both sides. */
	ck_assert(none_match("\"a\"", "W/\"a\""));
	ck_assert(none_match("W/\"a\"", "W/\"a\""));
	/* The edges of etagc: '!' and '~'. */
	ck_assert(none_match("\"!~\"", "\"!~\""));
	/* A tag of ours that starts with W but is not weak. */
	ck_assert(!none_match("\"a\"", "W\"a\""));
	/* obs-text inside a tag. */
	ck_assert(none_match("\"\xc3\xa9\"", "\"\xc3\xa9\""));
}
END_TEST

START_TEST(none_match_star)
{
	ck_assert(none_match("*", "\"a\""));
	ck_assert(none_match(" *\t", "\"a\""));
	/* "*" is only valid as the whole field. */
	ck_assert(!none_match("*, \"a\"", "\"a\""));
	ck_assert(!none_match("\"a\", *", "\"a\""));
	ck_assert(!none_match("**", "\"a\""));
	ck_assert(!none_match("\"*\"", "\"a\""));
}
END_TEST

START_TEST(none_match_malformed)
{
	static const char *const bad[] = {
		"",
		" ",
		",",
		" , ,",
		"a",
		"\"a",
		"a\"",
		"\"a\"\"b\"",
		"\"a\" \"b\"",
		"\"a\" x",
		"\"a\", b",		/* "a" matches, but the list is bad */
		"\"a\", \"b",
		"w/\"a\"",
		"W\"a\"",
		"W/ \"a\"",
		"W/",
		"W/W/\"a\"",
		"\"a b\"",
		"\"a\tb\"",
		"\"a\x7f\"",
		"\"a\";",
		"\"a\";\"b\"",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!none_match(bad[i], "\"a\""), "\"%s\" matched",
		    bad[i]);
}
END_TEST

START_TEST(none_match_length)
{
	/* Only len bytes are read; an embedded NUL is a bad byte. */
	ck_assert(condition_none_match("\"a\", junk", 3, "\"a\""));
	ck_assert(!condition_none_match("\"a\"", 2, "\"a\""));
	ck_assert(!condition_none_match("\"a\0\"", 4, "\"a\""));
	ck_assert(!condition_none_match("\"a\"\0", 4, "\"a\""));
	ck_assert(!condition_none_match("*", 0, "\"a\""));
}
END_TEST

/* condition_not_modified_since */

static bool
not_modified(const char *v, time_t mtime)
{
	return condition_not_modified_since(v, strlen(v), mtime);
}

START_TEST(ims)
{
	const time_t mtime = 784111777;	/* Sun, 06 Nov 1994 08:49:37 GMT */

	ck_assert(not_modified("Sun, 06 Nov 1994 08:49:37 GMT", mtime));
	ck_assert(not_modified("Sun, 06 Nov 1994 08:49:38 GMT", mtime));
	ck_assert(not_modified("Fri, 31 Dec 9999 23:59:59 GMT", mtime));
	ck_assert(!not_modified("Sun, 06 Nov 1994 08:49:36 GMT", mtime));
	ck_assert(!not_modified("Thu, 01 Jan 1970 00:00:00 GMT", mtime));
	/* The older formats count as well. */
	ck_assert(not_modified("Sunday, 06-Nov-94 08:49:37 GMT", mtime));
	ck_assert(not_modified("Sun Nov  6 08:49:37 1994", mtime));
	ck_assert(!not_modified("Sun Nov  6 08:49:36 1994", mtime));
	/* Garbage is ignored: send the file. */
	ck_assert(!not_modified("", mtime));
	ck_assert(!not_modified("yesterday", mtime));
	ck_assert(!not_modified("784111777", mtime));
	ck_assert(!not_modified("Sun, 06 Nov 1994 08:49:37 GMT, x", mtime));
	ck_assert(!not_modified(" Sun, 06 Nov 1994 08:49:37 GMT", mtime));
	/* Past 2038 on both sides. */
	ck_assert(not_modified("Tue, 19 Jan 2038 03:14:08 GMT",
	    (time_t)2147483648LL));
	ck_assert(!not_modified("Tue, 19 Jan 2038 03:14:07 GMT",
	    (time_t)2147483648LL));
}
END_TEST

/* condition_if_range */

static bool
if_range(const char *v, const char *etag, time_t mtime)
{
	return condition_if_range(v, strlen(v), etag, mtime);
}

START_TEST(if_range_etag)
{
	char etag[CONDITION_ETAG_LEN + 1];

	condition_etag_format(&(struct digest){ 0, 0xbeef }, etag);
	ck_assert(if_range("\"" Z16 "000000000000beef\"", etag, 0));
	ck_assert(!if_range("\"" Z16 "000000000000beee\"", etag, 0));
	/* Strong comparison: weak tags never match, on either side. */
	ck_assert(!if_range("W/\"" Z16 "000000000000beef\"", etag, 0));
	ck_assert(!if_range("\"a\"", "W/\"a\"", 0));
	ck_assert(!if_range("W/\"a\"", "W/\"a\"", 0));
	ck_assert(if_range("\"!~\"", "\"!~\"", 0));
	/* Exactly one tag, nothing else. */
	ck_assert(!if_range("\"" Z16 "000000000000beef\" ", etag, 0));
	ck_assert(!if_range("\"" Z16 "000000000000beef\", \"x\"", etag, 0));
	ck_assert(!if_range("\"" Z16 "000000000000beef", etag, 0));
	ck_assert(!if_range("\"\"", etag, 0));
	ck_assert(!if_range("W/", etag, 0));
	ck_assert(!if_range("*", etag, 0));
	ck_assert(!if_range("", etag, 0));
	ck_assert(!condition_if_range("\"" Z16 "000000000000beef\"",
	    CONDITION_ETAG_LEN - 1, etag, 0));
}
END_TEST

START_TEST(if_range_date)
{
	const char *etag = "\"000000000000beef\"";
	/* Wed, 01 Jan 2020: a date that starts with 'W' is still a date. */
	const time_t wed = 1577836800;

	ck_assert(if_range("Wed, 01 Jan 2020 00:00:00 GMT", etag, wed));
	ck_assert(if_range("Wednesday, 01-Jan-20 00:00:00 GMT", etag, wed));
	ck_assert(if_range("Wed Jan  1 00:00:00 2020", etag, wed));
	/* Only an exact match lets the Range apply. */
	ck_assert(!if_range("Wed, 01 Jan 2020 00:00:01 GMT", etag, wed));
	ck_assert(!if_range("Tue, 31 Dec 2019 23:59:59 GMT", etag, wed));
	ck_assert(!if_range("Wed, 01 Jan 2020 00:00:00 GMT", etag, wed + 1));
	ck_assert(if_range("Tue, 19 Jan 2038 03:14:08 GMT", etag,
	    (time_t)2147483648LL));
	ck_assert(!if_range("not a date", etag, wed));
	ck_assert(!if_range("Wed, 01 Jan 2020", etag, wed));
}
END_TEST

int
main(void)
{
	check_main_tcase("condition", NULL, NULL, CHECK_MAIN_TESTS(etag_format,
	    none_match_single, none_match_list, none_match_star,
	    none_match_malformed, none_match_length, ims, if_range_etag,
	    if_range_date));
	return check_main_run();
}
