/*
 * parts_read.c - a store's answers to GET and HEAD of a committed part or
 * of the manifest beside it (see parts_read.h). Loop thread of a worker;
 * the file is opened, its trailer read and each block read and checked
 * by jobs of the connection in the worker's I/O pool, which read the
 * connection's request and their struct part_read while the loop leaves
 * them alone (no event, no timer runs the owner meanwhile; a client that
 * goes is only marked, and the job's end frees).
 *
 * State: the node's shared counters and the objects directory, set once
 * per worker before serving and read-only after.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "http/condition.h"
#include "http/range.h"
#include "http/response.h"
#include "serve/conn.h"
#include "store/file.h"
#include "stripe/parts.h"
#include "stripe/parts_read.h"
#include "stripe/parts_serve.h"
#include "stripe/stripe.h"

static struct stripe_shared *pg_shared;
static int pg_objects_fd = -1;
static int pg_origin_fd = -1;	/* stripe/manifests: this node's uploads */

/* One GET or HEAD: what the first job found, then the part's bytes a
 * block at a time. */
struct part_read {
	bool pr_manifest;		/* the manifest, not a part */
	uint64_t pr_size;		/* of the part, by its trailer */
	enum range_result pr_range;
	uint64_t pr_from, pr_to;	/* [from, to) to send */
	int pr_verdict;			/* parts_read_block(); -2 no
					 * valid trailer (pr_why) */
	const char *pr_why;
	int pr_errno;
	int pr_fd;			/* the part file, once sending */
	struct parts_trailer pr_t;
	unsigned char *pr_buf;		/* one block: block pr_block */
	uint64_t pr_block;
	size_t pr_blen;
	uint64_t pr_pos;		/* the next byte to send */
	bool pr_busy;			/* a job reads the next block */
	bool pr_gone;			/* ... and the client went meanwhile */
};

void
parts_read_attach(struct stripe_shared *ss, int objects_fd, int origin_fd)
{
	pg_shared = ss;
	pg_objects_fd = objects_fd;
	pg_origin_fd = origin_fd;
}

static void
parts_read_free(struct part_read *pr)
{
	if (pr->pr_fd != -1)
		close(pr->pr_fd);
	parts_trailer_free(&pr->pr_t);
	free(pr->pr_buf);
	free(pr);
}

/* The connection is freed (worker exit, or closed while a job ran). */
static void
parts_read_close(struct conn *c)
{
	parts_read_free(conn_owner(c));
}

/* While the first job runs the connection waits for nothing. */
static void
parts_read_job_io(struct conn *c, short revents)
{
	(void)c;
	(void)revents;
}

static void
parts_read_job_timeout(struct conn *c)
{
	(void)c;
}

static const struct conn_handler parts_read_job_handler = {
	.on_io = parts_read_job_io,
	.on_timeout = parts_read_job_timeout,
	.on_close = parts_read_close,
};

/* Reads and checks the block that holds pr_pos into pr_buf. */
static void
parts_stream_job(struct iopool_job *job)
{
	struct part_read *pr = conn_owner(conn_of_job(job));

	pr->pr_block = pr->pr_pos / pr->pr_t.pt_block;
	if (pr->pr_buf == NULL &&
	    (pr->pr_buf = malloc(pr->pr_t.pt_block)) == NULL) {
		pr->pr_verdict = -1;
		pr->pr_errno = ENOMEM;
		return;
	}
	pr->pr_verdict = parts_read_block(pr->pr_fd != -1 ? pr->pr_fd :
	    conn_of_job(job)->c_file.fi_fd, &pr->pr_t, pr->pr_block,
	    pr->pr_buf, &pr->pr_blen);
	pr->pr_errno = errno;
}

/* A block found corrupt: logged, counted. */
static void
parts_stream_corrupt(struct conn *c, struct part_read *pr)
{
	stripe_add(&pg_shared->ss_corrupt_blocks, 1);
	stripe_suspect(pg_shared, c->c_name);	/* the scrubber's next */
	if (pr->pr_verdict == -2)
		log_warnx("part %s: corrupt trailer: %s", c->c_name,
		    pr->pr_why);
	else
		log_warnx("part %s: block %" PRIu64 " is corrupt", c->c_name,
		    pr->pr_block);
}

static void parts_stream_done(struct iopool_job *job);

/* Sends what the buffer holds of the range, then has the next block
 * read; the end, or the client gone: the answer ends. */
static void
parts_stream_pump(struct conn *c, struct part_read *pr)
{
	for (;;) {
		uint64_t at = pr->pr_block * pr->pr_t.pt_block;
		uint64_t end = at + pr->pr_blen;
		struct iovec iov;
		ssize_t n;

		if (end > pr->pr_to)
			end = pr->pr_to;
		if (pr->pr_pos == pr->pr_to) {
			if (conn_out_pending(c) > 0 &&
			    conn_sendv(c, NULL, 0, false) >= 0 &&
			    conn_out_pending(c) > 0) {
				conn_wait_writable(c);
				return;
			}
			parts_read_free(pr);
			conn_finish(c);
			return;
		}
		if (pr->pr_pos == end) {
			pr->pr_busy = true;
			conn_wait_hangup(c);
			conn_submit(c, parts_stream_job, parts_stream_done);
			return;
		}
		iov.iov_base = pr->pr_buf + (pr->pr_pos - at);
		iov.iov_len = (size_t)(end - pr->pr_pos);
		n = conn_sendv(c, &iov, 1, end < pr->pr_to);
		if (n < 0) {
			parts_read_free(pr);
			conn_abort(c);
			return;
		}
		pr->pr_pos += (uint64_t)n;
		stripe_add(&pg_shared->ss_part_bytes_sent, (uint64_t)n);
		if ((size_t)n < iov.iov_len) {
			conn_wait_writable(c);
			return;
		}
	}
}

static void
parts_stream_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct part_read *pr = conn_owner(c);

	pr->pr_busy = false;
	if (!pr->pr_gone && pr->pr_verdict != 0) {
		/* The head went: the reader sees the part cut short. */
		if (pr->pr_verdict == -1) {
			errno = pr->pr_errno;
			log_warn("reading part %s", c->c_name);
		} else
			parts_stream_corrupt(c, pr);
	}
	if (pr->pr_gone || pr->pr_verdict != 0) {
		parts_read_free(pr);
		conn_abort(c);
		return;
	}
	parts_stream_pump(c, pr);
}

static void
parts_stream_io(struct conn *c, short revents)
{
	struct part_read *pr = conn_owner(c);

	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLOUT)) {
		if (pr->pr_busy) {
			pr->pr_gone = true;	/* the job's end frees */
			conn_wait_nothing(c);
			return;
		}
		parts_read_free(pr);
		conn_abort(c);
		return;
	}
	if (!pr->pr_busy)
		parts_stream_pump(c, pr);
}

static void
parts_stream_timeout(struct conn *c)
{
	struct part_read *pr = conn_owner(c);

	if (pr->pr_busy) {
		pr->pr_gone = true;
		return;
	}
	parts_read_free(pr);
	conn_abort(c);
}

static const struct conn_handler parts_stream_handler = {
	.on_io = parts_stream_io,
	.on_timeout = parts_stream_timeout,
	.on_close = parts_read_close,
};

/* Opens the part or manifest; for a part, reads its trailer, the range
 * asked, and checks the range's blocks (the connection's request is
 * read here while the loop leaves it alone). */
static void
parts_get_job(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct part_read *pr = conn_owner(c);
	struct file_info *fi = &c->c_file;
	const struct http_message *req = &c->c_req;
	uint64_t last;

	/* A manifest: the origin's copy first (the one that rules). */
	if (pr->pr_manifest)
		file_open(pg_origin_fd, c->c_name, -1, fi);
	if (!pr->pr_manifest || fi->fi_fd == -1)
		file_open(pg_objects_fd, c->c_name, -1, fi);
	pr->pr_size = fi->fi_size;
	pr->pr_range = RANGE_NONE;
	if (fi->fi_fd == -1)
		return;
	if (!pr->pr_manifest) {
		if (parts_trailer_read(fi->fi_fd, fi->fi_size, &pr->pr_t,
		    &pr->pr_why) == -1) {
			pr->pr_verdict = errno == EINVAL ? -2 : -1;
			pr->pr_errno = errno;
			return;
		}
		pr->pr_size = pr->pr_t.pt_size;
	}
	if (req->method == HTTP_METHOD_GET && req->range.p != NULL)
		pr->pr_range = range_parse(req->range.p, req->range.len,
		    pr->pr_size, &pr->pr_from, &last);
	pr->pr_to = pr->pr_range == RANGE_OK ? last + 1 : pr->pr_size;
	if (pr->pr_range != RANGE_OK)
		pr->pr_from = 0;
	if (pr->pr_manifest)
		return;
	/* The first block is checked before the head: a part corrupt
	 * there is refused with a status, not cut. */
	pr->pr_pos = pr->pr_from;
	if (req->method == HTTP_METHOD_GET &&
	    pr->pr_range != RANGE_UNSATISFIABLE && pr->pr_to > pr->pr_from)
		parts_stream_job(job);
}

/* The job found a part that must not be sent (its first block, or its
 * trailer, corrupt): answered, closed. */
static void
parts_get_refuse(struct conn *c, struct part_read *pr)
{
	struct file_info *fi = &c->c_file;
	char extra[64];

	close(fi->fi_fd);
	fi->fi_fd = -1;
	if (pr->pr_verdict == -1) {
		errno = pr->pr_errno;
		log_warn("reading part %s", c->c_name);
		parts_read_free(pr);
		conn_send_text(c, 500, "cannot read the part", NULL);
		return;
	}
	parts_stream_corrupt(c, pr);
	if (pr->pr_verdict == -2)
		snprintf(extra, sizeof(extra), "%s: trailer\r\n",
		    PARTS_CORRUPT_HEADER);
	else
		snprintf(extra, sizeof(extra), "%s: %" PRIu64 "\r\n",
		    PARTS_CORRUPT_HEADER, pr->pr_block);
	parts_read_free(pr);
	conn_send_text(c, 500, "a block of this part is corrupt", extra);
}

static void
parts_get_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct part_read *pr = conn_owner(c);
	struct file_info *fi = &c->c_file;
	const struct http_message *req = &c->c_req;
	char etag[CONDITION_ETAG_LEN + 1], num[96];
	bool manifest = pr->pr_manifest;
	uint64_t first = pr->pr_from, last = pr->pr_to, size = pr->pr_size;
	enum range_result range = pr->pr_range;

	if (fi->fi_fd == -1) {
		parts_read_free(pr);
		if (fi->fi_errno == ENOENT) {
			conn_send_text(c, 404, manifest ? "no such manifest "
			    "here" : "no such committed part here", NULL);
			return;
		}
		errno = fi->fi_errno;
		log_warn("part %s", c->c_name);
		conn_send_text(c, 500, "cannot open the part", NULL);
		return;
	}
	if (pr->pr_verdict != 0) {
		parts_get_refuse(c, pr);
		return;
	}
	buf_reset(&c->c_out);
	if (range == RANGE_UNSATISFIABLE) {
		parts_read_free(pr);
		close(fi->fi_fd);
		fi->fi_fd = -1;
		snprintf(num, sizeof(num), "Content-Range: bytes */%" PRIu64
		    "\r\n", size);
		conn_send_text(c, 416, "range not satisfiable", num);
		return;
	}
	c->c_status = range == RANGE_OK ? 206 : 200;
	response_start(&c->c_out, c->c_status);
	response_header(&c->c_out, "Content-Type", manifest ?
	    "application/json" : "application/octet-stream");
	snprintf(num, sizeof(num), "%" PRIu64, last - first);
	response_header(&c->c_out, "Content-Length", num);
	if (c->c_status == 206) {
		snprintf(num, sizeof(num), "bytes %" PRIu64 "-%" PRIu64 "/%"
		    PRIu64, first, last - 1, size);
		response_header(&c->c_out, "Content-Range", num);
	}
	condition_etag_format(&fi->fi_digest, etag);
	response_header(&c->c_out, "ETag", etag);
	response_header(&c->c_out, "Cache-Control", "no-store");
	response_end(&c->c_out, c->c_close, conn_http10_keepalive(c));
	if (req->method == HTTP_METHOD_GET && last > first && !manifest) {
		/* A block at a time, each checked before it goes. */
		pr->pr_fd = fi->fi_fd;
		fi->fi_fd = -1;
		c->c_out_off = 0;
		c->c_body_len = last - first;
		conn_own(c, &parts_stream_handler, pr);
		parts_stream_pump(c, pr);
		return;
	}
	parts_read_free(pr);
	if (req->method == HTTP_METHOD_GET && last > first) {
		c->c_file_off = first;
		c->c_file_end = last;
		c->c_body_len = last - first;
	} else {
		close(fi->fi_fd);
		fi->fi_fd = -1;
	}
	conn_send(c);
}

void
parts_read_start(struct conn *c, bool manifest)
{
	struct part_read *pr = xcalloc(1, sizeof(*pr));

	pr->pr_manifest = manifest;
	pr->pr_fd = -1;
	conn_own(c, &parts_read_job_handler, pr);
	conn_submit(c, parts_get_job, parts_get_done);
}
