/*
 * index_file.c - the file of the shared index: its layout and header,
 * creating it, mapping it, judging an existing one, and carrying entries
 * over into a table of another size.
 *
 * Layout of the file
 *   header (one page)  magic, layout version, the sizes of every structure,
 *                      the geometry, a checksum of all that, then the
 *                      shared counters;
 *   stripes            nstripes (a power of two, at most 256) records: a
 *                      robust process-shared mutex, entry counts by kind,
 *                      and an undo record;
 *   buckets            nstripes * bps buckets. A bucket is a 64-byte head
 *                      (a 32-bit tag and a state byte per way) and
 *                      INDEX_WAYS slots (the full name and the fields).
 *   The structures are in index_int.h; index_table.c says how a name
 *   finds its buckets.
 *
 * Processes and threads: index_open() only, in the master at start: it
 * holds an exclusive flock on the file for as long as the descriptor is
 * open anywhere, so no other shoald can map it meanwhile, and no other
 * process of this one exists yet. Nothing here takes a stripe lock:
 * the files being created or migrated are private to this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/shm.h"
#include "store/index_int.h"

static uint64_t
index_header_check(const struct index_header *h)
{
	return XXH3_64bits(h, offsetof(struct index_header, h_check));
}

static void
index_header_fill(struct index_header *h, const struct index_geometry *g)
{
	memset(h, 0, offsetof(struct index_header, h_next_fetch_id));
	memcpy(h->h_magic, INDEX_MAGIC, sizeof(h->h_magic));
	h->h_version = INDEX_VERSION;
	h->h_header_size = sizeof(struct index_header);
	h->h_slot_size = sizeof(struct index_slot);
	h->h_bucket_size = sizeof(struct index_bucket);
	h->h_stripe_size = sizeof(struct index_stripe);
	h->h_mutex_size = sizeof(pthread_mutex_t);
	h->h_ways = INDEX_WAYS;
	h->h_nstripes = g->g_nstripes;
	h->h_bps = g->g_bps;
	h->h_capacity = g->g_capacity;
	h->h_stripes_off = g->g_stripes_off;
	h->h_buckets_off = g->g_buckets_off;
	h->h_file_size = g->g_file_size;
	h->h_check = index_header_check(h);
}

enum index_open_how
index_classify(int fd, off_t size, const struct index_geometry *want,
    struct index_geometry *old)
{
	struct index_header h, expect;

	if (size == 0)
		return INDEX_OPEN_CREATED;
	if ((size_t)size < sizeof(h) || pread(fd, &h, sizeof(h), 0) !=
	    (ssize_t)sizeof(h))
		return INDEX_OPEN_REBUILT_CORRUPT;
	if (memcmp(h.h_magic, INDEX_MAGIC, sizeof(h.h_magic)) != 0 ||
	    h.h_check != index_header_check(&h))
		return INDEX_OPEN_REBUILT_CORRUPT;
	if (h.h_version != INDEX_VERSION ||
	    h.h_header_size != sizeof(struct index_header) ||
	    h.h_slot_size != sizeof(struct index_slot) ||
	    h.h_bucket_size != sizeof(struct index_bucket) ||
	    h.h_stripe_size != sizeof(struct index_stripe) ||
	    h.h_mutex_size != sizeof(pthread_mutex_t) ||
	    h.h_ways != INDEX_WAYS)
		return INDEX_OPEN_REBUILT_LAYOUT;
	/* The geometry must be exactly what this code derives from the
	 * capacity, or the file is not one of ours. */
	if (index_geometry(h.h_capacity, old) == -1)
		return INDEX_OPEN_REBUILT_LAYOUT;
	index_header_fill(&expect, old);
	if (memcmp(&expect, &h, offsetof(struct index_header, h_check)) != 0)
		return INDEX_OPEN_REBUILT_LAYOUT;
	if ((uint64_t)size != old->g_file_size)
		return INDEX_OPEN_REBUILT_CORRUPT;
	if (old->g_capacity != want->g_capacity)
		return INDEX_OPEN_RESIZED;
	return INDEX_OPEN_KEPT;
}

struct index *
index_map(int fd, const struct index_geometry *g)
{
	struct index *ix = calloc(1, sizeof(*ix));
	void *p;

	if (ix == NULL)
		return NULL;
	p = mmap(NULL, g->g_file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	if (p == MAP_FAILED) {
		free(ix);
		return NULL;
	}
	ix->ix_fd = fd;
	ix->ix_map = p;
	ix->ix_geo = *g;
	ix->ix_hdr = p;
	ix->ix_stripes = (void *)(ix->ix_map + g->g_stripes_off);
	ix->ix_buckets = (void *)(ix->ix_map + g->g_buckets_off);
	return ix;
}

void
index_unmap(struct index *ix)
{
	munmap(ix->ix_map, ix->ix_geo.g_file_size);
	free(ix);
}

struct index *
index_create(const char *path, const struct index_geometry *g)
{
	struct index *ix;
	uint32_t s;
	int fd, rc;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return NULL;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 ||
	    ftruncate(fd, (off_t)g->g_file_size) == -1)
		goto fail;
	do
		rc = posix_fallocate(fd, 0, (off_t)g->g_file_size);
	while (rc == EINTR);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	if ((ix = index_map(fd, g)) == NULL)
		goto fail;
	for (s = 0; s < g->g_nstripes; s++)
		if ((rc = shm_mutex_init(&ix->ix_stripes[s].st_mutex)) != 0) {
			errno = rc;
			index_unmap(ix);
			goto fail;
		}
	/* Last: a file without its header is never taken for an index. */
	index_header_fill(ix->ix_hdr, g);
	return ix;
fail:
	rc = errno;
	close(fd);
	unlink(path);
	errno = rc;
	return NULL;
}

int
index_migrate(struct index *old, struct index *ix,
    struct index_open_report *rep)
{
	uint64_t b;
	unsigned w;

	for (b = 0; b < old->ix_geo.g_nstripes * old->ix_geo.g_bps; b++) {
		const struct index_bucket *bk = &old->ix_buckets[b];

		for (w = 0; w < INDEX_WAYS; w++) {
			const struct index_slot *sl = &bk->b_slot[w];
			struct index_identity id = { sl->s_dev, sl->s_ino,
			    sl->s_size };
			int rc;

			if (bk->b_state[w] == INDEX_COPY)
				rc = index_put_copy(ix, sl->s_name,
				    sl->s_name_len, &id, sl->s_expiry_ms, 0);
			else if (bk->b_state[w] == INDEX_NEGATIVE)
				rc = index_put_negative(ix, sl->s_name,
				    sl->s_name_len, sl->s_expiry_ms, 0);
			else
				continue;
			if (rc == 0)
				continue;
			if (bk->b_state[w] == INDEX_COPY &&
			    sl->s_expiry_ms != 0) {
				struct index_entry *lost = realloc(rep->r_lost,
				    (rep->r_nlost + 1) * sizeof(*lost));

				if (lost == NULL)
					return -1;
				rep->r_lost = lost;
				/* `old` is private: no lock to take. */
				index_snapshot_locked(old, b, w,
				    &lost[rep->r_nlost++]);
			} else {
				rep->r_dropped++;
			}
		}
	}
	/* Counters carry over; refusals while moving do not count. */
	memcpy(&ix->ix_hdr->h_next_fetch_id, &old->ix_hdr->h_next_fetch_id,
	    sizeof(struct index_header) -
	    offsetof(struct index_header, h_next_fetch_id));
	return 0;
}
