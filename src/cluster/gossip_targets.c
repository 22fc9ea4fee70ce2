/*
 * gossip_targets.c - whom the agent's rounds reach (see
 * gossip_round.c): the members (but this node and those that left) and
 * the seeds, resolved into the agent's own peer table by "host:port" so
 * that connections to them are kept alive between rounds; the gossip
 * peers of the node's shared peer table (members alive or suspect),
 * which workers ask on a miss; and the catalogue's facts of members the
 * table forgot, dropped. Loop thread of the agent, when the member
 * table's version moves; it reads the table under its lock, looks names
 * up outside it, and takes the catalogue's lock after the table's is let
 * go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round_int.h"
#include "cluster/members.h"
#include "core/config.h"
#include "core/log.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"

/* -- targets ---------------------------------------------------------- */

/* "host:port" or "[v6]:port" into host (len bytes at most, NUL
 * included) and port. Returns 0, or -1 when it is neither. */
static int
gossip_split_addr(const char *addr, char *host, size_t len, unsigned *port)
{
	const char *colon = strrchr(addr, ':'), *h = addr;
	size_t hlen;
	char *end;
	long p;

	if (colon == NULL)
		return -1;
	hlen = (size_t)(colon - addr);
	if (addr[0] == '[') {
		if (hlen < 2 || addr[hlen - 1] != ']')
			return -1;
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= len)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (unsigned)p;
	return 0;
}

/* Appends the spec of "host:port" `name` to spec[*n], resolved (a name is
 * looked up, blocking), and named as the member or seed names itself, so
 * that it is found again by that name. False when name is not an
 * address. */
static bool
gossip_spec(const char *name, struct peer_spec *spec, size_t *n)
{
	char host[PEER_NAME_MAX];
	const char *why;
	unsigned port;

	if (gossip_split_addr(name, host, sizeof(host), &port) == -1)
		return false;
	if (peer_spec_resolve(host, port, &spec[*n], &why) == -1)
		log_debug("gossip target %s: %s", name, why);
	snprintf(spec[*n].ps_name, sizeof(spec[*n].ps_name), "%s", name);
	(*n)++;
	return true;
}

static int
gossip_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the member table (as read into the sorted arg) has owner. */
static bool
gossip_known(void *arg, const char *owner)
{
	const struct gossip_owners *go = arg;

	return bsearch(&owner, go->go_ptrs, go->go_n, sizeof(*go->go_ptrs),
	    gossip_name_cmp) != NULL;
}

/* The catalogue forgets the facts of owners the member table forgot. */
static void
gossip_prune(struct gossip_agent *ga)
{
	struct cluster *cl = ga->ga_cl;
	struct members *mt = cl->cl_members;
	struct gossip_owners *go = &ga->ga_owners;
	size_t n;
	uint32_t i;

	if (members_lock(mt) != 0)
		return;
	go->go_n = 0;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (m->m_in_use) {
			memcpy(go->go_names[go->go_n], m->m_facts.mf_name,
			    MEMBER_NAME_MAX);
			go->go_ptrs[go->go_n] = go->go_names[go->go_n];
			go->go_n++;
		}
	}
	members_unlock(mt);
	qsort(go->go_ptrs, go->go_n, sizeof(*go->go_ptrs), gossip_name_cmp);
	if (catalogue_lock(cl->cl_catalogue) != 0)
		return;
	n = catalogue_prune_owners_locked(cl->cl_catalogue, gossip_known, go);
	catalogue_unlock(cl->cl_catalogue);
	if (n > 0)
		log_info("catalogue: %zu facts of forgotten members dropped", n);
}

/*
 * After a change of the member table, from one reading of it and one
 * lookup per member: the agent's targets (every member but this node and
 * those that left, and the seeds), and the gossip peers of the node's
 * peer table (the members alive or suspect, with the global save and
 * ttl), which workers ask on a miss. A member whose address is a static
 * peer's stays that peer, with its own save and ttl; the table knows the
 * peers of the configuration in force, which a reload of peers alone
 * changes under the agent.
 */
void
gossip_targets_sync(struct gossip_agent *ga, int64_t now_ms)
{
	struct members *mt = ga->ga_cl->cl_members;
	size_t cap = mt->mt_capacity + ga->ga_nseeds, n = 0, np = 0, k, j;
	char (*names)[MEMBER_ADDR_MAX] = calloc(cap, sizeof(*names));
	bool *live = calloc(cap, sizeof(*live));
	struct peer_spec *specs = calloc(cap, sizeof(*specs));
	struct peer_spec *peers = calloc(cap, sizeof(*peers));
	size_t nnames = 0;
	uint32_t i;

	if (names == NULL || live == NULL || specs == NULL || peers == NULL ||
	    members_lock(mt) == -1)
		goto out;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || i == mt->mt_self ||
		    m->m_state == MEMBER_LEFT)
			continue;
		live[nnames] = m->m_state <= MEMBER_SUSPECT;
		memcpy(names[nnames++], m->m_facts.mf_addr, MEMBER_ADDR_MAX);
	}
	ga->ga_version = mt->mt_version;
	members_unlock(mt);
	gossip_prune(ga);
	/* Looking names up may block: outside the lock. */
	for (k = 0; k < nnames; k++) {
		if (!gossip_spec(names[k], specs, &n) || !live[k] ||
		    peer_table_source_of(ga->ga_peers, names[k]) ==
		    PEER_SOURCE_CONFIG)
			continue;
		peers[np] = specs[n - 1];
		peers[np].ps_save = ga->ga_cfg->save;
		peers[np++].ps_ttl_ms = ga->ga_cfg->ttl_ms;
	}
	for (k = 0; k < ga->ga_nseeds; k++) {
		for (j = 0; j < nnames; j++)
			if (strcmp(names[j], ga->ga_seeds[k].gs_name) == 0)
				break;
		if (j == nnames)
			(void)gossip_spec(ga->ga_seeds[k].gs_name, specs, &n);
	}
	if (peer_table_replace(ga->ga_targets, PEER_SOURCE_GOSSIP, specs, n,
	    now_ms) == -1)
		log_warnx("gossip: more targets than the agent's table holds");
	if (peer_table_replace(ga->ga_peers, PEER_SOURCE_GOSSIP, peers, np,
	    now_ms) == -1)
		log_warnx("the peer table is full: some members are not asked "
		    "on a miss");
out:
	free(names);
	free(live);
	free(specs);
	free(peers);
}

struct peer *
gossip_targets_peer(struct gossip_agent *ga, const char *name)
{
	struct peer *p;

	peer_set_sync(ga->ga_set);
	for (p = peer_set_first(ga->ga_set); p != NULL;
	    p = peer_set_next(ga->ga_set, p))
		if (strcmp(p->p_name, name) == 0)
			return p;
	return NULL;
}
