/*
 * check_units.c - unit tests for src/core/units.c: durations and sizes
 * read from strings and written back with the largest exact unit.
 *
 * Includes units.c, like the other suites include their module; runs in
 * Check's fork mode, so a crash is a failure.
 */
#include "core/units.c"

#include <check.h>
#include <stdlib.h>

#include "check_main.h"

START_TEST(test_digits)
{
	const char *s = "0123x", *p;
	uint64_t v = 7;

	p = s;
	ck_assert_int_eq(units_parse_digits(&p, &v), 0);
	ck_assert_uint_eq(v, 123);
	ck_assert_ptr_eq(p, s + 4);
	p = "18446744073709551615";
	ck_assert_int_eq(units_parse_digits(&p, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(*p, '\0');
	/* No digit, a sign or an overflow: nothing moves, nothing is set. */
	v = 7;
	s = "18446744073709551616";
	p = s;
	ck_assert_int_eq(units_parse_digits(&p, &v), -1);
	ck_assert_ptr_eq(p, s);
	ck_assert_uint_eq(v, 7);
	s = "+1";
	p = s;
	ck_assert_int_eq(units_parse_digits(&p, &v), -1);
	ck_assert_ptr_eq(p, s);
	s = "";
	p = s;
	ck_assert_int_eq(units_parse_digits(&p, &v), -1);
	ck_assert_ptr_eq(p, s);
	ck_assert_uint_eq(v, 7);
}
END_TEST

/* Every row of good reads as its value v through parse(), into an output
 * of `type`; every string of bad is refused and leaves the output alone. */
#define EXPECT_READS(parse, type, good, bad) do {			\
	type out_;							\
	size_t i_;							\
									\
	for (i_ = 0; i_ < sizeof(good) / sizeof((good)[0]); i_++) {	\
		ck_assert_msg(parse((good)[i_].s, &out_) == 0,		\
		    "%s rejected", (good)[i_].s);			\
		ck_assert_msg(out_ == (good)[i_].v, "%s: %llu, want %llu", \
		    (good)[i_].s, (unsigned long long)out_,		\
		    (unsigned long long)(good)[i_].v);			\
	}								\
	for (i_ = 0; i_ < sizeof(bad) / sizeof((bad)[0]); i_++) {	\
		out_ = 7;						\
		ck_assert_msg(parse((bad)[i_], &out_) == -1,		\
		    "'%s' accepted", (bad)[i_]);			\
		ck_assert_msg(out_ == 7, "'%s' changed the output",	\
		    (bad)[i_]);						\
	}								\
} while (0)

START_TEST(test_durations)
{
	static const struct {
		const char *s;
		int64_t v;
	} good[] = {
		{ "0", 0 }, { "10", 10000 }, { "500ms", 500 }, { "0ms", 0 },
		{ "10s", 10000 }, { "2m", 120000 }, { "1h", 3600000 },
		{ "1d", 86400000 }, { "007s", 7000 },
		{ "9223372036854775807ms", INT64_MAX },
		{ "9223372036854775s", 9223372036854775000 },
		{ "106751991167d", 106751991167LL * 86400000 },
	};
	static const char *const bad[] = {
		"", "s", "ms", "-1", "+1", "1.5s", "1 s", " 1s", "1s ", "1S",
		"1sec", "1w", "1y", "1m1s", "1hm", "0x10", "1e3",
		"9223372036854775808ms", "9223372036854776s",
		"106751991168d", "99999999999999999999", "1d\n",
	};
	int64_t ms;

	EXPECT_READS(units_parse_duration, int64_t, good, bad);
	ck_assert_int_eq(units_parse_duration(NULL, &ms), -1);
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 }, { "512", 512 }, { "4KiB", 4096 },
		{ "10MiB", 10485760 }, { "1GiB", 1073741824 },
		{ "2TiB", 2ULL << 40 }, { "18446744073709551615", UINT64_MAX },
		{ "16777215TiB", 16777215ULL << 40 },
	};
	static const char *const bad[] = {
		"", "KiB", "-1", "1.5KiB", "1 KiB", "1KB", "1K", "1kib", "1B",
		"1kiB", "1KiBs", "18446744073709551616", "16777216TiB",
		"17179869184GiB", "1 ",
	};

	EXPECT_READS(units_parse_size, uint64_t, good, bad);
}
END_TEST

START_TEST(test_format)
{
	char buf[32];

	units_format_duration(buf, sizeof(buf), 0);
	ck_assert_str_eq(buf, "0ms");
	units_format_duration(buf, sizeof(buf), 1500);
	ck_assert_str_eq(buf, "1500ms");
	units_format_duration(buf, sizeof(buf), 600000);
	ck_assert_str_eq(buf, "10m");
	units_format_size(buf, sizeof(buf), 1000);
	ck_assert_str_eq(buf, "1000");
	units_format_size(buf, sizeof(buf), 3 * UNITS_MIB);
	ck_assert_str_eq(buf, "3MiB");
}
END_TEST

int
main(void)
{
	check_main_tcase("units", NULL, NULL, CHECK_MAIN_TESTS(test_digits,
	    test_durations, test_sizes, test_format));
	return check_main_run();
}
