/*
 * parts_serve.c - a store's part routes (see parts_serve.h): the target,
 * the signatures, DELETE and the striping metrics; a part's PUT is
 * parts_serve_put.c's, the commit parts_serve_commit.c's (they share
 * parts_serve_int.h), GET and HEAD are parts_read.c's. Loop thread of a
 * worker; disk work in its I/O pool, in jobs of the connection
 * (stripe/parts.h).
 *
 * State: the cluster, the node's shared striping counters, the parts
 * directories and the spool directory, set once per worker before
 * serving and read-only after (the spool directory's list is the loop
 * thread's). A job of a connection reads its owner's state (struct
 * part_req) while the loop leaves it alone: the connection is not freed
 * before its job is done.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/cluster_serve.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/metrics.h"
#include "store/spool.h"
#include "stripe/blocksum.h"
#include "stripe/heal.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/parts_read.h"
#include "stripe/parts_serve.h"
#include "stripe/parts_serve_int.h"
#include "stripe/stripe.h"

#define PARTS_ROUTE "parts/"

struct cluster *parts_serve_cluster;
struct stripe_shared *parts_serve_shared;
struct parts_dirs parts_serve_dirs = { -1, -1, -1, -1 };
int parts_serve_origin_fd = -1, parts_serve_origin_names_fd = -1;
struct spool_dir parts_serve_spool;
bool parts_serve_spool_ready;

/* -- the target and the headers ----------------------------------------- */

int
parts_serve_target(const char *path, char *id, enum part_kind *kind,
    unsigned *index)
{
	const char *p = path + strlen(PARTS_ROUTE), *q;
	unsigned v = 0;

	if (strncmp(path, PARTS_ROUTE, strlen(PARTS_ROUTE)) != 0 ||
	    strlen(p) < MANIFEST_ID_LEN ||
	    !manifest_id_valid(p, MANIFEST_ID_LEN))
		return 400;
	memcpy(id, p, MANIFEST_ID_LEN);
	id[MANIFEST_ID_LEN] = '\0';
	p += MANIFEST_ID_LEN;
	if (*p == '\0') {
		*kind = PART_OBJECT;
		return 0;
	}
	if (*p++ != '/')
		return 400;
	if (strcmp(p, "commit") == 0 || strcmp(p, "manifest") == 0) {
		*kind = *p == 'c' ? PART_COMMIT : PART_MANIFEST;
		return 0;
	}
	for (q = p; *q >= '0' && *q <= '9'; q++)
		if (q - p < 3)
			v = v * 10 + (unsigned)(*q - '0');
	if (q == p || *q != '\0' || (*p == '0' && q - p > 1))
		return 400;
	if (q - p > 2 || v >= CONFIG_STRIPE_PARTS_MAX)
		return 404;
	*kind = PART_BYTES;
	*index = v;
	return 0;
}

int
parts_serve_block(const char *p, size_t len, uint64_t *block)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 12)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v < MANIFEST_BLOCK_MIN || v > MANIFEST_BLOCK_MAX)
		return -1;
	*block = v;
	return 0;
}

/* -- signatures -------------------------------------------------------- */

/* Checks the signature of c's request over body_digest (NULL: zero
 * bytes); on failure answers and returns false. */
bool
parts_serve_verify(struct conn *c, const uint8_t *body_digest)
{
	struct cluster *cl = parts_serve_cluster;
	enum auth_verdict v;

	v = auth_verify_request(cl->cl_key, cl->cl_name, &c->c_req,
	    body_digest, loop_wall_ms(), cl->cl_nonces, NULL);
	if (v == AUTH_OK)
		return true;
	cluster_stat_add(&cl->cl_stats->cs_refused[cluster_refusal_of(v)],
	    1);
	log_debug("part request from %s refused: %s", c->c_addr,
	    auth_verdict_reason(v));
	request_skip_body(c);
	conn_send_text(c, auth_verdict_status(v), auth_verdict_reason(v),
	    auth_verdict_status(v) == 503 ? "Retry-After: 1\r\n" : NULL);
	return false;
}

void
parts_serve_req_free(struct part_req *pr)
{
	if (pr->pr_declared > 0 && !pr->pr_stored)
		stripe_add(&parts_serve_shared->ss_inflight, -pr->pr_declared);
	if (pr->pr_spool != NULL)
		spool_abort(pr->pr_spool);
	if (pr->pr_declared > 0 || pr->pr_stored)
		stripe_publish_use(parts_serve_shared, parts_serve_cluster);
	buf_free(&pr->pr_body.sb_body);
	blocksum_stream_free(&pr->pr_sums);
	XXH3_freeState(pr->pr_hash);
	free(pr->pr_trailer);
	free(pr);
}

void
parts_serve_on_close(struct conn *c)
{
	struct part_req *pr = conn_owner(c);

	/* At exit the pool is gone: parts_serve_teardown() removes the
	 * temporary file instead. */
	if (c->c_srv->s_pool == NULL)
		pr->pr_spool = NULL;
	parts_serve_req_free(pr);
}

/* While its job runs the connection waits for nothing (no events, no
 * timer); it is owned only so that the job can find its state. */
static void
parts_job_io(struct conn *c, short revents)
{
	(void)c;
	(void)revents;
}

static void
parts_job_timeout(struct conn *c)
{
	(void)c;
}

const struct conn_handler parts_serve_job_handler = {
	.on_io = parts_job_io,
	.on_timeout = parts_job_timeout,
	.on_close = parts_serve_on_close,
};

/* -- DELETE ------------------------------------------------------------ */

static void
parts_delete_job(struct iopool_job *job)
{
	struct part_req *pr = conn_owner(conn_of_job(job));

	char name[PARTS_FILE_MAX];
	struct stat st;

	pr->pr_bytes = parts_delete(&parts_serve_dirs, pr->pr_id, &pr->pr_count,
	    &pr->pr_manifest, &pr->pr_had);
	parts_manifest_name(pr->pr_id, name);
	pr->pr_origin = fstatat(parts_serve_origin_fd, name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0;
}

static void
parts_delete_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct part_req *pr = conn_owner(c);
	char text[64];

	stripe_add(&parts_serve_shared->ss_disk, -pr->pr_bytes);
	stripe_add(&parts_serve_shared->ss_parts_deleted, pr->pr_count);
	stripe_add(&parts_serve_shared->ss_parts_held, -(uint64_t)pr->pr_count);
	/* The node that took the upload still holds it (its manifest). */
	if (pr->pr_had && !pr->pr_origin)
		stripe_withdraw(parts_serve_cluster, &pr->pr_manifest);
	stripe_publish_use(parts_serve_shared, parts_serve_cluster);
	snprintf(text, sizeof(text), "removed %u part files", pr->pr_count);
	parts_serve_req_free(pr);
	conn_send_text(c, 200, text, NULL);
}

/* -- the route --------------------------------------------------------- */

static void
parts_route(struct conn *c, const char *path)
{
	enum http_method m = c->c_req.method;
	enum part_kind kind = PART_OBJECT;
	struct part_req *pr;
	char id[MANIFEST_ID_LEN + 1];
	unsigned index = 0;
	int bad;

	if ((bad = parts_serve_target(path, id, &kind, &index)) != 0) {
		request_skip_body(c);
		conn_send_text(c, bad, bad == 404 ? "no such part index" :
		    "bad part path: /_/parts/ID[/I|/commit|/manifest]", NULL);
		return;
	}
	if ((kind == PART_OBJECT && m != HTTP_METHOD_DELETE) ||
	    (kind == PART_COMMIT && m != HTTP_METHOD_POST) ||
	    (kind == PART_MANIFEST && m != HTTP_METHOD_GET &&
	    m != HTTP_METHOD_HEAD) ||
	    (kind == PART_BYTES && m != HTTP_METHOD_PUT &&
	    m != HTTP_METHOD_GET && m != HTTP_METHOD_HEAD)) {
		request_skip_body(c);
		conn_send_text(c, 405, "method not allowed here",
		    kind == PART_OBJECT ? "Allow: DELETE\r\n" :
		    kind == PART_COMMIT ? "Allow: POST\r\n" :
		    kind == PART_MANIFEST ? "Allow: GET, HEAD\r\n" :
		    "Allow: GET, HEAD, PUT\r\n");
		return;
	}
	pr = xcalloc(1, sizeof(*pr));
	pr->pr_conn = c;
	memcpy(pr->pr_id, id, sizeof(id));
	pr->pr_index = index;
	if (kind == PART_BYTES && m == HTTP_METHOD_PUT) {
		parts_serve_put(c, pr);
		return;
	}
	if (kind == PART_COMMIT) {
		parts_serve_commit(c, pr);
		return;
	}
	if (!cluster_serve_signed(c, parts_serve_cluster)) {
		free(pr);
		return;
	}
	if (kind != PART_OBJECT) {
		free(pr);
		/* The name opened is one this route made: never a path. */
		if (kind == PART_MANIFEST)
			parts_manifest_name(id, c->c_name);
		else
			parts_file_name(id, index, c->c_name);
		c->c_name_len = strlen(c->c_name);
		parts_read_start(c, kind == PART_MANIFEST);
		return;
	}
	conn_own(c, &parts_serve_job_handler, pr);
	conn_submit(c, parts_delete_job, parts_delete_done);
}

/* -- metrics ----------------------------------------------------------- */

/* ss_parts_held, but a count gone below zero for a moment (a delete
 * counted before the walk that set it) shows as none. */
static uint64_t
parts_held(const struct stripe_shared *ss)
{
	uint64_t n = stripe_get(&ss->ss_parts_held);

	return n > (UINT64_MAX >> 1) ? 0 : n;
}

/* Every store this node knows (itself too, when it is one): its
 * capacity and use as gossiped, and what this node's uploads reserved
 * there. */
static void
parts_metrics_stores(struct buf *out)
{
	struct members *mt = parts_serve_cluster->cl_members;
	char label[2 * MEMBER_NAME_MAX + 1];
	uint32_t i;

	metrics_family(out, "shoal_stripe_store_bytes",
	    "Every store this node knows: its capacity and use (as gossiped) "
	    "and the bytes this node's uploads in flight reserved there.",
	    "gauge");
	if (members_lock(mt) == -1)
		return;
	if (stripe_lock(parts_serve_shared) != 0) {
		members_unlock(mt);
		return;
	}
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || !m->m_facts.mf_store ||
		    m->m_state == MEMBER_LEFT)
			continue;
		metrics_label_value(m->m_facts.mf_name, label, sizeof(label));
		buf_printf(out, "shoal_stripe_store_bytes{member=\"%s\","
		    "kind=\"capacity\"} %" PRIu64 "\n"
		    "shoal_stripe_store_bytes{member=\"%s\",kind=\"used\"} %"
		    PRIu64 "\nshoal_stripe_store_bytes{member=\"%s\","
		    "kind=\"reserved\"} %" PRIu64 "\n", label,
		    m->m_facts.mf_capacity, label, m->m_facts.mf_used, label,
		    stripe_reserved_locked(parts_serve_shared,
		    m->m_facts.mf_name));
	}
	stripe_unlock(parts_serve_shared);
	members_unlock(mt);
}

static void
parts_metrics(struct server *s, struct buf *out)
{
	static const char *const causes[STRIPE_CLEANUP_CAUSES] = {
		[STRIPE_CLEANUP_CLIENT] = "client_gone",
		[STRIPE_CLEANUP_STORE] = "store_failed",
		[STRIPE_CLEANUP_TIMEOUT] = "timeout",
		[STRIPE_CLEANUP_LOCAL] = "local",
		[STRIPE_CLEANUP_SWEPT] = "swept",
		[STRIPE_CLEANUP_JOURNAL] = "journal",
	};
	const struct stripe_shared *ss = parts_serve_shared;
	uint64_t reserved = 0;
	unsigned i;

	(void)s;
	metrics_family(out, "shoal_stripe_part_bytes",
	    "Bytes of parts this store holds: on disk (pending and "
	    "committed) and announced by part uploads being received.",
	    "gauge");
	buf_printf(out, "shoal_stripe_part_bytes{state=\"disk\"} %" PRIu64
	    "\nshoal_stripe_part_bytes{state=\"inflight\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_disk), stripe_get(&ss->ss_inflight));
	metrics_gauge(out, "shoal_stripe_parts_held",
	    "Part files this store holds, pending and committed.",
	    parts_held(ss));
	metrics_family(out, "shoal_stripe_parts_total",
	    "Parts this store received, refused, committed, removed by the "
	    "upload that sent them, and removed as pending past "
	    "stripe.pending_timeout.", "counter");
	buf_printf(out, "shoal_stripe_parts_total{event=\"received\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"refused\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"committed\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"deleted\"} %" PRIu64
	    "\nshoal_stripe_parts_total{event=\"swept\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_parts_received),
	    stripe_get(&ss->ss_parts_refused),
	    stripe_get(&ss->ss_parts_committed),
	    stripe_get(&ss->ss_parts_deleted),
	    stripe_get(&ss->ss_parts_swept));
	metrics_family(out, "shoal_stripe_uploads_total",
	    "Striped uploads this node took: stored, stored degraded (a "
	    "store failed during the upload: parts missing until healed), "
	    "failed (the client, a store, the disk), refused (fewer stores "
	    "with room than parts).", "counter");
	buf_printf(out, "shoal_stripe_uploads_total{result=\"degraded\"} %"
	    PRIu64 "\n", stripe_get(&ss->ss_puts_degraded));
	buf_printf(out, "shoal_stripe_uploads_total{result=\"ok\"} %" PRIu64
	    "\nshoal_stripe_uploads_total{result=\"failed\"} %" PRIu64
	    "\nshoal_stripe_uploads_total{result=\"refused\"} %" PRIu64 "\n",
	    stripe_get(&ss->ss_puts_ok), stripe_get(&ss->ss_puts_failed),
	    stripe_get(&ss->ss_puts_refused));
	metrics_family(out, "shoal_stripe_cleanups_total",
	    "Striped uploads whose parts were removed, by cause: as the front, "
	    "the client gone, a store failed, a timeout, this node; as a "
	    "store, pending parts swept; at a restart, the journal.",
	    "counter");
	for (i = 0; i < STRIPE_CLEANUP_CAUSES; i++)
		buf_printf(out, "shoal_stripe_cleanups_total{cause=\"%s\"} %"
		    PRIu64 "\n", causes[i], stripe_get(&ss->ss_cleanups[i]));
	if (stripe_lock(parts_serve_shared) == 0) {
		reserved = stripe_reserved_locked(parts_serve_shared, NULL);
		stripe_unlock(parts_serve_shared);
	}
	metrics_counter(out, "shoal_stripe_corrupt_blocks_total",
	    "Blocks of parts this store found corrupt (their checksum, or "
	    "their part's trailer, did not match) when reading them; none "
	    "was sent.", stripe_get(&ss->ss_corrupt_blocks));
	metrics_family(out, "shoal_stripe_degraded_reads_total",
	    "GETs of striped objects with parity that lost parts: read "
	    "whole, some blocks rebuilt from parity; cut (or refused with "
	    "502), more parts lost than the parity rebuilds.", "counter");
	buf_printf(out, "shoal_stripe_degraded_reads_total{result=\"rebuilt\"} %"
	    PRIu64 "\nshoal_stripe_degraded_reads_total{result=\"cut\"} %"
	    PRIu64 "\n", stripe_get(&ss->ss_reads_rebuilt),
	    stripe_get(&ss->ss_reads_cut));
	metrics_counter(out, "shoal_stripe_read_parts_lost_total",
	    "Parts that reads of striped objects could not use (missing, "
	    "store unreachable or failed, corrupt block) and replaced with "
	    "a parity part.", stripe_get(&ss->ss_read_parts_lost));
	metrics_counter(out, "shoal_stripe_rebuilt_bytes_total",
	    "Bytes of data blocks rebuilt from parity for reads.",
	    stripe_get(&ss->ss_rebuilt_bytes));
	metrics_gauge(out, "shoal_stripe_reserved_bytes",
	    "Bytes of parts this node's uploads in flight have reserved at "
	    "their stores.", reserved);
	parts_metrics_stores(out);
	metrics_counter(out, "shoal_stripe_part_sent_bytes_total",
	    "Bytes of parts sent to the nodes that read striped objects.",
	    stripe_get(&ss->ss_part_bytes_sent));
	metrics_family(out, "shoal_stripe_rebalance_moves_total",
	    "Parts this store's rebalancer moved to emptier stores: done "
	    "(copied, checked, switched in every manifest, removed here), "
	    "failed (left where they were, or finished later).", "counter");
	buf_printf(out, "shoal_stripe_rebalance_moves_total{result=\"done\"} %"
	    PRIu64 "\nshoal_stripe_rebalance_moves_total{result=\"failed\"} %"
	    PRIu64 "\n", stripe_get(&ss->ss_moves_done),
	    stripe_get(&ss->ss_moves_failed));
	metrics_counter(out, "shoal_stripe_rebalance_bytes_total",
	    "Bytes of parts this store's rebalancer moved away.",
	    stripe_get(&ss->ss_moved_bytes));
	heal_metrics(out, ss);
}

int
parts_serve_routes(struct server *s, struct cluster *cl,
    struct stripe_shared *ss)
{
	int state_fd;

	parts_serve_cluster = cl;
	parts_serve_shared = ss;
	if (parts_serve_dirs.pd_objects == -1) {
		state_fd = open(s->s_cfg->state_dir, O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
		if (state_fd == -1 || parts_dirs_open(state_fd,
		    &parts_serve_dirs) == -1) {
			log_err("%s/%s", s->s_cfg->state_dir,
			    STRIPE_PARTS_DIR);
			if (state_fd != -1)
				close(state_fd);
			return -1;
		}
		(void)mkdirat(state_fd, STRIPE_ORIGIN_DIR, 0700);
		(void)mkdirat(state_fd, STRIPE_ORIGIN_MANIFESTS, 0700);
		(void)mkdirat(state_fd, STRIPE_ORIGIN_NAMES, 0700);
		parts_serve_origin_fd = openat(state_fd,
		    STRIPE_ORIGIN_MANIFESTS, O_PATH | O_DIRECTORY | O_CLOEXEC);
		parts_serve_origin_names_fd = openat(state_fd,
		    STRIPE_ORIGIN_NAMES, O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(state_fd);
		if (parts_serve_origin_fd == -1 ||
		    parts_serve_origin_names_fd == -1) {
			log_err("%s/%s", s->s_cfg->state_dir,
			    STRIPE_ORIGIN_DIR);
			return -1;
		}
	}
	parts_read_attach(ss, parts_serve_dirs.pd_objects,
	    parts_serve_origin_fd);
	if (server_route(s, PARTS_ROUTE, parts_route) == -1) {
		log_errx("parts: no room for the route");
		return -1;
	}
	(void)server_metrics(s, parts_metrics);
	cluster_set_section(cl, "striping", heal_json, ss);
	return 0;
}

void
parts_serve_teardown(void)
{
	if (parts_serve_spool_ready)
		spool_dir_teardown(&parts_serve_spool);
	parts_serve_spool_ready = false;
}
