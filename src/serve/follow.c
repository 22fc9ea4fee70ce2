/*
 * follow.c - a request that streams another request's fill while it
 * grows (loop thread; the open and the file sends in pool jobs).
 *
 * A miss whose name another request fetches (in any worker) finds that
 * fetch's fill (fill.h), opens its temporary file, answers with the head
 * the fill announced (200, 206 for a Range, 304, 416) and sends the body
 * from the file, never past the bytes the fill says are written, at the
 * client's own pace. Caught up, it looks at the fill again every
 * FILL_FOLLOW_TICK_MS. The descriptor stays valid whatever happens to the
 * name: published (linked into place, the temporary name removed), the
 * same file goes on; failed (removed), its bytes stay readable, but no
 * more come.
 *
 * Ends: the range sent, the request is finished; the fill failed (or its
 * slot was taken, so the outcome is unknown) before that, the connection
 * is cut, so the client never takes a short body for a whole one. When
 * the fill cannot be followed before anything was sent (the file is gone
 * already, or the fill failed), the miss starts again (miss.c); a file
 * that cannot be opened while its fill runs (out of descriptors) is a 503,
 * since starting again would only open it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "serve/conn.h"
#include "serve/follow.h"
#include "serve/miss.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/fill.h"
#include "store/metrics.h"

struct follow {
	struct conn *fo_conn;
	int fo_slot;			/* in s_fills */
	uint64_t fo_fetch_id;
	struct fill_head fo_head;
	uint64_t fo_written;		/* bytes known to be in the file */
	uint64_t fo_end;		/* of the range to send */
	bool fo_room;			/* waiting for room to write */
};

static void follow_pump(struct follow *fo);

static void
follow_cut(struct follow *fo, const char *why)
{
	struct conn *c = fo->fo_conn;

	log_warnx("following the fill of %s: %s after %llu bytes; closing the "
	    "client connection", c->c_name, why,
	    (unsigned long long)c->c_file_off);
	free(fo);
	conn_abort(c);
}

static void
follow_io(struct conn *c, short revents)
{
	struct follow *fo = conn_owner(c);

	if (revents & (POLLERR | POLLHUP | POLLRDHUP)) {
		free(fo);
		c->c_status = 499;	/* the client closed (as nginx) */
		conn_abort(c);
		return;
	}
	fo->fo_room = false;
	follow_pump(fo);
}

static void
follow_timeout(struct conn *c)
{
	struct follow *fo = conn_owner(c);

	if (fo->fo_room) {
		log_debug("send timeout to %s following %s", c->c_addr,
		    c->c_name);
		free(fo);
		conn_abort(c);
		return;
	}
	follow_pump(fo);
}

/* The connection is being freed (worker exit). */
static void
follow_close(struct conn *c)
{
	free(conn_owner(c));
}

static const struct conn_handler follow_handler = {
	.on_io = follow_io,
	.on_timeout = follow_timeout,
	.on_close = follow_close,
};

/* Sends what can be sent; when caught up, looks at the fill. */
static void
follow_pump(struct follow *fo)
{
	struct conn *c = fo->fo_conn;
	struct fill_view v;

	if (conn_out_pending(c) > 0) {
		if (conn_sendv(c, NULL, 0, true) < 0) {
			follow_io(c, POLLERR);
			return;
		}
		if (conn_out_pending(c) > 0) {
			fo->fo_room = true;
			conn_wait_writable(c);
			return;
		}
	}
	if (c->c_file_off >= fo->fo_end) {
		free(fo);
		conn_finish(c);
		return;
	}
	if (c->c_file_off >= fo->fo_written) {
		if (fill_look(c->c_srv->s_fills, fo->fo_slot,
		    fo->fo_fetch_id, &v) == -1) {
			follow_cut(fo, "its slot was taken");
			return;
		}
		if (v.fv_written > fo->fo_written) {
			fo->fo_written = v.fv_written;
		} else if (v.fv_state == FILL_FAILED) {
			follow_cut(fo, "the fetch failed");
			return;
		}
	}
	if (c->c_file_off < fo->fo_written) {
		c->c_file_end = fo->fo_written < fo->fo_end ? fo->fo_written :
		    fo->fo_end;
		fo->fo_room = true;	/* a send timeout is the client's */
		conn_send_file_owned(c);
		return;
	}
	/* Caught up with the fill: look again shortly. */
	fo->fo_room = false;
	conn_wait_hangup(c);
	conn_set_timer(c, FILL_FOLLOW_TICK_MS);
}

/* Pool thread: the temporary file, by the name the fill announced. */
static void
follow_open_job(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct follow *fo = conn_owner(c);

	c->c_file.fi_fd = openat(c->c_srv->s_spool.sd_tmp_fd,
	    fo->fo_head.fh_tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	c->c_job_err = c->c_file.fi_fd == -1 ? errno : 0;
}

/* Back to the miss: nothing was sent, so the request may start over. */
static void
follow_give_up(struct follow *fo)
{
	struct conn *c = fo->fo_conn;

	if (c->c_file.fi_fd != -1) {
		close(c->c_file.fi_fd);
		c->c_file.fi_fd = -1;
	}
	free(fo);
	conn_release(c);
	miss_start(c);
}

static void
follow_open_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct follow *fo = conn_owner(c);
	struct fill_view v;
	enum fill_state st;

	/* A slot taken since is a fill that ended, as good as failed. */
	st = fill_look(c->c_srv->s_fills, fo->fo_slot, fo->fo_fetch_id,
	    &v) == 0 ? v.fv_state : FILL_FAILED;
	if (c->c_file.fi_fd == -1 && (c->c_job_err != ENOENT ||
	    st == FILL_RUNNING)) {
		/* Not because the fill ended: trying again would spin. */
		errno = c->c_job_err;
		log_warn("open %s (the fill of %s)", fo->fo_head.fh_tmp,
		    c->c_name);
		free(fo);
		conn_send_text(c, 503, "cannot follow the transfer of this "
		    "file, try again", "Retry-After: 1\r\n");
		return;
	}
	/* Gone (published or removed since) or failed: start over. */
	if (c->c_file.fi_fd == -1 || st == FILL_FAILED) {
		follow_give_up(fo);
		return;
	}
	fo->fo_written = v.fv_written;
	metrics_add(&metrics_mine()->ms_followers, 1);
	buf_reset(&c->c_out);
	c->c_out_off = 0;
	request_file_head(c, fo->fo_head.fh_etag, (time_t)fo->fo_head.fh_mtime,
	    fo->fo_head.fh_total);
	if (c->c_status != 200 && c->c_status != 206) {
		free(fo);
		conn_send(c);	/* 304 or 416: no body */
		return;
	}
	fo->fo_end = c->c_file_end;
	follow_pump(fo);
}

bool
follow_start(struct conn *c, uint64_t fetch_id)
{
	struct server *s = c->c_srv;
	struct follow *fo;
	struct fill_head head;
	struct fill_view v;
	int slot;

	if ((slot = fill_find(s->s_fills, fetch_id, &head)) == -1 ||
	    fill_look(s->s_fills, slot, fetch_id, &v) == -1 ||
	    v.fv_state != FILL_RUNNING)
		return false;
	fo = xcalloc(1, sizeof(*fo));
	fo->fo_conn = c;
	fo->fo_slot = slot;
	fo->fo_fetch_id = fetch_id;
	fo->fo_head = head;
	conn_own(c, &follow_handler, fo);
	/* Nothing watched while the job runs (conn_own() watches nothing). */
	conn_submit(c, follow_open_job, follow_open_done);
	return true;
}
