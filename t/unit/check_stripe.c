/*
 * check_stripe.c - what a node's processes share about striping: the
 * suspects a read names for the scrubber, taken in order, each once,
 * the last STRIPE_SUSPECTS when more came since the last look, a name
 * too long left out.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "stripe/stripe.h"

START_TEST(test_suspects)
{
	struct stripe_shared *ss = stripe_shared_create();
	char out[STRIPE_SUSPECTS][STRIPE_SUSPECT_NAME], name[64];
	char longname[STRIPE_SUSPECT_NAME + 1];
	uint64_t seq = 0;
	unsigned i;

	ck_assert_ptr_nonnull(ss);
	ck_assert_uint_eq(stripe_suspects_since(ss, &seq, out), 0);
	stripe_suspect(ss, "a.1");
	stripe_suspect(ss, "b.2");
	ck_assert_uint_eq(stripe_suspects_since(ss, &seq, out), 2);
	ck_assert_str_eq(out[0], "a.1");
	ck_assert_str_eq(out[1], "b.2");
	ck_assert_uint_eq(stripe_suspects_since(ss, &seq, out), 0);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	stripe_suspect(ss, longname);
	ck_assert_uint_eq(stripe_suspects_since(ss, &seq, out), 0);
	/* More than the ring holds since the last look: the last ones. */
	for (i = 0; i < STRIPE_SUSPECTS + 3; i++) {
		snprintf(name, sizeof(name), "p.%u", i);
		stripe_suspect(ss, name);
	}
	ck_assert_uint_eq(stripe_suspects_since(ss, &seq, out),
	    STRIPE_SUSPECTS);
	ck_assert_str_eq(out[0], "p.3");
	snprintf(name, sizeof(name), "p.%u", STRIPE_SUSPECTS + 2);
	ck_assert_str_eq(out[STRIPE_SUSPECTS - 1], name);
}
END_TEST

int
main(void)
{
	check_main_tcase("stripe", NULL, NULL, CHECK_MAIN_TESTS(
	    test_suspects));
	return check_main_run();
}
