/*
 * check_catalogue_serve.c - unit tests for src/cluster/catalogue_serve.c:
 * the query of GET /_/catalogue and /_/conflicts (defaults, every
 * parameter, percent-decoding, every refusal) and the JSON of a page,
 * made from a catalogue in plain memory (names in order, paging, the
 * prefix, names that are not UTF-8, a conflict with both its versions).
 *
 * Single-threaded, one forked process per test.
 */
#include "check_main.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/catalogue_serve.h"
#include "cluster/hlc.h"
#include "core/buf.h"

static struct catalogue_query q;
static const char *why;

static int
parse(const char *target)
{
	why = NULL;
	return catalogue_query_parse(target, strlen(target), &q, &why);
}

/* -- the query --------------------------------------------------------- */

START_TEST(query_defaults)
{
	ck_assert_int_eq(parse("/_/catalogue"), 0);
	ck_assert_uint_eq(q.cq_plen, 0);
	ck_assert(!q.cq_has_after);
	ck_assert_uint_eq(q.cq_limit, CATALOGUE_SERVE_LIMIT);
	ck_assert_int_eq(parse("/_/catalogue?"), 0);
	ck_assert_uint_eq(q.cq_limit, 1000);
	ck_assert_int_eq(parse("/_/catalogue?prefix=&after=&"), 0);
	ck_assert_uint_eq(q.cq_plen, 0);
	ck_assert(!q.cq_has_after);
}
END_TEST

START_TEST(query_every_parameter)
{
	ck_assert_int_eq(parse("/_/conflicts?limit=10000&prefix=a%20b&"
	    "after=%C3%A9t%C3%A9"), 0);
	ck_assert_uint_eq(q.cq_limit, 10000);
	ck_assert_uint_eq(q.cq_plen, 3);
	ck_assert_str_eq(q.cq_prefix, "a b");
	ck_assert(q.cq_has_after);
	ck_assert_uint_eq(q.cq_alen, 5);
	ck_assert_str_eq(q.cq_after, "\xc3\xa9t\xc3\xa9");
	ck_assert_int_eq(parse("/_/catalogue?limit=1&&after=%FFz"), 0);
	ck_assert_uint_eq(q.cq_limit, 1);
	ck_assert_str_eq(q.cq_after, "\xffz");
	/* '+' is not a space: only percent-escapes are decoded. */
	ck_assert_int_eq(parse("/_/catalogue?prefix=a+b"), 0);
	ck_assert_str_eq(q.cq_prefix, "a+b");
}
END_TEST

static const struct {
	const char *target, *reason;
} bad_queries[] = {
	{ "/?limit=0", "bad limit: not a number from 1 to 10000" },
	{ "/?limit=10001", "bad limit: not a number from 1 to 10000" },
	{ "/?limit=100000", "bad limit: not a number from 1 to 10000" },
	{ "/?limit=", "bad limit: not a number from 1 to 10000" },
	{ "/?limit=-1", "bad limit: not a number from 1 to 10000" },
	{ "/?limit=1x", "bad limit: not a number from 1 to 10000" },
	{ "/?limit", "bad limit: not a number from 1 to 10000" },
	{ "/?prefix=.x", "bad prefix: not the start of a valid name" },
	{ "/?prefix=%2e", "bad prefix: not the start of a valid name" },
	{ "/?prefix=a%2Fb", "bad prefix: not the start of a valid name" },
	{ "/?prefix=a%00", "bad prefix: not the start of a valid name" },
	{ "/?prefix=%zz", "bad prefix: not the start of a valid name" },
	{ "/?after=a%2fb", "bad after: not a valid name" },
	{ "/?after=a%0a", "bad after: not a valid name" },
	{ "/?after=%", "bad after: not a valid name" },
	{ "/?unknown=1", "unknown parameter (prefix, after, limit)" },
	{ "/?=1", "unknown parameter (prefix, after, limit)" },
	{ "/?Limit=1", "unknown parameter (prefix, after, limit)" },
	{ "/?limit=1&limit=2", "a parameter given twice" },
	{ "/?prefix=a&after=b&prefix=c", "a parameter given twice" },
};

START_TEST(query_refused)
{
	ck_assert_msg(parse(bad_queries[_i].target) == -1, "row %d taken", _i);
	ck_assert_str_eq(why, bad_queries[_i].reason);
}
END_TEST

START_TEST(query_name_too_long)
{
	struct buf b = { 0 };
	int i;

	buf_append_str(&b, "/?prefix=");
	for (i = 0; i < NAME_MAX_LEN; i++)
		buf_append_str(&b, "%41");
	buf_append(&b, "", 1);
	ck_assert_int_eq(parse(b.data), 0);
	ck_assert_uint_eq(q.cq_plen, NAME_MAX_LEN);
	b.len--;
	buf_append_str(&b, "A");
	buf_append(&b, "", 1);
	ck_assert_int_eq(parse(b.data), -1);
	buf_free(&b);
}
END_TEST

/* -- pages ------------------------------------------------------------- */

#define T0 ((uint64_t)1800000000123 << HLC_LOGICAL_BITS)

static struct catalogue *cat;

static struct digest
dg(uint64_t n)
{
	struct digest d = { n, n * 0x9e3779b97f4a7c15ULL };

	return d;
}

static void
announce_as(struct catalogue *c, const char *name, size_t len, uint64_t d,
    const char *origin, uint64_t hlc)
{
	struct digest x = dg(d);

	ck_assert_int_eq(catalogue_announce_locked(c, name, len, &x, 100 + d,
	    origin, hlc), 1);
}

static struct catalogue *
table(const char *self)
{
	struct catalogue_params p;
	struct catalogue *c;

	catalogue_params_for(&p, 1024, 16, 2);
	c = calloc(1, catalogue_size(&p));
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(catalogue_init(c, &p, self, 1800000000000ULL), 0);
	return c;
}

/* Node a holds f0..f4, "x y", a name not UTF-8, and "dup"; node b holds
 * another "dup", written earlier: b's wins. */
static void
setup(void)
{
	struct catalogue *b = table("b");
	struct cat_fact_msg f[8];
	struct cat_want w;
	struct cat_chunk ch;
	char name[16];
	int i, n;

	cat = table("a");
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		announce_as(cat, name, 2, (uint64_t)i + 1, "a", T0 + (uint64_t)i);
	}
	announce_as(cat, "x y", 3, 10, "a", T0);
	announce_as(cat, "\xff\x80z", 3, 11, "a", T0);
	announce_as(cat, "\xff\x90", 2, 14, "a", T0);
	announce_as(cat, "dup", 3, 12, "a", T0 + 100);
	announce_as(b, "dup", 3, 13, "b", T0 + 50);
	memset(&w, 0, sizeof(w));
	strcpy(w.cw_owner, "b");
	n = catalogue_delta_locked(b, &w, &ch, f, 8, 1 << 20);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(catalogue_apply_locked(cat, &ch, f, (size_t)n, NULL,
	    NULL), 1);
	free(b);
}

static void
teardown(void)
{
	free(cat);
}

/* The page for target, parsed. */
static json_t *
page(const char *target, bool conflicts)
{
	struct buf b = { 0 };
	json_error_t err;
	json_t *root;

	ck_assert_int_eq(parse(target), 0);
	ck_assert_int_eq(catalogue_render_page(cat, &q, conflicts, &b), 0);
	ck_assert_int_eq(b.data[b.len - 1], '\n');
	root = json_loadb(b.data, b.len, 0, &err);
	ck_assert_msg(root != NULL, "%s", err.text);
	buf_free(&b);
	return root;
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	ck_assert_msg(s != NULL, "%s is not a string", key);
	return s;
}

START_TEST(names_in_order_with_their_winner)
{
	json_t *root = page("/_/catalogue", false);
	json_t *names = json_object_get(root, "names"), *e;
	static const char *want[] = { "dup", "f0", "f1", "f2", "f3", "f4",
	    "x y", "%FF%80z", "%FF%90" };
	char hex[DIGEST_HEX_LEN + 1];
	struct digest d;
	size_t i;

	ck_assert(json_is_null(json_object_get(root, "next")));
	ck_assert_uint_eq(json_array_size(names), 9);
	json_array_foreach(names, i, e)
		ck_assert_str_eq(str(e, "name"), want[i]);
	/* "dup": b's version, the older, wins; both are counted. */
	e = json_array_get(names, 0);
	d = dg(13);
	digest_hex(&d, hex);
	ck_assert_str_eq(str(e, "digest"), hex);
	ck_assert_str_eq(str(e, "origin"), "b");
	ck_assert_str_eq(str(e, "time"), "2027-01-15T08:00:00.123Z");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "size")), 113);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "versions")),
	    2);
	ck_assert_uint_eq(json_array_size(json_object_get(e, "holders")), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(e,
	    "holders"), 0)), "b");
	ck_assert_ptr_null(json_object_get(e, "encoded"));
	/* The name that is not UTF-8, percent-encoded and said so. */
	e = json_array_get(names, 7);
	ck_assert(json_is_true(json_object_get(e, "encoded")));
	ck_assert_int_eq(json_integer_value(json_object_get(e, "versions")),
	    1);
	json_decref(root);
}
END_TEST

START_TEST(pages_and_prefix)
{
	json_t *root = page("/_/catalogue?limit=3", false);

	ck_assert_uint_eq(json_array_size(json_object_get(root, "names")), 3);
	ck_assert_str_eq(str(root, "next"), "f1");
	ck_assert_ptr_null(json_object_get(root, "next_encoded"));
	json_decref(root);
	root = page("/_/catalogue?limit=3&after=f1", false);
	ck_assert_str_eq(str(json_array_get(json_object_get(root, "names"), 0),
	    "name"), "f2");
	ck_assert_str_eq(str(root, "next"), "f4");
	json_decref(root);
	/* A page that ends on a name that is not UTF-8. */
	root = page("/_/catalogue?limit=2&after=f4", false);
	ck_assert_str_eq(str(root, "next"), "%FF%80z");
	ck_assert(json_is_true(json_object_get(root, "next_encoded")));
	json_decref(root);
	root = page("/_/catalogue?after=%FF%80z", false);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "names")), 1);
	ck_assert(json_is_null(json_object_get(root, "next")));
	json_decref(root);
	root = page("/_/catalogue?prefix=%ff", false);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "names")), 2);
	json_decref(root);
	root = page("/_/catalogue?prefix=f&after=f3", false);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "names")), 1);
	ck_assert(json_is_null(json_object_get(root, "next")));
	json_decref(root);
	root = page("/_/catalogue?prefix=x%20", false);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "names")), 1);
	json_decref(root);
	/* A page exactly as long as what is left has no next. */
	root = page("/_/catalogue?limit=9", false);
	ck_assert(json_is_null(json_object_get(root, "next")));
	json_decref(root);
}
END_TEST

START_TEST(conflicts_with_every_version)
{
	json_t *root = page("/_/conflicts", true), *c, *v;
	char hex[2][DIGEST_HEX_LEN + 1];
	struct digest d[2] = { dg(13), dg(12) };

	digest_hex(&d[0], hex[0]);
	digest_hex(&d[1], hex[1]);
	ck_assert(json_is_null(json_object_get(root, "next")));
	ck_assert_uint_eq(json_array_size(json_object_get(root, "conflicts")),
	    1);
	c = json_array_get(json_object_get(root, "conflicts"), 0);
	ck_assert_str_eq(str(c, "name"), "dup");
	ck_assert_str_eq(str(c, "winner"), hex[0]);
	v = json_object_get(c, "versions");
	ck_assert_uint_eq(json_array_size(v), 2);
	ck_assert_str_eq(str(json_array_get(v, 0), "digest"), hex[0]);
	ck_assert_str_eq(str(json_array_get(v, 0), "origin"), "b");
	ck_assert_str_eq(str(json_array_get(v, 1), "digest"), hex[1]);
	ck_assert_str_eq(str(json_array_get(v, 1), "origin"), "a");
	ck_assert_str_eq(str(json_array_get(v, 1), "time"),
	    "2027-01-15T08:00:00.123Z");
	ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(
	    json_array_get(v, 1), "hlc")), T0 + 100);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(v,
	    1), "size")), 112);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(
	    json_array_get(v, 1), "holders"), 0)), "a");
	json_decref(root);
	root = page("/_/conflicts?prefix=f", true);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "conflicts")),
	    0);
	json_decref(root);
}
END_TEST

int
main(void)
{
	TCase *tc;

	tc = check_main_tcase("query", NULL, NULL,
	    CHECK_MAIN_TESTS(query_defaults, query_every_parameter,
	    query_name_too_long));
	CHECK_MAIN_ROWS(tc, query_refused, bad_queries);
	check_main_tcase("page", setup, teardown,
	    CHECK_MAIN_TESTS(names_in_order_with_their_winner,
	    pages_and_prefix, conflicts_with_every_version));
	return check_main_run();
}
