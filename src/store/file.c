/*
 * file.c - opening, sending and listing files of ROOT, and removing an
 * expired copy (I/O pool threads; the loop thread for file_open_cached();
 * the agent, and the master at start, for file_remove_copy()). Writing is
 * in file_write.c.
 *
 * Nothing here touches state shared with the loop: each call works on the
 * descriptors and buffers it is given.
 */
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
static uint64_t
file_identity_digest(const struct stat *st)
{
	uint64_t v[5] = {
		(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
		(uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec,
	};

	return XXH3_64bits(v, sizeof(v));
}

/* The xattr holds "SIZE MTIME_SEC MTIME_NSEC DIGEST_HEX". */
static int
file_stored_digest(int fd, const struct stat *st, uint64_t *digest)
{
	char val[128];
	unsigned long long size, sec, nsec, d;
	ssize_t n;
	int used = 0;

	n = fgetxattr(fd, FILE_DIGEST_XATTR, val, sizeof(val) - 1);
	if (n <= 0)
		return -1;
	val[n] = '\0';
	if (sscanf(val, "%llu %llu %llu %16llx%n", &size, &sec, &nsec, &d,
	    &used) != 4 || used != n)
		return -1;
	if (size != (unsigned long long)st->st_size ||
	    sec != (unsigned long long)st->st_mtim.tv_sec ||
	    nsec != (unsigned long long)st->st_mtim.tv_nsec)
		return -1;
	*digest = d;
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
	if (file_stored_digest(fd, &st, &fi->fi_digest) == -1)
		fi->fi_digest = file_identity_digest(&st);
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
file_is_copy(int dir_fd, const char *name, const struct file_identity *id)
{
	struct stat st;
	uint64_t digest;
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
	if (file_is_copy(tmp_fd, aside, id)) {
		(void)unlinkat(tmp_fd, aside, 0);
		return 0;
	}
	/* Not the copy (an operator replaced it): put it back. If the name
	 * was taken again meanwhile, keep both: the moved file goes back
	 * under a name that says what happened, never into oblivion. */
	if (renameat2(tmp_fd, aside, root_fd, name, RENAME_NOREPLACE) == 0)
		return 1;
	{
		char kept[NAME_MAX_LEN + 1];

		snprintf(kept, sizeof(kept), "%.200s.kept-%ld", name,
		    (long)getpid());
		(void)renameat2(tmp_fd, aside, root_fd, kept, RENAME_NOREPLACE);
	}
	return 1;
}

