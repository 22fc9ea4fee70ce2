/*
 * peer_send.c - the request side of a node's HTTP client (loop thread):
 * connecting, or taking a pooled connection; sending the request head;
 * streaming the request body from its producer; retrying once on a fresh
 * connection when a pooled one turns out dead. The answer is read by
 * peer.c, which also owns the connection's life and its failures.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/buf.h"
#include "peer/peer.h"
#include "peer/peer_int.h"
#include "peer/peer_set.h"

/* A failure found inside peer_request() is reported from the loop. */
static void
peer_fail_later(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	peer_fail(peer_of_timer(t), PEER_REFUSED);
}

/* Starts a fresh connection. Returns 0, or -1 (refused at once). */
static int
peer_connect(struct peer_conn *pc)
{
	struct peer *p = pc->pc_peer;
	int fd, one = 1;

	if (p->p_addrlen == 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	fd = socket(p->p_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&p->p_addr, p->p_addrlen)
	    == -1 && errno != EINPROGRESS) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	if (loop_add(peer_loop(pc), fd, POLLOUT, peer_on_io, pc) == -1) {
		close(fd);
		return -1;
	}
	pc->pc_fd = fd;
	pc->pc_state = PC_CONNECTING;
	pc->pc_reused = false;
	return 0;
}

/* The head is out: the body, or the wait for the answer. */
static void
peer_head_sent(struct peer_conn *pc)
{
	if (pc->pc_flags & PEER_REQ_BODY) {
		pc->pc_state = PC_UPLOADING;
		pc->pc_asked = true;
		peer_upload(pc, true);
		return;
	}
	pc->pc_state = PC_HEAD;
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
}

/*
 * A pooled connection is almost always writable: a head-only request goes
 * out at once, with no turn of the loop and no change of the events
 * watched (an idle connection already waits for input). Whatever goes
 * wrong is left for the loop to find, so that no callback runs inside
 * peer_request().
 */
static void
peer_send_now(struct peer_conn *pc)
{
	ssize_t n = send(pc->pc_fd, pc->pc_out.data, pc->pc_out.len,
	    MSG_NOSIGNAL | MSG_DONTWAIT |
	    ((pc->pc_flags & PEER_REQ_BODY) ? MSG_MORE : 0));

	if (n > 0)
		pc->pc_out_off = (size_t)n;
	if (pc->pc_out_off == pc->pc_out.len &&
	    !(pc->pc_flags & PEER_REQ_BODY)) {
		pc->pc_state = PC_HEAD;
		loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
		return;
	}
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLOUT);
}

struct peer_conn *
peer_request(struct peer_set *ps, struct peer *p, const char *head,
    size_t head_len, unsigned flags, int64_t timeout_ms,
    const struct peer_handler *h, void *arg)
{
	struct list *idle = list_first(&p->p_idle);
	struct peer_conn *pc;

	if (idle != NULL) {
		pc = container_of(idle, struct peer_conn, pc_idle_link);
		peer_unpool(pc);
		pc->pc_reused = true;
		pc->pc_state = PC_SENDING;
	} else {
		pc = xcalloc(1, sizeof(*pc));
		pc->pc_set = ps;
		pc->pc_peer = p;
		pc->pc_fd = -1;
		list_init(&pc->pc_idle_link);
		list_insert_tail(&ps->ps_conns, &pc->pc_link);
		peer_hold(p);
	}
	pc->pc_handler = h;
	pc->pc_arg = arg;
	pc->pc_flags = flags;
	pc->pc_start_ms = loop_now(ps->ps_loop);
	pc->pc_timeout_ms = timeout_ms;
	pc->pc_in_len = 0;
	pc->pc_read_size = PEER_BUF_SIZE;
	pc->pc_data_len = 0;
	pc->pc_reusable = true;
	pc->pc_piece = NULL;
	pc->pc_piece_len = pc->pc_piece_sent = pc->pc_frame_len = 0;
	pc->pc_body_taken = pc->pc_body_end = pc->pc_asked = false;
	pc->pc_last_sent = false;
	buf_reset(&pc->pc_out);
	buf_append(&pc->pc_out, head, head_len);
	pc->pc_out_off = 0;
	if (!pc->pc_reused && peer_connect(pc) == -1) {
		pc->pc_state = PC_FAILING;
		loop_timer_set(ps->ps_loop, &pc->pc_timer, 0, peer_fail_later);
		return pc;
	}
	loop_timer_set(ps->ps_loop, &pc->pc_timer, timeout_ms, peer_on_timer);
	if (pc->pc_reused)
		peer_send_now(pc);
	return pc;
}

/* A reused connection that died before any answer was probably closed by
 * the peer while idle: try once more on a fresh one, unless the producer
 * already handed over body bytes (they cannot be sent again). Returns
 * true when a retry started. */
bool
peer_retry(struct peer_conn *pc)
{
	if (!pc->pc_reused || pc->pc_in_len > 0 || pc->pc_discarding ||
	    pc->pc_body_taken)
		return false;
	loop_del(peer_loop(pc), pc->pc_fd);
	close(pc->pc_fd);
	pc->pc_fd = -1;
	pc->pc_out_off = 0;
	pc->pc_asked = false;
	if (peer_connect(pc) == -1)
		return false;
	return true;
}

void
peer_send(struct peer_conn *pc)
{
	while (pc->pc_out_off < pc->pc_out.len) {
		ssize_t n = send(pc->pc_fd, pc->pc_out.data + pc->pc_out_off,
		    pc->pc_out.len - pc->pc_out_off, MSG_NOSIGNAL |
		    ((pc->pc_flags & PEER_REQ_BODY) ? MSG_MORE : 0));

		if (n > 0) {
			pc->pc_out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (!peer_retry(pc))
			peer_fail(pc, PEER_REFUSED);
		return;
	}
	peer_head_sent(pc);
}

/* Bytes of the current piece, framing included. */
static size_t
peer_piece_total(const struct peer_conn *pc)
{
	return pc->pc_frame_len + pc->pc_piece_len + (pc->pc_frame_len > 0 ?
	    2 : 0);
}

/*
 * Moves the request body: sends the pending piece (and its chunk framing),
 * then the last chunk once the producer said the body is over, then waits
 * for the answer. The deadline runs only while the peer does not take
 * what we have: a producer with nothing to give is not the peer's fault.
 * The producer hears on_send only from the loop (`from_loop`), never
 * from inside its own peer_conn_send(), so a fast socket cannot nest one
 * call per piece.
 */
void
peer_upload(struct peer_conn *pc, bool from_loop)
{
	static char crlf[] = "\r\n";
	static const char last[] = "0\r\n\r\n";

	for (;;) {
		struct iovec iov[3];
		struct msghdr msg;
		size_t skip;
		int n_iov = 0;
		ssize_t n;

		if (pc->pc_piece == NULL && pc->pc_body_end &&
		    (pc->pc_flags & PEER_REQ_CHUNKED) && !pc->pc_last_sent) {
			pc->pc_last_sent = true;
			pc->pc_piece = last;
			pc->pc_piece_len = sizeof(last) - 1;
			pc->pc_piece_sent = pc->pc_frame_len = 0;
		}
		if (pc->pc_piece == NULL)
			break;
		/* Read only now: the last chunk has just reset it. */
		skip = pc->pc_piece_sent;
		if (skip < pc->pc_frame_len) {
			iov[n_iov].iov_base = pc->pc_frame + skip;
			iov[n_iov++].iov_len = pc->pc_frame_len - skip;
			skip = 0;
		} else {
			skip -= pc->pc_frame_len;
		}
		if (skip < pc->pc_piece_len) {
			iov[n_iov].iov_base = (char *)(uintptr_t)pc->pc_piece +
			    skip;
			iov[n_iov++].iov_len = pc->pc_piece_len - skip;
			skip = 0;
		} else {
			skip -= pc->pc_piece_len;
		}
		if (pc->pc_frame_len > 0) {
			iov[n_iov].iov_base = crlf + skip;
			iov[n_iov++].iov_len = 2 - skip;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n_iov;
		n = sendmsg(pc->pc_fd, &msg, MSG_NOSIGNAL | MSG_MORE);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			loop_set_events(peer_loop(pc), pc->pc_fd,
			    POLLOUT | POLLIN);
			loop_timer_set(peer_loop(pc), &pc->pc_timer,
			    pc->pc_timeout_ms, peer_on_timer);
			return;
		}
		if (n <= 0) {
			peer_fail(pc, PEER_CUT);
			return;
		}
		pc->pc_piece_sent += (size_t)n;
		if (pc->pc_piece_sent == peer_piece_total(pc)) {
			pc->pc_piece = NULL;
			pc->pc_asked = !pc->pc_body_end;
		}
	}
	if (pc->pc_body_end) {
		int one = 1;

		/* All of it is out: now the answer, within the deadline.
		 * What MSG_MORE held back waits for a send without it, or
		 * for 200 ms: setting TCP_NODELAY again pushes it now. */
		(void)setsockopt(pc->pc_fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		pc->pc_state = PC_HEAD;
		loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
		loop_timer_set(peer_loop(pc), &pc->pc_timer, pc->pc_timeout_ms,
		    peer_on_timer);
		return;
	}
	loop_timer_cancel(peer_loop(pc), &pc->pc_timer);
	if (pc->pc_asked && !from_loop) {
		/* The socket took it all: ask from the next turn. */
		loop_set_events(peer_loop(pc), pc->pc_fd, POLLOUT | POLLIN);
		return;
	}
	/* Waiting for the producer: only an early answer is of interest. */
	loop_set_events(peer_loop(pc), pc->pc_fd, POLLIN);
	if (pc->pc_asked) {
		pc->pc_asked = false;
		pc->pc_handler->on_send(pc, pc->pc_arg);
	}
}

int
peer_conn_send(struct peer_conn *pc, const void *p, size_t n)
{
	if (pc->pc_state != PC_UPLOADING || pc->pc_piece != NULL ||
	    pc->pc_body_end || n == 0)
		return -1;
	pc->pc_piece = p;
	pc->pc_piece_len = n;
	pc->pc_piece_sent = 0;
	pc->pc_body_taken = true;
	pc->pc_frame_len = (pc->pc_flags & PEER_REQ_CHUNKED) ?
	    (size_t)snprintf(pc->pc_frame, sizeof(pc->pc_frame), "%zx\r\n", n) :
	    0;
	pc->pc_asked = false;
	peer_upload(pc, false);
	return 0;
}

int
peer_conn_send_end(struct peer_conn *pc)
{
	if (pc->pc_state != PC_UPLOADING || pc->pc_body_end)
		return -1;
	pc->pc_body_end = true;
	pc->pc_asked = false;
	if (pc->pc_piece == NULL)
		peer_upload(pc, false);
	return 0;
}

void
peer_conn_timeout(struct peer_conn *pc, int64_t timeout_ms)
{
	pc->pc_timeout_ms = timeout_ms;
}

