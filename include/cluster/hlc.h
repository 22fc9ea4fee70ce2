/*
 * hlc.h - the hybrid logical clock that stamps object versions (Kulkarni
 * et al., 2014). A stamp is 64 bits: the wall-clock millisecond in the
 * high 48 (good until the year 10889), a logical counter in the low 16.
 * Stamps taken on one node only grow, even when the wall clock steps
 * back, and a stamp taken after this node saw another's is larger than
 * that one: so "the smallest stamp" means "written first" as far as the
 * nodes could tell, which is the conflict rule's first key.
 *
 * The clock's state is one 64-bit word (the last stamp), updated with
 * atomic compare-and-swap, so that it may live in shared memory and be
 * stamped by every worker at once. No call reads the clock itself: the
 * wall time is an argument.
 */
#ifndef SHOAL_CLUSTER_HLC_H
#define SHOAL_CLUSTER_HLC_H

#include <stdbool.h>
#include <stdint.h>

#define HLC_LOGICAL_BITS 16

/* A new stamp, larger than every stamp `*last` has given or seen. */
uint64_t hlc_now(uint64_t *last, int64_t wall_ms);

/*
 * Takes in a stamp another node sent, so that stamps taken from now on
 * are larger. A stamp more than max_skew_ms ahead of wall_ms is not taken
 * in (the clock would be dragged forward by one wrong clock): returns
 * false then, and the caller says so.
 */
bool hlc_observe(uint64_t *last, uint64_t remote, int64_t wall_ms,
    int64_t max_skew_ms);

/* A stamp of the wall-clock millisecond ms, logical part 0 (a file found
 * in ROOT is stamped with its mtime). */
uint64_t hlc_from_ms(int64_t ms);

/* The millisecond of a stamp. */
int64_t hlc_ms(uint64_t stamp);

#endif
