/*
 * parts.c - a store's part files (see parts.h). Blocking I/O: pool
 * threads of the workers, the agent's pool for the sweep. No shared
 * memory and no locks: names appear only by link or rename.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "store/file.h"
#include "stripe/blocksum.h"
#include "stripe/parts.h"
#include "stripe/stripe.h"

static int
parts_dir(int state_fd, const char *path)
{
	if (mkdirat(state_fd, path, 0700) == -1 && errno != EEXIST)
		return -1;
	return openat(state_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

int
parts_dirs_open(int state_fd, struct parts_dirs *d)
{
	d->pd_tmp = d->pd_pending = d->pd_objects = d->pd_names = -1;
	if (mkdirat(state_fd, STRIPE_PARTS_DIR, 0700) == -1 &&
	    errno != EEXIST)
		return -1;
	if ((d->pd_tmp = parts_dir(state_fd, STRIPE_PARTS_TMP)) == -1 ||
	    (d->pd_pending = parts_dir(state_fd, STRIPE_PARTS_PENDING)) == -1 ||
	    (d->pd_objects = parts_dir(state_fd, STRIPE_PARTS_OBJECTS)) == -1 ||
	    (d->pd_names = parts_dir(state_fd, STRIPE_PARTS_NAMES)) == -1) {
		int saved = errno;

		parts_dirs_close(d);
		errno = saved;
		return -1;
	}
	return 0;
}

void
parts_dirs_close(struct parts_dirs *d)
{
	if (d->pd_tmp != -1)
		close(d->pd_tmp);
	if (d->pd_pending != -1)
		close(d->pd_pending);
	if (d->pd_objects != -1)
		close(d->pd_objects);
	if (d->pd_names != -1)
		close(d->pd_names);
	d->pd_tmp = d->pd_pending = d->pd_objects = d->pd_names = -1;
}

void
parts_file_name(const char *id, unsigned index, char *out)
{
	snprintf(out, PARTS_FILE_MAX, "%.32s.%u", id, index);
}

void
parts_manifest_name(const char *id, char *out)
{
	snprintf(out, PARTS_FILE_MAX, "%.32s.json", id);
}

int
parts_read_manifest(int dir, const char *name, struct manifest *m)
{
	char text[MANIFEST_MAX];
	ssize_t n;
	int fd;

	fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	n = pread(fd, text, sizeof(text), 0);
	close(fd);
	if (n <= 0 || manifest_decode(text, (size_t)n, m, NULL) == -1) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Whether objects/ID.json holds m. */
static bool
parts_manifest_is(const struct parts_dirs *d, const struct manifest *m)
{
	char name[PARTS_FILE_MAX];
	struct manifest have;

	parts_manifest_name(m->m_id, name);
	return parts_read_manifest(d->pd_objects, name, &have) == 0 &&
	    memcmp(&have, m, sizeof(have)) == 0;
}

/* The manifest under its name: this object's from now on (a name held by
 * another object, after a split of the cluster, is given to the later
 * commit; the catalogue keeps both versions). */
static int
parts_write_name(const struct parts_dirs *d, const struct manifest *m,
    const char *text, size_t len)
{
	struct manifest have;

	if (parts_write_file(d->pd_tmp, d->pd_names, m->m_name, text, len) ==
	    0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (parts_read_manifest(d->pd_names, m->m_name, &have) == 0 &&
	    strcmp(have.m_id, m->m_id) == 0)
		return 0;
	(void)unlinkat(d->pd_names, m->m_name, 0);
	return parts_write_file(d->pd_tmp, d->pd_names, m->m_name, text, len);
}

int
parts_write_file(int tmp_fd, int dir_fd, const char *name, const char *text,
    size_t len)
{
	char tmp[FILE_TMP_NAME_MAX];
	XXH128_hash_t h = XXH3_128bits(text, len);
	struct digest dg = { h.high64, h.low64 };
	int fd;

	if ((fd = file_tmp_create(tmp_fd, "stripe", tmp)) == -1)
		return -1;
	if (file_write_all(fd, text, len, 0) == -1 ||
	    file_seal(fd, NULL, &dg, NULL) == -1) {
		int saved = errno;

		file_tmp_discard(fd, tmp_fd, tmp);
		errno = saved;
		return -1;
	}
	return file_link(fd, tmp_fd, tmp, dir_fd, name);
}

/* Writes m as objects/ID.json. */
static int
parts_write_manifest(const struct parts_dirs *d, const struct manifest *m)
{
	char name[PARTS_FILE_MAX];
	size_t len;
	char *text;
	int rc;

	if ((text = manifest_encode(m, &len)) == NULL)
		return -1;
	parts_manifest_name(m->m_id, name);
	rc = parts_write_file(d->pd_tmp, d->pd_objects, name, text, len);
	if (rc == -1 && errno == EEXIST && parts_manifest_is(d, m))
		rc = 0;
	if (rc == 0)
		rc = parts_write_name(d, m, text, len);
	free(text);
	return rc;
}

int
parts_replace_file(int tmp_fd, int dir_fd, const char *name, const char *text,
    size_t len)
{
	char tmp[FILE_TMP_NAME_MAX];
	XXH128_hash_t h = XXH3_128bits(text, len);
	struct digest dg = { h.high64, h.low64 };
	int fd, dfd;

	if ((fd = file_tmp_create(tmp_fd, "stripe", tmp)) == -1)
		return -1;
	if (file_write_all(fd, text, len, 0) == -1 ||
	    file_seal(fd, NULL, &dg, NULL) == -1 ||
	    renameat(tmp_fd, tmp, dir_fd, name) == -1) {
		int saved = errno;

		file_tmp_discard(fd, tmp_fd, tmp);
		errno = saved;
		return -1;
	}
	close(fd);
	dfd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Whether a and b are one object, but for where its parts are. */
static bool
parts_same_object(const struct manifest *a, const struct manifest *b)
{
	unsigned i;

	if (strcmp(a->m_id, b->m_id) != 0 || strcmp(a->m_name, b->m_name) !=
	    0 || a->m_size != b->m_size || !digest_equal(&a->m_digest,
	    &b->m_digest) || strcmp(a->m_origin, b->m_origin) != 0 ||
	    a->m_stamp != b->m_stamp || a->m_block != b->m_block ||
	    a->m_nparts != b->m_nparts || a->m_parity != b->m_parity)
		return false;
	for (i = 0; i < a->m_nparts; i++)
		if (a->m_parts[i].mp_size != b->m_parts[i].mp_size ||
		    !digest_equal(&a->m_parts[i].mp_digest,
		    &b->m_parts[i].mp_digest))
			return false;
	return true;
}

/* How many parts a and b place on different nodes. */
static unsigned
parts_moved(const struct manifest *a, const struct manifest *b)
{
	unsigned i, n = 0;

	for (i = 0; i < a->m_nparts; i++)
		n += strcmp(a->m_parts[i].mp_node, b->m_parts[i].mp_node) != 0;
	return n;
}

/* Whether b places every part where a does and marks more of them
 * missing (a store reports a corrupt part: stripe/scrub.h). */
static bool
parts_more_missing(const struct manifest *a, const struct manifest *b)
{
	return parts_moved(a, b) == 0 && b->m_missing != a->m_missing &&
	    (b->m_missing & a->m_missing) == a->m_missing;
}

enum parts_commit_result
parts_switch_manifest(int tmp_fd, int dir_fd, int names_fd,
    const struct manifest *m, bool next_only)
{
	char name[PARTS_FILE_MAX];
	struct manifest have;
	size_t len;
	char *text;
	int rc;

	parts_manifest_name(m->m_id, name);
	if (parts_read_manifest(dir_fd, name, &have) == -1)
		return errno == ENOENT ? PARTS_NO_PART : PARTS_ERROR;
	if (memcmp(&have, m, sizeof(have)) == 0)
		return PARTS_COMMITTED;
	if (!parts_same_object(&have, m))
		return PARTS_MISMATCH;
	if (have.m_gen >= m->m_gen || (next_only &&
	    (m->m_gen != have.m_gen + 1 || !(parts_moved(&have, m) == 1 ||
	    parts_more_missing(&have, m)))))
		return PARTS_STALE;
	if ((text = manifest_encode(m, &len)) == NULL)
		return PARTS_ERROR;
	/* By id first: the name's copy follows it (a reader by name that
	 * takes the old one still finds every part it names). */
	rc = parts_replace_file(tmp_fd, dir_fd, name, text, len);
	if (rc == 0 && (parts_read_manifest(names_fd, m->m_name, &have) ==
	    -1 || strcmp(have.m_id, m->m_id) == 0))
		rc = parts_replace_file(tmp_fd, names_fd, m->m_name, text,
		    len);
	free(text);
	return rc == 0 ? PARTS_COMMITTED : PARTS_ERROR;
}

/* pread of exactly len bytes at off: 0, or -1 (errno; EIO when short). */
static int
parts_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int
parts_trailer_read(int fd, uint64_t file_size, struct parts_trailer *t,
    const char **why)
{
	unsigned char foot[BLOCKSUM_FOOTER], *buf;
	uint64_t tlen;
	const char *dummy;
	int rc;

	if (why == NULL)
		why = &dummy;
	memset(t, 0, sizeof(*t));
	*why = "no trailer";
	if (file_size < BLOCKSUM_FOOTER) {
		errno = EINVAL;
		return -1;
	}
	if (parts_pread(fd, foot, sizeof(foot), file_size - BLOCKSUM_FOOTER)
	    == -1)
		return -1;
	if (blocksum_footer_read(foot, &t->pt_size, &t->pt_block) == -1 ||
	    t->pt_size > file_size || (tlen = blocksum_trailer_size(t->pt_size,
	    t->pt_block)) != file_size - t->pt_size) {
		errno = EINVAL;
		return -1;
	}
	buf = malloc(tlen);
	t->pt_sums = malloc((blocksum_count(t->pt_size, t->pt_block) + 1) *
	    sizeof(uint32_t));
	if (buf == NULL || t->pt_sums == NULL) {
		free(buf);
		parts_trailer_free(t);
		errno = ENOMEM;
		return -1;
	}
	rc = parts_pread(fd, buf, tlen, t->pt_size);
	if (rc == 0 && blocksum_trailer_decode(buf, tlen, t->pt_size,
	    t->pt_block, t->pt_sums, why) == -1) {
		errno = EINVAL;
		rc = -1;
	}
	free(buf);
	if (rc == -1) {
		int saved = errno;

		parts_trailer_free(t);
		errno = saved;
	}
	return rc;
}

void
parts_trailer_free(struct parts_trailer *t)
{
	free(t->pt_sums);
	t->pt_sums = NULL;
}

int
parts_read_block(int fd, const struct parts_trailer *t, uint64_t b,
    unsigned char *buf, size_t *len)
{
	uint64_t off = b * t->pt_block;

	*len = (size_t)(t->pt_size - off < t->pt_block ? t->pt_size - off :
	    t->pt_block);
	if (parts_pread(fd, buf, *len, off) == -1)
		return -1;
	return blocksum_verify(buf, *len, t->pt_sums[b]) ? 0 : 1;
}

/* Whether the part file open as fi is part `index` of m: a trailer made
 * for m's size and block, its bytes m's digest (into *dg). */
static enum parts_commit_result
parts_check(struct file_info *fi, const struct manifest *m, unsigned index,
    struct digest *dg)
{
	const struct manifest_part *p = &m->m_parts[index];
	struct parts_trailer t;

	*dg = fi->fi_digest;
	if (parts_trailer_read(fi->fi_fd, fi->fi_size, &t, NULL) == -1)
		return errno == EINVAL ? PARTS_MISMATCH : PARTS_ERROR;
	parts_trailer_free(&t);
	if (t.pt_size != p->mp_size || t.pt_block != m->m_block)
		return PARTS_MISMATCH;
	/* Without xattrs the spool kept no digest: the part's bytes are
	 * read again. */
	if (!fi->fi_content && file_content_digest(fi->fi_fd, p->mp_size, dg)
	    == -1)
		return PARTS_ERROR;
	return digest_equal(dg, &p->mp_digest) ? PARTS_COMMITTED :
	    PARTS_MISMATCH;
}

/* Commits the part file open as fi in dir (pending; objects for a
 * commit cut short) as part `index` of m; closes fi. */
static enum parts_commit_result
parts_commit_from(const struct parts_dirs *d, int dir, struct file_info *fi,
    const struct manifest *m, unsigned index)
{
	char name[PARTS_FILE_MAX], mname[PARTS_FILE_MAX];
	enum parts_commit_result r;
	struct manifest have;
	struct digest dg;
	int saved;

	r = parts_check(fi, m, index, &dg);
	/* Another manifest of the object here (a part of it committed
	 * here by a move that m's does not know of): m's part stays
	 * pending, for the sweep. */
	parts_manifest_name(m->m_id, name);
	if (r == PARTS_COMMITTED && faccessat(d->pd_objects, name, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0 && !parts_manifest_is(d, m))
		r = PARTS_STALE;
	/* Written now, as the sweep sees it: a part last written longer
	 * than stripe.pending_timeout ago (a commit replayed late) is not
	 * an orphan to it between its rename and its manifest. Its digest
	 * is recorded again for its new mtime. */
	if (r == PARTS_COMMITTED) {
		if (futimens(fi->fi_fd, NULL) == -1)
			r = PARTS_ERROR;
		else
			(void)file_digest_record(fi->fi_fd, &dg);
	}
	close(fi->fi_fd);
	if (r != PARTS_COMMITTED)
		return r;
	parts_file_name(m->m_id, index, name);
	/* The part first, the manifest last: the manifest is the commit. */
	if (dir != d->pd_objects && renameat(dir, name, d->pd_objects,
	    name) == -1)
		return PARTS_ERROR;
	if (parts_write_manifest(d, m) == 0)
		return PARTS_COMMITTED;
	saved = errno;
	/* Another manifest of the object came first (the commit of another
	 * move of it, at once with this one): unless it places the part
	 * here too, the part goes back to pending, for the sweep; left
	 * beside that manifest, nothing would ever remove it. */
	parts_manifest_name(m->m_id, mname);
	if (parts_read_manifest(d->pd_objects, mname, &have) == 0 &&
	    memcmp(&have, m, sizeof(have)) != 0) {
		if (index >= have.m_nparts || strcmp(have.m_parts[
		    index].mp_node, m->m_parts[index].mp_node) != 0)
			(void)renameat(d->pd_objects, name, d->pd_pending,
			    name);
		return PARTS_STALE;
	}
	errno = saved;
	return PARTS_ERROR;
}

/* The committed part `index` here is m's (same size and digest): m
 * replaces the manifest beside it. */
static enum parts_commit_result
parts_switch_part(const struct parts_dirs *d, const struct manifest *m,
    unsigned index)
{
	char name[PARTS_FILE_MAX];
	struct manifest have;
	struct file_info fi;

	parts_manifest_name(m->m_id, name);
	if (parts_read_manifest(d->pd_objects, name, &have) == -1) {
		if (errno != ENOENT)
			return PARTS_NO_PART;
		/* A commit cut short, or under way in another thread (the
		 * part moved here, its manifest not written yet): finished,
		 * the part checked again. */
		parts_file_name(m->m_id, index, name);
		file_open(d->pd_objects, name, -1, &fi);
		if (fi.fi_fd == -1) {
			errno = fi.fi_errno;
			return errno == ENOENT ? PARTS_NO_PART : PARTS_ERROR;
		}
		return parts_commit_from(d, d->pd_objects, &fi, m, index);
	}
	/* A part the manifest here does not place here is none of its
	 * (another move's, left over): m is not committed over it, and it
	 * goes back to pending, for the sweep. */
	if (index >= have.m_nparts || strcmp(have.m_parts[index].mp_node,
	    m->m_parts[index].mp_node) != 0) {
		parts_file_name(m->m_id, index, name);
		(void)renameat(d->pd_objects, name, d->pd_pending, name);
		return PARTS_STALE;
	}
	return parts_switch_manifest(d->pd_tmp, d->pd_objects, d->pd_names, m,
	    false);
}

enum parts_commit_result
parts_commit(const struct parts_dirs *d, const struct manifest *m,
    unsigned index)
{
	char name[PARTS_FILE_MAX];
	struct file_info fi;

	parts_file_name(m->m_id, index, name);
	file_open(d->pd_pending, name, -1, &fi);
	if (fi.fi_fd == -1) {
		struct stat st;

		if (fi.fi_errno != ENOENT) {
			errno = fi.fi_errno;
			return PARTS_ERROR;
		}
		/* Committed already (a retry, or a part of the object moved
		 * elsewhere: m is a later manifest), or never received. */
		if (fstatat(d->pd_objects, name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			return PARTS_NO_PART;
		if (parts_manifest_is(d, m))
			return PARTS_COMMITTED;
		return parts_switch_part(d, m, index);
	}
	return parts_commit_from(d, d->pd_pending, &fi, m, index);
}

/* Removes dir/name when it is a regular file; its size to *bytes. */
static bool
parts_remove(int dir, const char *name, uint64_t *bytes)
{
	struct stat st;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode) || unlinkat(dir, name, 0) == -1)
		return false;
	*bytes += (uint64_t)st.st_size;
	return true;
}

uint64_t
parts_delete(const struct parts_dirs *d, const char *id, unsigned *count,
    struct manifest *m, bool *had)
{
	char name[PARTS_FILE_MAX];
	uint64_t bytes = 0, ignored = 0;
	struct manifest byname;
	unsigned i;

	*count = 0;
	parts_manifest_name(id, name);
	*had = parts_read_manifest(d->pd_objects, name, m) == 0;
	if (*had && parts_read_manifest(d->pd_names, m->m_name, &byname) ==
	    0 && strcmp(byname.m_id, id) == 0)
		(void)unlinkat(d->pd_names, m->m_name, 0);
	/* The manifest first: parts without one are not committed. */
	(void)parts_remove(d->pd_objects, name, &ignored);
	for (i = 0; i < CONFIG_STRIPE_PARTS_MAX; i++) {
		parts_file_name(id, i, name);
		*count += parts_remove(d->pd_pending, name, &bytes);
		*count += parts_remove(d->pd_objects, name, &bytes);
	}
	return bytes;
}

/* Whether objects/NAME (a part "ID.I") has its manifest beside it. */
static bool
parts_has_manifest(int objects, const char *part)
{
	char name[PARTS_FILE_MAX];
	struct stat st;

	if (strlen(part) <= MANIFEST_ID_LEN || part[MANIFEST_ID_LEN] != '.' ||
	    !manifest_id_valid(part, MANIFEST_ID_LEN))
		return false;
	parts_manifest_name(part, name);
	return fstatat(objects, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* One directory of the sweep: `kind` 0 tmp, 1 pending, 2 objects. */
static uint64_t
parts_sweep_dir(int dir, int kind, int64_t timeout_ms, int64_t now_ms,
    unsigned *swept, uint64_t *held)
{
	uint64_t kept = 0, gone = 0;
	struct dirent *e;
	struct stat st;
	DIR *dp;
	int fd;

	fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	while ((e = readdir(dp)) != NULL) {
		int64_t age;
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || fstatat(fd, e->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (kind == 2 && len > 5 &&
		    strcmp(e->d_name + len - 5, ".json") == 0)
			continue;
		age = now_ms - ((int64_t)st.st_mtim.tv_sec * 1000 +
		    st.st_mtim.tv_nsec / 1000000);
		if ((kind == 2 && parts_has_manifest(dir, e->d_name)) ||
		    age < timeout_ms) {
			if (kind != 0) {
				kept += (uint64_t)st.st_size;
				(*held)++;
			}
			continue;
		}
		if (parts_remove(fd, e->d_name, &gone))
			(*swept)++;
	}
	closedir(dp);
	return kept;
}

uint64_t
parts_sweep(const struct parts_dirs *d, int64_t timeout_ms, int64_t now_ms,
    unsigned *swept, uint64_t *held)
{
	*swept = 0;
	*held = 0;
	(void)parts_sweep_dir(d->pd_tmp, 0, timeout_ms, now_ms, swept, held);
	return parts_sweep_dir(d->pd_pending, 1, timeout_ms, now_ms, swept,
	    held) + parts_sweep_dir(d->pd_objects, 2, timeout_ms, now_ms,
	    swept, held);
}
