/*
 * blocksum.c - the checksums of a part's blocks and its file's trailer
 * (see stripe/blocksum.h). Pure but for the stream's allocation; any
 * thread.
 *
 * ISA-L's crc32_iscsi(buf, len, state) neither inverts its initial state
 * nor its result, so the state of a CRC32C runs from ~0 and the value is
 * the state inverted; states chain across pieces of one block.
 */
#include <errno.h>
#include <isa-l/crc.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "stripe/blocksum.h"

#define BLOCKSUM_STATE0 0xffffffffu

/* The state after buf[0..len), from state. */
static uint32_t
blocksum_update(uint32_t state, const void *buf, size_t len)
{
	/* ISA-L reads through a non-const pointer, and an int length. */
	unsigned char *p = (unsigned char *)(uintptr_t)buf;
	size_t n;

	for (; len > 0; p += n, len -= n) {
		n = len < INT_MAX ? len : INT_MAX;
		state = crc32_iscsi(p, (int)n, state);
	}
	return state;
}

uint32_t
blocksum_of(const void *buf, size_t len)
{
	return ~blocksum_update(BLOCKSUM_STATE0, buf, len);
}

bool
blocksum_verify(const void *buf, size_t len, uint32_t sum)
{
	return blocksum_of(buf, len) == sum;
}

uint64_t
blocksum_count(uint64_t size, uint64_t block)
{
	return size / block + (size % block != 0);
}

uint64_t
blocksum_trailer_size(uint64_t size, uint64_t block)
{
	return blocksum_count(size, block) * BLOCKSUM_SIZE + BLOCKSUM_FOOTER;
}

static void
blocksum_put(unsigned char *out, uint64_t v, unsigned bytes)
{
	unsigned i;

	for (i = 0; i < bytes; i++)
		out[i] = (unsigned char)(v >> 8 * i);
}

static uint64_t
blocksum_get(const unsigned char *in, unsigned bytes)
{
	uint64_t v = 0;

	while (bytes-- > 0)
		v = v << 8 | in[bytes];
	return v;
}

void
blocksum_trailer_encode(const uint32_t *sums, uint64_t size, uint64_t block,
    unsigned char *out)
{
	uint64_t n = blocksum_count(size, block), i;
	unsigned char *foot = out + n * BLOCKSUM_SIZE;

	for (i = 0; i < n; i++)
		blocksum_put(out + i * BLOCKSUM_SIZE, sums[i], BLOCKSUM_SIZE);
	blocksum_put(foot, size, 8);
	blocksum_put(foot + 8, block, 4);
	blocksum_put(foot + 12, blocksum_of(out, n * BLOCKSUM_SIZE + 12), 4);
	memcpy(foot + 16, BLOCKSUM_MAGIC, 8);
}

int
blocksum_trailer_decode(const unsigned char *buf, size_t len, uint64_t size,
    uint64_t block, uint32_t *sums, const char **why)
{
	uint64_t n, i;
	const unsigned char *foot;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (block == 0 || block > BLOCKSUM_BLOCK_MAX || (n = blocksum_count(
	    size, block)) > (SIZE_MAX - BLOCKSUM_FOOTER) / BLOCKSUM_SIZE) {
		*why = "no trailer fits such a part";
		return -1;
	}
	if (len != blocksum_trailer_size(size, block)) {
		*why = "the trailer's length is not the part's";
		return -1;
	}
	foot = buf + n * BLOCKSUM_SIZE;
	if (memcmp(foot + 16, BLOCKSUM_MAGIC, 8) != 0) {
		*why = "no trailer magic";
		return -1;
	}
	if (blocksum_get(foot, 8) != size || blocksum_get(foot + 8, 4) !=
	    block) {
		*why = "the trailer is of another size or block";
		return -1;
	}
	if (blocksum_get(foot + 12, 4) != blocksum_of(buf, n * BLOCKSUM_SIZE +
	    12)) {
		*why = "the trailer's checksums are corrupt";
		return -1;
	}
	for (i = 0; i < n; i++)
		sums[i] = (uint32_t)blocksum_get(buf + i * BLOCKSUM_SIZE,
		    BLOCKSUM_SIZE);
	return 0;
}

int
blocksum_footer_read(const unsigned char *foot, uint64_t *size,
    uint64_t *block)
{
	if (memcmp(foot + 16, BLOCKSUM_MAGIC, 8) != 0)
		return -1;
	*size = blocksum_get(foot, 8);
	*block = blocksum_get(foot + 8, 4);
	return *block == 0 ? -1 : 0;
}

int
blocksum_stream_init(struct blocksum_stream *s, uint64_t size,
    uint64_t block)
{
	uint64_t n;

	memset(s, 0, sizeof(*s));
	if (block == 0 || block > BLOCKSUM_BLOCK_MAX ||
	    (n = blocksum_count(size, block)) > SIZE_MAX / BLOCKSUM_SIZE) {
		errno = EINVAL;
		return -1;
	}
	/* One slot more, so that an empty part allocates too. */
	if ((s->bs_sums = malloc((n + 1) * sizeof(uint32_t))) == NULL)
		return -1;
	s->bs_size = size;
	s->bs_block = block;
	s->bs_crc = BLOCKSUM_STATE0;
	return 0;
}

int
blocksum_stream_init_open(struct blocksum_stream *s, uint64_t block)
{
	if (blocksum_stream_init(s, 0, block) == -1)
		return -1;
	s->bs_size = UINT64_MAX;
	s->bs_open = true;
	s->bs_slots = 1;
	return 0;
}

/* Room in an open stream's checksums for block i. */
static int
blocksum_stream_room(struct blocksum_stream *s, uint64_t i)
{
	uint32_t *sums;
	uint64_t slots = s->bs_slots;

	if (!s->bs_open || i < slots)
		return 0;
	while (slots <= i)
		slots *= 2;
	if (slots > SIZE_MAX / sizeof(uint32_t) ||
	    (sums = realloc(s->bs_sums, slots * sizeof(uint32_t))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	s->bs_sums = sums;
	s->bs_slots = slots;
	return 0;
}

int
blocksum_stream_close(struct blocksum_stream *s)
{
	if (!s->bs_open)
		return 0;
	if (s->bs_seen % s->bs_block != 0) {
		if (blocksum_stream_room(s, s->bs_seen / s->bs_block) == -1)
			return -1;
		s->bs_sums[s->bs_seen / s->bs_block] = ~s->bs_crc;
		s->bs_crc = BLOCKSUM_STATE0;
	}
	s->bs_size = s->bs_seen;
	s->bs_open = false;
	return 0;
}

int
blocksum_stream_add(struct blocksum_stream *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t into, n;

	if (len > s->bs_size - s->bs_seen) {
		errno = EFBIG;
		return -1;
	}
	while (len > 0) {
		into = s->bs_seen % s->bs_block;
		n = s->bs_block - into < len ? s->bs_block - into : len;
		s->bs_crc = blocksum_update(s->bs_crc, p, n);
		p += n;
		len -= n;
		s->bs_seen += n;
		/* A block ends at its full length, or at the part's end. */
		if (into + n == s->bs_block || s->bs_seen == s->bs_size) {
			if (blocksum_stream_room(s, (s->bs_seen - 1) /
			    s->bs_block) == -1)
				return -1;
			s->bs_sums[(s->bs_seen - 1) / s->bs_block] =
			    ~s->bs_crc;
			s->bs_crc = BLOCKSUM_STATE0;
		}
	}
	return 0;
}

int
blocksum_stream_trailer(const struct blocksum_stream *s, unsigned char *out)
{
	if (s->bs_seen != s->bs_size) {
		errno = EINVAL;
		return -1;
	}
	blocksum_trailer_encode(s->bs_sums, s->bs_size, s->bs_block, out);
	return 0;
}

void
blocksum_stream_free(struct blocksum_stream *s)
{
	free(s->bs_sums);
	s->bs_sums = NULL;
}
