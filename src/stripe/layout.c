/*
 * layout.c - the bytes of a striped object in its parts (see layout.h).
 * Pure; any process or thread.
 *
 * Of the object's bytes [0, off), part p holds: every whole block j < off
 * / block with j mod parts == p, plus the head of off's own block when
 * that block is p's. Everything else follows from that count.
 */
#include "stripe/layout.h"

uint64_t
layout_part_bytes(const struct layout *l, unsigned part, uint64_t off)
{
	uint64_t j = off / l->l_block, rest = off % l->l_block;
	uint64_t blocks = j / l->l_parts + (part < j % l->l_parts ? 1 : 0);

	return blocks * l->l_block + (j % l->l_parts == part ? rest : 0);
}

uint64_t
layout_part_size(const struct layout *l, unsigned part)
{
	return layout_part_bytes(l, part, l->l_size);
}

void
layout_locate(const struct layout *l, uint64_t off, unsigned *part,
    uint64_t *part_off, uint64_t *run)
{
	uint64_t j = off / l->l_block, rest = off % l->l_block;
	uint64_t left = l->l_size - off;

	*part = (unsigned)(j % l->l_parts);
	*part_off = j / l->l_parts * l->l_block + rest;
	*run = l->l_block - rest < left ? l->l_block - rest : left;
}

bool
layout_part_range(const struct layout *l, unsigned part, uint64_t from,
    uint64_t to, uint64_t *part_from, uint64_t *part_to)
{
	*part_from = layout_part_bytes(l, part, from);
	*part_to = layout_part_bytes(l, part, to);
	return *part_to > *part_from;
}
