/*
 * move_int.h - what the two files of a move share: move.c (the record,
 * its replay, the requests of the switch, the end of a move, its life)
 * and move_copy.c (the copy of the part's bytes to the new store, at a
 * rate). Nothing else includes it. Loop thread of the agent, but for the
 * fields marked "job", which a job of its pool touches while mv_busy.
 */
#ifndef SHOAL_STRIPE_MOVE_INT_H
#define SHOAL_STRIPE_MOVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/auth.h"
#include "cluster/members.h"
#include "core/config.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "stripe/manifest.h"
#include "stripe/move.h"
#include "stripe/parts.h"

#define MOVE_CHUNK_MAX (256 * 1024)
#define MOVE_CHUNK_MIN (4 * 1024)
#define MOVE_TIMEOUT_MS 10000
#define MOVE_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)
#define MOVE_LEGS (CONFIG_STRIPE_PARTS_MAX + 1)	/* the stores, the origin */
#define MOVE_ENTRY_MAX (2 * MANIFEST_MAX + 512)

enum move_phase {
	PHASE_IDLE,
	PHASE_OPEN,		/* job: the part's file */
	PHASE_COPY,		/* PUT to the new store */
	PHASE_RECORD,		/* job: the record */
	PHASE_COMMIT,		/* at the new store */
	PHASE_ORIGIN,		/* at the origin, which orders the moves */
	PHASE_SWITCH,		/* at the other stores */
	PHASE_DELETE,		/* at the old store */
	PHASE_UNRECORD,		/* job: the record goes */
	PHASE_LOOK,		/* job: a record to replay */
};

struct move_leg {
	struct move *ml_mv;
	char ml_node[MEMBER_NAME_MAX];
	struct peer_conn *ml_pc;
	bool ml_sent;			/* the body went */
	int ml_status;			/* 0: no answer */
};

struct move {
	struct loop *mv_loop;
	struct iopool *mv_pool;
	struct cluster *mv_cluster;
	struct peer_set *mv_peers;
	int mv_moves_fd, mv_tmp_fd;	/* stripe/moves, parts/tmp */
	enum move_phase mv_phase;
	bool mv_busy;			/* a job is out */
	bool mv_stopped;
	struct iopool_job mv_job;
	struct loop_timer mv_timer;	/* the copy's pace */
	bool mv_timed;
	move_done_fn *mv_done;
	void *mv_arg;
	enum move_result mv_result;	/* once the record goes: DONE, or
					   FAILED once a copy rolled back */
	char mv_why[MEMBER_NAME_MAX + 192];
	/* the switch (job: read by RECORD, written by LOOK) */
	struct manifest mv_next;
	unsigned mv_index;
	char mv_from[MEMBER_NAME_MAX];
	char *mv_text;			/* mv_next's text */
	size_t mv_text_len;
	uint8_t mv_text_digest[AUTH_DIGEST_LEN];
	bool mv_switched;		/* the origin took it (the record
					   says so once rewritten) */
	bool mv_found;			/* job (LOOK) */
	unsigned mv_turn;		/* which record LOOK takes */
	/* the copy (job: OPEN and the reads) */
	int mv_dir_fd;
	char mv_name[PARTS_FILE_MAX];
	int mv_fd;
	uint64_t mv_size, mv_off, mv_rate;
	int64_t mv_t0;
	char *mv_buf;
	size_t mv_chunk, mv_len;
	bool mv_piece_out;		/* mv_buf handed to the connection */
	bool mv_ended;
	bool mv_answered;		/* the new store answered the PUT */
	int mv_err;			/* job */
	/* the requests */
	struct move_leg mv_legs[MOVE_LEGS];
	unsigned mv_nlegs, mv_waiting;
};

/* -- move.c, for move_copy.c ---------------------------------------------- */

/* Ends the move: closes what is open, calls mv_done with r (why: a
 * reason, or NULL when done). */
void move_finish(struct move *mv, enum move_result r, const char *why);

/* Sends work to the pool (mv_busy until done runs on the loop). */
void move_submit(struct move *mv, void (*work)(struct iopool_job *),
    void (*done)(struct iopool_job *));

/* A signed request to `node` for leg l; false when the node is not
 * alive or nothing could be signed. */
bool move_request(struct move *mv, struct move_leg *l, const char *method,
    const char *target, uint64_t len, const uint8_t *digest, unsigned flags,
    const struct peer_handler *h);

/* A peer_handler's call that has nothing to do. */
void move_leg_ignore(struct peer_conn *pc, void *arg);

/* mv_next, mv_index, mv_from and mv_switched are set: its text, then
 * the record (or, replayed, the step it is at). Returns 0. */
int move_switch_begin(struct move *mv, bool recorded);

/* -- move_copy.c, for move.c ---------------------------------------------- */

/* mv_next, mv_index and mv_from are set: the copy of the file `name`
 * in dir_fd (its first mv_size bytes) at `rate` bytes/s (0: at once),
 * then the switch; done is called at the end. Returns 0. */
int move_copy_start(struct move *mv, int dir_fd, const char *name,
    uint64_t rate, move_done_fn *done, void *arg);

#endif
