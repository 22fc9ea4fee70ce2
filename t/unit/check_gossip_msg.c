/*
 * check_gossip_msg.c - unit tests for src/cluster/gossip_msg.c and
 * gossip_msg_decode.c: the JSON of a gossip message both ways, every
 * refusal with its reason, and the BADINPUT "Cluster" rows that are the
 * codec's (truncated, not UTF-8, nested too deep, too many members,
 * absurd numbers).
 *
 * Includes gossip_msg.c and gossip_msg_decode.c (for the depth scan);
 * single-threaded, one forked process per test. Every body is decoded
 * from a heap block of exactly its size, so that under AddressSanitizer
 * a read past the end is a crash.
 */
#include "check_main.h"
#include "cluster/gossip_msg.c"
#include "cluster/gossip_msg_decode.c"

#include <check.h>
#include <stdlib.h>

static struct gossip_msg msg;
static const char *why;

static int
decode_n(const char *body, size_t len, size_t max_lines)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, body, len);
	memset(&msg, 0x5a, sizeof(msg));
	why = "unset";
	rc = gossip_msg_decode(copy, len, max_lines, &msg, &why);
	free(copy);
	return rc;
}

static int
decode(const char *body)
{
	return decode_n(body, strlen(body), 1024);
}

static bool
msg_is_empty(const struct gossip_msg *m)
{
	static const struct gossip_msg zero;

	return memcmp(m, &zero, sizeof(zero)) == 0;
}

/* A reason is the one wanted, or that followed by where jansson stopped:
 * " (byte N)". */
static bool
reason_is(const char *got, const char *want)
{
	size_t n = strlen(want);
	char *end;

	if (strncmp(got, want, n) != 0)
		return false;
	if (got[n] == '\0')
		return true;
	if (strncmp(got + n, " (byte ", 7) != 0 || got[n + 7] < '0' ||
	    got[n + 7] > '9')
		return false;
	(void)strtoul(got + n + 7, &end, 10);
	return strcmp(end, ")") == 0;
}

/* body is refused for `reason`, and nothing is left allocated; `row`
 * names the case in a failure. */
static void
refused_as(const char *body, const char *reason, int row)
{
	ck_assert_msg(decode(body) == -1, "row %d: taken", row);
	ck_assert_msg(reason_is(why, reason), "row %d: reason \"%s\", want "
	    "\"%s\"", row, why, reason);
	ck_assert(msg_is_empty(&msg));
}

/* -- messages to write ------------------------------------------------ */

#define LONG_NAME \
	"n123456789012345678901234567890123456789012345678901234567890123" \
	"456789012345678901234567890123456789012345678901234567890123456"

static void
fill_facts(struct member_facts *f, int i, uint64_t big)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->mf_name, sizeof(f->mf_name), "node-%d", i);
	snprintf(f->mf_addr, sizeof(f->mf_addr), "10.0.0.%d:8080", i);
	f->mf_incarnation = big - 1;
	f->mf_version = big - 2;
	f->mf_heartbeat = big - 3;
	f->mf_capacity = big - 4;
	f->mf_used = big - 5;
	f->mf_store = i % 2 == 0;
	f->mf_left = i % 3 == 0;
}

/* A message that uses every field, every state, both truth values, the
 * longest names and addresses, and numbers up to 2^63 - 1. */
static void
full_message(struct gossip_msg *m)
{
	static struct member_digest d[5];
	static struct member_news n[5];
	int i;

	memset(m, 0, sizeof(*m));
	memset(d, 0, sizeof(d));
	memset(n, 0, sizeof(n));
	memset(m->gm_cluster, 'c', sizeof(m->gm_cluster) - 1);
	memcpy(m->gm_cluster, "prod-\xc3\xa9t\xc3\xa9", 10);	/* UTF-8 */
	strcpy(m->gm_from, "node-0");
	m->gm_range.mr_lo = 12345;
	m->gm_range.mr_hi = 3000000000U;
	for (i = 0; i < 5; i++) {
		snprintf(d[i].md_name, sizeof(d[i].md_name), "node-%d", i);
		d[i].md_incarnation = 1800000000000ULL + (uint64_t)i;
		d[i].md_version = (uint64_t)i * 1000;
		d[i].md_state = (uint8_t)(i % MEMBER_STATES);
		d[i].md_state_inc = 1800000000000ULL - (uint64_t)i;
		fill_facts(&n[i].mn_facts, i, (uint64_t)INT64_MAX - (uint64_t)i);
		n[i].mn_state = (uint8_t)((i + 1) % MEMBER_STATES);
		n[i].mn_state_inc = (uint64_t)i;
	}
	d[4].md_incarnation = (uint64_t)INT64_MAX;
	d[4].md_version = 0;
	strcpy(d[4].md_name, LONG_NAME);
	strcpy(n[4].mn_facts.mf_name, LONG_NAME);
	memset(n[4].mn_facts.mf_addr, 'a', MEMBER_ADDR_MAX - 1);
	memcpy(n[4].mn_facts.mf_addr, "[::1]:", 6);
	n[3].mn_facts.mf_incarnation = 0;
	n[3].mn_facts.mf_capacity = 0;
	n[3].mn_facts.mf_used = 0;
	m->gm_digest = d;
	m->gm_ndigest = 5;
	m->gm_news = n;
	m->gm_nnews = 5;
}

static void
assert_same_fact(const struct cat_fact_msg *x, const struct cat_fact_msg *y)
{
	ck_assert_uint_eq(x->cm_name_len, y->cm_name_len);
	ck_assert(memcmp(x->cm_name, y->cm_name, x->cm_name_len) == 0);
	ck_assert_int_eq(y->cm_name[y->cm_name_len], '\0');
	ck_assert(digest_equal(&x->cm_digest, &y->cm_digest));
	ck_assert_uint_eq(x->cm_size, y->cm_size);
	ck_assert_str_eq(x->cm_origin, y->cm_origin);
	ck_assert_uint_eq(x->cm_hlc, y->cm_hlc);
	ck_assert_uint_eq(x->cm_seq, y->cm_seq);
	ck_assert_int_eq(x->cm_gone, y->cm_gone);
	ck_assert_int_eq(x->cm_striped, y->cm_striped);
}

/* The catalogue's part (b decoded: its facts in gm_facts, in order). */
static void
assert_same_cat(const struct gossip_msg *a, const struct gossip_msg *b)
{
	size_t i, k, nfacts = 0;

	ck_assert_uint_eq(a->gm_wall_ms, b->gm_wall_ms);
	ck_assert_uint_eq(a->gm_nwants, b->gm_nwants);
	ck_assert_uint_eq(a->gm_nchunks, b->gm_nchunks);
	for (i = 0; i < a->gm_nwants; i++) {
		ck_assert_str_eq(a->gm_wants[i].cw_owner,
		    b->gm_wants[i].cw_owner);
		ck_assert_uint_eq(a->gm_wants[i].cw_inc, b->gm_wants[i].cw_inc);
		ck_assert_uint_eq(a->gm_wants[i].cw_after,
		    b->gm_wants[i].cw_after);
		ck_assert_uint_eq(a->gm_wants[i].cw_floor,
		    b->gm_wants[i].cw_floor);
	}
	for (i = 0; i < a->gm_nchunks; i++) {
		const struct gossip_chunk *x = &a->gm_chunks[i];
		const struct gossip_chunk *y = &b->gm_chunks[i];

		ck_assert_str_eq(x->gc_chunk.cc_owner, y->gc_chunk.cc_owner);
		ck_assert_uint_eq(x->gc_chunk.cc_inc, y->gc_chunk.cc_inc);
		ck_assert_uint_eq(x->gc_chunk.cc_from, y->gc_chunk.cc_from);
		ck_assert_uint_eq(x->gc_chunk.cc_to, y->gc_chunk.cc_to);
		ck_assert_uint_eq(x->gc_chunk.cc_floor, y->gc_chunk.cc_floor);
		ck_assert_uint_eq(x->gc_nfacts, y->gc_nfacts);
		for (k = 0; k < x->gc_nfacts; k++) {
			ck_assert_ptr_eq(&y->gc_facts[k],
			    &b->gm_facts[nfacts + k]);
			assert_same_fact(&x->gc_facts[k], &y->gc_facts[k]);
		}
		nfacts += x->gc_nfacts;
	}
	ck_assert_uint_eq(b->gm_nfacts, nfacts);
}

static void
assert_same(const struct gossip_msg *a, const struct gossip_msg *b)
{
	size_t i;

	ck_assert_str_eq(a->gm_cluster, b->gm_cluster);
	ck_assert_str_eq(a->gm_from, b->gm_from);
	ck_assert_uint_eq(a->gm_range.mr_lo, b->gm_range.mr_lo);
	ck_assert_uint_eq(a->gm_range.mr_hi, b->gm_range.mr_hi);
	ck_assert_uint_eq(a->gm_ndigest, b->gm_ndigest);
	ck_assert_uint_eq(a->gm_nnews, b->gm_nnews);
	for (i = 0; i < a->gm_ndigest; i++) {
		const struct member_digest *x = &a->gm_digest[i];
		const struct member_digest *y = &b->gm_digest[i];

		ck_assert_str_eq(x->md_name, y->md_name);
		ck_assert_uint_eq(x->md_incarnation, y->md_incarnation);
		ck_assert_uint_eq(x->md_version, y->md_version);
		ck_assert_uint_eq(x->md_state, y->md_state);
		ck_assert_uint_eq(x->md_state_inc, y->md_state_inc);
	}
	for (i = 0; i < a->gm_nnews; i++) {
		const struct member_facts *x = &a->gm_news[i].mn_facts;
		const struct member_facts *y = &b->gm_news[i].mn_facts;

		ck_assert_str_eq(x->mf_name, y->mf_name);
		ck_assert_str_eq(x->mf_addr, y->mf_addr);
		ck_assert_uint_eq(x->mf_incarnation, y->mf_incarnation);
		ck_assert_uint_eq(x->mf_version, y->mf_version);
		ck_assert_uint_eq(x->mf_heartbeat, y->mf_heartbeat);
		ck_assert_uint_eq(x->mf_capacity, y->mf_capacity);
		ck_assert_uint_eq(x->mf_used, y->mf_used);
		ck_assert_int_eq(x->mf_store, y->mf_store);
		ck_assert_int_eq(x->mf_left, y->mf_left);
		ck_assert_uint_eq(a->gm_news[i].mn_state,
		    b->gm_news[i].mn_state);
		ck_assert_uint_eq(a->gm_news[i].mn_state_inc,
		    b->gm_news[i].mn_state_inc);
		ck_assert_uint_eq(x->mf_cat_inc, y->mf_cat_inc);
		ck_assert_uint_eq(x->mf_cat_seq, y->mf_cat_seq);
	}
	assert_same_cat(a, b);
}

/* -- writing and reading back ----------------------------------------- */

START_TEST(round_trip_full)
{
	struct gossip_msg m;
	struct buf b = { 0 };

	full_message(&m);
	ck_assert_int_eq(gossip_msg_encode(&m, &b), 0);
	ck_assert_ptr_null(memchr(b.data, '\n', b.len));
	ck_assert_ptr_null(memchr(b.data, ' ', b.len));
	ck_assert_int_eq(decode_n(b.data, b.len, 5), 0);
	assert_same(&m, &msg);
	gossip_msg_free(&msg);
	ck_assert(msg_is_empty(&msg));
	/* One line more than allowed. */
	ck_assert_int_eq(decode_n(b.data, b.len, 4), -1);
	ck_assert_str_eq(why, "gossip: more than 4 members");
	buf_free(&b);
}
END_TEST

/* The format the header documents and doc/architecture.md quotes, to the byte. */
START_TEST(format_exact)
{
	struct member_digest d = { "b", 1800000000000, 7, MEMBER_SUSPECT,
	    1800000000000 };
	struct member_news n;
	struct gossip_msg m;
	struct buf b = { 0 };

	memset(&m, 0, sizeof(m));
	memset(&n, 0, sizeof(n));
	strcpy(m.gm_cluster, "shoal");
	strcpy(m.gm_from, "a");
	strcpy(n.mn_facts.mf_name, "a");
	strcpy(n.mn_facts.mf_addr, "10.0.0.1:8080");
	n.mn_facts.mf_incarnation = 1800000000001;
	n.mn_facts.mf_version = 12;
	n.mn_facts.mf_heartbeat = 10;
	n.mn_facts.mf_store = true;
	n.mn_facts.mf_capacity = 1000000;
	n.mn_facts.mf_used = 2000;
	n.mn_state = MEMBER_ALIVE;
	n.mn_state_inc = 1800000000001;
	m.gm_range.mr_lo = 7;
	m.gm_range.mr_hi = UINT32_MAX;
	m.gm_digest = &d;
	m.gm_ndigest = 1;
	m.gm_news = &n;
	m.gm_nnews = 1;
	buf_append_str(&b, "POST ");	/* appended after what is there */
	ck_assert_int_eq(gossip_msg_encode(&m, &b), 0);
	buf_append(&b, "", 1);
	ck_assert_str_eq(b.data, "POST {\"v\":1,\"cluster\":\"shoal\","
	    "\"from\":\"a\",\"range\":[7,4294967295],\"digest\":[[\"b\",1800000000000,7,\"suspect\","
	    "1800000000000]],\"news\":[{\"name\":\"a\",\"addr\":"
	    "\"10.0.0.1:8080\",\"inc\":1800000000001,\"ver\":12,\"hb\":10,"
	    "\"store\":true,\"cap\":1000000,\"used\":2000,\"left\":false,"
	    "\"state\":\"alive\",\"sinc\":1800000000001}]}");
	buf_free(&b);
}
END_TEST

START_TEST(round_trip_empty)
{
	struct gossip_msg m;
	struct buf b = { 0 };

	memset(&m, 0, sizeof(m));
	strcpy(m.gm_cluster, "c");
	strcpy(m.gm_from, "a");
	ck_assert_int_eq(gossip_msg_encode(&m, &b), 0);
	buf_append(&b, "", 1);
	ck_assert_str_eq(b.data, "{\"v\":1,\"cluster\":\"c\",\"from\":\"a\","
	    "\"range\":[0,0],\"digest\":[],\"news\":[]}");
	ck_assert_int_eq(decode_n(b.data, b.len - 1, 0), 0);
	ck_assert_str_eq(msg.gm_cluster, "c");
	ck_assert_str_eq(msg.gm_from, "a");
	ck_assert_ptr_null(msg.gm_digest);
	ck_assert_ptr_null(msg.gm_news);
	ck_assert_uint_eq(msg.gm_ndigest, 0);
	ck_assert_uint_eq(msg.gm_nnews, 0);
	gossip_msg_free(&msg);
	buf_free(&b);
}
END_TEST

/* The digest's range: absent is every key; anything but two integers
 * 0 <= lo <= hi <= 2^32 - 1 is refused. */
START_TEST(range_absent_and_refused)
{
	static const char *bad[] = {
		"[1]", "[1,2,3]", "[2,1]", "[-1,5]", "[0,4294967296]",
		"[0,1.5]", "[\"0\",1]", "{}", "7", "null",
	};
	char body[256];
	size_t i;

	ck_assert_int_eq(decode("{\"v\":1,\"cluster\":\"c\",\"from\":\"a\","
	    "\"digest\":[],\"news\":[]}"), 0);
	ck_assert_uint_eq(msg.gm_range.mr_lo, 0);
	ck_assert_uint_eq(msg.gm_range.mr_hi, UINT32_MAX);
	gossip_msg_free(&msg);
	ck_assert_int_eq(decode("{\"v\":1,\"cluster\":\"c\",\"from\":\"a\","
	    "\"range\":[5,5],\"digest\":[],\"news\":[]}"), 0);
	ck_assert_uint_eq(msg.gm_range.mr_lo, 5);
	ck_assert_uint_eq(msg.gm_range.mr_hi, 5);
	gossip_msg_free(&msg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"v\":1,\"cluster\":\"c\","
		    "\"from\":\"a\",\"range\":%s,\"digest\":[],"
		    "\"news\":[]}", bad[i]);
		ck_assert_msg(decode(body) == -1, "%s", bad[i]);
		ck_assert_str_eq(why, "gossip: range is not [lo, hi] within 0 "
		    "to 4294967295");
	}
}
END_TEST

/* An answer: news, and an empty digest. */
START_TEST(answer_with_empty_digest)
{
	ck_assert_int_eq(decode("{\"v\":1,\"cluster\":\"c\",\"from\":\"a\","
	    "\"digest\":[],\"news\":[{\"name\":\"b\",\"addr\":\"h:1\","
	    "\"inc\":1,\"ver\":2,\"hb\":3,\"store\":false,\"cap\":0,"
	    "\"used\":0,\"left\":true,\"state\":\"left\",\"sinc\":1}]}"), 0);
	ck_assert_uint_eq(msg.gm_ndigest, 0);
	ck_assert_uint_eq(msg.gm_nnews, 1);
	ck_assert(msg.gm_news[0].mn_facts.mf_left);
	ck_assert(!msg.gm_news[0].mn_facts.mf_store);
	ck_assert_uint_eq(msg.gm_news[0].mn_state, MEMBER_LEFT);
	gossip_msg_free(&msg);
}
END_TEST

START_TEST(unknown_keys_ignored)
{
	ck_assert_int_eq(decode(" {\"v\":1,\"later\":{\"x\":[1,2]},"
	    "\"cluster\":\"c\",\"from\":\"a\",\"sig\":null,"
	    "\"digest\":[[\"b\",1,2,\"dead\",1,\"more\",[]]],"
	    "\"news\":[{\"zone\":\"eu\",\"name\":\"b\",\"addr\":\"h:1\","
	    "\"inc\":1,\"ver\":2,\"hb\":3,\"store\":true,\"cap\":9,"
	    "\"used\":9,\"left\":false,\"state\":\"dead\",\"sinc\":1,"
	    "\"x\":{}}]}\r\n"), 0);
	ck_assert_uint_eq(msg.gm_digest[0].md_state, MEMBER_DEAD);
	ck_assert_uint_eq(msg.gm_news[0].mn_facts.mf_capacity, 9);
	gossip_msg_free(&msg);
}
END_TEST

START_TEST(why_may_be_null)
{
	ck_assert_int_eq(gossip_msg_decode("[", 1, 16, &msg, NULL), -1);
	ck_assert(msg_is_empty(&msg));
}
END_TEST

/* -- refusals ---------------------------------------------------------- */

#define HEAD "{\"v\":1,\"cluster\":\"c\",\"from\":\"a\","
#define EMPTY_LISTS "\"digest\":[],\"news\":[]}"
#define EMPTY_LISTS_OPEN "\"digest\":[],\"news\":[]"

static const struct {
	const char *body;
	const char *reason;
} bad_messages[] = {
	{ "", "gossip: truncated JSON" },
	{ "{\"v\":1,\"cluster\":\"c", "gossip: truncated JSON" },
	{ "[]", "gossip: not a JSON object" },
	{ "\"v\"", "gossip: not JSON" },	/* jansson wants [ or { */
	{ "{} x", "gossip: not JSON" },
	{ "{\"cluster\":\"c\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: v is not 1" },
	{ "{\"v\":2,\"cluster\":\"c\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: v is not 1" },
	{ "{\"v\":\"1\",\"cluster\":\"c\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: v is not 1" },
	{ "{\"v\":1.0,\"cluster\":\"c\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: v is not 1" },
	{ "{\"v\":1,\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: cluster is not a string" },
	{ "{\"v\":1,\"cluster\":7,\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: cluster is not a string" },
	{ "{\"v\":1,\"cluster\":\"\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: cluster is not 1 to 64 bytes without control bytes" },
	{ "{\"v\":1,\"cluster\":\"0123456789012345678901234567890123456789"
	    "012345678901234567890123X\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: cluster is not 1 to 64 bytes without control bytes" },
	{ "{\"v\":1,\"cluster\":\"a\\nb\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: cluster is not 1 to 64 bytes without control bytes" },
	{ "{\"v\":1,\"cluster\":\"a\\u0000b\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: a NUL in a string" },
	{ "{\"v\":1,\"cluster\":\"c\"," EMPTY_LISTS,
	    "gossip: from is missing" },
	{ "{\"v\":1,\"cluster\":\"c\",\"from\":[]," EMPTY_LISTS,
	    "gossip: from is not a string" },
	{ "{\"v\":1,\"cluster\":\"c\",\"from\":\"a b\"," EMPTY_LISTS,
	    "gossip: from is not a valid name" },
	{ "{\"v\":1,\"cluster\":\"c\",\"from\":\"\"," EMPTY_LISTS,
	    "gossip: from is not a valid name" },
	{ "{\"v\":1,\"cluster\":\"c\",\"from\":\"" LONG_NAME "x\","
	    EMPTY_LISTS, "gossip: from is not a valid name" },
	{ HEAD "\"news\":[]}", "gossip: digest is missing" },
	{ HEAD "\"digest\":{},\"news\":[]}",
	    "gossip: digest is not an array" },
	{ HEAD "\"digest\":[]}", "gossip: news is missing" },
	{ HEAD "\"digest\":[],\"news\":\"\"}",
	    "gossip: news is not an array" },
	{ HEAD "\"digest\":[{}],\"news\":[]}",
	    "gossip: digest[0] is not an array" },
	{ HEAD "\"digest\":[[\"b\",1,2,\"alive\"]],\"news\":[]}",
	    "gossip: digest[0] has fewer than 5 items" },
	{ HEAD "\"digest\":[],\"news\":[[]]}",
	    "gossip: news[0] is not an object" },
	{ HEAD "\"digest\":[],\"news\":[],\"news\":[]}",
	    "gossip: a key twice in an object" },
	{ "{\"v\":1,\"v\":1,\"cluster\":\"c\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: a key twice in an object" },
	/* Not UTF-8: a stray continuation byte, an overlong '/', a
	 * surrogate, a byte that never occurs. */
	{ "{\"v\":1,\"cluster\":\"\x80\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: not UTF-8" },
	{ "{\"v\":1,\"cluster\":\"\xc0\xaf\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: not UTF-8" },
	{ "{\"v\":1,\"cluster\":\"\xed\xa0\x80\",\"from\":\"a\"," EMPTY_LISTS,
	    "gossip: not UTF-8" },
	{ "{\"v\":1,\"x\":\"\xff\",\"cluster\":\"c\",\"from\":\"a\","
	    EMPTY_LISTS, "gossip: not UTF-8" },
	{ "{\"v\":1,\"cluster\":\"c\",\"from\":\"a\xff\"," EMPTY_LISTS,
	    "gossip: not UTF-8" },
};

START_TEST(refuse_message)
{
	refused_as(bad_messages[_i].body, bad_messages[_i].reason, _i);
}
END_TEST

/* The news entry decoded second (news[1]) with one field replaced (or,
 * value NULL, left out). */
static const char *news_keys[] = { "name", "addr", "inc", "ver", "hb",
    "store", "cap", "used", "left", "state", "sinc" };
static const char *news_values[] = { "\"b\"", "\"h:1\"", "1", "2", "3",
    "true", "10", "5", "false", "\"alive\"", "1" };
#define NEWS_KEYS (sizeof(news_keys) / sizeof(news_keys[0]))

static void
news_body(struct buf *b, const char *key, const char *value)
{
	size_t k, i;

	buf_reset(b);
	buf_append_str(b, HEAD "\"digest\":[],\"news\":[");
	for (i = 0; i < 2; i++) {
		const char *sep = "{";

		for (k = 0; k < NEWS_KEYS; k++) {
			const char *v = news_values[k];

			if (i == 1 && strcmp(news_keys[k], key) == 0) {
				if (value == NULL)
					continue;
				v = value;
			}
			buf_printf(b, "%s\"%s\":%s", sep, news_keys[k], v);
			sep = ",";
		}
		buf_append_str(b, i == 0 ? "}," : "}]}");
	}
	buf_append(b, "", 1);
}

static const struct {
	const char *key, *value, *reason;
} bad_news[] = {
	{ "name", NULL, "gossip: news[1].name is missing" },
	{ "name", "1", "gossip: news[1].name is not a string" },
	{ "name", "\"\"", "gossip: news[1].name is not a valid name" },
	{ "name", "\"a\\\"b\"", "gossip: news[1].name is not a valid name" },
	{ "name", "\"a\\\\b\"", "gossip: news[1].name is not a valid name" },
	{ "name", "\"a\\tb\"", "gossip: news[1].name is not a valid name" },
	{ "name", "\"\xc3\xa9\"", "gossip: news[1].name is not a valid name" },
	{ "name", "\"" LONG_NAME "x\"",
	    "gossip: news[1].name is not a valid name" },
	{ "addr", NULL, "gossip: news[1].addr is missing" },
	{ "addr", "\"h 1\"", "gossip: news[1].addr is not a valid name" },
	{ "addr", "null", "gossip: news[1].addr is not a string" },
	{ "inc", NULL, "gossip: news[1].inc is missing" },
	{ "inc", "\"7\"", "gossip: news[1].inc is not a number" },
	{ "inc", "1e3", "gossip: news[1].inc is not an integer" },
	{ "inc", "1.0", "gossip: news[1].inc is not an integer" },
	{ "inc", "-1", "gossip: news[1].inc is negative" },
	{ "inc", "18446744073709551616",
	    "gossip: a number too large" },
	{ "inc", "9223372036854775808",
	    "gossip: a number too large" },
	{ "inc", "true", "gossip: news[1].inc is not a number" },
	{ "ver", "-9223372036854775808", "gossip: news[1].ver is negative" },
	{ "hb", "[]", "gossip: news[1].hb is not a number" },
	{ "store", NULL, "gossip: news[1].store is missing" },
	{ "store", "1", "gossip: news[1].store is not true or false" },
	{ "store", "\"true\"", "gossip: news[1].store is not true or false" },
	{ "cap", "1E3", "gossip: news[1].cap is not an integer" },
	{ "used", "-1", "gossip: news[1].used is negative" },
	{ "left", NULL, "gossip: news[1].left is missing" },
	{ "left", "null", "gossip: news[1].left is not true or false" },
	{ "state", NULL, "gossip: news[1].state is missing" },
	{ "state", "0", "gossip: news[1].state is not a string" },
	{ "state", "\"zombie\"", "gossip: news[1].state is not a state" },
	{ "state", "\"ALIVE\"", "gossip: news[1].state is not a state" },
	{ "state", "\"alive \"", "gossip: news[1].state is not a state" },
	{ "sinc", NULL, "gossip: news[1].sinc is missing" },
	{ "sinc", "\"7\"", "gossip: news[1].sinc is not a number" },
};

START_TEST(refuse_news)
{
	struct buf b = { 0 };

	news_body(&b, bad_news[_i].key, bad_news[_i].value);
	refused_as(b.data, bad_news[_i].reason, _i);
	buf_free(&b);
}
END_TEST

/* The same entries, untouched, are taken. */
START_TEST(news_body_is_valid)
{
	struct buf b = { 0 };

	news_body(&b, "", NULL);
	ck_assert_int_eq(decode(b.data), 0);
	ck_assert_uint_eq(msg.gm_nnews, 2);
	ck_assert_str_eq(msg.gm_news[1].mn_facts.mf_addr, "h:1");
	ck_assert_uint_eq(msg.gm_news[1].mn_facts.mf_used, 5);
	gossip_msg_free(&msg);
	buf_free(&b);
}
END_TEST

/* Line digest[1], item `item` replaced by `value`. */
static const struct {
	int item;
	const char *value, *reason;
} bad_digest[] = {
	{ 0, "7", "gossip: digest[1].name is not a string" },
	{ 0, "\"a:b c\"", "gossip: digest[1].name is not a valid name" },
	{ 1, "-1", "gossip: digest[1].inc is negative" },
	{ 1, "1e3", "gossip: digest[1].inc is not an integer" },
	{ 1, "\"7\"", "gossip: digest[1].inc is not a number" },
	{ 2, "null", "gossip: digest[1].ver is not a number" },
	{ 2, "2.5", "gossip: digest[1].ver is not an integer" },
	{ 3, "1", "gossip: digest[1].state is not a string" },
	{ 3, "\"gone\"", "gossip: digest[1].state is not a state" },
	{ 4, "-5", "gossip: digest[1].sinc is negative" },
	{ 4, "18446744073709551616", "gossip: a number too large" },
};

START_TEST(refuse_digest)
{
	const char *items[5] = { "\"b\"", "1", "2", "\"alive\"", "1" };
	struct buf b = { 0 };
	int k;

	buf_append_str(&b, HEAD "\"digest\":[[\"a\",1,2,\"alive\",1],[");
	items[bad_digest[_i].item] = bad_digest[_i].value;
	for (k = 0; k < 5; k++)
		buf_printf(&b, "%s%s", k > 0 ? "," : "", items[k]);
	buf_append_str(&b, "]],\"news\":[]}");
	buf_append(&b, "", 1);
	refused_as(b.data, bad_digest[_i].reason, _i);
	buf_free(&b);
}
END_TEST

START_TEST(numbers_at_the_edges)
{
	struct buf b = { 0 };

	news_body(&b, "cap", "9223372036854775807");
	ck_assert_int_eq(decode(b.data), 0);
	ck_assert_uint_eq(msg.gm_news[1].mn_facts.mf_capacity,
	    (uint64_t)INT64_MAX);
	gossip_msg_free(&msg);
	news_body(&b, "hb", "0");
	ck_assert_int_eq(decode(b.data), 0);
	ck_assert_uint_eq(msg.gm_news[1].mn_facts.mf_heartbeat, 0);
	gossip_msg_free(&msg);
	buf_free(&b);
}
END_TEST

/* Every prefix of a valid message is refused, cleanly (ASan watches the
 * reads; the message is left empty). */
START_TEST(truncated_at_every_length)
{
	struct gossip_msg m;
	struct buf b = { 0 };
	size_t len;

	full_message(&m);
	ck_assert_int_eq(gossip_msg_encode(&m, &b), 0);
	for (len = 0; len < b.len; len++) {
		int rc = decode_n(b.data, len, 1024);

		if (rc != -1 || !msg_is_empty(&msg) ||
		    strncmp(why, "gossip: ", 8) != 0)
			ck_abort_msg("prefix of %zu bytes: rc %d, why \"%s\"",
			    len, rc, why);
	}
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), 0);
	gossip_msg_free(&msg);
	buf_free(&b);
}
END_TEST

/* A body with n digest lines (and no news), or n news entries. */
static void
many_lines(struct buf *b, size_t n, bool news)
{
	size_t i;

	buf_reset(b);
	buf_append_str(b, HEAD "\"digest\":[");
	for (i = 0; i < n && !news; i++)
		buf_printf(b, "%s[\"n%zu\",1,2,\"alive\",1]", i > 0 ? "," : "",
		    i);
	buf_append_str(b, "],\"news\":[");
	for (i = 0; i < n && news; i++)
		buf_printf(b, "%s{\"name\":\"n%zu\",\"addr\":\"h:1\",\"inc\":1,"
		    "\"ver\":2,\"hb\":3,\"store\":true,\"cap\":10,\"used\":5,"
		    "\"left\":false,\"state\":\"alive\",\"sinc\":1}",
		    i > 0 ? "," : "", i);
	buf_append_str(b, "]}");
}

START_TEST(too_many_members)
{
	struct buf b = { 0 };

	many_lines(&b, 100000, false);
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), -1);
	ck_assert_str_eq(why, "gossip: more than 1024 members");
	ck_assert(msg_is_empty(&msg));
	many_lines(&b, 1025, true);
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), -1);
	ck_assert_str_eq(why, "gossip: more than 1024 members");
	ck_assert(msg_is_empty(&msg));
	/* Up to the limit, both are taken. */
	many_lines(&b, 1024, true);
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), 0);
	ck_assert_uint_eq(msg.gm_nnews, 1024);
	ck_assert_str_eq(msg.gm_news[1023].mn_facts.mf_name, "n1023");
	gossip_msg_free(&msg);
	many_lines(&b, 1024, false);
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), 0);
	ck_assert_uint_eq(msg.gm_ndigest, 1024);
	gossip_msg_free(&msg);
	buf_free(&b);
}
END_TEST

/* -- nesting ------------------------------------------------------------ */

static void
nested(struct buf *b, const char *open, const char *close, size_t levels)
{
	size_t i;

	buf_reset(b);
	for (i = 0; i < levels; i++)
		buf_append_str(b, open);
	for (i = 0; i < levels; i++)
		buf_append_str(b, close);
}

/* 10,000 levels: the scan refuses them before jansson sees a byte (its
 * own limit, 2048, would give another reason). */
START_TEST(deep_nesting_refused_by_the_scan)
{
	struct buf b = { 0 };

	nested(&b, "[", "]", 10000);
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), -1);
	ck_assert_str_eq(why, "gossip: nested too deep");
	nested(&b, "{\"a\":", "}", 10000);
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), -1);
	ck_assert_str_eq(why, "gossip: nested too deep");
	/* Unclosed: no end is needed to be refused. */
	nested(&b, "[", "", 1000000);
	ck_assert_int_eq(decode_n(b.data, b.len, 1024), -1);
	ck_assert_str_eq(why, "gossip: nested too deep");
	ck_assert(msg_is_empty(&msg));
	buf_free(&b);
}
END_TEST

/* Seven levels are allowed (the message uses six); eight are not. */
START_TEST(depth_limit_exact)
{
	ck_assert_int_eq(decode(HEAD "\"x\":[[[[[[]]]]]]," EMPTY_LISTS), 0);
	gossip_msg_free(&msg);
	refused_as(HEAD "\"x\":[[[[[[[]]]]]]]," EMPTY_LISTS,
	    "gossip: nested too deep", 0);
	refused_as(HEAD "\"x\":[{\"y\":[{\"z\":[{\"w\":[]}]}]}]," EMPTY_LISTS,
	    "gossip: nested too deep", 1);
}
END_TEST

/* Brackets in strings are not nesting, escaped quotes do not end a
 * string, and an escaped backslash does. */
START_TEST(depth_scan_reads_strings)
{
	static const char *shallow[] = {
		"[\"[[[[[[[[\"]",
		"[\"\\\"[[[[[[[[\"]",
		"[\"\\\\\",[[[]]]]",
		"{\"{{{{{{\":\"}}}}}}}}}}\",\"a\":[[[]]]}",
		"]]]]][[[[]]]]",
	};
	static const char *deep[] = {
		"[\"\\\\\",[[[[]]]]]",
		"[\"a\\\"\",\"\",[[[[]]]]]",
		"[[[[[\"",
	};
	size_t i;

	for (i = 0; i < sizeof(shallow) / sizeof(shallow[0]); i++)
		ck_assert_msg(!too_deep(shallow[i], strlen(shallow[i]), 4),
		    "%s", shallow[i]);
	for (i = 0; i < sizeof(deep) / sizeof(deep[0]); i++)
		ck_assert_msg(too_deep(deep[i], strlen(deep[i]), 4), "%s",
		    deep[i]);
	/* A backslash as the last byte does not read past the end. */
	ck_assert(!too_deep("[\"\\", 3, 4));
	/* A name may hold brackets: a message of them is taken. */
	ck_assert_int_eq(decode("{\"v\":1,\"cluster\":\"[[[[{{{{\","
	    "\"from\":\"[[[[[\",\"x\":\"\\\"[[[[[\"," EMPTY_LISTS), 0);
	ck_assert_str_eq(msg.gm_cluster, "[[[[{{{{");
	gossip_msg_free(&msg);
}
END_TEST

/* -- writing what cannot be read ---------------------------------------- */

START_TEST(encode_refuses_invalid)
{
	struct gossip_msg m;
	struct buf b = { 0 };

	buf_append_str(&b, "before");
	full_message(&m);
	m.gm_digest[2].md_state = MEMBER_STATES;
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	m.gm_news[1].mn_state = 200;
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	m.gm_news[1].mn_facts.mf_used = (uint64_t)INT64_MAX + 1;
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	m.gm_digest[0].md_state_inc = UINT64_MAX;
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	strcpy(m.gm_news[3].mn_facts.mf_addr, "a b:1");
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	memset(m.gm_digest[1].md_name, 'x', MEMBER_NAME_MAX);	/* no NUL */
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	m.gm_from[0] = '\0';
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	m.gm_cluster[0] = '\0';
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	m.gm_cluster[GOSSIP_CLUSTER_MAX - 1] = 'c';		/* no NUL */
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	strcpy(m.gm_cluster, "a\tb");
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	full_message(&m);
	strcpy(m.gm_cluster, "\xff");				/* not UTF-8 */
	ck_assert_int_eq(gossip_msg_encode(&m, &b), -1);
	ck_assert_uint_eq(b.len, 6);
	ck_assert(memcmp(b.data, "before", 6) == 0);
	buf_free(&b);
}
END_TEST

/* -- the catalogue's part ------------------------------------------------ */

static struct cat_want cat_wants[3];
static struct gossip_chunk cat_chunks[2];
static struct cat_fact_msg cat_facts[6];

static void
fact_set(struct cat_fact_msg *f, const char *name, size_t len, uint64_t seq)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->cm_name, name, len);
	f->cm_name_len = len;
	f->cm_digest.d_hi = 0x0123456789abcdefULL ^ seq;
	f->cm_digest.d_lo = 0xfedcba9876543210ULL;
	f->cm_size = seq * 1000;
	snprintf(f->cm_origin, sizeof(f->cm_origin), "node-%llu",
	    (unsigned long long)seq % 3);
	f->cm_hlc = ((uint64_t)1800000000000 << 16) + seq;
	f->cm_seq = seq;
	f->cm_gone = seq % 2 == 0;
	f->cm_striped = seq % 3 == 0;
}

/* Wants, a full resync and a delta, names of every kind: plain, with
 * spaces and escapes, not UTF-8, the longest, and numbers at 2^63 - 1. */
static void
cat_message(struct gossip_msg *m)
{
	char longest[NAME_MAX_LEN];
	size_t i;

	for (i = 0; i < NAME_MAX_LEN; i++)
		longest[i] = (char)(i % 2 == 0 ? 0x80 + i % 100 : 'a' + i % 26);
	full_message(m);
	m->gm_news[1].mn_facts.mf_cat_inc = 1800000000000;
	m->gm_news[1].mn_facts.mf_cat_seq = (uint64_t)INT64_MAX;
	m->gm_wall_ms = 1800000000123;
	memset(cat_wants, 0, sizeof(cat_wants));
	strcpy(cat_wants[0].cw_owner, "node-1");
	cat_wants[0].cw_inc = 1800000000000;
	cat_wants[0].cw_after = 12;
	strcpy(cat_wants[1].cw_owner, LONG_NAME);
	cat_wants[2].cw_inc = cat_wants[2].cw_after = (uint64_t)INT64_MAX;
	cat_wants[2].cw_floor = 9;
	strcpy(cat_wants[2].cw_owner, "[::1]:80");
	m->gm_wants = cat_wants;
	m->gm_nwants = 3;
	fact_set(&cat_facts[0], "plain.txt", 9, 3);
	fact_set(&cat_facts[1], "a b%c\"d\\e?f#", sizeof("a b%c\"d\\e?f#") - 1,
	    4);
	fact_set(&cat_facts[2], "\xff\xfe\x80 latin-1 \xe9t\xe9",
	    sizeof("\xff\xfe\x80 latin-1 \xe9t\xe9") - 1, 7);
	fact_set(&cat_facts[3], longest, NAME_MAX_LEN, 8);
	fact_set(&cat_facts[4], "\xc3\xa9t\xc3\xa9.bin",
	    sizeof("\xc3\xa9t\xc3\xa9.bin") - 1, 13);
	fact_set(&cat_facts[5], "x", 1, (uint64_t)INT64_MAX);
	cat_facts[5].cm_size = cat_facts[5].cm_hlc = (uint64_t)INT64_MAX;
	cat_facts[5].cm_digest.d_hi = cat_facts[5].cm_digest.d_lo = UINT64_MAX;
	memset(cat_chunks, 0, sizeof(cat_chunks));
	strcpy(cat_chunks[0].gc_chunk.cc_owner, "node-2");
	cat_chunks[0].gc_chunk.cc_inc = 1800000000000;
	cat_chunks[0].gc_chunk.cc_from = 0;
	cat_chunks[0].gc_chunk.cc_to = 8;
	cat_chunks[0].gc_chunk.cc_floor = 2;
	cat_chunks[0].gc_facts = cat_facts;
	cat_chunks[0].gc_nfacts = 4;
	strcpy(cat_chunks[1].gc_chunk.cc_owner, "node-1");
	cat_chunks[1].gc_chunk.cc_inc = (uint64_t)INT64_MAX;
	cat_chunks[1].gc_chunk.cc_from = 12;
	cat_chunks[1].gc_chunk.cc_to = (uint64_t)INT64_MAX;
	cat_chunks[1].gc_chunk.cc_floor = (uint64_t)INT64_MAX;
	cat_chunks[1].gc_facts = cat_facts + 4;
	cat_chunks[1].gc_nfacts = 2;
	m->gm_chunks = cat_chunks;
	m->gm_nchunks = 2;
}

START_TEST(cat_round_trip)
{
	struct gossip_msg m;
	struct buf b = { 0 };
	size_t i;

	cat_message(&m);
	ck_assert_int_eq(gossip_msg_encode(&m, &b), 0);
	/* Whatever the names' bytes, the catalogue's part is ASCII. */
	for (i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] >= 0x80)
			ck_assert(i < 40);	/* the cluster's name only */
	ck_assert_int_eq(decode_n(b.data, b.len, 5), 0);
	assert_same(&m, &msg);
	gossip_msg_free(&msg);
	ck_assert(msg_is_empty(&msg));
	buf_free(&b);
}
END_TEST

/* The header's format of the catalogue's part, to the byte. */
START_TEST(cat_format_exact)
{
	struct gossip_msg m;
	struct buf b = { 0 };

	memset(&m, 0, sizeof(m));
	strcpy(m.gm_cluster, "shoal");
	strcpy(m.gm_from, "a");
	m.gm_wall_ms = 1800000000123;
	memset(cat_wants, 0, sizeof(cat_wants));
	strcpy(cat_wants[0].cw_owner, "b");
	cat_wants[0].cw_inc = 1800000000000;
	cat_wants[0].cw_after = 5;
	m.gm_wants = cat_wants;
	m.gm_nwants = 1;
	memset(cat_chunks, 0, sizeof(cat_chunks));
	strcpy(cat_chunks[0].gc_chunk.cc_owner, "b");
	cat_chunks[0].gc_chunk.cc_inc = 1800000000000;
	cat_chunks[0].gc_chunk.cc_from = 5;
	cat_chunks[0].gc_chunk.cc_to = 7;
	cat_chunks[0].gc_chunk.cc_floor = 1;
	fact_set(&cat_facts[0], "a b.txt", 7, 6);
	cat_facts[0].cm_gone = false;
	cat_facts[0].cm_striped = false;	/* a plain version: 7 items */
	cat_chunks[0].gc_facts = cat_facts;
	cat_chunks[0].gc_nfacts = 1;
	m.gm_chunks = cat_chunks;
	m.gm_nchunks = 1;
	ck_assert_int_eq(gossip_msg_encode(&m, &b), 0);
	buf_append(&b, "", 1);
	ck_assert_str_eq(b.data, "{\"v\":1,\"cluster\":\"shoal\",\"from\":\"a\","
	    "\"range\":[0,0],\"digest\":[],\"news\":[],\"t\":1800000000123,"
	    "\"cat\":{\"want\":[[\"b\",1800000000000,5,0]],\"chunks\":[{"
	    "\"owner\":\"b\",\"inc\":1800000000000,\"from\":5,\"to\":7,"
	    "\"floor\":1,\"facts\":[[\"a%20b.txt\","
	    "\"0123456789abcde9fedcba9876543210\",6000,\"node-0\","
	    "117964800000000006,6,0]]}]}}");
	/* A want's floor may be absent, and items past it are ignored. */
	ck_assert_int_eq(decode(HEAD EMPTY_LISTS_OPEN ",\"cat\":{\"want\":"
	    "[[\"b\",1,2],[\"c\",3,4,5,\"later\"]]}}"), 0);
	ck_assert_uint_eq(msg.gm_nwants, 2);
	ck_assert_uint_eq(msg.gm_wants[0].cw_floor, 0);
	ck_assert_uint_eq(msg.gm_wants[1].cw_floor, 5);
	ck_assert_uint_eq(msg.gm_nchunks, 0);
	gossip_msg_free(&msg);
	buf_free(&b);
}
END_TEST

/* What a news entry without cinc and cseq, and a message without "t" or
 * "cat", read as: 0 and none. */
START_TEST(cat_absent_is_none)
{
	ck_assert_int_eq(decode(HEAD "\"digest\":[],\"news\":[{\"name\":\"b\","
	    "\"addr\":\"h:1\",\"inc\":1,\"ver\":2,\"hb\":3,\"store\":true,"
	    "\"cap\":9,\"used\":5,\"left\":false,\"state\":\"alive\","
	    "\"sinc\":1}]}"), 0);
	ck_assert_uint_eq(msg.gm_news[0].mn_facts.mf_cat_inc, 0);
	ck_assert_uint_eq(msg.gm_news[0].mn_facts.mf_cat_seq, 0);
	ck_assert_uint_eq(msg.gm_wall_ms, 0);
	ck_assert_ptr_null(msg.gm_wants);
	ck_assert_ptr_null(msg.gm_chunks);
	ck_assert_ptr_null(msg.gm_facts);
	gossip_msg_free(&msg);
	ck_assert_int_eq(decode(HEAD EMPTY_LISTS_OPEN ",\"cat\":{}}"), 0);
	ck_assert_uint_eq(msg.gm_nwants + msg.gm_nchunks, 0);
	gossip_msg_free(&msg);
	/* A chunk of no facts (an owner that holds nothing now). */
	ck_assert_int_eq(decode(HEAD EMPTY_LISTS_OPEN ",\"cat\":{\"chunks\":[{"
	    "\"owner\":\"b\",\"inc\":1,\"from\":0,\"to\":9,\"floor\":0,"
	    "\"facts\":[]}]}}"), 0);
	ck_assert_uint_eq(msg.gm_nchunks, 1);
	ck_assert_uint_eq(msg.gm_chunks[0].gc_nfacts, 0);
	ck_assert_uint_eq(msg.gm_chunks[0].gc_chunk.cc_to, 9);
	gossip_msg_free(&msg);
}
END_TEST

#define CHUNK_HEAD "{\"owner\":\"b\",\"inc\":1,\"from\":2,\"to\":9,\"floor\":0,"
#define GOOD_FACT "[\"n\",\"0123456789abcdef0123456789abcdef\",1,\"o\",5,3,0]"

static const struct {
	const char *cat;	/* the value of "cat" */
	const char *reason;
} bad_cat[] = {
	{ "[]", "gossip: cat is not an object" },
	{ "{\"want\":{}}", "gossip: cat.want is not an array" },
	{ "{\"chunks\":7}", "gossip: cat.chunks is not an array" },
	{ "{\"want\":[{}]}", "gossip: cat.want[0] is not an array" },
	{ "{\"want\":[[\"b\",1]]}", "gossip: cat.want[0] has fewer than 3 "
	    "items" },
	{ "{\"want\":[[\"b c\",1,2]]}", "gossip: cat.want[0].owner is not a "
	    "valid name" },
	{ "{\"want\":[[\"b\",-1,2]]}", "gossip: cat.want[0].inc is negative" },
	{ "{\"want\":[[\"b\",1,2.5]]}", "gossip: cat.want[0].after is not an "
	    "integer" },
	{ "{\"want\":[[\"b\",1,2,\"3\"]]}", "gossip: cat.want[0].floor is not "
	    "a number" },
	{ "{\"chunks\":[[]]}", "gossip: cat.chunks[0] is not an object" },
	{ "{\"chunks\":[{\"owner\":\"b\"}]}", "gossip: cat.chunks[0].facts is "
	    "missing" },
	{ "{\"chunks\":[{\"facts\":{}}]}", "gossip: cat.chunks[0].facts is not "
	    "an array" },
	{ "{\"chunks\":[{\"facts\":[]}]}", "gossip: cat.chunks[0].owner is "
	    "missing" },
	{ "{\"chunks\":[{\"owner\":\"\",\"facts\":[]}]}", "gossip: "
	    "cat.chunks[0].owner is not a valid name" },
	{ "{\"chunks\":[{\"owner\":\"b\",\"inc\":1,\"from\":0,\"to\":1,"
	    "\"facts\":[]}]}", "gossip: cat.chunks[0] lacks inc, from, to or "
	    "floor" },
	{ "{\"chunks\":[{\"owner\":\"b\",\"inc\":1,\"from\":3,\"to\":2,"
	    "\"floor\":0,\"facts\":[]}]}", "gossip: cat.chunks[0].from is above "
	    "to" },
	{ "{\"chunks\":[{\"owner\":\"b\",\"inc\":true,\"from\":0,\"to\":2,"
	    "\"floor\":0,\"facts\":[]}]}", "gossip: cat.chunks[0].inc is not a "
	    "number" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[{}]}]}",
	    "gossip: cat.chunks[0].facts[0] is not an array" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0\",1,\"o\",5,3]]}]}",
	    "gossip: cat.chunks[0].facts[0] has fewer than 7 items" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[" GOOD_FACT ",[1,\"0\",1,\"o\","
	    "5,3,0]]}]}", "gossip: cat.chunks[0].facts[1].name is not a string" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: name is empty" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\".x\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: name must not start with '.'" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"a/b\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: name must not contain '/'" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"a%2Fb\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: name must not contain '/'" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"a%00\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: name must not contain NUL" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"a\\n\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: name must not contain a "
	    "control byte" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"a%zz\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: bad percent-encoding" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"a%2\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: bad percent-encoding" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "AAAA\",\"0\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].name: name too long" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].digest is not 32 hex digits" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdeg\",1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].digest is not 32 hex digits" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",7,1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].digest is not 32 hex digits" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",-1,\"o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].size is negative" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",1,\"o o\",5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].origin is not a valid name" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",1,\"o\",1.5,3,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].hlc is not an integer" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",1,\"o\",5,2,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].seq is not in (from, to]" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",1,\"o\",5,10,0]]}]}",
	    "gossip: cat.chunks[0].facts[0].seq is not in (from, to]" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",1,\"o\",5,3,2]]}]}",
	    "gossip: cat.chunks[0].facts[0].gone is not 0 or 1" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",1,\"o\",5,3,true]]}]}",
	    "gossip: cat.chunks[0].facts[0].gone is not 0 or 1" },
	{ "{\"chunks\":[" CHUNK_HEAD "\"facts\":[[\"n\",\"0123456789abcdef0123456789"
	    "abcdef\",1,\"o\",5,3,0]]}]}",
	    NULL },
};

START_TEST(refuse_cat)
{
	struct buf b = { 0 };

	buf_printf(&b, HEAD EMPTY_LISTS_OPEN ",\"cat\":%s}", bad_cat[_i].cat);
	if (bad_cat[_i].reason == NULL) {
		ck_assert_msg(decode(b.data) == 0, "row %d: %s", _i, why);
		gossip_msg_free(&msg);
	} else {
		refused_as(b.data, bad_cat[_i].reason, _i);
	}
	buf_free(&b);
}
END_TEST

/* "t" is an integer from 0 to 2^63 - 1 like any number. */
START_TEST(refuse_wall)
{
	refused_as(HEAD EMPTY_LISTS_OPEN ",\"t\":-1}", "gossip: t is negative",
	    0);
	refused_as(HEAD EMPTY_LISTS_OPEN ",\"t\":\"1\"}",
	    "gossip: t is not a number", 1);
	ck_assert_int_eq(decode(HEAD EMPTY_LISTS_OPEN ",\"t\":0}"), 0);
	ck_assert_uint_eq(msg.gm_wall_ms, 0);
	gossip_msg_free(&msg);
}
END_TEST

/* More wants, chunks or facts than the format allows. */
START_TEST(cat_counts_bounded)
{
	struct buf b = { 0 };
	size_t i;

	buf_append_str(&b, HEAD EMPTY_LISTS_OPEN ",\"cat\":{\"want\":[");
	for (i = 0; i <= GOSSIP_WANTS_MAX; i++)
		buf_printf(&b, "%s[\"b\",1,%zu]", i > 0 ? "," : "", i);
	buf_append_str(&b, "]}}");
	buf_append(&b, "", 1);
	refused_as(b.data, "gossip: cat.want has more than 32 items", 0);
	buf_reset(&b);
	buf_append_str(&b, HEAD EMPTY_LISTS_OPEN ",\"cat\":{\"chunks\":[");
	for (i = 0; i <= GOSSIP_WANTS_MAX; i++)
		buf_printf(&b, "%s" CHUNK_HEAD "\"facts\":[]}", i > 0 ? "," : "");
	buf_append_str(&b, "]}}");
	buf_append(&b, "", 1);
	refused_as(b.data, "gossip: cat.chunks has more than 32 items", 1);
	/* GOSSIP_FACTS_MAX in two chunks is taken; one more is not. */
	for (i = 0; i < 2; i++) {
		size_t k, n = GOSSIP_FACTS_MAX / 2 + i;

		buf_reset(&b);
		buf_append_str(&b, HEAD EMPTY_LISTS_OPEN ",\"cat\":{\"chunks\":[");
		buf_printf(&b, "{\"owner\":\"b\",\"inc\":1,\"from\":0,\"to\":%zu,"
		    "\"floor\":0,\"facts\":[", n);
		for (k = 0; k < n; k++)
			buf_printf(&b, "%s[\"n%zu\",\"0123456789abcdef0123456789"
			    "abcdef\",1,\"o\",5,%zu,0]", k > 0 ? "," : "", k,
			    k + 1);
		buf_printf(&b, "]},{\"owner\":\"c\",\"inc\":1,\"from\":0,"
		    "\"to\":%d,\"floor\":0,\"facts\":[", GOSSIP_FACTS_MAX / 2);
		for (k = 0; k < GOSSIP_FACTS_MAX / 2; k++)
			buf_printf(&b, "%s[\"n%zu\",\"0123456789abcdef0123456789"
			    "abcdef\",1,\"o\",5,%zu,1]", k > 0 ? "," : "", k,
			    k + 1);
		buf_append_str(&b, "]}]}}");
		buf_append(&b, "", 1);
		if (i == 0) {
			ck_assert_int_eq(decode(b.data), 0);
			ck_assert_uint_eq(msg.gm_nfacts, GOSSIP_FACTS_MAX);
			ck_assert_str_eq(msg.gm_chunks[1].gc_facts[0].cm_name,
			    "n0");
			ck_assert(msg.gm_chunks[1].gc_facts[0].cm_gone);
			gossip_msg_free(&msg);
		} else {
			refused_as(b.data, "gossip: more than 8192 facts", 2);
		}
	}
	buf_free(&b);
}
END_TEST

/* What the writer will not write. */
START_TEST(cat_encode_refuses_invalid)
{
	struct gossip_msg m;
	struct buf b = { 0 };
	int row;

	for (row = 0; row < 9; row++) {
		cat_message(&m);
		switch (row) {
		case 0:
			cat_facts[1].cm_seq = 2;	/* not after from */
			cat_facts[1].cm_seq = 0;
			break;
		case 1:
			cat_facts[4].cm_seq = 12;	/* = from */
			break;
		case 2:
			cat_facts[0].cm_name[0] = '.';
			break;
		case 3:
			cat_facts[0].cm_name[2] = '/';
			break;
		case 4:
			cat_facts[0].cm_name_len = 0;
			break;
		case 5:
			strcpy(cat_facts[2].cm_origin, "a b");
			break;
		case 6:
			strcpy(cat_wants[1].cw_owner, "");
			break;
		case 7:
			cat_chunks[1].gc_chunk.cc_from =
			    cat_chunks[1].gc_chunk.cc_to + 1;
			break;
		default:
			m.gm_nwants = GOSSIP_WANTS_MAX + 1;
			break;
		}
		buf_reset(&b);
		buf_append_str(&b, "before");
		ck_assert_msg(gossip_msg_encode(&m, &b) == -1, "row %d", row);
		ck_assert_uint_eq(b.len, 6);
	}
	buf_free(&b);
}
END_TEST

/* -- the body limit ------------------------------------------------------ */

/* n members at their longest: every digest line and news entry as long
 * as the writer makes them. */
static void
longest_message(struct gossip_msg *m, size_t n)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	memset(m->gm_cluster, 'c', GOSSIP_CLUSTER_MAX - 1);
	memset(m->gm_from, 'f', MEMBER_NAME_MAX - 1);
	m->gm_digest = xcalloc(n, sizeof(*m->gm_digest));
	m->gm_news = xcalloc(n, sizeof(*m->gm_news));
	m->gm_ndigest = m->gm_nnews = n;
	for (i = 0; i < n; i++) {
		struct member_digest *d = &m->gm_digest[i];
		struct member_facts *f = &m->gm_news[i].mn_facts;

		memset(d->md_name, 'n', MEMBER_NAME_MAX - 1);
		d->md_incarnation = d->md_version = d->md_state_inc = INT64_MAX;
		d->md_state = MEMBER_SUSPECT;
		memcpy(f->mf_name, d->md_name, MEMBER_NAME_MAX);
		memset(f->mf_addr, 'a', MEMBER_ADDR_MAX - 1);
		f->mf_incarnation = f->mf_version = f->mf_heartbeat = INT64_MAX;
		f->mf_capacity = f->mf_used = INT64_MAX;
		m->gm_news[i].mn_state = MEMBER_SUSPECT;
		m->gm_news[i].mn_state_inc = INT64_MAX;
		f->mf_cat_inc = f->mf_cat_seq = INT64_MAX;
	}
}

/* The catalogue's part at its longest: every want, and chunks of facts
 * whose names are all escapes, as many as the budget lets through, and
 * one more per chunk. */
static void
longest_cat(struct gossip_msg *m)
{
	size_t per = GOSSIP_CAT_BUDGET / (CATALOGUE_FACT_WIRE_BYTES +
	    NAME_MAX_LEN) / GOSSIP_WANTS_MAX + 2, i, k;

	m->gm_wall_ms = INT64_MAX;
	m->gm_wants = xcalloc(GOSSIP_WANTS_MAX, sizeof(*m->gm_wants));
	m->gm_nwants = GOSSIP_WANTS_MAX;
	m->gm_chunks = xcalloc(GOSSIP_WANTS_MAX, sizeof(*m->gm_chunks));
	m->gm_nchunks = GOSSIP_WANTS_MAX;
	m->gm_facts = xcalloc(per * GOSSIP_WANTS_MAX, sizeof(*m->gm_facts));
	m->gm_nfacts = per * GOSSIP_WANTS_MAX;
	for (i = 0; i < GOSSIP_WANTS_MAX; i++) {
		struct cat_want *w = &m->gm_wants[i];
		struct gossip_chunk *gc = &m->gm_chunks[i];

		memset(w->cw_owner, 'o', MEMBER_NAME_MAX - 1);
		w->cw_inc = w->cw_after = w->cw_floor = INT64_MAX;
		memcpy(gc->gc_chunk.cc_owner, w->cw_owner, MEMBER_NAME_MAX);
		gc->gc_chunk.cc_inc = gc->gc_chunk.cc_to = INT64_MAX;
		gc->gc_chunk.cc_floor = INT64_MAX;
		gc->gc_chunk.cc_from = INT64_MAX - per - 1;
		gc->gc_facts = m->gm_facts + i * per;
		gc->gc_nfacts = per;
		for (k = 0; k < per; k++) {
			struct cat_fact_msg *f = &gc->gc_facts[k];

			memset(f->cm_name, 0xfe, NAME_MAX_LEN);
			f->cm_name_len = NAME_MAX_LEN;
			f->cm_digest.d_hi = f->cm_digest.d_lo = UINT64_MAX;
			f->cm_size = f->cm_hlc = INT64_MAX;
			memset(f->cm_origin, 'g', MEMBER_NAME_MAX - 1);
			f->cm_seq = INT64_MAX - k;
			f->cm_gone = true;
		}
	}
	/* Facts and chunks are not all there is: the news above. */
	ck_assert_uint_le(m->gm_nfacts * (CATALOGUE_FACT_WIRE_BYTES +
	    NAME_MAX_LEN), GOSSIP_CAT_BUDGET + 2 * GOSSIP_WANTS_MAX *
	    (CATALOGUE_FACT_WIRE_BYTES + NAME_MAX_LEN));
}

START_TEST(body_max_holds_the_longest_message)
{
	static const size_t sizes[] = { 1, 16, 1024 };
	struct gossip_msg m;
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		longest_message(&m, sizes[i]);
		longest_cat(&m);
		buf_reset(&b);
		ck_assert_int_eq(gossip_msg_encode(&m, &b), 0);
		ck_assert_uint_le(b.len, gossip_body_max(sizes[i]));
		/* ... with a margin, not a multiple. */
		ck_assert_uint_le(gossip_body_max(sizes[i]),
		    b.len * 3 / 2 + 4096);
		printf("gossip body: %zu members at their longest: %zu bytes; "
		    "limit %zu\n", sizes[i], b.len, gossip_body_max(sizes[i]));
		ck_assert_int_eq(decode_n(b.data, b.len, sizes[i]), 0);
		assert_same(&m, &msg);
		gossip_msg_free(&msg);
		gossip_msg_free(&m);
	}
	ck_assert_uint_eq(gossip_body_max(0), GOSSIP_MARGIN + CAT_HEAD_MAX +
	    GOSSIP_WANTS_MAX * (WANT_MAX + CHUNK_HEAD_MAX + FACT_MAX) +
	    3 * GOSSIP_CAT_BUDGET);
	ck_assert_uint_eq(gossip_body_max(SIZE_MAX),
	    gossip_body_max(MEMBERS_MAX));
	buf_free(&b);
}
END_TEST

static void
gossip_msg_suite(void)
{
	TCase *tc;

	tc = check_main_tcase("round_trip", NULL, NULL, NULL, 0);
	tcase_add_test(tc, round_trip_full);
	tcase_add_test(tc, format_exact);
	tcase_add_test(tc, round_trip_empty);
	tcase_add_test(tc, answer_with_empty_digest);
	tcase_add_test(tc, range_absent_and_refused);
	tcase_add_test(tc, unknown_keys_ignored);
	tcase_add_test(tc, why_may_be_null);
	tcase_add_test(tc, encode_refuses_invalid);
	tcase_add_test(tc, cat_round_trip);
	tcase_add_test(tc, cat_format_exact);
	tcase_add_test(tc, cat_absent_is_none);
	tcase_add_test(tc, cat_encode_refuses_invalid);

	tc = check_main_tcase("refusals", NULL, NULL, NULL, 0);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, refuse_message, 0,
	    (int)(sizeof(bad_messages) / sizeof(bad_messages[0])));
	tcase_add_loop_test(tc, refuse_news, 0,
	    (int)(sizeof(bad_news) / sizeof(bad_news[0])));
	tcase_add_test(tc, news_body_is_valid);
	tcase_add_loop_test(tc, refuse_digest, 0,
	    (int)(sizeof(bad_digest) / sizeof(bad_digest[0])));
	tcase_add_test(tc, numbers_at_the_edges);
	tcase_add_test(tc, truncated_at_every_length);
	tcase_add_test(tc, too_many_members);
	tcase_add_loop_test(tc, refuse_cat, 0,
	    (int)(sizeof(bad_cat) / sizeof(bad_cat[0])));
	tcase_add_test(tc, refuse_wall);
	tcase_add_test(tc, cat_counts_bounded);

	tc = check_main_tcase("nesting", NULL, NULL, NULL, 0);
	tcase_add_test(tc, deep_nesting_refused_by_the_scan);
	tcase_add_test(tc, depth_limit_exact);
	tcase_add_test(tc, depth_scan_reads_strings);

	tc = check_main_tcase("body_max", NULL, NULL, NULL, 0);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, body_max_holds_the_longest_message);
}

int
main(void)
{
	gossip_msg_suite();
	return check_main_run();
}
