/*
 * move_copy.c - the copy of a move (see move.h, step 1): the part's
 * bytes read from its file in the agent's pool, a piece at a time, and
 * streamed to the new store at a rate; its digest checked, then the
 * switch (move.c). Loop thread of the agent; the reads in its pool, which
 * touch only the fields marked "job" in move_int.h while mv_busy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/http.h"
#include "peer/peer.h"
#include "stripe/move_int.h"
#include "stripe/parts_serve.h"

static void move_copy_next(struct move *mv);

/* The copy failed: nothing changed. Waits for a read out. */
static void
move_copy_fail(struct move *mv, const char *why)
{
	if (why != NULL)
		snprintf(mv->mv_why, sizeof(mv->mv_why), "%s", why);
	if (mv->mv_busy)
		return;		/* move_read_done comes back here */
	move_finish(mv, MOVE_FAILED, mv->mv_why);
}

static void
move_read_job(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);
	uint64_t left = mv->mv_size - mv->mv_off;
	size_t want = left < mv->mv_chunk ? (size_t)left : mv->mv_chunk;
	ssize_t n = pread(mv->mv_fd, mv->mv_buf, want, (off_t)mv->mv_off);

	mv->mv_err = n == (ssize_t)want ? 0 : n < 0 ? errno : EIO;
	mv->mv_len = n > 0 ? (size_t)n : 0;
}

static void
move_read_done(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);
	struct peer_conn *pc = mv->mv_legs[0].ml_pc;

	mv->mv_busy = false;
	if (mv->mv_stopped)
		return;
	if (pc == NULL || mv->mv_answered) {
		move_copy_fail(mv, NULL);
		return;
	}
	if (mv->mv_err != 0) {
		snprintf(mv->mv_why, sizeof(mv->mv_why), "reading %s: %s",
		    mv->mv_name, strerror(mv->mv_err));
		move_copy_fail(mv, NULL);
		return;
	}
	mv->mv_off += mv->mv_len;
	mv->mv_piece_out = true;
	if (peer_conn_send(pc, mv->mv_buf, mv->mv_len) == -1)
		mv->mv_piece_out = false;	/* an answer came: on_head */
}

static void
move_copy_due(struct loop *loop, struct loop_timer *t)
{
	struct move *mv = container_of(t, struct move, mv_timer);

	(void)loop;
	mv->mv_timed = false;
	move_copy_next(mv);
}

/* The next piece, when the connection wants it and the pace allows. */
static void
move_copy_next(struct move *mv)
{
	struct peer_conn *pc = mv->mv_legs[0].ml_pc;
	int64_t due, now = loop_now(mv->mv_loop);

	if (pc == NULL || mv->mv_busy || mv->mv_piece_out || mv->mv_timed ||
	    mv->mv_ended)
		return;
	if (mv->mv_off == mv->mv_size) {
		mv->mv_ended = true;
		(void)peer_conn_send_end(pc);
		return;
	}
	if (mv->mv_rate > 0) {
		due = mv->mv_t0 + (int64_t)(mv->mv_off * 1000 / mv->mv_rate);
		if (due > now) {
			mv->mv_timed = true;
			loop_timer_set(mv->mv_loop, &mv->mv_timer, due - now,
			    move_copy_due);
			return;
		}
	}
	move_submit(mv, move_read_job, move_read_done);
}

static void
move_copy_send(struct peer_conn *pc, void *arg)
{
	struct move *mv = ((struct move_leg *)arg)->ml_mv;

	(void)pc;
	mv->mv_piece_out = false;	/* the last piece went */
	move_copy_next(mv);
}

static void
move_copy_head(struct peer_conn *pc, void *arg)
{
	struct move *mv = ((struct move_leg *)arg)->ml_mv;
	const struct manifest_part *p = &mv->mv_next.m_parts[mv->mv_index];
	const struct http_header *h;
	struct digest d;
	int status = pc->pc_resp.status;

	h = http_find_header(&pc->pc_resp, PARTS_DIGEST_HEADER);
	mv->mv_answered = true;
	if (status != 201 || mv->mv_off != mv->mv_size || h == NULL ||
	    digest_parse(h->value.p, h->value.len, &d) == -1 ||
	    !digest_equal(&d, &p->mp_digest)) {
		peer_conn_discard(pc);
		mv->mv_legs[0].ml_pc = NULL;
		snprintf(mv->mv_why, sizeof(mv->mv_why), status == 201 ?
		    "%s stored other bytes than the part's" : "%s refused the "
		    "copy (%d)", p->mp_node, status);
		move_copy_fail(mv, NULL);
		return;
	}
	peer_conn_discard(pc);
	mv->mv_legs[0].ml_pc = NULL;
	/* The copy is whole and checked at the new store: the switch. */
	(void)move_switch_begin(mv, false);
}

static void
move_copy_failed(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct move *mv = ((struct move_leg *)arg)->ml_mv;

	(void)pc;
	mv->mv_legs[0].ml_pc = NULL;
	snprintf(mv->mv_why, sizeof(mv->mv_why), "the copy to %s failed (%d)",
	    mv->mv_next.m_parts[mv->mv_index].mp_node, (int)why);
	move_copy_fail(mv, NULL);
}

static const struct peer_handler move_copy_handler = {
	.on_head = move_copy_head,
	.on_body = move_leg_ignore,
	.on_done = move_leg_ignore,
	.on_fail = move_copy_failed,
	.on_send = move_copy_send,
};

static void
move_open_job(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);
	struct stat st;

	mv->mv_err = 0;
	mv->mv_fd = openat(mv->mv_dir_fd, mv->mv_name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (mv->mv_fd == -1 || fstat(mv->mv_fd, &st) == -1)
		mv->mv_err = errno;
	else if ((uint64_t)st.st_size < mv->mv_size)
		mv->mv_err = EIO;	/* the part's bytes come first */
}

static void
move_open_done(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);
	struct move_leg *l = &mv->mv_legs[0];
	char target[64];

	mv->mv_busy = false;
	if (mv->mv_stopped)
		return;
	if (mv->mv_err != 0) {
		snprintf(mv->mv_why, sizeof(mv->mv_why), "%s: %s",
		    mv->mv_name, mv->mv_err == EIO ? "shorter than the part" :
		    strerror(mv->mv_err));
		move_finish(mv, MOVE_FAILED, mv->mv_why);
		return;
	}
	mv->mv_phase = PHASE_COPY;
	mv->mv_nlegs = 1;
	memcpy(l->ml_node, mv->mv_next.m_parts[mv->mv_index].mp_node,
	    MEMBER_NAME_MAX);
	snprintf(target, sizeof(target), "/_/parts/%s/%u", mv->mv_next.m_id,
	    mv->mv_index);
	mv->mv_t0 = loop_now(mv->mv_loop);
	/* Signed over its head only, as every part upload. */
	if (!move_request(mv, l, "PUT", target, mv->mv_size, NULL,
	    PEER_REQ_BODY, &move_copy_handler)) {
		snprintf(mv->mv_why, sizeof(mv->mv_why), "%s cannot be reached",
		    l->ml_node);
		move_finish(mv, MOVE_FAILED, mv->mv_why);
	}
}

int
move_copy_start(struct move *mv, int dir_fd, const char *name,
    uint64_t rate, move_done_fn *done, void *arg)
{
	size_t chunk;

	mv->mv_done = done;
	mv->mv_arg = arg;
	mv->mv_switched = false;
	mv->mv_dir_fd = dir_fd;
	snprintf(mv->mv_name, sizeof(mv->mv_name), "%s", name);
	mv->mv_size = mv->mv_next.m_parts[mv->mv_index].mp_size;
	mv->mv_off = 0;
	mv->mv_rate = rate;
	/* Pieces of an eighth of a second at the rate: the pauses between
	 * them stay far below the stores' deadlines. */
	chunk = rate == 0 || rate / 8 > MOVE_CHUNK_MAX ? MOVE_CHUNK_MAX :
	    rate / 8 < MOVE_CHUNK_MIN ? MOVE_CHUNK_MIN : (size_t)(rate / 8);
	mv->mv_chunk = chunk;
	mv->mv_piece_out = mv->mv_ended = mv->mv_answered = false;
	mv->mv_phase = PHASE_OPEN;
	move_submit(mv, move_open_job, move_open_done);
	return 0;
}
