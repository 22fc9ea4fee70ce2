/*
 * catalogue_version.c - the catalogue's versions and the facts of their
 * holders (see catalogue.c for the table's layout): the name heap, a
 * version made, found and freed, its holders counted (and a conflict
 * told when a second version of a name becomes live), a fact put or
 * dropped, and this node's own facts: announcements and withdrawals.
 * Whichever process and thread calls the catalogue, under the table's
 * robust mutex (the *_locked calls); nothing here takes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/catalogue.h"
#include "cluster/catalogue_int.h"

/* -- the name heap ------------------------------------------------------ */

static uint32_t
name_units(size_t len)
{
	return (uint32_t)((len + CATALOGUE_NAME_UNIT - 1) / CATALOGUE_NAME_UNIT);
}

static void
heap_put(struct catalogue *c, uint32_t unit, uint32_t units)
{
	uint32_t next = c->c_heap_free[units];

	memcpy(heap_at(c, unit), &next, sizeof(next));
	c->c_heap_free[units] = unit + 1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The free runs are too small for a name, or too scattered: slides every
 * name down to the start of the heap, in the order they lie, and leaves
 * the free room at the top, whole. Rare (the heap is full but for runs
 * of other sizes), O(V log V), and it needs V * 8 bytes of malloc: false
 * without them. Moving names is why a view's name is good only until the
 * table next changes.
 */
static bool
heap_compact(struct catalogue *c)
{
	uint64_t *order, top = 0;
	uint32_t i, n = 0, k;

	if ((order = malloc(((size_t)c->c_versions_top + 1) *
	    sizeof(*order))) == NULL)
		return false;
	for (i = 0; i < c->c_versions_top; i++)
		if (version_at(c, i)->v_len != 0)
			order[n++] = (uint64_t)version_at(c, i)->v_name << 32 | i;
	qsort(order, n, sizeof(*order), cmp_u64);
	for (k = 0; k < n; k++) {
		struct cat_version *v = version_at(c, (uint32_t)order[k]);
		uint32_t units = name_units(v->v_len);

		if (v->v_name != top)
			memmove(heap_at(c, (uint32_t)top), heap_at(c, v->v_name),
			    (size_t)units * CATALOGUE_NAME_UNIT);
		v->v_name = (uint32_t)top;
		top += units;
	}
	free(order);
	memset(c->c_heap_free, 0, sizeof(c->c_heap_free));
	c->c_heap_top = top;
	return true;
}

/* `units` units: of that exact size when one is free, else from the top,
 * else cut from a larger free run. NONE when there is no room. */
static uint32_t
heap_alloc(struct catalogue *c, uint32_t units)
{
	uint32_t unit, k;

	if (c->c_heap_free[units] != 0) {
		unit = c->c_heap_free[units] - 1;
		memcpy(&c->c_heap_free[units], heap_at(c, unit), 4);
		return unit;
	}
	if (c->c_heap_top + units <= c->c_heap_units) {
		unit = (uint32_t)c->c_heap_top;
		c->c_heap_top += units;
		return unit;
	}
	for (k = units + 1; k <= NAME_UNITS_MAX; k++) {
		if (c->c_heap_free[k] == 0)
			continue;
		unit = c->c_heap_free[k] - 1;
		memcpy(&c->c_heap_free[k], heap_at(c, unit), 4);
		heap_put(c, unit + units, k - units);
		return unit;
	}
	if (heap_compact(c) && c->c_heap_top + units <= c->c_heap_units) {
		unit = (uint32_t)c->c_heap_top;
		c->c_heap_top += units;
		return unit;
	}
	return NONE;
}

/* -- versions ----------------------------------------------------------- */

bool
catalogue_version_is(const struct catalogue *c, const struct cat_version *v,
    uint64_t hash, const char *name, size_t len)
{
	return v->v_hash == hash && v->v_len == len &&
	    memcmp(version_name(c, v), name, len) == 0;
}

static uint32_t
version_find(const struct catalogue *c, const char *name, size_t len,
    uint64_t hash, const struct digest *d)
{
	uint32_t i;

	for (i = buckets(c)[hash & c->c_bucket_mask]; i != 0;
	    i = version_at(c, i - 1)->v_next) {
		const struct cat_version *v = version_at(c, i - 1);

		if (catalogue_version_is(c, v, hash, name, len) &&
		    digest_equal(&v->v_digest, d))
			return i - 1;
	}
	return NONE;
}

static bool
facts_room(const struct catalogue *c)
{
	return c->c_facts_free != 0 || c->c_facts_top < c->c_p.cp_facts;
}

static uint32_t
version_new(struct catalogue *c, const char *name, size_t len, uint64_t hash,
    const struct digest *d, uint64_t size, uint32_t origin, uint64_t hlc)
{
	struct cat_version *v;
	uint32_t i, unit;
	uint32_t *b = &buckets(c)[hash & c->c_bucket_mask];

	if (c->c_versions_free == 0 && c->c_versions_top >= c->c_p.cp_versions)
		return NONE;
	if ((unit = heap_alloc(c, name_units(len))) == NONE)
		return NONE;
	if (c->c_versions_free != 0) {
		i = c->c_versions_free - 1;
		c->c_versions_free = version_at(c, i)->v_next;
	} else
		i = c->c_versions_top++;
	v = version_at(c, i);
	memset(v, 0, sizeof(*v));
	v->v_hash = hash;
	v->v_digest = *d;
	v->v_size = size;
	v->v_hlc = hlc;
	v->v_name = unit;
	v->v_len = (uint8_t)len;
	v->v_origin = (uint16_t)origin;
	memcpy(heap_at(c, unit), name, len);
	v->v_next = *b;
	*b = i + 1;
	owner_at(c, origin)->o_refs++;
	return i;
}

void
catalogue_version_free(struct catalogue *c, uint32_t i)
{
	struct cat_version *v = version_at(c, i);
	uint32_t *p = &buckets(c)[v->v_hash & c->c_bucket_mask];
	uint32_t origin = v->v_origin;

	while (*p != i + 1)
		p = &version_at(c, *p - 1)->v_next;
	*p = v->v_next;
	heap_put(c, v->v_name, name_units(v->v_len));
	memset(v, 0, sizeof(*v));
	v->v_next = c->c_versions_free;
	c->c_versions_free = i + 1;
	owner_at(c, origin)->o_refs--;
	catalogue_owner_release(c, origin);
}

/* The order of two versions by the rule. */
int
catalogue_version_rule(const struct catalogue *c, const struct cat_version *a,
    const struct cat_version *b)
{
	return catalogue_rule(a->v_hlc, owner_at(c, a->v_origin)->o_name,
	    &a->v_digest, b->v_hlc, owner_at(c, b->v_origin)->o_name,
	    &b->v_digest);
}

/* The live versions of v's name other than v; *best (when not NULL) is
 * the first of them by the rule, or NONE. */
static uint32_t
version_rivals(const struct catalogue *c, uint32_t vi, uint32_t *best)
{
	const struct cat_version *v = version_at(c, vi);
	uint32_t i, n = 0, w = NONE;

	for (i = buckets(c)[v->v_hash & c->c_bucket_mask]; i != 0;
	    i = version_at(c, i - 1)->v_next) {
		const struct cat_version *o = version_at(c, i - 1);

		if (i - 1 == vi || o->v_nholders == 0 ||
		    !catalogue_version_is(c, o, v->v_hash, version_name(c, v),
		    v->v_len))
			continue;
		n++;
		if (w == NONE ||
		    catalogue_version_rule(c, o, version_at(c, w)) < 0)
			w = i - 1;
	}
	if (best != NULL)
		*best = w;
	return n;
}

/* The winner of v's name: v itself when it is live and first. */
uint32_t
catalogue_version_winner(const struct catalogue *c, uint32_t vi,
    uint32_t *rivals)
{
	uint32_t best;

	*rivals = version_rivals(c, vi, &best);
	if (version_at(c, vi)->v_nholders > 0 && (best == NONE ||
	    catalogue_version_rule(c, version_at(c, vi),
	    version_at(c, best)) < 0))
		return vi;
	return best;
}

/* A version gains (d = +1) or loses (-1) a live holder. */
static void
version_holders(struct catalogue *c, uint32_t vi, int d,
    catalogue_conflict_fn *on_conflict, void *arg)
{
	struct cat_version *v = version_at(c, vi);
	struct catalogue_stats *st = &c->c_stats;
	uint32_t rivals, best;

	if (d > 0 && v->v_nholders++ == 0) {
		st->cs_versions++;
		st->cs_bytes += v->v_size;
		rivals = version_rivals(c, vi, &best);
		if (rivals == 0) {
			st->cs_names++;
			return;
		}
		if (rivals == 1) {
			st->cs_conflicts++;
			st->cs_conflicts_seen++;
		}
		/* The newcomer loses, or the winner it beat does. */
		if (on_conflict == NULL)
			return;
		if (catalogue_version_rule(c, v, version_at(c, best)) < 0)
			on_conflict(arg, version_name(c, v), v->v_len,
			    &v->v_digest, &version_at(c, best)->v_digest);
		else
			on_conflict(arg, version_name(c, v), v->v_len,
			    &version_at(c, best)->v_digest, &v->v_digest);
	} else if (d < 0 && --v->v_nholders == 0) {
		st->cs_versions--;
		st->cs_bytes -= v->v_size;
		rivals = version_rivals(c, vi, NULL);
		if (rivals == 0)
			st->cs_names--;
		else if (rivals == 1)
			st->cs_conflicts--;
	}
}

/* -- facts -------------------------------------------------------------- */

static void
list_unlink(struct catalogue *c, struct cat_owner *o, uint32_t fi)
{
	struct cat_fact *f = fact_at(c, fi);

	if (f->f_prev != 0)
		fact_at(c, f->f_prev - 1)->f_next = f->f_next;
	else
		o->o_head = f->f_next;
	if (f->f_next != 0)
		fact_at(c, f->f_next - 1)->f_prev = f->f_prev;
	else
		o->o_tail = f->f_prev;
	f->f_prev = f->f_next = 0;
}

static void
list_append(struct catalogue *c, struct cat_owner *o, uint32_t fi)
{
	struct cat_fact *f = fact_at(c, fi);

	f->f_next = 0;
	f->f_prev = o->o_tail;
	if (o->o_tail != 0)
		fact_at(c, o->o_tail - 1)->f_next = fi + 1;
	else
		o->o_head = fi + 1;
	o->o_tail = fi + 1;
}

/* The fact of owner oi about version vi, or NONE. */
static uint32_t
holder_find(const struct catalogue *c, uint32_t vi, uint32_t oi)
{
	uint32_t i;

	for (i = version_at(c, vi)->v_facts; i != 0;
	    i = fact_at(c, i - 1)->f_holder)
		if (fact_owner(fact_at(c, i - 1)) == oi)
			return i - 1;
	return NONE;
}

/* Drops a fact; its version goes with its last fact. */
void
catalogue_version_fact_drop(struct catalogue *c, uint32_t fi)
{
	struct cat_fact *f = fact_at(c, fi);
	uint32_t vi = fact_version(f), *p;
	struct cat_owner *o = owner_at(c, fact_owner(f));
	struct cat_version *v = version_at(c, vi);

	list_unlink(c, o, fi);
	for (p = &v->v_facts; *p != fi + 1; p = &fact_at(c, *p - 1)->f_holder)
		;
	*p = f->f_holder;
	o->o_nfacts--;
	if (fact_gone(f)) {
		o->o_ntomb--;
		c->c_stats.cs_tombstones--;
	} else {
		c->c_stats.cs_facts--;
		version_holders(c, vi, -1, NULL, NULL);
	}
	memset(f, 0, sizeof(*f));
	f->f_version = FACT_FREE;
	f->f_next = c->c_facts_free;
	c->c_facts_free = fi + 1;
	if (v->v_facts == 0)
		catalogue_version_free(c, vi);
}

/*
 * Owner oi holds (or, gone, no longer holds) version vi as of `seq`: the
 * fact is made, or takes the new seq and moves to the tail of the
 * owner's list. Returns 1 when the table changed, 0 when the fact was
 * already so, -1 when there is no room for a new fact.
 */
int
catalogue_version_fact_put(struct catalogue *c, uint32_t oi, uint32_t vi,
    uint64_t seq, bool gone, catalogue_conflict_fn *on_conflict, void *arg)
{
	struct cat_owner *o = owner_at(c, oi);
	uint32_t fi = holder_find(c, vi, oi);
	struct cat_fact *f;
	bool was_gone;
	int changed;

	if (fi != NONE) {
		f = fact_at(c, fi);
		was_gone = fact_gone(f);
		changed = fact_seq(f) != seq || was_gone != gone;
		list_unlink(c, o, fi);
		f->f_key = seq << OWNER_BITS | oi;
		f->f_version = vi | (gone ? FACT_GONE : 0);
		list_append(c, o, fi);
		if (was_gone && !gone) {
			o->o_ntomb--;
			c->c_stats.cs_tombstones--;
			c->c_stats.cs_facts++;
			version_holders(c, vi, 1, on_conflict, arg);
		} else if (!was_gone && gone) {
			o->o_ntomb++;
			c->c_stats.cs_tombstones++;
			c->c_stats.cs_facts--;
			version_holders(c, vi, -1, NULL, NULL);
		}
		return changed;
	}
	if (c->c_facts_free != 0) {
		fi = c->c_facts_free - 1;
		c->c_facts_free = fact_at(c, fi)->f_next;
	} else if (c->c_facts_top < c->c_p.cp_facts)
		fi = c->c_facts_top++;
	else
		return -1;
	f = fact_at(c, fi);
	memset(f, 0, sizeof(*f));
	f->f_key = seq << OWNER_BITS | oi;
	f->f_version = vi | (gone ? FACT_GONE : 0);
	f->f_holder = version_at(c, vi)->v_facts;
	version_at(c, vi)->v_facts = fi + 1;
	list_append(c, o, fi);
	o->o_nfacts++;
	if (gone) {
		o->o_ntomb++;
		c->c_stats.cs_tombstones++;
	} else {
		c->c_stats.cs_facts++;
		version_holders(c, vi, 1, on_conflict, arg);
	}
	return 1;
}

/* -- this node's facts -------------------------------------------------- */

bool
catalogue_version_fact_valid(const char *name, size_t len, const char *origin)
{
	return len >= 1 && len <= NAME_MAX_LEN && name_is_valid(name, len) &&
	    member_name_valid(origin, MEMBER_NAME_MAX);
}

/* The version (name, digest), made when it is new; an origin earlier by
 * the rule's first keys than the one it has replaces it. NONE with errno
 * ENOSPC. */
uint32_t
catalogue_version_get(struct catalogue *c, const char *name, size_t len,
    const struct digest *d, uint64_t size, const char *origin, uint64_t hlc)
{
	uint64_t hash = XXH3_64bits(name, len);
	uint32_t vi = version_find(c, name, len, hash, d), oi;
	struct cat_version *v;

	if (vi != NONE) {
		v = version_at(c, vi);
		if (hlc < v->v_hlc || (hlc == v->v_hlc && strcmp(origin,
		    owner_at(c, v->v_origin)->o_name) < 0)) {
			if ((oi = catalogue_owner_get(c, origin)) == NONE)
				return vi;	/* keep the one it has */
			owner_at(c, oi)->o_refs++;
			owner_at(c, v->v_origin)->o_refs--;
			catalogue_owner_release(c, v->v_origin);
			v->v_origin = (uint16_t)oi;
			v->v_hlc = hlc;
		}
		return vi;
	}
	if (!facts_room(c) || (oi = catalogue_owner_get(c, origin)) == NONE) {
		errno = ENOSPC;
		return NONE;
	}
	vi = version_new(c, name, len, hash, d, size, oi, hlc);
	if (vi == NONE) {
		catalogue_owner_release(c, oi);
		errno = ENOSPC;
	}
	return vi;
}

static int announce(struct catalogue *cat, const char *name, size_t len,
    const struct digest *digest, uint64_t size, const char *origin,
    uint64_t hlc, bool striped);

int
catalogue_announce_locked(struct catalogue *cat, const char *name,
    size_t len, const struct digest *digest, uint64_t size,
    const char *origin, uint64_t hlc)
{
	return announce(cat, name, len, digest, size, origin, hlc, false);
}

int
catalogue_announce_striped_locked(struct catalogue *cat, const char *name,
    size_t len, const struct digest *digest, uint64_t size,
    const char *origin, uint64_t hlc)
{
	return announce(cat, name, len, digest, size, origin, hlc, true);
}

static int
announce(struct catalogue *cat, const char *name, size_t len,
    const struct digest *digest, uint64_t size, const char *origin,
    uint64_t hlc, bool striped)
{
	struct cat_owner *self = owner_at(cat, 0);
	char copy[NAME_MAX_LEN];
	uint32_t vi, fi;

	if (!catalogue_version_fact_valid(name, len, origin)) {
		errno = EINVAL;
		return -1;
	}
	/* The name may be a view's, in the heap a new version may move. */
	memcpy(copy, name, len);
	name = copy;
	if ((vi = catalogue_version_get(cat, name, len, digest, size, origin,
	    hlc)) == NONE)
		return -1;
	if (striped)
		version_at(cat, vi)->v_flags |= VERSION_STRIPED;
	fi = holder_find(cat, vi, 0);
	if (fi != NONE && !fact_gone(fact_at(cat, fi)))
		return 0;
	if (self->o_seq >= SEQ_MAX || (fi == NONE && !facts_room(cat))) {
		if (version_at(cat, vi)->v_facts == 0)
			catalogue_version_free(cat, vi);
		errno = ENOSPC;
		return -1;
	}
	catalogue_version_fact_put(cat, 0, vi, ++self->o_seq, false, NULL,
	    NULL);
	return 1;
}

int
catalogue_withdraw_locked(struct catalogue *cat, const char *name,
    size_t len, const struct digest *digest)
{
	struct cat_owner *self = owner_at(cat, 0);
	uint32_t vi, fi, i, next;

	if (len < 1 || len > NAME_MAX_LEN)
		return 0;
	vi = version_find(cat, name, len, XXH3_64bits(name, len), digest);
	if (vi == NONE || (fi = holder_find(cat, vi, 0)) == NONE ||
	    fact_gone(fact_at(cat, fi)) || self->o_seq >= SEQ_MAX)
		return 0;
	catalogue_version_fact_put(cat, 0, vi, ++self->o_seq, true, NULL, NULL);
	if (self->o_ntomb > CATALOGUE_TOMBSTONES_MAX) {
		/* Forget the oldest quarter at once, not one a withdrawal:
		 * the walk passes the live facts below them. */
		for (i = self->o_head; i != 0 && self->o_ntomb >
		    CATALOGUE_TOMBSTONES_MAX * 3 / 4; i = next) {
			next = fact_at(cat, i - 1)->f_next;
			if (fact_gone(fact_at(cat, i - 1))) {
				self->o_floor = fact_seq(fact_at(cat, i - 1));
				catalogue_version_fact_drop(cat, i - 1);
			}
		}
	}
	return 1;
}

void
catalogue_self_seq_locked(const struct catalogue *cat, uint64_t *inc,
    uint64_t *seq)
{
	*inc = owner_at(cat, 0)->o_inc;
	*seq = owner_at(cat, 0)->o_seq;
}
