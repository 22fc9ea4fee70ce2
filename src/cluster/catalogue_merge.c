/*
 * catalogue_merge.c - the catalogue's anti-entropy (see
 * cluster/catalogue.h): what is known of an owner, the delta of its
 * facts cut for another node, a gossiped chunk merged (a new
 * incarnation, a resync, tombstones below a floor), owners forgotten, and
 * the wants a round asks for. The agent calls it (its gossip rounds
 * merge chunks and ask for wants; replication and holdings read
 * deltas), and so do the workers (POST /_/gossip answers with deltas),
 * under the table's robust mutex (the *_locked calls); nothing here
 * takes it.
 */
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/catalogue_int.h"

/* -- anti-entropy ------------------------------------------------------- */

void
catalogue_owner_locked(const struct catalogue *cat, const char *owner,
    uint64_t *inc, uint64_t *seq)
{
	uint32_t oi = catalogue_owner_find(cat, owner);

	*inc = oi == NONE ? 0 : owner_at(cat, oi)->o_inc;
	*seq = oi == NONE || *inc == 0 ? 0 : owner_at(cat, oi)->o_seq;
}

static void
fact_msg(const struct catalogue *c, uint32_t fi, struct cat_fact_msg *m)
{
	const struct cat_fact *f = fact_at(c, fi);
	const struct cat_version *v = version_at(c, fact_version(f));

	memcpy(m->cm_name, version_name(c, v), v->v_len);
	m->cm_name[v->v_len] = '\0';
	m->cm_name_len = v->v_len;
	m->cm_digest = v->v_digest;
	m->cm_size = v->v_size;
	memcpy(m->cm_origin, owner_at(c, v->v_origin)->o_name,
	    MEMBER_NAME_MAX);
	m->cm_hlc = v->v_hlc;
	m->cm_seq = fact_seq(f);
	m->cm_gone = fact_gone(f);
	m->cm_striped = (v->v_flags & VERSION_STRIPED) != 0;
}

int
catalogue_delta_locked(const struct catalogue *cat,
    const struct cat_want *w, struct cat_chunk *ch, struct cat_fact_msg *out,
    size_t max, size_t budget)
{
	uint32_t oi = catalogue_owner_find(cat, w->cw_owner), i;
	const struct cat_owner *o;
	uint64_t last = 0, knows;
	size_t n = 0, bytes = 0, b;
	bool resync;

	if (oi == NONE || (o = owner_at(cat, oi))->o_inc == 0 ||
	    w->cw_inc > o->o_inc)
		return -1;
	knows = w->cw_after > w->cw_floor ? w->cw_after : w->cw_floor;
	resync = w->cw_inc != o->o_inc || knows < o->o_floor;
	if (!resync && w->cw_after >= o->o_seq)
		return -1;
	memcpy(ch->cc_owner, o->o_name, MEMBER_NAME_MAX);
	ch->cc_inc = o->o_inc;
	ch->cc_from = resync ? 0 : w->cw_after;
	ch->cc_floor = o->o_floor;
	/* A delta's facts are the tail of the list: found from the end, in
	 * as many steps as there are facts to give. */
	i = o->o_tail;
	if (resync)
		i = o->o_head;
	else
		while (i != 0 && fact_at(cat, i - 1)->f_prev != 0 &&
		    fact_seq(fact_at(cat, fact_at(cat, i - 1)->f_prev - 1)) >
		    ch->cc_from)
			i = fact_at(cat, i - 1)->f_prev;
	if (i != 0 && fact_seq(fact_at(cat, i - 1)) <= ch->cc_from)
		i = 0;
	for (; i != 0 && n < max; i = fact_at(cat, i - 1)->f_next) {
		b = CATALOGUE_FACT_WIRE_BYTES +
		    version_at(cat, fact_version(fact_at(cat, i - 1)))->v_len;
		if (n > 0 && bytes + b > budget)
			break;
		fact_msg(cat, i - 1, &out[n++]);
		bytes += b;
		last = fact_seq(fact_at(cat, i - 1));
	}
	/* Cut short: complete up to the last fact given, never beyond. */
	ch->cc_to = i == 0 ? o->o_seq : n > 0 ? last : ch->cc_from;
	return (int)n;
}

/* Drops the owner's tombstones numbered up to its floor. */
static size_t
purge_below_floor(struct catalogue *c, uint32_t oi)
{
	struct cat_owner *o = owner_at(c, oi);
	uint32_t i, next;
	size_t n = 0;

	for (i = o->o_head; i != 0 && o->o_ntomb > 0 &&
	    fact_seq(fact_at(c, i - 1)) <= o->o_floor; i = next) {
		next = fact_at(c, i - 1)->f_next;
		if (fact_gone(fact_at(c, i - 1))) {
			catalogue_version_fact_drop(c, i - 1);
			n++;
		}
	}
	return n;
}

/* Merges one fact of owner oi; -1 when there is no room. */
static int
apply_one(struct catalogue *c, uint32_t oi, const struct cat_fact_msg *m,
    catalogue_conflict_fn *on_conflict, void *arg)
{
	uint32_t vi = catalogue_version_get(c, m->cm_name, m->cm_name_len,
	    &m->cm_digest, m->cm_size, m->cm_origin, m->cm_hlc);
	int r;

	if (vi == NONE)
		return -1;
	if (m->cm_striped)
		version_at(c, vi)->v_flags |= VERSION_STRIPED;
	r = catalogue_version_fact_put(c, oi, vi, m->cm_seq, m->cm_gone,
	    on_conflict, arg);
	if (r < 0 && version_at(c, vi)->v_facts == 0)
		catalogue_version_free(c, vi);
	return r;
}

size_t
catalogue_apply_locked(struct catalogue *cat, const struct cat_chunk *ch,
    const struct cat_fact_msg *f, size_t n,
    catalogue_conflict_fn *on_conflict, void *arg)
{
	struct catalogue_stats *st = &cat->c_stats;
	uint32_t oi, i, prev;
	struct cat_owner *o;
	uint64_t to = ch->cc_to, after;
	size_t changed = 0, k;
	bool newinc;
	int r;

	if (!member_name_valid(ch->cc_owner, MEMBER_NAME_MAX) ||
	    ch->cc_inc == 0 || ch->cc_from > ch->cc_to || ch->cc_to > SEQ_MAX) {
		st->cs_refused_invalid += n;
		return 0;
	}
	oi = catalogue_owner_find(cat, ch->cc_owner);
	if (oi == 0)
		return 0;		/* this node's own facts */
	o = oi == NONE ? NULL : owner_at(cat, oi);
	if (o != NULL && o->o_inc > ch->cc_inc)
		return 0;		/* an older incarnation */
	newinc = o == NULL || o->o_inc < ch->cc_inc;
	if (newinc && ch->cc_from != 0)
		return 0;		/* a gap: it must start from 0 */
	if (!newinc && (ch->cc_from > o->o_seq || (ch->cc_to <= o->o_seq &&
	    !(ch->cc_from == 0 && ch->cc_floor > o->o_floor))))
		return 0;		/* a gap, or nothing new */
	if (o == NULL) {
		if ((oi = catalogue_owner_get(cat, ch->cc_owner)) == NONE) {
			st->cs_refused_full += n;
			return 0;
		}
		o = owner_at(cat, oi);
	}
	if (ch->cc_from == 0 && o->o_nfacts > 0)
		st->cs_resyncs++;
	if (newinc) {
		/* The old incarnation's facts go first, making room. */
		while (o->o_tail != 0) {
			catalogue_version_fact_drop(cat, o->o_tail - 1);
			changed++;
		}
		o->o_inc = ch->cc_inc;
		o->o_seq = o->o_floor = 0;
	}
	/* Every fact numbered after `from` (all of them for a resync or a
	 * new incarnation) is pending until the chunk mentions it again. */
	for (i = o->o_tail; i != 0 &&
	    fact_seq(fact_at(cat, i - 1)) > ch->cc_from;
	    i = fact_at(cat, i - 1)->f_prev)
		fact_at(cat, i - 1)->f_version |= FACT_PENDING;
	after = ch->cc_from;
	for (k = 0; k < n; k++) {
		if (f[k].cm_seq <= after || f[k].cm_seq > to ||
		    f[k].cm_name_len > NAME_MAX_LEN ||
		    !catalogue_version_fact_valid(f[k].cm_name,
		    f[k].cm_name_len, f[k].cm_origin)) {
			/* Refused as absent, the same way at every node. */
			st->cs_refused_invalid++;
			continue;
		}
		if ((r = apply_one(cat, oi, &f[k], on_conflict, arg)) < 0) {
			/* No room: complete only up to the fact before, and
			 * asked for again from there. */
			st->cs_refused_full += n - k;
			to = f[k].cm_seq - 1;
			break;
		}
		changed += (size_t)r;
		after = f[k].cm_seq;
	}
	/* Those still pending were withdrawn and forgotten, or replaced. */
	for (i = o->o_tail; i != 0; i = prev) {
		struct cat_fact *x = fact_at(cat, i - 1);

		prev = x->f_prev;
		if ((x->f_version & FACT_PENDING) != 0) {
			catalogue_version_fact_drop(cat, i - 1);
			changed++;
		} else if (fact_seq(x) <= ch->cc_from)
			break;
	}
	o->o_seq = to;
	if (ch->cc_floor > o->o_floor) {
		o->o_floor = ch->cc_floor;
		changed += purge_below_floor(cat, oi);
	}
	st->cs_applied += changed;
	return changed;
}

size_t
catalogue_forget_owner_locked(struct catalogue *cat, const char *owner)
{
	uint32_t oi = catalogue_owner_find(cat, owner);
	struct cat_owner *o;
	size_t n = 0;

	if (oi == NONE || oi == 0)
		return 0;
	o = owner_at(cat, oi);
	o->o_inc = o->o_seq = o->o_floor = 0;
	/* The owner is kept while one of its facts' versions names it as
	 * origin: its last fact's drop may release it. */
	o->o_refs++;
	while (o->o_tail != 0) {
		catalogue_version_fact_drop(cat, o->o_tail - 1);
		n++;
	}
	o->o_refs--;
	catalogue_owner_release(cat, oi);
	return n;
}

size_t
catalogue_prune_owners_locked(struct catalogue *cat,
    bool (*known)(void *arg, const char *owner), void *arg)
{
	uint32_t i;
	size_t n = 0;

	for (i = 1; i < cat->c_p.cp_owners; i++) {
		struct cat_owner *o = owner_at(cat, i);

		if (o->o_in_use && o->o_inc != 0 && !known(arg, o->o_name))
			n += catalogue_forget_owner_locked(cat, o->o_name);
	}
	return n;
}

size_t
catalogue_wants_locked(struct catalogue *cat,
    const char *const *owners, const uint64_t *inc, const uint64_t *seq,
    size_t n, struct cat_want *out, size_t max)
{
	size_t k = 0, j, i = 0, start;
	uint32_t oi;
	const struct cat_owner *o;

	if (n == 0)
		return 0;
	start = cat->c_want_next % n;
	for (j = 0; j < n && k < max; j++) {
		i = (start + j) % n;
		if (inc[i] == 0 || strlen(owners[i]) >= MEMBER_NAME_MAX)
			continue;
		oi = catalogue_owner_find(cat, owners[i]);
		if (oi == 0)
			continue;
		o = oi == NONE ? NULL : owner_at(cat, oi);
		if (o != NULL && o->o_inc > inc[i])
			continue;	/* the member table is behind */
		if (o != NULL && o->o_inc == inc[i] && o->o_seq >= seq[i])
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		strcpy(out[k].cw_owner, owners[i]);
		if (o != NULL) {
			out[k].cw_inc = o->o_inc;
			out[k].cw_after = o->o_inc != 0 ? o->o_seq : 0;
			out[k].cw_floor = o->o_inc != 0 ? o->o_floor : 0;
		}
		k++;
	}
	cat->c_want_next = (uint32_t)((start + j) % n);
	return k;
}
