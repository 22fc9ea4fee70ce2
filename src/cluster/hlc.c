/*
 * hlc.c - the hybrid logical clock (see cluster/hlc.h). The state is one
 * 64-bit word, the last stamp given or seen; every call is a loop of
 * compare-and-swap on it, so any thread of any process that maps the word
 * may stamp at once, without a lock. A stamp is the millisecond << 16 |
 * a logical counter, so "one more than the last stamp" is the next
 * logical value, and a counter that runs over 65535 carries into the
 * millisecond: the clock then runs ahead of the wall a little, which the
 * next wall milliseconds absorb.
 */
#include "cluster/hlc.h"

#define HLC_MS_MASK ((UINT64_C(1) << (64 - HLC_LOGICAL_BITS)) - 1)

uint64_t
hlc_from_ms(int64_t ms)
{
	if (ms <= 0)
		return 0;
	return ((uint64_t)ms & HLC_MS_MASK) << HLC_LOGICAL_BITS;
}

int64_t
hlc_ms(uint64_t stamp)
{
	return (int64_t)(stamp >> HLC_LOGICAL_BITS);
}

uint64_t
hlc_now(uint64_t *last, int64_t wall_ms)
{
	uint64_t cur = __atomic_load_n(last, __ATOMIC_RELAXED);
	uint64_t wall = hlc_from_ms(wall_ms), next;

	do {
		/* The wall clock when it is ahead, else one more than the
		 * last stamp (a wall clock stepped back, or many stamps in
		 * one millisecond). */
		next = wall > cur ? wall : cur + 1;
	} while (!__atomic_compare_exchange_n(last, &cur, next, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return next;
}

bool
hlc_observe(uint64_t *last, uint64_t remote, int64_t wall_ms,
    int64_t max_skew_ms)
{
	uint64_t cur = __atomic_load_n(last, __ATOMIC_RELAXED);

	if (hlc_ms(remote) > wall_ms + max_skew_ms)
		return false;
	while (remote > cur && !__atomic_compare_exchange_n(last, &cur,
	    remote, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
	return true;
}
