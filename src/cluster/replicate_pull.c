/*
 * replicate_pull.c - one replication pull of the agent (see
 * replicate.c): prepare (pool: is the version here already? where does
 * it go? make room), then the request to a holder, the body streamed into
 * a spool and hashed on the way (XXH3-128, the content digest), the
 * check, the publication, the announcement. A pull that ends, well or
 * not, waits on r_done until its spool directory is idle (no spool job
 * runs), then it is freed.
 *
 * The agent's loop thread; the prepare job (rp_job) runs in the agent's
 * I/O pool and touches only its own pull's rp_want, rp_dest and the
 * descriptors it opens. The catalogue's lock is held for an
 * announcement only, never across a disk call or a socket.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "cluster/replica_serve.h"
#include "cluster/replicate.h"
#include "cluster/replicate_int.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "store/file.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/name.h"
#include "store/spool.h"
#include "store/versions.h"

static void replicate_pump(struct rep_pull *rp);

/* -- a pull ---------------------------------------------------------------- */

static void
replicate_count(uint64_t *counter, uint64_t n)
{
	metrics_add(counter, n);
}

/* The pull is over: it lets go of its connection and spool and waits on
 * r_done for the spool's jobs to end. */
void
replicate_pull_end(struct rep_pull *rp, bool ok)
{
	struct replicate *r = rp->rp_rep;

	if (rp->rp_over)
		return;
	rp->rp_over = true;
	loop_timer_cancel(r->r_loop, &rp->rp_timer);
	if (rp->rp_pc != NULL) {
		peer_conn_close(rp->rp_pc);
		rp->rp_pc = NULL;
	}
	if (rp->rp_spool != NULL && !ok) {
		spool_abort(rp->rp_spool);
	}
	rp->rp_spool = NULL;
	if (rp->rp_hash != NULL) {
		XXH3_freeState(rp->rp_hash);
		rp->rp_hash = NULL;
	}
	if (ok)
		replicate_walk_fail_forget(r, &rp->rp_want);
	else if (!r->r_stopping) {	/* a stop is no failure of the pull */
		replicate_count(&metrics_mine()->ms_replication_failed, 1);
		replicate_walk_fail_note(r, &rp->rp_want);
	}
	list_remove(&rp->rp_link);
	r->r_npulls--;
	list_insert_head(&r->r_done, &rp->rp_link);
}

static void
replicate_fail(struct rep_pull *rp, const char *why)
{
	char hex[DIGEST_HEX_LEN + 1];

	digest_hex(&rp->rp_want.rw_digest, hex);
	log_debug("replication: %s version %s from %s: %s",
	    rp->rp_want.rw_name, hex, rp->rp_from[0] != '\0' ? rp->rp_from :
	    "-", why);
	replicate_pull_end(rp, false);
}

static void
replicate_announce(struct replicate *r, const struct rep_want *w,
    const char *origin, uint64_t hlc)
{
	int rc;

	if (catalogue_lock(r->r_cat) == -1)
		return;
	rc = catalogue_announce_locked(r->r_cat, w->rw_name, w->rw_len,
	    &w->rw_digest, w->rw_size, origin, hlc);
	catalogue_unlock(r->r_cat);
	if (rc == -1)
		log_warn("replication: announcing %s", w->rw_name);
}

/* The content digest of an opened file (recorded, else computed and
 * recorded). */
static int
replicate_digest_of(const struct file_info *fi, struct digest *d)
{
	if (fi->fi_content) {
		*d = fi->fi_digest;
		return 0;
	}
	if (file_content_digest(fi->fi_fd, fi->fi_size, d) == -1)
		return -1;
	(void)file_digest_record(fi->fi_fd, d);
	return 0;
}

/*
 * Pool thread: where the version goes. Here already (in ROOT, not as a
 * saved copy, or kept aside): HELD. ROOT's name free, or a saved copy
 * (removed with its record), or a loser while this is the winner (moved
 * aside): ROOT. Otherwise aside.
 */
static void
replicate_prepare(struct iopool_job *job)
{
	struct rep_pull *rp = container_of(job, struct rep_pull, rp_job);
	struct replicate *r = rp->rp_rep;
	const struct rep_want *w = &rp->rp_want;
	struct file_info fi;
	struct digest d;
	bool copy = false, have_d = false;

	rp->rp_dest = REP_DEST_FAIL;
	versions_open(r->r_state_fd, w->rw_name, &w->rw_digest, &fi);
	if (fi.fi_fd != -1) {
		if (file_origin_read(fi.fi_fd, &rp->rp_held_hlc,
		    rp->rp_held_origin, MEMBER_NAME_MAX) == -1)
			rp->rp_held_origin[0] = '\0';
		close(fi.fi_fd);
		rp->rp_dest = REP_DEST_HELD;
		return;
	}
	file_open(r->r_root_fd, w->rw_name, -1, &fi);
	if (fi.fi_fd == -1 && fi.fi_errno != ENOENT) {
		rp->rp_err = fi.fi_errno;
		return;
	}
	if (fi.fi_fd != -1) {
		/* Before a digest is recorded: recording one unmarks a
		 * copy. */
		copy = file_is_copy(fi.fi_fd);
		have_d = replicate_digest_of(&fi, &d) == 0;
		if (have_d && !copy && digest_equal(&d, &w->rw_digest)) {
			if (file_origin_read(fi.fi_fd, &rp->rp_held_hlc,
			    rp->rp_held_origin, MEMBER_NAME_MAX) == -1)
				rp->rp_held_origin[0] = '\0';
			close(fi.fi_fd);
			rp->rp_dest = REP_DEST_HELD;
			return;
		}
		close(fi.fi_fd);
		if (copy) {
			struct index_identity iid = {
				fi.fi_id.id_dev, fi.fi_id.id_ino,
				fi.fi_id.id_size
			};
			/* A saved copy makes way for a durable replica. */
			if (file_remove_copy(r->r_root_fd, r->r_tmp_fd,
			    w->rw_name, &fi.fi_id) == -1) {
				rp->rp_err = errno;
				return;
			}
			(void)index_remove_if(r->r_index, w->rw_name,
			    w->rw_len, &iid, loop_wall_ms());
		} else if (w->rw_winner && have_d) {
			/* ROOT holds a loser: aside first; it stays
			 * announced (this node still holds it). */
			char hex[DIGEST_HEX_LEN + 1];

			if (versions_move(r->r_root_fd, r->r_state_fd,
			    w->rw_name, &d) == -1) {
				rp->rp_err = errno;
				return;
			}
			digest_hex(&d, hex);
			log_info("catalogue: %s version %s lost a conflict; "
			    "kept in %s/%s/%s", w->rw_name, hex,
			    r->r_cfg->state_dir, VERSIONS_DIR, hex);
		} else {
			goto aside;
		}
	}
	rp->rp_dest = REP_DEST_ROOT;
	return;
aside:
	rp->rp_tmp_fd = versions_tmp_open(r->r_state_fd, false);
	if (rp->rp_tmp_fd == -1) {
		rp->rp_err = errno;
		return;
	}
	rp->rp_dir_fd = versions_dir_open(r->r_state_fd, &w->rw_digest, true);
	if (rp->rp_dir_fd == -1) {
		rp->rp_err = errno;
		return;
	}
	rp->rp_dest = REP_DEST_ASIDE;
}

static void
replicate_on_deadline(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	replicate_fail(container_of(t, struct rep_pull, rp_timer),
	    "deadline passed");
}

/* -- the answer ---------------------------------------------------------- */

static void
replicate_on_head(struct peer_conn *pc, void *arg)
{
	struct rep_pull *rp = arg;
	const struct http_message *m = &pc->pc_resp;
	const struct http_header *h;
	char why[64];

	if (m->status != 200) {
		snprintf(why, sizeof(why), "answered %d", m->status);
		rp->rp_pc = NULL;
		peer_conn_discard(pc);
		replicate_fail(rp, why);
		return;
	}
	if (!m->has_content_length || m->content_length != rp->rp_want.rw_size) {
		replicate_fail(rp, "not the version's length");
		return;
	}
	h = http_find_header(m, REPLICA_ORIGIN_HEADER);
	if (h != NULL && replica_origin_parse(h->value.p, h->value.len,
	    &rp->rp_hlc, rp->rp_origin) == -1)
		rp->rp_origin[0] = '\0';
}

/* Moves the peer's bytes into spool buffers, as far as buffers are free;
 * the peer is told to go on when all of them are taken. */
static void
replicate_pump(struct rep_pull *rp)
{
	struct peer_conn *pc = rp->rp_pc;
	size_t len, n;
	char *data;

	if (pc == NULL || !rp->rp_waiting)
		return;
	data = peer_conn_data(pc);
	len = peer_conn_data_len(pc);
	while (rp->rp_data_off < len) {
		if (rp->rp_buf == NULL &&
		    (rp->rp_buf = spool_buffer(rp->rp_spool)) == NULL)
			return;		/* sh_written brings one back */
		n = len - rp->rp_data_off;
		if (n > SPOOL_BUF_SIZE - rp->rp_fill)
			n = SPOOL_BUF_SIZE - rp->rp_fill;
		memcpy(rp->rp_buf + rp->rp_fill, data + rp->rp_data_off, n);
		(void)XXH3_128bits_update(rp->rp_hash, data + rp->rp_data_off,
		    n);
		rp->rp_fill += n;
		rp->rp_data_off += n;
		rp->rp_got += n;
		if (rp->rp_fill == SPOOL_BUF_SIZE) {
			spool_write(rp->rp_spool, rp->rp_fill);
			rp->rp_buf = NULL;
			rp->rp_fill = 0;
		}
	}
	rp->rp_waiting = false;
	rp->rp_data_off = 0;
	/* May hand over more bytes at once (on_body again). */
	peer_conn_consumed(pc);
}

static void
replicate_on_body(struct peer_conn *pc, void *arg)
{
	struct rep_pull *rp = arg;

	(void)pc;
	if (rp->rp_got + peer_conn_data_len(pc) > rp->rp_want.rw_size) {
		replicate_fail(rp, "longer than the version");
		return;
	}
	rp->rp_waiting = true;
	rp->rp_data_off = 0;
	replicate_pump(rp);
}

static void
replicate_on_done(struct peer_conn *pc, void *arg)
{
	struct rep_pull *rp = arg;
	struct spool_publish how;
	XXH128_hash_t h;
	struct digest d;

	rp->rp_pc = NULL;
	peer_conn_release(pc);
	h = XXH3_128bits_digest(rp->rp_hash);
	d.d_hi = h.high64;
	d.d_lo = h.low64;
	if (rp->rp_got != rp->rp_want.rw_size ||
	    !digest_equal(&d, &rp->rp_want.rw_digest)) {
		replicate_fail(rp, "the bytes are not the version's");
		return;
	}
	if (rp->rp_fill > 0) {
		spool_write(rp->rp_spool, rp->rp_fill);
		rp->rp_buf = NULL;
		rp->rp_fill = 0;
	}
	if (rp->rp_origin[0] == '\0') {
		snprintf(rp->rp_origin, sizeof(rp->rp_origin), "%s",
		    rp->rp_want.rw_origin);
		rp->rp_hlc = rp->rp_want.rw_hlc;
	}
	memset(&how, 0, sizeof(how));
	how.name = rp->rp_want.rw_name;
	how.have_digest = true;
	how.digest = rp->rp_want.rw_digest;
	how.origin_hlc = rp->rp_hlc;
	how.origin_node = rp->rp_origin;
	rp->rp_publishing = true;
	spool_publish(rp->rp_spool, &how);
}

static void
replicate_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct rep_pull *rp = arg;
	static const char *const whys[] = {
		"refused", "timed out", "bad answer", "cut",
	};

	(void)pc;
	rp->rp_pc = NULL;
	replicate_fail(rp, (unsigned)why < 4 ? whys[why] : "failed");
}

static const struct peer_handler replicate_peer_handler = {
	.on_head = replicate_on_head,
	.on_body = replicate_on_body,
	.on_done = replicate_on_done,
	.on_fail = replicate_on_fail,
};

/* -- the spool ----------------------------------------------------------- */

static void
replicate_sp_opened(struct spool *sp, int err, void *arg)
{
	(void)sp;
	if (err != 0) {
		errno = err;
		log_warn("replication: a temporary file for %s",
		    ((struct rep_pull *)arg)->rp_want.rw_name);
		replicate_fail(arg, "no temporary file");
	}
}

static void
replicate_sp_written(struct spool *sp, int err, void *arg)
{
	struct rep_pull *rp = arg;

	(void)sp;
	if (err != 0) {
		errno = err;
		log_warn("replication: writing %s", rp->rp_want.rw_name);
		replicate_fail(rp, "write failed");
		return;
	}
	replicate_pump(rp);
}

static void
replicate_sp_published(struct spool *sp, int err, void *arg)
{
	struct rep_pull *rp = arg;
	struct replicate *r = rp->rp_rep;
	char hex[DIGEST_HEX_LEN + 1];

	(void)sp;
	rp->rp_spool = NULL;		/* it frees itself */
	if (err != 0) {
		replicate_fail(rp, err == EEXIST ? "the name was taken "
		    "meanwhile" : "publishing failed");
		return;
	}
	replicate_announce(r, &rp->rp_want, rp->rp_origin, rp->rp_hlc);
	replicate_count(&metrics_mine()->ms_replication_ok, 1);
	replicate_count(&metrics_mine()->ms_replication_bytes, rp->rp_got);
	digest_hex(&rp->rp_want.rw_digest, hex);
	log_debug("replication: %s version %s (%llu bytes) from %s%s",
	    rp->rp_want.rw_name, hex, (unsigned long long)rp->rp_got,
	    rp->rp_from, rp->rp_dest == REP_DEST_ASIDE ? ", kept aside" : "");
	replicate_pull_end(rp, true);
}

static const struct spool_handler replicate_spool_handler = {
	.sh_opened = replicate_sp_opened,
	.sh_written = replicate_sp_written,
	.sh_published = replicate_sp_published,
};

/* -- starting ------------------------------------------------------------ */

static struct peer *
replicate_peer(struct replicate *r, const char *addr)
{
	struct peer_set *ps = gossip_agent_peers(r->r_ga);
	struct peer *p;

	if (ps == NULL)
		return NULL;
	peer_set_sync(ps);
	for (p = peer_set_first(ps); p != NULL; p = peer_set_next(ps, p))
		if (strcmp(p->p_name, addr) == 0)
			return p;
	return NULL;
}

/* Sends the signed request to a holder (the next one at each try). */
static int
replicate_send(struct rep_pull *rp)
{
	struct replicate *r = rp->rp_rep;
	struct cluster *cl = r->r_cl;
	const struct rep_want *w = &rp->rp_want;
	struct rep_fail *f = replicate_walk_fail_find(r, w->rw_name, w->rw_len,
	    &w->rw_digest);
	char enc[3 * NAME_MAX_LEN + 1], hex[DIGEST_HEX_LEN + 1];
	char target[sizeof(enc) + 64], sig[AUTH_SIGNATURE_SIZE];
	uint8_t nonce[AUTH_NONCE_LEN];
	const char *holder;
	struct buf head = { 0 };
	struct peer *p;
	bool alive = false;

	holder = w->rw_holders[(f != NULL ? f->f_tries : 0) % w->rw_nholders];
	if (gossip_member_addr(cl, holder, rp->rp_from, sizeof(rp->rp_from),
	    &alive) == -1 || !alive ||
	    (p = replicate_peer(r, rp->rp_from)) == NULL || p->p_addrlen == 0)
		return -1;
	name_encode(w->rw_name, w->rw_len, enc, sizeof(enc));
	digest_hex(&w->rw_digest, hex);
	snprintf(target, sizeof(target), "/_/%s%s?version=%s", REPLICA_ROUTE,
	    enc, hex);
	if (auth_nonce(nonce) == -1 ||
	    auth_sign_request(cl->cl_key, cl->cl_name, "GET", target, NULL,
	    loop_wall_ms(), nonce, sig, sizeof(sig)) == -1) {
		log_warn("replication: signing");
		return -1;
	}
	buf_printf(&head, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\n%s: %s\r\n%s: %s\r\n\r\n",
	    target, p->p_name, AUTH_CLUSTER_HEADER, cl->cl_name,
	    AUTH_SIGNATURE_HEADER, sig);
	rp->rp_pc = peer_request(gossip_agent_peers(r->r_ga), p, head.data,
	    head.len, 0, r->r_cfg->peer_timeout_ms, &replicate_peer_handler,
	    rp);
	buf_free(&head);
	return 0;
}

static void
replicate_prepared(struct iopool_job *job)
{
	struct rep_pull *rp = container_of(job, struct rep_pull, rp_job);
	struct replicate *r = rp->rp_rep;

	rp->rp_job_busy = false;
	if (rp->rp_over)
		return;		/* abandoned meanwhile */
	switch (rp->rp_dest) {
	case REP_DEST_FAIL:
		errno = rp->rp_err;
		log_warn("replication: making room for %s", rp->rp_want.rw_name);
		replicate_fail(rp, "no room");
		return;
	case REP_DEST_HELD:
		/* Here already: the walk saw it before it was announced. */
		replicate_announce(r, &rp->rp_want, rp->rp_held_origin[0] ?
		    rp->rp_held_origin : rp->rp_want.rw_origin,
		    rp->rp_held_origin[0] ? rp->rp_held_hlc :
		    rp->rp_want.rw_hlc);
		replicate_pull_end(rp, true);
		return;
	case REP_DEST_ROOT:
		spool_dir_init(&rp->rp_sd, r->r_pool, r->r_root_fd,
		    r->r_tmp_fd);
		break;
	case REP_DEST_ASIDE:
		spool_dir_init(&rp->rp_sd, r->r_pool, rp->rp_dir_fd,
		    rp->rp_tmp_fd);
		break;
	}
	rp->rp_sd_init = true;
	rp->rp_hash = XXH3_createState();
	if (rp->rp_hash == NULL || XXH3_128bits_reset(rp->rp_hash) ==
	    XXH_ERROR) {
		replicate_fail(rp, "out of memory");
		return;
	}
	rp->rp_spool = spool_create(&rp->rp_sd, "rep",
	    &replicate_spool_handler, rp);
	if (rp->rp_spool == NULL) {
		replicate_fail(rp, "no spool");
		return;
	}
	if (replicate_send(rp) == -1) {
		replicate_fail(rp, "no alive holder reachable");
		return;
	}
	loop_timer_set(r->r_loop, &rp->rp_timer,
	    replicate_deadline_ms(rp->rp_want.rw_size,
	    r->r_cfg->peer_timeout_ms), replicate_on_deadline);
}

void
replicate_pull_start(struct replicate *r, const struct rep_want *w)
{
	struct rep_pull *rp = xcalloc(1, sizeof(*rp));

	rp->rp_rep = r;
	rp->rp_want = *w;
	rp->rp_dir_fd = rp->rp_tmp_fd = -1;
	list_insert_head(&r->r_pulls, &rp->rp_link);
	r->r_npulls++;
	rp->rp_job_busy = true;
	rp->rp_job.work = replicate_prepare;
	rp->rp_job.done = replicate_prepared;
	iopool_submit(r->r_pool, &rp->rp_job);
}

void
replicate_pull_free(struct rep_pull *rp)
{
	if (rp->rp_dir_fd != -1)
		close(rp->rp_dir_fd);
	if (rp->rp_tmp_fd != -1)
		close(rp->rp_tmp_fd);
	free(rp);
}
