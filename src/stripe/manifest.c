/*
 * manifest.c - the text form of a striped object's manifest (see
 * manifest.h), through jansson. Pure but for the id's getrandom; any
 * process or thread, no shared state.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "stripe/manifest.h"

int
manifest_id_new(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[MANIFEST_ID_LEN / 2];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	for (i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[MANIFEST_ID_LEN] = '\0';
	return 0;
}

bool
manifest_id_valid(const char *s, size_t len)
{
	size_t i;

	if (len != MANIFEST_ID_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

struct layout
manifest_layout(const struct manifest *m)
{
	struct layout l = { m->m_size, m->m_block, manifest_data_parts(m) };

	return l;
}

unsigned
manifest_data_parts(const struct manifest *m)
{
	return m->m_nparts - m->m_parity;
}

char *
manifest_encode(const struct manifest *m, size_t *len)
{
	char hex[DIGEST_HEX_LEN + 1];
	json_t *o, *parts, *p, *missing;
	char *text = NULL;
	unsigned i;

	digest_hex(&m->m_digest, hex);
	o = json_pack("{s:s,s:s#,s:I,s:s,s:s,s:I,s:I}", "id", m->m_id,
	    "name", m->m_name, (int)m->m_name_len,
	    "size", (json_int_t)m->m_size, "digest", hex,
	    "origin", m->m_origin, "stamp", (json_int_t)m->m_stamp,
	    "block", (json_int_t)m->m_block);
	parts = json_array();
	missing = json_array();
	if (o == NULL || parts == NULL || missing == NULL ||
	    (m->m_parity > 0 && json_object_set_new(o, "parity",
	    json_integer(m->m_parity)) == -1))
		goto out;
	for (i = 0; i < m->m_nparts; i++)
		if ((m->m_missing & (1u << i)) != 0 &&
		    json_array_append_new(missing, json_integer(i)) == -1)
			goto out;
	if (m->m_missing != 0 && json_object_set(o, "missing", missing) == -1)
		goto out;
	for (i = 0; i < m->m_nparts; i++) {
		digest_hex(&m->m_parts[i].mp_digest, hex);
		p = json_pack("{s:s,s:I,s:s}", "node", m->m_parts[i].mp_node,
		    "size", (json_int_t)m->m_parts[i].mp_size, "digest", hex);
		if (p == NULL || json_array_append_new(parts, p) == -1)
			goto out;
	}
	if (json_object_set(o, "parts", parts) == -1 || (m->m_gen > 0 &&
	    json_object_set_new(o, "gen", json_integer((json_int_t)m->m_gen))
	    == -1))
		goto out;
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text != NULL)
		*len = strlen(text);
out:
	json_decref(missing);
	json_decref(parts);
	json_decref(o);
	if (text == NULL)
		errno = ENOMEM;
	return text;
}

/* A non-negative integer that fits a json_int_t; -1 otherwise. */
static int
read_size(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int
read_digest(const json_t *v, struct digest *d)
{
	if (!json_is_string(v))
		return -1;
	return digest_parse(json_string_value(v), json_string_length(v), d);
}

/* Whether object o has the n keys of `keys` and `more` others (those
 * the caller found). */
static bool
has_exactly(const json_t *o, const char *const *keys, size_t n, size_t more)
{
	size_t i;

	if (!json_is_object(o) || json_object_size(o) != n + more)
		return false;
	for (i = 0; i < n; i++)
		if (json_object_get(o, keys[i]) == NULL)
			return false;
	return true;
}

static const char *
decode_part(const json_t *o, struct manifest_part *p)
{
	static const char *const keys[] = { "node", "size", "digest" };
	const json_t *node = json_object_get(o, "node");

	if (!has_exactly(o, keys, 3, 0))
		return "a part wants exactly node, size and digest";
	if (!json_is_string(node) || json_string_length(node) >=
	    MEMBER_NAME_MAX || strlen(json_string_value(node)) !=
	    json_string_length(node) ||
	    !member_name_valid(json_string_value(node), MEMBER_NAME_MAX))
		return "bad part node";
	memcpy(p->mp_node, json_string_value(node),
	    json_string_length(node) + 1);
	if (read_size(json_object_get(o, "size"), &p->mp_size) == -1)
		return "bad part size";
	if (read_digest(json_object_get(o, "digest"), &p->mp_digest) == -1)
		return "bad part digest";
	return NULL;
}

/* The missing parts' indices: distinct, below m_nparts, at most
 * m_parity of them. */
static const char *
decode_missing(const json_t *a, struct manifest *m)
{
	const json_t *v;
	uint64_t i;
	size_t k;

	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > m->m_parity)
		return "missing wants 1 to parity part indices";
	json_array_foreach(a, k, v) {
		if (read_size(v, &i) == -1 || i >= m->m_nparts ||
		    (m->m_missing & (1u << i)) != 0)
			return "bad missing part index";
		m->m_missing |= 1u << i;
	}
	return NULL;
}

static const char *
decode(const json_t *o, struct manifest *m)
{
	static const char *const keys[] = {
		"id", "name", "size", "digest", "origin", "stamp", "block",
		"parts"
	};
	const json_t *id = json_object_get(o, "id");
	const json_t *name = json_object_get(o, "name");
	const json_t *parts = json_object_get(o, "parts");
	const json_t *origin = json_object_get(o, "origin");
	const json_t *gen = json_object_get(o, "gen");
	const json_t *par = json_object_get(o, "parity");
	const json_t *mis = json_object_get(o, "missing");
	struct layout l;
	const char *why;
	uint64_t parity;
	unsigned i, j;

	/* gen, parity and missing are left out at 0 and none (as an
	 * upload without parity writes it). */
	if (!has_exactly(o, keys, 8, (gen != NULL) + (par != NULL) +
	    (mis != NULL)) || (gen != NULL &&
	    (read_size(gen, &m->m_gen) == -1 || m->m_gen == 0)))
		return "a manifest wants exactly id, name, size, digest, "
		    "origin, stamp, block, parts and maybe gen (> 0), parity "
		    "(> 0) and missing (not empty)";
	if (!json_is_string(id) || !manifest_id_valid(json_string_value(id),
	    json_string_length(id)))
		return "bad id";
	memcpy(m->m_id, json_string_value(id), MANIFEST_ID_LEN + 1);
	if (!json_is_string(name) || json_string_length(name) > NAME_MAX_LEN ||
	    !name_is_valid(json_string_value(name), json_string_length(name)))
		return "bad name";
	m->m_name_len = json_string_length(name);
	memcpy(m->m_name, json_string_value(name), m->m_name_len);
	m->m_name[m->m_name_len] = '\0';
	if (read_size(json_object_get(o, "size"), &m->m_size) == -1)
		return "bad size";
	if (read_digest(json_object_get(o, "digest"), &m->m_digest) == -1)
		return "bad digest";
	if (!json_is_string(origin) || json_string_length(origin) >=
	    MEMBER_NAME_MAX || strlen(json_string_value(origin)) !=
	    json_string_length(origin) ||
	    !member_name_valid(json_string_value(origin), MEMBER_NAME_MAX))
		return "bad origin";
	memcpy(m->m_origin, json_string_value(origin),
	    json_string_length(origin) + 1);
	if (read_size(json_object_get(o, "stamp"), &m->m_stamp) == -1)
		return "bad stamp";
	if (read_size(json_object_get(o, "block"), &m->m_block) == -1 ||
	    m->m_block < MANIFEST_BLOCK_MIN || m->m_block > MANIFEST_BLOCK_MAX)
		return "bad block";
	if (!json_is_array(parts) || json_array_size(parts) < 2 ||
	    json_array_size(parts) > CONFIG_STRIPE_PARTS_MAX)
		return "parts wants 2 to 16 parts";
	m->m_nparts = (unsigned)json_array_size(parts);
	parity = 0;
	if (par != NULL && (read_size(par, &parity) == -1 || parity == 0 ||
	    parity > MANIFEST_PARITY_MAX || parity + 2 > m->m_nparts))
		return "bad parity";
	m->m_parity = (unsigned)parity;
	if (mis != NULL && (why = decode_missing(mis, m)) != NULL)
		return why;
	l = manifest_layout(m);
	for (i = 0; i < m->m_nparts; i++) {
		if ((why = decode_part(json_array_get(parts, i),
		    &m->m_parts[i])) != NULL)
			return why;
		/* A parity part is as long as data part 0. */
		if (m->m_parts[i].mp_size != layout_part_size(&l,
		    i < l.l_parts ? i : 0))
			return "a part's size is not the layout's";
		for (j = 0; j < i; j++)
			if (strcmp(m->m_parts[j].mp_node,
			    m->m_parts[i].mp_node) == 0)
				return "two parts on one node";
	}
	return NULL;
}

int
manifest_decode(const char *buf, size_t len, struct manifest *m,
    const char **why)
{
	const char *reason;
	json_error_t err;
	json_t *o;

	memset(m, 0, sizeof(*m));
	if (len > MANIFEST_MAX) {
		reason = "manifest too long";
		goto fail;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL) {
		reason = "manifest is not JSON";
		goto fail;
	}
	reason = decode(o, m);
	json_decref(o);
	if (reason == NULL)
		return 0;
fail:
	if (why != NULL)
		*why = reason;
	memset(m, 0, sizeof(*m));
	return -1;
}

int
manifest_part_of(const struct manifest *m, const char *node)
{
	unsigned i;

	for (i = 0; i < m->m_nparts; i++)
		if (strcmp(m->m_parts[i].mp_node, node) == 0)
			return (int)i;
	return -1;
}
