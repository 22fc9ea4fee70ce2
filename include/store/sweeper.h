/*
 * sweeper.h - the care of the shared index: at start, records whose file
 * is gone or replaced are dropped; then, about once a second, saved copies
 * whose time is up are removed from ROOT (only when the file under the
 * name still is that copy) and from the index.
 *
 * Who calls what: the master calls sweeper_remove_lost() at start, right
 * after index_open() and before it forks any child. The agent (proc/agent.h)
 * runs the passes, each as a job of its I/O pool (they block on the disk):
 * the first agent of a node runs sweeper_start() before the master forks
 * the workers (if it dies first, the node does not start); every agent
 * then runs sweeper_run() SWEEPER_INTERVAL_MS after the end of its
 * previous pass, and an agent started later (a reload, a replacement)
 * begins with sweeper_run() at once. Any thread may call them;
 * two passes at once (an old agent draining beside a new one) do no harm,
 * as every removal checks the identity of what it removes.
 */
#ifndef SHOAL_SWEEPER_H
#define SHOAL_SWEEPER_H

#include <stdint.h>

struct config;
struct index;
struct index_open_report;

#define SWEEPER_INTERVAL_MS 1000	/* from the end of one pass */

/* Removes from ROOT the copies whose records index_open() could not carry
 * over to a smaller table (report->r_lost), each only if it still is that
 * copy. Errors are ignored: such a file is left as an original. */
void sweeper_remove_lost(const struct config *cfg,
    const struct index_open_report *report);

/* The pass at start: drops the records of copies whose file is gone or
 * replaced, then sweeps what expired while shoald was down (sweeper_run).
 * Logs what it did. */
void sweeper_start(struct index *ix, const struct config *cfg);

/* One sweep: removes expired copies. Returns how many were removed. */
unsigned long sweeper_run(struct index *ix, const struct config *cfg);

#endif
