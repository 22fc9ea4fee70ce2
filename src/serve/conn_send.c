/*
 * conn_send.c - writing a response to the client: a head and a body from
 * memory, a file sent by the I/O pool (sendfile may block on the disk),
 * or the vectors an owner streams (conn_sendv, with MSG_MORE while more
 * body follows).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "http/response.h"
#include "serve/conn.h"
#include "serve/conn_int.h"
#include "serve/server.h"

#define CONN_SEND_CHUNK (1 << 20)	/* file bytes per pool job */

void
conn_send_text(struct conn *c, int status, const char *reason,
    const char *extra)
{
	c->c_status = status;
	buf_reset(&c->c_out);
	c->c_body_len = response_text(&c->c_out, status, reason, extra,
	    c->c_req.method == HTTP_METHOD_HEAD, c->c_close,
	    conn_http10_keepalive(c));
	conn_send(c);
}

void
conn_send_body(struct conn *c, const char *type, const char *extra,
    const char *body, size_t len)
{
	char num[32];

	c->c_status = 200;
	buf_reset(&c->c_out);
	response_start(&c->c_out, 200);
	response_header(&c->c_out, "Content-Type", type);
	snprintf(num, sizeof(num), "%zu", len);
	response_header(&c->c_out, "Content-Length", num);
	if (extra != NULL)
		buf_append_str(&c->c_out, extra);
	response_end(&c->c_out, c->c_close, conn_http10_keepalive(c));
	c->c_body_len = len;
	if (c->c_req.method != HTTP_METHOD_HEAD)
		buf_append(&c->c_out, body, len);
	conn_send(c);
}

static void
conn_send_file_work(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	uint64_t left = c->c_file_end - c->c_file_off;
	size_t n;

	n = file_send(c->c_fd, c->c_file.fi_fd, &c->c_file_off,
	    left < CONN_SEND_CHUNK ? left : CONN_SEND_CHUNK, &c->c_job_err);
	c->c_sent += n;
}

static void
conn_send_file_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);

	if (c->c_job_err != 0 && c->c_job_err != EAGAIN) {
		if (c->c_job_err != EPIPE && c->c_job_err != ECONNRESET)
			log_warnx("sending a file to %s: %s", c->c_addr,
			    strerror(c->c_job_err));
		/* The client cannot get the whole body: do not let it take
		 * what it has for a complete answer. */
		conn_abort(c);
		return;
	}
	if (c->c_file_off >= c->c_file_end) {
		conn_finish(c);
		return;
	}
	/* Socket full (or a chunk done): wait for room, then go on. */
	loop_set_events(conn_loop(c), c->c_fd, POLLOUT);
	loop_timer_set(conn_loop(c), &c->c_timer,
	    conn_cfg(c)->http.send_timeout_ms, conn_on_timer);
}

/* The owner's file bytes went, or could not: tell it. */
static void
conn_send_file_owned_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);

	if (c->c_job_err == EAGAIN) {
		conn_wait_writable(c);	/* on_io POLLOUT when there is room */
		return;
	}
	if (c->c_job_err != 0 && c->c_job_err != EPIPE &&
	    c->c_job_err != ECONNRESET)
		log_warnx("sending a file to %s: %s", c->c_addr,
		    strerror(c->c_job_err));
	c->c_handler->on_io(c, c->c_job_err != 0 ? POLLERR : POLLOUT);
}

void
conn_send_file_owned(struct conn *c)
{
	conn_wait_nothing(c);
	conn_submit(c, conn_send_file_work, conn_send_file_owned_done);
}

void
conn_write(struct conn *c)
{
	bool file_follows = c->c_file.fi_fd >= 0 &&
	    c->c_file_off < c->c_file_end;

	while (c->c_out_off < c->c_out.len) {
		ssize_t n = send(c->c_fd, c->c_out.data + c->c_out_off,
		    c->c_out.len - c->c_out_off,
		    MSG_NOSIGNAL | (file_follows ? MSG_MORE : 0));

		if (n > 0) {
			c->c_out_off += (size_t)n;
			c->c_sent += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			loop_set_events(conn_loop(c), c->c_fd, POLLOUT);
			loop_timer_set(conn_loop(c), &c->c_timer,
			    conn_cfg(c)->http.send_timeout_ms, conn_on_timer);
			return;
		}
		conn_abort(c);
		return;
	}
	if (file_follows) {
		loop_set_events(conn_loop(c), c->c_fd, 0);
		conn_submit(c, conn_send_file_work, conn_send_file_done);
		return;
	}
	conn_finish(c);
}

void
conn_send(struct conn *c)
{
	conn_disown(c);
	c->c_state = CONN_WRITE;
	c->c_out_off = 0;
	loop_timer_cancel(conn_loop(c), &c->c_timer);
	conn_write(c);
}

size_t
conn_out_pending(const struct conn *c)
{
	return c->c_out.len - c->c_out_off;
}

ssize_t
conn_sendv(struct conn *c, const struct iovec *iov, int n, bool more)
{
	struct iovec v[CONN_SENDV_MAX + 1];
	size_t total = 0, done = 0;
	int i;

	if (n > CONN_SENDV_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	for (;;) {
		size_t head = conn_out_pending(c), skip = done, h;
		struct msghdr msg;
		ssize_t sent;
		int nv = 0;

		if (head == 0 && done == total)
			return (ssize_t)done;
		/* The head goes first, then what of the caller's vectors
		 * has not gone yet. */
		if (head > 0) {
			v[nv].iov_base = c->c_out.data + c->c_out_off;
			v[nv++].iov_len = head;
		}
		for (i = 0; i < n; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[nv].iov_base = (char *)iov[i].iov_base + skip;
			v[nv++].iov_len = iov[i].iov_len - skip;
			skip = 0;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = v;
		msg.msg_iovlen = (size_t)nv;
		sent = sendmsg(c->c_fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE :
		    0));
		if (sent == -1 && errno == EINTR)
			continue;
		if (sent == -1 && errno == EAGAIN)
			return (ssize_t)done;
		if (sent <= 0) {
			if (sent == 0)
				errno = EPIPE;
			return -1;
		}
		c->c_sent += (uint64_t)sent;
		h = (size_t)sent < head ? (size_t)sent : head;
		c->c_out_off += h;
		done += (size_t)sent - h;
	}
}
