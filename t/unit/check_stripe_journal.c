/*
 * check_stripe_journal.c - journal entries of striped uploads: the text
 * round trip, and entries that are not ones refused.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "stripe/journal.h"

static const char *const nodes[] = { "s0", "s1", "s2" };
static const char *const addrs[] = { "127.0.0.1:1", "h:2", "[::1]:3" };
#define ID "0123456789abcdef0123456789abcdef"

START_TEST(test_round_trip)
{
	struct journal_entry e;
	size_t len;
	char *text = journal_encode(ID, "a name.bin", 4242, nodes, addrs, 3,
	    &len);

	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_int_eq(journal_decode(text, len, &e), 0);
	ck_assert_str_eq(e.je_id, ID);
	ck_assert_str_eq(e.je_name, "a name.bin");
	ck_assert_int_eq(e.je_pid, 4242);
	ck_assert_uint_eq(e.je_nstores, 3);
	ck_assert_str_eq(e.je_node[2], "s2");
	ck_assert_str_eq(e.je_addr[2], "[::1]:3");
	free(text);
}
END_TEST

START_TEST(test_refusals)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"id\":\"x\",\"name\":\"n\",\"pid\":1,\"stores\":[]}",
		"{\"id\":\"" ID "\",\"name\":\"a/b\",\"pid\":1,\"stores\":[]}",
		"{\"id\":\"" ID "\",\"name\":\"n\",\"pid\":\"1\",\"stores\":[]}",
		"{\"id\":\"" ID "\",\"name\":\"n\",\"pid\":1,\"stores\":[[1,2]]}",
		"{\"id\":\"" ID "\",\"name\":\"n\",\"pid\":1,\"stores\":{}}",
		"{\"id\":\"" ID "\",\"id\":\"" ID "\",\"name\":\"n\",\"pid\":1,"
		    "\"stores\":[]}",
	};
	struct journal_entry e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(journal_decode(bad[i], strlen(bad[i]), &e) == -1,
		    "accepted: %s", bad[i]);
}
END_TEST

int
main(void)
{
	check_main_tcase("journal", NULL, NULL, CHECK_MAIN_TESTS(
	    test_round_trip,
	    test_refusals));
	return check_main_run();
}
