/*
 * exchange.h - one exchange with a peer as its handler saw it, for the
 * suites of the peer client (check_peer.c, check_peer_set.c): every
 * callback counted (and whether it came from inside peer_request()), the
 * answer's head, its body kept, the peer as it was at the end; and a
 * producer of a request body, piece by piece, at once or from a timer.
 *
 * Uses the suite's loop and set (peer_fixture.h). Everything runs on the
 * test's main thread, in the loop's callbacks.
 */
#ifndef SHOAL_T_EXCHANGE_H
#define SHOAL_T_EXCHANGE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/list.h"
#include "peer/peer.h"
#include "peer_fixture.h"

static bool in_request;		/* inside peer_request(): no callback */

struct ex {
	struct peer_conn *pc;		/* NULL once over (or handed back) */
	int heads, bodies, dones, fails, sends;
	int nested;			/* callbacks from inside peer_request */
	enum peer_failure why;
	int status;
	bool reused;			/* pc_reused at the head */
	uint64_t content_length;
	int64_t head_at, failed_at;
	struct buf body;
	bool hold;			/* keep the bytes (no _consumed) */
	size_t held;
	bool discard_at_head;		/* peer_conn_discard() in on_head */
	/* the producer of a request body */
	const char *up;
	size_t up_len, up_off, piece;
	int up_now;			/* pieces given at once, then ... */
	int up_delay_ms;		/* ... each one from a timer */
	struct loop_timer up_timer;
	int pending;			/* a piece left pending by _send */
	int send_while_pending;		/* on_send with a piece pending */
	int send_refused;		/* _send or _send_end said -1 */
	int sends_after_head;
	int send_rc_after_head, end_rc_after_head;
	bool reusable_at_head;
	bool gone_at_done;		/* pc_peer->p_gone in on_done */
	char name_at_done[PEER_NAME_MAX];	/* pc_peer->p_name then */
};

static inline bool
ex_over(const struct ex *e)
{
	return e->dones + e->fails > 0;
}

static inline void
ex_produce(struct ex *e)
{
	struct peer_conn *pc = e->pc;

	if (e->up_off < e->up_len) {
		size_t n = e->up_len - e->up_off < e->piece ?
		    e->up_len - e->up_off : e->piece;

		if (peer_conn_send(pc, e->up + e->up_off, n) == -1) {
			e->send_refused++;
			return;
		}
		e->up_off += n;
		if (pc->pc_piece != NULL)
			e->pending++;	/* the socket did not take it all */
		return;
	}
	if (peer_conn_send_end(pc) == -1)
		e->send_refused++;
}

static inline void
ex_on_up_timer(struct loop *l, struct loop_timer *t)
{
	(void)l;
	ex_produce(container_of(t, struct ex, up_timer));
}

static inline void
ex_on_head(struct peer_conn *pc, void *arg)
{
	struct ex *e = arg;

	e->nested += in_request;
	e->heads++;
	e->head_at = loop_now(loop);	/* the clock of the deadlines */
	e->status = pc->pc_resp.status;
	e->reused = pc->pc_reused;
	e->content_length = pc->pc_resp.content_length;
	if (e->up != NULL) {
		/* The answer ends the body, whatever the producer has. */
		loop_timer_cancel(loop, &e->up_timer);
		e->send_rc_after_head = peer_conn_send(pc, "x", 1);
		e->end_rc_after_head = peer_conn_send_end(pc);
		e->reusable_at_head = pc->pc_reusable;
	}
	if (e->discard_at_head) {
		peer_conn_discard(pc);
		e->pc = NULL;
	}
}

static inline void
ex_on_body(struct peer_conn *pc, void *arg)
{
	struct ex *e = arg;

	e->nested += in_request;
	e->bodies++;
	buf_append(&e->body, peer_conn_data(pc), peer_conn_data_len(pc));
	if (e->hold)
		e->held = peer_conn_data_len(pc);
	else
		peer_conn_consumed(pc);
}

static inline void
ex_on_done(struct peer_conn *pc, void *arg)
{
	struct ex *e = arg;

	e->nested += in_request;
	e->dones++;
	/* The peer must still be there, listed or not. */
	e->gone_at_done = pc->pc_peer->p_gone;
	memcpy(e->name_at_done, pc->pc_peer->p_name, PEER_NAME_MAX);
	e->pc = NULL;
	peer_conn_release(pc);
}

static inline void
ex_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct ex *e = arg;

	(void)pc;
	e->nested += in_request;
	e->fails++;
	e->why = why;
	e->failed_at = loop_now(loop);
	e->pc = NULL;
	loop_timer_cancel(loop, &e->up_timer);
}

static inline void
ex_on_send(struct peer_conn *pc, void *arg)
{
	struct ex *e = arg;

	e->nested += in_request;
	e->sends++;
	if (e->heads > 0)
		e->sends_after_head++;
	if (pc->pc_piece != NULL)
		e->send_while_pending++;
	if (e->up_delay_ms > 0 && e->sends > e->up_now)
		loop_timer_set(loop, &e->up_timer, e->up_delay_ms,
		    ex_on_up_timer);
	else
		ex_produce(e);
}

static const struct peer_handler ex_handler = {
	.on_head = ex_on_head,
	.on_body = ex_on_body,
	.on_done = ex_on_done,
	.on_fail = ex_on_fail,
	.on_send = ex_on_send,
};

static inline struct peer_conn *
ex_request(struct ex *e, struct peer *p, const char *head, unsigned flags,
    int64_t timeout_ms)
{
	in_request = true;
	e->pc = peer_request(ps, p, head, strlen(head), flags, timeout_ms,
	    &ex_handler, e);
	in_request = false;
	ck_assert_ptr_nonnull(e->pc);
	return e->pc;
}

/* Runs a whole exchange; asserts that it ended. */
static inline void
ex_run(struct ex *e, struct peer *p, const char *head, unsigned flags,
    int64_t timeout_ms)
{
	ex_request(e, p, head, flags, timeout_ms);
	RUN_UNTIL(ex_over(e), 5000);
	ck_assert_msg(ex_over(e), "the exchange never ended");
	ck_assert_int_eq(e->nested, 0);
}

/* Frees what e holds (its body). */
static inline void
ex_free(struct ex *e)
{
	buf_free(&e->body);
}

#endif
