/*
 * relay.c - the winning peer's answer, streamed to the client and saved
 * (loop thread; disk work through the spool).
 *
 * One block at a time from the peer connection (peer_conn_data): the
 * client is sent it (conn_sendv) and, when saving, it is copied into the
 * spool's free buffer; once both are done the block is given back
 * (peer_conn_consumed) and the peer is read again, while the spool writes
 * the copy. So memory per relay is the peer's buffer and the spool's two,
 * and the peer is read no faster than the slower of the client and the
 * disk.
 *
 * Saving: the spool opens a temporary file, writes each block (hashed on
 * the way), then publishes: the length is checked, the file sealed and
 * linked into place without replacing anything. The index is told in the
 * same pool job (the spool's hooks): the copy is announced before the
 * link and recorded after it, so a crash between the two still leaves the
 * index knowing when the copy expires.
 *
 * Waiters: once the temporary file exists, a fill is announced in the
 * shared table (fill.h) with the answer's head, and each write's progress
 * with it, so that requests for the name in any worker stream the file
 * as it grows (follow.c); the fill ends done when every byte is written,
 * failed when the copy is given up (and their clients are cut).
 *
 * The client and the copy are independent: the client's request ends as
 * soon as it has every byte (the fsyncs are not its business), and a
 * client that walks away does not stop a healthy transfer that is being
 * saved; only a failed peer does. relay_pump() is called whenever
 * something may move, and frees the relay once nothing is left: no client,
 * no peer connection, no spool.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/config.h"
#include "core/digest.h"
#include "core/log.h"
#include "http/condition.h"
#include "http/httpdate.h"
#include "http/mime.h"
#include "http/response.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/relay.h"
#include "serve/server.h"
#include "store/fill.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/spool.h"

struct relay {
	struct list r_link;		/* s_relays */
	struct server *r_srv;
	struct conn *r_conn;		/* NULL once the client is done */
	struct peer_conn *r_pc;		/* NULL once the peer side is over */
	struct peer_stats *r_stats;	/* the peer's counters */
	char r_name[NAME_MAX_LEN + 1];
	size_t r_name_len;

	/* client side */
	bool r_chunked_out;		/* we frame the body in chunks */
	bool r_expect_len;		/* the peer promised r_length bytes */
	uint64_t r_length;
	uint64_t r_received;		/* body bytes from the peer */
	char *r_data;			/* the current block */
	size_t r_len;
	size_t r_sent;			/* of the block, framing included */
	size_t r_frame_len;		/* chunk framing before the block */
	char r_frame[24];		/* "HEX\r\n", or the last chunk */
	bool r_client_done;		/* the block went to the client */
	bool r_peer_done;		/* the whole body arrived */
	bool r_trailer_queued;		/* the last chunk is the block */

	/* disk side */
	struct spool *r_spool;		/* NULL: not saving (any more) */
	size_t r_copied;		/* of the block, into the spool */
	bool r_publishing;
	bool r_have_digest;		/* the peer's ETag carries a digest */
	struct digest r_digest;
	bool r_have_mtime;
	struct timespec r_mtime;
	char r_etag[FILL_ETAG_MAX];	/* the peer's, or "" */
	int r_fill;			/* its slot in s_fills, or -1 */

	/* the shared index: this relay's fetch of the name */
	bool r_claimed;
	uint64_t r_fetch_id;
	int64_t r_ttl_ms;		/* of the winning peer; 0 for ever */
	int64_t r_expiry;		/* wall-clock ms, or 0 */
};

static char relay_crlf[] = "\r\n";

static void relay_pump(struct relay *r);

/* Ends this relay's fetch in the index when it still holds one: the entry
 * goes, and the waiters try for themselves. (A published copy is recorded
 * by the publish job itself.) */
static void
relay_end_claim(struct relay *r)
{
	if (!r->r_claimed)
		return;
	r->r_claimed = false;
	(void)index_fetch_finish(r->r_srv->s_index, r->r_name, r->r_name_len,
	    r->r_fetch_id, INDEX_END_FAILED, NULL, 0, loop_wall_ms());
}

/* Ends the fill waiters follow, when there is one. */
static void
relay_fill_end(struct relay *r, bool done)
{
	if (r->r_fill == -1)
		return;
	fill_end(r->r_srv->s_fills, r->r_fill, done, loop_wall_ms());
	r->r_fill = -1;
}

static void
relay_free(struct relay *r)
{
	relay_fill_end(r, false);
	relay_end_claim(r);
	list_remove(&r->r_link);
	if (r->r_pc != NULL)
		peer_conn_close(r->r_pc);
	if (r->r_spool != NULL)
		spool_abort(r->r_spool);
	free(r);
}

/* ------------------------------------------------------------------ */
/* The disk side                                                      */

/* Gives up the copy; the spool removes its temporary file. */
static void
relay_drop_save(struct relay *r)
{
	if (r->r_spool == NULL)
		return;
	metrics_add(&metrics_mine()->ms_save_failures, 1);
	relay_fill_end(r, false);	/* before the file goes */
	spool_abort(r->r_spool);
	r->r_spool = NULL;
	r->r_copied = r->r_len;
	relay_end_claim(r);
}

/* Tells the waiters how far the copy is. A fetch taken over or cancelled
 * (an upload of the name) is no longer ours: stop reporting. */
static void
relay_progress(struct relay *r)
{
	uint64_t written = spool_written(r->r_spool);

	if (r->r_fill != -1) {
		fill_progress(r->r_srv->s_fills, r->r_fill, written);
		if (written == r->r_length)
			relay_fill_end(r, true);
	}
	if (r->r_claimed && index_fetch_progress(r->r_srv->s_index, r->r_name,
	    r->r_name_len, r->r_fetch_id, written,
	    r->r_expect_len ? r->r_length : INDEX_SIZE_UNKNOWN,
	    spool_tmp_name(r->r_spool), loop_wall_ms()) == -1 &&
	    errno == ESTALE)
		r->r_claimed = false;
}

/* The temporary file exists: announce the fill to the waiters, when they
 * can follow it (the length and the ETag are known, and this relay holds
 * the fetch of the name). Without a slot they wait for the copy. With no
 * Last-Modified from the peer, the copy's will be about now. */
static void
relay_fill_begin(struct relay *r)
{
	struct fill_head head = {
		.fh_total = r->r_length,
		.fh_mtime = r->r_have_mtime ? r->r_mtime.tv_sec :
		    loop_wall_ms() / 1000,
	};

	if (!r->r_claimed || !r->r_expect_len || r->r_etag[0] == '\0')
		return;
	memcpy(head.fh_etag, r->r_etag, sizeof(head.fh_etag));
	snprintf(head.fh_tmp, sizeof(head.fh_tmp), "%s",
	    spool_tmp_name(r->r_spool));
	r->r_fill = fill_begin(r->r_srv->s_fills, r->r_fetch_id,
	    r->r_srv->s_pid, &head, loop_wall_ms());
	if (r->r_fill == -1 && errno == ENOSPC)
		log_debug("no fill slot for %s: its waiters wait for the copy",
		    r->r_name);
}

static void
relay_spool_opened(struct spool *sp, int err, void *arg)
{
	struct relay *r = arg;

	(void)sp;
	if (err == 0) {
		relay_fill_begin(r);
		relay_progress(r);	/* the waiters look at once */
		return;
	}
	errno = err;
	log_warn("saving %s: temporary file", r->r_name);
	relay_drop_save(r);
	relay_pump(r);
}

static void
relay_spool_written(struct spool *sp, int err, void *arg)
{
	struct relay *r = arg;

	(void)sp;
	if (err != 0) {
		if (err != ECANCELED) {
			errno = err;
			log_warn("saving %s", r->r_name);
		}
		relay_drop_save(r);
	} else {
		relay_progress(r);
	}
	relay_pump(r);
}

static void
relay_spool_published(struct spool *sp, int err, void *arg)
{
	struct relay *r = arg;

	r->r_spool = NULL;
	if (err == EEXIST) {
		log_debug("saving %s: the name was taken meanwhile", r->r_name);
	} else if (err == ENOSPC && !r->r_claimed) {
		log_warnx("index full: the copy of %s was not kept", r->r_name);
		metrics_add(&metrics_mine()->ms_save_failures, 1);
	} else if (err != 0) {
		errno = err;
		log_warn("publishing %s", r->r_name);
		metrics_add(&metrics_mine()->ms_save_failures, 1);
	} else {
		struct digest mine = spool_digest(sp);

		metrics_add(&metrics_mine()->ms_saved, 1);
		log_info("saved a copy of %s", r->r_name);
		/* The copy's ETag is the digest of the bytes received. The
		 * peer's differs when it had no content digest of its file
		 * yet (its ETag then names the file's identity). */
		if (r->r_have_digest && !digest_equal(&mine, &r->r_digest))
			log_debug("the copy of %s has a new ETag: the peer's "
			    "was not its content digest", r->r_name);
	}
	relay_end_claim(r);	/* when not done by the hooks */
	relay_pump(r);
}

/* Pool thread, in the publish job: the copy is sealed; announced before
 * the link so that if this process dies between the two, the index still
 * knows when the copy expires. */
static void
relay_before_link(struct spool *sp, const struct file_identity *id,
    void *arg)
{
	struct relay *r = arg;

	(void)sp;
	r->r_expiry = r->r_ttl_ms > 0 ? loop_wall_ms() + r->r_ttl_ms : 0;
	if (r->r_claimed)
		(void)index_fetch_publishing(r->r_srv->s_index, r->r_name,
		    r->r_name_len, r->r_fetch_id, (const void *)id,
		    r->r_expiry, loop_wall_ms());
}

/* Pool thread: the copy is in place. Recorded here, in the same job: a
 * copy the index cannot hold would never expire, so it is removed at
 * once (returning -1 makes the spool do it). */
static int
relay_after_link(struct spool *sp, const struct file_identity *id,
    void *arg)
{
	struct relay *r = arg;

	(void)sp;
	if (!r->r_claimed)
		return 0;
	r->r_claimed = false;
	if (index_fetch_finish(r->r_srv->s_index, r->r_name, r->r_name_len,
	    r->r_fetch_id, INDEX_END_COPY, (const void *)id, r->r_expiry,
	    loop_wall_ms()) == -1) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

static void
relay_publish(struct relay *r)
{
	struct spool_publish how = {
		.name = r->r_name,
		.mtime = r->r_have_mtime ? &r->r_mtime : NULL,
		.copy = true,
		.before_link = relay_before_link,
		.after_link = relay_after_link,
		.hook_arg = r,
	};

	r->r_publishing = true;
	spool_publish(r->r_spool, &how);
}

/* Copies what it can of the current block into the spool's buffers. */
static void
relay_copy(struct relay *r)
{
	while (r->r_spool != NULL && r->r_copied < r->r_len) {
		char *buf = spool_buffer(r->r_spool);
		size_t n = r->r_len - r->r_copied;

		if (buf == NULL)
			return;		/* sh_written pumps again */
		if (n > SPOOL_BUF_SIZE)
			n = SPOOL_BUF_SIZE;
		memcpy(buf, r->r_data + r->r_copied, n);
		r->r_copied += n;
		spool_write(r->r_spool, n);
	}
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
	if (complete)
		conn_finish(c);
	else
		conn_abort(c);
}

/*
 * Sends what is pending to the client: the head, then the block with its
 * framing. Returns 1 when everything went (or there is no client), 0 when
 * the socket is full (the wait is armed), -1 when the client is gone.
 */
static int
relay_send(struct relay *r)
{
	struct conn *c = r->r_conn;
	struct iovec iov[3] = { { 0 } };
	size_t skip = r->r_sent, total = 0;
	int n_iov = 0;
	ssize_t n;

	if (c == NULL || r->r_client_done) {
		r->r_client_done = true;
		return 1;
	}
	if (r->r_len > 0 || r->r_frame_len > 0) {
		/* frame, data, CRLF: minus what already went */
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
		if (r->r_chunked_out && r->r_len > 0) {
			iov[n_iov].iov_base = relay_crlf + skip;
			iov[n_iov++].iov_len = 2 - skip;
		}
	}
	for (int i = 0; i < n_iov; i++)
		total += iov[i].iov_len;
	n = conn_sendv(c, iov, n_iov, false);
	if (n < 0)
		return -1;
	r->r_sent += (size_t)n;
	if ((size_t)n < total || conn_out_pending(c) > 0) {
		conn_wait_writable(c);
		return 0;
	}
	r->r_client_done = true;
	conn_wait_hangup(c);
	return 1;
}

/* The client went away (or stopped reading). A transfer being saved goes
 * on without it; otherwise relay_pump() drops the peer connection. */
static void
relay_client_gone(struct relay *r)
{
	relay_client_end(r, false);
	r->r_client_done = true;
}

/* Moves everything forward that can move; frees the relay when it is
 * over. */
static void
relay_pump(struct relay *r)
{
	if (r->r_conn == NULL && r->r_spool == NULL && r->r_pc != NULL) {
		/* Nobody wants the rest: no client, no copy. */
		peer_conn_close(r->r_pc);
		r->r_pc = NULL;
		r->r_len = 0;
	}
	if (relay_send(r) < 0) {
		relay_client_gone(r);
		relay_pump(r);
		return;
	}
	if (r->r_len > 0) {
		relay_copy(r);
		if (!r->r_client_done ||
		    (r->r_spool != NULL && r->r_copied < r->r_len))
			return;		/* writable or sh_written comes */
		r->r_len = 0;
		if (r->r_pc != NULL)
			peer_conn_consumed(r->r_pc);
		return;			/* on_body or on_done next */
	}
	if (r->r_pc != NULL && !r->r_peer_done)
		return;			/* the peer is sending */
	if (r->r_conn != NULL && r->r_chunked_out && !r->r_trailer_queued) {
		/* The last chunk, as one more block without data. */
		r->r_trailer_queued = true;
		r->r_frame_len = (size_t)snprintf(r->r_frame,
		    sizeof(r->r_frame), "0\r\n\r\n");
		r->r_sent = 0;
		r->r_client_done = false;
		if (relay_send(r) == 0)
			return;
	}
	/* The client has every byte: it need not wait for the disk. */
	if (r->r_conn != NULL && r->r_client_done)
		relay_client_end(r, true);
	if (r->r_spool != NULL && r->r_peer_done && !r->r_publishing) {
		if (r->r_expect_len && r->r_received != r->r_length) {
			log_warnx("saving %s: %llu bytes received, %llu "
			    "expected", r->r_name,
			    (unsigned long long)r->r_received,
			    (unsigned long long)r->r_length);
			relay_drop_save(r);
		} else {
			relay_publish(r);
		}
	}
	if (r->r_conn == NULL && r->r_pc == NULL && r->r_spool == NULL)
		relay_free(r);
}

static void
relay_client_io(struct conn *c, short revents)
{
	struct relay *r = conn_owner(c);

	if (revents & (POLLERR | POLLHUP | POLLRDHUP)) {
		relay_client_gone(r);	/* the client walked away */
		relay_pump(r);
		return;
	}
	conn_wait_hangup(c);
	relay_pump(r);
}

static void
relay_client_timeout(struct conn *c)
{
	struct relay *r = conn_owner(c);

	log_debug("send timeout to %s relaying %s", c->c_addr, r->r_name);
	relay_client_gone(r);
	relay_pump(r);
}

/* The connection is being freed (worker exit): only let go of it. */
static void
relay_client_close(struct conn *c)
{
	struct relay *r = conn_owner(c);

	r->r_conn = NULL;
}

static const struct conn_handler relay_conn_handler = {
	.on_io = relay_client_io,
	.on_timeout = relay_client_timeout,
	.on_close = relay_client_close,
};

void
relay_teardown(struct server *s)
{
	while (!list_empty(&s->s_relays)) {
		struct relay *r = container_of(list_first(&s->s_relays),
		    struct relay, r_link);

		r->r_pc = NULL;		/* peer_set_free frees them */
		r->r_spool = NULL;	/* spool_dir_teardown removes it */
		if (r->r_conn != NULL)
			conn_abort(r->r_conn);
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

	r->r_data = peer_conn_data(pc);
	r->r_len = peer_conn_data_len(pc);
	r->r_received += r->r_len;
	peer_stats_add(&r->r_stats->st_bytes, r->r_len);
	r->r_sent = 0;
	r->r_copied = r->r_spool != NULL ? 0 : r->r_len;
	r->r_client_done = r->r_conn == NULL;
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

	(void)pc;
	r->r_pc = NULL;
	peer_stats_add(why == PEER_TIMEOUT ? &r->r_stats->st_timeout :
	    why == PEER_BAD_RESPONSE ? &r->r_stats->st_bad_response :
	    &r->r_stats->st_cut, 1);
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

static const struct peer_handler relay_peer_handler = {
	.on_head = relay_on_head,
	.on_body = relay_on_body,
	.on_done = relay_on_done,
	.on_fail = relay_on_fail,
};

static const struct spool_handler relay_spool_handler = {
	.sh_opened = relay_spool_opened,
	.sh_written = relay_spool_written,
	.sh_published = relay_spool_published,
};

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

/* The digest of an ETag in shoal's own form ("32 lowercase hex digits",
 * quoted). */
static bool
relay_parse_etag(const struct http_message *resp, struct digest *digest)
{
	const struct http_header *h = http_find_header(resp, "ETag");
	size_t i;

	if (h == NULL || h->value.len != CONDITION_ETAG_LEN ||
	    h->value.p[0] != '"' || h->value.p[CONDITION_ETAG_LEN - 1] != '"')
		return false;
	for (i = 1; i <= DIGEST_HEX_LEN; i++)
		if (h->value.p[i] >= 'A' && h->value.p[i] <= 'F')
			return false;
	return digest_parse(h->value.p + 1, DIGEST_HEX_LEN, digest) == 0;
}

/* Whether the client already has the version the peer offers. */
static bool
relay_not_modified(const struct conn *c, const struct http_message *resp)
{
	const struct http_header *h = http_find_header(resp, "ETag");
	char etag[64];

	if (h == NULL || c->c_req.if_none_match.p == NULL ||
	    h->value.len >= sizeof(etag))
		return false;
	memcpy(etag, h->value.p, h->value.len);
	etag[h->value.len] = '\0';
	return condition_none_match(c->c_req.if_none_match.p,
	    c->c_req.if_none_match.len, etag);
}

/* Our answer's head, from the peer's. */
static void
relay_head(struct relay *r, struct conn *c, const struct http_message *resp,
    bool not_modified)
{
	bool head = c->c_req.method == HTTP_METHOD_HEAD;
	struct buf *out = &c->c_out;
	char num[32];

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
}

void
relay_start(struct conn *c, struct peer_conn *pc, bool save, int64_t ttl_ms,
    bool claimed, uint64_t fetch_id)
{
	const struct http_message *resp = &pc->pc_resp;
	const struct http_header *h;
	struct relay *r = xcalloc(1, sizeof(*r));
	bool not_modified = relay_not_modified(c, resp);
	time_t t;

	r->r_srv = c->c_srv;
	list_insert_head(&c->c_srv->s_relays, &r->r_link);
	r->r_conn = c;
	r->r_pc = pc;
	r->r_stats = &pc->pc_peer->p_entry->pe_stats;
	r->r_ttl_ms = ttl_ms;
	r->r_claimed = claimed;
	r->r_fetch_id = fetch_id;
	memcpy(r->r_name, c->c_name, c->c_name_len + 1);
	r->r_name_len = c->c_name_len;
	r->r_have_digest = relay_parse_etag(resp, &r->r_digest);
	r->r_fill = -1;
	h = http_find_header(resp, "ETag");
	if (h != NULL && h->value.len < sizeof(r->r_etag)) {
		memcpy(r->r_etag, h->value.p, h->value.len);
		r->r_etag[h->value.len] = '\0';
	}
	h = http_find_header(resp, "Last-Modified");
	if (h != NULL && httpdate_parse(h->value.p, h->value.len, &t) == 0) {
		r->r_have_mtime = true;
		r->r_mtime.tv_sec = t;
	}
	pc->pc_handler = &relay_peer_handler;
	pc->pc_arg = r;
	relay_head(r, c, resp, not_modified);
	conn_own(c, &relay_conn_handler, r);
	conn_wait_hangup(c);

	if (not_modified) {
		/* The body is not wanted; the connection cannot be reused
		 * half-read. */
		r->r_pc = NULL;
		r->r_peer_done = true;
		peer_conn_close(pc);
	} else if (save && c->c_req.method != HTTP_METHOD_HEAD) {
		r->r_spool = spool_create(&c->c_srv->s_spool, "fill",
		    &relay_spool_handler, r);
	}
	if (r->r_spool == NULL)
		relay_end_claim(r);	/* no copy: the waiters go on */
	/* The head waits for the first block of the body (on_body, or
	 * on_done for HEAD and an empty body, which peer_read_head calls
	 * right after this), so that a small answer goes out in one send:
	 * one segment, one wake-up of the client. */
	if (r->r_pc == NULL)
		relay_pump(r);
}
