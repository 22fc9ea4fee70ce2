/*
 * replica_serve.c - a worker's answer to replication pulls (see
 * replica_serve.h). Loop thread of a worker; the open, the digest check
 * and the origin are read in a job of the worker's I/O pool, which uses
 * only the connection's c_file and the module's read-only state below.
 *
 * State: the cluster and a descriptor of the state directory, set once
 * per process before serving (one worker, one cluster), read-only after.
 * The answer is not signed: its bytes are checked by the puller against
 * the version's content digest, which the catalogue gave it.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/cluster_serve.h"
#include "cluster/replica_serve.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "http/response.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/file.h"
#include "store/metrics.h"
#include "store/name.h"
#include "store/versions.h"

static struct cluster *replica_cluster;
static int replica_state_fd = -1;

/* -- pure helpers ------------------------------------------------------ */

int
replica_version_of(const char *target, size_t len, struct digest *d)
{
	struct http_str v;

	if (!http_query_value(target, len, "version", &v))
		return -1;
	return digest_parse(v.p, v.len, d);
}

void
replica_origin_format(uint64_t hlc, const char *node, char *out)
{
	snprintf(out, REPLICA_ORIGIN_MAX, "%016llx %s",
	    (unsigned long long)hlc, node);
}

int
replica_origin_parse(const char *v, size_t len, uint64_t *hlc,
    char node[MEMBER_NAME_MAX])
{
	uint64_t h = 0;
	size_t i;

	if (len < 18 || len - 17 >= MEMBER_NAME_MAX || v[16] != ' ')
		return -1;
	for (i = 0; i < 16; i++) {
		char c = v[i];
		unsigned x;

		if (c >= '0' && c <= '9')
			x = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			x = (unsigned)(c - 'A' + 10);
		else
			return -1;
		h = h << 4 | x;
	}
	memcpy(node, v + 17, len - 17);
	node[len - 17] = '\0';
	if (!member_name_valid(node, MEMBER_NAME_MAX))
		return -1;
	*hlc = h;
	return 0;
}

/* -- the answer -------------------------------------------------------- */

/* Pool thread: opens ROOT's file when it is the version asked for, else
 * the kept one, into c->c_file; the Shoal-Origin header line (when the
 * file has an origin) into c->c_job_out. */
static void
replica_job(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct server *s = c->c_srv;
	char node[MEMBER_NAME_MAX], value[REPLICA_ORIGIN_MAX];
	struct digest version, d;
	uint64_t hlc;

	buf_reset(&c->c_job_out);
	version = c->c_version;		/* parsed by the route */
	file_open(s->s_root_fd, c->c_name, -1, &c->c_file);
	if (c->c_file.fi_fd != -1) {
		bool known = c->c_file.fi_content;

		d = c->c_file.fi_digest;
		if (!known && file_content_digest(c->c_file.fi_fd,
		    c->c_file.fi_size, &d) == 0) {
			known = true;
			(void)file_digest_record(c->c_file.fi_fd, &d);
		}
		if (known && digest_equal(&d, &version))
			goto found;
		close(c->c_file.fi_fd);
		c->c_file.fi_fd = -1;
	}
	versions_open(replica_state_fd, c->c_name, &version, &c->c_file);
	if (c->c_file.fi_fd == -1)
		return;
found:
	if (file_origin_read(c->c_file.fi_fd, &hlc, node, sizeof(node)) == 0) {
		replica_origin_format(hlc, node, value);
		buf_printf(&c->c_job_out, "%s: %s\r\n", REPLICA_ORIGIN_HEADER,
		    value);
	}
}

static void
replica_job_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct file_info *fi = &c->c_file;
	char num[32];

	if (fi->fi_fd == -1) {
		buf_free(&c->c_job_out);
		if (fi->fi_errno == ENOENT) {
			conn_send_text(c, 404, "no such version here", NULL);
			return;
		}
		errno = fi->fi_errno;
		log_warn("replica: open %s", c->c_name);
		conn_send_text(c, 500, "cannot open the version", NULL);
		return;
	}
	buf_reset(&c->c_out);
	c->c_status = 200;
	response_start(&c->c_out, 200);
	response_header(&c->c_out, "Content-Type", "application/octet-stream");
	snprintf(num, sizeof(num), "%llu", (unsigned long long)fi->fi_size);
	response_header(&c->c_out, "Content-Length", num);
	response_header(&c->c_out, "Cache-Control", "no-store");
	/* The origin line, as the job wrote it (whole header lines). */
	buf_append(&c->c_out, c->c_job_out.data, c->c_job_out.len);
	buf_free(&c->c_job_out);
	response_end(&c->c_out, c->c_close, conn_http10_keepalive(c));
	if (c->c_req.method == HTTP_METHOD_GET && fi->fi_size > 0) {
		c->c_file_off = 0;
		c->c_file_end = fi->fi_size;
		c->c_body_len = fi->fi_size;
	} else {
		close(fi->fi_fd);
		fi->fi_fd = -1;
	}
	conn_send(c);
}

static void
replica_route(struct conn *c, const char *path)
{
	struct cluster *cl = replica_cluster;
	const size_t plen = strlen(REPLICA_ROUTE);

	(void)path;
	if (!cluster_serve_signed(c, cl))
		return;
	if (c->c_req.method != HTTP_METHOD_GET) {
		conn_send_text(c, 405, "method not allowed here",
		    "Allow: GET\r\n");
		return;
	}
	/* c_name holds "replica/NAME", decoded: keep the name. */
	if (c->c_name_len <= plen || memcmp(c->c_name, REPLICA_ROUTE,
	    plen) != 0 || !name_is_valid(c->c_name + plen,
	    c->c_name_len - plen)) {
		conn_send_text(c, 400, "bad name", NULL);
		return;
	}
	memmove(c->c_name, c->c_name + plen, c->c_name_len - plen + 1);
	c->c_name_len -= plen;
	if (replica_version_of(c->c_req.target.p, c->c_req.target.len,
	    &c->c_version) == -1) {
		conn_send_text(c, 400, "?version= wants 32 hex digits", NULL);
		return;
	}
	c->c_has_version = true;
	conn_submit(c, replica_job, replica_job_done);
}

static uint64_t
replica_sum(size_t offset)
{
	const struct metrics_shared *m = metrics_shared();
	uint64_t n = 0;
	size_t k;

	for (k = 0; k < METRICS_SLOTS; k++)
		n += __atomic_load_n((const uint64_t *)(const void *)
		    ((const char *)&m->slots[k] + offset), __ATOMIC_RELAXED);
	return n;
}

/* The replication's families of /_/metrics: the agent counts its pulls
 * in its metrics slot (cluster/replicate.h). */
static void
replica_metrics(struct server *s, struct buf *out)
{
	(void)s;
	metrics_family(out, "shoal_replication_pulls_total",
	    "Replication pulls of versions this node is chosen to hold.",
	    "counter");
	buf_printf(out, "shoal_replication_pulls_total{result=\"ok\"} %llu\n"
	    "shoal_replication_pulls_total{result=\"failed\"} %llu\n",
	    (unsigned long long)replica_sum(offsetof(struct metrics_slot,
	    ms_replication_ok)),
	    (unsigned long long)replica_sum(offsetof(struct metrics_slot,
	    ms_replication_failed)));
	metrics_counter(out, "shoal_replication_bytes_total",
	    "Bytes of versions pulled and published.",
	    replica_sum(offsetof(struct metrics_slot, ms_replication_bytes)));
	metrics_counter(out, "shoal_replication_surplus_total",
	    "Replicas removed from this node because the members the name's "
	    "ranking chooses all held the version (copies made while the "
	    "cluster was forming or changing).",
	    replica_sum(offsetof(struct metrics_slot, ms_replication_surplus)));
	metrics_gauge(out, "shoal_replication_pending",
	    "Versions this node is chosen to hold and does not, as of the "
	    "last walk of the catalogue.",
	    replica_sum(offsetof(struct metrics_slot, ms_replication_pending)));
}

int
replica_serve_routes(struct server *s, struct cluster *cl)
{
	replica_cluster = cl;
	if (replica_state_fd == -1) {
		replica_state_fd = open(s->s_cfg->state_dir, O_PATH |
		    O_DIRECTORY | O_CLOEXEC);
		if (replica_state_fd == -1) {
			log_err("state directory %s", s->s_cfg->state_dir);
			return -1;
		}
	}
	if (server_route(s, REPLICA_ROUTE, replica_route) == -1) {
		log_errx("replica: no room for the route");
		return -1;
	}
	(void)server_metrics(s, replica_metrics);
	return 0;
}
