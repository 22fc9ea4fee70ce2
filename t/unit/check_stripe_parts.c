/*
 * check_stripe_parts.c - a part file's trailer of block checksums, as a
 * store reads it back: found whole, refused when it does not check, and
 * every block of a range verified, a flipped byte found in its block.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "stripe/blocksum.h"
#include "stripe/parts.h"

#define BLOCK 65536

/* A temporary part file of `size` bytes (its byte i is i * 7) and its
 * trailer made for block BLOCK; returns its descriptor, the file's
 * length in *len. */
static int
part_file(uint64_t size, uint64_t *len)
{
	char path[] = "/tmp/check_stripe_parts.XXXXXX";
	struct blocksum_stream s;
	unsigned char *data, *trailer;
	uint64_t i, tlen = blocksum_trailer_size(size, BLOCK);
	int fd = mkstemp(path);

	ck_assert_int_ne(fd, -1);
	unlink(path);
	data = malloc(size + 1);
	trailer = malloc(tlen);
	for (i = 0; i < size; i++)
		data[i] = (unsigned char)(i * 7);
	ck_assert_int_eq(blocksum_stream_init(&s, size, BLOCK), 0);
	ck_assert_int_eq(blocksum_stream_add(&s, data, size), 0);
	ck_assert_int_eq(blocksum_stream_trailer(&s, trailer), 0);
	blocksum_stream_free(&s);
	ck_assert_int_eq(pwrite(fd, data, size, 0), (ssize_t)size);
	ck_assert_int_eq(pwrite(fd, trailer, tlen, (off_t)size),
	    (ssize_t)tlen);
	free(data);
	free(trailer);
	*len = size + tlen;
	return fd;
}

/* Reads blocks [from, to) of the part: 0 all good, else 1 with the
 * first corrupt one in *bad. */
static int
read_blocks(int fd, const struct parts_trailer *t, uint64_t from,
    uint64_t to, uint64_t *bad)
{
	unsigned char *buf = malloc(BLOCK);
	uint64_t b;
	size_t len;
	int rc = 0;

	for (b = from; b < to && rc == 0; b++) {
		rc = parts_read_block(fd, t, b, buf, &len);
		ck_assert_int_ne(rc, -1);
		ck_assert_uint_eq(len, t->pt_size - b * BLOCK < BLOCK ?
		    t->pt_size - b * BLOCK : BLOCK);
		if (rc == 1)
			*bad = b;
	}
	free(buf);
	return rc;
}

START_TEST(test_trailer_and_ranges)
{
	static const uint64_t sizes[] = { 0, 1, BLOCK - 1, BLOCK, BLOCK + 1,
	    3 * BLOCK + 5 };
	struct parts_trailer t;
	uint64_t len, bad = 99, i;
	const char *why;
	int fd;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fd = part_file(sizes[i], &len);
		ck_assert_int_eq(parts_trailer_read(fd, len, &t, &why), 0);
		ck_assert_uint_eq(t.pt_size, sizes[i]);
		ck_assert_uint_eq(t.pt_block, BLOCK);
		ck_assert_int_eq(read_blocks(fd, &t, 0, blocksum_count(
		    sizes[i], BLOCK), &bad), 0);
		parts_trailer_free(&t);
		/* Cut short, or with a byte too many: no trailer. */
		ck_assert_int_eq(parts_trailer_read(fd, len - 1, &t, &why),
		    -1);
		ck_assert_int_eq(parts_trailer_read(fd, len + 1, &t, &why),
		    -1);
		close(fd);
	}
}
END_TEST

START_TEST(test_a_flipped_byte_is_found_in_its_block)
{
	const uint64_t size = 3 * BLOCK + 5;
	struct parts_trailer t;
	uint64_t len, bad = 99;
	unsigned char c;
	const char *why = NULL;
	int fd = part_file(size, &len);

	ck_assert_int_eq(pread(fd, &c, 1, 2 * BLOCK + 3), 1);
	c ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &c, 1, 2 * BLOCK + 3), 1);
	ck_assert_int_eq(parts_trailer_read(fd, len, &t, &why), 0);
	/* Blocks but block 2 are good. */
	ck_assert_int_eq(read_blocks(fd, &t, 0, 2, &bad), 0);
	ck_assert_int_eq(read_blocks(fd, &t, 3, 4, &bad), 0);
	ck_assert_int_eq(read_blocks(fd, &t, 1, 3, &bad), 1);
	ck_assert_uint_eq(bad, 2);
	ck_assert_int_eq(read_blocks(fd, &t, 0, 4, &bad), 1);
	ck_assert_uint_eq(bad, 2);
	parts_trailer_free(&t);
	/* A flipped checksum: the trailer's own check refuses it. */
	ck_assert_int_eq(pread(fd, &c, 1, size + 4), 1);
	c ^= 1;
	ck_assert_int_eq(pwrite(fd, &c, 1, size + 4), 1);
	ck_assert_int_eq(parts_trailer_read(fd, len, &t, &why), -1);
	ck_assert_str_eq(why, "the trailer's checksums are corrupt");
	close(fd);
}
END_TEST

int
main(void)
{
	check_main_tcase("parts", NULL, NULL, CHECK_MAIN_TESTS(
	    test_trailer_and_ranges,
	    test_a_flipped_byte_is_found_in_its_block));
	return check_main_run();
}
