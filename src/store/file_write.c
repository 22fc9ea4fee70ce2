/*
 * file_write.c - writing files that must appear whole in ROOT: temporary
 * files in the hidden directory, sealing (fsync, the digest xattr), the
 * link into place that never replaces a name, upload reservations, and
 * the cleanup of what a crash left (I/O pool threads; the master at
 * start for file_tmp_clean, a process of its own for file_tmp_clean_pid).
 *
 * Like file.c, nothing here touches state shared with the loop, and
 * nothing logs: each call returns what happened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/shm.h"
#include "store/file.h"

int
file_tmp_create(int tmp_fd, const char *prefix, char name[FILE_TMP_NAME_MAX])
{
	static unsigned seq;	/* pool threads race on it: names stay
				 * unique through the random part and O_EXCL */
	uint32_t rnd;
	int fd, tries;

	for (tries = 0; tries < 8; tries++) {
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = (uint32_t)random();
		snprintf(name, FILE_TMP_NAME_MAX, "%s-%ld-%u-%08x", prefix,
		    (long)getpid(), __atomic_add_fetch(&seq, 1,
		    __ATOMIC_RELAXED), rnd);
		fd = openat(tmp_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0644);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
file_write_all(int fd, const void *p, size_t n, uint64_t off)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, (off_t)off);

		if (w > 0) {
			c += w;
			n -= (size_t)w;
			off += (uint64_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

/* Writes the digest record for the size and mtime in *st (see
 * FILE_DIGEST_XATTR). */
static int
file_digest_store(int fd, const struct stat *st, const struct digest *d)
{
	char val[96], hex[DIGEST_HEX_LEN + 1];

	digest_hex(d, hex);
	snprintf(val, sizeof(val), "%llu %llu %llu %s",
	    (unsigned long long)st->st_size,
	    (unsigned long long)st->st_mtim.tv_sec,
	    (unsigned long long)st->st_mtim.tv_nsec, hex);
	return fsetxattr(fd, FILE_DIGEST_XATTR, val, strlen(val), 0);
}

int
file_seal(int fd, const struct timespec *mtime, const struct digest *d,
    struct file_identity *id)
{
	struct timespec times[2];
	struct stat st;

	if (mtime != NULL) {
		times[0].tv_sec = 0;
		times[0].tv_nsec = UTIME_OMIT;
		times[1] = *mtime;
		/* A wrong mtime is cosmetic; carry on. */
		(void)futimens(fd, times);
	}
	/* Setting an xattr changes the ctime, never the mtime: the record
	 * stays valid, and the fsync below makes it durable with the data. */
	if (fstat(fd, &st) == -1)
		return -1;
	/* Without user xattrs (some file systems) the ETag falls back to
	 * the file's identity: still correct, only less stable. */
	(void)file_digest_store(fd, &st, d);
	if (fsync(fd) == -1)
		return -1;
	if (id != NULL) {
		id->id_dev = (uint64_t)st.st_dev;
		id->id_ino = (uint64_t)st.st_ino;
		id->id_size = (uint64_t)st.st_size;
	}
	return 0;
}

int
file_digest_record(int fd, const struct digest *d)
{
	struct stat st;

	if (fstat(fd, &st) == -1 || file_digest_store(fd, &st, d) == -1)
		return -1;
	/* Recorded anew: the file changed since any seal, so it is no
	 * longer the copy that was saved. */
	if (fremovexattr(fd, FILE_COPY_XATTR) == -1 && errno != ENODATA)
		return -1;
	return 0;
}

int
file_origin_write(int fd, uint64_t hlc, const char *node)
{
	char val[16 + 1 + FILE_ORIGIN_NODE_MAX];
	size_t len = strlen(node);

	if (len == 0 || len >= FILE_ORIGIN_NODE_MAX ||
	    strchr(node, ' ') != NULL) {
		errno = EINVAL;
		return -1;
	}
	snprintf(val, sizeof(val), "%016llx %s", (unsigned long long)hlc,
	    node);
	return fsetxattr(fd, FILE_ORIGIN_XATTR, val, strlen(val), 0);
}

int
file_copy_mark(int fd)
{
	return fsetxattr(fd, FILE_COPY_XATTR, "1", 1, 0);
}

/* NULL until shared: counts made in one process would say nothing of the
 * others'. */
static uint64_t *file_publication_count;

int
file_publications_share(void)
{
	if (file_publication_count == NULL &&
	    (file_publication_count = shm_anon(sizeof(uint64_t))) == NULL)
		return -1;
	return 0;
}

uint64_t
file_publications(void)
{
	return file_publication_count == NULL ? FILE_PUBLICATIONS_UNKNOWN :
	    __atomic_load_n(file_publication_count, __ATOMIC_ACQUIRE);
}

void
file_publication_note(void)
{
	if (file_publication_count != NULL)
		(void)__atomic_add_fetch(file_publication_count, 1,
		    __ATOMIC_RELEASE);
}

int
file_link(int fd, int tmp_fd, const char *tmp_name, int root_fd,
    const char *name)
{
	int dfd, saved;

	if (linkat(tmp_fd, tmp_name, root_fd, name, 0) == -1) {
		saved = errno;
		file_tmp_discard(fd, tmp_fd, tmp_name);
		errno = saved;
		return -1;
	}
	file_publication_note();
	(void)unlinkat(tmp_fd, tmp_name, 0);
	close(fd);
	/* The file is in place now. A failed fsync of ROOT is not an error
	 * of the publication: at worst a crash forgets the name, and the
	 * index check at start forgets the record with it. */
	dfd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

void
file_tmp_discard(int fd, int tmp_fd, const char *tmp_name)
{
	/* Unlink first: an upload's reservation lock (on fd) must be held
	 * until its name is gone, or another upload could lock the file
	 * and then lose it. */
	(void)unlinkat(tmp_fd, tmp_name, 0);
	if (fd != -1)
		close(fd);
}

int
file_reserve(int root_fd, int tmp_fd, const char *name, uint64_t need,
    char tmp_name[FILE_TMP_NAME_MAX])
{
	struct stat st, named;
	struct statvfs vfs;
	int fd, tries;

	if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	if (need > 0 && fstatvfs(tmp_fd, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
		errno = ENOSPC;
		return -1;
	}
	snprintf(tmp_name, FILE_TMP_NAME_MAX, "up-%016llx",
	    (unsigned long long)XXH3_64bits(name, strlen(name)));
	for (tries = 0; tries < 8; tries++) {
		fd = openat(tmp_fd, tmp_name, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0644);
		if (fd == -1)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			int saved = errno == EWOULDBLOCK ? EBUSY : errno;

			close(fd);
			errno = saved;
			return -1;
		}
		/* The holder before us may have removed the name between our
		 * open and our lock: then this inode is no reservation. */
		if (fstat(fd, &st) == 0 && fstatat(tmp_fd, tmp_name, &named,
		    AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == named.st_dev &&
		    st.st_ino == named.st_ino) {
			/* Ours; what a dead upload left in it goes. */
			if (ftruncate(fd, 0) == -1) {
				int saved = errno;

				file_tmp_discard(fd, tmp_fd, tmp_name);
				errno = saved;
				return -1;
			}
			return fd;
		}
		close(fd);
	}
	errno = EBUSY;
	return -1;
}

/* Whether `name` is one file_tmp_create() made in process pid:
 * PREFIX-PID-N-RANDOM, the prefix without '-', RANDOM 8 hex digits. */
static bool
file_tmp_is_of(const char *name, pid_t pid)
{
	const char *p = strchr(name, '-');
	char want[32];
	size_t n;

	if (p == NULL)
		return false;
	n = (size_t)snprintf(want, sizeof(want), "-%ld-", (long)pid);
	if (strncmp(p, want, n) != 0)
		return false;
	p += n;
	n = strspn(p, "0123456789");
	if (n == 0 || p[n] != '-')
		return false;
	p += n + 1;
	return strlen(p) == 8 && strspn(p, "0123456789abcdef") == 8;
}

/* Removes the files in tmp_fd that process pid made (pid 0: every file).
 * Returns how many, or -1 with errno. */
static int
file_tmp_remove(int tmp_fd, pid_t pid)
{
	struct dirent *de;
	DIR *dir;
	int fd, n = 0;

	fd = openat(tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (pid != 0 && !file_tmp_is_of(de->d_name, pid))
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

int
file_tmp_clean(int tmp_fd)
{
	return file_tmp_remove(tmp_fd, 0);
}

int
file_tmp_clean_pid(int tmp_fd, pid_t pid)
{
	return file_tmp_remove(tmp_fd, pid);
}
