/*
 * members.c - the member table and the rules of gossip (see members.h):
 * the table, its name index, merging what others say, and time passing.
 * What an exchange sends (digests, pushes, answers, targets) is in
 * members_exchange.c.
 *
 * The table is one block: the header, the members' slots, and an index
 * from a name's hash to its slot (open addressing, linear probing, twice
 * as many entries as slots, so that a probe is short). A forgotten member
 * leaves the index rebuilt, which is rare: once per forgotten member.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/members.h"
#include "cluster/members_int.h"
#include "core/shm.h"

#define INDEX_EMPTY 0			/* else: slot + 1 */
#define MEMBERS_PROBE_EVERY 5		/* rounds per "probe" of the auto
					   timeouts (memberlist: 1 s / 200 ms) */
#define MEMBERS_SUSPECT_MULT 4		/* memberlist's SuspicionMult */
#define MEMBERS_RETRANSMIT_MULT 4	/* memberlist's RetransmitMult */
#define MEMBERS_BEATS_PER_SUSPECT 8	/* heartbeats within suspect_after */

static uint32_t *
members_index(const struct members *mt)
{
	return (uint32_t *)(void *)(members_slots(mt) + mt->mt_capacity);
}

uint32_t
members_index_entries(unsigned capacity)
{
	uint32_t n = 1;

	while (n < 2 * capacity)
		n <<= 1;
	return n;
}

size_t
members_size(unsigned capacity)
{
	return sizeof(struct members) + (size_t)capacity *
	    sizeof(struct member) + members_index_entries(capacity) * sizeof(uint32_t);
}

struct member *
members_at(struct members *mt, uint32_t i)
{
	return &members_slots(mt)[i];
}

struct member *
members_self(struct members *mt)
{
	return members_at(mt, mt->mt_self);
}

const char *
member_state_name(enum member_state s)
{
	static const char *names[] = { "alive", "suspect", "dead", "left" };

	return (unsigned)s < MEMBER_STATES ? names[s] : "?";
}

bool
member_name_valid(const char *s, size_t max)
{
	size_t i;

	for (i = 0; i < max && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\')
			return false;
	}
	return i > 0 && i < max;
}

/* -- the name index ------------------------------------------------ */

uint64_t
members_name_hash(const char *name)
{
	return XXH3_64bits(name, strlen(name));
}

uint32_t
member_key(const char *name)
{
	return (uint32_t)(members_name_hash(name) >> 32);
}

static void
index_insert(struct members *mt, uint32_t slot)
{
	struct member *m = members_at(mt, slot);
	uint64_t h = members_name_hash(m->m_facts.mf_name);
	uint32_t *ix = members_index(mt);
	uint32_t i = (uint32_t)h & mt->mt_index_mask;

	m->m_key = (uint32_t)(h >> 32);
	while (ix[i] != INDEX_EMPTY)
		i = (i + 1) & mt->mt_index_mask;
	ix[i] = slot + 1;
}

static void
index_rebuild(struct members *mt)
{
	uint32_t i;

	memset(members_index(mt), 0, ((size_t)mt->mt_index_mask + 1) *
	    sizeof(uint32_t));
	for (i = 0; i < mt->mt_capacity; i++)
		if (members_at(mt, i)->m_in_use)
			index_insert(mt, i);
}

struct member *
members_find_locked(struct members *mt, const char *name)
{
	const uint32_t *ix = members_index(mt);
	uint32_t i = (uint32_t)members_name_hash(name) & mt->mt_index_mask;

	for (; ix[i] != INDEX_EMPTY; i = (i + 1) & mt->mt_index_mask) {
		struct member *m = members_at(mt, ix[i] - 1);

		if (strcmp(m->m_facts.mf_name, name) == 0)
			return m;
	}
	return NULL;
}

/* -- the table ------------------------------------------------------ */

uint64_t
members_incarnation(uint64_t last, int64_t wall_ms)
{
	uint64_t now = wall_ms > 0 ? (uint64_t)wall_ms : 0;

	return now > last ? now : last + 1;
}

int
members_init(struct members *mt, unsigned capacity,
    const struct member_facts *self, const struct members_params *p,
    int64_t now_ms)
{
	struct member *m;
	int rc;

	if (capacity < MEMBERS_MIN || capacity > MEMBERS_MAX ||
	    !member_name_valid(self->mf_name, MEMBER_NAME_MAX) ||
	    !member_name_valid(self->mf_addr, MEMBER_ADDR_MAX))
		return EINVAL;
	if ((rc = shm_mutex_init(&mt->mt_mutex)) != 0)
		return rc;
	mt->mt_capacity = capacity;
	mt->mt_index_mask = members_index_entries(capacity) - 1;
	mt->mt_params = *p;
	mt->mt_self = 0;
	m = members_at(mt, 0);
	m->m_facts = *self;
	m->m_facts.mf_left = false;
	m->m_in_use = 1;
	m->m_state = MEMBER_ALIVE;
	m->m_state_inc = self->mf_incarnation;
	m->m_heard_ms = m->m_state_ms = now_ms;
	mt->mt_count = 1;
	mt->mt_last_beat_ms = now_ms;
	mt->mt_version = 1;
	index_insert(mt, 0);
	return 0;
}

int
members_lock(struct members *mt)
{
	int owner_died, rc, i;
	uint32_t n = 0;

	rc = shm_mutex_lock(&mt->mt_mutex, &owner_died);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	if (owner_died) {
		/* A slot is copied whole under the lock; what a death can
		 * leave behind is a slot half-filled (a name or an address
		 * cut short) or an index entry missing. Drop what is not a
		 * valid member and index the rest again. */
		for (i = 0; i < (int)mt->mt_capacity; i++) {
			struct member *m = members_at(mt, (uint32_t)i);

			if (m->m_in_use && (!member_name_valid(
			    m->m_facts.mf_name, MEMBER_NAME_MAX) ||
			    !member_name_valid(m->m_facts.mf_addr,
			    MEMBER_ADDR_MAX) ||
			    m->m_state >= MEMBER_STATES))
				memset(m, 0, sizeof(*m));
			n += m->m_in_use;
		}
		mt->mt_count = n;
		index_rebuild(mt);
		mt->mt_version++;
	}
	return 0;
}

void
members_unlock(struct members *mt)
{
	pthread_mutex_unlock(&mt->mt_mutex);
}

void
members_timeouts(const struct members *mt, int64_t *suspect_ms,
    int64_t *dead_ms)
{
	double scale = log10((double)(mt->mt_count > 1 ? mt->mt_count : 1));
	int64_t probe = MEMBERS_PROBE_EVERY * mt->mt_params.mp_interval_ms;
	int64_t autov;

	if (scale < 1)
		scale = 1;
	autov = (int64_t)(MEMBERS_SUSPECT_MULT * scale * (double)probe);
	*suspect_ms = mt->mt_params.mp_suspect_ms > 0 ?
	    mt->mt_params.mp_suspect_ms : autov;
	*dead_ms = mt->mt_params.mp_dead_ms > 0 ?
	    mt->mt_params.mp_dead_ms : autov;
}

/* How many pushes a piece of news gets: memberlist's retransmit limit. */
static uint32_t
members_retransmits(const struct members *mt)
{
	return MEMBERS_RETRANSMIT_MULT *
	    (uint32_t)ceil(log10((double)mt->mt_count + 1));
}

void
members_count_locked(const struct members *mt,
    uint32_t counts[MEMBER_STATES])
{
	uint32_t i;

	memset(counts, 0, MEMBER_STATES * sizeof(counts[0]));
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = &members_slots(mt)[i];

		if (m->m_in_use)
			counts[i == mt->mt_self ? MEMBER_ALIVE : m->m_state]++;
	}
}

/* Stronger opinion: a later incarnation, then a graver state. */
int
members_opinion_cmp(uint64_t inc_a, uint8_t st_a, uint64_t inc_b, uint8_t st_b)
{
	if (inc_a != inc_b)
		return inc_a < inc_b ? -1 : 1;
	return st_a < st_b ? -1 : st_a > st_b;
}

int
members_facts_cmp(uint64_t inc_a, uint64_t ver_a, uint64_t inc_b, uint64_t ver_b)
{
	if (inc_a != inc_b)
		return inc_a < inc_b ? -1 : 1;
	return ver_a < ver_b ? -1 : ver_a > ver_b;
}

static void
members_event(struct members *mt, const struct member *m, uint8_t from,
    uint8_t to, uint64_t inc, int64_t now_ms)
{
	struct member_event *e = &mt->mt_events[mt->mt_nevents %
	    MEMBERS_EVENTS];

	memcpy(e->me_name, m->m_facts.mf_name, sizeof(e->me_name));
	e->me_from = from;
	e->me_to = to;
	e->me_incarnation = inc;
	e->me_ms = now_ms;
	mt->mt_nevents++;
}

size_t
members_events_locked(const struct members *mt, struct member_event *out,
    size_t max)
{
	uint64_t k = mt->mt_nevents;
	size_t n = 0;

	while (k > 0 && n < max && mt->mt_nevents - k < MEMBERS_EVENTS) {
		const struct member_event *e = &mt->mt_events[--k %
		    MEMBERS_EVENTS];

		/* A holder of the lock that died mid-copy leaves an event
		 * that is not one. */
		if (!member_name_valid(e->me_name, MEMBER_NAME_MAX) ||
		    e->me_from > MEMBER_STATES || e->me_to >= MEMBER_STATES)
			continue;
		out[n++] = *e;
	}
	return n;
}

static void
set_opinion(struct members *mt, struct member *m, uint8_t state,
    uint64_t inc, int64_t now_ms)
{
	if (m->m_state != state)
		members_event(mt, m, m->m_state, state, inc, now_ms);
	/* Alive wins only at a later incarnation: word of a new life, as good
	 * as news from it, or the next tick would suspect it at once. */
	if (state == MEMBER_ALIVE)
		m->m_heard_ms = now_ms;
	m->m_state = state;
	m->m_state_inc = inc;
	m->m_state_ms = now_ms;
	m->m_hot = members_retransmits(mt);
	mt->mt_version++;
}

static void
members_forget(struct members *mt, struct member *m)
{
	memset(m, 0, sizeof(*m));
	mt->mt_count--;
	mt->mt_stats.ms_forgotten++;
	mt->mt_version++;
}

void
members_tick_locked(struct members *mt, int64_t now_ms)
{
	struct member *self = members_self(mt);
	int64_t suspect_ms, dead_ms, beat_ms;
	bool forgot = false;
	uint32_t i;

	members_timeouts(mt, &suspect_ms, &dead_ms);
	beat_ms = suspect_ms / MEMBERS_BEATS_PER_SUSPECT;
	if (beat_ms < mt->mt_params.mp_interval_ms)
		beat_ms = mt->mt_params.mp_interval_ms;
	if (!self->m_facts.mf_left && now_ms - mt->mt_last_beat_ms >= beat_ms) {
		self->m_facts.mf_heartbeat++;
		self->m_facts.mf_version++;
		mt->mt_last_beat_ms = now_ms;
	}
	for (i = 0; i < mt->mt_capacity; i++) {
		struct member *m = members_at(mt, i);

		if (!m->m_in_use || i == mt->mt_self)
			continue;
		switch (m->m_state) {
		case MEMBER_ALIVE:
			if (now_ms - m->m_heard_ms > suspect_ms) {
				set_opinion(mt, m, MEMBER_SUSPECT,
				    m->m_state_inc, now_ms);
				mt->mt_stats.ms_suspected++;
			}
			break;
		case MEMBER_SUSPECT:
			if (now_ms - m->m_state_ms > dead_ms) {
				set_opinion(mt, m, MEMBER_DEAD,
				    m->m_state_inc, now_ms);
				mt->mt_stats.ms_declared_dead++;
			}
			break;
		default:
			if (now_ms - m->m_state_ms > mt->mt_params.mp_forget_ms) {
				members_forget(mt, m);
				forgot = true;
			}
			break;
		}
	}
	if (forgot)
		index_rebuild(mt);
}

/* A doubt about this node at `inc` or later: a new incarnation ends it. */
static void
members_refute(struct members *mt, uint64_t inc)
{
	struct member *self = members_self(mt);

	self->m_facts.mf_incarnation = inc + 1;
	self->m_facts.mf_version++;
	self->m_state = MEMBER_ALIVE;
	self->m_state_inc = inc + 1;
	self->m_hot = members_retransmits(mt);
	mt->mt_stats.ms_refuted++;
	mt->mt_version++;
}

/* What others say of this node: never taken as true, only answered. */
static bool
members_about_self(struct members *mt, const struct member_facts *f,
    uint8_t state, uint64_t state_inc)
{
	struct member *self = members_self(mt);
	uint64_t inc = self->m_facts.mf_incarnation;

	if (self->m_facts.mf_left)
		return false;
	if (f != NULL && members_facts_cmp(f->mf_incarnation, f->mf_version, inc,
	    self->m_facts.mf_version) > 0) {
		/* An earlier life of this node got further than this one
		 * (the clock went back across a restart): outrun it. */
		members_refute(mt, f->mf_incarnation);
		return true;
	}
	if (state != MEMBER_ALIVE && state_inc >= inc) {
		members_refute(mt, state_inc);
		return true;
	}
	return false;
}

/* The slot for a new member: a free one, else the dead or left member
 * given up longest ago. UINT32_MAX when every slot holds a live one. */
static uint32_t
members_free_slot(struct members *mt)
{
	uint32_t i, best = UINT32_MAX;
	int64_t oldest = INT64_MAX;

	for (i = 0; i < mt->mt_capacity; i++) {
		struct member *m = members_at(mt, i);

		if (!m->m_in_use)
			return i;
		if (m->m_state >= MEMBER_DEAD && i != mt->mt_self &&
		    m->m_state_ms < oldest) {
			oldest = m->m_state_ms;
			best = i;
		}
	}
	if (best != UINT32_MAX) {
		members_forget(mt, members_at(mt, best));
		index_rebuild(mt);
	}
	return best;
}

static bool
members_news_valid(const struct member_news *n)
{
	const struct member_facts *f = &n->mn_facts;

	return member_name_valid(f->mf_name, MEMBER_NAME_MAX) &&
	    member_name_valid(f->mf_addr, MEMBER_ADDR_MAX) &&
	    n->mn_state < MEMBER_STATES && f->mf_used <= f->mf_capacity;
}

bool
members_merge_locked(struct members *mt, const struct member_news *n,
    int64_t now_ms, int64_t wall_ms)
{
	const struct member_facts *f = &n->mn_facts;
	uint64_t limit = (uint64_t)(wall_ms + mt->mt_params.mp_max_skew_ms);
	uint8_t state = n->mn_state;
	uint64_t state_inc = n->mn_state_inc;
	struct member *m;
	bool changed = false;
	uint32_t slot;

	if (!members_news_valid(n)) {
		mt->mt_stats.ms_refused_invalid++;
		return false;
	}
	if (f->mf_incarnation > limit || state_inc > limit) {
		mt->mt_stats.ms_refused_future++;
		return false;
	}
	/* A member's own word that it left is the strongest opinion of its
	 * incarnation. */
	if (f->mf_left && members_opinion_cmp(f->mf_incarnation, MEMBER_LEFT,
	    state_inc, state) > 0) {
		state = MEMBER_LEFT;
		state_inc = f->mf_incarnation;
	}
	if (strcmp(f->mf_name, members_self(mt)->m_facts.mf_name) == 0)
		return members_about_self(mt, f, state, state_inc);

	if ((m = members_find_locked(mt, f->mf_name)) == NULL) {
		if (state >= MEMBER_DEAD)
			return false;	/* no ghosts */
		if ((slot = members_free_slot(mt)) == UINT32_MAX) {
			mt->mt_stats.ms_refused_full++;
			return false;
		}
		m = members_at(mt, slot);
		m->m_facts = *f;
		m->m_in_use = 1;
		m->m_heard_ms = now_ms;
		mt->mt_count++;
		index_insert(mt, slot);
		/* Its first opinion is no change of one. */
		members_event(mt, m, MEMBER_STATES, state, state_inc, now_ms);
		m->m_state = state;
		set_opinion(mt, m, state, state_inc, now_ms);
		mt->mt_stats.ms_joined++;
		return true;
	}
	if (members_facts_cmp(f->mf_incarnation, f->mf_version,
	    m->m_facts.mf_incarnation, m->m_facts.mf_version) > 0) {
		bool news = f->mf_incarnation != m->m_facts.mf_incarnation ||
		    f->mf_left != m->m_facts.mf_left ||
		    f->mf_store != m->m_facts.mf_store ||
		    strcmp(f->mf_addr, m->m_facts.mf_addr) != 0;

		m->m_facts = *f;
		m->m_heard_ms = now_ms;
		if (f->mf_incarnation > m->m_state_inc) {
			/* A new life: what was thought of the old one is
			 * over. */
			set_opinion(mt, m, f->mf_left ? MEMBER_LEFT :
			    MEMBER_ALIVE, f->mf_incarnation, now_ms);
		} else if (news) {
			m->m_hot = members_retransmits(mt);
			mt->mt_version++;
		}
		changed = true;
	}
	if (members_opinion_cmp(state_inc, state, m->m_state_inc, m->m_state) > 0) {
		set_opinion(mt, m, state, state_inc, now_ms);
		changed = true;
	}
	return changed;
}

void
members_merge_digest_locked(struct members *mt,
    const struct member_digest *d, size_t n, int64_t now_ms, int64_t wall_ms)
{
	uint64_t limit = (uint64_t)(wall_ms + mt->mt_params.mp_max_skew_ms);
	const char *self = members_self(mt)->m_facts.mf_name;
	struct member_facts f;
	struct member *m;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!member_name_valid(d[i].md_name, MEMBER_NAME_MAX) ||
		    d[i].md_state >= MEMBER_STATES ||
		    d[i].md_incarnation > limit || d[i].md_state_inc > limit)
			continue;
		if (strcmp(d[i].md_name, self) == 0) {
			memset(&f, 0, sizeof(f));
			f.mf_incarnation = d[i].md_incarnation;
			f.mf_version = d[i].md_version;
			members_about_self(mt, &f, d[i].md_state,
			    d[i].md_state_inc);
			continue;
		}
		m = members_find_locked(mt, d[i].md_name);
		if (m != NULL && members_opinion_cmp(d[i].md_state_inc, d[i].md_state,
		    m->m_state_inc, m->m_state) > 0)
			set_opinion(mt, m, d[i].md_state, d[i].md_state_inc,
			    now_ms);
	}
}

void
members_leave_locked(struct members *mt)
{
	struct member *self = members_self(mt);

	self->m_facts.mf_left = true;
	self->m_facts.mf_version++;
	self->m_state = MEMBER_LEFT;
	self->m_hot = members_retransmits(mt);
	mt->mt_version++;
}

void
members_self_changed_locked(struct members *mt)
{
	struct member *self = members_self(mt);

	self->m_facts.mf_version++;
	self->m_hot = members_retransmits(mt);
	mt->mt_version++;
}

void
members_set_use_locked(struct members *mt, uint64_t capacity,
    uint64_t used)
{
	struct member *self = members_self(mt);

	if (self->m_facts.mf_capacity == capacity &&
	    self->m_facts.mf_used == used)
		return;
	self->m_facts.mf_capacity = capacity;
	self->m_facts.mf_used = used > capacity ? capacity : used;
	self->m_facts.mf_version++;
	/* Room that shrinks must reach the fronts that place parts soon. */
	self->m_hot = members_retransmits(mt);
}

void
members_set_cat_seq_locked(struct members *mt, uint64_t inc, uint64_t seq)
{
	struct member *self = members_self(mt);

	if (self->m_facts.mf_cat_inc == inc && self->m_facts.mf_cat_seq == seq)
		return;
	self->m_facts.mf_cat_inc = inc;
	self->m_facts.mf_cat_seq = seq;
	self->m_facts.mf_version++;
	self->m_hot = members_retransmits(mt);
}
