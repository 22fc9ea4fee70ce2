/*
 * heal_int.h - what the three files of the agent's healing share: heal.c
 * (the choice, the scan of the origin's manifests, the metrics, its
 * life), heal_rebuild.c (a lost part rebuilt a row at a time and sent to
 * its new store) and heal_stale.c (a store's check of its parts against
 * their origins' manifests). Nothing else includes it. Loop thread of
 * the agent; the jobs of its pool touch only the fields marked "job"
 * while h_busy (h_sbusy).
 */
#ifndef SHOAL_STRIPE_HEAL_INT_H
#define SHOAL_STRIPE_HEAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/auth.h"
#include "cluster/members.h"
#include "core/buf.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "store/name.h"
#include "stripe/erasure.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"

#define HEAL_TICK_MS 1000		/* between looks */
#define HEAL_NEXT_MS 10			/* after a part healed */
#define HEAL_STALE_FIRST_MS 2000	/* the first stale check */
#define HEAL_TIMEOUT_MS 10000
#define HEAL_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)
#define HEAL_FILE_MAX (PARTS_FILE_MAX + 8)

struct heal_leg {
	struct heal *hl_h;
	unsigned hl_index;
	struct peer_conn *hl_pc;
	uint64_t hl_want, hl_fill;
	bool hl_failed;
};

struct heal_stale {
	char hs_id[MANIFEST_ID_LEN + 1];
	char hs_origin[MEMBER_NAME_MAX];
	uint64_t hs_gen;
};

struct heal {
	struct loop *h_loop;
	struct iopool *h_pool;
	struct cluster *h_cluster;
	struct stripe_shared *h_shared;
	const struct config *h_cfg;
	struct peer_set *h_peers;
	struct move *h_move;
	int h_origin_fd, h_tmp_fd;	/* stripe/manifests, parts/tmp */
	struct parts_dirs h_dirs;
	struct loop_timer h_timer;
	struct iopool_job h_job;
	bool h_busy, h_stopped;
	bool h_rebuilding;		/* a part is being rebuilt */
	char h_self[MEMBER_NAME_MAX], h_self_addr[MEMBER_ADDR_MAX];
	/* the scan: the members not dead (input), then its findings */
	char (*h_live)[MEMBER_NAME_MAX];
	size_t h_nlive, h_cap;
	unsigned h_skip;
	size_t h_scan_nlive;		/* at the last scan */
	uint64_t h_scan_news;		/* degraded uploads, parts marked
					   missing: at the last scan */
	int64_t h_scan_ms;
	bool h_found;
	struct manifest h_m;
	uint32_t h_lost;
	uint64_t h_degraded, h_todo;
	/* the rebuild of part h_index of h_m into h_file (job: h_fd,
	 * h_err and the blocks while decoding) */
	unsigned h_index;
	struct manifest h_next;
	char h_from[MEMBER_NAME_MAX];
	char h_what[MEMBER_NAME_MAX + NAME_MAX_LEN + 128];
	struct layout h_layout;
	struct erasure *h_er;
	unsigned char *h_blocks[ERASURE_BLOCKS_MAX];
	uint64_t h_block_cap;
	size_t h_lens[ERASURE_BLOCKS_MAX];
	struct heal_leg h_legs[ERASURE_BLOCKS_MAX];
	unsigned h_waiting;
	uint32_t h_bad, h_have;
	uint64_t h_row, h_rows, h_written;
	size_t h_out_len;
	int64_t h_t0;
	int h_fd, h_err;
	char h_file[HEAL_FILE_MAX];
	/* the stale check (job: the list) */
	struct loop_timer h_stimer;
	struct iopool_job h_sjob;
	bool h_sbusy;
	struct heal_stale *h_stale;
	unsigned h_nstale, h_sat, h_sskip, h_sseen;
	bool h_sdeferred;		/* an origin could not be asked */
	struct peer_conn *h_spc;
	struct buf h_sbody;
	bool h_sdelete;			/* the DELETE is out */
};

/* -- heal.c ------------------------------------------------------------ */

/* The next look in ms (the scan, or the rebuild's next row), unless
 * stopped. */
void heal_rearm(struct heal *h, int64_t ms);

/* Runs work in the pool, then done in the loop (h_busy meanwhile). */
void heal_submit(struct heal *h, void (*work)(struct iopool_job *),
    void (*done)(struct iopool_job *));

/* A signed request without a body to member `node` (extra: header
 * lines, each ending in CRLF, or ""); NULL when it is not alive or
 * nothing could be signed. */
struct peer_conn *heal_request(struct heal *h, const char *node,
    const char *method, const char *target, const char *extra,
    const struct peer_handler *hd, void *arg);

/* This node's name and address into h_self, h_self_addr; false when the
 * table is unusable. */
bool heal_self(struct heal *h);

/* The timer's callback: the next row of a rebuild, or a scan. */
void heal_tick(struct loop *loop, struct loop_timer *t);

/* -- heal_rebuild.c ---------------------------------------------------- */

/* Rebuilds part h_index of h_m (h_next placing it; h_what says it). */
void heal_rebuild(struct heal *h);

/* The next row of the rebuild: k good parts asked for its block. */
void heal_rebuild_row(struct heal *h);

/* Closes the row's part connections. */
void heal_rebuild_legs_close(struct heal *h);

/* -- heal_stale.c ------------------------------------------------------ */

/* The stale check's timer: the list of the objects with a part here,
 * then their origins asked one after the other. */
void heal_stale_tick(struct loop *loop, struct loop_timer *t);

#endif
