/*
 * stripe.c - the node's shared striping state (see stripe.h). Any process;
 * relaxed atomics, and the member table's lock for publishing the use.
 */
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/shm.h"
#include "stripe/stripe.h"

struct stripe_shared *
stripe_shared_create(void)
{
	return shm_anon(sizeof(struct stripe_shared));
}

void
stripe_add(uint64_t *counter, uint64_t d)
{
	__atomic_add_fetch(counter, d, __ATOMIC_RELAXED);
}

uint64_t
stripe_get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void
stripe_publish_use(struct stripe_shared *ss, struct cluster *cl)
{
	uint64_t use = stripe_get(&ss->ss_disk) + stripe_get(&ss->ss_inflight);
	struct member *self;

	/* A counter gone below zero for a moment (a delete counted
	 * before the walk that set it) shows as no use, not as 2^64. */
	if (use > (UINT64_MAX >> 1))
		use = 0;
	if (members_lock(cl->cl_members) != 0)
		return;
	self = members_self(cl->cl_members);
	members_set_use_locked(cl->cl_members, self->m_facts.mf_capacity, use);
	members_unlock(cl->cl_members);
}
