/*
 * heal.c - the agent's healing (see heal.h): at the origin, the scan of
 * its manifests and the rebuild of a lost part a row at a time; on a
 * store, the stale check. Loop thread of the agent; the scans, the
 * decode and the writes of a row in its pool (h_job, h_sjob), touching
 * only the fields marked "job" while h_busy (h_sbusy).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/http.h"
#include "store/metrics.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "stripe/erasure.h"
#include "stripe/heal.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"
#include "stripe/move.h"
#include "stripe/parts.h"
#include "stripe/placement.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"

#define HEAL_TICK_MS 1000		/* between looks */
#define HEAL_NEXT_MS 10			/* after a part healed */
#define HEAL_STALE_FIRST_MS 2000	/* the first stale check */
#define HEAL_TIMEOUT_MS 10000
#define HEAL_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)
#define HEAL_FILE_MAX (PARTS_FILE_MAX + 8)

struct heal_leg {
	struct heal *hl_h;
	unsigned hl_index;
	struct peer_conn *hl_pc;
	uint64_t hl_want, hl_fill;
	bool hl_failed;
};

struct heal_stale {
	char hs_id[MANIFEST_ID_LEN + 1];
	char hs_origin[MEMBER_NAME_MAX];
	uint64_t hs_gen;
};

struct heal {
	struct loop *h_loop;
	struct iopool *h_pool;
	struct cluster *h_cluster;
	struct stripe_shared *h_shared;
	const struct config *h_cfg;
	struct peer_set *h_peers;
	struct move *h_move;
	int h_origin_fd, h_tmp_fd;	/* stripe/manifests, parts/tmp */
	struct parts_dirs h_dirs;
	struct loop_timer h_timer;
	struct iopool_job h_job;
	bool h_busy, h_stopped;
	bool h_rebuilding;		/* a part is being rebuilt */
	char h_self[MEMBER_NAME_MAX], h_self_addr[MEMBER_ADDR_MAX];
	/* the scan: the members not dead (input), then its findings */
	char (*h_live)[MEMBER_NAME_MAX];
	size_t h_nlive, h_cap;
	unsigned h_skip;
	size_t h_scan_nlive;		/* at the last scan */
	uint64_t h_scan_news;		/* degraded uploads, parts marked
					   missing: at the last scan */
	int64_t h_scan_ms;
	bool h_found;
	struct manifest h_m;
	uint32_t h_lost;
	uint64_t h_degraded, h_todo;
	/* the rebuild of part h_index of h_m into h_file (job: h_fd,
	 * h_err and the blocks while decoding) */
	unsigned h_index;
	struct manifest h_next;
	char h_from[MEMBER_NAME_MAX];
	char h_what[MEMBER_NAME_MAX + NAME_MAX_LEN + 128];
	struct layout h_layout;
	struct erasure *h_er;
	unsigned char *h_blocks[ERASURE_BLOCKS_MAX];
	uint64_t h_block_cap;
	size_t h_lens[ERASURE_BLOCKS_MAX];
	struct heal_leg h_legs[ERASURE_BLOCKS_MAX];
	unsigned h_waiting;
	uint32_t h_bad, h_have;
	uint64_t h_row, h_rows, h_written;
	size_t h_out_len;
	int64_t h_t0;
	int h_fd, h_err;
	char h_file[HEAL_FILE_MAX];
	/* the stale check (job: the list) */
	struct loop_timer h_stimer;
	struct iopool_job h_sjob;
	bool h_sbusy;
	struct heal_stale *h_stale;
	unsigned h_nstale, h_sat, h_sskip, h_sseen;
	bool h_sdeferred;		/* an origin could not be asked */
	struct peer_conn *h_spc;
	struct buf h_sbody;
	bool h_sdelete;			/* the DELETE is out */
};

static void heal_tick(struct loop *loop, struct loop_timer *t);
static void heal_stale_tick(struct loop *loop, struct loop_timer *t);
static void heal_row(struct heal *h);
static void heal_decode_done(struct iopool_job *job);

static void
heal_rearm(struct heal *h, int64_t ms)
{
	if (!h->h_stopped)
		loop_timer_set(h->h_loop, &h->h_timer, ms, heal_tick);
}

static void
heal_submit(struct heal *h, void (*work)(struct iopool_job *),
    void (*done)(struct iopool_job *))
{
	h->h_busy = true;
	h->h_job.work = work;
	h->h_job.done = done;
	iopool_submit(h->h_pool, &h->h_job);
}

/* A signed request without a body to member `node`; NULL when it is not
 * alive or nothing could be signed. */
static struct peer_conn *
heal_request(struct heal *h, const char *node, const char *method,
    const char *target, const char *extra, const struct peer_handler *hd,
    void *arg)
{
	static const struct http_limits limits = { 8192, 8192, 100, 65536 };
	struct cluster *cl = h->h_cluster;
	char addr[MEMBER_ADDR_MAX], sig[AUTH_SIGNATURE_SIZE];
	char head[HEAL_HEAD_MAX];
	uint8_t nonce[AUTH_NONCE_LEN];
	struct peer_set *set;
	struct peer *p;
	bool alive = false;
	int n;

	if (gossip_member_addr(cl, node, addr, sizeof(addr), &alive) == -1 ||
	    !alive || (p = self_peer_find(h->h_peers, h->h_loop,
	    h->h_self_addr, addr, &limits, HEAL_TIMEOUT_MS, &set)) == NULL ||
	    auth_nonce(nonce) == -1 || auth_sign_request(cl->cl_key,
	    cl->cl_name, method, target, NULL, loop_wall_ms(), nonce, sig,
	    sizeof(sig)) == -1)
		return NULL;
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\n%s%s: %s\r\n%s: %s\r\n"
	    "\r\n", method, target, p->p_name, extra, AUTH_CLUSTER_HEADER,
	    cl->cl_name, AUTH_SIGNATURE_HEADER, sig);
	if (n < 0 || (size_t)n >= sizeof(head))
		return NULL;
	return peer_request(set, p, head, (size_t)n, 0, HEAL_TIMEOUT_MS, hd,
	    arg);
}

/* This node's name and address; false when the table is unusable. */
static bool
heal_self(struct heal *h)
{
	struct members *mt = h->h_cluster->cl_members;

	if (members_lock(mt) != 0)
		return false;
	memcpy(h->h_self, members_self(mt)->m_facts.mf_name, MEMBER_NAME_MAX);
	memcpy(h->h_self_addr, members_self(mt)->m_facts.mf_addr,
	    MEMBER_ADDR_MAX);
	members_unlock(mt);
	return true;
}

/* -- the choice -------------------------------------------------------- */

uint32_t
heal_lost(const struct manifest *m,
    bool (*live)(const void *arg, const char *node), const void *arg)
{
	uint32_t lost = m->m_missing;
	unsigned i;

	for (i = 0; i < m->m_nparts; i++)
		if (!live(arg, m->m_parts[i].mp_node))
			lost |= 1u << i;
	return lost;
}

int
heal_next(const struct manifest *m, uint32_t lost, const char *to,
    struct manifest *next, unsigned *index)
{
	unsigned i;

	if (lost == 0 || (lost >> m->m_nparts) != 0 ||
	    (unsigned)__builtin_popcount(lost) > m->m_parity)
		return -1;
	for (i = 0; !(lost & 1u << i); i++)
		;
	*next = *m;
	next->m_gen = m->m_gen + 1;
	snprintf(next->m_parts[i].mp_node, MEMBER_NAME_MAX, "%s", to);
	next->m_missing = lost & ~(1u << i);
	*index = i;
	return 0;
}

/* -- the scan ---------------------------------------------------------- */

static bool
heal_live(const void *arg, const char *node)
{
	const struct heal *h = arg;
	size_t i;

	for (i = 0; i < h->h_nlive; i++)
		if (strcmp(h->h_live[i], node) == 0)
			return true;
	return false;
}

/* Pool: every manifest kept here; the lost parts of the first object
 * from the h_skip-th on (then from the first) that has some. */
static void
heal_scan_job(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_job);
	struct manifest m, first;
	uint32_t lost, first_lost = 0;
	unsigned seen = 0, i, nlost, first_at = 0, at = 0;
	bool have_first = false;
	struct dirent *d;
	size_t len;
	DIR *dp;
	int fd;

	h->h_found = false;
	h->h_degraded = h->h_todo = 0;
	fd = openat(h->h_origin_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((d = readdir(dp)) != NULL) {
		len = strlen(d->d_name);
		if (len != MANIFEST_ID_LEN + 5 ||
		    strcmp(d->d_name + MANIFEST_ID_LEN, ".json") != 0 ||
		    parts_read_manifest(h->h_origin_fd, d->d_name, &m) == -1 ||
		    m.m_parity == 0)
			continue;
		lost = heal_lost(&m, heal_live, h);
		if (lost == 0)
			continue;
		seen++;
		h->h_degraded++;
		for (i = 0, nlost = 0; i < m.m_nparts; i++)
			if (lost & 1u << i) {
				h->h_todo += m.m_parts[i].mp_size;
				nlost++;
			}
		/* More lost than the parity rebuilds: nothing to do. */
		if (nlost > m.m_parity || move_recorded(h->h_move, m.m_id))
			continue;
		if (seen > h->h_skip && !h->h_found) {
			h->h_m = m;
			h->h_lost = lost;
			h->h_found = true;
			at = seen;
		} else if (!have_first) {
			first = m;
			first_lost = lost;
			first_at = seen;
			have_first = true;
		}
	}
	closedir(dp);
	if (!h->h_found && have_first) {
		h->h_m = first;
		h->h_lost = first_lost;
		h->h_found = true;
		at = first_at;
	}
	h->h_skip = at;
}

/* The store for the rebuilt part: placement's choice among the alive
 * stores with no part of the object. Returns false when none has room. */
static bool
heal_target(struct heal *h, char *out)
{
	struct members *mt = h->h_cluster->cl_members;
	const struct manifest *m = &h->h_m;
	struct placement_store *st;
	char (*names)[MEMBER_NAME_MAX];
	uint64_t need = m->m_parts[h->h_index].mp_size, *used, *capa;
	size_t n = 0, i, chosen = 0;
	bool ok;

	if (members_lock(mt) != 0)
		return false;
	st = xcalloc(mt->mt_capacity + 1, sizeof(*st));
	names = xcalloc(mt->mt_capacity + 1, sizeof(*names));
	used = xcalloc(mt->mt_capacity + 1, sizeof(*used));
	capa = xcalloc(mt->mt_capacity + 1, sizeof(*capa));
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *mb = members_at(mt, (uint32_t)i);

		if (!mb->m_in_use || mb->m_state != MEMBER_ALIVE ||
		    !mb->m_facts.mf_store || mb->m_facts.mf_capacity == 0 ||
		    manifest_part_of(m, mb->m_facts.mf_name) >= 0)
			continue;
		memcpy(names[n], mb->m_facts.mf_name, MEMBER_NAME_MAX);
		capa[n] = mb->m_facts.mf_capacity;
		used[n++] = mb->m_facts.mf_used;
	}
	members_unlock(mt);
	if (stripe_lock(h->h_shared) == 0) {
		for (i = 0; i < n; i++)
			used[i] += stripe_reserved_locked(h->h_shared,
			    names[i]);
		stripe_unlock(h->h_shared);
	}
	for (i = 0; i < n; i++) {
		st[i].ps_node = names[i];
		st[i].ps_free = placement_free(capa[i], used[i], 0);
	}
	ok = placement_choose(m->m_id, st, n, 1, &need, &chosen) == 1;
	if (ok)
		memcpy(out, names[chosen], MEMBER_NAME_MAX);
	free(st);
	free(names);
	free(used);
	free(capa);
	return ok;
}

/* -- the rebuild ------------------------------------------------------- */

static void
heal_legs_close(struct heal *h)
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
	heal_legs_close(h);
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
	heal_row(h);
}

/* Every request of the row answered, or could not be sent. */
static void
heal_row_read(struct heal *h)
{
	if (h->h_bad & h->h_have) {
		heal_row(h);	/* again, with other parts */
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
static void
heal_row(struct heal *h)
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
static void
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
	heal_row(h);
}

static void
heal_scan_done(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_job);
	char to[MEMBER_NAME_MAX];
	unsigned i;

	h->h_busy = false;
	if (h->h_stopped)
		return;
	__atomic_store_n(&h->h_shared->ss_degraded_objects, h->h_degraded,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&h->h_shared->ss_heal_todo_bytes, h->h_todo,
	    __ATOMIC_RELAXED);
	if (!h->h_found) {
		heal_rearm(h, HEAL_TICK_MS);
		return;
	}
	for (i = 0; !(h->h_lost & 1u << i); i++)
		;
	h->h_index = i;
	if (!heal_target(h, to) || heal_next(&h->h_m, h->h_lost, to,
	    &h->h_next, &h->h_index) == -1) {
		log_debug("heal: no store has room for part %u of %s (%s)", i,
		    h->h_m.m_name, h->h_m.m_id);
		heal_rearm(h, HEAL_TICK_MS);
		return;
	}
	snprintf(h->h_what, sizeof(h->h_what), "rebuilding part %u of %s "
	    "(%s) on %s", i, h->h_m.m_name, h->h_m.m_id, to);
	heal_rebuild(h);
}

static void
heal_tick(struct loop *loop, struct loop_timer *t)
{
	struct heal *h = container_of(t, struct heal, h_timer);
	struct members *mt = h->h_cluster->cl_members;
	uint64_t news;
	size_t i;

	(void)loop;
	if (h->h_stopped || h->h_busy)
		return;
	if (h->h_rebuilding) {
		heal_row(h);		/* the pace allowed the next row */
		return;
	}
	if (h->h_cfg->stripe.heal_rate == 0 || move_busy(h->h_move) ||
	    !heal_self(h) || members_lock(mt) != 0) {
		heal_rearm(h, HEAL_TICK_MS);
		return;
	}
	if (h->h_cap < mt->mt_capacity) {
		h->h_cap = mt->mt_capacity;
		free(h->h_live);
		h->h_live = xcalloc(h->h_cap, sizeof(*h->h_live));
	}
	h->h_nlive = 0;
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *mb = members_at(mt, (uint32_t)i);

		if (mb->m_in_use && (mb->m_state == MEMBER_ALIVE ||
		    mb->m_state == MEMBER_SUSPECT))
			memcpy(h->h_live[h->h_nlive++], mb->m_facts.mf_name,
			    MEMBER_NAME_MAX);
	}
	members_unlock(mt);
	/* A scan reads every manifest: while the last found nothing to
	 * heal, only when a member died, an upload was stored degraded or
	 * a part marked missing here (or every HEAL_IDLE_MS). */
	news = stripe_get(&h->h_shared->ss_puts_degraded) +
	    stripe_get(&h->h_shared->ss_marked_missing);
	if (stripe_get(&h->h_shared->ss_degraded_objects) == 0 &&
	    h->h_nlive == h->h_scan_nlive && news == h->h_scan_news &&
	    loop_now(h->h_loop) - h->h_scan_ms < HEAL_IDLE_MS) {
		heal_rearm(h, HEAL_TICK_MS);
		return;
	}
	h->h_scan_nlive = h->h_nlive;
	h->h_scan_news = news;
	h->h_scan_ms = loop_now(h->h_loop);
	heal_submit(h, heal_scan_job, heal_scan_done);
}

/* -- the stale check --------------------------------------------------- */

static void heal_stale_next(struct heal *h);
static const struct peer_handler heal_stale_handler;

static void
heal_stale_list_job(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_sjob);
	struct manifest m;
	unsigned seen = 0;
	struct dirent *d;
	size_t len;
	DIR *dp;
	int fd;

	h->h_nstale = 0;
	fd = openat(h->h_dirs.pd_objects, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((d = readdir(dp)) != NULL && h->h_nstale < HEAL_STALE_MAX) {
		struct heal_stale *s = &h->h_stale[h->h_nstale];

		len = strlen(d->d_name);
		if (len != MANIFEST_ID_LEN + 5 ||
		    strcmp(d->d_name + MANIFEST_ID_LEN, ".json") != 0 ||
		    seen++ < h->h_sskip ||
		    parts_read_manifest(h->h_dirs.pd_objects, d->d_name, &m) ==
		    -1 || strcmp(m.m_origin, h->h_self) == 0 ||
		    manifest_part_of(&m, h->h_self) < 0)
			continue;
		memcpy(s->hs_id, m.m_id, sizeof(s->hs_id));
		memcpy(s->hs_origin, m.m_origin, MEMBER_NAME_MAX);
		s->hs_gen = m.m_gen;
		h->h_nstale++;
	}
	closedir(dp);
	h->h_sseen = seen;
}

static void
heal_stale_list_done(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_sjob);

	h->h_sbusy = false;
	if (h->h_stopped)
		return;
	/* The next pass goes on where this one stopped. */
	h->h_sskip = h->h_nstale == HEAL_STALE_MAX ? h->h_sseen : 0;
	h->h_sat = 0;
	h->h_sdeferred = false;
	heal_stale_next(h);
}

static void
heal_stale_over(struct heal *h)
{
	h->h_spc = NULL;
	h->h_sdelete = false;
	h->h_sat++;
	heal_stale_next(h);
}

static void
heal_stale_head(struct peer_conn *pc, void *arg)
{
	struct heal *h = arg;
	const struct heal_stale *s = &h->h_stale[h->h_sat];

	if (h->h_sdelete) {
		if (pc->pc_resp.status == 200) {
			stripe_add(&h->h_shared->ss_stale_dropped, 1);
			log_info("heal: the part of %s here was rebuilt "
			    "elsewhere while this store was away: dropped",
			    s->hs_id);
		}
		peer_conn_discard(pc);
		heal_stale_over(h);
		return;
	}
	if (pc->pc_resp.status != 200) {
		peer_conn_discard(pc);
		heal_stale_over(h);
		return;
	}
	buf_reset(&h->h_sbody);
}

static void
heal_stale_body(struct peer_conn *pc, void *arg)
{
	struct heal *h = arg;
	size_t n = peer_conn_data_len(pc);

	if (h->h_sbody.len + n > MANIFEST_MAX) {
		peer_conn_close(pc);
		heal_stale_over(h);
		return;
	}
	buf_append(&h->h_sbody, peer_conn_data(pc), n);
	peer_conn_consumed(pc);
}

static void
heal_stale_done(struct peer_conn *pc, void *arg)
{
	struct heal *h = arg;
	const struct heal_stale *s = &h->h_stale[h->h_sat];
	struct manifest m;
	char target[64];

	peer_conn_release(pc);
	h->h_spc = NULL;
	if (h->h_sdelete || manifest_decode(h->h_sbody.data, h->h_sbody.len,
	    &m, NULL) == -1 || strcmp(m.m_id, s->hs_id) != 0 ||
	    m.m_gen <= s->hs_gen || manifest_part_of(&m, h->h_self) >= 0) {
		heal_stale_over(h);
		return;
	}
	snprintf(target, sizeof(target), "/_/parts/%s", s->hs_id);
	h->h_sdelete = true;
	h->h_spc = heal_request(h, h->h_self, "DELETE", target, "",
	    &heal_stale_handler, h);
	if (h->h_spc == NULL)
		heal_stale_over(h);
}

static void
heal_stale_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	(void)pc;
	(void)why;
	heal_stale_over(arg);
}

static const struct peer_handler heal_stale_handler = {
	.on_head = heal_stale_head,
	.on_body = heal_stale_body,
	.on_done = heal_stale_done,
	.on_fail = heal_stale_fail,
};

/* The next object of the list: its origin asked for its manifest. */
static void
heal_stale_next(struct heal *h)
{
	char target[96];

	if (h->h_stopped)
		return;
	for (; h->h_sat < h->h_nstale; h->h_sat++) {
		const struct heal_stale *s = &h->h_stale[h->h_sat];

		snprintf(target, sizeof(target), "/_/parts/%s/manifest",
		    s->hs_id);
		h->h_spc = heal_request(h, s->hs_origin, "GET", target, "",
		    &heal_stale_handler, h);
		if (h->h_spc != NULL)
			return;
		h->h_sdeferred = true;	/* its origin is away */
	}
	loop_timer_set(h->h_loop, &h->h_stimer, h->h_sskip > 0 ?
	    HEAL_STALE_FIRST_MS : h->h_sdeferred ? HEAL_STALE_RETRY_MS :
	    HEAL_STALE_MS, heal_stale_tick);
}

static void
heal_stale_tick(struct loop *loop, struct loop_timer *t)
{
	struct heal *h = container_of(t, struct heal, h_stimer);

	(void)loop;
	if (h->h_stopped || h->h_sbusy || h->h_spc != NULL)
		return;
	if (!heal_self(h)) {
		loop_timer_set(h->h_loop, &h->h_stimer, HEAL_STALE_MS,
		    heal_stale_tick);
		return;
	}
	h->h_sbusy = true;
	h->h_sjob.work = heal_stale_list_job;
	h->h_sjob.done = heal_stale_list_done;
	iopool_submit(h->h_pool, &h->h_sjob);
}

/* -- metrics ----------------------------------------------------------- */

void
heal_metrics(struct buf *out, const struct stripe_shared *ss)
{
	metrics_family(out, "shoal_stripe_degraded_objects",
	    "Striped objects taken here with parts lost (missing, or their "
	    "store dead), at the healer's last scan.", "gauge");
	buf_printf(out, "shoal_stripe_degraded_objects %" PRIu64 "\n",
	    stripe_get(&ss->ss_degraded_objects));
	metrics_family(out, "shoal_stripe_heal_todo_bytes",
	    "Bytes of the lost parts of those objects, still to rebuild.",
	    "gauge");
	buf_printf(out, "shoal_stripe_heal_todo_bytes %" PRIu64 "\n",
	    stripe_get(&ss->ss_heal_todo_bytes));
	metrics_family(out, "shoal_stripe_heals_total",
	    "Lost parts this node rebuilt from the others onto another store "
	    "(done: switched in the manifest), or failed to.", "counter");
	buf_printf(out, "shoal_stripe_heals_total{result=\"done\"} %" PRIu64
	    "\nshoal_stripe_heals_total{result=\"failed\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_heals_done), stripe_get(&ss->ss_heals_failed));
	metrics_family(out, "shoal_stripe_heal_bytes_total",
	    "Bytes of parts rebuilt by healing (its throughput).", "counter");
	buf_printf(out, "shoal_stripe_heal_bytes_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_healed_bytes));
	metrics_family(out, "shoal_stripe_stale_parts_dropped_total",
	    "Parts this store dropped because they were rebuilt elsewhere "
	    "while it was away.", "counter");
	buf_printf(out, "shoal_stripe_stale_parts_dropped_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_stale_dropped));
	metrics_family(out, "shoal_stripe_scrub_bytes_total",
	    "Bytes of parts this store's scrubber read and checked "
	    "(stripe/scrub.h).", "counter");
	buf_printf(out, "shoal_stripe_scrub_bytes_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_scrubbed_bytes));
	metrics_family(out, "shoal_stripe_scrub_corrupt_blocks_total",
	    "Corrupt blocks (or trailers) the scrubber found, each part "
	    "reported to its origin to be rebuilt.", "counter");
	buf_printf(out, "shoal_stripe_scrub_corrupt_blocks_total %" PRIu64
	    "\n", stripe_get(&ss->ss_scrub_corrupt));
}

/* The striping section of /_/cluster: the same figures as the metrics
 * above, for a person or a script reading the cluster's state. */
json_t *
heal_json(void *arg)
{
	const struct stripe_shared *ss = arg;

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "degraded_objects", (json_int_t)stripe_get(&ss->ss_degraded_objects),
	    "heal_todo_bytes", (json_int_t)stripe_get(&ss->ss_heal_todo_bytes),
	    "healed_parts", (json_int_t)stripe_get(&ss->ss_heals_done),
	    "healed_bytes", (json_int_t)stripe_get(&ss->ss_healed_bytes),
	    "heal_failures", (json_int_t)stripe_get(&ss->ss_heals_failed),
	    "corrupt_blocks", (json_int_t)stripe_get(&ss->ss_corrupt_blocks),
	    "scrub_corrupt_blocks",
	    (json_int_t)stripe_get(&ss->ss_scrub_corrupt));
}

/* -- life -------------------------------------------------------------- */

struct heal *
heal_start(struct loop *loop, struct iopool *pool, const struct config *cfg,
    struct cluster *cl, struct stripe_shared *ss, struct peer_set *peers)
{
	struct heal *h = xcalloc(1, sizeof(*h));
	int state_fd;

	h->h_loop = loop;
	h->h_pool = pool;
	h->h_cluster = cl;
	h->h_shared = ss;
	h->h_cfg = cfg;
	h->h_peers = peers;
	h->h_fd = h->h_origin_fd = h->h_tmp_fd = -1;
	h->h_dirs.pd_tmp = h->h_dirs.pd_pending = -1;
	h->h_dirs.pd_objects = h->h_dirs.pd_names = -1;
	h->h_stale = xcalloc(HEAL_STALE_MAX, sizeof(*h->h_stale));
	h->h_move = move_create(loop, pool, cfg, cl, peers);
	state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (h->h_move == NULL || state_fd == -1 ||
	    parts_dirs_open(state_fd, &h->h_dirs) == -1 ||
	    (h->h_origin_fd = openat(state_fd, STRIPE_ORIGIN_MANIFESTS, O_PATH |
	    O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (h->h_tmp_fd = openat(state_fd, STRIPE_PARTS_TMP, O_PATH |
	    O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_err("%s: the striping directories", cfg->state_dir);
		if (state_fd != -1)
			close(state_fd);
		heal_free(h);
		return NULL;
	}
	close(state_fd);
	heal_rearm(h, HEAL_TICK_MS);
	loop_timer_set(loop, &h->h_stimer, HEAL_STALE_FIRST_MS,
	    heal_stale_tick);
	return h;
}

bool
heal_stop(struct heal *h)
{
	bool busy;

	if (h == NULL)
		return false;
	h->h_stopped = true;
	loop_timer_cancel(h->h_loop, &h->h_timer);
	loop_timer_cancel(h->h_loop, &h->h_stimer);
	heal_legs_close(h);
	if (h->h_spc != NULL) {
		peer_conn_close(h->h_spc);
		h->h_spc = NULL;
	}
	busy = move_stop(h->h_move);
	return busy || h->h_busy || h->h_sbusy;
}

void
heal_free(struct heal *h)
{
	unsigned i;

	if (h == NULL)
		return;
	move_free(h->h_move);
	parts_dirs_close(&h->h_dirs);
	if (h->h_fd != -1)
		close(h->h_fd);
	if (h->h_origin_fd != -1)
		close(h->h_origin_fd);
	if (h->h_tmp_fd != -1)
		close(h->h_tmp_fd);
	for (i = 0; i < ERASURE_BLOCKS_MAX; i++)
		free(h->h_blocks[i]);
	erasure_free(h->h_er);
	buf_free(&h->h_sbody);
	free(h->h_stale);
	free(h->h_live);
	free(h);
}
