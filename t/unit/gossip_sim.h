/*
 * gossip_sim.h - a cluster of member tables (cluster/members.c) in one
 * process, on a virtual clock: every round, each node that is up ticks,
 * picks its targets as the agent does, and runs one exchange with each
 * (push with the digest, the answer back), over a network that loses a
 * share of the messages, delays some answers by a round, and can be cut
 * into two sides. The same rules as the daemon; only the wire is missing.
 *
 * Node i is named "n<i>", at "10.0.<i/256>.<i%256>:8080"; node 0 is the
 * seed. Everything is seeded: a run is the same every time.
 *
 * The catalogue (sim_cat_start): each node also has a catalogue table
 * (cluster/catalogue.c), and each exchange whose request and answer both
 * pass carries the catalogue's anti-entropy: the node that starts it asks
 * its target for what it lacks of every owner behind (catalogue_wants
 * from the owners' announced (incarnation, seq), which the daemon's
 * member facts carry; here read from the owners' tables), and applies
 * the chunks of the answer, at most SIM_CAT_BUDGET bytes of facts. An
 * answer gives only what its sender held when the round began (its
 * "horizon"), so that news moves one hop a round, as between processes.
 */
#ifndef SHOAL_T_GOSSIP_SIM_H
#define SHOAL_T_GOSSIP_SIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/members.h"

#define SIM_INTERVAL_MS 200
#define SIM_FANOUT 3
#define SIM_PUSH_MAX 64			/* news pushed per exchange */
#define SIM_ANSWER_MAX 256		/* news in one answer */
#define SIM_WALL0 1800000000000LL	/* a wall clock, in ms */

/* An answer on its way: the members (slots of the sender's table) whose
 * news it carries, read when it arrives. */
struct sim_answer {
	int sa_from, sa_to;
	size_t sa_n;
	uint32_t *sa_slots;
};

struct sim_node {
	struct members *sn_mt;
	bool sn_up;
	int sn_side;			/* for splits: links across are cut */
	/* this round: whom it talks to, and what it pushes */
	uint32_t sn_targets[8];
	size_t sn_ntargets;
	bool sn_seed;
	struct member_news *sn_push;
	size_t sn_npush;
	struct catalogue *sn_cat;	/* with sim_cat_start */
};

struct sim {
	int s_n;			/* nodes made */
	int s_cap;			/* tables' capacity */
	struct sim_node *s_nodes;
	int64_t s_now;			/* virtual monotonic ms */
	int s_round;
	unsigned s_loss_pct;		/* each message lost with this */
	unsigned s_delay_pct;		/* each answer a round late */
	bool s_split;			/* links between sides are cut */
	struct rng s_net;		/* the network's dice */
	struct rng s_rng;		/* the nodes' dice */
	struct members_params s_params;
	/* scratch */
	struct member_digest *s_digest;
	struct member_range s_range;	/* of s_digest */
	struct member_news *s_answer;
	struct sim_answer *s_answers;	/* due at the end of this round */
	size_t s_nanswers, s_answers_cap;
	struct sim_answer *s_late;	/* due at the end of the next one */
	size_t s_nlate, s_late_cap;
	int *s_order;
	/* what went over the wire, for the cost of a round */
	uint64_t s_sent_lines;		/* digest lines */
	uint64_t s_sent_news;		/* news entries, pushed or answered */
	uint64_t s_exchanges;
	/* the catalogue, with sim_cat_start */
	int s_cat_n;			/* nodes with a table */
	char (*s_cat_names)[16];	/* owner i is node i */
	const char **s_cat_owners;
	uint64_t *s_cat_inc, *s_cat_seq;	/* as the owners announce */
	uint64_t *s_horizon;		/* [node * n + owner]: seq held */
	struct cat_want *s_wants;
	struct cat_fact_msg *s_facts;
	uint64_t s_cat_bytes;		/* facts' and wants' wire bytes */
	uint64_t s_cat_facts;		/* facts sent */
	uint64_t s_cat_wants;		/* wants sent */
	uint64_t s_cat_conflicts;	/* on_conflict calls, all nodes */
};

#define SIM_CAT_BUDGET (256 * 1024)	/* facts' bytes in one answer */
#define SIM_CAT_FACTS_MAX 4096		/* facts in one answer */
#define SIM_WANT_BYTES 40		/* a want on the wire */

/* The bytes of a message's JSON (gossip_msg.h), near enough: a digest
 * line ["n123",1800000000000,123,"alive",1800000000000] and a news entry
 * with every field, as the daemon sends them for these names. */
#define SIM_LINE_BYTES 48
#define SIM_NEWS_BYTES 190
#define SIM_MESSAGE_BYTES 60

static void
sim_facts(int i, uint64_t inc, struct member_facts *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->mf_name, sizeof(f->mf_name), "n%d", i);
	snprintf(f->mf_addr, sizeof(f->mf_addr), "10.0.%d.%d:8080", i / 256,
	    i % 256);
	f->mf_incarnation = inc;
	f->mf_store = true;
}

static int
sim_node_of(const char *name)
{
	return atoi(name + 1);
}

static int64_t
sim_wall(const struct sim *s)
{
	return SIM_WALL0 + s->s_now;
}

/* Makes node i (up, knowing only itself). */
static void
sim_add(struct sim *s, int i)
{
	struct member_facts f;
	struct sim_node *sn = &s->s_nodes[i];

	sim_facts(i, (uint64_t)sim_wall(s), &f);
	sn->sn_mt = calloc(1, members_size((unsigned)s->s_cap));
	if (sn->sn_mt == NULL || members_init(sn->sn_mt, (unsigned)s->s_cap,
	    &f, &s->s_params, s->s_now) != 0)
		abort();
	sn->sn_up = true;
	if (i >= s->s_n)
		s->s_n = i + 1;
}

static void
sim_init(struct sim *s, int max_nodes, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->s_cap = max_nodes < MEMBERS_MIN ? MEMBERS_MIN : max_nodes;
	s->s_nodes = calloc((size_t)max_nodes, sizeof(*s->s_nodes));
	s->s_digest = calloc((size_t)s->s_cap, sizeof(*s->s_digest));
	s->s_answer = calloc(SIM_ANSWER_MAX, sizeof(*s->s_answer));
	s->s_order = calloc((size_t)max_nodes, sizeof(*s->s_order));
	s->s_params.mp_interval_ms = SIM_INTERVAL_MS;
	s->s_params.mp_forget_ms = 24 * 3600 * 1000LL;
	s->s_params.mp_max_skew_ms = 10000;
	s->s_now = 1000000;
	rng_seed(&s->s_net, seed);
	rng_seed(&s->s_rng, seed * 31 + 7);
}

/* Nodes 0..n-1, each knowing every other already (a converged cluster),
 * with nothing left to push. */
static void
sim_converged(struct sim *s, int n)
{
	struct member_news nw;
	int i, j;

	for (i = 0; i < n; i++)
		sim_add(s, i);
	for (i = 0; i < n; i++) {
		struct members *mt = s->s_nodes[i].sn_mt;

		for (j = 0; j < n; j++) {
			members_news_of(members_self(s->s_nodes[j].sn_mt), &nw);
			members_merge_locked(mt, &nw, s->s_now, sim_wall(s));
		}
		for (j = 0; j < s->s_cap; j++)
			members_at(mt, (uint32_t)j)->m_hot = 0;
	}
}

static void
sim_free(struct sim *s)
{
	size_t k;
	int i;

	for (i = 0; i < s->s_n; i++) {
		free(s->s_nodes[i].sn_mt);
		free(s->s_nodes[i].sn_push);
		free(s->s_nodes[i].sn_cat);
	}
	free(s->s_cat_names);
	free(s->s_cat_owners);
	free(s->s_cat_inc);
	free(s->s_cat_seq);
	free(s->s_horizon);
	free(s->s_wants);
	free(s->s_facts);
	for (k = 0; k < s->s_nanswers; k++)
		free(s->s_answers[k].sa_slots);
	for (k = 0; k < s->s_nlate; k++)
		free(s->s_late[k].sa_slots);
	free(s->s_answers);
	free(s->s_late);
	free(s->s_nodes);
	free(s->s_digest);
	free(s->s_answer);
	free(s->s_order);
}

static bool
sim_link(struct sim *s, int a, int b)
{
	if (!s->s_nodes[b].sn_up || !s->s_nodes[a].sn_up)
		return false;
	if (s->s_split && s->s_nodes[a].sn_side != s->s_nodes[b].sn_side)
		return false;
	return !rng_chance(&s->s_net, s->s_loss_pct, 100);
}

static void
sim_queue(struct sim_answer **q, size_t *n, size_t *cap,
    const struct sim_answer *a)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		*q = realloc(*q, *cap * sizeof(**q));
		if (*q == NULL)
			abort();
	}
	(*q)[(*n)++] = *a;
}

static void
sim_cat_conflict(void *arg, const char *name, size_t len,
    const struct digest *winner, const struct digest *loser)
{
	(void)name;
	(void)len;
	(void)winner;
	(void)loser;
	((struct sim *)arg)->s_cat_conflicts++;
}

/* Gives nodes 0..s_n-1 an empty catalogue each, sized for `objects`. */
static void
sim_cat_start(struct sim *s, uint64_t objects)
{
	struct catalogue_params p;
	int i, n = s->s_n;

	catalogue_params_for(&p, objects, (unsigned)n, 1);
	s->s_cat_n = n;
	s->s_cat_names = calloc((size_t)n, sizeof(*s->s_cat_names));
	s->s_cat_owners = calloc((size_t)n, sizeof(*s->s_cat_owners));
	s->s_cat_inc = calloc((size_t)n, sizeof(uint64_t));
	s->s_cat_seq = calloc((size_t)n, sizeof(uint64_t));
	s->s_horizon = calloc((size_t)n * (size_t)n, sizeof(uint64_t));
	s->s_wants = calloc((size_t)n, sizeof(*s->s_wants));
	s->s_facts = calloc(SIM_CAT_FACTS_MAX, sizeof(*s->s_facts));
	if (s->s_cat_names == NULL || s->s_cat_owners == NULL ||
	    s->s_cat_inc == NULL || s->s_cat_seq == NULL ||
	    s->s_horizon == NULL || s->s_wants == NULL || s->s_facts == NULL)
		abort();
	for (i = 0; i < n; i++) {
		snprintf(s->s_cat_names[i], sizeof(s->s_cat_names[i]), "n%d", i);
		s->s_cat_owners[i] = s->s_cat_names[i];
		s->s_nodes[i].sn_cat = calloc(1, catalogue_size(&p));
		if (s->s_nodes[i].sn_cat == NULL ||
		    catalogue_init(s->s_nodes[i].sn_cat, &p,
		    s->s_cat_names[i], 1) != 0)
			abort();
	}
}

/* What the owners announce, and what each node holds of each, as the
 * round begins. */
static void
sim_cat_snapshot(struct sim *s)
{
	int i, j, n = s->s_cat_n;
	uint64_t inc;

	for (j = 0; j < n; j++)
		catalogue_self_seq_locked(s->s_nodes[j].sn_cat,
		    &s->s_cat_inc[j], &s->s_cat_seq[j]);
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			catalogue_owner_locked(s->s_nodes[i].sn_cat,
			    s->s_cat_owners[j], &inc,
			    &s->s_horizon[(size_t)i * (size_t)n + (size_t)j]);
}

/* a asks b for what it lacks; b answers from what it held when the round
 * began, within the answer's budget; a applies it. */
static void
sim_cat_pull(struct sim *s, int a, int b)
{
	struct catalogue *ca = s->s_nodes[a].sn_cat;
	const struct catalogue *cb = s->s_nodes[b].sn_cat;
	size_t nw, k, j, left = SIM_CAT_BUDGET, bytes;
	struct cat_chunk ch;
	uint64_t hz;
	int m;

	nw = catalogue_wants_locked(ca, s->s_cat_owners, s->s_cat_inc,
	    s->s_cat_seq, (size_t)s->s_cat_n, s->s_wants, (size_t)s->s_cat_n);
	s->s_cat_wants += nw;
	s->s_cat_bytes += nw * SIM_WANT_BYTES;
	for (k = 0; k < nw && left >= 1024; k++) {
		m = catalogue_delta_locked(cb, &s->s_wants[k], &ch, s->s_facts,
		    SIM_CAT_FACTS_MAX, left);
		if (m < 0)
			continue;
		/* Only what b held as the round began. */
		hz = s->s_horizon[(size_t)b * (size_t)s->s_cat_n +
		    (size_t)sim_node_of(ch.cc_owner)];
		if (ch.cc_to > hz) {
			if (hz <= ch.cc_from)
				continue;
			while (m > 0 && s->s_facts[m - 1].cm_seq > hz)
				m--;
			ch.cc_to = hz;
		}
		for (j = 0, bytes = 0; j < (size_t)m; j++)
			bytes += CATALOGUE_FACT_WIRE_BYTES +
			    s->s_facts[j].cm_name_len;
		left = bytes < left ? left - bytes : 0;
		s->s_cat_bytes += bytes;
		s->s_cat_facts += (uint64_t)m;
		catalogue_apply_locked(ca, &ch, s->s_facts, (size_t)m,
		    sim_cat_conflict, s);
	}
}

/* One exchange, from a to b: b takes in a's push and digest at once; its
 * answer is on its way until the end of the round (or of the next). */
static void
sim_exchange(struct sim *s, int a, size_t ndigest, int b)
{
	struct members *mb = s->s_nodes[b].sn_mt;
	struct sim_answer ans;
	size_t n, k;

	s->s_exchanges++;
	s->s_sent_lines += ndigest;
	s->s_sent_news += s->s_nodes[a].sn_npush;
	if (!sim_link(s, a, b))
		return;
	for (k = 0; k < s->s_nodes[a].sn_npush; k++)
		members_merge_locked(mb, &s->s_nodes[a].sn_push[k], s->s_now,
		    sim_wall(s));
	members_merge_digest_locked(mb, s->s_digest, ndigest, s->s_now,
	    sim_wall(s));
	n = members_answer_locked(mb, s->s_digest, ndigest, &s->s_range,
	    s->s_answer, SIM_ANSWER_MAX, &s->s_rng);
	s->s_sent_news += n;
	if (!sim_link(s, b, a))
		return;
	if (s->s_cat_n > 0)
		sim_cat_pull(s, a, b);
	ans.sa_from = b;
	ans.sa_to = a;
	ans.sa_n = n;
	ans.sa_slots = malloc((n > 0 ? n : 1) * sizeof(uint32_t));
	for (k = 0; k < n; k++)
		ans.sa_slots[k] = (uint32_t)(members_find_locked(mb,
		    s->s_answer[k].mn_facts.mf_name) - members_at(mb, 0));
	if (rng_chance(&s->s_net, s->s_delay_pct, 100))
		sim_queue(&s->s_late, &s->s_nlate, &s->s_late_cap, &ans);
	else
		sim_queue(&s->s_answers, &s->s_nanswers, &s->s_answers_cap,
		    &ans);
}

/* Answers arrive: what the sender knows of those members now. */
static void
sim_arrive(struct sim *s, struct sim_answer *q, size_t n)
{
	struct member_news nw;
	size_t k, j;

	for (k = 0; k < n; k++) {
		struct members *from = s->s_nodes[q[k].sa_from].sn_mt;

		for (j = 0; j < q[k].sa_n && s->s_nodes[q[k].sa_to].sn_up;
		    j++) {
			struct member *m = members_at(from, q[k].sa_slots[j]);

			if (!m->m_in_use)
				continue;
			members_news_of(m, &nw);
			members_merge_locked(s->s_nodes[q[k].sa_to].sn_mt, &nw,
			    s->s_now, sim_wall(s));
		}
		free(q[k].sa_slots);
	}
}

/*
 * One round, as concurrent as the daemon's: first every node up ticks,
 * picks its targets and what it pushes; then the exchanges run, in a
 * random order; the answers arrive last. News moves at most a push and an
 * answer's hop a round, as it would with every node's timer firing once
 * an interval.
 */
static void
sim_round(struct sim *s)
{
	struct sim_answer *late = s->s_late;
	size_t k, nlate = s->s_nlate, ndigest;
	int i, j, t;

	s->s_now += SIM_INTERVAL_MS;
	s->s_round++;
	if (s->s_cat_n > 0)
		sim_cat_snapshot(s);
	s->s_late = NULL;
	s->s_nlate = s->s_late_cap = 0;
	for (i = 0; i < s->s_n; i++) {
		struct sim_node *sn = &s->s_nodes[i];

		s->s_order[i] = i;
		free(sn->sn_push);
		sn->sn_push = NULL;
		sn->sn_npush = sn->sn_ntargets = 0;
		if (!sn->sn_up)
			continue;
		members_tick_locked(sn->sn_mt, s->s_now);
		sn->sn_ntargets = members_targets_locked(sn->sn_mt, SIM_FANOUT,
		    &s->s_rng, sn->sn_targets, 8);
		sn->sn_seed = i != 0 &&
		    members_want_seed_locked(sn->sn_mt, &s->s_rng);
		sn->sn_push = malloc(SIM_PUSH_MAX * sizeof(*sn->sn_push));
		sn->sn_npush = members_push_locked(sn->sn_mt, sn->sn_push,
		    SIM_PUSH_MAX);
	}
	for (i = s->s_n - 1; i > 0; i--) {
		j = (int)rng_below(&s->s_rng, (uint64_t)i + 1);
		t = s->s_order[i];
		s->s_order[i] = s->s_order[j];
		s->s_order[j] = t;
	}
	for (j = 0; j < s->s_n; j++) {
		struct sim_node *sn = &s->s_nodes[s->s_order[j]];

		if (!sn->sn_up)
			continue;
		ndigest = members_digest_locked(sn->sn_mt, s->s_digest,
		    (size_t)s->s_cap, &s->s_range);
		for (k = 0; k < sn->sn_ntargets; k++)
			sim_exchange(s, s->s_order[j], ndigest, sim_node_of(
			    members_at(sn->sn_mt, sn->sn_targets[k])->
			    m_facts.mf_name));
		if (sn->sn_seed)
			sim_exchange(s, s->s_order[j], ndigest, 0);
	}
	sim_arrive(s, late, nlate);
	free(late);
	sim_arrive(s, s->s_answers, s->s_nanswers);
	s->s_nanswers = 0;
}

/* How many nodes that are up see `name` in `state` (-1: at all). */
static int
sim_seen(struct sim *s, int node, int state)
{
	char name[16];
	int i, n = 0;

	snprintf(name, sizeof(name), "n%d", node);
	for (i = 0; i < s->s_n; i++) {
		struct member *m;

		if (!s->s_nodes[i].sn_up || i == node)
			continue;
		m = members_find_locked(s->s_nodes[i].sn_mt, name);
		if (m != NULL && (state < 0 || m->m_state == state))
			n++;
	}
	return n;
}

static int
sim_up(const struct sim *s)
{
	int i, n = 0;

	for (i = 0; i < s->s_n; i++)
		n += s->s_nodes[i].sn_up;
	return n;
}

/* Whether every node up sees every other node up alive. */
static bool
sim_all_alive(struct sim *s)
{
	int i, up = sim_up(s);

	for (i = 0; i < s->s_n; i++)
		if (s->s_nodes[i].sn_up &&
		    sim_seen(s, i, MEMBER_ALIVE) != up - 1)
			return false;
	return true;
}

#endif
