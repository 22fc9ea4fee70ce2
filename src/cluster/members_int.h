/*
 * members_int.h - what members.c (the table and its rules) and
 * members_exchange.c (what an exchange sends) share. Nothing else
 * includes it.
 */
#ifndef SHOAL_CLUSTER_MEMBERS_INT_H
#define SHOAL_CLUSTER_MEMBERS_INT_H

#include <stdint.h>

#include "cluster/members.h"

/* The slots follow the header. */
static inline struct member *
members_slots(const struct members *mt)
{
	return (struct member *)(void *)((char *)(uintptr_t)mt +
	    sizeof(*mt));
}

/* The entries of an index for `capacity` names: a power of two, at least
 * twice as many. */
uint32_t members_index_entries(unsigned capacity);

/* The 64-bit hash of a name; its upper half is the name's key. */
uint64_t members_name_hash(const char *name);

/* Which opinion is stronger (a later incarnation, then a graver state),
 * and which facts newer ((incarnation, version)): <0, 0, >0. */
int members_opinion_cmp(uint64_t inc_a, uint8_t st_a, uint64_t inc_b,
    uint8_t st_b);
int members_facts_cmp(uint64_t inc_a, uint64_t ver_a, uint64_t inc_b,
    uint64_t ver_b);

#endif
