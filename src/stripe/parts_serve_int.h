/*
 * parts_serve_int.h - what the three files of a store's part routes
 * share: parts_serve.c (the route, the signatures, DELETE, the metrics,
 * the worker's state), parts_serve_put.c (PUT: a part's body) and
 * parts_serve_commit.c (POST commit). Nothing else includes it. Loop
 * thread of a worker, but for a job of a connection, which reads its
 * struct part_req while the loop leaves it alone.
 */
#ifndef SHOAL_STRIPE_PARTS_SERVE_INT_H
#define SHOAL_STRIPE_PARTS_SERVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#include "core/buf.h"
#include "serve/conn.h"
#include "serve/small_body.h"
#include "store/spool.h"
#include "stripe/blocksum.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"

struct cluster;
struct stripe_shared;

/* One request that outlives its head: a part's body being received, a
 * commit's manifest being read, or a job's input and output. */
struct part_req {
	struct conn *pr_conn;
	char pr_id[MANIFEST_ID_LEN + 1];
	unsigned pr_index;
	char pr_file[PARTS_FILE_MAX];
	/* PUT */
	struct spool *pr_spool;		/* NULL once published or dropped */
	uint64_t pr_declared;		/* chunked: what came so far */
	uint64_t pr_capacity;		/* chunked: the store's, at the start */
	uint64_t pr_received;
	bool pr_publishing;
	bool pr_stored;
	struct blocksum_stream pr_sums;	/* of the part's blocks */
	XXH3_state_t *pr_hash;		/* of the part's bytes */
	unsigned char *pr_trailer;	/* made at the body's end */
	size_t pr_trailer_len, pr_trailer_off;
	/* POST commit */
	struct small_body pr_body;
	struct manifest pr_manifest;
	enum parts_commit_result pr_commit;
	int pr_errno;
	/* DELETE */
	uint64_t pr_bytes;
	unsigned pr_count;
	bool pr_had;			/* a committed manifest: pr_manifest */
	bool pr_origin;			/* this node took the object's upload
					   and keeps its manifest */
	bool pr_also_origin;		/* ... and holds one of its parts */
	bool pr_first;			/* the part was pending (job) */
};

/* Set once per worker by parts_serve_routes() (parts_serve.c); read-only
 * after, but for the spool directory's list (the loop thread's). */
extern struct cluster *parts_serve_cluster;
extern struct stripe_shared *parts_serve_shared;
extern struct parts_dirs parts_serve_dirs;
/* The manifests of the uploads this node took (stripe/stripe_put.h). */
extern int parts_serve_origin_fd, parts_serve_origin_names_fd;
extern struct spool_dir parts_serve_spool;	/* once ..._ready */
extern bool parts_serve_spool_ready;

/* -- parts_serve.c ----------------------------------------------------- */

/* Checks the signature of c's request over body_digest (NULL: zero
 * bytes); on failure answers and returns false. */
bool parts_serve_verify(struct conn *c, const uint8_t *body_digest);

/* Frees pr: its part's announced bytes given back while not stored, its
 * spool dropped, its body and checksums freed. */
void parts_serve_req_free(struct part_req *pr);

/* on_close of every handler of a part request (its owner pr). */
void parts_serve_on_close(struct conn *c);

/* The handler of a connection while its job runs: it waits for nothing
 * (no events, no timer) and is owned only so that the job can find its
 * state. */
extern const struct conn_handler parts_serve_job_handler;

/* -- parts_serve_put.c ------------------------------------------------- */

/* PUT of part pr_index of pr_id (pr: calloc'd, handed over). */
void parts_serve_put(struct conn *c, struct part_req *pr);

/* -- parts_serve_commit.c ---------------------------------------------- */

/* POST commit of pr_id (pr: calloc'd, handed over). */
void parts_serve_commit(struct conn *c, struct part_req *pr);

#endif
