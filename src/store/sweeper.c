/*
 * sweeper.c - expiry of saved copies (see sweeper.h). Its passes run on
 * the agent's one I/O pool thread, where blocking on the disk delays only
 * the next pass; sweeper_remove_lost() runs in the master, at start,
 * before any child exists. Nothing here is shared between calls: each
 * opens ROOT and its temporary directory for itself.
 *
 * A copy is removed by file_remove_copy(), which renames the name aside
 * before checking what it moved, so an original that replaced a copy (an
 * operator's file, an upload) is never removed; then its record goes with
 * index_remove_if(), which again matches the identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "store/file.h"
#include "store/index.h"
#include "store/sweeper.h"

#define SWEEPER_BATCH 64

_Static_assert(sizeof(struct file_identity) == sizeof(struct index_identity),
    "file and index identities convert directly");
_Static_assert(FILE_TMP_NAME_MAX == INDEX_TMP_NAME_MAX,
    "temporary names fit the index");

struct sweeper_dirs {
	int root_fd;
	int tmp_fd;
};

static int
sweeper_open(const struct config *cfg, struct sweeper_dirs *d)
{
	d->root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d->root_fd == -1) {
		log_err("sweeper: root %s", cfg->root);
		return -1;
	}
	d->tmp_fd = openat(d->root_fd, FILE_TMP_DIR, O_PATH | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
	if (d->tmp_fd == -1) {
		log_err("sweeper: %s/%s", cfg->root, FILE_TMP_DIR);
		close(d->root_fd);
		return -1;
	}
	return 0;
}

static void
sweeper_close(struct sweeper_dirs *d)
{
	close(d->tmp_fd);
	close(d->root_fd);
}

/* Removes one expired copy and its record. Returns 1 when the file went. */
static int
sweeper_remove(struct index *ix, const struct sweeper_dirs *d,
    const struct index_entry *e, int64_t now)
{
	const struct file_identity *id = (const void *)&e->e_id;
	int r = file_remove_copy(d->root_fd, d->tmp_fd, e->e_name, id);

	if (r == -1) {
		log_warn("sweeper: removing %s", e->e_name);
		return 0;	/* the record stays: tried again next time */
	}
	if (index_remove_if(ix, e->e_name, e->e_name_len, &e->e_id, now) == -1)
		log_warn("sweeper: index record of %s", e->e_name);
	if (r == 0)
		log_debug("expired copy %s removed", e->e_name);
	return r == 0;
}

unsigned long
sweeper_run(struct index *ix, const struct config *cfg)
{
	struct index_entry *batch;
	struct sweeper_dirs d;
	unsigned long removed = 0;
	uint64_t cursor = 0;
	int64_t now = loop_wall_ms();
	size_t n, i;

	batch = xcalloc(SWEEPER_BATCH, sizeof(*batch));
	if (sweeper_open(cfg, &d) == -1) {
		free(batch);
		return 0;
	}
	do {
		n = index_expired(ix, now, &cursor, batch, SWEEPER_BATCH);
		for (i = 0; i < n; i++)
			removed += (unsigned long)sweeper_remove(ix, &d,
			    &batch[i], now);
	} while (cursor < index_capacity(ix));
	sweeper_close(&d);
	free(batch);
	if (removed > 0)
		log_info("removed %lu expired cop%s", removed,
		    removed == 1 ? "y" : "ies");
	return removed;
}

void
sweeper_remove_lost(const struct config *cfg,
    const struct index_open_report *report)
{
	struct sweeper_dirs d;
	size_t i;

	if (report == NULL || report->r_nlost == 0 ||
	    sweeper_open(cfg, &d) == -1)
		return;
	for (i = 0; i < report->r_nlost; i++)
		(void)file_remove_copy(d.root_fd, d.tmp_fd,
		    report->r_lost[i].e_name,
		    (const void *)&report->r_lost[i].e_id);
	sweeper_close(&d);
}

void
sweeper_start(struct index *ix, const struct config *cfg)
{
	struct index_entry *batch;
	struct sweeper_dirs d;
	unsigned long dropped = 0;
	uint64_t cursor = 0;
	int64_t now = loop_wall_ms();
	size_t n, i;

	if (sweeper_open(cfg, &d) == -1)
		return;
	batch = xcalloc(SWEEPER_BATCH, sizeof(*batch));
	do {
		n = index_list(ix, &cursor, batch, SWEEPER_BATCH);
		for (i = 0; i < n; i++) {
			const struct index_entry *e = &batch[i];
			struct stat st;

			if (e->e_kind != INDEX_COPY)
				continue;
			if (fstatat(d.root_fd, e->e_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    (uint64_t)st.st_dev == e->e_id.id_dev &&
			    (uint64_t)st.st_ino == e->e_id.id_ino)
				continue;
			/* Gone, or replaced by an original: forget it. */
			if (index_remove_if(ix, e->e_name, e->e_name_len,
			    &e->e_id, now) == 1)
				dropped++;
		}
	} while (cursor < index_capacity(ix));
	free(batch);
	sweeper_close(&d);
	if (dropped > 0)
		log_info("index: dropped %lu record%s of copies no longer "
		    "in %s", dropped, dropped == 1 ? "" : "s", cfg->root);
	(void)sweeper_run(ix, cfg);
}
