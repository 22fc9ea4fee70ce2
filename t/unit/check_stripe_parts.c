/*
 * check_stripe_parts.c - a store's part files in a temporary state
 * directory: a pending part committed against its manifest, then the
 * manifest beside it replaced by a later generation (a part of the
 * object moved elsewhere), never by a stale or a conflicting one nor by
 * another object's; the origin's copy switched alike; parts deleted.
 * A commit replayed late is not swept between its part's rename and its
 * manifest, and a second one then finishes it; a part left beside
 * another move's manifest goes back to pending. A part file's trailer of
 * block checksums read back, refused when it does not check, a flipped
 * byte found in its block.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "check_main.h"
#include "stripe/blocksum.h"
#include "stripe/parts.h"

#define BLOCK (64 * 1024)

static char dir[] = "/tmp/check_stripe_parts.XXXXXX";
static struct parts_dirs d;
static int state_fd = -1;

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	state_fd = open(dir, O_PATH | O_DIRECTORY);
	ck_assert_int_ne(state_fd, -1);
	ck_assert_int_eq(parts_dirs_open(state_fd, &d), 0);
}

static void
teardown(void)
{
	char cmd[128];

	parts_dirs_close(&d);
	close(state_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

/* A manifest of 6 parts whose part 0 is `body` on node "me". */
static void
make(struct manifest *m, const char *body, size_t len)
{
	XXH128_hash_t h = XXH3_128bits(body, len);
	struct layout l;
	unsigned i;

	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(manifest_id_new(m->m_id), 0);
	strcpy(m->m_name, "obj");
	m->m_name_len = 3;
	m->m_size = len;
	m->m_block = BLOCK;
	strcpy(m->m_origin, "front");
	m->m_nparts = 6;
	l = manifest_layout(m);
	for (i = 0; i < 6; i++) {
		snprintf(m->m_parts[i].mp_node, MEMBER_NAME_MAX, "s%u", i);
		m->m_parts[i].mp_size = layout_part_size(&l, i);
	}
	strcpy(m->m_parts[0].mp_node, "me");
	m->m_parts[0].mp_digest.d_hi = h.high64;
	m->m_parts[0].mp_digest.d_lo = h.low64;
}

/* Part `name` pending here: body[0..len) and its trailer, as a store
 * writes it (no digest recorded: the commit reads the bytes again). */
static void
pending_part(const char *name, const char *body, size_t len)
{
	struct blocksum_stream s;
	uint64_t tlen = blocksum_trailer_size(len, BLOCK);
	unsigned char *t = malloc(tlen);
	int fd = openat(d.pd_pending, name, O_WRONLY | O_CREAT | O_EXCL,
	    0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(blocksum_stream_init(&s, len, BLOCK), 0);
	ck_assert_int_eq(blocksum_stream_add(&s, body, len), 0);
	ck_assert_int_eq(blocksum_stream_trailer(&s, t), 0);
	ck_assert_int_eq(write(fd, body, len), (ssize_t)len);
	ck_assert_int_eq(write(fd, t, tlen), (ssize_t)tlen);
	close(fd);
	blocksum_stream_free(&s);
	free(t);
}

static void
manifest_at(int at, const char *name, struct manifest *out)
{
	ck_assert_int_eq(parts_read_manifest(at, name, out), 0);
}

START_TEST(test_commit_then_a_later_generation)
{
	static const char body[] = "the bytes of part zero";
	struct manifest m, next, other, have;
	char name[PARTS_FILE_MAX];

	make(&m, body, sizeof(body) - 1);
	parts_file_name(m.m_id, 0, name);
	pending_part(name, body, sizeof(body) - 1);
	ck_assert_int_eq(parts_commit(&d, &m, 0), PARTS_COMMITTED);
	ck_assert_int_eq(parts_commit(&d, &m, 0), PARTS_COMMITTED);
	/* Part 3 moved: the next generation replaces the copies here. */
	next = m;
	next.m_gen = 1;
	strcpy(next.m_parts[3].mp_node, "s9");
	ck_assert_int_eq(parts_commit(&d, &next, 0), PARTS_COMMITTED);
	parts_manifest_name(m.m_id, name);
	manifest_at(d.pd_objects, name, &have);
	ck_assert_int_eq(memcmp(&have, &next, sizeof(have)), 0);
	manifest_at(d.pd_names, "obj", &have);
	ck_assert_int_eq(memcmp(&have, &next, sizeof(have)), 0);
	ck_assert_int_eq(parts_commit(&d, &next, 0), PARTS_COMMITTED);
	/* Never back, nor to another manifest of the same generation. */
	ck_assert_int_eq(parts_commit(&d, &m, 0), PARTS_STALE);
	other = m;
	other.m_gen = 1;
	strcpy(other.m_parts[4].mp_node, "s8");
	ck_assert_int_eq(parts_commit(&d, &other, 0), PARTS_STALE);
	/* Another object's bytes, or its part 0 elsewhere: refused. */
	other = next;
	other.m_gen = 2;
	other.m_parts[0].mp_digest.d_lo ^= 1;
	ck_assert_int_eq(parts_commit(&d, &other, 0), PARTS_MISMATCH);
	manifest_at(d.pd_objects, name, &have);
	ck_assert_int_eq(memcmp(&have, &next, sizeof(have)), 0);
	/* A part of the object pending here under yet another manifest
	 * (a move this one does not know of) is not committed. */
	parts_file_name(m.m_id, 5, name);
	pending_part(name, body, sizeof(body) - 1);
	other = m;
	other.m_gen = 1;
	strcpy(other.m_parts[5].mp_node, "me");
	strcpy(other.m_parts[0].mp_node, "s0");
	other.m_parts[5].mp_digest = m.m_parts[0].mp_digest;
	other.m_parts[5].mp_size = sizeof(body) - 1;
	ck_assert_int_eq(parts_commit(&d, &other, 5), PARTS_STALE);
	ck_assert_int_eq(faccessat(d.pd_pending, name, F_OK, 0), 0);
	parts_manifest_name(m.m_id, name);
	/* The origin's copy: switched when it is there. */
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_tmp, &next, true), PARTS_NO_PART);
	ck_assert_int_eq(parts_write_file(d.pd_tmp, d.pd_pending, name,
	    "{}", 2), 0);
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_tmp, &next, true), PARTS_ERROR);
}
END_TEST

/* Milliseconds of the wall clock, as the sweep is given them. */
static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A commit replayed long after its copy (the mover's agent killed with
 * the switch recorded): its part, written an hour ago, is moved beside
 * no manifest for an instant, then the manifest comes; the sweep of that
 * instant keeps it, and a second commit of that instant (the replay's,
 * while the first is under way or was cut short) finishes it. */
START_TEST(test_a_late_commit_is_not_swept)
{
	static const char body[] = "the bytes of part zero, late";
	struct timespec old[2] = { { 0, UTIME_OMIT }, { 0, 0 } };
	char name[PARTS_FILE_MAX], mname[PARTS_FILE_MAX];
	struct manifest m, have;
	unsigned swept;
	uint64_t held;

	make(&m, body, sizeof(body) - 1);
	parts_file_name(m.m_id, 0, name);
	parts_manifest_name(m.m_id, mname);
	pending_part(name, body, sizeof(body) - 1);
	old[1].tv_sec = (time_t)(wall_ms() / 1000 - 3600);
	ck_assert_int_eq(utimensat(d.pd_pending, name, old, 0), 0);
	ck_assert_int_eq(parts_commit(&d, &m, 0), PARTS_COMMITTED);
	/* The instant between the part's rename and its manifest. */
	ck_assert_int_eq(unlinkat(d.pd_objects, mname, 0), 0);
	(void)parts_sweep(&d, 60000, wall_ms(), &swept, &held);
	ck_assert_uint_eq(swept, 0);
	ck_assert_int_eq(faccessat(d.pd_objects, name, F_OK, 0), 0);
	ck_assert_int_eq(parts_commit(&d, &m, 0), PARTS_COMMITTED);
	manifest_at(d.pd_objects, mname, &have);
	ck_assert_int_eq(memcmp(&have, &m, sizeof(have)), 0);
	/* Other bytes than the part's are not committed so; a part swept
	 * (a commit cut short, its part left for that long) is none. */
	ck_assert_int_eq(unlinkat(d.pd_objects, mname, 0), 0);
	m.m_parts[0].mp_digest.d_lo ^= 1;
	ck_assert_int_eq(parts_commit(&d, &m, 0), PARTS_MISMATCH);
	ck_assert_int_eq(faccessat(d.pd_objects, mname, F_OK, 0), -1);
	ck_assert_int_eq(utimensat(d.pd_objects, name, old, 0), 0);
	(void)parts_sweep(&d, 60000, wall_ms(), &swept, &held);
	ck_assert_uint_eq(swept, 1);
	m.m_parts[0].mp_digest.d_lo ^= 1;
	ck_assert_int_eq(parts_commit(&d, &m, 0), PARTS_NO_PART);
}
END_TEST

/* Two moves of one object to this store at once, A of part 0 and B of
 * part 3: A's part was moved beside no manifest yet when B's commit
 * came first. A's commit again (replayed) is refused as stale, not as
 * a mismatch (which its mover would replay for good), and its part goes
 * back to pending for the sweep instead of staying beside B's manifest,
 * where nothing removed it. */
START_TEST(test_a_part_beside_another_moves_manifest_goes_back)
{
	static const char body[] = "a part of two moves at once";
	char a0[PARTS_FILE_MAX], b3[PARTS_FILE_MAX], mname[PARTS_FILE_MAX];
	XXH128_hash_t empty = XXH3_128bits("", 0);
	struct manifest a, b, have;

	/* Part 3 of so small an object is empty. */
	make(&a, body, sizeof(body) - 1);
	a.m_gen = 1;
	b = a;
	strcpy(b.m_parts[0].mp_node, "s0");
	strcpy(b.m_parts[3].mp_node, "me");
	b.m_parts[3].mp_digest.d_hi = empty.high64;
	b.m_parts[3].mp_digest.d_lo = empty.low64;
	parts_file_name(a.m_id, 0, a0);
	parts_file_name(a.m_id, 3, b3);
	parts_manifest_name(a.m_id, mname);
	pending_part(a0, body, sizeof(body) - 1);
	ck_assert_int_eq(parts_commit(&d, &a, 0), PARTS_COMMITTED);
	ck_assert_int_eq(unlinkat(d.pd_objects, mname, 0), 0);
	pending_part(b3, "", 0);
	ck_assert_int_eq(parts_commit(&d, &b, 3), PARTS_COMMITTED);
	ck_assert_int_eq(parts_commit(&d, &a, 0), PARTS_STALE);
	ck_assert_int_eq(faccessat(d.pd_objects, a0, F_OK, 0), -1);
	ck_assert_int_eq(faccessat(d.pd_pending, a0, F_OK, 0), 0);
	ck_assert_int_eq(parts_commit(&d, &a, 0), PARTS_STALE);
	manifest_at(d.pd_objects, mname, &have);
	ck_assert_int_eq(memcmp(&have, &b, sizeof(have)), 0);
	ck_assert_int_eq(faccessat(d.pd_objects, b3, F_OK, 0), 0);
}
END_TEST

START_TEST(test_origin_copy_switched)
{
	struct manifest m, next, other, have;
	char name[PARTS_FILE_MAX], *text;
	size_t len;

	make(&m, "x", 1);
	text = manifest_encode(&m, &len);
	parts_manifest_name(m.m_id, name);
	/* pending/ and tmp/ stand for stripe/manifests and stripe/names. */
	ck_assert_int_eq(parts_write_file(d.pd_tmp, d.pd_pending, name, text,
	    len), 0);
	ck_assert_int_eq(parts_write_file(d.pd_tmp, d.pd_names, "obj", text,
	    len), 0);
	free(text);
	next = m;
	next.m_gen = 1;
	strcpy(next.m_parts[0].mp_node, "s9");
	/* Only the very next generation, moving one part. */
	other = next;
	other.m_gen = 2;
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &other, true), PARTS_STALE);
	other.m_gen = 1;
	strcpy(other.m_parts[1].mp_node, "s8");
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &other, true), PARTS_STALE);
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &next, true), PARTS_COMMITTED);
	manifest_at(d.pd_pending, name, &have);
	ck_assert_uint_eq(have.m_gen, 1);
	manifest_at(d.pd_names, "obj", &have);
	ck_assert_str_eq(have.m_parts[0].mp_node, "s9");
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &next, true), PARTS_COMMITTED);
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &m, true), PARTS_STALE);
	/* A part's copy takes any later generation. */
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &(struct manifest){ 0 }, false), PARTS_NO_PART);
}
END_TEST

START_TEST(test_origin_takes_a_part_marked_missing)
{
	struct manifest m, next;
	char name[PARTS_FILE_MAX], *text;
	struct layout l;
	size_t len;
	unsigned i;

	make(&m, "x", 1);
	m.m_parity = 2;
	l = manifest_layout(&m);
	for (i = 0; i < 6; i++)
		m.m_parts[i].mp_size = layout_part_size(&l, i < 4 ? i : 0);
	text = manifest_encode(&m, &len);
	ck_assert_ptr_nonnull(text);
	parts_manifest_name(m.m_id, name);
	ck_assert_int_eq(parts_write_file(d.pd_tmp, d.pd_pending, name, text,
	    len), 0);
	free(text);
	/* A scrubber's report: the next generation, a part marked missing. */
	next = m;
	next.m_gen = 1;
	next.m_missing = 1u << 2;
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &next, true), PARTS_COMMITTED);
	/* Nothing moved and no more missing, or fewer: refused. */
	next.m_gen = 2;
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &next, true), PARTS_STALE);
	next.m_missing = 0;
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &next, true), PARTS_STALE);
	/* Healing: the part rebuilt elsewhere, no longer missing. */
	strcpy(next.m_parts[2].mp_node, "s9");
	ck_assert_int_eq(parts_switch_manifest(d.pd_tmp, d.pd_pending,
	    d.pd_names, &next, true), PARTS_COMMITTED);
	manifest_at(d.pd_pending, name, &m);
	ck_assert_uint_eq(m.m_gen, 2);
	ck_assert_uint_eq(m.m_missing, 0);
}
END_TEST

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
	check_main_tcase("parts", setup, teardown, CHECK_MAIN_TESTS(
	    test_commit_then_a_later_generation,
	    test_origin_copy_switched,
	    test_origin_takes_a_part_marked_missing,
	    test_a_late_commit_is_not_swept,
	    test_a_part_beside_another_moves_manifest_goes_back));
	check_main_tcase("trailer", NULL, NULL, CHECK_MAIN_TESTS(
	    test_trailer_and_ranges,
	    test_a_flipped_byte_is_found_in_its_block));
	return check_main_run();
}
