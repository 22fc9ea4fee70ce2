/*
 * auth.c - signing and verifying the messages between members (see
 * auth.h for the scheme, the header and the order of the checks).
 *
 * Runs in the master (the key, the cache's layout), the workers and the
 * agent, on any thread. The key is read-only once made; OpenSSL's HMAC is
 * fetched once, with it, and a context is made per message. The nonce
 * cache lives in memory shared by all of a node's processes, under
 * ac_lock, a robust process-shared mutex. A holder that died mid-update
 * leaves at most one slot half written: a nonce of a request that was
 * never acted on (its checker died before answering) may then be accepted
 * once more, or an old nonce looks live for one more window; neither needs
 * a repair.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "cluster/auth.h"
#include "core/config.h"
#include "core/shm.h"

_Static_assert(AUTH_KEY_MIN == CONFIG_CLUSTER_KEY_MIN &&
    AUTH_KEY_MAX == CONFIG_CLUSTER_KEY_MAX,
    "the configuration accepts exactly the keys auth takes");

#define AUTH_SLOT_UNUSED (-1)	/* as_ts of a slot never written */

struct auth_key {
	EVP_MAC *k_mac;			/* HMAC, fetched once */
	size_t k_len;
	unsigned char k_bytes[];
};

struct auth_hasher {
	EVP_MD_CTX *h_ctx;
};

struct auth_slot {
	int64_t as_ts;		/* AUTH_SLOT_UNUSED, or 0..AUTH_TS_MAX */
	uint8_t as_nonce[AUTH_NONCE_LEN];
};

struct auth_cache {
	pthread_mutex_t ac_lock;
	unsigned ac_capacity;
	struct auth_slot ac_slots[];
};

/* A Shoal-Signature value, parsed; the texts point into the header. */
struct auth_sig {
	int64_t s_ts;
	struct http_str s_ts_text;
	struct http_str s_nonce_hex;
	uint8_t s_nonce[AUTH_NONCE_LEN];
	uint8_t s_mac[AUTH_MAC_LEN];
};

/* The fields after "shoal-v1" in the MAC's input, each after a LF. */
enum {
	AUTH_PART_CLUSTER,
	AUTH_PART_WHAT,			/* method, or status */
	AUTH_PART_TARGET,		/* target, or the request's nonce */
	AUTH_PART_TS,
	AUTH_PART_NONCE,
	AUTH_PART_BODY,			/* hex of the body's SHA-256 */
	AUTH_NPARTS,
};

static const char auth_hexdigits[] = "0123456789abcdef";

/* SHA-256 of zero bytes: the digest of a message without a body. */
static const uint8_t auth_empty_digest[AUTH_DIGEST_LEN] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
	0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

const char *
auth_verdict_reason(enum auth_verdict v)
{
	switch (v) {
	case AUTH_OK:
		return "signature verified";
	case AUTH_MISSING:
		return "no Shoal-Signature header";
	case AUTH_MALFORMED:
		return "malformed Shoal-Signature or Shoal-Cluster header";
	case AUTH_BAD_MAC:
		return "bad signature: wrong key or altered message";
	case AUTH_STALE:
		return "signature timestamp outside the 30 s window";
	case AUTH_REPLAYED:
		return "signature nonce already used";
	case AUTH_OTHER_CLUSTER:
		return "member of another cluster";
	case AUTH_BUSY:
		return "too many signed requests; retry later";
	case AUTH_ERROR:
		break;
	}
	return "cannot check the signature";
}

int
auth_verdict_status(enum auth_verdict v)
{
	switch (v) {
	case AUTH_OK:
		return 200;
	case AUTH_OTHER_CLUSTER:
		return 403;
	case AUTH_BUSY:
		return 503;
	case AUTH_ERROR:
		return 500;
	default:
		return 401;
	}
}

struct auth_key *
auth_key_new(const void *key, size_t len)
{
	struct auth_key *k;

	if (key == NULL || len < AUTH_KEY_MIN || len > AUTH_KEY_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if ((k = malloc(sizeof(*k) + len)) == NULL)
		return NULL;
	if ((k->k_mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) ==
	    NULL) {
		free(k);
		errno = EIO;
		return NULL;
	}
	k->k_len = len;
	memcpy(k->k_bytes, key, len);
	return k;
}

void
auth_key_free(struct auth_key *k)
{
	if (k == NULL)
		return;
	EVP_MAC_free(k->k_mac);
	OPENSSL_cleanse(k->k_bytes, k->k_len);
	free(k);
}

int
auth_nonce(uint8_t nonce[AUTH_NONCE_LEN])
{
	if (RAND_bytes(nonce, AUTH_NONCE_LEN) != 1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

struct auth_hasher *
auth_hasher_new(void)
{
	struct auth_hasher *h;

	if ((h = malloc(sizeof(*h))) == NULL)
		return NULL;
	if ((h->h_ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->h_ctx, EVP_sha256(), NULL) != 1) {
		auth_hasher_free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

int
auth_hasher_update(struct auth_hasher *h, const void *p, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(h->h_ctx, p, len) != 1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
auth_hasher_final(struct auth_hasher *h, uint8_t digest[AUTH_DIGEST_LEN])
{
	unsigned int n = 0;
	int ok;

	ok = EVP_DigestFinal_ex(h->h_ctx, digest, &n) == 1 &&
	    n == AUTH_DIGEST_LEN;
	auth_hasher_free(h);
	if (!ok) {
		errno = EIO;
		return -1;
	}
	return 0;
}

void
auth_hasher_free(struct auth_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->h_ctx);
	free(h);
}

int
auth_body_digest(const void *body, size_t len,
    uint8_t digest[AUTH_DIGEST_LEN])
{
	unsigned int n = 0;

	if (len == 0) {
		memcpy(digest, auth_empty_digest, AUTH_DIGEST_LEN);
		return 0;
	}
	if (EVP_Digest(body, len, digest, &n, EVP_sha256(), NULL) != 1 ||
	    n != AUTH_DIGEST_LEN) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static void
auth_hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = auth_hexdigits[p[i] >> 4];
		out[2 * i + 1] = auth_hexdigits[p[i] & 0x0f];
	}
}

static int
auth_lower_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes exactly 2n lowercase hex digits of p[0..avail) into out[0..n). */
static bool
auth_unhex(const char *p, size_t avail, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (avail < 2 * n)
		return false;
	for (i = 0; i < n; i++) {
		hi = auth_lower_hex_digit(p[2 * i]);
		lo = auth_lower_hex_digit(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* p[0..len) is visible ASCII (0x21-0x7e): no space, no LF. */
static bool
auth_visible(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

/* A cluster name: 1..AUTH_CLUSTER_MAX bytes of visible ASCII. */
static bool
auth_cluster_ok(const char *p, size_t len)
{
	return len > 0 && len <= AUTH_CLUSTER_MAX && auth_visible(p, len);
}

/* A request target we sign: origin-form, visible ASCII. */
static bool
auth_target_ok(const char *p, size_t len)
{
	return len > 0 && p[0] == '/' && auth_visible(p, len);
}

static bool
auth_method_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!http_is_tchar((unsigned char)p[i]))
			return false;
	return true;
}

/* Whether ts is more than the window away from now, either way; exact
 * for any two int64_t (the difference fits in a uint64_t). */
static bool
auth_stale(int64_t ts, int64_t now_ms)
{
	uint64_t d;

	d = now_ms >= ts ? (uint64_t)now_ms - (uint64_t)ts :
	    (uint64_t)ts - (uint64_t)now_ms;
	return d > AUTH_WINDOW_MS;
}

/* HMAC-SHA256 of "shoal-v1" and each part after a LF. Returns 0 or -1. */
static int
auth_mac(const struct auth_key *k, const struct http_str part[AUTH_NPARTS],
    uint8_t mac[AUTH_MAC_LEN])
{
	char digest_name[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	size_t i, n = 0;
	int ok;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest_name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(k->k_mac)) == NULL)
		return -1;
	ok = EVP_MAC_init(ctx, k->k_bytes, k->k_len, params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)"shoal-v1", 8) == 1;
	for (i = 0; ok && i < AUTH_NPARTS; i++)
		ok = EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) == 1 &&
		    EVP_MAC_update(ctx, (const unsigned char *)part[i].p,
		    part[i].len) == 1;
	ok = ok && EVP_MAC_final(ctx, mac, &n, AUTH_MAC_LEN) == 1 &&
	    n == AUTH_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

static struct http_str
auth_str(const char *p, size_t len)
{
	struct http_str s = { p, len };

	return s;
}

/*
 * Signs the fields of part[] (the body's part and the ts and nonce are
 * filled here) into "v1 ts=... nonce=... mac=..." at out[0..cap).
 */
static int
auth_sign(const struct auth_key *k, struct http_str part[AUTH_NPARTS],
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    const uint8_t nonce[AUTH_NONCE_LEN], char *out, size_t cap)
{
	char ts[24], nonce_hex[2 * AUTH_NONCE_LEN + 1];
	char body_hex[2 * AUTH_DIGEST_LEN], mac_hex[2 * AUTH_MAC_LEN + 1];
	uint8_t mac[AUTH_MAC_LEN];
	int n;

	if (now_ms < 0 || now_ms > AUTH_TS_MAX) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(ts, sizeof(ts), "%lld", (long long)now_ms);
	auth_hex(nonce, AUTH_NONCE_LEN, nonce_hex);
	nonce_hex[2 * AUTH_NONCE_LEN] = '\0';
	auth_hex(body_digest != NULL ? body_digest : auth_empty_digest,
	    AUTH_DIGEST_LEN, body_hex);
	part[AUTH_PART_TS] = auth_str(ts, (size_t)n);
	part[AUTH_PART_NONCE] = auth_str(nonce_hex, 2 * AUTH_NONCE_LEN);
	part[AUTH_PART_BODY] = auth_str(body_hex, sizeof(body_hex));
	if (auth_mac(k, part, mac) != 0) {
		errno = EIO;
		return -1;
	}
	auth_hex(mac, AUTH_MAC_LEN, mac_hex);
	mac_hex[2 * AUTH_MAC_LEN] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	n = snprintf(out, cap, "v1 ts=%s nonce=%s mac=%s", ts, nonce_hex,
	    mac_hex);
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			out[0] = '\0';
		errno = ENOSPC;
		return -1;
	}
	return n;
}

int
auth_sign_request(const struct auth_key *k, const char *cluster,
    const char *method, const char *target,
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    const uint8_t nonce[AUTH_NONCE_LEN], char *out, size_t cap)
{
	struct http_str part[AUTH_NPARTS];

	part[AUTH_PART_CLUSTER] = auth_str(cluster, strlen(cluster));
	part[AUTH_PART_WHAT] = auth_str(method, strlen(method));
	part[AUTH_PART_TARGET] = auth_str(target, strlen(target));
	if (!auth_cluster_ok(cluster, part[AUTH_PART_CLUSTER].len) ||
	    !auth_method_ok(method, part[AUTH_PART_WHAT].len) ||
	    !auth_target_ok(target, part[AUTH_PART_TARGET].len)) {
		errno = EINVAL;
		return -1;
	}
	return auth_sign(k, part, body_digest, now_ms, nonce, out, cap);
}

int
auth_sign_answer(const struct auth_key *k, const char *cluster,
    int status, const uint8_t request_nonce[AUTH_NONCE_LEN],
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    const uint8_t nonce[AUTH_NONCE_LEN], char *out, size_t cap)
{
	struct http_str part[AUTH_NPARTS];
	char what[4], target[2 * AUTH_NONCE_LEN];

	if (!auth_cluster_ok(cluster, strlen(cluster)) || status < 100 ||
	    status > 599) {
		errno = EINVAL;
		return -1;
	}
	snprintf(what, sizeof(what), "%d", status);
	auth_hex(request_nonce, AUTH_NONCE_LEN, target);
	part[AUTH_PART_CLUSTER] = auth_str(cluster, strlen(cluster));
	part[AUTH_PART_WHAT] = auth_str(what, 3);
	part[AUTH_PART_TARGET] = auth_str(target, sizeof(target));
	return auth_sign(k, part, body_digest, now_ms, nonce, out, cap);
}

/* Skips the literal lit at p[*i..len), or fails. */
static bool
auth_expect(const char *p, size_t len, size_t *i, const char *lit)
{
	size_t n = strlen(lit);

	if (len - *i < n || memcmp(p + *i, lit, n) != 0)
		return false;
	*i += n;
	return true;
}

/* Parses a Shoal-Signature value p[0..len) strictly (see auth.h). */
static bool
auth_parse_signature(const char *p, size_t len, struct auth_sig *s)
{
	size_t i = 0, start;
	int64_t ts = 0;

	if (len > AUTH_SIGNATURE_MAX || !auth_expect(p, len, &i, "v1 ts="))
		return false;
	start = i;
	while (i < len && i - start < 15 && p[i] >= '0' && p[i] <= '9')
		ts = ts * 10 + (p[i++] - '0');
	if (i == start || (i - start > 1 && p[start] == '0'))
		return false;
	s->s_ts = ts;
	s->s_ts_text = auth_str(p + start, i - start);
	if (!auth_expect(p, len, &i, " nonce=") ||
	    !auth_unhex(p + i, len - i, s->s_nonce, AUTH_NONCE_LEN))
		return false;
	s->s_nonce_hex = auth_str(p + i, 2 * AUTH_NONCE_LEN);
	i += 2 * AUTH_NONCE_LEN;
	if (!auth_expect(p, len, &i, " mac=") ||
	    !auth_unhex(p + i, len - i, s->s_mac, AUTH_MAC_LEN))
		return false;
	i += 2 * AUTH_MAC_LEN;
	return i == len;
}

/* How many headers msg has by that name (0, 1, 2 meaning "more than
 * one"); *value is the first one's. */
static int
auth_header(const struct http_message *msg, const char *name,
    struct http_str *value)
{
	size_t i;
	int n = 0;

	for (i = 0; i < msg->nheaders && i < HTTP_MAX_HEADERS; i++) {
		if (!http_str_eq(msg->headers[i].name, name))
			continue;
		if (n++ == 0)
			*value = msg->headers[i].value;
		else
			return 2;
	}
	return n;
}

/*
 * Steps 1-6 of auth.h's "Verification" for a message whose `what` and
 * `target` the caller has put in part[]; fills *sig on AUTH_OK.
 */
static enum auth_verdict
auth_check(const struct auth_key *k, const char *cluster,
    const struct http_message *msg, bool request,
    struct http_str part[AUTH_NPARTS],
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    struct auth_sig *sig)
{
	struct http_str their = { NULL, 0 }, value = { NULL, 0 }, what, target;
	char body_hex[2 * AUTH_DIGEST_LEN];
	uint8_t mac[AUTH_MAC_LEN];
	size_t cluster_len = strlen(cluster);
	int nsig, ncluster, same;

	if (!auth_cluster_ok(cluster, cluster_len))
		return AUTH_ERROR;
	ncluster = auth_header(msg, AUTH_CLUSTER_HEADER, &their);
	nsig = auth_header(msg, AUTH_SIGNATURE_HEADER, &value);
	if (ncluster > 1 || nsig > 1 ||
	    (ncluster == 1 && !auth_cluster_ok(their.p, their.len)))
		return AUTH_MALFORMED;
	if (ncluster == 1 && (their.len != cluster_len ||
	    memcmp(their.p, cluster, cluster_len) != 0))
		return AUTH_OTHER_CLUSTER;
	if (nsig == 0)
		return AUTH_MISSING;
	if (ncluster == 0 || value.p == NULL ||
	    !auth_parse_signature(value.p, value.len, sig))
		return AUTH_MALFORMED;
	/* No request is signed over a target that is not origin-form (the
	 * HTTP parser refuses them too), so an answer's MAC, whose target is
	 * a nonce, never passes for a request's. */
	what = part[AUTH_PART_WHAT];
	target = part[AUTH_PART_TARGET];
	if (request && (!auth_method_ok(what.p, what.len) ||
	    !auth_target_ok(target.p, target.len)))
		return AUTH_BAD_MAC;

	auth_hex(body_digest != NULL ? body_digest : auth_empty_digest,
	    AUTH_DIGEST_LEN, body_hex);
	part[AUTH_PART_CLUSTER] = auth_str(cluster, cluster_len);
	part[AUTH_PART_TS] = sig->s_ts_text;
	part[AUTH_PART_NONCE] = sig->s_nonce_hex;
	part[AUTH_PART_BODY] = auth_str(body_hex, sizeof(body_hex));
	if (auth_mac(k, part, mac) != 0)
		return AUTH_ERROR;
	same = CRYPTO_memcmp(mac, sig->s_mac, AUTH_MAC_LEN) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!same)
		return AUTH_BAD_MAC;
	if (auth_stale(sig->s_ts, now_ms))
		return AUTH_STALE;
	return AUTH_OK;
}

enum auth_verdict
auth_verify_request(const struct auth_key *k, const char *cluster,
    const struct http_message *msg,
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    struct auth_cache *cache, uint8_t request_nonce[AUTH_NONCE_LEN])
{
	struct http_str part[AUTH_NPARTS];
	struct auth_sig sig;
	enum auth_verdict v;

	part[AUTH_PART_WHAT] = msg->method_name;
	part[AUTH_PART_TARGET] = msg->target;
	v = auth_check(k, cluster, msg, true, part, body_digest, now_ms,
	    &sig);
	if (v != AUTH_OK)
		return v;
	v = auth_cache_check_and_add(cache, sig.s_nonce, sig.s_ts, now_ms);
	if (v == AUTH_OK && request_nonce != NULL)
		memcpy(request_nonce, sig.s_nonce, AUTH_NONCE_LEN);
	return v;
}

enum auth_verdict
auth_verify_answer(const struct auth_key *k, const char *cluster,
    const struct http_message *msg,
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    const uint8_t request_nonce[AUTH_NONCE_LEN])
{
	struct http_str part[AUTH_NPARTS];
	char what[4], target[2 * AUTH_NONCE_LEN];
	struct auth_sig sig;

	if (msg->status < 100 || msg->status > 599)
		return AUTH_ERROR;
	snprintf(what, sizeof(what), "%d", msg->status);
	auth_hex(request_nonce, AUTH_NONCE_LEN, target);
	part[AUTH_PART_WHAT] = auth_str(what, 3);
	part[AUTH_PART_TARGET] = auth_str(target, sizeof(target));
	return auth_check(k, cluster, msg, false, part, body_digest, now_ms,
	    &sig);
}

size_t
auth_cache_size(unsigned capacity)
{
	if (capacity == 0 || capacity > AUTH_CACHE_MAX)
		return 0;
	return sizeof(struct auth_cache) +
	    (size_t)capacity * sizeof(struct auth_slot);
}

struct auth_cache *
auth_cache_init(void *mem, unsigned capacity)
{
	struct auth_cache *c = mem;
	unsigned i;
	int rc;

	if (mem == NULL || auth_cache_size(capacity) == 0) {
		errno = EINVAL;
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	if ((rc = shm_mutex_init(&c->ac_lock)) != 0) {
		errno = rc;
		return NULL;
	}
	c->ac_capacity = capacity;
	for (i = 0; i < capacity; i++) {
		c->ac_slots[i].as_ts = AUTH_SLOT_UNUSED;
		memset(c->ac_slots[i].as_nonce, 0, AUTH_NONCE_LEN);
	}
	return c;
}

/* A slot is free for another nonce once its ts is more than the window in
 * the past: a request with that ts is stale. */
static bool
auth_slot_free(const struct auth_slot *s, int64_t now_ms)
{
	return s->as_ts == AUTH_SLOT_UNUSED ||
	    (now_ms > s->as_ts && now_ms - s->as_ts > AUTH_WINDOW_MS);
}

enum auth_verdict
auth_cache_check_and_add(struct auth_cache *cache,
    const uint8_t nonce[AUTH_NONCE_LEN], int64_t ts, int64_t now_ms)
{
	struct auth_slot *s, *dest = NULL;
	enum auth_verdict v = AUTH_OK;
	unsigned i, n, run;
	uint64_t home;

	if (ts < 0 || ts > AUTH_TS_MAX)
		return AUTH_MALFORMED;
	if (auth_stale(ts, now_ms))
		return AUTH_STALE;
	/* Nonces are random and come only from holders of the key: their
	 * first bytes are hash enough. */
	memcpy(&home, nonce, sizeof(home));
	i = (unsigned)(home % cache->ac_capacity);
	run = cache->ac_capacity < AUTH_CACHE_PROBES ? cache->ac_capacity :
	    AUTH_CACHE_PROBES;
	if (shm_mutex_lock(&cache->ac_lock, NULL) != 0)
		return AUTH_ERROR;
	for (n = 0; n < run; n++, i = i + 1 == cache->ac_capacity ? 0 : i + 1) {
		s = &cache->ac_slots[i];
		if (auth_slot_free(s, now_ms)) {
			if (dest == NULL)
				dest = s;
			/* Slots are never unused again once written, and a
			 * nonce takes the first free slot of its run: none
			 * lies past an unused one. */
			if (s->as_ts == AUTH_SLOT_UNUSED)
				break;
			continue;
		}
		if (memcmp(s->as_nonce, nonce, AUTH_NONCE_LEN) == 0) {
			v = AUTH_REPLAYED;
			break;
		}
	}
	if (v == AUTH_OK && dest == NULL)
		v = AUTH_BUSY;
	if (v == AUTH_OK) {
		dest->as_ts = ts;
		memcpy(dest->as_nonce, nonce, AUTH_NONCE_LEN);
	}
	pthread_mutex_unlock(&cache->ac_lock);
	return v;
}
