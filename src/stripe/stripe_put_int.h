/*
 * stripe_put_int.h - what the three files of a striped upload at the
 * front share: stripe_put.c (its start, the client's connection, its
 * answer or failure, the worker's setup), stripe_put_legs.c (the part
 * connections to the stores and the body streamed to them, with its
 * parity rows and a chunked body's growth) and stripe_put_end.c (the
 * manifest, the commit, the journal entry's removal, the cleanup).
 * Nothing else includes it. Loop thread of a worker, but for the fields
 * an I/O pool job reads (see stripe_put.c).
 */
#ifndef SHOAL_STRIPE_STRIPE_PUT_INT_H
#define SHOAL_STRIPE_STRIPE_PUT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <xxhash.h>

#include "cluster/cluster.h"
#include "cluster/members.h"
#include "core/config.h"
#include "core/list.h"
#include "event/iopool.h"
#include "peer/peer.h"
#include "serve/conn.h"
#include "serve/server.h"
#include "store/name.h"
#include "stripe/erasure.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"
#include "stripe/stripe.h"

#define STRIPE_BYTES_PER_MS 10000	/* a store's deadline: 1 ms a 10 kB */
#define STRIPE_CHUNKED UINT64_MAX	/* a request body of unknown length */
#define STRIPE_GROW_BLOCKS 16		/* a chunked body's reservation step */

enum stripe_stage {
	STAGE_RESERVE, STAGE_JOURNAL, STAGE_BODY, STAGE_MANIFEST, STAGE_COMMIT,
	STAGE_UNJOURNAL, STAGE_CLEANUP
};

enum leg_buf { BUF_FREE, BUF_FULL, BUF_SENT };

struct stripe_put;

/* One part: its store, its connection, its block buffer. */
struct put_leg {
	struct stripe_put *l_put;
	unsigned l_index;
	char l_node[MEMBER_NAME_MAX];
	char l_addr[MEMBER_ADDR_MAX];
	uint64_t l_size;		/* of the part */
	uint64_t l_reserved;		/* in the shared table... */
	bool l_has_reservation;		/* ... until released */
	struct peer_conn *l_pc;
	char *l_buf;			/* one block */
	size_t l_fill;
	enum leg_buf l_state;
	bool l_ready;			/* on_send came, nothing was sent */
	bool l_sent_all;		/* the body's end is out */
	uint64_t l_handed;		/* bytes handed to the connection */
	XXH3_state_t *l_hash;
	struct digest l_digest;
	bool l_done;			/* this stage's answer came, good */
	bool l_lost;			/* its store failed: not stored */
};

struct stripe_put {
	struct list sp_link;		/* sp_all */
	struct server *sp_srv;
	struct conn *sp_conn;		/* NULL once answered or gone */
	char sp_name[NAME_MAX_LEN + 1];
	size_t sp_name_len;
	char sp_id[MANIFEST_ID_LEN + 1];
	struct layout sp_layout;
	enum stripe_stage sp_stage;
	bool sp_failed;
	int sp_status;			/* the failure's answer (0: none) */
	bool sp_timed_out;		/* ... a store's deadline passed */
	uint64_t sp_received;
	XXH3_state_t *sp_hash;
	unsigned sp_nlegs;		/* data parts, then parity parts */
	unsigned sp_parity;
	unsigned sp_nlost;		/* legs lost, at most sp_parity */
	uint64_t sp_row;		/* the row whose parity is being made,
					 * + 1; 0 before the first */
	bool sp_pumping;		/* inside stripe_put_legs_pump() */
	unsigned sp_waiting;		/* legs still to answer this stage */
	unsigned sp_cleanup_ok;		/* DELETEs confirmed */
	struct put_leg sp_legs[CONFIG_STRIPE_PARTS_MAX];
	struct manifest sp_manifest;
	char *sp_text;			/* the journal entry, the manifest */
	size_t sp_text_len;
	bool sp_manifest_written;
	uint64_t sp_stamp;		/* the node's clock at the start */
	struct server_reservation *sp_reservation; /* the name's, or NULL */
	struct iopool_job sp_job;
	int sp_job_err;
	int64_t sp_start_ms;
	/* A chunked body (stripe_put_grow): its size is known at its end;
	 * the first sp_spooled bytes are read back from sp_file_fd. */
	bool sp_grown;
	int sp_file_fd;
	uint64_t sp_spooled;
	bool sp_file_busy;		/* a read of it runs in the pool */
	struct put_leg *sp_file_leg;	/* into this leg's buffer */
	size_t sp_file_len;
	ssize_t sp_file_n;
};

/* Set once per worker by stripe_put_attach() (stripe_put.c). */
extern struct cluster *stripe_put_cluster;
extern struct stripe_shared *stripe_put_shared;
extern int stripe_put_tmp_fd, stripe_put_journal_fd;
extern int stripe_put_manifests_fd, stripe_put_names_fd;
extern struct erasure *stripe_put_erasure; /* of the last (parts, parity) */

/* -- stripe_put.c ------------------------------------------------------ */

/* Releases the reservations of every part in the shared table. */
void stripe_put_release(struct stripe_put *sp);

/* The upload is over, `stored` or not: the name's reservation with the
 * members ends (once). */
void stripe_put_unreserve(struct stripe_put *sp, bool stored);

/* Takes sp off the list and frees it, closing its part connections. */
void stripe_put_free(struct stripe_put *sp);

/* Sends the client its answer (the connection stays the upload's no
 * longer); nothing when the client is gone. */
void stripe_put_answer(struct stripe_put *sp, int status,
    const char *reason, const char *extra);

/* Ends the upload without the object: the answer (status 0: the
 * connection aborted), when the client is still there, then the cleanup
 * unless a job or the name's round will start it. Never frees sp. */
void stripe_put_fail(struct stripe_put *sp, int status, const char *reason);

/* -- stripe_put_legs.c ------------------------------------------------- */

/* The store at addr, through the set that holds it (this node's own for
 * itself), or NULL. */
struct peer *stripe_put_legs_peer(struct server *s, const char *addr,
    struct peer_set **set);

/* Sends `method` of target to the leg's store with a body of `len` bytes
 * (STRIPE_CHUNKED: of a length unknown yet, sent as chunks) (its digest
 * `digest`, NULL: the head alone is signed); the connection goes to
 * l->l_pc, handled by h with l as argument. Returns false when the store
 * is not in the peer set or nothing could be signed. */
bool stripe_put_legs_request(struct stripe_put *sp, struct put_leg *l,
    const char *method, const char *target, uint64_t len,
    const uint8_t *digest, const struct peer_handler *h, int64_t timeout);

/* on_body and on_done of a store's answer whose head was enough. */
void stripe_put_legs_ignore(struct peer_conn *pc, void *arg);

/* on_fail of a leg's connection (arg: the leg): the leg is lost, or the
 * upload fails (502); in the cleanup, its DELETE. */
void stripe_put_legs_fail(struct peer_conn *pc, enum peer_failure why,
    void *arg);

/* Moves the body on: the client's bytes (or a chunked body's spooled
 * ones) into the legs while their buffers are free. */
void stripe_put_legs_pump(struct stripe_put *sp);

/* The journal entry is durable: the part connections (BODY), and the
 * body. On failure, the upload fails (503). */
void stripe_put_legs_open(struct stripe_put *sp);

/* -- stripe_put_end.c -------------------------------------------------- */

/* Every store holds its part: the manifest (MANIFEST), the commit, the
 * answer. */
void stripe_put_end_parts_stored(struct stripe_put *sp);

/* DELETE on every store (CLEANUP), a store with a request whole (its
 * part, or the commit) once it answered, then the journal entry removed;
 * frees sp in the end. */
void stripe_put_end_cleanup(struct stripe_put *sp);

/* In the cleanup, a leg's answer to its part or commit came, or its
 * connection failed (l->l_pc is no longer the leg's): its DELETE. */
void stripe_put_end_cleanup_leg(struct put_leg *l);

#endif
