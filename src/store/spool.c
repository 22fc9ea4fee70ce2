/*
 * spool.c - files that must appear whole, written through the I/O pool
 * (see spool.h). Loop thread; the *_work functions run in pool threads.
 *
 * One job at a time per spool, in order: OPEN, then one WRITE per buffer
 * handed over, then PUBLISH; or DISCARD once the owner has let go. The
 * buffers handed over form a ring of SPOOL_QUEUE; a write job reads only
 * the buffer at its head and the fields it owns (sp_fd, sp_off, sp_hash),
 * which the loop does not touch while the job runs: the owner fills the
 * other buffer meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/buf.h"
#include "core/log.h"
#include "event/iopool.h"
#include "store/file.h"
#include "store/name.h"
#include "store/spool.h"

enum spool_job {
	SPOOL_JOB_NONE,
	SPOOL_JOB_CREATE,
	SPOOL_JOB_RESERVE,
	SPOOL_JOB_WRITE,
	SPOOL_JOB_PUBLISH,
	SPOOL_JOB_DISCARD,
};


struct spool {
	struct list sp_link;		/* sd_spools */
	struct spool_dir *sp_dir;
	const struct spool_handler *sp_h;
	void *sp_arg;

	int sp_fd;			/* the temporary file, or -1 */
	char sp_tmp[FILE_TMP_NAME_MAX];
	char sp_prefix[16];
	char sp_name[NAME_MAX_LEN + 1];	/* reserved or published name */
	uint64_t sp_need;		/* bytes a reservation wants free */
	bool sp_opened;
	bool sp_failed;			/* no more writes */
	bool sp_aborted;		/* the owner let go */
	unsigned sp_in_callback;

	char *sp_buf[SPOOL_QUEUE];	/* allocated when first asked for */
	size_t sp_len[SPOOL_QUEUE];
	unsigned sp_head, sp_count;	/* the ring of buffers handed over */
	uint64_t sp_off;		/* bytes written (the job's) */
	uint64_t sp_written;		/* the same, as the loop last saw it */
	XXH3_state_t *sp_hash;

	bool sp_publish_wanted;
	struct spool_publish sp_how;
	bool sp_have_mtime;
	struct timespec sp_mtime;
	char *sp_origin;		/* the origin's node, or NULL */
	struct digest sp_digest;

	struct iopool_job sp_job;
	enum spool_job sp_job_kind;
	bool sp_job_busy;
	int sp_job_err;
};

static void spool_kick(struct spool *sp);

void
spool_dir_init(struct spool_dir *d, struct iopool *pool, int root_fd,
    int tmp_fd)
{
	d->sd_pool = pool;
	d->sd_root_fd = root_fd;
	d->sd_tmp_fd = tmp_fd;
	list_init(&d->sd_spools);
}

bool
spool_dir_idle(const struct spool_dir *d)
{
	return list_empty(&d->sd_spools);
}

static void
spool_free(struct spool *sp)
{
	unsigned i;

	list_remove(&sp->sp_link);
	for (i = 0; i < SPOOL_QUEUE; i++)
		free(sp->sp_buf[i]);
	XXH3_freeState(sp->sp_hash);
	free(sp->sp_origin);
	free(sp);
}

void
spool_dir_teardown(struct spool_dir *d)
{
	struct list *l, *tmp;

	list_for_each_safe(l, tmp, &d->sd_spools) {
		struct spool *sp = container_of(l, struct spool, sp_link);

		if (sp->sp_fd != -1)
			file_tmp_discard(sp->sp_fd, d->sd_tmp_fd, sp->sp_tmp);
		spool_free(sp);
	}
}

/* ------------------------------------------------------------------ */
/* Pool threads                                                       */

static void
spool_publish_work(struct spool *sp)
{
	struct spool_dir *d = sp->sp_dir;
	struct spool_publish *how = &sp->sp_how;
	struct file_identity id;
	XXH128_hash_t h;

	if (how->have_digest) {
		sp->sp_digest = how->digest;
	} else {
		h = XXH3_128bits_digest(sp->sp_hash);
		sp->sp_digest.d_hi = h.high64;
		sp->sp_digest.d_lo = h.low64;
	}
	/* The marks first: the seal's fsync makes them durable. */
	if ((sp->sp_origin != NULL && file_origin_write(sp->sp_fd,
	    how->origin_hlc, sp->sp_origin) == -1 && errno != ENOTSUP) ||
	    (how->copy && file_copy_mark(sp->sp_fd) == -1 &&
	    errno != ENOTSUP) ||
	    file_seal(sp->sp_fd, sp->sp_have_mtime ? &sp->sp_mtime : NULL,
	    &sp->sp_digest, &id) == -1) {
		sp->sp_job_err = errno;
		file_tmp_discard(sp->sp_fd, d->sd_tmp_fd, sp->sp_tmp);
		sp->sp_fd = -1;
		return;
	}
	if (how->before_link != NULL)
		how->before_link(sp, &id, how->hook_arg);
	/* file_link() removes the temporary name and closes the file,
	 * whatever happens. */
	if (file_link(sp->sp_fd, d->sd_tmp_fd, sp->sp_tmp, d->sd_root_fd,
	    sp->sp_name) == -1) {
		sp->sp_job_err = errno;
		sp->sp_fd = -1;
		return;
	}
	sp->sp_fd = -1;
	if (how->after_link != NULL &&
	    how->after_link(sp, &id, how->hook_arg) == -1) {
		sp->sp_job_err = errno != 0 ? errno : EIO;
		(void)file_remove_copy(d->sd_root_fd, d->sd_tmp_fd,
		    sp->sp_name, &id);
	}
}

static void
spool_work(struct iopool_job *job)
{
	struct spool *sp = container_of(job, struct spool, sp_job);
	struct spool_dir *d = sp->sp_dir;
	unsigned h = sp->sp_head;

	sp->sp_job_err = 0;
	switch (sp->sp_job_kind) {
	case SPOOL_JOB_CREATE:
		sp->sp_fd = file_tmp_create(d->sd_tmp_fd, sp->sp_prefix,
		    sp->sp_tmp);
		if (sp->sp_fd == -1)
			sp->sp_job_err = errno;
		break;
	case SPOOL_JOB_RESERVE:
		sp->sp_fd = file_reserve(d->sd_root_fd, d->sd_tmp_fd,
		    sp->sp_name, sp->sp_need, sp->sp_tmp);
		if (sp->sp_fd == -1)
			sp->sp_job_err = errno;
		break;
	case SPOOL_JOB_WRITE:
		if (file_write_all(sp->sp_fd, sp->sp_buf[h], sp->sp_len[h],
		    sp->sp_off) == -1) {
			sp->sp_job_err = errno;
			break;
		}
		XXH3_128bits_update(sp->sp_hash, sp->sp_buf[h], sp->sp_len[h]);
		sp->sp_off += sp->sp_len[h];
		break;
	case SPOOL_JOB_PUBLISH:
		spool_publish_work(sp);
		break;
	case SPOOL_JOB_DISCARD:
		file_tmp_discard(sp->sp_fd, d->sd_tmp_fd, sp->sp_tmp);
		sp->sp_fd = -1;
		break;
	case SPOOL_JOB_NONE:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* The loop                                                           */

static void spool_done(struct iopool_job *job);

static void
spool_submit(struct spool *sp, enum spool_job kind)
{
	sp->sp_job_kind = kind;
	sp->sp_job.work = spool_work;
	sp->sp_job.done = spool_done;
	sp->sp_job_busy = true;
	iopool_submit(sp->sp_dir->sd_pool, &sp->sp_job);
}

/* Gives back every buffer still queued, with err. */
static void
spool_fail_queue(struct spool *sp, int err)
{
	while (sp->sp_count > 0 && !sp->sp_aborted) {
		sp->sp_head = (sp->sp_head + 1) % SPOOL_QUEUE;
		sp->sp_count--;
		sp->sp_h->sh_written(sp, err, sp->sp_arg);
	}
}

static void
spool_done(struct iopool_job *job)
{
	struct spool *sp = container_of(job, struct spool, sp_job);
	enum spool_job kind = sp->sp_job_kind;
	int err = sp->sp_job_err;

	sp->sp_job_busy = false;
	sp->sp_job_kind = SPOOL_JOB_NONE;
	sp->sp_in_callback++;
	switch (kind) {
	case SPOOL_JOB_CREATE:
	case SPOOL_JOB_RESERVE:
		sp->sp_opened = err == 0;
		sp->sp_failed = err != 0;
		if (!sp->sp_aborted)
			sp->sp_h->sh_opened(sp, err, sp->sp_arg);
		if (err != 0)
			spool_fail_queue(sp, err);
		break;
	case SPOOL_JOB_WRITE:
		sp->sp_written = sp->sp_off;
		if (sp->sp_aborted)
			break;		/* the queue was dropped */
		sp->sp_head = (sp->sp_head + 1) % SPOOL_QUEUE;
		sp->sp_count--;
		if (err != 0)
			sp->sp_failed = true;
		sp->sp_h->sh_written(sp, err, sp->sp_arg);
		if (err != 0)
			spool_fail_queue(sp, ECANCELED);
		break;
	case SPOOL_JOB_PUBLISH:
		sp->sp_publish_wanted = false;
		sp->sp_failed = true;	/* nothing more to write, ever */
		if (!sp->sp_aborted)
			sp->sp_h->sh_published(sp, err, sp->sp_arg);
		/* Published or not, the owner is done with it. */
		sp->sp_aborted = true;
		break;
	case SPOOL_JOB_DISCARD:
	case SPOOL_JOB_NONE:
		break;
	}
	sp->sp_in_callback--;
	spool_kick(sp);
}

/* Starts the next job, or frees a spool that is over. */
static void
spool_kick(struct spool *sp)
{
	if (sp->sp_job_busy || sp->sp_in_callback > 0)
		return;
	if (sp->sp_aborted) {
		if (sp->sp_fd != -1)
			spool_submit(sp, SPOOL_JOB_DISCARD);
		else
			spool_free(sp);
		return;
	}
	if (!sp->sp_opened || sp->sp_failed)
		return;
	if (sp->sp_count > 0)
		spool_submit(sp, SPOOL_JOB_WRITE);
	else if (sp->sp_publish_wanted)
		spool_submit(sp, SPOOL_JOB_PUBLISH);
}

static struct spool *
spool_new(struct spool_dir *d, const struct spool_handler *h, void *arg)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));

	sp->sp_dir = d;
	sp->sp_h = h;
	sp->sp_arg = arg;
	sp->sp_fd = -1;
	/* XXH3's state wants 64-byte alignment: its own allocator. */
	sp->sp_hash = XXH3_createState();
	if (sp->sp_hash == NULL)
		log_fatalx("out of memory");
	XXH3_128bits_reset(sp->sp_hash);
	list_insert_tail(&d->sd_spools, &sp->sp_link);
	return sp;
}

struct spool *
spool_create(struct spool_dir *d, const char *prefix,
    const struct spool_handler *h, void *arg)
{
	struct spool *sp = spool_new(d, h, arg);

	snprintf(sp->sp_prefix, sizeof(sp->sp_prefix), "%s", prefix);
	spool_submit(sp, SPOOL_JOB_CREATE);
	return sp;
}

struct spool *
spool_reserve(struct spool_dir *d, const char *name, uint64_t need,
    const struct spool_handler *h, void *arg)
{
	struct spool *sp = spool_new(d, h, arg);

	snprintf(sp->sp_name, sizeof(sp->sp_name), "%s", name);
	sp->sp_need = need;
	spool_submit(sp, SPOOL_JOB_RESERVE);
	return sp;
}

char *
spool_buffer(struct spool *sp)
{
	unsigned tail = (sp->sp_head + sp->sp_count) % SPOOL_QUEUE;

	if (sp->sp_count == SPOOL_QUEUE || sp->sp_failed ||
	    sp->sp_publish_wanted || sp->sp_aborted)
		return NULL;
	if (sp->sp_buf[tail] == NULL)
		sp->sp_buf[tail] = xrealloc(NULL, SPOOL_BUF_SIZE);
	return sp->sp_buf[tail];
}

void
spool_write(struct spool *sp, size_t n)
{
	unsigned tail = (sp->sp_head + sp->sp_count) % SPOOL_QUEUE;

	sp->sp_len[tail] = n;
	sp->sp_count++;
	spool_kick(sp);
}

void
spool_publish(struct spool *sp, const struct spool_publish *how)
{
	sp->sp_how = *how;
	if (how->name != NULL)
		snprintf(sp->sp_name, sizeof(sp->sp_name), "%s", how->name);
	sp->sp_how.name = sp->sp_name;
	sp->sp_have_mtime = how->mtime != NULL;
	if (sp->sp_have_mtime)
		sp->sp_mtime = *how->mtime;
	sp->sp_how.mtime = NULL;
	free(sp->sp_origin);
	sp->sp_origin = how->origin_node != NULL ?
	    xstrdup(how->origin_node) : NULL;
	sp->sp_how.origin_node = NULL;
	sp->sp_publish_wanted = true;
	spool_kick(sp);
}

void
spool_abort(struct spool *sp)
{
	sp->sp_aborted = true;
	/* Queued buffers are not written. A write job running goes on
	 * reading its buffer, which stays until the spool is freed. */
	sp->sp_count = 0;
	spool_kick(sp);
}

uint64_t
spool_written(const struct spool *sp)
{
	return sp->sp_written;	/* never sp_off: a write job may run */
}

struct digest
spool_digest(const struct spool *sp)
{
	return sp->sp_digest;
}

int
spool_dup_fd(const struct spool *sp)
{
	if (sp->sp_fd == -1) {
		errno = EBADF;
		return -1;
	}
	return fcntl(sp->sp_fd, F_DUPFD_CLOEXEC, 0);
}

const char *
spool_tmp_name(const struct spool *sp)
{
	return sp->sp_tmp;
}
