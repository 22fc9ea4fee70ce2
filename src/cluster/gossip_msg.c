/*
 * gossip_msg.c - the JSON of one gossip message (see gossip_msg.h),
 * written with jansson, and the bound on a message's length that its
 * reader caps bodies at (gossip_body_max()); gossip_msg_decode.c reads
 * one. Any thread: no static data.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cluster/gossip_msg.h"
#include "cluster/gossip_msg_int.h"
#include "store/name.h"

#define GOSSIP_NUM_DIGITS 19		/* of 2^63 - 1, the largest number */
#define GOSSIP_STATE_LONGEST "suspect"

/* -- writing --------------------------------------------------------- */

static bool
num_ok(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX;
}

static json_t *
digest_line_json(const struct member_digest *d)
{
	if (!member_name_valid(d->md_name, MEMBER_NAME_MAX) ||
	    d->md_state >= MEMBER_STATES || !num_ok(d->md_incarnation) ||
	    !num_ok(d->md_version) || !num_ok(d->md_state_inc))
		return NULL;
	return json_pack("[sIIsI]", d->md_name,
	    (json_int_t)d->md_incarnation, (json_int_t)d->md_version,
	    member_state_name(d->md_state), (json_int_t)d->md_state_inc);
}

static json_t *
news_json(const struct member_news *n)
{
	const struct member_facts *f = &n->mn_facts;
	json_t *o;

	if (!member_name_valid(f->mf_name, MEMBER_NAME_MAX) ||
	    !member_name_valid(f->mf_addr, MEMBER_ADDR_MAX) ||
	    n->mn_state >= MEMBER_STATES || !num_ok(f->mf_incarnation) ||
	    !num_ok(f->mf_version) || !num_ok(f->mf_heartbeat) ||
	    !num_ok(f->mf_capacity) || !num_ok(f->mf_used) ||
	    !num_ok(n->mn_state_inc))
		return NULL;
	if (!num_ok(f->mf_cat_inc) || !num_ok(f->mf_cat_seq))
		return NULL;
	o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:b,s:I,s:I,s:b,s:s,s:I}",
	    "name", f->mf_name, "addr", f->mf_addr,
	    "inc", (json_int_t)f->mf_incarnation,
	    "ver", (json_int_t)f->mf_version,
	    "hb", (json_int_t)f->mf_heartbeat, "store", (int)f->mf_store,
	    "cap", (json_int_t)f->mf_capacity, "used", (json_int_t)f->mf_used,
	    "left", (int)f->mf_left, "state", member_state_name(n->mn_state),
	    "sinc", (json_int_t)n->mn_state_inc);
	/* Absent is 0: most messages need neither. */
	if (o != NULL && (f->mf_cat_inc != 0 || f->mf_cat_seq != 0) &&
	    (json_object_set_new(o, "cinc", json_integer((json_int_t)
	    f->mf_cat_inc)) == -1 || json_object_set_new(o, "cseq",
	    json_integer((json_int_t)f->mf_cat_seq)) == -1)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* A cluster's name: 1 to 64 bytes of UTF-8 (jansson checks that), no
 * control byte (it may end up in a log). */
bool
gossip_msg_cluster_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= GOSSIP_CLUSTER_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static json_t *
want_json(const struct cat_want *w)
{
	if (!member_name_valid(w->cw_owner, MEMBER_NAME_MAX) ||
	    !num_ok(w->cw_inc) || !num_ok(w->cw_after) ||
	    !num_ok(w->cw_floor))
		return NULL;
	return json_pack("[sIII]", w->cw_owner, (json_int_t)w->cw_inc,
	    (json_int_t)w->cw_after, (json_int_t)w->cw_floor);
}

static json_t *
fact_json(const struct cat_chunk *ch, const struct cat_fact_msg *f)
{
	char name[3 * NAME_MAX_LEN + 1], hex[DIGEST_HEX_LEN + 1];

	if (f->cm_name_len > NAME_MAX_LEN ||
	    !name_is_valid(f->cm_name, f->cm_name_len) ||
	    !member_name_valid(f->cm_origin, MEMBER_NAME_MAX) ||
	    !num_ok(f->cm_size) || !num_ok(f->cm_hlc) ||
	    f->cm_seq <= ch->cc_from || f->cm_seq > ch->cc_to)
		return NULL;
	name_encode(f->cm_name, f->cm_name_len, name, sizeof(name));
	digest_hex(&f->cm_digest, hex);
	/* An eighth item, 1, only for a striped version. */
	if (f->cm_striped)
		return json_pack("[ssIsIIii]", name, hex,
		    (json_int_t)f->cm_size, f->cm_origin,
		    (json_int_t)f->cm_hlc, (json_int_t)f->cm_seq,
		    f->cm_gone ? 1 : 0, 1);
	return json_pack("[ssIsIIi]", name, hex, (json_int_t)f->cm_size,
	    f->cm_origin, (json_int_t)f->cm_hlc, (json_int_t)f->cm_seq,
	    f->cm_gone ? 1 : 0);
}

static json_t *
chunk_json(const struct gossip_chunk *gc)
{
	const struct cat_chunk *ch = &gc->gc_chunk;
	json_t *facts;
	size_t i;

	if (!member_name_valid(ch->cc_owner, MEMBER_NAME_MAX) ||
	    !num_ok(ch->cc_inc) || !num_ok(ch->cc_to) ||
	    !num_ok(ch->cc_floor) || ch->cc_from > ch->cc_to)
		return NULL;
	facts = json_array();
	for (i = 0; i < gc->gc_nfacts && facts != NULL; i++)
		if (json_array_append_new(facts, fact_json(ch,
		    &gc->gc_facts[i])) == -1) {
			json_decref(facts);
			facts = NULL;
		}
	if (facts == NULL)
		return NULL;
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "owner", ch->cc_owner,
	    "inc", (json_int_t)ch->cc_inc, "from", (json_int_t)ch->cc_from,
	    "to", (json_int_t)ch->cc_to, "floor", (json_int_t)ch->cc_floor,
	    "facts", facts);
}

/* The "cat" object: NULL when m has neither wants nor chunks, else
 * *failed tells whether it could not be written. */
static json_t *
cat_json(const struct gossip_msg *m, bool *failed)
{
	json_t *cat, *a;
	size_t i;
	int rc = 0;

	*failed = false;
	if (m->gm_nwants == 0 && m->gm_nchunks == 0)
		return NULL;
	*failed = true;
	if (m->gm_nwants > GOSSIP_WANTS_MAX ||
	    m->gm_nchunks > GOSSIP_WANTS_MAX || (cat = json_object()) == NULL)
		return NULL;
	if (m->gm_nwants > 0) {
		a = json_array();
		for (i = 0; i < m->gm_nwants && a != NULL; i++)
			if (json_array_append_new(a, want_json(
			    &m->gm_wants[i])) == -1) {
				json_decref(a);
				a = NULL;
			}
		rc |= json_object_set_new(cat, "want", a);
	}
	if (m->gm_nchunks > 0) {
		a = json_array();
		for (i = 0; i < m->gm_nchunks && a != NULL; i++)
			if (json_array_append_new(a, chunk_json(
			    &m->gm_chunks[i])) == -1) {
				json_decref(a);
				a = NULL;
			}
		rc |= json_object_set_new(cat, "chunks", a);
	}
	if (rc != 0) {
		json_decref(cat);
		return NULL;
	}
	*failed = false;
	return cat;
}

static json_t *
msg_json(const struct gossip_msg *m)
{
	size_t clen = strnlen(m->gm_cluster, sizeof(m->gm_cluster)), i;
	json_t *root, *digest, *news, *cat;
	bool cat_failed;
	int rc;

	if (!gossip_msg_cluster_valid(m->gm_cluster, clen) ||
	    !member_name_valid(m->gm_from, MEMBER_NAME_MAX) ||
	    !num_ok(m->gm_wall_ms))
		return NULL;
	digest = json_array();
	news = json_array();
	for (i = 0; i < m->gm_ndigest && digest != NULL; i++)
		if (json_array_append_new(digest,
		    digest_line_json(&m->gm_digest[i])) == -1) {
			json_decref(digest);
			digest = NULL;
		}
	for (i = 0; i < m->gm_nnews && news != NULL; i++)
		if (json_array_append_new(news, news_json(&m->gm_news[i])) ==
		    -1) {
			json_decref(news);
			news = NULL;
		}
	/* json_stringn refuses a cluster name that is not UTF-8; a failed
	 * set drops its value, whatever failed before. */
	root = json_pack("{s:i,s:s%,s:s,s:[I,I]}", "v", GOSSIP_VERSION,
	    "cluster", m->gm_cluster, clen, "from", m->gm_from, "range",
	    (json_int_t)m->gm_range.mr_lo, (json_int_t)m->gm_range.mr_hi);
	rc = json_object_set_new(root, "digest", digest);
	rc |= json_object_set_new(root, "news", news);
	if (m->gm_wall_ms != 0)
		rc |= json_object_set_new(root, "t",
		    json_integer((json_int_t)m->gm_wall_ms));
	cat = cat_json(m, &cat_failed);
	if (cat_failed)
		rc = -1;
	else if (cat != NULL)
		rc |= json_object_set_new(root, "cat", cat);
	if (rc != 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

static int
buf_dump(const char *p, size_t n, void *arg)
{
	buf_append(arg, p, n);
	return 0;
}

int
gossip_msg_encode(const struct gossip_msg *m, struct buf *out)
{
	size_t len = out->len;
	json_t *root;
	int rc;

	if ((root = msg_json(m)) == NULL)
		return -1;
	rc = json_dump_callback(root, buf_dump, out, JSON_COMPACT);
	json_decref(root);
	if (rc == -1)
		out->len = len;
	return rc == -1 ? -1 : 0;
}

/* The longest digest line and news entry: the text around the values,
 * then the values at their longest. */
#define DIGEST_LINE_MAX (sizeof("[\"\",,,\"" GOSSIP_STATE_LONGEST "\",],") - \
	1 + (MEMBER_NAME_MAX - 1) + 3 * GOSSIP_NUM_DIGITS)
#define NEWS_MAX (sizeof("{\"name\":\"\",\"addr\":\"\",\"inc\":,\"ver\":," \
	"\"hb\":,\"store\":false,\"cap\":,\"used\":,\"left\":false," \
	"\"state\":\"" GOSSIP_STATE_LONGEST "\",\"sinc\":,\"cinc\":," \
	"\"cseq\":},") - 1 + (MEMBER_NAME_MAX - 1) + (MEMBER_ADDR_MAX - 1) + \
	8 * GOSSIP_NUM_DIGITS)
#define GOSSIP_MARGIN 4096		/* the head, and room to grow */
#define CAT_HEAD_MAX (sizeof(",\"t\":,\"cat\":{\"want\":[],\"chunks\":[]}") - 1 + \
	GOSSIP_NUM_DIGITS)
#define WANT_MAX (sizeof("[\"\",,,],") - 1 + (MEMBER_NAME_MAX - 1) + \
	3 * GOSSIP_NUM_DIGITS)
#define CHUNK_HEAD_MAX (sizeof("{\"owner\":\"\",\"inc\":,\"from\":,\"to\":," \
	"\"floor\":,\"facts\":[]},") - 1 + (MEMBER_NAME_MAX - 1) + \
	4 * GOSSIP_NUM_DIGITS)
#define FACT_MAX (sizeof("[\"\",\"\",,\"\",,,0],") - 1 + 3 * NAME_MAX_LEN + \
	DIGEST_HEX_LEN + (MEMBER_NAME_MAX - 1) + 3 * GOSSIP_NUM_DIGITS)

/* A fact's text is at most 3 times what the budget counts of it
 * (CATALOGUE_FACT_WIRE_BYTES + the name's length), and each chunk may
 * pass its share of the budget by one fact. */
_Static_assert(FACT_MAX <= 3 * (CATALOGUE_FACT_WIRE_BYTES + NAME_MAX_LEN),
    "a fact's text fits 3 times its estimate");

size_t
gossip_body_max(size_t max_members)
{
	size_t n = max_members < MEMBERS_MAX ? max_members : MEMBERS_MAX;

	return n * (DIGEST_LINE_MAX + NEWS_MAX) / 4 * 5 + GOSSIP_MARGIN +
	    CAT_HEAD_MAX + GOSSIP_WANTS_MAX * (WANT_MAX + CHUNK_HEAD_MAX +
	    FACT_MAX) + 3 * GOSSIP_CAT_BUDGET;
}
