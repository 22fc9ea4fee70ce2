/*
 * journal.c - the journal entries of striped uploads and their replay
 * (see journal.h). The codec is pure; the replay runs on the agent's
 * loop, its directory work in a job of the agent's pool, which reads and
 * writes only the fields of struct journal_replay marked for it while the
 * loop leaves them alone (jr_busy).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "stripe/journal.h"
#include "stripe/parts.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"

#define JOURNAL_INTERVAL_MS 2000
#define JOURNAL_PASS_MAX 8		/* entries replayed per pass */
#define JOURNAL_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)

char *
journal_encode(const char *id, const char *name, pid_t pid,
    const char *const *nodes, const char *const *addrs, unsigned n,
    size_t *len)
{
	json_t *o, *stores;
	char *text = NULL;
	unsigned i;

	o = json_pack("{s:s,s:s,s:I}", "id", id, "name", name, "pid",
	    (json_int_t)pid);
	stores = json_array();
	if (o == NULL || stores == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (json_array_append_new(stores, json_pack("[ss]", nodes[i],
		    addrs[i])) == -1)
			goto out;
	if (json_object_set(o, "stores", stores) == -1)
		goto out;
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text != NULL)
		*len = strlen(text);
out:
	json_decref(stores);
	json_decref(o);
	return text;
}

int
journal_decode(const char *text, size_t len, struct journal_entry *e)
{
	json_t *o, *id, *name, *pid, *stores, *s;
	int rc = -1;
	size_t i;

	memset(e, 0, sizeof(*e));
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	id = json_object_get(o, "id");
	name = json_object_get(o, "name");
	pid = json_object_get(o, "pid");
	stores = json_object_get(o, "stores");
	if (!json_is_string(id) || !manifest_id_valid(json_string_value(id),
	    json_string_length(id)) || !json_is_string(name) ||
	    !name_is_valid(json_string_value(name), json_string_length(name)) ||
	    !json_is_integer(pid) || !json_is_array(stores) ||
	    json_array_size(stores) > CONFIG_STRIPE_PARTS_MAX)
		goto out;
	memcpy(e->je_id, json_string_value(id), MANIFEST_ID_LEN + 1);
	memcpy(e->je_name, json_string_value(name), json_string_length(name));
	e->je_pid = (pid_t)json_integer_value(pid);
	for (i = 0; i < json_array_size(stores); i++) {
		const char *node, *addr;

		s = json_array_get(stores, i);
		if (json_unpack(s, "[ss]", &node, &addr) == -1 ||
		    strlen(node) >= MEMBER_NAME_MAX ||
		    strlen(addr) >= MEMBER_ADDR_MAX)
			goto out;
		snprintf(e->je_node[i], MEMBER_NAME_MAX, "%s", node);
		snprintf(e->je_addr[i], MEMBER_ADDR_MAX, "%s", addr);
	}
	e->je_nstores = (unsigned)i;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* -- the replay -------------------------------------------------------- */

struct journal_replay;

struct journal_leg {
	struct journal_replay *jl_jr;
	unsigned jl_entry;
	struct peer_conn *jl_pc;
};

struct journal_replay {
	struct loop *jr_loop;
	struct iopool *jr_pool;
	struct cluster *jr_cluster;
	struct peer_set *jr_peers;
	struct stripe_shared *jr_shared;
	int jr_journal_fd, jr_manifests_fd, jr_names_fd;
	int jr_parts_names_fd;		/* a store's manifests by name */
	struct loop_timer jr_timer;
	struct iopool_job jr_job;
	bool jr_busy;			/* a job in the pool */
	bool jr_stopped;
	/* the pass: the job's output, then the requests */
	struct journal_entry jr_entries[JOURNAL_PASS_MAX];
	unsigned jr_n;
	unsigned jr_missing[JOURNAL_PASS_MAX];	/* stores not confirmed */
	struct journal_leg jr_legs[JOURNAL_PASS_MAX * CONFIG_STRIPE_PARTS_MAX];
	unsigned jr_out;		/* requests out */
	unsigned jr_removed;		/* the removal job's count */
	bool jr_announced;		/* the names' pass is done (job) */
	unsigned jr_names;		/* ... and announced so many */
};

static void journal_tick(struct loop *loop, struct loop_timer *t);

static void
journal_rearm(struct journal_replay *jr)
{
	if (!jr->jr_stopped)
		loop_timer_set(jr->jr_loop, &jr->jr_timer, JOURNAL_INTERVAL_MS,
		    journal_tick);
}

/* Pool: removes what every store confirmed gone. */
static void
journal_remove_job(struct iopool_job *job)
{
	struct journal_replay *jr = container_of(job, struct journal_replay,
	    jr_job);
	char name[PARTS_FILE_MAX], text[MANIFEST_MAX];
	struct manifest m;
	unsigned i;
	ssize_t n;
	int fd;

	jr->jr_removed = 0;
	for (i = 0; i < jr->jr_n; i++) {
		const struct journal_entry *e = &jr->jr_entries[i];

		if (jr->jr_missing[i] > 0)
			continue;
		/* The name is this object's only when its manifest says
		 * so (another upload may hold it since). */
		fd = openat(jr->jr_names_fd, e->je_name, O_RDONLY |
		    O_CLOEXEC | O_NOFOLLOW);
		if (fd != -1) {
			n = pread(fd, text, sizeof(text), 0);
			close(fd);
			if (n > 0 && manifest_decode(text, (size_t)n, &m,
			    NULL) == 0 && strcmp(m.m_id, e->je_id) == 0)
				(void)unlinkat(jr->jr_names_fd, e->je_name, 0);
		}
		parts_manifest_name(e->je_id, name);
		(void)unlinkat(jr->jr_manifests_fd, name, 0);
		if (unlinkat(jr->jr_journal_fd, e->je_id, 0) == 0)
			jr->jr_removed++;
	}
	fd = openat(jr->jr_journal_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

static void
journal_remove_done(struct iopool_job *job)
{
	struct journal_replay *jr = container_of(job, struct journal_replay,
	    jr_job);

	jr->jr_busy = false;
	stripe_add(&jr->jr_shared->ss_cleanups[STRIPE_CLEANUP_JOURNAL],
	    jr->jr_removed);
	if (jr->jr_removed > 0)
		log_info("stripe: the parts of %u uploads cut short earlier "
		    "are gone from their stores", jr->jr_removed);
	journal_rearm(jr);
}

static void
journal_leg_over(struct journal_leg *l, bool ok)
{
	struct journal_replay *jr = l->jl_jr;

	l->jl_pc = NULL;
	if (ok)
		jr->jr_missing[l->jl_entry]--;
	if (--jr->jr_out > 0)
		return;
	jr->jr_busy = true;
	jr->jr_job.work = journal_remove_job;
	jr->jr_job.done = journal_remove_done;
	iopool_submit(jr->jr_pool, &jr->jr_job);
}

static void
journal_on_head(struct peer_conn *pc, void *arg)
{
	bool ok = pc->pc_resp.status == 200;

	peer_conn_discard(pc);
	journal_leg_over(arg, ok);
}

static void
journal_on_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	(void)pc;
	(void)why;
	journal_leg_over(arg, false);
}

static void
journal_on_end(struct peer_conn *pc, void *arg)
{
	(void)arg;
	peer_conn_close(pc);
}

static const struct peer_handler journal_handler = {
	.on_head = journal_on_head,
	.on_body = journal_on_end,
	.on_done = journal_on_end,
	.on_fail = journal_on_fail,
};

/* A signed DELETE of the entry's parts to one of its stores. */
static bool
journal_delete(struct journal_replay *jr, struct journal_leg *l,
    const char *id, const char *addr)
{
	struct cluster *cl = jr->jr_cluster;
	char target[64], sig[AUTH_SIGNATURE_SIZE], head[JOURNAL_HEAD_MAX];
	static const struct http_limits limits = { 8192, 8192, 100, 65536 };
	char self[MEMBER_ADDR_MAX] = "";
	uint8_t nonce[AUTH_NONCE_LEN];
	struct peer_set *set;
	struct peer *p;
	int n;

	if (members_lock(cl->cl_members) == 0) {
		memcpy(self, members_self(cl->cl_members)->m_facts.mf_addr,
		    sizeof(self));
		members_unlock(cl->cl_members);
	}
	p = self_peer_find(jr->jr_peers, jr->jr_loop, self, addr, &limits,
	    10000, &set);
	snprintf(target, sizeof(target), "/_/parts/%s", id);
	if (p == NULL || auth_nonce(nonce) == -1 ||
	    auth_sign_request(cl->cl_key, cl->cl_name, "DELETE", target, NULL,
	    loop_wall_ms(), nonce, sig, sizeof(sig)) == -1)
		return false;
	n = snprintf(head, sizeof(head), "DELETE %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\nContent-Length: 0\r\n"
	    "%s: %s\r\n%s: %s\r\n\r\n", target, p->p_name,
	    AUTH_CLUSTER_HEADER, cl->cl_name, AUTH_SIGNATURE_HEADER, sig);
	if (n < 0 || (size_t)n >= sizeof(head))
		return false;
	l->jl_pc = peer_request(set, p, head, (size_t)n, 0, 10000,
	    &journal_handler, l);
	return true;
}

/* Whether objects id has a journal entry (an upload not committed
 * everywhere: its name is not the object's yet, or no longer). */
static bool
journal_has(struct journal_replay *jr, const char *id)
{
	struct stat st;

	return fstatat(jr->jr_journal_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Pool, once at start: the striped objects this node took (dir: its
 * stripe/names, whose entries with a journal entry are not stored) or
 * holds parts of (parts/names), back in the catalogue, which is made
 * empty at the node's start. */
static void
journal_announce_dir(struct journal_replay *jr, int dir, bool check)
{
	char text[MANIFEST_MAX];
	struct manifest m;
	struct dirent *d;
	struct stat st;
	DIR *dp;
	ssize_t n;
	int fd, efd;

	fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((d = readdir(dp)) != NULL) {
		if (!name_is_valid(d->d_name, strlen(d->d_name)))
			continue;
		efd = openat(fd, d->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (efd == -1)
			continue;
		n = fstat(efd, &st) == 0 ? pread(efd, text, sizeof(text), 0) :
		    -1;
		close(efd);
		if (n <= 0 || manifest_decode(text, (size_t)n, &m, NULL) == -1 ||
		    strcmp(m.m_name, d->d_name) != 0 ||
		    (check && journal_has(jr, m.m_id)))
			continue;
		stripe_announce(jr->jr_cluster, &m);
		jr->jr_names++;
	}
	closedir(dp);
}

/* Pool: the entries whose worker is gone. */
static void
journal_list_job(struct iopool_job *job)
{
	struct journal_replay *jr = container_of(job, struct journal_replay,
	    jr_job);
	char text[4096 + CONFIG_STRIPE_PARTS_MAX * 512];
	struct dirent *d;
	DIR *dp;
	ssize_t n;
	int fd;

	jr->jr_n = 0;
	if (!jr->jr_announced) {
		jr->jr_names = 0;
		journal_announce_dir(jr, jr->jr_names_fd, true);
		journal_announce_dir(jr, jr->jr_parts_names_fd, false);
		jr->jr_announced = true;
	} else
		jr->jr_names = 0;
	fd = openat(jr->jr_journal_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((d = readdir(dp)) != NULL && jr->jr_n < JOURNAL_PASS_MAX) {
		struct journal_entry *e = &jr->jr_entries[jr->jr_n];
		int efd;

		if (!manifest_id_valid(d->d_name, strlen(d->d_name)))
			continue;
		efd = openat(fd, d->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (efd == -1)
			continue;
		n = pread(efd, text, sizeof(text), 0);
		close(efd);
		if (n <= 0 || journal_decode(text, (size_t)n, e) == -1 ||
		    strcmp(e->je_id, d->d_name) != 0)
			continue;
		/* Its worker still drives it. */
		if (e->je_pid > 0 && (kill(e->je_pid, 0) == 0 ||
		    errno != ESRCH))
			continue;
		jr->jr_n++;
	}
	closedir(dp);
}

static void
journal_list_done(struct iopool_job *job)
{
	struct journal_replay *jr = container_of(job, struct journal_replay,
	    jr_job);
	unsigned i, k, legs = 0;

	jr->jr_busy = false;
	if (jr->jr_names > 0)
		log_info("catalogue: %u striped objects held here announced",
		    jr->jr_names);
	if (jr->jr_stopped || jr->jr_n == 0) {
		journal_rearm(jr);
		return;
	}
	jr->jr_out = 1;		/* until every request is out */
	for (i = 0; i < jr->jr_n; i++) {
		const struct journal_entry *e = &jr->jr_entries[i];

		jr->jr_missing[i] = e->je_nstores;
		for (k = 0; k < e->je_nstores; k++) {
			struct journal_leg *l = &jr->jr_legs[legs++];

			l->jl_jr = jr;
			l->jl_entry = i;
			if (journal_delete(jr, l, e->je_id, e->je_addr[k]))
				jr->jr_out++;
		}
	}
	journal_leg_over(&(struct journal_leg){ .jl_jr = jr }, false);
}

static void
journal_tick(struct loop *loop, struct loop_timer *t)
{
	struct journal_replay *jr = container_of(t, struct journal_replay,
	    jr_timer);

	(void)loop;
	if (jr->jr_busy || jr->jr_out > 0 || jr->jr_stopped)
		return;
	jr->jr_busy = true;
	jr->jr_job.work = journal_list_job;
	jr->jr_job.done = journal_list_done;
	iopool_submit(jr->jr_pool, &jr->jr_job);
}

static int
journal_dir(const char *state, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/stripe/%s", state, sub);
	return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

struct journal_replay *
journal_replay_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct peer_set *peers,
    struct stripe_shared *ss)
{
	struct journal_replay *jr = xcalloc(1, sizeof(*jr));
	char path[4096];

	jr->jr_loop = loop;
	jr->jr_pool = pool;
	jr->jr_cluster = cl;
	jr->jr_peers = peers;
	jr->jr_shared = ss;
	jr->jr_journal_fd = jr->jr_manifests_fd = jr->jr_names_fd = -1;
	jr->jr_parts_names_fd = -1;
	/* The workers make the directories too; the agent may come first. */
	snprintf(path, sizeof(path), "%s/stripe", cfg->state_dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/stripe/journal", cfg->state_dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/stripe/manifests", cfg->state_dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/stripe/names", cfg->state_dir);
	(void)mkdir(path, 0700);
	jr->jr_journal_fd = journal_dir(cfg->state_dir, "journal");
	jr->jr_manifests_fd = journal_dir(cfg->state_dir, "manifests");
	jr->jr_names_fd = journal_dir(cfg->state_dir, "names");
	snprintf(path, sizeof(path), "%s/parts", cfg->state_dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/parts/names", cfg->state_dir);
	(void)mkdir(path, 0700);
	jr->jr_parts_names_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (jr->jr_journal_fd == -1 || jr->jr_manifests_fd == -1 ||
	    jr->jr_names_fd == -1 || jr->jr_parts_names_fd == -1) {
		log_err("%s/stripe", cfg->state_dir);
		journal_replay_free(jr);
		return NULL;
	}
	/* The first pass once gossip had a moment to find the stores. */
	loop_timer_set(loop, &jr->jr_timer, 1000, journal_tick);
	return jr;
}

bool
journal_replay_stop(struct journal_replay *jr)
{
	unsigned i;

	if (jr == NULL)
		return false;
	jr->jr_stopped = true;
	loop_timer_cancel(jr->jr_loop, &jr->jr_timer);
	if (!jr->jr_busy && jr->jr_out > 0) {
		/* Requests out: dropped; the entries stay for next time. */
		for (i = 0; i < JOURNAL_PASS_MAX * CONFIG_STRIPE_PARTS_MAX; i++)
			if (jr->jr_legs[i].jl_pc != NULL) {
				peer_conn_close(jr->jr_legs[i].jl_pc);
				jr->jr_legs[i].jl_pc = NULL;
			}
		jr->jr_out = 0;
	}
	return jr->jr_busy;
}

void
journal_replay_free(struct journal_replay *jr)
{
	if (jr == NULL)
		return;
	if (jr->jr_journal_fd != -1)
		close(jr->jr_journal_fd);
	if (jr->jr_manifests_fd != -1)
		close(jr->jr_manifests_fd);
	if (jr->jr_names_fd != -1)
		close(jr->jr_names_fd);
	if (jr->jr_parts_names_fd != -1)
		close(jr->jr_parts_names_fd);
	free(jr);
}
