/*
 * check_stripe_move.c - the record of a move's switch: the round trip
 * (whether the origin took it included),
 * and the decoder refusing what is not a switch (a manifest of
 * generation 0, an index out of range, a part that does not move).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "stripe/move.h"

#define BLOCK (64 * 1024)

static void
make(struct manifest *m, uint64_t gen)
{
	struct layout l;
	unsigned i;

	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(manifest_id_new(m->m_id), 0);
	strcpy(m->m_name, "obj");
	m->m_name_len = 3;
	m->m_size = 6 * BLOCK + 5;
	m->m_block = BLOCK;
	strcpy(m->m_origin, "front");
	m->m_stamp = 99;
	m->m_nparts = 6;
	m->m_gen = gen;
	l = manifest_layout(m);
	for (i = 0; i < 6; i++) {
		snprintf(m->m_parts[i].mp_node, MEMBER_NAME_MAX, "s%u", i);
		m->m_parts[i].mp_size = layout_part_size(&l, i);
	}
}

static char *
record(const char *from, unsigned index, const struct manifest *m,
    size_t *len)
{
	char *text = manifest_encode(m, len), *entry;

	ck_assert_ptr_nonnull(text);
	entry = move_entry_encode(from, index, index == 2, text, len);
	ck_assert_ptr_nonnull(entry);
	free(text);
	return entry;
}

START_TEST(test_round_trip)
{
	struct manifest m, back;
	char from[MEMBER_NAME_MAX];
	unsigned index = 9;
	bool switched = false;
	size_t len;
	char *text;

	make(&m, 4);
	strcpy(m.m_parts[2].mp_node, "s7");
	text = record("s2", 2, &m, &len);
	ck_assert_int_eq(move_entry_decode(text, len, from, &index, &switched,
	    &back), 0);
	ck_assert_str_eq(from, "s2");
	ck_assert_uint_eq(index, 2);
	ck_assert(switched);
	ck_assert_int_eq(memcmp(&m, &back, sizeof(m)), 0);
	free(text);
	/* Healing has no store to delete from. */
	text = record("", 2, &m, &len);
	ck_assert_int_eq(move_entry_decode(text, len, from, &index, &switched,
	    &back), 0);
	ck_assert_str_eq(from, "");
	free(text);
}
END_TEST

START_TEST(test_refusals)
{
	struct manifest m, back;
	char from[MEMBER_NAME_MAX];
	unsigned index;
	bool switched;
	size_t len;
	char *text;

	make(&m, 0);			/* no switch is of generation 0 */
	text = record("s9", 1, &m, &len);
	ck_assert_int_eq(move_entry_decode(text, len, from, &index, &switched,
	    &back), -1);
	free(text);
	make(&m, 1);
	text = record("s9", 6, &m, &len);	/* out of range */
	ck_assert_int_eq(move_entry_decode(text, len, from, &index, &switched,
	    &back), -1);
	free(text);
	text = record("s1", 1, &m, &len);	/* the part stays at s1 */
	ck_assert_int_eq(move_entry_decode(text, len, from, &index, &switched,
	    &back), -1);
	free(text);
	text = record("a b", 1, &m, &len);	/* not a node's name */
	ck_assert_int_eq(move_entry_decode(text, len, from, &index, &switched,
	    &back), -1);
	free(text);
	ck_assert_int_eq(move_entry_decode("{}", 2, from, &index, &switched,
	    &back), -1);
	text = "{\"from\":\"s9\",\"index\":1,\"switched\":false,"
	    "\"manifest\":\"{}\"}";
	ck_assert_int_eq(move_entry_decode(text, strlen(text), from, &index,
	    &switched, &back), -1);
}
END_TEST

int
main(void)
{
	check_main_tcase("move", NULL, NULL, CHECK_MAIN_TESTS(
	    test_round_trip,
	    test_refusals));
	return check_main_run();
}
