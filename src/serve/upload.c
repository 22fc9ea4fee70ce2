/*
 * upload.c - PUT and POST (loop thread; disk work through a spool).
 *
 * Phases: RESERVE (the spool reserves the name: free, room, no other
 * upload of it), ASK (the peers, at once; in a cluster, the catalogue
 * first, then every alive member reserves the name for this upload, and
 * the static peers are asked whether they have it), BODY (read into a
 * free spool buffer, decoded by the connection; hand it to the spool;
 * read the next while it is written), PUBLISH (the spool seals and links
 * it; in a cluster the catalogue hears of it), ACK (with upload.ack
 * `replicas`: until cluster.replicas copies are durable), then the
 * answer. The client is read only while a spool buffer is free, so memory
 * is two buffers per upload and the client is slowed to the disk's pace.
 * A chunked body that passes stripe.min_size (in a cluster) stops being
 * read once that many bytes are in; when all are on disk, the upload
 * hands them and the name to the striped upload (s_stripe_grow) and is
 * over.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "core/config.h"
#include "core/digest.h"
#include "core/log.h"
#include "http/condition.h"
#include "peer/fanout.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"
#include "serve/conn.h"
#include "serve/server.h"
#include "serve/upload.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/name.h"
#include "store/spool.h"

#define UPLOAD_ACK_TICK_MS 50
#define UPLOAD_ACK_WAIT_MS 10000	/* for the copies upload.ack wants, */
#define UPLOAD_ACK_BYTES_PER_MS 20480	/* and 1 ms more per 20 KiB */

struct upload {
	struct conn *u_conn;
	struct server *u_srv;
	char u_name[NAME_MAX_LEN + 1];
	size_t u_name_len;
	uint64_t u_declared;		/* Content-Length, or 0 */
	uint64_t u_received;		/* body bytes so far */
	bool u_reading;			/* the body phase began */
	bool u_publishing;
	bool u_growing;			/* to be handed to s_stripe_grow */
	struct spool *u_spool;		/* NULL once published or given up */
	struct fanout *u_fanout;	/* the peers being asked */
	unsigned u_asking;		/* fanout and reservation under way */
	uint64_t u_stamp;		/* in a cluster: its clock's, at the start */
	struct server_reservation *u_reservation;
	bool u_stored;			/* published */
	struct digest u_digest;		/* once published */
	int64_t u_ack_until;		/* ACK: wait for copies until then */
};

static void upload_pump(struct upload *u);

/* Lets go of everything; the spool removes what it wrote, and a
 * reservation of a name not stored is released. */
static void
upload_free(struct upload *u)
{
	const struct server_cluster *sc = u->u_srv->s_cluster;

	fanout_abort(u->u_fanout);
	if (sc != NULL)
		sc->sc_reserve_end(u->u_srv, u->u_reservation, u->u_stored);
	if (u->u_spool != NULL)
		spool_abort(u->u_spool);
	free(u);
}

/* Ends the upload with an answer (the body may be unread: then the
 * connection closes after it). */
static void
upload_fail(struct upload *u, int status, const char *reason)
{
	struct conn *c = u->u_conn;

	metrics_count_upload(status);
	/* Body bytes left unread leave the stream unframed. */
	if (u->u_reading ? !conn_body_done(c) :
	    (c->c_req.has_content_length && c->c_req.content_length > 0) ||
	    c->c_req.chunked)
		c->c_close = true;
	upload_free(u);
	conn_send_text(c, status, reason, NULL);
}

/* The client went away or broke the stream: nobody to answer. */
static void
upload_gone(struct upload *u, const char *why)
{
	struct conn *c = u->u_conn;

	log_info("upload of %s from %s abandoned: %s", u->u_name, c->c_addr,
	    why);
	metrics_count_upload(0);
	upload_free(u);
	c->c_status = 499;	/* for the log: the client closed (as nginx) */
	conn_abort(c);
}

/* The answer to a stored upload: 201, or 202 when upload.ack wanted more
 * copies than were durable in time (`copies` says how many, "" when the
 * ack is local). */
static void
upload_answer_stored(struct upload *u, int status, const char *copies)
{
	struct conn *c = u->u_conn;
	char target[3 * NAME_MAX_LEN + 1], extra[3 * NAME_MAX_LEN + 128];
	char etag[CONDITION_ETAG_LEN + 1];

	name_encode(u->u_name, u->u_name_len, target, sizeof(target));
	condition_etag_format(&u->u_digest, etag);
	snprintf(extra, sizeof(extra), "Location: /%s\r\nETag: %s\r\n%s",
	    target, etag, copies);
	metrics_count_upload(status);
	upload_free(u);
	conn_send_text(c, status, status == 201 ? "created" : "stored here; "
	    "fewer copies than upload.ack wants are durable so far", extra);
}

/* ACK: the copies the cluster holds so far; enough, or time is up. */
static void
upload_check_copies(struct upload *u)
{
	const struct server_cluster *sc = u->u_srv->s_cluster;
	char copies[64];
	unsigned have, want;

	sc->sc_copies(u->u_srv, u->u_name, u->u_name_len, &u->u_digest, &have,
	    &want);
	snprintf(copies, sizeof(copies), "Shoal-Copies: %u\r\n", have);
	if (have >= want) {
		upload_answer_stored(u, 201, copies);
		return;
	}
	if (loop_now(u->u_srv->s_loop) >= u->u_ack_until) {
		log_warnx("upload of %s: %u of %u copies durable in time",
		    u->u_name, have, want);
		upload_answer_stored(u, 202, copies);
		return;
	}
	conn_set_timer(u->u_conn, UPLOAD_ACK_TICK_MS);
}

static void
upload_created(struct upload *u, const struct digest *digest)
{
	const struct server_cluster *sc = u->u_srv->s_cluster;
	struct conn *c = u->u_conn;

	u->u_stored = true;
	u->u_digest = *digest;
	metrics_add(&metrics_mine()->ms_upload_bytes, u->u_received);
	log_info("stored %s (%llu bytes) from %s", u->u_name,
	    (unsigned long long)u->u_received, c->c_addr);
	if (sc == NULL) {
		upload_answer_stored(u, 201, "");
		return;
	}
	sc->sc_published(u->u_srv, u->u_name, u->u_name_len, digest,
	    u->u_received, u->u_stamp);
	if (u->u_srv->s_cfg->upload.ack != UPLOAD_ACK_REPLICAS) {
		upload_answer_stored(u, 201, "");
		return;
	}
	/* The copies are pulled by the nodes the name ranks first, once
	 * gossip has told them: a few rounds. */
	u->u_ack_until = loop_now(u->u_srv->s_loop) + UPLOAD_ACK_WAIT_MS +
	    (int64_t)(u->u_received / UPLOAD_ACK_BYTES_PER_MS);
	upload_check_copies(u);
}

/* Pool thread, once the file is in place: "nobody has it" is wrong from
 * now on. */
static int
upload_after_link(struct spool *sp, const struct file_identity *id,
    void *arg)
{
	struct upload *u = arg;

	(void)sp;
	(void)id;
	(void)index_remove(u->u_srv->s_index, u->u_name, u->u_name_len);
	return 0;
}

/* The body so far is on disk: the striped upload takes it over, with the
 * name's reservation; the spool's file goes (the descriptor keeps it). */
static void
upload_grow(struct upload *u)
{
	struct conn *c = u->u_conn;
	struct server_grown g = {
		.sg_received = u->u_received,
		.sg_reservation = u->u_reservation,
		.sg_stamp = u->u_stamp,
	};

	conn_wait_nothing(c);
	if (spool_written(u->u_spool) < u->u_received)
		return;				/* sh_written calls again */
	if ((g.sg_fd = spool_dup_fd(u->u_spool)) == -1) {
		log_warn("upload of %s: the spool to stripe", u->u_name);
		upload_fail(u, 500, "cannot stripe the upload");
		return;
	}
	u->u_reservation = NULL;
	fanout_abort(u->u_fanout);
	spool_abort(u->u_spool);
	free(u);
	c->c_srv->s_stripe_grow(c, &g);
}

/* Reads the body into the spool's free buffers while there are some. */
static void
upload_pump(struct upload *u)
{
	struct conn *c = u->u_conn;
	const struct config *cfg = u->u_srv->s_cfg;

	for (;;) {
		char *buf;
		ssize_t n;

		if (u->u_growing) {
			upload_grow(u);
			return;
		}
		if (conn_body_done(c)) {
			const struct server_cluster *sc = u->u_srv->s_cluster;
			struct spool_publish how = {
				.name = u->u_name,
				.after_link = upload_after_link,
				.hook_arg = u,
				/* The version's origin, kept beside it: the
				 * same after a restart, and on its copies. */
				.origin_hlc = u->u_stamp,
				.origin_node = sc != NULL ? sc->sc_node : NULL,
			};

			conn_wait_nothing(c);
			u->u_publishing = true;
			spool_publish(u->u_spool, &how);
			return;
		}
		buf = spool_buffer(u->u_spool);
		if (buf == NULL) {
			conn_wait_nothing(c);	/* sh_written calls again */
			return;
		}
		n = conn_read_body(c, buf, SPOOL_BUF_SIZE);
		if (n > 0) {
			u->u_received += (uint64_t)n;
			if (u->u_received > cfg->upload.max_size) {
				upload_fail(u, 413, "larger than "
				    "upload.max_size");
				return;
			}
			spool_write(u->u_spool, (size_t)n);
			u->u_growing = c->c_req.chunked &&
			    u->u_srv->s_stripe_grow != NULL &&
			    cfg->stripe.min_size > 0 &&
			    u->u_received >= cfg->stripe.min_size;
			continue;
		}
		if (n == 0 && errno == 0)
			continue;		/* the body ended */
		if (n == 0) {
			conn_wait_readable(c);
			return;
		}
		if (errno == EPROTO)
			upload_fail(u, 400, "bad chunked encoding");
		else
			upload_gone(u, "the client closed the connection");
		return;
	}
}

/* The name is free here and on every peer that answered: the body. */
static void
upload_begin_body(struct upload *u)
{
	struct conn *c = u->u_conn;

	u->u_reading = true;
	conn_body_begin(c);
	if (conn_continue(c) == -1) {
		upload_gone(u, "cannot send 100 Continue");
		return;
	}
	upload_pump(u);
}

static void
upload_peer_has(void *arg, struct peer_conn *pc)
{
	struct upload *u = arg;

	u->u_fanout = NULL;
	peer_conn_close(pc);
	upload_fail(u, 409, "the name exists on a peer");
}

/* One of the questions (the peers, the reservation) is answered: the
 * body once both are. */
static void
upload_asked(struct upload *u)
{
	if (--u->u_asking == 0)
		upload_begin_body(u);
}

static void
upload_peer_none(void *arg)
{
	struct upload *u = arg;

	u->u_fanout = NULL;
	upload_asked(u);
}

static void
upload_reserved(void *arg, int status, const char *reason)
{
	struct upload *u = arg;

	if (status != 200) {
		upload_fail(u, 409, reason);
		return;
	}
	upload_asked(u);
}

/* In a cluster, the static peers of the configuration are asked as
 * without one; the members reserve the name instead. */
static size_t
upload_static_peers(struct server *s, struct peer **out, size_t max)
{
	struct peer *p;
	size_t n = 0;

	for (p = peer_set_first(s->s_peers); p != NULL && n < max;
	    p = peer_set_next(s->s_peers, p))
		if (p->p_entry->pe_source == PEER_SOURCE_CONFIG)
			out[n++] = p;
	return n;
}

struct server_reservation *
upload_reserve(struct server *s, const char *name, size_t len,
    uint64_t *stamp, server_reserved_fn *done, void *arg)
{
	const struct server_cluster *sc = s->s_cluster;
	bool known = false;

	(void)sc->sc_holders(s, name, len, NULL, NULL, 0, &known);
	if (known)
		return NULL;
	*stamp = sc->sc_stamp(s);
	return sc->sc_reserve(s, name, len, *stamp, done, arg);
}

/*
 * Is the name free in the cluster? Without a cluster: every peer at once.
 * In one: the catalogue first (409 without asking anyone when it knows
 * the name), then every alive member reserves it for this upload, and
 * the static peers are asked whether they have it. Peers and members
 * that cannot be reached do not block the upload.
 */
static void
upload_ask(struct upload *u)
{
	struct server *s = u->u_srv;
	const struct server_cluster *sc = s->s_cluster;
	struct fanout_ask ask = {
		.fa_name = u->u_name,
		.fa_len = u->u_name_len,
		.fa_head = true,
	};
	struct peer **only = NULL;
	size_t n = peer_set_count(s->s_peers);

	u->u_asking = 1;	/* until both questions are out */
	if (sc != NULL) {
		u->u_reservation = upload_reserve(s, u->u_name, u->u_name_len,
		    &u->u_stamp, upload_reserved, u);
		if (u->u_reservation == NULL) {
			upload_fail(u, 409, UPLOAD_KNOWN);
			return;
		}
		u->u_asking++;
		only = xcalloc(n + 1, sizeof(*only));
		ask.fa_only = only;
		ask.fa_nonly = n = upload_static_peers(s, only, n);
	}
	if (n > 0) {
		u->u_asking++;
		u->u_fanout = fanout_start(s->s_peers, &ask, upload_peer_has,
		    upload_peer_none, u);
	}
	free(only);
	upload_asked(u);
}

/* ------------------------------------------------------------------ */
/* The spool                                                          */

static void
upload_opened(struct spool *sp, int err, void *arg)
{
	struct upload *u = arg;

	(void)sp;
	if (err == EEXIST || err == EBUSY) {
		upload_fail(u, 409, err == EEXIST ? "the name exists on this "
		    "node" : "the name is being uploaded");
		return;
	}
	if (err == ENOSPC || err == EDQUOT) {
		upload_fail(u, 507, "not enough free space");
		return;
	}
	if (err != 0) {
		errno = err;
		log_warn("reserving %s for an upload", u->u_name);
		upload_fail(u, 500, "cannot store the file");
		return;
	}
	upload_ask(u);
}

static void
upload_written(struct spool *sp, int err, void *arg)
{
	struct upload *u = arg;

	(void)sp;
	if (err == ENOSPC || err == EDQUOT) {
		log_warnx("upload of %s: disk full", u->u_name);
		upload_fail(u, 507, "disk full");
		return;
	}
	if (err != 0) {
		errno = err;
		log_warn("writing the upload of %s", u->u_name);
		upload_fail(u, 500, "cannot store the file");
		return;
	}
	if (!u->u_publishing)
		upload_pump(u);
}

static void
upload_published(struct spool *sp, int err, void *arg)
{
	struct upload *u = arg;
	struct digest digest;

	u->u_spool = NULL;	/* it frees itself */
	if (err == EEXIST) {
		upload_fail(u, 409, "the name was taken meanwhile");
		return;
	}
	if (err != 0) {
		errno = err;
		log_warn("publishing the upload of %s", u->u_name);
		upload_fail(u, err == ENOSPC || err == EDQUOT ? 507 : 500,
		    "cannot store the file");
		return;
	}
	digest = spool_digest(sp);
	upload_created(u, &digest);
}

static const struct spool_handler upload_spool_handler = {
	.sh_opened = upload_opened,
	.sh_written = upload_written,
	.sh_published = upload_published,
};

/* ------------------------------------------------------------------ */
/* The client connection                                              */

static void
upload_io(struct conn *c, short revents)
{
	struct upload *u = conn_owner(c);

	/* While nothing is asked for (the disk or the peers work), the loop
	 * still reports a dead socket: acting on it now keeps the loop from
	 * spinning. */
	if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLIN)) {
		upload_gone(u, "the connection was reset");
		return;
	}
	upload_pump(u);
}

static void
upload_timeout(struct conn *c)
{
	struct upload *u = conn_owner(c);

	if (u->u_stored) {		/* ACK: its tick */
		upload_check_copies(u);
		return;
	}
	log_info("upload of %s from %s: no body bytes for %lld ms", u->u_name,
	    c->c_addr, (long long)u->u_srv->s_cfg->http.body_timeout_ms);
	upload_fail(u, 408, "request body not received in time");
}

/* The connection is being freed (worker exit). */
static void
upload_close(struct conn *c)
{
	struct upload *u = conn_owner(c);

	metrics_count_upload(0);
	/* At exit the pool is already destroyed: aborting the spool would
	 * submit its clean-up job to freed memory. spool_dir_teardown()
	 * removes the temporary file instead (as for a relay's spool). */
	if (u->u_srv->s_pool == NULL)
		u->u_spool = NULL;
	upload_free(u);
}

static const struct conn_handler upload_conn_handler = {
	.on_io = upload_io,
	.on_timeout = upload_timeout,
	.on_close = upload_close,
};

/* ------------------------------------------------------------------ */
/* Admission                                                          */

/* "Bearer TOKEN", compared in time independent of where it differs (the
 * length of the token is not a secret worth hiding). */
static bool
upload_token_ok(struct http_str auth, const char *token)
{
	size_t tlen = strlen(token), glen, i;
	unsigned char diff;
	const char *given;

	if (auth.p == NULL || auth.len < 7 || strncasecmp(auth.p, "Bearer ",
	    7) != 0)
		return false;
	given = auth.p + 7;
	glen = auth.len - 7;
	diff = glen != tlen;
	for (i = 0; i < tlen; i++)
		diff |= (unsigned char)(token[i] ^ (i < glen ? given[i] : 0));
	return diff == 0;
}

/* A random (version 4) UUID, lower-case, for "POST /". */
static int
upload_uuid(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* An early answer, before any upload state exists. */
static void
upload_refuse(struct conn *c, int status, const char *reason,
    const char *extra)
{
	metrics_count_upload(status);
	if ((c->c_req.has_content_length && c->c_req.content_length > 0) ||
	    c->c_req.chunked)
		c->c_close = true;	/* the body is not read */
	conn_send_text(c, status, reason, extra);
}

void
upload_start(struct conn *c)
{
	const struct config *cfg = c->c_srv->s_cfg;
	const struct http_message *req = &c->c_req;
	const char *reason = NULL;
	struct upload *u;
	char uuid[37];

	if (!cfg->upload.enabled) {
		upload_refuse(c, 403, "uploads are disabled", NULL);
		return;
	}
	if (cfg->upload.token != NULL &&
	    !upload_token_ok(req->authorization, cfg->upload.token)) {
		upload_refuse(c, 401, "a valid upload token is required",
		    "WWW-Authenticate: Bearer\r\n");
		return;
	}
	switch (name_from_target(req->target.p, req->target.len, c->c_name,
	    &c->c_name_len, &reason)) {
	case NAME_INVALID:
		upload_refuse(c, 400, reason, NULL);
		return;
	case NAME_NODE:		/* the router sends these elsewhere */
		upload_refuse(c, 405, "method not allowed here",
		    "Allow: GET, HEAD\r\n");
		return;
	case NAME_ROOT:
		if (req->method == HTTP_METHOD_PUT) {
			upload_refuse(c, 405, "PUT needs a name; POST / picks "
			    "one", "Allow: GET, HEAD, POST\r\n");
			return;
		}
		if (upload_uuid(uuid) == -1) {
			log_warn("getrandom");
			upload_refuse(c, 500, "cannot pick a name", NULL);
			return;
		}
		c->c_name_len = strlen(uuid);
		memcpy(c->c_name, uuid, c->c_name_len + 1);
		break;
	case NAME_FILE:
		break;
	}
	if (!req->has_content_length && !req->chunked) {
		upload_refuse(c, 411, "Content-Length or chunked encoding "
		    "required", NULL);
		return;
	}
	if (req->content_range.p != NULL) {
		upload_refuse(c, 400, "Content-Range is not supported", NULL);
		return;
	}
	if (req->has_content_length &&
	    req->content_length > cfg->upload.max_size) {
		upload_refuse(c, 413, "larger than upload.max_size", NULL);
		return;
	}

	if (req->has_content_length && c->c_srv->s_stripe_upload != NULL &&
	    c->c_srv->s_stripe_upload(c))
		return;

	u = xcalloc(1, sizeof(*u));
	u->u_conn = c;
	u->u_srv = c->c_srv;
	memcpy(u->u_name, c->c_name, c->c_name_len + 1);
	u->u_name_len = c->c_name_len;
	u->u_declared = req->has_content_length ? req->content_length : 0;
	conn_own(c, &upload_conn_handler, u);
	u->u_spool = spool_reserve(&c->c_srv->s_spool, u->u_name,
	    u->u_declared, &upload_spool_handler, u);
}
