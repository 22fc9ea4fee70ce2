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
 *
 * This file is the table's layout, its owners, its lock and the rule;
 * catalogue_version.c the name heap, the versions and their facts and
 * this node's announcements; catalogue_merge.c the deltas and the merge
 * of gossiped chunks; catalogue_view.c what readers see. They share
 * catalogue_int.h.
 */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/catalogue.h"
#include "cluster/catalogue_int.h"
#include "core/shm.h"

#define ALIGN 64

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

uint32_t
catalogue_owner_find(const struct catalogue *c, const char *name)
{
	const uint32_t *ix = oindex(c);
	uint32_t i = (uint32_t)owner_hash(name) & c->c_oindex_mask;

	for (; ix[i] != 0; i = (i + 1) & c->c_oindex_mask)
		if (strcmp(owner_at(c, ix[i] - 1)->o_name, name) == 0)
			return ix[i] - 1;
	return NONE;
}

/* The owner's slot, made when it is new; NONE when the table is full. */
uint32_t
catalogue_owner_get(struct catalogue *c, const char *name)
{
	uint32_t i = catalogue_owner_find(c, name);

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
void
catalogue_owner_release(struct catalogue *c, uint32_t i)
{
	struct cat_owner *o = owner_at(c, i);

	if (i == 0 || o->o_nfacts != 0 || o->o_refs != 0 || o->o_inc != 0)
		return;
	memset(o, 0, sizeof(*o));
	c->c_owners_count--;
	oindex_rebuild(c);
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
