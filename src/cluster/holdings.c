/*
 * holdings.c - what this node holds, told to the catalogue (see
 * holdings.h).
 *
 * Threads. The agent's loop thread owns struct holdings but for the
 * fields marked "job": while h_busy, one job of this module is in the
 * agent's I/O pool and only it touches them (the directory being read,
 * the batch of names, the check's cursor); the pool's queue lock orders
 * the hand-over both ways. The loop gathers inotify events into
 * h_pending and hands them over as a batch when no job runs. The
 * catalogue is shared memory under its own lock (catalogue_lock()),
 * taken by the job for short steps, never across a disk call.
 *
 * Phases: the kept versions, then ROOT a slice at a time (batches of
 * events are served between slices), then the check of this node's facts
 * as the table held them before the scan, then watching. A lost event
 * (the inotify queue overflowed, too many names waiting) starts the scan
 * of ROOT again.
 *
 * This file is the loop's side and the holdings' life; holdings_work.c
 * is the job's (a name examined, the phases' steps). They share
 * holdings_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/holdings.h"
#include "cluster/holdings_int.h"
#include "cluster/members.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "store/file.h"
#include "store/name.h"

#define HOLDINGS_WATCH_MASK (IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | \
    IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define HOLDINGS_RESCAN_MS 60000	/* without a watch */
#define HOLDINGS_EVENT_BUF 16384

static void holdings_next(struct holdings *h);

void
holdings_count(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* -- the loop side ---------------------------------------------------- */

static void
holdings_free_names(char **names, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		free(names[k]);
}

static void
holdings_done(struct iopool_job *job)
{
	struct holdings *h = container_of(job, struct holdings, h_job);

	h->h_busy = false;
	if (h->h_kind == HOLDINGS_JOB_BATCH) {
		holdings_free_names(h->h_batch, h->h_nbatch);
		free(h->h_batch);
		h->h_batch = NULL;
		h->h_nbatch = 0;
		h->h_nsurplus_batch = 0;
	} else if (h->h_step_done) {
		switch (h->h_phase) {
		case HOLDINGS_VERSIONS:
			h->h_phase = HOLDINGS_ROOT;
			break;
		case HOLDINGS_ROOT:
			h->h_phase = HOLDINGS_CHECK;
			break;
		case HOLDINGS_CHECK:
			h->h_phase = HOLDINGS_WATCH;
			holdings_count(&h->h_stats.hs_scans, 1);
			if (!h->h_ready)
				log_info("catalogue: %s scanned; %llu versions "
				    "announced, %llu withdrawn, %llu digests "
				    "computed", h->h_cfg->root,
				    (unsigned long long)h->h_stats.hs_announced,
				    (unsigned long long)h->h_stats.hs_withdrawn,
				    (unsigned long long)h->h_stats.hs_digests);
			h->h_ready = true;
			break;
		case HOLDINGS_WATCH:
			break;
		}
	}
	holdings_next(h);
}

static void
holdings_submit(struct holdings *h, enum holdings_job_kind kind)
{
	h->h_busy = true;
	h->h_kind = kind;
	h->h_job.work = holdings_work;
	h->h_job.done = holdings_done;
	iopool_submit(h->h_pool, &h->h_job);
}

/* What runs next: a batch of names when some wait (between the scan's
 * slices too), else the scan's next step. */
static void
holdings_next(struct holdings *h)
{
	if (h->h_busy || h->h_stopping)
		return;
	if (h->h_rescan && h->h_phase == HOLDINGS_WATCH) {
		h->h_rescan = false;
		h->h_phase = HOLDINGS_ROOT;
		/* Every name waiting is seen by the scan. */
		holdings_free_names(h->h_pending, h->h_npending);
		h->h_npending = 0;
	}
	if (h->h_npending > 0 || h->h_nsurplus > 0) {
		h->h_batch = h->h_pending;
		h->h_nbatch = h->h_npending;
		h->h_pending = NULL;
		h->h_npending = h->h_pending_cap = 0;
		memcpy(h->h_surplus_batch, h->h_surplus,
		    h->h_nsurplus * sizeof(*h->h_surplus));
		h->h_nsurplus_batch = h->h_nsurplus;
		h->h_nsurplus = 0;
		holdings_submit(h, HOLDINGS_JOB_BATCH);
		return;
	}
	if (h->h_phase != HOLDINGS_WATCH)
		holdings_submit(h, HOLDINGS_JOB_SCAN);
}

static void
holdings_on_timer(struct loop *loop, struct loop_timer *t)
{
	struct holdings *h = container_of(t, struct holdings, h_timer);

	if (h->h_inotify_fd == -1) {
		/* No watch: a scan now and then stands in for it. */
		h->h_rescan = true;
		loop_timer_set(loop, &h->h_timer, HOLDINGS_RESCAN_MS,
		    holdings_on_timer);
	}
	holdings_next(h);
}

static void
holdings_push(struct holdings *h, const char *name, size_t len)
{
	char *copy;

	if (h->h_rescan)
		return;
	if (h->h_npending >= HOLDINGS_PENDING_MAX) {
		log_warnx("catalogue: more than %d names changed at once; "
		    "scanning %s again", HOLDINGS_PENDING_MAX, h->h_cfg->root);
		h->h_rescan = true;
		return;
	}
	if (h->h_npending == h->h_pending_cap) {
		size_t cap = h->h_pending_cap == 0 ? 64 : 2 * h->h_pending_cap;
		char **p = realloc(h->h_pending, cap * sizeof(*p));

		if (p == NULL) {
			h->h_rescan = true;
			return;
		}
		h->h_pending = p;
		h->h_pending_cap = cap;
	}
	copy = strndup(name, len);
	if (copy == NULL) {
		h->h_rescan = true;
		return;
	}
	h->h_pending[h->h_npending++] = copy;
}

void
holdings_examine(struct holdings *h, const char *name, size_t len)
{
	if (h == NULL || h->h_stopping)
		return;
	holdings_push(h, name, len);
	if (h->h_timer.lt_index == 0)
		loop_timer_set(h->h_loop, &h->h_timer, HOLDINGS_BATCH_MS,
		    holdings_on_timer);
}

void
holdings_drop_surplus(struct holdings *h, const char *name, size_t len,
    const struct digest *d)
{
	struct holdings_surplus *sp;
	size_t k;

	if (h == NULL || h->h_stopping || len > NAME_MAX_LEN)
		return;
	for (k = 0; k < h->h_nsurplus; k++)
		if (strlen(h->h_surplus[k].hs_name) == len &&
		    memcmp(h->h_surplus[k].hs_name, name, len) == 0)
			return;
	if (h->h_nsurplus == HOLDINGS_SURPLUS_MAX)
		return;
	sp = &h->h_surplus[h->h_nsurplus++];
	memcpy(sp->hs_name, name, len);
	sp->hs_name[len] = '\0';
	sp->hs_digest = *d;
	if (h->h_timer.lt_index == 0)
		loop_timer_set(h->h_loop, &h->h_timer, HOLDINGS_BATCH_MS,
		    holdings_on_timer);
}

void
holdings_on_conflict(void *arg, const char *name, size_t len,
    const struct digest *winner, const struct digest *loser)
{
	(void)winner;
	(void)loser;
	holdings_examine(arg, name, len);
}

static void
holdings_on_events(struct loop *loop, int fd, short revents, void *arg)
{
	struct holdings *h = arg;
	char buf[HOLDINGS_EVENT_BUF]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	(void)loop;
	(void)revents;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("catalogue: events of %s lost; "
				    "scanning it again", h->h_cfg->root);
				h->h_rescan = true;
				continue;
			}
			if (ev->len == 0 || (ev->mask & IN_ISDIR))
				continue;
			if (name_is_valid(ev->name, strlen(ev->name)))
				holdings_examine(h, ev->name,
				    strlen(ev->name));
		}
	}
	if (h->h_rescan)
		holdings_next(h);
}

struct holdings *
holdings_start(struct loop *loop, struct iopool *pool,
    const struct config *cfg, struct cluster *cl, struct index *ix)
{
	struct holdings *h = xcalloc(1, sizeof(*h));
	struct members *mt = cl->cl_members;

	h->h_loop = loop;
	h->h_pool = pool;
	h->h_cfg = cfg;
	h->h_cl = cl;
	h->h_cat = cl->cl_catalogue;
	h->h_index = ix;
	h->h_tmp_fd = h->h_state_fd = h->h_inotify_fd = -1;
	h->h_full_warned = -1;
	h->h_facts = xcalloc(HOLDINGS_SLICE, sizeof(*h->h_facts));
	h->h_surplus = xcalloc(HOLDINGS_SURPLUS_MAX, sizeof(*h->h_surplus));
	h->h_surplus_batch = xcalloc(HOLDINGS_SURPLUS_MAX,
	    sizeof(*h->h_surplus_batch));
	if (members_lock(mt) == 0) {
		snprintf(h->h_self, sizeof(h->h_self), "%s",
		    members_self(mt)->m_facts.mf_name);
		members_unlock(mt);
	}
	h->h_root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (h->h_root_fd == -1) {
		log_err("catalogue: root %s", cfg->root);
		goto fail;
	}
	h->h_tmp_fd = openat(h->h_root_fd, FILE_TMP_DIR, O_PATH |
	    O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	h->h_state_fd = open(cfg->state_dir, O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	if (h->h_tmp_fd == -1 || h->h_state_fd == -1) {
		log_err("catalogue: %s", h->h_tmp_fd == -1 ? FILE_TMP_DIR :
		    cfg->state_dir);
		goto fail;
	}
	/* The watch comes first, so that nothing done during the scan is
	 * missed. */
	h->h_inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (h->h_inotify_fd != -1 && (inotify_add_watch(h->h_inotify_fd,
	    cfg->root, HOLDINGS_WATCH_MASK) == -1 ||
	    loop_add(loop, h->h_inotify_fd, POLLIN, holdings_on_events,
	    h) == -1)) {
		close(h->h_inotify_fd);
		h->h_inotify_fd = -1;
	}
	if (h->h_inotify_fd == -1) {
		log_warn("catalogue: no inotify watch on %s; scanning it every "
		    "%d s", cfg->root, HOLDINGS_RESCAN_MS / 1000);
		loop_timer_set(loop, &h->h_timer, HOLDINGS_RESCAN_MS,
		    holdings_on_timer);
	}
	h->h_phase = HOLDINGS_VERSIONS;
	holdings_next(h);
	return h;
fail:
	holdings_free(h);
	return NULL;
}

bool
holdings_ready(const struct holdings *h)
{
	return h != NULL && h->h_ready;
}

const struct holdings_stats *
holdings_stats(const struct holdings *h)
{
	return &h->h_stats;
}

bool
holdings_stop(struct holdings *h)
{
	if (h == NULL)
		return false;
	if (!h->h_stopping) {
		__atomic_store_n(&h->h_stopping, true, __ATOMIC_RELAXED);
		loop_timer_cancel(h->h_loop, &h->h_timer);
	}
	return h->h_busy;
}

void
holdings_free(struct holdings *h)
{
	if (h == NULL)
		return;
	if (h->h_inotify_fd != -1) {
		loop_del(h->h_loop, h->h_inotify_fd);
		close(h->h_inotify_fd);
	}
	loop_timer_cancel(h->h_loop, &h->h_timer);
	if (h->h_dir != NULL)
		closedir(h->h_dir);
	holdings_free_names(h->h_pending, h->h_npending);
	free(h->h_pending);
	holdings_free_names(h->h_batch, h->h_nbatch);
	free(h->h_batch);
	free(h->h_facts);
	free(h->h_surplus);
	free(h->h_surplus_batch);
	if (h->h_state_fd != -1)
		close(h->h_state_fd);
	if (h->h_tmp_fd != -1)
		close(h->h_tmp_fd);
	if (h->h_root_fd != -1)
		close(h->h_root_fd);
	free(h);
}
