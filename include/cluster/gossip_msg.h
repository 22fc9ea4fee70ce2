/*
 * gossip_msg.h - one gossip message as JSON: what POST /_/gossip carries,
 * and what its answer carries back (the same shape both ways). The rules
 * that make and merge the content are members.h's; this is only the wire.
 *
 * The format (compact, keys in this order; doc/architecture.md quotes it):
 *
 *   {"v":1,"cluster":"<name>","from":"<node name>","range":[<lo>,<hi>],
 *    "digest":[["<name>",<incarnation>,<version>,"<state>",<state_inc>],...],
 *    "news":[{"name":"<name>","addr":"<host:port>","inc":<incarnation>,
 *             "ver":<version>,"hb":<heartbeat>,"store":true,"cap":<bytes>,
 *             "used":<bytes>,"left":false,"state":"alive","sinc":<state_inc>,
 *             "cinc":<incarnation>,"cseq":<seq>},
 *            ...],
 *    "t":<wall ms>,
 *    "cat":{"want":[["<owner>",<inc>,<after>,<floor>],...],
 *           "chunks":[{"owner":"<name>","inc":<inc>,"from":<seq>,"to":<seq>,
 *                      "floor":<seq>,
 *                      "facts":[["<file name>","<digest>",<size>,"<origin>",
 *                                <hlc>,<seq>,<gone>],...]},...]}}
 *
 * - "v" is 1. "cluster" is 1 to 64 bytes, no control byte; "from",
 *   every name and every address pass member_name_valid().
 * - A digest line is an array (a round stays small): a member's name, the
 *   (incarnation, version) of its facts the sender holds, and the sender's
 *   opinion of it: the state's name (member_state_name(): "alive",
 *   "suspect", "dead", "left") and the incarnation the opinion is about.
 *   An answer may carry an empty digest.
 * - "range" is the slice of member keys the digest covers (members.h),
 *   two integers 0 <= lo <= hi <= 2^32 - 1; absent, every key (0 to
 *   2^32 - 1), which is what an answer says.
 * - A news entry is one member's facts (struct member_facts) and the
 *   sender's opinion of it (state, sinc). "cinc" and "cseq" (where the
 *   member's catalogue is: its incarnation and last seq) are written
 *   when not 0, and are 0 when absent.
 * - "t" is the sender's wall clock in ms when it wrote a request (its
 *   receiver compares it with its own); 0 or absent: not said.
 * - "cat" speaks of the catalogue (cluster/catalogue.h); absent, or
 *   either of its lists absent, is none. A request carries "want", up to
 *   GOSSIP_WANTS_MAX struct cat_want as [owner, inc, after, floor] (a
 *   floor absent is 0); an answer carries "chunks", up to
 *   GOSSIP_WANTS_MAX struct cat_chunk with their facts, up to
 *   GOSSIP_FACTS_MAX in all chunks. A chunk has 0 <= from <= to, and
 *   every fact of it a seq in (from, to]. A fact is an array of a file
 *   name, percent-encoded (store/name.h name_encode(): any valid name is
 *   then ASCII) and valid once decoded; its digest, 32 hex digits; its
 *   size; its origin node; the origin's stamp (cluster/hlc.h); the
 *   fact's seq; and 1 when it is a tombstone, else 0. Owners and origins
 *   pass member_name_valid().
 * - Numbers are integers from 0 to 2^63 - 1: no fraction, no exponent, not
 *   negative, no quotes. "store" and "left" are true or false.
 * - Unknown keys are ignored, and items past the fifth of a digest line,
 *   the fourth of a want and the seventh of a fact, so that a later
 *   version may add to the format.
 * - The text is UTF-8, no string holds a NUL, no key appears twice in an
 *   object, and nothing is nested deeper than GOSSIP_MAX_DEPTH arrays and
 *   objects (the message needs 6).
 *
 * Any process, any thread; no logging, no shared state (the reason of a
 * refusal is kept per thread).
 */
#ifndef SHOAL_CLUSTER_GOSSIP_MSG_H
#define SHOAL_CLUSTER_GOSSIP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/catalogue.h"
#include "cluster/members.h"
#include "core/buf.h"

#define GOSSIP_VERSION 1
#define GOSSIP_CLUSTER_MAX 65		/* a cluster's name, NUL included */
#define GOSSIP_MAX_DEPTH 7		/* arrays and objects inside each other */
#define GOSSIP_WANTS_MAX 32		/* wants in a request, chunks in an answer */
#define GOSSIP_FACTS_MAX 8192		/* facts in all chunks of an answer */
/* The catalogue's part of an answer: its chunks' facts, counted as
 * catalogue_delta_locked() counts them (CATALOGUE_FACT_WIRE_BYTES and the
 * name's length each). Their real text is at most 3 times that. */
#define GOSSIP_CAT_BUDGET (256 * 1024)

/* A chunk as a message carries it: its facts follow in gm_facts. */
struct gossip_chunk {
	struct cat_chunk gc_chunk;
	struct cat_fact_msg *gc_facts;	/* into gm_facts */
	size_t gc_nfacts;
};

struct gossip_msg {
	char gm_cluster[GOSSIP_CLUSTER_MAX];
	char gm_from[MEMBER_NAME_MAX];
	struct member_range gm_range;	/* of the digest */
	struct member_digest *gm_digest;
	size_t gm_ndigest;
	struct member_news *gm_news;
	size_t gm_nnews;
	uint64_t gm_wall_ms;		/* "t"; 0: absent */
	struct cat_want *gm_wants;
	size_t gm_nwants;
	struct gossip_chunk *gm_chunks;
	size_t gm_nchunks;
	struct cat_fact_msg *gm_facts;	/* of every chunk, in order */
	size_t gm_nfacts;
};

/*
 * Appends the compact JSON of m to out. Returns 0, or -1 (out as it was)
 * when m cannot be written as a valid message: a cluster name empty, too
 * long or with a control byte, a name or address that member_name_valid()
 * refuses, a state unknown, a number above 2^63 - 1, more than
 * GOSSIP_WANTS_MAX wants or chunks, a chunk whose facts are not in
 * (from, to], a file name name_is_valid() refuses (or jansson is out of
 * memory; buf_append() aborts when it is). Chunks' facts are read from
 * gc_facts; gm_facts is not read.
 */
int gossip_msg_encode(const struct gossip_msg *m, struct buf *out);

/*
 * Reads the message in body[0..len) (no NUL needed) into out, which it
 * fills whole: the arrays are allocated (NULL when empty), for
 * gossip_msg_free(). More than max_lines digest lines, or more than
 * max_lines news entries, is refused, and more wants, chunks or facts
 * than the format allows.
 *
 * Returns 0, or -1 with out zeroed (nothing allocated) and, when why is
 * not NULL, *why set to a reason on one line, fit for a 400 answer and a
 * log ("gossip: news[3].inc is not a number"). The reason's text stays
 * valid until the calling thread's next decode.
 */
int gossip_msg_decode(const char *body, size_t len, size_t max_lines,
    struct gossip_msg *out, const char **why);

/* Frees what decode allocated; m is left empty. */
void gossip_msg_free(struct gossip_msg *m);

/*
 * The largest body worth reading for a table of max_members: a digest line
 * and a news entry per member, each at its longest, plus a margin (a
 * quarter more, and 4 KiB), plus the catalogue's part at its longest
 * (the wants, and 3 times GOSSIP_CAT_BUDGET with the chunks' heads and a
 * fact more per chunk). The handler answers 413 above it.
 */
size_t gossip_body_max(size_t max_members);

#endif
