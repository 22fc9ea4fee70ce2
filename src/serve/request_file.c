/*
 * request_file.c - GET and HEAD of the files of ROOT, and the listing
 * (loop thread; file metadata and data come from pool jobs, file.c).
 *
 * The phases of a file request: request_file_start() answers from the
 * open-file cache (a file, or a name known to be missing), or tries the
 * open from the loop (the kernel's caches may know the name is missing;
 * the open-file cache remembers it then), or hands the open to the pool
 * (request_file_job); request_file_job_done() turns the result into an
 * answer (request_file_result): a hit is sent (request_file_send), a
 * missing name is a 404, or a miss asked of the peers (miss.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "http/condition.h"
#include "http/httpdate.h"
#include "http/mime.h"
#include "http/range.h"
#include "http/response.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/miss.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/file.h"
#include "store/filecache.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/versions.h"

#define REQUEST_INLINE_MAX (64 * 1024)	/* files read with their open */

/*
 * GET /NAME?version=DIGEST: ROOT's file when it is that version, else the
 * version kept in the state directory (one that lost a conflict, or a
 * replica ROOT has no room for under its name). Pool thread.
 */
static void
request_file_version(struct conn *c)
{
	struct server *s = c->c_srv;

	if (c->c_file.fi_fd != -1) {
		if (c->c_file.fi_content &&
		    digest_equal(&c->c_file.fi_digest, &c->c_version))
			return;
		close(c->c_file.fi_fd);
	}
	versions_open(s->s_state_fd, c->c_name, &c->c_version, &c->c_file);
}

static void
request_file_job(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct server *s = c->c_srv;
	struct index_entry e;
	enum index_lookup r;

	file_open(s->s_root_fd, c->c_name, c->c_open_fd, &c->c_file);
	c->c_open_fd = -1;
	if (c->c_has_version) {
		request_file_version(c);
		c->c_copy_expiry = 0;
		goto read;
	}
	if (c->c_file.fi_fd == -1)
		return;
	/* A saved copy whose time is up is never served, even before the
	 * sweeper removes it: to the client it is a miss. */
	r = index_lookup(s->s_index, c->c_name, c->c_name_len,
	    (const void *)&c->c_file.fi_id, loop_wall_ms(), &e);
	c->c_copy_expiry = r == INDEX_LOOKUP_COPY ? e.e_expiry_ms : 0;
	if (r == INDEX_LOOKUP_EXPIRED || r == INDEX_LOOKUP_ERROR) {
		close(c->c_file.fi_fd);
		c->c_file.fi_fd = -1;
		c->c_file.fi_errno = ENOENT;
		return;
	}
read:
	/* A small file is read here at once, so the loop sends head and
	 * body together, without a second trip through the pool. */
	buf_reset(&c->c_job_out);
	if (c->c_file.fi_fd == -1)
		return;
	if (c->c_req.method == HTTP_METHOD_GET &&
	    c->c_file.fi_size <= REQUEST_INLINE_MAX &&
	    file_read_all(c->c_file.fi_fd, &c->c_job_out,
	    c->c_file.fi_size) == -1)
		buf_reset(&c->c_job_out);	/* sendfile will do */
}

void
request_file_head(struct conn *c, const char *etag, time_t mtime,
    uint64_t size)
{
	const struct http_message *req = &c->c_req;
	bool head = req->method == HTTP_METHOD_HEAD;
	char lastmod[HTTPDATE_LEN + 1], num[96];
	uint64_t first = 0, last = 0;
	enum range_result range = RANGE_NONE;
	struct buf *out = &c->c_out;

	httpdate_format(mtime, lastmod);

	if (req->if_none_match.p != NULL ?
	    condition_none_match(req->if_none_match.p, req->if_none_match.len,
	    etag) :
	    req->if_modified_since.p != NULL &&
	    condition_not_modified_since(req->if_modified_since.p,
	    req->if_modified_since.len, mtime)) {
		c->c_status = 304;
		response_start(out, 304);
		response_header(out, "ETag", etag);
		response_header(out, "Last-Modified", lastmod);
		response_end(out, c->c_close, conn_http10_keepalive(c));
		return;
	}
	/* Range applies to GET only (RFC 9110 14.2), and If-Range may veto. */
	if (req->method == HTTP_METHOD_GET && req->range.p != NULL &&
	    (req->if_range.p == NULL || condition_if_range(req->if_range.p,
	    req->if_range.len, etag, mtime)))
		range = range_parse(req->range.p, req->range.len, size,
		    &first, &last);
	if (range == RANGE_UNSATISFIABLE) {
		snprintf(num, sizeof(num), "Content-Range: bytes */%llu\r\n",
		    (unsigned long long)size);
		c->c_body_len = response_text(out, 416, "range not satisfiable",
		    num, head, c->c_close, conn_http10_keepalive(c));
		c->c_status = 416;
		return;
	}
	if (range == RANGE_NONE) {
		first = 0;
		last = size;	/* exclusive below */
		c->c_status = 200;
	} else {
		last = last + 1;
		c->c_status = 206;
	}
	response_start(out, c->c_status);
	response_header(out, "Content-Type", mime_type(c->c_name,
	    c->c_name_len));
	snprintf(num, sizeof(num), "%llu", (unsigned long long)(last - first));
	response_header(out, "Content-Length", num);
	if (c->c_status == 206) {
		snprintf(num, sizeof(num), "bytes %llu-%llu/%llu",
		    (unsigned long long)first, (unsigned long long)last - 1,
		    (unsigned long long)size);
		response_header(out, "Content-Range", num);
	}
	response_header(out, "ETag", etag);
	response_header(out, "Last-Modified", lastmod);
	response_header(out, "Accept-Ranges", "bytes");
	response_end(out, c->c_close, conn_http10_keepalive(c));
	if (!head) {
		c->c_file_off = first;
		c->c_file_end = last;
		c->c_body_len = last - first;
	}
}

/* Answers from an opened file (c_file): the head, then the body from
 * `body` (the whole file, already read) or by sendfile from c_file.fi_fd. */
static void
request_file_send(struct conn *c, const char *body)
{
	char etag[CONDITION_ETAG_LEN + 1];

	metrics_add(&metrics_mine()->ms_local_hits, 1);
	buf_reset(&c->c_out);
	condition_etag_format(&c->c_file.fi_digest, etag);
	request_file_head(c, etag, c->c_file.fi_mtime.tv_sec,
	    c->c_file.fi_size);
	if (c->c_file_end > c->c_file_off && body != NULL) {
		buf_append(&c->c_out, body + c->c_file_off,
		    c->c_file_end - c->c_file_off);
		c->c_file_off = c->c_file_end = 0;
	}
	if (c->c_file_end <= c->c_file_off && c->c_file.fi_fd != -1) {
		/* Nothing (more) of the file to send. */
		close(c->c_file.fi_fd);
		c->c_file.fi_fd = -1;
	}
	conn_send(c);
}

static void request_file_result(struct conn *c);

/* A hit in the worker's open-file cache is answered without the pool, and
 * a name it knows to be missing is a miss at once. Returns false when the
 * name is not cached (or cannot be used). */
static bool
request_file_cached(struct conn *c)
{
	const struct filecache_entry *e = filecache_get(c->c_srv->s_filecache,
	    c->c_name, c->c_name_len, loop_wall_ms());

	if (e == NULL)
		return false;
	c->c_file = e->fe_info;
	c->c_file.fi_fd = -1;
	if (e->fe_missing) {
		request_file_result(c);		/* ENOENT: a miss */
		return true;
	}
	if (c->c_req.method == HTTP_METHOD_GET && e->fe_body == NULL &&
	    e->fe_info.fi_size > 0) {
		/* A descriptor of its own: the response closes it. */
		c->c_file.fi_fd = fcntl(e->fe_fd, F_DUPFD_CLOEXEC, 0);
		if (c->c_file.fi_fd == -1)
			return false;
	}
	request_file_send(c, e->fe_body);
	return true;
}

/* The worker is at its descriptor limit: a passing state, not the file's
 * fault. Said in the log at once, then at most once a minute. */
static void
request_file_no_descriptors(struct conn *c)
{
	static int64_t warned_ms = -1;

	if (log_due(&warned_ms, loop_now(c->c_srv->s_loop))) {
		errno = c->c_file.fi_errno;
		log_warn("open %s (answering 503 while out of descriptors)",
		    c->c_name);
	}
	conn_send_text(c, 503, "out of file descriptors, try again",
	    "Retry-After: 1\r\n");
}

/* Nothing of the name is here: 404, or ask the peers. */
static void
request_file_missing(struct conn *c)
{
	/* A lookup from another node is answered from local files only:
	 * lookups never travel further. */
	if (http_find_header(&c->c_req, PEER_LOOKUP_HEADER) != NULL ||
	    peer_set_count(c->c_srv->s_peers) == 0)
		conn_send_text(c, 404, "no such file", NULL);
	else
		miss_start(c);
}

/* The name is opened, or known to be missing: serve it, or look for it. */
static void
request_file_result(struct conn *c)
{
	struct server *s = c->c_srv;

	if (c->c_file.fi_fd == -1) {
		if (c->c_file.fi_errno == ENOENT) {
			metrics_add(&metrics_mine()->ms_local_misses, 1);
			/* A striped object kept here is local too. */
			if (s->s_stripe_get != NULL && !c->c_has_version)
				s->s_stripe_get(c, request_file_missing);
			else
				request_file_missing(c);
			return;
		}
		if (c->c_file.fi_errno == EACCES) {
			conn_send_text(c, 403, "file not readable", NULL);
			return;
		}
		if (c->c_file.fi_errno == EMFILE || c->c_file.fi_errno == ENFILE) {
			request_file_no_descriptors(c);
			return;
		}
		errno = c->c_file.fi_errno;
		log_warn("open %s", c->c_name);
		conn_send_text(c, 500, "cannot open the file", NULL);
		return;
	}
	/* A version may be another file than ROOT's under that name. */
	if (!c->c_has_version)
		filecache_put(s->s_filecache, c->c_name, c->c_name_len,
		    c->c_file.fi_fd, &c->c_file, c->c_job_out.data,
		    c->c_job_out.len, c->c_copy_expiry);
	request_file_send(c, c->c_job_out.len == c->c_file.fi_size ?
	    c->c_job_out.data : NULL);
	buf_free(&c->c_job_out);	/* idle connections hold no body */
}

static void
request_file_job_done(struct iopool_job *job)
{
	request_file_result(conn_of_job(job));
}

void
request_file_open(struct conn *c)
{
	conn_submit(c, request_file_job, request_file_job_done);
}

/*
 * Opens the name in the pool, unless the kernel's caches can tell from the
 * loop that there is no such file: then the miss (a 404 to a peer's
 * lookup, or the ask of every peer) starts at once, with no pool trip.
 */
void
request_file_start(struct conn *c)
{
	if (c->c_has_version) {
		c->c_open_fd = -1;
		request_file_open(c);
		return;
	}
	if (request_file_cached(c))
		return;
	c->c_open_fd = file_open_cached(c->c_srv->s_root_fd, c->c_name);
	if (c->c_open_fd == -1 && errno == ENOENT) {
		filecache_put_missing(c->c_srv->s_filecache, c->c_name,
		    c->c_name_len);
		memset(&c->c_file, 0, sizeof(c->c_file));
		c->c_file.fi_fd = -1;
		c->c_file.fi_errno = ENOENT;
		request_file_result(c);
		return;
	}
	request_file_open(c);
}

/* ------------------------------------------------------------------ */
/* The listing                                                        */

/* The listing is JSON when the client accepts application/json. */
static bool
request_wants_json(const struct conn *c)
{
	return c->c_req.accept.p != NULL &&
	    memmem(c->c_req.accept.p, c->c_req.accept.len, "application/json",
	    16) != NULL;
}

static void
request_list_job(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);

	buf_reset(&c->c_job_out);
	c->c_job_err = file_list(c->c_srv->s_root_fd, request_wants_json(c),
	    &c->c_job_out) == -1 ? errno : 0;
}

static void
request_list_job_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);

	if (c->c_job_err != 0) {
		errno = c->c_job_err;
		log_warn("listing %s", c->c_srv->s_cfg->root);
		conn_send_text(c, 500, "cannot list the files", NULL);
		return;
	}
	conn_send_body(c, request_wants_json(c) ? "application/json" :
	    "text/plain; charset=utf-8", "Vary: Accept\r\n", c->c_job_out.data,
	    c->c_job_out.len);
	buf_free(&c->c_job_out);
}

void
request_list(struct conn *c)
{
	conn_submit(c, request_list_job, request_list_job_done);
}
