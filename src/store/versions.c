/*
 * versions.c - the versions kept in the state directory (see versions.h).
 * I/O pool threads of the agent and of the workers; nothing here is
 * shared between calls, so no lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store/name.h"
#include "store/versions.h"

#define VERSIONS_COPY_BUF (256 * 1024)
#define VERSIONS_XATTR_PREFIX "user.shoal."

static void
versions_fsync_dir(int dir_fd)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* A failed directory fsync is not the caller's failure: the entry is
	 * in place; a crash may forget it, and the start scan sees that. */
	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

/* mkdirat that takes an existing directory for success, and fsyncs the
 * parent when it made one. */
static int
versions_mkdir(int parent_fd, const char *name)
{
	if (mkdirat(parent_fd, name, 0755) == 0) {
		versions_fsync_dir(parent_fd);
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

static int
versions_open_dir(int parent_fd, const char *name)
{
	return openat(parent_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

/* STATE_DIR/versions, made when `create`. */
static int
versions_root(int state_fd, bool create)
{
	if (create && versions_mkdir(state_fd, VERSIONS_DIR) == -1)
		return -1;
	return versions_open_dir(state_fd, VERSIONS_DIR);
}

int
versions_tmp_open(int state_fd, bool clean)
{
	int vfd, tfd, saved;

	if ((vfd = versions_root(state_fd, true)) == -1)
		return -1;
	if (versions_mkdir(vfd, VERSIONS_TMP_DIR) == -1 ||
	    (tfd = versions_open_dir(vfd, VERSIONS_TMP_DIR)) == -1) {
		saved = errno;
		close(vfd);
		errno = saved;
		return -1;
	}
	close(vfd);
	if (clean)
		(void)file_tmp_clean(tfd);
	return tfd;
}

int
versions_dir_open(int state_fd, const struct digest *digest, bool create)
{
	char hex[DIGEST_HEX_LEN + 1];
	int vfd, dfd, saved;

	digest_hex(digest, hex);
	if ((vfd = versions_root(state_fd, create)) == -1)
		return -1;
	if (create && versions_mkdir(vfd, hex) == -1) {
		saved = errno;
		close(vfd);
		errno = saved;
		return -1;
	}
	dfd = versions_open_dir(vfd, hex);
	saved = errno;
	close(vfd);
	errno = saved;
	return dfd;
}

void
versions_open(int state_fd, const char *name, const struct digest *digest,
    struct file_info *fi)
{
	int dfd;

	if (!name_is_valid(name, strlen(name)) ||
	    (dfd = versions_dir_open(state_fd, digest, false)) == -1) {
		memset(fi, 0, sizeof(*fi));
		fi->fi_fd = -1;
		fi->fi_errno = ENOENT;
		return;
	}
	file_open(dfd, name, -1, fi);
	close(dfd);
}

/* Copies the user.shoal.* extended attributes of `from` to `to`; those
 * that cannot be copied are left out (the digest is then computed again
 * when it is asked for). */
static void
versions_copy_xattrs(int from, int to)
{
	char names[4096], val[512];
	ssize_t len, vlen;
	char *p;

	len = flistxattr(from, names, sizeof(names));
	for (p = names; len > 0 && p < names + len; p += strlen(p) + 1) {
		if (strncmp(p, VERSIONS_XATTR_PREFIX,
		    strlen(VERSIONS_XATTR_PREFIX)) != 0)
			continue;
		vlen = fgetxattr(from, p, val, sizeof(val));
		if (vlen >= 0)
			(void)fsetxattr(to, p, val, (size_t)vlen, 0);
	}
}

/* Copies the whole of `from` (opened read-only) into a new temporary
 * file of tmp_fd, with its mtime and attributes, fsynced. Returns the
 * descriptor of the copy (its name in tmp_name), or -1 with errno. */
static int
versions_copy(int from, int tmp_fd, char tmp_name[FILE_TMP_NAME_MAX])
{
	struct timespec times[2];
	struct stat st;
	uint64_t off = 0;
	char *buf;
	int to, saved;
	ssize_t n;

	if (fstat(from, &st) == -1)
		return -1;
	if ((to = file_tmp_create(tmp_fd, "ver", tmp_name)) == -1)
		return -1;
	buf = malloc(VERSIONS_COPY_BUF);
	if (buf == NULL) {
		saved = ENOMEM;
		goto fail;
	}
	for (;;) {
		n = pread(from, buf, VERSIONS_COPY_BUF, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			goto fail;
		}
		if (n == 0)
			break;
		if (file_write_all(to, buf, (size_t)n, off) == -1) {
			saved = errno;
			goto fail;
		}
		off += (uint64_t)n;
	}
	free(buf);
	buf = NULL;
	if (off != (uint64_t)st.st_size) {
		saved = EAGAIN;		/* it changed under us */
		goto fail;
	}
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_OMIT;
	times[1] = st.st_mtim;
	/* The digest attribute is valid for (size, mtime): the mtime must
	 * be the original's, or the digest is computed again later. */
	(void)futimens(to, times);
	versions_copy_xattrs(from, to);
	if (fsync(to) == -1) {
		saved = errno;
		goto fail;
	}
	return to;
fail:
	free(buf);
	file_tmp_discard(to, tmp_fd, tmp_name);
	errno = saved;
	return -1;
}

/* Removes ROOT's name once its content is safe elsewhere. */
static int
versions_unlink_root(int root_fd, const char *name)
{
	if (unlinkat(root_fd, name, 0) == -1 && errno != ENOENT)
		return -1;
	versions_fsync_dir(root_fd);
	return 0;
}

int
versions_move(int root_fd, int state_fd, const char *name,
    const struct digest *digest)
{
	char tmp_name[FILE_TMP_NAME_MAX];
	struct stat st;
	int dfd, tfd = -1, src = -1, copy, saved;

	if (!name_is_valid(name, strlen(name))) {
		errno = EINVAL;
		return -1;
	}
	if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 1 : -1;
	if (!S_ISREG(st.st_mode))
		return 1;
	if ((dfd = versions_dir_open(state_fd, digest, true)) == -1)
		return -1;
	if (renameat2(root_fd, name, dfd, name, RENAME_NOREPLACE) == 0) {
		versions_fsync_dir(dfd);
		versions_fsync_dir(root_fd);
		close(dfd);
		return 0;
	}
	if (errno == ENOENT) {
		close(dfd);
		return 1;
	}
	if (errno == EEXIST) {
		/* That version is kept already: ROOT's is one more copy. */
		close(dfd);
		return versions_unlink_root(root_fd, name);
	}
	if (errno != EXDEV && errno != EINVAL && errno != ENOSYS)
		goto fail;
	/* Two file systems: copy, make the copy durable, then unlink. */
	if ((tfd = versions_tmp_open(state_fd, false)) == -1)
		goto fail;
	src = openat(root_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK);
	if (src == -1) {
		if (errno == ENOENT) {
			close(tfd);
			close(dfd);
			return 1;
		}
		goto fail;
	}
	if ((copy = versions_copy(src, tfd, tmp_name)) == -1)
		goto fail;
	if (file_link(copy, tfd, tmp_name, dfd, name) == -1 &&
	    errno != EEXIST)
		goto fail;
	close(src);
	close(tfd);
	close(dfd);
	return versions_unlink_root(root_fd, name);
fail:
	saved = errno;
	if (src != -1)
		close(src);
	if (tfd != -1)
		close(tfd);
	close(dfd);
	errno = saved;
	return -1;
}

/* The files of one version's directory. */
static int
versions_list_one(int vfd, const char *hex, const struct digest *digest,
    versions_visit_fn *fn, void *arg)
{
	struct dirent *de;
	DIR *dir;
	int fd, r = 0;
	size_t len;

	fd = openat(vfd, hex, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return 0;	/* gone meanwhile, or not a directory */
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while (r == 0 && (de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (!name_is_valid(de->d_name, len) ||
		    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(dir), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
				continue;
		}
		r = fn(arg, de->d_name, len, digest);
	}
	closedir(dir);
	return r;
}

int
versions_list(int state_fd, versions_visit_fn *fn, void *arg)
{
	struct digest digest;
	struct dirent *de;
	DIR *dir;
	int fd, r = 0;

	fd = openat(state_fd, VERSIONS_DIR, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	while (r == 0 && (de = readdir(dir)) != NULL) {
		char hex[DIGEST_HEX_LEN + 1];

		if (digest_parse(de->d_name, strlen(de->d_name), &digest) == -1)
			continue;
		digest_hex(&digest, hex);
		if (strcmp(hex, de->d_name) != 0)
			continue;	/* not a name versions_dir_open() makes */
		r = versions_list_one(dirfd(dir), de->d_name, &digest, fn, arg);
	}
	closedir(dir);
	return r;
}
