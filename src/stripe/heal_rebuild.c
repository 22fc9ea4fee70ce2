/*
 * heal_rebuild.c - a lost part rebuilt at its object's origin (see
 * heal.h), one stripe row at a time: a block of each of k good parts
 * asked for, the part's block decoded and written to a file in
 * parts/tmp at stripe.heal_rate bytes/s at most, the file then sent to
 * its new store and the manifest switched (stripe/move.h). Loop thread
 * of the agent; the decode and the writes of a row, and the file's
 * close, in its pool (h_job), touching only the fields marked "job"
 * while h_busy.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "stripe/erasure.h"
#include "stripe/heal_int.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"
#include "stripe/move.h"
#include "stripe/stripe.h"

void
heal_rebuild_legs_close(struct heal *h)
{
	unsigned i;

	for (i = 0; i < ERASURE_BLOCKS_MAX; i++)
		if (h->h_legs[i].hl_pc != NULL) {
			peer_conn_close(h->h_legs[i].hl_pc);
			h->h_legs[i].hl_pc = NULL;
		}
}

/* The rebuild is over (the file's descriptor closed); why: NULL when
 * the file is whole and goes to its store. */
static void
heal_close_job(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_job);

	if (h->h_fd != -1)
		close(h->h_fd);
	h->h_fd = -1;
	if (h->h_err != 0)
		(void)unlinkat(h->h_tmp_fd, h->h_file, 0);
}

static void
heal_failed_done(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_job);

	h->h_busy = false;
	h->h_rebuilding = false;
	if (h->h_stopped)
		return;
	heal_rearm(h, HEAL_TICK_MS);
}

static void
heal_fail(struct heal *h, const char *why)
{
	heal_rebuild_legs_close(h);
	stripe_add(&h->h_shared->ss_heals_failed, 1);
	log_warnx("heal: %s failed: %s", h->h_what, why);
	h->h_err = EIO;
	heal_submit(h, heal_close_job, heal_failed_done);
}

static void
heal_moved(void *arg, enum move_result r, uint64_t bytes, const char *why)
{
	struct heal *h = arg;

	(void)unlinkat(h->h_tmp_fd, h->h_file, 0);
	if (h->h_stopped)
		return;
	if (r == MOVE_DONE || r == MOVE_PENDING) {
		stripe_add(&h->h_shared->ss_heals_done, 1);
		stripe_add(&h->h_shared->ss_healed_bytes, bytes);
		log_info("heal: %s done%s%s", h->h_what, why != NULL ? ": " :
		    "", why != NULL ? why : "");
		heal_rearm(h, HEAL_NEXT_MS);
		return;
	}
	stripe_add(&h->h_shared->ss_heals_failed, 1);
	log_warnx("heal: %s failed: %s", h->h_what, why);
	heal_rearm(h, HEAL_TICK_MS);
}

static void
heal_send_done(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_job);

	h->h_busy = false;
	if (h->h_stopped)
		return;
	if (move_rebuilt(h->h_move, &h->h_next, h->h_index, h->h_from,
	    h->h_tmp_fd, h->h_file, heal_moved, h) == -1) {
		(void)unlinkat(h->h_tmp_fd, h->h_file, 0);
		heal_rearm(h, HEAL_TICK_MS);
	}
	h->h_rebuilding = false;
}

/* Pool: the row's lost block decoded and written at its place. */
static void
heal_decode_job(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_job);
	enum erasure_result r;
	size_t off = 0;
	ssize_t n;

	h->h_err = 0;
	if (h->h_fd == -1) {
		h->h_fd = openat(h->h_tmp_fd, h->h_file, O_WRONLY | O_CREAT |
		    O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (h->h_fd == -1) {
			h->h_err = errno;
			return;
		}
	}
	if (h->h_rows == 0)
		return;
	r = erasure_decode(h->h_er, h->h_blocks, h->h_lens, h->h_have,
	    1u << h->h_index);
	if (r != ERASURE_OK) {
		h->h_err = EINVAL;
		return;
	}
	while (off < h->h_out_len) {
		n = pwrite(h->h_fd, h->h_blocks[h->h_index] + off,
		    h->h_out_len - off, (off_t)(h->h_row *
		    h->h_layout.l_block + off));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			h->h_err = n == 0 ? EIO : errno;
			return;
		}
		off += (size_t)n;
	}
}

static void
heal_decode_done(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_job);
	int64_t due, now;
	uint64_t rate = h->h_cfg->stripe.heal_rate;

	h->h_busy = false;
	if (h->h_stopped)
		return;
	if (h->h_err != 0) {
		heal_fail(h, h->h_err == EINVAL ? "the row did not decode" :
		    strerror(h->h_err));
		return;
	}
	if (h->h_rows > 0) {
		h->h_written += h->h_out_len;
		h->h_row++;
	}
	if (h->h_row >= h->h_rows) {
		h->h_err = 0;
		heal_submit(h, heal_close_job, heal_send_done);
		return;
	}
	now = loop_now(h->h_loop);
	due = h->h_t0 + (int64_t)(h->h_written * 1000 / (rate > 0 ? rate : 1));
	if (due > now) {
		loop_timer_set(h->h_loop, &h->h_timer, due - now, heal_tick);
		return;
	}
	heal_rebuild_row(h);
}

/* Every request of the row answered, or could not be sent. */
static void
heal_row_read(struct heal *h)
{
	if (h->h_bad & h->h_have) {
		heal_rebuild_row(h);	/* again, with other parts */
		return;
	}
	heal_submit(h, heal_decode_job, heal_decode_done);
}

static void
heal_leg_over(struct heal_leg *l, bool failed)
{
	struct heal *h = l->hl_h;

	l->hl_pc = NULL;
	l->hl_failed = failed;
	if (failed)
		h->h_bad |= 1u << l->hl_index;
	if (--h->h_waiting > 0 || h->h_stopped)
		return;
	heal_row_read(h);
}

static void
heal_leg_head(struct peer_conn *pc, void *arg)
{
	struct heal_leg *l = arg;
	int status = pc->pc_resp.status;

	if (status != 206 && status != 200) {
		log_warnx("heal: %s: part %u on %s answered %d", l->hl_h->h_what,
		    l->hl_index, l->hl_h->h_m.m_parts[l->hl_index].mp_node,
		    status);
		peer_conn_discard(pc);
		heal_leg_over(l, true);
	}
}

static void
heal_leg_body(struct peer_conn *pc, void *arg)
{
	struct heal_leg *l = arg;
	size_t n = peer_conn_data_len(pc);

	if (l->hl_fill + n > l->hl_want) {
		peer_conn_close(pc);
		heal_leg_over(l, true);
		return;
	}
	memcpy(l->hl_h->h_blocks[l->hl_index] + l->hl_fill,
	    peer_conn_data(pc), n);
	l->hl_fill += n;
	peer_conn_consumed(pc);
}

static void
heal_leg_done(struct peer_conn *pc, void *arg)
{
	struct heal_leg *l = arg;

	peer_conn_release(pc);
	heal_leg_over(l, l->hl_fill != l->hl_want);
}

static void
heal_leg_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	(void)pc;
	(void)why;
	heal_leg_over(arg, true);
}

static const struct peer_handler heal_leg_handler = {
	.on_head = heal_leg_head,
	.on_body = heal_leg_body,
	.on_done = heal_leg_done,
	.on_fail = heal_leg_fail,
};

/* The next row: k good parts asked for its block (an empty data block
 * needs no asking). */
void
heal_rebuild_row(struct heal *h)
{
	const struct manifest *m = &h->h_m;
	unsigned k = manifest_data_parts(m), i, have = 0;
	uint64_t block = h->h_layout.l_block, off = h->h_row * block, size;
	char target[64], range[96];

	for (i = 0; i < k; i++) {
		size = layout_part_size(&h->h_layout, i);
		h->h_lens[i] = size > off ? (size_t)(size - off < block ?
		    size - off : block) : 0;
	}
	h->h_out_len = h->h_index < k ? h->h_lens[h->h_index] : h->h_lens[0];
	h->h_have = 0;
	for (i = 0; i < m->m_nparts && have < k; i++)
		if (i != h->h_index && !(h->h_lost & 1u << i) &&
		    !(h->h_bad & 1u << i)) {
			h->h_have |= 1u << i;
			have++;
		}
	if (have < k) {
		heal_fail(h, "fewer than k parts can be read");
		return;
	}
	h->h_waiting = 1;		/* until every request is out */
	for (i = 0; i < m->m_nparts; i++) {
		struct heal_leg *l = &h->h_legs[i];

		if (!(h->h_have & 1u << i))
			continue;
		l->hl_h = h;
		l->hl_index = i;
		l->hl_fill = 0;
		l->hl_failed = false;
		l->hl_want = i < k ? h->h_lens[i] : h->h_lens[0];
		if (l->hl_want == 0)
			continue;
		snprintf(target, sizeof(target), "/_/parts/%s/%u", m->m_id, i);
		snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-%"
		    PRIu64 "\r\n", off, off + l->hl_want - 1);
		h->h_waiting++;
		l->hl_pc = heal_request(h, m->m_parts[i].mp_node, "GET",
		    target, range, &heal_leg_handler, l);
		if (l->hl_pc == NULL) {
			h->h_waiting--;
			h->h_bad |= 1u << i;
		}
	}
	if (--h->h_waiting == 0)
		heal_row_read(h);
}

/* Rebuilds part h_index of h_m (h_next placing it). */
void
heal_rebuild(struct heal *h)
{
	const struct manifest *m = &h->h_m;
	unsigned k = manifest_data_parts(m), i;
	uint64_t size = m->m_parts[h->h_index].mp_size;
	char addr[MEMBER_ADDR_MAX];
	bool alive = false;

	h->h_layout = manifest_layout(m);
	if (h->h_er == NULL || erasure_data(h->h_er) != k ||
	    erasure_parity(h->h_er) != m->m_parity) {
		erasure_free(h->h_er);
		h->h_er = erasure_new(k, m->m_parity);
	}
	if (h->h_block_cap < m->m_block)
		for (i = 0; i < ERASURE_BLOCKS_MAX; i++) {
			free(h->h_blocks[i]);
			h->h_blocks[i] = NULL;
		}
	for (i = 0; i < ERASURE_BLOCKS_MAX && h->h_er != NULL; i++)
		if (h->h_blocks[i] == NULL && (h->h_blocks[i] =
		    erasure_buf_alloc(m->m_block)) == NULL)
			break;
	if (h->h_er == NULL || i < ERASURE_BLOCKS_MAX) {
		log_warnx("heal: %s: out of memory", h->h_what);
		heal_rearm(h, HEAL_TICK_MS);
		return;
	}
	h->h_block_cap = m->m_block;
	/* The old part is deleted where its store is still alive. */
	h->h_from[0] = '\0';
	if (gossip_member_addr(h->h_cluster, m->m_parts[h->h_index].mp_node,
	    addr, sizeof(addr), &alive) == 0 && alive)
		memcpy(h->h_from, m->m_parts[h->h_index].mp_node,
		    MEMBER_NAME_MAX);
	snprintf(h->h_file, sizeof(h->h_file), "heal-%s.%u", m->m_id,
	    h->h_index);
	h->h_fd = -1;
	h->h_bad = 0;
	h->h_row = h->h_written = 0;
	h->h_rows = (size + m->m_block - 1) / m->m_block;
	h->h_t0 = loop_now(h->h_loop);
	h->h_rebuilding = true;
	log_info("heal: %s", h->h_what);
	if (h->h_rows == 0) {		/* an empty part: its file */
		heal_submit(h, heal_decode_job, heal_decode_done);
		return;
	}
	heal_rebuild_row(h);
}
