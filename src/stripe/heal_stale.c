/*
 * heal_stale.c - a store's stale check (see heal.h): for each object
 * with a part here, its origin's manifest asked for; a part rebuilt
 * elsewhere while this store was away is dropped. Loop thread of the
 * agent; the list of the objects made in its pool (h_sjob), touching
 * only the stale list while h_sbusy.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "event/loop.h"
#include "peer/peer.h"
#include "stripe/heal.h"
#include "stripe/heal_int.h"
#include "stripe/manifest.h"
#include "stripe/parts.h"
#include "stripe/stripe.h"

static void heal_stale_next(struct heal *h);
static const struct peer_handler heal_stale_handler;

static void
heal_stale_list_job(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_sjob);
	struct manifest m;
	unsigned seen = 0;
	struct dirent *d;
	size_t len;
	DIR *dp;
	int fd;

	h->h_nstale = 0;
	fd = openat(h->h_dirs.pd_objects, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((d = readdir(dp)) != NULL && h->h_nstale < HEAL_STALE_MAX) {
		struct heal_stale *s = &h->h_stale[h->h_nstale];

		len = strlen(d->d_name);
		if (len != MANIFEST_ID_LEN + 5 ||
		    strcmp(d->d_name + MANIFEST_ID_LEN, ".json") != 0 ||
		    seen++ < h->h_sskip ||
		    parts_read_manifest(h->h_dirs.pd_objects, d->d_name, &m) ==
		    -1 || strcmp(m.m_origin, h->h_self) == 0 ||
		    manifest_part_of(&m, h->h_self) < 0)
			continue;
		memcpy(s->hs_id, m.m_id, sizeof(s->hs_id));
		memcpy(s->hs_origin, m.m_origin, MEMBER_NAME_MAX);
		s->hs_gen = m.m_gen;
		h->h_nstale++;
	}
	closedir(dp);
	h->h_sseen = seen;
}

static void
heal_stale_list_done(struct iopool_job *job)
{
	struct heal *h = container_of(job, struct heal, h_sjob);

	h->h_sbusy = false;
	if (h->h_stopped)
		return;
	/* The next pass goes on where this one stopped. */
	h->h_sskip = h->h_nstale == HEAL_STALE_MAX ? h->h_sseen : 0;
	h->h_sat = 0;
	h->h_sdeferred = false;
	heal_stale_next(h);
}

static void
heal_stale_over(struct heal *h)
{
	h->h_spc = NULL;
	h->h_sdelete = false;
	h->h_sat++;
	heal_stale_next(h);
}

static void
heal_stale_head(struct peer_conn *pc, void *arg)
{
	struct heal *h = arg;
	const struct heal_stale *s = &h->h_stale[h->h_sat];

	if (h->h_sdelete) {
		if (pc->pc_resp.status == 200) {
			stripe_add(&h->h_shared->ss_stale_dropped, 1);
			log_info("heal: the part of %s here was rebuilt "
			    "elsewhere while this store was away: dropped",
			    s->hs_id);
		}
		peer_conn_discard(pc);
		heal_stale_over(h);
		return;
	}
	if (pc->pc_resp.status != 200) {
		peer_conn_discard(pc);
		heal_stale_over(h);
		return;
	}
	buf_reset(&h->h_sbody);
}

static void
heal_stale_body(struct peer_conn *pc, void *arg)
{
	struct heal *h = arg;
	size_t n = peer_conn_data_len(pc);

	if (h->h_sbody.len + n > MANIFEST_MAX) {
		peer_conn_close(pc);
		heal_stale_over(h);
		return;
	}
	buf_append(&h->h_sbody, peer_conn_data(pc), n);
	peer_conn_consumed(pc);
}

static void
heal_stale_done(struct peer_conn *pc, void *arg)
{
	struct heal *h = arg;
	const struct heal_stale *s = &h->h_stale[h->h_sat];
	struct manifest m;
	char target[64];

	peer_conn_release(pc);
	h->h_spc = NULL;
	if (h->h_sdelete || manifest_decode(h->h_sbody.data, h->h_sbody.len,
	    &m, NULL) == -1 || strcmp(m.m_id, s->hs_id) != 0 ||
	    m.m_gen <= s->hs_gen || manifest_part_of(&m, h->h_self) >= 0) {
		heal_stale_over(h);
		return;
	}
	snprintf(target, sizeof(target), "/_/parts/%s", s->hs_id);
	h->h_sdelete = true;
	h->h_spc = heal_request(h, h->h_self, "DELETE", target, "",
	    &heal_stale_handler, h);
	if (h->h_spc == NULL)
		heal_stale_over(h);
}

static void
heal_stale_fail(struct peer_conn *pc, enum peer_failure why, void *arg)
{
	(void)pc;
	(void)why;
	heal_stale_over(arg);
}

static const struct peer_handler heal_stale_handler = {
	.on_head = heal_stale_head,
	.on_body = heal_stale_body,
	.on_done = heal_stale_done,
	.on_fail = heal_stale_fail,
};

/* The next object of the list: its origin asked for its manifest. */
static void
heal_stale_next(struct heal *h)
{
	char target[96];

	if (h->h_stopped)
		return;
	for (; h->h_sat < h->h_nstale; h->h_sat++) {
		const struct heal_stale *s = &h->h_stale[h->h_sat];

		snprintf(target, sizeof(target), "/_/parts/%s/manifest",
		    s->hs_id);
		h->h_spc = heal_request(h, s->hs_origin, "GET", target, "",
		    &heal_stale_handler, h);
		if (h->h_spc != NULL)
			return;
		h->h_sdeferred = true;	/* its origin is away */
	}
	loop_timer_set(h->h_loop, &h->h_stimer, h->h_sskip > 0 ?
	    HEAL_STALE_FIRST_MS : h->h_sdeferred ? HEAL_STALE_RETRY_MS :
	    HEAL_STALE_MS, heal_stale_tick);
}

void
heal_stale_tick(struct loop *loop, struct loop_timer *t)
{
	struct heal *h = container_of(t, struct heal, h_stimer);

	(void)loop;
	if (h->h_stopped || h->h_sbusy || h->h_spc != NULL)
		return;
	if (!heal_self(h)) {
		loop_timer_set(h->h_loop, &h->h_stimer, HEAL_STALE_MS,
		    heal_stale_tick);
		return;
	}
	h->h_sbusy = true;
	h->h_sjob.work = heal_stale_list_job;
	h->h_sjob.done = heal_stale_list_done;
	iopool_submit(h->h_pool, &h->h_sjob);
}
