/*
 * check_fanout.c - unit tests for src/peer/fanout.c: one name asked of
 * every peer at once, against fake peers on loopback (fake_peer.h) that
 * answer 200, 404, late, never, or refuse, with a real loop. The first 200
 * wins and the rest are read for nobody; "missing" when none has it; the
 * per-peer counters in the shared table; exactly one callback, never
 * from inside fanout_start(), and none after fanout_abort().
 * Includes the .c file; links the rest.
 * Runs in Check's fork mode: a crash or a hang is a failure.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer/fanout.c"
#include "check_main.h"
#include "peer_fixture.h"

#define NOT_FOUND "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n" \
	"not here\n"

static bool in_start;		/* inside fanout_start(): no callback */

static struct peer *
nth(size_t i)
{
	struct peer *p = peer_set_first(ps);

	while (p != NULL && i-- > 0)
		p = peer_set_next(ps, p);
	ck_assert_ptr_nonnull(p);
	return p;
}

static const struct peer_stats *
stats(size_t i)
{
	return &nth(i)->p_entry->pe_stats;
}

/* The outcome counters of peer i are want's, every one: those want does
 * not name are 0. EXPECT_STATS(0, .st_lookups = 1, .st_wins = 1). */
static void
expect_stats(size_t i, struct peer_stats want)
{
	const struct peer_stats *st = stats(i);

	ck_assert_uint_eq(st->st_lookups, want.st_lookups);
	ck_assert_uint_eq(st->st_wins, want.st_wins);
	ck_assert_uint_eq(st->st_not_found, want.st_not_found);
	ck_assert_uint_eq(st->st_refused, want.st_refused);
	ck_assert_uint_eq(st->st_timeout, want.st_timeout);
	ck_assert_uint_eq(st->st_bad_response, want.st_bad_response);
	ck_assert_uint_eq(st->st_skipped, want.st_skipped);
}

#define EXPECT_STATS(i, ...)						\
	expect_stats((i), (struct peer_stats){ __VA_ARGS__ })

/* ps: the set of the fakes given (started), in that order. */
static void
set_of(int64_t timeout_ms, struct fake_peer *const *fakes, size_t n)
{
	unsigned ports[8];
	size_t i;

	ck_assert_uint_le(n, 8);
	for (i = 0; i < n; i++)
		ports[i] = fakes[i]->fp_port;
	peer_fixture_set(ports, n, timeout_ms);
}

#define SET_OF(timeout_ms, ...)						\
	set_of((timeout_ms), (struct fake_peer *const[]){ __VA_ARGS__ }, \
	    sizeof((struct fake_peer *const[]){ __VA_ARGS__ }) /	\
	    sizeof(struct fake_peer *))

/* ------------------------------------------------------------------ */
/* What the owner heard                                                */

struct outcome {
	int found, missing, nested;
	struct peer *winner;
	int status;
	bool close_at_found;		/* the callee closes (an upload's
					   name check) */
	int64_t at;
	/* the winner's body, read by the callee */
	struct buf body;
	int dones, fails;
};

static void
won_on_head(struct peer_conn *pc, void *arg)
{
	(void)pc;
	(void)arg;
	ck_abort_msg("on_head after the hand-over");
}

static void
won_on_body(struct peer_conn *pc, void *arg)
{
	struct outcome *o = arg;

	buf_append(&o->body, peer_conn_data(pc), peer_conn_data_len(pc));
	peer_conn_consumed(pc);
}

static void
won_on_done(struct peer_conn *pc, void *arg)
{
	struct outcome *o = arg;

	o->dones++;
	peer_conn_release(pc);
}

static void
won_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct outcome *o = arg;

	(void)pc;
	(void)why;
	o->fails++;
}

static const struct peer_handler won_handler = {
	.on_head = won_on_head,
	.on_body = won_on_body,
	.on_done = won_on_done,
	.on_fail = won_on_fail,
};

static void
on_found(void *arg, struct peer_conn *pc)
{
	struct outcome *o = arg;

	o->nested += in_start;
	o->found++;
	o->at = loop_now(loop);
	o->winner = pc->pc_peer;
	o->status = pc->pc_resp.status;
	if (o->close_at_found) {
		peer_conn_close(pc);
		return;
	}
	/* As a relay takes it over. */
	pc->pc_handler = &won_handler;
	pc->pc_arg = o;
}

static void
on_missing(void *arg)
{
	struct outcome *o = arg;

	o->nested += in_start;
	o->missing++;
	o->at = loop_now(loop);		/* the clock of the deadlines */
}

static struct fanout *
start(struct outcome *o, const char *name, bool head)
{
	struct fanout *f;

	struct fanout_ask ask = { .fa_name = name, .fa_len = strlen(name),
	    .fa_head = head };

	in_start = true;
	f = fanout_start(ps, &ask, on_found, on_missing, o);
	in_start = false;
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(o->found + o->missing, 0);
	return f;
}

static bool
reported(const struct outcome *o)
{
	return o->found + o->missing > 0;
}

/* What peer f got: a lookup of `target` by `method`, to it by name. */
static void
assert_lookup(struct fake_peer *f, const char *method, const char *target)
{
	char want[128], *head;

	ck_assert_uint_eq(fake_nreqs(f), 1);
	head = fake_req_head(f, 0);
	snprintf(want, sizeof(want), "%s %s HTTP/1.1\r\n", method, target);
	ck_assert_msg(strncmp(head, want, strlen(want)) == 0, "request: %s",
	    head);
	snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%u\r\n", f->fp_port);
	ck_assert_ptr_nonnull(strstr(head, want));
	ck_assert_ptr_nonnull(strstr(head, "\r\n" PEER_LOOKUP_HEADER
	    ": 1\r\n"));
	free(head);
}

/* ------------------------------------------------------------------ */

START_TEST(first_200_wins)
{
	struct fake_peer fa = { 0 }, fb = { 0 }, fc = { 0 };
	struct outcome o = { 0 };

	peer_fixture_fake(&fa, NOT_FOUND, 0, 0);
	peer_fixture_fake(&fb, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
	    "fast", 20, 0);
	peer_fixture_fake(&fc, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
	    "slow", 250, 0);
	SET_OF(2000, &fa, &fb, &fc);
	start(&o, "a b.txt", false);
	RUN_UNTIL(reported(&o), 3000);
	ck_assert_int_eq(o.found, 1);
	ck_assert_int_eq(o.missing, 0);
	ck_assert_int_eq(o.nested, 0);
	ck_assert_ptr_eq(o.winner, nth(1));
	ck_assert_int_eq(o.status, 200);
	/* The callee reads the winner's body through its own handler. */
	RUN_UNTIL(o.dones + o.fails > 0, 3000);
	ck_assert_int_eq(o.dones, 1);
	ck_assert_uint_eq(o.body.len, 4);
	ck_assert(memcmp(o.body.data, "fast", 4) == 0);
	ck_assert_uint_eq(nth(1)->p_nidle, 1);

	/* c's late 200 is read for nobody and its connection pooled; the
	 * owner hears nothing more. */
	RUN_UNTIL(nth(2)->p_nidle == 1, 3000);
	ck_assert_uint_eq(nth(2)->p_nidle, 1);
	ck_assert_uint_eq(nth(2)->p_ndiscard, 0);
	ck_assert_uint_eq(nth(0)->p_nidle, 1);	/* the 404, read too */
	run_for(30);
	ck_assert_int_eq(o.found, 1);
	ck_assert_int_eq(o.missing, 0);

	EXPECT_STATS(0, .st_lookups = 1, .st_not_found = 1);
	EXPECT_STATS(1, .st_lookups = 1, .st_wins = 1);
	ck_assert_uint_eq(stats(1)->st_ttfb_count, 1);
	EXPECT_STATS(2, .st_lookups = 1);
	assert_lookup(&fa, "GET", "/a%20b.txt");
	assert_lookup(&fb, "GET", "/a%20b.txt");
	assert_lookup(&fc, "GET", "/a%20b.txt");
	buf_free(&o.body);
	fake_stop(&fa);
	fake_stop(&fb);
	fake_stop(&fc);
}
END_TEST

/* The catalogue names the holders: only they are asked, for the version
 * wanted; a 404 from every one is "missing", the others never hear. */
START_TEST(only_the_holders_are_asked_for_a_version)
{
	struct fake_peer fa = { 0 }, fb = { 0 }, fc = { 0 };
	struct outcome o = { 0 };
	struct digest v = { 0x0123456789abcdefULL, 0x1ULL };
	struct peer *holders[2];
	struct fanout_ask ask = { .fa_name = "x", .fa_len = 1,
	    .fa_version = &v, .fa_only = holders, .fa_nonly = 2 };

	peer_fixture_fake(&fa, NOT_FOUND, 0, 0);
	peer_fixture_fake(&fb, NOT_FOUND, 0, 0);
	peer_fixture_fake(&fc, NOT_FOUND, 0, 0);
	SET_OF(2000, &fa, &fb, &fc);
	holders[0] = nth(2);
	holders[1] = nth(0);
	in_start = true;
	ck_assert_ptr_nonnull(fanout_start(ps, &ask, on_found, on_missing,
	    &o));
	in_start = false;
	RUN_UNTIL(reported(&o), 3000);
	ck_assert_int_eq(o.missing, 1);
	ck_assert_int_eq(o.found, 0);
	assert_lookup(&fa, "GET",
	    "/x?version=0123456789abcdef0000000000000001");
	assert_lookup(&fc, "GET",
	    "/x?version=0123456789abcdef0000000000000001");
	run_for(30);
	ck_assert_uint_eq(fake_nreqs(&fb), 0);
	EXPECT_STATS(0, .st_lookups = 1, .st_not_found = 1);
	EXPECT_STATS(1, .st_lookups = 0);
	EXPECT_STATS(2, .st_lookups = 1, .st_not_found = 1);
	fake_stop(&fa);
	fake_stop(&fb);
	fake_stop(&fc);
}
END_TEST

START_TEST(head_lookup)
{
	struct fake_peer fa = { 0 };
	struct outcome o = { .close_at_found = true };

	peer_fixture_fake(&fa, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
	    0, 0);
	peer_fixture_set(&fa.fp_port, 1, 2000);
	start(&o, "x", true);
	RUN_UNTIL(reported(&o), 3000);
	ck_assert_int_eq(o.found, 1);
	ck_assert_int_eq(o.status, 200);
	EXPECT_STATS(0, .st_lookups = 1, .st_wins = 1);
	assert_lookup(&fa, "HEAD", "/x");
	fake_stop(&fa);
}
END_TEST

START_TEST(all_404_missing)
{
	struct fake_peer f[3] = { { 0 } };
	struct outcome o = { 0 };
	unsigned ports[3];
	size_t i;

	for (i = 0; i < 3; i++) {
		peer_fixture_fake(&f[i], NOT_FOUND, (int)i * 20, 0);
		ports[i] = f[i].fp_port;
	}
	peer_fixture_set(ports, 3, 2000);
	start(&o, "nothing", false);
	RUN_UNTIL(reported(&o), 3000);
	run_for(30);
	ck_assert_int_eq(o.missing, 1);
	ck_assert_int_eq(o.found, 0);
	ck_assert_int_eq(o.nested, 0);
	for (i = 0; i < 3; i++) {
		EXPECT_STATS(i, .st_lookups = 1, .st_not_found = 1);
		fake_stop(&f[i]);
	}
}
END_TEST

START_TEST(refused_and_timed_out_missing)
{
	struct fake_peer fb = { 0 };
	struct outcome o = { 0 };
	unsigned ports[2];
	int64_t t0;
	int fd;

	ports[0] = fake_refusing_port(&fd);
	ck_assert_uint_ne(ports[0], 0);
	peer_fixture_fake(&fb, NULL, 0, FAKE_HOLD);
	ports[1] = fb.fp_port;
	peer_fixture_set(ports, 2, 150);
	t0 = loop_now(loop);
	start(&o, "gone", false);
	RUN_UNTIL(reported(&o), 3000);
	ck_assert_int_eq(o.missing, 1);
	ck_assert_int_eq(o.found, 0);
	ck_assert_int_eq(o.nested, 0);
	ck_assert_int_ge(o.at - t0, 150);
	EXPECT_STATS(0, .st_lookups = 1, .st_refused = 1);
	EXPECT_STATS(1, .st_lookups = 1, .st_timeout = 1);
	fake_stop(&fb);
	close(fd);
}
END_TEST

/* Answers other than 200 and 404, and broken ones, are bad responses. */
START_TEST(other_answers_are_bad_responses)
{
	struct fake_peer fa = { 0 }, fb = { 0 };
	struct outcome o = { 0 };

	peer_fixture_fake(&fa, "HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0);
	peer_fixture_fake(&fb, "no HTTP here\r\n\r\n", 0, FAKE_HOLD);
	SET_OF(2000, &fa, &fb);
	start(&o, "odd", false);
	RUN_UNTIL(reported(&o), 3000);
	ck_assert_int_eq(o.missing, 1);
	EXPECT_STATS(0, .st_lookups = 1, .st_bad_response = 1);
	EXPECT_STATS(1, .st_lookups = 1, .st_bad_response = 1);
	fake_stop(&fa);
	fake_stop(&fb);
}
END_TEST

START_TEST(no_peers_missing_from_the_loop)
{
	struct outcome o = { 0 };

	peer_fixture_set(NULL, 0, 2000);
	start(&o, "alone", false);
	turn(0);
	ck_assert_int_eq(o.missing, 1);
	ck_assert_int_eq(o.found, 0);
	ck_assert_int_eq(o.nested, 0);
	run_for(20);
	ck_assert_int_eq(o.missing, 1);
}
END_TEST

/* Aborted while the connections are being made: they close at once. */
START_TEST(abort_at_once)
{
	struct fake_peer fa = { 0 }, fb = { 0 };
	struct outcome o = { 0 }, o2 = { 0 };

	peer_fixture_fake(&fa, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA",
	    0, 0);
	peer_fixture_fake(&fb, NOT_FOUND, 0, 0);
	SET_OF(2000, &fa, &fb);
	fanout_abort(start(&o, "n", false));
	run_for(100);
	ck_assert_int_eq(o.found + o.missing, 0);
	ck_assert_uint_eq(nth(0)->p_nidle + nth(1)->p_nidle, 0);
	ck_assert(list_empty(&ps->ps_conns));
	ck_assert_uint_eq(nth(0)->p_refs + nth(1)->p_refs, 0);
	ck_assert_uint_eq(fake_nreqs(&fa) + fake_nreqs(&fb), 0);

	/* With no peer, the "missing" armed for the loop goes too. */
	peer_set_free(ps);
	ps = NULL;
	peer_fixture_set(NULL, 0, 2000);
	fanout_abort(start(&o2, "n", false));
	run_for(30);
	ck_assert_int_eq(o2.found + o2.missing, 0);
	fake_stop(&fa);
	fake_stop(&fb);
}
END_TEST

/* Aborted with the lookups out and no answer yet: no callback ever; the
 * answers, small, are read for nobody and the connections pooled. */
START_TEST(abort_before_any_answer)
{
	struct fake_peer fa = { 0 }, fb = { 0 };
	struct outcome o = { 0 };
	struct fanout *f;

	peer_fixture_fake(&fa, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA",
	    300, 0);
	peer_fixture_fake(&fb, NOT_FOUND, 300, 0);
	SET_OF(2000, &fa, &fb);
	f = start(&o, "n", false);
	RUN_UNTIL(fake_nreqs(&fa) + fake_nreqs(&fb) == 2, 2000);
	ck_assert_uint_eq(fake_nreqs(&fa) + fake_nreqs(&fb), 2);
	turn(0);
	fanout_abort(f);
	RUN_UNTIL(nth(0)->p_nidle + nth(1)->p_nidle == 2, 3000);
	ck_assert_uint_eq(nth(0)->p_nidle, 1);
	ck_assert_uint_eq(nth(1)->p_nidle, 1);
	run_for(30);
	ck_assert_int_eq(o.found + o.missing + o.nested, 0);
	ck_assert_uint_eq(stats(0)->st_wins + stats(1)->st_not_found, 0);
	ck_assert_uint_eq(nth(0)->p_refs + nth(1)->p_refs, 2);	/* pooled */
	fake_stop(&fa);
	fake_stop(&fb);
}
END_TEST

START_TEST(resting_peers_skipped)
{
	struct fake_peer fa = { 0 }, fb = { 0 };
	struct outcome o = { 0 }, o2 = { 0 };
	struct peer_health *he;

	peer_fixture_fake(&fa, NOT_FOUND, 0, 0);
	peer_fixture_fake(&fb, NOT_FOUND, 0, 0);
	SET_OF(2000, &fa, &fb);
	/* a rests, as another worker decided: in the shared entry. */
	he = &nth(0)->p_entry->pe_health;
	he->he_timeouts = PEER_REST_AFTER;
	he->he_rest_ms = PEER_REST_MIN_MS;
	he->he_rest_until_ms = loop_clock_ms() + 60000;

	start(&o, "n", false);
	RUN_UNTIL(reported(&o), 3000);
	ck_assert_int_eq(o.missing, 1);
	EXPECT_STATS(0, .st_skipped = 1);
	EXPECT_STATS(1, .st_lookups = 1, .st_not_found = 1);

	/* Both rest: "missing" from the loop, nobody asked. */
	he = &nth(1)->p_entry->pe_health;
	he->he_timeouts = PEER_REST_AFTER;
	he->he_rest_until_ms = loop_clock_ms() + 60000;
	start(&o2, "n", false);
	turn(0);
	ck_assert_int_eq(o2.missing, 1);
	ck_assert_int_eq(o2.nested, 0);
	EXPECT_STATS(0, .st_skipped = 2);
	EXPECT_STATS(1, .st_lookups = 1, .st_not_found = 1, .st_skipped = 1);
	run_for(30);
	ck_assert_uint_eq(fake_accepts(&fa), 0);
	ck_assert_uint_eq(fake_accepts(&fb), 1);
	fake_stop(&fa);
	fake_stop(&fb);
}
END_TEST

/* A peer that leaves the set while its lookup runs stays valid (the leg
 * holds it) and is counted in its table entry. */
START_TEST(peer_leaves_during_the_lookup)
{
	struct fake_peer fa = { 0 };
	struct outcome o = { 0 };
	const struct peer_stats *st;

	peer_fixture_fake(&fa, NOT_FOUND, 150, 0);
	peer_fixture_set(&fa.fp_port, 1, 2000);
	st = stats(0);
	start(&o, "n", false);
	ck_assert_int_eq(peer_table_replace(table, PEER_SOURCE_CONFIG, NULL, 0,
	    2), 0);
	ck_assert_uint_eq(peer_set_count(ps), 0);
	RUN_UNTIL(reported(&o), 3000);
	ck_assert_int_eq(o.missing, 1);
	ck_assert_uint_eq(st->st_not_found, 1);
	RUN_UNTIL(list_empty(&ps->ps_conns), 1000);
	ck_assert(list_empty(&ps->ps_conns));
	fake_stop(&fa);
}
END_TEST

int
main(void)
{
	check_main_tcase("fanout", peer_fixture_setup, peer_fixture_teardown,
	    CHECK_MAIN_TESTS(first_200_wins,
	    only_the_holders_are_asked_for_a_version, head_lookup, all_404_missing,
	    refused_and_timed_out_missing, other_answers_are_bad_responses,
	    no_peers_missing_from_the_loop, abort_at_once,
	    abort_before_any_answer, resting_peers_skipped,
	    peer_leaves_during_the_lookup));
	return check_main_run();
}
