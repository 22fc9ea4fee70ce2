/*
 * check_name.c - unit tests for src/name.c: request targets to file names,
 * the BADINPUT "Request line and names" rows, and name_is_valid().
 *
 * Includes name.c; single-threaded, one forked process per test.
 */
#include "store/name.c"

#include <check.h>
#include <stdlib.h>

#include "check_main.h"

struct bytes {
	const char *p;
	size_t len;
};
#define B(s)	{ s, sizeof(s) - 1 }

static char out[NAME_TARGET_MAX + 1];
static size_t out_len;
static const char *reason;

/* The target goes into a heap block of exactly n bytes, so that under
 * AddressSanitizer a read past the end is a crash, not a NUL. */
static enum name_kind
classify_n(const char *t, size_t n)
{
	char *copy = malloc(n > 0 ? n : 1);
	enum name_kind k;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, t, n);
	memset(out, 'Z', sizeof(out));
	out_len = 12345;
	reason = "unset";
	k = name_from_target(copy, n, out, &out_len, &reason);
	free(copy);
	return k;
}

static enum name_kind
classify(const char *t)
{
	return classify_n(t, strlen(t));
}

#define ck_assert_file(t, want) do { \
	ck_assert_int_eq(classify(t), NAME_FILE); \
	ck_assert_str_eq(out, want); \
	ck_assert_uint_eq(out_len, strlen(want)); \
	ck_assert_ptr_null(reason); \
} while (0)

#define ck_assert_invalid(t, why) do { \
	ck_assert_int_eq(classify(t), NAME_INVALID); \
	ck_assert_str_eq(reason, why); \
	ck_assert_uint_eq(out_len, 0); \
	ck_assert_str_eq(out, ""); \
} while (0)

START_TEST(test_plain)
{
	ck_assert_file("/f", "f");
	ck_assert_file("/report.pdf", "report.pdf");
	ck_assert_file("/a.b.c", "a.b.c");
	ck_assert_file("/a..", "a..");
	ck_assert_file("/_", "_");
	ck_assert_file("/_x", "_x");
	ck_assert_file("/-", "-");
	ck_assert_file("/~user", "~user");
	ck_assert_file("/a#b", "a#b");
}
END_TEST

START_TEST(test_query)
{
	ck_assert_file("/f?x=1", "f");
	ck_assert_file("/f?", "f");
	ck_assert_file("/f?a/b/../..%zz", "f");
	ck_assert_file("/f%3Fx", "f?x");	/* an encoded '?' is a byte */
	ck_assert_int_eq(classify("/?x"), NAME_ROOT);
	ck_assert_invalid("/..?x", "name must not start with '.'");
}
END_TEST

START_TEST(test_percent)
{
	ck_assert_file("/na%20me", "na me");
	ck_assert_file("/%41%62", "Ab");
	ck_assert_file("/%e2%82%ac", "\xe2\x82\xac");
	ck_assert_file("/%E2%82%AC", "\xe2\x82\xac");
	ck_assert_file("/%25", "%");
	ck_assert_file("/%2541", "%41");	/* decoded once only */
	ck_assert_file("/a+b", "a+b");		/* '+' is no space here */
	ck_assert_file("/x%2e", "x.");
	ck_assert_file("/%5f", "_");
}
END_TEST

START_TEST(test_utf8)
{
	ck_assert_file("/\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9");
	ck_assert_file("/%c3%a9t%c3%a9", "\xc3\xa9t\xc3\xa9");
	ck_assert_file("/%ff", "\xff");
}
END_TEST

START_TEST(test_root)
{
	ck_assert_int_eq(classify("/"), NAME_ROOT);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_str_eq(out, "");
	ck_assert_ptr_null(reason);
	ck_assert_int_eq(classify("/?format=json"), NAME_ROOT);
}
END_TEST

START_TEST(test_node)
{
	ck_assert_int_eq(classify("/_/health"), NAME_NODE);
	ck_assert_str_eq(out, "health");
	ck_assert_uint_eq(out_len, 6);
	ck_assert_ptr_null(reason);
	ck_assert_int_eq(classify("/_/metrics?x"), NAME_NODE);
	ck_assert_str_eq(out, "metrics");
	ck_assert_int_eq(classify("/_/"), NAME_NODE);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(out_len, 0);
	ck_assert_int_eq(classify("/_/a/b"), NAME_NODE);
	ck_assert_str_eq(out, "a/b");
	ck_assert_int_eq(classify("/_/he%61lth"), NAME_NODE);
	ck_assert_str_eq(out, "health");
	ck_assert_invalid("/_/%zz", "bad percent-encoding");
	ck_assert_invalid("/_/a%00", "name must not contain NUL");
	ck_assert_invalid("/_/a%0a", "name must not contain a control byte");
	/* "/_" and an encoded "_/" are not the node's prefix */
	ck_assert_file("/_", "_");
	ck_assert_invalid("/%5f/health", "name must not contain '/'");
	ck_assert_invalid("/%5f%2fhealth", "name must not contain '/'");
}
END_TEST

/* BADINPUT "Request line and names", and more of the same kind. */
static const struct {
	struct bytes target;
	const char *reason;
} bad_names[] = {
	{ B("/../etc/passwd"), "name must not contain '/'" },
	{ B("/%2e%2e/x"), "name must not contain '/'" },
	{ B("/.%2e/x"), "name must not contain '/'" },
	{ B("/%2e%2e%2fetc%2fpasswd"), "name must not start with '.'" },
	{ B("/..%5c..%5cx"), "name must not start with '.'" },
	{ B("//etc/passwd"), "name must not contain '/'" },
	{ B("//"), "name must not contain '/'" },
	{ B("/%00x"), "name must not contain NUL" },
	{ B("/x%00"), "name must not contain NUL" },
	{ B("/x\0y"), "name must not contain NUL" },
	{ B("/x%"), "bad percent-encoding" },
	{ B("/x%1"), "bad percent-encoding" },
	{ B("/x%zz"), "bad percent-encoding" },
	{ B("/x%1z"), "bad percent-encoding" },
	{ B("/x%z1"), "bad percent-encoding" },
	{ B("/%"), "bad percent-encoding" },
	{ B("/%%41"), "bad percent-encoding" },
	{ B("/.shoal"), "name must not start with '.'" },
	{ B("/.anything"), "name must not start with '.'" },
	{ B("/."), "name must not start with '.'" },
	{ B("/.."), "name must not start with '.'" },
	{ B("/%2e"), "name must not start with '.'" },
	{ B("/%2E%2E"), "name must not start with '.'" },
	{ B("/%2eshoal"), "name must not start with '.'" },
	{ B("/a/b"), "name must not contain '/'" },
	{ B("/a/"), "name must not contain '/'" },
	{ B("/a%2fb"), "name must not contain '/'" },
	{ B("/a%2Fb"), "name must not contain '/'" },
	{ B("/a%0ab"), "name must not contain a control byte" },
	{ B("/a%0db"), "name must not contain a control byte" },
	{ B("/a%1fb"), "name must not contain a control byte" },
	{ B("/a%7fb"), "name must not contain a control byte" },
	{ B("/a\x01" "b"), "name must not contain a control byte" },
	{ B("/a\x7f"), "name must not contain a control byte" },
	{ B("f"), "target must start with '/'" },
	{ B("*"), "target must start with '/'" },
	{ B("http://h/f"), "target must start with '/'" },
	{ B(""), "target must start with '/'" },
	{ B("?x"), "target must start with '/'" },
};

START_TEST(test_bad_name)
{
	ck_assert_int_eq(classify_n(bad_names[_i].target.p,
	    bad_names[_i].target.len), NAME_INVALID);
	ck_assert_msg(strcmp(reason, bad_names[_i].reason) == 0,
	    "row %d: reason \"%s\", want \"%s\"", _i, reason,
	    bad_names[_i].reason);
	ck_assert_ptr_null(strchr(reason, '\n'));
	ck_assert_uint_eq(out_len, 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_length)
{
	char t[3 * 300 + 2];
	size_t i;

	/* 255 bytes: fine, raw or encoded */
	t[0] = '/';
	memset(t + 1, 'a', 255);
	t[256] = '\0';
	ck_assert_int_eq(classify(t), NAME_FILE);
	ck_assert_uint_eq(out_len, 255);
	ck_assert_uint_eq(strlen(out), 255);

	t[256] = 'a';
	t[257] = '\0';
	ck_assert_invalid(t, "name too long");

	for (i = 0; i < 255; i++)
		memcpy(t + 1 + 3 * i, "%41", 3);
	t[1 + 3 * 255] = '\0';
	ck_assert_int_eq(classify(t), NAME_FILE);
	ck_assert_uint_eq(out_len, 255);
	memcpy(t + 1 + 3 * 255, "%41", 4);
	ck_assert_invalid(t, "name too long");

	/* the node path has room for a route and a whole name */
	memcpy(t, "/_/", 3);
	memset(t + 3, 'h', NAME_TARGET_MAX + 1);
	t[3 + NAME_TARGET_MAX + 1] = '\0';
	ck_assert_invalid(t, "name too long");
	t[3 + NAME_TARGET_MAX] = '\0';
	ck_assert_int_eq(classify(t), NAME_NODE);
	ck_assert_uint_eq(out_len, NAME_TARGET_MAX);
}
END_TEST

/* out is only ever written within NAME_MAX_LEN + 1 bytes for a file,
 * NAME_TARGET_MAX + 1 for a node's path, which may hold a whole name
 * after its route. */
START_TEST(test_out_bounds)
{
	char big[NAME_TARGET_MAX + 1 + 16];
	char t[600];
	size_t n;

	memset(t, 'b', sizeof(t));
	t[0] = '/';
	memset(big, 'G', sizeof(big));
	ck_assert_int_eq(name_from_target(t, sizeof(t), big, &n, &reason),
	    NAME_INVALID);
	for (n = NAME_MAX_LEN + 1; n < sizeof(big); n++)
		ck_assert_int_eq(big[n], 'G');
	memcpy(t, "/_/replica/", 11);
	ck_assert_int_eq(name_from_target(t, 11 + NAME_MAX_LEN, big, &n,
	    &reason), NAME_NODE);
	ck_assert_uint_eq(n, 8 + NAME_MAX_LEN);
	ck_assert_int_eq(name_from_target(t, sizeof(t), big, &n, &reason),
	    NAME_INVALID);
	for (n = NAME_TARGET_MAX + 1; n < sizeof(big); n++)
		ck_assert_int_eq(big[n], 'G');
}
END_TEST

START_TEST(test_reason_optional)
{
	ck_assert_int_eq(name_from_target("/..", 3, out, &out_len, NULL),
	    NAME_INVALID);
	ck_assert_int_eq(name_from_target("/ok", 3, out, &out_len, NULL),
	    NAME_FILE);
}
END_TEST

START_TEST(test_is_valid)
{
	char n[300];

	ck_assert(name_is_valid("f", 1));
	ck_assert(name_is_valid("report.pdf", 10));
	ck_assert(name_is_valid("a b", 3));
	ck_assert(name_is_valid("100%.txt", 8));	/* no decoding */
	ck_assert(name_is_valid("\xc3\xa9", 2));
	ck_assert(name_is_valid("_", 1));
	ck_assert(name_is_valid("a..", 3));
	ck_assert(!name_is_valid("", 0));
	ck_assert(!name_is_valid(NULL, 0));
	ck_assert(!name_is_valid(".", 1));
	ck_assert(!name_is_valid("..", 2));
	ck_assert(!name_is_valid(".shoal", 6));
	ck_assert(!name_is_valid("a/b", 3));
	ck_assert(!name_is_valid("/", 1));
	ck_assert(!name_is_valid("a\0b", 3));
	ck_assert(!name_is_valid("a\nb", 3));
	ck_assert(!name_is_valid("a\x7f", 2));
	ck_assert(!name_is_valid("\t", 1));
	memset(n, 'x', sizeof(n));
	ck_assert(name_is_valid(n, 255));
	ck_assert(!name_is_valid(n, 256));
	/* only the first len bytes count */
	ck_assert(name_is_valid("ab/c", 2));
}
END_TEST

/* Whatever name_from_target accepts as a file, name_is_valid accepts. */
START_TEST(test_agree)
{
	static const char *targets[] = {
		"/f", "/na%20me", "/%c3%a9", "/a..", "/x%2e", "/%25", "/_",
	};
	size_t i;

	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		ck_assert_int_eq(classify(targets[i]), NAME_FILE);
		ck_assert(name_is_valid(out, out_len));
	}
}
END_TEST

START_TEST(test_encode)
{
	char enc[3 * 8 + 1];

	ck_assert_uint_eq(name_encode("a-b_c.d~9", 9, enc, sizeof(enc)), 9);
	ck_assert_str_eq(enc, "a-b_c.d~9");
	ck_assert_uint_eq(name_encode("a b/%?", 6, enc, sizeof(enc)), 14);
	ck_assert_str_eq(enc, "a%20b%2F%25%3F");
	ck_assert_uint_eq(name_encode("\xc3\xa9", 2, enc, sizeof(enc)), 6);
	ck_assert_str_eq(enc, "%C3%A9");
	/* a short out is cut at a whole escape, and still terminated */
	ck_assert_uint_eq(name_encode("ab c", 4, enc, 5), 2);
	ck_assert_str_eq(enc, "ab");
	ck_assert_uint_eq(name_encode("ab c", 4, enc, 6), 5);
	ck_assert_str_eq(enc, "ab%20");
	ck_assert_uint_eq(name_encode("abc", 3, enc, 0), 0);
}
END_TEST

/* name_encode and name_from_target are inverses on valid names, including
 * every single byte and the longest name. */
START_TEST(test_encode_round_trip)
{
	char name[NAME_MAX_LEN], t[1 + 3 * NAME_MAX_LEN + 1];
	size_t len, c;

	for (c = 0; c < 256; c++) {
		name[0] = 'x';
		name[1] = (char)c;
		t[0] = '/';
		name_encode(name, 2, t + 1, sizeof(t) - 1);
		if (name_is_valid(name, 2)) {
			ck_assert_int_eq(classify(t), NAME_FILE);
			ck_assert_uint_eq(out_len, 2);
			ck_assert_mem_eq(out, name, 2);
		} else {
			ck_assert_int_eq(classify(t), NAME_INVALID);
		}
	}
	for (c = 0; c < NAME_MAX_LEN; c++)
		name[c] = (char)(0x80 + c % 0x80);
	len = name_encode(name, NAME_MAX_LEN, t + 1, sizeof(t) - 1);
	ck_assert_uint_eq(len, 3 * NAME_MAX_LEN);
	ck_assert_int_eq(classify(t), NAME_FILE);
	ck_assert_uint_eq(out_len, NAME_MAX_LEN);
	ck_assert_mem_eq(out, name, NAME_MAX_LEN);
}
END_TEST

/* name_decode is name_encode's inverse on every valid name (every single
 * byte, the longest name), and refuses what is not a valid name once
 * decoded, as a target's path is refused. */
START_TEST(test_decode)
{
	static const struct {
		const char *in, *reason;
	} bad[] = {
		{ "", "name is empty" },
		{ ".x", "name must not start with '.'" },
		{ "%2Ex", "name must not start with '.'" },
		{ "a/b", "name must not contain '/'" },
		{ "a%2fb", "name must not contain '/'" },
		{ "a%00", "name must not contain NUL" },
		{ "a%0A", "name must not contain a control byte" },
		{ "a%7F", "name must not contain a control byte" },
		{ "a%", "bad percent-encoding" },
		{ "a%4", "bad percent-encoding" },
		{ "a%g0", "bad percent-encoding" },
	};
	char name[NAME_MAX_LEN + 1], enc[3 * (NAME_MAX_LEN + 1) + 1];
	char dec[NAME_MAX_LEN + 1];
	const char *why;
	size_t len, dlen, c;

	for (c = 0; c < 256; c++) {
		name[0] = 'x';
		name[1] = (char)c;
		len = name_encode(name, 2, enc, sizeof(enc));
		why = NULL;
		if (name_is_valid(name, 2)) {
			ck_assert_int_eq(name_decode(enc, len, dec, &dlen,
			    &why), 0);
			ck_assert_uint_eq(dlen, 2);
			ck_assert_mem_eq(dec, name, 2);
			ck_assert_int_eq(dec[2], '\0');
		} else {
			ck_assert_int_eq(name_decode(enc, len, dec, &dlen,
			    &why), -1);
			ck_assert_ptr_nonnull(why);
		}
	}
	for (c = 0; c <= NAME_MAX_LEN; c++)
		name[c] = (char)(0x80 + c % 0x80);
	len = name_encode(name, NAME_MAX_LEN, enc, sizeof(enc));
	ck_assert_int_eq(name_decode(enc, len, dec, &dlen, NULL), 0);
	ck_assert_uint_eq(dlen, NAME_MAX_LEN);
	ck_assert_mem_eq(dec, name, NAME_MAX_LEN);
	/* One byte more is too long. */
	len = name_encode(name, NAME_MAX_LEN + 1, enc, sizeof(enc));
	ck_assert_int_eq(name_decode(enc, len, dec, &dlen, &why), -1);
	ck_assert_str_eq(why, "name too long");
	/* Undecoded bytes are taken as they are. */
	ck_assert_int_eq(name_decode("a b\xff", 4, dec, &dlen, NULL), 0);
	ck_assert_str_eq(dec, "a b\xff");
	for (c = 0; c < sizeof(bad) / sizeof(bad[0]); c++) {
		dec[0] = 'z';
		dlen = 7;
		ck_assert_int_eq(name_decode(bad[c].in, strlen(bad[c].in), dec,
		    &dlen, &why), -1);
		ck_assert_str_eq(why, bad[c].reason);
		ck_assert_int_eq(dec[0], '\0');
		ck_assert_uint_eq(dlen, 0);
	}
}
END_TEST

int
main(void)
{
	TCase *tc;

	tc = check_main_tcase("from_target", NULL, NULL,
	    CHECK_MAIN_TESTS(test_plain, test_query, test_percent, test_utf8,
	    test_root, test_node, test_length, test_out_bounds,
	    test_reason_optional));
	CHECK_MAIN_ROWS(tc, test_bad_name, bad_names);
	tc = check_main_tcase("is_valid", NULL, NULL,
	    CHECK_MAIN_TESTS(test_is_valid, test_agree));
	tc = check_main_tcase("encode", NULL, NULL,
	    CHECK_MAIN_TESTS(test_encode, test_encode_round_trip,
	    test_decode));
	return check_main_run();
}
