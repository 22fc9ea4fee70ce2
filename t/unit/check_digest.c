/*
 * check_digest.c - the text form and order of content digests.
 */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "core/digest.h"

START_TEST(test_hex_round_trip)
{
	struct digest d = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL }, e;
	char hex[DIGEST_HEX_LEN + 1];

	digest_hex(&d, hex);
	ck_assert_str_eq(hex, "0123456789abcdeffedcba9876543210");
	ck_assert_int_eq(digest_parse(hex, strlen(hex), &e), 0);
	ck_assert(digest_equal(&d, &e));
	ck_assert_int_eq(digest_parse("0123456789ABCDEFFEDCBA9876543210", 32,
	    &e), 0);
	ck_assert(digest_equal(&d, &e));
}
END_TEST

START_TEST(test_parse_refuses_anything_else)
{
	struct digest e;

	ck_assert_int_eq(digest_parse("", 0, &e), -1);
	ck_assert_int_eq(digest_parse("0123456789abcdef0123456789abcde", 31,
	    &e), -1);
	ck_assert_int_eq(digest_parse("0123456789abcdef0123456789abcdef0",
	    33, &e), -1);
	ck_assert_int_eq(digest_parse("0123456789abcdefg123456789abcdef", 32,
	    &e), -1);
	ck_assert_int_eq(digest_parse("\"123456789abcdef0123456789abcdef", 32,
	    &e), -1);
}
END_TEST

START_TEST(test_order_is_the_hex_order)
{
	struct digest a = { 1, 0xffffffffffffffffULL }, b = { 2, 0 },
	    c = { 2, 1 };
	char ha[DIGEST_HEX_LEN + 1], hb[DIGEST_HEX_LEN + 1],
	    hc[DIGEST_HEX_LEN + 1];

	digest_hex(&a, ha);
	digest_hex(&b, hb);
	digest_hex(&c, hc);
	ck_assert_int_lt(digest_cmp(&a, &b), 0);
	ck_assert_int_lt(strcmp(ha, hb), 0);
	ck_assert_int_lt(digest_cmp(&b, &c), 0);
	ck_assert_int_lt(strcmp(hb, hc), 0);
	ck_assert_int_gt(digest_cmp(&c, &a), 0);
	ck_assert_int_eq(digest_cmp(&c, &c), 0);
}
END_TEST

int
main(void)
{
	check_main_tcase("digest", NULL, NULL, CHECK_MAIN_TESTS(
	    test_hex_round_trip,
	    test_parse_refuses_anything_else,
	    test_order_is_the_hex_order));
	return check_main_run();
}
