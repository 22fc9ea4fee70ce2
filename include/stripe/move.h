/*
 * move.h - moving one part of a striped object from one store to another,
 * whole or not at all, as the rebalancer does (stripe/rebalancer.h) and
 * as healing will with rebuilt bytes:
 *
 *   1. copy: the part's bytes (a file here) go to the new store T as a
 *      pending part (PUT /_/parts/ID/I, at a rate), and the digest T
 *      answers must be the manifest's for the part;
 *   2. the object's next manifest (generation one more, part I on T) is
 *      recorded in STATE_DIR/stripe/moves/ID (fsynced) and committed at
 *      T (POST /_/parts/ID/commit), which then holds the object in the
 *      catalogue;
 *   3. the origin takes it (the same POST): its copy takes only the very
 *      next generation moving one part, so the moves of one object are
 *      put in one order there, and of two moves from one generation the
 *      second is refused: it deletes its copy at T, and nobody else ever
 *      had its manifest. The record notes that the origin took it;
 *   4. every other store of the object takes it (a copy is replaced only
 *      by a higher generation; one already higher has it from a move
 *      that followed this one), but those of parts the next manifest
 *      marks missing (dead, or lost the part: healing, stripe/heal.h);
 *   5. the part is deleted at the old store S (DELETE /_/parts/ID: S
 *      withdraws from the catalogue), and the record goes.
 *
 * At every step some consistent manifest reads the object: until step 5,
 * S still holds its part and every copy, old or next, names parts that
 * exist. Cut at any step (this process, T, S, the origin or the
 * network): a copy not committed is a pending part T sweeps after
 * stripe.pending_timeout; a recorded switch is replayed (move_replay())
 * from step 2, or from step 4 once the origin took it, each step being
 * idempotent; a switch whose commit T refuses (its pending part was
 * swept, or another manifest of the object is there) never reached
 * anyone and is dropped.
 *
 * One move at a time per struct move. Loop thread of the agent; file
 * work in its I/O pool, reading and writing only the fields marked for
 * the job while mv_busy.
 */
#ifndef SHOAL_STRIPE_MOVE_H
#define SHOAL_STRIPE_MOVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/members.h"
#include "stripe/manifest.h"

struct cluster;
struct config;
struct iopool;
struct loop;
struct move;
struct peer_set;

enum move_result {
	MOVE_DONE,		/* switched everywhere, the old part deleted */
	MOVE_FAILED,		/* nothing changed (a copy may wait for the
				   sweep at the new store) */
	MOVE_PENDING,		/* switched in part: recorded, replayed */
	MOVE_NONE,		/* move_replay(): nothing recorded */
};

/* Called once per move_part()/move_switch()/move_replay(); `bytes` is
 * the part's size, `why` a static or move-owned reason (NULL when done). */
typedef void move_done_fn(void *arg, enum move_result r, uint64_t bytes,
    const char *why);

/* The record of a switch: {"from":"<node>","index":N,"switched":B,
 * "manifest":"<the next manifest's text>"} (switched: the origin took
 * it). Pure. encode: NULL when memory ran out (the caller frees the
 * text); decode: 0, or -1 when it is not one. */
char *move_entry_encode(const char *from, unsigned index, bool switched,
    const char *manifest_text, size_t *len);
int move_entry_decode(const char *text, size_t len, char *from,
    unsigned *index, bool *switched, struct manifest *next);

/* peers: the agent's set of the members. NULL (logged) when the
 * directories cannot be made or opened. */
struct move *move_create(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct peer_set *peers);

/* Whether a move (or a replay's look) is under way. */
bool move_busy(const struct move *mv);

/*
 * Part `index` of m (whose store is this node) goes to node `to`: its
 * bytes are the first ones of the file `name` in directory dir_fd (kept
 * open by the caller until done), sent at `rate` bytes/s at most (0: as fast as
 * possible). Then the switch, as move_switch() with m's next generation.
 * Returns 0 (done will be called), or -1 when a move is under way.
 */
int move_part(struct move *mv, const struct manifest *m, unsigned index,
    const char *to, int dir_fd, const char *name, uint64_t rate,
    move_done_fn *done, void *arg);

/*
 * Healing's copy: part `index` of `next` (the object's next manifest:
 * generation one more, the part on its new store, the parts lost marked
 * missing) was rebuilt into the file `name` in dir_fd, sent as fast as
 * possible (the rebuild set the pace); `from` is the store to delete the
 * old part from ("": none, its store is dead). Then the switch, as
 * move_switch(). Returns 0 or -1 as move_part().
 */
int move_rebuilt(struct move *mv, const struct manifest *next, unsigned index,
    const char *from, int dir_fd, const char *name, move_done_fn *done,
    void *arg);

/*
 * The switch alone: `next` places part `index` at its new store, which
 * holds it pending (or committed: a switch replayed); `from` is the
 * store it leaves ("": none to delete from). Returns 0 or -1 as above.
 */
int move_switch(struct move *mv, const struct manifest *next, unsigned index,
    const char *from, move_done_fn *done, void *arg);

/* Replays one recorded switch (each call the next one, in turn), or
 * calls done with MOVE_NONE when none is recorded. 0 or -1 as above. */
int move_replay(struct move *mv, move_done_fn *done, void *arg);

/* Whether a switch of object id is recorded (pool thread). */
bool move_recorded(const struct move *mv, const char *id);

/* No new step; requests out are dropped (a recorded switch stays for
 * the next start). Returns whether a job is still in the pool. */
bool move_stop(struct move *mv);

/* Once the pool is destroyed, before the peer set is freed. */
void move_free(struct move *mv);

#endif
