/*
 * stripe_put_end.c - the end of a striped upload at the front (see
 * stripe_put.c for its stages): the manifest written here (MANIFEST),
 * the commit sent to every store (COMMIT), the journal entry removed
 * (UNJOURNAL) and the 201; or, after a failure, DELETE on every store
 * (CLEANUP) and the entry removed when all confirmed. Loop thread of a
 * worker; the manifest is written and the journal entry removed by jobs
 * of the worker's I/O pool, which touch only the upload's fields set
 * before the job was submitted. Locks: none of its own; the shared
 * table's, briefly, through stripe_put_release() (its counters are
 * atomic).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/condition.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/server.h"
#include "store/metrics.h"
#include "store/name.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/stripe.h"
#include "stripe/stripe_put.h"
#include "stripe/stripe_put_int.h"

/* -- cleanup ----------------------------------------------------------- */

static void
stripe_unjournal_job(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);
	char name[PARTS_FILE_MAX];
	int fd;

	sp->sp_job_err = 0;
	if (sp->sp_manifest_written && sp->sp_stage == STAGE_CLEANUP) {
		(void)unlinkat(stripe_put_names_fd, sp->sp_name, 0);
		parts_manifest_name(sp->sp_id, name);
		(void)unlinkat(stripe_put_manifests_fd, name, 0);
	}
	if (unlinkat(stripe_put_journal_fd, sp->sp_id, 0) == -1 &&
	    errno != ENOENT)
		sp->sp_job_err = errno;
	fd = openat(stripe_put_journal_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
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

static const struct peer_handler stripe_cleanup_handler = {
	.on_head = stripe_cleanup_head,
	.on_body = stripe_put_legs_ignore,
	.on_done = stripe_put_legs_ignore,
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

/* The leg's DELETE; false when it cannot be sent. */
static bool
stripe_cleanup_delete(struct put_leg *l)
{
	struct stripe_put *sp = l->l_put;
	char target[64];

	snprintf(target, sizeof(target), "/_/parts/%s", sp->sp_id);
	return stripe_put_legs_request(sp, l, "DELETE", target, 0, NULL,
	    &stripe_cleanup_handler, sp->sp_srv->s_cfg->peer_timeout_ms);
}

void
stripe_put_end_cleanup_leg(struct put_leg *l)
{
	l->l_pc = NULL;
	if (!stripe_cleanup_delete(l))
		stripe_cleanup_leg_over(l, false);
}

/* DELETE on every store. A store that has the whole of a request (all of
 * its part, or a commit) may act on it still: it is asked once it
 * answered (stripe_put_end_cleanup_leg), lest its part land after the
 * DELETE; the other part connections are closed. */
void
stripe_put_end_cleanup(struct stripe_put *sp)
{
	enum stripe_stage was = sp->sp_stage;
	unsigned i;

	sp->sp_stage = STAGE_CLEANUP;
	stripe_add(&stripe_put_shared->ss_cleanups[stripe_put_cause(sp)], 1);
	sp->sp_waiting = 0;
	sp->sp_cleanup_ok = 0;
	for (i = 0; i < sp->sp_nlegs; i++) {
		struct put_leg *l = &sp->sp_legs[i];

		if (l->l_pc != NULL && (was == STAGE_COMMIT ||
		    l->l_handed == l->l_size)) {
			sp->sp_waiting++;
			continue;
		}
		if (l->l_pc != NULL) {
			peer_conn_close(l->l_pc);
			l->l_pc = NULL;
		}
		if (stripe_cleanup_delete(l))
			sp->sp_waiting++;
	}
	if (sp->sp_waiting == 0) {
		sp->sp_waiting = 1;
		stripe_cleanup_leg_over(&sp->sp_legs[0], false);
	}
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
	stripe_add(sp->sp_nlost > 0 ? &stripe_put_shared->ss_puts_degraded :
	    &stripe_put_shared->ss_puts_ok, 1);
	metrics_add(&metrics_mine()->ms_upload_bytes, sp->sp_received);
	stripe_announce(stripe_put_cluster, &sp->sp_manifest);
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
	if (sp->sp_stage == STAGE_CLEANUP) {
		stripe_put_end_cleanup_leg(l);
		return;
	}
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

static const struct peer_handler stripe_commit_handler = {
	.on_head = stripe_commit_head,
	.on_body = stripe_put_legs_ignore,
	.on_done = stripe_put_legs_ignore,
	.on_fail = stripe_put_legs_fail,
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
		if (!stripe_put_legs_request(sp, l, "POST", target,
		    sp->sp_text_len, digest, &stripe_commit_handler,
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
	if (parts_write_file(stripe_put_tmp_fd, stripe_put_names_fd,
	    sp->sp_name, sp->sp_text, sp->sp_text_len) == -1) {
		sp->sp_job_err = errno;
		return;
	}
	parts_manifest_name(sp->sp_id, name);
	if (parts_write_file(stripe_put_tmp_fd, stripe_put_manifests_fd,
	    name, sp->sp_text, sp->sp_text_len) == -1) {
		sp->sp_job_err = errno;
		(void)unlinkat(stripe_put_names_fd, sp->sp_name, 0);
		return;
	}
}

static void
stripe_manifest_done(struct iopool_job *job)
{
	struct stripe_put *sp = container_of(job, struct stripe_put, sp_job);

	sp->sp_manifest_written = sp->sp_job_err == 0;
	if (sp->sp_failed) {		/* the client left meanwhile */
		stripe_put_end_cleanup(sp);
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
void
stripe_put_end_parts_stored(struct stripe_put *sp)
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
	    members_self(stripe_put_cluster->cl_members)->m_facts.mf_name);
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

