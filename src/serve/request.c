/*
 * request.c - routing a parsed request to its answer (loop thread).
 *
 * Order of checks: the method (501 unknown, 405 known but not allowed
 * here), then the target (400 for a bad name), then the resource. File
 * metadata and data come from pool jobs (file.c); the rest is built here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
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
#include "peer/fanout.h"
#include "peer/peer.h"
#include "proc/worker.h"
#include "serve/conn.h"
#include "serve/relay.h"
#include "serve/request.h"
#include "serve/upload.h"
#include "store/file.h"
#include "store/filecache.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/name.h"

#define REQUEST_ALLOW_READ "Allow: GET, HEAD\r\n"
#define REQUEST_ALLOW_FILE "Allow: GET, HEAD, PUT, POST\r\n"
#define REQUEST_INLINE_MAX (64 * 1024)	/* files read with their open */

static bool
request_is_read(const struct conn *c)
{
	return c->c_req.method == HTTP_METHOD_GET ||
	    c->c_req.method == HTTP_METHOD_HEAD;
}

static void
request_open_work(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct worker *w = c->c_worker;
	struct index_entry e;
	enum index_lookup r;

	file_open(w->w_root_fd, c->c_name, c->c_open_fd, &c->c_file);
	c->c_open_fd = -1;
	if (c->c_file.fi_fd == -1)
		return;
	/* A saved copy whose time is up is never served, even before the
	 * sweeper removes it: to the client it is a miss. */
	r = index_lookup(w->w_index, c->c_name, c->c_name_len,
	    (const void *)&c->c_file.fi_id, loop_wall_ms(), &e);
	c->c_copy_expiry = r == INDEX_LOOKUP_COPY ? e.e_expiry_ms : 0;
	if (r == INDEX_LOOKUP_EXPIRED || r == INDEX_LOOKUP_ERROR) {
		close(c->c_file.fi_fd);
		c->c_file.fi_fd = -1;
		c->c_file.fi_errno = ENOENT;
		return;
	}
	/* A small file is read here at once, so the loop sends head and
	 * body together, without a second trip through the pool. */
	buf_reset(&c->c_job_out);
	if (c->c_req.method == HTTP_METHOD_GET &&
	    c->c_file.fi_size <= REQUEST_INLINE_MAX &&
	    file_read_all(c->c_file.fi_fd, &c->c_job_out,
	    c->c_file.fi_size) == -1)
		buf_reset(&c->c_job_out);	/* sendfile will do */
}

/* Builds the head of a file response: 200, 206, 304 or 416. */
static void
request_file_head(struct conn *c)
{
	const struct http_message *req = &c->c_req;
	const struct file_info *fi = &c->c_file;
	bool head = req->method == HTTP_METHOD_HEAD;
	char etag[CONDITION_ETAG_LEN + 1], lastmod[HTTPDATE_LEN + 1], num[96];
	time_t mtime = fi->fi_mtime.tv_sec;
	uint64_t first = 0, last = 0;
	enum range_result range = RANGE_NONE;
	struct buf *out = &c->c_out;

	condition_etag_format(fi->fi_digest, etag);
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
		range = range_parse(req->range.p, req->range.len, fi->fi_size,
		    &first, &last);
	if (range == RANGE_UNSATISFIABLE) {
		snprintf(num, sizeof(num), "Content-Range: bytes */%llu\r\n",
		    (unsigned long long)fi->fi_size);
		c->c_body_len = response_text(out, 416, "range not satisfiable",
		    num, head, c->c_close, conn_http10_keepalive(c));
		c->c_status = 416;
		return;
	}
	if (range == RANGE_NONE) {
		first = 0;
		last = fi->fi_size;	/* exclusive below */
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
		    (unsigned long long)fi->fi_size);
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
request_serve_opened(struct conn *c, const char *body)
{
	metrics_add(&metrics_mine()->ms_local_hits, 1);
	buf_reset(&c->c_out);
	request_file_head(c);
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

/* A hit in the worker's open-file cache is answered without the pool.
 * Returns false when the name is not cached (or cannot be used). */
static bool
request_from_cache(struct conn *c)
{
	const struct filecache_entry *e = filecache_get(c->c_worker->w_filecache,
	    c->c_name, c->c_name_len, loop_wall_ms());

	if (e == NULL)
		return false;
	c->c_file = e->fe_info;
	c->c_file.fi_fd = -1;
	if (c->c_req.method == HTTP_METHOD_GET && e->fe_body == NULL &&
	    e->fe_info.fi_size > 0) {
		/* A descriptor of its own: the response closes it. */
		c->c_file.fi_fd = fcntl(e->fe_fd, F_DUPFD_CLOEXEC, 0);
		if (c->c_file.fi_fd == -1)
			return false;
	}
	request_serve_opened(c, e->fe_body);
	return true;
}

/* Ends the fetch this request claimed, when it has one. */
static void
request_end_claim(struct conn *c, enum index_end how)
{
	struct worker *w = c->c_worker;
	int64_t now = loop_wall_ms();
	int64_t until = now + w->w_cfg->index.negative_ttl_ms;

	if (!c->c_claimed)
		return;
	c->c_claimed = false;
	if (how == INDEX_END_NEGATIVE && w->w_cfg->index.negative_ttl_ms == 0)
		how = INDEX_END_FAILED;
	(void)index_fetch_finish(w->w_index, c->c_name, c->c_name_len,
	    c->c_fetch_id, how, NULL, until, now);
}

/* A peer has the file: relay it, and keep a copy when that peer's `save`
 * says so (and this request holds the fetch of the name). */
static void
request_peer_hit(struct conn *c, struct peer_conn *pc)
{
	const struct worker *w = c->c_worker;
	const struct config_peer *cp = &w->w_cfg->peers[pc->pc_peer -
	    w->w_peers];
	bool save = cp->save && c->c_claimed;

	metrics_add(&metrics_mine()->ms_peer_hits, 1);
	if (!save)
		request_end_claim(c, INDEX_END_FAILED);	/* waiters go on */
	relay_start(c, pc, save, cp->ttl_ms);
}

static void
request_peer_miss(struct conn *c)
{
	request_end_claim(c, INDEX_END_NEGATIVE);
	metrics_add(&metrics_mine()->ms_peer_misses, 1);
	conn_send_text(c, 404, "no such file here or on any peer", NULL);
}

static void request_open_done(struct iopool_job *job);
static void request_opened(struct conn *c);
static void request_miss(struct conn *c);

#define REQUEST_WAIT_TICK_MS 10
#define REQUEST_WAIT_RECLAIM 25	/* ticks between claims regardless */

/* Another request fetches the name: look again when its entry changes
 * (or now and then, so that a stalled fetch is taken over). */
static void
request_wait_tick(struct loop *loop, struct loop_timer *t)
{
	struct conn *c = (struct conn *)(void *)((char *)t -
	    offsetof(struct conn, c_timer));

	if (index_fetch_changed(c->c_worker->w_index, &c->c_wait) ||
	    ++c->c_wait_ticks % REQUEST_WAIT_RECLAIM == 0) {
		request_miss(c);
		return;
	}
	loop_timer_set(loop, &c->c_timer, REQUEST_WAIT_TICK_MS,
	    request_wait_tick);
}

static void
request_fanout(struct conn *c)
{
	fanout_start(c, c->c_req.method == HTTP_METHOD_HEAD, request_peer_hit,
	    request_peer_miss);
}

/* True when some peer's copies are kept: only then is there a copy for
 * others to wait for. */
static bool
request_any_save(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].save)
			return true;
	return false;
}

/*
 * A local miss (GET or HEAD, not a lookup, peers configured). Through the
 * shared index, many requests for one name in any worker make one peer
 * transfer: the first claims the fetch, the others wait for its copy.
 */
static void
request_miss(struct conn *c)
{
	struct worker *w = c->c_worker;
	struct index_entry e;

	if (c->c_req.method == HTTP_METHOD_HEAD || !request_any_save(w->w_cfg)) {
		request_fanout(c);
		return;
	}
	switch (index_fetch_claim(w->w_index, c->c_name, c->c_name_len,
	    w->w_pid, loop_wall_ms(), w->w_cfg->peer_timeout_ms, &e)) {
	case INDEX_CLAIMED:
		c->c_claimed = true;
		c->c_fetch_id = e.e_fetch.f_id;
		request_fanout(c);
		return;
	case INDEX_CLAIM_BUSY:
		if (!c->c_waited)
			index_note_collapsed(w->w_index, 1);
		c->c_waited = true;
		c->c_wait = e.e_fetch;
		loop_timer_set(w->w_loop, &c->c_timer, REQUEST_WAIT_TICK_MS,
		    request_wait_tick);
		return;
	case INDEX_CLAIM_NEGATIVE:
		metrics_add(&metrics_mine()->ms_peer_misses, 1);
		conn_send_text(c, 404, "no such file here or on any peer",
		    NULL);
		return;
	case INDEX_CLAIM_COPY:
		/* Published since we looked: serve it (twice at most, in
		 * case the record is of a file since removed). */
		if (c->c_miss_tries++ < 2) {
			conn_submit(c, request_open_work, request_open_done);
			return;
		}
		break;
	case INDEX_CLAIM_EXPIRED:	/* the sweeper is about to remove it */
	case INDEX_CLAIM_FULL:
	case INDEX_CLAIM_ERROR:
		break;
	}
	request_fanout(c);	/* relayed, but no copy kept */
}

static void
request_open_done(struct iopool_job *job)
{
	request_opened(conn_of_job(job));
}

/* The worker is at its descriptor limit: a passing state, not the file's
 * fault. Said in the log at once, then at most once a minute. */
static void
request_out_of_descriptors(struct conn *c)
{
	static int64_t warned_ms = -1;

	if (log_due(&warned_ms, loop_now(c->c_worker->w_loop))) {
		errno = c->c_file.fi_errno;
		log_warn("open %s (answering 503 while out of descriptors)",
		    c->c_name);
	}
	conn_send_text(c, 503, "out of file descriptors, try again",
	    "Retry-After: 1\r\n");
}

/* The name is opened, or known to be missing: serve it, or look for it. */
static void
request_opened(struct conn *c)
{
	if (c->c_file.fi_fd == -1) {
		if (c->c_file.fi_errno == ENOENT) {
			metrics_add(&metrics_mine()->ms_local_misses, 1);
			/* A lookup from another node is answered from local
			 * files only: lookups never travel further. */
			if (http_find_header(&c->c_req, PEER_LOOKUP_HEADER) !=
			    NULL || c->c_worker->w_cfg->npeers == 0)
				conn_send_text(c, 404, "no such file", NULL);
			else
				request_miss(c);
			return;
		}
		if (c->c_file.fi_errno == EACCES) {
			conn_send_text(c, 403, "file not readable", NULL);
			return;
		}
		if (c->c_file.fi_errno == EMFILE || c->c_file.fi_errno == ENFILE) {
			request_out_of_descriptors(c);
			return;
		}
		errno = c->c_file.fi_errno;
		log_warn("open %s", c->c_name);
		conn_send_text(c, 500, "cannot open the file", NULL);
		return;
	}
	filecache_put(c->c_worker->w_filecache, c->c_name, c->c_name_len,
	    c->c_file.fi_fd, &c->c_file, c->c_job_out.data, c->c_job_out.len,
	    c->c_copy_expiry);
	request_serve_opened(c, c->c_job_out.len == c->c_file.fi_size ?
	    c->c_job_out.data : NULL);
	buf_free(&c->c_job_out);	/* idle connections hold no body */
}

/* The listing is JSON when the client accepts application/json. */
static bool
request_wants_json(const struct conn *c)
{
	return c->c_req.accept.p != NULL &&
	    memmem(c->c_req.accept.p, c->c_req.accept.len, "application/json",
	    16) != NULL;
}

static void
request_list_work(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);

	buf_reset(&c->c_job_out);
	c->c_job_err = file_list(c->c_worker->w_root_fd, request_wants_json(c),
	    &c->c_job_out) == -1 ? errno : 0;
}

static void
request_list_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	char len[32];

	if (c->c_job_err != 0) {
		errno = c->c_job_err;
		log_warn("listing %s", c->c_worker->w_cfg->root);
		conn_send_text(c, 500, "cannot list the files", NULL);
		return;
	}
	c->c_status = 200;
	buf_reset(&c->c_out);
	response_start(&c->c_out, 200);
	response_header(&c->c_out, "Content-Type", request_wants_json(c) ?
	    "application/json" : "text/plain; charset=utf-8");
	snprintf(len, sizeof(len), "%zu", c->c_job_out.len);
	response_header(&c->c_out, "Content-Length", len);
	response_header(&c->c_out, "Vary", "Accept");
	response_end(&c->c_out, c->c_close, conn_http10_keepalive(c));
	c->c_body_len = c->c_job_out.len;
	if (c->c_req.method != HTTP_METHOD_HEAD)
		buf_append(&c->c_out, c->c_job_out.data, c->c_job_out.len);
	buf_free(&c->c_job_out);
	conn_send(c);
}

static void
request_metrics(struct conn *c)
{
	struct buf body = { 0 };
	char len[32];

	metrics_render(&body);
	c->c_status = 200;
	buf_reset(&c->c_out);
	response_start(&c->c_out, 200);
	response_header(&c->c_out, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	snprintf(len, sizeof(len), "%zu", body.len);
	response_header(&c->c_out, "Content-Length", len);
	response_header(&c->c_out, "Cache-Control", "no-store");
	response_end(&c->c_out, c->c_close, conn_http10_keepalive(c));
	c->c_body_len = body.len;
	if (c->c_req.method != HTTP_METHOD_HEAD)
		buf_append(&c->c_out, body.data, body.len);
	buf_free(&body);
	conn_send(c);
}

static void
request_node(struct conn *c, const char *path)
{
	if (!request_is_read(c)) {
		conn_send_text(c, 405, "method not allowed here",
		    REQUEST_ALLOW_READ);
		return;
	}
	if (strcmp(path, "health") == 0)
		conn_send_text(c, 200, "ok", "Cache-Control: no-store\r\n");
	else if (strcmp(path, "metrics") == 0)
		request_metrics(c);
	else
		conn_send_text(c, 404, "no such endpoint", NULL);
}

/*
 * Opens the name in the pool, unless the kernel's caches can tell from the
 * loop that there is no such file: then the miss (a 404 to a peer's
 * lookup, or the ask of every peer) starts at once, with no pool trip.
 */
static void
request_open(struct conn *c)
{
	c->c_open_fd = file_open_cached(c->c_worker->w_root_fd, c->c_name);
	if (c->c_open_fd == -1 && errno == ENOENT) {
		memset(&c->c_file, 0, sizeof(c->c_file));
		c->c_file.fi_fd = -1;
		c->c_file.fi_errno = ENOENT;
		request_opened(c);
		return;
	}
	conn_submit(c, request_open_work, request_open_done);
}

void
request_handle(struct conn *c)
{
	const struct http_message *req = &c->c_req;
	const char *reason = NULL;
	enum name_kind kind;

	switch (req->method) {
	case HTTP_METHOD_PUT:
	case HTTP_METHOD_POST:
		upload_start(c);	/* it reads the body */
		return;
	default:
		break;
	}
	/* A body we do not read leaves the stream unframed: answer, then
	 * close. */
	if ((req->has_content_length && req->content_length > 0) ||
	    req->chunked)
		c->c_close = true;
	switch (req->method) {
	case HTTP_METHOD_OTHER:
		conn_send_text(c, 501, "method not implemented", NULL);
		return;
	case HTTP_METHOD_GET:
	case HTTP_METHOD_HEAD:
		break;
	default:
		conn_send_text(c, 405, "method not allowed",
		    REQUEST_ALLOW_FILE);
		return;
	}

	kind = name_from_target(req->target.p, req->target.len, c->c_name,
	    &c->c_name_len, &reason);
	switch (kind) {
	case NAME_INVALID:
		conn_send_text(c, 400, reason, NULL);
		return;
	case NAME_NODE:
		request_node(c, c->c_name);
		return;
	case NAME_ROOT:
		conn_submit(c, request_list_work, request_list_done);
		return;
	case NAME_FILE:
		if (!request_from_cache(c))
			request_open(c);
		return;
	}
}
