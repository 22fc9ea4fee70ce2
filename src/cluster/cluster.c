/*
 * cluster.c - the shared part of a node's membership (see cluster.h): made
 * by the master, kept in the state directory, turned into gossip peers of
 * the peer table, shown at /_/cluster and /_/metrics with the catalogue's
 * figures (read without its lock: relaxed counters).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/hlc.h"
#include "cluster/members.h"
#include "cluster/reserve.h"
#include "core/config.h"
#include "core/log.h"
#include "core/shm.h"
#include "peer/peer_table.h"
#include "store/metrics.h"

#define CLUSTER_SKEW_WARN_MS 60000	/* a member's clock: once a minute */

#define CLUSTER_NONCES 65536		/* about 1,000 signed requests a second (auth.h) */
#define CLUSTER_FORGET_MS (24 * 3600 * 1000LL)
#define CLUSTER_STATE_FILE "members.json"

void
cluster_stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static uint64_t
cluster_stat(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void
cluster_time_text(uint64_t hlc, char *out, size_t len)
{
	int64_t ms = hlc_ms(hlc);
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void
cluster_self_addr(const struct config *cfg, char *out, size_t len)
{
	const struct config_cluster *cc = &cfg->cluster;

	if (cc->advertise.host != NULL)
		peer_format_name(cc->advertise.host, cc->advertise.port, out,
		    len);
	else
		peer_format_name(cfg->listen_host != NULL ? cfg->listen_host :
		    "localhost", cfg->listen_port, out, len);
}

/* What this node says of itself, from cfg (the incarnation aside).
 * capacity: auto is what the state directory's file system holds. */
static void
cluster_self_facts(const struct config *cfg, struct member_facts *f)
{
	const struct config_cluster *cc = &cfg->cluster;
	struct statvfs sv;

	memset(f, 0, sizeof(*f));
	snprintf(f->mf_name, sizeof(f->mf_name), "%s", cfg->node);
	cluster_self_addr(cfg, f->mf_addr, sizeof(f->mf_addr));
	f->mf_store = cc->store;
	f->mf_capacity = cc->capacity;
	if (f->mf_capacity == 0 && statvfs(cfg->state_dir, &sv) == 0)
		f->mf_capacity = (uint64_t)sv.f_blocks * sv.f_frsize;
}

static void
cluster_params(const struct config *cfg, struct members_params *p)
{
	const struct config_cluster *cc = &cfg->cluster;

	memset(p, 0, sizeof(*p));
	p->mp_interval_ms = cc->gossip_interval_ms;
	p->mp_suspect_ms = cc->suspect_after_ms;
	p->mp_dead_ms = cc->dead_after_ms;
	p->mp_forget_ms = CLUSTER_FORGET_MS;
	p->mp_max_skew_ms = cc->max_clock_skew_ms;
}

/* The members a previous run knew, taken in as alive (a member that is
 * not is suspected in due time), and the incarnation it last had. */
static uint64_t
cluster_load(struct cluster *cl, int64_t now_ms, int64_t wall_ms)
{
	struct member_news nw;
	json_error_t jerr;
	json_t *root, *list, *m;
	uint64_t last = 0;
	size_t i;

	root = json_load_file(cl->cl_statefile, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (access(cl->cl_statefile, F_OK) == 0)
			log_warnx("%s: %s (line %d); starting without it",
			    cl->cl_statefile, jerr.text, jerr.line);
		return 0;
	}
	if (json_is_integer(json_object_get(root, "incarnation")) &&
	    json_integer_value(json_object_get(root, "incarnation")) > 0)
		last = (uint64_t)json_integer_value(json_object_get(root,
		    "incarnation"));
	list = json_object_get(root, "members");
	json_array_foreach(list, i, m) {
		const char *name = json_string_value(json_object_get(m,
		    "name"));
		const char *addr = json_string_value(json_object_get(m,
		    "addr"));
		json_int_t inc = json_integer_value(json_object_get(m, "inc"));

		if (name == NULL || addr == NULL || inc <= 0 ||
		    strlen(name) >= MEMBER_NAME_MAX ||
		    strlen(addr) >= MEMBER_ADDR_MAX)
			continue;
		memset(&nw, 0, sizeof(nw));
		strcpy(nw.mn_facts.mf_name, name);
		strcpy(nw.mn_facts.mf_addr, addr);
		nw.mn_facts.mf_incarnation = (uint64_t)inc;
		nw.mn_state = MEMBER_ALIVE;
		nw.mn_state_inc = (uint64_t)inc;
		(void)members_merge_locked(cl->cl_members, &nw, now_ms,
		    wall_ms);
	}
	json_decref(root);
	return last;
}

struct cluster *
cluster_create(const struct config *cfg, int64_t now_ms, int64_t wall_ms,
    const char **why)
{
	const struct config_cluster *cc = &cfg->cluster;
	struct cluster *cl = calloc(1, sizeof(*cl));
	struct catalogue_params cp;
	struct members_params p;
	struct member_facts self;
	uint64_t last, inc;
	unsigned cap = (unsigned)cc->max_members;
	int rc;

	if (cl == NULL) {
		*why = "out of memory";
		return NULL;
	}
	snprintf(cl->cl_name, sizeof(cl->cl_name), "%s", cc->name);
	snprintf(cl->cl_statefile, sizeof(cl->cl_statefile), "%s/%s",
	    cfg->state_dir, CLUSTER_STATE_FILE);
	cl->cl_key = auth_key_new(cc->key, cc->key_len);
	cl->cl_stats = shm_anon(sizeof(*cl->cl_stats));
	cl->cl_members_size = members_size(cap);
	cl->cl_members = shm_anon(cl->cl_members_size);
	cl->cl_nonces_size = auth_cache_size(CLUSTER_NONCES);
	cl->cl_nonces_mem = shm_anon(cl->cl_nonces_size);
	cl->cl_hlc = shm_anon(sizeof(*cl->cl_hlc));
	cl->cl_max_objects = cc->max_objects;
	catalogue_params_for(&cp, cc->max_objects, cap,
	    (unsigned)cc->replicas);
	if ((cl->cl_catalogue_size = catalogue_size(&cp)) == 0) {
		*why = "the catalogue's size is out of range (max_objects)";
		cluster_destroy(cl);
		return NULL;
	}
	cl->cl_catalogue = shm_anon(cl->cl_catalogue_size);
	cl->cl_reserve = shm_anon(sizeof(*cl->cl_reserve));
	if (cl->cl_key == NULL || cl->cl_stats == NULL ||
	    cl->cl_members == NULL || cl->cl_nonces_mem == NULL ||
	    cl->cl_hlc == NULL || cl->cl_catalogue == NULL ||
	    cl->cl_reserve == NULL || reserve_init(cl->cl_reserve) != 0 ||
	    (cl->cl_nonces = auth_cache_init(cl->cl_nonces_mem,
	    CLUSTER_NONCES)) == NULL) {
		*why = "cannot make the cluster's tables";
		cluster_destroy(cl);
		return NULL;
	}
	cluster_self_facts(cfg, &self);
	cluster_params(cfg, &p);
	/* The incarnation is chosen after the file is read; the table is
	 * made first with a provisional one, then given the right one. */
	self.mf_incarnation = 1;
	if ((rc = members_init(cl->cl_members, cap, &self, &p, now_ms)) != 0) {
		*why = rc == EINVAL ? "the node's name or address cannot be "
		    "a member's (printable ASCII, no spaces or quotes)" :
		    strerror(rc);
		cluster_destroy(cl);
		return NULL;
	}
	last = cluster_load(cl, now_ms, wall_ms);
	inc = members_incarnation(last, wall_ms);
	members_self(cl->cl_members)->m_facts.mf_incarnation = inc;
	members_self(cl->cl_members)->m_state_inc = inc;
	if ((rc = catalogue_init(cl->cl_catalogue, &cp, cfg->node, inc)) !=
	    0) {
		*why = rc == EINVAL ? "the catalogue's parameters" :
		    strerror(rc);
		cluster_destroy(cl);
		return NULL;
	}
	members_set_cat_seq_locked(cl->cl_members, inc, 0);
	return cl;
}

void
cluster_reconfigure(struct cluster *cl, const struct config *cfg)
{
	struct auth_key *key = auth_key_new(cfg->cluster.key,
	    cfg->cluster.key_len);
	struct members_params p;
	struct member_facts f;
	struct member *self;

	if (key != NULL) {
		auth_key_free(cl->cl_key);
		cl->cl_key = key;
	}
	snprintf(cl->cl_name, sizeof(cl->cl_name), "%s", cfg->cluster.name);
	cluster_params(cfg, &p);
	if (members_lock(cl->cl_members) == 0) {
		if (strcmp(members_self(cl->cl_members)->m_facts.mf_name,
		    cfg->node) != 0)
			log_warnx("cluster: a new node name takes a restart; "
			    "still %s", members_self(cl->cl_members)->
			    m_facts.mf_name);
		if (cfg->cluster.max_members != cl->cl_members->mt_capacity)
			log_warnx("cluster: a new max_members takes a restart; "
			    "still %u", cl->cl_members->mt_capacity);
		if (cfg->cluster.max_objects != cl->cl_max_objects)
			log_warnx("cluster: a new max_objects takes a restart; "
			    "still %llu", (unsigned long long)
			    cl->cl_max_objects);
		cl->cl_members->mt_params = p;
		/* A new address, store flag or capacity is news of this
		 * node, spread as any other. */
		cluster_self_facts(cfg, &f);
		self = members_self(cl->cl_members);
		if (strcmp(f.mf_addr, self->m_facts.mf_addr) != 0 ||
		    f.mf_store != self->m_facts.mf_store ||
		    f.mf_capacity != self->m_facts.mf_capacity) {
			memcpy(self->m_facts.mf_addr, f.mf_addr,
			    sizeof(f.mf_addr));
			self->m_facts.mf_store = f.mf_store;
			self->m_facts.mf_capacity = f.mf_capacity;
			if (self->m_facts.mf_used > f.mf_capacity)
				self->m_facts.mf_used = f.mf_capacity;
			members_self_changed_locked(cl->cl_members);
		}
		members_unlock(cl->cl_members);
	}
}

void
cluster_destroy(struct cluster *cl)
{
	if (cl == NULL)
		return;
	auth_key_free(cl->cl_key);
	shm_free(cl->cl_members, cl->cl_members_size);
	shm_free(cl->cl_nonces_mem, cl->cl_nonces_size);
	shm_free(cl->cl_stats, sizeof(*cl->cl_stats));
	shm_free(cl->cl_reserve, sizeof(*cl->cl_reserve));
	shm_free(cl->cl_catalogue, cl->cl_catalogue_size);
	shm_free(cl->cl_hlc, sizeof(*cl->cl_hlc));
	free(cl);
}

/* -- the state file ------------------------------------------------- */

int
cluster_save(struct cluster *cl)
{
	struct members *mt = cl->cl_members;
	json_t *root = json_object(), *list = json_array();
	char tmp[sizeof(cl->cl_statefile) + 8];
	uint32_t i;
	int fd, rc = -1;
	char *text;

	if (root == NULL || list == NULL || members_lock(mt) == -1) {
		json_decref(root);
		json_decref(list);
		errno = ENOMEM;
		return -1;
	}
	json_object_set_new(root, "incarnation", json_integer((json_int_t)
	    members_self(mt)->m_facts.mf_incarnation));
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || i == mt->mt_self ||
		    m->m_state >= MEMBER_DEAD)
			continue;
		json_array_append_new(list, json_pack("{s:s, s:s, s:I}",
		    "name", m->m_facts.mf_name, "addr", m->m_facts.mf_addr,
		    "inc", (json_int_t)m->m_facts.mf_incarnation));
	}
	members_unlock(mt);
	json_object_set_new(root, "members", list);
	text = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", cl->cl_statefile);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd != -1) {
		size_t len = strlen(text);

		if (write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1)
		    == 1 && fsync(fd) == 0 && rename(tmp, cl->cl_statefile)
		    == 0)
			rc = 0;
		close(fd);
		if (rc == -1)
			(void)unlink(tmp);
	}
	free(text);
	return rc;
}

/* -- what it shows --------------------------------------------------- */

static json_t *
cluster_member_json(const struct member *m, bool self, int64_t now_ms)
{
	const struct member_facts *f = &m->m_facts;
	int64_t ago = now_ms - m->m_heard_ms;

	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:I, s:I}",
	    "name", f->mf_name, "address", f->mf_addr,
	    "state", member_state_name(self && !f->mf_left ? MEMBER_ALIVE :
	    (enum member_state)m->m_state),
	    "incarnation", (json_int_t)f->mf_incarnation,
	    "heartbeat", (json_int_t)f->mf_heartbeat,
	    "last_heard_ms", (json_int_t)(self ? 0 : ago > 0 ? ago : 0),
	    "store", f->mf_store,
	    "capacity", (json_int_t)f->mf_capacity,
	    "used", (json_int_t)f->mf_used);
}

/* A counter of the catalogue, read without its lock. */
static uint64_t
cluster_cat_stat(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static json_t *
cluster_catalogue_json(const struct cluster *cl)
{
	const struct catalogue_stats *st = catalogue_stats(cl->cl_catalogue);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "names", (json_int_t)cluster_cat_stat(&st->cs_names),
	    "versions", (json_int_t)cluster_cat_stat(&st->cs_versions),
	    "object_bytes", (json_int_t)cluster_cat_stat(&st->cs_bytes),
	    "holdings", (json_int_t)cluster_cat_stat(&st->cs_facts),
	    "conflicts", (json_int_t)cluster_cat_stat(&st->cs_conflicts),
	    "bytes", (json_int_t)cl->cl_catalogue_size,
	    "max_objects", (json_int_t)cl->cl_max_objects);
}

const char *
cluster_event_from(const struct member_event *e)
{
	return e->me_from == MEMBER_STATES ? "new" :
	    member_state_name((enum member_state)e->me_from);
}

/* The last changes of opinion, newest first. */
static json_t *
cluster_events_json(struct members *mt, int64_t now_ms)
{
	struct member_event ev[MEMBERS_EVENTS];
	json_t *list = json_array();
	size_t n, i;

	n = members_events_locked(mt, ev, MEMBERS_EVENTS);
	for (i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, "
		    "s:I}", "member", ev[i].me_name, "from",
		    cluster_event_from(&ev[i]), "to",
		    member_state_name((enum member_state)ev[i].me_to),
		    "incarnation", (json_int_t)ev[i].me_incarnation,
		    "ago_ms", (json_int_t)(now_ms > ev[i].me_ms ?
		    now_ms - ev[i].me_ms : 0)));
	return list;
}

void
cluster_set_section(struct cluster *cl, const char *key,
    cluster_section_fn *fn, void *arg)
{
	cl->cl_section_key = key;
	cl->cl_section_fn = fn;
	cl->cl_section_arg = arg;
}

void
cluster_render_json(struct cluster *cl, int64_t now_ms, struct buf *out)
{
	struct members *mt = cl->cl_members;
	json_t *root, *list, *events;
	uint32_t i;
	char *text;

	root = json_object();
	list = json_array();
	if (root == NULL || list == NULL || members_lock(mt) == -1) {
		json_decref(root);
		json_decref(list);
		return;
	}
	json_object_set_new(root, "cluster", json_string(cl->cl_name));
	json_object_set_new(root, "node", cluster_member_json(
	    members_self(mt), true, now_ms));
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (m->m_in_use && i != mt->mt_self)
			json_array_append_new(list, cluster_member_json(m,
			    false, now_ms));
	}
	events = cluster_events_json(mt, now_ms);
	members_unlock(mt);
	json_object_set_new(root, "members", list);
	json_object_set_new(root, "catalogue", cluster_catalogue_json(cl));
	json_object_set_new(root, "events", events);
	if (cl->cl_section_fn != NULL) {
		json_t *section = cl->cl_section_fn(cl->cl_section_arg);

		if (section != NULL)
			json_object_set_new(root, cl->cl_section_key, section);
	}
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (text != NULL) {
		buf_append_str(out, text);
		buf_append_str(out, "\n");
		free(text);
	}
}

static void
cluster_catalogue_metrics(const struct cluster *cl, struct buf *out)
{
	const struct catalogue_stats *st = catalogue_stats(cl->cl_catalogue);

	metrics_gauge(out, "shoal_catalogue_names",
	    "Names with a live version in the catalogue.",
	    cluster_cat_stat(&st->cs_names));
	metrics_gauge(out, "shoal_catalogue_versions",
	    "Live versions in the catalogue.",
	    cluster_cat_stat(&st->cs_versions));
	metrics_gauge(out, "shoal_catalogue_holdings",
	    "Live holdings (a version on a node) in the catalogue.",
	    cluster_cat_stat(&st->cs_facts));
	metrics_gauge(out, "shoal_catalogue_conflicts",
	    "Names with more than one live version.",
	    cluster_cat_stat(&st->cs_conflicts));
	metrics_counter(out, "shoal_catalogue_conflicts_total",
	    "Conflicts found (a name gaining a second live version).",
	    cluster_cat_stat(&st->cs_conflicts_seen));
	metrics_counter(out, "shoal_catalogue_facts_applied_total",
	    "Facts of other nodes merged into the catalogue.",
	    cluster_cat_stat(&st->cs_applied));
	metrics_counter(out, "shoal_catalogue_resyncs_total",
	    "Full resyncs of an owner's facts taken.",
	    cluster_cat_stat(&st->cs_resyncs));
	metrics_family(out, "shoal_catalogue_refused_total",
	    "Facts not taken into the catalogue, by reason.", "counter");
	buf_printf(out, "shoal_catalogue_refused_total{reason=\"full\"} "
	    "%llu\n", (unsigned long long)cluster_cat_stat(
	    &st->cs_refused_full));
	buf_printf(out, "shoal_catalogue_refused_total{reason=\"invalid\"} "
	    "%llu\n", (unsigned long long)cluster_cat_stat(
	    &st->cs_refused_invalid));
}

void
cluster_render_metrics(struct cluster *cl, int64_t now_ms, struct buf *out)
{
	static const char *reasons[CLUSTER_REFUSALS] = {
		"unsigned", "bad_signature", "stale", "replayed",
		"other_cluster", "malformed", "too_large", "busy",
	};
	struct members *mt = cl->cl_members;
	const struct cluster_stats *cs = cl->cl_stats;
	struct members_stats st;
	uint32_t counts[MEMBER_STATES], i;
	char label[2 * MEMBER_NAME_MAX + 1];
	int s;

	if (members_lock(mt) == -1)
		return;
	members_count_locked(mt, counts);
	st = mt->mt_stats;
	metrics_family(out, "shoal_cluster_members",
	    "Members this node knows, by state (itself included).", "gauge");
	for (s = 0; s < MEMBER_STATES; s++)
		buf_printf(out, "shoal_cluster_members{state=\"%s\"} %u\n",
		    member_state_name((enum member_state)s), counts[s]);
	metrics_family(out, "shoal_cluster_member_last_heard_seconds",
	    "Time since a member's facts last moved.", "gauge");
	for (i = 0; i < mt->mt_capacity; i++) {
		const struct member *m = members_at(mt, i);

		if (!m->m_in_use || i == mt->mt_self)
			continue;
		metrics_label_value(m->m_facts.mf_name, label, sizeof(label));
		buf_printf(out, "shoal_cluster_member_last_heard_seconds"
		    "{member=\"%s\",state=\"%s\"} %.3f\n", label,
		    member_state_name((enum member_state)m->m_state),
		    (double)(now_ms - m->m_heard_ms) / 1000);
	}
	members_unlock(mt);
	metrics_counter(out, "shoal_cluster_joined_total",
	    "Members heard of for the first time.", st.ms_joined);
	metrics_counter(out, "shoal_cluster_suspicions_total",
	    "Members this node began to suspect.", st.ms_suspected);
	metrics_counter(out, "shoal_cluster_deaths_total",
	    "Members this node declared dead.", st.ms_declared_dead);
	metrics_counter(out, "shoal_cluster_refutations_total",
	    "Suspicions of this node it refuted.", st.ms_refuted);
	metrics_counter(out, "shoal_cluster_forgotten_total",
	    "Dead or left members forgotten.", st.ms_forgotten);
	metrics_family(out, "shoal_cluster_news_refused_total",
	    "News about members not taken in, by reason.", "counter");
	buf_printf(out, "shoal_cluster_news_refused_total{reason=\"invalid\"} "
	    "%llu\n", (unsigned long long)st.ms_refused_invalid);
	buf_printf(out, "shoal_cluster_news_refused_total{reason=\"future\"} "
	    "%llu\n", (unsigned long long)st.ms_refused_future);
	buf_printf(out, "shoal_cluster_news_refused_total{reason=\"full\"} "
	    "%llu\n", (unsigned long long)st.ms_refused_full);
	metrics_counter(out, "shoal_gossip_rounds_total",
	    "Gossip rounds this node started.", cluster_stat(&cs->cs_rounds));
	metrics_family(out, "shoal_gossip_exchanges_total",
	    "Exchanges this node started, by outcome.", "counter");
	buf_printf(out, "shoal_gossip_exchanges_total{outcome=\"ok\"} %llu\n",
	    (unsigned long long)cluster_stat(&cs->cs_exchanges_ok));
	buf_printf(out, "shoal_gossip_exchanges_total{outcome=\"failed\"} "
	    "%llu\n", (unsigned long long)cluster_stat(
	    &cs->cs_exchanges_failed));
	metrics_counter(out, "shoal_gossip_sent_bytes_total",
	    "Gossip bodies sent (requests and answers).",
	    cluster_stat(&cs->cs_bytes_sent));
	metrics_counter(out, "shoal_gossip_received_bytes_total",
	    "Gossip bodies received (requests and answers).",
	    cluster_stat(&cs->cs_bytes_received));
	metrics_family(out, "shoal_gossip_refused_total",
	    "Gossip requests this node refused, by reason.", "counter");
	for (s = 0; s < CLUSTER_REFUSALS; s++)
		buf_printf(out, "shoal_gossip_refused_total{reason=\"%s\"} "
		    "%llu\n", reasons[s], (unsigned long long)cluster_stat(
		    &cs->cs_refused[s]));
	metrics_counter(out, "shoal_clock_skew_warnings_total",
	    "Gossip messages and version stamps from clocks off by more "
	    "than max_clock_skew.", cluster_stat(&cs->cs_clock_skews));
	cluster_catalogue_metrics(cl, out);
}

enum cluster_refusal
cluster_refusal_of(int auth_verdict)
{
	switch ((enum auth_verdict)auth_verdict) {
	case AUTH_MISSING:
		return CLUSTER_REFUSED_UNSIGNED;
	case AUTH_STALE:
		return CLUSTER_REFUSED_STALE;
	case AUTH_REPLAYED:
		return CLUSTER_REFUSED_REPLAYED;
	case AUTH_OTHER_CLUSTER:
		return CLUSTER_REFUSED_OTHER_CLUSTER;
	case AUTH_BUSY:
	case AUTH_ERROR:
		return CLUSTER_REFUSED_BUSY;
	default:
		return CLUSTER_REFUSED_BAD_SIGNATURE;
	}
}

bool
cluster_skew_warn_due(struct cluster *cl, const char *member, int64_t now_ms)
{
	struct members *mt = cl->cl_members;
	struct member *m;
	bool say = false;

	cluster_stat_add(&cl->cl_stats->cs_clock_skews, 1);
	if (members_lock(mt) != 0)
		return false;
	m = members_find_locked(mt, member);
	if (m != NULL && (m->m_skew_warned_ms == 0 ||
	    now_ms - m->m_skew_warned_ms >= CLUSTER_SKEW_WARN_MS)) {
		m->m_skew_warned_ms = now_ms;
		say = true;
	}
	members_unlock(mt);
	return say;
}
