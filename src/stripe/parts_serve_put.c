/*
 * parts_serve_put.c - PUT /_/parts/ID/I at a store (see parts_serve.h):
 * the part's body streamed through a spool (store/spool.h) whose
 * directory is parts/tmp, the checksums of its blocks appended as its
 * trailer, and the file published into parts/pending under the digest
 * of its bytes. Loop thread of a worker; the spool's writes in its I/O
 * pool. State: parts_serve_int.h's.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/config.h"
#include "core/log.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/spool.h"
#include "stripe/blocksum.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/parts_serve.h"
#include "stripe/parts_serve_int.h"
#include "stripe/stripe.h"

static void
parts_put_fail(struct part_req *pr, int status, const char *reason)
{
	struct conn *c = pr->pr_conn;

	if (!conn_body_done(c))
		c->c_close = true;
	stripe_add(&parts_serve_shared->ss_parts_refused, 1);
	parts_serve_req_free(pr);
	conn_send_text(c, status, reason, NULL);
}

static void
parts_put_gone(struct part_req *pr, const char *why)
{
	struct conn *c = pr->pr_conn;

	log_info("part %s from %s abandoned: %s", pr->pr_file, c->c_addr, why);
	stripe_add(&parts_serve_shared->ss_parts_refused, 1);
	parts_serve_req_free(pr);
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
	uint64_t use = stripe_get(&parts_serve_shared->ss_disk) +
	    stripe_get(&parts_serve_shared->ss_inflight);

	if (use > pr->pr_capacity || n > pr->pr_capacity - use) {
		parts_put_fail(pr, 507, "no room for the part on this store");
		return -1;
	}
	stripe_add(&parts_serve_shared->ss_inflight, n);
	/* The gossiped use changes once a MiB, not once a read. */
	if ((pr->pr_declared + n) >> 20 != pr->pr_declared >> 20)
		stripe_publish_use(parts_serve_shared, parts_serve_cluster);
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
	stripe_add(&parts_serve_shared->ss_inflight, -pr->pr_declared);
	stripe_add(&parts_serve_shared->ss_disk, pr->pr_declared +
	    pr->pr_trailer_len);
	stripe_add(&parts_serve_shared->ss_parts_received, 1);
	stripe_add(&parts_serve_shared->ss_parts_held, 1);
	parts_serve_req_free(pr);
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

static const struct conn_handler parts_put_handler = {
	.on_io = parts_put_io,
	.on_timeout = parts_put_timeout,
	.on_close = parts_serve_on_close,
};

void
parts_serve_put(struct conn *c, struct part_req *pr)
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
	if (!parts_serve_verify(c, NULL)) {
		free(pr);
		return;
	}
	block = c->c_srv->s_cfg->stripe.block;
	if ((h = http_find_header(req, PARTS_BLOCK_HEADER)) != NULL &&
	    parts_serve_block(h->value.p, h->value.len, &block) == -1) {
		free(pr);
		request_skip_body(c);
		conn_send_text(c, 400, "bad " PARTS_BLOCK_HEADER, NULL);
		return;
	}
	if (members_lock(parts_serve_cluster->cl_members) != 0) {
		parts_serve_req_free(pr);
		request_skip_body(c);
		conn_send_text(c, 500, "member table unusable", NULL);
		return;
	}
	self = members_self(parts_serve_cluster->cl_members);
	cap = self->m_facts.mf_capacity;
	members_unlock(parts_serve_cluster->cl_members);
	use = stripe_get(&parts_serve_shared->ss_disk) +
	    stripe_get(&parts_serve_shared->ss_inflight);
	/* The part file: the bytes and their checksums' trailer (chunked:
	 * none so far). */
	need = req->content_length + blocksum_trailer_size(
	    req->content_length, block);
	if (!self->m_facts.mf_store || need > cap || use > cap - need) {
		parts_serve_req_free(pr);
		stripe_add(&parts_serve_shared->ss_parts_refused, 1);
		request_skip_body(c);
		conn_send_text(c, 507, self->m_facts.mf_store ? "no room for "
		    "the part on this store" : "this node stores no parts",
		    NULL);
		return;
	}
	if ((req->chunked ? blocksum_stream_init_open(&pr->pr_sums, block) :
	    blocksum_stream_init(&pr->pr_sums, req->content_length, block)) ==
	    -1 || (pr->pr_hash = XXH3_createState()) == NULL) {
		parts_serve_req_free(pr);
		request_skip_body(c);
		conn_send_text(c, 500, "cannot start the part", NULL);
		return;
	}
	(void)XXH3_128bits_reset(pr->pr_hash);
	if (!parts_serve_spool_ready) {
		spool_dir_init(&parts_serve_spool, c->c_srv->s_pool,
		    parts_serve_dirs.pd_pending, parts_serve_dirs.pd_tmp);
		parts_serve_spool_ready = true;
	}
	parts_file_name(pr->pr_id, pr->pr_index, pr->pr_file);
	pr->pr_declared = req->content_length;	/* chunked: 0 so far */
	pr->pr_capacity = cap;
	stripe_add(&parts_serve_shared->ss_inflight, pr->pr_declared);
	stripe_publish_use(parts_serve_shared, parts_serve_cluster);
	conn_own(c, &parts_put_handler, pr);
	pr->pr_spool = spool_create(&parts_serve_spool, "part",
	    &parts_spool_handler, pr);
}
