/*
 * fuzz_auth.c - libFuzzer driver for the Shoal-Signature and
 * Shoal-Cluster headers (src/cluster/auth.c), what a node reads from any
 * client that calls an internal URL.
 *
 * The input is used twice:
 *   - as the values of both headers of a signed request head, parsed by
 *     http_parse_request() and checked by auth_verify_request(): without
 *     the key nothing passes (MISSING, MALFORMED, BAD_MAC, OTHER_CLUSTER
 *     only), no verdict records a nonce, and the reason is one line;
 *   - as the body, target and clock of a request signed here: verified
 *     once it passes, twice it is a replay, with one byte of the body
 *     changed it is a bad MAC.
 * Seeds: t/fuzz/corpus/auth/, dictionary: t/fuzz/auth.dict.
 */
#include <stddef.h>

#include "cluster/auth.h"
#include "fuzz_common.h"

#define FUZZ_KEY "fuzz-key-0123456789abcdef-0123456789"

static struct auth_key *key;
static struct auth_cache *cache;

/* The key once; an empty cache for every input, so that what one input
 * recorded never makes another's first request a replay. */
static void
fuzz_init(void)
{
	static _Alignas(max_align_t) unsigned char mem[1 << 12];
	static const unsigned capacity = 64;

	if (key == NULL)
		key = auth_key_new(FUZZ_KEY, strlen(FUZZ_KEY));
	CHECK(key != NULL);
	CHECK(auth_cache_size(capacity) <= sizeof(mem));
	cache = auth_cache_init(mem, capacity);
	CHECK(cache != NULL);
}

/* The input as header values: up to its first LF (or a cut the input
 * picks) Shoal-Cluster, after it Shoal-Signature. A CR or LF left in
 * them makes another head, or none. */
static void
fuzz_headers(const uint8_t *data, size_t size)
{
	static struct http_message msg;
	struct http_error err;
	enum auth_verdict v;
	size_t cut, skip, head_len, n;
	const uint8_t *nl;
	char *head;

	nl = memchr(data, '\n', size);
	cut = nl != NULL ? (size_t)(nl - data) : fuzz_pick(data, size, 1);
	skip = nl != NULL ? 1 : 0;
	n = size + 128;
	head = malloc(n);
	CHECK(head != NULL);
	n = (size_t)snprintf(head, n, "POST /_/gossip HTTP/1.1\r\nHost: a\r\n"
	    "Shoal-Cluster: %.*s\r\nShoal-Signature: %.*s\r\n\r\n",
	    (int)cut, (const char *)data, (int)(size - cut - skip),
	    (const char *)data + cut + skip);
	if (http_parse_request(head, n, &fuzz_limits[0], &msg, &head_len,
	    &err) == HTTP_PARSE_DONE) {
		v = auth_verify_request(key, "alpha", &msg, NULL,
		    1700000000000LL, cache, NULL);
		CHECK(v == AUTH_MISSING || v == AUTH_MALFORMED ||
		    v == AUTH_BAD_MAC || v == AUTH_OTHER_CLUSTER);
		CHECK(strchr(auth_verdict_reason(v), '\n') == NULL);
	}
	free(head);
}

/* The input as a body, a target and a clock: a signature made here
 * verifies, once. */
static void
fuzz_round_trip(const uint8_t *data, size_t size)
{
	static struct http_message msg;
	static unsigned counter;
	char sig[AUTH_SIGNATURE_SIZE], target[64], *head, *body;
	uint8_t d[AUTH_DIGEST_LEN], nonce[AUTH_NONCE_LEN];
	struct http_error err;
	size_t head_len, n, i;
	int64_t now = 0;

	for (i = 0; i < size && i < 6; i++)
		now = now << 8 | data[i];
	for (i = 0; i < sizeof(target) - 2 && i < size; i++)
		if (data[i] <= 0x20 || data[i] >= 0x7f)
			break;
	target[0] = '/';
	memcpy(target + 1, data, i);
	target[i + 1] = '\0';
	memset(nonce, 0, sizeof(nonce));
	counter++;
	memcpy(nonce, &counter, sizeof(counter));
	memcpy(nonce + 8, &now, sizeof(now));

	body = fuzz_dup(data, size);
	CHECK(auth_body_digest(body, size, d) == 0);
	CHECK(auth_sign_request(key, "alpha", "PUT", target, d, now, nonce,
	    sig, sizeof(sig)) > 0);
	n = strlen(target) + sizeof(sig) + 128;
	head = malloc(n);
	CHECK(head != NULL);
	n = (size_t)snprintf(head, n, "PUT %s HTTP/1.1\r\nHost: a\r\n"
	    "Shoal-Cluster: alpha\r\nShoal-Signature: %s\r\n\r\n", target,
	    sig);
	if (http_parse_request(head, n, &fuzz_limits[0], &msg, &head_len,
	    &err) == HTTP_PARSE_DONE) {
		CHECK(auth_verify_request(key, "alpha", &msg, d, now, cache,
		    NULL) == AUTH_OK);
		CHECK(auth_verify_request(key, "alpha", &msg, d, now, cache,
		    NULL) == AUTH_REPLAYED);
		if (size > 0) {
			body[size / 2] ^= 0x20;
			CHECK(auth_body_digest(body, size, d) == 0);
			CHECK(auth_verify_request(key, "alpha", &msg, d, now,
			    cache, NULL) == AUTH_BAD_MAC);
		}
	}
	free(head);
	free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_init();
	fuzz_headers(data, size);
	fuzz_round_trip(data, size);
	return 0;
}
