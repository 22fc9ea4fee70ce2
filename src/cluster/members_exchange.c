/*
 * members_exchange.c - what one gossip exchange sends, from the member
 * table (see members.h): the digest of the next slice of the table, the
 * news pushed with it, the answer to another node's digest, and whom a
 * round talks to.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/members.h"
#include "cluster/members_int.h"

struct keyed {
	uint32_t k_key;
	uint32_t k_slot;
};

static int
keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->k_key != y->k_key)
		return x->k_key < y->k_key ? -1 : 1;
	return x->k_slot < y->k_slot ? -1 : x->k_slot > y->k_slot;
}

static void
digest_line(const struct member *m, struct member_digest *out)
{
	memcpy(out->md_name, m->m_facts.mf_name, MEMBER_NAME_MAX);
	out->md_incarnation = m->m_facts.mf_incarnation;
	out->md_version = m->m_facts.mf_version;
	out->md_state = m->m_state;
	out->md_state_inc = m->m_state_inc;
}

size_t
members_digest_locked(struct members *mt, struct member_digest *out,
    size_t max, struct member_range *range)
{
	struct keyed *order;
	size_t n = 0, count = 0, first, i;
	uint32_t slot;

	range->mr_lo = 0;
	range->mr_hi = UINT32_MAX;
	order = malloc((size_t)mt->mt_capacity * sizeof(*order));
	if (order == NULL)
		return 0;
	for (slot = 0; slot < mt->mt_capacity; slot++) {
		const struct member *m = &members_slots(mt)[slot];

		if (m->m_in_use) {
			order[count].k_key = m->m_key;
			order[count++].k_slot = slot;
		}
	}
	qsort(order, count, sizeof(*order), keyed_cmp);
	for (first = 0; first < count; first++)
		if (order[first].k_key >= mt->mt_digest_cursor)
			break;
	if (first == count)
		first = 0;	/* past the last key: round again */
	range->mr_lo = first == 0 ? 0 : mt->mt_digest_cursor;
	for (i = first; i < count && n < max; i++) {
		/* Never cut a group of equal keys: the range would lie. */
		if (n >= MEMBERS_DIGEST_LINES &&
		    order[i].k_key != order[i - 1].k_key)
			break;
		digest_line(&members_slots(mt)[order[i].k_slot], &out[n++]);
	}
	if (i >= count || order[i - 1].k_key == UINT32_MAX) {
		range->mr_hi = UINT32_MAX;
		mt->mt_digest_cursor = 0;
	} else {
		/* Up to just before the next member's key. */
		range->mr_hi = order[i].k_key - 1;
		mt->mt_digest_cursor = order[i].k_key;
	}
	free(order);
	return n;
}

void
members_news_of(const struct member *m, struct member_news *out)
{
	out->mn_facts = m->m_facts;
	out->mn_state = m->m_state;
	out->mn_state_inc = m->m_state_inc;
}

size_t
members_push_locked(struct members *mt, struct member_news *out,
    size_t max)
{
	uint32_t k, slot, start = mt->mt_push_cursor;
	size_t n = 0;

	if (max == 0)
		return 0;
	members_news_of(members_self(mt), &out[n++]);
	for (k = 0; k < mt->mt_capacity && n < max; k++) {
		struct member *m;

		slot = (start + k) % mt->mt_capacity;
		m = members_at(mt, slot);
		if (!m->m_in_use || m->m_hot == 0 || slot == mt->mt_self)
			continue;
		members_news_of(m, &out[n++]);
		m->m_hot--;
		mt->mt_push_cursor = (slot + 1) % mt->mt_capacity;
	}
	return n;
}

/* -- answering a digest -------------------------------------------- */

/* The digest's lines by name, for one answer. */
struct digest_index {
	uint32_t *di_slots;		/* line + 1; 0 empty */
	uint32_t di_mask;
};

static int
digest_index_build(struct digest_index *di, const struct member_digest *d,
    size_t nd)
{
	size_t i;

	di->di_mask = members_index_entries((unsigned)(nd > 0 ? nd : 1)) - 1;
	di->di_slots = calloc((size_t)di->di_mask + 1, sizeof(uint32_t));
	if (di->di_slots == NULL)
		return -1;
	for (i = 0; i < nd; i++) {
		uint32_t h = (uint32_t)XXH3_64bits(d[i].md_name,
		    strnlen(d[i].md_name, MEMBER_NAME_MAX)) & di->di_mask;

		while (di->di_slots[h] != 0)
			h = (h + 1) & di->di_mask;
		di->di_slots[h] = (uint32_t)i + 1;
	}
	return 0;
}

static const struct member_digest *
digest_find(const struct digest_index *di, const struct member_digest *d,
    const char *name)
{
	uint32_t h = (uint32_t)members_name_hash(name) & di->di_mask;

	for (; di->di_slots[h] != 0; h = (h + 1) & di->di_mask)
		if (strncmp(d[di->di_slots[h] - 1].md_name, name,
		    MEMBER_NAME_MAX) == 0)
			return &d[di->di_slots[h] - 1];
	return NULL;
}

size_t
members_answer_locked(const struct members *mt,
    const struct member_digest *d, size_t nd, const struct member_range *r,
    struct member_news *out, size_t max, struct rng *rng)
{
	struct digest_index di;
	uint32_t start, k, i;
	size_t n = 0;
	int pass;

	if (max == 0 || digest_index_build(&di, d, nd) == -1)
		return 0;
	start = (uint32_t)rng_below(rng, mt->mt_capacity);
	/* Pass 0: members the sender lacks or has older facts of; pass 1:
	 * opinions stronger than the sender's. */
	for (pass = 0; pass < 2 && n < max; pass++) {
		for (k = 0; k < mt->mt_capacity && n < max; k++) {
			const struct member *m;
			const struct member_digest *line;
			uint32_t key;
			int newer;

			i = (start + k) % mt->mt_capacity;
			m = &members_slots(mt)[i];
			if (!m->m_in_use)
				continue;
			key = m->m_key;
			if (key < r->mr_lo || key > r->mr_hi)
				continue;
			line = digest_find(&di, d, m->m_facts.mf_name);
			if (line == NULL) {
				/* Of no use to a node that never heard of
				 * it: it would not take it in. */
				if (m->m_state >= MEMBER_DEAD || pass == 1)
					continue;
				members_news_of(m, &out[n++]);
				continue;
			}
			newer = members_facts_cmp(m->m_facts.mf_incarnation,
			    m->m_facts.mf_version, line->md_incarnation,
			    line->md_version) > 0;
			if (pass == 0 ? newer : !newer && members_opinion_cmp(
			    m->m_state_inc, m->m_state, line->md_state_inc,
			    line->md_state) > 0)
				members_news_of(m, &out[n++]);
		}
	}
	free(di.di_slots);
	return n;
}

/* -- choosing whom to talk to --------------------------------------- */

size_t
members_targets_locked(const struct members *mt, int fanout,
    struct rng *rng, uint32_t *out, size_t max)
{
	uint32_t *live, ndead = 0, nlive = 0, i, pick, dead_pick = 0;
	size_t n = 0;

	live = malloc((size_t)mt->mt_capacity * sizeof(*live));
	if (live == NULL)
		return 0;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = &members_slots(mt)[i];

		if (!m->m_in_use || i == mt->mt_self)
			continue;
		if (m->m_state <= MEMBER_SUSPECT)
			live[nlive++] = i;
		else if (m->m_state == MEMBER_DEAD &&
		    rng_below(rng, ++ndead) == 0)
			dead_pick = i;	/* one dead member, uniformly */
	}
	/* A partial Fisher-Yates shuffle: the first picks are distinct. */
	while (n < max && n < (size_t)fanout &&
	    n < nlive) {
		pick = (uint32_t)(n + rng_below(rng, nlive - n));
		i = live[pick];
		live[pick] = live[n];
		live[n] = i;
		out[n++] = i;
	}
	if (ndead > 0 && n < max && rng_chance(rng, ndead, nlive + 1))
		out[n++] = dead_pick;
	free(live);
	return n;
}

bool
members_want_seed_locked(const struct members *mt, struct rng *rng)
{
	uint32_t counts[MEMBER_STATES], live;

	members_count_locked(mt, counts);
	live = counts[MEMBER_ALIVE] + counts[MEMBER_SUSPECT] - 1;
	return live == 0 || rng_chance(rng, 1, live + 1);
}
