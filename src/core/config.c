/*
 * config.c - loads shoald's YAML configuration into a struct config.
 *
 * Only the master runs this code: at start, for `shoald -t` and on SIGHUP;
 * workers receive the result through fork. It keeps no global state, so it
 * needs no lock, and a fuzzer can drive it with arbitrary bytes.
 *
 * Loading takes two passes. The first turns libyaml events into a small tree
 * and refuses what the schema never needs: anchors, aliases, tags, a second
 * document, collections nested deeper than three levels (top mapping, the
 * peers sequence, one peer). Too deep a nesting stops the load at once, like
 * a syntax error: libyaml's scanner slows down quadratically with the depth
 * of flow collections, so reading on is a denial of service. The second
 * walks the tree with the key tables below, which give every key its kind,
 * its field and its range. Errors of
 * both passes are collected with their positions and handed back sorted by
 * position, so one run shows every mistake in the order a reader meets them.
 */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#define MAX_ERRORS	100
#define MAX_DEPTH	3		/* top mapping, peers, one peer */
/* A real configuration is a few KiB; the limit bounds the tree (a byte of
 * input can cost a hundred bytes of nodes). */
#define MAX_FILE_SIZE	(1024 * 1024)
#define NODE_MAX	64
#define TOKEN_MAX	256
#define HOST_MAX	255

#define SECOND	1000LL
#define MINUTE	(60 * SECOND)
#define HOUR	(60 * MINUTE)
#define DAY	(24 * HOUR)
#define KIB	1024ULL
#define MIB	(1024 * KIB)
#define GIB	(1024 * MIB)
#define TIB	(1024 * GIB)

enum node_type { NODE_SCALAR, NODE_MAP, NODE_SEQ, NODE_BAD };

/* One YAML node. A mapping's kids alternate key, value. NODE_BAD stands for
 * an alias, already reported: the checks skip it silently so that one
 * mistake is one error. */
struct node {
	enum node_type type;
	int line, column;		/* 1-based */
	bool plain;			/* an unquoted scalar */
	char *value;			/* scalar text, NUL-terminated */
	size_t len;			/* may hold NULs from "\0" escapes */
	struct node **kids;
	size_t nkids, cap;
};

struct error {
	int line, column;		/* 0: the error has no position */
	size_t seq;			/* keeps qsort stable */
	char *msg;
};

struct ctx {
	const char *filename;
	const char *base_dir;
	struct config *cfg;
	struct error errors[MAX_ERRORS];
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

enum key_kind {
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
};

struct key {
	const char *name;
	enum key_kind kind;
	size_t offset, size;		/* the field, from the table's base */
	uint64_t min, max;
	bool required;
	const char *what;		/* "'KEY' must be WHAT" */
	const char *const *words;
	const struct key *section;
};

#define CFG(m) .offset = offsetof(struct config, m), \
	.size = sizeof(((struct config *)0)->m)
#define PEER(m) .offset = offsetof(struct config_peer, m), \
	.size = sizeof(((struct config_peer *)0)->m)

static const char *const error_log_words[] = { "stderr", "syslog", NULL };
static const char *const access_log_words[] = { "stderr", "off", NULL };
/* In the order of enum config_log_level. */
static const char *const log_level_words[] = {
	"error", "warn", "info", "debug", NULL
};

static const struct key upload_keys[] = {
	{ .name = "enabled", .kind = KEY_BOOL, CFG(upload.enabled) },
	{ .name = "token", .kind = KEY_WORD, CFG(upload.token),
	  .max = TOKEN_MAX },
	{ .name = "max_size", .kind = KEY_SIZE, CFG(upload.max_size),
	  .min = 1, .max = TIB },
	{ .name = NULL }
};

static const struct key http_keys[] = {
	{ .name = "max_request_line", .kind = KEY_SIZE,
	  CFG(http.max_request_line), .min = 256, .max = MIB },
	{ .name = "max_header_line", .kind = KEY_SIZE,
	  CFG(http.max_header_line), .min = 256, .max = MIB },
	{ .name = "max_headers", .kind = KEY_INT, CFG(http.max_headers),
	  .min = 1, .max = 128 },
	{ .name = "max_header_size", .kind = KEY_SIZE,
	  CFG(http.max_header_size), .min = KIB, .max = MIB },
	{ .name = "header_timeout", .kind = KEY_DURATION,
	  CFG(http.header_timeout_ms), .min = 1, .max = HOUR },
	{ .name = "keepalive_timeout", .kind = KEY_DURATION,
	  CFG(http.keepalive_timeout_ms), .min = 0, .max = HOUR },
	{ .name = "send_timeout", .kind = KEY_DURATION,
	  CFG(http.send_timeout_ms), .min = 1, .max = HOUR },
	{ .name = "body_timeout", .kind = KEY_DURATION,
	  CFG(http.body_timeout_ms), .min = 1, .max = HOUR },
	{ .name = "max_connections", .kind = KEY_INT,
	  CFG(http.max_connections), .min = 1, .max = 1000000 },
	{ .name = NULL }
};

static const struct key index_keys[] = {
	{ .name = "capacity", .kind = KEY_INT, CFG(index.capacity),
	  .min = 64, .max = 1LL << 28 },
	{ .name = "negative_ttl", .kind = KEY_DURATION,
	  CFG(index.negative_ttl_ms), .min = 0, .max = HOUR },
	{ .name = NULL }
};

/* 100 years of 365 days. */
#define TTL_MAX (36500 * DAY)

enum { PEER_HOST, PEER_PORT, PEER_SAVE, PEER_TTL };

static const struct key peer_keys[] = {
	[PEER_HOST] = { .name = "host", .kind = KEY_WORD, PEER(host),
	  .max = HOST_MAX, .required = true },
	[PEER_PORT] = { .name = "port", .kind = KEY_INT, PEER(port),
	  .min = 1, .max = 65535, .required = true },
	[PEER_SAVE] = { .name = "save", .kind = KEY_BOOL, PEER(save) },
	[PEER_TTL] = { .name = "ttl", .kind = KEY_DURATION, PEER(ttl_ms),
	  .max = TTL_MAX },
	{ .name = NULL }
};

static const struct key top_keys[] = {
	{ .name = "listen", .kind = KEY_LISTEN, .required = true },
	{ .name = "root", .kind = KEY_PATH, CFG(root), .required = true },
	{ .name = "state_dir", .kind = KEY_PATH, CFG(state_dir) },
	{ .name = "node", .kind = KEY_WORD, CFG(node), .max = NODE_MAX },
	{ .name = "workers", .kind = KEY_WORKERS, CFG(workers),
	  .min = 1, .max = CONFIG_MAX_WORKERS },
	{ .name = "io_threads", .kind = KEY_INT, CFG(io_threads),
	  .min = 1, .max = CONFIG_MAX_IO_THREADS },
	{ .name = "user", .kind = KEY_STRING, CFG(user) },
	{ .name = "pid_file", .kind = KEY_PATH, CFG(pid_file) },
	{ .name = "error_log", .kind = KEY_PATH, CFG(error_log),
	  .words = error_log_words,
	  .what = "a path, \"stderr\" or \"syslog\"" },
	{ .name = "log_level", .kind = KEY_ENUM, CFG(log_level),
	  .words = log_level_words,
	  .what = "error, warn, info or debug" },
	{ .name = "access_log", .kind = KEY_PATH, CFG(access_log),
	  .words = access_log_words,
	  .what = "a path, \"stderr\" or \"off\"" },
	{ .name = "shutdown_timeout", .kind = KEY_DURATION,
	  CFG(shutdown_timeout_ms), .min = 0, .max = HOUR },
	{ .name = "save", .kind = KEY_BOOL, CFG(save) },
	{ .name = "ttl", .kind = KEY_DURATION, CFG(ttl_ms), .max = TTL_MAX },
	{ .name = "peer_timeout", .kind = KEY_DURATION, CFG(peer_timeout_ms),
	  .min = 1, .max = 10 * MINUTE },
	{ .name = "peers", .kind = KEY_PEERS },
	{ .name = "upload", .kind = KEY_SECTION, .section = upload_keys },
	{ .name = "http", .kind = KEY_SECTION, .section = http_keys },
	{ .name = "index", .kind = KEY_SECTION, .section = index_keys },
	{ .name = NULL }
};

/* check_map() records the keys it has seen in a 32-bit mask. */
_Static_assert(sizeof(top_keys) / sizeof(top_keys[0]) <= 33,
    "too many top-level keys");
_Static_assert(sizeof(http_keys) / sizeof(http_keys[0]) <= 33,
    "too many http keys");

/* What a malformed value of each kind should have looked like. */
static const char *const kind_what[] = {
	[KEY_LISTEN] = ("a port 1..65535, \"PORT\", \"HOST:PORT\", "
	    "\"*:PORT\" or \"[V6]:PORT\""),
	[KEY_PATH] = "a path",
	[KEY_STRING] = "a string",
	[KEY_WORD] = "a string",
	[KEY_BOOL] = "true or false",
	[KEY_INT] = "an integer",
	[KEY_WORKERS] = "\"auto\" or an integer",
	[KEY_DURATION] = "a duration such as 500ms, 10s, 2m, 1h or 1d",
	[KEY_SIZE] = "a size such as 512, 64KiB, 10MiB, 1GiB or 1TiB",
	[KEY_ENUM] = "one of the listed words",
	[KEY_PEERS] = "a sequence",
	[KEY_SECTION] = "a mapping",
};

static void report(struct ctx *c, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(struct ctx *c, int line, int column, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	struct error *e;

	c->failed = true;
	if (c->nerrors == MAX_ERRORS) {
		if (!c->too_many) {
			c->too_many = true;
			c->too_many_line = line;
			c->too_many_column = column;
		}
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e = &c->errors[c->nerrors];
	if ((e->msg = strdup(buf)) == NULL) {
		c->oom = true;
		return;
	}
	e->line = line;
	e->column = column;
	e->seq = c->nerrors++;
}

static void
report_at(struct ctx *c, const struct node *n, const char *fmt, const char *a,
    const char *b)
{
	report(c, n->line, n->column, fmt, a, b);
}

static void
clear_errors(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->nerrors; i++)
		free(c->errors[i].msg);
	c->nerrors = 0;
	c->too_many = false;
}

static int
error_cmp(const void *a, const void *b)
{
	const struct error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appends "FILE:LINE:COLUMN: msg" (or "FILE: msg" without a position). */
static int
errors_append(struct config_errors *errs, const char *file, int line,
    int column, const char *msg)
{
	char **msgs, *s;
	int n;

	if (line > 0)
		n = snprintf(NULL, 0, "%s:%d:%d: %s", file, line, column, msg);
	else
		n = snprintf(NULL, 0, "%s: %s", file, msg);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return -1;
	if (line > 0)
		snprintf(s, (size_t)n + 1, "%s:%d:%d: %s", file, line, column,
		    msg);
	else
		snprintf(s, (size_t)n + 1, "%s: %s", file, msg);
	msgs = realloc(errs->msgs, (errs->count + 1) * sizeof(*msgs));
	if (msgs == NULL) {
		free(s);
		return -1;
	}
	msgs[errs->count++] = s;
	errs->msgs = msgs;
	return 0;
}

/* Hands the collected errors over, sorted by position; frees them. */
static void
flush_errors(struct ctx *c, struct config_errors *errs)
{
	size_t i;

	qsort(c->errors, c->nerrors, sizeof(c->errors[0]), error_cmp);
	for (i = 0; i < c->nerrors; i++)
		errors_append(errs, c->filename, c->errors[i].line,
		    c->errors[i].column, c->errors[i].msg);
	if (c->too_many)
		errors_append(errs, c->filename, c->too_many_line,
		    c->too_many_column, "too many errors");
	if (c->oom)
		errors_append(errs, c->filename, 0, 0, "out of memory");
	clear_errors(c);
}

/* ---- pass 1: events into a tree ---- */

static void
node_free(struct node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);	/* depth is at most MAX_DEPTH */
	free(n->kids);
	free(n->value);
	free(n);
}

/* libyaml counts lines and columns from 0; editors and people from 1. */
static int
mark_num(size_t n)
{
	return n < INT32_MAX ? (int)n + 1 : INT32_MAX;
}

static struct node *
node_new(enum node_type type, const yaml_mark_t *mark)
{
	struct node *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->type = type;
	n->line = mark_num(mark->line);
	n->column = mark_num(mark->column);
	return n;
}

static int
node_add(struct node *parent, struct node *kid)
{
	struct node **kids;
	size_t cap;

	if (parent->nkids == parent->cap) {
		cap = parent->cap ? parent->cap * 2 : 8;
		kids = realloc(parent->kids, cap * sizeof(*kids));
		if (kids == NULL)
			return -1;
		parent->kids = kids;
		parent->cap = cap;
	}
	parent->kids[parent->nkids++] = kid;
	return 0;
}

/* libyaml reports reader errors (bad UTF-8, control bytes) as a byte offset
 * only; count lines and characters up to it. */
static void
offset_position(const char *buf, size_t len, size_t off, int *line,
    int *column)
{
	size_t i;

	*line = 1;
	*column = 1;
	if (off > len)
		off = len;
	for (i = 0; i < off && *line < INT32_MAX; i++) {
		if (buf[i] == '\n') {
			++*line;
			*column = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80 &&
		    *column < INT32_MAX)
			++*column;
	}
}

/* A syntax error ends the load: what came before it may be half a node, so
 * it is the only error reported. Too deep a nesting is treated the same. */
static void
report_syntax(struct ctx *c, const yaml_parser_t *p, const char *buf,
    size_t len)
{
	int line, column;
	const char *problem = p->problem ? p->problem : "syntax error";

	clear_errors(c);
	if (p->error == YAML_MEMORY_ERROR) {
		c->oom = true;
		c->failed = true;
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		offset_position(buf, len, p->problem_offset, &line, &column);
		report(c, line, column, "%s", problem);
		return;
	}
	line = mark_num(p->problem_mark.line);
	column = mark_num(p->problem_mark.column);
	if (p->context)
		report(c, line, column, "%s (%s at %d:%d)", problem,
		    p->context, mark_num(p->context_mark.line),
		    mark_num(p->context_mark.column));
	else
		report(c, line, column, "%s", problem);
}

static void
check_anchor_tag(struct ctx *c, const yaml_event_t *ev,
    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	int line = mark_num(ev->start_mark.line);
	int column = mark_num(ev->start_mark.column);

	if (anchor != NULL)
		report(c, line, column, "anchors and aliases are not allowed");
	if (tag != NULL)
		report(c, line, column, "tags are not allowed");
}

/* Makes the node for a scalar, alias or collection start event. */
static struct node *
event_node(struct ctx *c, const yaml_event_t *ev)
{
	struct node *n;
	const yaml_mark_t *m = &ev->start_mark;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		report(c, mark_num(m->line), mark_num(m->column),
		    "anchors and aliases are not allowed");
		return node_new(NODE_BAD, m);
	case YAML_SCALAR_EVENT:
		check_anchor_tag(c, ev, ev->data.scalar.anchor,
		    ev->data.scalar.tag);
		if ((n = node_new(NODE_SCALAR, m)) == NULL)
			return NULL;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->len = ev->data.scalar.length;
		if ((n->value = malloc(n->len + 1)) == NULL) {
			node_free(n);
			return NULL;
		}
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = '\0';
		return n;
	case YAML_SEQUENCE_START_EVENT:
		check_anchor_tag(c, ev, ev->data.sequence_start.anchor,
		    ev->data.sequence_start.tag);
		break;
	default:
		check_anchor_tag(c, ev, ev->data.mapping_start.anchor,
		    ev->data.mapping_start.tag);
		break;
	}
	return node_new(ev->type == YAML_SEQUENCE_START_EVENT ? NODE_SEQ :
	    NODE_MAP, m);
}

/* Reads the first document into *root (NULL when the stream has none).
 * Returns 0, or -1 after a syntax error or when memory ran out. */
static int
read_tree(struct ctx *c, yaml_parser_t *p, const char *buf, size_t len,
    struct node **root)
{
	struct node *stack[MAX_DEPTH], *n;
	size_t depth = 0;
	int ndocs = 0;
	bool done = false;
	yaml_event_t ev;

	*root = NULL;
	while (!done) {
		if (!yaml_parser_parse(p, &ev)) {
			report_syntax(c, p, buf, len);
			return -1;
		}
		n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				report(c, mark_num(ev.start_mark.line),
				    mark_num(ev.start_mark.column),
				    "more than one document");
				done = true;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == MAX_DEPTH) {
				/* Nothing valid lies this deep. */
				clear_errors(c);
				report(c, mark_num(ev.start_mark.line),
				    mark_num(ev.start_mark.column),
				    "nesting too deep");
				yaml_event_delete(&ev);
				return -1;
			}
			/* FALLTHROUGH */
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			if ((n = event_node(c, &ev)) == NULL)
				goto oom;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (n == NULL)
			continue;
		if (depth == 0) {
			/* One document has one root node; never more. */
			if (*root != NULL) {
				node_free(n);
				continue;
			}
			*root = n;
		} else if (node_add(stack[depth - 1], n) < 0) {
			node_free(n);
			goto oom_deleted;
		}
		if (n->type == NODE_MAP || n->type == NODE_SEQ)
			stack[depth++] = n;
	}
	return 0;
oom:
	yaml_event_delete(&ev);
oom_deleted:
	c->oom = true;
	c->failed = true;
	return -1;
}

/* ---- numbers ---- */

/* Decimal digits at *s, at least one, no sign; advances *s. */
static int
parse_digits(const char **s, uint64_t *v)
{
	const char *p = *s;
	uint64_t n = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*v = n;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t factor;
};

/* A number with an optional unit from `units` (the first one is ""). */
static int
parse_with_unit(const char *s, const struct unit *units, uint64_t max,
    uint64_t *out)
{
	uint64_t n;
	const struct unit *u;

	if (s == NULL || parse_digits(&s, &n) < 0)
		return -1;
	for (u = units; u->suffix != NULL; u++) {
		if (strcmp(s, u->suffix) != 0)
			continue;
		if (n > max / u->factor)
			return -1;
		*out = n * u->factor;
		return 0;
	}
	return -1;
}

static const struct unit duration_units[] = {
	{ "", SECOND }, { "ms", 1 }, { "s", SECOND }, { "m", MINUTE },
	{ "h", HOUR }, { "d", DAY }, { NULL, 0 }
};

static const struct unit size_units[] = {
	{ "", 1 }, { "KiB", KIB }, { "MiB", MIB }, { "GiB", GIB },
	{ "TiB", TIB }, { NULL, 0 }
};

int
config_parse_duration(const char *s, int64_t *ms)
{
	uint64_t v;

	if (parse_with_unit(s, duration_units, INT64_MAX, &v) < 0)
		return -1;
	*ms = (int64_t)v;
	return 0;
}

int
config_parse_size(const char *s, uint64_t *bytes)
{
	return parse_with_unit(s, size_units, UINT64_MAX, bytes);
}

/* The largest unit that writes v exactly: "10m", "1ms", "64KiB", "0". */
static void
format_unit(char *buf, size_t size, uint64_t v, const struct unit *units)
{
	const struct unit *u, *best = NULL;

	for (u = units + 1; u->suffix != NULL; u++)
		if (v != 0 && v % u->factor == 0 &&
		    (best == NULL || u->factor > best->factor))
			best = u;
	if (best == NULL)
		snprintf(buf, size, "%llu%s", (unsigned long long)v,
		    units == duration_units ? "ms" : "");
	else
		snprintf(buf, size, "%llu%s",
		    (unsigned long long)(v / best->factor), best->suffix);
}

/* ---- strings ---- */

/* Printable ASCII without spaces: names, hosts and tokens end up in HTTP
 * headers and log lines, where anything else would be an injection. */
static bool
is_word(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static bool
has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return true;
	return false;
}

/* YAML's null: an empty plain scalar, "~" or "null". */
static bool
is_null(const struct node *n)
{
	return n->type == NODE_SCALAR && n->plain && (n->len == 0 ||
	    strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	    strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

/* base_dir + "/" + path unless path is absolute; no file system access. */
static char *
path_join(const char *base_dir, const char *path)
{
	size_t blen, plen = strlen(path);
	char *s;
	bool slash;

	if (path[0] == '/')
		return strdup(path);
	if (base_dir == NULL)
		base_dir = "/";
	blen = strlen(base_dir);
	slash = blen == 0 || base_dir[blen - 1] != '/';
	if ((s = malloc(blen + slash + plen + 1)) == NULL)
		return NULL;
	memcpy(s, base_dir, blen);
	if (slash)
		s[blen] = '/';
	memcpy(s + blen + slash, path, plen + 1);
	return s;
}

/* A key as it may appear in a message: at most 64 bytes, cut on a
 * character boundary, control bytes shown as '?'. */
static void
quote_key(char *buf, size_t size, const struct node *k)
{
	size_t i, n = k->len;

	if (n > 64) {
		n = 64;
		while (n > 0 && ((unsigned char)k->value[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > size - 4)
		n = size - 4;
	for (i = 0; i < n; i++)
		buf[i] = has_control(k->value + i, 1) ? '?' : k->value[i];
	strcpy(buf + i, n < k->len ? "..." : "");
}

/* ---- pass 2: the tree against the tables ---- */

static void
store_uint(void *base, const struct key *k, uint64_t v)
{
	char *p = (char *)base + k->offset;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	/* Every field is a non-negative integer of one of these widths, and
	 * the value has passed the key's range. */
	switch (k->size) {
	case 2:
		memcpy(p, &v16, 2);
		break;
	case 4:
		memcpy(p, &v32, 4);
		break;
	default:
		memcpy(p, &v, 8);
		break;
	}
}

static void
store_string(struct ctx *c, void *base, const struct key *k, char *s)
{
	char **p = (char **)(void *)((char *)base + k->offset);

	free(*p);
	*p = s;
	if (s == NULL)
		c->oom = c->failed = true;
}

static int
workers_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (int)n;
}

/* "PORT", "HOST:PORT", "*:PORT", "[V6]:PORT". */
static int
parse_listen(const struct node *v, char **host, uint16_t *port)
{
	const char *s = v->value, *colon, *p, *h = NULL;
	size_t hlen = 0;
	uint64_t n;

	if (s[0] == '[') {
		if ((p = strchr(s, ']')) == NULL || p[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(p - h);
		colon = p + 1;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		h = s;
		hlen = (size_t)(colon - s);
		/* An IPv6 address needs its brackets. */
		if (memchr(h, ':', hlen) != NULL)
			return -1;
	}
	p = colon ? colon + 1 : s;
	if (parse_digits(&p, &n) < 0 || *p != '\0' || n < 1 || n > 65535)
		return -1;
	if (h != NULL && !(hlen == 1 && h[0] == '*' && s[0] != '[')) {
		if (!is_word(h, hlen, HOST_MAX))
			return -1;
		if ((*host = strndup(h, hlen)) == NULL)
			return -2;
	}
	*port = (uint16_t)n;
	return 0;
}

static uint32_t check_map(struct ctx *c, const struct node *map,
    const struct key *keys, void *base, const char *prefix, int line,
    int column);

static void
check_peers(struct ctx *c, const struct node *v)
{
	struct config *cfg = c->cfg;
	struct config_peer *p, *q;
	const struct node *item;
	size_t i, j, n = v->nkids;

	if (n > CONFIG_MAX_PEERS)
		n = CONFIG_MAX_PEERS;
	if (n > 0 && (cfg->peers = calloc(n, sizeof(*cfg->peers))) == NULL) {
		c->oom = c->failed = true;
		return;
	}
	for (i = 0; i < v->nkids; i++) {
		item = v->kids[i];
		if (i == CONFIG_MAX_PEERS) {
			report(c, item->line, item->column,
			    "more than %d peers", CONFIG_MAX_PEERS);
			break;
		}
		if (item->type == NODE_BAD)
			continue;
		if (item->type != NODE_MAP) {
			report(c, item->line, item->column,
			    "each entry of 'peers' must be a mapping");
			continue;
		}
		j = cfg->npeers++;
		p = &cfg->peers[j];
		c->peer_line[j] = item->line;
		c->peer_column[j] = item->column;
		c->peer_set[j] = check_map(c, item, peer_keys, p, "peers.",
		    item->line, item->column);
		if (p->host == NULL || p->port == 0)
			continue;
		for (q = cfg->peers; q < p; q++) {
			if (q->port != p->port || q->host == NULL ||
			    strcasecmp(q->host, p->host) != 0)
				continue;
			report(c, item->line, item->column,
			    strchr(p->host, ':') ?
			    "duplicate peer '[%s]:%u' (first at %d:%d)" :
			    "duplicate peer '%s:%u' (first at %d:%d)",
			    p->host, p->port, c->peer_line[q - cfg->peers],
			    c->peer_column[q - cfg->peers]);
			break;
		}
	}
}

/* Checks one value and stores it into its field. */
static void
check_value(struct ctx *c, const struct key *k, const struct node *kn,
    const struct node *v, void *base, const char *name)
{
	const char *s = v->value, *what = k->what ? k->what : kind_what[k->kind];
	char prefix[168], lo[32], hi[32];	/* name + "." */
	const struct unit *units;
	uint64_t n;
	size_t i;
	int64_t ms;

	if (v->type == NODE_BAD)
		return;
	if (is_null(v)) {
		/* An empty value has no useful position of its own. */
		report_at(c, kn, "'%s' has no value", name, NULL);
		return;
	}
	if (k->kind == KEY_SECTION || k->kind == KEY_PEERS) {
		if (v->type != (k->kind == KEY_PEERS ? NODE_SEQ : NODE_MAP))
			report_at(c, v, "'%s' must be %s", name, what);
		else if (k->kind == KEY_PEERS)
			check_peers(c, v);
		else {
			snprintf(prefix, sizeof(prefix), "%s.", name);
			check_map(c, v, k->section, base, prefix, v->line,
			    v->column);
		}
		return;
	}
	if (v->type != NODE_SCALAR) {
		report_at(c, v, "'%s' must be %s", name, what);
		return;
	}
	if (has_control(s, v->len)) {
		report_at(c, v, "'%s' must not contain control characters",
		    name, NULL);
		return;
	}
	switch (k->kind) {
	case KEY_LISTEN:
		switch (parse_listen(v, &c->cfg->listen_host,
		    &c->cfg->listen_port)) {
		case -1:
			report_at(c, v, "'%s' must be %s", name, what);
			break;
		case -2:
			c->oom = c->failed = true;
			break;
		}
		return;
	case KEY_PATH:
		for (i = 0; k->words && k->words[i]; i++)
			if (strcmp(s, k->words[i]) == 0) {
				/* "off" is the only word that means nothing. */
				if (strcmp(s, "off") == 0)
					return;
				store_string(c, base, k, strdup(s));
				return;
			}
		if (v->len == 0)
			report_at(c, v, "'%s' must not be empty", name, NULL);
		else
			store_string(c, base, k, path_join(c->base_dir, s));
		return;
	case KEY_STRING:
		if (v->len == 0)
			report_at(c, v, "'%s' must not be empty", name, NULL);
		else
			store_string(c, base, k, strdup(s));
		return;
	case KEY_WORD:
		if (!is_word(s, v->len, k->max))
			report(c, v->line, v->column, "'%s' must be 1 to %llu "
			    "printable ASCII characters without spaces", name,
			    (unsigned long long)k->max);
		else
			store_string(c, base, k, strdup(s));
		return;
	case KEY_BOOL:
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			report_at(c, v, "'%s' must be %s", name, what);
		else
			*(bool *)((char *)base + k->offset) = s[0] == 't';
		return;
	case KEY_ENUM:
		for (i = 0; k->words[i]; i++)
			if (strcmp(s, k->words[i]) == 0) {
				store_uint(base, k, i);
				return;
			}
		report_at(c, v, "'%s' must be %s", name, what);
		return;
	case KEY_WORKERS:
		if (strcmp(s, "auto") == 0) {
			store_uint(base, k, (uint64_t)workers_auto());
			return;
		}
		/* FALLTHROUGH */
	case KEY_INT:
		units = size_units;
		if (parse_digits(&s, &n) < 0 || *s != '\0') {
			report_at(c, v, "'%s' must be %s", name, what);
			return;
		}
		break;
	case KEY_DURATION:
		units = duration_units;
		if (config_parse_duration(s, &ms) < 0) {
			report_at(c, v, "'%s' must be %s", name, what);
			return;
		}
		n = (uint64_t)ms;
		break;
	case KEY_SIZE:
		units = size_units;
		if (config_parse_size(s, &n) < 0) {
			report_at(c, v, "'%s' must be %s", name, what);
			return;
		}
		break;
	default:
		return;
	}
	/* Numbers: check the range, in the key's own units. */
	if (n < k->min || n > k->max) {
		if (k->kind == KEY_INT || k->kind == KEY_WORKERS) {
			snprintf(lo, sizeof(lo), "%llu",
			    (unsigned long long)k->min);
			snprintf(hi, sizeof(hi), "%llu",
			    (unsigned long long)k->max);
		} else {
			format_unit(lo, sizeof(lo), k->min, units);
			format_unit(hi, sizeof(hi), k->max, units);
		}
		report(c, v->line, v->column, "'%s' must be from %s to %s",
		    name, lo, hi);
		return;
	}
	store_uint(base, k, n);
}

/*
 * Checks a mapping against `keys`, storing values into `base`. Returns the
 * set of keys present (bit i for keys[i]). A missing required key is
 * reported at line:column.
 */
static uint32_t
check_map(struct ctx *c, const struct node *map, const struct key *keys,
    void *base, const char *prefix, int line, int column)
{
	const struct node *first[32] = { NULL }, *kn, *v;
	char name[160], qkey[72];
	uint32_t seen = 0;
	size_t i, j;

	for (i = 0; i + 1 < map->nkids; i += 2) {
		kn = map->kids[i];
		v = map->kids[i + 1];
		if (kn->type == NODE_BAD)
			continue;
		if (kn->type != NODE_SCALAR) {
			report_at(c, kn, "keys must be strings", NULL, NULL);
			continue;
		}
		for (j = 0; keys[j].name != NULL; j++)
			if (strlen(keys[j].name) == kn->len &&
			    memcmp(keys[j].name, kn->value, kn->len) == 0)
				break;
		quote_key(qkey, sizeof(qkey), kn);
		if (keys[j].name == NULL) {
			report(c, kn->line, kn->column, "unknown key '%s%s'",
			    prefix, qkey);
			continue;
		}
		if (first[j] != NULL) {
			report(c, kn->line, kn->column,
			    "duplicate key '%s%s' (first at %d:%d)", prefix,
			    qkey, first[j]->line, first[j]->column);
			continue;
		}
		first[j] = kn;
		seen |= 1u << j;
		snprintf(name, sizeof(name), "%s%s", prefix, keys[j].name);
		check_value(c, &keys[j], kn, v, base, name);
	}
	for (j = 0; keys[j].name != NULL; j++)
		if (keys[j].required && first[j] == NULL)
			report(c, line, column, "missing required key '%s%s'",
			    prefix, keys[j].name);
	return seen;
}

static void
set_defaults(struct config *cfg)
{
	cfg->workers = workers_auto();
	cfg->io_threads = 4;
	cfg->log_level = CONFIG_LOG_INFO;
	cfg->shutdown_timeout_ms = 10 * SECOND;
	cfg->save = true;
	cfg->ttl_ms = 0;
	cfg->peer_timeout_ms = 2 * SECOND;
	cfg->upload.enabled = true;
	cfg->upload.max_size = 10 * GIB;
	cfg->http.max_request_line = 8 * KIB;
	cfg->http.max_header_line = 8 * KIB;
	cfg->http.max_headers = 100;
	cfg->http.max_header_size = 64 * KIB;
	cfg->http.header_timeout_ms = 10 * SECOND;
	cfg->http.keepalive_timeout_ms = 60 * SECOND;
	cfg->http.send_timeout_ms = 60 * SECOND;
	cfg->http.body_timeout_ms = 60 * SECOND;
	cfg->http.max_connections = 4096;
	cfg->index.capacity = 65536;
	cfg->index.negative_ttl_ms = SECOND;
}

/* "HOSTNAME:PORT", cut to NODE_MAX bytes and made a valid node name. */
static char *
default_node(uint16_t port)
{
	char host[256], *s, *p;
	int plen;

	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (p = host; *p; p++)
		if (*p <= ' ' || *p > '~')
			*p = '-';
	plen = snprintf(NULL, 0, ":%u", port);
	if ((s = malloc(NODE_MAX + 1)) != NULL)
		snprintf(s, NODE_MAX + 1, "%.*s:%u", NODE_MAX - plen, host,
		    port);
	return s;
}

/* Fills in what depends on other keys, once the whole file is read. */
static void
resolve(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	if (cfg->state_dir == NULL &&
	    (cfg->state_dir = path_join(cfg->root, ".shoal")) == NULL)
		c->oom = c->failed = true;
	if (cfg->node == NULL &&
	    (cfg->node = default_node(cfg->listen_port)) == NULL)
		c->oom = c->failed = true;
	if (cfg->pid_file == NULL &&
	    (cfg->pid_file = strdup("/run/shoald.pid")) == NULL)
		c->oom = c->failed = true;
	if (cfg->error_log == NULL &&
	    (cfg->error_log = strdup("stderr")) == NULL)
		c->oom = c->failed = true;
	/* The global save and ttl may come after the peers in the file. */
	for (i = 0; i < cfg->npeers; i++) {
		if (!(c->peer_set[i] & 1u << PEER_SAVE))
			cfg->peers[i].save = cfg->save;
		if (!(c->peer_set[i] & 1u << PEER_TTL))
			cfg->peers[i].ttl_ms = cfg->ttl_ms;
	}
}

int
config_parse(const char *buf, size_t len, const char *filename,
    const char *base_dir, struct config *out, struct config_errors *errs)
{
	struct ctx *c;
	yaml_parser_t parser;
	struct node *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (filename == NULL)
		filename = "(config)";
	if (len > MAX_FILE_SIZE) {
		errors_append(errs, filename, 0, 0, "larger than 1MiB");
		return -1;
	}
	/* The error array makes the context a few KiB: keep it off the
	 * stack of whoever calls us. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		errors_append(errs, filename, 0, 0, "out of memory");
		return -1;
	}
	c->filename = filename;
	c->base_dir = base_dir;
	c->cfg = out;
	set_defaults(out);

	if (!yaml_parser_initialize(&parser)) {
		c->oom = c->failed = true;
	} else {
		/* libyaml insists on a non-NULL buffer, even an empty one. */
		yaml_parser_set_input_string(&parser,
		    (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
		if (read_tree(c, &parser, buf ? buf : "", buf ? len : 0,
		    &root) == 0) {
			if (root == NULL || (root->type == NODE_SCALAR &&
			    root->plain && root->len == 0))
				check_map(c, &(struct node){ .type = NODE_MAP },
				    top_keys, out, "", 1, 1);
			else if (root->type == NODE_MAP)
				check_map(c, root, top_keys, out, "", 1, 1);
			else if (root->type != NODE_BAD)
				report(c, root->line, root->column,
				    "the top level must be a mapping");
			if (!c->failed)
				resolve(c);
		}
		yaml_parser_delete(&parser);
	}
	node_free(root);

	rc = c->failed ? -1 : 0;
	if (rc < 0) {
		config_free(out);
		flush_errors(c, errs);
	}
	free(c);
	return rc;
}

int
config_load(const char *path, const char *base_dir, struct config *out,
    struct config_errors *errs)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, rc, err = 0;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		errors_append(errs, path, 0, 0, strerror(errno));
		return -1;
	}
	/* Read to the end rather than trust st_size: /dev/stdin and
	 * process substitution have none. Past the limit, config_parse()
	 * says no. */
	while (len <= MAX_FILE_SIZE) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				err = ENOMEM;
				break;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (err != 0) {
		free(buf);
		errors_append(errs, path, 0, 0, strerror(err));
		return -1;
	}
	rc = config_parse(buf ? buf : "", len, path, base_dir, out, errs);
	free(buf);
	return rc;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->listen_host);
	free(cfg->root);
	free(cfg->state_dir);
	free(cfg->node);
	free(cfg->user);
	free(cfg->pid_file);
	free(cfg->error_log);
	free(cfg->access_log);
	for (i = 0; i < cfg->npeers; i++)
		free(cfg->peers[i].host);
	free(cfg->peers);
	free(cfg->upload.token);
	memset(cfg, 0, sizeof(*cfg));
}

static bool
config_str_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool
config_same_but_peers(const struct config *a, const struct config *b)
{
	/* A new field of struct config must be compared here: this fails
	 * to build until the size below is brought up to date with it. */
	_Static_assert(sizeof(struct config) == 248,
	    "config_same_but_peers() compares every field");
	return config_str_same(a->listen_host, b->listen_host) &&
	    a->listen_port == b->listen_port &&
	    config_str_same(a->root, b->root) &&
	    config_str_same(a->state_dir, b->state_dir) &&
	    config_str_same(a->node, b->node) &&
	    a->workers == b->workers && a->io_threads == b->io_threads &&
	    config_str_same(a->user, b->user) &&
	    config_str_same(a->pid_file, b->pid_file) &&
	    config_str_same(a->error_log, b->error_log) &&
	    a->log_level == b->log_level &&
	    config_str_same(a->access_log, b->access_log) &&
	    a->shutdown_timeout_ms == b->shutdown_timeout_ms &&
	    a->save == b->save && a->ttl_ms == b->ttl_ms &&
	    a->peer_timeout_ms == b->peer_timeout_ms &&
	    a->upload.enabled == b->upload.enabled &&
	    config_str_same(a->upload.token, b->upload.token) &&
	    a->upload.max_size == b->upload.max_size &&
	    memcmp(&a->http, &b->http, sizeof(a->http)) == 0 &&
	    memcmp(&a->index, &b->index, sizeof(a->index)) == 0;
}

void
config_errors_free(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->count; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->count = 0;
}
