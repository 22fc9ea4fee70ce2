/*
 * layout.h - where the bytes of a striped object lie: the object is cut
 * into blocks of `block` bytes (the last one may be short), and block i
 * goes to part i mod parts, at offset (i / parts) * block in that part.
 * So the parts differ in size by at most one block, whatever the size,
 * and consecutive blocks of one part are adjacent in it: any byte range
 * of the object is, in each part, one contiguous range.
 *
 * Pure arithmetic on 64-bit sizes (10 GiB and far beyond); any process
 * or thread.
 */
#ifndef SHOAL_STRIPE_LAYOUT_H
#define SHOAL_STRIPE_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

struct layout {
	uint64_t l_size;		/* of the object */
	uint64_t l_block;		/* > 0 */
	unsigned l_parts;		/* > 0 */
};

/* Bytes of part `part` that lie in the object's bytes [0, off); off at
 * most l_size. layout_part_size() is layout_part_bytes(l, part, l_size). */
uint64_t layout_part_bytes(const struct layout *l, unsigned part,
    uint64_t off);

/* The size of part `part` (< l_parts). */
uint64_t layout_part_size(const struct layout *l, unsigned part);

/* The part holding the object's byte `off` (< l_size), its offset in that
 * part, and how many bytes from `off` on lie contiguously there (to the
 * end of off's block, or of the object). */
void layout_locate(const struct layout *l, uint64_t off, unsigned *part,
    uint64_t *part_off, uint64_t *run);

/* The bytes of part `part` that hold the object's bytes [from, to)
 * (from <= to <= l_size): [*part_from, *part_to). Returns false when the
 * part holds none of them (then nothing need be read from it). */
bool layout_part_range(const struct layout *l, unsigned part, uint64_t from,
    uint64_t to, uint64_t *part_from, uint64_t *part_to);

#endif
