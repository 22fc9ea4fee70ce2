/*
 * manifest.h - what a striped object is: its id, name, size, whole
 * digest, block, and its parts (the store node, size and digest of each).
 * The node that took the upload keeps it (STATE_DIR/stripe/manifests/)
 * and every store keeps a copy beside its part.
 *
 * The text form is one JSON object (jansson), every field required and
 * nothing else allowed:
 *
 *   {"id":"<32 hex>","name":"<file name>","size":N,"digest":"<32 hex>",
 *    "origin":"<node>","stamp":N,"block":N,"parity":M,"missing":[I,...],
 *    "parts":[{"node":"<node>","size":N,"digest":"<32 hex>"},...],
 *    "gen":N}
 *
 * origin and stamp are the node that took the upload and its clock's
 * stamp at the start (cluster/hlc.h): the version's origin in the
 * catalogue, which every holder announces alike.
 *
 * gen is the manifest's generation: 0 as the upload writes it (and then
 * left out of the text), one more each time a part moves to another
 * store (stripe/move.h). Every copy of the manifest (at the origin and
 * beside every part) is replaced only by one of a higher generation, so
 * a stale copy never wins.
 *
 * parts holds the data parts first (the layout's, stripe/layout.h), then
 * `parity` Reed-Solomon parity parts (stripe/erasure.h; left out at 0),
 * each as long as data part 0. missing (left out when none) lists the
 * indices of parts that are not durable on their node (a store failed
 * during the upload, or lost the part since): the object is degraded,
 * read by reconstruction, until healing rebuilds them elsewhere and
 * switches the manifest. At most `parity` parts are missing; a part's
 * size and digest are those it must have, missing or not (the front
 * hashed every byte it meant to send).
 *
 * The id is 128 random bits from the node that took the upload, as 32
 * lowercase hex digits, never derived from the name (two uploads of one
 * name never share parts). Digests are XXH3-128 (core/digest.h). The
 * decoder is strict: a duplicate or unknown key, a wrong type, a name or
 * node outside the rules, parts not 2..CONFIG_STRIPE_PARTS_MAX on
 * distinct nodes (parity parts included), parity not 1..MANIFEST_PARITY_MAX
 * or leaving fewer than 2 data parts, missing not 1 to parity distinct
 * indices of parts, a block outside 64 KiB..64 MiB, or part sizes other
 * than the layout's (stripe/layout.h) make the whole manifest invalid.
 *
 * Pure but for manifest_id_new() (getrandom); any process or thread.
 */
#ifndef SHOAL_STRIPE_MANIFEST_H
#define SHOAL_STRIPE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/members.h"
#include "core/config.h"
#include "core/digest.h"
#include "store/name.h"
#include "stripe/layout.h"

#define MANIFEST_ID_LEN 32		/* hex digits */
#define MANIFEST_MAX (16 * 1024)	/* bytes of a manifest's text, at most */
#define MANIFEST_BLOCK_MIN (64 * 1024)
#define MANIFEST_BLOCK_MAX (64 * 1024 * 1024)
#define MANIFEST_PARITY_MAX 4

struct manifest_part {
	char mp_node[MEMBER_NAME_MAX];
	uint64_t mp_size;
	struct digest mp_digest;
};

struct manifest {
	char m_id[MANIFEST_ID_LEN + 1];
	char m_name[NAME_MAX_LEN + 1];
	size_t m_name_len;
	uint64_t m_size;
	struct digest m_digest;		/* of the whole object */
	char m_origin[MEMBER_NAME_MAX];	/* the node that took the upload */
	uint64_t m_stamp;		/* its HLC stamp at the start */
	uint64_t m_block;
	unsigned m_nparts;		/* data and parity parts */
	unsigned m_parity;		/* the last m_parity of them */
	uint32_t m_missing;		/* bit i: part i is missing */
	struct manifest_part m_parts[CONFIG_STRIPE_PARTS_MAX];
	uint64_t m_gen;			/* moves since the upload */
};

/* A fresh object id (128 bits of getrandom) into out[MANIFEST_ID_LEN + 1].
 * Returns 0, or -1 with errno. */
int manifest_id_new(char *out);

/* Whether s[0..len) is an object id: exactly 32 lowercase hex digits. */
bool manifest_id_valid(const char *s, size_t len);

/* The layout the manifest describes: its data parts. */
struct layout manifest_layout(const struct manifest *m);

/* The text of m (which must be valid: as manifest_decode() accepts), as a
 * NUL-terminated string the caller frees with free(), its length to
 * *len; NULL with errno ENOMEM. */
char *manifest_encode(const struct manifest *m, size_t *len);

/* Reads the text buf[0..len) into *m. Returns 0, or -1 with *why (when
 * not NULL) set to a static one-line reason. */
int manifest_decode(const char *buf, size_t len, struct manifest *m,
    const char **why);

/* The data parts: m_nparts - m_parity. */
unsigned manifest_data_parts(const struct manifest *m);

/* The index of node's part in m, or -1 when m has no part there. */
int manifest_part_of(const struct manifest *m, const char *node);

#endif
