/*
 * parts_serve.c - a store's part routes (see parts_serve.h). Loop thread
 * of a worker; disk work in its I/O pool: a part's body through a spool
 * (store/spool.h) whose directory is parts/tmp and which publishes into
 * parts/pending, the rest in jobs of the connection (stripe/parts.h);
 * GET and HEAD are parts_read.c's.
 *
 * State: the cluster, the node's shared striping counters, the parts
 * directories and the spool directory, set once per worker before
 * serving and read-only after (the spool directory's list is the loop
 * thread's). A job of a connection reads its owner's state (struct
 * part_req) while the loop leaves it alone: the connection is not freed
 * before its job is done.
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
#include "cluster/cluster_serve.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/metrics.h"
#include "store/spool.h"
#include "stripe/blocksum.h"
#include "stripe/heal.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/parts_read.h"
#include "stripe/parts_serve.h"
#include "stripe/stripe.h"

#define PARTS_ROUTE "parts/"
#define PARTS_READ_CHUNK 4096

static struct cluster *ps_cluster;
static struct stripe_shared *ps_shared;
static struct parts_dirs ps_dirs = { -1, -1, -1, -1 };
/* The manifests of the uploads this node took (stripe/stripe_put.h). */
static int ps_origin_fd = -1, ps_origin_names_fd = -1;
static struct spool_dir ps_spool;
static bool ps_spool_ready;

enum part_kind { PART_OBJECT, PART_BYTES, PART_COMMIT, PART_MANIFEST };

/* One request that outlives its head: a part's body being received, a
 * commit's manifest being read, or a job's input and output. */
struct part_req {
	struct conn *pr_conn;
	char pr_id[MANIFEST_ID_LEN + 1];
	unsigned pr_index;
	char pr_file[PARTS_FILE_MAX];
	/* PUT */
	struct spool *pr_spool;		/* NULL once published or dropped */
	uint64_t pr_declared;		/* chunked: what came so far */
	uint64_t pr_capacity;		/* chunked: the store's, at the start */
	uint64_t pr_received;
	bool pr_publishing;
	bool pr_stored;
	struct blocksum_stream pr_sums;	/* of the part's blocks */
	XXH3_state_t *pr_hash;		/* of the part's bytes */
	unsigned char *pr_trailer;	/* made at the body's end */
	size_t pr_trailer_len, pr_trailer_off;
	/* POST commit */
	struct buf pr_body;
	struct manifest pr_manifest;
	enum parts_commit_result pr_commit;
	int pr_errno;
	/* DELETE */
	uint64_t pr_bytes;
	unsigned pr_count;
	bool pr_had;			/* a committed manifest: pr_manifest */
	bool pr_origin;			/* this node took the object's upload
					   and keeps its manifest */
	bool pr_also_origin;		/* ... and holds one of its parts */
	bool pr_first;			/* the part was pending (job) */
};

/* -- the target -------------------------------------------------------- */

/* "parts/ID", "parts/ID/I", "parts/ID/commit", "parts/ID/manifest".
 * Returns 0, 400 malformed, 404 an index out of range. */
static int
parts_parse(const char *path, char *id, enum part_kind *kind,
    unsigned *index)
{
	const char *p = path + strlen(PARTS_ROUTE), *q;
	unsigned v = 0;

	if (strncmp(path, PARTS_ROUTE, strlen(PARTS_ROUTE)) != 0 ||
	    strlen(p) < MANIFEST_ID_LEN ||
	    !manifest_id_valid(p, MANIFEST_ID_LEN))
		return 400;
	memcpy(id, p, MANIFEST_ID_LEN);
	id[MANIFEST_ID_LEN] = '\0';
	p += MANIFEST_ID_LEN;
	if (*p == '\0') {
		*kind = PART_OBJECT;
		return 0;
	}
	if (*p++ != '/')
		return 400;
	if (strcmp(p, "commit") == 0 || strcmp(p, "manifest") == 0) {
		*kind = *p == 'c' ? PART_COMMIT : PART_MANIFEST;
		return 0;
	}
	for (q = p; *q >= '0' && *q <= '9'; q++)
		if (q - p < 3)
			v = v * 10 + (unsigned)(*q - '0');
	if (q == p || *q != '\0' || (*p == '0' && q - p > 1))
		return 400;
	if (q - p > 2 || v >= CONFIG_STRIPE_PARTS_MAX)
		return 404;
	*kind = PART_BYTES;
	*index = v;
	return 0;
}

/* -- signatures -------------------------------------------------------- */

/* Checks the signature of c's request over body_digest (NULL: zero
 * bytes); on failure answers and returns false. */
static bool
parts_verify(struct conn *c, const uint8_t *body_digest)
{
	struct cluster *cl = ps_cluster;
	enum auth_verdict v;

	v = auth_verify_request(cl->cl_key, cl->cl_name, &c->c_req,
	    body_digest, loop_wall_ms(), cl->cl_nonces, NULL);
	if (v == AUTH_OK)
		return true;
	cluster_stat_add(&cl->cl_stats->cs_refused[cluster_refusal_of(v)],
	    1);
	log_debug("part request from %s refused: %s", c->c_addr,
	    auth_verdict_reason(v));
	request_skip_body(c);
	conn_send_text(c, auth_verdict_status(v), auth_verdict_reason(v),
	    auth_verdict_status(v) == 503 ? "Retry-After: 1\r\n" : NULL);
	return false;
}

static const char *
parts_self(void)
{
	return members_self(ps_cluster->cl_members)->m_facts.mf_name;
}

static void
parts_req_free(struct part_req *pr)
{
	if (pr->pr_declared > 0 && !pr->pr_stored)
		stripe_add(&ps_shared->ss_inflight, -pr->pr_declared);
	if (pr->pr_spool != NULL)
		spool_abort(pr->pr_spool);
	if (pr->pr_declared > 0 || pr->pr_stored)
		stripe_publish_use(ps_shared, ps_cluster);
	buf_free(&pr->pr_body);
	blocksum_stream_free(&pr->pr_sums);
	XXH3_freeState(pr->pr_hash);
	free(pr->pr_trailer);
	free(pr);
}

/* -- PUT: a part's body ------------------------------------------------ */

/* A decimal number, digits only. Returns 0 or -1. */
static int
parts_number(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 12)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

static void
parts_put_fail(struct part_req *pr, int status, const char *reason)
{
	struct conn *c = pr->pr_conn;

	if (!conn_body_done(c))
		c->c_close = true;
	stripe_add(&ps_shared->ss_parts_refused, 1);
	parts_req_free(pr);
	conn_send_text(c, status, reason, NULL);
}

static void
parts_put_gone(struct part_req *pr, const char *why)
{
	struct conn *c = pr->pr_conn;

	log_info("part %s from %s abandoned: %s", pr->pr_file, c->c_addr, why);
	stripe_add(&ps_shared->ss_parts_refused, 1);
	parts_req_free(pr);
	c->c_status = 499;
	conn_abort(c);
}

/* The body is in: the trailer of checksums after it, through the
 * spool's buffers as they come free, then the publication under the
 * part's own digest (its bytes', not the file's). */
static void
parts_put_trailer(struct part_req *pr)
{
	struct spool_publish how = { .name = pr->pr_file, .have_digest = true };
	XXH128_hash_t h;
	char *buf;
	size_t n;

	if (pr->pr_trailer == NULL) {
		if (blocksum_stream_close(&pr->pr_sums) == -1) {
			parts_put_fail(pr, 500, "cannot checksum the part");
			return;
		}
		pr->pr_trailer_len = blocksum_trailer_size(pr->pr_sums.bs_size,
		    pr->pr_sums.bs_block);
		pr->pr_trailer = xrealloc(NULL, pr->pr_trailer_len);
		(void)blocksum_stream_trailer(&pr->pr_sums, pr->pr_trailer);
	}
	while (pr->pr_trailer_off < pr->pr_trailer_len) {
		if ((buf = spool_buffer(pr->pr_spool)) == NULL)
			return;		/* sh_written calls again */
		n = pr->pr_trailer_len - pr->pr_trailer_off;
		if (n > SPOOL_BUF_SIZE)
			n = SPOOL_BUF_SIZE;
		memcpy(buf, pr->pr_trailer + pr->pr_trailer_off, n);
		pr->pr_trailer_off += n;
		spool_write(pr->pr_spool, n);
	}
	h = XXH3_128bits_digest(pr->pr_hash);
	how.digest.d_hi = h.high64;
	how.digest.d_lo = h.low64;
	pr->pr_publishing = true;
	spool_publish(pr->pr_spool, &how);
}

/* A chunked part grew by n bytes: announced as they come, while the
 * store has room for them. Returns 0, or -1 when it was refused (507). */
static int
parts_put_grew(struct part_req *pr, uint64_t n)
{
	uint64_t use = stripe_get(&ps_shared->ss_disk) +
	    stripe_get(&ps_shared->ss_inflight);

	if (use > pr->pr_capacity || n > pr->pr_capacity - use) {
		parts_put_fail(pr, 507, "no room for the part on this store");
		return -1;
	}
	stripe_add(&ps_shared->ss_inflight, n);
	/* The gossiped use changes once a MiB, not once a read. */
	if ((pr->pr_declared + n) >> 20 != pr->pr_declared >> 20)
		stripe_publish_use(ps_shared, ps_cluster);
	pr->pr_declared += n;
	return 0;
}

static void
parts_pump(struct part_req *pr)
{
	struct conn *c = pr->pr_conn;

	for (;;) {
		char *buf;
		ssize_t n;

		if (conn_body_done(c)) {
			conn_wait_nothing(c);
			parts_put_trailer(pr);
			return;
		}
		if ((buf = spool_buffer(pr->pr_spool)) == NULL) {
			conn_wait_nothing(c);	/* sh_written calls again */
			return;
		}
		n = conn_read_body(c, buf, SPOOL_BUF_SIZE);
		if (n > 0) {
			pr->pr_received += (uint64_t)n;
			if (c->c_req.chunked && parts_put_grew(pr, (uint64_t)n)
			    == -1)
				return;
			if (blocksum_stream_add(&pr->pr_sums, buf, (size_t)n) ==
			    -1) {
				parts_put_fail(pr, 500, "cannot checksum the "
				    "part");
				return;
			}
			XXH3_128bits_update(pr->pr_hash, buf, (size_t)n);
			spool_write(pr->pr_spool, (size_t)n);
			continue;
		}
		if (n == 0 && errno == 0)
			continue;
		if (n == 0) {
			conn_wait_readable(c);
			return;
		}
		parts_put_gone(pr, "the sender closed the connection");
		return;
	}
}

static void
parts_opened(struct spool *sp, int err, void *arg)
{
	struct part_req *pr = arg;
	struct conn *c = pr->pr_conn;

	(void)sp;
	if (err != 0) {
		errno = err;
		log_warn("part %s: temporary file", pr->pr_file);
		parts_put_fail(pr, err == ENOSPC ? 507 : 500,
		    "cannot store the part");
		return;
	}
	conn_body_begin(c);
	if (conn_continue(c) == -1) {
		parts_put_gone(pr, "cannot send 100 Continue");
		return;
	}
	parts_pump(pr);
}

static void
parts_written(struct spool *sp, int err, void *arg)
{
	struct part_req *pr = arg;

	(void)sp;
	if (err != 0) {
		errno = err;
		log_warn("writing part %s", pr->pr_file);
		parts_put_fail(pr, err == ENOSPC || err == EDQUOT ? 507 : 500,
		    "cannot store the part");
		return;
	}
	if (!pr->pr_publishing)
		parts_pump(pr);
}

static void
parts_published(struct spool *sp, int err, void *arg)
{
	struct part_req *pr = arg;
	struct conn *c = pr->pr_conn;
	char hex[DIGEST_HEX_LEN + 1], extra[160];
	struct digest d;

	pr->pr_spool = NULL;	/* it frees itself */
	if (err != 0) {
		if (err != EEXIST) {
			errno = err;
			log_warn("publishing part %s", pr->pr_file);
		}
		parts_put_fail(pr, err == EEXIST ? 409 : err == ENOSPC ? 507 :
		    500, err == EEXIST ? "this part is here already" :
		    "cannot store the part");
		return;
	}
	d = spool_digest(sp);
	digest_hex(&d, hex);
	snprintf(extra, sizeof(extra), "%s: %" PRIu64 "\r\n%s: %s\r\n",
	    PARTS_SIZE_HEADER, pr->pr_received, PARTS_DIGEST_HEADER, hex);
	pr->pr_stored = true;
	stripe_add(&ps_shared->ss_inflight, -pr->pr_declared);
	stripe_add(&ps_shared->ss_disk, pr->pr_declared +
	    pr->pr_trailer_len);
	stripe_add(&ps_shared->ss_parts_received, 1);
	stripe_add(&ps_shared->ss_parts_held, 1);
	parts_req_free(pr);
	conn_send_text(c, 201, "part stored, pending", extra);
}

static const struct spool_handler parts_spool_handler = {
	.sh_opened = parts_opened,
	.sh_written = parts_written,
	.sh_published = parts_published,
};

static void
parts_put_io(struct conn *c, short revents)
{
	struct part_req *pr = conn_owner(c);

	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLIN)) {
		parts_put_gone(pr, "the connection was reset");
		return;
	}
	parts_pump(pr);
}

static void
parts_put_timeout(struct conn *c)
{
	parts_put_fail(conn_owner(c), 408, "part body not received in time");
}

static void
parts_on_close(struct conn *c)
{
	struct part_req *pr = conn_owner(c);

	/* At exit the pool is gone: parts_serve_teardown() removes the
	 * temporary file instead. */
	if (c->c_srv->s_pool == NULL)
		pr->pr_spool = NULL;
	parts_req_free(pr);
}

static const struct conn_handler parts_put_handler = {
	.on_io = parts_put_io,
	.on_timeout = parts_put_timeout,
	.on_close = parts_on_close,
};

static void
parts_put(struct conn *c, struct part_req *pr)
{
	const struct http_message *req = &c->c_req;
	const struct http_header *h;
	uint64_t cap, use, block, need;
	struct member *self;

	if (!req->chunked && !req->has_content_length) {
		free(pr);
		request_skip_body(c);
		conn_send_text(c, 411, "a part needs a Content-Length or "
		    "chunked encoding", NULL);
		return;
	}
	if (!parts_verify(c, NULL)) {
		free(pr);
		return;
	}
	block = c->c_srv->s_cfg->stripe.block;
	if ((h = http_find_header(req, PARTS_BLOCK_HEADER)) != NULL &&
	    (parts_number(h->value.p, h->value.len, &block) == -1 ||
	    block < MANIFEST_BLOCK_MIN || block > MANIFEST_BLOCK_MAX)) {
		free(pr);
		request_skip_body(c);
		conn_send_text(c, 400, "bad " PARTS_BLOCK_HEADER, NULL);
		return;
	}
	if (members_lock(ps_cluster->cl_members) != 0) {
		parts_req_free(pr);
		request_skip_body(c);
		conn_send_text(c, 500, "member table unusable", NULL);
		return;
	}
	self = members_self(ps_cluster->cl_members);
	cap = self->m_facts.mf_capacity;
	members_unlock(ps_cluster->cl_members);
	use = stripe_get(&ps_shared->ss_disk) +
	    stripe_get(&ps_shared->ss_inflight);
	/* The part file: the bytes and their checksums' trailer (chunked:
	 * none so far). */
	need = req->content_length + blocksum_trailer_size(
	    req->content_length, block);
	if (!self->m_facts.mf_store || need > cap || use > cap - need) {
		parts_req_free(pr);
		stripe_add(&ps_shared->ss_parts_refused, 1);
		request_skip_body(c);
		conn_send_text(c, 507, self->m_facts.mf_store ? "no room for "
		    "the part on this store" : "this node stores no parts",
		    NULL);
		return;
	}
	if ((req->chunked ? blocksum_stream_init_open(&pr->pr_sums, block) :
	    blocksum_stream_init(&pr->pr_sums, req->content_length, block)) ==
	    -1 || (pr->pr_hash = XXH3_createState()) == NULL) {
		parts_req_free(pr);
		request_skip_body(c);
		conn_send_text(c, 500, "cannot start the part", NULL);
		return;
	}
	(void)XXH3_128bits_reset(pr->pr_hash);
	if (!ps_spool_ready) {
		spool_dir_init(&ps_spool, c->c_srv->s_pool, ps_dirs.pd_pending,
		    ps_dirs.pd_tmp);
		ps_spool_ready = true;
	}
	parts_file_name(pr->pr_id, pr->pr_index, pr->pr_file);
	pr->pr_declared = req->content_length;	/* chunked: 0 so far */
	pr->pr_capacity = cap;
	stripe_add(&ps_shared->ss_inflight, pr->pr_declared);
	stripe_publish_use(ps_shared, ps_cluster);
	conn_own(c, &parts_put_handler, pr);
	pr->pr_spool = spool_create(&ps_spool, "part", &parts_spool_handler,
	    pr);
}

/* While its job runs the connection waits for nothing (no events, no
 * timer); it is owned only so that the job can find its state. */
static void
parts_job_io(struct conn *c, short revents)
{
	(void)c;
	(void)revents;
}

static void
parts_job_timeout(struct conn *c)
{
	(void)c;
}

static const struct conn_handler parts_job_handler = {
	.on_io = parts_job_io,
	.on_timeout = parts_job_timeout,
	.on_close = parts_on_close,
};

/* -- POST commit ------------------------------------------------------- */

static void
parts_commit_job(struct iopool_job *job)
{
	struct part_req *pr = conn_owner(conn_of_job(job));

	errno = 0;
	/* The origin's copy takes only the very next generation (it puts
	 * the moves of an object in one order), and first: a part's copy
	 * here never runs ahead of it. */
	pr->pr_commit = PARTS_COMMITTED;
	if (pr->pr_origin || pr->pr_also_origin) {
		pr->pr_commit = parts_switch_manifest(ps_dirs.pd_tmp,
		    ps_origin_fd, ps_origin_names_fd, &pr->pr_manifest, true);
		if (pr->pr_commit == PARTS_NO_PART && pr->pr_also_origin)
			pr->pr_commit = PARTS_COMMITTED;
	}
	/* A part's first commit, or its manifest switched (not counted). */
	pr->pr_first = !pr->pr_origin && faccessat(ps_dirs.pd_pending,
	    pr->pr_file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (pr->pr_commit == PARTS_COMMITTED && !pr->pr_origin)
		pr->pr_commit = parts_commit(&ps_dirs, &pr->pr_manifest,
		    pr->pr_index);
	pr->pr_errno = errno;
}

static void
parts_commit_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct part_req *pr = conn_owner(c);
	enum parts_commit_result r = pr->pr_commit;

	if (r == PARTS_ERROR) {
		errno = pr->pr_errno;
		log_warn("committing part %s", pr->pr_file);
	}
	/* A part marked missing at its origin (a scrubber's report): the
	 * agent's healing looks at once. */
	if (r == PARTS_COMMITTED && (pr->pr_origin || pr->pr_also_origin) &&
	    pr->pr_manifest.m_missing != 0)
		stripe_add(&ps_shared->ss_marked_missing, 1);
	if (r == PARTS_COMMITTED && !pr->pr_origin) {
		if (pr->pr_first)
			stripe_add(&ps_shared->ss_parts_committed, 1);
		/* This store holds the object's manifest: a holder. */
		stripe_announce(ps_cluster, &pr->pr_manifest);
	}
	parts_req_free(pr);
	switch (r) {
	case PARTS_COMMITTED:
		conn_send_text(c, 200, "committed", NULL);
		break;
	case PARTS_NO_PART:
		conn_send_text(c, 404, "no such pending part here", NULL);
		break;
	case PARTS_STALE:
		conn_send_text(c, 412, "another manifest of the object is "
		    "here: of this generation or later, or (at its origin) not "
		    "the one this follows", NULL);
		break;
	case PARTS_MISMATCH:
		conn_send_text(c, 409, "the part here does not match the "
		    "manifest", NULL);
		break;
	default:
		conn_send_text(c, 500, "cannot commit the part", NULL);
		break;
	}
}

static void
parts_commit_answer(struct part_req *pr)
{
	struct conn *c = pr->pr_conn;
	uint8_t digest[AUTH_DIGEST_LEN];
	const char *why = NULL;
	int i;

	if (auth_body_digest(pr->pr_body.data, pr->pr_body.len, digest) == -1) {
		parts_req_free(pr);
		conn_send_text(c, 500, "cannot hash the body", NULL);
		return;
	}
	if (!parts_verify(c, digest)) {
		parts_req_free(pr);
		return;
	}
	/* A manifest that places no part here is the origin's copy of a
	 * later generation (a part moved): stripe/move.h. */
	if (manifest_decode(pr->pr_body.data, pr->pr_body.len,
	    &pr->pr_manifest, &why) == -1 ||
	    strcmp(pr->pr_manifest.m_id, pr->pr_id) != 0 ||
	    ((i = manifest_part_of(&pr->pr_manifest, parts_self())) < 0 &&
	    (pr->pr_manifest.m_gen == 0 || strcmp(pr->pr_manifest.m_origin,
	    parts_self()) != 0))) {
		parts_req_free(pr);
		conn_send_text(c, 400, why != NULL ? why : "the manifest is "
		    "not this object's, or places no part on this node", NULL);
		return;
	}
	pr->pr_origin = i < 0;
	pr->pr_also_origin = i >= 0 && pr->pr_manifest.m_gen > 0 &&
	    strcmp(pr->pr_manifest.m_origin, parts_self()) == 0;
	pr->pr_index = i < 0 ? 0 : (unsigned)i;
	parts_file_name(pr->pr_id, pr->pr_index, pr->pr_file);
	conn_own(c, &parts_job_handler, pr);
	conn_submit(c, parts_commit_job, parts_commit_done);
}

static void
parts_commit_read(struct conn *c, short revents)
{
	struct part_req *pr = conn_owner(c);
	ssize_t n;

	(void)revents;
	for (;;) {
		if (pr->pr_body.cap - pr->pr_body.len < PARTS_READ_CHUNK)
			buf_reserve(&pr->pr_body, PARTS_READ_CHUNK);
		n = conn_read_body(c, pr->pr_body.data + pr->pr_body.len,
		    pr->pr_body.cap - pr->pr_body.len);
		if (n > 0) {
			pr->pr_body.len += (size_t)n;
			if (pr->pr_body.len > MANIFEST_MAX) {
				c->c_close = true;
				parts_req_free(pr);
				conn_send_text(c, 413, "manifest too long",
				    NULL);
				return;
			}
			continue;
		}
		if (n == 0 && errno == EAGAIN) {
			conn_wait_readable(c);
			return;
		}
		if (n == 0) {
			parts_commit_answer(pr);
			return;
		}
		parts_req_free(pr);
		if (errno == EPROTO) {
			c->c_close = true;
			conn_send_text(c, 400, "bad chunked framing", NULL);
			return;
		}
		conn_abort(c);
		return;
	}
}

static void
parts_commit_timeout(struct conn *c)
{
	parts_req_free(conn_owner(c));
	c->c_close = true;
	conn_send_text(c, 408, "manifest not received in time", NULL);
}

static const struct conn_handler parts_commit_handler = {
	.on_io = parts_commit_read,
	.on_timeout = parts_commit_timeout,
	.on_close = parts_on_close,
};

static void
parts_commit_start(struct conn *c, struct part_req *pr)
{
	if (!c->c_req.chunked && !c->c_req.has_content_length) {
		free(pr);
		conn_send_text(c, 411, "a commit needs a Content-Length",
		    NULL);
		return;
	}
	if (c->c_req.has_content_length &&
	    c->c_req.content_length > MANIFEST_MAX) {
		free(pr);
		request_skip_body(c);
		conn_send_text(c, 413, "manifest too long", NULL);
		return;
	}
	conn_own(c, &parts_commit_handler, pr);
	conn_body_begin(c);
	if (conn_continue(c) == -1) {
		parts_req_free(pr);
		conn_abort(c);
		return;
	}
	parts_commit_read(c, 0);
}

/* -- DELETE ------------------------------------------------------------ */

static void
parts_delete_job(struct iopool_job *job)
{
	struct part_req *pr = conn_owner(conn_of_job(job));

	char name[PARTS_FILE_MAX];
	struct stat st;

	pr->pr_bytes = parts_delete(&ps_dirs, pr->pr_id, &pr->pr_count,
	    &pr->pr_manifest, &pr->pr_had);
	parts_manifest_name(pr->pr_id, name);
	pr->pr_origin = fstatat(ps_origin_fd, name, &st, AT_SYMLINK_NOFOLLOW)
	    == 0;
}

static void
parts_delete_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct part_req *pr = conn_owner(c);
	char text[64];

	stripe_add(&ps_shared->ss_disk, -pr->pr_bytes);
	stripe_add(&ps_shared->ss_parts_deleted, pr->pr_count);
	stripe_add(&ps_shared->ss_parts_held, -(uint64_t)pr->pr_count);
	/* The node that took the upload still holds it (its manifest). */
	if (pr->pr_had && !pr->pr_origin)
		stripe_withdraw(ps_cluster, &pr->pr_manifest);
	stripe_publish_use(ps_shared, ps_cluster);
	snprintf(text, sizeof(text), "removed %u part files", pr->pr_count);
	parts_req_free(pr);
	conn_send_text(c, 200, text, NULL);
}

/* -- the route --------------------------------------------------------- */

static void
parts_route(struct conn *c, const char *path)
{
	enum http_method m = c->c_req.method;
	enum part_kind kind = PART_OBJECT;
	struct part_req *pr;
	char id[MANIFEST_ID_LEN + 1];
	unsigned index = 0;
	int bad;

	if ((bad = parts_parse(path, id, &kind, &index)) != 0) {
		request_skip_body(c);
		conn_send_text(c, bad, bad == 404 ? "no such part index" :
		    "bad part path: /_/parts/ID[/I|/commit|/manifest]", NULL);
		return;
	}
	if ((kind == PART_OBJECT && m != HTTP_METHOD_DELETE) ||
	    (kind == PART_COMMIT && m != HTTP_METHOD_POST) ||
	    (kind == PART_MANIFEST && m != HTTP_METHOD_GET &&
	    m != HTTP_METHOD_HEAD) ||
	    (kind == PART_BYTES && m != HTTP_METHOD_PUT &&
	    m != HTTP_METHOD_GET && m != HTTP_METHOD_HEAD)) {
		request_skip_body(c);
		conn_send_text(c, 405, "method not allowed here",
		    kind == PART_OBJECT ? "Allow: DELETE\r\n" :
		    kind == PART_COMMIT ? "Allow: POST\r\n" :
		    kind == PART_MANIFEST ? "Allow: GET, HEAD\r\n" :
		    "Allow: GET, HEAD, PUT\r\n");
		return;
	}
	pr = xcalloc(1, sizeof(*pr));
	pr->pr_conn = c;
	memcpy(pr->pr_id, id, sizeof(id));
	pr->pr_index = index;
	if (kind == PART_BYTES && m == HTTP_METHOD_PUT) {
		parts_put(c, pr);
		return;
	}
	if (kind == PART_COMMIT) {
		parts_commit_start(c, pr);
		return;
	}
	if (!cluster_serve_signed(c, ps_cluster)) {
		free(pr);
		return;
	}
	if (kind != PART_OBJECT) {
		free(pr);
		/* The name opened is one this route made: never a path. */
		if (kind == PART_MANIFEST)
			parts_manifest_name(id, c->c_name);
		else
			parts_file_name(id, index, c->c_name);
		c->c_name_len = strlen(c->c_name);
		parts_read_start(c, kind == PART_MANIFEST);
		return;
	}
	conn_own(c, &parts_job_handler, pr);
	conn_submit(c, parts_delete_job, parts_delete_done);
}

/* -- metrics ----------------------------------------------------------- */

/* ss_parts_held, but a count gone below zero for a moment (a delete
 * counted before the walk that set it) shows as none. */
static uint64_t
parts_held(const struct stripe_shared *ss)
{
	uint64_t n = stripe_get(&ss->ss_parts_held);

	return n > (UINT64_MAX >> 1) ? 0 : n;
}

/* Every store this node knows (itself too, when it is one): its
 * capacity and use as gossiped, and what this node's uploads reserved
 * there. */
static void
parts_metrics_stores(struct buf *out)
{
	struct members *mt = ps_cluster->cl_members;
	char label[2 * MEMBER_NAME_MAX + 1];
	uint32_t i;

	metrics_family(out, "shoal_stripe_store_bytes",
	    "Every store this node knows: its capacity and use (as gossiped) "
	    "and the bytes this node's uploads in flight reserved there.",
	    "gauge");
	if (members_lock(mt) == -1)
		return;
	if (stripe_lock(ps_shared) != 0) {
		members_unlock(mt);
		return;
	}
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || !m->m_facts.mf_store ||
		    m->m_state == MEMBER_LEFT)
			continue;
		metrics_label_value(m->m_facts.mf_name, label, sizeof(label));
		buf_printf(out, "shoal_stripe_store_bytes{member=\"%s\","
		    "kind=\"capacity\"} %" PRIu64 "\n"
		    "shoal_stripe_store_bytes{member=\"%s\",kind=\"used\"} %"
		    PRIu64 "\nshoal_stripe_store_bytes{member=\"%s\","
		    "kind=\"reserved\"} %" PRIu64 "\n", label,
		    m->m_facts.mf_capacity, label, m->m_facts.mf_used, label,
		    stripe_reserved_locked(ps_shared, m->m_facts.mf_name));
	}
	stripe_unlock(ps_shared);
	members_unlock(mt);
}

static void
parts_metrics(struct server *s, struct buf *out)
{
	static const char *const causes[STRIPE_CLEANUP_CAUSES] = {
		[STRIPE_CLEANUP_CLIENT] = "client_gone",
		[STRIPE_CLEANUP_STORE] = "store_failed",
		[STRIPE_CLEANUP_TIMEOUT] = "timeout",
		[STRIPE_CLEANUP_LOCAL] = "local",
		[STRIPE_CLEANUP_SWEPT] = "swept",
		[STRIPE_CLEANUP_JOURNAL] = "journal",
	};
	const struct stripe_shared *ss = ps_shared;
	uint64_t reserved = 0;
	unsigned i;

	(void)s;
	metrics_family(out, "shoal_stripe_part_bytes",
	    "Bytes of parts this store holds: on disk (pending and "
	    "committed) and announced by part uploads being received.",
	    "gauge");
	buf_printf(out, "shoal_stripe_part_bytes{state=\"disk\"} %" PRIu64
	    "\nshoal_stripe_part_bytes{state=\"inflight\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_disk), stripe_get(&ss->ss_inflight));
	metrics_family(out, "shoal_stripe_parts_held",
	    "Part files this store holds, pending and committed.", "gauge");
	buf_printf(out, "shoal_stripe_parts_held %" PRIu64 "\n",
	    parts_held(ss));
	metrics_family(out, "shoal_stripe_parts_total",
	    "Parts this store received, refused, committed, removed by the "
	    "upload that sent them, and removed as pending past "
	    "stripe.pending_timeout.", "counter");
	buf_printf(out, "shoal_stripe_parts_total{event=\"received\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"refused\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"committed\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"deleted\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"swept\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_parts_received),
	    stripe_get(&ss->ss_parts_refused),
	    stripe_get(&ss->ss_parts_committed),
	    stripe_get(&ss->ss_parts_deleted),
	    stripe_get(&ss->ss_parts_swept));
	metrics_family(out, "shoal_stripe_uploads_total",
	    "Striped uploads this node took: stored, stored degraded (a "
	    "store failed during the upload: parts missing until healed), "
	    "failed (the client, a store, the disk), refused (fewer stores "
	    "with room than parts).", "counter");
	buf_printf(out, "shoal_stripe_uploads_total{result=\"degraded\"} %"
	    PRIu64 "\n", stripe_get(&ss->ss_puts_degraded));
	buf_printf(out, "shoal_stripe_uploads_total{result=\"ok\"} %" PRIu64
	    "\nshoal_stripe_uploads_total{result=\"failed\"} %" PRIu64
	    "\nshoal_stripe_uploads_total{result=\"refused\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_puts_ok), stripe_get(&ss->ss_puts_failed),
	    stripe_get(&ss->ss_puts_refused));
	metrics_family(out, "shoal_stripe_cleanups_total",
	    "Striped uploads whose parts were removed, by cause: as the front, "
	    "the client gone, a store failed, a timeout, this node; as a "
	    "store, pending parts swept; at a restart, the journal.",
	    "counter");
	for (i = 0; i < STRIPE_CLEANUP_CAUSES; i++)
		buf_printf(out, "shoal_stripe_cleanups_total{cause=\"%s\"} %"
		    PRIu64 "\n", causes[i], stripe_get(&ss->ss_cleanups[i]));
	if (stripe_lock(ps_shared) == 0) {
		reserved = stripe_reserved_locked(ps_shared, NULL);
		stripe_unlock(ps_shared);
	}
	metrics_family(out, "shoal_stripe_corrupt_blocks_total",
	    "Blocks of parts this store found corrupt (their checksum, or "
	    "their part's trailer, did not match) when reading them; none "
	    "was sent.", "counter");
	buf_printf(out, "shoal_stripe_corrupt_blocks_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_corrupt_blocks));
	metrics_family(out, "shoal_stripe_degraded_reads_total",
	    "GETs of striped objects with parity that lost parts: read "
	    "whole, some blocks rebuilt from parity; cut (or refused with "
	    "502), more parts lost than the parity rebuilds.", "counter");
	buf_printf(out, "shoal_stripe_degraded_reads_total{result=\"rebuilt\"} %"
	    PRIu64 "\nshoal_stripe_degraded_reads_total{result=\"cut\"} %"
	    PRIu64 "\n", stripe_get(&ss->ss_reads_rebuilt),
	    stripe_get(&ss->ss_reads_cut));
	metrics_family(out, "shoal_stripe_read_parts_lost_total",
	    "Parts that reads of striped objects could not use (missing, "
	    "store unreachable or failed, corrupt block) and replaced with "
	    "a parity part.", "counter");
	buf_printf(out, "shoal_stripe_read_parts_lost_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_read_parts_lost));
	metrics_family(out, "shoal_stripe_rebuilt_bytes_total",
	    "Bytes of data blocks rebuilt from parity for reads.", "counter");
	buf_printf(out, "shoal_stripe_rebuilt_bytes_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_rebuilt_bytes));
	metrics_family(out, "shoal_stripe_reserved_bytes",
	    "Bytes of parts this node's uploads in flight have reserved at "
	    "their stores.", "gauge");
	buf_printf(out, "shoal_stripe_reserved_bytes %" PRIu64 "\n", reserved);
	parts_metrics_stores(out);
	metrics_family(out, "shoal_stripe_part_sent_bytes_total",
	    "Bytes of parts sent to the nodes that read striped objects.",
	    "counter");
	buf_printf(out, "shoal_stripe_part_sent_bytes_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_part_bytes_sent));
	metrics_family(out, "shoal_stripe_rebalance_moves_total",
	    "Parts this store's rebalancer moved to emptier stores: done "
	    "(copied, checked, switched in every manifest, removed here), "
	    "failed (left where they were, or finished later).", "counter");
	buf_printf(out, "shoal_stripe_rebalance_moves_total{result=\"done\"} %"
	    PRIu64 "\nshoal_stripe_rebalance_moves_total{result=\"failed\"} %"
	    PRIu64 "\n", stripe_get(&ss->ss_moves_done),
	    stripe_get(&ss->ss_moves_failed));
	metrics_family(out, "shoal_stripe_rebalance_bytes_total",
	    "Bytes of parts this store's rebalancer moved away.", "counter");
	buf_printf(out, "shoal_stripe_rebalance_bytes_total %" PRIu64 "\n",
	    stripe_get(&ss->ss_moved_bytes));
	heal_metrics(out, ss);
}

int
parts_serve_routes(struct server *s, struct cluster *cl,
    struct stripe_shared *ss)
{
	int state_fd;

	ps_cluster = cl;
	ps_shared = ss;
	if (ps_dirs.pd_objects == -1) {
		state_fd = open(s->s_cfg->state_dir, O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
		if (state_fd == -1 || parts_dirs_open(state_fd, &ps_dirs) ==
		    -1) {
			log_err("%s/%s", s->s_cfg->state_dir,
			    STRIPE_PARTS_DIR);
			if (state_fd != -1)
				close(state_fd);
			return -1;
		}
		(void)mkdirat(state_fd, STRIPE_ORIGIN_DIR, 0700);
		(void)mkdirat(state_fd, STRIPE_ORIGIN_MANIFESTS, 0700);
		(void)mkdirat(state_fd, STRIPE_ORIGIN_NAMES, 0700);
		ps_origin_fd = openat(state_fd, STRIPE_ORIGIN_MANIFESTS,
		    O_PATH | O_DIRECTORY | O_CLOEXEC);
		ps_origin_names_fd = openat(state_fd, STRIPE_ORIGIN_NAMES,
		    O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(state_fd);
		if (ps_origin_fd == -1 || ps_origin_names_fd == -1) {
			log_err("%s/%s", s->s_cfg->state_dir,
			    STRIPE_ORIGIN_DIR);
			return -1;
		}
	}
	parts_read_attach(ss, ps_dirs.pd_objects, ps_origin_fd);
	if (server_route(s, PARTS_ROUTE, parts_route) == -1) {
		log_errx("parts: no room for the route");
		return -1;
	}
	(void)server_metrics(s, parts_metrics);
	cluster_set_section(cl, "striping", heal_json, ss);
	return 0;
}

void
parts_serve_teardown(void)
{
	if (ps_spool_ready)
		spool_dir_teardown(&ps_spool);
	ps_spool_ready = false;
}
