/*
 * check_buf.c - unit tests for src/buf.c (growable byte buffers and the
 * allocation helpers that abort rather than fail).
 * Includes the .c file so the static out-of-memory path is in the build.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.c"
#include "check_main.h"

#ifdef __SANITIZE_ADDRESS__
/* Under AddressSanitizer an impossible allocation must still reach
 * out_of_memory() (ASan would otherwise stop the process itself). */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

START_TEST(zero_buffer_is_empty)
{
	struct buf b = { 0 };

	ck_assert_uint_eq(b.len, 0);
	buf_append(&b, "", 0);		/* nothing to add */
	ck_assert_uint_eq(b.len, 0);
	buf_append_str(&b, "");
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);			/* an empty buffer frees fine */
	buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(append_concatenates)
{
	struct buf b = { 0 };

	buf_append(&b, "abc", 3);
	buf_append_str(&b, "def");
	buf_append(&b, "g\0h", 3);	/* binary-safe */
	ck_assert_uint_eq(b.len, 9);
	ck_assert(memcmp(b.data, "abcdefg\0h", 9) == 0);
	ck_assert_uint_le(b.len, b.cap);
	buf_free(&b);
}
END_TEST

/* Each passing ck_assert costs Check a write, so the loops below compare
 * whole buffers and assert once per step. */
START_TEST(append_grows_across_many_sizes)
{
	static char want[600000];
	struct buf b = { 0 };
	char chunk[1000];
	size_t total = 0, n, i;

	/* Chunks of every size up to 1000 bytes, each filled with a byte
	 * that depends on its position, so any lost or moved byte shows. */
	for (n = 1; n <= sizeof(chunk); n += 7) {
		for (i = 0; i < n; i++) {
			chunk[i] = (char)((total + i) * 31 % 251);
			want[total + i] = chunk[i];
		}
		buf_append(&b, chunk, n);
		total += n;
		ck_assert_msg(b.len == total && b.len <= b.cap &&
		    memcmp(b.data, want, total) == 0,
		    "after %zu bytes: len %zu cap %zu", total, b.len, b.cap);
	}
	buf_free(&b);
}
END_TEST

START_TEST(printf_formats)
{
	struct buf b = { 0 };

	buf_printf(&b, "%d %s %05.1f %c", -42, "str", 3.14159, 'x');
	ck_assert_uint_eq(b.len, strlen("-42 str 003.1 x"));
	ck_assert(memcmp(b.data, "-42 str 003.1 x", b.len) == 0);
	buf_printf(&b, "|%zu|", (size_t)7);
	ck_assert_uint_eq(b.len, strlen("-42 str 003.1 x|7|"));
	ck_assert(memcmp(b.data, "-42 str 003.1 x|7|", b.len) == 0);
	buf_printf(&b, "%s", "");	/* adds nothing */
	ck_assert_uint_eq(b.len, strlen("-42 str 003.1 x|7|"));
	buf_free(&b);
}
END_TEST

/* printf output of every length around the growth boundaries lands whole,
 * after whatever the buffer already held. */
START_TEST(printf_growth_over_many_sizes)
{
	static char pad[5000], want[6000];
	size_t prefix, n;

	memset(pad, 'p', sizeof(pad) - 1);
	for (prefix = 0; prefix < 600; prefix += 61) {
		for (n = 0; n < sizeof(pad) - 1; n += n < 300 ? 1 : 97) {
			struct buf b = { 0 };
			size_t i;

			for (i = 0; i < prefix; i++)
				buf_append(&b, "a", 1);
			buf_printf(&b, "<%.*s>", (int)n, pad);
			memset(want, 'a', prefix);
			want[prefix] = '<';
			memset(want + prefix + 1, 'p', n);
			want[prefix + n + 1] = '>';
			ck_assert_msg(b.len == prefix + n + 2 &&
			    b.len <= b.cap && memcmp(b.data, want, b.len) == 0,
			    "prefix %zu, %zu bytes: len %zu cap %zu", prefix, n,
			    b.len, b.cap);
			buf_free(&b);
		}
	}
}
END_TEST

START_TEST(reserve_makes_room_without_changing_len)
{
	struct buf b = { 0 };
	char *p;

	buf_append_str(&b, "head");
	p = buf_reserve(&b, 10000);
	ck_assert_ptr_eq(p, b.data + 4);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_uint_ge(b.cap - b.len, 10000);
	memset(p, 'z', 10000);		/* all of it is writable */
	b.len += 10000;
	ck_assert(memcmp(b.data, "head", 4) == 0);
	ck_assert_int_eq(b.data[b.len - 1], 'z');

	/* Room that is already there does not move the data. */
	p = b.data;
	buf_reset(&b);
	ck_assert_ptr_eq(buf_reserve(&b, 100), p);
	buf_free(&b);
}
END_TEST

START_TEST(reset_keeps_memory)
{
	struct buf b = { 0 };
	char *data;
	size_t cap;

	buf_printf(&b, "%0*d", 4000, 1);
	data = b.data;
	cap = b.cap;
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_eq(b.data, data);
	ck_assert_uint_eq(b.cap, cap);

	/* Reuse after reset fits in the memory already held. */
	buf_append_str(&b, "again");
	ck_assert_ptr_eq(b.data, data);
	ck_assert_uint_eq(b.len, 5);
	ck_assert(memcmp(b.data, "again", 5) == 0);
	buf_free(&b);
}
END_TEST

START_TEST(free_releases_and_allows_reuse)
{
	struct buf b = { 0 };

	buf_append_str(&b, "something");
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	buf_append_str(&b, "more");	/* an emptied buffer works again */
	ck_assert_uint_eq(b.len, 4);
	ck_assert(memcmp(b.data, "more", 4) == 0);
	buf_free(&b);
}
END_TEST

START_TEST(x_allocators)
{
	char *s = xstrdup("copy me");
	unsigned char *z = xcalloc(16, 4);
	char *r;
	size_t i;

	ck_assert_str_eq(s, "copy me");
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(z[i], 0);	/* calloc zeroes */
	r = xrealloc(s, 1 << 16);
	ck_assert_str_eq(r, "copy me");		/* contents survive */
	free(r);
	free(z);

	/* Zero sizes still give a pointer the caller may free. */
	z = xcalloc(0, 0);
	ck_assert_ptr_nonnull(z);
	free(z);
	r = xrealloc(NULL, 0);
	ck_assert_ptr_nonnull(r);
	free(r);
}
END_TEST

/* Running out of memory aborts (SIGABRT) instead of returning NULL. The
 * size is impossible to allocate on any machine, so this needs no limit. */
START_TEST(out_of_memory_aborts)
{
	/* volatile: opaque to -O2 allocation-size warnings */
	volatile size_t huge = SIZE_MAX - 4096;
	void *p;

	/* The message is expected; keep it out of the test output. */
	ck_assert(freopen("/dev/null", "w", stderr) != NULL);
	p = xrealloc(NULL, huge);

	/* Not reached; keeps the result "used". */
	free(p);
}
END_TEST

/* Spares: the buffer given back last is taken first; at most max kept;
 * a buffer of another size is freed, not kept (ASan sees any leak). */
START_TEST(spares_reuse_the_last_given_back)
{
	struct spares sp = { 0 };
	char *a = spares_take(&sp, 64), *b = spares_take(&sp, 64),
	    *c = spares_take(&sp, 64);

	memset(a, 'a', 64);
	memset(b, 'b', 64);
	spares_give(&sp, a, 64, 64, 2);
	spares_give(&sp, b, 64, 64, 2);
	spares_give(&sp, c, 64, 64, 2);		/* over max: freed */
	ck_assert_uint_eq(sp.n, 2);
	spares_give(&sp, xrealloc(NULL, 128), 128, 64, 2);	/* other size */
	spares_give(&sp, NULL, 0, 64, 2);
	ck_assert_uint_eq(sp.n, 2);
	ck_assert_ptr_eq(spares_take(&sp, 64), b);
	ck_assert_ptr_eq(spares_take(&sp, 64), a);
	ck_assert_uint_eq(sp.n, 0);
	c = spares_take(&sp, 64);			/* none left: a new one */
	ck_assert_ptr_nonnull(c);
	memset(c, 'c', 64);
	spares_give(&sp, a, 64, 64, 2);
	spares_give(&sp, b, 64, 64, 2);
	free(c);
	spares_free_all(&sp);
	ck_assert_uint_eq(sp.n, 0);
	ck_assert_ptr_null(sp.head);
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("buf", NULL, NULL,
	    CHECK_MAIN_TESTS(zero_buffer_is_empty, append_concatenates,
	    append_grows_across_many_sizes, printf_formats,
	    printf_growth_over_many_sizes,
	    reserve_makes_room_without_changing_len, reset_keeps_memory,
	    free_releases_and_allows_reuse, x_allocators,
	    spares_reuse_the_last_given_back));

	tcase_add_test_raise_signal(tc, out_of_memory_aborts, SIGABRT);
	return check_main_run();
}
