/*
 * stripe.c - the node's shared striping state (see stripe.h). Any process;
 * relaxed atomics, and the member table's lock for publishing the use.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "core/log.h"
#include "stripe/manifest.h"
#include "cluster/members.h"
#include "core/shm.h"
#include "stripe/stripe.h"

struct stripe_shared *
stripe_shared_create(void)
{
	struct stripe_shared *ss = shm_anon(sizeof(*ss));
	int err;

	if (ss == NULL)
		return NULL;
	if ((err = shm_mutex_init(&ss->ss_mutex)) != 0) {
		shm_free(ss, sizeof(*ss));
		errno = err;
		return NULL;
	}
	return ss;
}

int
stripe_lock(struct stripe_shared *ss)
{
	int died = 0, err = shm_mutex_lock(&ss->ss_mutex, &died);

	/* A worker that died holding the lock left at worst one slot half
	 * written: it is its own, and dead workers' slots do not count. */
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

void
stripe_unlock(struct stripe_shared *ss)
{
	pthread_mutex_unlock(&ss->ss_mutex);
}

static bool
stripe_slot_live(const struct stripe_reservation *r)
{
	return r->sr_node[0] != '\0' && (kill(r->sr_pid, 0) == 0 ||
	    errno != ESRCH);
}

uint64_t
stripe_reserved_locked(struct stripe_shared *ss, const char *node)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < STRIPE_RESERVATIONS; i++)
		if ((node == NULL || strcmp(ss->ss_res[i].sr_node, node) == 0) &&
		    stripe_slot_live(&ss->ss_res[i]))
			sum += ss->ss_res[i].sr_bytes;
	return sum;
}

int
stripe_reserve_locked(struct stripe_shared *ss, const char *node, pid_t pid,
    uint64_t bytes)
{
	struct stripe_reservation *r;
	size_t i;

	for (i = 0; i < STRIPE_RESERVATIONS; i++) {
		r = &ss->ss_res[i];
		if (r->sr_node[0] == '\0' || !stripe_slot_live(r)) {
			snprintf(r->sr_node, sizeof(r->sr_node), "%s", node);
			r->sr_pid = pid;
			r->sr_bytes = bytes;
			return 0;
		}
	}
	return -1;
}

void
stripe_release_locked(struct stripe_shared *ss, const char *node, pid_t pid,
    uint64_t bytes)
{
	struct stripe_reservation *r;
	size_t i;

	for (i = 0; i < STRIPE_RESERVATIONS; i++) {
		r = &ss->ss_res[i];
		if (r->sr_pid == pid && r->sr_bytes == bytes &&
		    strcmp(r->sr_node, node) == 0) {
			r->sr_node[0] = '\0';
			return;
		}
	}
}

void
stripe_suspect(struct stripe_shared *ss, const char *name)
{
	size_t len = strlen(name);

	if (len >= STRIPE_SUSPECT_NAME || stripe_lock(ss) != 0)
		return;
	memcpy(ss->ss_suspects[ss->ss_suspect_seq % STRIPE_SUSPECTS], name,
	    len + 1);
	ss->ss_suspect_seq++;
	stripe_unlock(ss);
}

size_t
stripe_suspects_since(struct stripe_shared *ss, uint64_t *seq,
    char (*out)[STRIPE_SUSPECT_NAME])
{
	size_t n = 0;

	if (stripe_lock(ss) != 0)
		return 0;
	if (ss->ss_suspect_seq - *seq > STRIPE_SUSPECTS)
		*seq = ss->ss_suspect_seq - STRIPE_SUSPECTS;
	for (; *seq < ss->ss_suspect_seq; (*seq)++)
		memcpy(out[n++], ss->ss_suspects[*seq % STRIPE_SUSPECTS],
		    STRIPE_SUSPECT_NAME);
	stripe_unlock(ss);
	return n;
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

void
stripe_announce(struct cluster *cl, const struct manifest *m)
{
	struct catalogue *cat = cl->cl_catalogue;
	int rc = -1;

	if (catalogue_lock(cat) == 0) {
		rc = catalogue_announce_striped_locked(cat, m->m_name,
		    m->m_name_len, &m->m_digest, m->m_size, m->m_origin,
		    m->m_stamp);
		catalogue_unlock(cat);
	}
	if (rc == -1)
		log_warnx("%s is stored striped but not in the catalogue: the "
		    "table is full (cluster.max_objects)", m->m_name);
}

void
stripe_withdraw(struct cluster *cl, const struct manifest *m)
{
	struct catalogue *cat = cl->cl_catalogue;

	if (catalogue_lock(cat) == 0) {
		(void)catalogue_withdraw_locked(cat, m->m_name, m->m_name_len,
		    &m->m_digest);
		catalogue_unlock(cat);
	}
}
