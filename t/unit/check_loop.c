/*
 * check_loop.c - unit tests for src/loop.c (the poll loop and its timers),
 * driven with real pipes, socketpairs and signals.
 * Includes the .c file; links buf.c.
 * Runs in Check's fork mode: a crash is a failure, not an abort, and every
 * test has its own descriptors, signal mask and handlers.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "event/loop.c"
#include "check_main.h"
#include "loop_fixture.h"

/* What a callback saw. */
struct rec {
	int calls;
	int fd;
	short revents;
};

static void
rec_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct rec *r = arg;

	(void)l;
	r->calls++;
	r->fd = fd;
	r->revents = revents;
}

/* One turn of the loop with the thread's signal mask; its result and
 * errno in *rc and *err. */
static void
run_with_mask(int *rc, int *err)
{
	sigset_t cur;

	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	errno = 0;
	*rc = loop_run_once(loop, &cur);
	*err = errno;
}

/* Every descriptor a test made through keep(), closed by the teardown
 * after the loop is freed. */
static int kept[256];
static int nkept;

static void
keep(int fd)
{
	ck_assert_int_lt(nkept, (int)(sizeof(kept) / sizeof(kept[0])));
	kept[nkept++] = fd;
}

static void
teardown(void)
{
	loop_fixture_teardown();
	while (nkept > 0)
		close(kept[--nkept]);
}

static void
make_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	keep(p[0]);
	keep(p[1]);
}

static void
make_pair(int s[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, s), 0);
	keep(s[0]);
	keep(s[1]);
}

static void
put(int fd)
{
	ck_assert_int_eq(write(fd, "x", 1), 1);
}

/* A socket pair with a byte to read on s[0]. */
static void
make_ready_pair(int s[2])
{
	make_pair(s);
	put(s[1]);
}

START_TEST(add_del_count)
{
	struct rec r = { 0 };
	int p[2];

	make_pipe(p);
	ck_assert_uint_eq(loop_count(loop), 0);
	ck_assert_int_eq(loop_add(loop, p[0], POLLIN, rec_cb, &r), 0);
	ck_assert_int_eq(loop_add(loop, p[1], POLLOUT, rec_cb, &r), 0);
	ck_assert_uint_eq(loop_count(loop), 2);

	errno = 0;
	ck_assert_int_eq(loop_add(loop, -1, POLLIN, rec_cb, &r), -1);
	ck_assert_int_ne(errno, 0);
	errno = 0;
	ck_assert_int_eq(loop_add(loop, 1 << 20, POLLIN, rec_cb, &r), -1);
	ck_assert_int_ne(errno, 0);
	ck_assert_uint_eq(loop_count(loop), 2);

	loop_del(loop, p[1]);
	ck_assert_uint_eq(loop_count(loop), 1);
	loop_del(loop, p[1]);		/* not registered: no-op */
	loop_del(loop, -1);
	loop_del(loop, 5000);
	ck_assert_uint_eq(loop_count(loop), 1);
	loop_del(loop, p[0]);
	ck_assert_uint_eq(loop_count(loop), 0);

	/* A deleted fd gets nothing, even when it is ready. */
	put(p[1]);
	turn(10);
	ck_assert_int_eq(r.calls, 0);

	loop_free(NULL);
}
END_TEST

START_TEST(readable_and_writable)
{
	struct rec rd = { 0 }, wr = { 0 };
	int p[2];

	make_pipe(p);
	ck_assert_int_eq(loop_add(loop, p[0], POLLIN, rec_cb, &rd), 0);
	ck_assert_int_eq(loop_add(loop, p[1], POLLOUT, rec_cb, &wr), 0);
	turn(1000);
	ck_assert_int_eq(rd.calls, 0);	/* nothing to read yet */
	ck_assert_int_eq(wr.calls, 1);
	ck_assert_int_eq(wr.fd, p[1]);
	ck_assert(wr.revents & POLLOUT);

	loop_del(loop, p[1]);
	put(p[1]);
	turn(1000);
	ck_assert_int_eq(rd.calls, 1);
	ck_assert_int_eq(rd.fd, p[0]);
	ck_assert(rd.revents & POLLIN);
	ck_assert_int_eq(wr.calls, 1);
}
END_TEST

START_TEST(set_events)
{
	struct rec r = { 0 };
	int s[2];

	make_pair(s);
	ck_assert_int_eq(loop_add(loop, s[0], POLLOUT, rec_cb, &r), 0);
	turn(1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.revents & POLLOUT);

	/* No events: a writable socket stays quiet. */
	loop_set_events(loop, s[0], 0);
	turn(20);
	ck_assert_int_eq(r.calls, 1);

	/* POLLIN only: quiet until the peer writes, then POLLIN alone. */
	loop_set_events(loop, s[0], POLLIN);
	turn(20);
	ck_assert_int_eq(r.calls, 1);
	put(s[1]);
	turn(1000);
	ck_assert_int_eq(r.calls, 2);
	ck_assert(r.revents & POLLIN);
	ck_assert(!(r.revents & POLLOUT));

	/* Both. */
	loop_set_events(loop, s[0], POLLIN | POLLOUT);
	turn(1000);
	ck_assert_int_eq(r.calls, 3);
	ck_assert_int_eq(r.revents & (POLLIN | POLLOUT), POLLIN | POLLOUT);
}
END_TEST

/* Changes within one turn count as the last of them, applied before the
 * wait: off and on again watches as before; on and off again, nothing. A
 * descriptor deleted and its number added again in the same turn keeps
 * only its new events. */
START_TEST(changes_of_a_turn_take_the_last)
{
	struct rec r = { 0 }, r2 = { 0 };
	int s[2], t[2];

	make_ready_pair(s);
	ck_assert_int_eq(loop_add(loop, s[0], POLLIN, rec_cb, &r), 0);
	loop_set_events(loop, s[0], 0);
	loop_set_events(loop, s[0], POLLOUT);
	loop_set_events(loop, s[0], POLLIN);
	turn(1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.revents & (POLLIN | POLLOUT), POLLIN);

	loop_set_events(loop, s[0], POLLIN | POLLOUT);
	loop_set_events(loop, s[0], 0);
	turn(20);
	ck_assert_int_eq(r.calls, 1);

	/* Changed, deleted and replaced by another descriptor of the same
	 * number, all before the wait. */
	make_pair(t);
	loop_set_events(loop, s[0], POLLOUT);
	loop_del(loop, s[0]);
	ck_assert_int_eq(dup2(t[0], s[0]), s[0]);
	ck_assert_int_eq(loop_add(loop, s[0], POLLIN, rec_cb, &r2), 0);
	turn(20);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r2.calls, 0);		/* nothing to read yet */
	put(t[1]);
	turn(1000);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r2.revents & (POLLIN | POLLOUT), POLLIN);
}
END_TEST

/* A hang-up is reported even to a registration that asks for nothing. */
START_TEST(hangup_reported)
{
	struct rec r = { 0 };
	int s[2];

	make_pair(s);
	ck_assert_int_eq(loop_add(loop, s[0], 0, rec_cb, &r), 0);
	close(s[1]);
	turn(1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.revents & POLLHUP);
}
END_TEST

/* What the loop cannot watch is refused at once, never silently ignored;
 * and asking again for the events already watched changes nothing. */
START_TEST(unwatchable_refused_and_same_events_kept)
{
	struct rec r = { 0 };
	char path[] = "/tmp/check_loop.XXXXXX";
	int fd = mkstemp(path);
	int p[2];

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(loop_add(loop, fd, POLLIN, rec_cb, &r), -1);
	ck_assert_uint_eq(loop_count(loop), 0);
	close(fd);

	make_pipe(p);
	ck_assert_int_eq(loop_add(loop, p[0], POLLIN, rec_cb, &r), 0);
	loop_set_events(loop, p[0], POLLIN);
	put(p[1]);
	turn(1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.revents & POLLIN);
	loop_set_events(loop, p[0], 0);
	loop_set_events(loop, p[0], 0);
	r.calls = 0;
	turn(20);
	ck_assert_int_eq(r.calls, 0);
}
END_TEST

/* Two registrations ready in the same turn; whichever callback runs first
 * deletes both (its own fd and the other one) and closes them. */
struct two {
	int a, b;
	int calls;
};

static void
delete_both_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct two *t = arg;

	(void)fd;
	(void)revents;
	t->calls++;
	loop_del(l, t->a);
	loop_del(l, t->b);
	close(t->a);
	close(t->b);
}

START_TEST(callback_deletes_own_and_other)
{
	struct two t = { 0 };
	int a[2], b[2];

	make_ready_pair(a);
	make_ready_pair(b);
	t.a = a[0];
	t.b = b[0];
	ck_assert_int_eq(loop_add(loop, a[0], POLLIN, delete_both_cb, &t), 0);
	ck_assert_int_eq(loop_add(loop, b[0], POLLIN, delete_both_cb, &t), 0);
	turn(1000);
	ck_assert_int_eq(t.calls, 1);	/* no stale call for the other */
	ck_assert_uint_eq(loop_count(loop), 0);
	turn(10);
	ck_assert_int_eq(t.calls, 1);
}
END_TEST

/*
 * Two ready registrations, a and b. Whichever callback runs first takes
 * the other's descriptor number over: it deletes it and dup2()s a quiet
 * socket onto that number (close + reuse, as accept would), then registers
 * the number again with a new callback. The old revents (POLLIN from the
 * old socket) must not reach the new registration, neither in this turn
 * nor later; real events on the new socket must.
 */
struct reuse {
	int a, b;		/* the two ready descriptors */
	int quiet;		/* a socket with nothing to read */
	int old_calls;
	int reused;		/* the number taken over, or -1 */
	struct rec fresh;	/* the new registration */
};

/* Deletes fd, puts the quiet socket in its place, and registers the
 * number again for u->fresh. */
static void
take_over(struct loop *l, struct reuse *u, int fd)
{
	loop_del(l, fd);
	ck_assert_int_eq(dup2(u->quiet, fd), fd);
	u->reused = fd;
	ck_assert_int_eq(loop_add(l, fd, POLLIN, rec_cb, &u->fresh), 0);
}

static void
reuse_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct reuse *u = arg;
	int other = fd == u->a ? u->b : u->a;

	(void)revents;
	u->old_calls++;
	if (u->reused == -1)
		take_over(l, u, other);
}

START_TEST(fd_reuse_in_same_turn)
{
	struct reuse u = { .reused = -1 };
	int a[2], b[2], q[2];

	make_ready_pair(a);
	make_ready_pair(b);
	make_pair(q);
	u.a = a[0];
	u.b = b[0];
	u.quiet = q[0];
	ck_assert_int_eq(loop_add(loop, a[0], POLLIN, reuse_cb, &u), 0);
	ck_assert_int_eq(loop_add(loop, b[0], POLLIN, reuse_cb, &u), 0);
	turn(1000);
	ck_assert_int_eq(u.old_calls, 1);
	ck_assert_int_ne(u.reused, -1);
	ck_assert_msg(u.fresh.calls == 0,
	    "the new registration of fd %d got the old revents %#x",
	    u.reused, (unsigned)u.fresh.revents);

	/* Nothing to read on the new socket: still quiet next turn. The
	 * other old registration may fire again (it is still readable). */
	turn(20);
	ck_assert_int_eq(u.fresh.calls, 0);

	/* Now there is: the new callback gets it, on the reused number. */
	put(q[1]);
	turn(1000);
	ck_assert_int_eq(u.fresh.calls, 1);
	ck_assert_int_eq(u.fresh.fd, u.reused);
	ck_assert(u.fresh.revents & POLLIN);
}
END_TEST

/* A callback that re-registers its own number for a new, quiet socket. */
static void
reuse_own_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct reuse *u = arg;

	(void)revents;
	u->old_calls++;
	take_over(l, u, fd);
}

START_TEST(fd_reuse_of_own_number)
{
	struct reuse u = { .reused = -1 };
	int a[2], q[2];

	make_ready_pair(a);
	make_pair(q);
	u.quiet = q[0];
	ck_assert_int_eq(loop_add(loop, a[0], POLLIN, reuse_own_cb, &u), 0);
	turn(1000);
	turn(20);
	ck_assert_int_eq(u.old_calls, 1);
	ck_assert_int_eq(u.fresh.calls, 0);
	put(q[1]);
	turn(1000);
	ck_assert_int_eq(u.fresh.calls, 1);
	ck_assert_int_eq(u.fresh.fd, a[0]);
}
END_TEST

/* A registration made by a callback gets its events (by the next turn). */
struct adder {
	int fd;
	struct rec added;
};

static void
adder_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct adder *ad = arg;

	(void)revents;
	loop_del(l, fd);
	ck_assert_int_eq(loop_add(l, ad->fd, POLLIN, rec_cb, &ad->added), 0);
}

START_TEST(add_from_callback)
{
	struct adder ad = { 0 };
	int a[2], b[2], i;

	make_ready_pair(a);
	make_ready_pair(b);
	ad.fd = b[0];
	ck_assert_int_eq(loop_add(loop, a[0], POLLIN, adder_cb, &ad), 0);
	for (i = 0; i < 2 && ad.added.calls == 0; i++)
		turn(1000);
	ck_assert_int_eq(ad.added.calls, 1);
	ck_assert_int_eq(ad.added.fd, b[0]);
}
END_TEST

#define NPIPES 100

/* Many registrations (past every initial capacity), one high fd number,
 * and deletions mid-turn: each callback deletes the next pipe. Afterwards
 * every survivor still gets exactly its own events. */
struct chain {
	struct loop *loop;
	int rd[NPIPES], wr[NPIPES];
	int calls[NPIPES];
	int deleted[NPIPES];
};

struct link {
	struct chain *c;
	int i;
};

static void
chain_cb(struct loop *lp, int fd, short revents, void *arg)
{
	struct link *l = arg;
	struct chain *c = l->c;
	char buf[16];

	(void)revents;
	ck_assert_int_eq(fd, c->rd[l->i]);
	ck_assert(!c->deleted[l->i]);
	c->calls[l->i]++;
	while (read(fd, buf, sizeof(buf)) > 0)
		continue;
	if (l->i % 2 == 0 && l->i + 1 < NPIPES && !c->deleted[l->i + 1]) {
		loop_del(lp, c->rd[l->i + 1]);
		c->deleted[l->i + 1] = 1;
	}
}

START_TEST(many_fds_and_deletion_mid_turn)
{
	static struct chain c;
	static struct link links[NPIPES];
	int i, p[2], high;

	for (i = 0; i < NPIPES; i++) {
		make_pipe(p);
		c.rd[i] = p[0];
		c.wr[i] = p[1];
	}
	/* One read end moved to a high number. */
	high = fcntl(c.rd[NPIPES / 2], F_DUPFD_CLOEXEC, 900);
	ck_assert_int_ge(high, 900);
	keep(high);
	close(c.rd[NPIPES / 2]);
	c.rd[NPIPES / 2] = high;

	for (i = 0; i < NPIPES; i++) {
		links[i].c = &c;
		links[i].i = i;
		ck_assert_int_eq(loop_add(loop, c.rd[i], POLLIN, chain_cb,
		    &links[i]), 0);
		put(c.wr[i]);
	}
	ck_assert_uint_eq(loop_count(loop), NPIPES);
	turn(1000);
	for (i = 0; i < NPIPES; i++)
		ck_assert_int_eq(c.calls[i], i % 2 == 0 ? 1 : 0);
	ck_assert_uint_eq(loop_count(loop), NPIPES / 2);

	/* Survivors, after compaction, still map to their own callbacks. */
	for (i = 0; i < NPIPES; i++)
		put(c.wr[i]);
	turn(1000);
	for (i = 0; i < NPIPES; i++)
		ck_assert_int_eq(c.calls[i], i % 2 == 0 ? 2 : 0);
}
END_TEST

/* Timers. */
struct ttimer {
	struct loop_timer t;	/* first: the callback casts back */
	int id;
	int fired;
	int64_t deadline;	/* what loop_now() + ms was when armed */
	int64_t fired_at;	/* loop_now() when it ran */
};

static int order[512];
static int norder;

static void
record_timer(struct loop *l, struct loop_timer *t)
{
	struct ttimer *tt = (struct ttimer *)(void *)t;

	tt->fired++;
	tt->fired_at = loop_now(l);
	if (norder < (int)(sizeof(order) / sizeof(order[0])))
		order[norder++] = tt->id;
}

static void
arm(struct ttimer *tt, int64_t ms)
{
	tt->deadline = loop_now(loop) + ms;
	loop_timer_set(loop, &tt->t, ms, record_timer);
}

/* Runs turns until `want` timers have fired (or a generous 3 s). */
static void
run_until_fired(int want)
{
	int64_t end = loop_clock_ms() + 3000;
	int rc, err;

	while (norder < want && loop_clock_ms() < end) {
		run_with_mask(&rc, &err);
		ck_assert_msg(rc == 0, "loop_run_once: %s", strerror(err));
	}
	ck_assert_int_eq(norder, want);
}

START_TEST(timers_fire_in_deadline_order)
{
	static const int64_t ms[] = { 40, 10, 30, 0, 20 };
	static const int want[] = { 3, 1, 4, 2, 0 };
	struct ttimer t[5];
	/* Timers count from the loop's cached time, which may be a
	 * millisecond behind the clock. */
	int64_t start = loop_now(loop);
	int i;

	memset(t, 0, sizeof(t));
	for (i = 0; i < 5; i++) {
		t[i].id = i;
		arm(&t[i], ms[i]);
	}
	run_until_fired(5);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(order[i], want[i]);
		ck_assert_int_eq(t[want[i]].fired, 1);
		/* Never early. */
		ck_assert_int_ge(t[i].fired_at, t[i].deadline);
	}
	ck_assert_int_ge(loop_clock_ms() - start, 40);
	ck_assert_int_ge(loop_now(loop), start + 40);
}
END_TEST

START_TEST(timer_cancel)
{
	struct ttimer a = { .id = 1 }, b = { .id = 2 }, never = { .id = 3 };

	arm(&a, 5);
	arm(&b, 20);
	loop_timer_cancel(loop, &a.t);
	loop_timer_cancel(loop, &a.t);		/* twice: no-op */
	loop_timer_cancel(loop, &never.t);	/* never armed: no-op */
	run_until_fired(1);
	ck_assert_int_eq(order[0], 2);
	ck_assert_int_eq(a.fired, 0);
	turn(30);
	ck_assert_int_eq(a.fired, 0);
	ck_assert_int_eq(norder, 1);
}
END_TEST

START_TEST(timer_rearm_moves_it)
{
	struct ttimer t = { .id = 1 }, guard = { .id = 2 };

	/* Later: armed for 10 ms, moved to 400 ms; a 40 ms guard fires
	 * first and the moved timer has not. */
	arm(&t, 10);
	arm(&t, 400);
	arm(&guard, 40);
	run_until_fired(1);
	ck_assert_int_eq(order[0], 2);
	ck_assert_int_eq(t.fired, 0);

	/* Earlier: moved to 0 ms, it fires now, and only once. */
	arm(&t, 0);
	run_until_fired(2);
	ck_assert_int_eq(order[1], 1);
	turn(20);
	ck_assert_int_eq(t.fired, 1);

	/* Earlier again, from far away: 1 hour moved to 5 ms. */
	arm(&t, 3600 * 1000);
	arm(&t, 5);
	run_until_fired(3);
	ck_assert_int_eq(t.fired, 2);
}
END_TEST

/* A 0 ms timer armed by a callback runs in the same loop turn. */
static struct ttimer chained = { .id = 9 };

static void
arm_chained_timer(struct loop *l, struct loop_timer *t)
{
	record_timer(l, t);
	arm(&chained, 0);
}

static void
arm_chained_io(struct loop *l, int fd, short revents, void *arg)
{
	(void)revents;
	(void)arg;
	loop_del(l, fd);
	arm(&chained, 0);
}

START_TEST(zero_timer_from_callback_runs_same_turn)
{
	struct ttimer first = { .id = 1 };
	int rc, err, p[2];

	/* From a timer callback. */
	loop_timer_set(loop, &first.t, 0, arm_chained_timer);
	run_with_mask(&rc, &err);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(first.fired, 1);
	ck_assert_int_eq(chained.fired, 1);

	/* From an I/O callback. */
	make_pipe(p);
	put(p[1]);
	ck_assert_int_eq(loop_add(loop, p[0], POLLIN, arm_chained_io, NULL), 0);
	run_with_mask(&rc, &err);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(chained.fired, 2);
}
END_TEST

/* A timer callback that cancels another timer already due. */
static struct ttimer pair_t[2];

static void
cancel_other_timer(struct loop *l, struct loop_timer *t)
{
	struct ttimer *tt = (struct ttimer *)(void *)t;

	record_timer(l, t);
	loop_timer_cancel(l, &pair_t[1 - tt->id].t);
}

START_TEST(timer_callback_cancels_due_timer)
{
	int rc, err;

	pair_t[0].id = 0;
	pair_t[1].id = 1;
	loop_timer_set(loop, &pair_t[0].t, 0, cancel_other_timer);
	loop_timer_set(loop, &pair_t[1].t, 0, cancel_other_timer);
	run_with_mask(&rc, &err);
	turn(20);
	ck_assert_int_eq(pair_t[0].fired + pair_t[1].fired, 1);
}
END_TEST

/* A timer that re-arms itself from its callback fires again later. */
static void
periodic(struct loop *l, struct loop_timer *t)
{
	struct ttimer *tt = (struct ttimer *)(void *)t;

	record_timer(l, t);
	if (tt->fired < 3)
		loop_timer_set(l, t, 5, periodic);
}

START_TEST(timer_rearms_itself)
{
	struct ttimer t = { .id = 1 };

	loop_timer_set(loop, &t.t, 5, periodic);
	run_until_fired(3);
	turn(20);
	ck_assert_int_eq(t.fired, 3);
}
END_TEST

/* The heap under churn: random deadlines, cancels and re-arms. Every live
 * timer fires exactly once, never before its deadline, and in
 * non-decreasing deadline order; cancelled ones never fire. */
START_TEST(timer_heap_churn)
{
	enum { N = 300 };
	static struct ttimer t[N];
	unsigned seed = 12345;
	int i, live = 0;

	for (i = 0; i < N; i++) {
		t[i].id = i;
		arm(&t[i], rand_r(&seed) % 30);
	}
	for (i = 0; i < N; i++) {
		if (i % 3 == 0)
			loop_timer_cancel(loop, &t[i].t);
		else if (i % 5 == 0)
			arm(&t[i], rand_r(&seed) % 30);
	}
	for (i = 0; i < N; i++)
		live += i % 3 != 0;
	run_until_fired(live);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t[i].fired, i % 3 == 0 ? 0 : 1);
		if (t[i].fired)
			ck_assert_int_ge(t[i].fired_at, t[i].deadline);
	}
	for (i = 1; i < norder; i++)
		ck_assert_msg(t[order[i - 1]].deadline <= t[order[i]].deadline,
		    "timer %d (deadline %lld) fired before %d (%lld)",
		    order[i - 1], (long long)t[order[i - 1]].deadline, order[i],
		    (long long)t[order[i]].deadline);
}
END_TEST

/* Signals: blocked in the process, unblocked only by the mask passed to
 * loop_run_once, as a worker does. */
static volatile sig_atomic_t got_usr1, got_usr2;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_usr2 = 1;
}

/* The mask for the wait: the thread's own minus SIGUSR1 (SIGUSR2 stays
 * blocked). */
static sigset_t wait_mask;

/* The checked setup of the signal tests: the loop, the handler, SIGUSR1
 * and SIGUSR2 blocked (a thread started later inherits the mask), and
 * wait_mask. */
static void
setup_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &block, NULL), 0);
	pthread_sigmask(SIG_SETMASK, NULL, &wait_mask);
	sigdelset(&wait_mask, SIGUSR1);
	loop_fixture_setup();
}

/* One turn with wait_mask, which SIGUSR1 must interrupt: -1, EINTR, and
 * the handler ran. */
static void
run_interrupted(void)
{
	int rc;

	errno = 0;
	rc = loop_run_once(loop, &wait_mask);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, EINTR);
	ck_assert_int_eq(got_usr1, 1);
}

START_TEST(signal_pending_before_wait_interrupts)
{
	struct ttimer t = { .id = 1 };
	int64_t start;

	kill(getpid(), SIGUSR1);
	ck_assert_int_eq(got_usr1, 0);	/* blocked: still pending */
	arm(&t, 2000);		/* bounds the wait if missed */
	start = loop_clock_ms();
	run_interrupted();
	ck_assert_int_eq(t.fired, 0);
	ck_assert_int_lt(loop_clock_ms() - start, 1000);
}
END_TEST

static void *
send_usr1_later(void *arg)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	(void)arg;
	nanosleep(&ts, NULL);
	/* To the process: only the wait can take it. */
	kill(getpid(), SIGUSR1);
	return NULL;
}

START_TEST(signal_during_wait_interrupts)
{
	struct ttimer t = { .id = 1 };
	struct rec r = { 0 };
	pthread_t th;
	int p[2];

	make_pipe(p);			/* something quiet to wait on */
	ck_assert_int_eq(loop_add(loop, p[0], POLLIN, rec_cb, &r), 0);
	arm(&t, 3000);
	ck_assert_int_eq(pthread_create(&th, NULL, send_usr1_later, NULL), 0);
	run_interrupted();
	ck_assert_int_eq(t.fired, 0);
	ck_assert_int_eq(r.calls, 0);
	pthread_join(th, NULL);
}
END_TEST

/* A signal the wait mask keeps blocked does not interrupt the wait. */
START_TEST(signal_blocked_by_mask_does_not_interrupt)
{
	struct ttimer t = { .id = 1 };
	int rc;

	kill(getpid(), SIGUSR2);
	arm(&t, 20);
	rc = loop_run_once(loop, &wait_mask);
	while (rc == 0 && t.fired == 0)
		rc = loop_run_once(loop, &wait_mask);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(t.fired, 1);
	ck_assert_int_eq(got_usr2, 0);
}
END_TEST

/* A timer pushed back on every turn (a busy connection's idle timeout)
 * never fires while pushed, then fires once, not before its last
 * deadline; pulled in below where it is filed, it fires at the new one. */
START_TEST(timer_pushed_back_fires_once_at_its_last_deadline)
{
	struct ttimer t = { .id = 1 }, guard = { .id = 2 };
	int64_t end = loop_clock_ms() + 60;

	arm(&t, 10);
	while (loop_clock_ms() < end) {
		arm(&t, 15);
		turn(2);
		ck_assert_int_eq(t.fired, 0);
	}
	run_until_fired(1);
	ck_assert_int_eq(t.fired, 1);
	ck_assert_int_ge(t.fired_at, t.deadline);
	turn(30);
	ck_assert_int_eq(t.fired, 1);

	/* Pushed back, then pulled in before the first deadline: fires at
	 * the last one asked, before a guard armed between the two. */
	arm(&t, 200);
	arm(&t, 400);
	arm(&t, 5);
	arm(&guard, 100);
	run_until_fired(2);
	ck_assert_int_eq(order[1], 1);
	ck_assert_int_eq(t.fired, 2);
}
END_TEST

int
main(void)
{
	check_main_tcase("io", loop_fixture_setup, teardown,
	    CHECK_MAIN_TESTS(add_del_count, readable_and_writable, set_events,
	    changes_of_a_turn_take_the_last,
	    unwatchable_refused_and_same_events_kept, hangup_reported,
	    callback_deletes_own_and_other, fd_reuse_in_same_turn,
	    fd_reuse_of_own_number, add_from_callback,
	    many_fds_and_deletion_mid_turn));
	check_main_tcase("timers", loop_fixture_setup, teardown,
	    CHECK_MAIN_TESTS(timers_fire_in_deadline_order, timer_cancel,
	    timer_rearm_moves_it, zero_timer_from_callback_runs_same_turn,
	    timer_callback_cancels_due_timer, timer_rearms_itself,
	    timer_heap_churn,
	    timer_pushed_back_fires_once_at_its_last_deadline));
	check_main_tcase("signals", setup_signals, teardown,
	    CHECK_MAIN_TESTS(signal_pending_before_wait_interrupts,
	    signal_during_wait_interrupts,
	    signal_blocked_by_mask_does_not_interrupt));
	return check_main_run();
}
