/*
 * file.c - opening, sending and listing files of ROOT, and removing an
 * expired copy (I/O pool threads; the loop thread for file_open_cached();
 * the agent, and the master at start, for file_remove_copy()). Writing is
 * in file_write.c.
 *
 * Nothing here touches state shared with the loop: each call works on the
 * descriptors and buffers it is given.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "store/file.h"
#include "store/name.h"

#ifdef SYS_openat2
/* A read-only open of name right inside root_fd, following no link at all;
 * `resolve` adds RESOLVE_* flags. Returns the descriptor, or -1 with
 * errno (ENOSYS: a kernel without openat2). */
static long
file_openat2(int root_fd, const char *name, uint64_t resolve)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS | resolve;
	return syscall(SYS_openat2, root_fd, name, &how, sizeof(how));
}
#endif

static int
file_openat_beneath(int root_fd, const char *name)
{
#ifdef SYS_openat2
	static int have_openat2 = 1;	/* benign race: every thread agrees */

	if (have_openat2) {
		long fd = file_openat2(root_fd, name, 0);

		if (fd != -1 || errno != ENOSYS)
			return (int)fd;
		have_openat2 = 0;
	}
#endif
	/* Names hold no "/", so O_NOFOLLOW on the last component is enough. */
	return openat(root_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK);
}

/* The identity digest: any change to the file changes it. */
static void
file_identity_digest(const struct stat *st, struct digest *d)
{
	uint64_t v[5] = {
		(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
		(uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec,
	};
	XXH128_hash_t h = XXH3_128bits(v, sizeof(v));

	d->d_hi = h.high64;
	d->d_lo = h.low64;
}

/* The content digest recorded beside fd, when it is still valid for the
 * size and mtime in *st. The xattr holds "SIZE MTIME_SEC MTIME_NSEC HEX"
 * (32 hex digits). Returns 0, or -1 (errno from fgetxattr when it failed,
 * 0 when the record is stale or malformed). */
static int
file_stored_digest(int fd, const struct stat *st, struct digest *d)
{
	char val[128];
	unsigned long long size, sec, nsec;
	ssize_t n;
	int hex = 0, used = 0;

	n = fgetxattr(fd, FILE_DIGEST_XATTR, val, sizeof(val) - 1);
	if (n <= 0)
		return -1;
	errno = 0;
	val[n] = '\0';
	if (sscanf(val, "%llu %llu %llu %n%*32[0-9a-fA-F]%n", &size, &sec,
	    &nsec, &hex, &used) != 3 || used != n ||
	    digest_parse(val + hex, (size_t)(used - hex), d) == -1)
		return -1;
	if (size != (unsigned long long)st->st_size ||
	    sec != (unsigned long long)st->st_mtim.tv_sec ||
	    nsec != (unsigned long long)st->st_mtim.tv_nsec)
		return -1;
	return 0;
}

/* Why an open found no file to serve: a link (ELOOP, EXDEV from
 * RESOLVE_BENEATH) or a path through a non-directory is "not here". */
static int
file_open_errno(int err)
{
	return err == ELOOP || err == EXDEV || err == ENOTDIR || err == ENXIO ?
	    ENOENT : err;
}

int
file_open_cached(int root_fd, const char *name)
{
#if defined(SYS_openat2) && defined(RESOLVE_CACHED)
	static int have_cached = 1;	/* benign race: every thread agrees */

	if (have_cached) {
		long fd = file_openat2(root_fd, name, RESOLVE_CACHED);

		if (fd != -1)
			return (int)fd;
		if (errno != ENOSYS && errno != EINVAL) {
			errno = file_open_errno(errno);
			return -1;
		}
		have_cached = 0;	/* a kernel before 5.12 */
	}
#endif
	(void)root_fd;
	(void)name;
	errno = EAGAIN;
	return -1;
}

void
file_open(int root_fd, const char *name, int fd, struct file_info *fi)
{
	struct stat st;

	memset(fi, 0, sizeof(*fi));
	fi->fi_fd = -1;
	if (fd == -1)
		fd = file_openat_beneath(root_fd, name);
	if (fd == -1) {
		fi->fi_errno = file_open_errno(errno);
		return;
	}
	if (fstat(fd, &st) == -1) {
		fi->fi_errno = errno;
		close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		fi->fi_errno = ENOENT;
		close(fd);
		return;
	}
	/* O_NONBLOCK was only there so a FIFO cannot hang the open; on a
	 * regular file it changes nothing, so it stays. */
	fi->fi_fd = fd;
	fi->fi_size = (uint64_t)st.st_size;
	fi->fi_mtime = st.st_mtim;
	fi->fi_id.id_dev = (uint64_t)st.st_dev;
	fi->fi_id.id_ino = (uint64_t)st.st_ino;
	fi->fi_id.id_size = (uint64_t)st.st_size;
	fi->fi_content = file_stored_digest(fd, &st, &fi->fi_digest) == 0;
	if (!fi->fi_content)
		file_identity_digest(&st, &fi->fi_digest);
}

#define FILE_DIGEST_CHUNK (1 << 20)

int
file_content_digest(int fd, uint64_t size, struct digest *out)
{
	struct stat before, after;
	XXH3_state_t *state;
	XXH128_hash_t h;
	uint64_t off = 0;
	char *chunk;
	int saved;

	if (fstat(fd, &before) == -1)
		return -1;
	chunk = malloc(FILE_DIGEST_CHUNK);
	state = XXH3_createState();
	if (chunk == NULL || state == NULL) {
		free(chunk);
		XXH3_freeState(state);
		errno = ENOMEM;
		return -1;
	}
	XXH3_128bits_reset(state);
	while (off < size) {
		size_t want = size - off < FILE_DIGEST_CHUNK ?
		    (size_t)(size - off) : FILE_DIGEST_CHUNK;
		ssize_t n = pread(fd, chunk, want, (off_t)off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* shorter than `size` */
			goto fail;
		}
		XXH3_128bits_update(state, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	if (fstat(fd, &after) == -1)
		goto fail;
	if (after.st_size != before.st_size ||
	    after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != before.st_mtim.tv_nsec) {
		errno = EAGAIN;
		goto fail;
	}
	h = XXH3_128bits_digest(state);
	out->d_hi = h.high64;
	out->d_lo = h.low64;
	free(chunk);
	XXH3_freeState(state);
	return 0;
fail:
	saved = errno;
	free(chunk);
	XXH3_freeState(state);
	errno = saved;
	return -1;
}

int
file_origin_read(int fd, uint64_t *hlc, char *node, size_t len)
{
	char val[16 + 1 + FILE_ORIGIN_NODE_MAX];
	unsigned long long stamp;
	ssize_t n;
	size_t i, name_len;

	n = fgetxattr(fd, FILE_ORIGIN_XATTR, val, sizeof(val) - 1);
	if (n == -1)
		return -1;	/* ENODATA: none; ERANGE here: too long */
	val[n] = '\0';
	for (i = 0; i < 16; i++)
		if (!isxdigit((unsigned char)val[i]))
			break;
	name_len = (size_t)n > 17 ? (size_t)n - 17 : 0;
	if (i != 16 || val[16] != ' ' || name_len == 0 ||
	    memchr(val + 17, ' ', name_len) != NULL ||
	    memchr(val + 17, '\0', name_len) != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (name_len >= len) {
		errno = ERANGE;
		return -1;
	}
	val[16] = '\0';
	stamp = strtoull(val, NULL, 16);
	*hlc = (uint64_t)stamp;
	memcpy(node, val + 17, name_len + 1);
	return 0;
}

bool
file_is_copy(int fd)
{
	struct stat st;
	struct digest d;
	char val[8];
	ssize_t n;

	n = fgetxattr(fd, FILE_COPY_XATTR, val, sizeof(val));
	if (n != 1 || val[0] != '1')
		return false;
	return fstat(fd, &st) == 0 && file_stored_digest(fd, &st, &d) == 0;
}

int
file_read_all(int fd, struct buf *out, uint64_t size)
{
	size_t got = 0;
	char *p = buf_reserve(out, (size_t)size);

	/* `size` is what fstat said and what Content-Length will say: bytes
	 * the file gained since are not part of this answer. */
	while (got < size) {
		ssize_t n = pread(fd, p + got, (size_t)size - got, (off_t)got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;	/* shrank, or cannot be read */
		got += (size_t)n;
	}
	out->len += got;
	return 0;
}

size_t
file_send(int sock, int fd, uint64_t *off, uint64_t max, int *err)
{
	size_t total = 0;

	*err = 0;
	while (total < max) {
		off_t o = (off_t)*off;
		size_t want = max - total;
		ssize_t n;

		if (want > (size_t)1 << 30)
			want = (size_t)1 << 30;
		n = sendfile(sock, fd, &o, want);
		if (n > 0) {
			*off = (uint64_t)o;
			total += (size_t)n;
			continue;
		}
		if (n == 0) {
			/* The file shrank under us: never send a short body
			 * that the client could take for the whole. */
			*err = EIO;
			break;
		}
		if (errno == EINTR)
			continue;
		*err = errno;
		break;
	}
	return total;
}

static int
file_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when s is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static bool
file_is_utf8(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned int c = *s, n, cp, i;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		    || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		s += n + 1;
	}
	return true;
}

static void
file_json_string(struct buf *out, const char *s)
{
	buf_append(out, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			buf_append(out, "\\", 1);
			buf_append(out, s, 1);
		} else if (ch < 0x20 || ch == 0x7f) {
			buf_printf(out, "\\u%04x", ch);
		} else {
			buf_append(out, s, 1);
		}
	}
	buf_append(out, "\"", 1);
}

int
file_list(int root_fd, bool json, struct buf *out)
{
	char **names = NULL;
	size_t n = 0, cap = 0, i, listed;
	struct dirent *de;
	DIR *dir;
	int fd;

	/* A fresh open: fdopendir would share root_fd's offset with other
	 * threads listing at the same time. */
	fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	dir = fdopendir(fd);
	if (dir == NULL) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);
		bool regular = de->d_type == DT_REG;

		if (!name_is_valid(de->d_name, len))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			regular = fstatat(dirfd(dir), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
		}
		if (!regular)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	if (n > 1)
		qsort(names, n, sizeof(*names), file_cmp_names);
	if (json)
		buf_append(out, "[", 1);
	for (i = 0, listed = 0; i < n; i++) {
		if (json) {
			/* JSON strings are Unicode: a name that is not UTF-8
			 * cannot be written there (the text listing has it). */
			if (file_is_utf8((const unsigned char *)names[i])) {
				if (listed++ > 0)
					buf_append(out, ",", 1);
				file_json_string(out, names[i]);
			}
		} else {
			buf_append_str(out, names[i]);
			buf_append(out, "\n", 1);
		}
		free(names[i]);
	}
	if (json)
		buf_append(out, "]\n", 2);
	free(names);
	return 0;
}

/*
 * Whether dir_fd/name is still the saved copy `id`. The inode number alone
 * does not say it: a file system gives a freed inode to the next file made
 * (an operator's replacement, at once). So the size must match too, and
 * the file must carry the digest a copy is sealed with, still valid for
 * its size and mtime (where the file system has extended attributes).
 */
static bool
file_is_still_copy(int dir_fd, const char *name,
    const struct file_identity *id)
{
	struct stat st;
	struct digest digest;
	bool same;
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK);

	if (fd == -1)
		return false;
	same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_dev == id->id_dev &&
	    (uint64_t)st.st_ino == id->id_ino &&
	    (uint64_t)st.st_size == id->id_size;
	errno = 0;
	if (same && file_stored_digest(fd, &st, &digest) == -1)
		same = errno == ENOTSUP;	/* no copy carries one here */
	close(fd);
	return same;
}

int
file_remove_copy(int root_fd, int tmp_fd, const char *name,
    const struct file_identity *id)
{
	char aside[FILE_TMP_NAME_MAX];
	static unsigned seq;

	snprintf(aside, sizeof(aside), "expired-%ld-%u", (long)getpid(),
	    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	/* Move the name aside first, then look at what was moved: between
	 * a check and an unlink by name, another file could take the name,
	 * but nothing can change what a rename already took. */
	if (renameat2(root_fd, name, tmp_fd, aside, RENAME_NOREPLACE) == -1)
		return errno == ENOENT ? 1 : -1;
	if (file_is_still_copy(tmp_fd, aside, id)) {
		(void)unlinkat(tmp_fd, aside, 0);
		return 0;
	}
	/* Not the copy (an operator replaced it): put it back. If the name
	 * was taken again meanwhile, keep both: the moved file goes back
	 * under a name that says what happened, never into oblivion. */
	if (renameat2(tmp_fd, aside, root_fd, name, RENAME_NOREPLACE) == 0) {
		file_publication_note();
		return 1;
	}
	{
		char kept[NAME_MAX_LEN + 1];

		snprintf(kept, sizeof(kept), "%.200s.kept-%ld", name,
		    (long)getpid());
		if (renameat2(tmp_fd, aside, root_fd, kept,
		    RENAME_NOREPLACE) == 0)
			file_publication_note();
	}
	return 1;
}

