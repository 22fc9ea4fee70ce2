/*
 * check_stripe_manifest.c - manifests: ids, the text round trip, the
 * generation (left out at 0), and the strict decoder refusing every malformed or inconsistent manifest.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "stripe/manifest.h"

#define BLOCK (64 * 1024)

/* A valid manifest of `size` bytes over `parts` data parts and `parity`
 * parity parts. */
static void
make_parity(struct manifest *m, uint64_t size, unsigned parts,
    unsigned parity)
{
	struct layout l;
	unsigned i;

	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(manifest_id_new(m->m_id), 0);
	strcpy(m->m_name, "big file.bin");
	m->m_name_len = strlen(m->m_name);
	m->m_size = size;
	m->m_digest.d_hi = 0x0123456789abcdefULL;
	m->m_digest.d_lo = size;
	m->m_block = BLOCK;
	strcpy(m->m_origin, "front:8080");
	m->m_stamp = (uint64_t)1800000000000 << 16 | 7;
	m->m_nparts = parts + parity;
	m->m_parity = parity;
	l = manifest_layout(m);
	for (i = 0; i < parts + parity; i++) {
		snprintf(m->m_parts[i].mp_node, MEMBER_NAME_MAX,
		    "store-%u:80%02u", i, i);
		m->m_parts[i].mp_size = layout_part_size(&l, i < parts ? i : 0);
		m->m_parts[i].mp_digest.d_hi = i;
		m->m_parts[i].mp_digest.d_lo = ~(uint64_t)i;
	}
}

static void
make(struct manifest *m, uint64_t size, unsigned parts)
{
	make_parity(m, size, parts, 0);
}

START_TEST(test_ids)
{
	char a[MANIFEST_ID_LEN + 1], b[MANIFEST_ID_LEN + 1];

	ck_assert_int_eq(manifest_id_new(a), 0);
	ck_assert_int_eq(manifest_id_new(b), 0);
	ck_assert_str_ne(a, b);
	ck_assert(manifest_id_valid(a, strlen(a)));
	ck_assert(!manifest_id_valid(a, strlen(a) - 1));
	ck_assert(!manifest_id_valid("0123456789ABCDEF0123456789abcdef", 32));
	ck_assert(!manifest_id_valid("0123456789abcdef0123456789abcde/", 32));
	ck_assert(!manifest_id_valid("../3456789abcdef0123456789abcdef", 32));
}
END_TEST

START_TEST(test_round_trip)
{
	static const uint64_t sizes[] = { 0, 1, 7, BLOCK + 1, 6 * BLOCK - 1,
	    10ULL << 30 };
	struct manifest m, back;
	const char *why = NULL;
	unsigned i, parts;
	size_t len;
	char *text;

	for (parts = 2; parts <= 16; parts += 7)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			make_parity(&m, sizes[i], parts, parts < 16 ?
			    (unsigned)i % 5 : 0);
			m.m_missing = m.m_parity > 0 ? 1u << (parts - 1) : 0;
			text = manifest_encode(&m, &len);
			ck_assert_ptr_nonnull(text);
			ck_assert_uint_eq(len, strlen(text));
			ck_assert_int_eq(manifest_decode(text, len, &back,
			    &why), 0);
			ck_assert_int_eq(memcmp(&m, &back, sizeof(m)), 0);
			ck_assert_int_eq(manifest_part_of(&back,
			    "store-1:8001"), 1);
			ck_assert_int_eq(manifest_part_of(&back, "nobody"),
			    -1);
			free(text);
		}
}
END_TEST

/* The generation: left out at 0, written and read back after. */
START_TEST(test_generation)
{
	struct manifest m, back;
	const char *why = NULL;
	char *text, edited[MANIFEST_MAX];
	size_t len;

	make(&m, 6 * BLOCK + 1, 6);
	text = manifest_encode(&m, &len);
	ck_assert_ptr_null(strstr(text, "\"gen\""));
	free(text);
	m.m_gen = 3;
	text = manifest_encode(&m, &len);
	ck_assert_ptr_nonnull(strstr(text, ",\"gen\":3}"));
	ck_assert_int_eq(manifest_decode(text, len, &back, &why), 0);
	ck_assert_uint_eq(back.m_gen, 3);
	ck_assert_int_eq(memcmp(&m, &back, sizeof(m)), 0);
	/* 0 is never written; a negative or a string never read. */
	snprintf(edited, sizeof(edited), "%.*s0}", (int)(len - 2), text);
	ck_assert_int_eq(manifest_decode(edited, strlen(edited), &back, &why),
	    -1);
	snprintf(edited, sizeof(edited), "%.*s-1}", (int)(len - 2), text);
	ck_assert_int_eq(manifest_decode(edited, strlen(edited), &back, &why),
	    -1);
	snprintf(edited, sizeof(edited), "%.*s\"3\"}", (int)(len - 2), text);
	ck_assert_int_eq(manifest_decode(edited, strlen(edited), &back, &why),
	    -1);
	free(text);
}
END_TEST

/* Each text is the valid manifest's with one thing changed. */
START_TEST(test_refusals)
{
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "\"id\":\"", "\"id\":\"X" },
		{ "\"id\":", "\"id\":\"0123\",\"x\":" },
		{ "\"name\":\"big file.bin\"", "\"name\":\"a/b\"" },
		{ "\"name\":\"big file.bin\"", "\"name\":\".hidden\"" },
		{ "\"name\":\"big file.bin\"", "\"name\":\"\"" },
		{ "\"name\":\"big file.bin\"", "\"name\":\"a\\u0000b\"" },
		{ "\"name\":", "\"name\":\"x\",\"name\":" },
		{ "\"size\":393217", "\"size\":393218" },
		{ "\"size\":393217", "\"size\":-1" },
		{ "\"size\":393217", "\"size\":\"393217\"" },
		{ "\"block\":65536", "\"block\":65535" },
		{ "\"block\":65536", "\"block\":1.5" },
		{ "\"digest\":\"0123", "\"digest\":\"0x23" },
		{ "\"node\":\"store-1:8001\"", "\"node\":\"store-0:8000\"" },
		{ "\"node\":\"store-1:8001\"", "\"node\":\"a b\"" },
		{ "\"node\":\"store-1:8001\",", "" },
		{ "\"node\":\"store-1:8001\",", "\"extra\":1,"
		    "\"node\":\"store-1:8001\"," },
		{ "\"size\":65536,", "\"size\":65537," },
		{ "{\"id\"", "[{\"id\"" },
		{ "\"origin\":\"front:8080\"", "\"origin\":\"a\\\"b\"" },
		{ "\"origin\":\"front:8080\",", "" },
		{ "\"stamp\":", "\"stamp\":-" },
		{ "\"parity\":2", "\"parity\":5" },
		{ "\"parity\":2", "\"parity\":-1" },
		{ "\"parity\":2,", "" },
		{ "\"missing\":[1,7]", "\"missing\":[1,7,3]" },
		{ "\"missing\":[1,7]", "\"missing\":[1,1]" },
		{ "\"missing\":[1,7]", "\"missing\":[8]" },
		{ "\"missing\":[1,7]", "\"missing\":[\"1\"]" },
		{ "\"missing\":[1,7]", "\"missing\":7" },
		{ "\"missing\":[1,7]", "\"missing\":[]" },
		/* Left out when none, never written as none. */
		{ "\"parity\":2,", "\"parity\":0,\"missing\":[]," },
		/* A parity part shorter than data part 0. */
		{ "\"size\":65537,\"digest\":\"0000000000000006",
		  "\"size\":65536,\"digest\":\"0000000000000006" },
	};
	struct manifest m, back;
	char *text, edited[MANIFEST_MAX];
	const char *why, *at;
	size_t len, i, k;

	make_parity(&m, 6 * BLOCK + 1, 6, 2);
	m.m_missing = 1u << 1 | 1u << 7;
	text = manifest_encode(&m, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(manifest_decode(text, len, &back, &why), 0);
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		at = strstr(text, edits[i].from);
		ck_assert_msg(at != NULL, "edit %zu finds nothing", i);
		k = (size_t)(at - text);
		snprintf(edited, sizeof(edited), "%.*s%s%s", (int)k, text,
		    edits[i].to, at + strlen(edits[i].from));
		why = NULL;
		ck_assert_msg(manifest_decode(edited, strlen(edited), &back,
		    &why) == -1, "accepted: %s", edited);
		ck_assert_ptr_nonnull(why);
	}
	/* A truncated text, and a huge one. */
	ck_assert_int_eq(manifest_decode(text, len - 1, &back, &why), -1);
	ck_assert_int_eq(manifest_decode(text, MANIFEST_MAX + 1, &back, &why),
	    -1);
	/* One part is too few; seventeen too many. */
	make(&m, 10, 2);
	m.m_nparts = 1;
	free(text);
	text = manifest_encode(&m, &len);
	ck_assert_int_eq(manifest_decode(text, len, &back, &why), -1);
	free(text);
	/* Parity that leaves one data part. */
	make_parity(&m, 10, 2, 1);
	m.m_nparts = 2;
	text = manifest_encode(&m, &len);
	ck_assert_int_eq(manifest_decode(text, len, &back, &why), -1);
	free(text);
}
END_TEST

int
main(void)
{
	check_main_tcase("manifest", NULL, NULL, CHECK_MAIN_TESTS(
	    test_ids,
	    test_round_trip,
	    test_generation,
	    test_refusals));
	return check_main_run();
}
