/*
 * check_fill.c - the table of fills: a fill announced is found by its
 * fetch id with its head, its progress and its end are seen (also from
 * another process), an ended slot keeps its outcome for FILL_LINGER_MS
 * and is reused only after, a dead owner's fills fail, bad arguments are
 * refused.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "store/fill.h"

#define T0 1800000000000LL

static struct fill_table *ft;

static void
setup(void)
{
	ft = fill_table_create();
	ck_assert_ptr_nonnull(ft);
}

static void
teardown(void)
{
	fill_table_free(ft);
}

static struct fill_head
head_of(uint64_t total)
{
	struct fill_head h = { .fh_total = total, .fh_mtime = 1796000000 };

	snprintf(h.fh_etag, sizeof(h.fh_etag), "\"%032llx\"",
	    (unsigned long long)total);
	snprintf(h.fh_tmp, sizeof(h.fh_tmp), "fill-1-%llu",
	    (unsigned long long)total);
	return h;
}

START_TEST(test_found_with_its_head_progress_and_end)
{
	struct fill_head h = head_of(1000), got;
	struct fill_view v;
	int slot, found;

	slot = fill_begin(ft, 7, 42, &h, T0);
	ck_assert_int_ge(slot, 0);
	found = fill_find(ft, 7, &got);
	ck_assert_int_eq(found, slot);
	ck_assert_uint_eq(got.fh_total, 1000);
	ck_assert_int_eq(got.fh_mtime, 1796000000);
	ck_assert_str_eq(got.fh_etag, h.fh_etag);
	ck_assert_str_eq(got.fh_tmp, h.fh_tmp);
	ck_assert_int_eq(fill_look(ft, slot, 7, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_RUNNING);
	ck_assert_uint_eq(v.fv_written, 0);

	fill_progress(ft, slot, 600);
	ck_assert_int_eq(fill_look(ft, slot, 7, &v), 0);
	ck_assert_uint_eq(v.fv_written, 600);
	fill_progress(ft, slot, 1000);
	fill_end(ft, slot, true, T0 + 5);
	/* Only the first end counts. */
	fill_end(ft, slot, false, T0 + 6);
	ck_assert_int_eq(fill_look(ft, slot, 7, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_DONE);
	ck_assert_uint_eq(v.fv_written, 1000);
	/* Another fetch's id is not this fill. */
	ck_assert_int_eq(fill_look(ft, slot, 8, &v), -1);
	ck_assert_int_eq(errno, ESTALE);
}
END_TEST

START_TEST(test_unknown_fill_is_not_found)
{
	struct fill_head h = head_of(10), got;

	ck_assert_int_eq(fill_find(ft, 99, &got), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_ge(fill_begin(ft, 98, 42, &h, T0), 0);
	ck_assert_int_eq(fill_find(ft, 99, &got), -1);
	ck_assert_int_eq(fill_find(ft, 0, &got), -1);
}
END_TEST

START_TEST(test_bad_arguments_are_refused)
{
	struct fill_head h = head_of(10);

	ck_assert_int_eq(fill_begin(ft, 0, 42, &h, T0), -1);
	ck_assert_int_eq(errno, EINVAL);
	memset(h.fh_etag, 'e', sizeof(h.fh_etag));
	ck_assert_int_eq(fill_begin(ft, 5, 42, &h, T0), -1);
	ck_assert_int_eq(errno, EINVAL);
	h = head_of(10);
	memset(h.fh_tmp, 't', sizeof(h.fh_tmp));
	ck_assert_int_eq(fill_begin(ft, 5, 42, &h, T0), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_an_ended_slot_lingers_before_reuse)
{
	struct fill_head h = head_of(10), got;
	struct fill_view v;
	int slot = -1, i;

	for (i = 1; i <= FILL_SLOTS; i++) {
		int s = fill_begin(ft, (uint64_t)i, 42, &h, T0);

		ck_assert_int_ge(s, 0);
		if (i == 77)
			slot = s;
	}
	ck_assert_int_eq(fill_begin(ft, FILL_SLOTS + 1, 42, &h, T0), -1);
	ck_assert_int_eq(errno, ENOSPC);
	fill_end(ft, slot, false, T0);
	ck_assert_int_eq(fill_begin(ft, FILL_SLOTS + 1, 42, &h,
	    T0 + FILL_LINGER_MS - 1), -1);
	/* Its outcome is still there for a late waiter. */
	ck_assert_int_eq(fill_look(ft, slot, 77, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_FAILED);
	ck_assert_int_eq(fill_begin(ft, FILL_SLOTS + 1, 42, &h,
	    T0 + FILL_LINGER_MS), slot);
	ck_assert_int_eq(fill_look(ft, slot, 77, &v), -1);
	ck_assert_int_eq(errno, ESTALE);
	ck_assert_int_eq(fill_find(ft, 77, &got), -1);
	ck_assert_int_eq(fill_find(ft, FILL_SLOTS + 1, &got), slot);
}
END_TEST

START_TEST(test_a_dead_owner_fills_fail)
{
	struct fill_head h = head_of(10);
	struct fill_view v;
	int a = fill_begin(ft, 1, 42, &h, T0);
	int b = fill_begin(ft, 2, 42, &h, T0);
	int c = fill_begin(ft, 3, 43, &h, T0);
	int d = fill_begin(ft, 4, 42, &h, T0);

	fill_progress(ft, d, 10);
	fill_end(ft, d, true, T0);
	ck_assert_int_eq(fill_abandon_pid(ft, 42, T0 + 1), 2);
	ck_assert_int_eq(fill_look(ft, a, 1, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_FAILED);
	ck_assert_int_eq(fill_look(ft, b, 2, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_FAILED);
	ck_assert_int_eq(fill_look(ft, c, 3, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_RUNNING);
	ck_assert_int_eq(fill_look(ft, d, 4, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_DONE);
	ck_assert_int_eq(fill_abandon_pid(ft, 42, T0 + 2), 0);
}
END_TEST

START_TEST(test_another_process_sees_the_fill)
{
	struct fill_head h = head_of(4096), got;
	struct fill_view v;
	int status, slot;
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int s = fill_begin(ft, 11, getpid(), &h, T0);

		fill_progress(ft, s, 4096);
		fill_end(ft, s, true, T0);
		_exit(s >= 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	slot = fill_find(ft, 11, &got);
	ck_assert_int_ge(slot, 0);
	ck_assert_str_eq(got.fh_tmp, h.fh_tmp);
	ck_assert_int_eq(fill_look(ft, slot, 11, &v), 0);
	ck_assert_int_eq(v.fv_state, FILL_DONE);
	ck_assert_uint_eq(v.fv_written, 4096);
}
END_TEST

int
main(void)
{
	check_main_tcase("fill", setup, teardown, CHECK_MAIN_TESTS(
	    test_found_with_its_head_progress_and_end,
	    test_unknown_fill_is_not_found,
	    test_bad_arguments_are_refused,
	    test_an_ended_slot_lingers_before_reuse,
	    test_a_dead_owner_fills_fail,
	    test_another_process_sees_the_fill));
	return check_main_run();
}
