/*
 * check_index.c - unit tests for src/store/index*.c (the shared index):
 * entries, expiry, collisions, the eviction order of a full table,
 * reopening, rebuilding a changed or corrupt file, the fetch protocol
 * across processes (claims, takeover from a dead owner, waiters), lock
 * recovery after a holder is SIGKILLed, and children hammering the same
 * names. Includes every index .c file (their static functions serve as
 * test hooks, and the archive then supplies none of them); the hash can
 * be forced to collide through INDEX_HASH. Needs only libc, libxxhash and
 * Check. Runs in Check's fork mode; tests that could hang arm alarm().
 * The sweeper's walk (index_expired(), index_list()) is tested in
 * check_sweeper.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* A hash that every test may force: 0 real, 1 constant (every name
 * collides fully: same stripe, buckets and tag). */
static int test_hash_mode;

static uint64_t
test_hash(const void *p, size_t n)
{
	return test_hash_mode ? UINT64_C(0x0123456789abcdef) :
	    XXH3_64bits(p, n);
}

#define INDEX_HASH(p, n) test_hash((p), (n))
#include "store/index.c"
#include "store/index_fetch.c"
#include "store/index_file.c"
#include "store/index_repair.c"
#include "store/index_table.c"
#include "check_main.h"
#include "index_fixture.h"

static void
setup(void)
{
	index_fixture_setup();
	test_hash_mode = 0;
}

/* ------------------------------------------------------------------ */

START_TEST(open_creates_reserved_file)
{
	struct index_open_report rep;
	struct index *ix = index_open(index_path, 1000, 0, &rep);
	struct index_stats stats;
	struct stat st;

	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(rep.r_how, INDEX_OPEN_CREATED);
	ck_assert_uint_eq(rep.r_kept, 0);
	ck_assert_uint_ge(index_capacity(ix), 1000);
	ck_assert_uint_lt(index_capacity(ix), 1000 + 2 * 8 * 64);
	ck_assert_uint_eq(index_capacity(ix) % INDEX_WAYS, 0);
	ck_assert_int_eq(stat(index_path, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, index_file_size(ix));
	/* posix_fallocate: every block is there. */
	ck_assert_uint_ge((uint64_t)st.st_blocks * 512, index_file_size(ix));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_capacity, index_capacity(ix));
	ck_assert_uint_eq(stats.is_copies + stats.is_negatives +
	    stats.is_fetches, 0);
	index_close(ix);
	index_close(NULL);
}
END_TEST

START_TEST(open_rejects_bad_capacity)
{
	errno = 0;
	ck_assert_ptr_null(index_open(index_path, 0, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(index_open(index_path, INDEX_CAPACITY_MIN - 1, 0,
	    NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(index_open(index_path, INDEX_CAPACITY_MAX + 1, 0,
	    NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(access(index_path, F_OK), -1);	/* nothing created */
}
END_TEST

START_TEST(open_twice_is_refused)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED), *again;

	again = index_open(index_path, 64, 0, NULL);
	ck_assert_ptr_null(again);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	index_close(ix);
	ix = open_ok(64, INDEX_OPEN_KEPT);
	index_close(ix);
}
END_TEST

START_TEST(open_refuses_symlink)
{
	char target[160];

	tmp_dir_join(target, sizeof(target), tmp_dir, "elsewhere");
	ck_assert_int_eq(symlink(target, index_path), 0);
	ck_assert_ptr_null(index_open(index_path, 64, 0, NULL));
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(access(target, F_OK), -1);
	unlink(index_path);
}
END_TEST

START_TEST(insert_lookup_update_remove)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_identity id = ident(1), other = ident(2);
	struct index_entry e;
	struct index_stats stats;

	ck_assert_int_eq(look(ix, "a.txt", 0), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(index_put_copy(ix, S("a.txt"), &id, 5000, 0), 0);
	ck_assert_int_eq(index_lookup(ix, S("a.txt"), NULL, 10, &e),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(e.e_kind, INDEX_COPY);
	ck_assert_str_eq(e.e_name, "a.txt");
	ck_assert_uint_eq(e.e_name_len, 5);
	ck_assert_int_eq(e.e_expiry_ms, 5000);
	ck_assert_uint_eq(e.e_id.id_dev, id.id_dev);
	ck_assert_uint_eq(e.e_id.id_ino, id.id_ino);
	ck_assert_uint_eq(e.e_id.id_size, id.id_size);
	/* The identity given must be the recorded one. */
	ck_assert_int_eq(index_lookup(ix, S("a.txt"), &id, 10, NULL),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(index_lookup(ix, S("a.txt"), &other, 10, NULL),
	    INDEX_LOOKUP_NONE);
	/* Update in place: one entry, new fields. */
	ck_assert_int_eq(index_put_copy(ix, S("a.txt"), &other, 0, 0), 0);
	ck_assert_int_eq(index_lookup(ix, S("a.txt"), &other, 1 << 30, &e),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(e.e_expiry_ms, 0);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_copies, 1);
	/* Prefixes and neighbours are other names. */
	ck_assert_int_eq(look(ix, "a.tx", 0), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(look(ix, "a.txt2", 0), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(index_remove(ix, S("a.txt")), 1);
	ck_assert_int_eq(index_remove(ix, S("a.txt")), 0);
	ck_assert_int_eq(index_lookup(ix, S("a.txt"), NULL, 0, &e),
	    INDEX_LOOKUP_NONE);
	ck_assert_int_eq(e.e_kind, INDEX_NONE);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_copies, 0);
	close_consistent(ix);
}
END_TEST

START_TEST(names_binary_and_limits)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED);
	struct index_identity id = ident(0);
	struct index_entry e;
	char longest[INDEX_NAME_MAX + 1];
	const char bin1[] = { 'x', '\0', 'y' }, bin2[] = { 'x', '\0', 'z' };

	memset(longest, 'n', sizeof(longest));
	ck_assert_int_eq(index_put_copy(ix, longest, INDEX_NAME_MAX, &id, 0,
	    0), 0);
	ck_assert_int_eq(index_lookup(ix, longest, INDEX_NAME_MAX, NULL, 0,
	    &e), INDEX_LOOKUP_COPY);
	ck_assert_uint_eq(e.e_name_len, INDEX_NAME_MAX);
	ck_assert_int_eq(e.e_name[INDEX_NAME_MAX], '\0');
	ck_assert_int_eq(index_put_copy(ix, longest, INDEX_NAME_MAX + 1, &id,
	    0, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(index_lookup(ix, longest, 0, NULL, 0, NULL),
	    INDEX_LOOKUP_ERROR);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(index_fetch_claim(ix, NULL, 3, 1, 0, 0, NULL),
	    INDEX_CLAIM_ERROR);
	ck_assert_int_eq(index_remove(ix, longest, INDEX_NAME_MAX + 1), -1);
	ck_assert_int_eq(index_put_copy(ix, bin1, 3, &id, 0, 0), 0);
	ck_assert_int_eq(index_lookup(ix, bin1, 3, NULL, 0, NULL),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(index_lookup(ix, bin2, 3, NULL, 0, NULL),
	    INDEX_LOOKUP_NONE);
	index_close(ix);
}
END_TEST

START_TEST(expired_copy_reported)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED);
	struct index_entry e;

	ck_assert_int_eq(put(ix, "soon", 1, 1000), 0);
	ck_assert_int_eq(put(ix, "never", 2, 0), 0);
	ck_assert_int_eq(look(ix, "soon", 999), INDEX_LOOKUP_COPY);
	ck_assert_int_eq(look(ix, "soon", 1000), INDEX_LOOKUP_EXPIRED);
	ck_assert_int_eq(look(ix, "soon", 5000), INDEX_LOOKUP_EXPIRED);
	ck_assert_int_eq(look(ix, "never", INT64_MAX), INDEX_LOOKUP_COPY);
	/* A claim on an expired copy says so, with the identity. */
	ck_assert_int_eq(index_fetch_claim(ix, S("soon"), 42, 1000, 0, &e),
	    INDEX_CLAIM_EXPIRED);
	ck_assert_uint_eq(e.e_id.id_ino, ident(1).id_ino);
	ck_assert_int_eq(index_fetch_claim(ix, S("soon"), 42, 999, 0, &e),
	    INDEX_CLAIM_COPY);
	ck_assert_int_eq(index_fetch_claim(ix, S("never"), 42, 1 << 30, 0,
	    &e), INDEX_CLAIM_COPY);
	/* The expired record is still there: nothing lost track of it. */
	ck_assert_int_eq(look(ix, "soon", 5000), INDEX_LOOKUP_EXPIRED);
	index_close(ix);
}
END_TEST

START_TEST(remove_if_checks_identity)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED);
	struct index_identity id = ident(7), other = ident(8);
	struct index_stats stats;

	ck_assert_int_eq(index_put_copy(ix, S("f"), &id, 100, 0), 0);
	ck_assert_int_eq(index_remove_if(ix, S("f"), &other, 200), 0);
	other = id;
	other.id_size++;
	ck_assert_int_eq(index_remove_if(ix, S("f"), &other, 200), 0);
	ck_assert_int_eq(look(ix, "f", 0), INDEX_LOOKUP_COPY);
	ck_assert_int_eq(index_remove_if(ix, S("f"), &id, 200), 1);
	ck_assert_int_eq(look(ix, "f", 0), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(index_remove_if(ix, S("f"), &id, 200), 0);
	/* Not expired yet: removed but not an expiration. */
	ck_assert_int_eq(index_put_copy(ix, S("g"), &id, 1000, 0), 0);
	ck_assert_int_eq(index_remove_if(ix, S("g"), &id, 999), 1);
	/* Only COPY records. */
	ck_assert_int_eq(index_put_negative(ix, S("h"), 1000, 0), 0);
	ck_assert_int_eq(index_remove_if(ix, S("h"), &id, 0), 0);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_expirations, 1);
	ck_assert_uint_eq(stats.is_negatives, 1);
	index_close(ix);
}
END_TEST

/* How many entries the name's buckets hold (8 or 16). */
static int
room_of(struct index *ix, const char *name)
{
	struct index_pos p;

	index_locate(&ix->ix_geo, S(name), &p);
	return p.p_bucket[0] == p.p_bucket[1] ? INDEX_WAYS : 2 * INDEX_WAYS;
}

START_TEST(full_collisions_told_apart)
{
	struct index *ix;
	char name[32];
	int i, room;

	test_hash_mode = 1;	/* every name: same stripe, buckets, tag */
	ix = open_ok(1024, INDEX_OPEN_CREATED);
	room = room_of(ix, "any");
	for (i = 0; i < room; i++) {
		snprintf(name, sizeof(name), "n%.*s", i, "aaaaaaaaaaaaaaaa");
		ck_assert_int_eq(put(ix, name, (uint64_t)i, 100 + i), 0);
	}
	for (i = 0; i < room; i++) {
		struct index_entry e;

		snprintf(name, sizeof(name), "n%.*s", i, "aaaaaaaaaaaaaaaa");
		ck_assert_int_eq(index_lookup(ix, S(name), NULL, 0, &e),
		    INDEX_LOOKUP_COPY);
		ck_assert_str_eq(e.e_name, name);
		ck_assert_int_eq(e.e_expiry_ms, 100 + i);
	}
	ck_assert_int_eq(look(ix, "other", 0), INDEX_LOOKUP_NONE);
	/* Its buckets are the only place for one more name: copies with an
	 * expiry are never evicted, so it is refused. */
	ck_assert_int_eq(put(ix, "extra", 99, 100), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(index_fetch_claim(ix, S("extra"), 5, 0, 0, NULL),
	    INDEX_CLAIM_FULL);
	/* Removing one name leaves the others findable. */
	ck_assert_int_eq(index_remove(ix, S("naaa")), 1);
	for (i = 0; i < room; i++) {
		snprintf(name, sizeof(name), "n%.*s", i, "aaaaaaaaaaaaaaaa");
		ck_assert_int_eq(look(ix, name, 0), i == 3 ?
		    INDEX_LOOKUP_NONE : INDEX_LOOKUP_COPY);
	}
	ck_assert_int_eq(put(ix, "extra", 99, 100), 0);
	ck_assert_int_eq(look(ix, "extra", 0), INDEX_LOOKUP_COPY);
	close_consistent(ix);
}
END_TEST

START_TEST(two_choices_fill_the_table)
{
	struct index *ix = open_ok(4096, INDEX_OPEN_CREATED);
	uint64_t cap = index_capacity(ix), i, first_refusal = 0;
	struct index_stats stats;
	char name[32];

	for (i = 0; i < cap; i++) {
		snprintf(name, sizeof(name), "file-%llu",
		    (unsigned long long)i);
		if (put(ix, name, i, 1000) == -1) {
			first_refusal = i;
			break;
		}
	}
	/* Two buckets of 8 per name, and entries moved to their other
	 * bucket to make room: nearly full before the first refusal. */
	ck_assert_uint_gt(first_refusal, cap * 93 / 100);
	for (i = 0; i < first_refusal; i++) {
		snprintf(name, sizeof(name), "file-%llu",
		    (unsigned long long)i);
		ck_assert_int_eq(look(ix, name, 0), INDEX_LOOKUP_COPY);
	}
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_copies, first_refusal);
	ck_assert_uint_eq(stats.is_full, 1);
	ck_assert_uint_eq(stats.is_evictions, 0);
	close_consistent(ix);
}
END_TEST

START_TEST(eviction_order_and_counts)
{
	struct index *ix;
	struct index_stats stats;
	char name[16];
	int i;

	ix = open_ok(8, INDEX_OPEN_CREATED);	/* one bucket */
	ck_assert_int_eq(room_of(ix, "any"), INDEX_WAYS);
	/* The bucket: 4 copies with an expiry, a copy that never expires,
	 * negatives until 500 and 300, a negative that lapsed at 50. */
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "copy%d", i);
		ck_assert_int_eq(put(ix, name, (uint64_t)i, 10), 0);
	}
	ck_assert_int_eq(put(ix, "forever", 9, 0), 0);
	ck_assert_int_eq(index_put_negative(ix, S("neg500"), 500, 0), 0);
	ck_assert_int_eq(index_put_negative(ix, S("neg300"), 300, 0), 0);
	ck_assert_int_eq(index_put_negative(ix, S("neg50"), 50, 0), 0);

	/* 1: the lapsed negative goes, and that is no eviction. */
	ck_assert_int_eq(index_put_copy(ix, S("new1"), &(struct
	    index_identity){ 1, 1, 1 }, 10, 100), 0);
	ck_assert_int_eq(look(ix, "neg50", 0), INDEX_LOOKUP_NONE);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_evictions, 0);
	/* 2: then the copy that never expires. */
	ck_assert_int_eq(index_put_copy(ix, S("new2"), &(struct
	    index_identity){ 2, 2, 2 }, 10, 100), 0);
	ck_assert_int_eq(look(ix, "forever", 0), INDEX_LOOKUP_NONE);
	/* 3, 4: then live negatives, nearest deadline first. */
	ck_assert_int_eq(index_fetch_claim(ix, S("new3"), 77, 100, 0, NULL),
	    INDEX_CLAIMED);
	ck_assert_int_eq(look(ix, "neg300", 100), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(look(ix, "neg500", 100), INDEX_LOOKUP_NEGATIVE);
	ck_assert_int_eq(index_put_negative(ix, S("new4"), 1000, 100), 0);
	ck_assert_int_eq(look(ix, "neg500", 100), INDEX_LOOKUP_NONE);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_evictions, 3);
	ck_assert_uint_eq(stats.is_full, 0);
	/* 5: only the fetch, copies with an expiry (expired ones too: their
	 * files must go first) and the new negative... which goes. */
	ck_assert_int_eq(index_put_negative(ix, S("new5"), 2000, 100), 0);
	ck_assert_int_eq(look(ix, "new4", 100), INDEX_LOOKUP_NONE);
	/* 6: the live negative "new5" is the last that may go. */
	ck_assert_int_eq(index_put_copy(ix, S("new6"), &(struct
	    index_identity){ 6, 6, 6 }, 10, 100), 0);
	ck_assert_int_eq(look(ix, "new5", 100), INDEX_LOOKUP_NONE);
	/* 7: only the fetch and copies with an expiry are left (expired ones
	 * too: their files must go first): refused. */
	ck_assert_int_eq(index_put_copy(ix, S("new7"), &(struct
	    index_identity){ 7, 7, 7 }, 10, 100), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(index_fetch_claim(ix, S("new7"), 77, 100, 0, NULL),
	    INDEX_CLAIM_FULL);
	ck_assert_int_eq(index_put_negative(ix, S("new7"), 900, 100), -1);
	ck_assert_int_eq(errno, ENOSPC);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_evictions, 5);
	ck_assert_uint_eq(stats.is_full, 3);
	ck_assert_uint_eq(stats.is_copies, 7);
	ck_assert_uint_eq(stats.is_fetches, 1);
	ck_assert_uint_eq(stats.is_negatives, 0);
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "copy%d", i);
		ck_assert_int_eq(look(ix, name, 100), INDEX_LOOKUP_EXPIRED);
	}
	ck_assert_int_eq(look(ix, "new3", 100), INDEX_LOOKUP_FETCH);
	/* Once the sweeper removed a copy, there is room again. */
	ck_assert_int_eq(index_remove_if(ix, S("copy0"), &(struct
	    index_identity){ 1000, 2000, 3000 }, 100), 1);
	ck_assert_int_eq(index_put_copy(ix, S("new7"), &(struct
	    index_identity){ 7, 7, 7 }, 10, 100), 0);
	close_consistent(ix);
}
END_TEST

START_TEST(eviction_takes_oldest_copy)
{
	struct index *ix = open_ok(8, INDEX_OPEN_CREATED);
	static const int64_t when[INDEX_WAYS] = { 15, 12, 17, 11, 16, 13, 14,
	    18 };
	struct index_identity id = ident(0);
	char name[16];
	int i;

	/* Copies that never expire, recorded at various times. */
	for (i = 0; i < INDEX_WAYS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		ck_assert_int_eq(index_put_copy(ix, S(name), &id, 0, when[i]),
		    0);
	}
	ck_assert_int_eq(index_put_copy(ix, S("newer"), &id, 0, 20), 0);
	ck_assert_int_eq(look(ix, "c3", 0), INDEX_LOOKUP_NONE); /* 11 */
	ck_assert_int_eq(index_put_copy(ix, S("newest"), &id, 0, 21), 0);
	ck_assert_int_eq(look(ix, "c1", 0), INDEX_LOOKUP_NONE); /* 12 */
	for (i = 0; i < INDEX_WAYS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		if (i != 1 && i != 3)
			ck_assert_int_eq(look(ix, name, 0), INDEX_LOOKUP_COPY);
	}
	index_close(ix);
}
END_TEST

START_TEST(reopen_keeps_entries)
{
	struct index *ix = open_ok(512, INDEX_OPEN_CREATED);
	struct index_open_report rep;
	struct index_stats stats;
	struct index_entry e;
	char name[32];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "keep-%d", i);
		ck_assert_int_eq(put(ix, name, (uint64_t)i, 10000 + i), 0);
	}
	ck_assert_int_eq(index_put_negative(ix, S("neg-live"), 5000, 0), 0);
	ck_assert_int_eq(index_put_negative(ix, S("neg-old"), 500, 0), 0);
	ck_assert_int_eq(index_remove_if(ix, S("keep-99"), &(struct
	    index_identity){ 1099, 2099, 3099 }, 20000), 1);
	index_note_collapsed(ix, 3);
	index_close(ix);

	ix = index_open(index_path, 512, 1000, &rep);
	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(rep.r_how, INDEX_OPEN_KEPT);
	ck_assert_uint_eq(rep.r_kept, 100);	/* 99 copies, 1 negative */
	ck_assert_uint_eq(rep.r_dropped, 1);	/* the lapsed negative */
	for (i = 0; i < 99; i++) {
		snprintf(name, sizeof(name), "keep-%d", i);
		ck_assert_int_eq(index_lookup(ix, S(name), NULL, 0, &e),
		    INDEX_LOOKUP_COPY);
		ck_assert_int_eq(e.e_expiry_ms, 10000 + i);
		ck_assert_uint_eq(e.e_id.id_ino, 2000 + (uint64_t)i);
	}
	ck_assert_int_eq(look(ix, "neg-live", 1000), INDEX_LOOKUP_NEGATIVE);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_expirations, 1);	/* they persist */
	ck_assert_uint_eq(stats.is_collapsed, 3);
	close_consistent(ix);
}
END_TEST

START_TEST(reopen_ends_fetches_of_previous_run)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_identity id = ident(5);
	struct index_open_report rep;
	struct index_entry a, b;

	ck_assert_int_eq(index_fetch_claim(ix, S("loading"), getpid(), 0, 0,
	    &a), INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_claim(ix, S("linking"), getpid(), 0, 0,
	    &b), INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_publishing(ix, S("linking"),
	    b.e_fetch.f_id, &id, 7000, 0), 0);
	index_close(ix);

	ix = index_open(index_path, 256, 10, &rep);
	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(rep.r_how, INDEX_OPEN_KEPT);
	ck_assert_uint_eq(rep.r_dropped, 1);
	ck_assert_uint_eq(rep.r_kept, 1);
	ck_assert_int_eq(look(ix, "loading", 10), INDEX_LOOKUP_NONE);
	/* Maybe linked before the crash: a COPY to check, with its expiry. */
	ck_assert_int_eq(index_lookup(ix, S("linking"), &id, 10, &b),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(b.e_expiry_ms, 7000);
	/* Fetch ids are never reused. */
	ck_assert_int_eq(index_fetch_claim(ix, S("loading"), getpid(), 10, 0,
	    &b), INDEX_CLAIMED);
	ck_assert_uint_gt(b.e_fetch.f_id, a.e_fetch.f_id + 1);
	index_close(ix);
}
END_TEST

START_TEST(resize_carries_entries_over)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED);
	struct index_open_report rep;
	char name[32], lost_names[64][32];
	size_t i, nlost;
	int n;

	for (n = 0; n < 40; n++) {
		snprintf(name, sizeof(name), "r-%d", n);
		ck_assert_int_eq(put(ix, name, (uint64_t)n, 100 + n), 0);
	}
	ck_assert_int_eq(put(ix, "forever", 99, 0), 0);
	index_close(ix);

	/* Larger: all of it. */
	ix = index_open(index_path, 4096, 0, &rep);
	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(rep.r_how, INDEX_OPEN_RESIZED);
	ck_assert_uint_eq(rep.r_kept, 41);
	ck_assert_uint_eq(rep.r_nlost, 0);
	ck_assert_uint_ge(index_capacity(ix), 4096);
	for (n = 0; n < 40; n++) {
		struct index_entry e;

		snprintf(name, sizeof(name), "r-%d", n);
		ck_assert_int_eq(index_lookup(ix, S(name), NULL, 0, &e),
		    INDEX_LOOKUP_COPY);
		ck_assert_int_eq(e.e_expiry_ms, 100 + n);
	}
	close_consistent(ix);

	/* Smaller than the copies: those that do not fit are handed back,
	 * so that their files can be removed. */
	ix = index_open(index_path, 8, 0, &rep);
	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(rep.r_how, INDEX_OPEN_RESIZED);
	ck_assert_uint_eq(index_capacity(ix), 8);
	ck_assert_uint_eq(rep.r_kept, 8);
	nlost = rep.r_nlost;
	ck_assert_uint_eq(rep.r_kept + nlost + rep.r_dropped, 41);
	ck_assert_uint_ge(nlost, 32);
	for (i = 0; i < nlost; i++) {
		ck_assert_int_ne(rep.r_lost[i].e_expiry_ms, 0);
		ck_assert_int_eq(look(ix, rep.r_lost[i].e_name, 0),
		    INDEX_LOOKUP_NONE);
		strcpy(lost_names[i], rep.r_lost[i].e_name);
	}
	free(rep.r_lost);
	/* Every copy with an expiry is either kept or reported. */
	for (n = 0; n < 40; n++) {
		bool lost = false;

		snprintf(name, sizeof(name), "r-%d", n);
		for (i = 0; i < nlost; i++)
			lost |= strcmp(lost_names[i], name) == 0;
		ck_assert_int_eq(look(ix, name, 0), lost ? INDEX_LOOKUP_NONE :
		    INDEX_LOOKUP_COPY);
	}
	index_close(ix);
}
END_TEST

/* Rewrites a header field of the closed file, fixing the checksum so that
 * only the field is wrong. */
static void
patch_header(size_t off, uint32_t value, bool fix_check)
{
	struct index_header h;
	int fd = open(index_path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	memcpy((char *)&h + off, &value, sizeof(value));
	if (fix_check)
		h.h_check = index_header_check(&h);
	ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
}

static void
fill_and_close(void)
{
	struct index *ix = index_open(index_path, 256, 0, NULL);

	ck_assert_ptr_nonnull(ix);

	ck_assert_int_eq(put(ix, "x", 1, 0), 0);
	index_close(ix);
}

static void
reopen_expect(enum index_open_how how)
{
	struct index *ix = open_ok(256, how);
	struct stat st;

	/* Rebuilt empty, at the right size, never misread. */
	ck_assert_int_eq(look(ix, "x", 0), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(stat(index_path, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, index_file_size(ix));
	ck_assert_int_eq(put(ix, "y", 1, 0), 0);
	index_close(ix);
	ix = open_ok(256, INDEX_OPEN_KEPT);
	ck_assert_int_eq(look(ix, "y", 0), INDEX_LOOKUP_COPY);
	index_close(ix);
}

START_TEST(changed_layout_rebuilt)
{
	fill_and_close();
	patch_header(offsetof(struct index_header, h_version), 99, true);
	reopen_expect(INDEX_OPEN_REBUILT_LAYOUT);
}
END_TEST

START_TEST(changed_entry_size_rebuilt)
{
	fill_and_close();
	patch_header(offsetof(struct index_header, h_slot_size),
	    sizeof(struct index_slot) + 8, true);
	reopen_expect(INDEX_OPEN_REBUILT_LAYOUT);
}
END_TEST

START_TEST(changed_geometry_rebuilt)
{
	fill_and_close();
	/* Same capacity, another stripe count: not what this code makes. */
	patch_header(offsetof(struct index_header, h_nstripes), 2, true);
	reopen_expect(INDEX_OPEN_REBUILT_LAYOUT);
}
END_TEST

START_TEST(corrupt_header_rebuilt)
{
	fill_and_close();
	patch_header(0, 0x41414141, false);		/* magic */
	reopen_expect(INDEX_OPEN_REBUILT_CORRUPT);
	fill_and_close();
	patch_header(offsetof(struct index_header, h_bps), 1, false);
	reopen_expect(INDEX_OPEN_REBUILT_CORRUPT);	/* checksum */
}
END_TEST

START_TEST(truncated_or_garbage_rebuilt)
{
	char junk[5000];
	size_t i;
	int fd;

	fill_and_close();
	ck_assert_int_eq(truncate(index_path, 8192), 0);
	reopen_expect(INDEX_OPEN_REBUILT_CORRUPT);

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	fd = open(index_path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	reopen_expect(INDEX_OPEN_REBUILT_CORRUPT);

	ck_assert_int_eq(truncate(index_path, 10), 0);
	reopen_expect(INDEX_OPEN_REBUILT_CORRUPT);
	ck_assert_int_eq(truncate(index_path, 0), 0);
	reopen_expect(INDEX_OPEN_CREATED);
}
END_TEST

START_TEST(malformed_entries_dropped_at_open)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED);
	struct index_pos p;
	struct index_open_report rep;
	uint64_t b;
	unsigned w;

	ck_assert_int_eq(put(ix, "good", 1, 0), 0);
	ck_assert_int_eq(put(ix, "bad", 2, 0), 0);
	index_locate(&ix->ix_geo, S("bad"), &p);
	ck_assert(index_find_locked(ix, &p, S("bad"), &b, &w));
	ix->ix_buckets[b].b_slot[w].s_name[0] = 'B';	/* misplaced now */
	index_close(ix);
	ix = index_open(index_path, 64, 0, &rep);
	ck_assert_ptr_nonnull(ix);
	ck_assert_uint_eq(rep.r_dropped, 1);
	ck_assert_int_eq(look(ix, "good", 0), INDEX_LOOKUP_COPY);
	ck_assert_int_eq(look(ix, "Bad", 0), INDEX_LOOKUP_NONE);
	close_consistent(ix);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Fetches                                                            */

START_TEST(claim_busy_progress_copy)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_identity id = ident(3);
	pid_t other = getppid();	/* alive: Check's runner */
	struct index_entry mine, theirs;
	struct index_stats stats;

	ck_assert_int_eq(index_fetch_claim(ix, S("big.iso"), getpid(), 100, 0,
	    &mine), INDEX_CLAIMED);
	ck_assert_int_eq(mine.e_kind, INDEX_FETCH);
	ck_assert_int_eq(mine.e_fetch.f_pid, getpid());
	ck_assert_uint_ne(mine.e_fetch.f_id, 0);
	ck_assert_uint_eq(mine.e_fetch.f_written, 0);
	ck_assert_uint_eq(mine.e_fetch.f_total, INDEX_SIZE_UNKNOWN);
	ck_assert_str_eq(mine.e_fetch.f_tmp, "");
	/* Another process: busy, same fetch. The owner's own pid: busy. */
	ck_assert_int_eq(index_fetch_claim(ix, S("big.iso"), other, 110, 0,
	    &theirs), INDEX_CLAIM_BUSY);
	ck_assert_uint_eq(theirs.e_fetch.f_id, mine.e_fetch.f_id);
	ck_assert_int_eq(theirs.e_fetch.f_pid, getpid());
	ck_assert_int_eq(index_fetch_claim(ix, S("big.iso"), getpid(), 110, 0,
	    NULL), INDEX_CLAIM_BUSY);
	ck_assert_int_eq(look(ix, "big.iso", 110), INDEX_LOOKUP_FETCH);
	ck_assert(!index_fetch_changed(ix, &theirs.e_fetch));

	ck_assert_int_eq(index_fetch_progress(ix, S("big.iso"),
	    mine.e_fetch.f_id, 4096, 1 << 20, "fill-1-2-abc", 120), 0);
	ck_assert(index_fetch_changed(ix, &theirs.e_fetch));
	ck_assert_int_eq(index_fetch_claim(ix, S("big.iso"), other, 130, 0,
	    &theirs), INDEX_CLAIM_BUSY);
	ck_assert_uint_eq(theirs.e_fetch.f_written, 4096);
	ck_assert_uint_eq(theirs.e_fetch.f_total, 1 << 20);
	ck_assert_str_eq(theirs.e_fetch.f_tmp, "fill-1-2-abc");
	ck_assert_int_eq(theirs.e_fetch.f_updated_ms, 120);
	ck_assert(!index_fetch_changed(ix, &theirs.e_fetch));
	/* NULL keeps the name; a name too long is refused. */
	ck_assert_int_eq(index_fetch_progress(ix, S("big.iso"),
	    mine.e_fetch.f_id, 8192, 1 << 20, NULL, 140), 0);
	ck_assert_int_eq(index_fetch_progress(ix, S("big.iso"),
	    mine.e_fetch.f_id, 8192, 1 << 20,
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    140), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	ck_assert_int_eq(index_lookup(ix, S("big.iso"), NULL, 150, &theirs),
	    INDEX_LOOKUP_FETCH);
	ck_assert_str_eq(theirs.e_fetch.f_tmp, "fill-1-2-abc");
	ck_assert_uint_eq(theirs.e_fetch.f_written, 8192);

	ck_assert_int_eq(index_fetch_publishing(ix, S("big.iso"),
	    mine.e_fetch.f_id, &id, 60000, 160), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("big.iso"), other, 170, 0,
	    &theirs), INDEX_CLAIM_BUSY);
	ck_assert(theirs.e_fetch.f_publishing);
	ck_assert_int_eq(index_fetch_finish(ix, S("big.iso"),
	    mine.e_fetch.f_id, INDEX_END_COPY, &id, 60000, 180), 0);
	ck_assert(index_fetch_changed(ix, &theirs.e_fetch));
	ck_assert_int_eq(index_fetch_claim(ix, S("big.iso"), other, 190, 0,
	    &theirs), INDEX_CLAIM_COPY);
	ck_assert_uint_eq(theirs.e_id.id_ino, id.id_ino);
	ck_assert_int_eq(theirs.e_expiry_ms, 60000);
	ck_assert_int_eq(index_lookup(ix, S("big.iso"), &id, 200, NULL),
	    INDEX_LOOKUP_COPY);
	/* The owner's fetch is over. */
	ck_assert_int_eq(index_fetch_progress(ix, S("big.iso"),
	    mine.e_fetch.f_id, 1, 1, NULL, 200), -1);
	ck_assert_int_eq(errno, ESTALE);
	index_note_collapsed(ix, 2);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_collapsed, 2);
	ck_assert_uint_eq(stats.is_copies, 1);
	ck_assert_uint_eq(stats.is_fetches, 0);
	index_close(ix);
}
END_TEST

START_TEST(negative_entries)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_entry e;
	struct index_stats stats;

	ck_assert_int_eq(index_fetch_claim(ix, S("nope"), 10, 0, 0, &e),
	    INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_finish(ix, S("nope"), e.e_fetch.f_id,
	    INDEX_END_NEGATIVE, NULL, 1000, 5), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("nope"), 11, 500, 0, &e),
	    INDEX_CLAIM_NEGATIVE);
	ck_assert_int_eq(e.e_expiry_ms, 1000);
	ck_assert_int_eq(index_fetch_claim(ix, S("nope"), 12, 999, 0, NULL),
	    INDEX_CLAIM_NEGATIVE);
	ck_assert_int_eq(look(ix, "nope", 999), INDEX_LOOKUP_NEGATIVE);
	ck_assert_int_eq(look(ix, "nope", 1000), INDEX_LOOKUP_NONE);
	/* Lapsed: the next claim fetches again. */
	ck_assert_int_eq(index_fetch_claim(ix, S("nope"), 13, 1000, 0, &e),
	    INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_finish(ix, S("nope"), e.e_fetch.f_id,
	    INDEX_END_NEGATIVE, NULL, 3000, 1001), 0);
	/* An upload clears it at once. */
	ck_assert_int_eq(index_remove(ix, S("nope")), 1);
	ck_assert_int_eq(index_fetch_claim(ix, S("nope"), 14, 1002, 0, NULL),
	    INDEX_CLAIMED);
	/* A direct negative never hides a copy or a fetch. */
	ck_assert_int_eq(index_put_negative(ix, S("nope"), 9000, 1003), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(put(ix, "there", 1, 0), 0);
	ck_assert_int_eq(index_put_negative(ix, S("there"), 9000, 0), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(index_put_negative(ix, S("gone"), 9000, 0), 0);
	ck_assert_int_eq(index_put_negative(ix, S("gone"), 9500, 0), 0);
	ck_assert_int_eq(index_lookup(ix, S("gone"), NULL, 9200, &e),
	    INDEX_LOOKUP_NEGATIVE);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_negative_hits, 2);
	ck_assert_uint_eq(stats.is_negatives, 1);
	index_close(ix);
}
END_TEST

START_TEST(failed_fetch_and_stale_owner)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_identity id = ident(4);
	struct index_entry a, b;

	ck_assert_int_eq(index_fetch_claim(ix, S("f"), 20, 0, 0, &a),
	    INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_finish(ix, S("f"), a.e_fetch.f_id,
	    INDEX_END_FAILED, NULL, 0, 1), 0);
	ck_assert_int_eq(look(ix, "f", 1), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(index_fetch_finish(ix, S("f"), a.e_fetch.f_id,
	    INDEX_END_FAILED, NULL, 0, 1), -1);
	ck_assert_int_eq(errno, ESTALE);
	ck_assert_int_eq(index_fetch_claim(ix, S("f"), 21, 2, 0, &b),
	    INDEX_CLAIMED);
	ck_assert_uint_ne(a.e_fetch.f_id, b.e_fetch.f_id);
	/* The old owner cannot touch the new fetch. */
	ck_assert_int_eq(index_fetch_progress(ix, S("f"), a.e_fetch.f_id, 1,
	    1, "x", 3), -1);
	ck_assert_int_eq(errno, ESTALE);
	ck_assert_int_eq(index_fetch_publishing(ix, S("f"), a.e_fetch.f_id,
	    &id, 0, 3), -1);
	ck_assert_int_eq(index_fetch_finish(ix, S("f"), a.e_fetch.f_id,
	    INDEX_END_NEGATIVE, NULL, 100, 3), -1);
	ck_assert_int_eq(errno, ESTALE);
	ck_assert_int_eq(look(ix, "f", 3), INDEX_LOOKUP_FETCH);
	/* An upload supersedes a fetch: the owner learns with ESTALE. */
	ck_assert_int_eq(index_remove(ix, S("f")), 1);
	ck_assert_int_eq(index_fetch_progress(ix, S("f"), b.e_fetch.f_id, 1,
	    1, NULL, 4), -1);
	ck_assert_int_eq(errno, ESTALE);
	/* But a copy it published is recorded all the same: it is on disk
	 * and must expire. */
	ck_assert_int_eq(index_fetch_finish(ix, S("f"), b.e_fetch.f_id,
	    INDEX_END_COPY, &id, 50, 4), 0);
	ck_assert_int_eq(look(ix, "f", 60), INDEX_LOOKUP_EXPIRED);
	ck_assert_int_eq(index_fetch_finish(ix, S("f"), 1, 77, NULL, 0, 0),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	index_close(ix);
}
END_TEST

static int
child_claims(struct index *ix)
{
	return index_fetch_claim(ix, S("orphan"), getpid(), 0, 0, NULL) ==
	    INDEX_CLAIMED ? 0 : 1;
}

static int
child_claims_publishes(struct index *ix)
{
	struct index_identity id = ident(11);
	struct index_entry e;

	if (index_fetch_claim(ix, S("linked"), getpid(), 0, 0, &e) !=
	    INDEX_CLAIMED)
		return 1;
	return index_fetch_publishing(ix, S("linked"), e.e_fetch.f_id, &id,
	    9000, 0) == 0 ? 0 : 2;
}

START_TEST(takeover_from_dead_owner)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_entry e;
	struct index_stats stats;
	pid_t child;

	alarm(5);
	child = spawn(ix, child_claims);
	ck_assert_int_eq(wait_status(child), 0);	/* dead and reaped */
	ck_assert_int_eq(index_lookup(ix, S("orphan"), NULL, 1, &e),
	    INDEX_LOOKUP_FETCH);
	ck_assert_int_eq(e.e_fetch.f_pid, child);
	/* No timeout to wait out: the owner is gone, the claim is ours. */
	ck_assert_int_eq(index_fetch_claim(ix, S("orphan"), getpid(), 1, 0,
	    &e), INDEX_CLAIMED);
	ck_assert_int_eq(e.e_fetch.f_pid, getpid());
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_takeovers, 1);

	/* An owner that died while linking leaves a copy to check. */
	child = spawn(ix, child_claims_publishes);
	ck_assert_int_eq(wait_status(child), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("linked"), getpid(), 1, 0,
	    &e), INDEX_CLAIM_COPY);
	ck_assert_uint_eq(e.e_id.id_ino, ident(11).id_ino);
	ck_assert_int_eq(e.e_expiry_ms, 9000);
	index_close(ix);
}
END_TEST

START_TEST(takeover_after_stall)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	pid_t alive = getppid();
	struct index_entry e;

	ck_assert_int_eq(index_fetch_claim(ix, S("slow"), alive, 0, 0, &e),
	    INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_progress(ix, S("slow"), e.e_fetch.f_id,
	    10, 100, NULL, 1000), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("slow"), getpid(), 100000, 0,
	    NULL), INDEX_CLAIM_BUSY);		/* no stall limit */
	ck_assert_int_eq(index_fetch_claim(ix, S("slow"), getpid(), 1999,
	    1000, NULL), INDEX_CLAIM_BUSY);
	ck_assert_int_eq(index_fetch_claim(ix, S("slow"), getpid(), 2000,
	    1000, &e), INDEX_CLAIMED);
	ck_assert_int_eq(e.e_fetch.f_pid, getpid());
	index_close(ix);
}
END_TEST

START_TEST(abandon_pid_ends_its_fetches)
{
	struct index *ix = open_ok(1024, INDEX_OPEN_CREATED);
	struct index_identity id = ident(12);
	struct index_entry e, w1, w2;
	struct index_stats stats;
	pid_t owner = getppid(), me = getpid();	/* both alive */

	ck_assert_int_eq(index_fetch_abandon_pid(ix, owner), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("one"), owner, 0, 0, NULL),
	    INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_claim(ix, S("two"), owner, 0, 0, &e),
	    INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_publishing(ix, S("two"), e.e_fetch.f_id,
	    &id, 0, 0), 0);
	ck_assert_int_eq(index_fetch_claim(ix, S("three"), me, 0, 0, NULL),
	    INDEX_CLAIMED);
	ck_assert_int_eq(index_fetch_claim(ix, S("one"), me, 0, 0, &w1),
	    INDEX_CLAIM_BUSY);
	ck_assert_int_eq(index_fetch_claim(ix, S("two"), me, 0, 0, &w2),
	    INDEX_CLAIM_BUSY);
	ck_assert_int_eq(index_fetch_abandon_pid(ix, owner), 2);
	ck_assert(index_fetch_changed(ix, &w1.e_fetch));
	ck_assert(index_fetch_changed(ix, &w2.e_fetch));
	ck_assert_int_eq(look(ix, "one", 0), INDEX_LOOKUP_NONE);
	ck_assert_int_eq(index_lookup(ix, S("two"), &id, 0, NULL),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(look(ix, "three", 0), INDEX_LOOKUP_FETCH);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_fetches, 1);
	index_close(ix);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Crashes and concurrency                                            */

/* The child takes the stripe lock of "victim", says so, and waits to be
 * killed. */
static int lock_pipe[2];

static int
child_holds_lock(struct index *ix)
{
	struct index_pos p;

	alarm(10);	/* never outlives a failed test for long */
	index_locate(&ix->ix_geo, S("victim"), &p);
	if (index_lock(ix, p.p_stripe) == -1)
		return 1;
	if (write(lock_pipe[1], "L", 1) != 1)
		return 2;
	for (;;)
		pause();
}

START_TEST(lock_recovered_after_holder_killed)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_stats stats;
	pid_t child;
	char c;
	int status;

	alarm(5);	/* a wedged lock fails the test instead of hanging */
	ck_assert_int_eq(put(ix, "victim", 1, 500), 0);
	ck_assert_int_eq(pipe(lock_pipe), 0);
	child = spawn(ix, child_holds_lock);
	ck_assert_int_eq(read(lock_pipe[0], &c, 1), 1);
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	status = wait_status(child);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(look(ix, "victim", 0), INDEX_LOOKUP_COPY);
	ck_assert_int_eq(look(ix, "victim", 600), INDEX_LOOKUP_EXPIRED);
	ck_assert_int_eq(put(ix, "victim", 2, 0), 0);
	ck_assert_int_eq(index_remove(ix, S("victim")), 1);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_lock_repairs, 1);
	close_consistent(ix);
}
END_TEST

/* The child starts changing the entry of "torn" (or an empty slot for
 * "fresh"), writes half of it, and is killed. */
static int
child_tears_entry(struct index *ix)
{
	struct index_pos p;
	struct index_slot *sl;
	uint64_t b;
	unsigned w;

	index_locate(&ix->ix_geo, S("torn"), &p);
	if (index_lock(ix, p.p_stripe) == -1 ||
	    !index_find_locked(ix, &p, S("torn"), &b, &w))
		return 1;
	sl = index_change_begin_locked(ix, &ix->ix_stripes[p.p_stripe], b, w);
	sl->s_expiry_ms = 123456;
	sl->s_ino = 999;
	memcpy(sl->s_name, "TORN", 4);
	ix->ix_buckets[b].b_state[w] = INDEX_FETCH;
	kill(getpid(), SIGKILL);
	return 3;
}

static int
child_tears_insert(struct index *ix)
{
	struct index_pos p;
	struct index_slot *sl;
	uint64_t b;
	unsigned w;

	index_locate(&ix->ix_geo, S("fresh"), &p);
	if (index_lock(ix, p.p_stripe) == -1)
		return 1;
	sl = index_insert_begin_locked(ix, &p, S("fresh"), 0, &b, &w);
	if (sl == NULL)
		return 2;
	sl->s_expiry_ms = 77;
	ix->ix_buckets[b].b_tag[w] = p.p_tag;
	ix->ix_buckets[b].b_state[w] = INDEX_COPY;	/* looks complete */
	kill(getpid(), SIGKILL);
	return 3;
}

START_TEST(torn_change_rolled_back)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_identity id = ident(21);
	struct index_entry e;
	int status;

	alarm(5);
	ck_assert_int_eq(index_put_copy(ix, S("torn"), &id, 5000, 0), 0);
	status = wait_status(spawn(ix, child_tears_entry));
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(index_lookup(ix, S("torn"), &id, 0, &e),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(e.e_expiry_ms, 5000);
	ck_assert_uint_eq(e.e_id.id_ino, id.id_ino);
	ck_assert_str_eq(e.e_name, "torn");

	status = wait_status(spawn(ix, child_tears_insert));
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(look(ix, "fresh", 0), INDEX_LOOKUP_NONE);
	close_consistent(ix);
}
END_TEST

START_TEST(torn_change_rolled_back_at_open)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_identity id = ident(22);
	struct index_entry e;
	int status;

	alarm(5);
	ck_assert_int_eq(index_put_copy(ix, S("torn"), &id, 5000, 0), 0);
	status = wait_status(spawn(ix, child_tears_entry));
	ck_assert(WIFSIGNALED(status));
	index_close(ix);		/* the whole daemon died, say */
	ix = open_ok(256, INDEX_OPEN_KEPT);
	ck_assert_int_eq(index_lookup(ix, S("torn"), &id, 0, &e),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(e.e_expiry_ms, 5000);
	index_stats(ix, &(struct index_stats){ 0 });
	close_consistent(ix);
}
END_TEST

/* The child moves the entry of `moved_name` to its other bucket and is
 * killed after the copy, before the source is emptied. */
static const char *moved_name;

static int
child_half_moves(struct index *ix)
{
	struct index_pos p;
	struct index_stripe *st;
	struct index_slot *d;
	uint64_t b, alt;
	unsigned w;
	int fw;

	index_locate(&ix->ix_geo, moved_name, strlen(moved_name), &p);
	st = &ix->ix_stripes[p.p_stripe];
	if (index_lock(ix, p.p_stripe) == -1 ||
	    !index_find_locked(ix, &p, moved_name, strlen(moved_name), &b, &w))
		return 1;
	alt = b == p.p_bucket[0] ? p.p_bucket[1] : p.p_bucket[0];
	if ((fw = index_free_way(&ix->ix_buckets[alt])) < 0)
		return 2;
	/* index_move_locked(), stopped halfway. */
	d = index_change_begin_locked(ix, st, alt, (unsigned)fw);
	memcpy((char *)d + INDEX_SLOT_BODY,
	    (char *)index_slot(ix, b, w) + INDEX_SLOT_BODY,
	    sizeof(*d) - INDEX_SLOT_BODY);
	index_change_end_locked(ix, st, alt, (unsigned)fw,
	    ix->ix_buckets[b].b_state[w], ix->ix_buckets[b].b_tag[w]);
	kill(getpid(), SIGKILL);
	return 3;
}

START_TEST(half_done_move_repaired)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED);
	static const char *names[] = { "m0", "m1", "m2", "m3", "m4", "m5" };
	struct index_identity id = ident(31);
	struct index_stats stats;
	struct index_entry e;
	size_t i;
	int status;

	alarm(5);
	/* A name whose two buckets differ. */
	for (i = 0; i < 6 && room_of(ix, names[i]) != 2 * INDEX_WAYS; i++)
		;
	ck_assert_uint_lt(i, 6);
	moved_name = names[i];
	ck_assert_int_eq(index_put_copy(ix, S(moved_name), &id, 900, 0), 0);
	status = wait_status(spawn(ix, child_half_moves));
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(index_lookup(ix, S(moved_name), &id, 0, &e),
	    INDEX_LOOKUP_COPY);
	ck_assert_int_eq(e.e_expiry_ms, 900);
	assert_consistent(ix);		/* one entry left, counts right */
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_copies, 1);
	ck_assert_uint_eq(stats.is_lock_repairs, 1);
	ck_assert_int_eq(index_remove(ix, S(moved_name)), 1);
	ck_assert_int_eq(look(ix, moved_name, 0), INDEX_LOOKUP_NONE);
	index_close(ix);
}
END_TEST

#define RACERS 8

static int go_pipe[2], result_pipe[2], release_pipe[2];

/* Claims "hot" when told to, reports, and stays alive (so that nobody can
 * take its claim over) until the parent lets go. */
static int
child_races_claim(struct index *ix)
{
	char c;

	close(release_pipe[1]);
	if (read(go_pipe[0], &c, 1) != 1)
		return 9;
	switch (index_fetch_claim(ix, S("hot"), getpid(), 0, 0, NULL)) {
	case INDEX_CLAIMED:
		c = 'C';
		break;
	case INDEX_CLAIM_BUSY:
		c = 'B';
		break;
	default:
		c = '?';
		break;
	}
	if (write(result_pipe[1], &c, 1) != 1)
		return 8;
	while (read(release_pipe[0], &c, 1) > 0)
		;
	return 0;
}

START_TEST(one_claim_wins)
{
	struct index *ix = open_ok(256, INDEX_OPEN_CREATED);
	struct index_entry e;
	pid_t kids[RACERS];
	int i, claimed = 0, busy = 0;
	char go[RACERS], c;

	alarm(5);
	ck_assert_int_eq(pipe(go_pipe), 0);
	ck_assert_int_eq(pipe(result_pipe), 0);
	ck_assert_int_eq(pipe(release_pipe), 0);
	for (i = 0; i < RACERS; i++)
		kids[i] = spawn(ix, child_races_claim);
	memset(go, 'g', sizeof(go));
	ck_assert_int_eq(write(go_pipe[1], go, sizeof(go)), RACERS);
	for (i = 0; i < RACERS; i++) {
		ck_assert_int_eq(read(result_pipe[0], &c, 1), 1);
		claimed += c == 'C';
		busy += c == 'B';
	}
	ck_assert_int_eq(claimed, 1);
	ck_assert_int_eq(busy, RACERS - 1);
	ck_assert_int_eq(index_lookup(ix, S("hot"), NULL, 0, &e),
	    INDEX_LOOKUP_FETCH);
	close(release_pipe[1]);
	for (i = 0; i < RACERS; i++)
		ck_assert_int_eq(wait_status(kids[i]), 0);
	/* The winner is gone now: the next claim takes over at once. */
	ck_assert_int_eq(index_fetch_claim(ix, S("hot"), getpid(), 0, 0,
	    NULL), INDEX_CLAIMED);
	close_consistent(ix);
}
END_TEST

#define HAMMER_NAMES 24
#define HAMMER_KIDS 4

static uint64_t
rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random operations on a few shared names; `forever` runs until killed. */
static int
hammer(struct index *ix, uint64_t seed, long ops, bool forever)
{
	struct index_entry e, out[4];
	uint64_t cursor = 0;
	char name[16];
	long i;

	for (i = 0; forever || i < ops; i++) {
		uint64_t r = rnd(&seed);
		struct index_identity id = { r % 3, r % 5, r % 7 };
		int64_t now = (int64_t)(i % 1000);
		int k;

		snprintf(name, sizeof(name), "h%d", (int)(r % HAMMER_NAMES));
		switch ((r >> 16) % 8) {
		case 0:
			if (index_lookup(ix, S(name), NULL, now, &e) ==
			    INDEX_LOOKUP_ERROR)
				return 1;
			if (e.e_kind != INDEX_NONE && strcmp(e.e_name, name))
				return 2;	/* another name's entry */
			break;
		case 1:
			if (index_put_copy(ix, S(name), &id, (int64_t)(r %
			    2000), now) == -1 && errno != ENOSPC)
				return 3;
			break;
		case 2:
			if (index_remove(ix, S(name)) == -1)
				return 4;
			break;
		case 3:
			if (index_remove_if(ix, S(name), &id, now) == -1)
				return 5;
			break;
		case 4:
			if (index_put_negative(ix, S(name), now + 50, now) ==
			    -1 && errno != EEXIST && errno != ENOSPC)
				return 6;
			break;
		case 5:
			if (index_expired(ix, now, &cursor, out, 4) > 4)
				return 7;
			if (cursor >= index_capacity(ix))
				cursor = 0;
			break;
		default:
			if (index_fetch_claim(ix, S(name), getpid(), now, 0,
			    &e) != INDEX_CLAIMED)
				break;
			if (strcmp(e.e_name, name) != 0)
				return 8;
			for (k = 0; k < 3; k++)
				if (index_fetch_progress(ix, S(name),
				    e.e_fetch.f_id, (uint64_t)k * 10, 30,
				    "tmp", now) == -1 && errno != ESTALE)
					return 9;
			if (r & 0x100000)
				index_fetch_publishing(ix, S(name),
				    e.e_fetch.f_id, &id, now + 10, now);
			if (index_fetch_finish(ix, S(name), e.e_fetch.f_id,
			    (enum index_end)((r >> 24) % 3), &id, now + 20,
			    now) == -1 && errno != ESTALE && errno != ENOSPC)
				return 10;
			break;
		}
	}
	return 0;
}

static int hammer_seed;

static int
child_hammers(struct index *ix)
{
	return hammer(ix, 0x9e3779b97f4a7c15u * (uint64_t)(hammer_seed + 1),
	    20000, false);
}

static int
child_hammers_forever(struct index *ix)
{
	alarm(10);	/* never outlives a failed test for long */
	return hammer(ix, 0x9e3779b97f4a7c15u * (uint64_t)(hammer_seed + 1),
	    0, true);
}

/* Takes every lock once (repairing what dead holders left), then checks
 * every entry and count. */
static void
assert_consistent_after_repair(struct index *ix)
{
	uint32_t s;

	for (s = 0; s < ix->ix_geo.g_nstripes; s++) {
		ck_assert_int_eq(index_lock(ix, s), 0);
		index_unlock(ix, s);
	}
	assert_consistent(ix);
}

static void
run_hammer(uint64_t capacity)
{
	struct index *ix = open_ok(capacity, INDEX_OPEN_CREATED);
	struct index_stats stats;
	pid_t kids[HAMMER_KIDS];
	int i, status;

	alarm(8);
	for (i = 0; i < HAMMER_KIDS; i++) {
		hammer_seed = i;
		kids[i] = spawn(ix, child_hammers);
	}
	for (i = 0; i < HAMMER_KIDS; i++) {
		status = wait_status(kids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status %d", i, status);
	}
	assert_consistent(ix);
	index_stats(ix, &stats);
	ck_assert_uint_eq(stats.is_lock_repairs, 0);
	/* Every child's fetches ended (it exited): none is left but those
	 * of dead owners, which the sweeper or a claim end. */
	ck_assert_int_ge(index_fetch_abandon_pid(ix, kids[0]), 0);
	index_close(ix);
}

START_TEST(hammer_small_table)
{
	run_hammer(16);		/* full buckets: evictions, refusals */
}
END_TEST

START_TEST(hammer_large_table)
{
	run_hammer(4096);
}
END_TEST

START_TEST(hammer_with_kills)
{
	struct index *ix = open_ok(64, INDEX_OPEN_CREATED);
	struct timespec ts = { 0, 20 * 1000000 };
	struct index_stats stats;
	struct index_entry e;
	pid_t kids[HAMMER_KIDS];
	char name[16];
	int round, i, status;

	alarm(8);
	for (round = 0; round < 5; round++) {
		for (i = 0; i < HAMMER_KIDS; i++) {
			hammer_seed = round * HAMMER_KIDS + i;
			kids[i] = spawn(ix, child_hammers_forever);
		}
		nanosleep(&ts, NULL);
		/* SIGKILL at random points: some hold a lock, some are in
		 * the middle of a change. */
		for (i = 0; i < HAMMER_KIDS; i++) {
			kill(kids[i], SIGKILL);
			status = wait_status(kids[i]);
			ck_assert_msg(WIFSIGNALED(status),
			    "child exited early: %d", status);
		}
		assert_consistent_after_repair(ix);
	}
	/* Still fully usable; dead owners' fetches are taken over. */
	for (i = 0; i < HAMMER_NAMES; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		ck_assert_int_ne(index_fetch_claim(ix, S(name), getpid(), 5000,
		    0, &e), INDEX_CLAIM_BUSY);
		ck_assert_int_ne(index_lookup(ix, S(name), NULL, 5000, NULL),
		    INDEX_LOOKUP_ERROR);
	}
	index_stats(ix, &stats);
	ck_assert_uint_le(stats.is_fetches, stats.is_capacity);
	close_consistent(ix);
}
END_TEST

int
main(void)
{
	TCase *tc;

	tc = check_main_tcase("open", setup, NULL,
	    CHECK_MAIN_TESTS(open_creates_reserved_file,
	    open_rejects_bad_capacity, open_twice_is_refused,
	    open_refuses_symlink, reopen_keeps_entries,
	    reopen_ends_fetches_of_previous_run, resize_carries_entries_over,
	    changed_layout_rebuilt, changed_entry_size_rebuilt,
	    changed_geometry_rebuilt, corrupt_header_rebuilt,
	    truncated_or_garbage_rebuilt, malformed_entries_dropped_at_open));
	index_fixture_add(tc);
	tc = check_main_tcase("entries", setup, NULL,
	    CHECK_MAIN_TESTS(insert_lookup_update_remove,
	    names_binary_and_limits, expired_copy_reported,
	    remove_if_checks_identity, full_collisions_told_apart,
	    two_choices_fill_the_table, eviction_order_and_counts,
	    eviction_takes_oldest_copy));
	index_fixture_add(tc);
	tc = check_main_tcase("fetch", setup, NULL,
	    CHECK_MAIN_TESTS(claim_busy_progress_copy, negative_entries,
	    failed_fetch_and_stale_owner, takeover_from_dead_owner,
	    takeover_after_stall, abandon_pid_ends_its_fetches,
	    one_claim_wins));
	index_fixture_add(tc);
	tc = check_main_tcase("crash", setup, NULL,
	    CHECK_MAIN_TESTS(lock_recovered_after_holder_killed,
	    torn_change_rolled_back, torn_change_rolled_back_at_open,
	    half_done_move_repaired, hammer_small_table, hammer_large_table,
	    hammer_with_kills));
	index_fixture_add(tc);
	tcase_set_timeout(tc, 10);
	return check_main_run();
}
