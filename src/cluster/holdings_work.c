/*
 * holdings_work.c - the job of the holdings in the agent's I/O pool (see
 * holdings.c): one name examined (ROOT's file and the kept versions,
 * their digests, this node's facts announced or withdrawn, a saved copy
 * or a surplus replica dropped), and the steps of the phases: the kept
 * versions, ROOT a slice at a time, the check of this node's facts as
 * the table held them before the scan. Pool thread, while h_busy: it
 * touches the fields of struct holdings marked "job", and takes the
 * catalogue's lock for short steps, never across a disk call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/hlc.h"
#include "cluster/holdings.h"
#include "cluster/holdings_int.h"
#include "cluster/members.h"
#include "core/config.h"
#include "core/list.h"
#include "core/log.h"
#include "event/iopool.h"
#include "store/file.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/name.h"
#include "store/versions.h"

#define HOLDINGS_NAME_VERSIONS 8	/* versions of a name looked at */

/* Read by the job, set by the loop. */
static bool
holdings_stopping(const struct holdings *h)
{
	return __atomic_load_n(&h->h_stopping, __ATOMIC_RELAXED);
}

/* -- examining one name (pool thread) ---------------------------------- */

/* The content digest of an opened file: the recorded one when still
 * valid (fi_content), else computed, and then recorded. */
static int
holdings_digest(struct holdings *h, const struct file_info *fi,
    struct digest *d)
{
	if (fi->fi_content) {
		*d = fi->fi_digest;
		return 0;
	}
	if (file_content_digest(fi->fi_fd, fi->fi_size, d) == -1)
		return -1;
	holdings_count(&h->h_stats.hs_digests, 1);
	/* Without user xattrs it is computed again next time. */
	(void)file_digest_record(fi->fi_fd, d);
	return 0;
}

/* The origin of fd: recorded, or this node at the file's mtime, which is
 * then recorded so that it stays the same across restarts. */
static void
holdings_origin(struct holdings *h, int fd, const struct timespec *mtime,
    char node[MEMBER_NAME_MAX], uint64_t *hlc)
{
	if (file_origin_read(fd, hlc, node, MEMBER_NAME_MAX) == 0)
		return;
	snprintf(node, MEMBER_NAME_MAX, "%s", h->h_self);
	*hlc = hlc_from_ms((int64_t)mtime->tv_sec * 1000 +
	    mtime->tv_nsec / 1000000);
	(void)file_origin_write(fd, *hlc, node);
}

/* What ROOT holds under a name. */
struct holdings_root {
	bool hr_file;			/* a regular file */
	bool hr_copy;			/* ... a saved TTL copy */
	bool hr_digest_ok;		/* hr_digest known */
	struct digest hr_digest;
	uint64_t hr_size;
	struct file_identity hr_id;
	char hr_origin[MEMBER_NAME_MAX];
	uint64_t hr_hlc;
};

static void
holdings_look_root(struct holdings *h, const char *name,
    struct holdings_root *r)
{
	struct file_info fi;

	memset(r, 0, sizeof(*r));
	file_open(h->h_root_fd, name, -1, &fi);
	if (fi.fi_fd == -1) {
		/* Not there; or there and unreadable now, and then nothing is
		 * decided about it. */
		r->hr_file = fi.fi_errno != ENOENT;
		return;
	}
	r->hr_file = true;
	r->hr_size = fi.fi_size;
	r->hr_id = fi.fi_id;
	/* Before a digest is recorded: recording one unmarks a copy. */
	r->hr_copy = file_is_copy(fi.fi_fd);
	r->hr_digest_ok = holdings_digest(h, &fi, &r->hr_digest) == 0;
	if (!r->hr_copy && r->hr_digest_ok)
		holdings_origin(h, fi.fi_fd, &fi.fi_mtime, r->hr_origin,
		    &r->hr_hlc);
	close(fi.fi_fd);
}

/* Whether this node keeps version d of name aside. */
static bool
holdings_kept(struct holdings *h, const char *name, const struct digest *d)
{
	struct file_info fi;

	versions_open(h->h_state_fd, name, d, &fi);
	if (fi.fi_fd == -1)
		return false;
	close(fi.fi_fd);
	return true;
}

/* A saved copy of a loser goes, file and record. */
static void
holdings_drop_copy(struct holdings *h, const char *name, size_t len,
    const struct holdings_root *r)
{
	struct index_identity id;
	int rm = file_remove_copy(h->h_root_fd, h->h_tmp_fd, name, &r->hr_id);

	if (rm == -1) {
		log_warn("catalogue: removing the saved copy of %s", name);
		return;
	}
	id.id_dev = r->hr_id.id_dev;
	id.id_ino = r->hr_id.id_ino;
	id.id_size = r->hr_id.id_size;
	if (index_remove_if(h->h_index, name, len, &id, loop_wall_ms()) == -1)
		log_warn("catalogue: the index record of %s", name);
	if (rm == 0) {
		holdings_count(&h->h_stats.hs_copies_dropped, 1);
		log_info("catalogue: dropped the saved copy of %s, a version "
		    "that lost a conflict", name);
	}
}

/*
 * Examines `name` (see holdings.h): announces ROOT's file, withdraws
 * what this node no longer holds, moves a loser aside, drops a copy of a
 * loser.
 */
static void
holdings_examine_now(struct holdings *h, const char *name)
{
	struct cat_version_view v[HOLDINGS_NAME_VERSIONS];
	struct digest others[HOLDINGS_NAME_VERSIONS];
	struct holdings_root r;
	size_t len = strlen(name), n, i, nothers = 0;
	bool held = false, loser = false, copy_of_loser = false;
	char hex[DIGEST_HEX_LEN + 1];
	int rc;

	if (!name_is_valid(name, len))
		return;
	holdings_look_root(h, name, &r);
	if (r.hr_file && !r.hr_digest_ok)
		return;		/* unreadable now: nothing is decided */
	held = r.hr_file && !r.hr_copy;
	if (catalogue_lock(h->h_cat) == -1)
		return;
	if (held) {
		rc = catalogue_announce_locked(h->h_cat, name, len,
		    &r.hr_digest, r.hr_size, r.hr_origin, r.hr_hlc);
		if (rc == 1)
			holdings_count(&h->h_stats.hs_announced, 1);
		else if (rc == -1 && errno == ENOSPC &&
		    log_due(&h->h_full_warned, loop_clock_ms()))
			log_warnx("catalogue: full (cluster.max_objects); %s "
			    "and others are not announced", name);
	}
	n = catalogue_versions_locked(h->h_cat, name, len, v,
	    HOLDINGS_NAME_VERSIONS);
	if (n > HOLDINGS_NAME_VERSIONS)
		n = HOLDINGS_NAME_VERSIONS;
	for (i = 0; i < n; i++) {
		bool mine = r.hr_digest_ok &&
		    digest_equal(&v[i].vv_digest, &r.hr_digest);

		/* v[0] is the winner: any other one that ROOT holds lost. */
		if (mine && i > 0) {
			if (held)
				loser = true;
			else if (r.hr_copy)
				copy_of_loser = true;
		}
		/* A striped object is held by its manifest, not a file:
		 * never withdrawn for want of one in ROOT. */
		if (!(mine && held) && !v[i].vv_striped)
			others[nothers++] = v[i].vv_digest;
	}
	catalogue_unlock(h->h_cat);

	/* The versions of the name this node may have announced and no
	 * longer holds in ROOT: kept aside, or withdrawn (a no-op when it
	 * never announced them). */
	for (i = 0; i < nothers; i++) {
		if (holdings_kept(h, name, &others[i]))
			continue;
		if (catalogue_lock(h->h_cat) == -1)
			return;
		rc = catalogue_withdraw_locked(h->h_cat, name, len, &others[i]);
		catalogue_unlock(h->h_cat);
		if (rc == 1) {
			holdings_count(&h->h_stats.hs_withdrawn, 1);
			digest_hex(&others[i], hex);
			log_debug("catalogue: withdrew %s version %s", name, hex);
		}
	}
	if (loser) {
		digest_hex(&r.hr_digest, hex);
		rc = versions_move(h->h_root_fd, h->h_state_fd, name,
		    &r.hr_digest);
		if (rc == -1)
			log_warn("catalogue: moving %s (version %s, which lost "
			    "a conflict) aside", name, hex);
		else if (rc == 0) {
			holdings_count(&h->h_stats.hs_moved_aside, 1);
			log_info("catalogue: %s version %s lost a conflict; "
			    "kept in %s/%s/%s", name, hex, h->h_cfg->state_dir,
			    VERSIONS_DIR, hex);
		}
	}
	if (copy_of_loser)
		holdings_drop_copy(h, name, len, &r);
}

/* A replica too many goes, when ROOT's file still is one (holdings.h). */
static void
holdings_drop_surplus_now(struct holdings *h, const struct holdings_surplus *sp)
{
	struct metrics_slot *ms = metrics_mine();	/* NULL in tests */
	char hex[DIGEST_HEX_LEN + 1];
	struct holdings_root r;
	int rm;

	holdings_look_root(h, sp->hs_name, &r);
	if (!r.hr_file || r.hr_copy || !r.hr_digest_ok ||
	    !digest_equal(&r.hr_digest, &sp->hs_digest) ||
	    strcmp(r.hr_origin, h->h_self) == 0)
		return;
	rm = file_remove_copy(h->h_root_fd, h->h_tmp_fd, sp->hs_name,
	    &r.hr_id);
	if (rm == -1) {
		log_warn("catalogue: removing %s, a replica too many",
		    sp->hs_name);
		return;
	}
	if (rm == 0) {
		holdings_count(&h->h_stats.hs_surplus_dropped, 1);
		if (ms != NULL)
			metrics_add(&ms->ms_replication_surplus, 1);
		digest_hex(&sp->hs_digest, hex);
		log_info("catalogue: removed %s version %s: a replica beyond "
		    "cluster.replicas, the members chosen for it hold it",
		    sp->hs_name, hex);
	}
	holdings_examine_now(h, sp->hs_name);
}

/* -- the phases (pool thread) ------------------------------------------ */

static int
holdings_announce_kept(void *arg, const char *name, size_t len,
    const struct digest *d)
{
	struct holdings *h = arg;
	char origin[MEMBER_NAME_MAX];
	struct file_info fi;
	uint64_t hlc;
	int rc;

	versions_open(h->h_state_fd, name, d, &fi);
	if (fi.fi_fd == -1)
		return 0;
	holdings_origin(h, fi.fi_fd, &fi.fi_mtime, origin, &hlc);
	close(fi.fi_fd);
	if (holdings_stopping(h))
		return 1;
	if (catalogue_lock(h->h_cat) == -1)
		return 1;
	rc = catalogue_announce_locked(h->h_cat, name, len, d,
	    fi.fi_size, origin, hlc);
	catalogue_unlock(h->h_cat);
	if (rc == 1)
		holdings_count(&h->h_stats.hs_announced, 1);
	return 0;
}

static void
holdings_scan_versions(struct holdings *h)
{
	int tfd;

	/* What a crash left half-written goes first. */
	if ((tfd = versions_tmp_open(h->h_state_fd, true)) != -1)
		close(tfd);
	if (versions_list(h->h_state_fd, holdings_announce_kept, h) == -1 &&
	    errno != ENOENT)
		log_warn("catalogue: listing %s/%s", h->h_cfg->state_dir,
		    VERSIONS_DIR);
	h->h_step_done = true;
}

/* One slice of ROOT. */
static void
holdings_scan_root(struct holdings *h)
{
	struct dirent *de;
	size_t k;
	int fd;

	if (h->h_dir == NULL) {
		fd = openat(h->h_root_fd, ".", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd == -1 || (h->h_dir = fdopendir(fd)) == NULL) {
			log_warn("catalogue: reading %s", h->h_cfg->root);
			if (fd != -1)
				close(fd);
			h->h_step_done = true;
			return;
		}
		/* What the table held of this node before: checked after. */
		if (catalogue_lock(h->h_cat) == 0) {
			catalogue_self_seq_locked(h->h_cat, &h->h_check_inc,
			    &h->h_check_upto);
			catalogue_unlock(h->h_cat);
		}
		h->h_check_after = 0;
	}
	for (k = 0; k < HOLDINGS_SLICE && !holdings_stopping(h); k++) {
		errno = 0;
		if ((de = readdir(h->h_dir)) == NULL) {
			if (errno != 0)
				log_warn("catalogue: reading %s",
				    h->h_cfg->root);
			closedir(h->h_dir);
			h->h_dir = NULL;
			h->h_step_done = true;
			return;
		}
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		holdings_examine_now(h, de->d_name);
	}
}

/* One slice of the check: this node's facts as the table held them
 * before the scan, each name examined (what is gone is withdrawn). */
static void
holdings_check(struct holdings *h)
{
	struct cat_want w;
	struct cat_chunk ch;
	struct stat st;
	int n, i;

	memset(&w, 0, sizeof(w));
	snprintf(w.cw_owner, sizeof(w.cw_owner), "%s", h->h_self);
	w.cw_inc = h->h_check_inc;
	w.cw_after = h->h_check_after;
	if (h->h_check_upto == 0 || h->h_check_after >= h->h_check_upto ||
	    catalogue_lock(h->h_cat) == -1) {
		h->h_step_done = true;
		return;
	}
	n = catalogue_delta_locked(h->h_cat, &w, &ch, h->h_facts,
	    HOLDINGS_SLICE, (size_t)HOLDINGS_SLICE *
	    (CATALOGUE_FACT_WIRE_BYTES + NAME_MAX_LEN));
	catalogue_unlock(h->h_cat);
	if (n <= 0 || ch.cc_to <= h->h_check_after) {
		h->h_step_done = true;
		return;
	}
	h->h_check_after = ch.cc_to;
	for (i = 0; i < n && !holdings_stopping(h); i++) {
		if (h->h_facts[i].cm_seq > h->h_check_upto) {
			h->h_step_done = true;
			break;
		}
		if (h->h_facts[i].cm_gone)
			continue;
		/* A name in ROOT was examined by the scan, every version
		 * of it (a reload's scan would otherwise be read twice). */
		if (fstatat(h->h_root_fd, h->h_facts[i].cm_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			continue;
		holdings_examine_now(h, h->h_facts[i].cm_name);
	}
}

void
holdings_work(struct iopool_job *job)
{
	struct holdings *h = container_of(job, struct holdings, h_job);
	size_t k;

	h->h_step_done = false;
	if (h->h_kind == HOLDINGS_JOB_BATCH) {
		for (k = 0; k < h->h_nsurplus_batch && !holdings_stopping(h);
		    k++)
			holdings_drop_surplus_now(h, &h->h_surplus_batch[k]);
		for (k = 0; k < h->h_nbatch && !holdings_stopping(h); k++)
			holdings_examine_now(h, h->h_batch[k]);
		return;
	}
	switch (h->h_phase) {
	case HOLDINGS_VERSIONS:
		holdings_scan_versions(h);
		break;
	case HOLDINGS_ROOT:
		holdings_scan_root(h);
		break;
	case HOLDINGS_CHECK:
		holdings_check(h);
		break;
	case HOLDINGS_WATCH:
		h->h_step_done = true;
		break;
	}
}
