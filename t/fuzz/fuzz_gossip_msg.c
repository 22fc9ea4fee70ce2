/*
 * fuzz_gossip_msg.c - libFuzzer driver for src/cluster/gossip_msg.c.
 *
 * The input is a POST /_/gossip body. Besides crashes, leaks and UB, the
 * driver checks decode's contract: a refusal leaves the message empty
 * with a reason on one line; a message taken holds no more lines than
 * allowed, valid names and known states (and, in the catalogue's part,
 * no more wants, chunks and facts than allowed, valid file names, seqs
 * within their chunk), and survives a round trip: it
 * encodes, the encoding decodes, and encodes again to the same bytes (the
 * encoding is canonical, and writes every field, so equal bytes are equal
 * messages), within gossip_body_max(). The first byte picks the line
 * limit (0 to 6, or 1024), so that the limit is reached.
 * Seeds: t/fuzz/corpus/gossip_msg/, dictionary: t/fuzz/gossip_msg.dict.
 *
 * Single-threaded; built with -fsanitize=fuzzer,address,undefined.
 */
#include "cluster/gossip_msg.h"
#include "fuzz_common.h"
#include "store/name.h"

/* The catalogue's part: within its bounds, each chunk's facts next in
 * gm_facts, valid names, seqs in (from, to]. */
static void
check_cat(const struct gossip_msg *m)
{
	size_t i, k, nfacts = 0;

	CHECK(m->gm_nwants <= GOSSIP_WANTS_MAX);
	CHECK(m->gm_nchunks <= GOSSIP_WANTS_MAX);
	CHECK(m->gm_nfacts <= GOSSIP_FACTS_MAX);
	CHECK((m->gm_wants == NULL) == (m->gm_nwants == 0));
	CHECK((m->gm_chunks == NULL) == (m->gm_nchunks == 0));
	CHECK((m->gm_facts == NULL) == (m->gm_nfacts == 0));
	for (i = 0; i < m->gm_nwants; i++)
		CHECK(member_name_valid(m->gm_wants[i].cw_owner,
		    MEMBER_NAME_MAX));
	for (i = 0; i < m->gm_nchunks; i++) {
		const struct gossip_chunk *gc = &m->gm_chunks[i];

		CHECK(member_name_valid(gc->gc_chunk.cc_owner,
		    MEMBER_NAME_MAX));
		CHECK(gc->gc_chunk.cc_from <= gc->gc_chunk.cc_to);
		CHECK(gc->gc_nfacts == 0 || gc->gc_facts == m->gm_facts +
		    nfacts);
		for (k = 0; k < gc->gc_nfacts; k++) {
			const struct cat_fact_msg *f = &gc->gc_facts[k];

			CHECK(name_is_valid(f->cm_name, f->cm_name_len));
			CHECK(f->cm_name[f->cm_name_len] == '\0');
			CHECK(member_name_valid(f->cm_origin,
			    MEMBER_NAME_MAX));
			CHECK(f->cm_seq > gc->gc_chunk.cc_from &&
			    f->cm_seq <= gc->gc_chunk.cc_to);
		}
		nfacts += gc->gc_nfacts;
	}
	CHECK(nfacts == m->gm_nfacts);
}

static void
check_taken(const struct gossip_msg *m, size_t max_lines)
{
	size_t i;

	CHECK(m->gm_ndigest <= max_lines && m->gm_nnews <= max_lines);
	CHECK((m->gm_digest == NULL) == (m->gm_ndigest == 0));
	CHECK((m->gm_news == NULL) == (m->gm_nnews == 0));
	CHECK(strnlen(m->gm_cluster, sizeof(m->gm_cluster)) > 0 &&
	    strnlen(m->gm_cluster, sizeof(m->gm_cluster)) <
	    sizeof(m->gm_cluster));
	CHECK(member_name_valid(m->gm_from, MEMBER_NAME_MAX));
	for (i = 0; i < m->gm_ndigest; i++) {
		CHECK(member_name_valid(m->gm_digest[i].md_name,
		    MEMBER_NAME_MAX));
		CHECK(m->gm_digest[i].md_state < MEMBER_STATES);
	}
	for (i = 0; i < m->gm_nnews; i++) {
		CHECK(member_name_valid(m->gm_news[i].mn_facts.mf_name,
		    MEMBER_NAME_MAX));
		CHECK(member_name_valid(m->gm_news[i].mn_facts.mf_addr,
		    MEMBER_ADDR_MAX));
		CHECK(m->gm_news[i].mn_state < MEMBER_STATES);
	}
	check_cat(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct gossip_msg zero;
	struct gossip_msg m, m2;
	struct buf b1 = { 0 }, b2 = { 0 };
	size_t max_lines = size > 0 ? data[0] % 8 : 0;
	const char *why = NULL;
	char *body;

	if (max_lines == 7)
		max_lines = 1024;
	body = fuzz_dup(data, size);
	if (gossip_msg_decode(body, size, max_lines, &m, &why) == -1) {
		CHECK(memcmp(&m, &zero, sizeof(m)) == 0);
		CHECK(why != NULL && strncmp(why, "gossip: ", 8) == 0);
		CHECK(strchr(why, '\n') == NULL && strchr(why, '\r') == NULL);
		free(body);
		return 0;
	}
	free(body);
	check_taken(&m, max_lines);
	CHECK(gossip_msg_encode(&m, &b1) == 0);
	CHECK(b1.len <= gossip_body_max(max_lines));
	CHECK(gossip_msg_decode(b1.data, b1.len, max_lines, &m2, &why) == 0);
	CHECK(m2.gm_ndigest == m.gm_ndigest && m2.gm_nnews == m.gm_nnews);
	CHECK(m2.gm_nwants == m.gm_nwants && m2.gm_nchunks == m.gm_nchunks &&
	    m2.gm_nfacts == m.gm_nfacts && m2.gm_wall_ms == m.gm_wall_ms);
	CHECK(strcmp(m2.gm_cluster, m.gm_cluster) == 0);
	CHECK(gossip_msg_encode(&m2, &b2) == 0);
	CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
	gossip_msg_free(&m);
	gossip_msg_free(&m2);
	buf_free(&b1);
	buf_free(&b2);
	return 0;
}
