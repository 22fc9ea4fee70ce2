/*
 * check_peer_set.c - unit tests for src/peer/peer_set.c, a worker's live
 * view of the shared peer table: syncing with the table as it changes,
 * the order of the set, which peers keep their idle connections, and
 * peers that leave while a connection still points at them (freed with
 * their last one: run under ASan to see a use after free). Connections
 * are real ones, to fake peers on loopback (fake_peer.h) driven by a real
 * loop. Includes the .c file; links the rest.
 * Runs in Check's fork mode: a crash or a hang is a failure.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer/peer_set.c"
#include "check_main.h"
#include "peer_fixture.h"
#include "exchange.h"

static int64_t now_ms = 1;	/* the table's clock for retirements */

static struct peer_spec
spec(unsigned port, bool save, int64_t ttl_ms)
{
	struct peer_spec s = peer_fixture_spec(port);

	s.ps_save = save;
	s.ps_ttl_ms = ttl_ms;
	return s;
}

static void
set_table(const struct peer_spec *s, size_t n)
{
	ck_assert_int_eq(peer_table_replace(table, PEER_SOURCE_CONFIG, s, n,
	    now_ms++), 0);
}

/* ps: a worker's view of a table of s[0..n). */
static void
make_set(const struct peer_spec *s, size_t n)
{
	set_table(s, n);
	ps = peer_set_create(loop, table, &limits, 2000);
	ck_assert_ptr_nonnull(ps);
}

/* The one peer of a set of 127.0.0.1:port. */
static struct peer *
only_peer(unsigned port)
{
	struct peer_spec s = spec(port, false, 0);

	make_set(&s, 1);
	return peer_set_first(ps);
}

/* The peer of the set named 127.0.0.1:port, or NULL. */
static struct peer *
find(unsigned port)
{
	char name[PEER_NAME_MAX];
	struct peer *p;

	snprintf(name, sizeof(name), "127.0.0.1:%u", port);
	for (p = peer_set_first(ps); p != NULL; p = peer_set_next(ps, p))
		if (strcmp(p->p_name, name) == 0)
			return p;
	return NULL;
}

/* The set's order is the table's: compares with a fresh read. */
static void
assert_table_order(void)
{
	struct peer_view v[8];
	struct peer *p;
	uint64_t version;
	size_t n, i = 0;

	n = peer_table_read(table, v, 8, &version);
	ck_assert_uint_eq(peer_set_count(ps), n);
	for (p = peer_set_first(ps); p != NULL; p = peer_set_next(ps, p)) {
		ck_assert_uint_lt(i, n);
		ck_assert_str_eq(p->p_name, v[i].pv_spec.ps_name);
		ck_assert_uint_eq(p->p_id, v[i].pv_id);
		ck_assert_uint_eq(p->p_seq, v[i].pv_seq);
		ck_assert_ptr_eq(p->p_entry, peer_table_entry(table,
		    v[i].pv_slot));
		ck_assert_ptr_eq(p->p_set, ps);
		ck_assert(!p->p_gone);
		i++;
	}
	ck_assert_uint_eq(i, n);
}

/* A GET of p, started. */
static void
ex_start(struct ex *e, struct peer *p)
{
	ex_request(e, p, GET_A, 0, 2000);
}

/* A whole GET of p, ended cleanly. */
static void
ex_ok(struct peer *p)
{
	struct ex e = { 0 };

	ex_run(&e, p, GET_A, 0, 2000);
	ck_assert_int_eq(e.fails, 0);
	ck_assert_int_eq(e.dones, 1);
	ex_free(&e);
}

/* ------------------------------------------------------------------ */

START_TEST(empty_table)
{
	ps = peer_set_create(loop, table, &limits, 2000);
	ck_assert_ptr_nonnull(ps);
	ck_assert_uint_eq(peer_set_count(ps), 0);
	ck_assert(!peer_set_any_save(ps));
	ck_assert_ptr_null(peer_set_first(ps));
	ck_assert_uint_eq(ps->ps_version, peer_table_version(table));
	ck_assert_ptr_eq(ps->ps_loop, loop);
	ck_assert_int_eq(ps->ps_timeout_ms, 2000);
}
END_TEST

START_TEST(peers_in_table_order)
{
	struct peer_spec s[4];
	struct peer *a, *b, *c;

	s[0] = spec(1, false, 0);
	s[1] = spec(2, true, 5000);
	s[2] = spec(3, false, 0);
	make_set(s, 3);
	ck_assert_uint_eq(peer_set_count(ps), 3);
	ck_assert(peer_set_any_save(ps));
	assert_table_order();
	a = find(1);
	b = find(2);
	c = find(3);
	ck_assert(a && b && c);
	ck_assert(!a->p_save);
	ck_assert(b->p_save);
	ck_assert_int_eq(b->p_ttl_ms, 5000);
	ck_assert_int_eq(b->p_addrlen, s[1].ps_addrlen);
	ck_assert(memcmp(&b->p_addr, &s[1].ps_addr, b->p_addrlen) == 0);

	/* Nothing moved: no reading of the table (which would put back
	 * what is scribbled here). */
	ps->ps_any_save = false;
	peer_set_sync(ps);
	ck_assert(!ps->ps_any_save);
	ps->ps_any_save = true;

	/* Without 2 (the only one that saves), with 4: count and save
	 * follow without an explicit sync. */
	s[1] = spec(4, false, 0);
	set_table(s, 3);
	ck_assert_uint_eq(peer_set_count(ps), 3);
	ck_assert(!peer_set_any_save(ps));
	ck_assert_ptr_eq(find(1), a);
	ck_assert_ptr_eq(find(3), c);
	ck_assert_ptr_null(find(2));
	assert_table_order();

	/* 2 comes back into its retired slot: between 1 and 3 in the
	 * table, and so in the set. */
	s[3] = spec(2, true, 0);
	set_table(s, 4);
	ck_assert(peer_set_any_save(ps));
	assert_table_order();
	ck_assert_ptr_eq(peer_set_next(ps, find(1)), find(2));
	ck_assert_ptr_eq(peer_set_next(ps, find(2)), find(3));

	/* Every one gone. */
	set_table(s, 0);
	ck_assert_uint_eq(peer_set_count(ps), 0);
	ck_assert_ptr_null(peer_set_first(ps));
	ck_assert(!peer_set_any_save(ps));
}
END_TEST

/* A peer keeps its idle connections across changes of others, and of
 * its own settings; a new address loses them. */
START_TEST(idle_connections_across_changes)
{
	struct fake_peer fa = { 0 }, fb = { 0 }, fc = { 0 };
	struct peer_spec s[3];
	struct peer *a, *b;

	peer_fixture_fake(&fa, OK2, 0, 0);
	peer_fixture_fake(&fb, OK2, 0, 0);
	peer_fixture_fake(&fc, OK2, 0, 0);
	s[0] = spec(fa.fp_port, false, 0);
	s[1] = spec(fb.fp_port, false, 0);
	s[2] = spec(1, false, 0);
	make_set(s, 3);
	a = find(fa.fp_port);
	b = find(fb.fp_port);
	ex_ok(a);
	ex_ok(b);
	ck_assert_uint_eq(a->p_nidle, 1);
	ck_assert_uint_eq(b->p_nidle, 1);

	/* Another peer leaves, b's ttl changes: nothing is lost. */
	s[1].ps_ttl_ms = 60000;
	set_table(s, 2);
	ck_assert_uint_eq(peer_set_count(ps), 2);
	ck_assert_ptr_eq(find(fa.fp_port), a);
	ck_assert_ptr_eq(find(fb.fp_port), b);
	ck_assert_int_eq(b->p_ttl_ms, 60000);
	ck_assert_uint_eq(a->p_nidle, 1);
	ck_assert_uint_eq(b->p_nidle, 1);

	/* b moves to fc's address: its idle connection is closed at once
	 * (fb sees it go), a's stays. */
	s[1] = spec(fc.fp_port, false, 60000);
	snprintf(s[1].ps_name, sizeof(s[1].ps_name), "127.0.0.1:%u",
	    fb.fp_port);
	set_table(s, 2);
	ck_assert_uint_eq(peer_set_count(ps), 2);
	ck_assert_ptr_eq(find(fb.fp_port), b);
	ck_assert_uint_eq(b->p_nidle, 0);
	ck_assert_uint_eq(a->p_nidle, 1);
	RUN_UNTIL(fake_eofs(&fb) == 1, 2000);
	ck_assert_uint_eq(fake_eofs(&fb), 1);
	ck_assert_uint_eq(fake_eofs(&fa), 0);

	/* b's next request goes to the new address; a's reuses. */
	ex_ok(b);
	ex_ok(a);
	ck_assert_uint_eq(fake_accepts(&fc), 1);
	ck_assert_uint_eq(fake_accepts(&fb), 1);
	ck_assert_uint_eq(fake_accepts(&fa), 1);
	ck_assert_uint_eq(fake_nreqs(&fa), 2);
	fake_stop(&fa);
	fake_stop(&fb);
	fake_stop(&fc);
}
END_TEST

/* A connection running when its peer moves goes to the old address: it
 * must not go back to the pool, where the next request would take it. */
START_TEST(connection_to_an_old_address_not_pooled)
{
	struct fake_peer fa = { 0 }, fb = { 0 };
	struct peer_spec s;
	struct ex e = { 0 };
	struct peer *a;

	peer_fixture_fake(&fa, OK2, 300, 0);
	peer_fixture_fake(&fb, OK2, 0, 0);
	a = only_peer(fa.fp_port);
	ex_start(&e, a);
	RUN_UNTIL(fake_nreqs(&fa) == 1, 2000);

	s = spec(fb.fp_port, false, 0);
	snprintf(s.ps_name, sizeof(s.ps_name), "127.0.0.1:%u", fa.fp_port);
	set_table(&s, 1);
	ck_assert_uint_eq(peer_set_count(ps), 1);
	ck_assert_ptr_eq(peer_set_first(ps), a);

	RUN_UNTIL(ex_over(&e), 3000);
	ck_assert_int_eq(e.dones, 1);
	ck_assert_uint_eq(a->p_nidle, 0);
	RUN_UNTIL(fake_eofs(&fa) == 1, 2000);
	ck_assert_uint_eq(fake_eofs(&fa), 1);
	ex_ok(a);
	ck_assert_uint_eq(fake_accepts(&fb), 1);
	ck_assert_uint_eq(fake_nreqs(&fa), 1);
	fake_stop(&fa);
	fake_stop(&fb);
	ex_free(&e);
}
END_TEST

/* A peer that leaves is out of the set at once; its idle connections
 * are closed, and a connection in flight keeps it alive until it ends. */
START_TEST(removed_peer_lives_until_its_connection_ends)
{
	struct fake_peer fa = { 0 }, fb = { 0 };
	struct peer_spec s[2];
	struct ex e = { 0 };
	struct peer *a, *b;
	char name[PEER_NAME_MAX];

	peer_fixture_fake(&fa, OK2, 150, 0);
	peer_fixture_fake(&fb, OK2, 0, 0);
	s[0] = spec(fa.fp_port, false, 0);
	s[1] = spec(fb.fp_port, false, 0);
	make_set(s, 2);
	a = find(fa.fp_port);
	b = find(fb.fp_port);
	ex_ok(b);
	ck_assert_uint_eq(b->p_nidle, 1);
	ex_start(&e, a);
	snprintf(name, sizeof(name), "%s", a->p_name);

	/* Both leave: b (idle only) is closed and freed, a lingers. */
	set_table(s, 0);
	ck_assert_uint_eq(peer_set_count(ps), 0);
	ck_assert_ptr_null(peer_set_first(ps));
	ck_assert(a->p_gone);
	ck_assert_uint_eq(a->p_refs, 1);
	RUN_UNTIL(fake_eofs(&fb) == 1, 2000);
	ck_assert_uint_eq(fake_eofs(&fb), 1);

	RUN_UNTIL(ex_over(&e), 3000);
	ck_assert_int_eq(e.dones, 1);
	ck_assert(e.gone_at_done);
	ck_assert_str_eq(e.name_at_done, name);
	/* Not pooled: closed, and a freed with it (ASan and LSan watch). */
	RUN_UNTIL(list_empty(&ps->ps_conns), 1000);
	ck_assert(list_empty(&ps->ps_conns));
	RUN_UNTIL(fake_eofs(&fa) == 1, 2000);
	ck_assert_uint_eq(fake_eofs(&fa), 1);
	fake_stop(&fa);
	fake_stop(&fb);
	ex_free(&e);
}
END_TEST

/* Any holder (a fan-out's leg) keeps a peer that left. */
START_TEST(hold_keeps_a_peer_that_left)
{
	struct peer_spec s = spec(1, false, 0);
	/* volatile: the compiler cannot know the first release keeps it */
	struct peer *volatile p;

	make_set(&s, 1);
	p = peer_set_first(ps);
	peer_hold(p);
	peer_hold(p);
	set_table(&s, 0);
	ck_assert_uint_eq(peer_set_count(ps), 0);
	ck_assert(p->p_gone);
	peer_release(p);
	ck_assert_uint_eq(p->p_refs, 1);
	ck_assert_str_eq(p->p_name, "127.0.0.1:1");
	peer_release(p);	/* freed here: LSan says if not */

	/* The same name back: a new peer in the set. */
	set_table(&s, 1);
	ck_assert_uint_eq(peer_set_count(ps), 1);
	ck_assert(!peer_set_first(ps)->p_gone);
	ck_assert_uint_eq(peer_set_first(ps)->p_refs, 0);
}
END_TEST

/* At exit every connection goes, whatever its state, with no callback,
 * and every peer, in the set or not. */
START_TEST(free_with_connections_in_flight)
{
	struct fake_peer fa = { 0 };
	struct peer_spec s;
	struct ex e1 = { 0 }, e2 = { 0 }, e3 = { 0 };
	struct peer *a;

	peer_fixture_fake(&fa, OK2, 1000, 0);
	a = only_peer(fa.fp_port);
	ex_start(&e1, a);
	ex_start(&e2, a);
	RUN_UNTIL(fake_nreqs(&fa) == 2, 2000);
	ck_assert_uint_eq(fake_nreqs(&fa), 2);
	set_table(&s, 0);		/* a left, with two connections */
	ck_assert_uint_eq(peer_set_count(ps), 0);
	set_table(&s, 1);		/* back: another struct peer */
	ck_assert_uint_eq(peer_set_count(ps), 1);
	ck_assert_ptr_ne(peer_set_first(ps), a);
	ex_start(&e3, peer_set_first(ps));
	peer_set_free(ps);
	ps = NULL;
	ck_assert_int_eq(e1.heads + e1.dones + e1.fails, 0);
	ck_assert_int_eq(e2.heads + e2.dones + e2.fails, 0);
	ck_assert_int_eq(e3.heads + e3.dones + e3.fails, 0);
	ck_assert_uint_eq(loop_count(loop), 0);
	fake_stop(&fa);
}
END_TEST

int
main(void)
{
	check_main_tcase("peer_set", peer_fixture_setup, peer_fixture_teardown,
	    CHECK_MAIN_TESTS(empty_table, peers_in_table_order,
	    idle_connections_across_changes,
	    connection_to_an_old_address_not_pooled,
	    removed_peer_lives_until_its_connection_ends,
	    hold_keeps_a_peer_that_left, free_with_connections_in_flight));
	return check_main_run();
}
