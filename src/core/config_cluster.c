/*
 * config_cluster.c - the cluster: section of the configuration (gossip
 * membership): its key table, the values no generic kind of
 * config_check.c describes (the name, the inline key, the seeds, the
 * advertised address), the rules that span keys or sections, and the key
 * file.
 *
 * Only the master runs it, through config_parse() and config_load()
 * (config.c); everything lives in the caller's struct config_ctx, so there
 * is no lock. Like the rest of the loader it never logs or exits: every
 * fault is reported with its position and checking goes on.
 *
 * config_parse() stays pure (a fuzzer drives it): it only records the key
 * file's path. config_load() sets c->read_files, and the key file is read
 * here while the tree is still at hand, so that its faults point at the
 * key_file value like any other error and come out sorted with them.
 */
#include "core/config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/units.h"

#define NAME_MAX_LEN	64
#define NAME_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789._-"
#define ADDR_WHAT	"\"HOST:PORT\" or \"[V6]:PORT\""
#define AUTO_DURATION	"\"auto\" or a duration such as 500ms, 10s, 2m, 1h " \
			"or 1d"

/* ---- values ---- */

static void
check_name(struct config_ctx *c, const struct config_node *v, const char *name)
{
	static const char what[] = "1 to 64 letters, digits, '.', '_' or '-'";
	struct config_cluster *cl = &c->cfg->cluster;

	if (!config_check_scalar(c, v, name, what))
		return;
	if (v->len == 0 || v->len > NAME_MAX_LEN ||
	    strspn(v->value, NAME_CHARS) != v->len) {
		config_yaml_report(c, v->line, v->column, "'%s' must be %s",
		    name, what);
		return;
	}
	if ((cl->name = strdup(v->value)) == NULL)
		c->oom = c->failed = true;
}

/* Whether a key of len bytes (read from `name`) is long enough and not
 * too long; reports it when not. */
static bool
key_len_ok(struct config_ctx *c, const struct config_node *v,
    const char *name, size_t len)
{
	if (len < CONFIG_CLUSTER_KEY_MIN)
		config_yaml_report(c, v->line, v->column,
		    "'%s' holds %zu bytes; a cluster key has at least %d",
		    name, len, CONFIG_CLUSTER_KEY_MIN);
	else if (len > CONFIG_CLUSTER_KEY_MAX)
		config_yaml_report(c, v->line, v->column,
		    "'%s' holds more than %d bytes; a cluster key has at most "
		    "%d", name, CONFIG_CLUSTER_KEY_MAX, CONFIG_CLUSTER_KEY_MAX);
	else
		return true;
	return false;
}

static void
check_key(struct config_ctx *c, const struct config_node *v, const char *name)
{
	struct config_cluster *cl = &c->cfg->cluster;

	if (!config_check_scalar(c, v, name, "a string") ||
	    !key_len_ok(c, v, name, v->len))
		return;
	if ((cl->key = malloc(v->len)) == NULL) {
		c->oom = c->failed = true;
		return;
	}
	memcpy(cl->key, v->value, v->len);
	cl->key_len = v->len;
}

/* "HOST:PORT" or "[V6]:PORT" into *a; a port alone or "*" will not do.
 * Returns 0, or -1 after reporting the fault. */
static int
check_addr(struct config_ctx *c, const struct config_node *v,
    const char *name, struct config_addr *a)
{
	char *host = NULL;
	uint16_t port;

	if (!config_check_scalar(c, v, name, ADDR_WHAT))
		return -1;
	switch (config_check_hostport(v->value, &host, &port)) {
	case 0:
		if (host == NULL)
			break;
		a->host = host;
		a->port = port;
		return 0;
	case -2:
		c->oom = c->failed = true;
		return -1;
	}
	config_yaml_report(c, v->line, v->column, "'%s' must be %s", name,
	    ADDR_WHAT);
	return -1;
}

/* A host that stands for every address of the node: no host at all, or
 * 0.0.0.0 or :: however written. */
static bool
is_wildcard(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (host == NULL)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return a4.s_addr == htonl(INADDR_ANY);
	return inet_pton(AF_INET6, host, &a6) == 1 &&
	    IN6_IS_ADDR_UNSPECIFIED(&a6);
}

static void
check_advertise(struct config_ctx *c, const struct config_node *v,
    const char *name)
{
	struct config_addr *a = &c->cfg->cluster.advertise;

	if (check_addr(c, v, name, a) < 0 || !is_wildcard(a->host))
		return;
	config_yaml_report(c, v->line, v->column,
	    "'%s' must not be a wildcard address", name);
	free(a->host);
	a->host = NULL;
}

static void
check_seeds(struct config_ctx *c, const struct config_node *v,
    const char *name)
{
	const struct config_node *at[CONFIG_MAX_SEEDS], *item;
	struct config_cluster *cl = &c->cfg->cluster;
	struct config_addr a, *q;
	size_t i, n;

	if (v->type != NODE_SEQ) {
		config_yaml_report(c, v->line, v->column,
		    "'%s' must be a sequence of %s", name, ADDR_WHAT);
		return;
	}
	cl->seeds = config_check_seq(c, v, CONFIG_MAX_SEEDS, "seeds",
	    sizeof(*cl->seeds), &n);
	for (i = 0; i < n; i++) {
		item = v->kids[i];
		if (item->type == NODE_BAD || check_addr(c, item, name, &a) < 0)
			continue;
		for (q = cl->seeds; q < cl->seeds + cl->nseeds; q++)
			if (q->port == a.port &&
			    strcasecmp(q->host, a.host) == 0)
				break;
		if (q < cl->seeds + cl->nseeds) {
			config_yaml_report(c, item->line, item->column,
			    "duplicate seed '%s' (first at %d:%d)",
			    item->value, at[q - cl->seeds]->line,
			    at[q - cl->seeds]->column);
			free(a.host);
			continue;
		}
		at[cl->nseeds] = item;
		cl->seeds[cl->nseeds++] = a;
	}
}

const struct config_key config_cluster_keys[] = {
	{ .name = "name", .kind = KEY_CHECK, .check = check_name },
	{ .name = "key_file", .kind = KEY_PATH, CFG(cluster.key_file) },
	{ .name = "key", .kind = KEY_CHECK, .check = check_key },
	{ .name = "seeds", .kind = KEY_CHECK, .check = check_seeds },
	{ .name = "advertise", .kind = KEY_CHECK, .check = check_advertise },
	{ .name = "gossip_interval", .kind = KEY_DURATION,
	  CFG(cluster.gossip_interval_ms), .min = 10,
	  .max = 60 * UNITS_SECOND },
	{ .name = "fanout", .kind = KEY_INT, CFG(cluster.fanout),
	  .min = 1, .max = 16 },
	/* At least gossip_interval: see check_after(). */
	{ .name = "suspect_after", .kind = KEY_DURATION,
	  CFG(cluster.suspect_after_ms), .min = 10, .max = UNITS_HOUR,
	  .auto_zero = true, .what = AUTO_DURATION },
	{ .name = "dead_after", .kind = KEY_DURATION,
	  CFG(cluster.dead_after_ms), .min = 10, .max = UNITS_HOUR,
	  .auto_zero = true, .what = AUTO_DURATION },
	{ .name = "store", .kind = KEY_BOOL, CFG(cluster.store) },
	{ .name = "capacity", .kind = KEY_SIZE, CFG(cluster.capacity),
	  .min = UNITS_MIB, .max = 1024 * UNITS_TIB, .auto_zero = true,
	  .what = "\"auto\" or a size such as 512, 64KiB, 10MiB, 1GiB or "
	  "1TiB" },
	{ .name = "replicas", .kind = KEY_INT, CFG(cluster.replicas),
	  .min = 1, .max = 16 },
	{ .name = "max_clock_skew", .kind = KEY_DURATION,
	  CFG(cluster.max_clock_skew_ms), .min = UNITS_SECOND,
	  .max = UNITS_HOUR },
	{ .name = "max_members", .kind = KEY_INT, CFG(cluster.max_members),
	  .min = 16, .max = 65536 },
	{ .name = "max_objects", .kind = KEY_INT, CFG(cluster.max_objects),
	  .min = 1024, .max = 1 << 30 },
	{ .name = NULL }
};

/* check_map() records the keys it has seen in a 32-bit mask. */
_Static_assert(sizeof(config_cluster_keys) /
    sizeof(config_cluster_keys[0]) <= 33, "too many cluster keys");

/* ---- rules across keys ---- */

/* The first key `name` of a mapping (a later one is a duplicate, already
 * reported), and its value into *value; NULL when absent. */
static const struct config_node *
map_find(const struct config_node *map, const char *name,
    const struct config_node **value)
{
	const struct config_node *k;
	size_t i, len = strlen(name);

	for (i = 0; i + 1 < map->nkids; i += 2) {
		k = map->kids[i];
		if (k->type == NODE_SCALAR && k->len == len &&
		    memcmp(k->value, name, len) == 0) {
			*value = map->kids[i + 1];
			return k;
		}
	}
	return NULL;
}

/* A suspicion or death declared sooner than one gossip round is noise. */
static void
check_after(struct config_ctx *c, const struct config_node *map,
    const char *key, int64_t ms)
{
	const struct config_node *v;
	int64_t interval = c->cfg->cluster.gossip_interval_ms, written;
	char buf[32];

	if (ms == 0 || ms >= interval)
		return;
	/* A wrong gossip_interval, already reported, left the default in
	 * place: that is no yardstick. */
	if (map_find(map, "gossip_interval", &v) != NULL &&
	    (v->type != NODE_SCALAR ||
	    units_parse_duration(v->value, &written) < 0 ||
	    written != interval))
		return;
	if (map_find(map, key, &v) == NULL)
		return;
	units_format_duration(buf, sizeof(buf), (uint64_t)interval);
	config_yaml_report(c, v->line, v->column, "'cluster.%s' must be at "
	    "least 'cluster.gossip_interval' (%s)", key, buf);
}

/* In a cluster the node's name travels in every gossip message and is its
 * key in every member table: 1 to 127 bytes of visible ASCII, no quote or
 * backslash (cluster/members.h, member_name_valid). */
static void
check_node_name(struct config_ctx *c, const struct config_node *root,
    const struct config_node *map)
{
	const char *name = c->cfg->node;
	const struct config_node *v = NULL;
	size_t i, len;

	if (name == NULL)
		return;
	len = strlen(name);
	for (i = 0; i < len; i++)
		if (name[i] <= ' ' || name[i] >= 0x7f || name[i] == '"' ||
		    name[i] == '\\')
			break;
	if (len > 0 && len < 128 && i == len)
		return;
	if (map_find(root, "node", &v) == NULL)
		v = map;
	config_yaml_report(c, v->line, v->column, "in a cluster, 'node' must "
	    "not hold a quote or a backslash");
}

/* Reads the key file that v names (already made absolute) into the
 * cluster key: its bytes with one trailing newline (\n or \r\n) cut. */
static void
read_key_file(struct config_ctx *c, const struct config_node *v)
{
	struct config_cluster *cl = &c->cfg->cluster;
	struct stat st;
	char *buf;
	size_t len;
	int fd, err;

	/* O_NONBLOCK: a FIFO must not hang the load; it is refused below. */
	if ((fd = open(cl->key_file, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0 || fstat(fd, &st) < 0) {
		config_yaml_report(c, v->line, v->column,
		    "cannot read cluster.key_file %s: %s", cl->key_file,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		config_yaml_report(c, v->line, v->column,
		    "cluster.key_file %s is not a regular file", cl->key_file);
		close(fd);
		return;
	}
	if (st.st_mode & 007)
		config_yaml_report(c, v->line, v->column,
		    "cluster.key_file is readable by other users; "
		    "chmod o-rwx");
	err = config_read_fd(fd, CONFIG_CLUSTER_KEY_MAX + 2, &buf, &len);
	close(fd);
	if (err != 0) {
		config_yaml_report(c, v->line, v->column,
		    "cannot read cluster.key_file %s: %s", cl->key_file,
		    strerror(err));
		return;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len -= len > 1 && buf[len - 2] == '\r' ? 2 : 1;
	if (!key_len_ok(c, v, "cluster.key_file", len)) {
		explicit_bzero(buf, len);
		free(buf);
		return;
	}
	cl->key = (unsigned char *)buf;
	cl->key_len = len;
}

void
config_cluster_check(struct config_ctx *c, const struct config_node *root)
{
	struct config_cluster *cl = &c->cfg->cluster;
	const struct config_node *map, *key, *file, *first, *v, *file_v;

	if (map_find(root, "cluster", &map) == NULL || map->type != NODE_MAP)
		return;
	cl->enabled = true;

	key = map_find(map, "key", &v);
	file = map_find(map, "key_file", &file_v);
	if (key == NULL && file == NULL)
		config_yaml_report(c, map->line, map->column,
		    "missing required key 'cluster.key_file' or "
		    "'cluster.key'");
	else if (key != NULL && file != NULL) {
		/* One error, at the later of the two. */
		first = key->line < file->line || (key->line == file->line &&
		    key->column < file->column) ? key : file;
		v = first == key ? file : key;
		config_yaml_report(c, v->line, v->column,
		    "'cluster.key' and 'cluster.key_file' exclude each other "
		    "(first at %d:%d)", first->line, first->column);
	} else if (file != NULL && c->read_files && cl->key_file != NULL)
		read_key_file(c, file_v);

	check_node_name(c, root, map);
	check_after(c, map, "suspect_after", cl->suspect_after_ms);
	check_after(c, map, "dead_after", cl->dead_after_ms);

	/* Whoever listens on every address must say which one the others
	 * should use. listen_port is 0 when listen is missing or wrong,
	 * already reported. */
	if (c->cfg->listen_port != 0 && is_wildcard(c->cfg->listen_host) &&
	    map_find(map, "advertise", &v) == NULL)
		config_yaml_report(c, map->line, map->column,
		    "cluster.advertise is required when listen is a wildcard "
		    "address");
}
