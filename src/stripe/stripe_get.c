/*
 * stripe_get.c - GET and HEAD of a striped object (see stripe_get.h).
 * Loop thread of a worker; the manifest is read by a job of the
 * connection in the I/O pool, into the connection's c_job_out.
 *
 * The body moves in the object's order: for the next byte, the layout
 * names the part and how many bytes follow it in that part's block; they
 * are sent from that part's connection's data, which is consumed (and
 * read on) once all of it went to the client. A part's connection that
 * runs ahead simply waits with its data, so each store is read at the
 * pace the client takes the object.
 *
 * State: the cluster, the names directory and the list of reads, set
 * once per worker before serving; the list is the loop thread's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "core/xxh3.h"
#include "event/loop.h"
#include "http/condition.h"
#include "http/httpdate.h"
#include "http/mime.h"
#include "http/range.h"
#include "http/response.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "serve/conn.h"
#include "serve/server.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"
#include "stripe/self_peer.h"
#include "stripe/stripe_get.h"
#include "stripe/stripe_rows.h"

#define STRIPE_GET_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)
/* A part's bytes read at a time, at most: one recv per default block
 * (256 KiB reads cost the front a third more CPU per byte, mostly in the
 * acknowledgements each read sends). */
#define STRIPE_GET_READ (1 << 20)

static struct cluster *sg_cluster;
static char sg_self[MEMBER_NAME_MAX];	/* this node's name */
static int sg_names_fd = -1;		/* stripe/names: taken here */
static int sg_parts_names_fd = -1;	/* parts/names: parts held here */
static struct list sg_all = LIST_HEAD_INIT(sg_all);

struct get_leg {
	struct stripe_get *g_get;
	unsigned g_index;
	struct peer_conn *g_pc;
	uint64_t g_from, g_to;		/* the part's bytes read */
	uint64_t g_taken;		/* of them sent to the client */
	size_t g_off;			/* into the connection's data */
	bool g_whole;			/* the whole part: checked */
	bool g_checked;
	uint64_t g_hashed;		/* of the part's bytes read */
	struct xxh3 *g_hash;
};

struct stripe_get {
	struct list g_link;		/* sg_all */
	struct conn *g_conn;
	struct manifest g_m;
	struct layout g_layout;
	uint64_t g_pos, g_end;		/* the object's bytes to send */
	unsigned g_unchecked;		/* whole parts not yet checked */
	struct get_leg g_legs[CONFIG_STRIPE_PARTS_MAX];
};

static void
stripe_get_free(struct stripe_get *g)
{
	unsigned i;

	list_remove(&g->g_link);
	for (i = 0; i < g->g_m.m_nparts; i++) {
		if (g->g_legs[i].g_pc != NULL)
			peer_conn_close(g->g_legs[i].g_pc);
		xxh3_free(g->g_legs[i].g_hash);
	}
	free(g);
}

/* The body cannot be completed: the client sees the connection cut. */
static void
stripe_get_cut(struct stripe_get *g, const char *why)
{
	struct conn *c = g->g_conn;

	log_warnx("striped read of %s (%s) cut: %s", g->g_m.m_name,
	    g->g_m.m_id, why);
	g->g_conn = NULL;
	stripe_get_free(g);
	if (c != NULL)
		conn_abort(c);
}

/* Hashes the bytes of a whole part about to be sent (those not hashed
 * yet of its next `have`), and checks the part when they are its last:
 * before they go, so that a bad part cuts a body that is still short.
 * Returns false on a mismatch. */
static bool
stripe_get_check(struct stripe_get *g, struct get_leg *l, size_t have)
{
	uint64_t upto = l->g_taken + have;
	struct digest d;

	if (!l->g_whole || l->g_checked || upto <= l->g_hashed)
		return true;
	xxh3_update(l->g_hash, peer_conn_data(l->g_pc) + l->g_off +
	    (l->g_hashed - l->g_taken), (size_t)(upto - l->g_hashed));
	l->g_hashed = upto;
	if (upto < l->g_to - l->g_from)
		return true;
	xxh3_digest(l->g_hash, &d);
	l->g_checked = true;
	g->g_unchecked--;
	return digest_equal(&d, &g->g_m.m_parts[l->g_index].mp_digest);
}

/*
 * The object's next bytes that are here, in order, as vectors into the
 * parts' connections' data (legs[i] the part of iov[i]): a run of one
 * part's block joins only once the run before it is here whole, so that
 * one send takes the ends of several blocks. Each whole part's bytes are
 * checked before they are handed out. Returns the vectors (0: the part
 * in turn has nothing yet), or -1 after cutting.
 */
static int
stripe_get_gather(struct stripe_get *g, struct iovec *iov,
    struct get_leg **legs)
{
	size_t planned[CONFIG_STRIPE_PARTS_MAX] = { 0 };
	uint64_t pos = g->g_pos;
	int n = 0;

	while (n < CONN_SENDV_MAX && pos < g->g_end) {
		struct get_leg *l;
		uint64_t part_off, run;
		unsigned part;
		size_t have;

		layout_locate(&g->g_layout, pos, &part, &part_off, &run);
		l = &g->g_legs[part];
		if (l->g_pc == NULL) {
			stripe_get_cut(g, "a part's store went away");
			return -1;
		}
		have = peer_conn_data_len(l->g_pc) - l->g_off - planned[part];
		if (run > g->g_end - pos)
			run = g->g_end - pos;
		if (have > run)
			have = (size_t)run;
		if (have == 0)
			break;
		if (!stripe_get_check(g, l, planned[part] + have)) {
			stripe_get_cut(g, "a part's digest does not match its "
			    "manifest");
			return -1;
		}
		iov[n].iov_base = peer_conn_data(l->g_pc) + l->g_off +
		    planned[part];
		iov[n].iov_len = have;
		legs[n++] = l;
		planned[part] += have;
		pos += have;
		if (have < run)
			break;
	}
	/* Every whole part is checked before the body's last byte (the
	 * parts before it in order are all handed out by then). */
	if (pos == g->g_end && g->g_unchecked > 0) {
		stripe_get_cut(g, "a part was not checked whole");
		return -1;
	}
	return n;
}

/* Sends what can go now, in order; finishes or cuts. */
static void
stripe_get_pump(struct stripe_get *g)
{
	struct conn *c = g->g_conn;

	while (g->g_pos < g->g_end) {
		struct iovec iov[CONN_SENDV_MAX];
		struct get_leg *legs[CONN_SENDV_MAX];
		size_t total = 0, left;
		ssize_t sent;
		unsigned p;
		int n, i;

		if ((n = stripe_get_gather(g, iov, legs)) == -1)
			return;
		if (n == 0) {
			conn_wait_hangup(c);	/* the part's on_body calls */
			return;
		}
		for (i = 0; i < n; i++)
			total += iov[i].iov_len;
		sent = conn_sendv(c, iov, n, g->g_pos + total < g->g_end);
		if (sent < 0) {
			stripe_get_cut(g, "the client went away");
			return;
		}
		left = (size_t)sent;
		for (i = 0; i < n && left > 0; i++) {
			size_t k = left < iov[i].iov_len ? left :
			    iov[i].iov_len;

			legs[i]->g_taken += k;
			legs[i]->g_off += k;
			g->g_pos += k;
			left -= k;
		}
		/* A part's connection reads on once all its data went. */
		for (p = 0; p < g->g_m.m_nparts; p++) {
			struct get_leg *l = &g->g_legs[p];

			if (l->g_pc != NULL && l->g_off > 0 &&
			    l->g_off == peer_conn_data_len(l->g_pc)) {
				l->g_off = 0;
				peer_conn_consumed(l->g_pc);
			}
		}
		if ((size_t)sent < total) {
			conn_wait_writable(c);
			return;
		}
	}
	if (conn_out_pending(c) > 0) {
		if (conn_sendv(c, NULL, 0, false) < 0) {
			stripe_get_cut(g, "the client went away");
			return;
		}
		if (conn_out_pending(c) > 0) {
			conn_wait_writable(c);
			return;
		}
	}
	g->g_conn = NULL;
	stripe_get_free(g);
	conn_finish(c);
}

/* -- the parts' connections -------------------------------------------- */

static void
stripe_get_part_head(struct peer_conn *pc, void *arg)
{
	struct get_leg *l = arg;
	const struct http_message *r = &pc->pc_resp;

	if (r->status != 206 || !r->has_content_length ||
	    r->content_length != l->g_to - l->g_from) {
		char why[96];

		snprintf(why, sizeof(why), "part %u answered %d", l->g_index,
		    r->status);
		peer_conn_close(pc);
		l->g_pc = NULL;
		stripe_get_cut(l->g_get, why);
	}
}

static void
stripe_get_part_body(struct peer_conn *pc, void *arg)
{
	struct get_leg *l = arg;

	(void)pc;
	if (l->g_get->g_conn != NULL)
		stripe_get_pump(l->g_get);
}

static void
stripe_get_part_done(struct peer_conn *pc, void *arg)
{
	struct get_leg *l = arg;

	(void)pc;
	/* Every byte went (the pump consumed them all before this). */
	if (l->g_taken == l->g_to - l->g_from) {
		peer_conn_release(pc);
		l->g_pc = NULL;
	}
}

static void
stripe_get_part_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct get_leg *l = arg;
	char text[96];

	(void)pc;
	l->g_pc = NULL;
	if (l->g_taken == l->g_to - l->g_from)
		return;		/* all of it went already */
	snprintf(text, sizeof(text), "the store of part %u failed (%d)",
	    l->g_index, (int)why);
	stripe_get_cut(l->g_get, text);
}

static const struct peer_handler stripe_get_part_handler = {
	.on_head = stripe_get_part_head,
	.on_body = stripe_get_part_body,
	.on_done = stripe_get_part_done,
	.on_fail = stripe_get_part_fail,
};

/* Asks the part's store for its bytes [g_from, g_to). */
static bool
stripe_get_request(struct server *s, struct stripe_get *g, struct get_leg *l)
{
	struct cluster *cl = sg_cluster;
	char addr[MEMBER_ADDR_MAX], target[64], sig[AUTH_SIGNATURE_SIZE];
	bool alive = false;
	char head[STRIPE_GET_HEAD_MAX], self[MEMBER_ADDR_MAX] = "";
	uint8_t nonce[AUTH_NONCE_LEN];
	struct peer_set *set;
	struct peer *p;
	int n;

	if (members_lock(cl->cl_members) == 0) {
		memcpy(self, members_self(cl->cl_members)->m_facts.mf_addr,
		    sizeof(self));
		members_unlock(cl->cl_members);
	}
	if (gossip_member_addr(cl, g->g_m.m_parts[l->g_index].mp_node, addr,
	    sizeof(addr), &alive) == -1 || !alive ||
	    (p = self_peer_find(s->s_peers, s->s_loop, self, addr,
	    &s->s_limits, s->s_cfg->peer_timeout_ms, &set)) == NULL)
		return false;
	snprintf(target, sizeof(target), "/_/parts/%s/%u", g->g_m.m_id,
	    l->g_index);
	if (auth_nonce(nonce) == -1 || auth_sign_request(cl->cl_key,
	    cl->cl_name, "GET", target, NULL, loop_wall_ms(), nonce, sig,
	    sizeof(sig)) == -1)
		return false;
	n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\nRange: bytes=%" PRIu64
	    "-%" PRIu64 "\r\n%s: %s\r\n%s: %s\r\n\r\n", target, p->p_name,
	    l->g_from, l->g_to - 1, AUTH_CLUSTER_HEADER, cl->cl_name,
	    AUTH_SIGNATURE_HEADER, sig);
	if (n < 0 || (size_t)n >= sizeof(head))
		return false;
	l->g_pc = peer_request(set, p, head, (size_t)n, 0,
	    s->s_cfg->peer_timeout_ms, &stripe_get_part_handler, l);
	peer_conn_read_size(l->g_pc, l->g_to - l->g_from < STRIPE_GET_READ ?
	    (size_t)(l->g_to - l->g_from) : STRIPE_GET_READ);
	return true;
}

/* -- the client -------------------------------------------------------- */

static void
stripe_get_io(struct conn *c, short revents)
{
	struct stripe_get *g = conn_owner(c);

	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLOUT)) {
		stripe_get_cut(g, "the client went away");
		return;
	}
	stripe_get_pump(g);
}

static void
stripe_get_timeout(struct conn *c)
{
	stripe_get_cut(conn_owner(c), "the client stopped reading");
}

static void
stripe_get_close(struct conn *c)
{
	struct stripe_get *g = conn_owner(c);

	g->g_conn = NULL;
	stripe_get_free(g);
}

static const struct conn_handler stripe_get_conn_handler = {
	.on_io = stripe_get_io,
	.on_timeout = stripe_get_timeout,
	.on_close = stripe_get_close,
};

/* The head, and for a GET with bytes to send, the parts' requests. */
static void
stripe_get_answer(struct conn *c, const struct manifest *m, time_t mtime)
{
	const struct http_message *req = &c->c_req;
	char etag[CONDITION_ETAG_LEN + 1], lastmod[HTTPDATE_LEN + 1];
	char num[96];
	uint64_t first = 0, last = m->m_size;
	enum range_result range = RANGE_NONE;
	struct buf *out = &c->c_out;
	struct stripe_rows *rows = NULL;
	struct stripe_get *g = NULL;
	unsigned i;

	condition_etag_format(&m->m_digest, etag);
	httpdate_format(mtime, lastmod);
	if (req->if_none_match.p != NULL && condition_none_match(
	    req->if_none_match.p, req->if_none_match.len, etag)) {
		buf_reset(out);
		c->c_status = 304;
		response_start(out, 304);
		response_header(out, "ETag", etag);
		response_end(out, c->c_close, conn_http10_keepalive(c));
		conn_send(c);
		return;
	}
	if (req->method == HTTP_METHOD_GET && req->range.p != NULL &&
	    (req->if_range.p == NULL || condition_if_range(req->if_range.p,
	    req->if_range.len, etag, mtime)))
		range = range_parse(req->range.p, req->range.len, m->m_size,
		    &first, &last);
	if (range == RANGE_UNSATISFIABLE) {
		snprintf(num, sizeof(num), "Content-Range: bytes */%" PRIu64
		    "\r\n", m->m_size);
		conn_send_text(c, 416, "range not satisfiable", num);
		return;
	}
	if (range == RANGE_OK)
		last++;
	/* With parity, any k parts do, row by row (stripe/stripe_rows.h). */
	if (m->m_parity > 0 && req->method == HTTP_METHOD_GET && last > first) {
		char why[96];

		if ((rows = stripe_rows_new(c->c_srv, m, first, last, why,
		    sizeof(why))) == NULL) {
			log_warnx("striped read of %s (%s) refused: %s",
			    m->m_name, m->m_id, why);
			conn_send_text(c, 502, why, NULL);
			return;
		}
		goto head;
	}
	g = xcalloc(1, sizeof(*g));
	list_insert_tail(&sg_all, &g->g_link);
	g->g_m = *m;
	g->g_layout = manifest_layout(m);
	g->g_pos = first;
	g->g_end = req->method == HTTP_METHOD_GET ? last : first;
	for (i = 0; i < m->m_nparts; i++) {
		struct get_leg *l = &g->g_legs[i];

		l->g_get = g;
		l->g_index = i;
		if (g->g_end == g->g_pos || !layout_part_range(&g->g_layout, i,
		    first, last, &l->g_from, &l->g_to))
			continue;
		l->g_whole = l->g_from == 0 && l->g_to == m->m_parts[i].mp_size;
		if (l->g_whole) {
			if ((l->g_hash = xxh3_new()) == NULL) {
				stripe_get_free(g);
				conn_send_text(c, 503, "out of memory", NULL);
				return;
			}
			g->g_unchecked++;
		}
		if (!stripe_get_request(c->c_srv, g, l)) {
			char why[MEMBER_NAME_MAX + 64];

			snprintf(why, sizeof(why), "the store of part %u (%s) "
			    "cannot be reached", i, m->m_parts[i].mp_node);
			stripe_get_free(g);
			conn_send_text(c, 502, why, NULL);
			return;
		}
	}
head:
	buf_reset(out);
	c->c_status = range == RANGE_OK ? 206 : 200;
	response_start(out, c->c_status);
	response_header(out, "Content-Type", mime_type(m->m_name,
	    m->m_name_len));
	snprintf(num, sizeof(num), "%" PRIu64, last - first);
	response_header(out, "Content-Length", num);
	if (c->c_status == 206) {
		snprintf(num, sizeof(num), "bytes %" PRIu64 "-%" PRIu64 "/%"
		    PRIu64, first, last - 1, m->m_size);
		response_header(out, "Content-Range", num);
	}
	response_header(out, "ETag", etag);
	response_header(out, "Last-Modified", lastmod);
	response_header(out, "Accept-Ranges", "bytes");
	snprintf(num, sizeof(num), "%u", manifest_data_parts(m));
	response_header(out, SERVER_STRIPED_HEADER, num);
	response_end(out, c->c_close, conn_http10_keepalive(c));
	if (rows != NULL) {
		stripe_rows_run(rows, c);
		return;
	}
	c->c_out_off = 0;
	c->c_body_len = g->g_end - g->g_pos;
	g->g_conn = c;
	conn_own(c, &stripe_get_conn_handler, g);
	stripe_get_pump(g);
}

/* -- the lookup -------------------------------------------------------- */

/* Pool thread: the manifest kept under the name, into c_job_out, and its
 * mtime into c_file (fi_errno ENOENT when there is none). */
static void
stripe_get_job(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct stat st;
	char text[MANIFEST_MAX];
	ssize_t n;
	int fd;

	buf_reset(&c->c_job_out);
	c->c_file.fi_errno = 0;
	fd = openat(sg_names_fd, c->c_name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd == -1 && errno == ENOENT)
		fd = openat(sg_parts_names_fd, c->c_name, O_RDONLY |
		    O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1 ||
	    (n = pread(fd, text, sizeof(text), 0)) <= 0) {
		c->c_file.fi_errno = fd == -1 ? errno : EIO;
		if (fd != -1)
			close(fd);
		return;
	}
	close(fd);
	c->c_file.fi_mtime = st.st_mtim;
	buf_append(&c->c_job_out, text, (size_t)n);
}

static void (*sg_otherwise)(struct conn *c);

static void
stripe_get_job_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct manifest m;
	const char *why = NULL;

	if (c->c_file.fi_errno == ENOENT) {
		buf_free(&c->c_job_out);
		sg_otherwise(c);
		return;
	}
	if (c->c_file.fi_errno != 0 || manifest_decode(c->c_job_out.data,
	    c->c_job_out.len, &m, &why) == -1) {
		log_warnx("striped object %s: unreadable manifest (%s)",
		    c->c_name, why != NULL ? why : strerror(
		    c->c_file.fi_errno));
		buf_free(&c->c_job_out);
		conn_send_text(c, 500, "unreadable manifest", NULL);
		return;
	}
	buf_free(&c->c_job_out);
	c->c_file.fi_errno = 0;
	stripe_get_answer(c, &m, c->c_file.fi_mtime.tv_sec);
}

/*
 * Whether a manifest of the name may be here: the catalogue says its
 * winning version is striped and this node holds it (it took the upload,
 * or stores a part), or cannot say (a full table may have left the
 * version out). Any other miss goes to the peers at once, without a job
 * in the pool for nothing (a look on disk cost a miss in a cluster a
 * third more CPU than a miss elsewhere).
 */
static bool
stripe_get_held_here(const char *name)
{
	struct catalogue *cat = sg_cluster->cl_catalogue;
	struct cat_version_view v;
	bool here = true;
	uint32_t i, listed;

	if (catalogue_lock(cat) != 0)
		return true;
	if (catalogue_versions_locked(cat, name, strlen(name), &v, 1) > 0) {
		listed = v.vv_nholders < CATALOGUE_HOLDERS_VIEW ?
		    v.vv_nholders : CATALOGUE_HOLDERS_VIEW;
		here = v.vv_striped && v.vv_nholders > listed;
		for (i = 0; i < listed && v.vv_striped && !here; i++)
			here = strcmp(v.vv_holders[i], sg_self) == 0;
	} else
		here = catalogue_stats(cat)->cs_refused_full > 0;
	catalogue_unlock(cat);
	return here;
}

static void
stripe_get_try(struct conn *c, void (*otherwise)(struct conn *c))
{
	if (!stripe_get_held_here(c->c_name)) {
		otherwise(c);
		return;
	}
	sg_otherwise = otherwise;
	conn_submit(c, stripe_get_job, stripe_get_job_done);
}

int
stripe_get_attach(struct server *s, struct cluster *cl)
{
	char path[4096];

	sg_cluster = cl;
	if (members_lock(cl->cl_members) == 0) {
		snprintf(sg_self, sizeof(sg_self), "%s",
		    members_self(cl->cl_members)->m_facts.mf_name);
		members_unlock(cl->cl_members);
	}
	if (sg_names_fd == -1) {
		snprintf(path, sizeof(path), "%s/stripe/names",
		    s->s_cfg->state_dir);
		sg_names_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (sg_names_fd == -1) {
			log_err("%s", path);
			return -1;
		}
		snprintf(path, sizeof(path), "%s/parts/names",
		    s->s_cfg->state_dir);
		sg_parts_names_fd = open(path, O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
		if (sg_parts_names_fd == -1) {
			log_err("%s", path);
			return -1;
		}
	}
	s->s_stripe_get = stripe_get_try;
	return 0;
}

void
stripe_get_teardown(void)
{
	while (!list_empty(&sg_all)) {
		struct stripe_get *g = container_of(sg_all.next,
		    struct stripe_get, g_link);
		unsigned i;

		/* The peer set frees the connections next. */
		for (i = 0; i < g->g_m.m_nparts; i++)
			g->g_legs[i].g_pc = NULL;
		stripe_get_free(g);
	}
}
