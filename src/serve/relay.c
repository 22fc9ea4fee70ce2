/*
 * relay.c - the winning peer's answer, streamed to the client and saved
 * (loop thread; disk work in the I/O pool).
 *
 * One block at a time: the peer connection hands over the bytes it read
 * (peer_conn_data); the client is sent them and, when saving, a pool job
 * writes them to the temporary file at the same time; when both are done
 * the block is given back (peer_conn_consumed) and the peer is read again.
 * So memory per relay is one peer buffer, and the peer is read no faster
 * than the slower of the client and the disk.
 *
 * Saving: OPEN (create the temporary file), WRITE (each block, hashed for
 * the ETag), then PUBLISH (length checked, fsync, link into place without
 * replacing anything, fsync ROOT) or DISCARD. One job at a time.
 *
 * The client and the copy are independent: the client's request ends as
 * soon as it has every byte (the fsyncs are not its business), and a
 * client that walks away does not stop a healthy transfer that is being
 * saved; only a failed peer does. relay_pump() is called whenever
 * something may move, and frees the relay once nothing is left: no client,
 * no peer connection, no job, no temporary file. Every relay is on the
 * worker's list until then, for teardown.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/config.h"
#include "core/log.h"
#include "event/iopool.h"
#include "http/condition.h"
#include "http/httpdate.h"
#include "http/mime.h"
#include "http/response.h"
#include "peer/peer.h"
#include "proc/worker.h"
#include "serve/conn.h"
#include "serve/relay.h"
#include "store/file.h"
#include "store/index.h"
#include "store/metrics.h"

enum relay_job {
	RELAY_JOB_NONE,
	RELAY_JOB_OPEN,
	RELAY_JOB_WRITE,
	RELAY_JOB_PUBLISH,
	RELAY_JOB_DISCARD,
};

enum relay_save {
	SAVE_OFF,		/* not saving, or given up */
	SAVE_OPENING,
	SAVE_READY,
	SAVE_DONE,		/* published (or tried to) */
};

struct relay {
	struct relay *r_prev, *r_next;	/* w_relays */
	struct worker *r_worker;
	struct conn *r_conn;		/* NULL once the client is done */
	struct peer_conn *r_pc;		/* NULL once the peer side is over */
	int r_metrics;			/* the peer's metrics index */
	char r_name[NAME_MAX_LEN + 1];

	/* client side */
	bool r_chunked_out;		/* we frame the body in chunks */
	bool r_expect_len;		/* the peer promised r_length bytes */
	uint64_t r_length;
	uint64_t r_received;		/* body bytes from the peer */
	char *r_data;			/* the current block */
	size_t r_len;
	size_t r_sent;			/* of the block, framing included */
	size_t r_frame_len;		/* chunk framing before the block */
	char r_frame[24];		/* "HEX\r\n" */
	bool r_client_done;		/* the block went to the client */
	bool r_peer_done;		/* the whole body arrived */
	bool r_trailer_queued;		/* "0\r\n\r\n" put in c_out */

	/* disk side */
	enum relay_save r_save;
	bool r_disk_done;		/* the block is on disk */
	int r_fd;
	char r_tmp[FILE_TMP_NAME_MAX];
	XXH3_state_t *r_hash;
	uint64_t r_disk_off;
	bool r_have_digest;		/* the peer's ETag carries its digest */
	uint64_t r_digest;
	bool r_have_mtime;
	struct timespec r_mtime;
	struct file_identity r_id;	/* of the sealed copy */

	/* the shared index: this relay's fetch of the name */
	bool r_claimed;
	uint64_t r_fetch_id;
	int64_t r_ttl_ms;		/* of the winning peer; 0 for ever */
	int64_t r_expiry;		/* wall-clock ms, or 0 */

	struct iopool_job r_job;
	enum relay_job r_job_kind;
	bool r_job_busy;
	int r_job_err;
};

static char relay_crlf[] = "\r\n";

static void relay_pump(struct relay *r);
static void relay_on_head(struct peer_conn *pc, void *arg);
static void relay_on_body(struct peer_conn *pc, void *arg);
static void relay_on_done(struct peer_conn *pc, void *arg);
static void relay_on_fail(struct peer_conn *pc, enum peer_failure why,
    void *arg);

static const struct peer_handler relay_handler = {
	relay_on_head, relay_on_body, relay_on_done, relay_on_fail,
};

static struct relay *
relay_of_job(struct iopool_job *job)
{
	return (struct relay *)(void *)((char *)job -
	    offsetof(struct relay, r_job));
}

/* Ends this relay's fetch in the index when it still holds one: the entry
 * goes, and the waiters try for themselves. (A published copy is recorded
 * by the publish job itself.) */
static void
relay_end_claim(struct relay *r, enum index_end how)
{
	if (!r->r_claimed)
		return;
	r->r_claimed = false;
	(void)index_fetch_finish(r->r_worker->w_index, r->r_name,
	    strlen(r->r_name), r->r_fetch_id, how, NULL, 0, loop_wall_ms());
}

/* Tells the waiters how far the copy is. A fetch taken over or cancelled
 * (an upload of the name) is no longer ours: stop reporting. */
static void
relay_progress(struct relay *r)
{
	if (r->r_claimed && index_fetch_progress(r->r_worker->w_index,
	    r->r_name, strlen(r->r_name), r->r_fetch_id, r->r_disk_off,
	    r->r_expect_len ? r->r_length : INDEX_SIZE_UNKNOWN, r->r_tmp,
	    loop_wall_ms()) == -1 && errno == ESTALE)
		r->r_claimed = false;
}

static void
relay_free(struct relay *r)
{
	struct worker *w = r->r_worker;

	relay_end_claim(r, INDEX_END_FAILED);
	if (r->r_prev != NULL)
		r->r_prev->r_next = r->r_next;
	else
		w->w_relays = r->r_next;
	if (r->r_next != NULL)
		r->r_next->r_prev = r->r_prev;
	if (r->r_pc != NULL)
		peer_conn_close(r->r_pc);
	if (r->r_fd != -1)
		close(r->r_fd);
	if (r->r_hash != NULL)
		XXH3_freeState(r->r_hash);
	free(r);
}

/* ------------------------------------------------------------------ */
/* Disk jobs (the work functions run in pool threads)                 */

static void
relay_job_work(struct iopool_job *job)
{
	struct relay *r = relay_of_job(job);
	struct worker *w = r->r_worker;

	r->r_job_err = 0;
	switch (r->r_job_kind) {
	case RELAY_JOB_OPEN:
		r->r_fd = file_tmp_create(w->w_tmp_fd, "fill", r->r_tmp);
		if (r->r_fd == -1)
			r->r_job_err = errno;
		break;
	case RELAY_JOB_WRITE:
		if (file_write_all(r->r_fd, r->r_data, r->r_len,
		    r->r_disk_off) == -1) {
			r->r_job_err = errno;
			break;
		}
		XXH3_64bits_update(r->r_hash, r->r_data, r->r_len);
		r->r_disk_off += r->r_len;
		break;
	case RELAY_JOB_PUBLISH:
		if (file_seal(r->r_fd, r->r_have_mtime ? &r->r_mtime : NULL,
		    r->r_have_digest ? r->r_digest :
		    XXH3_64bits_digest(r->r_hash), &r->r_id) == -1) {
			r->r_job_err = errno;
			file_tmp_discard(r->r_fd, w->w_tmp_fd, r->r_tmp);
			r->r_fd = -1;
			break;
		}
		/* Announced before the link: if this process dies between
		 * the two, the index still knows when the copy expires. */
		r->r_expiry = r->r_ttl_ms > 0 ? loop_wall_ms() + r->r_ttl_ms :
		    0;
		if (r->r_claimed)
			(void)index_fetch_publishing(w->w_index, r->r_name,
			    strlen(r->r_name), r->r_fetch_id,
			    (const void *)&r->r_id, r->r_expiry,
			    loop_wall_ms());
		if (file_link(r->r_fd, w->w_tmp_fd, r->r_tmp, w->w_root_fd,
		    r->r_name) == -1) {
			r->r_job_err = errno;
			r->r_fd = -1;
			break;
		}
		r->r_fd = -1;
		/* Recorded here, in the same job: a copy the index cannot
		 * hold would never expire, so it is removed at once. */
		if (r->r_claimed) {
			r->r_claimed = false;
			if (index_fetch_finish(w->w_index, r->r_name,
			    strlen(r->r_name), r->r_fetch_id, INDEX_END_COPY,
			    (const void *)&r->r_id, r->r_expiry,
			    loop_wall_ms()) == -1) {
				(void)file_remove_copy(w->w_root_fd,
				    w->w_tmp_fd, r->r_name, &r->r_id);
				r->r_job_err = ENOSPC;
			}
		}
		break;
	case RELAY_JOB_DISCARD:
		file_tmp_discard(r->r_fd, w->w_tmp_fd, r->r_tmp);
		r->r_fd = -1;
		break;
	case RELAY_JOB_NONE:
		break;
	}
}

static void relay_job_done(struct iopool_job *job);

static void
relay_submit(struct relay *r, enum relay_job kind)
{
	r->r_job_kind = kind;
	r->r_job.work = relay_job_work;
	r->r_job.done = relay_job_done;
	r->r_job_busy = true;
	iopool_submit(r->r_worker->w_pool, &r->r_job);
}

/* Gives up the copy; the temporary file goes as soon as no job runs. */
static void
relay_drop_save(struct relay *r)
{
	if (r->r_save == SAVE_OPENING || r->r_save == SAVE_READY)
		metrics_add(&metrics_mine()->ms_save_failures, 1);
	r->r_save = SAVE_OFF;
	if (!r->r_job_busy && r->r_fd != -1)
		relay_submit(r, RELAY_JOB_DISCARD);
}

static void
relay_job_done(struct iopool_job *job)
{
	struct relay *r = relay_of_job(job);
	enum relay_job kind = r->r_job_kind;

	r->r_job_busy = false;
	r->r_job_kind = RELAY_JOB_NONE;
	switch (kind) {
	case RELAY_JOB_OPEN:
		if (r->r_job_err != 0) {
			errno = r->r_job_err;
			log_warn("saving %s: temporary file", r->r_name);
			relay_drop_save(r);
		} else if (r->r_save == SAVE_OPENING) {
			r->r_save = SAVE_READY;
		}
		break;
	case RELAY_JOB_WRITE:
		if (r->r_job_err != 0) {
			errno = r->r_job_err;
			log_warn("saving %s", r->r_name);
			relay_drop_save(r);
		} else {
			relay_progress(r);
		}
		r->r_disk_done = true;	/* written, or not to be written */
		break;
	case RELAY_JOB_PUBLISH:
		if (r->r_job_err == EEXIST) {
			log_debug("saving %s: the name was taken meanwhile",
			    r->r_name);
		} else if (r->r_job_err == ENOSPC && !r->r_claimed) {
			log_warnx("index full: the copy of %s was not kept",
			    r->r_name);
			metrics_add(&metrics_mine()->ms_save_failures, 1);
		} else if (r->r_job_err != 0) {
			errno = r->r_job_err;
			log_warn("publishing %s", r->r_name);
			metrics_add(&metrics_mine()->ms_save_failures, 1);
		} else {
			metrics_add(&metrics_mine()->ms_saved, 1);
			log_info("saved a copy of %s", r->r_name);
		}
		relay_end_claim(r, INDEX_END_FAILED);	/* when not done */
		break;
	case RELAY_JOB_DISCARD:
	case RELAY_JOB_NONE:
		break;
	}
	/* A copy given up while a job held the file is removed now. */
	if (r->r_save == SAVE_OFF && r->r_fd != -1 && !r->r_job_busy) {
		relay_submit(r, RELAY_JOB_DISCARD);
		return;
	}
	relay_pump(r);
}

/* ------------------------------------------------------------------ */
/* The client side                                                    */

/* The client's request is over: complete (it has every byte) or cut (the
 * connection closes, so a short body cannot pass for a whole one). */
static void
relay_client_end(struct relay *r, bool complete)
{
	struct conn *c = r->r_conn;

	r->r_conn = NULL;
	c->c_relay = NULL;
	if (complete)
		conn_done(c);
	else
		conn_abort(c);
}

/* The client went away (or stopped reading). A transfer being saved goes
 * on without it; otherwise relay_pump() drops the peer connection. */
static void
relay_client_gone(struct relay *r)
{
	relay_client_end(r, false);
	relay_pump(r);
}

/* Sends what is pending to the client: the head, the block, a trailer.
 * Returns 1 when everything went (or there is no client), 0 when the
 * socket is full (POLLOUT armed), -1 when the client is gone. */
static int
relay_send(struct relay *r)
{
	struct conn *c = r->r_conn;
	struct iovec iov[4];
	struct msghdr msg;
	int n_iov;
	ssize_t n;

	if (c == NULL) {
		r->r_client_done = true;
		return 1;
	}
	for (;;) {
		size_t skip;

		n_iov = 0;
		if (c->c_out_off < c->c_out.len) {
			iov[n_iov].iov_base = c->c_out.data + c->c_out_off;
			iov[n_iov++].iov_len = c->c_out.len - c->c_out_off;
		}
		if (r->r_len > 0 && !r->r_client_done) {
			/* frame, data, CRLF: minus what already went */
			skip = r->r_sent;
			if (skip < r->r_frame_len) {
				iov[n_iov].iov_base = r->r_frame + skip;
				iov[n_iov++].iov_len = r->r_frame_len - skip;
				skip = 0;
			} else {
				skip -= r->r_frame_len;
			}
			if (skip < r->r_len) {
				iov[n_iov].iov_base = r->r_data + skip;
				iov[n_iov++].iov_len = r->r_len - skip;
				skip = 0;
			} else {
				skip -= r->r_len;
			}
			if (r->r_chunked_out) {
				iov[n_iov].iov_base = relay_crlf + skip;
				iov[n_iov++].iov_len = 2 - skip;
			}
		}
		if (n_iov == 0)
			return 1;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n_iov;
		n = sendmsg(c->c_fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			conn_wait_writable(c);
			return 0;
		}
		if (n <= 0)
			return -1;
		c->c_sent += (uint64_t)n;
		/* The head goes first, then the block. */
		if (c->c_out_off < c->c_out.len) {
			size_t h = c->c_out.len - c->c_out_off;

			if ((size_t)n <= h) {
				c->c_out_off += (size_t)n;
				continue;
			}
			c->c_out_off = c->c_out.len;
			n -= (ssize_t)h;
		}
		r->r_sent += (size_t)n;
		if (r->r_sent == r->r_frame_len + r->r_len +
		    (r->r_chunked_out ? 2 : 0))
			r->r_client_done = true;
	}
}

/* Moves everything forward that can move; frees the relay when it is
 * over. */
static void
relay_pump(struct relay *r)
{
	int sent;

	for (;;) {
		if (r->r_conn == NULL && r->r_save == SAVE_OFF &&
		    r->r_pc != NULL && !r->r_job_busy) {
			/* Nobody wants the rest: no client, no copy. (A job
			 * may be reading the peer's buffer: not before.) */
			peer_conn_close(r->r_pc);
			r->r_pc = NULL;
			r->r_len = 0;
		}
		sent = relay_send(r);
		if (sent < 0) {
			relay_client_gone(r);
			return;
		}
		if (r->r_len > 0) {
			if (r->r_save == SAVE_OPENING)
				return;		/* the file first */
			if (r->r_save == SAVE_READY && !r->r_disk_done &&
			    !r->r_job_busy)
				relay_submit(r, RELAY_JOB_WRITE);
			if (!r->r_client_done || r->r_job_busy)
				return;		/* POLLOUT or the job calls */
			if (r->r_save == SAVE_READY && !r->r_disk_done)
				return;
			r->r_len = 0;
			if (r->r_pc != NULL)
				peer_conn_consumed(r->r_pc);
			return;			/* on_body or on_done next */
		}
		if (r->r_pc != NULL && !r->r_peer_done)
			return;			/* the peer is sending */
		if (r->r_peer_done && r->r_conn != NULL && r->r_chunked_out &&
		    !r->r_trailer_queued) {
			buf_append_str(&r->r_conn->c_out, "0\r\n\r\n");
			r->r_trailer_queued = true;
			continue;
		}
		break;
	}
	if (r->r_job_busy || r->r_save == SAVE_OPENING)
		return;
	if (r->r_peer_done && r->r_save == SAVE_READY) {
		if (r->r_expect_len && r->r_disk_off != r->r_length) {
			log_warnx("saving %s: %llu bytes written, %llu expected",
			    r->r_name, (unsigned long long)r->r_disk_off,
			    (unsigned long long)r->r_length);
			relay_drop_save(r);
		} else {
			r->r_save = SAVE_DONE;
			relay_submit(r, RELAY_JOB_PUBLISH);
		}
	}
	/* The client has every byte: it need not wait for the disk. */
	if (r->r_conn != NULL && sent == 1 && r->r_peer_done)
		relay_client_end(r, true);
	if (r->r_conn == NULL && r->r_pc == NULL && !r->r_job_busy &&
	    r->r_fd == -1)
		relay_free(r);
}

void
relay_client_io(struct conn *c, short revents)
{
	struct relay *r = c->c_relay;

	if (revents & (POLLERR | POLLHUP | POLLRDHUP)) {
		relay_client_gone(r);	/* the client walked away */
		return;
	}
	conn_wait_hangup(c);
	relay_pump(r);
}

void
relay_client_timeout(struct conn *c)
{
	log_debug("send timeout to %s relaying %s", c->c_addr, c->c_name);
	relay_client_gone(c->c_relay);
}

void
relay_abort(struct conn *c)
{
	struct relay *r = c->c_relay;

	if (r == NULL)
		return;
	/* The connection is being freed: only detach from it. */
	r->r_conn = NULL;
	c->c_relay = NULL;
	relay_pump(r);
}

void
relay_teardown(struct worker *w)
{
	while (w->w_relays != NULL) {
		struct relay *r = w->w_relays;

		if (r->r_conn != NULL)
			r->r_conn->c_relay = NULL;
		r->r_pc = NULL;		/* peer_teardown frees them */
		/* At exit, no pool is left: remove the temporary here. */
		if (r->r_fd != -1) {
			file_tmp_discard(r->r_fd, w->w_tmp_fd, r->r_tmp);
			r->r_fd = -1;
		}
		relay_free(r);
	}
}

/* ------------------------------------------------------------------ */
/* The peer side                                                      */

static void
relay_on_head(struct peer_conn *pc, void *arg)
{
	(void)pc;
	(void)arg;	/* the fanout saw the head; relay_start took over */
}

static void
relay_on_body(struct peer_conn *pc, void *arg)
{
	struct relay *r = arg;
	struct metrics_peer *mp = metrics_peer(r->r_metrics);

	r->r_data = peer_conn_data(pc);
	r->r_len = peer_conn_data_len(pc);
	r->r_received += r->r_len;
	if (mp != NULL)
		metrics_add(&mp->mp_bytes, r->r_len);
	r->r_sent = 0;
	r->r_client_done = false;
	r->r_disk_done = false;
	r->r_frame_len = r->r_chunked_out ? (size_t)snprintf(r->r_frame,
	    sizeof(r->r_frame), "%zx\r\n", r->r_len) : 0;
	relay_pump(r);
}

static void
relay_on_done(struct peer_conn *pc, void *arg)
{
	struct relay *r = arg;

	r->r_pc = NULL;
	r->r_peer_done = true;
	peer_conn_release(pc);
	relay_pump(r);
}

static void
relay_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct relay *r = arg;
	struct metrics_peer *mp = metrics_peer(r->r_metrics);

	(void)pc;
	r->r_pc = NULL;
	if (mp != NULL)
		metrics_add(why == PEER_TIMEOUT ? &mp->mp_timeout :
		    why == PEER_BAD_RESPONSE ? &mp->mp_bad_response :
		    &mp->mp_cut, 1);
	log_warnx("relaying %s: the peer %s after %llu bytes%s", r->r_name,
	    why == PEER_TIMEOUT ? "stalled" : why == PEER_BAD_RESPONSE ?
	    "sent a bad body" : "cut the body",
	    (unsigned long long)r->r_received,
	    r->r_conn != NULL ? "; closing the client connection" : "");
	relay_drop_save(r);
	/* Nothing more comes: the block in hand is void too. */
	r->r_len = 0;
	if (r->r_conn != NULL)
		relay_client_end(r, false);
	relay_pump(r);
}

/* Copies a header of the peer's head into ours when its value is sane. */
static void
relay_copy_header(struct buf *out, const struct http_message *resp,
    const char *name)
{
	const struct http_header *h = http_find_header(resp, name);
	char value[256];

	if (h == NULL || h->value.len == 0 || h->value.len >= sizeof(value))
		return;
	memcpy(value, h->value.p, h->value.len);
	value[h->value.len] = '\0';
	response_header(out, name, value);
}

/* The 64 bits of an ETag in shoal's own form ("16 hex digits"). */
static bool
relay_parse_etag(const struct http_message *resp, uint64_t *digest)
{
	const struct http_header *h = http_find_header(resp, "ETag");
	char hex[17];
	size_t i;

	if (h == NULL || h->value.len != 18 || h->value.p[0] != '"' ||
	    h->value.p[17] != '"')
		return false;
	for (i = 0; i < 16; i++) {
		char ch = h->value.p[i + 1];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
		hex[i] = ch;
	}
	hex[16] = '\0';
	*digest = strtoull(hex, NULL, 16);
	return true;
}

void
relay_start(struct conn *c, struct peer_conn *pc, bool save, int64_t ttl_ms)
{
	const struct http_message *resp = &pc->pc_resp;
	const struct http_header *h;
	struct relay *r = xcalloc(1, sizeof(*r));
	bool head = c->c_req.method == HTTP_METHOD_HEAD;
	bool not_modified = false;
	struct buf *out = &c->c_out;
	char num[32];
	time_t t;

	r->r_worker = c->c_worker;
	r->r_next = c->c_worker->w_relays;
	if (r->r_next != NULL)
		r->r_next->r_prev = r;
	c->c_worker->w_relays = r;
	r->r_conn = c;
	r->r_pc = pc;
	r->r_fd = -1;
	r->r_metrics = pc->pc_peer->p_metrics;
	r->r_ttl_ms = ttl_ms;
	/* The claim on the name's fetch comes with the request. */
	r->r_claimed = c->c_claimed;
	r->r_fetch_id = c->c_fetch_id;
	c->c_claimed = false;
	memcpy(r->r_name, c->c_name, c->c_name_len + 1);
	r->r_have_digest = relay_parse_etag(resp, &r->r_digest);
	h = http_find_header(resp, "Last-Modified");
	if (h != NULL && httpdate_parse(h->value.p, h->value.len, &t) == 0) {
		r->r_have_mtime = true;
		r->r_mtime.tv_sec = t;
	}
	c->c_relay = r;
	pc->pc_handler = &relay_handler;
	pc->pc_arg = r;

	/* If the client already has this version, say so and stop. */
	h = http_find_header(resp, "ETag");
	if (h != NULL && c->c_req.if_none_match.p != NULL && h->value.len <
	    64) {
		char etag[64];

		memcpy(etag, h->value.p, h->value.len);
		etag[h->value.len] = '\0';
		not_modified = condition_none_match(c->c_req.if_none_match.p,
		    c->c_req.if_none_match.len, etag);
	}
	c->c_status = not_modified ? 304 : 200;
	buf_reset(out);
	response_start(out, c->c_status);
	if (!not_modified)
		response_header(out, "Content-Type", mime_type(c->c_name,
		    c->c_name_len));
	if (not_modified) {
		/* no length: a 304 has no body */
	} else if (head) {
		/* A HEAD answer's length is the peer's Content-Length. */
		relay_copy_header(out, resp, "Content-Length");
	} else if (resp->has_content_length) {
		r->r_expect_len = true;
		r->r_length = resp->content_length;
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)resp->content_length);
		response_header(out, "Content-Length", num);
	} else if (c->c_req.version_minor == 1) {
		r->r_chunked_out = true;
		response_header(out, "Transfer-Encoding", "chunked");
	} else {
		c->c_close = true;	/* HTTP/1.0: the close ends the body */
	}
	relay_copy_header(out, resp, "ETag");
	relay_copy_header(out, resp, "Last-Modified");
	response_end(out, c->c_close, conn_http10_keepalive(c));
	c->c_out_off = 0;
	c->c_state = CONN_RELAY;
	conn_wait_hangup(c);

	if (not_modified) {
		/* The body is not wanted; the connection cannot be reused
		 * half-read. */
		r->r_pc = NULL;
		r->r_peer_done = true;
		peer_conn_close(pc);
	} else if (save && !head) {
		r->r_hash = XXH3_createState();
		if (r->r_hash == NULL) {
			log_errx("saving %s: out of memory", r->r_name);
		} else {
			XXH3_64bits_reset(r->r_hash);
			r->r_save = SAVE_OPENING;
			relay_submit(r, RELAY_JOB_OPEN);
		}
	}
	/* For HEAD, on_done follows at once (no body) and ends it. */
	relay_pump(r);
}
