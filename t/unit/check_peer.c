/*
 * check_peer.c - unit tests for src/peer/peer.c, the HTTP client of a
 * node: requests to fake peers on loopback (fake_peer.h, served by
 * threads of the test) driven by a real loop in the test's main thread.
 * Answers framed by Content-Length, chunked and HEAD; the body handed
 * over at the consumer's pace; keep-alive and the one retry of a pooled
 * connection; timeouts, bad and cut answers, refusals; request bodies
 * streamed from a producer; answers read for nobody; the rest of a peer
 * that never answers. Includes the .c file (for its states); links the
 * rest. Runs in Check's fork mode: a crash or a hang is a failure.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer/peer.c"
#include "peer/peer_send.c"
#include "check_main.h"
#include "peer_fixture.h"
#include "exchange.h"

/* The set of one peer, 127.0.0.1:port; its timeout for bodies. */
static struct peer *
one_peer(unsigned port, int64_t timeout_ms)
{
	peer_fixture_set(&port, 1, timeout_ms);
	return peer_set_first(ps);
}

/* Starts f (its answers or its script set) and makes it the one peer of
 * the set. */
static struct peer *
start_one(struct fake_peer *f, int64_t timeout_ms)
{
	ck_assert_int_eq(fake_start(f), 0);
	return one_peer(f->fp_port, timeout_ms);
}

/* Each test's fake peer and its exchanges, zero when it starts; the
 * teardown frees the bodies and stops the fake (if it was started). */
static struct fake_peer fake;
static struct ex ex1, ex2, ex3;

static void
teardown(void)
{
	ex_free(&ex1);
	ex_free(&ex2);
	ex_free(&ex3);
	fake_stop(&fake);
	peer_fixture_teardown();
}

static void
pattern(char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)((i * 131 + (i >> 11) + seed) & 0xff);
}

/* ------------------------------------------------------------------ */
/* Answers and their framing                                           */

START_TEST(get_content_length)
{
	struct peer *p;
	char *got;

	fake_answer_all(&fake, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
	    "hello world", 0, 0);
	p = start_one(&fake, 2000);
	ex_run(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.fails, 0);
	ck_assert_int_eq(ex1.heads, 1);
	ck_assert_int_eq(ex1.status, 200);
	ck_assert_uint_eq(ex1.content_length, 11);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_uint_eq(ex1.body.len, 11);
	ck_assert(memcmp(ex1.body.data, "hello world", 11) == 0);
	got = fake_req_head(&fake, 0);
	ck_assert_str_eq(got, GET_A);
	free(got);
	/* Ended cleanly with keep-alive: back in the pool. */
	ck_assert_uint_eq(p->p_nidle, 1);
}
END_TEST

START_TEST(get_chunked_in_pieces)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	struct peer *p;

	/* The second half comes later: the body arrives in two reads. */
	fake.fp_answers[0].fa_bytes = answer;
	fake.fp_answers[0].fa_split = strstr(answer, "hel") + 3 - answer;
	fake.fp_answers[0].fa_pause_ms = 50;
	fake.fp_nanswers = 1;
	p = start_one(&fake, 2000);
	ex_run(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.fails, 0);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_int_ge(ex1.bodies, 2);
	ck_assert_uint_eq(ex1.body.len, 11);
	ck_assert(memcmp(ex1.body.data, "hello world", 11) == 0);
	ck_assert_uint_eq(p->p_nidle, 1);
}
END_TEST

/* A HEAD answer has no body, whatever its Content-Length says; the
 * connection is reusable at once. */
START_TEST(head_answer_has_no_body)
{
	struct peer *p;

	fake.fp_answers[0].fa_bytes = "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 1000\r\n\r\n";
	fake.fp_answers[1].fa_bytes = "HTTP/1.1 404 Not Found\r\n"
	    "Content-Length: 3\r\n\r\nno\n";
	fake.fp_nanswers = 2;
	p = start_one(&fake, 2000);
	ex_run(&ex1, p, "HEAD /a HTTP/1.1\r\nHost: p\r\n\r\n", PEER_REQ_HEAD,
	    2000);
	ck_assert_int_eq(ex1.fails, 0);
	ck_assert_int_eq(ex1.heads, 1);
	ck_assert_int_eq(ex1.bodies, 0);
	ck_assert_int_eq(ex1.dones, 1);
	ex_run(&ex2, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex2.status, 404);
	ck_assert(ex2.reused);
	ck_assert_uint_eq(ex2.body.len, 3);
	ck_assert_uint_eq(fake_accepts(&fake), 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Backpressure on the body                                            */

#define BIG_BODY (4 * 1024 * 1024)
static char big[8 * 1024 * 1024];

static void
serve_big(struct fake_peer *f, int fd, unsigned conn)
{
	struct fake_io *io = calloc(1, sizeof(*io));
	char head[128];
	size_t off;

	io->io_f = f;
	io->io_fd = fd;
	if (fake_read_request(io, conn, true) >= 0) {
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
		    "Content-Length: %d\r\n\r\n", BIG_BODY);
		if (fake_write(fd, head, strlen(head)) == 0)
			for (off = 0; off < BIG_BODY; off += 65536)
				if (fake_write(fd, big + off, 65536) == -1)
					break;
		fake_drain(f, fd);
	}
	free(io);
}

START_TEST(body_at_the_consumers_pace)
{
	struct peer *p;
	int holds = 0;

	pattern(big, BIG_BODY, 1);
	fake.fp_script = serve_big;
	ck_assert_int_eq(fake_start(&fake), 0);
	/* Stalls of the peer end the exchange after 100 ms; a consumer that
	 * holds bytes longer is not a stall. */
	p = one_peer(fake.fp_port, 100);
	ex1.hold = true;
	ex_request(&ex1, p, GET_A, 0, 2000);
	for (;;) {
		RUN_UNTIL(ex1.held > 0 || ex_over(&ex1), 3000);
		if (ex1.held == 0)
			break;
		if (holds < 2) {
			struct pollfd pfd = { .fd = ex1.pc->pc_fd,
			    .events = POLLIN };
			int bodies = ex1.bodies;

			run_for(250);
			/* Nothing more was read while the consumer held
			 * the bytes, though more waits in the socket. */
			ck_assert_int_eq(ex1.bodies, bodies);
			ck_assert_int_eq(ex1.fails, 0);
			ck_assert_uint_eq(peer_conn_data_len(ex1.pc), ex1.held);
			ck_assert(memcmp(peer_conn_data(ex1.pc), ex1.body.data +
			    ex1.body.len - ex1.held, ex1.held) == 0);
			ck_assert_int_eq(poll(&pfd, 1, 0), 1);
			holds++;
		}
		ex1.held = 0;
		peer_conn_consumed(ex1.pc);
	}
	ck_assert_int_eq(ex1.fails, 0);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_int_eq(holds, 2);
	ck_assert_int_gt(ex1.bodies, 2);
	ck_assert_uint_eq(ex1.body.len, BIG_BODY);
	ck_assert(memcmp(ex1.body.data, big, BIG_BODY) == 0);
}
END_TEST

/* A consumer's read size is its request's: the body is read with a
 * buffer of that size, never more per on_body; the next request on the
 * same connection reads with the default again. */
#define SIZED_BODY (2 * 1024 * 1024)
static char sized[128 + SIZED_BODY];

/* Runs e (holding each piece of body) to its end; returns the largest
 * input buffer it was read with. */
static size_t
largest_read_buffer(struct ex *e, size_t most)
{
	size_t cap = 0;

	for (;;) {
		RUN_UNTIL(e->held > 0 || ex_over(e), 3000);
		if (e->held == 0)
			return cap;
		ck_assert_uint_le(e->held, most);
		if (e->pc->pc_in_cap > cap)
			cap = e->pc->pc_in_cap;
		e->held = 0;
		peer_conn_consumed(e->pc);
	}
}

START_TEST(read_size_is_the_requests)
{
	struct peer *p;
	int head;

	head = snprintf(sized, 128, "HTTP/1.1 200 OK\r\nContent-Length: "
	    "%d\r\n\r\n", SIZED_BODY);
	pattern(sized + head, SIZED_BODY, 3);
	fake_answer_all(&fake, sized, 0, 0);
	fake.fp_answers[0].fa_len = (size_t)head + SIZED_BODY;
	p = start_one(&fake, 2000);
	ex1.hold = ex2.hold = true;
	ex_request(&ex1, p, GET_A, 0, 2000);
	peer_conn_read_size(ex1.pc, 1024 * 1024);
	ck_assert_uint_eq(largest_read_buffer(&ex1, 1024 * 1024), 1024 * 1024);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_uint_eq(ex1.body.len, SIZED_BODY);
	ck_assert(memcmp(ex1.body.data, sized + head, SIZED_BODY) == 0);
	ex_request(&ex2, p, GET_A, 0, 2000);
	ck_assert_uint_eq(largest_read_buffer(&ex2, PEER_BUF_SIZE),
	    PEER_BUF_SIZE);
	ck_assert_int_eq(ex2.dones, 1);
	ck_assert(ex2.reused);
	ck_assert(memcmp(ex2.body.data, sized + head, SIZED_BODY) == 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Keep-alive                                                          */

START_TEST(keepalive_reuses_the_connection)
{
	struct peer *p;

	fake_answer_all(&fake, OK2, 0, 0);
	p = start_one(&fake, 2000);
	ex_run(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert(!ex1.reused);
	ck_assert_uint_eq(p->p_nidle, 1);
	ex_run(&ex2, p, "GET /b HTTP/1.1\r\nHost: p\r\n\r\n", 0, 2000);
	ck_assert_int_eq(ex2.dones, 1);
	ck_assert(ex2.reused);
	ck_assert_uint_eq(fake_accepts(&fake), 1);
	ck_assert_uint_eq(fake_nreqs(&fake), 2);
	ck_assert_uint_eq(fake.fp_reqs[1].fr_conn, 1);
}
END_TEST

/* The peer closes connection 1 after its first answer, when the test
 * says; then either serves (mode 0) or hangs up on (mode 1) the next. */
struct retry_ctl {
	sem_t may_close, closed;
	int mode;
};

static void
serve_close_idle(struct fake_peer *f, int fd, unsigned conn)
{
	struct retry_ctl *ctl = f->fp_arg;
	struct fake_io *io = calloc(1, sizeof(*io));
	struct timespec ts;

	io->io_f = f;
	io->io_fd = fd;
	if (conn == 1) {
		if (fake_read_request(io, conn, true) >= 0 &&
		    fake_write(fd, OK2, strlen(OK2)) == 0) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 3;
			sem_timedwait(&ctl->may_close, &ts);
			shutdown(fd, SHUT_RDWR);
			sem_post(&ctl->closed);
		}
	} else if (ctl->mode == 0) {
		free(io);
		fake_serve_answers(f, fd, conn);
		return;
	} else {
		(void)fake_read_request(io, conn, true);
	}
	free(io);
}

/* The test's control of serve_close_idle(): static, since the fake's
 * threads read it until fake_stop(). */
static struct retry_ctl retry;

/* Starts the fake on serve_close_idle() in `mode`, runs the first exchange
 * (ex1), has the peer close the pooled connection (the FIN is in before
 * the loop looks), starts the second (ex2) on it, and runs the loop until
 * ex2 is over. */
static void
request_on_closed_idle(int mode)
{
	struct peer_conn *idle;
	struct pollfd pfd;
	struct timespec ts;
	struct peer *p;

	retry.mode = mode;
	sem_init(&retry.may_close, 0, 0);
	sem_init(&retry.closed, 0, 0);
	fake.fp_script = serve_close_idle;
	fake.fp_arg = &retry;
	p = start_one(&fake, 2000);
	ex_run(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_uint_eq(p->p_nidle, 1);
	idle = container_of(list_first(&p->p_idle), struct peer_conn,
	    pc_idle_link);
	sem_post(&retry.may_close);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	ck_assert_int_eq(sem_timedwait(&retry.closed, &ts), 0);
	pfd.fd = idle->pc_fd;
	pfd.events = POLLIN | POLLRDHUP;
	ck_assert_int_eq(poll(&pfd, 1, 1000), 1);
	ex_request(&ex2, p, "GET /b HTTP/1.1\r\nHost: p\r\n\r\n", 0, 2000);
	ck_assert_ptr_eq(ex2.pc, idle);
	ck_assert(ex2.pc->pc_reused);
	RUN_UNTIL(ex_over(&ex2), 3000);
}

/* The fake's threads are done with `retry` before its semaphores go. */
static void
retry_end(void)
{
	fake_stop(&fake);
	sem_destroy(&retry.may_close);
	sem_destroy(&retry.closed);
}

START_TEST(closed_idle_connection_retried_on_a_fresh_one)
{
	fake_answer_all(&fake, OK2, 0, 0);
	request_on_closed_idle(0);
	ck_assert_int_eq(ex2.fails, 0);
	ck_assert_int_eq(ex2.dones, 1);
	ck_assert_int_eq(ex2.status, 200);
	ck_assert_int_eq(ex2.nested, 0);
	ck_assert_uint_eq(fake_accepts(&fake), 2);
	ck_assert_uint_eq(fake_nreqs(&fake), 2);
	ck_assert_uint_eq(fake.fp_reqs[1].fr_conn, 2);
	retry_end();
}
END_TEST

START_TEST(retried_once_only)
{
	request_on_closed_idle(1);
	ck_assert_int_eq(ex2.fails, 1);
	ck_assert_int_eq(ex2.why, PEER_REFUSED);
	run_for(100);
	ck_assert_uint_eq(fake_accepts(&fake), 2);
	retry_end();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Failures                                                            */

START_TEST(no_answer_times_out)
{
	struct peer *p;
	int64_t start;

	fake_answer_all(&fake, NULL, 0, FAKE_HOLD);
	p = start_one(&fake, 2000);
	start = loop_now(loop);
	ex_run(&ex1, p, GET_A, 0, 150);
	ck_assert_int_eq(ex1.fails, 1);
	ck_assert_int_eq(ex1.why, PEER_TIMEOUT);
	ck_assert_int_eq(ex1.heads, 0);
	ck_assert_int_ge(ex1.failed_at - start, 150);
	ck_assert_int_lt(ex1.failed_at - start, 1500);
	/* A lookup without a byte of answer counts towards a rest. */
	ck_assert_uint_eq(p->p_entry->pe_health.he_timeouts, 1);
	/* The connection is closed, not pooled. */
	RUN_UNTIL(fake_eofs(&fake) == 1, 2000);
	ck_assert_uint_eq(fake_eofs(&fake), 1);
	ck_assert_uint_eq(p->p_nidle, 0);
}
END_TEST

START_TEST(stall_mid_body_times_out)
{
	struct peer *p;

	fake_answer_all(&fake, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
	    "0123456789", 0, FAKE_HOLD);
	p = start_one(&fake, 150);
	ex_run(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.heads, 1);
	ck_assert_int_eq(ex1.fails, 1);
	ck_assert_int_eq(ex1.why, PEER_TIMEOUT);
	ck_assert_int_eq(ex1.dones, 0);
	ck_assert_uint_eq(ex1.body.len, 10);
	ck_assert_int_ge(ex1.failed_at - ex1.head_at, 150);
	ck_assert_int_lt(ex1.failed_at - ex1.head_at, 1500);
	/* It answered: no step towards a rest. */
	ck_assert_uint_eq(p->p_entry->pe_health.he_timeouts, 0);
}
END_TEST

START_TEST(bad_responses)
{
	static const struct {
		const char *answer;
		unsigned flags;
		int heads;
	} cases[] = {
		/* A 200 framed by close cannot be told from a cut one. */
		{ "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nno framing",
		    FAKE_CLOSE, 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "zz\r\nhello\r\n0\r\n\r\n", FAKE_HOLD, 1 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\r\nhelloXX\r\n0\r\n\r\n", FAKE_HOLD, 1 },
		{ "this is no answer at all\r\n\r\n", FAKE_HOLD, 0 },
		{ "HTTP/1.1 100 Continue\r\n\r\n", FAKE_HOLD, 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
		    "Transfer-Encoding: chunked\r\n\r\nhello", FAKE_HOLD, 0 },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct peer *p;
	size_t i;

	for (i = 0; i < N; i++) {
		fake.fp_answers[i].fa_bytes = cases[i].answer;
		fake.fp_answers[i].fa_flags = cases[i].flags;
	}
	fake.fp_nanswers = N;
	p = start_one(&fake, 2000);
	for (i = 0; i < N; i++) {
		struct ex e = { 0 };

		ex_run(&e, p, GET_A, 0, 2000);
		ck_assert_msg(e.fails == 1 && e.why == PEER_BAD_RESPONSE,
		    "case %zu: fails %d why %d", i, e.fails, (int)e.why);
		ck_assert_msg(e.heads == cases[i].heads, "case %zu: heads %d",
		    i, e.heads);
		ck_assert_int_eq(e.dones, 0);
		ck_assert_uint_eq(p->p_nidle, 0);
		ex_free(&e);
	}
	ck_assert_uint_eq(fake_accepts(&fake), N);
}
END_TEST

START_TEST(cut_bodies)
{
	struct peer *p;

	fake.fp_answers[0].fa_bytes = "HTTP/1.1 200 OK\r\nContent-Length: 100"
	    "\r\n\r\n0123456789";
	fake.fp_answers[0].fa_flags = FAKE_CLOSE;
	fake.fp_answers[1].fa_bytes = "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
	fake.fp_answers[1].fa_flags = FAKE_CLOSE;
	fake.fp_nanswers = 2;
	p = start_one(&fake, 2000);
	ex_run(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.heads, 1);
	ck_assert_int_eq(ex1.fails, 1);
	ck_assert_int_eq(ex1.why, PEER_CUT);
	ck_assert_uint_eq(ex1.body.len, 10);
	ex_run(&ex2, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex2.heads, 1);
	ck_assert_int_eq(ex2.fails, 1);
	ck_assert_int_eq(ex2.why, PEER_CUT);
	ck_assert_uint_eq(ex2.body.len, 5);
	ck_assert(memcmp(ex2.body.data, "hello", 5) == 0);
}
END_TEST

START_TEST(refused_from_the_loop)
{
	struct peer *p;
	int fd;
	unsigned port = fake_refusing_port(&fd);

	ck_assert_uint_ne(port, 0);
	p = one_peer(port, 2000);
	ex_request(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.fails, 0);	/* not from inside peer_request */
	RUN_UNTIL(ex_over(&ex1), 3000);
	ck_assert_int_eq(ex1.fails, 1);
	ck_assert_int_eq(ex1.why, PEER_REFUSED);
	ck_assert_int_eq(ex1.nested, 0);
	ck_assert_uint_eq(p->p_entry->pe_health.he_timeouts, 0);
	close(fd);
}
END_TEST

/* A peer whose name did not resolve fails at once, inside peer_request;
 * the failure still comes from the loop, and a close before then means
 * no callback at all. */
START_TEST(unresolved_peer_refused_from_the_loop)
{
	struct peer_spec s;
	struct peer *p;

	memset(&s, 0, sizeof(s));
	snprintf(s.ps_name, sizeof(s.ps_name), "nowhere.invalid:80");
	ck_assert_int_eq(peer_table_replace(table, PEER_SOURCE_CONFIG, &s, 1,
	    1), 0);
	ps = peer_set_create(loop, table, &limits, 2000);
	p = peer_set_first(ps);
	ck_assert_ptr_nonnull(p);
	ex_request(&ex1, p, GET_A, 0, 2000);
	ex_request(&ex2, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.fails + ex2.fails, 0);
	peer_conn_close(ex2.pc);
	RUN_UNTIL(ex_over(&ex1), 3000);
	run_for(30);
	ck_assert_int_eq(ex1.fails, 1);
	ck_assert_int_eq(ex1.why, PEER_REFUSED);
	ck_assert_int_eq(ex1.nested, 0);
	ck_assert_int_eq(ex2.fails + ex2.dones + ex2.heads, 0);
	ck_assert(list_empty(&ps->ps_conns));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Request bodies                                                      */

#define UP_LEN 100000
#define UP_PIECE 7000

static void
upload(unsigned flags, const char *head, struct fake_peer *f, struct ex *e)
{
	static char up[UP_LEN];
	struct peer *p;

	pattern(up, UP_LEN, 2);
	fake_answer_all(f, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
	    0, 0);
	p = start_one(f, 2000);
	e->up = up;
	e->up_len = UP_LEN;
	e->piece = UP_PIECE;
	ex_run(e, p, head, PEER_REQ_BODY | flags, 2000);
	ck_assert_msg(e->fails == 0, "failure %d after %d on_send",
	    (int)e->why, e->sends);
	ck_assert_int_eq(e->dones, 1);
	ck_assert_int_eq(e->status, 201);
	ck_assert_int_eq(e->send_refused, 0);
	ck_assert_int_eq(e->send_while_pending, 0);
	/* One on_send per piece (15), one more for the end. */
	ck_assert_int_eq(e->sends, (UP_LEN + UP_PIECE - 1) / UP_PIECE + 1);
	ck_assert_uint_eq(fake_nreqs(f), 1);
	ck_assert_uint_eq(f->fp_reqs[0].fr_body.len, UP_LEN);
	ck_assert(memcmp(f->fp_reqs[0].fr_body.data, up, UP_LEN) == 0);
	/* A clean end: pooled. */
	ck_assert_uint_eq(p->p_nidle, 1);
}

START_TEST(upload_content_length)
{
	static const char head[] = "PUT /u HTTP/1.1\r\nHost: p\r\n"
	    "Content-Length: 100000\r\n\r\n";
	char *got;

	upload(0, head, &fake, &ex1);
	got = fake_req_head(&fake, 0);
	ck_assert_str_eq(got, head);
	free(got);
}
END_TEST

START_TEST(upload_chunked)
{
	static const char head[] = "PUT /u HTTP/1.1\r\nHost: p\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	const struct buf *raw;
	size_t want;

	upload(PEER_REQ_CHUNKED, head, &fake, &ex1);
	raw = &fake.fp_reqs[0].fr_raw;
	/* One chunk per piece: 14 of 0x1b58 bytes, one of 0x7d0. */
	want = 14 * (6 + UP_PIECE + 2) + (5 + 2000 + 2) + 5;
	ck_assert_uint_eq(raw->len, want);
	ck_assert(memcmp(raw->data, "1b58\r\n", 6) == 0);
	ck_assert(memcmp(raw->data + raw->len - 5, "0\r\n\r\n", 5) == 0);
}
END_TEST

/* A body smaller than a segment, ended by peer_conn_send_end(), goes out
 * at once: what MSG_MORE held back is pushed when the body ends, instead
 * of after the kernel's 200 ms (every gossip exchange waited for it). */
START_TEST(upload_small_body_is_not_held_back)
{
	static const char head[] = "POST /_/gossip HTTP/1.1\r\nHost: p\r\n"
	    "Content-Length: 300\r\n\r\n";
	static char up[300];
	struct peer *p;
	int64_t t0;
	int i;

	pattern(up, sizeof(up), 4);
	fake_answer_all(&fake, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "\r\n", 0, 0);
	p = start_one(&fake, 2000);
	for (i = 0; i < 3; i++) {	/* fresh, then pooled connections */
		memset(&ex1, 0, sizeof(ex1));
		ex1.up = up;
		ex1.up_len = sizeof(up);
		ex1.piece = sizeof(up);
		t0 = loop_clock_ms();
		ex_run(&ex1, p, head, PEER_REQ_BODY, 2000);
		ck_assert_int_eq(ex1.dones, 1);
		ck_assert_msg(loop_clock_ms() - t0 < 150, "exchange %d took %lld "
		    "ms", i, (long long)(loop_clock_ms() - t0));
	}
	ck_assert_uint_eq(fake_nreqs(&fake), 3);
	ck_assert_uint_eq(fake.fp_reqs[2].fr_body.len, sizeof(up));
}
END_TEST

/* Several MiB through small socket buffers: the producer's pieces wait
 * in the connection, and on_send comes only once each is out. */
START_TEST(upload_large_with_backpressure)
{
	enum { LEN = 6 * 1024 * 1024, PIECE = 256 * 1024 };
	struct peer *p;
	int small = 4096;
	char head[128];

	pattern(big, LEN, 3);
	fake.fp_rcvbuf = 4096;
	fake_answer_all(&fake, OK2, 0, 0);
	p = start_one(&fake, 2000);
	ex1.up = big;
	ex1.up_len = LEN;
	ex1.piece = PIECE;
	snprintf(head, sizeof(head), "PUT /big HTTP/1.1\r\nHost: p\r\n"
	    "Content-Length: %d\r\n\r\n", LEN);
	ex_request(&ex1, p, head, PEER_REQ_BODY, 2000);
	ck_assert_int_eq(setsockopt(ex1.pc->pc_fd, SOL_SOCKET, SO_SNDBUF,
	    &small, sizeof(small)), 0);
	RUN_UNTIL(ex_over(&ex1), 8000);
	ck_assert_int_eq(ex1.fails, 0);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_int_gt(ex1.pending, 0);
	ck_assert_int_eq(ex1.send_while_pending, 0);
	ck_assert_int_eq(ex1.send_refused, 0);
	ck_assert_int_eq(ex1.sends, LEN / PIECE + 1);
	ck_assert_uint_eq(fake.fp_reqs[0].fr_body.len, LEN);
	ck_assert(memcmp(fake.fp_reqs[0].fr_body.data, big, LEN) == 0);
}
END_TEST

/* A producer that has nothing for a while is not the peer's fault: no
 * deadline runs while the connection waits for it. */
START_TEST(upload_slow_producer_no_timeout)
{
	static char up[3000];
	struct peer *p;
	int64_t start;

	pattern(up, sizeof(up), 4);
	fake_answer_all(&fake, OK2, 0, 0);
	p = start_one(&fake, 100);
	ex1.up = up;
	ex1.up_len = sizeof(up);
	ex1.piece = 1000;
	ex1.up_delay_ms = 150;
	start = loop_clock_ms();
	ex_run(&ex1, p, "PUT /s HTTP/1.1\r\nHost: p\r\nContent-Length: 3000"
	    "\r\n\r\n", PEER_REQ_BODY, 100);
	ck_assert_int_eq(ex1.fails, 0);
	ck_assert_int_eq(ex1.dones, 1);
	/* Three pieces 150 ms apart (the peer answers once it has the
	 * 3000 bytes, before the end is said). */
	ck_assert_int_ge(loop_clock_ms() - start, 400);
	ck_assert_uint_eq(fake.fp_reqs[0].fr_body.len, sizeof(up));
	ck_assert(memcmp(fake.fp_reqs[0].fr_body.data, up, sizeof(up)) == 0);
}
END_TEST

/* A deadline set once the request is under way (a chunked upload's,
 * once its size is known) is the one its wait for the answer keeps. */
START_TEST(upload_timeout_set_later)
{
	static char up[300];
	struct peer *p;
	int64_t start;

	pattern(up, sizeof(up), 5);
	fake_answer_all(&fake, NULL, 0, FAKE_HOLD);
	p = start_one(&fake, 2000);
	ex1.up = up;
	ex1.up_len = sizeof(up);
	ex1.piece = sizeof(up);
	start = loop_now(loop);
	ex_request(&ex1, p, "PUT /t HTTP/1.1\r\nHost: p\r\nContent-Length: "
	    "300\r\n\r\n", PEER_REQ_BODY, 5000);
	peer_conn_timeout(ex1.pc, 150);
	RUN_UNTIL(ex_over(&ex1), 5000);
	ck_assert_int_eq(ex1.fails, 1);
	ck_assert_int_eq(ex1.why, PEER_TIMEOUT);
	ck_assert_int_ge(ex1.failed_at - start, 150);
	ck_assert_int_lt(ex1.failed_at - start, 1500);
}
END_TEST

/* The peer answers 409 before the body is over: the head comes, the
 * producer hears no more on_send, its sends are refused, and the
 * connection (whose request the peer did not read) is not reused. */
START_TEST(upload_early_answer)
{
	static char up[100000];
	struct peer *p;

	fake.fp_answers[0].fa_bytes = "HTTP/1.1 409 Conflict\r\n"
	    "Content-Length: 0\r\n\r\n";
	fake.fp_answers[0].fa_flags = FAKE_EARLY;
	fake.fp_answers[1].fa_bytes = OK2;
	fake.fp_nanswers = 2;
	p = start_one(&fake, 2000);
	ex1.up = up;
	ex1.up_len = sizeof(up);
	ex1.piece = 1000;
	ex1.up_now = 1;		/* one piece, then nothing for 2 s */
	ex1.up_delay_ms = 2000;
	ex_run(&ex1, p, "PUT /c HTTP/1.1\r\nHost: p\r\nContent-Length: 100000"
	    "\r\n\r\n", PEER_REQ_BODY, 2000);
	ck_assert_int_eq(ex1.fails, 0);
	ck_assert_int_eq(ex1.heads, 1);
	ck_assert_int_eq(ex1.status, 409);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_int_eq(ex1.send_rc_after_head, -1);
	ck_assert_int_eq(ex1.end_rc_after_head, -1);
	ck_assert(!ex1.reusable_at_head);
	run_for(100);
	ck_assert_int_eq(ex1.sends_after_head, 0);
	ck_assert_uint_eq(p->p_nidle, 0);
	ex_run(&ex2, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex2.dones, 1);
	ck_assert(!ex2.reused);
	ck_assert_uint_eq(fake_accepts(&fake), 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Answers read for nobody                                             */

START_TEST(discard_pools_a_small_answer)
{
	static const char answer[] = "HTTP/1.1 404 Not Found\r\n"
	    "Content-Length: 8\r\n\r\nnot here";
	struct peer *p;

	/* The body comes after the head, for nobody. */
	fake.fp_answers[0].fa_bytes = answer;
	fake.fp_answers[0].fa_split = strlen(answer) - 8;
	fake.fp_answers[0].fa_pause_ms = 100;
	/* The answer comes once the request is out and discarded. */
	fake.fp_answers[1].fa_bytes = answer;
	fake.fp_answers[1].fa_delay_ms = 100;
	fake.fp_answers[2].fa_bytes = OK2;
	fake.fp_nanswers = 3;
	p = start_one(&fake, 2000);

	ex1.discard_at_head = true;
	ex_request(&ex1, p, GET_A, 0, 2000);
	RUN_UNTIL(p->p_nidle == 1, 3000);
	ck_assert_uint_eq(p->p_nidle, 1);
	ck_assert_uint_eq(p->p_ndiscard, 0);
	ck_assert_int_eq(ex1.heads, 1);
	ck_assert_int_eq(ex1.bodies + ex1.dones + ex1.fails, 0);

	/* Discarded before any answer: the request is out, so the answer
	 * is awaited and read. */
	ex_request(&ex2, p, GET_A, 0, 2000);
	RUN_UNTIL(ex2.pc != NULL && ex2.pc->pc_state == PC_HEAD, 1000);
	ck_assert_ptr_nonnull(ex2.pc);
	ck_assert_int_eq(ex2.pc->pc_state, PC_HEAD);
	peer_conn_discard(ex2.pc);
	ck_assert_uint_eq(p->p_ndiscard, 1);
	RUN_UNTIL(p->p_nidle == 1, 3000);
	ck_assert_uint_eq(p->p_nidle, 1);
	ck_assert_uint_eq(p->p_ndiscard, 0);
	ck_assert_int_eq(ex2.heads + ex2.bodies + ex2.dones + ex2.fails, 0);

	ex_run(&ex3, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex3.dones, 1);
	ck_assert(ex3.reused);
	ck_assert_uint_eq(fake_accepts(&fake), 1);
}
END_TEST

START_TEST(discard_closes_a_large_answer)
{
	struct peer *p;

	fake_answer_all(&fake, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n"
	    "\r\n", 0, FAKE_HOLD);
	p = start_one(&fake, 2000);
	ex1.discard_at_head = true;
	ex_request(&ex1, p, GET_A, 0, 2000);
	RUN_UNTIL(fake_eofs(&fake) == 1, 3000);
	ck_assert_uint_eq(fake_eofs(&fake), 1);
	ck_assert_int_eq(ex1.heads, 1);
	ck_assert_int_eq(ex1.bodies + ex1.dones + ex1.fails, 0);
	ck_assert_uint_eq(p->p_nidle, 0);
	ck_assert_uint_eq(p->p_ndiscard, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rest                                                                */

static void
timed_out_lookup(struct peer *p)
{
	struct ex e = { 0 };

	ex_run(&e, p, GET_A, 0, 100);
	ck_assert_int_eq(e.fails, 1);
	ck_assert_int_eq(e.why, PEER_TIMEOUT);
	ex_free(&e);
}

START_TEST(rest_after_timeouts_shared_by_workers)
{
	struct peer_view v[8];
	struct peer_health *he;
	struct peer *p;
	uint64_t version;
	pid_t pid;
	int i, status;

	for (i = 0; i < 4; i++)
		fake.fp_answers[i].fa_flags = FAKE_HOLD;
	fake.fp_answers[4].fa_bytes = "HTTP/1.1 404 Not Found\r\n"
	    "Content-Length: 0\r\n\r\n";
	fake.fp_nanswers = 5;
	p = start_one(&fake, 100);
	ck_assert_uint_eq(peer_table_read(table, v, 8, &version), 1);
	/* The health is the table entry's, in memory every worker maps. */
	ck_assert_ptr_eq(p->p_entry, peer_table_entry(table, v[0].pv_slot));
	he = &p->p_entry->pe_health;

	for (i = 0; i < PEER_REST_AFTER; i++) {
		ck_assert(peer_may_ask(ps, p));
		timed_out_lookup(p);
	}
	ck_assert_uint_eq(he->he_timeouts, PEER_REST_AFTER);
	ck_assert_int_eq(he->he_rest_ms, PEER_REST_MIN_MS);
	ck_assert_int_gt(he->he_rest_until_ms, loop_now(loop));
	ck_assert(!peer_may_ask(ps, p));

	/* Another worker, with a view of its own, lets it rest too. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct loop *l2 = loop_create();
		struct peer_set *ps2 = peer_set_create(l2, table, &limits, 100);
		struct peer *q = peer_set_first(ps2);

		_exit(q != NULL && q != p && !peer_may_ask(ps2, q) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The rest over, one probe is let through, and only one. */
	RUN_UNTIL(loop_now(loop) >= he->he_rest_until_ms, 2000);
	ck_assert(peer_may_ask(ps, p));
	ck_assert(!peer_may_ask(ps, p));
	timed_out_lookup(p);
	ck_assert_uint_eq(he->he_timeouts, PEER_REST_AFTER + 1);
	ck_assert_int_eq(he->he_rest_ms, 2 * PEER_REST_MIN_MS);
	ck_assert(!peer_may_ask(ps, p));

	/* Any answer ends the rest. */
	ex_run(&ex1, p, GET_A, 0, 2000);
	ck_assert_int_eq(ex1.dones, 1);
	ck_assert_int_eq(ex1.status, 404);
	ck_assert_uint_eq(he->he_timeouts, 0);
	ck_assert_int_eq(he->he_rest_ms, 0);
	ck_assert(peer_may_ask(ps, p));
}
END_TEST

int
main(void)
{
	TCase *up;

	check_main_tcase("answers", peer_fixture_setup, teardown,
	    CHECK_MAIN_TESTS(get_content_length, get_chunked_in_pieces,
	    head_answer_has_no_body, body_at_the_consumers_pace,
	    read_size_is_the_requests, keepalive_reuses_the_connection,
	    closed_idle_connection_retried_on_a_fresh_one, retried_once_only));
	check_main_tcase("failures", peer_fixture_setup, teardown,
	    CHECK_MAIN_TESTS(no_answer_times_out, stall_mid_body_times_out,
	    bad_responses, cut_bodies, refused_from_the_loop,
	    unresolved_peer_refused_from_the_loop));
	up = check_main_tcase("request bodies", peer_fixture_setup, teardown,
	    CHECK_MAIN_TESTS(upload_content_length, upload_chunked,
	    upload_small_body_is_not_held_back,
	    upload_large_with_backpressure, upload_slow_producer_no_timeout,
	    upload_timeout_set_later, upload_early_answer));
	tcase_set_timeout(up, 10);
	check_main_tcase("discard and rest", peer_fixture_setup, teardown,
	    CHECK_MAIN_TESTS(discard_pools_a_small_answer,
	    discard_closes_a_large_answer,
	    rest_after_timeouts_shared_by_workers));
	return check_main_run();
}
