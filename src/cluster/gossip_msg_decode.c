/*
 * gossip_msg_decode.c - one gossip message read from its JSON with
 * jansson (see gossip_msg.h; gossip_msg.c writes it). Reading is bounded
 * before jansson sees the bytes: the caller has capped the length
 * (gossip_body_max()), and a scan that only counts brackets refuses deep
 * nesting, so that no input makes the parser recurse far. What jansson
 * accepts is then checked field by field.
 *
 * Any thread: the only static data is the reason of the last refusal,
 * one per thread.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip_msg.h"
#include "cluster/gossip_msg_int.h"
#include "store/name.h"

static _Thread_local char gossip_why[160];

static int
why_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats the reason of a refusal; returns -1 for the caller to return. */
static int
why_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(gossip_why, sizeof(gossip_why), fmt, ap);
	va_end(ap);
	return -1;
}

/* -- reading --------------------------------------------------------- */

/*
 * Whether body nests arrays and objects deeper than max. Not a parser: it
 * counts brackets outside strings (a backslash in a string hides the byte
 * after it), which is the depth jansson would see for any text it accepts.
 * A text it would refuse may count wrong; jansson refuses it after.
 */
static bool
too_deep(const char *body, size_t len, int max)
{
	bool in_string = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = body[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return true;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return false;
}

/* Why jansson refused the text, in words that name no byte of it (the
 * text of its message may quote the input). */
static int
why_json(const json_error_t *e)
{
	switch (json_error_code(e)) {
	case json_error_invalid_utf8:
		return why_set("gossip: not UTF-8 (byte %d)", e->position);
	case json_error_premature_end_of_input:
		return why_set("gossip: truncated JSON (byte %d)", e->position);
	case json_error_duplicate_key:
		return why_set("gossip: a key twice in an object (byte %d)",
		    e->position);
	case json_error_numeric_overflow:
		return why_set("gossip: a number too large (byte %d)",
		    e->position);
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return why_set("gossip: a NUL in a string (byte %d)",
		    e->position);
	case json_error_out_of_memory:
		return why_set("gossip: out of memory");
	default:
		return why_set("gossip: not JSON (byte %d)", e->position);
	}
}

/* The fields of a news entry and the items of a digest line: what each
 * holds, and where it goes in the struct. */
enum field_kind { FIELD_NAME, FIELD_ADDR, FIELD_UINT, FIELD_UINT_OPT,
    FIELD_BOOL, FIELD_STATE };

struct field {
	const char *f_key;
	enum field_kind f_kind;
	size_t f_off;
};

#define NEWS_FIELD(key, kind, member) \
	{ key, kind, offsetof(struct member_news, member) }
#define DIGEST_ITEM(key, kind, member) \
	{ key, kind, offsetof(struct member_digest, member) }

static const struct field news_fields[] = {
	NEWS_FIELD("name", FIELD_NAME, mn_facts.mf_name),
	NEWS_FIELD("addr", FIELD_ADDR, mn_facts.mf_addr),
	NEWS_FIELD("inc", FIELD_UINT, mn_facts.mf_incarnation),
	NEWS_FIELD("ver", FIELD_UINT, mn_facts.mf_version),
	NEWS_FIELD("hb", FIELD_UINT, mn_facts.mf_heartbeat),
	NEWS_FIELD("store", FIELD_BOOL, mn_facts.mf_store),
	NEWS_FIELD("cap", FIELD_UINT, mn_facts.mf_capacity),
	NEWS_FIELD("used", FIELD_UINT, mn_facts.mf_used),
	NEWS_FIELD("left", FIELD_BOOL, mn_facts.mf_left),
	NEWS_FIELD("state", FIELD_STATE, mn_state),
	NEWS_FIELD("sinc", FIELD_UINT, mn_state_inc),
	NEWS_FIELD("cinc", FIELD_UINT_OPT, mn_facts.mf_cat_inc),
	NEWS_FIELD("cseq", FIELD_UINT_OPT, mn_facts.mf_cat_seq),
};

/* In their order on the line; named as a news entry's fields are. */
static const struct field digest_items[] = {
	DIGEST_ITEM("name", FIELD_NAME, md_name),
	DIGEST_ITEM("inc", FIELD_UINT, md_incarnation),
	DIGEST_ITEM("ver", FIELD_UINT, md_version),
	DIGEST_ITEM("state", FIELD_STATE, md_state),
	DIGEST_ITEM("sinc", FIELD_UINT, md_state_inc),
};

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Why field `key` of `where` ("news[3]", or "" at the top) is refused. */
static int
why_field(const char *where, const char *key, const char *what)
{
	return why_set("gossip: %s%s%s %s", where, *where != '\0' ? "." : "",
	    key, what);
}

/* A name or an address into out[max]: valid by member_name_valid(). */
static int
get_name(const json_t *v, const char *where, const char *key, char *out,
    size_t max)
{
	size_t len;

	if (!json_is_string(v))
		return why_field(where, key, "is not a string");
	len = json_string_length(v);
	if (len >= max || !member_name_valid(json_string_value(v), max))
		return why_field(where, key, "is not a valid name");
	memcpy(out, json_string_value(v), len + 1);
	return 0;
}

static int
get_uint(const json_t *v, const char *where, const char *key, uint64_t *out)
{
	if (json_is_real(v))
		return why_field(where, key, "is not an integer");
	if (!json_is_integer(v))
		return why_field(where, key, "is not a number");
	if (json_integer_value(v) < 0)
		return why_field(where, key, "is negative");
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int
get_state(const json_t *v, const char *where, const char *key, uint8_t *out)
{
	int i;

	if (!json_is_string(v))
		return why_field(where, key, "is not a string");
	for (i = 0; i < MEMBER_STATES; i++)
		if (strcmp(json_string_value(v),
		    member_state_name((enum member_state)i)) == 0) {
			*out = (uint8_t)i;
			return 0;
		}
	return why_field(where, key, "is not a state");
}

/* Field f of the struct at item, from v (NULL: absent). Strings hold no
 * NUL: jansson refuses "\u0000" without JSON_ALLOW_NUL. */
static int
get_field(const json_t *v, const char *where, const struct field *f,
    void *item)
{
	char *p = (char *)item + f->f_off;

	if (v == NULL && f->f_kind == FIELD_UINT_OPT) {
		*(uint64_t *)(void *)p = 0;
		return 0;
	}
	if (v == NULL)
		return why_field(where, f->f_key, "is missing");
	switch (f->f_kind) {
	case FIELD_NAME:
		return get_name(v, where, f->f_key, p, MEMBER_NAME_MAX);
	case FIELD_ADDR:
		return get_name(v, where, f->f_key, p, MEMBER_ADDR_MAX);
	case FIELD_UINT:
	case FIELD_UINT_OPT:
		return get_uint(v, where, f->f_key, (uint64_t *)(void *)p);
	case FIELD_BOOL:
		if (!json_is_boolean(v))
			return why_field(where, f->f_key,
			    "is not true or false");
		*(bool *)(void *)p = json_is_true(v);
		return 0;
	default:
		return get_state(v, where, f->f_key, (uint8_t *)p);
	}
}

/* The two lists of a message: a digest line is an array of its items in
 * order, a news entry an object of them by key. */
struct list_kind {
	const char *l_key;
	const struct field *l_fields;
	size_t l_nfields;
	bool l_by_key;
	size_t l_size;			/* of the struct an item fills */
};

static const struct list_kind digest_list = { "digest", digest_items,
    NITEMS(digest_items), false, sizeof(struct member_digest) };
static const struct list_kind news_list = { "news", news_fields,
    NITEMS(news_fields), true, sizeof(struct member_news) };

static int
decode_item(const json_t *v, const struct list_kind *l, size_t i,
    void *item)
{
	char where[48];
	size_t k;

	snprintf(where, sizeof(where), "%s[%zu]", l->l_key, i);
	if (l->l_by_key ? !json_is_object(v) : !json_is_array(v))
		return why_set("gossip: %s is not an %s", where,
		    l->l_by_key ? "object" : "array");
	if (!l->l_by_key && json_array_size(v) < l->l_nfields)
		return why_set("gossip: %s has fewer than %zu items", where,
		    l->l_nfields);
	for (k = 0; k < l->l_nfields; k++)
		if (get_field(l->l_by_key ? json_object_get(v,
		    l->l_fields[k].f_key) : json_array_get(v, k), where,
		    &l->l_fields[k], item) == -1)
			return -1;
	return 0;
}

/* The list l of the message, at most max_lines long, into *out[*n] (NULL
 * when empty), for the caller to free; nothing is left on failure. */
static int
decode_list(const json_t *root, const struct list_kind *l, size_t max_lines,
    void **out, size_t *n)
{
	const json_t *a = json_object_get(root, l->l_key);
	char *items = NULL;
	size_t i;

	if (a == NULL)
		return why_set("gossip: %s is missing", l->l_key);
	if (!json_is_array(a))
		return why_set("gossip: %s is not an array", l->l_key);
	if (json_array_size(a) > max_lines)
		return why_set("gossip: more than %zu members", max_lines);
	if (json_array_size(a) > 0)
		items = xcalloc(json_array_size(a), l->l_size);
	for (i = 0; i < json_array_size(a); i++)
		if (decode_item(json_array_get(a, i), l, i,
		    items + i * l->l_size) == -1) {
			free(items);
			return -1;
		}
	*out = items;
	*n = json_array_size(a);
	return 0;
}

/* [lo, hi], 0 <= lo <= hi < 2^32; absent, every key. */
static int
decode_range(const json_t *v, struct member_range *r)
{
	const json_t *lo = json_array_get(v, 0), *hi = json_array_get(v, 1);

	r->mr_lo = 0;
	r->mr_hi = UINT32_MAX;
	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    !json_is_integer(lo) || !json_is_integer(hi) ||
	    json_integer_value(lo) < 0 ||
	    json_integer_value(lo) > json_integer_value(hi) ||
	    json_integer_value(hi) > (json_int_t)UINT32_MAX)
		return why_set("gossip: range is not [lo, hi] within 0 to %u",
		    UINT32_MAX);
	r->mr_lo = (uint32_t)json_integer_value(lo);
	r->mr_hi = (uint32_t)json_integer_value(hi);
	return 0;
}

/* The array at key `key` of object o (where: "cat"), at most max long:
 * *a NULL when absent. */
static int
get_array(const json_t *o, const char *where, const char *key, size_t max,
    const json_t **a)
{
	*a = json_object_get(o, key);
	if (*a == NULL)
		return 0;
	if (!json_is_array(*a))
		return why_field(where, key, "is not an array");
	if (json_array_size(*a) > max)
		return why_set("gossip: %s.%s has more than %zu items", where,
		    key, max);
	return 0;
}

/* An integer in [0, 2^63 - 1], or an absent key (*out 0). */
static int
get_uint_opt(const json_t *v, const char *where, const char *key,
    uint64_t *out)
{
	*out = 0;
	return v == NULL ? 0 : get_uint(v, where, key, out);
}

static int
decode_want(const json_t *v, size_t i, struct cat_want *w)
{
	char where[48];

	snprintf(where, sizeof(where), "cat.want[%zu]", i);
	if (!json_is_array(v))
		return why_set("gossip: %s is not an array", where);
	if (json_array_size(v) < 3)
		return why_set("gossip: %s has fewer than 3 items", where);
	if (get_name(json_array_get(v, 0), where, "owner", w->cw_owner,
	    MEMBER_NAME_MAX) == -1 ||
	    get_uint(json_array_get(v, 1), where, "inc", &w->cw_inc) == -1 ||
	    get_uint(json_array_get(v, 2), where, "after", &w->cw_after) == -1 ||
	    get_uint_opt(json_array_get(v, 3), where, "floor",
	    &w->cw_floor) == -1)
		return -1;
	return 0;
}

/* A fact of chunk ch: [name, digest, size, origin, hlc, seq, gone], and
 * an eighth item 1 when the version is striped. */
static int
decode_fact(const json_t *v, const char *chunk_where, size_t i,
    const struct cat_chunk *ch, struct cat_fact_msg *f)
{
	const json_t *name = json_array_get(v, 0), *hex = json_array_get(v, 1);
	const json_t *gone = json_array_get(v, 6);
	const char *reason;
	char where[80];

	snprintf(where, sizeof(where), "%s.facts[%zu]", chunk_where, i);
	if (!json_is_array(v))
		return why_set("gossip: %s is not an array", where);
	if (json_array_size(v) < 7)
		return why_set("gossip: %s has fewer than 7 items", where);
	if (!json_is_string(name))
		return why_field(where, "name", "is not a string");
	if (name_decode(json_string_value(name), json_string_length(name),
	    f->cm_name, &f->cm_name_len, &reason) == -1)
		return why_set("gossip: %s.name: %s", where, reason);
	if (!json_is_string(hex) || digest_parse(json_string_value(hex),
	    json_string_length(hex), &f->cm_digest) == -1)
		return why_field(where, "digest", "is not 32 hex digits");
	if (get_uint(json_array_get(v, 2), where, "size", &f->cm_size) == -1 ||
	    get_name(json_array_get(v, 3), where, "origin", f->cm_origin,
	    MEMBER_NAME_MAX) == -1 ||
	    get_uint(json_array_get(v, 4), where, "hlc", &f->cm_hlc) == -1 ||
	    get_uint(json_array_get(v, 5), where, "seq", &f->cm_seq) == -1)
		return -1;
	if (f->cm_seq <= ch->cc_from || f->cm_seq > ch->cc_to)
		return why_field(where, "seq", "is not in (from, to]");
	if (!json_is_integer(gone) || (json_integer_value(gone) != 0 &&
	    json_integer_value(gone) != 1))
		return why_field(where, "gone", "is not 0 or 1");
	f->cm_gone = json_integer_value(gone) == 1;
	f->cm_striped = false;
	if (json_array_size(v) >= 8) {
		const json_t *striped = json_array_get(v, 7);

		if (!json_is_integer(striped) ||
		    (json_integer_value(striped) != 0 &&
		    json_integer_value(striped) != 1))
			return why_field(where, "striped", "is not 0 or 1");
		f->cm_striped = json_integer_value(striped) == 1;
	}
	return 0;
}

/* A chunk's head into gc, and its facts into f[] (room for all). */
static int
decode_chunk(const json_t *v, size_t i, struct gossip_chunk *gc,
    struct cat_fact_msg *f)
{
	struct cat_chunk *ch = &gc->gc_chunk;
	const json_t *facts = json_object_get(v, "facts");
	char where[48];
	size_t k;

	snprintf(where, sizeof(where), "cat.chunks[%zu]", i);
	if (json_object_get(v, "owner") == NULL)
		return why_field(where, "owner", "is missing");
	if (get_name(json_object_get(v, "owner"), where, "owner",
	    ch->cc_owner, MEMBER_NAME_MAX) == -1)
		return -1;
	if (json_object_get(v, "inc") == NULL ||
	    json_object_get(v, "from") == NULL ||
	    json_object_get(v, "to") == NULL ||
	    json_object_get(v, "floor") == NULL)
		return why_set("gossip: %s lacks inc, from, to or floor",
		    where);
	if (get_uint(json_object_get(v, "inc"), where, "inc",
	    &ch->cc_inc) == -1 ||
	    get_uint(json_object_get(v, "from"), where, "from",
	    &ch->cc_from) == -1 ||
	    get_uint(json_object_get(v, "to"), where, "to", &ch->cc_to) == -1 ||
	    get_uint(json_object_get(v, "floor"), where, "floor",
	    &ch->cc_floor) == -1)
		return -1;
	if (ch->cc_from > ch->cc_to)
		return why_field(where, "from", "is above to");
	gc->gc_facts = f;
	gc->gc_nfacts = json_array_size(facts);
	for (k = 0; k < gc->gc_nfacts; k++)
		if (decode_fact(json_array_get(facts, k), where, k, ch,
		    &f[k]) == -1)
			return -1;
	return 0;
}

/* "cat": the wants and the chunks, into m. */
static int
decode_cat(const json_t *cat, struct gossip_msg *m)
{
	const json_t *wants, *chunks, *v, *facts;
	size_t i, nfacts = 0;
	char where[48];

	if (cat == NULL)
		return 0;
	if (!json_is_object(cat))
		return why_set("gossip: cat is not an object");
	if (get_array(cat, "cat", "want", GOSSIP_WANTS_MAX, &wants) == -1 ||
	    get_array(cat, "cat", "chunks", GOSSIP_WANTS_MAX, &chunks) == -1)
		return -1;
	if (json_array_size(wants) > 0) {
		m->gm_wants = xcalloc(json_array_size(wants),
		    sizeof(*m->gm_wants));
		m->gm_nwants = json_array_size(wants);
		for (i = 0; i < m->gm_nwants; i++)
			if (decode_want(json_array_get(wants, i), i,
			    &m->gm_wants[i]) == -1)
				return -1;
	}
	/* Every chunk is an object with an array of facts, and the facts
	 * of them all are bounded, before anything is allocated. */
	json_array_foreach(chunks, i, v) {
		snprintf(where, sizeof(where), "cat.chunks[%zu]", i);
		if (!json_is_object(v))
			return why_set("gossip: %s is not an object", where);
		facts = json_object_get(v, "facts");
		if (facts == NULL)
			return why_field(where, "facts", "is missing");
		if (!json_is_array(facts))
			return why_field(where, "facts", "is not an array");
		nfacts += json_array_size(facts);
		if (nfacts > GOSSIP_FACTS_MAX)
			return why_set("gossip: more than %d facts",
			    GOSSIP_FACTS_MAX);
	}
	if (json_array_size(chunks) == 0)
		return 0;
	m->gm_chunks = xcalloc(json_array_size(chunks), sizeof(*m->gm_chunks));
	m->gm_nchunks = json_array_size(chunks);
	if (nfacts > 0)
		m->gm_facts = xcalloc(nfacts, sizeof(*m->gm_facts));
	m->gm_nfacts = nfacts;
	nfacts = 0;
	for (i = 0; i < m->gm_nchunks; i++) {
		if (decode_chunk(json_array_get(chunks, i), i,
		    &m->gm_chunks[i], m->gm_facts == NULL ? NULL :
		    m->gm_facts + nfacts) == -1)
			return -1;
		nfacts += m->gm_chunks[i].gc_nfacts;
	}
	return 0;
}

static int
decode_root(const json_t *root, size_t max_lines, struct gossip_msg *m)
{
	const json_t *v;
	void *digest, *news;

	if (!json_is_object(root))
		return why_set("gossip: not a JSON object");
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != GOSSIP_VERSION)
		return why_set("gossip: v is not %d", GOSSIP_VERSION);
	v = json_object_get(root, "cluster");
	if (!json_is_string(v))
		return why_set("gossip: cluster is not a string");
	if (!gossip_msg_cluster_valid(json_string_value(v),
	    json_string_length(v)))
		return why_set("gossip: cluster is not 1 to %d bytes without "
		    "control bytes", GOSSIP_CLUSTER_MAX - 1);
	memcpy(m->gm_cluster, json_string_value(v), json_string_length(v));
	v = json_object_get(root, "from");
	if (v == NULL)
		return why_set("gossip: from is missing");
	if (get_name(v, "", "from", m->gm_from, MEMBER_NAME_MAX) == -1 ||
	    decode_range(json_object_get(root, "range"), &m->gm_range) == -1 ||
	    decode_list(root, &digest_list, max_lines, &digest,
	    &m->gm_ndigest) == -1)
		return -1;
	m->gm_digest = digest;
	if (decode_list(root, &news_list, max_lines, &news, &m->gm_nnews) ==
	    -1)
		return -1;
	m->gm_news = news;
	if (get_uint_opt(json_object_get(root, "t"), "", "t",
	    &m->gm_wall_ms) == -1)
		return -1;
	return decode_cat(json_object_get(root, "cat"), m);
}

int
gossip_msg_decode(const char *body, size_t len, size_t max_lines,
    struct gossip_msg *out, const char **why)
{
	json_error_t err;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (too_deep(body, len, GOSSIP_MAX_DEPTH)) {
		rc = why_set("gossip: nested too deep");
	} else if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES,
	    &err)) == NULL) {
		rc = why_json(&err);
	} else {
		rc = decode_root(root, max_lines, out);
		json_decref(root);
	}
	if (rc == -1) {
		gossip_msg_free(out);
		if (why != NULL)
			*why = gossip_why;
	}
	return rc;
}

void
gossip_msg_free(struct gossip_msg *m)
{
	free(m->gm_digest);
	free(m->gm_news);
	free(m->gm_wants);
	free(m->gm_chunks);
	free(m->gm_facts);
	memset(m, 0, sizeof(*m));
}
