/*
 * fuzz_manifest.c - libFuzzer driver for src/stripe/manifest.c, the
 * decoder of the manifests a store receives in a commit and reads back
 * from its disk, and a front reads from its own.
 *
 * The input is a manifest's text. Besides crashes, leaks and UB, the
 * driver checks decode's contract: a refusal leaves the manifest zeroed
 * with a reason on one line; a manifest taken has a valid id, name and
 * origin, a block within bounds, 2 to CONFIG_STRIPE_PARTS_MAX parts on
 * distinct valid nodes whose sizes are the layout's and add up to the
 * size, each found by manifest_part_of(); and it survives a round trip:
 * it encodes within MANIFEST_MAX, the encoding decodes to the same
 * manifest, and encodes again to the same bytes (the encoding is
 * canonical and writes every field, but a generation of 0).
 * Seeds: t/fuzz/corpus/manifest/ (manifests written by shoald),
 * dictionary: t/fuzz/manifest.dict.
 *
 * Single-threaded; built with -fsanitize=fuzzer,address,undefined.
 */
#include "fuzz_common.h"
#include "store/name.h"
#include "stripe/layout.h"
#include "stripe/manifest.h"

static void
check_taken(const struct manifest *m)
{
	struct layout l = manifest_layout(m);
	uint64_t sum = 0;
	unsigned i, j;

	CHECK(manifest_id_valid(m->m_id, strlen(m->m_id)));
	CHECK(m->m_name_len == strlen(m->m_name));
	CHECK(name_is_valid(m->m_name, m->m_name_len));
	CHECK(member_name_valid(m->m_origin, MEMBER_NAME_MAX));
	CHECK(m->m_block >= MANIFEST_BLOCK_MIN &&
	    m->m_block <= MANIFEST_BLOCK_MAX);
	CHECK(m->m_nparts >= 2 && m->m_nparts <= CONFIG_STRIPE_PARTS_MAX);
	CHECK(l.l_size == m->m_size && l.l_block == m->m_block &&
	    l.l_parts == m->m_nparts);
	for (i = 0; i < m->m_nparts; i++) {
		const struct manifest_part *p = &m->m_parts[i];

		CHECK(member_name_valid(p->mp_node, MEMBER_NAME_MAX));
		CHECK(p->mp_size == layout_part_size(&l, i));
		CHECK(manifest_part_of(m, p->mp_node) == (int)i);
		for (j = 0; j < i; j++)
			CHECK(strcmp(m->m_parts[j].mp_node, p->mp_node) != 0);
		/* Parts differ by at most one block. */
		CHECK(p->mp_size <= m->m_parts[0].mp_size &&
		    m->m_parts[0].mp_size - p->mp_size <= m->m_block);
		sum += p->mp_size;
	}
	CHECK(sum == m->m_size);
	CHECK(manifest_part_of(m, "no such node here") == -1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct manifest zero;
	struct manifest m, m2;
	const char *why = NULL;
	char *text, *text2, *copy;
	size_t len, len2;

	copy = fuzz_dup(data, size);
	if (manifest_decode(copy, size, &m, &why) == -1) {
		CHECK(memcmp(&m, &zero, sizeof(m)) == 0);
		CHECK(why != NULL && *why != '\0');
		CHECK(strchr(why, '\n') == NULL && strchr(why, '\r') == NULL);
		free(copy);
		return 0;
	}
	free(copy);
	check_taken(&m);
	text = manifest_encode(&m, &len);
	CHECK(text != NULL && len == strlen(text) && len <= MANIFEST_MAX);
	CHECK(manifest_decode(text, len, &m2, &why) == 0);
	CHECK(memcmp(&m, &m2, sizeof(m)) == 0);
	text2 = manifest_encode(&m2, &len2);
	CHECK(text2 != NULL && len2 == len && memcmp(text, text2, len) == 0);
	free(text);
	free(text2);
	return 0;
}
