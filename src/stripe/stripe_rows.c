/*
 * stripe_rows.c - a GET of a striped object with parity, row by row from
 * any k of its parts (see stripe_rows.h). Loop thread of a worker.
 *
 * The current row is r_row. Every active leg gathers its block of that
 * row from its connection's data into its buffer (what it holds of the
 * next rows waits in the connection, unread); once all have theirs, the
 * row's missing data blocks are rebuilt (r_ready), the range's bytes of
 * the row go to the client, and every leg starts on the next row.
 *
 * State: the cluster, the shared counters, the code of the last (k, m)
 * and the list of reads, set once per worker before serving; the list
 * is the loop thread's.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/server.h"
#include "stripe/erasure.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"
#include "stripe/parts_serve.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"
#include "stripe/stripe_rows.h"

#define ROWS_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)

static struct cluster *sr_cluster;
static struct stripe_shared *sr_shared;
static struct erasure *sr_code;
static struct list sr_all = LIST_HEAD_INIT(sr_all);

struct rows_leg {
	struct stripe_rows *x_rows;
	unsigned x_index;		/* the part */
	struct peer_conn *x_pc;
	bool x_active;			/* read for the current row */
	bool x_bad;			/* missing, unreachable or failed */
	uint64_t x_want, x_taken;	/* bytes asked for, taken */
	size_t x_fill;			/* of the current row's block */
	size_t x_off;			/* into the connection's data */
	unsigned char *x_buf;		/* one block */
};

struct stripe_rows {
	struct list r_link;		/* sr_all */
	struct server *r_srv;
	struct conn *r_conn;		/* NULL before run, or once gone */
	struct manifest r_m;
	struct layout r_layout;
	unsigned r_k, r_n;		/* data parts, all parts */
	uint64_t r_pos, r_end;		/* the object's bytes to send */
	uint64_t r_row, r_last_row;
	bool r_ready;			/* the current row is whole */
	bool r_pumping;
	bool r_rebuilt;			/* some block was rebuilt */
	struct rows_leg r_legs[CONFIG_STRIPE_PARTS_MAX];
};

static void rows_pump(struct stripe_rows *r);

void
stripe_rows_attach(struct cluster *cl, struct stripe_shared *ss)
{
	sr_cluster = cl;
	sr_shared = ss;
}

/* Bytes of part p in row `row` (a parity part is as long as part 0). */
static size_t
rows_block_len(const struct stripe_rows *r, unsigned p, uint64_t row)
{
	uint64_t size = layout_part_size(&r->r_layout, p < r->r_k ? p : 0);
	uint64_t off = row * r->r_layout.l_block;

	if (size <= off)
		return 0;
	return (size_t)(size - off < r->r_layout.l_block ? size - off :
	    r->r_layout.l_block);
}

void
stripe_rows_free(struct stripe_rows *r)
{
	unsigned i;

	list_remove(&r->r_link);
	for (i = 0; i < r->r_n; i++) {
		if (r->r_legs[i].x_pc != NULL)
			peer_conn_close(r->r_legs[i].x_pc);
		free(r->r_legs[i].x_buf);
	}
	free(r);
}

/* The body cannot be completed: the client sees the connection cut. */
static void
rows_cut(struct stripe_rows *r, const char *why)
{
	struct conn *c = r->r_conn;

	log_warnx("striped read of %s (%s) cut: %s", r->r_m.m_name,
	    r->r_m.m_id, why);
	stripe_add(&sr_shared->ss_reads_cut, 1);
	r->r_conn = NULL;
	stripe_rows_free(r);
	if (c != NULL)
		conn_abort(c);
}

/* -- the parts' connections -------------------------------------------- */

static void rows_lost(struct stripe_rows *r, struct rows_leg *x,
    const char *why);

static void
rows_part_head(struct peer_conn *pc, void *arg)
{
	struct rows_leg *x = arg;
	const struct http_message *resp = &pc->pc_resp;
	const struct http_header *h;
	char why[96];

	if (resp->status == 206 && resp->has_content_length &&
	    resp->content_length == x->x_want)
		return;
	h = http_find_header(resp, PARTS_CORRUPT_HEADER);
	if (h != NULL)
		snprintf(why, sizeof(why), "its store found block %.*s "
		    "corrupt", (int)(h->value.len < 16 ? h->value.len : 16),
		    h->value.p);
	else
		snprintf(why, sizeof(why), "its store answered %d",
		    resp->status);
	peer_conn_close(pc);
	x->x_pc = NULL;
	rows_lost(x->x_rows, x, why);
}

static void
rows_part_body(struct peer_conn *pc, void *arg)
{
	struct rows_leg *x = arg;

	(void)pc;
	if (x->x_rows->r_conn != NULL && !x->x_rows->r_pumping)
		rows_pump(x->x_rows);
}

static void
rows_part_done(struct peer_conn *pc, void *arg)
{
	struct rows_leg *x = arg;

	/* Every byte was taken (the body is done only once consumed). */
	peer_conn_release(pc);
	x->x_pc = NULL;
}

static void
rows_part_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct rows_leg *x = arg;
	char text[64];

	(void)pc;
	x->x_pc = NULL;
	if (x->x_taken == x->x_want)
		return;		/* all of it is here already */
	snprintf(text, sizeof(text), "its store failed (%d)", (int)why);
	rows_lost(x->x_rows, x, text);
}

static const struct peer_handler rows_part_handler = {
	.on_head = rows_part_head,
	.on_body = rows_part_body,
	.on_done = rows_part_done,
	.on_fail = rows_part_fail,
};

/* Makes x active from row `row` on: asks its store for the part's bytes
 * of rows row..r_last_row (none when the part ends before). Returns false
 * when the part is missing or its store cannot be reached. */
static bool
rows_open(struct stripe_rows *r, struct rows_leg *x, uint64_t row)
{
	struct cluster *cl = sr_cluster;
	struct server *s = r->r_srv;
	const uint64_t block = r->r_layout.l_block;
	uint64_t size, from, to;
	char addr[MEMBER_ADDR_MAX], target[64], sig[AUTH_SIGNATURE_SIZE];
	char head[ROWS_HEAD_MAX], self[MEMBER_ADDR_MAX] = "";
	uint8_t nonce[AUTH_NONCE_LEN];
	struct peer_set *set;
	struct peer *p;
	bool alive = false;
	int n;

	if (r->r_m.m_missing & 1u << x->x_index)
		return false;
	if (x->x_buf == NULL && (x->x_buf = erasure_buf_alloc(block)) == NULL)
		return false;
	size = layout_part_size(&r->r_layout, x->x_index < r->r_k ?
	    x->x_index : 0);
	from = row * block;
	to = (r->r_last_row + 1) * block;
	if (to > size)
		to = size;
	x->x_fill = x->x_off = 0;
	x->x_taken = x->x_want = 0;
	if (from >= to) {		/* nothing of it in these rows */
		x->x_active = true;
		return true;
	}
	if (members_lock(cl->cl_members) == 0) {
		memcpy(self, members_self(cl->cl_members)->m_facts.mf_addr,
		    sizeof(self));
		members_unlock(cl->cl_members);
	}
	if (gossip_member_addr(cl, r->r_m.m_parts[x->x_index].mp_node, addr,
	    sizeof(addr), &alive) == -1 || !alive ||
	    (p = self_peer_find(s->s_peers, s->s_loop, self, addr,
	    &s->s_limits, s->s_cfg->peer_timeout_ms, &set)) == NULL)
		return false;
	snprintf(target, sizeof(target), "/_/parts/%s/%u", r->r_m.m_id,
	    x->x_index);
	if (auth_nonce(nonce) == -1 || auth_sign_request(cl->cl_key,
	    cl->cl_name, "GET", target, NULL, loop_wall_ms(), nonce, sig,
	    sizeof(sig)) == -1)
		return false;
	n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\nRange: bytes=%" PRIu64
	    "-%" PRIu64 "\r\n%s: %s\r\n%s: %s\r\n\r\n", target, p->p_name,
	    from, to - 1, AUTH_CLUSTER_HEADER, cl->cl_name,
	    AUTH_SIGNATURE_HEADER, sig);
	if (n < 0 || (size_t)n >= sizeof(head))
		return false;
	x->x_want = to - from;
	x->x_pc = peer_request(set, p, head, (size_t)n, 0,
	    s->s_cfg->peer_timeout_ms, &rows_part_handler, x);
	x->x_active = x->x_pc != NULL;
	return x->x_active;
}

/* Makes k parts active, from row `from` on, for a rebuild: those read
 * already and others (data parts first, then parity), those that cannot
 * be read marked bad. Returns false when fewer than k are left. */
static bool
rows_ensure(struct stripe_rows *r, uint64_t from)
{
	unsigned i, active = 0;

	for (i = 0; i < r->r_n; i++)
		active += r->r_legs[i].x_active;
	for (i = 0; i < r->r_n && active < r->r_k; i++) {
		struct rows_leg *y = &r->r_legs[i];

		if (y->x_active || y->x_bad)
			continue;
		if (rows_open(r, y, from))
			active++;
		else {
			y->x_bad = true;
			stripe_add(&sr_shared->ss_read_parts_lost, 1);
		}
	}
	return active == r->r_k;
}

/* A part read failed: others take its place, from the row not yet whole
 * on, so that k are read; fewer left, the read is cut. */
static void
rows_lost(struct stripe_rows *r, struct rows_leg *x, const char *why)
{
	uint64_t from = r->r_ready ? r->r_row + 1 : r->r_row;

	log_warnx("striped read of %s (%s): part %u on %s lost: %s",
	    r->r_m.m_name, r->r_m.m_id, x->x_index,
	    r->r_m.m_parts[x->x_index].mp_node, why);
	stripe_add(&sr_shared->ss_read_parts_lost, 1);
	if (x->x_pc != NULL) {
		peer_conn_close(x->x_pc);
		x->x_pc = NULL;
	}
	x->x_active = false;
	x->x_bad = true;
	if (!rows_ensure(r, from)) {
		rows_cut(r, "more parts lost than the parity rebuilds");
		return;
	}
	if (r->r_conn != NULL && !r->r_pumping)
		rows_pump(r);
}

/* -- the rows ---------------------------------------------------------- */

/* Moves x's connection data into its buffer up to its block of the
 * current row. Returns whether that block is whole. */
static bool
rows_fill(struct stripe_rows *r, struct rows_leg *x)
{
	size_t want = rows_block_len(r, x->x_index, r->r_row), have, n;

	while (x->x_fill < want) {
		if (x->x_pc == NULL)
			return false;
		have = peer_conn_data_len(x->x_pc) - x->x_off;
		if (have == 0)
			return false;
		n = have < want - x->x_fill ? have : want - x->x_fill;
		memcpy(x->x_buf + x->x_fill, peer_conn_data(x->x_pc) +
		    x->x_off, n);
		x->x_fill += n;
		x->x_off += n;
		x->x_taken += n;
		if (x->x_off == peer_conn_data_len(x->x_pc)) {
			x->x_off = 0;
			peer_conn_consumed(x->x_pc);
		}
	}
	return true;
}

/* Whether the current row is whole: every active leg's block here, the
 * data blocks of the parts not read rebuilt. Returns 1 whole, 0 not yet,
 * -1 when the read was cut (a decode failure; r freed). */
static int
rows_gather(struct stripe_rows *r)
{
	unsigned char *blocks[ERASURE_BLOCKS_MAX];
	size_t lens[ERASURE_DATA_MAX];
	uint32_t have = 0, want = 0;
	bool whole = true;
	enum erasure_result res;
	unsigned i;

	for (i = 0; i < r->r_n; i++)
		if (r->r_legs[i].x_active && !rows_fill(r, &r->r_legs[i]))
			whole = false;
	if (!whole)
		return 0;
	for (i = 0; i < r->r_n; i++) {
		struct rows_leg *x = &r->r_legs[i];
		uint64_t at = (r->r_row * r->r_k + i) * r->r_layout.l_block;

		if (i < r->r_k)
			lens[i] = rows_block_len(r, i, r->r_row);
		if (x->x_active)
			have |= 1u << i;
		/* A data block not read but holding bytes still to send. */
		else if (i < r->r_k && lens[i] > 0 && at < r->r_end &&
		    at + lens[i] > r->r_pos) {
			if (x->x_buf == NULL && (x->x_buf = erasure_buf_alloc(
			    r->r_layout.l_block)) == NULL) {
				rows_cut(r, "out of memory");
				return -1;
			}
			want |= 1u << i;
		}
		blocks[i] = x->x_buf;
	}
	if (want == 0)
		return 1;
	if ((res = erasure_decode(sr_code, blocks, lens, have, want)) !=
	    ERASURE_OK) {
		rows_cut(r, erasure_result_str(res));
		return -1;
	}
	for (i = 0; i < r->r_k; i++)
		if (want & 1u << i)
			stripe_add(&sr_shared->ss_rebuilt_bytes, lens[i]);
	r->r_rebuilt = true;
	return 1;
}

/* Sends the range's bytes of the current row, whole, from pos on.
 * Returns 1 when all went, 0 when the socket is full, -1 when r was
 * freed. */
static int
rows_send(struct stripe_rows *r)
{
	const struct layout *lay = &r->r_layout;
	const uint64_t row_bytes = (uint64_t)r->r_k * lay->l_block;
	uint64_t end = (r->r_row + 1) * row_bytes, pos, part_off, run;
	struct iovec iov[ERASURE_DATA_MAX];
	unsigned part;
	int cnt = 0;
	ssize_t n;

	if (end > r->r_end)
		end = r->r_end;
	for (pos = r->r_pos; pos < end; pos += run) {
		layout_locate(lay, pos, &part, &part_off, &run);
		if (run > end - pos)
			run = end - pos;
		iov[cnt].iov_base = r->r_legs[part].x_buf + (part_off -
		    r->r_row * lay->l_block);
		iov[cnt++].iov_len = (size_t)run;
	}
	n = conn_sendv(r->r_conn, iov, cnt, end < r->r_end);
	if (n < 0) {
		rows_cut(r, "the client went away");
		return -1;
	}
	r->r_pos += (uint64_t)n;
	return r->r_pos == end ? 1 : 0;
}

/* The last bytes out: the read is over. Returns false (r freed) but
 * when the socket is full. */
static bool
rows_finish(struct stripe_rows *r)
{
	struct conn *c = r->r_conn;

	if (conn_out_pending(c) > 0) {
		if (conn_sendv(c, NULL, 0, false) < 0) {
			rows_cut(r, "the client went away");
			return false;
		}
		if (conn_out_pending(c) > 0) {
			conn_wait_writable(c);
			return true;
		}
	}
	if (r->r_rebuilt)
		stripe_add(&sr_shared->ss_reads_rebuilt, 1);
	r->r_conn = NULL;
	stripe_rows_free(r);
	conn_finish(c);
	return false;
}

/* Sends rows while they are whole and the client takes them. Returns
 * false when r was freed (cut or done). */
static bool
rows_pump_body(struct stripe_rows *r)
{
	unsigned i;
	int rc;

	while (r->r_pos < r->r_end) {
		if (!r->r_ready) {
			if ((rc = rows_gather(r)) < 0)
				return false;
			if (rc == 0) {
				conn_wait_hangup(r->r_conn);	/* on_body */
				return true;
			}
			r->r_ready = true;
		}
		if ((rc = rows_send(r)) < 0)
			return false;
		if (rc == 0) {
			conn_wait_writable(r->r_conn);
			return true;
		}
		r->r_row++;
		r->r_ready = false;
		for (i = 0; i < r->r_n; i++)
			r->r_legs[i].x_fill = 0;
	}
	return rows_finish(r);
}

/* Every callback of the parts and the client comes from the loop, never
 * from inside the pump (peer_conn_consumed() and peer_request() call
 * back later): r_pumping only guards against a change of that. */
static void
rows_pump(struct stripe_rows *r)
{
	r->r_pumping = true;
	if (rows_pump_body(r))
		r->r_pumping = false;
}

/* -- the client -------------------------------------------------------- */

static void
rows_io(struct conn *c, short revents)
{
	struct stripe_rows *r = conn_owner(c);

	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLOUT)) {
		rows_cut(r, "the client went away");
		return;
	}
	rows_pump(r);
}

static void
rows_timeout(struct conn *c)
{
	rows_cut(conn_owner(c), "the client stopped reading");
}

static void
rows_close(struct conn *c)
{
	struct stripe_rows *r = conn_owner(c);

	r->r_conn = NULL;
	stripe_rows_free(r);
}

static const struct conn_handler rows_conn_handler = {
	.on_io = rows_io,
	.on_timeout = rows_timeout,
	.on_close = rows_close,
};

/* -- the start --------------------------------------------------------- */

/* The code of (k, m), made once per worker while objects keep it. */
static int
rows_code(unsigned k, unsigned m)
{
	struct erasure *e;

	if (sr_code != NULL && erasure_data(sr_code) == k &&
	    erasure_parity(sr_code) == m)
		return 0;
	if ((e = erasure_new(k, m)) == NULL)
		return -1;
	erasure_free(sr_code);
	sr_code = e;
	return 0;
}

struct stripe_rows *
stripe_rows_new(struct server *s, const struct manifest *m, uint64_t first,
    uint64_t last, char *why, size_t cap)
{
	struct stripe_rows *r;
	uint64_t row_bytes, from, to;
	bool lost = false;
	unsigned i;

	if (rows_code(manifest_data_parts(m), m->m_parity) == -1) {
		snprintf(why, cap, "cannot make the object's code");
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	list_insert_tail(&sr_all, &r->r_link);
	r->r_srv = s;
	r->r_m = *m;
	r->r_layout = manifest_layout(m);
	r->r_k = manifest_data_parts(m);
	r->r_n = m->m_nparts;
	r->r_pos = first;
	r->r_end = last;
	row_bytes = (uint64_t)r->r_k * r->r_layout.l_block;
	r->r_row = first / row_bytes;
	r->r_last_row = (last - 1) / row_bytes;
	for (i = 0; i < r->r_n; i++) {
		r->r_legs[i].x_rows = r;
		r->r_legs[i].x_index = i;
	}
	/* The data parts that hold bytes of the range: with all of them
	 * nothing is rebuilt. */
	for (i = 0; i < r->r_k; i++) {
		struct rows_leg *x = &r->r_legs[i];

		if (!layout_part_range(&r->r_layout, i, first, last, &from,
		    &to) || rows_open(r, x, r->r_row))
			continue;
		x->x_bad = lost = true;
		stripe_add(&sr_shared->ss_read_parts_lost, 1);
	}
	if (lost && !rows_ensure(r, r->r_row)) {
		snprintf(why, cap, "fewer than %u of the %u parts can be read",
		    r->r_k, r->r_n);
		stripe_add(&sr_shared->ss_reads_cut, 1);
		stripe_rows_free(r);
		return NULL;
	}
	return r;
}

void
stripe_rows_run(struct stripe_rows *r, struct conn *c)
{
	r->r_conn = c;
	c->c_out_off = 0;
	c->c_body_len = r->r_end - r->r_pos;
	conn_own(c, &rows_conn_handler, r);
	rows_pump(r);
}

void
stripe_rows_teardown(void)
{
	while (!list_empty(&sr_all)) {
		struct stripe_rows *r = container_of(sr_all.next,
		    struct stripe_rows, r_link);
		unsigned i;

		/* The peer set frees the connections next. */
		for (i = 0; i < r->r_n; i++)
			r->r_legs[i].x_pc = NULL;
		stripe_rows_free(r);
	}
	erasure_free(sr_code);
	sr_code = NULL;
}
