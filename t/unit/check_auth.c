/*
 * check_auth.c - unit tests for src/cluster/auth.c: signing requests and
 * answers between members, verifying them (every field covered by the
 * MAC, the strict header, the window, replays), the nonce cache (reuse of
 * expired slots, BUSY, sharing across fork(), a holder that died) and
 * known answers computed once with the openssl command.
 * Includes the .c file; links the rest. Heads are built as text and read
 * by the real parser (http_parse_request(), http_parse_response()).
 * Runs in Check's fork mode: each test makes its own key and cache.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "cluster/auth.c"

#define KEY "shoal-test-key-0123456789abcdef-0123"	/* 36 bytes */
#define T0 1700000000000LL
#define W AUTH_WINDOW_MS
#define CAPACITY 64

static const uint8_t nonce0[AUTH_NONCE_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};
static const char body0[] = "{\"members\":[]}";

static const struct http_limits limits = { 8192, 8192, 100, 65536 };

static struct auth_key *key;
static struct auth_cache *cache;
static void *cache_mem;
static uint8_t digest0[AUTH_DIGEST_LEN];	/* of body0 */

static void
setup(void)
{
	key = auth_key_new(KEY, strlen(KEY));
	ck_assert_ptr_nonnull(key);
	cache_mem = malloc(auth_cache_size(CAPACITY));
	ck_assert_ptr_nonnull(cache_mem);
	cache = auth_cache_init(cache_mem, CAPACITY);
	ck_assert_ptr_nonnull(cache);
	ck_assert_int_eq(auth_body_digest(body0, strlen(body0), digest0), 0);
}

static void
teardown(void)
{
	auth_key_free(key);
	free(cache_mem);
}

/* The i-th test nonce: distinct for distinct i, homes spread. */
static void
nonce_n(unsigned i, uint8_t nonce[AUTH_NONCE_LEN])
{
	memcpy(nonce, nonce0, AUTH_NONCE_LEN);
	nonce[0] = (uint8_t)(i + 1);
	memcpy(nonce + 8, &i, sizeof(i));
	nonce[15] ^= 0x80;
}

/* A nonce whose home slot is 0 in any table: its first 8 bytes are 0. */
static void
nonce_home0(unsigned i, uint8_t nonce[AUTH_NONCE_LEN])
{
	memset(nonce, 0, AUTH_NONCE_LEN);
	memcpy(nonce + 8, &i, sizeof(i));
}

static void
digest_of(const char *body, uint8_t digest[AUTH_DIGEST_LEN])
{
	ck_assert_int_eq(auth_body_digest(body, strlen(body), digest), 0);
}

/* A message head and what the parser found in it. */
struct head {
	char text[4096];
	struct http_message msg;
};

/* "Shoal-Cluster: c" and "Shoal-Signature: s" lines, each when not NULL,
 * then `extra` (lines joined by CRLF, no final CRLF) when not NULL. */
static int
head_lines(char *out, size_t cap, const char *c, const char *s,
    const char *extra)
{
	return snprintf(out, cap, "%s%s%s%s%s%s%s%s\r\n",
	    c != NULL ? "Shoal-Cluster: " : "", c != NULL ? c : "",
	    c != NULL ? "\r\n" : "",
	    s != NULL ? "Shoal-Signature: " : "", s != NULL ? s : "",
	    s != NULL ? "\r\n" : "",
	    extra != NULL ? extra : "", extra != NULL ? "\r\n" : "");
}

static void
request(struct head *h, const char *method, const char *target,
    const char *cluster, const char *sig, const char *extra)
{
	struct http_error err;
	size_t n, head_len;

	n = (size_t)snprintf(h->text, sizeof(h->text),
	    "%s %s HTTP/1.1\r\nHost: b:8080\r\n", method, target);
	n += (size_t)head_lines(h->text + n, sizeof(h->text) - n, cluster,
	    sig, extra);
	ck_assert_uint_lt(n, sizeof(h->text));
	ck_assert_int_eq(http_parse_request(h->text, n, &limits, &h->msg,
	    &head_len, &err), HTTP_PARSE_DONE);
	ck_assert_uint_eq(head_len, n);
}

static void
answer(struct head *h, int status, const char *cluster, const char *sig,
    size_t body_len)
{
	struct http_error err;
	size_t n, head_len;

	n = (size_t)snprintf(h->text, sizeof(h->text),
	    "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n", status, body_len);
	n += (size_t)head_lines(h->text + n, sizeof(h->text) - n, cluster,
	    sig, NULL);
	ck_assert_uint_lt(n, sizeof(h->text));
	ck_assert_int_eq(http_parse_response(h->text, n, &limits, false,
	    &h->msg, &head_len, &err), HTTP_PARSE_DONE);
}

/* Builds a request head (see request()) and verifies it as "alpha" at
 * now, its body's digest d. */
static enum auth_verdict
check_request(const char *method, const char *target, const char *cluster,
    const char *sig, const char *extra, const uint8_t *d, int64_t now)
{
	struct head h;

	request(&h, method, target, cluster, sig, extra);
	return auth_verify_request(key, "alpha", &h.msg, d, now, cache, NULL);
}

/* The same for an answer to the request with the nonce rn; its body is
 * "ok" (digest d). */
static enum auth_verdict
check_answer(int status, const char *cluster, const char *sig,
    const uint8_t *d, int64_t now, const uint8_t *rn)
{
	struct head h;

	answer(&h, status, cluster, sig, 2);
	return auth_verify_answer(key, "alpha", &h.msg, d, now, rn);
}

/* Signs a POST /_/gossip of body0 by "alpha" at ts with nonce. */
static void
sign_gossip(int64_t ts, const uint8_t nonce[AUTH_NONCE_LEN],
    char sig[AUTH_SIGNATURE_SIZE])
{
	ck_assert_int_gt(auth_sign_request(key, "alpha", "POST", "/_/gossip",
	    digest0, ts, nonce, sig, AUTH_SIGNATURE_SIZE), 0);
}

/* Verifies a POST /_/gossip of `body` carrying sig, as "alpha" at now. */
static enum auth_verdict
verify_gossip(const char *sig, const char *body, int64_t now)
{
	uint8_t d[AUTH_DIGEST_LEN];

	digest_of(body, d);
	return check_request("POST", "/_/gossip", "alpha", sig, NULL, d, now);
}

/* s with the first `from` replaced by `to`, in out. */
static void
replace(char *out, size_t cap, const char *s, const char *from,
    const char *to)
{
	const char *at = strstr(s, from);

	ck_assert_ptr_nonnull(at);
	ck_assert_int_lt(snprintf(out, cap, "%.*s%s%s", (int)(at - s), s, to,
	    at + strlen(from)), (int)cap);
}

/* sig with the last digit of its MAC changed, still lowercase hex. */
static void
flip_last(char bad[AUTH_SIGNATURE_SIZE], const char *sig)
{
	size_t n = strlen(sig);

	memcpy(bad, sig, n + 1);
	bad[n - 1] = bad[n - 1] == '0' ? '1' : '0';
}

START_TEST(sign_then_verify)
{
	char sig[AUTH_SIGNATURE_SIZE], line[256];
	uint8_t got[AUTH_NONCE_LEN];
	struct head h;
	int n;

	n = auth_sign_request(key, "alpha", "POST", "/_/gossip", digest0, T0,
	    nonce0, sig, sizeof(sig));
	ck_assert_int_eq(n, (int)strlen(sig));
	request(&h, "POST", "/_/gossip", "alpha", sig, NULL);
	memset(got, 0xff, sizeof(got));
	ck_assert_int_eq(auth_verify_request(key, "alpha", &h.msg, digest0,
	    T0 + 5, cache, got), AUTH_OK);
	ck_assert_mem_eq(got, nonce0, AUTH_NONCE_LEN);

	/* No body: NULL stands for the digest of zero bytes. */
	nonce_n(1, got);
	ck_assert_int_gt(auth_sign_request(key, "alpha", "GET",
	    "/_/parts/ab12/3?x=%20y", NULL, T0, got, sig, sizeof(sig)), 0);
	ck_assert_int_eq(check_request("GET", "/_/parts/ab12/3?x=%20y",
	    "alpha", sig, NULL, NULL, T0), AUTH_OK);

	/* Header names are case-insensitive; spaces around a value go. */
	nonce_n(2, got);
	ck_assert_int_gt(auth_sign_request(key, "alpha", "PUT", "/_/x", NULL,
	    T0, got, sig, sizeof(sig)), 0);
	snprintf(line, sizeof(line), "shoal-signature:   %s  \r\n"
	    "SHOAL-CLUSTER:\talpha", sig);
	ck_assert_int_eq(check_request("PUT", "/_/x", NULL, NULL, line, NULL,
	    T0), AUTH_OK);
}
END_TEST

/*
 * Known answers, computed once with:
 *   D=$(printf '{"members":[]}' | openssl dgst -sha256 -r | cut -d' ' -f1)
 *   printf 'shoal-v1\nalpha\nPOST\n/_/gossip\n1700000000000\n'\
 *   '000102030405060708090a0b0c0d0e0f\n%s' "$D" |
 *     openssl dgst -sha256 -hmac 'shoal-test-key-0123456789abcdef-0123'
 * and for the answer, 200 with body "ok" (its digest D2) to that request,
 * at ts 1700000000250 with the nonce f0e0d0c0b0a090807060504030201000:
 *   printf 'shoal-v1\nalpha\n200\n000102030405060708090a0b0c0d0e0f\n'\
 *   '1700000000250\nf0e0d0c0b0a090807060504030201000\n%s' "$D2" | ...
 */
START_TEST(known_answers)
{
	static const uint8_t answer_nonce[AUTH_NONCE_LEN] = {
		0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80,
		0x70, 0x60, 0x50, 0x40, 0x30, 0x20, 0x10, 0x00,
	};
	char sig[AUTH_SIGNATURE_SIZE], hex[2 * AUTH_DIGEST_LEN + 1];
	uint8_t d[AUTH_DIGEST_LEN];

	hex[2 * AUTH_DIGEST_LEN] = '\0';
	auth_hex(digest0, AUTH_DIGEST_LEN, hex);
	ck_assert_str_eq(hex, "6375508cf89fca1184992a7df1925296"
	    "aa53eca766c56d31f66bb87e3b778620");
	ck_assert_int_eq(auth_body_digest(NULL, 0, d), 0);
	auth_hex(d, AUTH_DIGEST_LEN, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");

	sign_gossip(T0, nonce0, sig);
	ck_assert_str_eq(sig, "v1 ts=1700000000000 "
	    "nonce=000102030405060708090a0b0c0d0e0f "
	    "mac=c24c51a1e62ae15d6f4147d5c50a2541"
	    "de6fdc000682ddf57e47aae739b5b529");

	digest_of("ok", d);
	ck_assert_int_gt(auth_sign_answer(key, "alpha", 200, nonce0, d,
	    T0 + 250, answer_nonce, sig, sizeof(sig)), 0);
	ck_assert_str_eq(sig, "v1 ts=1700000000250 "
	    "nonce=f0e0d0c0b0a090807060504030201000 "
	    "mac=a32fb71a8fbfd2ac1f49184bf73b7c41"
	    "57154ab63310b58bfc0197637f0f136e");
}
END_TEST

/* Changing any one thing the MAC covers gives BAD_MAC, and records no
 * nonce: the genuine request still passes afterwards. */
START_TEST(every_field_tampered)
{
	char sig[AUTH_SIGNATURE_SIZE], bad[AUTH_SIGNATURE_SIZE + 8];
	char body[sizeof(body0)], *mac;
	uint8_t n[AUTH_NONCE_LEN];
	size_t i;

	sign_gossip(T0, nonce0, sig);

	/* Cluster: signed by "beta", claimed and checked as "alpha". */
	nonce_n(7, n);
	ck_assert_int_gt(auth_sign_request(key, "beta", "POST", "/_/gossip",
	    digest0, T0, n, bad, sizeof(bad)), 0);
	ck_assert_int_eq(verify_gossip(bad, body0, T0), AUTH_BAD_MAC);

	/* Method; target: a byte, a query added. */
	ck_assert_int_eq(check_request("PUT", "/_/gossip", "alpha", sig, NULL,
	    digest0, T0), AUTH_BAD_MAC);
	ck_assert_int_eq(check_request("POST", "/_/gossiq", "alpha", sig,
	    NULL, digest0, T0), AUTH_BAD_MAC);
	ck_assert_int_eq(check_request("POST", "/_/gossip?", "alpha", sig,
	    NULL, digest0, T0), AUTH_BAD_MAC);

	/* ts, by one millisecond (within the window); nonce, one nibble. */
	replace(bad, sizeof(bad), sig, "ts=1700000000000", "ts=1700000000001");
	ck_assert_int_eq(verify_gossip(bad, body0, T0), AUTH_BAD_MAC);
	replace(bad, sizeof(bad), sig, "nonce=0001", "nonce=0002");
	ck_assert_int_eq(verify_gossip(bad, body0, T0), AUTH_BAD_MAC);

	/* Body: each byte in turn, and none at all. */
	for (i = 0; i < strlen(body0); i++) {
		memcpy(body, body0, sizeof(body0));
		body[i] ^= 0x01;
		ck_assert_int_eq(verify_gossip(sig, body, T0), AUTH_BAD_MAC);
	}
	ck_assert_int_eq(verify_gossip(sig, "", T0), AUTH_BAD_MAC);

	/* MAC: each nibble in turn, to another lowercase digit. */
	for (i = 0; i < 2 * AUTH_MAC_LEN; i++) {
		memcpy(bad, sig, sizeof(sig));
		mac = strstr(bad, "mac=") + 4;
		mac[i] = mac[i] == '0' ? 'f' : '0';
		ck_assert_int_eq(verify_gossip(bad, body0, T0), AUTH_BAD_MAC);
	}

	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);
}
END_TEST

START_TEST(wrong_key)
{
	static const char other_key[] = "shoal-test-key-0123456789abcdef-0124";
	char sig[AUTH_SIGNATURE_SIZE];
	struct auth_key *other;

	other = auth_key_new(other_key, strlen(other_key));
	ck_assert_ptr_nonnull(other);
	ck_assert_int_gt(auth_sign_request(other, "alpha", "POST",
	    "/_/gossip", digest0, T0, nonce0, sig, sizeof(sig)), 0);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_BAD_MAC);
	auth_key_free(other);
	/* A prefix of the key is another key too. */
	other = auth_key_new(KEY, strlen(KEY) - 1);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_gt(auth_sign_request(other, "alpha", "POST",
	    "/_/gossip", digest0, T0, nonce0, sig, sizeof(sig)), 0);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_BAD_MAC);
	auth_key_free(other);
}
END_TEST

START_TEST(missing_and_other_cluster)
{
	char sig[AUTH_SIGNATURE_SIZE];

	ck_assert_int_eq(check_request("POST", "/_/gossip", NULL, NULL, NULL,
	    digest0, T0), AUTH_MISSING);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "alpha", NULL,
	    NULL, digest0, T0), AUTH_MISSING);
	ck_assert_int_eq(auth_verdict_status(AUTH_MISSING), 401);

	/* A signature that names no cluster is malformed. */
	sign_gossip(T0, nonce0, sig);
	ck_assert_int_eq(check_request("POST", "/_/gossip", NULL, sig, NULL,
	    digest0, T0), AUTH_MALFORMED);

	/* Another cluster, signed by its own rules or not at all: 403. The
	 * name is compared byte for byte. */
	ck_assert_int_gt(auth_sign_request(key, "beta", "POST", "/_/gossip",
	    digest0, T0, nonce0, sig, sizeof(sig)), 0);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "beta", sig, NULL,
	    digest0, T0), AUTH_OTHER_CLUSTER);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "beta", NULL,
	    NULL, digest0, T0), AUTH_OTHER_CLUSTER);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "Alpha", NULL,
	    NULL, digest0, T0), AUTH_OTHER_CLUSTER);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "alphaa", NULL,
	    NULL, digest0, T0), AUTH_OTHER_CLUSTER);
	ck_assert_int_eq(auth_verdict_status(AUTH_OTHER_CLUSTER), 403);

	/* None of these recorded the nonce. */
	sign_gossip(T0, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);
}
END_TEST

/* Signature values that must be refused, each made from a good one. */
START_TEST(malformed_headers)
{
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "v1 ", "v2 " },
		{ "v1 ", "V1 " },
		{ "v1 ", "v1  " },
		{ "v1 ", "" },
		{ "v1 ts=", "v1 TS=" },
		{ "v1 ts=", "v1 ts =" },
		{ " nonce=", "  nonce=" },
		{ " nonce=", "\tnonce=" },
		{ " nonce=", ",nonce=" },
		{ " mac=", " mac= " },
		{ "ts=1700000000000 ", "" },			/* no ts */
		{ "ts=1700000000000", "ts=" },
		{ "ts=1700000000000", "ts=01700000000000" },
		{ "ts=1700000000000", "ts=1700000000000000" },	/* 19 */
		{ "ts=1700000000000", "ts=1000000000000000" },	/* 16 */
		{ "ts=1700000000000", "ts=-1700000000000" },
		{ "ts=1700000000000", "ts=+1700000000000" },
		{ "ts=1700000000000", "ts=1700000000000.0" },
		{ "ts=1700000000000", "ts=0x18bcfe56800" },
		{ " nonce=000102030405060708090a0b0c0d0e0f", "" },
		{ "nonce=00", "nonce=" },			/* 30 */
		{ "nonce=00", "nonce=0" },			/* 31 */
		{ "nonce=00", "nonce=000" },			/* 33 */
		{ "0a0b", "0A0b" },				/* upper */
		{ "0e0f", "0e0g" },
		{ " mac=", "" },
		{ " mac=c24c", "" },
		{ "mac=c24c", "mac=C24c" },
		{ "mac=c24c", "mac=c24" },			/* 63 */
		{ "mac=c24c", "mac=c24c0" },			/* 65 */
		{ "b529", "b52" },
		{ "b529", "b529 x" },
		{ "b529", "b529 kid=1" },
		{ "b529", "b5\"9" },
		{ "nonce=", "mac=" },
	};
	char sig[AUTH_SIGNATURE_SIZE], bad[512], line[512];
	char longname[AUTH_CLUSTER_MAX + 2];
	size_t i;

	sign_gossip(T0, nonce0, sig);
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		replace(bad, sizeof(bad), sig, edits[i].from, edits[i].to);
		ck_assert_msg(verify_gossip(bad, body0, T0) == AUTH_MALFORMED,
		    "accepted \"%s\"", bad);
	}
	/* Fields swapped. */
	snprintf(bad, sizeof(bad), "v1 nonce=%.32s ts=1700000000000 mac=%s",
	    strstr(sig, "nonce=") + 6, strstr(sig, "mac=") + 4);
	ck_assert_int_eq(verify_gossip(bad, body0, T0), AUTH_MALFORMED);
	/* Longer than AUTH_SIGNATURE_MAX, though a valid one starts it. */
	snprintf(bad, sizeof(bad), "%s%0200d", sig, 0);
	ck_assert_int_eq(verify_gossip(bad, body0, T0), AUTH_MALFORMED);
	/* Empty, and nothing but a version. */
	ck_assert_int_eq(verify_gossip("", body0, T0), AUTH_MALFORMED);
	ck_assert_int_eq(verify_gossip("v1", body0, T0), AUTH_MALFORMED);

	/* Two signatures, two clusters, a cluster that is no name. */
	snprintf(line, sizeof(line), "Shoal-Signature: %s", sig);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "alpha", sig,
	    line, digest0, T0), AUTH_MALFORMED);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "alpha", sig,
	    "Shoal-Cluster: alpha", digest0, T0), AUTH_MALFORMED);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "", sig, NULL,
	    digest0, T0), AUTH_MALFORMED);
	ck_assert_int_eq(check_request("POST", "/_/gossip", "al pha", sig,
	    NULL, digest0, T0), AUTH_MALFORMED);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(check_request("POST", "/_/gossip", longname, sig,
	    NULL, digest0, T0), AUTH_MALFORMED);

	/* Still the original passes: nothing above recorded its nonce. */
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);
}
END_TEST

/* The parser alone: values the HTTP parser would have trimmed, and every
 * prefix of a good value in a block of exactly its size (ASan sees any
 * read past the end). */
START_TEST(parser_bounds)
{
	char sig[AUTH_SIGNATURE_SIZE], *copy;
	struct auth_sig s;
	size_t len, n;

	sign_gossip(T0, nonce0, sig);
	len = strlen(sig);
	for (n = 0; n <= len; n++) {
		copy = malloc(n > 0 ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, sig, n);
		ck_assert_int_eq(auth_parse_signature(copy, n, &s), n == len);
		free(copy);
	}
	ck_assert_int_eq(s.s_ts, T0);
	ck_assert_mem_eq(s.s_nonce, nonce0, AUTH_NONCE_LEN);

	copy = malloc(len + 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy + 1, sig, len);
	copy[0] = ' ';
	ck_assert(!auth_parse_signature(copy, len + 1, &s));
	copy[len] = ' ';
	ck_assert(!auth_parse_signature(copy + 1, len, &s));
	free(copy);
	/* A NUL inside is a byte like another. */
	sig[10] = '\0';
	ck_assert(!auth_parse_signature(sig, len, &s));

	/* The longest value there is, ts AUTH_TS_MAX, is exactly the max;
	 * ts 0 (a simulator's clock) is one digit. */
	ck_assert_int_eq(auth_sign_request(key, "alpha", "GET", "/", NULL,
	    AUTH_TS_MAX, nonce0, sig, sizeof(sig)), AUTH_SIGNATURE_MAX);
	ck_assert(auth_parse_signature(sig, strlen(sig), &s));
	ck_assert_int_eq(s.s_ts, AUTH_TS_MAX);
	ck_assert_int_gt(auth_sign_request(key, "alpha", "GET", "/", NULL, 0,
	    nonce0, sig, sizeof(sig)), 0);
	ck_assert_ptr_nonnull(strstr(sig, "v1 ts=0 nonce="));
	ck_assert(auth_parse_signature(sig, strlen(sig), &s));
	ck_assert_int_eq(s.s_ts, 0);
}
END_TEST

START_TEST(stale_both_ways)
{
	char sig[AUTH_SIGNATURE_SIZE];
	uint8_t n[AUTH_NONCE_LEN];

	/* Just outside, in the past and in the future. */
	sign_gossip(T0 - W - 1, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_STALE);
	sign_gossip(T0 + W + 1, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_STALE);
	ck_assert_int_eq(auth_verdict_status(AUTH_STALE), 401);
	/* Far off, and clocks at the ends of int64_t: no overflow. */
	sign_gossip(0, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_STALE);
	ck_assert_int_eq(verify_gossip(sig, body0, INT64_MIN), AUTH_STALE);
	ck_assert_int_eq(verify_gossip(sig, body0, INT64_MAX), AUTH_STALE);
	sign_gossip(AUTH_TS_MAX, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, INT64_MIN), AUTH_STALE);
	/* A stale request is not recorded: the same nonce, fresh, passes. */
	sign_gossip(T0, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);

	/* Exactly at the edges: accepted. */
	nonce_n(1, n);
	sign_gossip(T0 - W, n, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);
	nonce_n(2, n);
	sign_gossip(T0 + W, n, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);

	/* Signing refuses a clock it cannot write. */
	ck_assert_int_eq(auth_sign_request(key, "alpha", "GET", "/", NULL, -1,
	    n, sig, sizeof(sig)), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(auth_sign_request(key, "alpha", "GET", "/", NULL,
	    AUTH_TS_MAX + 1, n, sig, sizeof(sig)), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(replayed)
{
	char sig[AUTH_SIGNATURE_SIZE];

	sign_gossip(T0, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);
	ck_assert_int_eq(verify_gossip(sig, body0, T0 + 1), AUTH_REPLAYED);
	ck_assert_int_eq(verify_gossip(sig, body0, T0 + W), AUTH_REPLAYED);
	ck_assert_int_eq(auth_verdict_status(AUTH_REPLAYED), 401);
	/* Once the window has passed, the replay is stale. */
	ck_assert_int_eq(verify_gossip(sig, body0, T0 + W + 1), AUTH_STALE);
	/* A nonce used again by a key holder, for another request. */
	ck_assert_int_gt(auth_sign_request(key, "alpha", "GET", "/_/other",
	    NULL, T0 + 10, nonce0, sig, sizeof(sig)), 0);
	ck_assert_int_eq(check_request("GET", "/_/other", "alpha", sig, NULL,
	    NULL, T0 + 10), AUTH_REPLAYED);
}
END_TEST

START_TEST(cache_slots_reused_after_window)
{
	uint8_t a[AUTH_NONCE_LEN], b[AUTH_NONCE_LEN], c[AUTH_NONCE_LEN];
	void *mem = malloc(auth_cache_size(1));
	struct auth_cache *one;

	/* One slot: taken while its ts is within the window, free after. */
	one = auth_cache_init(mem, 1);
	ck_assert_ptr_nonnull(one);
	nonce_n(1, a);
	nonce_n(2, b);
	ck_assert_int_eq(auth_cache_check_and_add(one, a, T0, T0), AUTH_OK);
	ck_assert_int_eq(auth_cache_check_and_add(one, b, T0, T0), AUTH_BUSY);
	ck_assert_int_eq(auth_cache_check_and_add(one, b, T0 + W, T0 + W),
	    AUTH_BUSY);
	ck_assert_int_eq(auth_cache_check_and_add(one, b, T0 + W + 1,
	    T0 + W + 1), AUTH_OK);
	ck_assert_int_eq(one->ac_slots[0].as_ts, T0 + W + 1);
	ck_assert_mem_eq(one->ac_slots[0].as_nonce, b, AUTH_NONCE_LEN);
	/* a is gone from the table, but its ts is stale anyway. */
	ck_assert_int_eq(auth_cache_check_and_add(one, a, T0, T0 + W + 1),
	    AUTH_STALE);
	ck_assert_int_eq(auth_cache_check_and_add(one, b, T0 + W + 1,
	    T0 + W + 2), AUTH_REPLAYED);
	/* A ts ahead keeps its slot until it is a window in the past. */
	ck_assert_int_eq(auth_cache_check_and_add(one, a, T0 + 3 * W,
	    T0 + 2 * W + 2), AUTH_OK);
	ck_assert_int_eq(auth_cache_check_and_add(one, b, T0 + 4 * W,
	    T0 + 4 * W), AUTH_BUSY);
	ck_assert_int_eq(auth_cache_check_and_add(one, b, T0 + 4 * W,
	    T0 + 4 * W + 1), AUTH_OK);
	/* A ts that cannot be is refused before the table is looked at. */
	ck_assert_int_eq(auth_cache_check_and_add(one, c, -1, 0),
	    AUTH_MALFORMED);
	ck_assert_int_eq(auth_cache_check_and_add(one, c, AUTH_TS_MAX + 1,
	    AUTH_TS_MAX + 1), AUTH_MALFORMED);
	free(mem);

	/* Three nonces of one run: the first expires; the second is still
	 * found behind it, and a new one takes the expired slot. */
	nonce_home0(1, a);
	nonce_home0(2, b);
	nonce_home0(3, c);
	ck_assert_int_eq(auth_cache_check_and_add(cache, a, T0, T0), AUTH_OK);
	ck_assert_int_eq(auth_cache_check_and_add(cache, b, T0 + 10000,
	    T0 + 10000), AUTH_OK);
	ck_assert_mem_eq(cache->ac_slots[1].as_nonce, b, AUTH_NONCE_LEN);
	ck_assert_int_eq(auth_cache_check_and_add(cache, b, T0 + 10000,
	    T0 + W + 5000), AUTH_REPLAYED);
	ck_assert_int_eq(auth_cache_check_and_add(cache, c, T0 + W + 5000,
	    T0 + W + 5000), AUTH_OK);
	ck_assert_mem_eq(cache->ac_slots[0].as_nonce, c, AUTH_NONCE_LEN);
	ck_assert_int_eq(auth_cache_check_and_add(cache, b, T0 + 10000,
	    T0 + W + 5001), AUTH_REPLAYED);
	ck_assert_int_eq(cache->ac_slots[2].as_ts, AUTH_SLOT_UNUSED);
}
END_TEST

START_TEST(full_cache_busy)
{
	char sig[AUTH_SIGNATURE_SIZE];
	uint8_t n[AUTH_NONCE_LEN];
	void *mem = malloc(auth_cache_size(4));
	unsigned i;

	/* Through verify: four live requests fill a table of four. */
	cache = auth_cache_init(mem, 4);
	ck_assert_ptr_nonnull(cache);
	for (i = 0; i < 4; i++) {
		nonce_n(i, n);
		sign_gossip(T0 + i, n, sig);
		ck_assert_int_eq(verify_gossip(sig, body0, T0 + i), AUTH_OK);
	}
	nonce_n(4, n);
	sign_gossip(T0 + 4, n, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0 + 4), AUTH_BUSY);
	ck_assert_int_eq(auth_verdict_status(AUTH_BUSY), 503);
	/* Refused, not recorded: once the first entry lapses it passes. */
	ck_assert_int_eq(verify_gossip(sig, body0, T0 + W + 1), AUTH_OK);
	ck_assert_int_eq(verify_gossip(sig, body0, T0 + W + 1),
	    AUTH_REPLAYED);
	free(mem);

	/* A run is AUTH_CACHE_PROBES slots: that many live nonces of one
	 * home make the next of that home BUSY, not another home's. */
	cache = auth_cache_init(cache_mem, CAPACITY);
	for (i = 0; i < AUTH_CACHE_PROBES; i++) {
		nonce_home0(i, n);
		ck_assert_int_eq(auth_cache_check_and_add(cache, n, T0, T0),
		    AUTH_OK);
	}
	nonce_home0(i, n);
	ck_assert_int_eq(auth_cache_check_and_add(cache, n, T0, T0),
	    AUTH_BUSY);
	nonce_n(99, n);
	ck_assert_int_eq(auth_cache_check_and_add(cache, n, T0, T0), AUTH_OK);
}
END_TEST

/* A request refused for its MAC never takes a slot: ten of them leave a
 * table of one empty. */
START_TEST(bad_mac_not_recorded)
{
	char sig[AUTH_SIGNATURE_SIZE], bad[AUTH_SIGNATURE_SIZE];
	uint8_t n[AUTH_NONCE_LEN];
	void *mem = malloc(auth_cache_size(1));
	unsigned i;

	cache = auth_cache_init(mem, 1);
	ck_assert_ptr_nonnull(cache);
	for (i = 0; i < 10; i++) {
		nonce_n(i, n);
		sign_gossip(T0, n, sig);
		flip_last(bad, sig);
		ck_assert_int_eq(verify_gossip(bad, body0, T0), AUTH_BAD_MAC);
	}
	sign_gossip(T0, nonce0, sig);
	ck_assert_int_eq(verify_gossip(sig, body0, T0), AUTH_OK);
	free(mem);
}
END_TEST

START_TEST(answers)
{
	char sig[AUTH_SIGNATURE_SIZE], bad[AUTH_SIGNATURE_SIZE];
	uint8_t d[AUTH_DIGEST_LEN], other[AUTH_NONCE_LEN], n[AUTH_NONCE_LEN];

	nonce_n(5, n);
	nonce_n(6, other);
	digest_of("ok", d);
	ck_assert_int_gt(auth_sign_answer(key, "alpha", 200, nonce0, d, T0, n,
	    sig, sizeof(sig)), 0);
	ck_assert_int_eq(check_answer(200, "alpha", sig, d, T0 + 100, nonce0),
	    AUTH_OK);
	/* Answers are not cached: the requester takes one per nonce. */
	ck_assert_int_eq(check_answer(200, "alpha", sig, d, T0 + 100, nonce0),
	    AUTH_OK);
	/* The answer to another request. */
	ck_assert_int_eq(check_answer(200, "alpha", sig, d, T0, other),
	    AUTH_BAD_MAC);
	/* Another status, body or MAC; another cluster; late; unsigned. */
	ck_assert_int_eq(check_answer(201, "alpha", sig, d, T0, nonce0),
	    AUTH_BAD_MAC);
	ck_assert_int_eq(check_answer(200, "alpha", sig, NULL, T0, nonce0),
	    AUTH_BAD_MAC);
	flip_last(bad, sig);
	ck_assert_int_eq(check_answer(200, "alpha", bad, d, T0, nonce0),
	    AUTH_BAD_MAC);
	ck_assert_int_eq(check_answer(200, "beta", sig, d, T0, nonce0),
	    AUTH_OTHER_CLUSTER);
	ck_assert_int_eq(check_answer(200, "alpha", sig, d, T0 + W + 1,
	    nonce0), AUTH_STALE);
	ck_assert_int_eq(check_answer(401, NULL, NULL, NULL, T0, nonce0),
	    AUTH_MISSING);
	/* A status signing cannot write. */
	ck_assert_int_eq(auth_sign_answer(key, "alpha", 99, nonce0, d, T0, n,
	    sig, sizeof(sig)), -1);
	ck_assert_int_eq(auth_sign_answer(key, "alpha", 600, nonce0, d, T0, n,
	    sig, sizeof(sig)), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* An answer's signature replayed as a request ("200 <nonce>") is no
 * request's: the parser refuses that target, and so does auth. */
START_TEST(answer_is_not_a_request)
{
	char sig[AUTH_SIGNATURE_SIZE], target[2 * AUTH_NONCE_LEN];
	uint8_t d[AUTH_DIGEST_LEN];
	struct http_message msg;

	digest_of("ok", d);
	ck_assert_int_gt(auth_sign_answer(key, "alpha", 200, nonce0, d, T0,
	    nonce0, sig, sizeof(sig)), 0);
	auth_hex(nonce0, AUTH_NONCE_LEN, target);
	memset(&msg, 0, sizeof(msg));
	msg.method_name = auth_str("200", 3);
	msg.target = auth_str(target, sizeof(target));
	msg.headers[0].name = auth_str("Shoal-Cluster", 13);
	msg.headers[0].value = auth_str("alpha", 5);
	msg.headers[1].name = auth_str("Shoal-Signature", 15);
	msg.headers[1].value = auth_str(sig, strlen(sig));
	msg.nheaders = 2;
	ck_assert_int_eq(auth_verify_request(key, "alpha", &msg, d, T0, cache,
	    NULL), AUTH_BAD_MAC);
	/* The same message read as the answer passes. */
	msg.status = 200;
	ck_assert_int_eq(auth_verify_answer(key, "alpha", &msg, d, T0,
	    nonce0), AUTH_OK);
}
END_TEST

/* Waits for the child pid and asserts it exited 0. */
static void
child_ok(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The master maps the cache; a worker records, another sees the replay. */
START_TEST(cache_shared_across_fork)
{
	size_t size = auth_cache_size(CAPACITY);
	void *mem = shm_anon(size);
	char sig[AUTH_SIGNATURE_SIZE], sig2[AUTH_SIGNATURE_SIZE];
	uint8_t n[AUTH_NONCE_LEN];
	pid_t pid;

	ck_assert_ptr_nonnull(mem);
	cache = auth_cache_init(mem, CAPACITY);
	ck_assert_ptr_nonnull(cache);
	sign_gossip(T0, nonce0, sig);
	nonce_n(1, n);
	sign_gossip(T0, n, sig2);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(verify_gossip(sig, body0, T0) == AUTH_OK ? 0 : 1);
	child_ok(pid);
	ck_assert_int_eq(verify_gossip(sig, body0, T0 + 1), AUTH_REPLAYED);

	/* And the other way round. */
	ck_assert_int_eq(verify_gossip(sig2, body0, T0), AUTH_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(verify_gossip(sig2, body0, T0) == AUTH_REPLAYED ? 0 : 1);
	child_ok(pid);
	shm_free(mem, size);
}
END_TEST

/* A worker that dies holding the lock does not stop the others. */
START_TEST(cache_survives_dead_holder)
{
	size_t size = auth_cache_size(CAPACITY);
	void *mem = shm_anon(size);
	uint8_t n[AUTH_NONCE_LEN];
	pid_t pid;

	ck_assert_ptr_nonnull(mem);
	cache = auth_cache_init(mem, CAPACITY);
	ck_assert_ptr_nonnull(cache);
	nonce_n(1, n);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (auth_cache_check_and_add(cache, n, T0, T0) != AUTH_OK ||
		    shm_mutex_lock(&cache->ac_lock, NULL) != 0)
			_exit(1);
		_exit(0);
	}
	child_ok(pid);
	ck_assert_int_eq(auth_cache_check_and_add(cache, n, T0, T0),
	    AUTH_REPLAYED);
	nonce_n(2, n);
	ck_assert_int_eq(auth_cache_check_and_add(cache, n, T0, T0), AUTH_OK);
	shm_free(mem, size);
}
END_TEST

START_TEST(digests_and_nonces)
{
	static const char text[] = "a body that comes in three pieces";
	uint8_t one[AUTH_DIGEST_LEN], streamed[AUTH_DIGEST_LEN];
	uint8_t a[AUTH_NONCE_LEN], b[AUTH_NONCE_LEN];
	struct auth_hasher *h;

	digest_of(text, one);
	h = auth_hasher_new();
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(auth_hasher_update(h, text, 7), 0);
	ck_assert_int_eq(auth_hasher_update(h, NULL, 0), 0);
	ck_assert_int_eq(auth_hasher_update(h, text + 7, 10), 0);
	ck_assert_int_eq(auth_hasher_update(h, text + 17, strlen(text) - 17),
	    0);
	ck_assert_int_eq(auth_hasher_final(h, streamed), 0);
	ck_assert_mem_eq(one, streamed, AUTH_DIGEST_LEN);
	/* Nothing hashed: the empty digest; a hasher dropped unfinished. */
	h = auth_hasher_new();
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(auth_hasher_final(h, streamed), 0);
	ck_assert_mem_eq(streamed, auth_empty_digest, AUTH_DIGEST_LEN);
	auth_hasher_free(auth_hasher_new());
	auth_hasher_free(NULL);

	ck_assert_int_eq(auth_nonce(a), 0);
	ck_assert_int_eq(auth_nonce(b), 0);
	ck_assert(memcmp(a, b, AUTH_NONCE_LEN) != 0);
}
END_TEST

/* Asserts that signing a request with these fields fails with EINVAL. */
static void
sign_refused(const char *cluster, const char *method, const char *target)
{
	char sig[AUTH_SIGNATURE_SIZE];

	errno = 0;
	ck_assert_int_eq(auth_sign_request(key, cluster, method, target, NULL,
	    T0, nonce0, sig, sizeof(sig)), -1);
	ck_assert_int_eq(errno, EINVAL);
}

START_TEST(argument_errors)
{
	char sig[AUTH_SIGNATURE_SIZE], name[AUTH_CLUSTER_MAX + 2];
	char big[AUTH_KEY_MAX + 1];
	int n;

	/* Keys: AUTH_KEY_MIN..AUTH_KEY_MAX bytes. */
	memset(big, 'k', sizeof(big));
	errno = 0;
	ck_assert_ptr_null(auth_key_new(big, AUTH_KEY_MIN - 1));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(auth_key_new(big, AUTH_KEY_MAX + 1));
	ck_assert_ptr_null(auth_key_new(NULL, AUTH_KEY_MIN));
	auth_key_free(auth_key_new(big, AUTH_KEY_MIN));
	auth_key_free(auth_key_new(big, AUTH_KEY_MAX));
	auth_key_free(NULL);

	/* The buffer: exactly long enough, or ENOSPC and an empty string. */
	n = auth_sign_request(key, "alpha", "POST", "/_/gossip", digest0, T0,
	    nonce0, sig, sizeof(sig));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(auth_sign_request(key, "alpha", "POST", "/_/gossip",
	    digest0, T0, nonce0, sig, (size_t)n + 1), n);
	ck_assert_int_eq(auth_sign_request(key, "alpha", "POST", "/_/gossip",
	    digest0, T0, nonce0, sig, (size_t)n), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_str_eq(sig, "");

	/* Names, methods and targets that could not be told apart in the
	 * MAC's input, or not be sent as they are. */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	sign_refused(name, "GET", "/");
	name[AUTH_CLUSTER_MAX] = '\0';
	ck_assert_int_gt(auth_sign_request(key, name, "GET", "/", NULL, T0,
	    nonce0, sig, sizeof(sig)), 0);
	sign_refused("", "GET", "/");
	sign_refused("al\npha", "GET", "/");
	sign_refused("al pha", "GET", "/");
	sign_refused("alpha", "", "/");
	sign_refused("alpha", "GE T", "/");
	sign_refused("alpha", "GET", "");
	sign_refused("alpha", "GET", "x");
	sign_refused("alpha", "GET", "/a\nb");
	sign_refused("alpha", "GET", "/a b");
	ck_assert_int_eq(auth_sign_answer(key, "al pha", 200, nonce0, NULL,
	    T0, nonce0, sig, sizeof(sig)), -1);

	/* A node whose own name is no name cannot verify anything. */
	ck_assert_int_eq(auth_verify_request(key, "", &(struct http_message){
	    .nheaders = 0 }, NULL, T0, cache, NULL), AUTH_ERROR);
	ck_assert_int_eq(auth_verdict_status(AUTH_ERROR), 500);

	/* Cache capacities. */
	ck_assert_uint_eq(auth_cache_size(0), 0);
	ck_assert_uint_eq(auth_cache_size(AUTH_CACHE_MAX + 1), 0);
	ck_assert_uint_eq(auth_cache_size(1),
	    sizeof(struct auth_cache) + sizeof(struct auth_slot));
	ck_assert_uint_eq(sizeof(struct auth_slot), 24);
	errno = 0;
	ck_assert_ptr_null(auth_cache_init(cache_mem, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(auth_cache_init(NULL, 1));
}
END_TEST

START_TEST(verdict_reasons)
{
	enum auth_verdict v, w;
	const char *r;

	for (v = AUTH_OK; v <= AUTH_ERROR; v++) {
		r = auth_verdict_reason(v);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_gt(strlen(r), 0);
		ck_assert_ptr_null(strchr(r, '\n'));
		for (w = AUTH_OK; w < v; w++)
			ck_assert_str_ne(r, auth_verdict_reason(w));
	}
	ck_assert_int_eq(auth_verdict_status(AUTH_OK), 200);
	ck_assert_int_eq(auth_verdict_status(AUTH_MALFORMED), 401);
	ck_assert_int_eq(auth_verdict_status(AUTH_BAD_MAC), 401);
}
END_TEST

static void
auth_suite(void)
{
	TCase *tc = check_main_tcase("auth", NULL, NULL, NULL, 0);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sign_then_verify);
	tcase_add_test(tc, known_answers);
	tcase_add_test(tc, every_field_tampered);
	tcase_add_test(tc, wrong_key);
	tcase_add_test(tc, missing_and_other_cluster);
	tcase_add_test(tc, malformed_headers);
	tcase_add_test(tc, parser_bounds);
	tcase_add_test(tc, stale_both_ways);
	tcase_add_test(tc, replayed);
	tcase_add_test(tc, cache_slots_reused_after_window);
	tcase_add_test(tc, full_cache_busy);
	tcase_add_test(tc, bad_mac_not_recorded);
	tcase_add_test(tc, answers);
	tcase_add_test(tc, answer_is_not_a_request);
	tcase_add_test(tc, cache_shared_across_fork);
	tcase_add_test(tc, cache_survives_dead_holder);
	tcase_add_test(tc, digests_and_nonces);
	tcase_add_test(tc, argument_errors);
	tcase_add_test(tc, verdict_reasons);
}

int
main(void)
{
	auth_suite();
	return check_main_run();
}
