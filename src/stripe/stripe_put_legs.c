/*
 * stripe_put_legs.c - the legs of a striped upload at the front (see
 * stripe_put.c for its stages): one signed connection to each part's
 * store, and the BODY stage: the client's bytes cut into blocks, each
 * block to its part's store as its connection takes it, the parity rows
 * computed as their data blocks come, and a chunked body's spooled bytes
 * read back, its parts' reservations grown as they fill, their sizes set
 * at its end. A store lost while the body streams is left behind where
 * the parity spares it. Loop thread of a worker; a read-back runs in the
 * worker's I/O pool, touching only the leg buffer and descriptor it is
 * given. Locks: the shared table's (stripe_lock) and the members' table
 * (members_lock), each briefly to grow a reservation.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/server.h"
#include "stripe/erasure.h"
#include "stripe/layout.h"
#include "stripe/parts_serve.h"
#include "stripe/placement.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"
#include "stripe/stripe_put_int.h"

#define STRIPE_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)

static void stripe_put_lose(struct put_leg *l, int status,
    const char *reason);

/* -- signed requests to the stores ------------------------------------- */

/* The store at addr, through the set that holds it (this node's own for
 * itself), or NULL. */
struct peer *
stripe_put_legs_peer(struct server *s, const char *addr,
    struct peer_set **set)
{
	char self[MEMBER_ADDR_MAX] = "";

	if (members_lock(stripe_put_cluster->cl_members) == 0) {
		memcpy(self, members_self(stripe_put_cluster->cl_members)->
		    m_facts.mf_addr, sizeof(self));
		members_unlock(stripe_put_cluster->cl_members);
	}
	return self_peer_find(s->s_peers, s->s_loop, self, addr,
	    &s->s_limits, s->s_cfg->peer_timeout_ms, set);
}

/* Sends `method` of target to the leg's store with a body of `len` bytes
 * (STRIPE_CHUNKED: of a length unknown yet, sent as chunks) (its digest
 * `digest`, NULL: the head alone is signed). Returns false
 * when the store is not in the peer set or nothing could be signed. */
bool
stripe_put_legs_request(struct stripe_put *sp, struct put_leg *l,
    const char *method, const char *target, uint64_t len,
    const uint8_t *digest, const struct peer_handler *h, int64_t timeout)
{
	struct cluster *cl = stripe_put_cluster;
	uint8_t nonce[AUTH_NONCE_LEN];
	char sig[AUTH_SIGNATURE_SIZE], head[STRIPE_HEAD_MAX], length[48];
	char block[64] = "";
	struct peer_set *set;
	struct peer *p = stripe_put_legs_peer(sp->sp_srv, l->l_addr, &set);
	int n;

	if (p == NULL || auth_nonce(nonce) == -1 ||
	    auth_sign_request(cl->cl_key, cl->cl_name, method, target, digest,
	    loop_wall_ms(), nonce, sig, sizeof(sig)) == -1)
		return false;
	if (len == STRIPE_CHUNKED)
		snprintf(length, sizeof(length), "Transfer-Encoding: chunked");
	else
		snprintf(length, sizeof(length), "Content-Length: %" PRIu64,
		    len);
	if (strcmp(method, "PUT") == 0)
		snprintf(block, sizeof(block), "%s: %" PRIu64 "\r\n",
		    PARTS_BLOCK_HEADER, sp->sp_layout.l_block);
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\n%s\r\n%s: %s\r\n"
	    "%s: %s\r\n%s\r\n", method, target, p->p_name, length,
	    AUTH_CLUSTER_HEADER, cl->cl_name, AUTH_SIGNATURE_HEADER, sig,
	    block);
	if (n < 0 || (size_t)n >= sizeof(head))
		return false;
	l->l_pc = peer_request(set, p, head, (size_t)n,
	    (len > 0 || strcmp(method, "PUT") == 0 ? PEER_REQ_BODY : 0) |
	    (len == STRIPE_CHUNKED ? PEER_REQ_CHUNKED : 0), timeout, h, l);
	return true;
}

void
stripe_put_legs_ignore(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_close(pc);	/* discarded at the head: not ours */
}

void
stripe_put_legs_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	static const char *const what[] = {
		[PEER_REFUSED] = "refused or closed before answering",
		[PEER_TIMEOUT] = "did not answer in time",
		[PEER_BAD_RESPONSE] = "answered badly",
		[PEER_CUT] = "cut the connection",
	};
	struct put_leg *l = arg;
	char reason[MEMBER_NAME_MAX + 64];

	(void)pc;
	if (l->l_put->sp_stage == STAGE_CLEANUP) {
		stripe_put_end_cleanup_leg(l);
		return;
	}
	l->l_pc = NULL;
	if (!l->l_put->sp_failed)
		l->l_put->sp_timed_out = why == PEER_TIMEOUT;
	snprintf(reason, sizeof(reason), "store %s %s", l->l_node,
	    (unsigned)why < 4 ? what[why] : "failed");
	stripe_put_lose(l, 502, reason);
}

/* -- the body to the stores -------------------------------------------- */

/* The leg's full buffer is handed over (or dropped, the leg lost): once
 * all of the part was, its digest is known. */
static void
stripe_leg_handed(struct put_leg *l)
{
	l->l_handed += l->l_fill;
	if (l->l_handed == l->l_size) {
		XXH128_hash_t h = XXH3_128bits_digest(l->l_hash);

		l->l_digest.d_hi = h.high64;
		l->l_digest.d_lo = h.low64;
	}
}

/* Hands the leg's full buffer to its connection when it can take it; or
 * the end of the part, once all of it went. A lost leg's whole block is
 * dropped at once: its bytes were hashed, and counted in the parity. A
 * block it was filling stays, to be counted whole (the parity needs each
 * byte at its place in the block). */
static void
stripe_leg_flush(struct put_leg *l)
{
	if (l->l_lost) {
		if (l->l_state == BUF_FULL)
			stripe_leg_handed(l);
		if (l->l_state != BUF_FREE) {
			l->l_state = BUF_FREE;
			l->l_fill = 0;
		}
		return;
	}
	if (l->l_pc == NULL || !l->l_ready)
		return;
	if (l->l_state == BUF_FULL) {
		l->l_ready = false;
		l->l_state = BUF_SENT;
		/* The store may answer as soon as it has the last byte: the
		 * digest is known from now on. */
		stripe_leg_handed(l);
		(void)peer_conn_send(l->l_pc, l->l_buf, l->l_fill);
		return;
	}
	if (l->l_state == BUF_FREE && l->l_handed == l->l_size &&
	    !l->l_sent_all) {
		/* A chunked part's size is known only now. */
		XXH128_hash_t h = XXH3_128bits_digest(l->l_hash);

		l->l_digest.d_hi = h.high64;
		l->l_digest.d_lo = h.low64;
		l->l_ready = false;
		l->l_sent_all = true;
		(void)peer_conn_send_end(l->l_pc);
	}
}

static void
stripe_part_send(struct peer_conn *pc, void *arg)
{
	struct put_leg *l = arg;
	struct stripe_put *sp = l->l_put;
	bool was_sent = l->l_state == BUF_SENT;

	(void)pc;
	if (was_sent) {
		l->l_state = BUF_FREE;
		l->l_fill = 0;
	}
	l->l_ready = true;
	stripe_leg_flush(l);
	/* The client waits for this buffer, maybe. */
	if (was_sent && !sp->sp_failed && sp->sp_conn != NULL)
		stripe_put_legs_pump(sp);
}

static void
stripe_part_head(struct peer_conn *pc, void *arg)
{
	struct put_leg *l = arg;
	struct stripe_put *sp = l->l_put;
	const struct http_header *h;
	char reason[MEMBER_NAME_MAX + 96];
	struct digest d;
	int status = pc->pc_resp.status;

	if (sp->sp_stage == STAGE_CLEANUP) {
		peer_conn_discard(pc);
		stripe_put_end_cleanup_leg(l);
		return;
	}
	h = http_find_header(&pc->pc_resp, PARTS_DIGEST_HEADER);
	if (status != 201 || l->l_handed != l->l_size || h == NULL ||
	    digest_parse(h->value.p, h->value.len, &d) == -1 ||
	    !digest_equal(&d, &l->l_digest)) {
		peer_conn_discard(pc);
		l->l_pc = NULL;
		if (status == 201)
			snprintf(reason, sizeof(reason), "store %s stored "
			    "other bytes than sent", l->l_node);
		else
			snprintf(reason, sizeof(reason), "store %s refused "
			    "its part (%d)", l->l_node, status);
		stripe_put_lose(l, status == 507 ? 507 : 502, reason);
		return;
	}
	peer_conn_discard(pc);
	l->l_pc = NULL;
	l->l_done = true;
	if (--sp->sp_waiting == 0 && sp->sp_stage == STAGE_BODY &&
	    sp->sp_received == sp->sp_layout.l_size)
		stripe_put_end_parts_stored(sp);
}

static const struct peer_handler stripe_part_handler = {
	.on_head = stripe_part_head,
	.on_body = stripe_put_legs_ignore,
	.on_done = stripe_put_legs_ignore,
	.on_fail = stripe_put_legs_fail,
	.on_send = stripe_part_send,
};

/* The length of row `row`'s blocks of parity: its longest data block,
 * part 0's. */
static uint64_t
stripe_put_row_len(const struct stripe_put *sp, uint64_t row)
{
	const struct layout *lay = &sp->sp_layout;
	uint64_t left = layout_part_size(lay, 0) - row * lay->l_block;

	return left < lay->l_block ? left : lay->l_block;
}

/* Before the first byte of row `row`: the parity buffers, free (the last
 * row's parity handed over), zeroed. Returns false when one is not free
 * yet (its on_send pumps again), or on failure (sp_failed). */
static bool
stripe_put_row_start(struct stripe_put *sp, uint64_t row)
{
	const unsigned k = sp->sp_layout.l_parts;
	unsigned j;

	if (sp->sp_row == row + 1)
		return true;
	for (j = k; j < sp->sp_nlegs; j++)
		if (sp->sp_legs[j].l_state != BUF_FREE)
			return false;
	for (j = k; j < sp->sp_nlegs; j++) {
		struct put_leg *pl = &sp->sp_legs[j];

		if (pl->l_buf == NULL && (pl->l_buf = (char *)erasure_buf_alloc(
		    sp->sp_layout.l_block)) == NULL) {
			stripe_put_fail(sp, 500, "out of memory");
			return false;
		}
		memset(pl->l_buf, 0, stripe_put_row_len(sp, row));
	}
	sp->sp_row = row + 1;
	return true;
}

static int stripe_put_grow_leg(struct stripe_put *sp, struct put_leg *l);

/* Row `row`'s parity blocks are whole: they go to their stores (a
 * chunked body's reservations grown first). */
static void
stripe_put_parity_out(struct stripe_put *sp, uint64_t row)
{
	uint64_t len = stripe_put_row_len(sp, row);
	unsigned j;

	for (j = sp->sp_layout.l_parts; j < sp->sp_nlegs && !sp->sp_failed;
	    j++) {
		struct put_leg *pl = &sp->sp_legs[j];

		if (sp->sp_grown && !pl->l_lost &&
		    stripe_put_grow_leg(sp, pl) == -1)
			return;
		pl->l_fill = len;
		XXH3_128bits_update(pl->l_hash, pl->l_buf, len);
		pl->l_state = BUF_FULL;
		stripe_leg_flush(pl);
	}
}

/* Data block `part` of row `row` is whole in its leg's buffer: it goes
 * into the row's parity; after the row's last block, the parity blocks
 * go to their stores. */
static void
stripe_put_add_block(struct stripe_put *sp, unsigned part, uint64_t row)
{
	const struct layout *lay = &sp->sp_layout;
	const unsigned k = lay->l_parts;
	struct put_leg *l = &sp->sp_legs[part];
	unsigned char *par[ERASURE_PARITY_MAX];
	uint64_t len = stripe_put_row_len(sp, row), blocks, last;
	unsigned j;

	for (j = 0; j < sp->sp_parity; j++)
		par[j] = (unsigned char *)sp->sp_legs[k + j].l_buf;
	if (erasure_encode_add(stripe_put_erasure, part,
	    (unsigned char *)l->l_buf, l->l_fill, len, par) != ERASURE_OK) {
		stripe_put_fail(sp, 500, "cannot compute the parity");
		return;
	}
	/* A chunked body's size is not known yet: its rows end with
	 * their last part, the last one in stripe_put_sized(). */
	blocks = lay->l_size / lay->l_block + (lay->l_size % lay->l_block != 0);
	last = (row + 1) * k < blocks ? (row + 1) * k : blocks;
	if (row * k + part == last - 1)
		stripe_put_parity_out(sp, row);
}

/* n bytes came into the leg's buffer, of the block_left its block has
 * left: hashed, and the block handed on when it is full. */
static void
stripe_put_took(struct stripe_put *sp, struct put_leg *l, size_t n,
    uint64_t block_left)
{
	XXH3_128bits_update(sp->sp_hash, l->l_buf + l->l_fill, n);
	XXH3_128bits_update(l->l_hash, l->l_buf + l->l_fill, n);
	l->l_fill += n;
	sp->sp_received += (uint64_t)n;
	if ((uint64_t)n == block_left) {
		l->l_state = BUF_FULL;
		if (sp->sp_parity > 0)
			stripe_put_add_block(sp, l->l_index, l->l_handed /
			    sp->sp_layout.l_block);
		if (!sp->sp_failed)
			stripe_leg_flush(l);
	}
}

/*
 * A chunked body's leg is about to take another block: its reservation
 * covers it, or grows by STRIPE_GROW_BLOCKS blocks where the store has
 * room for them (capacity less gossiped use less every reservation).
 * Returns 0, or -1 when the upload failed (507).
 */
static int
stripe_put_grow_leg(struct stripe_put *sp, struct put_leg *l)
{
	struct members *mt = stripe_put_cluster->cl_members;
	uint64_t want = l->l_handed + sp->sp_layout.l_block, capa = 0, use = 0;
	uint64_t more;
	char reason[MEMBER_NAME_MAX + 64];
	size_t i;
	int room = 0;

	if (want <= l->l_reserved)
		return 0;
	more = want + STRIPE_GROW_BLOCKS * sp->sp_layout.l_block -
	    l->l_reserved;
	if (members_lock(mt) == 0) {
		for (i = 0; i < mt->mt_capacity; i++) {
			const struct member *m = members_at(mt, (uint32_t)i);

			if (m->m_in_use && strcmp(m->m_facts.mf_name,
			    l->l_node) == 0) {
				capa = m->m_facts.mf_capacity;
				use = m->m_facts.mf_used;
			}
		}
		members_unlock(mt);
	}
	if (stripe_lock(stripe_put_shared) == 0) {
		if (placement_free(capa, use, stripe_reserved_locked(
		    stripe_put_shared, l->l_node)) >= more) {
			stripe_release_locked(stripe_put_shared, l->l_node,
			    sp->sp_srv->s_pid, l->l_reserved);
			if (stripe_reserve_locked(stripe_put_shared, l->l_node,
			    sp->sp_srv->s_pid, l->l_reserved + more) == 0) {
				l->l_reserved += more;
				room = 1;
			} else
				l->l_has_reservation = false;
		}
		stripe_unlock(stripe_put_shared);
	}
	if (room)
		return 0;
	snprintf(reason, sizeof(reason), "store %s has no room for more of "
	    "this upload", l->l_node);
	stripe_put_fail(sp, 507, reason);
	return -1;
}

/* A chunked body is complete: the object's and the parts' sizes are
 * known, each part's last short block goes, then its end. */
static void
stripe_put_sized(struct stripe_put *sp)
{
	const struct config *cfg = sp->sp_srv->s_cfg;
	const unsigned k = sp->sp_layout.l_parts;
	unsigned i;

	sp->sp_layout.l_size = sp->sp_received;
	for (i = 0; i < sp->sp_nlegs; i++)
		sp->sp_legs[i].l_size = layout_part_size(&sp->sp_layout,
		    i < k ? i : 0);
	/* The last row's parity: its short last block added, or the row
	 * ended before its last part. */
	if (sp->sp_parity > 0 && sp->sp_received > 0) {
		uint64_t last = (sp->sp_received - 1) / sp->sp_layout.l_block;
		struct put_leg *l = &sp->sp_legs[last % k];

		if (l->l_state == BUF_FREE && l->l_fill > 0) {
			l->l_state = BUF_FULL;
			stripe_put_add_block(sp, l->l_index, last / k);
		} else if (last % k != k - 1)
			stripe_put_parity_out(sp, last / k);
	}
	for (i = 0; i < sp->sp_nlegs && !sp->sp_failed; i++) {
		struct put_leg *l = &sp->sp_legs[i];

		if (l->l_state == BUF_FREE && l->l_fill > 0)
			l->l_state = BUF_FULL;
		if (l->l_pc != NULL)	/* the store's deadline, as sized */
			peer_conn_timeout(l->l_pc, cfg->http.body_timeout_ms +
			    (int64_t)(l->l_size / STRIPE_BYTES_PER_MS));
		stripe_leg_flush(l);
	}
}

static void
stripe_file_job(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);
	struct put_leg *l = sp->sp_file_leg;

	sp->sp_file_n = pread(sp->sp_file_fd, l->l_buf + l->l_fill,
	    sp->sp_file_len, (off_t)sp->sp_received);
	sp->sp_job_err = sp->sp_file_n == -1 ? errno : sp->sp_file_n == 0 ?
	    EIO : 0;
	/* The last of it: the file's blocks are freed here, not in the
	 * loop. */
	if (sp->sp_job_err == 0 && sp->sp_received + (uint64_t)sp->sp_file_n ==
	    sp->sp_spooled) {
		close(sp->sp_file_fd);
		sp->sp_file_fd = -1;
	}
}

static void
stripe_file_done(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);
	struct put_leg *l = sp->sp_file_leg;
	unsigned part;
	uint64_t part_off, block_left;

	sp->sp_file_busy = false;
	if (sp->sp_failed) {
		if (sp->sp_stage == STAGE_BODY)	/* it waited for this read */
			stripe_put_end_cleanup(sp);
		return;
	}
	if (sp->sp_job_err != 0) {
		errno = sp->sp_job_err;
		log_warn("stripe: reading back the body of %s", sp->sp_id);
		stripe_put_fail(sp, 500, "cannot read the body back");
		return;
	}
	layout_locate(&sp->sp_layout, sp->sp_received, &part, &part_off,
	    &block_left);
	stripe_put_took(sp, l, (size_t)sp->sp_file_n, block_left);
	if (!sp->sp_failed)
		stripe_put_legs_pump(sp);
}

/* Reads the body's bytes from offset sp_received, up to the end of the
 * block and of what is on disk, into the leg's buffer, in the pool. */
static void
stripe_file_read(struct stripe_put *sp, struct put_leg *l, uint64_t block_left)
{
	uint64_t left = sp->sp_spooled - sp->sp_received;

	sp->sp_file_busy = true;
	sp->sp_file_leg = l;
	sp->sp_file_len = (size_t)(left < block_left ? left : block_left);
	sp->sp_job.work = stripe_file_job;
	sp->sp_job.done = stripe_file_done;
	iopool_submit(sp->sp_srv->s_pool, &sp->sp_job);
}

/* Reads the client into the buffer of the part its next byte is for,
 * while that buffer (and, at a row's start, every parity buffer) is
 * free. */
static void
stripe_put_pump_body(struct stripe_put *sp)
{
	const struct layout *lay = &sp->sp_layout;
	struct conn *c = sp->sp_conn;

	while (!sp->sp_failed && !sp->sp_file_busy &&
	    sp->sp_received < lay->l_size) {
		uint64_t block_left, off = sp->sp_received;
		struct put_leg *l;
		unsigned part;
		uint64_t part_off;
		ssize_t n;

		layout_locate(lay, off, &part, &part_off, &block_left);
		l = &sp->sp_legs[part];
		if (l->l_state != BUF_FREE || (sp->sp_parity > 0 &&
		    part == 0 && l->l_fill == 0 && !stripe_put_row_start(sp,
		    part_off / lay->l_block))) {
			if (!sp->sp_failed)
				conn_wait_nothing(c);	/* on_send calls again */
			return;
		}
		if (l->l_buf == NULL && (l->l_buf = (char *)erasure_buf_alloc(
		    lay->l_block)) == NULL) {
			stripe_put_fail(sp, 500, "out of memory");
			return;
		}
		if (sp->sp_grown && l->l_fill == 0 && !l->l_lost &&
		    stripe_put_grow_leg(sp, l) == -1)
			return;
		if (off < sp->sp_spooled) {
			conn_wait_nothing(c);	/* stripe_file_done calls */
			stripe_file_read(sp, l, block_left);
			return;
		}
		n = conn_read_body(c, l->l_buf + l->l_fill, block_left);
		if (n > 0) {
			if (sp->sp_grown && sp->sp_received + (uint64_t)n >
			    sp->sp_srv->s_cfg->upload.max_size) {
				stripe_put_fail(sp, 413, "larger than "
				    "upload.max_size");
				return;
			}
			stripe_put_took(sp, l, (size_t)n, block_left);
			continue;
		}
		if (n == 0 && errno == EAGAIN) {
			conn_wait_readable(c);
			return;
		}
		if (n == 0 && sp->sp_grown) {	/* the last chunk came */
			stripe_put_sized(sp);
			break;
		}
		if (n == 0) {		/* cannot be: the length is known */
			stripe_put_fail(sp, 400, "body shorter than announced");
			return;
		}
		if (errno == EPROTO)
			stripe_put_fail(sp, 400, "bad request body framing");
		else
			stripe_put_fail(sp, 0, "the client closed the "
			    "connection");
		return;
	}
	if (sp->sp_failed || sp->sp_file_busy)
		return;
	/* All read: the parts' ends go as their connections take them. */
	conn_wait_nothing(c);
	if (sp->sp_received == lay->l_size && sp->sp_waiting == 0 &&
	    sp->sp_stage == STAGE_BODY)
		stripe_put_end_parts_stored(sp);
}

void
stripe_put_legs_pump(struct stripe_put *sp)
{
	bool was = sp->sp_pumping;

	sp->sp_pumping = true;
	stripe_put_pump_body(sp);
	sp->sp_pumping = was;
}

/* Releases the reservation of one leg (its store failed). */
static void
stripe_put_release_leg(struct stripe_put *sp, struct put_leg *l)
{
	if (!l->l_has_reservation || stripe_lock(stripe_put_shared) != 0)
		return;
	stripe_release_locked(stripe_put_shared, l->l_node, sp->sp_srv->s_pid,
	    l->l_reserved);
	l->l_has_reservation = false;
	stripe_unlock(stripe_put_shared);
}

/* A leg's store failed while the body streamed: with parity to spare the
 * upload goes on without it (the object degraded, the part missing);
 * otherwise, or at any other stage, the upload fails. */
static void
stripe_put_lose(struct put_leg *l, int status, const char *reason)
{
	struct stripe_put *sp = l->l_put;

	if (sp->sp_stage != STAGE_BODY || sp->sp_failed || l->l_lost ||
	    sp->sp_nlost >= sp->sp_parity) {
		stripe_put_fail(sp, status, reason);
		return;
	}
	l->l_lost = true;
	sp->sp_nlost++;
	log_warnx("striped upload of %s (%s) goes on without part %u: %s",
	    sp->sp_name, sp->sp_id, l->l_index, reason);
	stripe_put_release_leg(sp, l);
	if (!l->l_done)
		sp->sp_waiting--;
	stripe_leg_flush(l);
	if (sp->sp_pumping)
		return;		/* the pump goes on by itself */
	if (sp->sp_conn != NULL)
		stripe_put_legs_pump(sp);
	else if (sp->sp_received == sp->sp_layout.l_size &&
	    sp->sp_waiting == 0)
		stripe_put_end_parts_stored(sp);
}

/* The journal entry is durable: the part connections, and the body. */
void
stripe_put_legs_open(struct stripe_put *sp)
{
	const struct config *cfg = sp->sp_srv->s_cfg;
	char target[64];
	unsigned i;

	sp->sp_stage = STAGE_BODY;
	sp->sp_waiting = sp->sp_nlegs;
	for (i = 0; i < sp->sp_nlegs; i++) {
		struct put_leg *l = &sp->sp_legs[i];

		snprintf(target, sizeof(target), "/_/parts/%s/%u", sp->sp_id,
		    i);
		if (l->l_size == 0) {	/* its digest is known already */
			XXH128_hash_t h = XXH3_128bits(NULL, 0);

			l->l_digest.d_hi = h.high64;
			l->l_digest.d_lo = h.low64;
		}
		if (sp->sp_grown ? !stripe_put_legs_request(sp, l, "PUT",
		    target, STRIPE_CHUNKED, NULL, &stripe_part_handler,
		    cfg->http.body_timeout_ms) :
		    !stripe_put_legs_request(sp, l, "PUT", target, l->l_size,
		    NULL, &stripe_part_handler, cfg->http.body_timeout_ms +
		    (int64_t)(l->l_size / STRIPE_BYTES_PER_MS))) {
			stripe_put_fail(sp, 503, "a store left the cluster");
			return;
		}
	}
	if (sp->sp_grown) {		/* the body is being read already */
		stripe_put_legs_pump(sp);
		return;
	}
	conn_body_begin(sp->sp_conn);
	if (conn_continue(sp->sp_conn) == -1) {
		stripe_put_fail(sp, 0, "cannot send 100 Continue");
		return;
	}
	stripe_put_legs_pump(sp);
}
