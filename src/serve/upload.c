/*
 * upload.c - PUT and POST (loop thread; disk work in the I/O pool).
 *
 * Phases: RESERVE (pool: name free, room, reservation), ASK (the peers),
 * BODY (read a buffer from the client, decode its framing, write it in the
 * pool, repeat), PUBLISH (pool), then the answer. Only one job at a time,
 * and the client is read only when the last buffer is on disk, so memory
 * is one buffer per upload and the client is slowed to the disk's pace.
 *
 * An upload is on the worker's list from start to end. When its
 * connection goes (client gone, answer sent) it is detached; if a job is
 * running or a temporary file is left, it stays on the list until the
 * cleanup is done, then frees itself.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/config.h"
#include "core/log.h"
#include "peer/fanout.h"
#include "peer/peer.h"
#include "proc/worker.h"
#include "serve/conn.h"
#include "serve/upload.h"
#include "store/file.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/name.h"

#define UPLOAD_BUF_SIZE (256 * 1024)

enum upload_job {
	UPLOAD_JOB_NONE,
	UPLOAD_JOB_RESERVE,
	UPLOAD_JOB_WRITE,
	UPLOAD_JOB_PUBLISH,
	UPLOAD_JOB_DISCARD,
};

struct upload {
	struct upload *u_prev, *u_next;	/* w_uploads */
	struct worker *u_worker;
	struct conn *u_conn;		/* NULL once detached */
	char u_name[NAME_MAX_LEN + 1];
	size_t u_name_len;
	uint64_t u_declared;		/* Content-Length, or 0 */

	/* the body */
	bool u_chunked;
	struct http_chunked u_chunk;
	uint64_t u_left;		/* Content-Length bytes to come */
	uint64_t u_received;		/* body bytes so far */
	bool u_body_done;
	char *u_buf;
	size_t u_raw;			/* raw bytes at u_buf, not decoded */
	size_t u_data;			/* decoded bytes at u_buf, to write */

	/* the file */
	int u_fd;			/* the reserved temporary file */
	char u_tmp[FILE_TMP_NAME_MAX];
	uint64_t u_off;
	XXH3_state_t *u_hash;
	uint64_t u_digest;

	struct iopool_job u_job;
	enum upload_job u_job_kind;
	bool u_job_busy;
	int u_job_err;
};

static void
upload_free(struct upload *u)
{
	struct worker *w = u->u_worker;

	if (u->u_prev != NULL)
		u->u_prev->u_next = u->u_next;
	else
		w->w_uploads = u->u_next;
	if (u->u_next != NULL)
		u->u_next->u_prev = u->u_prev;
	if (u->u_hash != NULL)
		XXH3_freeState(u->u_hash);
	free(u->u_buf);
	free(u);
}

static struct upload *
upload_of_job(struct iopool_job *job)
{
	return (struct upload *)(void *)((char *)job -
	    offsetof(struct upload, u_job));
}

static void upload_job_done(struct iopool_job *job);

static void
upload_job_work(struct iopool_job *job)
{
	struct upload *u = upload_of_job(job);
	struct worker *w = u->u_worker;

	u->u_job_err = 0;
	switch (u->u_job_kind) {
	case UPLOAD_JOB_RESERVE:
		u->u_fd = file_reserve(w->w_root_fd, w->w_tmp_fd, u->u_name,
		    u->u_declared, u->u_tmp);
		if (u->u_fd == -1)
			u->u_job_err = errno;
		break;
	case UPLOAD_JOB_WRITE:
		if (file_write_all(u->u_fd, u->u_buf, u->u_data, u->u_off)
		    == -1) {
			u->u_job_err = errno;
			break;
		}
		XXH3_64bits_update(u->u_hash, u->u_buf, u->u_data);
		u->u_off += u->u_data;
		break;
	case UPLOAD_JOB_PUBLISH:
		u->u_digest = XXH3_64bits_digest(u->u_hash);
		if (file_publish(u->u_fd, w->w_tmp_fd, u->u_tmp, w->w_root_fd,
		    u->u_name, NULL, u->u_digest) == -1)
			u->u_job_err = errno;
		else	/* "nobody has it" is wrong from now on */
			(void)index_remove(w->w_index, u->u_name, u->u_name_len);
		u->u_fd = -1;
		break;
	case UPLOAD_JOB_DISCARD:
		file_tmp_discard(u->u_fd, w->w_tmp_fd, u->u_tmp);
		u->u_fd = -1;
		break;
	case UPLOAD_JOB_NONE:
		break;
	}
}

static void
upload_submit(struct upload *u, enum upload_job kind)
{
	u->u_job_kind = kind;
	u->u_job.work = upload_job_work;
	u->u_job.done = upload_job_done;
	u->u_job_busy = true;
	iopool_submit(u->u_worker->w_pool, &u->u_job);
}

/* Without a connection, only the cleanup is left: remove the temporary
 * file, then go. */
static void
upload_cleanup(struct upload *u)
{
	if (u->u_job_busy)
		return;
	if (u->u_fd != -1) {
		upload_submit(u, UPLOAD_JOB_DISCARD);
		return;
	}
	upload_free(u);
}

/* Ends the upload with an answer (the body may be unread: then the
 * connection closes after it). */
static void
upload_fail(struct upload *u, int status, const char *reason,
    const char *extra)
{
	struct conn *c = u->u_conn;

	u->u_conn = NULL;
	c->c_upload = NULL;
	metrics_count_upload(status);
	if (!u->u_body_done)
		c->c_close = true;
	conn_send_text(c, status, reason, extra);
	upload_cleanup(u);
}

/* The client went away or broke the stream: nobody to answer. */
static void
upload_gone(struct upload *u, const char *why)
{
	struct conn *c = u->u_conn;

	log_info("upload of %s from %s abandoned: %s", u->u_name, c->c_addr,
	    why);
	u->u_conn = NULL;
	c->c_upload = NULL;
	metrics_count_upload(0);
	c->c_status = 499;	/* for the log: the client closed (as nginx) */
	conn_abort(c);
	upload_cleanup(u);
}

static void upload_pump(struct upload *u);
static void upload_ask_peers(struct upload *u);

/* The rest of a read that belongs to the next request goes back to the
 * connection's input. */
static void
upload_give_back(struct upload *u, const char *p, size_t n)
{
	struct conn *c = u->u_conn;

	if (n == 0)
		return;
	if (c->c_in_len + n > c->c_in_cap) {
		c->c_in = xrealloc(c->c_in, c->c_in_len + n);
		c->c_in_cap = c->c_in_len + n;
	}
	memcpy(c->c_in + c->c_in_len, p, n);
	c->c_in_len += n;
}

/* Turns the raw bytes in u_buf into body bytes to write. Returns 0, or -1
 * when the upload ended (answered). */
static int
upload_decode(struct upload *u)
{
	const struct config *cfg = u->u_worker->w_cfg;
	size_t data;

	if (u->u_chunked) {
		size_t consumed = 0;
		enum http_chunked_result r = http_chunked_decode(&u->u_chunk,
		    u->u_buf, u->u_raw, &consumed, &data);

		if (r == HTTP_CHUNKED_ERROR) {
			upload_fail(u, 400, "bad chunked encoding", NULL);
			return -1;
		}
		if (r == HTTP_CHUNKED_DONE) {
			u->u_body_done = true;
			upload_give_back(u, u->u_buf + consumed,
			    u->u_raw - consumed);
		}
	} else {
		data = u->u_raw < u->u_left ? u->u_raw : (size_t)u->u_left;
		u->u_left -= data;
		if (u->u_left == 0) {
			u->u_body_done = true;
			upload_give_back(u, u->u_buf + data, u->u_raw - data);
		}
	}
	u->u_raw = 0;
	u->u_data = data;
	u->u_received += data;
	if (u->u_received > cfg->upload.max_size) {
		upload_fail(u, 413, "larger than upload.max_size", NULL);
		return -1;
	}
	return 0;
}

/* Reads what the client has. Returns 1 with bytes in u_buf, 0 to wait,
 * -1 when the upload ended. */
static int
upload_read(struct upload *u)
{
	struct conn *c = u->u_conn;
	size_t want = UPLOAD_BUF_SIZE;
	ssize_t n;

	/* With a length, never read into the next request. */
	if (!u->u_chunked && u->u_left < want)
		want = (size_t)u->u_left;
	do
		n = recv(c->c_fd, u->u_buf, want, 0);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		u->u_raw = (size_t)n;
		metrics_add(&metrics_mine()->ms_bytes_received, (uint64_t)n);
		return 1;
	}
	if (n == -1 && errno == EAGAIN) {
		conn_wait_readable(c);
		return 0;
	}
	upload_gone(u, n == 0 ? "the client closed the connection" :
	    strerror(errno));
	return -1;
}

static void
upload_created(struct upload *u)
{
	struct conn *c = u->u_conn;
	char target[3 * NAME_MAX_LEN + 1], extra[3 * NAME_MAX_LEN + 64];

	name_encode(u->u_name, u->u_name_len, target, sizeof(target));
	snprintf(extra, sizeof(extra), "Location: /%s\r\nETag: \"%016llx\"\r\n",
	    target, (unsigned long long)u->u_digest);
	metrics_add(&metrics_mine()->ms_upload_bytes, u->u_received);
	log_info("stored %s (%llu bytes) from %s", u->u_name,
	    (unsigned long long)u->u_received, c->c_addr);
	u->u_conn = NULL;
	c->c_upload = NULL;
	metrics_count_upload(201);
	conn_send_text(c, 201, "created", extra);
	upload_cleanup(u);
}

static void
upload_pump(struct upload *u)
{
	for (;;) {
		if (u->u_job_busy)
			return;
		if (u->u_data > 0) {
			conn_wait_nothing(u->u_conn);
			upload_submit(u, UPLOAD_JOB_WRITE);
			return;
		}
		if (u->u_body_done) {
			conn_wait_nothing(u->u_conn);
			upload_submit(u, UPLOAD_JOB_PUBLISH);
			return;
		}
		if (u->u_raw == 0 && upload_read(u) <= 0)
			return;
		if (upload_decode(u) == -1)
			return;
	}
}

static void
upload_job_done(struct iopool_job *job)
{
	struct upload *u = upload_of_job(job);
	int err = u->u_job_err;

	u->u_job_busy = false;
	if (u->u_conn == NULL) {
		upload_cleanup(u);
		return;
	}
	switch (u->u_job_kind) {
	case UPLOAD_JOB_RESERVE:
		if (err == EEXIST || err == EBUSY) {
			upload_fail(u, 409, err == EEXIST ? "the name exists "
			    "on this node" : "the name is being uploaded", NULL);
			return;
		}
		if (err == ENOSPC || err == EDQUOT) {
			upload_fail(u, 507, "not enough free space", NULL);
			return;
		}
		if (err != 0) {
			errno = err;
			log_warn("reserving %s for an upload", u->u_name);
			upload_fail(u, 500, "cannot store the file", NULL);
			return;
		}
		upload_ask_peers(u);
		return;
	case UPLOAD_JOB_WRITE:
		if (err != 0) {
			errno = err;
			if (err == ENOSPC || err == EDQUOT) {
				log_warnx("upload of %s: disk full", u->u_name);
				upload_fail(u, 507, "disk full", NULL);
			} else {
				log_warn("writing the upload of %s", u->u_name);
				upload_fail(u, 500, "cannot store the file",
				    NULL);
			}
			return;
		}
		u->u_data = 0;
		break;
	case UPLOAD_JOB_PUBLISH:
		if (err == EEXIST) {
			upload_fail(u, 409, "the name was taken meanwhile",
			    NULL);
			return;
		}
		if (err != 0) {
			errno = err;
			log_warn("publishing the upload of %s", u->u_name);
			upload_fail(u, err == ENOSPC || err == EDQUOT ? 507 :
			    500, "cannot store the file", NULL);
			return;
		}
		upload_created(u);
		return;
	case UPLOAD_JOB_DISCARD:
	case UPLOAD_JOB_NONE:
		break;
	}
	upload_pump(u);
}

/* The name is free here and on every peer that answered: the body. */
static void
upload_begin_body(struct upload *u)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct conn *c = u->u_conn;
	size_t leftover = c->c_in_len - c->c_head_len;

	u->u_buf = xrealloc(NULL, UPLOAD_BUF_SIZE);
	u->u_hash = XXH3_createState();
	if (u->u_hash == NULL) {
		upload_fail(u, 500, "out of memory", NULL);
		return;
	}
	XXH3_64bits_reset(u->u_hash);
	/* Body bytes that came with the head (never more than a head). */
	memcpy(u->u_buf, c->c_in + c->c_head_len, leftover);
	u->u_raw = leftover;
	c->c_in_len = c->c_head_len;
	if (c->c_req.expect_continue &&
	    send(c->c_fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(cont) - 1) {
		/* 25 bytes into an idle socket: failing means it is gone. */
		upload_gone(u, "cannot send 100 Continue");
		return;
	}
	c->c_state = CONN_UPLOAD;
	upload_pump(u);
}

static void
upload_peer_has(struct conn *c, struct peer_conn *pc)
{
	peer_conn_close(pc);
	upload_fail(c->c_upload, 409, "the name exists on a peer", NULL);
}

static void
upload_peer_none(struct conn *c)
{
	upload_begin_body(c->c_upload);
}

/* Every peer at once: does it have the name? Peers that cannot be reached
 * do not block the upload. */
static void
upload_ask_peers(struct upload *u)
{
	struct conn *c = u->u_conn;

	if (c->c_worker->w_cfg->npeers == 0) {
		upload_begin_body(u);
		return;
	}
	fanout_start(c, true, upload_peer_has, upload_peer_none);
}

/* "Bearer TOKEN", compared in time independent of where it differs (the
 * length of the token is not a secret worth hiding). */
static bool
upload_token_ok(struct http_str auth, const char *token)
{
	size_t tlen = strlen(token), glen, i;
	unsigned char diff;
	const char *given;

	if (auth.p == NULL || auth.len < 7 || strncasecmp(auth.p, "Bearer ",
	    7) != 0)
		return false;
	given = auth.p + 7;
	glen = auth.len - 7;
	diff = glen != tlen;
	for (i = 0; i < tlen; i++)
		diff |= (unsigned char)(token[i] ^ (i < glen ? given[i] : 0));
	return diff == 0;
}

/* A random (version 4) UUID, lower-case, for "POST /". */
static int
upload_uuid(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* An early answer, before any upload state exists. */
static void
upload_refuse(struct conn *c, int status, const char *reason,
    const char *extra)
{
	metrics_count_upload(status);
	if ((c->c_req.has_content_length && c->c_req.content_length > 0) ||
	    c->c_req.chunked)
		c->c_close = true;	/* the body is not read */
	conn_send_text(c, status, reason, extra);
}

void
upload_start(struct conn *c)
{
	const struct config *cfg = c->c_worker->w_cfg;
	const struct http_message *req = &c->c_req;
	struct worker *w = c->c_worker;
	const char *reason = NULL;
	struct upload *u;
	char uuid[37];

	if (!cfg->upload.enabled) {
		upload_refuse(c, 403, "uploads are disabled", NULL);
		return;
	}
	if (cfg->upload.token != NULL &&
	    !upload_token_ok(req->authorization, cfg->upload.token)) {
		upload_refuse(c, 401, "a valid upload token is required",
		    "WWW-Authenticate: Bearer\r\n");
		return;
	}
	switch (name_from_target(req->target.p, req->target.len, c->c_name,
	    &c->c_name_len, &reason)) {
	case NAME_INVALID:
		upload_refuse(c, 400, reason, NULL);
		return;
	case NAME_NODE:
		upload_refuse(c, 405, "method not allowed here",
		    "Allow: GET, HEAD\r\n");
		return;
	case NAME_ROOT:
		if (req->method == HTTP_METHOD_PUT) {
			upload_refuse(c, 405, "PUT needs a name; POST / picks "
			    "one", "Allow: GET, HEAD, POST\r\n");
			return;
		}
		if (upload_uuid(uuid) == -1) {
			log_warn("getrandom");
			upload_refuse(c, 500, "cannot pick a name", NULL);
			return;
		}
		c->c_name_len = strlen(uuid);
		memcpy(c->c_name, uuid, c->c_name_len + 1);
		break;
	case NAME_FILE:
		break;
	}
	if (!req->has_content_length && !req->chunked) {
		upload_refuse(c, 411, "Content-Length or chunked encoding "
		    "required", NULL);
		return;
	}
	if (req->content_range.p != NULL) {
		upload_refuse(c, 400, "Content-Range is not supported", NULL);
		return;
	}
	if (req->has_content_length &&
	    req->content_length > cfg->upload.max_size) {
		upload_refuse(c, 413, "larger than upload.max_size", NULL);
		return;
	}

	u = xcalloc(1, sizeof(*u));
	u->u_worker = w;
	u->u_conn = c;
	u->u_fd = -1;
	memcpy(u->u_name, c->c_name, c->c_name_len + 1);
	u->u_name_len = c->c_name_len;
	u->u_chunked = req->chunked;
	if (u->u_chunked)
		http_chunked_init(&u->u_chunk);
	u->u_left = req->has_content_length ? req->content_length : 0;
	u->u_declared = u->u_left;
	u->u_body_done = !u->u_chunked && u->u_left == 0;
	u->u_next = w->w_uploads;
	if (u->u_next != NULL)
		u->u_next->u_prev = u;
	w->w_uploads = u;
	c->c_upload = u;
	upload_submit(u, UPLOAD_JOB_RESERVE);
}

void
upload_client_io(struct conn *c, short revents)
{
	/* While a job runs nothing is polled for, yet poll still reports a
	 * dead socket: acting on it now keeps the loop from spinning. */
	if ((revents & (POLLERR | POLLHUP)) && c->c_upload->u_job_busy) {
		upload_gone(c->c_upload, "the connection was reset");
		return;
	}
	upload_pump(c->c_upload);
}

void
upload_timeout(struct conn *c)
{
	struct upload *u = c->c_upload;

	log_info("upload of %s from %s: no body bytes for %lld ms", u->u_name,
	    c->c_addr, (long long)c->c_worker->w_cfg->http.body_timeout_ms);
	upload_fail(u, 408, "request body not received in time", NULL);
}

void
upload_abort(struct conn *c)
{
	struct upload *u = c->c_upload;

	if (u == NULL)
		return;
	u->u_conn = NULL;
	c->c_upload = NULL;
	metrics_count_upload(0);
	upload_cleanup(u);
}

void
upload_teardown(struct worker *w)
{
	while (w->w_uploads != NULL) {
		struct upload *u = w->w_uploads;

		if (u->u_conn != NULL)
			u->u_conn->c_upload = NULL;
		/* At exit no pool is left: remove the temporary here. */
		if (u->u_fd != -1)
			file_tmp_discard(u->u_fd, w->w_tmp_fd, u->u_tmp);
		upload_free(u);
	}
}
