/*
 * move.c - a part moved from one store to another, and its record (see
 * move.h): the record and its replay, the requests of the switch, the
 * end of a move; the copy is move_copy.c's (move_int.h). The record's
 * codec is pure; the rest runs on the agent's loop, with the record's
 * writes in jobs of its pool, which touch only the fields marked "job"
 * while mv_busy; the loop never ends a move while a job is out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/auth.h"
#include "cluster/cluster.h"
#include "cluster/gossip_round.h"
#include "core/config.h"
#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "peer/peer_set.h"
#include "stripe/move.h"
#include "stripe/move_int.h"
#include "stripe/parts.h"
#include "stripe/parts_serve.h"
#include "stripe/self_peer.h"
#include "stripe/stripe.h"

/* -- the record -------------------------------------------------------- */

char *
move_entry_encode(const char *from, unsigned index, bool switched,
    const char *manifest_text, size_t *len)
{
	json_t *o = json_pack("{s:s,s:I,s:b,s:s}", "from", from, "index",
	    (json_int_t)index, "switched", switched, "manifest",
	    manifest_text);
	char *text;

	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text != NULL)
		*len = strlen(text);
	return text;
}

int
move_entry_decode(const char *text, size_t len, char *from, unsigned *index,
    bool *switched, struct manifest *next)
{
	json_t *o, *f, *i, *m, *sw;
	int rc = -1;

	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	f = json_object_get(o, "from");
	i = json_object_get(o, "index");
	sw = json_object_get(o, "switched");
	m = json_object_get(o, "manifest");
	if (json_object_size(o) != 4 || !json_is_string(f) ||
	    !json_is_boolean(sw) ||
	    !json_is_integer(i) || !json_is_string(m) ||
	    json_string_length(f) >= MEMBER_NAME_MAX ||
	    strlen(json_string_value(f)) != json_string_length(f) ||
	    (json_string_length(f) > 0 && !member_name_valid(
	    json_string_value(f), MEMBER_NAME_MAX)) ||
	    manifest_decode(json_string_value(m), json_string_length(m), next,
	    NULL) == -1 || json_integer_value(i) < 0 ||
	    json_integer_value(i) >= (json_int_t)next->m_nparts ||
	    next->m_gen == 0 || strcmp(next->m_parts[json_integer_value(
	    i)].mp_node, json_string_value(f)) == 0)
		goto out;
	memcpy(from, json_string_value(f), json_string_length(f) + 1);
	*index = (unsigned)json_integer_value(i);
	*switched = json_is_true(sw);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* -- the end ----------------------------------------------------------- */

void
move_finish(struct move *mv, enum move_result r, const char *why)
{
	move_done_fn *done = mv->mv_done;
	unsigned i;

	if (why != NULL && why != mv->mv_why)
		snprintf(mv->mv_why, sizeof(mv->mv_why), "%s", why);
	if (mv->mv_timed)
		loop_timer_cancel(mv->mv_loop, &mv->mv_timer);
	mv->mv_timed = false;
	for (i = 0; i < mv->mv_nlegs; i++)
		if (mv->mv_legs[i].ml_pc != NULL) {
			peer_conn_close(mv->mv_legs[i].ml_pc);
			mv->mv_legs[i].ml_pc = NULL;
		}
	if (mv->mv_fd != -1)
		close(mv->mv_fd);
	mv->mv_fd = -1;
	free(mv->mv_text);
	mv->mv_text = NULL;
	mv->mv_phase = PHASE_IDLE;
	mv->mv_done = NULL;
	done(mv->mv_arg, r, mv->mv_size, why != NULL ? mv->mv_why : NULL);
}

void
move_submit(struct move *mv, void (*work)(struct iopool_job *),
    void (*done)(struct iopool_job *))
{
	mv->mv_busy = true;
	mv->mv_job.work = work;
	mv->mv_job.done = done;
	iopool_submit(mv->mv_pool, &mv->mv_job);
}

static void
move_unrecord_job(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);
	int fd;

	if (unlinkat(mv->mv_moves_fd, mv->mv_next.m_id, 0) == 0 &&
	    (fd = openat(mv->mv_moves_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

static void
move_unrecord_done(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);

	mv->mv_busy = false;
	if (mv->mv_stopped)
		return;
	move_finish(mv, mv->mv_result, mv->mv_result == MOVE_DONE ? NULL :
	    mv->mv_why);
}

/* The record goes, then the move ends with r. */
static void
move_unrecord(struct move *mv, enum move_result r)
{
	mv->mv_phase = PHASE_UNRECORD;
	mv->mv_result = r;
	move_submit(mv, move_unrecord_job, move_unrecord_done);
}

/* -- requests ---------------------------------------------------------- */

/* A signed request to `node` for leg l; false when the node is not
 * alive or nothing could be signed. */
bool
move_request(struct move *mv, struct move_leg *l, const char *method,
    const char *target, uint64_t len, const uint8_t *digest, unsigned flags,
    const struct peer_handler *h)
{
	static const struct http_limits limits = { 8192, 8192, 100, 65536 };
	struct cluster *cl = mv->mv_cluster;
	char addr[MEMBER_ADDR_MAX], self[MEMBER_ADDR_MAX] = "";
	char sig[AUTH_SIGNATURE_SIZE], head[MOVE_HEAD_MAX], block[64] = "";
	uint8_t nonce[AUTH_NONCE_LEN];
	struct peer_set *set;
	struct peer *p;
	bool alive = false;
	int n;

	l->ml_mv = mv;
	l->ml_sent = false;
	l->ml_status = 0;
	if (members_lock(cl->cl_members) == 0) {
		memcpy(self, members_self(cl->cl_members)->m_facts.mf_addr,
		    sizeof(self));
		members_unlock(cl->cl_members);
	}
	if (gossip_member_addr(cl, l->ml_node, addr, sizeof(addr), &alive) ==
	    -1 || !alive || (p = self_peer_find(mv->mv_peers, mv->mv_loop,
	    self, addr, &limits, MOVE_TIMEOUT_MS, &set)) == NULL ||
	    auth_nonce(nonce) == -1 || auth_sign_request(cl->cl_key,
	    cl->cl_name, method, target, digest, loop_wall_ms(), nonce, sig,
	    sizeof(sig)) == -1)
		return false;
	/* A part's checksums are made by the block of its object. */
	if (strcmp(method, "PUT") == 0)
		snprintf(block, sizeof(block), "%s: %" PRIu64 "\r\n",
		    PARTS_BLOCK_HEADER, mv->mv_next.m_block);
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shoal/" SHOAL_VERSION "\r\nContent-Length: %" PRIu64
	    "\r\n%s: %s\r\n%s: %s\r\n%s\r\n", method, target, p->p_name,
	    len, AUTH_CLUSTER_HEADER, cl->cl_name, AUTH_SIGNATURE_HEADER, sig,
	    block);
	if (n < 0 || (size_t)n >= sizeof(head))
		return false;
	l->ml_pc = peer_request(set, p, head, (size_t)n, flags,
	    MOVE_TIMEOUT_MS, h, l);
	return true;
}

static void move_legs_over(struct move *mv);

static void
move_leg_over(struct move_leg *l, int status)
{
	struct move *mv = l->ml_mv;

	l->ml_pc = NULL;
	l->ml_status = status;
	if (--mv->mv_waiting == 0)
		move_legs_over(mv);
}

static void
move_leg_head(struct peer_conn *pc, void *arg)
{
	int status = pc->pc_resp.status;

	peer_conn_discard(pc);
	move_leg_over(arg, status);
}

static void
move_leg_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	(void)pc;
	(void)why;
	move_leg_over(arg, 0);
}

void
move_leg_ignore(struct peer_conn *pc, void *arg)
{
	(void)pc;
	(void)arg;
}

/* The next manifest as the body of a commit. */
static void
move_leg_send(struct peer_conn *pc, void *arg)
{
	struct move_leg *l = arg;

	if (!l->ml_sent) {
		l->ml_sent = true;
		(void)peer_conn_send(pc, l->ml_mv->mv_text,
		    l->ml_mv->mv_text_len);
		return;
	}
	(void)peer_conn_send_end(pc);
}

static const struct peer_handler move_leg_handler = {
	.on_head = move_leg_head,
	.on_body = move_leg_ignore,
	.on_done = move_leg_ignore,
	.on_fail = move_leg_fail,
	.on_send = move_leg_send,
};

/* Sends the requests of legs [0, n) (ml_node set); a leg that cannot be
 * sent counts as answered with 0. */
static void
move_send_legs(struct move *mv, unsigned n, const char *method)
{
	char target[64];
	unsigned i;
	bool post = strcmp(method, "POST") == 0;

	mv->mv_nlegs = n;
	mv->mv_waiting = n + 1;		/* until every request is out */
	if (post)
		snprintf(target, sizeof(target), "/_/parts/%s/commit",
		    mv->mv_next.m_id);
	else
		snprintf(target, sizeof(target), "/_/parts/%s",
		    mv->mv_next.m_id);
	for (i = 0; i < n; i++)
		if (!move_request(mv, &mv->mv_legs[i], method, target,
		    post ? mv->mv_text_len : 0, post ? mv->mv_text_digest :
		    NULL, post ? PEER_REQ_BODY : 0, &move_leg_handler))
			mv->mv_waiting--;
	if (--mv->mv_waiting == 0)
		move_legs_over(mv);
}

/* -- the switch -------------------------------------------------------- */

static void move_record(struct move *mv);

/* Sends the next manifest (POST .../commit) or a DELETE to one node. */
static void
move_ask(struct move *mv, enum move_phase phase, const char *node,
    const char *method)
{
	mv->mv_phase = phase;
	memcpy(mv->mv_legs[0].ml_node, node, MEMBER_NAME_MAX);
	move_send_legs(mv, 1, method);
}

/* The stores of the object but the new one and the origin. */
static void
move_switch_others(struct move *mv)
{
	const struct manifest *m = &mv->mv_next;
	unsigned i, n = 0;

	mv->mv_phase = PHASE_SWITCH;
	/* A part marked missing has no copy to switch (its store is dead,
	 * or lost it): a stale one there is dropped by that store. */
	for (i = 0; i < m->m_nparts; i++)
		if (i != mv->mv_index && !(m->m_missing & 1u << i) &&
		    strcmp(m->m_parts[i].mp_node, m->m_origin) != 0)
			memcpy(mv->mv_legs[n++].ml_node, m->m_parts[i].mp_node,
			    MEMBER_NAME_MAX);
	move_send_legs(mv, n, "POST");
}

static void
move_delete_old(struct move *mv)
{
	if (mv->mv_from[0] == '\0') {
		move_unrecord(mv, MOVE_DONE);
		return;
	}
	move_ask(mv, PHASE_DELETE, mv->mv_from, "DELETE");
}

/* Every leg of the phase answered (or could not be asked). */
static void
move_legs_over(struct move *mv)
{
	const char *to = mv->mv_next.m_parts[mv->mv_index].mp_node;
	struct move_leg *l = NULL;
	unsigned i;

	if (mv->mv_stopped)
		return;
	/* Once the origin took the next manifest, a store that has a
	 * later one has it from a move that followed this one. */
	for (i = 0; i < mv->mv_nlegs && l == NULL; i++)
		if (mv->mv_legs[i].ml_status != 200 &&
		    (mv->mv_phase != PHASE_SWITCH ||
		    mv->mv_legs[i].ml_status != 412))
			l = &mv->mv_legs[i];
	if (l == NULL) {
		switch (mv->mv_phase) {
		case PHASE_COMMIT:
			move_ask(mv, PHASE_ORIGIN, mv->mv_next.m_origin,
			    "POST");
			break;
		case PHASE_ORIGIN:
			mv->mv_switched = true;
			move_record(mv);
			break;
		case PHASE_SWITCH:
			move_delete_old(mv);
			break;
		default:		/* DELETE */
			move_unrecord(mv, mv->mv_result);
			break;
		}
		return;
	}
	/* The new store never committed, or the origin took another move
	 * of the object first: no copy but the new store's has the next
	 * manifest, which goes with the copy. */
	if ((mv->mv_phase == PHASE_COMMIT && (l->ml_status == 404 ||
	    l->ml_status == 412)) || (mv->mv_phase == PHASE_ORIGIN &&
	    l->ml_status == 412)) {
		snprintf(mv->mv_why, sizeof(mv->mv_why), "%s refused the next "
		    "manifest (%d)", l->ml_node, l->ml_status);
		mv->mv_result = MOVE_FAILED;
		if (mv->mv_phase == PHASE_ORIGIN)
			move_ask(mv, PHASE_DELETE, to, "DELETE");
		else
			move_unrecord(mv, MOVE_FAILED);
		return;
	}
	snprintf(mv->mv_why, sizeof(mv->mv_why), "%s %s (%d): the switch is "
	    "recorded and will be replayed", l->ml_node, l->ml_status == 0 ?
	    "did not answer" : "refused", l->ml_status);
	move_finish(mv, MOVE_PENDING, mv->mv_why);
}

static void
move_record_job(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);
	size_t len;
	char *text;

	mv->mv_err = 0;
	text = move_entry_encode(mv->mv_from, mv->mv_index, mv->mv_switched,
	    mv->mv_text, &len);
	if (text == NULL) {
		mv->mv_err = ENOMEM;
		return;
	}
	if (parts_replace_file(mv->mv_tmp_fd, mv->mv_moves_fd,
	    mv->mv_next.m_id, text, len) == -1)
		mv->mv_err = errno;
	free(text);
}

static void
move_record_done(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);

	mv->mv_busy = false;
	if (mv->mv_stopped)
		return;
	if (mv->mv_err != 0) {
		snprintf(mv->mv_why, sizeof(mv->mv_why), "cannot record the "
		    "switch: %s", strerror(mv->mv_err));
		move_finish(mv, mv->mv_switched ? MOVE_PENDING : MOVE_FAILED,
		    mv->mv_why);
		return;
	}
	if (mv->mv_switched)
		move_switch_others(mv);
	else
		move_ask(mv, PHASE_COMMIT, mv->mv_next.m_parts[
		    mv->mv_index].mp_node, "POST");
}

/* The record (written again once the origin took the next manifest). */
static void
move_record(struct move *mv)
{
	mv->mv_phase = PHASE_RECORD;
	move_submit(mv, move_record_job, move_record_done);
}

/* mv_next, mv_index, mv_from and mv_switched are set: its text, then
 * the record (or, replayed, the step it is at). */
int
move_switch_begin(struct move *mv, bool recorded)
{
	mv->mv_result = MOVE_DONE;
	mv->mv_text = manifest_encode(&mv->mv_next, &mv->mv_text_len);
	if (mv->mv_text == NULL || auth_body_digest(mv->mv_text,
	    mv->mv_text_len, mv->mv_text_digest) == -1) {
		move_finish(mv, recorded ? MOVE_PENDING : MOVE_FAILED,
		    "out of memory");
		return 0;
	}
	if (!recorded)
		move_record(mv);
	else if (mv->mv_switched)
		move_switch_others(mv);
	else
		move_ask(mv, PHASE_COMMIT, mv->mv_next.m_parts[
		    mv->mv_index].mp_node, "POST");
	return 0;
}

int
move_switch(struct move *mv, const struct manifest *next, unsigned index,
    const char *from, move_done_fn *done, void *arg)
{
	if (mv->mv_phase != PHASE_IDLE || mv->mv_busy || mv->mv_stopped)
		return -1;
	mv->mv_done = done;
	mv->mv_arg = arg;
	mv->mv_next = *next;
	mv->mv_index = index;
	mv->mv_size = next->m_parts[index].mp_size;
	mv->mv_switched = false;
	snprintf(mv->mv_from, sizeof(mv->mv_from), "%s", from);
	return move_switch_begin(mv, false);
}

int
move_part(struct move *mv, const struct manifest *m, unsigned index,
    const char *to, int dir_fd, const char *name, uint64_t rate,
    move_done_fn *done, void *arg)
{
	if (mv->mv_phase != PHASE_IDLE || mv->mv_busy || mv->mv_stopped)
		return -1;
	mv->mv_next = *m;
	mv->mv_next.m_gen = m->m_gen + 1;
	snprintf(mv->mv_next.m_parts[index].mp_node, MEMBER_NAME_MAX, "%s",
	    to);
	mv->mv_index = index;
	snprintf(mv->mv_from, sizeof(mv->mv_from), "%s",
	    m->m_parts[index].mp_node);
	return move_copy_start(mv, dir_fd, name, rate, done, arg);
}

int
move_rebuilt(struct move *mv, const struct manifest *next, unsigned index,
    const char *from, int dir_fd, const char *name, move_done_fn *done,
    void *arg)
{
	if (mv->mv_phase != PHASE_IDLE || mv->mv_busy || mv->mv_stopped)
		return -1;
	mv->mv_next = *next;
	mv->mv_index = index;
	snprintf(mv->mv_from, sizeof(mv->mv_from), "%s", from);
	return move_copy_start(mv, dir_fd, name, 0, done, arg);
}

/* -- the replay -------------------------------------------------------- */

static void
move_look_job(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);
	char text[MOVE_ENTRY_MAX];
	unsigned seen = 0, pass;
	struct dirent *d;
	ssize_t n;
	DIR *dp;
	int fd, efd;

	mv->mv_found = false;
	/* The mv_turn-th record (modulo their number), so that one that
	 * cannot be replayed does not hold up the others. */
	for (pass = 0; pass < 2 && !mv->mv_found; pass++) {
		fd = openat(mv->mv_moves_fd, ".", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
			if (fd != -1)
				close(fd);
			return;
		}
		while ((d = readdir(dp)) != NULL) {
			if (!manifest_id_valid(d->d_name, strlen(d->d_name)) ||
			    (pass == 0 && seen++ < mv->mv_turn))
				continue;
			efd = openat(fd, d->d_name, O_RDONLY | O_CLOEXEC |
			    O_NOFOLLOW);
			if (efd == -1)
				continue;
			n = pread(efd, text, sizeof(text), 0);
			close(efd);
			if (n > 0 && move_entry_decode(text, (size_t)n,
			    mv->mv_from, &mv->mv_index, &mv->mv_switched,
			    &mv->mv_next) == 0 &&
			    strcmp(mv->mv_next.m_id, d->d_name) == 0) {
				mv->mv_found = true;
				break;
			}
		}
		closedir(dp);
		if (!mv->mv_found)
			mv->mv_turn = 0;
	}
	mv->mv_turn++;
}

static void
move_look_done(struct iopool_job *job)
{
	struct move *mv = container_of(job, struct move, mv_job);

	mv->mv_busy = false;
	if (mv->mv_stopped)
		return;
	if (!mv->mv_found) {
		mv->mv_size = 0;
		move_finish(mv, MOVE_NONE, NULL);
		return;
	}
	mv->mv_size = mv->mv_next.m_parts[mv->mv_index].mp_size;
	(void)move_switch_begin(mv, true);
}

int
move_replay(struct move *mv, move_done_fn *done, void *arg)
{
	if (mv->mv_phase != PHASE_IDLE || mv->mv_busy || mv->mv_stopped)
		return -1;
	mv->mv_done = done;
	mv->mv_arg = arg;
	mv->mv_phase = PHASE_LOOK;
	move_submit(mv, move_look_job, move_look_done);
	return 0;
}

bool
move_recorded(const struct move *mv, const char *id)
{
	struct stat st;

	return fstatat(mv->mv_moves_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* -- life -------------------------------------------------------------- */

struct move *
move_create(struct loop *loop, struct iopool *pool, const struct config *cfg,
    struct cluster *cl, struct peer_set *peers)
{
	struct move *mv = xcalloc(1, sizeof(*mv));
	int state_fd;

	mv->mv_loop = loop;
	mv->mv_pool = pool;
	mv->mv_cluster = cl;
	mv->mv_peers = peers;
	mv->mv_fd = mv->mv_moves_fd = mv->mv_tmp_fd = -1;
	mv->mv_buf = xcalloc(1, MOVE_CHUNK_MAX);
	state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (state_fd != -1) {
		(void)mkdirat(state_fd, STRIPE_ORIGIN_DIR, 0700);
		(void)mkdirat(state_fd, STRIPE_MOVES, 0700);
		(void)mkdirat(state_fd, STRIPE_PARTS_DIR, 0700);
		(void)mkdirat(state_fd, STRIPE_PARTS_TMP, 0700);
		mv->mv_moves_fd = openat(state_fd, STRIPE_MOVES, O_PATH |
		    O_DIRECTORY | O_CLOEXEC);
		mv->mv_tmp_fd = openat(state_fd, STRIPE_PARTS_TMP, O_PATH |
		    O_DIRECTORY | O_CLOEXEC);
		close(state_fd);
	}
	if (mv->mv_moves_fd == -1 || mv->mv_tmp_fd == -1) {
		log_err("%s/%s", cfg->state_dir, STRIPE_MOVES);
		move_free(mv);
		return NULL;
	}
	return mv;
}

bool
move_busy(const struct move *mv)
{
	return mv->mv_phase != PHASE_IDLE || mv->mv_busy;
}

bool
move_stop(struct move *mv)
{
	unsigned i;

	if (mv == NULL)
		return false;
	mv->mv_stopped = true;
	if (mv->mv_timed)
		loop_timer_cancel(mv->mv_loop, &mv->mv_timer);
	mv->mv_timed = false;
	for (i = 0; i < MOVE_LEGS; i++)
		if (mv->mv_legs[i].ml_pc != NULL) {
			peer_conn_close(mv->mv_legs[i].ml_pc);
			mv->mv_legs[i].ml_pc = NULL;
		}
	return mv->mv_busy;
}

void
move_free(struct move *mv)
{
	if (mv == NULL)
		return;
	if (mv->mv_fd != -1)
		close(mv->mv_fd);
	if (mv->mv_moves_fd != -1)
		close(mv->mv_moves_fd);
	if (mv->mv_tmp_fd != -1)
		close(mv->mv_tmp_fd);
	free(mv->mv_text);
	free(mv->mv_buf);
	free(mv);
}
