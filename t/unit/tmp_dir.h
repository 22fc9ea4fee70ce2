/*
 * tmp_dir.h - a directory of its own under /tmp for a unit suite's files,
 * /tmp/<program>_XXXXXX (check_spool_Ab12Cd), made and removed by Check's
 * runner process as an unchecked fixture, so that a test that fails or is
 * killed leaves nothing behind.
 *
 * tmp_dir is written by tmp_dir_make() in the runner before any test of
 * the tcase forks, so every test reads the same name; nothing here is
 * used by more than one thread.
 */
#ifndef SHOAL_T_TMP_DIR_H
#define SHOAL_T_TMP_DIR_H

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmp_dir[64];

static inline int
tmp_dir_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes path and everything below it, never following a link. Returns
 * 0, or -1 (errno set) when something could not be removed. */
static inline int
tmp_dir_rm(const char *path)
{
	return nftw(path, tmp_dir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes tmp_dir. Exits the runner when it cannot: no test could run. */
static inline void
tmp_dir_make(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/%s_XXXXXX",
	    program_invocation_short_name);
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

/* Removes tmp_dir and whatever the tests left in it. */
static inline void
tmp_dir_remove(void)
{
	(void)tmp_dir_rm(tmp_dir);
}

/* Makes tmp_dir before the first test of tc and removes it after the
 * last (an unchecked fixture, run by the runner). */
static inline void
tmp_dir_add(TCase *tc)
{
	tcase_add_unchecked_fixture(tc, tmp_dir_make, tmp_dir_remove);
}

/* Writes "<dir>/<name>" into out[size] and returns out; a path that does
 * not fit fails the test. */
static inline char *
tmp_dir_join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	ck_assert_msg(n >= 0 && (size_t)n < size, "path too long: %s/%s", dir,
	    name);
	return out;
}

/* Makes a new directory "<parent>/<prefix>_XXXXXX" (a test's own, where
 * tests share tmp_dir), writes its name into out[size] and returns out;
 * fails the test when it cannot. */
static inline char *
tmp_dir_sub(char *out, size_t size, const char *parent, const char *prefix)
{
	int n = snprintf(out, size, "%s/%s_XXXXXX", parent, prefix);

	ck_assert_msg(n >= 0 && (size_t)n < size, "path too long: %s/%s",
	    parent, prefix);
	ck_assert_msg(mkdtemp(out) != NULL, "mkdtemp %s: %s", out,
	    strerror(errno));
	return out;
}

#endif
