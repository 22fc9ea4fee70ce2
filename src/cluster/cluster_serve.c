/*
 * cluster_serve.c - the catalogue, the clock and the members as serving
 * sees them (see cluster/cluster_serve.h). Loop thread of a worker; the
 * tables are shared, each behind its own lock, taken one at a time (the
 * catalogue's, then the members', never both).
 */
#include <stdio.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/cluster_serve.h"
#include "cluster/hlc.h"
#include "cluster/members.h"
#include "cluster/place.h"
#include "cluster/reserve_serve.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/server.h"

#define CLUSTER_SERVE_VERSIONS 8	/* versions of a name looked at */

/* The cluster of this worker (one per process). */
static struct cluster *cs_cluster;

/*
 * The holders of `version` of name (NULL: the winner), this node aside,
 * into holders[0..CATALOGUE_HOLDERS_VIEW). Returns how many; *known says
 * whether the name has any live version.
 */
static size_t
cluster_serve_holder_names(const char *name, size_t len,
    const struct digest *version, char (*holders)[MEMBER_NAME_MAX],
    bool *known, struct digest *which)
{
	struct catalogue *cat = cs_cluster->cl_catalogue;
	struct cat_version_view v[CLUSTER_SERVE_VERSIONS];
	const char *self = members_self(cs_cluster->cl_members)->m_facts.mf_name;
	size_t n, i, k, out = 0;

	*known = false;
	if (catalogue_lock(cat) == -1)
		return 0;
	n = catalogue_versions_locked(cat, name, len, v,
	    CLUSTER_SERVE_VERSIONS);
	*known = n > 0;
	if (n > CLUSTER_SERVE_VERSIONS)
		n = CLUSTER_SERVE_VERSIONS;
	for (i = 0; i < n; i++) {
		if (version != NULL ? !digest_equal(&v[i].vv_digest, version) :
		    !v[i].vv_winner)
			continue;
		if (which != NULL)
			*which = v[i].vv_digest;
		for (k = 0; k < v[i].vv_nholders && k < CATALOGUE_HOLDERS_VIEW;
		    k++)
			if (strcmp(v[i].vv_holders[k], self) != 0)
				snprintf(holders[out++], MEMBER_NAME_MAX, "%s",
				    v[i].vv_holders[k]);
		break;
	}
	catalogue_unlock(cat);
	return out;
}

/* Keeps the holders that are alive (or suspect), as their addresses. */
static size_t
cluster_serve_alive(char (*holders)[MEMBER_NAME_MAX], size_t n,
    char (*addrs)[MEMBER_ADDR_MAX])
{
	struct members *mt = cs_cluster->cl_members;
	size_t i, out = 0;

	if (n == 0 || members_lock(mt) == -1)
		return 0;
	for (i = 0; i < n; i++) {
		const struct member *m = members_find_locked(mt, holders[i]);

		if (m != NULL && m->m_state <= MEMBER_SUSPECT)
			memcpy(addrs[out++], m->m_facts.mf_addr,
			    MEMBER_ADDR_MAX);
	}
	members_unlock(mt);
	return out;
}

/*
 * The alive holders, by their rendezvous weight for the name, heaviest
 * first: a miss asks the first, so that the lookups of one name go to one
 * holder (its cache stays warm) and those of many names spread over all.
 */
static size_t
cluster_serve_holders(struct server *s, const char *name, size_t len,
    const struct digest *version, struct peer **out, size_t max, bool *known)
{
	char holders[CATALOGUE_HOLDERS_VIEW][MEMBER_NAME_MAX];
	char addrs[CATALOGUE_HOLDERS_VIEW][MEMBER_ADDR_MAX];
	const char *names[CATALOGUE_HOLDERS_VIEW];
	size_t order[CATALOGUE_HOLDERS_VIEW];
	size_t n, i, k = 0;

	n = cluster_serve_holder_names(name, len, version, holders, known,
	    NULL);
	n = cluster_serve_alive(holders, n, addrs);
	for (i = 0; i < n; i++)
		names[i] = addrs[i];
	n = place_rank(name, len, names, n, order, CATALOGUE_HOLDERS_VIEW);
	for (i = 0; i < n && k < max; i++)
		if ((out[k] = peer_set_find(s->s_peers, addrs[order[i]])) !=
		    NULL)
			k++;
	return k;
}

static uint64_t
cluster_serve_stamp(struct server *s)
{
	(void)s;
	return hlc_now(cs_cluster->cl_hlc, loop_wall_ms());
}

static void
cluster_serve_published(struct server *s, const char *name, size_t len,
    const struct digest *d, uint64_t size, uint64_t stamp)
{
	struct catalogue *cat = cs_cluster->cl_catalogue;
	const char *self = members_self(cs_cluster->cl_members)->m_facts.mf_name;
	int r = -1;

	(void)s;
	if (catalogue_lock(cat) == 0) {
		r = catalogue_announce_locked(cat, name, len, d, size, self,
		    stamp);
		catalogue_unlock(cat);
	}
	if (r == -1)
		log_warnx("%s is stored but not in the catalogue: the table is "
		    "full (cluster.max_objects)", name);
}

static void
cluster_serve_copies(struct server *s, const char *name, size_t len,
    const struct digest *d, unsigned *have, unsigned *want)
{
	char holders[CATALOGUE_HOLDERS_VIEW][MEMBER_NAME_MAX];
	char addrs[CATALOGUE_HOLDERS_VIEW][MEMBER_ADDR_MAX];
	struct members *mt = cs_cluster->cl_members;
	uint32_t counts[MEMBER_STATES];
	unsigned alive = 1, wanted = (unsigned)s->s_cfg->cluster.replicas;
	bool known;
	size_t n;

	/* The other holders alive, and this node, which holds it. */
	n = cluster_serve_holder_names(name, len, d, holders, &known, NULL);
	*have = 1 + (unsigned)cluster_serve_alive(holders, n, addrs);
	if (members_lock(mt) == 0) {
		members_count_locked(mt, counts);
		alive = counts[MEMBER_ALIVE];
		members_unlock(mt);
	}
	*want = wanted < alive ? wanted : alive;
}

static struct server_cluster cluster_serve_ops = {
	.sc_holders = cluster_serve_holders,
	.sc_stamp = cluster_serve_stamp,
	.sc_reserve = reserve_serve_start,
	.sc_reserve_end = reserve_serve_end,
	.sc_published = cluster_serve_published,
	.sc_copies = cluster_serve_copies,
};

bool
cluster_serve_signed(struct conn *c, struct cluster *cl)
{
	uint8_t nonce[AUTH_NONCE_LEN];
	enum auth_verdict v;

	if ((c->c_req.has_content_length && c->c_req.content_length > 0) ||
	    c->c_req.chunked) {
		c->c_close = true;	/* the body is not read */
		conn_send_text(c, 400, "this request takes no body", NULL);
		return false;
	}
	v = auth_verify_request(cl->cl_key, cl->cl_name, &c->c_req, NULL,
	    loop_wall_ms(), cl->cl_nonces, nonce);
	if (v == AUTH_OK)
		return true;
	cluster_stat_add(&cl->cl_stats->cs_refused[cluster_refusal_of(v)],
	    1);
	log_debug("signed request from %s refused: %s", c->c_addr,
	    auth_verdict_reason(v));
	conn_send_text(c, auth_verdict_status(v), auth_verdict_reason(v),
	    auth_verdict_status(v) == 503 ? "Retry-After: 1\r\n" : NULL);
	return false;
}

void
cluster_serve_attach(struct server *s, struct cluster *cl)
{
	cs_cluster = cl;
	cluster_serve_ops.sc_node = members_self(cl->cl_members)->m_facts.mf_name;
	s->s_cluster = &cluster_serve_ops;
	reserve_serve_routes(s, cl);
}
