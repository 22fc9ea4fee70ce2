/*
 * serve_fixture.h - a worker's server for the unit suites of src/serve/
 * (check_conn.c, check_request.c, check_upload.c, check_relay.c), and
 * clients that talk to it over loopback TCP, so that what a test asserts
 * is what a client sees on the wire.
 *
 * The server is built as src/proc/worker.c builds it (worker_setup, with
 * the master's part done here: the metrics region and a slot, the shared
 * index in a state directory, the peer table): a ROOT with its hidden
 * temporary directory under a base directory, a real loop, a real I/O
 * pool, the spool, the open-file cache, the peer set, the router and the
 * node's routes. It is torn down as worker_teardown does it.
 *
 * Threads: the test's main thread runs the loop and is every client; the
 * pool threads do the disk work. Nothing blocks: clients are nonblocking
 * and every wait is a loop turn of at most 10 ms, bounded by SFX_WAIT_MS
 * (or the caller's bound), so no test hangs.
 *
 * The base directory is made and removed by the parent (an unchecked
 * fixture: sfx_make_base, sfx_remove_base), so nothing is left behind
 * when a test fails; each test gets its own ROOT in it (sfx_setup).
 */
#ifndef SHOAL_T_SERVE_FIXTURE_H
#define SHOAL_T_SERVE_FIXTURE_H

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"
#include "serve/conn.h"
#include "serve/relay.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/file.h"
#include "store/filecache.h"
#include "store/fill.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/spool.h"

#define SFX_WAIT_MS 3000	/* the longest any helper waits */
#define SFX_MAX_CLIENTS 16
#define SFX_POOL_QUEUE 4096	/* as the worker's */

/* One client: a nonblocking loopback socket and what it has read. */
struct sfx_client {
	int cl_fd;			/* -1 once closed */
	struct buf cl_in;		/* received, not yet taken */
	bool cl_eof;			/* the server closed */
	int cl_err;			/* recv's errno (ECONNRESET) */
};

/* A response as a client parsed it (independently of src/http). */
struct sfx_resp {
	int status;
	struct buf head;		/* the head, CRLF CRLF included */
	struct buf body;		/* decoded */
	bool chunked;
	bool has_len;
	uint64_t len;
	bool complete;
	bool cut;			/* the connection ended it early */
};

struct sfx {
	char base[64];			/* made by the parent */
	char root[128];
	char state[160];
	struct config cfg;
	struct server srv;
	struct index *ix;
	struct peer_table *table;
	int tmp_fd;
	int lfd;			/* where clients connect */
	struct sfx_client clients[SFX_MAX_CLIENTS];
	size_t nclients;
	size_t small_root;		/* > 0: ROOT on a tmpfs this large */
	bool mounted;
};

static struct sfx sfx;
static char sfx_node[] = "test:1";

/* ------------------------------------------------------------------ */
/* The base directory (parent process)                                 */

static inline int
sfx_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
sfx_make_base(void)
{
	strcpy(sfx.base, "/tmp/check_serve_XXXXXX");
	if (mkdtemp(sfx.base) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static inline void
sfx_remove_base(void)
{
	char path[384];
	struct dirent *de;
	DIR *d = opendir(sfx.base);

	/* A failed test may have left its small ROOT mounted. */
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "root_", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", sfx.base, de->d_name);
		(void)umount2(path, MNT_DETACH);
	}
	if (d != NULL)
		closedir(d);
	nftw(sfx.base, sfx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */

static inline void
sfx_noop_timer(struct loop *l, struct loop_timer *t)
{
	(void)l;
	(void)t;
}

/* One loop turn that waits at most ms. */
static inline void
sfx_turn(int64_t ms)
{
	struct loop_timer guard = { 0 };

	loop_timer_set(sfx.srv.s_loop, &guard, ms, sfx_noop_timer);
	loop_run_once(sfx.srv.s_loop, NULL);
	loop_timer_cancel(sfx.srv.s_loop, &guard);
}

/* Turns until cond holds, ms at most; the caller asserts cond after. */
#define SFX_RUN_UNTIL(cond, ms) do {					\
	int64_t end_ = loop_clock_ms() + (ms);				\
	while (!(cond) && loop_clock_ms() < end_)			\
		sfx_turn(10);						\
} while (0)

static inline void
sfx_run_for(int64_t ms)
{
	int64_t end = loop_clock_ms() + ms;

	while (loop_clock_ms() < end)
		sfx_turn(10);
}

/* Nothing of the server's is still moving: no pool job, no spool, no
 * relay. */
static inline bool
sfx_quiet_server(void)
{
	return iopool_pending(sfx.srv.s_pool) == 0 &&
	    spool_dir_idle(&sfx.srv.s_spool) && list_empty(&sfx.srv.s_relays);
}

static inline void
sfx_settle(void)
{
	SFX_RUN_UNTIL(sfx_quiet_server(), SFX_WAIT_MS);
	ck_assert_msg(sfx_quiet_server(), "the server did not settle");
}

/* ------------------------------------------------------------------ */
/* Setting up and tearing down, as the master and worker.c do          */

/* The configuration a test starts from; it may change any field later
 * (the serve layer reads them as it goes), the limits through
 * sfx.srv.s_limits. */
static inline void
sfx_default_config(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->root = sfx.root;
	cfg->state_dir = sfx.state;
	cfg->node = sfx_node;
	cfg->workers = 1;
	cfg->io_threads = 2;
	cfg->log_level = CONFIG_LOG_WARN;
	cfg->shutdown_timeout_ms = 2000;
	cfg->save = true;
	cfg->ttl_ms = 0;
	cfg->peer_timeout_ms = 1000;
	cfg->upload.enabled = true;
	cfg->upload.token = NULL;
	cfg->upload.max_size = 8 << 20;
	cfg->http.max_request_line = 4096;
	cfg->http.max_header_line = 4096;
	cfg->http.max_headers = 64;
	cfg->http.max_header_size = 8192;
	cfg->http.header_timeout_ms = 2000;
	cfg->http.keepalive_timeout_ms = 2000;
	cfg->http.send_timeout_ms = 2000;
	cfg->http.body_timeout_ms = 2000;
	cfg->http.max_connections = 64;
	cfg->index.capacity = 1024;
	cfg->index.negative_ttl_ms = 2000;
}

static inline void
sfx_listen(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	/* Nonblocking, as the master's (listener.c): a worker accepts until
	 * EAGAIN. */
	sfx.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	ck_assert_int_ge(sfx.lfd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(sfx.lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	ck_assert_int_eq(listen(sfx.lfd, 64), 0);
}

/* The checked setup of every test (in its own process). */
static inline void
sfx_setup(void)
{
	struct server *s = &sfx.srv;
	char path[256];
	int slot;

	snprintf(sfx.root, sizeof(sfx.root), "%s/root_XXXXXX", sfx.base);
	ck_assert_ptr_nonnull(mkdtemp(sfx.root));
	sfx.mounted = false;
	if (sfx.small_root > 0) {
		/* A small disk that fills (root only; sfx.mounted says). */
		snprintf(path, sizeof(path), "size=%zu", sfx.small_root);
		sfx.mounted = mount("tmpfs", sfx.root, "tmpfs", 0, path) == 0;
	}
	snprintf(path, sizeof(path), "%s/%s", sfx.root, FILE_TMP_DIR);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(sfx.state, sizeof(sfx.state), "%s.state", sfx.root);
	ck_assert_int_eq(mkdir(sfx.state, 0750), 0);
	sfx_default_config(&sfx.cfg);

	/* The master's part. */
	ck_assert_int_eq(metrics_init(), 0);
	slot = metrics_slot_claim(getpid());
	ck_assert_int_ge(slot, 0);
	metrics_use_slot(slot);
	snprintf(path, sizeof(path), "%s/index", sfx.state);
	sfx.ix = index_open(path, sfx.cfg.index.capacity, loop_wall_ms(), NULL);
	ck_assert_ptr_nonnull(sfx.ix);
	metrics_set_index(sfx.ix);
	sfx.table = peer_table_create(8);
	ck_assert_ptr_nonnull(sfx.table);

	/* worker_run() and worker_setup(). */
	memset(s, 0, sizeof(*s));
	s->s_root_fd = -1;
	s->s_state_fd = -1;
	s->s_index = sfx.ix;
	s->s_fills = fill_table_create();
	ck_assert_ptr_nonnull(s->s_fills);
	s->s_pid = getpid();
	list_init(&s->s_conns);
	list_init(&s->s_lingering);
	list_init(&s->s_relays);
	s->s_cfg = &sfx.cfg;
	s->s_limits.max_request_line = sfx.cfg.http.max_request_line;
	s->s_limits.max_header_line = sfx.cfg.http.max_header_line;
	s->s_limits.max_headers = sfx.cfg.http.max_headers;
	s->s_limits.max_header_size = sfx.cfg.http.max_header_size;
	s->s_route_request = request_handle;
	request_node_routes(s);
	s->s_root_fd = open(sfx.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(s->s_root_fd, 0);
	/* The state directory is ROOT's hidden one, as by default. */
	s->s_state_fd = s->s_root_fd;
	sfx.tmp_fd = openat(s->s_root_fd, FILE_TMP_DIR, O_PATH | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
	ck_assert_int_ge(sfx.tmp_fd, 0);
	s->s_loop = loop_create();
	ck_assert_ptr_nonnull(s->s_loop);
	s->s_pool = iopool_create(s->s_loop, sfx.cfg.io_threads,
	    SFX_POOL_QUEUE);
	ck_assert_ptr_nonnull(s->s_pool);
	spool_dir_init(&s->s_spool, s->s_pool, s->s_root_fd, sfx.tmp_fd);
	s->s_peers = peer_set_create(s->s_loop, sfx.table, &s->s_limits,
	    sfx.cfg.peer_timeout_ms);
	ck_assert_ptr_nonnull(s->s_peers);
	s->s_filecache = filecache_create(s->s_loop, sfx.root);	/* NULL: off */

	sfx_listen();
	sfx.nclients = 0;
}

static inline void
sfx_client_close(struct sfx_client *cl)
{
	if (cl->cl_fd != -1)
		close(cl->cl_fd);
	cl->cl_fd = -1;
}

/* The checked teardown: worker_teardown(), then the master's part. */
static inline void
sfx_teardown(void)
{
	struct server *s = &sfx.srv;
	size_t i;

	if (s->s_pool != NULL) {
		iopool_destroy(s->s_pool);
		s->s_pool = NULL;
	}
	relay_teardown(s);
	conn_close_all(s);
	spool_dir_teardown(&s->s_spool);
	close(sfx.tmp_fd);
	peer_set_free(s->s_peers);
	fill_table_free(s->s_fills);
	filecache_free(s->s_filecache);
	close(s->s_root_fd);
	loop_free(s->s_loop);
	for (i = 0; i < sfx.nclients; i++) {
		sfx_client_close(&sfx.clients[i]);
		buf_free(&sfx.clients[i].cl_in);
	}
	close(sfx.lfd);
	index_close(sfx.ix);
	peer_table_destroy(sfx.table);
	if (sfx.mounted)
		(void)umount2(sfx.root, MNT_DETACH);
}

/* ------------------------------------------------------------------ */
/* Clients                                                             */

/* A client connected to the server, its socket accepted as the worker
 * accepts (conn_accept). rcvbuf > 0 sets the client's SO_RCVBUF first
 * (a slow reader). */
static inline struct sfx_client *
sfx_connect_rcvbuf(int rcvbuf)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(sin);
	struct sfx_client *cl;
	struct pollfd pfd = { .fd = sfx.lfd, .events = POLLIN };
	int fd, sfd;

	ck_assert_uint_lt(sfx.nclients, SFX_MAX_CLIENTS);
	cl = &sfx.clients[sfx.nclients++];
	memset(cl, 0, sizeof(*cl));
	ck_assert_int_eq(getsockname(sfx.lfd, (struct sockaddr *)&sin, &len),
	    0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	cl->cl_fd = fd;
	ck_assert_int_eq(poll(&pfd, 1, SFX_WAIT_MS), 1);
	len = sizeof(ss);
	sfd = accept4(sfx.lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK |
	    SOCK_CLOEXEC);
	ck_assert_int_ge(sfd, 0);
	conn_accept(&sfx.srv, sfd, (struct sockaddr *)&ss, len);
	return cl;
}

static inline struct sfx_client *
sfx_connect(void)
{
	return sfx_connect_rcvbuf(0);
}

/* The connection accepted last (conn_accept puts it first). */
static inline struct conn *
sfx_newest_conn(void)
{
	ck_assert(!list_empty(&sfx.srv.s_conns));
	return container_of(list_first(&sfx.srv.s_conns), struct conn,
	    c_link);
}

/* Takes whatever the socket has now. */
static inline void
sfx_pump(struct sfx_client *cl)
{
	char tmp[65536];

	while (cl->cl_fd != -1 && !cl->cl_eof) {
		ssize_t n = recv(cl->cl_fd, tmp, sizeof(tmp), 0);

		if (n > 0) {
			buf_append(&cl->cl_in, tmp, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		cl->cl_eof = true;
		cl->cl_err = n == 0 ? 0 : errno;
	}
}

/* Sends all of p, turning the loop while the socket is full. Returns 0,
 * or -1 with errno (the server closed, or SFX_WAIT_MS passed). */
static inline int
sfx_send(struct sfx_client *cl, const void *p, size_t len)
{
	const char *c = p;
	int64_t end = loop_clock_ms() + SFX_WAIT_MS;

	while (len > 0) {
		ssize_t n = send(cl->cl_fd, c, len, MSG_NOSIGNAL);

		if (n > 0) {
			c += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN)
			return -1;
		if (loop_clock_ms() > end) {
			errno = ETIMEDOUT;
			return -1;
		}
		sfx_turn(10);
	}
	/* Let the server see it. */
	sfx_turn(0);
	return 0;
}

static inline void
sfx_sends(struct sfx_client *cl, const char *s)
{
	ck_assert_int_eq(sfx_send(cl, s, strlen(s)), 0);
}

/* The client closes its socket (a client that walks away). */
static inline void
sfx_hang_up(struct sfx_client *cl)
{
	sfx_client_close(cl);
	sfx_turn(0);
}

/* The client resets its connection (SO_LINGER 0). */
static inline void
sfx_reset(struct sfx_client *cl)
{
	struct linger lg = { 1, 0 };

	setsockopt(cl->cl_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	sfx_hang_up(cl);
}

/* ------------------------------------------------------------------ */
/* Parsing what came back                                              */

static inline void
sfx_resp_free(struct sfx_resp *r)
{
	buf_free(&r->head);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}

/* The value of header `name` in a head, or NULL; a copy valid until the
 * next call. */
static inline const char *
sfx_head_value(const struct buf *head, const char *name)
{
	static char value[1024];
	size_t nlen = strlen(name), i;

	for (i = 0; i + nlen + 2 < head->len; i++) {
		const char *v, *end;

		if (head->data[i] != '\n' || strncasecmp(head->data + i + 1,
		    name, nlen) != 0 || head->data[i + 1 + nlen] != ':')
			continue;
		v = head->data + i + 2 + nlen;
		while (*v == ' ')
			v++;
		end = memmem(v, head->len - (size_t)(v - head->data), "\r\n",
		    2);
		if (end == NULL || (size_t)(end - v) >= sizeof(value))
			return NULL;
		memcpy(value, v, (size_t)(end - v));
		value[end - v] = '\0';
		return value;
	}
	return NULL;
}

static inline const char *
sfx_hdr(const struct sfx_resp *r, const char *name)
{
	return sfx_head_value(&r->head, name);
}

/* A chunked body at p[0..len): decoded into out. Returns the bytes it
 * took when complete, 0 when more is needed, -1 when malformed. */
static inline ssize_t
sfx_dechunk(const char *p, size_t len, struct buf *out)
{
	size_t off = 0;

	buf_reset(out);
	for (;;) {
		const char *eol = memmem(p + off, len - off, "\r\n", 2);
		unsigned long long size;
		char *end;

		if (eol == NULL)
			return 0;
		errno = 0;
		size = strtoull(p + off, &end, 16);
		if (errno != 0 || end == p + off || end != eol)
			return -1;
		off = (size_t)(eol - p) + 2;
		if (size == 0)
			break;
		if (len - off < size + 2)
			return 0;
		buf_append(out, p + off, (size_t)size);
		off += (size_t)size;
		if (memcmp(p + off, "\r\n", 2) != 0)
			return -1;
		off += 2;
	}
	/* No trailers from shoal: the empty line. */
	if (len - off < 2)
		return 0;
	if (memcmp(p + off, "\r\n", 2) != 0)
		return -1;
	return (ssize_t)(off + 2);
}

/*
 * Parses one response at the start of cl_in. Returns 1 (complete: taken
 * out of cl_in), 0 (more is needed; r holds what there is), -1
 * (malformed). A 1xx is a response of its own; so the caller sees a 100
 * Continue.
 */
static inline int
sfx_parse(struct sfx_client *cl, bool head_req, struct sfx_resp *r)
{
	const char *p = cl->cl_in.data;
	size_t len = cl->cl_in.len, hlen, blen;
	const char *end = len > 0 ? memmem(p, len, "\r\n\r\n", 4) : NULL;
	const char *v;

	sfx_resp_free(r);
	if (end == NULL)
		return 0;
	hlen = (size_t)(end - p) + 4;
	if (len < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0)
		return -1;
	r->status = atoi(p + 9);
	buf_append(&r->head, p, hlen);
	blen = len - hlen;
	if ((v = sfx_hdr(r, "Transfer-Encoding")) != NULL &&
	    strcasecmp(v, "chunked") == 0)
		r->chunked = true;
	if ((v = sfx_hdr(r, "Content-Length")) != NULL) {
		r->has_len = true;
		r->len = strtoull(v, NULL, 10);
	}
	if (r->status < 200 || r->status == 204 || r->status == 304 ||
	    head_req) {
		r->complete = true;
		memmove(cl->cl_in.data, p + hlen, blen);
		cl->cl_in.len = blen;
		return 1;
	}
	if (r->chunked) {
		ssize_t took = sfx_dechunk(p + hlen, blen, &r->body);

		if (took < 0)
			return -1;
		if (took == 0) {
			/* what arrived so far, raw */
			buf_reset(&r->body);
			buf_append(&r->body, p + hlen, blen);
			return 0;
		}
		r->complete = true;
		memmove(cl->cl_in.data, p + hlen + took, blen - (size_t)took);
		cl->cl_in.len = blen - (size_t)took;
		return 1;
	}
	if (r->has_len) {
		size_t take = blen < r->len ? blen : (size_t)r->len;

		buf_append(&r->body, p + hlen, take);
		if (take < r->len)
			return 0;
		r->complete = true;
		memmove(cl->cl_in.data, p + hlen + take, blen - take);
		cl->cl_in.len = blen - take;
		return 1;
	}
	/* Framed by the close. */
	buf_append(&r->body, p + hlen, blen);
	if (!cl->cl_eof)
		return 0;
	r->complete = true;
	buf_reset(&cl->cl_in);
	return 1;
}

/*
 * Reads the next response, turning the loop, SFX_WAIT_MS at most.
 * Returns 0 with *r complete, or -1: r->cut when the server closed first
 * (r holds what came), otherwise a timeout or a malformed answer.
 */
static inline int
sfx_response(struct sfx_client *cl, bool head_req, struct sfx_resp *r)
{
	int64_t end = loop_clock_ms() + SFX_WAIT_MS;

	for (;;) {
		int rc;

		sfx_pump(cl);
		rc = sfx_parse(cl, head_req, r);
		if (rc == 1)
			return 0;
		if (rc == -1)
			return -1;
		if (cl->cl_eof) {
			r->cut = true;
			return -1;
		}
		if (loop_clock_ms() > end)
			return -1;
		sfx_turn(10);
	}
}

/* Asserts a whole response and returns its status. */
static inline int
sfx_expect(struct sfx_client *cl, bool head_req, struct sfx_resp *r)
{
	int rc = sfx_response(cl, head_req, r);

	ck_assert_msg(rc == 0, "no whole response (status %d, cut %d, "
	    "%zu bytes of body, %zu unparsed)", r->status, r->cut,
	    r->body.len, cl->cl_in.len);
	return r->status;
}

/* One request, its whole response. */
static inline int
sfx_ask(struct sfx_client *cl, const char *req, struct sfx_resp *r)
{
	sfx_sends(cl, req);
	return sfx_expect(cl, strncmp(req, "HEAD ", 5) == 0, r);
}

/* Waits for the server to close the connection, ms at most. Bytes that
 * come meanwhile stay in cl_in. */
static inline bool
sfx_wait_closed(struct sfx_client *cl, int64_t ms)
{
	int64_t end = loop_clock_ms() + ms;

	for (;;) {
		sfx_pump(cl);
		if (cl->cl_eof || loop_clock_ms() > end)
			return cl->cl_eof;
		sfx_turn(10);
	}
}

/* The connection stays open and silent for ms. */
static inline bool
sfx_stays_open(struct sfx_client *cl, int64_t ms)
{
	int64_t end = loop_clock_ms() + ms;

	while (loop_clock_ms() < end) {
		sfx_turn(10);
		sfx_pump(cl);
		if (cl->cl_eof || cl->cl_in.len > 0)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* ROOT                                                                */

/* Deterministic bytes that differ from any shifted copy of themselves. */
static inline void
sfx_pattern(char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char)(x >> 24);
	}
}

static inline char *
sfx_pattern_new(size_t n, unsigned seed)
{
	char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	sfx_pattern(p, n, seed);
	return p;
}

/* Writes ROOT/name (as an operator would put a file there). */
static inline void
sfx_put_file(const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sfx.root, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	if (len > 0)
		ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static inline void
sfx_put_text(const char *name, const char *text)
{
	sfx_put_file(name, text, strlen(text));
}

/* Reads ROOT/name into out. Returns 0, or -1 when there is no such
 * regular file. */
static inline int
sfx_get_file(const char *name, struct buf *out)
{
	char path[512], tmp[65536];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", sfx.root, name);
	if (lstat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	buf_reset(out);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(out, tmp, (size_t)n);
	close(fd);
	return n == 0 ? 0 : -1;
}

static inline bool
sfx_exists(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", sfx.root, name);
	return lstat(path, &st) == 0;
}

/* Files in ROOT/.shoal-tmp (temporary files, reservations). */
static inline int
sfx_tmp_files(void)
{
	char path[512];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", sfx.root, FILE_TMP_DIR);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Regular files in ROOT, hidden ones excluded. */
static inline int
sfx_root_files(void)
{
	struct dirent *de;
	DIR *d = opendir(sfx.root);
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Asserts that body b is exactly data[0..len). */
#define SFX_ASSERT_BYTES(b, want, n) do {				\
	ck_assert_uint_eq((b)->len, (n));				\
	ck_assert_msg((n) == 0 || memcmp((b)->data, (want), (n)) == 0,	\
	    "bytes differ");						\
} while (0)

/* ------------------------------------------------------------------ */
/* Peers                                                               */

/* Makes the node's peers 127.0.0.1 at ports[0..n), each with `save` and
 * `ttl_ms`, as the master does from the configuration. */
static inline void
sfx_set_peers(const unsigned *ports, size_t n, bool save, int64_t ttl_ms)
{
	struct peer_spec specs[8];
	const char *why;
	size_t i;

	ck_assert_uint_le(n, 8);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(peer_spec_resolve("127.0.0.1", ports[i],
		    &specs[i], &why), 0);
		specs[i].ps_save = save;
		specs[i].ps_ttl_ms = ttl_ms;
	}
	ck_assert_int_eq(peer_table_replace(sfx.table, PEER_SOURCE_CONFIG,
	    specs, n, loop_clock_ms()), 0);
	ck_assert_uint_eq(peer_set_count(sfx.srv.s_peers), n);
}

/* ------------------------------------------------------------------ */
/* The runner                                                          */

/* A tcase with the fixture: the base made by the parent, a server per
 * test (set up by `setup`, which calls sfx_setup(), and torn down by
 * `teardown`; NULL: those two alone), and a timeout that covers the
 * bounded waits. */
static inline TCase *
sfx_tcase(const char *name, SFun setup, SFun teardown,
    const TTest *const *tests, size_t n)
{
	TCase *tc = check_main_tcase(name, setup != NULL ? setup : sfx_setup,
	    teardown != NULL ? teardown : sfx_teardown, tests, n);

	tcase_add_unchecked_fixture(tc, sfx_make_base, sfx_remove_base);
	tcase_set_timeout(tc, 20);
	return tc;
}

#endif
