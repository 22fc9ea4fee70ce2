/*
 * config_yaml.c - pass 1 of loading the configuration: libyaml's events
 * into a small tree of config_nodes, and the errors of both passes,
 * collected with their FILE:LINE:COLUMN and handed back sorted.
 *
 * Only the master runs it, through config_parse() (config.c); everything
 * lives in the caller's struct config_ctx, so there is no lock.
 *
 * The tree holds only what the schema can use. Anchors, aliases, tags and
 * a second document are refused, and so are collections nested deeper
 * than three levels (top mapping, the peers sequence, one peer). Too deep
 * a nesting stops the load at once, like a syntax error: libyaml's scanner
 * slows down quadratically with the depth of flow collections, so reading
 * on is a denial of service. Errors are kept in the order found and sorted
 * by position at the end, so one run shows every mistake in the order a
 * reader meets them.
 */
#include "core/config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define MAX_DEPTH	3		/* top mapping, peers, one peer */

/* ---- errors ---- */

void
config_yaml_report(struct config_ctx *c, int line, int column,
    const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	struct config_msg *e;

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
clear_errors(struct config_ctx *c)
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
	const struct config_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
config_yaml_errors_append(struct config_errors *errs, const char *file,
    int line, int column, const char *msg)
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

void
config_yaml_flush_errors(struct config_ctx *c, struct config_errors *errs)
{
	size_t i;

	qsort(c->errors, c->nerrors, sizeof(c->errors[0]), error_cmp);
	for (i = 0; i < c->nerrors; i++)
		config_yaml_errors_append(errs, c->filename,
		    c->errors[i].line, c->errors[i].column, c->errors[i].msg);
	if (c->too_many)
		config_yaml_errors_append(errs, c->filename, c->too_many_line,
		    c->too_many_column, "too many errors");
	if (c->oom)
		config_yaml_errors_append(errs, c->filename, 0, 0,
		    "out of memory");
	clear_errors(c);
}

/* ---- events into a tree ---- */

void
config_yaml_free(struct config_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		config_yaml_free(n->kids[i]);	/* depth <= MAX_DEPTH */
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

static struct config_node *
node_new(enum config_node_type type, const yaml_mark_t *mark)
{
	struct config_node *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->type = type;
	n->line = mark_num(mark->line);
	n->column = mark_num(mark->column);
	return n;
}

static int
node_add(struct config_node *parent, struct config_node *kid)
{
	struct config_node **kids;
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
report_syntax(struct config_ctx *c, const yaml_parser_t *p, const char *buf,
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
		config_yaml_report(c, line, column, "%s", problem);
		return;
	}
	line = mark_num(p->problem_mark.line);
	column = mark_num(p->problem_mark.column);
	if (p->context)
		config_yaml_report(c, line, column, "%s (%s at %d:%d)", problem,
		    p->context, mark_num(p->context_mark.line),
		    mark_num(p->context_mark.column));
	else
		config_yaml_report(c, line, column, "%s", problem);
}

static void
check_anchor_tag(struct config_ctx *c, const yaml_event_t *ev,
    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	int line = mark_num(ev->start_mark.line);
	int column = mark_num(ev->start_mark.column);

	if (anchor != NULL)
		config_yaml_report(c, line, column,
		    "anchors and aliases are not allowed");
	if (tag != NULL)
		config_yaml_report(c, line, column, "tags are not allowed");
}

/* Makes the node for a scalar, alias or collection start event. */
static struct config_node *
event_node(struct config_ctx *c, const yaml_event_t *ev)
{
	struct config_node *n;
	const yaml_mark_t *m = &ev->start_mark;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		config_yaml_report(c, mark_num(m->line), mark_num(m->column),
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
			config_yaml_free(n);
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
read_tree(struct config_ctx *c, yaml_parser_t *p, const char *buf, size_t len,
    struct config_node **root)
{
	struct config_node *stack[MAX_DEPTH], *n;
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
				config_yaml_report(c,
				    mark_num(ev.start_mark.line),
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
				config_yaml_report(c,
				    mark_num(ev.start_mark.line),
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
				config_yaml_free(n);
				continue;
			}
			*root = n;
		} else if (node_add(stack[depth - 1], n) < 0) {
			config_yaml_free(n);
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

int
config_yaml_read(struct config_ctx *c, const char *buf, size_t len,
    struct config_node **root)
{
	yaml_parser_t parser;
	int rc;

	*root = NULL;
	/* libyaml insists on a non-NULL buffer, even an empty one. */
	if (buf == NULL) {
		buf = "";
		len = 0;
	}
	if (!yaml_parser_initialize(&parser)) {
		c->oom = c->failed = true;
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	rc = read_tree(c, &parser, buf, len, root);
	yaml_parser_delete(&parser);
	return rc;
}
