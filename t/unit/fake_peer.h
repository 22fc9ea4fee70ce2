/*
 * fake_peer.h - fake peers for the unit suites of src/peer/ (check_peer.c,
 * check_peer_set.c, check_fanout.c): a loopback listening socket served by
 * threads of the test, answering canned bytes (or running a script of the
 * test's own), and recording every request it got, head and body.
 *
 * Threads: one accepts, one more serves each connection, so that a peer
 * that holds one connection still takes the next. They touch only their
 * sockets and the record, which fp_mu guards; the test's main thread runs
 * the loop and makes every assertion. Every wait here is bounded
 * (FAKE_WAIT_MS), and fake_stop() ends every thread within a few ms.
 */
#ifndef SHOAL_T_FAKE_PEER_H
#define SHOAL_T_FAKE_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

#define FAKE_WAIT_MS 3000	/* the longest any fake waits for anything */
#define FAKE_MAX_REQS 32	/* requests recorded */
#define FAKE_MAX_ANSWERS 16
#define FAKE_MAX_CONNS 64

/* fa_flags */
#define FAKE_CLOSE	0x1	/* close the connection after the answer */
#define FAKE_HOLD	0x2	/* after fa_bytes (perhaps none), say nothing
				   more: wait for the client to close */
#define FAKE_EARLY	0x4	/* answer once the head is in, without
				   reading the body (then drain until EOF) */

/* What to do with a request. */
struct fake_answer {
	const char *fa_bytes;	/* sent as they are */
	size_t fa_len;		/* 0: strlen(fa_bytes) */
	int fa_delay_ms;	/* before the first byte */
	size_t fa_split;	/* > 0: this many bytes, then fa_pause_ms */
	int fa_pause_ms;
	unsigned fa_flags;
};

/* One request as the fake got it. */
struct fake_req {
	struct buf fr_head;	/* CRLF CRLF included */
	struct buf fr_raw;	/* the body as it came, framing included */
	struct buf fr_body;	/* the body, decoded */
	unsigned fr_conn;	/* its connection, from 1 in accept order */
};

struct fake_peer;

/* Serves one accepted connection (blocking descriptor; the caller closes
 * it). `conn` counts from 1 in accept order. */
typedef void fake_script(struct fake_peer *f, int fd, unsigned conn);

struct fake_peer {
	int fp_lfd;
	unsigned fp_port;
	int fp_rcvbuf;			/* > 0: SO_RCVBUF of the connections */
	fake_script *fp_script;		/* NULL: fake_serve_answers */
	void *fp_arg;			/* for a script */
	/* request i (from 0, in arrival order) gets answer i, or the last */
	struct fake_answer fp_answers[FAKE_MAX_ANSWERS];
	size_t fp_nanswers;

	pthread_t fp_thread;
	pthread_t fp_conns[FAKE_MAX_CONNS];
	pthread_mutex_t fp_mu;		/* guards what follows */
	unsigned fp_accepts;
	unsigned fp_nconns;		/* threads in fp_conns */
	unsigned fp_nreqs;
	struct fake_req fp_reqs[FAKE_MAX_REQS];
	unsigned fp_eofs;		/* closes by the client seen */
	uint64_t fp_sent;		/* bytes a script wrote, as it likes */
	bool fp_stop;
	bool fp_started;		/* serving: fake_stop() has work */
};

/* A connection being read: bytes read and not used yet. */
struct fake_io {
	struct fake_peer *io_f;
	int io_fd;
	char io_buf[65536];
	size_t io_len;
};

struct fake_conn_arg {
	struct fake_peer *f;
	int fd;
	unsigned conn;
};

static inline int64_t
fake_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline bool
fake_stopping(struct fake_peer *f)
{
	return __atomic_load_n(&f->fp_stop, __ATOMIC_ACQUIRE);
}

/* Sleeps ms, or less when the fake stops. */
static inline void
fake_sleep(struct fake_peer *f, int ms)
{
	int64_t end = fake_now_ms() + ms;

	while (!fake_stopping(f) && fake_now_ms() < end) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* Waits for fd to become readable. Returns 1 readable, 0 timed out or
 * stopping. */
static inline int
fake_wait_readable(struct fake_peer *f, int fd, int ms)
{
	int64_t end = fake_now_ms() + ms;

	while (!fake_stopping(f) && fake_now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 10) > 0)
			return 1;
	}
	return 0;
}

/* Reads more into io. Returns the bytes read, 0 at EOF, -1 on error,
 * timeout, a full buffer or stop. */
static inline ssize_t
fake_fill(struct fake_io *io)
{
	ssize_t n;

	if (io->io_len == sizeof(io->io_buf))
		return -1;
	if (!fake_wait_readable(io->io_f, io->io_fd, FAKE_WAIT_MS))
		return -1;
	n = recv(io->io_fd, io->io_buf + io->io_len,
	    sizeof(io->io_buf) - io->io_len, 0);
	if (n > 0)
		io->io_len += (size_t)n;
	return n;
}

static inline void
fake_consume(struct fake_io *io, size_t n)
{
	memmove(io->io_buf, io->io_buf + n, io->io_len - n);
	io->io_len -= n;
}

/* Reads up to and including the next CRLF CRLF. Returns 0, or the
 * fake_fill() result that ended it (0 for EOF). */
static inline int
fake_read_head(struct fake_io *io, struct buf *head)
{
	for (;;) {
		char *end = memmem(io->io_buf, io->io_len, "\r\n\r\n", 4);
		ssize_t n;

		if (end != NULL) {
			size_t len = (size_t)(end - io->io_buf) + 4;

			buf_append(head, io->io_buf, len);
			fake_consume(io, len);
			return 0;
		}
		if ((n = fake_fill(io)) <= 0)
			return n == 0 ? 1 : -1;
	}
}

/* Moves n bytes to out (and raw), reading as needed. Returns 0 or -1. */
static inline int
fake_read_exact(struct fake_io *io, size_t n, struct buf *out,
    struct buf *raw)
{
	while (n > 0) {
		size_t k = io->io_len < n ? io->io_len : n;

		if (k == 0) {
			if (fake_fill(io) <= 0)
				return -1;
			continue;
		}
		if (out != NULL)
			buf_append(out, io->io_buf, k);
		if (raw != NULL)
			buf_append(raw, io->io_buf, k);
		fake_consume(io, k);
		n -= k;
	}
	return 0;
}

/* One line, CRLF included, into raw; the line without it into line[]. */
static inline int
fake_read_line(struct fake_io *io, char *line, size_t max, struct buf *raw)
{
	for (;;) {
		char *end = memmem(io->io_buf, io->io_len, "\r\n", 2);

		if (end != NULL) {
			size_t len = (size_t)(end - io->io_buf);

			if (len >= max)
				return -1;
			memcpy(line, io->io_buf, len);
			line[len] = '\0';
			buf_append(raw, io->io_buf, len + 2);
			fake_consume(io, len + 2);
			return 0;
		}
		if (fake_fill(io) <= 0)
			return -1;
	}
}

/* A chunked body, decoded here independently of src/http (a bug there
 * must not hide one in the sender). No extensions, no trailers. */
static inline int
fake_read_chunked(struct fake_io *io, struct buf *body, struct buf *raw)
{
	char line[64], *end;

	for (;;) {
		unsigned long long size;

		if (fake_read_line(io, line, sizeof(line), raw) == -1)
			return -1;
		errno = 0;
		size = strtoull(line, &end, 16);
		if (errno != 0 || end == line || *end != '\0')
			return -1;
		if (size == 0)
			break;
		if (fake_read_exact(io, (size_t)size, body, raw) == -1 ||
		    fake_read_line(io, line, sizeof(line), raw) == -1 ||
		    line[0] != '\0')
			return -1;
	}
	/* The empty line that ends the body. */
	if (fake_read_line(io, line, sizeof(line), raw) == -1 ||
	    line[0] != '\0')
		return -1;
	return 0;
}

/* The value of header `name` in a head (case-insensitive), or NULL; the
 * value runs to the CRLF. */
static inline const char *
fake_header(const struct buf *head, const char *name)
{
	size_t nlen = strlen(name), i;

	for (i = 0; i + nlen + 3 < head->len; i++)
		if (head->data[i] == '\n' &&
		    strncasecmp(head->data + i + 1, name, nlen) == 0 &&
		    head->data[i + 1 + nlen] == ':') {
			const char *v = head->data + i + 2 + nlen;

			while (*v == ' ')
				v++;
			return v;
		}
	return NULL;
}

/* Counts a close by the client. */
static inline void
fake_count_eof(struct fake_peer *f)
{
	pthread_mutex_lock(&f->fp_mu);
	f->fp_eofs++;
	pthread_mutex_unlock(&f->fp_mu);
}

/* Records a new request; returns its index. */
static inline unsigned
fake_record(struct fake_peer *f, const struct buf *head, unsigned conn)
{
	unsigned i;

	pthread_mutex_lock(&f->fp_mu);
	i = f->fp_nreqs++;
	if (i < FAKE_MAX_REQS) {
		buf_append(&f->fp_reqs[i].fr_head, head->data, head->len);
		f->fp_reqs[i].fr_conn = conn;
	}
	pthread_mutex_unlock(&f->fp_mu);
	return i;
}

/* Reads the body of request i as its head frames it. Returns 0 or -1. */
static inline int
fake_read_body(struct fake_io *io, const struct buf *head, unsigned i)
{
	struct fake_peer *f = io->io_f;
	struct buf body = { 0 }, raw = { 0 };
	const char *te = fake_header(head, "Transfer-Encoding");
	const char *cl = fake_header(head, "Content-Length");
	int rc = 0;

	if (te != NULL && strncasecmp(te, "chunked", 7) == 0)
		rc = fake_read_chunked(io, &body, &raw);
	else if (cl != NULL)
		rc = fake_read_exact(io, strtoull(cl, NULL, 10), &body, &raw);
	pthread_mutex_lock(&f->fp_mu);
	if (i < FAKE_MAX_REQS) {
		buf_append(&f->fp_reqs[i].fr_body, body.data, body.len);
		buf_append(&f->fp_reqs[i].fr_raw, raw.data, raw.len);
	}
	pthread_mutex_unlock(&f->fp_mu);
	buf_free(&body);
	buf_free(&raw);
	return rc;
}

/* Reads the head of the next request into *head and records it. Returns
 * its index, or -1 when the client closed (counted) or something failed;
 * the caller frees *head either way. */
static inline int
fake_take_head(struct fake_io *io, unsigned conn, struct buf *head)
{
	int rc = fake_read_head(io, head);

	if (rc != 0) {
		if (rc == 1 && io->io_len == 0)
			fake_count_eof(io->io_f);
		return -1;
	}
	return (int)fake_record(io->io_f, head, conn);
}

/* Reads a whole request (head and body) and records it. Returns its
 * index, or -1 when the client closed (counted) or something failed. */
static inline int
fake_read_request(struct fake_io *io, unsigned conn, bool with_body)
{
	struct buf head = { 0 };
	int i = fake_take_head(io, conn, &head);

	if (i >= 0 && with_body && fake_read_body(io, &head, (unsigned)i) == -1)
		i = -1;
	buf_free(&head);
	return i;
}

/* Writes all of p (blocking, bounded by SO_SNDTIMEO). */
static inline int
fake_write(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads and drops everything until the client closes (or FAKE_WAIT_MS,
 * or stop). Counts the close. */
static inline void
fake_drain(struct fake_peer *f, int fd)
{
	char junk[65536];

	for (;;) {
		ssize_t n;

		if (!fake_wait_readable(f, fd, FAKE_WAIT_MS))
			return;
		n = recv(fd, junk, sizeof(junk), 0);
		if (n == 0)
			fake_count_eof(f);
		if (n <= 0)
			return;
	}
}

/* The canned answers, request after request, on one connection. */
static inline void
fake_serve_answers(struct fake_peer *f, int fd, unsigned conn)
{
	struct fake_io *io = calloc(1, sizeof(*io));

	io->io_f = f;
	io->io_fd = fd;
	for (;;) {
		const struct fake_answer *a;
		struct buf head = { 0 };
		size_t len;
		int i = fake_take_head(io, conn, &head);

		if (i < 0) {
			buf_free(&head);
			break;
		}
		if (f->fp_nanswers == 0) {
			buf_free(&head);
			break;		/* nothing to say: hang up */
		}
		a = &f->fp_answers[(size_t)i < f->fp_nanswers ? (size_t)i :
		    f->fp_nanswers - 1];
		if (!(a->fa_flags & FAKE_EARLY) &&
		    fake_read_body(io, &head, (unsigned)i) == -1) {
			buf_free(&head);
			break;
		}
		buf_free(&head);
		if (a->fa_delay_ms > 0)
			fake_sleep(f, a->fa_delay_ms);
		len = a->fa_bytes == NULL ? 0 : a->fa_len ? a->fa_len :
		    strlen(a->fa_bytes);
		if (a->fa_split > 0 && a->fa_split < len) {
			if (fake_write(fd, a->fa_bytes, a->fa_split) == -1)
				break;
			fake_sleep(f, a->fa_pause_ms);
			if (fake_write(fd, a->fa_bytes + a->fa_split,
			    len - a->fa_split) == -1)
				break;
		} else if (len > 0 && fake_write(fd, a->fa_bytes, len) == -1) {
			break;
		}
		if (a->fa_flags & (FAKE_HOLD | FAKE_EARLY)) {
			fake_drain(f, fd);
			break;
		}
		if (a->fa_flags & FAKE_CLOSE)
			break;
	}
	free(io);
}

static inline void *
fake_conn_main(void *arg)
{
	struct fake_conn_arg *ca = arg;
	struct fake_peer *f = ca->f;
	struct timeval tv = { FAKE_WAIT_MS / 1000, 0 };

	setsockopt(ca->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (f->fp_script != NULL)
		f->fp_script(f, ca->fd, ca->conn);
	else
		fake_serve_answers(f, ca->fd, ca->conn);
	close(ca->fd);
	free(ca);
	return NULL;
}

static inline void *
fake_main(void *arg)
{
	struct fake_peer *f = arg;

	while (!fake_stopping(f)) {
		struct pollfd pfd = { .fd = f->fp_lfd, .events = POLLIN };
		struct fake_conn_arg *ca;
		int fd;

		if (poll(&pfd, 1, 10) <= 0)
			continue;
		fd = accept4(f->fp_lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1)
			continue;
		pthread_mutex_lock(&f->fp_mu);
		if (f->fp_nconns == FAKE_MAX_CONNS) {
			pthread_mutex_unlock(&f->fp_mu);
			close(fd);
			continue;
		}
		ca = calloc(1, sizeof(*ca));
		ca->f = f;
		ca->fd = fd;
		ca->conn = ++f->fp_accepts;
		if (pthread_create(&f->fp_conns[f->fp_nconns], NULL,
		    fake_conn_main, ca) == 0) {
			f->fp_nconns++;
		} else {
			close(fd);
			free(ca);
		}
		pthread_mutex_unlock(&f->fp_mu);
	}
	return NULL;
}

/* Listens on 127.0.0.1, any port, and starts serving. Fill fp_answers
 * (fp_nanswers) or fp_script first. Returns 0 or -1. */
static inline int
fake_start(struct fake_peer *f)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	pthread_mutex_init(&f->fp_mu, NULL);
	f->fp_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->fp_lfd == -1)
		return -1;
	if (f->fp_rcvbuf > 0)
		setsockopt(f->fp_lfd, SOL_SOCKET, SO_RCVBUF, &f->fp_rcvbuf,
		    sizeof(f->fp_rcvbuf));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(f->fp_lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(f->fp_lfd, 64) == -1 ||
	    getsockname(f->fp_lfd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	f->fp_port = ntohs(sin.sin_port);
	if (pthread_create(&f->fp_thread, NULL, fake_main, f) != 0)
		return -1;
	f->fp_started = true;
	return 0;
}

/* Stops every thread, closes the socket, frees the record. Does nothing
 * for a fake that is not serving (never started, or stopped already). */
static inline void
fake_stop(struct fake_peer *f)
{
	unsigned i;

	if (!f->fp_started)
		return;
	f->fp_started = false;
	__atomic_store_n(&f->fp_stop, true, __ATOMIC_RELEASE);
	pthread_join(f->fp_thread, NULL);
	for (i = 0; i < f->fp_nconns; i++)
		pthread_join(f->fp_conns[i], NULL);
	close(f->fp_lfd);
	for (i = 0; i < FAKE_MAX_REQS; i++) {
		buf_free(&f->fp_reqs[i].fr_head);
		buf_free(&f->fp_reqs[i].fr_raw);
		buf_free(&f->fp_reqs[i].fr_body);
	}
	pthread_mutex_destroy(&f->fp_mu);
}

/* One answer for every request. */
static inline void
fake_answer_all(struct fake_peer *f, const char *bytes, int delay_ms,
    unsigned flags)
{
	f->fp_answers[0].fa_bytes = bytes;
	f->fp_answers[0].fa_delay_ms = delay_ms;
	f->fp_answers[0].fa_flags = flags;
	f->fp_nanswers = 1;
}

static inline unsigned
fake_count(struct fake_peer *f, const unsigned *what)
{
	unsigned n;

	pthread_mutex_lock(&f->fp_mu);
	n = *what;
	pthread_mutex_unlock(&f->fp_mu);
	return n;
}

static inline unsigned
fake_accepts(struct fake_peer *f)
{
	return fake_count(f, &f->fp_accepts);
}

static inline unsigned
fake_nreqs(struct fake_peer *f)
{
	return fake_count(f, &f->fp_nreqs);
}

static inline unsigned
fake_eofs(struct fake_peer *f)
{
	return fake_count(f, &f->fp_eofs);
}

/* A copy of request i's head (or body), NUL-terminated; free() it. */
static inline char *
fake_req_part(struct fake_peer *f, unsigned i, int part, size_t *len)
{
	const struct buf *b;
	char *out;

	pthread_mutex_lock(&f->fp_mu);
	b = part == 0 ? &f->fp_reqs[i].fr_head : part == 1 ?
	    &f->fp_reqs[i].fr_body : &f->fp_reqs[i].fr_raw;
	out = malloc(b->len + 1);
	if (b->len > 0)
		memcpy(out, b->data, b->len);
	out[b->len] = '\0';
	if (len != NULL)
		*len = b->len;
	pthread_mutex_unlock(&f->fp_mu);
	return out;
}

#define fake_req_head(f, i) fake_req_part((f), (i), 0, NULL)

/* A loopback port that refuses connections: bound, never listening (so
 * that no one else takes it meanwhile). Close *fd at the end. */
static inline unsigned
fake_refusing_port(int *fd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (*fd == -1 || bind(*fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(*fd, (struct sockaddr *)&sin, &len) == -1)
		return 0;
	return ntohs(sin.sin_port);
}

#endif
