/*
 * stripe_put.c - a striped upload at the front (see stripe_put.h). Loop
 * thread of a worker; the journal and the manifest are written, and a
 * chunked body's spooled bytes read back, by jobs of the worker's I/O
 * pool, which touch only the upload's fields set before the job was
 * submitted (and the leg buffer and descriptor a read-back is given).
 *
 * Stages: RESERVE (the name with every alive member, as a plain upload
 * does: upload_reserve), JOURNAL (the entry being written), BODY (the
 * client's bytes to the stores), MANIFEST (written here), COMMIT (sent to
 * every store), UNJOURNAL (the entry removed), then the answer. A
 * failure at any stage after RESERVE jumps to CLEANUP: DELETE on every
 * store, then the journal entry removed when all confirmed. The name's
 * reservation ends with the answer, stored or not. A chunked body that
 * outgrew a plain upload (stripe_put_grow) enters at the stores' choice,
 * its name reserved already; its BODY reads the spooled bytes back in
 * the pool first, its parts' sizes are set at the body's end, and each
 * part's reservation grows as it fills. An upload is freed
 * only from the loop (a job's completion, a peer answer, the members'
 * verdict), never from inside a call of its own: peer_conn_send() may
 * report a failure synchronously, so every path checks sp_failed after
 * it.
 *
 * State: the cluster, the shared table, the stripe directories and the
 * list of uploads, set once per worker before serving; the list is the
 * loop thread's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/condition.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/server.h"
#include "serve/upload.h"
#include "store/metrics.h"
#include "store/name.h"
#include "stripe/erasure.h"
#include "stripe/layout.h"
#include "stripe/journal.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/parts_serve.h"
#include "stripe/placement.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"
#include "stripe/stripe_put.h"

#define STRIPE_DIR "stripe"
#define STRIPE_TMP "stripe/tmp"
#define STRIPE_JOURNAL "stripe/journal"
#define STRIPE_MANIFESTS "stripe/manifests"
#define STRIPE_NAMES "stripe/names"
#define STRIPE_RETRY_AFTER "Retry-After: 5\r\n"
#define STRIPE_BYTES_PER_MS 10000	/* a store's deadline: 1 ms a 10 kB */
#define STRIPE_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)
#define STRIPE_CHUNKED UINT64_MAX	/* a request body of unknown length */
#define STRIPE_GROW_BLOCKS 16		/* a chunked body's reservation step */

static struct cluster *sp_cluster;
static struct stripe_shared *sp_shared;
static int sp_tmp_fd = -1, sp_journal_fd = -1, sp_manifests_fd = -1;
static int sp_names_fd = -1;
static struct list sp_all = LIST_HEAD_INIT(sp_all);
static struct erasure *sp_code;		/* of the last (parts, parity) */

enum stripe_stage {
	STAGE_RESERVE, STAGE_JOURNAL, STAGE_BODY, STAGE_MANIFEST, STAGE_COMMIT,
	STAGE_UNJOURNAL, STAGE_CLEANUP
};

enum leg_buf { BUF_FREE, BUF_FULL, BUF_SENT };

struct stripe_put;

/* One part: its store, its connection, its block buffer. */
struct put_leg {
	struct stripe_put *l_put;
	unsigned l_index;
	char l_node[MEMBER_NAME_MAX];
	char l_addr[MEMBER_ADDR_MAX];
	uint64_t l_size;		/* of the part */
	uint64_t l_reserved;		/* in the shared table... */
	bool l_has_reservation;		/* ... until released */
	struct peer_conn *l_pc;
	char *l_buf;			/* one block */
	size_t l_fill;
	enum leg_buf l_state;
	bool l_ready;			/* on_send came, nothing was sent */
	bool l_sent_all;		/* the body's end is out */
	uint64_t l_handed;		/* bytes handed to the connection */
	XXH3_state_t *l_hash;
	struct digest l_digest;
	bool l_done;			/* this stage's answer came, good */
	bool l_lost;			/* its store failed: not stored */
};

struct stripe_put {
	struct list sp_link;		/* sp_all */
	struct server *sp_srv;
	struct conn *sp_conn;		/* NULL once answered or gone */
	char sp_name[NAME_MAX_LEN + 1];
	size_t sp_name_len;
	char sp_id[MANIFEST_ID_LEN + 1];
	struct layout sp_layout;
	enum stripe_stage sp_stage;
	bool sp_failed;
	int sp_status;			/* the failure's answer (0: none) */
	bool sp_timed_out;		/* ... a store's deadline passed */
	uint64_t sp_received;
	XXH3_state_t *sp_hash;
	unsigned sp_nlegs;		/* data parts, then parity parts */
	unsigned sp_parity;
	unsigned sp_nlost;		/* legs lost, at most sp_parity */
	uint64_t sp_row;		/* the row whose parity is being made,
					 * + 1; 0 before the first */
	bool sp_pumping;		/* inside stripe_put_pump() */
	unsigned sp_waiting;		/* legs still to answer this stage */
	unsigned sp_cleanup_ok;		/* DELETEs confirmed */
	struct put_leg sp_legs[CONFIG_STRIPE_PARTS_MAX];
	struct manifest sp_manifest;
	char *sp_text;			/* the journal entry, the manifest */
	size_t sp_text_len;
	bool sp_manifest_written;
	uint64_t sp_stamp;		/* the node's clock at the start */
	struct server_reservation *sp_reservation; /* the name's, or NULL */
	struct iopool_job sp_job;
	int sp_job_err;
	int64_t sp_start_ms;
	/* A chunked body (stripe_put_grow): its size is known at its end;
	 * the first sp_spooled bytes are read back from sp_file_fd. */
	bool sp_grown;
	int sp_file_fd;
	uint64_t sp_spooled;
	bool sp_file_busy;		/* a read of it runs in the pool */
	struct put_leg *sp_file_leg;	/* into this leg's buffer */
	size_t sp_file_len;
	ssize_t sp_file_n;
};

static void stripe_put_pump(struct stripe_put *sp);

/* The store at addr, through the set that holds it (this node's own for
 * itself), or NULL. */
static struct peer *
stripe_put_peer(struct server *s, const char *addr, struct peer_set **set)
{
	char self[MEMBER_ADDR_MAX] = "";

	if (members_lock(sp_cluster->cl_members) == 0) {
		memcpy(self, members_self(sp_cluster->cl_members)->m_facts.
		    mf_addr, sizeof(self));
		members_unlock(sp_cluster->cl_members);
	}
	return self_peer_find(s->s_peers, s->s_loop, self, addr,
	    &s->s_limits, s->s_cfg->peer_timeout_ms, set);
}
static void stripe_put_fail(struct stripe_put *sp, int status,
    const char *reason);

/* -- the end of an upload ---------------------------------------------- */

static void
stripe_put_release(struct stripe_put *sp)
{
	unsigned i;

	if (stripe_lock(sp_shared) != 0)
		return;
	for (i = 0; i < sp->sp_nlegs; i++)
		if (sp->sp_legs[i].l_has_reservation) {
			stripe_release_locked(sp_shared,
			    sp->sp_legs[i].l_node, sp->sp_srv->s_pid,
			    sp->sp_legs[i].l_reserved);
			sp->sp_legs[i].l_has_reservation = false;
		}
	stripe_unlock(sp_shared);
}

/* Releases the reservation of one leg (its store failed). */
static void
stripe_put_release_leg(struct stripe_put *sp, struct put_leg *l)
{
	if (!l->l_has_reservation || stripe_lock(sp_shared) != 0)
		return;
	stripe_release_locked(sp_shared, l->l_node, sp->sp_srv->s_pid,
	    l->l_reserved);
	l->l_has_reservation = false;
	stripe_unlock(sp_shared);
}

/* The upload is over, `stored` or not: the name's reservation with the
 * members ends (once). */
static void
stripe_put_unreserve(struct stripe_put *sp, bool stored)
{
	if (sp->sp_reservation == NULL)
		return;
	sp->sp_srv->s_cluster->sc_reserve_end(sp->sp_srv, sp->sp_reservation,
	    stored);
	sp->sp_reservation = NULL;
}

static void
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
static void
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

/* -- signed requests to the stores ------------------------------------- */

/* Sends `method` of target to the leg's store with a body of `len` bytes
 * (STRIPE_CHUNKED: of a length unknown yet, sent as chunks) (its digest
 * `digest`, NULL: the head alone is signed). Returns false
 * when the store is not in the peer set or nothing could be signed. */
static bool
stripe_put_request(struct stripe_put *sp, struct put_leg *l,
    const char *method, const char *target, uint64_t len,
    const uint8_t *digest, const struct peer_handler *h, int64_t timeout)
{
	struct cluster *cl = sp_cluster;
	uint8_t nonce[AUTH_NONCE_LEN];
	char sig[AUTH_SIGNATURE_SIZE], head[STRIPE_HEAD_MAX], length[48];
	char block[64] = "";
	struct peer_set *set;
	struct peer *p = stripe_put_peer(sp->sp_srv, l->l_addr, &set);
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

/* -- cleanup ----------------------------------------------------------- */

static void
stripe_unjournal_job(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);
	char name[PARTS_FILE_MAX];
	int fd;

	sp->sp_job_err = 0;
	if (sp->sp_manifest_written && sp->sp_stage == STAGE_CLEANUP) {
		(void)unlinkat(sp_names_fd, sp->sp_name, 0);
		parts_manifest_name(sp->sp_id, name);
		(void)unlinkat(sp_manifests_fd, name, 0);
	}
	if (unlinkat(sp_journal_fd, sp->sp_id, 0) == -1 && errno != ENOENT)
		sp->sp_job_err = errno;
	fd = openat(sp_journal_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

static void stripe_put_created(struct stripe_put *sp);

static void
stripe_unjournal_done(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);

	if (sp->sp_job_err != 0) {
		errno = sp->sp_job_err;
		log_warn("stripe: journal entry %s", sp->sp_id);
	}
	if (sp->sp_stage == STAGE_UNJOURNAL) {
		stripe_put_created(sp);
		return;
	}
	stripe_put_free(sp);
}

static void
stripe_unjournal(struct stripe_put *sp)
{
	sp->sp_job.work = stripe_unjournal_job;
	sp->sp_job.done = stripe_unjournal_done;
	iopool_submit(sp->sp_srv->s_pool, &sp->sp_job);
}

/* One DELETE answered or failed. */
static void
stripe_cleanup_leg_over(struct put_leg *l, bool ok)
{
	struct stripe_put *sp = l->l_put;

	l->l_pc = NULL;
	sp->sp_cleanup_ok += ok;
	if (--sp->sp_waiting > 0)
		return;
	if (sp->sp_cleanup_ok == sp->sp_nlegs) {
		stripe_unjournal(sp);
		return;
	}
	/* A store that did not confirm keeps its entry: the stores sweep
	 * pending parts in time, and the next start sends the DELETEs
	 * again. */
	log_warnx("stripe: %u of %u stores confirmed the removal of %s",
	    sp->sp_cleanup_ok, sp->sp_nlegs, sp->sp_id);
	stripe_put_free(sp);
}

static void
stripe_cleanup_head(struct peer_conn *pc, void *arg)
{
	struct put_leg *l = arg;
	bool ok = pc->pc_resp.status == 200;

	peer_conn_discard(pc);
	stripe_cleanup_leg_over(l, ok);
}

static void
stripe_cleanup_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct put_leg *l = arg;

	log_info("stripe: removing %s from %s failed (%d)", l->l_put->sp_id,
	    pc->pc_peer->p_name, (int)why);
	stripe_cleanup_leg_over(l, false);
}

static void
stripe_peer_ignore(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_close(pc);	/* discarded at the head: not ours */
}

static const struct peer_handler stripe_cleanup_handler = {
	.on_head = stripe_cleanup_head,
	.on_body = stripe_peer_ignore,
	.on_done = stripe_peer_ignore,
	.on_fail = stripe_cleanup_fail,
};

/* Why the upload failed, by its answer. */
static enum stripe_cleanup_cause
stripe_put_cause(const struct stripe_put *sp)
{
	if (sp->sp_timed_out || sp->sp_status == 408)
		return STRIPE_CLEANUP_TIMEOUT;
	switch (sp->sp_status) {
	case 0: case 400: case 413:
		return STRIPE_CLEANUP_CLIENT;
	case 502: case 503: case 507:
		return STRIPE_CLEANUP_STORE;
	default:
		return STRIPE_CLEANUP_LOCAL;
	}
}

/* Every part connection closed, DELETE on every store. */
static void
stripe_cleanup(struct stripe_put *sp)
{
	char target[64];
	unsigned i;

	sp->sp_stage = STAGE_CLEANUP;
	stripe_add(&sp_shared->ss_cleanups[stripe_put_cause(sp)], 1);
	snprintf(target, sizeof(target), "/_/parts/%s", sp->sp_id);
	sp->sp_waiting = 0;
	sp->sp_cleanup_ok = 0;
	for (i = 0; i < sp->sp_nlegs; i++) {
		struct put_leg *l = &sp->sp_legs[i];

		if (l->l_pc != NULL) {
			peer_conn_close(l->l_pc);
			l->l_pc = NULL;
		}
		if (stripe_put_request(sp, l, "DELETE", target, 0, NULL,
		    &stripe_cleanup_handler,
		    sp->sp_srv->s_cfg->peer_timeout_ms))
			sp->sp_waiting++;
	}
	if (sp->sp_waiting == 0) {
		sp->sp_waiting = 1;
		stripe_cleanup_leg_over(&sp->sp_legs[0], false);
	}
}

/* Ends the upload without the object: the answer, when the client is
 * still there, then the cleanup. Never frees sp. */
static void
stripe_put_fail(struct stripe_put *sp, int status, const char *reason)
{
	if (sp->sp_failed)
		return;
	sp->sp_failed = true;
	sp->sp_status = status;
	stripe_add(&sp_shared->ss_puts_failed, 1);
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
		stripe_cleanup(sp);
}

/* -- the answer -------------------------------------------------------- */

static void
stripe_put_created(struct stripe_put *sp)
{
	char target[3 * NAME_MAX_LEN + 1], extra[3 * NAME_MAX_LEN + 160];
	char etag[CONDITION_ETAG_LEN + 1], degraded[64] = "";

	condition_etag_format(&sp->sp_manifest.m_digest, etag);
	name_encode(sp->sp_name, sp->sp_name_len, target, sizeof(target));
	if (sp->sp_nlost > 0) {
		snprintf(degraded, sizeof(degraded), "%s: %u\r\n",
		    STRIPE_DEGRADED_HEADER, sp->sp_nlost);
		log_warnx("striped object %s (%s) stored degraded: %u of its "
		    "%u parts missing", sp->sp_name, sp->sp_id, sp->sp_nlost,
		    sp->sp_nlegs);
	}
	snprintf(extra, sizeof(extra), "Location: /%s\r\nETag: %s\r\n"
	    "%s: %u\r\n%s", target, etag, SERVER_STRIPED_HEADER,
	    sp->sp_layout.l_parts, degraded);
	stripe_add(sp->sp_nlost > 0 ? &sp_shared->ss_puts_degraded :
	    &sp_shared->ss_puts_ok, 1);
	metrics_add(&metrics_mine()->ms_upload_bytes, sp->sp_received);
	stripe_announce(sp_cluster, &sp->sp_manifest);
	stripe_put_unreserve(sp, true);
	log_info("stored %s (%" PRIu64 " bytes, striped as %s over %u "
	    "stores) in %lld ms", sp->sp_name, sp->sp_received, sp->sp_id,
	    sp->sp_nlegs, (long long)(loop_now(sp->sp_srv->s_loop) -
	    sp->sp_start_ms));
	stripe_put_release(sp);
	stripe_put_answer(sp, 201, "created", extra);
	stripe_put_free(sp);
}

/* -- commit ------------------------------------------------------------ */

static void
stripe_commit_head(struct peer_conn *pc, void *arg)
{
	struct put_leg *l = arg;
	struct stripe_put *sp = l->l_put;
	char reason[MEMBER_NAME_MAX + 64];
	int status = pc->pc_resp.status;

	peer_conn_discard(pc);
	l->l_pc = NULL;
	if (status != 200) {
		snprintf(reason, sizeof(reason), "store %s refused the commit "
		    "(%d)", l->l_node, status);
		stripe_put_fail(sp, 502, reason);
		return;
	}
	if (--sp->sp_waiting == 0) {
		sp->sp_stage = STAGE_UNJOURNAL;
		stripe_unjournal(sp);
	}
}

static void
stripe_commit_send(struct peer_conn *pc, void *arg)
{
	struct put_leg *l = arg;
	struct stripe_put *sp = l->l_put;

	if (l->l_sent_all)
		return;
	if (!l->l_ready) {
		l->l_ready = true;	/* the manifest went: the end next */
		(void)peer_conn_send(pc, sp->sp_text, sp->sp_text_len);
		return;
	}
	l->l_sent_all = true;
	(void)peer_conn_send_end(pc);
}

static void stripe_put_lose(struct put_leg *l, int status,
    const char *reason);

static void
stripe_leg_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	static const char *const what[] = {
		[PEER_REFUSED] = "refused the connection",
		[PEER_TIMEOUT] = "did not answer in time",
		[PEER_BAD_RESPONSE] = "answered badly",
		[PEER_CUT] = "cut the connection",
	};
	struct put_leg *l = arg;
	char reason[MEMBER_NAME_MAX + 64];

	(void)pc;
	l->l_pc = NULL;
	if (!l->l_put->sp_failed)
		l->l_put->sp_timed_out = why == PEER_TIMEOUT;
	snprintf(reason, sizeof(reason), "store %s %s", l->l_node,
	    (unsigned)why < 4 ? what[why] : "failed");
	stripe_put_lose(l, 502, reason);
}

static const struct peer_handler stripe_commit_handler = {
	.on_head = stripe_commit_head,
	.on_body = stripe_peer_ignore,
	.on_done = stripe_peer_ignore,
	.on_fail = stripe_leg_fail,
	.on_send = stripe_commit_send,
};

static void
stripe_commit(struct stripe_put *sp)
{
	uint8_t digest[AUTH_DIGEST_LEN];
	char target[64];
	unsigned i;

	sp->sp_stage = STAGE_COMMIT;
	snprintf(target, sizeof(target), "/_/parts/%s/commit", sp->sp_id);
	if (auth_body_digest(sp->sp_text, sp->sp_text_len, digest) == -1) {
		stripe_put_fail(sp, 500, "cannot sign the commit");
		return;
	}
	sp->sp_waiting = sp->sp_nlegs - sp->sp_nlost;
	for (i = 0; i < sp->sp_nlegs; i++) {
		struct put_leg *l = &sp->sp_legs[i];

		if (l->l_lost)
			continue;
		l->l_ready = l->l_sent_all = false;
		/* A store without xattrs reads its part again to check it. */
		if (!stripe_put_request(sp, l, "POST", target, sp->sp_text_len,
		    digest, &stripe_commit_handler,
		    sp->sp_srv->s_cfg->peer_timeout_ms +
		    (int64_t)(l->l_size / STRIPE_BYTES_PER_MS))) {
			stripe_put_fail(sp, 502, "a store left the cluster");
			return;
		}
	}
}

/* -- the manifest ------------------------------------------------------ */

static void
stripe_manifest_job(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);
	char name[PARTS_FILE_MAX];

	/* The name first: of two uploads of one name here, one wins. */
	sp->sp_job_err = 0;
	if (parts_write_file(sp_tmp_fd, sp_names_fd, sp->sp_name, sp->sp_text,
	    sp->sp_text_len) == -1) {
		sp->sp_job_err = errno;
		return;
	}
	parts_manifest_name(sp->sp_id, name);
	if (parts_write_file(sp_tmp_fd, sp_manifests_fd, name, sp->sp_text,
	    sp->sp_text_len) == -1) {
		sp->sp_job_err = errno;
		(void)unlinkat(sp_names_fd, sp->sp_name, 0);
		return;
	}
}

static void
stripe_manifest_done(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);

	sp->sp_manifest_written = sp->sp_job_err == 0;
	if (sp->sp_failed) {		/* the client left meanwhile */
		stripe_cleanup(sp);
		return;
	}
	if (sp->sp_job_err != 0) {
		sp->sp_stage = STAGE_BODY;	/* so that the fail cleans up */
		if (sp->sp_job_err == EEXIST) {
			stripe_put_fail(sp, 409, "the name was taken meanwhile");
			return;
		}
		errno = sp->sp_job_err;
		log_warn("stripe: manifest of %s", sp->sp_id);
		stripe_put_fail(sp, 500, "cannot write the manifest");
		return;
	}
	stripe_commit(sp);
}

/* Every store holds its part: the manifest, here first. */
static void
stripe_put_parts_stored(struct stripe_put *sp)
{
	struct manifest *m = &sp->sp_manifest;
	XXH128_hash_t h = XXH3_128bits_digest(sp->sp_hash);
	unsigned i;

	memset(m, 0, sizeof(*m));
	memcpy(m->m_id, sp->sp_id, sizeof(m->m_id));
	memcpy(m->m_name, sp->sp_name, sp->sp_name_len + 1);
	m->m_name_len = sp->sp_name_len;
	m->m_size = sp->sp_layout.l_size;
	m->m_digest.d_hi = h.high64;
	m->m_digest.d_lo = h.low64;
	snprintf(m->m_origin, sizeof(m->m_origin), "%s",
	    members_self(sp_cluster->cl_members)->m_facts.mf_name);
	m->m_stamp = sp->sp_stamp;
	m->m_block = sp->sp_layout.l_block;
	m->m_nparts = sp->sp_nlegs;
	m->m_parity = sp->sp_parity;
	for (i = 0; i < sp->sp_nlegs; i++) {
		if (sp->sp_legs[i].l_lost)
			m->m_missing |= 1u << i;
		memcpy(m->m_parts[i].mp_node, sp->sp_legs[i].l_node,
		    MEMBER_NAME_MAX);
		m->m_parts[i].mp_size = sp->sp_legs[i].l_size;
		m->m_parts[i].mp_digest = sp->sp_legs[i].l_digest;
	}
	free(sp->sp_text);
	if ((sp->sp_text = manifest_encode(m, &sp->sp_text_len)) == NULL) {
		stripe_put_fail(sp, 500, "out of memory");
		return;
	}
	sp->sp_stage = STAGE_MANIFEST;
	sp->sp_job.work = stripe_manifest_job;
	sp->sp_job.done = stripe_manifest_done;
	iopool_submit(sp->sp_srv->s_pool, &sp->sp_job);
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
 * the end of the part, once all of it went. A lost leg's buffer is free
 * again at once: its bytes were hashed, and counted in the parity. */
static void
stripe_leg_flush(struct put_leg *l)
{
	if (l->l_lost) {
		if (l->l_state == BUF_FULL)
			stripe_leg_handed(l);
		l->l_state = BUF_FREE;
		l->l_fill = 0;
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
		stripe_put_pump(sp);
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
		stripe_put_parts_stored(sp);
}

static const struct peer_handler stripe_part_handler = {
	.on_head = stripe_part_head,
	.on_body = stripe_peer_ignore,
	.on_done = stripe_peer_ignore,
	.on_fail = stripe_leg_fail,
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
	if (erasure_encode_add(sp_code, part, (unsigned char *)l->l_buf,
	    l->l_fill, len, par) != ERASURE_OK) {
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
	struct members *mt = sp_cluster->cl_members;
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
	if (stripe_lock(sp_shared) == 0) {
		if (placement_free(capa, use, stripe_reserved_locked(sp_shared,
		    l->l_node)) >= more) {
			stripe_release_locked(sp_shared, l->l_node,
			    sp->sp_srv->s_pid, l->l_reserved);
			if (stripe_reserve_locked(sp_shared, l->l_node,
			    sp->sp_srv->s_pid, l->l_reserved + more) == 0) {
				l->l_reserved += more;
				room = 1;
			} else
				l->l_has_reservation = false;
		}
		stripe_unlock(sp_shared);
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
			l->l_pc->pc_timeout_ms = cfg->http.body_timeout_ms +
			    (int64_t)(l->l_size / STRIPE_BYTES_PER_MS);
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
			stripe_cleanup(sp);
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
		stripe_put_pump(sp);
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
		stripe_put_parts_stored(sp);
}

static void
stripe_put_pump(struct stripe_put *sp)
{
	bool was = sp->sp_pumping;

	sp->sp_pumping = true;
	stripe_put_pump_body(sp);
	sp->sp_pumping = was;
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
		stripe_put_pump(sp);
	else if (sp->sp_received == sp->sp_layout.l_size &&
	    sp->sp_waiting == 0)
		stripe_put_parts_stored(sp);
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
		stripe_put_pump(sp);
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

/* The journal entry is durable: the part connections, and the body. */
static void
stripe_put_open_legs(struct stripe_put *sp)
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
		if (sp->sp_grown ? !stripe_put_request(sp, l, "PUT", target,
		    STRIPE_CHUNKED, NULL, &stripe_part_handler,
		    cfg->http.body_timeout_ms) :
		    !stripe_put_request(sp, l, "PUT", target, l->l_size, NULL,
		    &stripe_part_handler, cfg->http.body_timeout_ms +
		    (int64_t)(l->l_size / STRIPE_BYTES_PER_MS))) {
			stripe_put_fail(sp, 503, "a store left the cluster");
			return;
		}
	}
	if (sp->sp_grown) {		/* the body is being read already */
		stripe_put_pump(sp);
		return;
	}
	conn_body_begin(sp->sp_conn);
	if (conn_continue(sp->sp_conn) == -1) {
		stripe_put_fail(sp, 0, "cannot send 100 Continue");
		return;
	}
	stripe_put_pump(sp);
}

static void
stripe_journal_job(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);
	struct stat st;

	if (fstatat(sp_names_fd, sp->sp_name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(sp->sp_srv->s_root_fd, sp->sp_name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		sp->sp_job_err = EEXIST;
		return;
	}
	sp->sp_job_err = parts_write_file(sp_tmp_fd, sp_journal_fd, sp->sp_id,
	    sp->sp_text, sp->sp_text_len) == -1 ? errno : 0;
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
			stripe_add(&sp_shared->ss_puts_failed, 1);
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
		stripe_cleanup(sp);
		return;
	}
	stripe_put_open_legs(sp);
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
	struct members *mt = sp_cluster->cl_members;
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
		if (stripe_put_peer(sp->sp_srv, cand[i].sc_addr, &set) !=
		    NULL) {
			cand[k] = cand[i];
			capa[k] = capa[i];
			used[k++] = used[i];
		}
	n = k;
	if (stripe_lock(sp_shared) != 0) {
		snprintf(reason, cap, "reservation table unusable");
		goto out;
	}
	for (i = 0; i < n; i++) {
		st[i].ps_node = cand[i].sc_node;
		st[i].ps_free = placement_free(capa[i], used[i],
		    stripe_reserved_locked(sp_shared, cand[i].sc_node));
	}
	placed = placement_choose(sp->sp_id, st, n, parts, need, chosen);
	if (placed < parts) {
		stripe_unlock(sp_shared);
		snprintf(reason, cap, "%u store nodes have room for the parts "
		    "of this upload; %u are needed", placed, parts);
		goto out;
	}
	for (i = 0; i < parts; i++) {
		struct put_leg *l = &sp->sp_legs[order[i]];

		if (stripe_reserve_locked(sp_shared, cand[chosen[i]].sc_node,
		    sp->sp_srv->s_pid, need[i]) == -1) {
			stripe_unlock(sp_shared);
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
	stripe_unlock(sp_shared);
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
		stripe_add(&sp_shared->ss_puts_refused, 1);
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

	if (sp->sp_parity == 0 || (sp_code != NULL &&
	    erasure_data(sp_code) == sp->sp_layout.l_parts &&
	    erasure_parity(sp_code) == sp->sp_parity))
		return 0;
	if ((e = erasure_new(sp->sp_layout.l_parts, sp->sp_parity)) == NULL)
		return -1;
	erasure_free(sp_code);
	sp_code = e;
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

	sp_cluster = cl;
	sp_shared = ss;
	if (sp_journal_fd == -1) {
		state_fd = open(s->s_cfg->state_dir, O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
		if (state_fd == -1 || (mkdirat(state_fd, STRIPE_DIR, 0700) ==
		    -1 && errno != EEXIST) ||
		    (sp_tmp_fd = stripe_put_dir(state_fd, STRIPE_TMP)) == -1 ||
		    (sp_journal_fd = stripe_put_dir(state_fd,
		    STRIPE_JOURNAL)) == -1 ||
		    (sp_manifests_fd = stripe_put_dir(state_fd,
		    STRIPE_MANIFESTS)) == -1 ||
		    (sp_names_fd = stripe_put_dir(state_fd, STRIPE_NAMES)) ==
		    -1) {
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
	erasure_free(sp_code);
	sp_code = NULL;
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
