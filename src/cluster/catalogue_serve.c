/*
 * catalogue_serve.c - GET /_/catalogue and GET /_/conflicts (see
 * catalogue_serve.h): the query read, a page of the shared catalogue
 * made into JSON. Loop thread of a worker.
 *
 * The page's names are found a slice of the table at a time
 * (cluster/catalogue_list.h); then each is looked up and rendered under
 * the lock (the views' strings are the table's own), which a page of
 * CATALOGUE_SERVE_LIMIT_MAX names holds for a few milliseconds; the
 * answer is sent after the lock is let go.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/catalogue_list.h"
#include "cluster/catalogue_serve.h"
#include "cluster/cluster.h"
#include "core/buf.h"
#include "core/digest.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"

#define CATALOGUE_SERVE_VERSIONS 16	/* versions of one name shown */

/* The cluster of this worker (one per process). */
static struct cluster *catalogue_cluster;

/* -- the query ---------------------------------------------------------- */

/* The value of a name parameter (prefix, after), decoded and checked as
 * a name's bytes; empty is none. */
static int
query_name(const char *v, size_t len, char *out, size_t *out_len,
    const char **why)
{
	if (len == 0) {
		out[0] = '\0';
		*out_len = 0;
		return 0;
	}
	return name_decode(v, len, out, out_len, why);
}

static int
query_limit(const char *v, size_t len, size_t *limit)
{
	size_t i, n = 0;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (size_t)(v[i] - '0');
	}
	if (n < 1 || n > CATALOGUE_SERVE_LIMIT_MAX)
		return -1;
	*limit = n;
	return 0;
}

int
catalogue_query_parse(const char *target, size_t len,
    struct catalogue_query *q, const char **why)
{
	const char *p = memchr(target, '?', len), *end = target + len;
	bool seen[3] = { false, false, false };

	memset(q, 0, sizeof(*q));
	q->cq_limit = CATALOGUE_SERVE_LIMIT;
	if (p == NULL)
		return 0;
	for (p++; p < end; ) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *v = eq != NULL ? eq + 1 : stop;
		size_t klen = (size_t)((eq != NULL ? eq : stop) - p);
		size_t vlen = (size_t)(stop - v);
		const char *reason = NULL;
		int k;

		if (klen == 6 && memcmp(p, "prefix", 6) == 0)
			k = 0;
		else if (klen == 5 && memcmp(p, "after", 5) == 0)
			k = 1;
		else if (klen == 5 && memcmp(p, "limit", 5) == 0)
			k = 2;
		else if (klen == 0 && vlen == 0)
			k = -1;		/* "&&", or a trailing "&" */
		else {
			*why = "unknown parameter (prefix, after, limit)";
			return -1;
		}
		if (k >= 0 && seen[k]) {
			*why = "a parameter given twice";
			return -1;
		}
		if (k >= 0)
			seen[k] = true;
		if (k == 0 && query_name(v, vlen, q->cq_prefix, &q->cq_plen,
		    &reason) == -1) {
			*why = "bad prefix: not the start of a valid name";
			return -1;
		}
		if (k == 1) {
			if (query_name(v, vlen, q->cq_after, &q->cq_alen,
			    &reason) == -1) {
				*why = "bad after: not a valid name";
				return -1;
			}
			q->cq_has_after = q->cq_alen > 0;
		}
		if (k == 2 && query_limit(v, vlen, &q->cq_limit) == -1) {
			*why = "bad limit: not a number from 1 to 10000";
			return -1;
		}
		p = stop + 1;
	}
	return 0;
}

/* -- the page ------------------------------------------------------------ */

/* Sets key (and key_encoded when it must be) of o to the name. */
static void
set_name(json_t *o, const char *key, const char *encoded_key,
    const char *name, size_t len)
{
	char enc[3 * NAME_MAX_LEN + 1];
	json_t *s = json_stringn(name, len);

	if (s == NULL) {	/* not UTF-8 */
		name_encode(name, len, enc, sizeof(enc));
		s = json_string(enc);
		json_object_set_new(o, encoded_key, json_true());
	}
	json_object_set_new(o, key, s);
}

static json_t *
holders_json(const struct cat_version_view *v)
{
	json_t *a = json_array();
	uint32_t i;

	for (i = 0; i < v->vv_nholders && i < CATALOGUE_HOLDERS_VIEW; i++)
		json_array_append_new(a, json_string(v->vv_holders[i]));
	return a;
}

static json_t *
version_json(const struct cat_version_view *v, bool of_conflict)
{
	char hex[DIGEST_HEX_LEN + 1], when[CLUSTER_TIME_LEN];
	json_t *o = json_object();

	digest_hex(&v->vv_digest, hex);
	cluster_time_text(v->vv_hlc, when, sizeof(when));
	if (!of_conflict)
		set_name(o, "name", "encoded", v->vv_name, v->vv_name_len);
	json_object_set_new(o, "digest", json_string(hex));
	json_object_set_new(o, "size", json_integer((json_int_t)v->vv_size));
	json_object_set_new(o, "origin", json_string(v->vv_origin));
	json_object_set_new(o, "time", json_string(when));
	if (of_conflict)
		json_object_set_new(o, "hlc",
		    json_integer((json_int_t)v->vv_hlc));
	else
		json_object_set_new(o, "versions",
		    json_integer(v->vv_nversions));
	json_object_set_new(o, "holders", holders_json(v));
	return o;
}

/* A conflict: the name, its winner, and every version vv[0..n) (the
 * winner first). */
static json_t *
conflict_json(const struct cat_version_view *vv, size_t n)
{
	char hex[DIGEST_HEX_LEN + 1];
	json_t *o = json_object(), *list = json_array();
	size_t k;

	set_name(o, "name", "encoded", vv[0].vv_name, vv[0].vv_name_len);
	digest_hex(&vv[0].vv_digest, hex);
	json_object_set_new(o, "winner", json_string(hex));
	for (k = 0; k < n; k++)
		json_array_append_new(list, version_json(&vv[k], true));
	json_object_set_new(o, "versions", list);
	return o;
}

/* The page's names, the lock taken for one slice of the table at a time. */
static struct cat_list *
catalogue_names(struct catalogue *cat, const struct catalogue_query *q,
    bool conflicts)
{
	struct cat_list *l = catalogue_list_new(q->cq_prefix, q->cq_plen,
	    q->cq_has_after ? q->cq_after : NULL, q->cq_alen, conflicts,
	    q->cq_limit);
	bool seen = false;

	while (l != NULL && !seen) {
		if (catalogue_lock(cat) != 0) {
			catalogue_list_free(l);
			return NULL;
		}
		seen = catalogue_list_step_locked(cat, l);
		catalogue_unlock(cat);
	}
	return l;
}

int
catalogue_render_page(struct catalogue *cat, const struct catalogue_query *q,
    bool conflicts, struct buf *out)
{
	struct cat_version_view vv[CATALOGUE_SERVE_VERSIONS];
	struct cat_list *l = catalogue_names(cat, q, conflicts);
	json_t *root = json_object(), *list = json_array();
	const char *name = NULL;
	size_t n, k, len = 0, nv;
	bool more;
	char *text;

	if (l == NULL || root == NULL || list == NULL ||
	    catalogue_lock(cat) != 0) {
		catalogue_list_free(l);
		json_decref(root);
		json_decref(list);
		return -1;
	}
	n = catalogue_list_done(l, &more);
	for (k = 0; k < n; k++) {
		name = catalogue_list_name(l, k, &len);
		nv = catalogue_versions_locked(cat, name, len, vv,
		    CATALOGUE_SERVE_VERSIONS);
		/* Gone, or no longer in conflict, since its slice. */
		if (nv == 0 || (conflicts && nv < 2))
			continue;
		json_array_append_new(list, conflicts ? conflict_json(vv,
		    nv < CATALOGUE_SERVE_VERSIONS ? nv :
		    CATALOGUE_SERVE_VERSIONS) : version_json(&vv[0], false));
	}
	catalogue_unlock(cat);
	json_object_set_new(root, conflicts ? "conflicts" : "names", list);
	if (more && n > 0)
		set_name(root, "next", "next_encoded", name, len);
	else
		json_object_set_new(root, "next", json_null());
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	catalogue_list_free(l);
	if (text == NULL)
		return -1;
	buf_append_str(out, text);
	buf_append_str(out, "\n");
	free(text);
	return 0;
}

/* -- the routes ------------------------------------------------------------ */

static void
catalogue_page(struct conn *c, bool conflicts)
{
	struct catalogue_query q;
	struct buf body = { 0 };
	const char *why = NULL;

	if (!request_node_read_only(c))
		return;
	if (catalogue_query_parse(c->c_req.target.p, c->c_req.target.len, &q,
	    &why) == -1) {
		conn_send_text(c, 400, why, NULL);
		return;
	}
	if (catalogue_render_page(catalogue_cluster->cl_catalogue, &q,
	    conflicts, &body) == -1) {
		conn_send_text(c, 500, "cannot read the catalogue", NULL);
		return;
	}
	conn_send_body(c, "application/json", "Cache-Control: no-store\r\n",
	    body.data, body.len);
	buf_free(&body);
}

static void
catalogue_route(struct conn *c, const char *path)
{
	(void)path;
	catalogue_page(c, false);
}

static void
conflicts_route(struct conn *c, const char *path)
{
	(void)path;
	catalogue_page(c, true);
}

void
catalogue_serve_routes(struct server *s, struct cluster *cl)
{
	catalogue_cluster = cl;
	(void)server_route(s, "catalogue", catalogue_route);
	(void)server_route(s, "conflicts", conflicts_route);
}
