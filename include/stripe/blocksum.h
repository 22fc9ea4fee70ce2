/*
 * blocksum.h - the checksum of every block of a part, and how a part file
 * keeps them, so that rot is found on every read and never sent.
 *
 * A block's checksum is its CRC32C (Castagnoli: the CRC of iSCSI, ext4
 * and btrfs), computed by ISA-L's crc32_iscsi, which the parity code
 * needs anyway, on the CPU's CRC and carry-less multiply instructions.
 * Unlike a hash such as XXH3, a 32-bit CRC catches every error burst of
 * up to 32 bits (any flipped byte, any four adjacent ones) for certain,
 * not with a probability; other damage passes with odds of 2^-32 per
 * block. Four bytes a block: 4 KiB per GiB of 1 MiB blocks.
 *
 * A part of `size` bytes is cut, like the object, into blocks of `block`
 * bytes, the last one possibly short: blocksum_count() blocks. Its file
 * on a store is the part's bytes followed by a trailer:
 *
 *   size bytes          the part, at its own offsets (a range of the part
 *                       is the same range of the file)
 *   4 bytes per block   the blocks' checksums, block 0 first
 *   24 bytes, a footer:
 *     8  size           the part's bytes
 *     4  block
 *     4  check          CRC32C of the checksums, size and block
 *     8  magic          "shoalbs1"
 *
 * Integers are little-endian. A trailer rather than a second file: the
 * part stays one file, written once through a spool and linked whole,
 * and the checksums of a streamed body, known only at its end, are
 * appended there. The footer names the size and block it was made for,
 * and its check covers the checksums, so a table that rotted is told
 * from a block that did.
 *
 * Pure but for the stream's allocation; any thread.
 */
#ifndef SHOAL_STRIPE_BLOCKSUM_H
#define SHOAL_STRIPE_BLOCKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCKSUM_SIZE 4			/* bytes of one block's checksum */
#define BLOCKSUM_FOOTER 24		/* bytes of the footer */
#define BLOCKSUM_MAGIC "shoalbs1"	/* its last 8 bytes */
#define BLOCKSUM_BLOCK_MAX UINT32_MAX

/* The checksum of buf[0..len): its CRC32C. */
uint32_t blocksum_of(const void *buf, size_t len);

/* Whether buf[0..len) has the checksum sum. */
bool blocksum_verify(const void *buf, size_t len, uint32_t sum);

/* The blocks of a part of `size` bytes: ceil(size / block). block is 1 to
 * BLOCKSUM_BLOCK_MAX in every function here. */
uint64_t blocksum_count(uint64_t size, uint64_t block);

/* Bytes of the trailer of such a part: its file is size + this long. */
uint64_t blocksum_trailer_size(uint64_t size, uint64_t block);

/* Writes the trailer of a part of `size` bytes whose blocks have the
 * checksums sums[0..blocksum_count()) to out[0..blocksum_trailer_size()). */
void blocksum_trailer_encode(const uint32_t *sums, uint64_t size,
    uint64_t block, unsigned char *out);

/*
 * Reads the trailer buf[0..len), found at offset `size` of the file of a
 * part of `size` bytes cut in blocks of `block` (both from the manifest),
 * into sums[0..blocksum_count()). Strict: len must be the trailer's size,
 * the footer must name that size and block, with the magic, and its check
 * must hold. Returns 0, or -1 with *why (when not NULL) set to a static
 * one-line reason; sums is then undefined.
 */
int blocksum_trailer_decode(const unsigned char *buf, size_t len,
    uint64_t size, uint64_t block, uint32_t *sums, const char **why);

/* Reads a footer foot[0..BLOCKSUM_FOOTER) (the last bytes of a part
 * file) into *size and *block. Returns 0, or -1 when it has no magic or
 * names no block (the check is blocksum_trailer_decode()'s). */
int blocksum_footer_read(const unsigned char *foot, uint64_t *size,
    uint64_t *block);

/*
 * The checksums of a part whose bytes arrive in pieces of any length (a
 * part upload): blocksum_stream_add() them in order, then
 * blocksum_stream_trailer(). Memory: 4 bytes per block, allocated at the
 * start. One thread at a time.
 */
struct blocksum_stream {
	uint64_t bs_size, bs_block;	/* bs_size UINT64_MAX while open */
	bool bs_open;			/* the size known only at the end */
	uint64_t bs_slots;		/* of bs_sums, while open */
	uint64_t bs_seen;	/* bytes added so far */
	uint32_t bs_crc;	/* CRC state of the current block so far */
	uint32_t *bs_sums;	/* of the blocks done, owned */
};

/* Starts the stream of a part of `size` bytes. Returns 0, or -1 with
 * errno EINVAL (block out of range, or too many blocks for memory) or
 * ENOMEM. */
int blocksum_stream_init(struct blocksum_stream *s, uint64_t size,
    uint64_t block);

/* Starts the stream of a part whose size is known only at its end (a
 * chunked body): the checksums grow with it. blocksum_stream_close()
 * then says the size. Returns 0, or -1 with errno EINVAL or ENOMEM. */
int blocksum_stream_init_open(struct blocksum_stream *s, uint64_t block);

/* The part is whole: an open stream's size is what was added (its last
 * block possibly short). Nothing for a stream of a known size. Returns
 * 0, or -1 with errno ENOMEM. */
int blocksum_stream_close(struct blocksum_stream *s);

/* The part's next bytes. Returns 0, or -1 with errno EFBIG when they go
 * past its size (nothing of them is taken then), or ENOMEM (an open
 * stream's checksums could not grow). */
int blocksum_stream_add(struct blocksum_stream *s, const void *buf,
    size_t len);

/* The trailer into out[0..blocksum_trailer_size()), once every byte of
 * the part was added. Returns 0, or -1 with errno EINVAL before. */
int blocksum_stream_trailer(const struct blocksum_stream *s,
    unsigned char *out);

void blocksum_stream_free(struct blocksum_stream *s);

#endif
