/*
 * check_reserve.c - the rules of name reservations (src/cluster/reserve.c):
 * of two concurrent uploads of one name exactly one wins, whatever the
 * order their requests reach the nodes; a round that finished is never
 * overtaken; retries replace; releases and expiry free the name; a full
 * window refuses rather than forgets; a dead worker's reservation goes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "cluster/reserve.h"

#define NOW 1000000

static struct reserve_table *
table(void)
{
	struct reserve_table *rt = calloc(1, sizeof(*rt));

	ck_assert_ptr_nonnull(rt);
	ck_assert_int_eq(reserve_init(rt), 0);
	return rt;
}

/* One request of a round, under the lock, as the route does it. */
static enum reserve_verdict
ask(struct reserve_table *rt, uint64_t h, uint64_t stamp, const char *node)
{
	enum reserve_verdict v;

	ck_assert_int_eq(reserve_lock(rt), 0);
	v = reserve_request_locked(rt, h, stamp, node, NOW);
	reserve_unlock(rt);
	return v;
}

/*
 * Two uploads of one name: A (stamp 10) at node "a", B (stamp 20) at
 * node "b", with a third node "c". Every interleaving of the four
 * requests (a->b, a->c, b->a, b->c) after both own reservations began:
 * A wins, B loses. `order` is a permutation of 0..3.
 */
static void
race(const int order[4])
{
	struct reserve_table *ta = table(), *tb = table(), *tc = table();
	uint64_t h = reserve_hash("x", 1);
	bool a_refused = false, b_refused = false;
	int i;

	ck_assert_int_eq(reserve_begin_locked(ta, h, 10, "a", getpid(), NOW),
	    RESERVE_GRANTED);
	ck_assert_int_eq(reserve_begin_locked(tb, h, 20, "b", getpid(), NOW),
	    RESERVE_GRANTED);
	for (i = 0; i < 4; i++) {
		switch (order[i]) {
		case 0:
			a_refused |= ask(tb, h, 10, "a") != RESERVE_GRANTED;
			break;
		case 1:
			a_refused |= ask(tc, h, 10, "a") != RESERVE_GRANTED;
			break;
		case 2:
			b_refused |= ask(ta, h, 20, "b") != RESERVE_GRANTED;
			break;
		case 3:
			b_refused |= ask(tc, h, 20, "b") != RESERVE_GRANTED;
			break;
		}
	}
	ck_assert(!a_refused);
	ck_assert(reserve_commit_locked(ta, h, 10, "a"));
	ck_assert(b_refused || !reserve_commit_locked(tb, h, 20, "b"));
	free(ta);
	free(tb);
	free(tc);
}

START_TEST(the_first_stamp_wins_in_every_order)
{
	int order[4] = { 0, 1, 2, 3 }, n = 0;
	int a, b, c, d;

	for (a = 0; a < 4; a++)
		for (b = 0; b < 4; b++)
			for (c = 0; c < 4; c++)
				for (d = 0; d < 4; d++) {
					if (a == b || a == c || a == d ||
					    b == c || b == d || c == d)
						continue;
					order[0] = a;
					order[1] = b;
					order[2] = c;
					order[3] = d;
					race(order);
					n++;
				}
	ck_assert_int_eq(n, 24);
}
END_TEST

/* B's round finished before A's requests arrived: A loses, at B. */
START_TEST(a_finished_round_is_not_overtaken)
{
	struct reserve_table *ta = table(), *tb = table();
	uint64_t h = reserve_hash("x", 1);

	ck_assert_int_eq(reserve_begin_locked(tb, h, 20, "b", getpid(), NOW),
	    RESERVE_GRANTED);
	ck_assert_int_eq(ask(ta, h, 20, "b"), RESERVE_GRANTED);
	ck_assert(reserve_commit_locked(tb, h, 20, "b"));
	/* A began earlier by its clock, but asks late. */
	ck_assert_int_eq(reserve_begin_locked(ta, h, 10, "a", getpid(), NOW),
	    RESERVE_GRANTED);
	ck_assert_int_eq(ask(tb, h, 10, "a"), RESERVE_BUSY_HERE);
	/* Once B's upload is over (stored: the catalogue answers from
	 * then on), the name is free in this table again. */
	reserve_end_locked(tb, h, 20, "b");
	ck_assert_int_eq(ask(tb, h, 10, "a"), RESERVE_GRANTED);
	free(ta);
	free(tb);
}
END_TEST

START_TEST(retries_replace_and_releases_free)
{
	struct reserve_table *t = table();
	uint64_t h = reserve_hash("y", 1);

	ck_assert_int_eq(ask(t, h, 10, "a"), RESERVE_GRANTED);
	ck_assert_int_eq(ask(t, h, 20, "b"), RESERVE_EARLIER);
	/* a's client retries with a later stamp: not refused by itself. */
	ck_assert_int_eq(ask(t, h, 30, "a"), RESERVE_GRANTED);
	ck_assert_int_eq(ask(t, h, 20, "b"), RESERVE_GRANTED);
	/* b's reservation (20) is now the smallest: a (30) is refused... */
	ck_assert_int_eq(ask(t, h, 40, "c"), RESERVE_EARLIER);
	/* ...until b releases it; a release of another stamp does nothing. */
	reserve_release_locked(t, h, 21, "b");
	ck_assert_int_eq(ask(t, h, 40, "c"), RESERVE_EARLIER);
	reserve_release_locked(t, h, 20, "b");
	reserve_release_locked(t, h, 30, "a");
	ck_assert_int_eq(ask(t, h, 40, "c"), RESERVE_GRANTED);
	ck_assert_uint_eq(t->rt_granted, 4);
	ck_assert_uint_eq(t->rt_refused, 3);
	free(t);
}
END_TEST

START_TEST(reservations_expire)
{
	struct reserve_table *t = table();
	uint64_t h = reserve_hash("z", 1);

	ck_assert_int_eq(reserve_request_locked(t, h, 10, "a", NOW),
	    RESERVE_GRANTED);
	ck_assert_int_eq(reserve_request_locked(t, h, 20, "b",
	    NOW + RESERVE_TTL_MS - 1), RESERVE_EARLIER);
	ck_assert_int_eq(reserve_request_locked(t, h, 20, "b",
	    NOW + RESERVE_TTL_MS), RESERVE_GRANTED);
	free(t);
}
END_TEST

/* Names that share a window do not see each other; a window full of
 * live reservations refuses instead of forgetting one. */
START_TEST(a_full_window_refuses)
{
	struct reserve_table *t = table();
	char node[16];
	uint64_t h = 77;
	int i;

	for (i = 0; i < 32; i++) {
		snprintf(node, sizeof(node), "n%d", i);
		/* Different names (hashes) landing in the same window. */
		ck_assert_int_eq(reserve_request_locked(t, h + (uint64_t)i *
		    RESERVE_SLOTS, 5, node, NOW), RESERVE_GRANTED);
	}
	ck_assert_int_eq(reserve_request_locked(t, h + 32 * RESERVE_SLOTS, 9,
	    "late", NOW), RESERVE_FULL);
	ck_assert_int_eq(reserve_request_locked(t, h + 1, 9, "other", NOW),
	    RESERVE_GRANTED);
	free(t);
}
END_TEST

START_TEST(a_dead_workers_reservation_goes)
{
	struct reserve_table *t = table();
	uint64_t h = reserve_hash("w", 1);
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(reserve_begin_locked(t, h, 10, "self", pid, NOW),
	    RESERVE_GRANTED);
	ck_assert(reserve_commit_locked(t, h, 10, "self"));
	/* Its worker is gone: the name is not held here any more. */
	ck_assert_int_eq(ask(t, h, 20, "b"), RESERVE_GRANTED);
	/* A live worker's committed round holds, past the TTL too. */
	ck_assert_int_eq(reserve_begin_locked(t, h + 1, 10, "self", getpid(),
	    NOW), RESERVE_GRANTED);
	ck_assert(reserve_commit_locked(t, h + 1, 10, "self"));
	ck_assert_int_eq(reserve_request_locked(t, h + 1, 5, "b",
	    NOW + 10 * RESERVE_TTL_MS), RESERVE_BUSY_HERE);
	free(t);
}
END_TEST

int
main(void)
{
	check_main_tcase("reserve", NULL, NULL, CHECK_MAIN_TESTS(
	    the_first_stamp_wins_in_every_order,
	    a_finished_round_is_not_overtaken,
	    retries_replace_and_releases_free,
	    reservations_expire,
	    a_full_window_refuses,
	    a_dead_workers_reservation_goes));
	return check_main_run();
}
