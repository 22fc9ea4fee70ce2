/*
 * check_stripe_heal.c - healing's choice: the lost parts (marked
 * missing, or on a node not alive), and the manifest that follows a
 * rebuild (next generation, the lowest lost part on its new store, the
 * others still missing; valid, as the stores decode it), none when more
 * parts are lost than the parity rebuilds.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "stripe/heal.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"

/* 4 data parts and 2 parity parts on s0..s5. */
static void
make(struct manifest *m)
{
	struct layout l;
	unsigned i;

	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(manifest_id_new(m->m_id), 0);
	strcpy(m->m_name, "obj");
	m->m_name_len = 3;
	m->m_size = 300000;
	m->m_block = 65536;
	strcpy(m->m_origin, "front");
	m->m_nparts = 6;
	m->m_parity = 2;
	l = manifest_layout(m);
	for (i = 0; i < 6; i++) {
		snprintf(m->m_parts[i].mp_node, MEMBER_NAME_MAX, "s%u", i);
		m->m_parts[i].mp_size = layout_part_size(&l, i < 4 ? i : 0);
	}
}

/* Alive: the nodes named in the NULL-terminated list arg. */
static bool
alive(const void *arg, const char *node)
{
	const char *const *n;

	for (n = arg; *n != NULL; n++)
		if (strcmp(*n, node) == 0)
			return true;
	return false;
}

START_TEST(test_lost_parts)
{
	static const char *const all[] = { "s0", "s1", "s2", "s3", "s4", "s5",
	    "s6", NULL };
	static const char *const two_dead[] = { "s0", "s2", "s3", "s5", "s6",
	    NULL };
	struct manifest m;

	make(&m);
	ck_assert_uint_eq(heal_lost(&m, alive, all), 0);
	ck_assert_uint_eq(heal_lost(&m, alive, two_dead), 1u << 1 | 1u << 4);
	m.m_missing = 1u << 3;
	ck_assert_uint_eq(heal_lost(&m, alive, all), 1u << 3);
	ck_assert_uint_eq(heal_lost(&m, alive, two_dead),
	    1u << 1 | 1u << 3 | 1u << 4);
}
END_TEST

START_TEST(test_the_next_manifest)
{
	struct manifest m, next, back;
	unsigned index = 99;
	size_t len;
	char *text;

	make(&m);
	m.m_gen = 4;
	m.m_missing = 1u << 5;
	ck_assert_int_eq(heal_next(&m, 1u << 2 | 1u << 5, "s9", &next,
	    &index), 0);
	ck_assert_uint_eq(index, 2);
	ck_assert_uint_eq(next.m_gen, 5);
	ck_assert_str_eq(next.m_parts[2].mp_node, "s9");
	ck_assert_uint_eq(next.m_missing, 1u << 5);
	ck_assert_str_eq(next.m_parts[5].mp_node, "s5");
	text = manifest_encode(&next, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(manifest_decode(text, len, &back, NULL), 0);
	ck_assert_int_eq(memcmp(&back, &next, sizeof(back)), 0);
	free(text);
	/* The last lost part: nothing missing after it. */
	ck_assert_int_eq(heal_next(&next, 1u << 5, "s8", &back, &index), 0);
	ck_assert_uint_eq(index, 5);
	ck_assert_uint_eq(back.m_missing, 0);
	ck_assert_uint_eq(back.m_gen, 6);
	/* Nothing lost, more than the parity, or a part past the last. */
	ck_assert_int_eq(heal_next(&m, 0, "s9", &next, &index), -1);
	ck_assert_int_eq(heal_next(&m, 7, "s9", &next, &index), -1);
	ck_assert_int_eq(heal_next(&m, 1u << 6, "s9", &next, &index), -1);
}
END_TEST

int
main(void)
{
	check_main_tcase("heal", NULL, NULL, CHECK_MAIN_TESTS(
	    test_lost_parts,
	    test_the_next_manifest));
	return check_main_run();
}
