/*
 * parts_serve_commit.c - POST /_/parts/ID/commit at a store (see
 * parts_serve.h): the manifest read whole and checked against its
 * signature, then, in a job of the connection, the pending part moved
 * among the committed ones (stripe/parts.h) or, at the object's origin,
 * its manifest switched. Loop thread of a worker; the commit in its I/O
 * pool, reading the request's state while the connection waits.
 * State: parts_serve_int.h's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "serve/conn.h"
#include "serve/small_body.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/parts_serve_int.h"
#include "stripe/stripe.h"

static const char *
parts_self(void)
{
	return members_self(parts_serve_cluster->cl_members)->m_facts.mf_name;
}

static void
parts_commit_job(struct iopool_job *job)
{
	struct part_req *pr = conn_owner(conn_of_job(job));

	errno = 0;
	/* The origin's copy takes only the very next generation (it puts
	 * the moves of an object in one order), and first: a part's copy
	 * here never runs ahead of it. */
	pr->pr_commit = PARTS_COMMITTED;
	if (pr->pr_origin || pr->pr_also_origin) {
		pr->pr_commit = parts_switch_manifest(parts_serve_dirs.pd_tmp,
		    parts_serve_origin_fd, parts_serve_origin_names_fd,
		    &pr->pr_manifest, true);
		if (pr->pr_commit == PARTS_NO_PART && pr->pr_also_origin)
			pr->pr_commit = PARTS_COMMITTED;
	}
	/* A part's first commit, or its manifest switched (not counted). */
	pr->pr_first = !pr->pr_origin && faccessat(parts_serve_dirs.pd_pending,
	    pr->pr_file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (pr->pr_commit == PARTS_COMMITTED && !pr->pr_origin)
		pr->pr_commit = parts_commit(&parts_serve_dirs,
		    &pr->pr_manifest, pr->pr_index);
	pr->pr_errno = errno;
}

static void
parts_commit_done(struct iopool_job *job)
{
	struct conn *c = conn_of_job(job);
	struct part_req *pr = conn_owner(c);
	enum parts_commit_result r = pr->pr_commit;

	if (r == PARTS_ERROR) {
		errno = pr->pr_errno;
		log_warn("committing part %s", pr->pr_file);
	}
	/* A part marked missing at its origin (a scrubber's report): the
	 * agent's healing looks at once. */
	if (r == PARTS_COMMITTED && (pr->pr_origin || pr->pr_also_origin) &&
	    pr->pr_manifest.m_missing != 0)
		stripe_add(&parts_serve_shared->ss_marked_missing, 1);
	if (r == PARTS_COMMITTED && !pr->pr_origin) {
		if (pr->pr_first)
			stripe_add(&parts_serve_shared->ss_parts_committed, 1);
		/* This store holds the object's manifest: a holder. */
		stripe_announce(parts_serve_cluster, &pr->pr_manifest);
	}
	parts_serve_req_free(pr);
	switch (r) {
	case PARTS_COMMITTED:
		conn_send_text(c, 200, "committed", NULL);
		break;
	case PARTS_NO_PART:
		conn_send_text(c, 404, "no such pending part here", NULL);
		break;
	case PARTS_STALE:
		conn_send_text(c, 412, "another manifest of the object is "
		    "here: of this generation or later, or (at its origin) not "
		    "the one this follows", NULL);
		break;
	case PARTS_MISMATCH:
		conn_send_text(c, 409, "the part here does not match the "
		    "manifest", NULL);
		break;
	default:
		conn_send_text(c, 500, "cannot commit the part", NULL);
		break;
	}
}

static void
parts_commit_answer(struct part_req *pr)
{
	struct conn *c = pr->pr_conn;
	uint8_t digest[AUTH_DIGEST_LEN];
	const char *why = NULL;
	int i;

	if (auth_body_digest(pr->pr_body.sb_body.data,
	    pr->pr_body.sb_body.len, digest) == -1) {
		parts_serve_req_free(pr);
		conn_send_text(c, 500, "cannot hash the body", NULL);
		return;
	}
	if (!parts_serve_verify(c, digest)) {
		parts_serve_req_free(pr);
		return;
	}
	/* A manifest that places no part here is the origin's copy of a
	 * later generation (a part moved): stripe/move.h. */
	if (manifest_decode(pr->pr_body.sb_body.data,
	    pr->pr_body.sb_body.len, &pr->pr_manifest, &why) == -1 ||
	    strcmp(pr->pr_manifest.m_id, pr->pr_id) != 0 ||
	    ((i = manifest_part_of(&pr->pr_manifest, parts_self())) < 0 &&
	    (pr->pr_manifest.m_gen == 0 || strcmp(pr->pr_manifest.m_origin,
	    parts_self()) != 0))) {
		parts_serve_req_free(pr);
		conn_send_text(c, 400, why != NULL ? why : "the manifest is "
		    "not this object's, or places no part on this node", NULL);
		return;
	}
	pr->pr_origin = i < 0;
	pr->pr_also_origin = i >= 0 && pr->pr_manifest.m_gen > 0 &&
	    strcmp(pr->pr_manifest.m_origin, parts_self()) == 0;
	pr->pr_index = i < 0 ? 0 : (unsigned)i;
	parts_file_name(pr->pr_id, pr->pr_index, pr->pr_file);
	conn_own(c, &parts_serve_job_handler, pr);
	conn_submit(c, parts_commit_job, parts_commit_done);
}

/* The manifest is in, or was refused. */
static void
parts_commit_body_in(struct conn *c, struct small_body *sb, int status,
    const char *reason)
{
	struct part_req *pr = container_of(sb, struct part_req, pr_body);

	(void)c;
	(void)reason;
	if (status == 0)
		parts_commit_answer(pr);
	else
		parts_serve_req_free(pr);
}

void
parts_serve_commit(struct conn *c, struct part_req *pr)
{
	pr->pr_body.sb_max = MANIFEST_MAX;
	pr->pr_body.sb_what = "manifest";
	pr->pr_body.sb_done = parts_commit_body_in;
	small_body_read(c, &pr->pr_body);
}
