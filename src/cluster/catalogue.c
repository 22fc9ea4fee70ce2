/*
 * catalogue.c - the catalogue's table and its rules (see
 * cluster/catalogue.h). Every process of a node maps the one table (the
 * master makes it in anonymous shared memory before it forks); every
 * *_locked call runs under the table's robust mutex, in whichever worker
 * or agent thread calls it. The simulator and the tests use plain memory.
 *
 * The table is one block, all of it found from offsets in the header:
 *
 *   header    the mutex, the sizes, the stats, the allocators' heads
 *   owners    cp_owners slots: a node's name, incarnation, seq, floor, and
 *             the head and tail of its facts, a list in seq order; slot 0
 *             is this node. A slot stays while facts or versions (as their
 *             origin) refer to it.
 *   oindex    owner names by hash (open addressing, twice the slots)
 *   versions  cp_versions slots of CATALOGUE_VERSION_BYTES
 *   facts     cp_facts slots of CATALOGUE_FACT_BYTES
 *   buckets   version chains by name hash (a power of two >= cp_versions)
 *   heap      names, in 16-byte units, with a free list per size
 *
 * Versions, facts and name units are handed out by bumping a top and
 * taken back onto free lists, so that making the table touches only the
 * header, the owners and their index: a table sized for a million
 * objects costs the memory of what it holds. Links are an index + 1
 * (0 ends a list).
 *
 * A fact is one owner's holding of one version. It sits on two lists: its
 * owner's, in seq order (what deltas are cut from), and its version's
 * holders (how a version finds its holders, and an owner's fact of a
 * version is found). A tombstone is a fact with the gone bit; a version
 * stays while any fact, live or gone, names it, and is live while a live
 * fact does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/catalogue.h"
#include "core/shm.h"

#define NONE UINT32_MAX
#define FACT_GONE 0x80000000u
#define FACT_PENDING 0x40000000u	/* not yet mentioned by the chunk */
#define FACT_VERSION 0x3fffffffu
#define FACT_FREE 0xffffffffu
#define SEQ_MAX ((UINT64_C(1) << 48) - 1)
#define OWNER_BITS 16
#define NAME_UNITS_MAX ((NAME_MAX_LEN + CATALOGUE_NAME_UNIT - 1) / \
	CATALOGUE_NAME_UNIT)
#define ALIGN 64

struct cat_owner {
	char o_name[MEMBER_NAME_MAX];
	uint64_t o_inc;
	uint64_t o_seq;
	uint64_t o_floor;
	uint32_t o_head, o_tail;	/* facts, in seq order */
	uint32_t o_nfacts;		/* live and gone */
	uint32_t o_ntomb;
	uint32_t o_refs;		/* versions it is the origin of */
	uint32_t o_in_use;
};

struct cat_version {
	uint64_t v_hash;		/* of the name */
	struct digest v_digest;
	uint64_t v_size;
	uint64_t v_hlc;
	uint32_t v_name;		/* first unit in the heap */
	uint16_t v_origin;		/* owner slot */
	uint8_t v_len;			/* 1..255; 0: a free slot */
	uint8_t v_flags;		/* VERSION_STRIPED */
	uint32_t v_nholders;		/* live facts */
	uint32_t v_next;		/* bucket chain, or the free list */
	uint32_t v_facts;		/* its holders' facts */
	uint32_t v_pad2;
};

/* A striped object: its bytes are on store nodes, in parts; the holders
 * are the nodes that keep its manifest, no copy of it exists. Sticky:
 * once known, a version stays striped. */
#define VERSION_STRIPED 0x1

struct cat_fact {
	uint64_t f_key;			/* seq << 16 | owner slot */
	uint32_t f_version;		/* slot | FACT_GONE | FACT_PENDING */
	uint32_t f_prev, f_next;	/* the owner's list, or the free list */
	uint32_t f_holder;		/* the version's next holder */
};

_Static_assert(sizeof(struct cat_version) == CATALOGUE_VERSION_BYTES,
    "a version's bytes are the header's");
_Static_assert(sizeof(struct cat_fact) == CATALOGUE_FACT_BYTES,
    "a fact's bytes are the header's");

struct catalogue {
	pthread_mutex_t c_mutex;
	struct catalogue_params c_p;
	struct catalogue_stats c_stats;
	size_t c_off_owners, c_off_oindex, c_off_versions, c_off_facts,
	    c_off_buckets, c_off_heap;
	uint32_t c_oindex_mask;
	uint32_t c_bucket_mask;
	uint32_t c_versions_top, c_versions_free;
	uint32_t c_facts_top, c_facts_free;
	uint32_t c_owners_count;
	uint32_t c_want_next;		/* where the next wants start */
	uint64_t c_heap_top, c_heap_units;
	uint32_t c_heap_free[NAME_UNITS_MAX + 1];	/* by size in units */
};

/* -- layout ------------------------------------------------------------ */

static size_t
align_up(size_t n)
{
	return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static uint32_t
pow2_at_least(uint64_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static bool
params_valid(const struct catalogue_params *p)
{
	return p->cp_versions >= 1 && p->cp_versions <= FACT_VERSION &&
	    p->cp_facts >= 1 && p->cp_facts < NONE &&
	    p->cp_owners >= 1 && p->cp_owners <= 65535 &&
	    p->cp_name_bytes >= CATALOGUE_NAME_UNIT * NAME_UNITS_MAX &&
	    p->cp_name_bytes / CATALOGUE_NAME_UNIT < NONE;
}

/* The offsets of the parts; returns the whole size. */
static size_t
layout(const struct catalogue_params *p, struct catalogue *c)
{
	size_t off = align_up(sizeof(struct catalogue));

	c->c_off_owners = off;
	off = align_up(off + (size_t)p->cp_owners * sizeof(struct cat_owner));
	c->c_oindex_mask = pow2_at_least(2 * (uint64_t)p->cp_owners) - 1;
	c->c_off_oindex = off;
	off = align_up(off + ((size_t)c->c_oindex_mask + 1) * 4);
	c->c_off_versions = off;
	off = align_up(off + (size_t)p->cp_versions * CATALOGUE_VERSION_BYTES);
	c->c_off_facts = off;
	off = align_up(off + (size_t)p->cp_facts * CATALOGUE_FACT_BYTES);
	c->c_bucket_mask = pow2_at_least(p->cp_versions) - 1;
	c->c_off_buckets = off;
	off = align_up(off + ((size_t)c->c_bucket_mask + 1) * 4);
	c->c_off_heap = off;
	c->c_heap_units = p->cp_name_bytes / CATALOGUE_NAME_UNIT;
	return off + c->c_heap_units * CATALOGUE_NAME_UNIT;
}

size_t
catalogue_size(const struct catalogue_params *p)
{
	struct catalogue c;

	if (!params_valid(p))
		return 0;
	return layout(p, &c);
}

void
catalogue_params_for(struct catalogue_params *p, uint64_t objects,
    unsigned owners, unsigned holders)
{
	uint64_t v = objects < CATALOGUE_OBJECTS_MIN ? CATALOGUE_OBJECTS_MIN :
	    objects, f, tomb;
	uint64_t o = (uint64_t)owners + owners / 2 + 16;

	if (v > FACT_VERSION)
		v = FACT_VERSION;
	if (holders < 1)
		holders = 1;
	/* Room for the tombstones too, as many as versions at most. */
	tomb = o * CATALOGUE_TOMBSTONES_MAX < v ? o * CATALOGUE_TOMBSTONES_MAX :
	    v;
	f = v * holders + tomb;
	if (f >= NONE)
		f = NONE - 1;
	p->cp_versions = (uint32_t)v;
	p->cp_facts = (uint32_t)f;
	/* Owners: the members, and origins that are no longer members. */
	p->cp_owners = (uint32_t)(o > 65535 ? 65535 : o);
	/* Names of 33 to 48 bytes on average. */
	p->cp_name_bytes = v * 3 * CATALOGUE_NAME_UNIT;
}

/* The parts. The table is shared and writable; a const table gives
 * pointers its callers only read through. */
static char *
base(const struct catalogue *c)
{
	return (char *)(uintptr_t)c;
}

static struct cat_owner *
owner_at(const struct catalogue *c, uint32_t i)
{
	return (struct cat_owner *)(void *)(base(c) + c->c_off_owners) + i;
}

static uint32_t *
oindex(const struct catalogue *c)
{
	return (uint32_t *)(void *)(base(c) + c->c_off_oindex);
}

static struct cat_version *
version_at(const struct catalogue *c, uint32_t i)
{
	return (struct cat_version *)(void *)(base(c) + c->c_off_versions) + i;
}

static struct cat_fact *
fact_at(const struct catalogue *c, uint32_t i)
{
	return (struct cat_fact *)(void *)(base(c) + c->c_off_facts) + i;
}

static uint32_t *
buckets(const struct catalogue *c)
{
	return (uint32_t *)(void *)(base(c) + c->c_off_buckets);
}

static char *
heap_at(const struct catalogue *c, uint32_t unit)
{
	return base(c) + c->c_off_heap + (size_t)unit * CATALOGUE_NAME_UNIT;
}

static const char *
version_name(const struct catalogue *c, const struct cat_version *v)
{
	return heap_at(c, v->v_name);
}

static uint64_t
fact_seq(const struct cat_fact *f)
{
	return f->f_key >> OWNER_BITS;
}

static uint32_t
fact_owner(const struct cat_fact *f)
{
	return (uint32_t)(f->f_key & 0xffff);
}

static uint32_t
fact_version(const struct cat_fact *f)
{
	return f->f_version & FACT_VERSION;
}

static bool
fact_gone(const struct cat_fact *f)
{
	return (f->f_version & FACT_GONE) != 0;
}

/* -- owners ------------------------------------------------------------ */

static uint64_t
owner_hash(const char *name)
{
	return XXH3_64bits(name, strlen(name));
}

static void
oindex_insert(struct catalogue *c, uint32_t slot)
{
	uint32_t *ix = oindex(c);
	uint32_t i = (uint32_t)owner_hash(owner_at(c, slot)->o_name) &
	    c->c_oindex_mask;

	while (ix[i] != 0)
		i = (i + 1) & c->c_oindex_mask;
	ix[i] = slot + 1;
}

static void
oindex_rebuild(struct catalogue *c)
{
	uint32_t i;

	memset(oindex(c), 0, ((size_t)c->c_oindex_mask + 1) * 4);
	for (i = 0; i < c->c_p.cp_owners; i++)
		if (owner_at(c, i)->o_in_use)
			oindex_insert(c, i);
}

static uint32_t
owner_find(const struct catalogue *c, const char *name)
{
	const uint32_t *ix = oindex(c);
	uint32_t i = (uint32_t)owner_hash(name) & c->c_oindex_mask;

	for (; ix[i] != 0; i = (i + 1) & c->c_oindex_mask)
		if (strcmp(owner_at(c, ix[i] - 1)->o_name, name) == 0)
			return ix[i] - 1;
	return NONE;
}

/* The owner's slot, made when it is new; NONE when the table is full. */
static uint32_t
owner_get(struct catalogue *c, const char *name)
{
	uint32_t i = owner_find(c, name);

	if (i != NONE)
		return i;
	if (c->c_owners_count >= c->c_p.cp_owners)
		return NONE;
	for (i = 1; owner_at(c, i)->o_in_use; i++)
		;
	memset(owner_at(c, i), 0, sizeof(struct cat_owner));
	strcpy(owner_at(c, i)->o_name, name);
	owner_at(c, i)->o_in_use = 1;
	c->c_owners_count++;
	oindex_insert(c, i);
	return i;
}

/* Frees an owner nothing refers to and whose facts were forgotten. */
static void
owner_release(struct catalogue *c, uint32_t i)
{
	struct cat_owner *o = owner_at(c, i);

	if (i == 0 || o->o_nfacts != 0 || o->o_refs != 0 || o->o_inc != 0)
		return;
	memset(o, 0, sizeof(*o));
	c->c_owners_count--;
	oindex_rebuild(c);
}

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

static bool
version_is(const struct catalogue *c, const struct cat_version *v,
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

		if (version_is(c, v, hash, name, len) &&
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

static void
version_free(struct catalogue *c, uint32_t i)
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
	owner_release(c, origin);
}

/* The order of two versions by the rule. */
static int
version_rule(const struct catalogue *c, const struct cat_version *a,
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
		    !version_is(c, o, v->v_hash, version_name(c, v), v->v_len))
			continue;
		n++;
		if (w == NONE || version_rule(c, o, version_at(c, w)) < 0)
			w = i - 1;
	}
	if (best != NULL)
		*best = w;
	return n;
}

/* The winner of v's name: v itself when it is live and first. */
static uint32_t
version_winner(const struct catalogue *c, uint32_t vi, uint32_t *rivals)
{
	uint32_t best;

	*rivals = version_rivals(c, vi, &best);
	if (version_at(c, vi)->v_nholders > 0 && (best == NONE ||
	    version_rule(c, version_at(c, vi), version_at(c, best)) < 0))
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
		if (version_rule(c, v, version_at(c, best)) < 0)
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
static void
fact_drop(struct catalogue *c, uint32_t fi)
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
		version_free(c, vi);
}

/*
 * Owner oi holds (or, gone, no longer holds) version vi as of `seq`: the
 * fact is made, or takes the new seq and moves to the tail of the
 * owner's list. Returns 1 when the table changed, 0 when the fact was
 * already so, -1 when there is no room for a new fact.
 */
static int
fact_put(struct catalogue *c, uint32_t oi, uint32_t vi, uint64_t seq,
    bool gone, catalogue_conflict_fn *on_conflict, void *arg)
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
			fact_drop(c, i - 1);
			n++;
		}
	}
	return n;
}

/* -- the table ---------------------------------------------------------- */

static void
make_self(struct catalogue *c, const char *self, uint64_t inc)
{
	struct cat_owner *o = owner_at(c, 0);

	memset(o, 0, sizeof(*o));
	strcpy(o->o_name, self);
	o->o_inc = inc;
	o->o_in_use = 1;
	c->c_owners_count = 1;
	oindex_insert(c, 0);
}

int
catalogue_init(struct catalogue *cat, const struct catalogue_params *p,
    const char *self, uint64_t inc)
{
	int rc;

	if (!params_valid(p) || !member_name_valid(self, MEMBER_NAME_MAX) ||
	    inc == 0)
		return EINVAL;
	if ((rc = shm_mutex_init(&cat->c_mutex)) != 0)
		return rc;
	cat->c_p = *p;
	layout(p, cat);
	make_self(cat, self, inc);
	return 0;
}

/* Empties a table a dead holder of the lock may have left half-changed,
 * keeping its size and its node; the node's facts start again with the
 * next incarnation, so that other nodes drop what they held of the old
 * one (the callers announce what they hold again). */
static void
catalogue_reset(struct catalogue *c)
{
	char self[MEMBER_NAME_MAX];
	uint64_t inc = owner_at(c, 0)->o_inc + 1;
	uint64_t seen = c->c_stats.cs_conflicts_seen;

	memcpy(self, owner_at(c, 0)->o_name, sizeof(self));
	self[sizeof(self) - 1] = '\0';
	memset(owner_at(c, 0), 0, (size_t)c->c_p.cp_owners *
	    sizeof(struct cat_owner));
	memset(oindex(c), 0, ((size_t)c->c_oindex_mask + 1) * 4);
	memset(buckets(c), 0, ((size_t)c->c_bucket_mask + 1) * 4);
	memset(&c->c_stats, 0, sizeof(c->c_stats));
	memset(c->c_heap_free, 0, sizeof(c->c_heap_free));
	c->c_stats.cs_conflicts_seen = seen;
	c->c_versions_top = c->c_versions_free = 0;
	c->c_facts_top = c->c_facts_free = 0;
	c->c_heap_top = 0;
	c->c_want_next = 0;
	if (!member_name_valid(self, MEMBER_NAME_MAX))
		strcpy(self, "?");
	make_self(c, self, inc);
}

int
catalogue_lock(struct catalogue *cat)
{
	int died, rc = shm_mutex_lock(&cat->c_mutex, &died);

	if (rc != 0) {
		errno = rc;
		return -1;
	}
	if (died)
		catalogue_reset(cat);
	return 0;
}

void
catalogue_unlock(struct catalogue *cat)
{
	pthread_mutex_unlock(&cat->c_mutex);
}

const struct catalogue_stats *
catalogue_stats(const struct catalogue *cat)
{
	return &cat->c_stats;
}

int
catalogue_rule(uint64_t hlc_a, const char *origin_a,
    const struct digest *da, uint64_t hlc_b, const char *origin_b,
    const struct digest *db)
{
	int r;

	if (digest_equal(da, db))
		return 0;
	if (hlc_a != hlc_b)
		return hlc_a < hlc_b ? -1 : 1;
	if ((r = strcmp(origin_a, origin_b)) != 0)
		return r < 0 ? -1 : 1;
	return digest_cmp(da, db);
}

/* -- this node's facts -------------------------------------------------- */

static bool
fact_valid(const char *name, size_t len, const char *origin)
{
	return len >= 1 && len <= NAME_MAX_LEN && name_is_valid(name, len) &&
	    member_name_valid(origin, MEMBER_NAME_MAX);
}

/* The version (name, digest), made when it is new; an origin earlier by
 * the rule's first keys than the one it has replaces it. NONE with errno
 * ENOSPC. */
static uint32_t
version_get(struct catalogue *c, const char *name, size_t len,
    const struct digest *d, uint64_t size, const char *origin, uint64_t hlc)
{
	uint64_t hash = XXH3_64bits(name, len);
	uint32_t vi = version_find(c, name, len, hash, d), oi;
	struct cat_version *v;

	if (vi != NONE) {
		v = version_at(c, vi);
		if (hlc < v->v_hlc || (hlc == v->v_hlc && strcmp(origin,
		    owner_at(c, v->v_origin)->o_name) < 0)) {
			if ((oi = owner_get(c, origin)) == NONE)
				return vi;	/* keep the one it has */
			owner_at(c, oi)->o_refs++;
			owner_at(c, v->v_origin)->o_refs--;
			owner_release(c, v->v_origin);
			v->v_origin = (uint16_t)oi;
			v->v_hlc = hlc;
		}
		return vi;
	}
	if (!facts_room(c) || (oi = owner_get(c, origin)) == NONE) {
		errno = ENOSPC;
		return NONE;
	}
	vi = version_new(c, name, len, hash, d, size, oi, hlc);
	if (vi == NONE) {
		owner_release(c, oi);
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

	if (!fact_valid(name, len, origin)) {
		errno = EINVAL;
		return -1;
	}
	/* The name may be a view's, in the heap a new version may move. */
	memcpy(copy, name, len);
	name = copy;
	if ((vi = version_get(cat, name, len, digest, size, origin, hlc)) ==
	    NONE)
		return -1;
	if (striped)
		version_at(cat, vi)->v_flags |= VERSION_STRIPED;
	fi = holder_find(cat, vi, 0);
	if (fi != NONE && !fact_gone(fact_at(cat, fi)))
		return 0;
	if (self->o_seq >= SEQ_MAX || (fi == NONE && !facts_room(cat))) {
		if (version_at(cat, vi)->v_facts == 0)
			version_free(cat, vi);
		errno = ENOSPC;
		return -1;
	}
	fact_put(cat, 0, vi, ++self->o_seq, false, NULL, NULL);
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
	fact_put(cat, 0, vi, ++self->o_seq, true, NULL, NULL);
	if (self->o_ntomb > CATALOGUE_TOMBSTONES_MAX) {
		/* Forget the oldest quarter at once, not one a withdrawal:
		 * the walk passes the live facts below them. */
		for (i = self->o_head; i != 0 && self->o_ntomb >
		    CATALOGUE_TOMBSTONES_MAX * 3 / 4; i = next) {
			next = fact_at(cat, i - 1)->f_next;
			if (fact_gone(fact_at(cat, i - 1))) {
				self->o_floor = fact_seq(fact_at(cat, i - 1));
				fact_drop(cat, i - 1);
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

/* -- anti-entropy ------------------------------------------------------- */

void
catalogue_owner_locked(const struct catalogue *cat, const char *owner,
    uint64_t *inc, uint64_t *seq)
{
	uint32_t oi = owner_find(cat, owner);

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
	uint32_t oi = owner_find(cat, w->cw_owner), i;
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

/* Merges one fact of owner oi; -1 when there is no room. */
static int
apply_one(struct catalogue *c, uint32_t oi, const struct cat_fact_msg *m,
    catalogue_conflict_fn *on_conflict, void *arg)
{
	uint32_t vi = version_get(c, m->cm_name, m->cm_name_len, &m->cm_digest,
	    m->cm_size, m->cm_origin, m->cm_hlc);
	int r;

	if (vi == NONE)
		return -1;
	if (m->cm_striped)
		version_at(c, vi)->v_flags |= VERSION_STRIPED;
	r = fact_put(c, oi, vi, m->cm_seq, m->cm_gone, on_conflict, arg);
	if (r < 0 && version_at(c, vi)->v_facts == 0)
		version_free(c, vi);
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
	oi = owner_find(cat, ch->cc_owner);
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
		if ((oi = owner_get(cat, ch->cc_owner)) == NONE) {
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
			fact_drop(cat, o->o_tail - 1);
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
		    !fact_valid(f[k].cm_name, f[k].cm_name_len,
		    f[k].cm_origin)) {
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
			fact_drop(cat, i - 1);
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
	uint32_t oi = owner_find(cat, owner);
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
		fact_drop(cat, o->o_tail - 1);
		n++;
	}
	o->o_refs--;
	owner_release(cat, oi);
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
		oi = owner_find(cat, owners[i]);
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
	w = version_winner(c, vi, &r);
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
			    !version_is(cat, v, hash, name, len))
				continue;
			if (prev == NONE)
				total++;
			if (prev != NONE && version_rule(cat, v,
			    version_at(cat, prev)) <= 0)
				continue;
			if (best == NONE || version_rule(cat, v,
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
