/*
 * catalogue_view.c - what readers see of the catalogue (see
 * cluster/catalogue.h): a version's view (its winner, its holders), the
 * versions of one name in the rule's order, and the walk over every
 * live version a budget at a time. Workers (GET /_/catalogue, a name's
 * versions for a GET or a reservation) and the agent (replication,
 * holdings, gossip's conflicts) call it, under the table's robust mutex
 * (the *_locked calls); nothing here takes it. A view's name points into
 * the table: good only until it next changes.
 */
#include <string.h>
#include <xxhash.h>

#include "cluster/catalogue.h"
#include "cluster/catalogue_int.h"

/* -- reading ------------------------------------------------------------ */

static void
version_view(const struct catalogue *c, uint32_t vi,
    struct cat_version_view *vv)
{
	const struct cat_version *v = version_at(c, vi);
	uint32_t w, r, i, k = 0;

	vv->vv_name = version_name(c, v);
	vv->vv_name_len = v->v_len;
	vv->vv_digest = v->v_digest;
	vv->vv_size = v->v_size;
	vv->vv_origin = owner_at(c, v->v_origin)->o_name;
	vv->vv_hlc = v->v_hlc;
	vv->vv_striped = (v->v_flags & VERSION_STRIPED) != 0;
	w = catalogue_version_winner(c, vi, &r);
	vv->vv_nversions = r + 1;
	vv->vv_winner = w == vi;
	vv->vv_nholders = v->v_nholders;
	for (i = v->v_facts; i != 0 && k < CATALOGUE_HOLDERS_VIEW;
	    i = fact_at(c, i - 1)->f_holder)
		if (!fact_gone(fact_at(c, i - 1)))
			vv->vv_holders[k++] =
			    owner_at(c, fact_owner(fact_at(c, i - 1)))->o_name;
	for (; k < CATALOGUE_HOLDERS_VIEW; k++)
		vv->vv_holders[k] = NULL;
}

size_t
catalogue_versions_locked(const struct catalogue *cat,
    const char *name, size_t len, struct cat_version_view *out, size_t max)
{
	uint64_t hash;
	uint32_t i, best, prev = NONE;
	size_t n = 0, total = 0;

	if (len < 1 || len > NAME_MAX_LEN)
		return 0;
	hash = XXH3_64bits(name, len);
	/* A selection, one pass per version given: a name has few. */
	for (;;) {
		best = NONE;
		for (i = buckets(cat)[hash & cat->c_bucket_mask]; i != 0;
		    i = version_at(cat, i - 1)->v_next) {
			const struct cat_version *v = version_at(cat, i - 1);

			if (v->v_nholders == 0 ||
			    !catalogue_version_is(cat, v, hash, name, len))
				continue;
			if (prev == NONE)
				total++;
			if (prev != NONE && catalogue_version_rule(cat, v,
			    version_at(cat, prev)) <= 0)
				continue;
			if (best == NONE || catalogue_version_rule(cat, v,
			    version_at(cat, best)) < 0)
				best = i - 1;
		}
		if (best == NONE || n >= max)
			break;
		version_view(cat, best, &out[n++]);
		prev = best;
	}
	return total;
}

size_t
catalogue_walk_locked(const struct catalogue *cat, uint32_t *cursor,
    size_t budget, catalogue_visit_fn *fn, void *arg)
{
	struct cat_version_view vv;
	size_t n = 0;

	while (n < budget) {
		if (*cursor >= cat->c_versions_top) {
			*cursor = 0;
			break;
		}
		if (version_at(cat, *cursor)->v_nholders > 0) {
			version_view(cat, *cursor, &vv);
			fn(arg, &vv);
		}
		(*cursor)++;
		n++;
	}
	return n;
}
