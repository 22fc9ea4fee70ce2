/*
 * config_check.c - pass 2 of loading the configuration: the tree that
 * config_yaml.c read, checked against the key tables below and stored into
 * the struct config.
 *
 * Only the master runs it, through config_parse() (config.c); everything
 * lives in the caller's struct config_ctx, so there is no lock.
 *
 * Each table gives every key of one mapping its kind, its field and its
 * range; a section (upload:, http:, index:) is a key whose value is checked
 * against a table of its own. A new section is a new table here and a key
 * in top_keys[]; a section with rules of its own (cluster:) has its table
 * and those rules in a file of its own (config_cluster.c), and values no
 * kind here describes are KEY_CHECK keys with a function of their own.
 * Every fault is reported with the position of the value (or of the key,
 * when the value is missing), and checking goes on, so one run shows every
 * mistake.
 */
#include "core/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/units.h"

#define TOKEN_MAX	256
#define HOST_MAX	255

#define PEER(m) .offset = offsetof(struct config_peer, m), \
	.size = sizeof(((struct config_peer *)0)->m)

static const char *const error_log_words[] = { "stderr", "syslog", NULL };
static const char *const access_log_words[] = { "stderr", "off", NULL };
/* In the order of enum config_log_level. */
static const char *const log_level_words[] = {
	"error", "warn", "info", "debug", NULL
};

/* In the order of enum config_upload_ack. */
static const char *const upload_ack_words[] = { "local", "replicas", NULL };

static const struct config_key upload_keys[] = {
	{ .name = "enabled", .kind = KEY_BOOL, CFG(upload.enabled) },
	{ .name = "token", .kind = KEY_WORD, CFG(upload.token),
	  .max = TOKEN_MAX },
	{ .name = "max_size", .kind = KEY_SIZE, CFG(upload.max_size),
	  .min = 1, .max = UNITS_TIB },
	{ .name = "ack", .kind = KEY_ENUM, CFG(upload.ack),
	  .words = upload_ack_words, .what = "local or replicas" },
	{ .name = NULL }
};

static const struct config_key http_keys[] = {
	{ .name = "max_request_line", .kind = KEY_SIZE,
	  CFG(http.max_request_line), .min = 256, .max = UNITS_MIB },
	{ .name = "max_header_line", .kind = KEY_SIZE,
	  CFG(http.max_header_line), .min = 256, .max = UNITS_MIB },
	{ .name = "max_headers", .kind = KEY_INT, CFG(http.max_headers),
	  .min = 1, .max = 128 },
	{ .name = "max_header_size", .kind = KEY_SIZE,
	  CFG(http.max_header_size), .min = UNITS_KIB,
	  .max = UNITS_MIB },
	{ .name = "header_timeout", .kind = KEY_DURATION,
	  CFG(http.header_timeout_ms), .min = 1, .max = UNITS_HOUR },
	{ .name = "keepalive_timeout", .kind = KEY_DURATION,
	  CFG(http.keepalive_timeout_ms), .min = 0, .max = UNITS_HOUR },
	{ .name = "send_timeout", .kind = KEY_DURATION,
	  CFG(http.send_timeout_ms), .min = 1, .max = UNITS_HOUR },
	{ .name = "body_timeout", .kind = KEY_DURATION,
	  CFG(http.body_timeout_ms), .min = 1, .max = UNITS_HOUR },
	{ .name = "max_connections", .kind = KEY_INT,
	  CFG(http.max_connections), .min = 1, .max = 1000000 },
	{ .name = NULL }
};

static const struct config_key index_keys[] = {
	{ .name = "capacity", .kind = KEY_INT, CFG(index.capacity),
	  .min = 64, .max = 1LL << 28 },
	{ .name = "negative_ttl", .kind = KEY_DURATION,
	  CFG(index.negative_ttl_ms), .min = 0, .max = UNITS_HOUR },
	{ .name = NULL }
};

static const struct config_key stripe_keys[] = {
	{ .name = "min_size", .kind = KEY_SIZE, CFG(stripe.min_size),
	  .min = 0, .max = UNITS_TIB },
	{ .name = "parts", .kind = KEY_INT, CFG(stripe.parts),
	  .min = 2, .max = CONFIG_STRIPE_PARTS_MAX },
	{ .name = "parity", .kind = KEY_INT, CFG(stripe.parity),
	  .min = 0, .max = CONFIG_STRIPE_PARITY_MAX },
	{ .name = "block", .kind = KEY_SIZE, CFG(stripe.block),
	  .min = 64 * UNITS_KIB, .max = 64 * UNITS_MIB },
	{ .name = "pending_timeout", .kind = KEY_DURATION,
	  CFG(stripe.pending_timeout_ms), .min = UNITS_SECOND,
	  .max = 7 * UNITS_DAY },
	{ .name = "rebalance_spread", .kind = KEY_INT,
	  CFG(stripe.rebalance_spread), .min = 1, .max = 100 },
	{ .name = "rebalance_rate", .kind = KEY_SIZE,
	  CFG(stripe.rebalance_rate), .min = 0, .max = UNITS_TIB },
	{ .name = "heal_rate", .kind = KEY_SIZE,
	  CFG(stripe.heal_rate), .min = 0, .max = UNITS_TIB },
	{ .name = "scrub_rate", .kind = KEY_SIZE,
	  CFG(stripe.scrub_rate), .min = 0, .max = UNITS_TIB },
	{ .name = NULL }
};

/* 100 years of 365 days. */
#define TTL_MAX (36500 * UNITS_DAY)

/* Indexed by enum config_peer_key: resolving (config.c) needs to know
 * which of these a peer wrote. */
static const struct config_key peer_keys[] = {
	[PEER_HOST] = { .name = "host", .kind = KEY_WORD, PEER(host),
	  .max = HOST_MAX, .required = true },
	[PEER_PORT] = { .name = "port", .kind = KEY_INT, PEER(port),
	  .min = 1, .max = 65535, .required = true },
	[PEER_SAVE] = { .name = "save", .kind = KEY_BOOL, PEER(save) },
	[PEER_TTL] = { .name = "ttl", .kind = KEY_DURATION, PEER(ttl_ms),
	  .max = TTL_MAX },
	{ .name = NULL }
};

static const struct config_key top_keys[] = {
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
	  CFG(shutdown_timeout_ms), .min = 0, .max = UNITS_HOUR },
	{ .name = "save", .kind = KEY_BOOL, CFG(save) },
	{ .name = "ttl", .kind = KEY_DURATION, CFG(ttl_ms), .max = TTL_MAX },
	{ .name = "peer_timeout", .kind = KEY_DURATION, CFG(peer_timeout_ms),
	  .min = 1, .max = 10 * UNITS_MINUTE },
	{ .name = "peers", .kind = KEY_PEERS },
	{ .name = "upload", .kind = KEY_SECTION, .section = upload_keys },
	{ .name = "http", .kind = KEY_SECTION, .section = http_keys },
	{ .name = "index", .kind = KEY_SECTION, .section = index_keys },
	{ .name = "cluster", .kind = KEY_SECTION,
	  .section = config_cluster_keys },
	{ .name = "stripe", .kind = KEY_SECTION, .section = stripe_keys },
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
	[KEY_CHECK] = NULL,	/* its `check` says */
};

/* An error with up to two strings in it, at a node's position. */
static void
report_at(struct config_ctx *c, const struct config_node *n, const char *fmt,
    const char *a, const char *b)
{
	config_yaml_report(c, n->line, n->column, fmt, a, b);
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
is_null(const struct config_node *n)
{
	return n->type == NODE_SCALAR && n->plain && (n->len == 0 ||
	    strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	    strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

/* A key as it may appear in a message: at most 64 bytes, cut on a
 * character boundary, control bytes shown as '?'. */
static void
quote_key(char *buf, size_t size, const struct config_node *k)
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

/* ---- the tree against the tables ---- */

static void
store_uint(void *base, const struct config_key *k, uint64_t v)
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
store_string(struct config_ctx *c, void *base, const struct config_key *k,
    char *s)
{
	char **p = (char **)(void *)((char *)base + k->offset);

	free(*p);
	*p = s;
	if (s == NULL)
		c->oom = c->failed = true;
}

int
config_check_hostport(const char *s, char **host, uint16_t *port)
{
	const char *colon, *p, *h = NULL;
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
	if (units_parse_digits(&p, &n) < 0 || *p != '\0' || n < 1 || n > 65535)
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

static uint32_t check_map(struct config_ctx *c, const struct config_node *map,
    const struct config_key *keys, void *base, const char *prefix, int line,
    int column);

void *
config_check_seq(struct config_ctx *c, const struct config_node *v,
    size_t max, const char *what, size_t size, size_t *n)
{
	void *a = NULL;

	*n = v->nkids;
	if (*n > max) {
		config_yaml_report(c, v->kids[max]->line, v->kids[max]->column,
		    "more than %zu %s", max, what);
		*n = max;
	}
	if (*n > 0 && (a = calloc(*n, size)) == NULL) {
		c->oom = c->failed = true;
		*n = 0;
	}
	return a;
}

static void
check_peers(struct config_ctx *c, const struct config_node *v)
{
	struct config *cfg = c->cfg;
	struct config_peer *p, *q;
	const struct config_node *item;
	size_t i, j, n;

	cfg->peers = config_check_seq(c, v, CONFIG_MAX_PEERS, "peers",
	    sizeof(*cfg->peers), &n);
	for (i = 0; i < n; i++) {
		item = v->kids[i];
		if (item->type == NODE_BAD)
			continue;
		if (item->type != NODE_MAP) {
			config_yaml_report(c, item->line, item->column,
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
			config_yaml_report(c, item->line, item->column,
			    strchr(p->host, ':') ?
			    "duplicate peer '[%s]:%u' (first at %d:%d)" :
			    "duplicate peer '%s:%u' (first at %d:%d)",
			    p->host, p->port, c->peer_line[q - cfg->peers],
			    c->peer_column[q - cfg->peers]);
			break;
		}
	}
}

bool
config_check_scalar(struct config_ctx *c, const struct config_node *v,
    const char *name, const char *what)
{
	if (v->type != NODE_SCALAR) {
		report_at(c, v, "'%s' must be %s", name, what);
		return false;
	}
	if (has_control(v->value, v->len)) {
		report_at(c, v, "'%s' must not contain control characters",
		    name, NULL);
		return false;
	}
	return true;
}

/* Checks one value and stores it into its field. */
static void
check_value(struct config_ctx *c, const struct config_key *k,
    const struct config_node *kn, const struct config_node *v, void *base,
    const char *name)
{
	const char *s = v->value;
	const char *what = k->what ? k->what : kind_what[k->kind];
	char prefix[168], lo[32], hi[32];	/* name + "." */
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
	if (k->kind == KEY_CHECK) {
		k->check(c, v, name);
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
	if (!config_check_scalar(c, v, name, what))
		return;
	if (k->auto_zero && strcmp(s, "auto") == 0) {
		store_uint(base, k, 0);
		return;
	}
	switch (k->kind) {
	case KEY_LISTEN:
		switch (config_check_hostport(s, &c->cfg->listen_host,
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
			store_string(c, base, k,
			    config_path_join(c->base_dir, s));
		return;
	case KEY_STRING:
		if (v->len == 0)
			report_at(c, v, "'%s' must not be empty", name, NULL);
		else
			store_string(c, base, k, strdup(s));
		return;
	case KEY_WORD:
		if (!is_word(s, v->len, k->max))
			config_yaml_report(c, v->line, v->column,
			    "'%s' must be 1 to %llu "
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
			store_uint(base, k, (uint64_t)config_workers_auto());
			return;
		}
		/* FALLTHROUGH */
	case KEY_INT:
		if (units_parse_digits(&s, &n) < 0 || *s != '\0') {
			report_at(c, v, "'%s' must be %s", name, what);
			return;
		}
		break;
	case KEY_DURATION:
		if (units_parse_duration(s, &ms) < 0) {
			report_at(c, v, "'%s' must be %s", name, what);
			return;
		}
		n = (uint64_t)ms;
		break;
	case KEY_SIZE:
		if (units_parse_size(s, &n) < 0) {
			report_at(c, v, "'%s' must be %s", name, what);
			return;
		}
		break;
	default:
		return;
	}
	/* Numbers: check the range, in the key's own units. */
	if (n < k->min || n > k->max) {
		if (k->kind == KEY_DURATION) {
			units_format_duration(lo, sizeof(lo), k->min);
			units_format_duration(hi, sizeof(hi), k->max);
		} else if (k->kind == KEY_SIZE) {
			units_format_size(lo, sizeof(lo), k->min);
			units_format_size(hi, sizeof(hi), k->max);
		} else {
			snprintf(lo, sizeof(lo), "%llu",
			    (unsigned long long)k->min);
			snprintf(hi, sizeof(hi), "%llu",
			    (unsigned long long)k->max);
		}
		config_yaml_report(c, v->line, v->column,
		    "'%s' must be from %s to %s", name, lo, hi);
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
check_map(struct config_ctx *c, const struct config_node *map,
    const struct config_key *keys, void *base, const char *prefix, int line,
    int column)
{
	const struct config_node *first[32] = { NULL }, *kn, *v;
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
			config_yaml_report(c, kn->line, kn->column,
			    "unknown key '%s%s'", prefix, qkey);
			continue;
		}
		if (first[j] != NULL) {
			config_yaml_report(c, kn->line, kn->column,
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
			config_yaml_report(c, line, column,
			    "missing required key '%s%s'", prefix,
			    keys[j].name);
	return seen;
}

void
config_check(struct config_ctx *c, const struct config_node *root)
{
	/* An empty file is an empty mapping: every required key is missing. */
	if (root == NULL || (root->type == NODE_SCALAR && root->plain &&
	    root->len == 0))
		check_map(c, &(struct config_node){ .type = NODE_MAP },
		    top_keys, c->cfg, "", 1, 1);
	else if (root->type == NODE_MAP) {
		check_map(c, root, top_keys, c->cfg, "", 1, 1);
		config_cluster_check(c, root);
		if (c->cfg->stripe.parts + c->cfg->stripe.parity >
		    CONFIG_STRIPE_PARTS_MAX)
			config_yaml_report(c, root->line, root->column,
			    "'stripe.parts' plus 'stripe.parity' must be at "
			    "most 16");
	} else if (root->type != NODE_BAD)
		config_yaml_report(c, root->line, root->column,
		    "the top level must be a mapping");
}
