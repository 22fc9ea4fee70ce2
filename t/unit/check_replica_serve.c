/*
 * check_replica_serve.c - unit tests for the pure parts of
 * src/cluster/replica_serve.c: the version a pull's target asks for and
 * the Shoal-Origin header, both ways. The route itself is tested
 * black-box (t/blackbox/test_catalogue.py). Runs in Check's fork mode.
 */
#include <check.h>
#include <string.h>

#include "cluster/replica_serve.h"
#include "check_main.h"

#define T(s) (s), strlen(s)

START_TEST(version_is_read_from_the_query)
{
	struct digest d;

	ck_assert_int_eq(replica_version_of(T("/_/replica/a?version="
	    "0123456789abcdef0123456789ABCDEF"), &d), 0);
	ck_assert_uint_eq(d.d_hi, 0x0123456789abcdefULL);
	ck_assert_uint_eq(d.d_lo, 0x0123456789abcdefULL);
	/* Among other parameters, anywhere. */
	ck_assert_int_eq(replica_version_of(T("/_/replica/a?x=1&version="
	    "00000000000000010000000000000002&y"), &d), 0);
	ck_assert_uint_eq(d.d_hi, 1);
	ck_assert_uint_eq(d.d_lo, 2);
}
END_TEST

START_TEST(version_must_be_32_hex_digits)
{
	static const char *const bad[] = {
		"/_/replica/a",
		"/_/replica/a?",
		"/_/replica/a?version=",
		"/_/replica/a?version=0123456789abcdef0123456789abcde",
		"/_/replica/a?version=0123456789abcdef0123456789abcdef0",
		"/_/replica/a?version=0123456789abcdef0123456789abcdeg",
		"/_/replica/a?versions=0123456789abcdef0123456789abcdef",
		"/_/replica/a?xversion=0123456789abcdef0123456789abcdef",
		"/_/replica/a?version=0123456789abcdef0123456789abcdef&",
	};
	struct digest d;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = replica_version_of(T(bad[i]), &d);

		/* The last one has a good version and an empty parameter. */
		ck_assert_int_eq(r, i == 8 ? 0 : -1);
	}
}
END_TEST

START_TEST(origin_round_trips)
{
	char v[REPLICA_ORIGIN_MAX], node[MEMBER_NAME_MAX];
	uint64_t hlc = 0;

	replica_origin_format(0x018c2a5b3c4d0001ULL,
	    "node-a:8080", v);
	ck_assert_str_eq(v, "018c2a5b3c4d0001 node-a:8080");
	ck_assert_int_eq(replica_origin_parse(v, strlen(v), &hlc, node), 0);
	ck_assert_uint_eq(hlc, 0x018c2a5b3c4d0001ULL);
	ck_assert_str_eq(node, "node-a:8080");
}
END_TEST

START_TEST(origin_refuses_what_is_not_one)
{
	static const char *const bad[] = {
		"",
		"018c2a5b3c4d0001",
		"018c2a5b3c4d0001 ",
		"018c2a5b3c4d001 a",
		"018c2a5b3c4d0001  a",
		"018c2a5b3c4d0001 a b",
		"018c2a5b3c4d000x a",
		"018c2a5b3c4d0001\ta",
		"018c2a5b3c4d0001 a\"",
	};
	char node[MEMBER_NAME_MAX], longv[300];
	uint64_t hlc;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(replica_origin_parse(T(bad[i]), &hlc, node) == -1,
		    "accepted \"%s\"", bad[i]);
	/* A node name of MEMBER_NAME_MAX bytes does not fit. */
	memset(longv, 'n', sizeof(longv));
	memcpy(longv, "0000000000000001 ", 17);
	ck_assert_int_eq(replica_origin_parse(longv, 17 + MEMBER_NAME_MAX - 1,
	    &hlc, node), 0);
	ck_assert_uint_eq(strlen(node), MEMBER_NAME_MAX - 1);
	ck_assert_int_eq(replica_origin_parse(longv, 17 + MEMBER_NAME_MAX,
	    &hlc, node), -1);
}
END_TEST

int
main(void)
{
	check_main_tcase("replica_serve", NULL, NULL,
	    CHECK_MAIN_TESTS(version_is_read_from_the_query,
	    version_must_be_32_hex_digits, origin_round_trips,
	    origin_refuses_what_is_not_one));
	return check_main_run();
}
