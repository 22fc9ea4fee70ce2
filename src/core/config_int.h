/*
 * config_int.h - what the files of the configuration loader share, and no
 * other file includes (the public contract is include/core/config.h):
 *
 *   config.c        the API: config_parse(), config_load(), config_free(),
 *                   the defaults, and what is resolved once the file is read
 *   config_yaml.c   pass 1, libyaml events into a tree of config_nodes;
 *                   the errors of both passes, with their positions
 *   config_check.c  pass 2, the key tables and the check of every value,
 *                   stored into the struct config
 *
 * Only the master runs this code (at start, for `shoald -t` and on
 * SIGHUP). One load has one struct config_ctx, on the heap of whoever
 * called config_parse(); there is no global state and no lock.
 */
#ifndef SHOAL_CORE_CONFIG_INT_H
#define SHOAL_CORE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define MAX_ERRORS	100		/* kept; then "too many errors" */
#define NODE_MAX	64		/* bytes of a node name */

enum config_node_type { NODE_SCALAR, NODE_MAP, NODE_SEQ, NODE_BAD };

/* One YAML node. A mapping's kids alternate key, value. NODE_BAD stands for
 * an alias, already reported: the checks skip it silently so that one
 * mistake is one error. */
struct config_node {
	enum config_node_type type;
	int line, column;		/* 1-based */
	bool plain;			/* an unquoted scalar */
	char *value;			/* scalar text, NUL-terminated */
	size_t len;			/* may hold NULs from "\0" escapes */
	struct config_node **kids;
	size_t nkids, cap;
};

/* One error found, kept until the load ends and they are sorted. */
struct config_msg {
	int line, column;		/* 0: the error has no position */
	size_t seq;			/* keeps qsort stable */
	char *msg;
};

/* The keys of one peer, in the order of their table (config_check.c):
 * bit i of peer_set[] below says that key i was written. */
enum config_peer_key { PEER_HOST, PEER_PORT, PEER_SAVE, PEER_TTL };

/* One load. */
struct config_ctx {
	const char *filename;
	const char *base_dir;
	struct config *cfg;
	struct config_msg errors[MAX_ERRORS];
	size_t nerrors;
	bool too_many;
	int too_many_line, too_many_column;
	bool failed;			/* an error, even one not stored */
	bool oom;
	/* Which per-peer keys were written, and where each peer starts, for
	 * resolving defaults and reporting duplicates. */
	uint32_t peer_set[CONFIG_MAX_PEERS];
	int peer_line[CONFIG_MAX_PEERS], peer_column[CONFIG_MAX_PEERS];
};

/* ---- config_yaml.c ---- */

/*
 * Reads the first YAML document of buf[0..len) (buf may be NULL when len is
 * 0) into *root, a tree the caller frees with config_yaml_free(); *root is
 * NULL when the stream has no document. Returns 0, or -1 after a syntax
 * error, too deep a nesting or a failed allocation, already reported: then
 * that is the only error, and *root holds what was read before it.
 */
int config_yaml_read(struct config_ctx *c, const char *buf, size_t len,
    struct config_node **root);

void config_yaml_free(struct config_node *n);

/* Records an error at line:column (0:0 for none) and marks the load as
 * failed. Past MAX_ERRORS only the position of the first one left out is
 * kept, for "too many errors". */
void config_yaml_report(struct config_ctx *c, int line, int column,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Hands the errors recorded over to errs, sorted by position, as
 * "FILE:LINE:COLUMN: message"; then "too many errors" and "out of memory"
 * when they apply. The context holds none afterwards. */
void config_yaml_flush_errors(struct config_ctx *c,
    struct config_errors *errs);

/* Appends "FILE:LINE:COLUMN: msg", or "FILE: msg" when line is 0. Returns
 * 0, or -1 when memory ran out (nothing appended). */
int config_yaml_errors_append(struct config_errors *errs, const char *file,
    int line, int column, const char *msg);

/* ---- config_check.c ---- */

/* Checks the tree (NULL or an empty scalar: an empty file) against the
 * top-level keys and stores every valid value into c->cfg; reports every
 * fault. */
void config_check(struct config_ctx *c, const struct config_node *root);

/* ---- config.c ---- */

/* base_dir + "/" + path unless path is absolute; no file system access.
 * NULL when memory ran out; the caller frees it. */
char *config_path_join(const char *base_dir, const char *path);

/* The number of CPUs online, within 1..CONFIG_MAX_WORKERS. */
int config_workers_auto(void);

#endif
