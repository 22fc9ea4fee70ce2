/*
 * check_httpdate.c - unit tests for src/http/httpdate.c: formatting and
 * parsing HTTP dates in the three formats of RFC 9110 5.6.7, against
 * known dates, a sweep of round trips and malformed input.
 * Includes httpdate.c, so the static helpers can be tested and the RFC 850
 * year can be parsed against a pinned clock.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/httpdate.c"
#include "check_main.h"

/* 2025-06-01T00:00:00Z, the pinned "now" for two-digit years. */
#define NOW_2025	((time_t)1748736000)

struct known_date {
	time_t kd_t;
	const char *kd_s;
};

/* Checked against Python's calendar.timegm and GNU date. */
static const struct known_date known[] = {
	{ 0,			"Thu, 01 Jan 1970 00:00:00 GMT" },
	{ 784111777,		"Sun, 06 Nov 1994 08:49:37 GMT" },
	{ -1,			"Wed, 31 Dec 1969 23:59:59 GMT" },
	{ 951782400,		"Tue, 29 Feb 2000 00:00:00 GMT" },
	{ 1709251199,		"Thu, 29 Feb 2024 23:59:59 GMT" },
	{ -2203891200LL,	"Thu, 01 Mar 1900 00:00:00 GMT" },
	{ -11670998400LL,	"Tue, 29 Feb 1600 00:00:00 GMT" },
	{ 2147483647,		"Tue, 19 Jan 2038 03:14:07 GMT" },
	{ 2147483648LL,		"Tue, 19 Jan 2038 03:14:08 GMT" },
	{ 4107542400LL,		"Mon, 01 Mar 2100 00:00:00 GMT" },
	{ 13574606400LL,	"Tue, 29 Feb 2400 12:00:00 GMT" },
	{ 253402300799LL,	"Fri, 31 Dec 9999 23:59:59 GMT" },
	{ -62135596800LL,	"Mon, 01 Jan 0001 00:00:00 GMT" },
};

#define NKNOWN (sizeof(known) / sizeof(known[0]))

static int
parse_str(const char *s, time_t *t)
{
	return httpdate_parse(s, strlen(s), t);
}

static int
parse_str_at(const char *s, time_t now, time_t *t)
{
	return httpdate_parse_at(s, strlen(s), now, t);
}

static void
expect_date(const char *s, time_t want)
{
	time_t t = 12345;

	ck_assert_msg(parse_str(s, &t) == 0, "\"%s\" rejected", s);
	ck_assert_msg(t == want, "\"%s\": got %lld, want %lld", s,
	    (long long)t, (long long)want);
}

static void
expect_bad_date(const char *s, size_t len)
{
	time_t t = 12345;

	ck_assert_msg(httpdate_parse(s, len, &t) == -1,
	    "\"%.*s\" accepted", (int)len, s);
	ck_assert_msg(t == 12345, "\"%.*s\": output written", (int)len, s);
}

/* httpdate_format */

START_TEST(format_known)
{
	char out[HTTPDATE_LEN + 1];
	size_t i;

	for (i = 0; i < NKNOWN; i++) {
		memset(out, 'x', sizeof(out));
		httpdate_format(known[i].kd_t, out);
		ck_assert_str_eq(out, known[i].kd_s);
		ck_assert_uint_eq(strlen(out), HTTPDATE_LEN);
	}
}
END_TEST

START_TEST(format_clamps)
{
	char out[HTTPDATE_LEN + 1];

	/* Beyond four-digit years the output would not fit: clamp. */
	httpdate_format((time_t)INT64_MAX, out);
	ck_assert_str_eq(out, "Fri, 31 Dec 9999 23:59:59 GMT");
	httpdate_format((time_t)253402300800LL, out);
	ck_assert_str_eq(out, "Fri, 31 Dec 9999 23:59:59 GMT");
	httpdate_format((time_t)INT64_MIN, out);
	ck_assert_str_eq(out, "Mon, 01 Jan 0001 00:00:00 GMT");
	httpdate_format((time_t)-62135596801LL, out);
	ck_assert_str_eq(out, "Mon, 01 Jan 0001 00:00:00 GMT");
}
END_TEST

/* httpdate_parse */

START_TEST(parse_imf_fixdate)
{
	size_t i;

	for (i = 0; i < NKNOWN; i++)
		expect_date(known[i].kd_s, known[i].kd_t);
}
END_TEST

START_TEST(parse_every_month)
{
	static const char *const months[12] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	char buf[64];
	struct tm tm;
	time_t t;
	int m;

	for (m = 0; m < 12; m++) {
		snprintf(buf, sizeof(buf), "Mon, 15 %s 2030 12:34:56 GMT",
		    months[m]);
		ck_assert_int_eq(parse_str(buf, &t), 0);
		ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
		ck_assert_int_eq(tm.tm_mon, m);
		ck_assert_int_eq(tm.tm_mday, 15);
		ck_assert_int_eq(tm.tm_year, 130);
		ck_assert_int_eq(tm.tm_hour, 12);
		ck_assert_int_eq(tm.tm_min, 34);
		ck_assert_int_eq(tm.tm_sec, 56);
	}
}
END_TEST

START_TEST(parse_rfc850)
{
	time_t t;

	expect_date("Sunday, 06-Nov-94 08:49:37 GMT", 784111777);
	expect_date("Tuesday, 29-Feb-00 00:00:00 GMT", 951782400);
	/* Every long day name. */
	expect_date("Monday, 06-Nov-94 08:49:37 GMT", 784111777);
	expect_date("Thursday, 06-Nov-94 08:49:37 GMT", 784111777);
	expect_date("Friday, 06-Nov-94 08:49:37 GMT", 784111777);
	expect_date("Saturday, 06-Nov-94 08:49:37 GMT", 784111777);

	/* With the clock pinned to 2025: up to 50 years ahead stays in
	 * this century, beyond that it is the last century. */
	ck_assert_int_eq(parse_str_at("Tuesday, 01-Jan-75 00:00:00 GMT",
	    NOW_2025, &t), 0);
	ck_assert_int_eq(t, 3313526400LL);		/* 2075 */
	ck_assert_int_eq(parse_str_at("Thursday, 01-Jan-76 00:00:00 GMT",
	    NOW_2025, &t), 0);
	ck_assert_int_eq(t, 189302400);			/* 1976 */
	ck_assert_int_eq(parse_str_at("Thursday, 29-Feb-24 23:59:59 GMT",
	    NOW_2025, &t), 0);
	ck_assert_int_eq(t, 1709251199);		/* 2024 */
	ck_assert_int_eq(parse_str_at("Wednesday, 31-Dec-69 23:59:59 GMT",
	    NOW_2025, &t), 0);
	ck_assert_int_eq(t, 3155759999LL);		/* 2069 */
	ck_assert_int_eq(parse_str_at("Wednesday, 31-Dec-69 23:59:59 GMT",
	    (time_t)784111777, &t), 0);			/* now 1994 */
	ck_assert_int_eq(t, -1);			/* 1969 */
	/* In 2099, "00" is next year, 2100, not 99 years ago. */
	ck_assert_int_eq(parse_str_at("Friday, 01-Jan-00 00:00:00 GMT",
	    (time_t)4070908800LL, &t), 0);		/* now 2099-01-01 */
	ck_assert_int_eq(t, 4102444800LL);
	/* 2100 is not a leap year, so 29-Feb-00 read as 2100 is invalid. */
	ck_assert_int_eq(parse_str_at("Monday, 29-Feb-00 00:00:00 GMT",
	    (time_t)4070908800LL, &t), -1);
	/* Near the end of the calendar a window year can pass 9999. */
	ck_assert_int_eq(parse_str_at("Monday, 01-Jan-20 00:00:00 GMT",
	    (time_t)253086768000LL, &t), -1);		/* now 9990 */
	ck_assert_int_eq(parse_str_at("Monday, 01-Jan-99 00:00:00 GMT",
	    (time_t)253086768000LL, &t), 0);
	ck_assert_int_eq(t, 253370764800LL);		/* 9999 */
}
END_TEST

START_TEST(full_year_window)
{
	ck_assert_int_eq(httpdate_full_year(25, NOW_2025), 2025);
	ck_assert_int_eq(httpdate_full_year(75, NOW_2025), 2075);
	ck_assert_int_eq(httpdate_full_year(76, NOW_2025), 1976);
	ck_assert_int_eq(httpdate_full_year(99, NOW_2025), 1999);
	ck_assert_int_eq(httpdate_full_year(0, NOW_2025), 2000);
	/* now = 2070-01-01: the window is 2021..2120. */
	ck_assert_int_eq(httpdate_full_year(19, (time_t)3155760000LL), 2119);
	ck_assert_int_eq(httpdate_full_year(20, (time_t)3155760000LL), 2120);
	ck_assert_int_eq(httpdate_full_year(21, (time_t)3155760000LL), 2021);
	ck_assert_int_eq(httpdate_full_year(69, (time_t)3155760000LL), 2069);
	ck_assert_int_eq(httpdate_full_year(70, (time_t)3155760000LL), 2070);
}
END_TEST

START_TEST(parse_asctime)
{
	expect_date("Sun Nov  6 08:49:37 1994", 784111777);
	expect_date("Sun Nov 06 08:49:37 1994", 784111777);	/* 2DIGIT */
	expect_date("Thu Feb 29 23:59:59 2024", 1709251199);
	expect_date("Thu Jan  1 00:00:00 1970", 0);
	expect_date("Tue Jan 19 03:14:08 2038", 2147483648LL);
	expect_date("Fri Dec 31 23:59:59 9999", 253402300799LL);
}
END_TEST

START_TEST(parse_leap_second)
{
	/* 23:59:60 is allowed by the grammar; it is the next second. */
	expect_date("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800);
}
END_TEST

START_TEST(parse_rejects)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"Sun",
		"Sun,",
		/* fields out of range */
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 32 Nov 1994 08:49:37 GMT",
		"Sun, 31 Nov 1994 08:49:37 GMT",
		"Sun, 29 Feb 1900 08:49:37 GMT",
		"Sun, 29 Feb 2023 08:49:37 GMT",
		"Sun, 30 Feb 2000 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:37 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT",
		"Sun, 06 Nov 0000 08:49:37 GMT",
		"Sun, 06 Nov 1994 99:99:99 GMT",
		/* names: case-sensitive, real ones only */
		"sun, 06 Nov 1994 08:49:37 GMT",
		"SUN, 06 Nov 1994 08:49:37 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 06 NOV 1994 08:49:37 GMT",
		"Sun, 06 Now 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 gmt",
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 06 Nov 1994 08:49:37 +0000",
		/* layout */
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 94 08:49:37 GMT",
		"Sun, 06 Nov 19940 08:49:37 GMT",
		"Sun, 06 Nov 1994 8:49:37 GMT",
		"Sun, 06 Nov 1994 08:49 GMT",
		"Sun, 06 Nov 1994 08-49-37 GMT",
		"Sun,  06 Nov 1994 08:49:37 GMT",
		"Sun,06 Nov 1994 08:49:37 GMT",
		"Sun, 06-Nov-1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37",
		"Sun, 06 Nov 1994 08:49:37 GMT ",
		" Sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMTx",
		"Sun, +6 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:3a GMT",
		"Sunday, 06 Nov 1994 08:49:37 GMT",
		/* RFC 850 */
		"Sun, 06-Nov-94 08:49:37 GMT",
		"sunday, 06-Nov-94 08:49:37 GMT",
		"Sunday, 06-Nov-1994 08:49:37 GMT",
		"Sunday, 06 Nov 94 08:49:37 GMT",
		"Sunday, 6-Nov-94 08:49:37 GMT",
		"Sunday, 32-Nov-94 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37",
		"Sunday, 06-Nov-94 08:49:37 GMT ",
		"Sundae, 06-Nov-94 08:49:37 GMT",
		/* asctime */
		"Sun Nov 6 08:49:37 1994",
		"Sun Nov   6 08:49:37 1994",
		"Sun Nov  6 08:49:37 94",
		"Sun Nov  6 08:49:37 1994 ",
		"Sun Nov  6 08:49:37 1994 GMT",
		"Sun Nov 31 08:49:37 1994",
		"Sun Nov  0 08:49:37 1994",
		"Sun Nov  6 08:49:37  1994",
		"Sun  Nov  6 08:49:37 1994",
		"Sunday Nov  6 08:49:37 1994",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad_date(bad[i], strlen(bad[i]));
}
END_TEST

START_TEST(parse_truncated_and_nul)
{
	static const char *const good[] = {
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
	};
	char buf[64];
	size_t i, n;

	for (i = 0; i < 3; i++) {
		size_t len = strlen(good[i]);

		/* Every proper prefix is invalid; the length is obeyed. */
		for (n = 0; n < len; n++)
			expect_bad_date(good[i], n);
		/* A NUL byte counted in the length is a trailing byte. */
		memcpy(buf, good[i], len + 1);
		expect_bad_date(buf, len + 1);
	}
}
END_TEST

START_TEST(round_trip_known)
{
	char out[HTTPDATE_LEN + 1];
	size_t i;
	time_t t;

	for (i = 0; i < NKNOWN; i++) {
		httpdate_format(known[i].kd_t, out);
		ck_assert_int_eq(parse_str(out, &t), 0);
		ck_assert_int_eq(t, known[i].kd_t);
	}
}
END_TEST

/*
 * A sweep from 1601 to 2401 by an odd step, so every month, day and
 * time field takes many values: format then parse must give t back,
 * and both must agree with glibc (gmtime_r/strftime in the C locale,
 * which a Check child runs in, and timegm).
 */
START_TEST(round_trip_sweep)
{
	char out[HTTPDATE_LEN + 1], ref[64];
	long long t;
	time_t back;
	struct tm tm;

	for (t = -11644473600LL; t < 13601088000LL; t += 86400 * 3 + 3601) {
		time_t tt = (time_t)t;

		httpdate_format(tt, out);
		ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
		strftime(ref, sizeof(ref), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		ck_assert_str_eq(out, ref);
		ck_assert_int_eq(parse_str(out, &back), 0);
		ck_assert_int_eq(back, tt);
		ck_assert_int_eq(timegm(&tm), tt);
		ck_assert_int_eq(httpdate_days_from_epoch(tm.tm_year + 1900,
		    tm.tm_mon, tm.tm_mday) * 86400 + tm.tm_hour * 3600 +
		    tm.tm_min * 60 + tm.tm_sec, t);
	}
}
END_TEST

int
main(void)
{
	TCase *tc_date = check_main_tcase("httpdate", NULL, NULL,
	    CHECK_MAIN_TESTS(format_known, format_clamps, parse_imf_fixdate,
	    parse_every_month, parse_rfc850, full_year_window, parse_asctime,
	    parse_leap_second, parse_rejects, parse_truncated_and_nul,
	    round_trip_known, round_trip_sweep));

	/* The sweep is ~150k iterations; leave room under sanitizers. */
	tcase_set_timeout(tc_date, 60);
	return check_main_run();
}
