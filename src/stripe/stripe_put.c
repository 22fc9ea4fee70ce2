/*
 * stripe_put.c - a striped upload at the front (see stripe_put.h): its
 * start, the client's connection, its answer or failure, and the
 * worker's setup. Loop thread of a worker; the journal and the manifest
 * are written, and a chunked body's spooled bytes read back, by jobs of
 * the worker's I/O pool, which touch only the upload's fields set before
 * the job was submitted (and the leg buffer and descriptor a read-back
 * is given).
 *
 * Stages: RESERVE (the name with every alive member, as a plain upload
 * does: upload_reserve), JOURNAL (the entry being written), BODY (the
 * client's bytes to the stores: stripe_put_legs.c), MANIFEST (written
 * here), COMMIT (sent to every store), UNJOURNAL (the entry removed),
 * then the answer (those three: stripe_put_end.c). A failure at any
 * stage after RESERVE jumps to CLEANUP: DELETE on every store, then the
 * journal entry removed when all confirmed. The name's reservation ends
 * with the answer, stored or not. A chunked body that outgrew a plain
 * upload (stripe_put_grow) enters at the stores' choice, its name
 * reserved already; its BODY reads the spooled bytes back in the pool
 * first, its parts' sizes are set at the body's end, and each part's
 * reservation grows as it fills. An upload is freed only from the loop
 * (a job's completion, a peer answer, the members' verdict), never from
 * inside a call of its own: peer_conn_send() may report a failure
 * synchronously, so every path checks sp_failed after it.
 *
 * State: the cluster, the shared table (its own lock), the stripe
 * directories and the list of uploads, set once per worker before
 * serving; the list is the loop thread's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/server.h"
#include "serve/upload.h"
#include "store/metrics.h"
#include "stripe/erasure.h"
#include "stripe/layout.h"
#include "stripe/journal.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/placement.h"
#include "stripe/stripe.h"
#include "stripe/stripe_put.h"
#include "stripe/stripe_put_int.h"

#define STRIPE_DIR "stripe"
#define STRIPE_TMP "stripe/tmp"
#define STRIPE_JOURNAL "stripe/journal"
#define STRIPE_MANIFESTS "stripe/manifests"
#define STRIPE_NAMES "stripe/names"
#define STRIPE_RETRY_AFTER "Retry-After: 5\r\n"

struct cluster *stripe_put_cluster;
struct stripe_shared *stripe_put_shared;
int stripe_put_tmp_fd = -1, stripe_put_journal_fd = -1;
int stripe_put_manifests_fd = -1, stripe_put_names_fd = -1;
struct erasure *stripe_put_erasure;
static struct list sp_all = LIST_HEAD_INIT(sp_all);

/* -- the end of an upload ---------------------------------------------- */

void
stripe_put_release(struct stripe_put *sp)
{
	unsigned i;

	if (stripe_lock(stripe_put_shared) != 0)
		return;
	for (i = 0; i < sp->sp_nlegs; i++)
		if (sp->sp_legs[i].l_has_reservation) {
			stripe_release_locked(stripe_put_shared,
			    sp->sp_legs[i].l_node, sp->sp_srv->s_pid,
			    sp->sp_legs[i].l_reserved);
			sp->sp_legs[i].l_has_reservation = false;
		}
	stripe_unlock(stripe_put_shared);
}

/* The upload is over, `stored` or not: the name's reservation with the
 * members ends (once). */
void
stripe_put_unreserve(struct stripe_put *sp, bool stored)
{
	if (sp->sp_reservation == NULL)
		return;
	sp->sp_srv->s_cluster->sc_reserve_end(sp->sp_srv, sp->sp_reservation,
	    stored);
	sp->sp_reservation = NULL;
}

void
stripe_put_free(struct stripe_put *sp)
{
	unsigned i;

	stripe_put_unreserve(sp, false);
	list_remove(&sp->sp_link);
	for (i = 0; i < sp->sp_nlegs; i++) {
		struct put_leg *l = &sp->sp_legs[i];

		if (l->l_pc != NULL)
			peer_conn_close(l->l_pc);
		free(l->l_buf);
		XXH3_freeState(l->l_hash);
	}
	XXH3_freeState(sp->sp_hash);
	free(sp->sp_text);
	if (sp->sp_file_fd != -1)
		close(sp->sp_file_fd);
	free(sp);
}

/* Sends the client its answer (the connection stays the upload's no
 * longer). */
void
stripe_put_answer(struct stripe_put *sp, int status, const char *reason,
    const char *extra)
{
	struct conn *c = sp->sp_conn;

	if (c == NULL)
		return;
	sp->sp_conn = NULL;
	metrics_count_upload(status);
	if (!conn_body_done(c))
		c->c_close = true;	/* body bytes left unread */
	conn_send_text(c, status, reason, extra);
}

/* Ends the upload without the object: the answer, when the client is
 * still there, then the cleanup. Never frees sp. */
void
stripe_put_fail(struct stripe_put *sp, int status, const char *reason)
{
	if (sp->sp_failed)
		return;
	sp->sp_failed = true;
	sp->sp_status = status;
	stripe_add(&stripe_put_shared->ss_puts_failed, 1);
	log_info("striped upload of %s (%s) failed: %s", sp->sp_name,
	    sp->sp_id, reason);
	stripe_put_release(sp);
	if (sp->sp_stage != STAGE_RESERVE)
		stripe_put_unreserve(sp, false);
	if (status != 0)
		stripe_put_answer(sp, status, reason, NULL);
	else if (sp->sp_conn != NULL) {
		struct conn *c = sp->sp_conn;

		sp->sp_conn = NULL;
		metrics_count_upload(0);
		c->c_status = 499;
		conn_abort(c);
	}
	/* The name's round, a journal being written or a read of the body
	 * so far: the cleanup waits for it (see stripe_put_reserved,
	 * stripe_journal_done, stripe_file_done). */
	if (sp->sp_stage != STAGE_RESERVE && sp->sp_stage != STAGE_JOURNAL &&
	    sp->sp_stage != STAGE_MANIFEST && sp->sp_stage != STAGE_UNJOURNAL &&
	    !sp->sp_file_busy)
		stripe_put_end_cleanup(sp);
}

/* -- the client connection --------------------------------------------- */

static void
stripe_put_io(struct conn *c, short revents)
{
	struct stripe_put *sp = conn_owner(c);

	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLIN)) {
		stripe_put_fail(sp, 0, "the connection was reset");
		return;
	}
	if (sp->sp_stage == STAGE_BODY && sp->sp_received <
	    sp->sp_layout.l_size) {
		stripe_put_legs_pump(sp);
		return;
	}
	/* The whole body is here: the object will be stored all the same,
	 * with nobody to tell. */
	if (revents & (POLLERR | POLLHUP)) {
		sp->sp_conn = NULL;
		metrics_count_upload(0);
		c->c_status = 499;
		conn_abort(c);
	}
}

static void
stripe_put_timeout(struct conn *c)
{
	struct stripe_put *sp = conn_owner(c);

	stripe_put_fail(sp, 408, "request body not received in time");
}

/* The connection is being freed (worker exit): nobody to answer. */
static void
stripe_put_close(struct conn *c)
{
	struct stripe_put *sp = conn_owner(c);

	sp->sp_conn = NULL;
	sp->sp_failed = true;
	metrics_count_upload(0);
}

static const struct conn_handler stripe_put_conn_handler = {
	.on_io = stripe_put_io,
	.on_timeout = stripe_put_timeout,
	.on_close = stripe_put_close,
};

/* -- the start --------------------------------------------------------- */

static void
stripe_journal_job(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);
	struct stat st;

	if (fstatat(stripe_put_names_fd, sp->sp_name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(sp->sp_srv->s_root_fd, sp->sp_name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		sp->sp_job_err = EEXIST;
		return;
	}
	sp->sp_job_err = parts_write_file(stripe_put_tmp_fd,
	    stripe_put_journal_fd, sp->sp_id, sp->sp_text,
	    sp->sp_text_len) == -1 ? errno : 0;
}

static void
stripe_journal_done(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);

	if (sp->sp_job_err != 0) {
		errno = sp->sp_job_err;
		if (sp->sp_job_err != EEXIST)
			log_warn("stripe: journal entry %s", sp->sp_id);
		if (!sp->sp_failed) {
			sp->sp_failed = true;
			stripe_add(&stripe_put_shared->ss_puts_failed, 1);
			stripe_put_release(sp);
			if (sp->sp_job_err == EEXIST)
				stripe_put_answer(sp, 409, "the name exists on "
				    "this node", NULL);
			else
				stripe_put_answer(sp, 500, "cannot write the "
				    "journal", NULL);
		}
		stripe_put_free(sp);
		return;
	}
	if (sp->sp_failed) {		/* the client left meanwhile */
		stripe_put_end_cleanup(sp);
		return;
	}
	stripe_put_legs_open(sp);
}

/* The journal entry (stripe/journal.h): which stores may hold parts of
 * the id, for which name, in which worker. */
static int
stripe_journal_text(struct stripe_put *sp)
{
	const char *nodes[CONFIG_STRIPE_PARTS_MAX], *addrs[CONFIG_STRIPE_PARTS_MAX];
	unsigned i;

	for (i = 0; i < sp->sp_nlegs; i++) {
		nodes[i] = sp->sp_legs[i].l_node;
		addrs[i] = sp->sp_legs[i].l_addr;
	}
	sp->sp_text = journal_encode(sp->sp_id, sp->sp_name, sp->sp_srv->s_pid,
	    nodes, addrs, sp->sp_nlegs, &sp->sp_text_len);
	return sp->sp_text == NULL ? -1 : 0;
}

/* What part i reserves at the start: its size; for a chunked body, its
 * share of the bytes so far and STRIPE_GROW_BLOCKS blocks more. */
static uint64_t
stripe_put_need(const struct stripe_put *sp, unsigned i)
{
	struct layout so_far = sp->sp_layout;

	if (!sp->sp_grown)
		return layout_part_size(&sp->sp_layout, i);
	so_far.l_size = sp->sp_spooled;
	return layout_part_size(&so_far, i) + STRIPE_GROW_BLOCKS *
	    so_far.l_block;
}

struct stripe_candidate {
	char sc_node[MEMBER_NAME_MAX];
	char sc_addr[MEMBER_ADDR_MAX];
};

/*
 * Chooses the stores and reserves the parts there, under the shared
 * table's lock so that two workers see each other's reservations.
 * Returns 0, or -1 with *reason for a 503.
 */
static int
stripe_put_place(struct stripe_put *sp, char *reason, size_t cap)
{
	struct members *mt = stripe_put_cluster->cl_members;
	const unsigned data = sp->sp_layout.l_parts;
	const unsigned parts = data + sp->sp_parity;
	unsigned order[CONFIG_STRIPE_PARTS_MAX];
	struct stripe_candidate *cand;
	struct placement_store *st;
	struct peer_set *set;
	uint64_t need[CONFIG_STRIPE_PARTS_MAX], *capa, *used;
	size_t chosen[CONFIG_STRIPE_PARTS_MAX], n = 0, i, k;
	unsigned placed;
	int rc = -1;

	/* Largest first: part 0, the parity parts (as long), the others. */
	for (i = 0; i < parts; i++) {
		order[i] = i == 0 ? 0 : i <= sp->sp_parity ? data +
		    (unsigned)i - 1 : (unsigned)i - sp->sp_parity;
		need[i] = stripe_put_need(sp, order[i] < data ? order[i] : 0);
	}
	if (members_lock(mt) != 0) {
		snprintf(reason, cap, "member table unusable");
		return -1;
	}
	cand = xcalloc(mt->mt_capacity, sizeof(*cand));
	st = xcalloc(mt->mt_capacity, sizeof(*st));
	capa = xcalloc(mt->mt_capacity, sizeof(*capa));
	used = xcalloc(mt->mt_capacity, sizeof(*used));
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, (uint32_t)i);

		if (!m->m_in_use || m->m_state != MEMBER_ALIVE ||
		    !m->m_facts.mf_store)
			continue;
		memcpy(cand[n].sc_node, m->m_facts.mf_name, MEMBER_NAME_MAX);
		memcpy(cand[n].sc_addr, m->m_facts.mf_addr, MEMBER_ADDR_MAX);
		capa[n] = m->m_facts.mf_capacity;
		used[n] = m->m_facts.mf_used;
		n++;
	}
	members_unlock(mt);
	/* Only the stores this worker can reach (this node among them,
	 * through its own set). Not merely no room: an empty part fits a
	 * store without any. */
	for (i = 0, k = 0; i < n; i++)
		if (stripe_put_legs_peer(sp->sp_srv, cand[i].sc_addr, &set) !=
		    NULL) {
			cand[k] = cand[i];
			capa[k] = capa[i];
			used[k++] = used[i];
		}
	n = k;
	if (stripe_lock(stripe_put_shared) != 0) {
		snprintf(reason, cap, "reservation table unusable");
		goto out;
	}
	for (i = 0; i < n; i++) {
		st[i].ps_node = cand[i].sc_node;
		st[i].ps_free = placement_free(capa[i], used[i],
		    stripe_reserved_locked(stripe_put_shared, cand[i].sc_node));
	}
	placed = placement_choose(sp->sp_id, st, n, parts, need, chosen);
	if (placed < parts) {
		stripe_unlock(stripe_put_shared);
		snprintf(reason, cap, "%u store nodes have room for the parts "
		    "of this upload; %u are needed", placed, parts);
		goto out;
	}
	for (i = 0; i < parts; i++) {
		struct put_leg *l = &sp->sp_legs[order[i]];

		if (stripe_reserve_locked(stripe_put_shared,
		    cand[chosen[i]].sc_node, sp->sp_srv->s_pid,
		    need[i]) == -1) {
			stripe_unlock(stripe_put_shared);
			stripe_put_release(sp);
			snprintf(reason, cap, "too many striped uploads in "
			    "flight");
			goto out;
		}
		memcpy(l->l_node, cand[chosen[i]].sc_node, MEMBER_NAME_MAX);
		memcpy(l->l_addr, cand[chosen[i]].sc_addr, MEMBER_ADDR_MAX);
		l->l_reserved = need[i];
		l->l_size = sp->sp_grown ? STRIPE_CHUNKED : need[i];
		l->l_has_reservation = true;
	}
	sp->sp_nlegs = parts;
	stripe_unlock(stripe_put_shared);
	rc = 0;
out:
	free(cand);
	free(st);
	free(capa);
	free(used);
	return rc;
}

/* Answers the client before the body and frees the upload (nothing is
 * at the stores yet). */
static void
stripe_put_refuse(struct stripe_put *sp, int status, const char *reason,
    const char *extra)
{
	stripe_put_unreserve(sp, false);
	stripe_put_answer(sp, status, reason, extra);
	stripe_put_free(sp);
}

/* The members answered for the name (server_reserved_fn): the stores,
 * then the journal entry. */
static void
stripe_put_reserved(void *arg, int status, const char *why)
{
	struct stripe_put *sp = arg;
	char reason[160];

	if (sp->sp_failed) {		/* the client left meanwhile */
		stripe_put_free(sp);
		return;
	}
	if (status != 200) {
		stripe_put_refuse(sp, 409, why, NULL);
		return;
	}
	if (stripe_put_place(sp, reason, sizeof(reason)) == -1) {
		stripe_add(&stripe_put_shared->ss_puts_refused, 1);
		log_info("striped upload of %s refused: %s", sp->sp_name,
		    reason);
		stripe_put_refuse(sp, 503, reason, STRIPE_RETRY_AFTER);
		return;
	}
	if (stripe_journal_text(sp) == -1) {
		stripe_put_release(sp);
		stripe_put_refuse(sp, 500, "out of memory", NULL);
		return;
	}
	sp->sp_stage = STAGE_JOURNAL;
	sp->sp_job.work = stripe_journal_job;
	sp->sp_job.done = stripe_journal_done;
	iopool_submit(sp->sp_srv->s_pool, &sp->sp_job);
}

/* The code of the upload's (parts, parity), made once per worker while
 * the configuration keeps it. Returns 0, or -1 with errno. */
static int
stripe_put_code(const struct stripe_put *sp)
{
	struct erasure *e;

	if (sp->sp_parity == 0 || (stripe_put_erasure != NULL &&
	    erasure_data(stripe_put_erasure) == sp->sp_layout.l_parts &&
	    erasure_parity(stripe_put_erasure) == sp->sp_parity))
		return 0;
	if ((e = erasure_new(sp->sp_layout.l_parts, sp->sp_parity)) == NULL)
		return -1;
	erasure_free(stripe_put_erasure);
	stripe_put_erasure = e;
	return 0;
}

/* A new upload of c's request, on sp_all; NULL when it could not start
 * (then c is answered 500). */
static struct stripe_put *
stripe_put_new(struct conn *c)
{
	const struct config *cfg = c->c_srv->s_cfg;
	struct stripe_put *sp;
	unsigned i;

	sp = xcalloc(1, sizeof(*sp));
	list_insert_tail(&sp_all, &sp->sp_link);
	sp->sp_srv = c->c_srv;
	sp->sp_conn = c;
	sp->sp_file_fd = -1;
	sp->sp_start_ms = loop_now(c->c_srv->s_loop);
	memcpy(sp->sp_name, c->c_name, c->c_name_len + 1);
	sp->sp_name_len = c->c_name_len;
	sp->sp_layout.l_size = c->c_req.content_length;
	sp->sp_layout.l_block = cfg->stripe.block;
	sp->sp_layout.l_parts = (unsigned)cfg->stripe.parts;
	sp->sp_parity = (unsigned)cfg->stripe.parity;
	sp->sp_nlegs = sp->sp_layout.l_parts + sp->sp_parity;
	sp->sp_hash = XXH3_createState();
	for (i = 0; i < sp->sp_nlegs; i++) {
		sp->sp_legs[i].l_put = sp;
		sp->sp_legs[i].l_index = i;
		sp->sp_legs[i].l_hash = XXH3_createState();
		if (sp->sp_legs[i].l_hash == NULL)
			sp->sp_hash = NULL;	/* refused below */
		else
			(void)XXH3_128bits_reset(sp->sp_legs[i].l_hash);
	}
	if (sp->sp_hash == NULL || manifest_id_new(sp->sp_id) == -1 ||
	    stripe_put_code(sp) == -1) {
		stripe_put_refuse(sp, 500, "cannot start a striped upload",
		    NULL);
		return NULL;
	}
	(void)XXH3_128bits_reset(sp->sp_hash);
	return sp;
}

static bool
stripe_put_take(struct conn *c)
{
	const struct config *cfg = c->c_srv->s_cfg;
	struct stripe_put *sp;

	if (cfg->stripe.min_size == 0 ||
	    c->c_req.content_length < cfg->stripe.min_size)
		return false;
	if ((sp = stripe_put_new(c)) == NULL)
		return true;
	/* The name, cluster-wide, as a plain upload takes it. */
	sp->sp_stage = STAGE_RESERVE;
	sp->sp_reservation = upload_reserve(c->c_srv, sp->sp_name,
	    sp->sp_name_len, &sp->sp_stamp, stripe_put_reserved, sp);
	if (sp->sp_reservation == NULL) {
		stripe_put_refuse(sp, 409, UPLOAD_KNOWN, NULL);
		return true;
	}
	conn_own(c, &stripe_put_conn_handler, sp);
	conn_wait_hangup(c);
	return true;
}

/* A chunked body that passed stripe.min_size (s_stripe_grow): the plain
 * upload reserved the name; the stores, then as stripe_put_take. */
static void
stripe_put_grow(struct conn *c, const struct server_grown *g)
{
	struct stripe_put *sp = stripe_put_new(c);
	unsigned i;

	if (sp == NULL) {
		c->c_srv->s_cluster->sc_reserve_end(c->c_srv,
		    g->sg_reservation, false);
		close(g->sg_fd);
		return;
	}
	sp->sp_grown = true;
	sp->sp_layout.l_size = STRIPE_CHUNKED;
	for (i = 0; i < sp->sp_nlegs; i++)
		sp->sp_legs[i].l_size = STRIPE_CHUNKED;
	sp->sp_file_fd = g->sg_fd;
	sp->sp_spooled = g->sg_received;
	sp->sp_reservation = g->sg_reservation;
	sp->sp_stamp = g->sg_stamp;
	sp->sp_stage = STAGE_RESERVE;
	conn_own(c, &stripe_put_conn_handler, sp);
	conn_wait_hangup(c);
	stripe_put_reserved(sp, 200, NULL);
}

/* -- setup ------------------------------------------------------------- */

static int
stripe_put_dir(int state_fd, const char *path)
{
	if (mkdirat(state_fd, path, 0700) == -1 && errno != EEXIST)
		return -1;
	return openat(state_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

int
stripe_put_attach(struct server *s, struct cluster *cl,
    struct stripe_shared *ss)
{
	int state_fd;

	stripe_put_cluster = cl;
	stripe_put_shared = ss;
	if (stripe_put_journal_fd == -1) {
		state_fd = open(s->s_cfg->state_dir, O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
		if (state_fd == -1 || (mkdirat(state_fd, STRIPE_DIR, 0700) ==
		    -1 && errno != EEXIST) ||
		    (stripe_put_tmp_fd = stripe_put_dir(state_fd,
		    STRIPE_TMP)) == -1 ||
		    (stripe_put_journal_fd = stripe_put_dir(state_fd,
		    STRIPE_JOURNAL)) == -1 ||
		    (stripe_put_manifests_fd = stripe_put_dir(state_fd,
		    STRIPE_MANIFESTS)) == -1 ||
		    (stripe_put_names_fd = stripe_put_dir(state_fd,
		    STRIPE_NAMES)) == -1) {
			log_err("%s/%s", s->s_cfg->state_dir, STRIPE_DIR);
			if (state_fd != -1)
				close(state_fd);
			return -1;
		}
		close(state_fd);
	}
	s->s_stripe_upload = stripe_put_take;
	s->s_stripe_grow = stripe_put_grow;
	return 0;
}

void
stripe_put_teardown(void)
{
	erasure_free(stripe_put_erasure);
	stripe_put_erasure = NULL;
	while (!list_empty(&sp_all)) {
		struct stripe_put *sp = container_of(sp_all.next,
		    struct stripe_put, sp_link);
		unsigned i;

		/* The peer set frees the connections next. */
		for (i = 0; i < sp->sp_nlegs; i++)
			sp->sp_legs[i].l_pc = NULL;
		stripe_put_release(sp);
		stripe_put_free(sp);
	}
}
