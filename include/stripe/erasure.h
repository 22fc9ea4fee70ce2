/*
 * erasure.h - Reed-Solomon parity of striped objects, over ISA-L: k data
 * blocks of one stripe row give m parity blocks, and any k of the k + m
 * blocks of a row give back the others.
 *
 * The code is systematic, from ISA-L's Cauchy matrix
 * (gf_gen_cauchy1_matrix): its top k rows are the identity (data blocks
 * are stored as they are) and every k x k matrix made of k of its rows is
 * invertible. Inversion is still checked on every decode: a matrix that
 * does not invert is refused, never used (ERASURE_SINGULAR).
 *
 * A row: blocks[0..k) are the data blocks of the row (part p's block is
 * blocks[p]), blocks[k..k+m) its parity blocks (parity part j's block is
 * blocks[k + j]). The data blocks of a row may differ in length (the last
 * row of an object: some parts have a whole block there, one a short
 * block, some none). The rule: the row's length is its longest data
 * block (erasure_row_len()); for coding, every shorter data block is
 * taken as zero-padded to it, and every parity block is that long. With
 * the striping layout (part 0 holds the longest block of every row) a
 * parity part is exactly as long as data part 0.
 *
 * Buffers: every block buffer handed to these functions starts on an
 * ERASURE_ALIGN boundary (ISA-L's own tests align so; erasure_buf_alloc()
 * gives such buffers) and has room for the row's length, padding
 * included, because a short data block's tail is zeroed in place.
 *
 * Threads: encoding reads only what erasure_new() built, so any number of
 * threads may encode with one struct erasure. Decoding also uses a small
 * cache of decode tables (the last ERASURE_CACHE erasure patterns, least
 * recently used out first), guarded by the struct's own mutex, held only
 * to look up or store a pattern's tables, never while coding. Nothing
 * here does I/O or logs.
 */
#ifndef SHOAL_STRIPE_ERASURE_H
#define SHOAL_STRIPE_ERASURE_H

#include <stddef.h>
#include <stdint.h>

#define ERASURE_DATA_MIN 2		/* data blocks of a row, k */
#define ERASURE_DATA_MAX 16
#define ERASURE_PARITY_MAX 4		/* parity blocks of a row, m */
#define ERASURE_BLOCKS_MAX (ERASURE_DATA_MAX + ERASURE_PARITY_MAX)
#define ERASURE_ALIGN 64		/* bytes, of every block buffer */
#define ERASURE_CACHE 32		/* erasure patterns kept */
#define ERASURE_LEN_MAX (1u << 30)	/* bytes of a row, at most */

struct erasure;

enum erasure_result {
	ERASURE_OK,
	ERASURE_TOO_FEW,	/* fewer than k good blocks: more than m lost */
	ERASURE_SINGULAR,	/* the survivors' matrix did not invert */
	ERASURE_INVALID,	/* arguments outside the contract */
};

/* The code of k data blocks (ERASURE_DATA_MIN..ERASURE_DATA_MAX) and m
 * parity blocks (0..ERASURE_PARITY_MAX), its encode tables built now.
 * Returns NULL with errno EINVAL (k or m out of range) or ENOMEM. Kept as
 * long as the configuration asks for (k, m); freed by erasure_free(). */
struct erasure *erasure_new(unsigned k, unsigned m);
void erasure_free(struct erasure *e);

unsigned erasure_data(const struct erasure *e);		/* k */
unsigned erasure_parity(const struct erasure *e);	/* m */

/* A block buffer: `size` bytes (rounded up to ERASURE_ALIGN) starting on
 * an ERASURE_ALIGN boundary, for free(). NULL with errno ENOMEM. */
unsigned char *erasure_buf_alloc(size_t size);

/* The length of a row whose data blocks are lens[0..k) bytes long: the
 * longest of them (0 when all are empty). */
size_t erasure_row_len(const struct erasure *e, const size_t *lens);

/*
 * Computes the row's m parity blocks: reads blocks[0..k) (data block i is
 * lens[i] bytes; its tail up to the row's length is zeroed here), writes
 * blocks[k..k+m), each erasure_row_len() bytes. ERASURE_INVALID when a
 * buffer is misaligned or the row is longer than ERASURE_LEN_MAX; nothing
 * is written then. Any thread.
 */
enum erasure_result erasure_encode(struct erasure *e,
    unsigned char *const *blocks, const size_t *lens);

/*
 * The same parity, one data block at a time, so that a block can go on
 * its way before the rest of its row arrives: parity[0..m) are the row's
 * parity blocks, row_len bytes each, all zeros before the row's first
 * block is added; adding data block `index` (its first `have` bytes; the
 * buffer zeroed here up to row_len, so it has room for that) updates
 * them. Once every data block of the row with any bytes was added (in
 * any order, each once; an empty one adds nothing), they are what
 * erasure_encode() gives. Same errors as erasure_encode(). Any thread.
 */
enum erasure_result erasure_encode_add(struct erasure *e, unsigned index,
    unsigned char *block, size_t have, size_t row_len,
    unsigned char *const *parity);

/*
 * Rebuilds blocks of one row from k good ones. Bit i of `have` says
 * blocks[i] holds the right bytes of block i (read, checksum verified);
 * bit i of `want` asks for block i to be rebuilt into blocks[i]. Blocks
 * in neither may be NULL. lens[0..k) are the lengths of the row's data
 * blocks, all of them, lost or not (the layout knows them); a parity
 * block is erasure_row_len() long.
 *
 * The first k blocks of `have` (lowest indices first) are read, a good
 * data block's padding zeroed in place; every block of `want` is written
 * whole: erasure_row_len() bytes, a data block's bytes past lens[i] then
 * being zeros. An empty data block (lens[i] == 0) is all padding: the
 * caller may count it in `have`, with any buffer of the row's length
 * (zeroed here), even when its part is lost.
 *
 * Returns ERASURE_OK; ERASURE_TOO_FEW when `have` names fewer than k
 * blocks; ERASURE_SINGULAR when the survivors' matrix does not invert;
 * ERASURE_INVALID when want and have overlap, name a block past k + m, or
 * a buffer is misaligned, or the row is longer than ERASURE_LEN_MAX. On
 * anything but ERASURE_OK nothing of `want` was written. Any thread.
 */
enum erasure_result erasure_decode(struct erasure *e,
    unsigned char *const *blocks, const size_t *lens, uint32_t have,
    uint32_t want);

/* The decode cache's counters since erasure_new(): patterns found in it,
 * and patterns whose tables had to be built. */
void erasure_cache_counts(struct erasure *e, uint64_t *hits,
    uint64_t *misses);

/* A constant phrase saying what r means, for the caller's log line. */
const char *erasure_result_str(enum erasure_result r);

#endif
