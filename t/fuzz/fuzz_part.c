/*
 * fuzz_part.c - libFuzzer driver for the outside bytes of the part
 * routes (stripe/parts_serve.h) and of a part file's trailer
 * (stripe/blocksum.h, stripe/parts.h).
 *
 * The input's first byte picks what the rest is:
 *   0  a target after "/_/" (parts_serve_target): one taken is exactly
 *      the path rebuilt from what was read, a refusal is 400 or 404;
 *   1  the value of Shoal-Part-Block (parts_serve_block): one taken is
 *      digits only, within MANIFEST_BLOCK_MIN..MAX, and that number;
 *   2  the answers' headers a front reads: Shoal-Part-Digest
 *      (digest_parse: one taken prints back as the same hex, in lower
 *      case) and a part's Range (range_parse against a part size the
 *      next byte picks: a range taken lies within the part);
 *   3  a whole part file, bytes and trailer, read as a store reads it
 *      (parts_trailer_read on a memfd): a trailer taken names a size
 *      within the file and encodes back to the same bytes, and every
 *      block reads (parts_read_block) into a buffer of exactly its
 *      length; a refusal says why on one line and owns nothing;
 *   4  a size and a block (12 bytes, little-endian, as a manifest names
 *      them), then a trailer for blocksum_trailer_decode: taken only when
 *      its length is theirs, and then it encodes back the same.
 * Besides these, crashes, leaks and UB are findings.
 * Seeds: t/fuzz/corpus/part/, dictionary: t/fuzz/part.dict.
 *
 * Single-threaded; built with -fsanitize=fuzzer,address,undefined.
 */
#include <ctype.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "core/digest.h"
#include "fuzz_common.h"
#include "http/range.h"
#include "stripe/blocksum.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/parts_serve.h"

#define FUZZ_PART_BLOCKS 64	/* blocks of a part file read, at most */

static void
fuzz_target(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1), id[MANIFEST_ID_LEN + 1], again[128];
	enum part_kind kind = PART_OBJECT;
	unsigned index = 0;
	int rc;

	CHECK(path != NULL);
	memcpy(path, data, size);
	path[size] = '\0';
	rc = parts_serve_target(path, id, &kind, &index);
	CHECK(rc == 0 || rc == 400 || rc == 404);
	if (rc == 404)
		CHECK(strncmp(path, "parts/", 6) == 0);
	if (rc == 0) {
		CHECK(strlen(id) == MANIFEST_ID_LEN &&
		    manifest_id_valid(id, MANIFEST_ID_LEN));
		switch (kind) {
		case PART_OBJECT:
			snprintf(again, sizeof(again), "parts/%s", id);
			break;
		case PART_BYTES:
			CHECK(index < CONFIG_STRIPE_PARTS_MAX);
			snprintf(again, sizeof(again), "parts/%s/%u", id, index);
			break;
		case PART_COMMIT:
			snprintf(again, sizeof(again), "parts/%s/commit", id);
			break;
		case PART_MANIFEST:
			snprintf(again, sizeof(again), "parts/%s/manifest", id);
			break;
		default:
			CHECK(!"a kind out of the enum");
		}
		CHECK(strcmp(again, path) == 0);
	}
	free(path);
}

static void
fuzz_block(const uint8_t *data, size_t size)
{
	char *value = fuzz_dup(data, size), text[32];
	uint64_t block = 7;
	size_t i;

	if (parts_serve_block(value, size, &block) == -1) {
		CHECK(block == 7);
	} else {
		CHECK(block >= MANIFEST_BLOCK_MIN &&
		    block <= MANIFEST_BLOCK_MAX);
		CHECK(size > 0 && size <= 12);
		for (i = 0; i < size; i++)
			CHECK(value[i] >= '0' && value[i] <= '9');
		memcpy(text, value, size);
		text[size] = '\0';
		CHECK(strtoull(text, NULL, 10) == block);
	}
	free(value);
}

static void
fuzz_answer(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = { 0, 1, 65535, 65536, 1 << 20,
	    (uint64_t)1 << 40, (uint64_t)INT64_MAX };
	uint64_t part, first = 0, last = 0;
	char *value, hex[DIGEST_HEX_LEN + 1];
	enum range_result r;
	struct digest d;
	size_t i;

	if (size == 0)
		return;
	part = sizes[data[0] % (sizeof(sizes) / sizeof(sizes[0]))];
	data++;
	size--;
	value = fuzz_dup(data, size);
	if (digest_parse(value, size, &d) == 0) {
		CHECK(size == DIGEST_HEX_LEN);
		digest_hex(&d, hex);
		for (i = 0; i < size; i++)
			CHECK(hex[i] == tolower((unsigned char)value[i]));
	}
	r = range_parse(value, size, part, &first, &last);
	CHECK(r == RANGE_NONE || r == RANGE_OK || r == RANGE_UNSATISFIABLE);
	if (r == RANGE_OK)
		CHECK(first <= last && last < part);
	free(value);
}

static void
fuzz_file(const uint8_t *data, size_t size)
{
	struct parts_trailer t;
	const char *why = NULL;
	unsigned char *enc, *buf;
	uint64_t n, b, off, tlen;
	size_t len, want;
	int fd, rc;

	fd = memfd_create("fuzz_part", MFD_CLOEXEC);
	CHECK(fd != -1);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	rc = parts_trailer_read(fd, size, &t, &why);
	if (rc == -1) {
		CHECK(t.pt_sums == NULL);
		CHECK(why != NULL && *why != '\0' && strchr(why, '\n') == NULL);
		close(fd);
		return;
	}
	CHECK(t.pt_sums != NULL && t.pt_block > 0 && t.pt_size <= size);
	tlen = blocksum_trailer_size(t.pt_size, t.pt_block);
	CHECK(tlen == size - t.pt_size);
	enc = malloc(tlen);
	CHECK(enc != NULL);
	blocksum_trailer_encode(t.pt_sums, t.pt_size, t.pt_block, enc);
	CHECK(memcmp(enc, data + t.pt_size, tlen) == 0);
	free(enc);
	n = blocksum_count(t.pt_size, t.pt_block);
	for (b = 0; b < n && b < FUZZ_PART_BLOCKS; b++) {
		off = b * t.pt_block;
		want = (size_t)(t.pt_size - off < t.pt_block ? t.pt_size - off :
		    t.pt_block);
		buf = malloc(want > 0 ? want : 1);
		CHECK(buf != NULL);
		rc = parts_read_block(fd, &t, b, buf, &len);
		CHECK(rc == 0 || rc == 1);
		CHECK(len == want && memcmp(buf, data + off, len) == 0);
		CHECK(rc == (blocksum_of(data + off, len) == t.pt_sums[b] ?
		    0 : 1));
		free(buf);
	}
	parts_trailer_free(&t);
	CHECK(t.pt_sums == NULL);
	close(fd);
}

static void
fuzz_trailer(const uint8_t *data, size_t size)
{
	uint64_t part = 0, block = 0, n;
	uint32_t one, *sums = &one;
	const char *why = NULL;
	unsigned char *copy, *enc;
	unsigned i;
	bool fits;

	if (size < 12)
		return;
	for (i = 0; i < 8; i++)
		part |= (uint64_t)data[i] << 8 * i;
	for (i = 0; i < 4; i++)
		block |= (uint64_t)data[8 + i] << 8 * i;
	data += 12;
	size -= 12;
	fits = block > 0 && (n = blocksum_count(part, block)) <= size / 4 &&
	    blocksum_trailer_size(part, block) == size;
	if (fits) {
		sums = malloc((n + 1) * sizeof(*sums));
		CHECK(sums != NULL);
	}
	copy = (unsigned char *)fuzz_dup(data, size);
	if (blocksum_trailer_decode(copy, size, part, block, sums, &why) ==
	    -1) {
		CHECK(why != NULL && *why != '\0' && strchr(why, '\n') == NULL);
	} else {
		CHECK(fits);
		enc = malloc(size);
		CHECK(enc != NULL);
		blocksum_trailer_encode(sums, part, block, enc);
		CHECK(memcmp(enc, copy, size) == 0);
		free(enc);
	}
	free(copy);
	if (sums != &one)
		free(sums);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_target(data + 1, size - 1);
		break;
	case 1:
		fuzz_block(data + 1, size - 1);
		break;
	case 2:
		fuzz_answer(data + 1, size - 1);
		break;
	case 3:
		fuzz_file(data + 1, size - 1);
		break;
	default:
		fuzz_trailer(data + 1, size - 1);
		break;
	}
	return 0;
}
