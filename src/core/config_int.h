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
 *   config_cluster.c
 *                   the cluster: section, its rules across keys and
 *                   sections, and its key file (read by config_load() only)
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
	bool read_files;		/* config_load(): read the key file */
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

enum config_key_kind {
	KEY_LISTEN,	/* port, "HOST:PORT", "*:PORT", "[V6]:PORT" */
	KEY_PATH,	/* made absolute; `words` are kept verbatim */
	KEY_STRING,	/* any non-empty string */
	KEY_WORD,	/* printable ASCII without spaces, at most max bytes */
	KEY_BOOL,
	KEY_INT,
	KEY_WORKERS,	/* KEY_INT or "auto" */
	KEY_DURATION,	/* stored in ms */
	KEY_SIZE,	/* stored in bytes */
	KEY_ENUM,	/* index into `words` */
	KEY_PEERS,
	KEY_SECTION,	/* a mapping described by `section` */
	KEY_CHECK,	/* checked and stored by `check` */
};

/* One key of a mapping: the tables of config_check.c and
 * config_cluster.c. */
struct config_key {
	const char *name;
	enum config_key_kind kind;
	size_t offset, size;	/* the field, from the table's base */
	uint64_t min, max;
	bool required;
	bool auto_zero;		/* KEY_DURATION, KEY_SIZE: "auto" stores 0 */
	const char *what;	/* "'KEY' must be WHAT" */
	const char *const *words;
	const struct config_key *section;
	/* KEY_CHECK: checks a value that is not null (of any node type)
	 * and stores it; `name` is the key's full name, for messages. */
	void (*check)(struct config_ctx *c, const struct config_node *v,
	    const char *name);
};

/* The field m of struct config, for a table whose base is the config. */
#define CFG(m) .offset = offsetof(struct config, m), \
	.size = sizeof(((struct config *)0)->m)

/* Checks the tree (NULL or an empty scalar: an empty file) against the
 * top-level keys and stores every valid value into c->cfg; reports every
 * fault. */
void config_check(struct config_ctx *c, const struct config_node *root);

/* Reports "'NAME' must be WHAT" unless v is a scalar, and "'NAME' must not
 * contain control characters" if it has one. Returns whether v is a
 * scalar fit to be read. */
bool config_check_scalar(struct config_ctx *c, const struct config_node *v,
    const char *name, const char *what);

/* "PORT", "HOST:PORT", "*:PORT" or "[V6]:PORT" into *host and *port
 * (1..65535). Returns 0, -1 when malformed, -2 when memory ran out.
 * *host is set (the caller frees it) only on 0 and only when a host other
 * than "*" is written: the caller starts it at NULL. */
int config_check_hostport(const char *s, char **host, uint16_t *port);

/* The entries of a sequence v of at most max of them: reports "more than
 * MAX WHAT" at the first entry beyond, sets *n to the number of entries
 * to check, and returns an array of *n zeroed elements of `size` bytes
 * for them (the caller owns it), or NULL when *n is 0 (memory ran out:
 * recorded). */
void *config_check_seq(struct config_ctx *c, const struct config_node *v,
    size_t max, const char *what, size_t size, size_t *n);

/* ---- config_cluster.c ---- */

/* The keys of the cluster: section; base is the struct config. */
extern const struct config_key config_cluster_keys[];

/* The rules of the cluster: section that span keys or sections, once
 * the whole tree is checked: `root` is the top-level mapping. Marks the
 * cluster enabled when the section is a mapping, and with
 * c->read_files reads the key file. */
void config_cluster_check(struct config_ctx *c,
    const struct config_node *root);

/* ---- config.c ---- */

/* Reads fd to its end, or until it has read more than max bytes, into
 * *buf (the caller frees it) and *len. Returns 0, or an errno value with
 * *buf NULL. */
int config_read_fd(int fd, size_t max, char **buf, size_t *len);

/* base_dir + "/" + path unless path is absolute; no file system access.
 * NULL when memory ran out; the caller frees it. */
char *config_path_join(const char *base_dir, const char *path);

/* The number of CPUs online, within 1..CONFIG_MAX_WORKERS. */
int config_workers_auto(void);

#endif
