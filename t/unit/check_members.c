/*
 * check_members.c - unit tests for src/cluster/members.c, one rule at a
 * time on small tables: facts and opinions, refutation, suspicion, death,
 * forgetting, a full table, refusals, what is pushed and answered, whom a
 * round talks to, and the lock's repair after a holder died. (The rules
 * at scale are check_gossip_sim.c's.)
 *
 * Includes members.c (for members_retransmits() and the index); the clock
 * is the tests' own: `now` (monotonic ms) and wall(), WALL0 when the test
 * starts and moving with `now`. Runs in Check's fork mode (each test
 * starts from the same `now`); the lock test forks once more.
 */
#include "check_main.h"
#include "cluster/members.c"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define WALL0 1800000000000LL
#define SELF_INC ((uint64_t)WALL0)
#define SUSPECT_MS 1000
#define DEAD_MS 2000
#define FORGET_MS 10000
#define SKEW_MS 10000
#define FANOUT 3

static struct members *mt;
static struct members_params params;
static const struct member_range all_keys = { 0, UINT32_MAX };
static int64_t now = 1000000;

static int64_t
wall(void)
{
	return WALL0 + now - 1000000;
}

static void
set_params(int64_t suspect_ms, int64_t dead_ms)
{
	memset(&params, 0, sizeof(params));
	params.mp_interval_ms = 200;
	params.mp_suspect_ms = suspect_ms;
	params.mp_dead_ms = dead_ms;
	params.mp_forget_ms = FORGET_MS;
	params.mp_max_skew_ms = SKEW_MS;
}

static void
facts(const char *name, uint64_t inc, uint64_t ver, struct member_facts *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->mf_name, sizeof(f->mf_name), "%s", name);
	snprintf(f->mf_addr, sizeof(f->mf_addr), "%s.example:8080", name);
	f->mf_incarnation = inc;
	f->mf_version = ver;
	f->mf_heartbeat = ver;
	f->mf_store = true;
	f->mf_capacity = 1000;
	f->mf_used = 10;
}

/* What a message says of `name`: facts (inc, ver), opinion state@sinc. */
static struct member_news
news(const char *name, uint64_t inc, uint64_t ver, int state, uint64_t sinc)
{
	struct member_news n;

	facts(name, inc, ver, &n.mn_facts);
	n.mn_state = (uint8_t)state;
	n.mn_state_inc = sinc;
	return n;
}

static struct members *
table_of(const char *self, unsigned capacity)
{
	struct member_facts f;
	struct members *t = calloc(1, members_size(capacity));

	ck_assert_ptr_nonnull(t);
	facts(self, SELF_INC, 1, &f);
	ck_assert_int_eq(members_init(t, capacity, &f, &params, now), 0);
	return t;
}

static struct members *
table(unsigned capacity)
{
	return table_of("self", capacity);
}

static void
setup(void)
{
	set_params(SUSPECT_MS, DEAD_MS);
	mt = table(16);
}

static void
teardown(void)
{
	free(mt);
	mt = NULL;
}

static bool
merge(const char *name, uint64_t inc, uint64_t ver, int state,
    uint64_t sinc)
{
	struct member_news n = news(name, inc, ver, state, sinc);

	return members_merge_locked(mt, &n, now, wall());
}

static struct member *
find(const char *name)
{
	return members_find_locked(mt, name);
}

#define ck_assert_opinion(name, state, inc) do { \
	struct member *m_ = find(name); \
	ck_assert_ptr_nonnull(m_); \
	ck_assert_msg(m_->m_state == (state) && m_->m_state_inc == (inc), \
	    "%s: %s@%llu, want %s@%llu", name, \
	    member_state_name(m_->m_state), \
	    (unsigned long long)m_->m_state_inc, \
	    member_state_name(state), (unsigned long long)(inc)); \
} while (0)

static uint64_t
self_inc(void)
{
	return members_self(mt)->m_facts.mf_incarnation;
}

/* -- the table ---------------------------------------------------------- */

START_TEST(init_holds_self)
{
	struct member *self = members_self(mt);
	uint32_t counts[MEMBER_STATES];

	ck_assert_uint_eq(mt->mt_capacity, 16);
	ck_assert_uint_eq(mt->mt_count, 1);
	ck_assert_ptr_eq(find("self"), self);
	ck_assert_ptr_null(find("other"));
	ck_assert_str_eq(self->m_facts.mf_addr, "self.example:8080");
	ck_assert_opinion("self", MEMBER_ALIVE, SELF_INC);
	ck_assert_uint_eq(self->m_hot, 0);
	members_count_locked(mt, counts);
	ck_assert_uint_eq(counts[MEMBER_ALIVE], 1);
	ck_assert_uint_eq(counts[MEMBER_SUSPECT] + counts[MEMBER_DEAD] +
	    counts[MEMBER_LEFT], 0);
	ck_assert_uint_gt(members_size(17), members_size(16));
}
END_TEST

START_TEST(init_refuses)
{
	struct member_facts f;
	struct members *t = calloc(1, members_size(MEMBERS_MIN));

	facts("self", 1, 1, &f);
	ck_assert_int_eq(members_init(t, MEMBERS_MIN - 1, &f, &params, now),
	    EINVAL);
	ck_assert_int_eq(members_init(t, MEMBERS_MAX + 1, &f, &params, now),
	    EINVAL);
	strcpy(f.mf_name, "a b");
	ck_assert_int_eq(members_init(t, MEMBERS_MIN, &f, &params, now),
	    EINVAL);
	facts("self", 1, 1, &f);
	f.mf_addr[0] = '\0';
	ck_assert_int_eq(members_init(t, MEMBERS_MIN, &f, &params, now),
	    EINVAL);
	/* A node starts alive, whatever its facts said last time. */
	facts("self", 1, 1, &f);
	f.mf_left = true;
	ck_assert_int_eq(members_init(t, MEMBERS_MIN, &f, &params, now), 0);
	ck_assert(!members_self(t)->m_facts.mf_left);
	free(t);
}
END_TEST

START_TEST(incarnation_outruns_the_last)
{
	ck_assert_uint_eq(members_incarnation(0, 1000), 1000);
	ck_assert_uint_eq(members_incarnation(999, 1000), 1000);
	/* The clock is behind the last life: one more than it. */
	ck_assert_uint_eq(members_incarnation(1000, 1000), 1001);
	ck_assert_uint_eq(members_incarnation(2000, 1000), 2001);
	ck_assert_uint_eq(members_incarnation(2000, -5), 2001);
	ck_assert_uint_eq(members_incarnation(0, 0), 1);
}
END_TEST

/* -- facts -------------------------------------------------------------- */

START_TEST(newer_facts_taken_older_ignored)
{
	struct member_news n = news("b", 500, 3, MEMBER_ALIVE, 500);
	struct member *b;

	n.mn_facts.mf_capacity = 777;
	n.mn_facts.mf_used = 77;
	n.mn_facts.mf_store = false;
	ck_assert(members_merge_locked(mt, &n, now, wall()));
	ck_assert_uint_eq(mt->mt_stats.ms_joined, 1);
	ck_assert_uint_eq(mt->mt_count, 2);
	b = find("b");
	ck_assert_ptr_nonnull(b);
	ck_assert(memcmp(&b->m_facts, &n.mn_facts, sizeof(n.mn_facts)) == 0);
	ck_assert_opinion("b", MEMBER_ALIVE, 500);
	ck_assert_int_eq(b->m_heard_ms, now);

	now += 100;
	ck_assert(!merge("b", 500, 3, MEMBER_ALIVE, 500));	/* equal */
	ck_assert(!merge("b", 500, 2, MEMBER_ALIVE, 500));	/* older */
	ck_assert(!merge("b", 499, 9, MEMBER_ALIVE, 499));	/* older life */
	ck_assert_uint_eq(b->m_facts.mf_version, 3);
	ck_assert_uint_eq(b->m_facts.mf_capacity, 777);
	ck_assert_int_eq(b->m_heard_ms, now - 100);	/* not heard */

	ck_assert(merge("b", 500, 4, MEMBER_ALIVE, 500));
	ck_assert_uint_eq(b->m_facts.mf_version, 4);
	ck_assert_uint_eq(b->m_facts.mf_capacity, 1000);
	ck_assert_int_eq(b->m_heard_ms, now);
	ck_assert_uint_eq(mt->mt_stats.ms_joined, 1);
	ck_assert_uint_eq(mt->mt_count, 2);
}
END_TEST

START_TEST(heartbeat_is_not_hot_an_address_is)
{
	struct member_news n = news("b", 500, 1, MEMBER_ALIVE, 500);
	struct member *b;
	uint64_t v;

	ck_assert(members_merge_locked(mt, &n, now, wall()));
	b = find("b");
	ck_assert_uint_eq(b->m_hot, members_retransmits(mt));	/* joined */
	b->m_hot = 0;
	v = mt->mt_version;

	n.mn_facts.mf_version++;
	n.mn_facts.mf_heartbeat++;
	ck_assert(members_merge_locked(mt, &n, now, wall()));
	ck_assert_uint_eq(b->m_facts.mf_heartbeat, 2);
	ck_assert_uint_eq(b->m_hot, 0);
	ck_assert_uint_eq(mt->mt_version, v);

	n.mn_facts.mf_version++;
	strcpy(n.mn_facts.mf_addr, "10.9.9.9:8080");
	ck_assert(members_merge_locked(mt, &n, now, wall()));
	ck_assert_str_eq(b->m_facts.mf_addr, "10.9.9.9:8080");
	ck_assert_uint_eq(b->m_hot, members_retransmits(mt));
	ck_assert_uint_eq(mt->mt_version, v + 1);

	b->m_hot = 0;
	n.mn_facts.mf_version++;
	n.mn_facts.mf_store = false;
	ck_assert(members_merge_locked(mt, &n, now, wall()));
	ck_assert_uint_gt(b->m_hot, 0);
	ck_assert_uint_eq(mt->mt_version, v + 2);
}
END_TEST

/* -- opinions ----------------------------------------------------------- */

START_TEST(opinion_order)
{
	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 7));
	/* suspect@7 beats alive@7, and not the other way */
	ck_assert(merge("b", 7, 1, MEMBER_SUSPECT, 7));
	ck_assert_opinion("b", MEMBER_SUSPECT, 7);
	ck_assert(!merge("b", 7, 1, MEMBER_ALIVE, 7));
	ck_assert_opinion("b", MEMBER_SUSPECT, 7);
	/* dead@7 beats suspect@7 */
	ck_assert(merge("b", 7, 1, MEMBER_DEAD, 7));
	ck_assert_opinion("b", MEMBER_DEAD, 7);
	ck_assert(!merge("b", 7, 1, MEMBER_SUSPECT, 7));
	/* alive@8 beats dead@7 */
	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 8));
	ck_assert_opinion("b", MEMBER_ALIVE, 8);
	ck_assert(!merge("b", 7, 1, MEMBER_DEAD, 7));
	ck_assert_opinion("b", MEMBER_ALIVE, 8);
	/* left beats dead at the same incarnation */
	ck_assert(merge("b", 7, 1, MEMBER_DEAD, 8));
	ck_assert(merge("b", 7, 1, MEMBER_LEFT, 8));
	ck_assert_opinion("b", MEMBER_LEFT, 8);
	ck_assert(!merge("b", 7, 1, MEMBER_DEAD, 8));
	ck_assert_opinion("b", MEMBER_LEFT, 8);
	/* each change was news to push */
	ck_assert_uint_eq(find("b")->m_hot, members_retransmits(mt));
}
END_TEST

START_TEST(own_left_is_taken)
{
	struct member_news n = news("b", 7, 1, MEMBER_SUSPECT, 7);

	ck_assert(members_merge_locked(mt, &n, now, wall()));
	/* b says it left; the sender still thinks it suspect */
	n.mn_facts.mf_version = 2;
	n.mn_facts.mf_left = true;
	ck_assert(members_merge_locked(mt, &n, now, wall()));
	ck_assert_opinion("b", MEMBER_LEFT, 7);
	ck_assert(find("b")->m_facts.mf_left);
	ck_assert_uint_eq(find("b")->m_hot, members_retransmits(mt));
	/* and it does not come back to life at that incarnation */
	ck_assert(!merge("b", 7, 1, MEMBER_ALIVE, 7));
	ck_assert_opinion("b", MEMBER_LEFT, 7);
}
END_TEST

START_TEST(a_node_that_leaves_is_left_to_others)
{
	struct members *other = table_of("other", 16);
	struct member_news out[4];
	struct member *m;

	ck_assert_uint_eq(members_push_locked(mt, out, 4), 1);
	ck_assert(members_merge_locked(other, &out[0], now, wall()));
	members_leave_locked(mt);
	ck_assert(members_self(mt)->m_facts.mf_left);
	ck_assert_uint_eq(members_self(mt)->m_state, MEMBER_LEFT);
	ck_assert_uint_eq(members_push_locked(mt, out, 4), 1);
	ck_assert(out[0].mn_facts.mf_left);
	ck_assert_uint_eq(out[0].mn_facts.mf_version, 2);
	ck_assert(members_merge_locked(other, &out[0], now, wall()));
	m = members_find_locked(other, "self");
	ck_assert_uint_eq(m->m_state, MEMBER_LEFT);
	ck_assert_uint_eq(m->m_state_inc, SELF_INC);
	free(other);
}
END_TEST

START_TEST(no_ghosts)
{
	struct member_news n = news("c", 5, 1, MEMBER_ALIVE, 5);

	ck_assert(!merge("c", 5, 1, MEMBER_DEAD, 5));
	ck_assert(!merge("c", 5, 1, MEMBER_LEFT, 5));
	n.mn_facts.mf_left = true;	/* its own word that it left */
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	ck_assert_ptr_null(find("c"));
	ck_assert_uint_eq(mt->mt_count, 1);
	ck_assert_uint_eq(mt->mt_stats.ms_joined, 0);
	/* a suspicion is not a death: it is taken in */
	ck_assert(merge("c", 5, 1, MEMBER_SUSPECT, 5));
	ck_assert_opinion("c", MEMBER_SUSPECT, 5);
}
END_TEST

START_TEST(new_incarnation_ends_suspicion)
{
	ck_assert(merge("b", 7, 3, MEMBER_ALIVE, 7));
	ck_assert(merge("b", 7, 3, MEMBER_SUSPECT, 7));
	/* b refuted: its new life, sent by one who still suspects the old */
	now += 10;
	ck_assert(merge("b", 8, 0, MEMBER_SUSPECT, 7));
	ck_assert_opinion("b", MEMBER_ALIVE, 8);
	ck_assert_uint_eq(find("b")->m_facts.mf_incarnation, 8);
	ck_assert_int_eq(find("b")->m_state_ms, now);
	/* a death too, and a leaving */
	ck_assert(merge("b", 8, 0, MEMBER_DEAD, 8));
	ck_assert(merge("b", 9, 0, MEMBER_DEAD, 8));
	ck_assert_opinion("b", MEMBER_ALIVE, 9);
	ck_assert(merge("b", 9, 0, MEMBER_LEFT, 9));
	ck_assert(merge("b", 10, 0, MEMBER_ALIVE, 10));
	ck_assert_opinion("b", MEMBER_ALIVE, 10);
}
END_TEST

/* -- what others say of this node --------------------------------------- */

START_TEST(suspicion_of_self_is_refuted)
{
	struct member *self = members_self(mt);
	uint64_t inc = self_inc(), ver = self->m_facts.mf_version;

	ck_assert(merge("self", inc, ver, MEMBER_SUSPECT, inc));
	ck_assert_uint_eq(self_inc(), inc + 1);
	ck_assert_uint_eq(self->m_facts.mf_version, ver + 1);
	ck_assert_opinion("self", MEMBER_ALIVE, inc + 1);
	ck_assert_uint_eq(mt->mt_stats.ms_refuted, 1);
	ck_assert_uint_eq(self->m_hot, members_retransmits(mt));
	/* the old suspicion again: nothing to do */
	ck_assert(!merge("self", inc, ver, MEMBER_SUSPECT, inc));
	ck_assert_uint_eq(self_inc(), inc + 1);
	/* death at a later incarnation (within the skew) */
	ck_assert(merge("self", inc, ver, MEMBER_DEAD, inc + 5));
	ck_assert_uint_eq(self_inc(), inc + 6);
	ck_assert_uint_eq(mt->mt_stats.ms_refuted, 2);
	/* someone's word that this node left */
	{
		struct member_news n = news("self", inc + 6, 1, MEMBER_ALIVE,
		    inc + 6);

		n.mn_facts.mf_left = true;
		ck_assert(members_merge_locked(mt, &n, now, wall()));
		ck_assert_uint_eq(self_inc(), inc + 7);
	}
	/* never removed, never anything but alive */
	ck_assert_ptr_eq(find("self"), self);
	ck_assert(self->m_in_use);
	ck_assert(!self->m_facts.mf_left);
	ck_assert_uint_eq(mt->mt_count, 1);
	ck_assert_str_eq(self->m_facts.mf_addr, "self.example:8080");
}
END_TEST

START_TEST(older_suspicion_of_self_ignored)
{
	uint64_t inc = self_inc();

	ck_assert(!merge("self", inc - 1, 1, MEMBER_SUSPECT, inc - 1));
	ck_assert(!merge("self", inc - 1, 1, MEMBER_DEAD, inc - 1));
	ck_assert(!merge("self", inc, 1, MEMBER_ALIVE, inc));
	ck_assert_uint_eq(self_inc(), inc);
	ck_assert_uint_eq(mt->mt_stats.ms_refuted, 0);
	ck_assert_opinion("self", MEMBER_ALIVE, inc);
}
END_TEST

/* An earlier life of this node got further (its clock went back across a
 * restart): this one outruns it. */
START_TEST(earlier_life_outrun)
{
	uint64_t inc = self_inc();

	ck_assert(merge("self", inc + 3, 40, MEMBER_ALIVE, inc + 3));
	ck_assert_uint_eq(self_inc(), inc + 4);
	ck_assert_uint_eq(mt->mt_stats.ms_refuted, 1);
	ck_assert_str_eq(members_self(mt)->m_facts.mf_addr,
	    "self.example:8080");
}
END_TEST

START_TEST(a_node_that_left_does_not_refute)
{
	uint64_t inc = self_inc();

	members_leave_locked(mt);
	ck_assert(!merge("self", inc, 1, MEMBER_DEAD, inc));
	ck_assert_uint_eq(self_inc(), inc);
	ck_assert_uint_eq(mt->mt_stats.ms_refuted, 0);
	ck_assert(members_self(mt)->m_facts.mf_left);
}
END_TEST

/* -- digests ------------------------------------------------------------ */

static struct member_digest
line(const char *name, uint64_t inc, uint64_t ver, int state, uint64_t sinc)
{
	struct member_digest d;

	memset(&d, 0, sizeof(d));
	snprintf(d.md_name, sizeof(d.md_name), "%s", name);
	d.md_incarnation = inc;
	d.md_version = ver;
	d.md_state = (uint8_t)state;
	d.md_state_inc = sinc;
	return d;
}

START_TEST(digest_opinions_merged)
{
	struct member_digest d[6];
	uint64_t future = (uint64_t)wall() + SKEW_MS + 1;

	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 7));
	ck_assert(merge("c", 3, 1, MEMBER_ALIVE, 3));
	ck_assert(merge("e", 4, 1, MEMBER_ALIVE, 4));
	d[0] = line("b", 7, 1, MEMBER_SUSPECT, 7);	/* stronger */
	d[1] = line("c", 3, 1, MEMBER_DEAD, 2);		/* older */
	d[2] = line("d", 5, 1, MEMBER_ALIVE, 5);	/* unknown */
	d[3] = line("e", 4, 1, MEMBER_DEAD, future);	/* from the future */
	d[4] = line("a b", 4, 1, MEMBER_DEAD, 9);	/* invalid */
	d[5] = line("c", 3, 1, 7, 9);			/* no such state */
	members_merge_digest_locked(mt, d, 6, now, wall());
	ck_assert_opinion("b", MEMBER_SUSPECT, 7);
	ck_assert_opinion("c", MEMBER_ALIVE, 3);
	ck_assert_ptr_null(find("d"));	/* the facts come by news */
	ck_assert_opinion("e", MEMBER_ALIVE, 4);
	ck_assert_uint_eq(mt->mt_count, 4);
	ck_assert_uint_eq(mt->mt_stats.ms_refuted, 0);
}
END_TEST

/* Word that a member dead to this node lives again (a later incarnation,
 * alive) counts as news of it: it is not suspected at the next tick. */
START_TEST(word_of_a_new_life_is_news)
{
	struct member_digest d;
	int64_t t_word;

	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 7));
	ck_assert(merge("b", 7, 1, MEMBER_DEAD, 7));
	now += 5 * SUSPECT_MS;
	d = line("b", 8, 1, MEMBER_ALIVE, 8);
	members_merge_digest_locked(mt, &d, 1, now, wall());
	ck_assert_opinion("b", MEMBER_ALIVE, 8);
	t_word = now;
	now += 200;
	members_tick_locked(mt, now);
	ck_assert_opinion("b", MEMBER_ALIVE, 8);
	ck_assert_uint_eq(mt->mt_stats.ms_suspected, 0);
	/* and, no news after it, suspected in time */
	now = t_word + SUSPECT_MS + 1;
	members_tick_locked(mt, now);
	ck_assert_opinion("b", MEMBER_SUSPECT, 8);
	/* the same by news whose facts are not newer */
	ck_assert(merge("b", 7, 1, MEMBER_DEAD, 8));
	now += 5 * SUSPECT_MS;
	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 9));
	now += 200;
	members_tick_locked(mt, now);
	ck_assert_opinion("b", MEMBER_ALIVE, 9);
}
END_TEST

START_TEST(digest_doubting_self_refutes)
{
	struct member_digest d[2];
	uint64_t inc = self_inc();

	d[0] = line("self", inc, 1, MEMBER_ALIVE, inc);
	members_merge_digest_locked(mt, d, 1, now, wall());
	ck_assert_uint_eq(self_inc(), inc);
	d[0] = line("self", inc, 1, MEMBER_SUSPECT, inc);
	members_merge_digest_locked(mt, d, 1, now, wall());
	ck_assert_uint_eq(self_inc(), inc + 1);
	ck_assert_uint_eq(mt->mt_stats.ms_refuted, 1);
	/* facts of a later life than this one */
	d[1] = line("self", inc + 9, 1, MEMBER_ALIVE, inc + 9);
	members_merge_digest_locked(mt, &d[1], 1, now, wall());
	ck_assert_uint_eq(self_inc(), inc + 10);
	ck_assert_opinion("self", MEMBER_ALIVE, inc + 10);
}
END_TEST

static const struct digest_line_want {
	const char *name;
	uint64_t inc, ver;
	uint8_t state;
} digest_want[] = {
	{ "b", 7, 2, MEMBER_SUSPECT },
	{ "c", 3, 1, MEMBER_ALIVE },
};

START_TEST(digest_of_the_table)
{
	struct member_digest d[4];
	struct member_range r;
	size_t n, i, k;

	ck_assert(merge("b", 7, 2, MEMBER_SUSPECT, 7));
	ck_assert(merge("c", 3, 1, MEMBER_ALIVE, 3));
	n = members_digest_locked(mt, d, 4, &r);
	ck_assert_uint_eq(n, 3);
	/* A small table fits one digest: every key. */
	ck_assert_uint_eq(r.mr_lo, 0);
	ck_assert_uint_eq(r.mr_hi, UINT32_MAX);
	for (i = 0; i < 2; i++) {
		for (k = 0; k < n; k++)
			if (strcmp(d[k].md_name, digest_want[i].name) == 0)
				break;
		ck_assert_uint_lt(k, n);
		ck_assert_uint_eq(d[k].md_incarnation, digest_want[i].inc);
		ck_assert_uint_eq(d[k].md_version, digest_want[i].ver);
		ck_assert_uint_eq(d[k].md_state, digest_want[i].state);
		ck_assert_uint_eq(d[k].md_state_inc, digest_want[i].inc);
	}
	/* In key order. */
	for (k = 1; k < n; k++)
		ck_assert_uint_le(member_key(d[k - 1].md_name),
		    member_key(d[k].md_name));
}
END_TEST

/* A large table: each digest a slice of about MEMBERS_DIGEST_LINES in key
 * order, the next one where it ended, until every member was in exactly
 * one; then from the start again. An answer speaks of its range only. */
START_TEST(digests_sweep_the_table_in_slices)
{
	struct member_digest *d = calloc(MEMBERS_MIN * 64, sizeof(*d));
	struct member_news out[4];
	struct member_range r;
	char name[32];
	uint32_t expect_lo = 0, seen = 0;
	size_t n, k;
	int i, digests = 0;
	struct rng rng;

	free(mt);
	mt = table(1024);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		ck_assert(merge(name, 5, 1, MEMBER_ALIVE, 5));
	}
	do {
		n = members_digest_locked(mt, d, MEMBERS_MIN * 64, &r);
		digests++;
		ck_assert_uint_eq(r.mr_lo, expect_lo);
		ck_assert_uint_le(r.mr_lo, r.mr_hi);
		ck_assert_uint_ge(n, 1);
		ck_assert_uint_le(n, MEMBERS_DIGEST_LINES);
		for (k = 0; k < n; k++) {
			ck_assert_uint_ge(member_key(d[k].md_name), r.mr_lo);
			ck_assert_uint_le(member_key(d[k].md_name), r.mr_hi);
		}
		seen += (uint32_t)n;
		/* Nobody outside the range is news for this digest. */
		rng_seed(&rng, 1);
		ck_assert_uint_eq(members_answer_locked(mt, d, n, &r, out, 4,
		    &rng), 0);
		expect_lo = r.mr_hi + 1;
	} while (r.mr_hi != UINT32_MAX);
	ck_assert_uint_eq(seen, 301);
	ck_assert_int_eq(digests, 3);
	n = members_digest_locked(mt, d, MEMBERS_MIN * 64, &r);
	ck_assert_uint_eq(r.mr_lo, 0);
	free(d);
}
END_TEST

/* -- time passes -------------------------------------------------------- */

START_TEST(quiet_member_suspected_then_dead_then_forgotten)
{
	int64_t t0 = now, t_dead;
	uint32_t slot;

	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 7));
	slot = (uint32_t)(find("b") - members_at(mt, 0));
	now = t0 + SUSPECT_MS;
	members_tick_locked(mt, now);
	ck_assert_opinion("b", MEMBER_ALIVE, 7);
	now = t0 + SUSPECT_MS + 1;
	members_tick_locked(mt, now);
	ck_assert_opinion("b", MEMBER_SUSPECT, 7);
	ck_assert_uint_eq(mt->mt_stats.ms_suspected, 1);
	now += DEAD_MS;
	members_tick_locked(mt, now);
	ck_assert_opinion("b", MEMBER_SUSPECT, 7);
	now += 1;
	members_tick_locked(mt, now);
	ck_assert_opinion("b", MEMBER_DEAD, 7);
	ck_assert_uint_eq(mt->mt_stats.ms_declared_dead, 1);
	t_dead = now;
	now = t_dead + FORGET_MS;
	members_tick_locked(mt, now);
	ck_assert_ptr_nonnull(find("b"));
	now = t_dead + FORGET_MS + 1;
	members_tick_locked(mt, now);
	ck_assert_ptr_null(find("b"));
	ck_assert_uint_eq(mt->mt_count, 1);
	ck_assert_uint_eq(mt->mt_stats.ms_forgotten, 1);
	ck_assert(!members_at(mt, slot)->m_in_use);
	/* the slot serves the next member */
	ck_assert(merge("c", 3, 1, MEMBER_ALIVE, 3));
	ck_assert_ptr_eq(find("c"), members_at(mt, slot));
	ck_assert_ptr_eq(find("self"), members_self(mt));
}
END_TEST

#define ck_assert_event(e, name, from, to, inc) do { \
	ck_assert_str_eq((e).me_name, name); \
	ck_assert_uint_eq((e).me_from, from); \
	ck_assert_uint_eq((e).me_to, to); \
	ck_assert_uint_eq((e).me_incarnation, inc); \
} while (0)

START_TEST(events_keep_the_last_changes_newest_first)
{
	struct member_event ev[MEMBERS_EVENTS + 4];
	int64_t t0 = now;
	char name[16];
	size_t n;
	int i;

	ck_assert_uint_eq(members_events_locked(mt, ev, MEMBERS_EVENTS), 0);
	/* joined, suspected, dead, then alive again in a new life */
	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 7));
	now = t0 + SUSPECT_MS + 1;
	members_tick_locked(mt, now);
	now += DEAD_MS + 1;
	members_tick_locked(mt, now);
	ck_assert(merge("b", 8, 1, MEMBER_ALIVE, 8));
	/* no change of opinion, no event: a heartbeat, news of alive */
	ck_assert(merge("b", 8, 2, MEMBER_ALIVE, 8));
	/* a newcomer said suspect: joined as such, one event */
	ck_assert(merge("c", 3, 1, MEMBER_SUSPECT, 3));
	n = members_events_locked(mt, ev, MEMBERS_EVENTS);
	ck_assert_uint_eq(n, 5);
	ck_assert_event(ev[0], "c", MEMBER_STATES, MEMBER_SUSPECT, 3);
	ck_assert_event(ev[1], "b", MEMBER_DEAD, MEMBER_ALIVE, 8);
	ck_assert_event(ev[2], "b", MEMBER_SUSPECT, MEMBER_DEAD, 7);
	ck_assert_event(ev[3], "b", MEMBER_ALIVE, MEMBER_SUSPECT, 7);
	ck_assert_event(ev[4], "b", MEMBER_STATES, MEMBER_ALIVE, 7);
	ck_assert_int_eq(ev[4].me_ms, t0);
	ck_assert_int_eq(ev[0].me_ms, now);
	ck_assert_uint_eq(members_events_locked(mt, ev, 2), 2);
	ck_assert_event(ev[1], "b", MEMBER_DEAD, MEMBER_ALIVE, 8);

	/* the ring keeps the last MEMBERS_EVENTS: 5 + 10 + 3 were made */
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ck_assert(merge(name, 5, 1, MEMBER_ALIVE, 5));
	}
	ck_assert(merge("n0", 5, 1, MEMBER_LEFT, 6));
	ck_assert(merge("n0", 9, 1, MEMBER_ALIVE, 9));
	ck_assert(merge("n1", 5, 1, MEMBER_SUSPECT, 5));
	n = members_events_locked(mt, ev, MEMBERS_EVENTS + 4);
	ck_assert_uint_eq(n, MEMBERS_EVENTS);
	ck_assert_event(ev[0], "n1", MEMBER_ALIVE, MEMBER_SUSPECT, 5);
	ck_assert_event(ev[1], "n0", MEMBER_LEFT, MEMBER_ALIVE, 9);
	ck_assert_event(ev[2], "n0", MEMBER_ALIVE, MEMBER_LEFT, 6);
	ck_assert_event(ev[3], "n9", MEMBER_STATES, MEMBER_ALIVE, 5);
	ck_assert_event(ev[12], "n0", MEMBER_STATES, MEMBER_ALIVE, 5);
	ck_assert_event(ev[13], "c", MEMBER_STATES, MEMBER_SUSPECT, 3);
	ck_assert_event(ev[15], "b", MEMBER_SUSPECT, MEMBER_DEAD, 7);

	/* an event a dying holder left half-written is not shown */
	mt->mt_events[(mt->mt_nevents - 1) % MEMBERS_EVENTS].me_name[0] = '\0';
	n = members_events_locked(mt, ev, MEMBERS_EVENTS);
	ck_assert_uint_eq(n, MEMBERS_EVENTS - 1);
	ck_assert_event(ev[0], "n0", MEMBER_LEFT, MEMBER_ALIVE, 9);
}
END_TEST

START_TEST(news_keeps_a_member_alive)
{
	int i;

	ck_assert(merge("b", 7, 1, MEMBER_ALIVE, 7));
	for (i = 2; i < 20; i++) {
		now += SUSPECT_MS / 2;
		ck_assert(merge("b", 7, (uint64_t)i, MEMBER_ALIVE, 7));
		members_tick_locked(mt, now);
	}
	ck_assert_opinion("b", MEMBER_ALIVE, 7);
	ck_assert_uint_eq(mt->mt_stats.ms_suspected, 0);
}
END_TEST

/* A table of n members: self and n - 1 alive. */
static void
fill(struct members *t, unsigned n)
{
	char name[16];
	unsigned i;

	for (i = 1; i < n; i++) {
		struct member_news nw;

		snprintf(name, sizeof(name), "m%u", i);
		nw = news(name, 5, 1, MEMBER_ALIVE, 5);
		ck_assert(members_merge_locked(t, &nw, now, wall()));
	}
	ck_assert_uint_eq(t->mt_count, n);
}

START_TEST(auto_timeouts_scale_with_the_table)
{
	static const struct {
		unsigned n;
		int64_t ms;
	} want[] = {
		/* 4 * max(1, log10 n) * 5 rounds of 200 ms */
		{ 1, 4000 }, { 16, 4816 }, { 64, 7224 }, { 1000, 12000 },
	};
	int64_t suspect_ms, dead_ms;
	size_t i;

	set_params(0, 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct members *t = table(1024);

		fill(t, want[i].n);
		members_timeouts(t, &suspect_ms, &dead_ms);
		ck_assert_int_eq(suspect_ms, want[i].ms);
		ck_assert_int_eq(dead_ms, want[i].ms);
		free(t);
	}
	/* Set, they are taken as they are. */
	set_params(1234, 5678);
	{
		struct members *t = table(1024);

		fill(t, 1000);
		members_timeouts(t, &suspect_ms, &dead_ms);
		ck_assert_int_eq(suspect_ms, 1234);
		ck_assert_int_eq(dead_ms, 5678);
		free(t);
	}
}
END_TEST

/* This node's heartbeat moves 8 times within suspect_after, and at most
 * once a round. */
START_TEST(self_heartbeat_timing)
{
	struct member *self;
	int64_t t0 = now;

	set_params(0, 0);		/* auto: 4000 ms alone, a beat 500 */
	free(mt);
	mt = table(16);
	self = members_self(mt);
	members_tick_locked(mt, t0 + 499);
	ck_assert_uint_eq(self->m_facts.mf_heartbeat, 1);
	ck_assert_uint_eq(self->m_facts.mf_version, 1);
	members_tick_locked(mt, t0 + 500);
	ck_assert_uint_eq(self->m_facts.mf_heartbeat, 2);
	ck_assert_uint_eq(self->m_facts.mf_version, 2);
	members_tick_locked(mt, t0 + 999);
	ck_assert_uint_eq(self->m_facts.mf_heartbeat, 2);
	members_tick_locked(mt, t0 + 1000);
	ck_assert_uint_eq(self->m_facts.mf_heartbeat, 3);
	/* suspect_after 1000: a beat each 125 ms, but once a round (200) */
	set_params(1000, 1000);
	free(mt);
	mt = table(16);
	self = members_self(mt);
	members_tick_locked(mt, t0 + 199);
	ck_assert_uint_eq(self->m_facts.mf_heartbeat, 1);
	members_tick_locked(mt, t0 + 200);
	ck_assert_uint_eq(self->m_facts.mf_heartbeat, 2);
	/* a node that left beats no more */
	members_leave_locked(mt);
	members_tick_locked(mt, t0 + 10000);
	ck_assert_uint_eq(self->m_facts.mf_heartbeat, 2);
}
END_TEST

/* -- refusals ----------------------------------------------------------- */

START_TEST(full_table_evicts_the_longest_dead)
{
	fill(mt, 16);
	ck_assert(!merge("new1", 5, 1, MEMBER_ALIVE, 5));
	ck_assert_uint_eq(mt->mt_stats.ms_refused_full, 1);
	ck_assert_ptr_null(find("new1"));
	/* m3 dead first, then m9 left, then m5 dead */
	ck_assert(merge("m3", 5, 1, MEMBER_DEAD, 5));
	now += 10;
	ck_assert(merge("m9", 5, 1, MEMBER_LEFT, 5));
	now += 10;
	ck_assert(merge("m5", 5, 1, MEMBER_DEAD, 5));
	now += 10;
	ck_assert(merge("new1", 5, 1, MEMBER_ALIVE, 5));
	ck_assert_ptr_null(find("m3"));
	ck_assert_ptr_nonnull(find("m9"));
	ck_assert_ptr_nonnull(find("new1"));
	ck_assert(merge("new2", 5, 1, MEMBER_ALIVE, 5));
	ck_assert_ptr_null(find("m9"));
	ck_assert(merge("new3", 5, 1, MEMBER_ALIVE, 5));
	ck_assert_ptr_null(find("m5"));
	ck_assert_uint_eq(mt->mt_stats.ms_forgotten, 3);
	ck_assert_uint_eq(mt->mt_count, 16);
	ck_assert(!merge("new4", 5, 1, MEMBER_ALIVE, 5));
	ck_assert_uint_eq(mt->mt_stats.ms_refused_full, 2);
	/* every member is still found where it is */
	ck_assert_ptr_nonnull(find("m15"));
	ck_assert_ptr_nonnull(find("new3"));
	ck_assert_ptr_eq(find("self"), members_self(mt));
}
END_TEST

START_TEST(incarnation_from_the_future_refused)
{
	uint64_t limit = (uint64_t)wall() + SKEW_MS;
	struct member_digest d;

	ck_assert(merge("b", limit, 1, MEMBER_ALIVE, limit));
	ck_assert(!merge("c", limit + 1, 1, MEMBER_ALIVE, limit + 1));
	ck_assert(!merge("c", 5, 1, MEMBER_ALIVE, limit + 1));
	ck_assert_uint_eq(mt->mt_stats.ms_refused_future, 2);
	ck_assert_ptr_null(find("c"));
	/* nor can one push this node's incarnation past the limit */
	ck_assert(!merge("self", self_inc(), 1, MEMBER_DEAD, limit + 1));
	ck_assert_uint_eq(self_inc(), SELF_INC);
	d = line("self", limit + 1, 1, MEMBER_ALIVE, limit + 1);
	members_merge_digest_locked(mt, &d, 1, now, wall());
	ck_assert_uint_eq(self_inc(), SELF_INC);
	/* the limit moves with the wall clock */
	now += 1;
	ck_assert(merge("c", limit + 1, 1, MEMBER_ALIVE, limit + 1));
}
END_TEST

START_TEST(invalid_news_refused)
{
	struct member_news n;
	int refused = 0;

	n = news("", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	n = news("a b", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	n = news("a\"b", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	n = news("b", 5, 1, MEMBER_ALIVE, 5);
	memset(n.mn_facts.mf_name, 'x', MEMBER_NAME_MAX);	/* no NUL */
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	n = news("b", 5, 1, MEMBER_ALIVE, 5);
	n.mn_facts.mf_addr[0] = '\0';
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	n = news("b", 5, 1, MEMBER_ALIVE, 5);
	strcpy(n.mn_facts.mf_addr, "h:1\n");
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	n = news("b", 5, 1, MEMBER_ALIVE, 5);
	n.mn_facts.mf_used = n.mn_facts.mf_capacity + 1;
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	n = news("b", 5, 1, MEMBER_STATES, 5);
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	refused++;
	ck_assert_uint_eq(mt->mt_stats.ms_refused_invalid, (uint64_t)refused);
	ck_assert_uint_eq(mt->mt_count, 1);
	/* a member's facts are not spoilt by bad news of it */
	ck_assert(merge("b", 5, 1, MEMBER_ALIVE, 5));
	n = news("b", 5, 2, MEMBER_ALIVE, 5);
	n.mn_facts.mf_used = UINT64_MAX;
	ck_assert(!members_merge_locked(mt, &n, now, wall()));
	ck_assert_uint_eq(find("b")->m_facts.mf_used, 10);
}
END_TEST

/* -- what a round sends ------------------------------------------------- */

START_TEST(push_self_first_then_hot_news)
{
	struct member_news out[8];
	int seen[3] = { 0, 0, 0 };
	uint32_t r;
	size_t n, k;
	uint32_t i;

	ck_assert(merge("b", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("c", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("d", 5, 1, MEMBER_ALIVE, 5));
	r = members_retransmits(mt);
	ck_assert_uint_gt(r, 0);
	ck_assert_uint_eq(members_push_locked(mt, out, 0), 0);
	for (i = 0; i < r; i++) {
		n = members_push_locked(mt, out, 8);
		ck_assert_uint_eq(n, 4);
		ck_assert_str_eq(out[0].mn_facts.mf_name, "self");
		for (k = 1; k < n; k++)
			seen[out[k].mn_facts.mf_name[0] - 'b']++;
	}
	ck_assert_int_eq(seen[0], (int)r);
	ck_assert_int_eq(seen[1], (int)r);
	ck_assert_int_eq(seen[2], (int)r);
	/* used up: only this node's own news is left */
	n = members_push_locked(mt, out, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(out[0].mn_facts.mf_name, "self");
	ck_assert_uint_eq(out[0].mn_state, MEMBER_ALIVE);
	ck_assert_uint_eq(out[0].mn_state_inc, SELF_INC);
}
END_TEST

/* The push's scan starts where the last push stopped and goes round the
 * table once: a member is sent once a push, however the cursor moves. */
START_TEST(push_sends_a_member_once)
{
	struct member_news out[8];
	uint32_t r;
	size_t n;

	ck_assert(merge("b", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("c", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("d", 5, 1, MEMBER_ALIVE, 5));
	find("c")->m_hot = 0;
	find("d")->m_hot = 0;
	r = find("b")->m_hot;
	n = members_push_locked(mt, out, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(out[1].mn_facts.mf_name, "b");
	ck_assert_uint_eq(find("b")->m_hot, r - 1);
}
END_TEST

/* A push cut short goes on where it stopped next time. */
START_TEST(push_takes_turns)
{
	struct member_news out[2];
	char first;

	ck_assert(merge("b", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("c", 5, 1, MEMBER_ALIVE, 5));
	ck_assert_uint_eq(members_push_locked(mt, out, 1), 1);
	ck_assert_uint_eq(find("b")->m_hot, members_retransmits(mt));
	ck_assert_uint_eq(members_push_locked(mt, out, 2), 2);
	first = out[1].mn_facts.mf_name[0];
	ck_assert_uint_eq(members_push_locked(mt, out, 2), 2);
	ck_assert_int_ne(out[1].mn_facts.mf_name[0], first);
}
END_TEST

/* The table for the answer tests: b (same facts as the asker), c
 * (unknown to the asker), d dead (unknown to the asker), e suspect (the
 * asker thinks it alive), f dead (the asker thinks it alive), g (newer
 * facts than the asker's). */
static size_t
answer_setup(struct member_digest *d)
{
	ck_assert(merge("b", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("c", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("d", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("d", 5, 1, MEMBER_DEAD, 5));
	ck_assert(merge("e", 5, 1, MEMBER_SUSPECT, 5));
	ck_assert(merge("f", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("f", 5, 1, MEMBER_DEAD, 5));
	ck_assert(merge("g", 5, 4, MEMBER_ALIVE, 5));
	d[0] = line("self", SELF_INC, 1, MEMBER_ALIVE, SELF_INC);
	d[1] = line("b", 5, 1, MEMBER_ALIVE, 5);
	d[2] = line("e", 5, 1, MEMBER_ALIVE, 5);
	d[3] = line("f", 5, 1, MEMBER_ALIVE, 5);
	d[4] = line("g", 5, 2, MEMBER_ALIVE, 5);
	d[5] = line("asker", 9, 1, MEMBER_ALIVE, 9);
	return 6;
}

static bool
missing_or_newer(const char *name)
{
	return strcmp(name, "c") == 0 || strcmp(name, "g") == 0;
}

START_TEST(answer_order_and_content)
{
	struct member_digest d[8];
	struct member_news out[16];
	struct rng rng;
	size_t nd = answer_setup(d), n, k;
	int seed;

	for (seed = 0; seed < 50; seed++) {
		rng_seed(&rng, (uint64_t)seed);
		n = members_answer_locked(mt, d, nd, &all_keys, out, 16, &rng);
		ck_assert_uint_eq(n, 4);
		ck_assert(missing_or_newer(out[0].mn_facts.mf_name));
		ck_assert(missing_or_newer(out[1].mn_facts.mf_name));
		ck_assert_str_ne(out[0].mn_facts.mf_name,
		    out[1].mn_facts.mf_name);
		for (k = 2; k < 4; k++)
			ck_assert_msg(strcmp(out[k].mn_facts.mf_name, "e") == 0
			    || strcmp(out[k].mn_facts.mf_name, "f") == 0,
			    "answer[%zu] is %s", k, out[k].mn_facts.mf_name);
		ck_assert_str_ne(out[2].mn_facts.mf_name,
		    out[3].mn_facts.mf_name);
		for (k = 0; k < n; k++)
			ck_assert_str_ne(out[k].mn_facts.mf_name, "d");
	}
	/* what is sent is the table's news of them */
	rng_seed(&rng, 1);
	n = members_answer_locked(mt, d, nd, &all_keys, out, 16, &rng);
	for (k = 0; k < n; k++)
		if (strcmp(out[k].mn_facts.mf_name, "g") == 0)
			ck_assert_uint_eq(out[k].mn_facts.mf_version, 4);
		else if (strcmp(out[k].mn_facts.mf_name, "f") == 0)
			ck_assert_uint_eq(out[k].mn_state, MEMBER_DEAD);
}
END_TEST

START_TEST(answer_respects_max)
{
	struct member_digest d[8];
	struct member_news out[16];
	struct rng rng;
	size_t nd = answer_setup(d);
	int seed, first_c = 0;

	rng_seed(&rng, 3);
	ck_assert_uint_eq(members_answer_locked(mt, d, nd, &all_keys, out, 0, &rng), 0);
	for (seed = 0; seed < 200; seed++) {
		rng_seed(&rng, (uint64_t)seed);
		ck_assert_uint_eq(members_answer_locked(mt, d, nd, &all_keys, out, 1,
		    &rng), 1);
		ck_assert(missing_or_newer(out[0].mn_facts.mf_name));
		first_c += out[0].mn_facts.mf_name[0] == 'c';
		ck_assert_uint_eq(members_answer_locked(mt, d, nd, &all_keys, out, 3,
		    &rng), 3);
	}
	/* the start is a random slot: c (slot 2) comes first from 12 of
	 * the 16, g (slot 6) from the other 4 */
	ck_assert_int_gt(first_c, 120);
	ck_assert_int_lt(first_c, 180);
}
END_TEST

/* An empty digest (a node that knows nobody): every member alive or
 * suspect, this node too; no dead one. */
START_TEST(answer_to_an_empty_digest)
{
	struct member_digest d[8];
	struct member_news out[16];
	struct rng rng;
	size_t n, k;

	answer_setup(d);
	rng_seed(&rng, 5);
	n = members_answer_locked(mt, NULL, 0, &all_keys, out, 16, &rng);
	ck_assert_uint_eq(n, 5);	/* self, b, c, e, g */
	for (k = 0; k < n; k++)
		ck_assert_uint_lt(out[k].mn_state, MEMBER_DEAD);
}
END_TEST

/* -- whom a round talks to ---------------------------------------------- */

static void
targets_table(unsigned live, unsigned dead, unsigned left)
{
	char name[16];
	unsigned i;

	for (i = 0; i < live + dead + left; i++) {
		snprintf(name, sizeof(name), "m%u", i);
		merge(name, 5, 1, MEMBER_ALIVE, 5);
		if (i >= live)
			merge(name, 5, 1, i < live + dead ? MEMBER_DEAD :
			    MEMBER_LEFT, 5);
		ck_assert_ptr_nonnull(find(name));
	}
	/* one live member is suspect: still a target */
	if (live > 0)
		merge("m0", 5, 1, MEMBER_SUSPECT, 5);
}

START_TEST(targets_distinct_live_and_sometimes_dead)
{
	enum { DRAWS = 20000 };
	uint32_t out[8], dead_hits[16] = { 0 };
	unsigned ndead_rounds = 0;
	struct rng rng;
	size_t n, j, k;
	int i;

	targets_table(10, 3, 2);	/* 10 live, 3 dead, 2 left */
	rng_seed(&rng, 42);
	for (i = 0; i < DRAWS; i++) {
		n = members_targets_locked(mt, FANOUT, &rng, out, 8);
		if (n < 3 || n > 4)
			ck_abort_msg("draw %d: %zu targets", i, n);
		for (j = 0; j < n; j++) {
			struct member *m = members_at(mt, out[j]);

			if (out[j] == mt->mt_self || !m->m_in_use)
				ck_abort_msg("draw %d: target %u", i, out[j]);
			if ((j < 3 && m->m_state > MEMBER_SUSPECT) ||
			    (j == 3 && m->m_state != MEMBER_DEAD))
				ck_abort_msg("draw %d: target %zu is %s", i, j,
				    member_state_name(m->m_state));
			for (k = 0; k < j; k++)
				if (out[k] == out[j])
					ck_abort_msg("draw %d: twice", i);
		}
		if (n == 4) {
			ndead_rounds++;
			dead_hits[out[3]]++;
		}
	}
	/* dead / (live + 1) = 3 / 11 of the rounds, a third each */
	printf("members: a dead target in %u of %d rounds (expected %d)\n",
	    ndead_rounds, DRAWS, DRAWS * 3 / 11);
	ck_assert_uint_gt(ndead_rounds, DRAWS * 3 / 11 * 85 / 100);
	ck_assert_uint_lt(ndead_rounds, DRAWS * 3 / 11 * 115 / 100);
	for (k = 0; k < 16; k++) {
		struct member *m = members_at(mt, (uint32_t)k);

		if (m->m_in_use && m->m_state == MEMBER_DEAD) {
			ck_assert_uint_gt(dead_hits[k], ndead_rounds / 3 * 3 / 4);
			ck_assert_uint_lt(dead_hits[k], ndead_rounds / 3 * 5 / 4);
		} else {
			ck_assert_uint_eq(dead_hits[k], 0);
		}
	}
}
END_TEST

START_TEST(targets_bounded)
{
	uint32_t out[8], live_hits[16] = { 0 };
	struct rng rng;
	size_t n;
	int i;

	rng_seed(&rng, 7);
	ck_assert_uint_eq(members_targets_locked(mt, FANOUT, &rng, out, 8), 0);
	targets_table(2, 0, 0);
	n = members_targets_locked(mt, FANOUT, &rng, out, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_ne(out[0], out[1]);
	targets_table(10, 0, 0);
	ck_assert_uint_eq(members_targets_locked(mt, FANOUT, &rng, out, 2), 2);
	ck_assert_uint_eq(members_targets_locked(mt, FANOUT, &rng, out, 0), 0);
	/* every live member is chosen about as often */
	for (i = 0; i < 10000; i++) {
		n = members_targets_locked(mt, FANOUT, &rng, out, 8);
		ck_assert_uint_eq(n, 3);
		live_hits[out[0]]++;
		live_hits[out[1]]++;
		live_hits[out[2]]++;
	}
	for (i = 1; i <= 10; i++) {
		ck_assert_uint_gt(live_hits[i], 3000 * 3 / 4);
		ck_assert_uint_lt(live_hits[i], 3000 * 5 / 4);
	}
	ck_assert_uint_eq(live_hits[mt->mt_self], 0);
}
END_TEST

START_TEST(want_seed_when_alone)
{
	struct rng rng;
	int i, yes = 0;

	rng_seed(&rng, 9);
	for (i = 0; i < 1000; i++)
		ck_assert(members_want_seed_locked(mt, &rng));
	/* dead and left members are no company */
	targets_table(0, 2, 2);
	for (i = 0; i < 1000; i++)
		ck_assert(members_want_seed_locked(mt, &rng));
	/* three live: one round in four */
	ck_assert(merge("x", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("y", 5, 1, MEMBER_ALIVE, 5));
	ck_assert(merge("z", 5, 1, MEMBER_SUSPECT, 5));
	for (i = 0; i < 20000; i++)
		yes += members_want_seed_locked(mt, &rng);
	ck_assert_int_gt(yes, 5000 * 85 / 100);
	ck_assert_int_lt(yes, 5000 * 115 / 100);
}
END_TEST

/* -- this node's own facts ---------------------------------------------- */

START_TEST(set_use_moves_the_version)
{
	struct member *self = members_self(mt);

	members_set_use_locked(mt, 1000, 10);		/* as it was */
	ck_assert_uint_eq(self->m_facts.mf_version, 1);
	members_set_use_locked(mt, 2000, 30);
	ck_assert_uint_eq(self->m_facts.mf_version, 2);
	ck_assert_uint_eq(self->m_facts.mf_capacity, 2000);
	ck_assert_uint_eq(self->m_facts.mf_used, 30);
	members_set_use_locked(mt, 100, 300);		/* clamped */
	ck_assert_uint_eq(self->m_facts.mf_used, 100);
	ck_assert_uint_eq(self->m_facts.mf_version, 3);
}
END_TEST

/* The catalogue's (inc, seq): a change is a new version of this node's
 * facts, pushed as news, carried to the others; the same pair is
 * nothing; a refutation raises the incarnation, not the catalogue's. */
START_TEST(cat_seq_is_news)
{
	struct members *other = table_of("other", 16);
	struct member *self = members_self(mt), *m;
	struct member_news out[4];
	uint64_t mtv = mt->mt_version;

	ck_assert_uint_eq(members_push_locked(mt, out, 4), 1);
	ck_assert(members_merge_locked(other, &out[0], now, wall()));
	members_set_cat_seq_locked(mt, SELF_INC, 5);
	ck_assert_uint_eq(self->m_facts.mf_version, 2);
	ck_assert_uint_eq(self->m_facts.mf_cat_inc, SELF_INC);
	ck_assert_uint_eq(self->m_facts.mf_cat_seq, 5);
	ck_assert_uint_eq(self->m_hot, members_retransmits(mt));
	/* Not a change of the set: no new peers to look up. */
	ck_assert_uint_eq(mt->mt_version, mtv);
	members_set_cat_seq_locked(mt, SELF_INC, 5);
	ck_assert_uint_eq(self->m_facts.mf_version, 2);
	ck_assert_uint_eq(members_push_locked(mt, out, 4), 1);
	ck_assert_uint_eq(out[0].mn_facts.mf_cat_seq, 5);
	ck_assert(members_merge_locked(other, &out[0], now, wall()));
	m = members_find_locked(other, "self");
	ck_assert_uint_eq(m->m_facts.mf_cat_inc, SELF_INC);
	ck_assert_uint_eq(m->m_facts.mf_cat_seq, 5);
	/* Older facts do not take it back. */
	out[0].mn_facts.mf_version = 1;
	out[0].mn_facts.mf_cat_seq = 1;
	ck_assert(!members_merge_locked(other, &out[0], now, wall()));
	ck_assert_uint_eq(m->m_facts.mf_cat_seq, 5);
	/* A doubt refuted: a new incarnation, the same catalogue. */
	(void)merge("self", SELF_INC, 2, MEMBER_SUSPECT, SELF_INC);
	ck_assert_uint_eq(self_inc(), SELF_INC + 1);
	ck_assert_uint_eq(self->m_facts.mf_cat_inc, SELF_INC);
	ck_assert_uint_eq(self->m_facts.mf_cat_seq, 5);
	free(other);
}
END_TEST

/* -- the lock ----------------------------------------------------------- */

START_TEST(lock_repairs_after_a_holder_died)
{
	size_t size = members_size(16);
	struct members *t = shm_anon(size);
	struct member_facts f;
	struct member_news n;
	uint32_t *ix;
	uint64_t v;
	pid_t pid;
	int status;

	ck_assert_ptr_nonnull(t);
	facts("self", SELF_INC, 1, &f);
	ck_assert_int_eq(members_init(t, 16, &f, &params, now), 0);
	free(mt);
	mt = NULL;
	n = news("b", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(members_merge_locked(t, &n, now, wall()));
	n = news("c", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(members_merge_locked(t, &n, now, wall()));
	n = news("d", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(members_merge_locked(t, &n, now, wall()));
	n = news("e", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(members_merge_locked(t, &n, now, wall()));
	v = t->mt_version;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Dies halfway: c's and e's slots half-written (a name
		 * cut, an address without its end), d missing from the
		 * index (a rebuild cut short), the count wrong; the lock
		 * still held. */
		if (members_lock(t) != 0)
			_exit(1);
		members_find_locked(t, "c")->m_facts.mf_name[0] = '\0';
		memset(members_find_locked(t, "e")->m_facts.mf_addr, 'x',
		    MEMBER_ADDR_MAX);
		ix = members_index(t);
		memset(ix, 0, (t->mt_index_mask + 1) * sizeof(*ix));
		t->mt_count = 99;
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	ck_assert_int_eq(members_lock(t), 0);
	ck_assert_uint_eq(t->mt_count, 3);
	ck_assert_ptr_eq(members_find_locked(t, "self"), members_self(t));
	ck_assert_ptr_nonnull(members_find_locked(t, "b"));
	ck_assert_ptr_nonnull(members_find_locked(t, "d"));
	ck_assert_ptr_null(members_find_locked(t, "c"));
	ck_assert_ptr_null(members_find_locked(t, "e"));
	ck_assert_uint_gt(t->mt_version, v);
	/* c comes back with the next news of it */
	n = news("c", 5, 1, MEMBER_ALIVE, 5);
	ck_assert(members_merge_locked(t, &n, now, wall()));
	ck_assert_uint_eq(t->mt_count, 4);
	members_unlock(t);
	/* and the lock is an ordinary one again */
	ck_assert_int_eq(members_lock(t), 0);
	members_unlock(t);
	shm_free(t, size);
}
END_TEST

/* A TCase of s whose tests each get a fresh table (setup()). */
static TCase *
tcase_of(const char *name)
{
	return check_main_tcase(name, setup, teardown, NULL, 0);
}

int
main(void)
{
	TCase *tc;

	tc = tcase_of("table");
	tcase_add_test(tc, init_holds_self);
	tcase_add_test(tc, init_refuses);
	tcase_add_test(tc, incarnation_outruns_the_last);
	tcase_add_test(tc, lock_repairs_after_a_holder_died);
	tcase_add_test(tc, set_use_moves_the_version);
	tcase_add_test(tc, cat_seq_is_news);

	tc = tcase_of("merge");
	tcase_add_test(tc, newer_facts_taken_older_ignored);
	tcase_add_test(tc, heartbeat_is_not_hot_an_address_is);
	tcase_add_test(tc, opinion_order);
	tcase_add_test(tc, own_left_is_taken);
	tcase_add_test(tc, a_node_that_leaves_is_left_to_others);
	tcase_add_test(tc, no_ghosts);
	tcase_add_test(tc, new_incarnation_ends_suspicion);
	tcase_add_test(tc, suspicion_of_self_is_refuted);
	tcase_add_test(tc, older_suspicion_of_self_ignored);
	tcase_add_test(tc, earlier_life_outrun);
	tcase_add_test(tc, a_node_that_left_does_not_refute);
	tcase_add_test(tc, digest_opinions_merged);
	tcase_add_test(tc, digest_doubting_self_refutes);
	tcase_add_test(tc, word_of_a_new_life_is_news);
	tcase_add_test(tc, digest_of_the_table);
	tcase_add_test(tc, digests_sweep_the_table_in_slices);
	tcase_add_test(tc, full_table_evicts_the_longest_dead);
	tcase_add_test(tc, incarnation_from_the_future_refused);
	tcase_add_test(tc, invalid_news_refused);

	tc = tcase_of("tick");
	tcase_add_test(tc, quiet_member_suspected_then_dead_then_forgotten);
	tcase_add_test(tc, news_keeps_a_member_alive);
	tcase_add_test(tc, auto_timeouts_scale_with_the_table);
	tcase_add_test(tc, self_heartbeat_timing);
	tcase_add_test(tc, events_keep_the_last_changes_newest_first);

	tc = tcase_of("round");
	tcase_add_test(tc, push_self_first_then_hot_news);
	tcase_add_test(tc, push_sends_a_member_once);
	tcase_add_test(tc, push_takes_turns);
	tcase_add_test(tc, answer_order_and_content);
	tcase_add_test(tc, answer_respects_max);
	tcase_add_test(tc, answer_to_an_empty_digest);
	tcase_add_test(tc, targets_distinct_live_and_sometimes_dead);
	tcase_add_test(tc, targets_bounded);
	tcase_add_test(tc, want_seed_when_alone);

	return check_main_run();
}
