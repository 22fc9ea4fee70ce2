/*
 * heal.c - the agent's healing (see heal.h): the choice of what to
 * rebuild, the origin's scan of its manifests, the metrics and the
 * healer's life; the rebuild of a lost part is heal_rebuild.c's, a
 * store's stale check heal_stale.c's (they share heal_int.h). Loop
 * thread of the agent; the scan in its pool (h_job), touching only the
 * fields marked "job" while h_busy.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "store/metrics.h"
#include "stripe/heal.h"
#include "stripe/heal_int.h"
#include "stripe/manifest.h"
#include "stripe/move.h"
#include "stripe/parts.h"
#include "stripe/placement.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"

void
heal_rearm(struct heal *h, int64_t ms)
{
	if (!h->h_stopped)
		loop_timer_set(h->h_loop, &h->h_timer, ms, heal_tick);
}

void
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
struct peer_conn *
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
bool
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

void
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
		heal_rebuild_row(h);	/* the pace allowed the next row */
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

/* -- metrics ----------------------------------------------------------- */

void
heal_metrics(struct buf *out, const struct stripe_shared *ss)
{
	metrics_gauge(out, "shoal_stripe_degraded_objects",
	    "Striped objects taken here with parts lost (missing, or their "
	    "store dead), at the healer's last scan.",
	    stripe_get(&ss->ss_degraded_objects));
	metrics_gauge(out, "shoal_stripe_heal_todo_bytes",
	    "Bytes of the lost parts of those objects, still to rebuild.",
	    stripe_get(&ss->ss_heal_todo_bytes));
	metrics_family(out, "shoal_stripe_heals_total",
	    "Lost parts this node rebuilt from the others onto another store "
	    "(done: switched in the manifest), or failed to.", "counter");
	buf_printf(out, "shoal_stripe_heals_total{result=\"done\"} %" PRIu64
	    "\nshoal_stripe_heals_total{result=\"failed\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_heals_done), stripe_get(&ss->ss_heals_failed));
	metrics_counter(out, "shoal_stripe_heal_bytes_total",
	    "Bytes of parts rebuilt by healing (its throughput).",
	    stripe_get(&ss->ss_healed_bytes));
	metrics_counter(out, "shoal_stripe_stale_parts_dropped_total",
	    "Parts this store dropped because they were rebuilt elsewhere "
	    "while it was away.", stripe_get(&ss->ss_stale_dropped));
	metrics_counter(out, "shoal_stripe_scrub_bytes_total",
	    "Bytes of parts this store's scrubber read and checked "
	    "(stripe/scrub.h).", stripe_get(&ss->ss_scrubbed_bytes));
	metrics_counter(out, "shoal_stripe_scrub_corrupt_blocks_total",
	    "Corrupt blocks (or trailers) the scrubber found, each part "
	    "reported to its origin to be rebuilt.",
	    stripe_get(&ss->ss_scrub_corrupt));
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
	heal_rebuild_legs_close(h);
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