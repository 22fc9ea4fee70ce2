/*
 * auth.h - signed requests and answers between the members of a cluster:
 * the internal requests (/_/gossip, /_/parts/..., replication) and their
 * answers carry an HMAC-SHA256 under the cluster key, a timestamp and a
 * nonce, so that a node acts only on messages from holders of the key,
 * unaltered, recent and not replayed.
 *
 * The headers
 *   Every signed message, request or answer, carries two headers:
 *
 *     Shoal-Cluster: <cluster name>
 *     Shoal-Signature: v1 ts=<ts> nonce=<nonce> mac=<mac>
 *
 *   <cluster name>  the sender's `cluster.name`, 1 to 64 bytes of visible
 *                   ASCII (0x21-0x7e), in clear so that a member of another
 *                   cluster is told apart (403) from a bad signature (401).
 *   <ts>            the sender's clock, Unix time in milliseconds, in
 *                   decimal: 1 to 15 digits, no sign, no leading zero
 *                   (except "0" itself).
 *   <nonce>         16 random bytes (RAND_bytes), as 32 lowercase hex
 *                   digits, fresh for every message.
 *   <mac>           32 bytes, as 64 lowercase hex digits:
 *
 *     mac = HMAC-SHA256(key, "shoal-v1" LF cluster LF what LF target LF
 *                            ts LF nonce LF hex(SHA-256(body)))
 *
 *   LF is one byte 0x0a; ts and nonce are the exact texts of the header;
 *   hex() is 64 lowercase hex digits; the body is the bytes of the message
 *   body after any transfer coding is removed (zero bytes when there is
 *   none). For a request, `what` is the method as sent ("POST") and
 *   `target` the request target as sent, percent-encoding and query
 *   included ("/_/gossip"); it must start with '/'. For an answer, `what`
 *   is the status code in three decimal digits ("200") and `target` is the
 *   nonce of the request it answers (32 lowercase hex digits), so that an
 *   answer cannot be passed off as the answer to another request. No field
 *   can hold a LF, so the input names each field unambiguously; a request
 *   target starts with '/' and an answer's never does, so a request's MAC
 *   is never an answer's.
 *
 *   The header value is parsed strictly: "v1", then exactly one space
 *   before each of ts=, nonce= and mac=, in this order, nothing before or
 *   after (the HTTP parser strips the spaces around a value), lowercase
 *   hex of the exact lengths; so at most AUTH_SIGNATURE_MAX (129) bytes,
 *   which is checked first. Anything else, two Shoal-Signature or two
 *   Shoal-Cluster headers, or a signature without Shoal-Cluster, is
 *   malformed.
 *
 * Verification, in this order (the first failure is the verdict)
 *   1. two Shoal-Signature or two Shoal-Cluster headers, or a
 *      Shoal-Cluster that is not a cluster name (empty, too long, a byte
 *      outside 0x21-0x7e): MALFORMED;
 *   2. Shoal-Cluster names another cluster: OTHER_CLUSTER (with or
 *      without a signature);
 *   3. no Shoal-Signature: MISSING;
 *   4. no Shoal-Cluster, or a Shoal-Signature not as above: MALFORMED;
 *   5. the MAC, recomputed over the message as received, differs (compared
 *      in constant time), or a request's target does not start with '/':
 *      BAD_MAC;
 *   6. |now - ts| > AUTH_WINDOW_MS: STALE (checked after the MAC, so that
 *      STALE always means a real member's clock is off);
 *   7. requests only: the nonce is in the cache: REPLAYED; the cache has
 *      no room: BUSY. Only a request that passed 1-6 is recorded, so
 *      nobody without the key can fill the cache.
 *   Answers are not cached: a requester accepts one answer per request,
 *   and each request has a fresh nonce.
 *   HTTP status for a refused request: 401 with the verdict's reason,
 *   403 for OTHER_CLUSTER, 503 for BUSY, 500 for ERROR
 *   (auth_verdict_status(), auth_verdict_reason()).
 *
 * The nonce cache
 *   A table of nonces and their ts, in memory the caller provides: the
 *   master maps it (core/shm.h) before forking, and every worker checks
 *   against it, so that a request replayed to another worker of the same
 *   node is caught. A nonce hashes to a home slot and lives within
 *   AUTH_CACHE_PROBES slots after it (linear probing, wrapping). A slot is
 *   free once its ts is more than AUTH_WINDOW_MS in the past (any request
 *   with that nonce would be STALE by then), so nothing is ever deleted:
 *   a new nonce takes the first free slot of its run. When the run holds
 *   only live entries the request is refused with BUSY.
 *   Sizing: an entry holds its slot for AUTH_WINDOW_MS after its ts: 30 s
 *   when the clocks agree, up to 60 s for a ts 30 s ahead. A capacity C
 *   holds C / 30 signed requests per second at most, for the whole node;
 *   keep the table at most half full so that a run of AUTH_CACHE_PROBES
 *   live slots does not happen in practice: C >= 60 x the rate (65,536
 *   slots, 1.5 MiB, for about 1,000 requests a second).
 *
 * Who calls what
 *   master    auth_key_new() from the configuration (before forking: the
 *             children inherit it), auth_cache_size() and auth_cache_init()
 *             on a shm_anon() mapping.
 *   workers   auth_verify_request() on internal requests, auth_sign_answer()
 *             on their answers; auth_sign_request() and
 *             auth_verify_answer() on the requests they send.
 *   agent     auth_sign_request(), auth_verify_answer().
 * Every function may be called from any process and thread: the key is
 * read-only after auth_key_new(), the cache is guarded by one robust
 * process-shared mutex. None logs; time is always an argument (now_ms,
 * CLOCK_REALTIME milliseconds), never read here.
 */
#ifndef SHOAL_CLUSTER_AUTH_H
#define SHOAL_CLUSTER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define AUTH_SIGNATURE_HEADER "Shoal-Signature"
#define AUTH_CLUSTER_HEADER "Shoal-Cluster"

#define AUTH_WINDOW_MS 30000		/* |now - ts| at most */
#define AUTH_NONCE_LEN 16		/* bytes; 32 hex digits */
#define AUTH_DIGEST_LEN 32		/* SHA-256 of a body */
#define AUTH_MAC_LEN 32			/* HMAC-SHA256 */
#define AUTH_CLUSTER_MAX 64		/* bytes of a cluster name */
#define AUTH_KEY_MIN 32			/* bytes of the key */
#define AUTH_KEY_MAX 1024
#define AUTH_TS_MAX 999999999999999LL	/* 15 digits: the year 33658 */
/* "v1 ts=" 15 digits " nonce=" 32 " mac=" 64 */
#define AUTH_SIGNATURE_MAX 129		/* bytes of a header value */
#define AUTH_SIGNATURE_SIZE (AUTH_SIGNATURE_MAX + 1)	/* with its NUL */
#define AUTH_CACHE_PROBES 32		/* slots a nonce may be found in */
#define AUTH_CACHE_MAX (1U << 24)	/* capacity, at most */

enum auth_verdict {
	AUTH_OK,
	AUTH_MISSING,		/* no Shoal-Signature: 401 */
	AUTH_MALFORMED,		/* 401 */
	AUTH_BAD_MAC,		/* wrong key, or the message was altered: 401 */
	AUTH_STALE,		/* ts outside the window: 401 */
	AUTH_REPLAYED,		/* nonce seen within the window: 401 */
	AUTH_OTHER_CLUSTER,	/* Shoal-Cluster names another cluster: 403 */
	AUTH_BUSY,		/* nonce cache full of live entries: 503 */
	AUTH_ERROR,		/* could not compute (memory, OpenSSL): 500 */
};

/* A one-line reason for the verdict (static, no newline), for the body of
 * the refusal and the log. */
const char *auth_verdict_reason(enum auth_verdict v);

/* The HTTP status to answer a request refused with v; 200 for AUTH_OK. */
int auth_verdict_status(enum auth_verdict v);

/* The cluster key, opaque. */
struct auth_key;

/* A copy of key[0..len) (AUTH_KEY_MIN..AUTH_KEY_MAX bytes) ready to sign
 * with, or NULL with errno (EINVAL for a bad length, ENOMEM, or EIO when
 * OpenSSL has no HMAC). Free with auth_key_free(), which wipes it. */
struct auth_key *auth_key_new(const void *key, size_t len);
void auth_key_free(struct auth_key *k);

/* A fresh nonce from RAND_bytes. Returns 0, or -1 with errno EIO when the
 * generator fails (then sign nothing). */
int auth_nonce(uint8_t nonce[AUTH_NONCE_LEN]);

/* SHA-256 of body[0..len) (body may be NULL when len is 0). Returns 0, or
 * -1 with errno. */
int auth_body_digest(const void *body, size_t len,
    uint8_t digest[AUTH_DIGEST_LEN]);

/* The same, over a body that comes in pieces (a part streamed from or to
 * disk): new, update any number of times, final (which writes the digest
 * and frees h, on success or not). auth_hasher_free() drops one not
 * finalled. Each returns NULL or -1 with errno on failure. */
struct auth_hasher;
struct auth_hasher *auth_hasher_new(void);
int auth_hasher_update(struct auth_hasher *h, const void *p, size_t len);
int auth_hasher_final(struct auth_hasher *h, uint8_t digest[AUTH_DIGEST_LEN]);
void auth_hasher_free(struct auth_hasher *h);

/*
 * The value of the Shoal-Signature header of a request: `method` and
 * `target` exactly as they will be sent, body_digest the SHA-256 of the
 * body (NULL: no body, the digest of zero bytes), now_ms the ts, nonce
 * from auth_nonce(). The caller sends "Shoal-Cluster: <cluster>" with it.
 * Writes a NUL-terminated value to out[0..cap) (AUTH_SIGNATURE_SIZE is
 * always enough) and returns its length; -1 with errno EINVAL (a cluster
 * name, method or target outside the rules above, now_ms outside
 * 0..AUTH_TS_MAX), ENOSPC (cap too small) or another errno from OpenSSL.
 */
int auth_sign_request(const struct auth_key *k, const char *cluster,
    const char *method, const char *target,
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    const uint8_t nonce[AUTH_NONCE_LEN], char *out, size_t cap);

/*
 * The value of the Shoal-Signature header of an answer with `status`
 * (100..599) to the request whose nonce auth_verify_request() gave;
 * `nonce` is a fresh one for the answer itself. Same contract otherwise.
 */
int auth_sign_answer(const struct auth_key *k, const char *cluster,
    int status, const uint8_t request_nonce[AUTH_NONCE_LEN],
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    const uint8_t nonce[AUTH_NONCE_LEN], char *out, size_t cap);

struct auth_cache;

/*
 * Checks the request head msg (from http_parse_request()), whose body has
 * the SHA-256 body_digest (NULL: no body), against the key and this node's
 * cluster name, at now_ms, then records its nonce in `cache`. Returns the
 * verdict (see "Verification" above); on AUTH_OK, *request_nonce (when not
 * NULL) is the request's nonce, to sign the answer with. The body must be
 * read whole before the call; act on nothing before AUTH_OK.
 */
enum auth_verdict auth_verify_request(const struct auth_key *k,
    const char *cluster, const struct http_message *msg,
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    struct auth_cache *cache, uint8_t request_nonce[AUTH_NONCE_LEN]);

/*
 * Checks the answer head msg (from http_parse_response()) to the request
 * this node sent with the nonce request_nonce; steps 1-6 only. An answer
 * that fails is to be treated like no answer (a 401, 403 or 503 from a
 * member that refused the request comes unsigned: AUTH_MISSING).
 */
enum auth_verdict auth_verify_answer(const struct auth_key *k,
    const char *cluster, const struct http_message *msg,
    const uint8_t body_digest[AUTH_DIGEST_LEN], int64_t now_ms,
    const uint8_t request_nonce[AUTH_NONCE_LEN]);

/* Bytes of memory a cache of `capacity` slots (1..AUTH_CACHE_MAX) needs;
 * 0 for a capacity out of range. 24 bytes a slot, plus a header. */
size_t auth_cache_size(unsigned capacity);

/*
 * Lays out an empty cache of `capacity` slots in mem (auth_cache_size()
 * bytes, aligned like malloc: a shm_anon() mapping for several processes,
 * any memory for one) and returns it; NULL with errno (EINVAL for a
 * capacity out of range, or the mutex's errno). The memory must stay
 * mapped while the cache is used; nothing to free but the memory.
 */
struct auth_cache *auth_cache_init(void *mem, unsigned capacity);

/*
 * Records `nonce`, sent at ts, in the cache at now_ms: AUTH_OK when it was
 * not there (it is now), AUTH_REPLAYED when it is there and live,
 * AUTH_BUSY when its run holds AUTH_CACHE_PROBES live entries (nothing
 * recorded), AUTH_STALE when |now - ts| > AUTH_WINDOW_MS and AUTH_MALFORMED
 * when ts is outside 0..AUTH_TS_MAX (nothing recorded), AUTH_ERROR when the
 * lock fails. auth_verify_request() calls it; call it directly only for a
 * nonce whose MAC has been verified.
 */
enum auth_verdict auth_cache_check_and_add(struct auth_cache *cache,
    const uint8_t nonce[AUTH_NONCE_LEN], int64_t ts, int64_t now_ms);

#endif
