/*
 * heal.h - the agent's healing of striped objects with parity.
 *
 * At an object's origin (the node that keeps its ruling manifest,
 * STATE_DIR/stripe/manifests/), the manifests are read in a pool job
 * once a second while some object has lost parts, or when a member
 * died, an upload was stored degraded or a part marked missing here
 * (stripe/stripe.h's counters), every HEAL_IDLE_MS otherwise: a part is lost when the manifest marks it missing (a
 * store failed during the upload, or its scrubber found it corrupt:
 * stripe/scrub.h) or when gossip has its store dead. The first object
 * with lost parts (in turn, objects with a recorded switch left out)
 * has its lowest lost part rebuilt, one stripe row at a time: a block
 * of each of k good parts (GET /_/parts/ID/I with a Range, any k of the
 * k + m, another one in place of one that fails), the part's block
 * decoded (stripe/erasure.h) and written to a file in parts/tmp, at
 * stripe.heal_rate bytes/s at most (0: no healing). Memory: a block per
 * part. The file is then sent to a store chosen by the placement rule
 * (stripe/placement.h) among the alive stores holding no part of the
 * object, its digest checked there, and the manifest switched
 * (stripe/move.h's move_rebuilt(): next generation, the part on its new
 * store, no longer missing; parts still lost marked missing). A part
 * that was on an alive store (missing, or corrupt) is deleted there.
 *
 * On a store, every HEAL_STALE_MS (at start after two seconds; after
 * HEAL_STALE_RETRY_MS when an origin could not be asked), the stale
 * check: for each object with a part here (HEAL_STALE_MAX at a time,
 * one after the other), the origin's manifest is asked for (GET
 * /_/parts/ID/manifest); one of a later generation that no longer names
 * this node means the part was rebuilt elsewhere while this store was
 * away: it is dropped (DELETE /_/parts/ID to this node).
 *
 * Counters in the node's stripe_shared (stripe/stripe.h), rendered by
 * heal_metrics(). Loop thread of the agent; the scans, the decoding and
 * the file's writes in its pool, which touch only the fields marked for
 * them while a job is out.
 */
#ifndef SHOAL_STRIPE_HEAL_H
#define SHOAL_STRIPE_HEAL_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct cluster;
struct config;
struct heal;
struct iopool;
struct loop;
struct manifest;
struct peer_set;
struct stripe_shared;

#define HEAL_IDLE_MS 5000
#define HEAL_STALE_MS 60000
#define HEAL_STALE_RETRY_MS 5000
#define HEAL_STALE_MAX 256

/*
 * The choice, pure (any thread): the parts of m that are lost (bits):
 * those marked missing, and those on a node for which live(arg, node)
 * is false (gossip has it dead, or does not know it).
 */
uint32_t heal_lost(const struct manifest *m,
    bool (*live)(const void *arg, const char *node), const void *arg);

/*
 * The manifest that follows m once its lost part `index` (the lowest bit
 * of lost, which must be set) is rebuilt on node `to` into *next: the
 * next generation, the part on `to`, the other lost parts marked
 * missing. Returns -1 when lost names more parts than m's parity
 * rebuilds, or no part, 0 otherwise.
 */
int heal_next(const struct manifest *m, uint32_t lost, const char *to,
    struct manifest *next, unsigned *index);

/* Starts (the first scan a second from now). NULL (logged) when the
 * directories cannot be opened. peers: the agent's set of the members. */
struct heal *heal_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct stripe_shared *ss,
    struct peer_set *peers);

/* No new step, requests out dropped; returns whether a job is still in
 * the pool. */
bool heal_stop(struct heal *h);

/* Once the pool is destroyed, before the peer set is freed. NULL is
 * fine. */
void heal_free(struct heal *h);

/* The healing and scrubbing metric families, for /_/metrics. */
/* The "striping" section of /_/cluster (cluster_set_section): arg is
 * the node's struct stripe_shared. */
struct json_t *heal_json(void *arg);

void heal_metrics(struct buf *out, const struct stripe_shared *ss);

#endif
