/*
 * sweeper.h - the master's care of the shared index: at start, records
 * whose file is gone or replaced are dropped; then, about once a second,
 * saved copies whose time is up are removed from ROOT (only when the file
 * under the name still is that copy) and from the index. Master only.
 */
#ifndef SHOAL_SWEEPER_H
#define SHOAL_SWEEPER_H

#include <stdint.h>

struct config;
struct index;
struct index_open_report;

#define SWEEPER_INTERVAL_MS 1000

/* The pass at start, after index_open(): removes the files of records lost
 * to a smaller table, drops records of files that are gone or replaced,
 * and sweeps what expired while shoald was down. Logs what it did. */
void sweeper_start(struct index *ix, const struct config *cfg,
    const struct index_open_report *report);

/* One sweep: removes expired copies. Returns how many were removed. */
unsigned long sweeper_run(struct index *ix, const struct config *cfg);

#endif
