/*
 * catalogue_int.h - what the four files of the catalogue's table share:
 * catalogue.c (the layout, the owners, the lock, the rule),
 * catalogue_version.c (the name heap, versions and their holders' facts,
 * this node's announcements), catalogue_merge.c (deltas cut for others,
 * gossiped chunks merged, the wants) and catalogue_view.c (what readers
 * see of a version, a name, the whole table). Nothing else includes it.
 * Whichever process and thread calls the catalogue; the table's robust
 * mutex guards all of it (see catalogue.c).
 */
#ifndef SHOAL_CLUSTER_CATALOGUE_INT_H
#define SHOAL_CLUSTER_CATALOGUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/catalogue.h"
#include "core/digest.h"
#include "store/name.h"

#define NONE UINT32_MAX
#define FACT_GONE 0x80000000u
#define FACT_PENDING 0x40000000u	/* not yet mentioned by the chunk */
#define FACT_VERSION 0x3fffffffu
#define FACT_FREE 0xffffffffu
#define SEQ_MAX ((UINT64_C(1) << 48) - 1)
#define OWNER_BITS 16
#define NAME_UNITS_MAX ((NAME_MAX_LEN + CATALOGUE_NAME_UNIT - 1) / \
	CATALOGUE_NAME_UNIT)

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

/* The parts. The table is shared and writable; a const table gives
 * pointers its callers only read through. */
static inline char *
base(const struct catalogue *c)
{
	return (char *)(uintptr_t)c;
}

static inline struct cat_owner *
owner_at(const struct catalogue *c, uint32_t i)
{
	return (struct cat_owner *)(void *)(base(c) + c->c_off_owners) + i;
}

static inline uint32_t *
oindex(const struct catalogue *c)
{
	return (uint32_t *)(void *)(base(c) + c->c_off_oindex);
}

static inline struct cat_version *
version_at(const struct catalogue *c, uint32_t i)
{
	return (struct cat_version *)(void *)(base(c) + c->c_off_versions) + i;
}

static inline struct cat_fact *
fact_at(const struct catalogue *c, uint32_t i)
{
	return (struct cat_fact *)(void *)(base(c) + c->c_off_facts) + i;
}

static inline uint32_t *
buckets(const struct catalogue *c)
{
	return (uint32_t *)(void *)(base(c) + c->c_off_buckets);
}

static inline char *
heap_at(const struct catalogue *c, uint32_t unit)
{
	return base(c) + c->c_off_heap + (size_t)unit * CATALOGUE_NAME_UNIT;
}

static inline const char *
version_name(const struct catalogue *c, const struct cat_version *v)
{
	return heap_at(c, v->v_name);
}

static inline uint64_t
fact_seq(const struct cat_fact *f)
{
	return f->f_key >> OWNER_BITS;
}

static inline uint32_t
fact_owner(const struct cat_fact *f)
{
	return (uint32_t)(f->f_key & 0xffff);
}

static inline uint32_t
fact_version(const struct cat_fact *f)
{
	return f->f_version & FACT_VERSION;
}

static inline bool
fact_gone(const struct cat_fact *f)
{
	return (f->f_version & FACT_GONE) != 0;
}

/* -- catalogue.c ------------------------------------------------------- */

/* The slot of the owner `name`, or NONE. */
uint32_t catalogue_owner_find(const struct catalogue *c, const char *name);

/* The owner's slot, made when it is new; NONE when the table is full. */
uint32_t catalogue_owner_get(struct catalogue *c, const char *name);

/* Frees owner i when nothing refers to it and its facts were forgotten;
 * else does nothing. */
void catalogue_owner_release(struct catalogue *c, uint32_t i);

/* -- catalogue_version.c ----------------------------------------------- */

/* Whether version v is of the name (hash, name, len). */
bool catalogue_version_is(const struct catalogue *c,
    const struct cat_version *v, uint64_t hash, const char *name,
    size_t len);

/* The version (name, digest), made when it is new; an origin earlier by
 * the rule's first keys than the one it has replaces it. NONE with errno
 * ENOSPC. */
uint32_t catalogue_version_get(struct catalogue *c, const char *name,
    size_t len, const struct digest *d, uint64_t size, const char *origin,
    uint64_t hlc);

/* Frees version i, its name and its hold on its origin; it has no facts
 * left. */
void catalogue_version_free(struct catalogue *c, uint32_t i);

/* The order of two versions by the rule (catalogue_rule). */
int catalogue_version_rule(const struct catalogue *c,
    const struct cat_version *a, const struct cat_version *b);

/* The winner of vi's name (vi itself when it is live and first), or
 * NONE; *rivals: the live versions of the name other than vi. */
uint32_t catalogue_version_winner(const struct catalogue *c, uint32_t vi,
    uint32_t *rivals);

/* Drops fact fi; its version goes with its last fact. */
void catalogue_version_fact_drop(struct catalogue *c, uint32_t fi);

/* Owner oi holds (or, gone, no longer holds) version vi as of `seq`.
 * 1 when the table changed, 0 when the fact was already so, -1 when
 * there is no room for a new fact. A version that gains its first live
 * holder beside a rival calls on_conflict (when not NULL). */
int catalogue_version_fact_put(struct catalogue *c, uint32_t oi,
    uint32_t vi, uint64_t seq, bool gone, catalogue_conflict_fn *on_conflict,
    void *arg);

/* Whether a fact's name and origin may be in the table. */
bool catalogue_version_fact_valid(const char *name, size_t len,
    const char *origin);

#endif
