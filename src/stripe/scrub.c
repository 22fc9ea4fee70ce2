/*
 * scrub.c - a store's scrubber (see scrub.h). Loop thread of the agent;
 * the listing and the reads in its pool (sc_busy), the report to the
 * origin on the loop.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "cluster/members.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "http/http.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "stripe/blocksum.h"
#include "stripe/erasure.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/scrub.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"

#define SCRUB_IDLE_MS 1000		/* nothing to check, or off */
#define SCRUB_TIMEOUT_MS 10000
#define SCRUB_HEAD_MAX (512 + MEMBER_ADDR_MAX + AUTH_SIGNATURE_SIZE)
#define SCRUB_FOUND_MAX 64		/* corrupt parts remembered */

struct scrub {
	struct loop *sc_loop;
	struct iopool *sc_pool;
	struct cluster *sc_cluster;
	struct stripe_shared *sc_shared;
	const struct config *sc_cfg;
	struct peer_set *sc_peers;
	struct parts_dirs sc_dirs;
	struct loop_timer sc_timer;
	struct iopool_job sc_job;
	bool sc_busy, sc_stopped;
	char sc_self[MEMBER_NAME_MAX], sc_self_addr[MEMBER_ADDR_MAX];
	/* job: the walk */
	char (*sc_names)[PARTS_FILE_MAX];
	unsigned sc_n, sc_at, sc_skip;
	char sc_cur[PARTS_FILE_MAX];	/* the part file being checked */
	bool sc_listed;			/* sc_cur is sc_names[sc_at] */
	/* parts a read found corrupt, checked first (filled on the loop
	 * between jobs, taken by the job) */
	char sc_suspects[STRIPE_SUSPECTS][STRIPE_SUSPECT_NAME];
	unsigned sc_nsuspects;
	uint64_t sc_suspect_seq;
	int sc_fd;
	struct parts_trailer sc_t;
	uint64_t sc_block;		/* the next block to check */
	unsigned char *sc_buf;
	uint64_t sc_buf_cap;
	uint64_t sc_checked;		/* bytes, by the last job */
	uint64_t sc_budget;
	/* job: the corrupt parts found lately (not checked again: their
	 * origin was told, healing will delete them) */
	char sc_found[SCRUB_FOUND_MAX][PARTS_FILE_MAX];
	unsigned sc_nfound;
	/* job: a corrupt part found, and its manifest */
	bool sc_corrupt, sc_report;
	char sc_what[PARTS_FILE_MAX + 64];
	struct manifest sc_m;
	unsigned sc_index;
	/* the report */
	struct peer_conn *sc_pc;
	char *sc_text;
	size_t sc_text_len;
	bool sc_sent;
};

static void scrub_tick(struct loop *loop, struct loop_timer *t);

static void
scrub_rearm(struct scrub *sc, int64_t ms)
{
	if (!sc->sc_stopped)
		loop_timer_set(sc->sc_loop, &sc->sc_timer, ms, scrub_tick);
}

/* -- the walk (pool) --------------------------------------------------- */

/* "ID.I": a part file's name, its index to *index. */
static bool
scrub_part_name(const char *name, unsigned *index)
{
	size_t len = strlen(name);
	char *end;
	unsigned long i;

	if (len < MANIFEST_ID_LEN + 2 || len > MANIFEST_ID_LEN + 3 ||
	    !manifest_id_valid(name, MANIFEST_ID_LEN) ||
	    name[MANIFEST_ID_LEN] != '.' || name[MANIFEST_ID_LEN + 1] < '0' ||
	    name[MANIFEST_ID_LEN + 1] > '9')
		return false;
	i = strtoul(name + MANIFEST_ID_LEN + 1, &end, 10);
	if (*end != '\0' || i >= CONFIG_STRIPE_PARTS_MAX)
		return false;
	*index = (unsigned)i;
	return true;
}

static bool
scrub_known(const struct scrub *sc, const char *name)
{
	unsigned i;

	for (i = 0; i < SCRUB_FOUND_MAX && i < sc->sc_nfound; i++)
		if (strcmp(sc->sc_found[i], name) == 0)
			return true;
	return false;
}

/* The next SCRUB_LIST_MAX part files, from the sc_skip-th on. */
static void
scrub_list(struct scrub *sc)
{
	unsigned seen = 0, index;
	struct dirent *d;
	DIR *dp;
	int fd;

	sc->sc_n = sc->sc_at = 0;
	fd = openat(sc->sc_dirs.pd_objects, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((d = readdir(dp)) != NULL && sc->sc_n < SCRUB_LIST_MAX) {
		if (!scrub_part_name(d->d_name, &index) ||
		    seen++ < sc->sc_skip || scrub_known(sc, d->d_name))
			continue;
		memcpy(sc->sc_names[sc->sc_n++], d->d_name, PARTS_FILE_MAX);
	}
	closedir(dp);
	sc->sc_skip = sc->sc_n == SCRUB_LIST_MAX ? seen : 0;
}

static void
scrub_close(struct scrub *sc)
{
	if (sc->sc_fd != -1)
		close(sc->sc_fd);
	sc->sc_fd = -1;
	parts_trailer_free(&sc->sc_t);
	if (sc->sc_listed)
		sc->sc_at++;
}

/* The next part file to check into sc_cur: a suspect first; false when
 * there is none. */
static bool
scrub_next(struct scrub *sc)
{
	unsigned index;

	while (sc->sc_nsuspects > 0) {
		const char *n = sc->sc_suspects[--sc->sc_nsuspects];

		if (strlen(n) < PARTS_FILE_MAX && scrub_part_name(n, &index) &&
		    !scrub_known(sc, n)) {
			snprintf(sc->sc_cur, sizeof(sc->sc_cur), "%s", n);
			sc->sc_listed = false;
			return true;
		}
	}
	if (sc->sc_at >= sc->sc_n)
		scrub_list(sc);
	if (sc->sc_at >= sc->sc_n)
		return false;
	memcpy(sc->sc_cur, sc->sc_names[sc->sc_at], PARTS_FILE_MAX);
	sc->sc_listed = true;
	return true;
}

/* The corrupt part's manifest, when it still places the part here and
 * does not mark it missing already: a report to make. */
static void
scrub_found(struct scrub *sc, const char *name)
{
	char mname[PARTS_FILE_MAX];
	unsigned index;

	sc->sc_corrupt = true;
	sc->sc_report = false;
	snprintf(sc->sc_found[sc->sc_nfound++ % SCRUB_FOUND_MAX],
	    PARTS_FILE_MAX, "%s", name);
	if (!scrub_part_name(name, &index))
		return;
	memcpy(mname, name, MANIFEST_ID_LEN);
	memcpy(mname + MANIFEST_ID_LEN, ".json", 6);
	if (parts_read_manifest(sc->sc_dirs.pd_objects, mname, &sc->sc_m) ==
	    -1 || index >= sc->sc_m.m_nparts || sc->sc_m.m_parity == 0 ||
	    strcmp(sc->sc_m.m_parts[index].mp_node, sc->sc_self) != 0 ||
	    (sc->sc_m.m_missing & 1u << index))
		return;
	sc->sc_index = index;
	sc->sc_report = true;
}

static void
scrub_job(struct iopool_job *job)
{
	struct scrub *sc = container_of(job, struct scrub, sc_job);
	const char *name;
	struct stat st;
	size_t len;
	int r = 0;

	sc->sc_checked = 0;
	sc->sc_corrupt = sc->sc_report = false;
	if (sc->sc_fd == -1 && !scrub_next(sc))
		return;
	name = sc->sc_cur;
	if (sc->sc_fd == -1) {
		sc->sc_block = 0;
		sc->sc_fd = openat(sc->sc_dirs.pd_objects, name, O_RDONLY |
		    O_CLOEXEC | O_NOFOLLOW);
		if (sc->sc_fd == -1 || fstat(sc->sc_fd, &st) == -1) {
			scrub_close(sc);	/* moved or deleted since */
			return;
		}
		if (parts_trailer_read(sc->sc_fd, (uint64_t)st.st_size,
		    &sc->sc_t, NULL) == -1) {
			if (errno == EINVAL) {
				snprintf(sc->sc_what, sizeof(sc->sc_what),
				    "the trailer of part %s", name);
				scrub_found(sc, name);
			}
			scrub_close(sc);
			return;
		}
	}
	if (sc->sc_buf_cap < sc->sc_t.pt_block) {
		free(sc->sc_buf);
		sc->sc_buf = malloc(sc->sc_t.pt_block);
		sc->sc_buf_cap = sc->sc_buf == NULL ? 0 : sc->sc_t.pt_block;
		if (sc->sc_buf == NULL) {
			scrub_close(sc);
			return;
		}
	}
	while (sc->sc_checked < sc->sc_budget && sc->sc_block <
	    blocksum_count(sc->sc_t.pt_size, sc->sc_t.pt_block)) {
		r = parts_read_block(sc->sc_fd, &sc->sc_t, sc->sc_block,
		    sc->sc_buf, &len);
		if (r == -1)
			break;
		sc->sc_checked += len;
		if (r == 1) {
			snprintf(sc->sc_what, sizeof(sc->sc_what), "block %"
			    PRIu64 " of part %s", sc->sc_block, name);
			scrub_found(sc, name);
			break;
		}
		sc->sc_block++;
	}
	if (r == -1 || sc->sc_corrupt || sc->sc_block >=
	    blocksum_count(sc->sc_t.pt_size, sc->sc_t.pt_block))
		scrub_close(sc);
}

/* -- the report -------------------------------------------------------- */

static void
scrub_report_over(struct scrub *sc)
{
	sc->sc_pc = NULL;
	free(sc->sc_text);
	sc->sc_text = NULL;
	scrub_rearm(sc, 0);
}

static void
scrub_report_head(struct peer_conn *pc, void *arg)
{
	struct scrub *sc = arg;
	int status = pc->pc_resp.status;

	peer_conn_discard(pc);
	if (status == 200)
		log_info("scrub: part %u of %s (%s) reported to %s, to be "
		    "rebuilt", sc->sc_index, sc->sc_m.m_name, sc->sc_m.m_id,
		    sc->sc_m.m_origin);
	else
		log_warnx("scrub: %s refused the report of part %u of %s "
		    "(%d)", sc->sc_m.m_origin, sc->sc_index, sc->sc_m.m_id,
		    status);
	scrub_report_over(sc);
}

static void
scrub_report_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	struct scrub *sc = arg;

	(void)pc;
	log_warnx("scrub: the report of part %u of %s to %s failed (%d)",
	    sc->sc_index, sc->sc_m.m_id, sc->sc_m.m_origin, (int)why);
	scrub_report_over(sc);
}

static void
scrub_report_ignore(struct peer_conn *pc, void *arg)
{
	(void)pc;
	(void)arg;
}

static void
scrub_report_send(struct peer_conn *pc, void *arg)
{
	struct scrub *sc = arg;

	if (!sc->sc_sent) {
		sc->sc_sent = true;
		(void)peer_conn_send(pc, sc->sc_text, sc->sc_text_len);
		return;
	}
	(void)peer_conn_send_end(pc);
}

static const struct peer_handler scrub_report_handler = {
	.on_head = scrub_report_head,
	.on_body = scrub_report_ignore,
	.on_done = scrub_report_ignore,
	.on_fail = scrub_report_fail,
	.on_send = scrub_report_send,
};

/* The next generation of the manifest, the part marked missing, to the
 * origin. Returns false when it cannot be sent. */
static bool
scrub_report(struct scrub *sc)
{
	static const struct http_limits limits = { 8192, 8192, 100, 65536 };
	struct cluster *cl = sc->sc_cluster;
	struct manifest next = sc->sc_m;
	char addr[MEMBER_ADDR_MAX], sig[AUTH_SIGNATURE_SIZE];
	char head[SCRUB_HEAD_MAX], target[64];
	uint8_t nonce[AUTH_NONCE_LEN], digest[AUTH_DIGEST_LEN];
	struct peer_set *set;
	struct peer *p;
	bool alive = false;
	int n;

	next.m_gen++;
	next.m_missing |= 1u << sc->sc_index;
	if ((unsigned)__builtin_popcount(next.m_missing) > next.m_parity)
		return false;	/* more lost than parity: nothing to heal */
	snprintf(target, sizeof(target), "/_/parts/%s/commit", next.m_id);
	if ((sc->sc_text = manifest_encode(&next, &sc->sc_text_len)) == NULL ||
	    auth_body_digest(sc->sc_text, sc->sc_text_len, digest) == -1 ||
	    gossip_member_addr(cl, next.m_origin, addr, sizeof(addr),
	    &alive) == -1 || !alive || (p = self_peer_find(sc->sc_peers,
	    sc->sc_loop, sc->sc_self_addr, addr, &limits, SCRUB_TIMEOUT_MS,
	    &set)) == NULL || auth_nonce(nonce) == -1 ||
	    auth_sign_request(cl->cl_key, cl->cl_name, "POST", target, digest,
	    loop_wall_ms(), nonce, sig, sizeof(sig)) == -1)
		goto fail;
	n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\nContent-Length: %zu\r\n"
	    "%s: %s\r\n%s: %s\r\n\r\n", target, p->p_name, sc->sc_text_len,
	    AUTH_CLUSTER_HEADER, cl->cl_name, AUTH_SIGNATURE_HEADER, sig);
	if (n < 0 || (size_t)n >= sizeof(head))
		goto fail;
	sc->sc_sent = false;
	sc->sc_pc = peer_request(set, p, head, (size_t)n, PEER_REQ_BODY,
	    SCRUB_TIMEOUT_MS, &scrub_report_handler, sc);
	return true;
fail:
	free(sc->sc_text);
	sc->sc_text = NULL;
	return false;
}

/* -- the tick ---------------------------------------------------------- */

static void
scrub_done(struct iopool_job *job)
{
	struct scrub *sc = container_of(job, struct scrub, sc_job);
	uint64_t rate = sc->sc_cfg->stripe.scrub_rate;

	sc->sc_busy = false;
	if (sc->sc_stopped)
		return;
	stripe_add(&sc->sc_shared->ss_scrubbed_bytes, sc->sc_checked);
	if (sc->sc_corrupt) {
		stripe_add(&sc->sc_shared->ss_scrub_corrupt, 1);
		log_warnx("scrub: %s is corrupt", sc->sc_what);
		if (sc->sc_report && scrub_report(sc))
			return;		/* the answer rearms */
	}
	if (sc->sc_checked == 0 || rate == 0) {
		scrub_rearm(sc, SCRUB_IDLE_MS);
		return;
	}
	scrub_rearm(sc, (int64_t)(sc->sc_checked * 1000 / rate));
}

static void
scrub_tick(struct loop *loop, struct loop_timer *t)
{
	struct scrub *sc = container_of(t, struct scrub, sc_timer);
	struct members *mt = sc->sc_cluster->cl_members;
	uint64_t rate = sc->sc_cfg->stripe.scrub_rate;

	(void)loop;
	if (sc->sc_stopped || sc->sc_busy || sc->sc_pc != NULL)
		return;
	if (rate == 0 || members_lock(mt) != 0) {
		scrub_rearm(sc, SCRUB_IDLE_MS);
		return;
	}
	memcpy(sc->sc_self, members_self(mt)->m_facts.mf_name,
	    MEMBER_NAME_MAX);
	memcpy(sc->sc_self_addr, members_self(mt)->m_facts.mf_addr,
	    MEMBER_ADDR_MAX);
	members_unlock(mt);
	if (sc->sc_nsuspects == 0)
		sc->sc_nsuspects = (unsigned)stripe_suspects_since(
		    sc->sc_shared, &sc->sc_suspect_seq, sc->sc_suspects);
	/* A quarter of a second of reads a job, a block at least. */
	sc->sc_budget = rate / 4 > 0 ? rate / 4 : 1;
	sc->sc_busy = true;
	sc->sc_job.work = scrub_job;
	sc->sc_job.done = scrub_done;
	iopool_submit(sc->sc_pool, &sc->sc_job);
}

/* -- life -------------------------------------------------------------- */

struct scrub *
scrub_start(struct loop *loop, struct iopool *pool, const struct config *cfg,
    struct cluster *cl, struct stripe_shared *ss, struct peer_set *peers)
{
	struct scrub *sc = xcalloc(1, sizeof(*sc));
	int state_fd;

	sc->sc_loop = loop;
	sc->sc_pool = pool;
	sc->sc_cluster = cl;
	sc->sc_shared = ss;
	sc->sc_cfg = cfg;
	sc->sc_peers = peers;
	sc->sc_fd = -1;
	sc->sc_dirs.pd_tmp = sc->sc_dirs.pd_pending = -1;
	sc->sc_dirs.pd_objects = sc->sc_dirs.pd_names = -1;
	sc->sc_names = xcalloc(SCRUB_LIST_MAX, sizeof(*sc->sc_names));
	state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (state_fd == -1 || parts_dirs_open(state_fd, &sc->sc_dirs) == -1) {
		log_err("%s/%s", cfg->state_dir, STRIPE_PARTS_DIR);
		if (state_fd != -1)
			close(state_fd);
		scrub_free(sc);
		return NULL;
	}
	close(state_fd);
	scrub_rearm(sc, SCRUB_IDLE_MS);
	return sc;
}

bool
scrub_stop(struct scrub *sc)
{
	if (sc == NULL)
		return false;
	sc->sc_stopped = true;
	loop_timer_cancel(sc->sc_loop, &sc->sc_timer);
	if (sc->sc_pc != NULL) {
		peer_conn_close(sc->sc_pc);
		sc->sc_pc = NULL;
	}
	return sc->sc_busy;
}

void
scrub_free(struct scrub *sc)
{
	if (sc == NULL)
		return;
	if (sc->sc_fd != -1)
		close(sc->sc_fd);
	parts_trailer_free(&sc->sc_t);
	parts_dirs_close(&sc->sc_dirs);
	free(sc->sc_buf);
	free(sc->sc_text);
	free(sc->sc_names);
	free(sc);
}
