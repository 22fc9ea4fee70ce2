/*
 * versions.h - the versions of names that lost a conflict (or that a
 * replica pull brought while ROOT's name holds another version), kept in
 * the state directory: STATE_DIR/versions/<32 hex digest>/<name>. A
 * version appears there only whole: written to a temporary file in
 * STATE_DIR/versions/.tmp, fsynced, then linked into place (or renamed
 * from ROOT when both are on one file system), and the directories
 * fsynced.
 *
 * Every function may block on the disk: the agent and the workers call
 * them from their I/O pool threads only. None logs; each returns what
 * happened. No state is kept between calls.
 */
#ifndef SHOAL_STORE_VERSIONS_H
#define SHOAL_STORE_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/digest.h"
#include "store/file.h"

#define VERSIONS_DIR "versions"
#define VERSIONS_TMP_DIR ".tmp"		/* inside VERSIONS_DIR */

/*
 * Makes STATE_DIR/versions and its temporary directory when missing,
 * empties the temporary directory (what a crash left) when `clean`, and
 * returns a descriptor of the temporary directory (O_PATH, close it), or
 * -1 with errno.
 */
int versions_tmp_open(int state_fd, bool clean);

/*
 * The directory of version `digest` (STATE_DIR/versions/<hex>), made
 * (and its parent fsynced) when `create` and missing. Returns a
 * descriptor (O_PATH|O_DIRECTORY, close it), or -1 with errno (ENOENT
 * when it is missing and not `create`).
 */
int versions_dir_open(int state_fd, const struct digest *digest,
    bool create);

/*
 * Opens the kept version `digest` of `name` as file_open() opens a file
 * of ROOT (read-only, no link followed, regular files only): fi->fi_fd
 * is -1 and fi_errno ENOENT when this node keeps no such version.
 */
void versions_open(int state_fd, const char *name,
    const struct digest *digest, struct file_info *fi);

/*
 * Moves ROOT's file `name` (of version `digest`, as the caller checked)
 * to STATE_DIR/versions/<hex>/name: one rename when both are on one file
 * system; else a copy (bytes, mtime and the user.shoal.* extended
 * attributes) through the versions' temporary directory, fsynced and
 * linked into place, and only then the original unlinked. When that
 * version is kept already, ROOT's file is only removed. Returns 0 moved,
 * 1 when ROOT has no such file (nothing done), -1 with errno (the
 * original is left in place).
 */
int versions_move(int root_fd, int state_fd, const char *name,
    const struct digest *digest);

/*
 * Calls fn for every kept version (each regular file with a valid name in
 * a directory named by 32 hex digits), in no particular order, until fn
 * returns non-zero. Returns 0 (or fn's value), or -1 with errno when the
 * versions directory cannot be read (ENOENT: none yet).
 */
typedef int versions_visit_fn(void *arg, const char *name, size_t len,
    const struct digest *digest);
int versions_list(int state_fd, versions_visit_fn *fn, void *arg);

#endif
