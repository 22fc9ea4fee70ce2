/*
 * config.c - loads shoald's YAML configuration into a struct config: the
 * API of include/core/config.h, the defaults, and what can only be
 * resolved once the whole file is read.
 *
 * Only the master runs this code: at start, for `shoald -t` and on SIGHUP;
 * the workers and the agent receive the result through fork. It keeps no
 * global state, so it needs no lock, and a fuzzer can drive it with
 * arbitrary bytes.
 *
 * Loading takes two passes over one struct config_ctx (config_int.h): pass
 * 1 (config_yaml.c) turns libyaml events into a small tree, pass 2
 * (config_check.c) checks the tree against the key tables and stores each
 * value. Errors of both passes are collected with their positions and
 * handed back sorted by position, so one run shows every mistake in the
 * order a reader meets them.
 */
#include "core/config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/units.h"

/* A real configuration is a few KiB; the limit bounds the tree (a byte of
 * input can cost a hundred bytes of nodes). */
#define MAX_FILE_SIZE	(1024 * 1024)

char *
config_path_join(const char *base_dir, const char *path)
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

int
config_workers_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (int)n;
}

static void
set_defaults(struct config *cfg)
{
	cfg->workers = config_workers_auto();
	cfg->io_threads = 4;
	cfg->log_level = CONFIG_LOG_INFO;
	cfg->shutdown_timeout_ms = 10 * UNITS_SECOND;
	cfg->save = true;
	cfg->ttl_ms = 0;
	cfg->peer_timeout_ms = 2 * UNITS_SECOND;
	cfg->upload.enabled = true;
	cfg->upload.max_size = 10 * UNITS_GIB;
	cfg->http.max_request_line = 8 * UNITS_KIB;
	cfg->http.max_header_line = 8 * UNITS_KIB;
	cfg->http.max_headers = 100;
	cfg->http.max_header_size = 64 * UNITS_KIB;
	cfg->http.header_timeout_ms = 10 * UNITS_SECOND;
	cfg->http.keepalive_timeout_ms = 60 * UNITS_SECOND;
	cfg->http.send_timeout_ms = 60 * UNITS_SECOND;
	cfg->http.body_timeout_ms = 60 * UNITS_SECOND;
	cfg->http.max_connections = 4096;
	cfg->index.capacity = 65536;
	cfg->index.negative_ttl_ms = UNITS_SECOND;
	/* Used only when the cluster: section is present. */
	cfg->cluster.gossip_interval_ms = 200;
	cfg->cluster.fanout = 3;
	cfg->cluster.store = true;
	cfg->cluster.replicas = 2;
	cfg->cluster.max_clock_skew_ms = 10 * UNITS_SECOND;
	cfg->cluster.max_members = 1024;
	cfg->cluster.max_objects = 1U << 20;
	cfg->stripe.min_size = 64 * UNITS_MIB;
	cfg->stripe.parts = 6;
	cfg->stripe.block = UNITS_MIB;
	cfg->stripe.pending_timeout_ms = 10 * UNITS_MINUTE;
	cfg->stripe.rebalance_spread = 5;
	cfg->stripe.rebalance_rate = 32 * UNITS_MIB;
	cfg->stripe.heal_rate = 128 * UNITS_MIB;
	cfg->stripe.scrub_rate = 4 * UNITS_MIB;
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
resolve(struct config_ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	if (cfg->state_dir == NULL &&
	    (cfg->state_dir = config_path_join(cfg->root, ".shoal")) == NULL)
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
	if (cfg->cluster.enabled && cfg->cluster.name == NULL &&
	    (cfg->cluster.name = strdup("shoal")) == NULL)
		c->oom = c->failed = true;
	/* The global save and ttl may come after the peers in the file. */
	for (i = 0; i < cfg->npeers; i++) {
		if (!(c->peer_set[i] & 1u << PEER_SAVE))
			cfg->peers[i].save = cfg->save;
		if (!(c->peer_set[i] & 1u << PEER_TTL))
			cfg->peers[i].ttl_ms = cfg->ttl_ms;
	}
}

/* config_parse(), and with read_files the files the configuration names
 * (the cluster key) too. */
static int
parse_buf(const char *buf, size_t len, const char *filename,
    const char *base_dir, bool read_files, struct config *out,
    struct config_errors *errs)
{
	struct config_ctx *c;
	struct config_node *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (filename == NULL)
		filename = "(config)";
	if (len > MAX_FILE_SIZE) {
		config_yaml_errors_append(errs, filename, 0, 0,
		    "larger than 1MiB");
		return -1;
	}
	/* The error array makes the context a few KiB: keep it off the
	 * stack of whoever calls us. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		config_yaml_errors_append(errs, filename, 0, 0,
		    "out of memory");
		return -1;
	}
	c->filename = filename;
	c->base_dir = base_dir;
	c->read_files = read_files;
	c->cfg = out;
	set_defaults(out);

	if (config_yaml_read(c, buf, len, &root) == 0) {
		config_check(c, root);
		if (!c->failed)
			resolve(c);
	}
	config_yaml_free(root);

	rc = c->failed ? -1 : 0;
	if (rc < 0) {
		config_free(out);
		config_yaml_flush_errors(c, errs);
	}
	free(c);
	return rc;
}

int
config_parse(const char *buf, size_t len, const char *filename,
    const char *base_dir, struct config *out, struct config_errors *errs)
{
	return parse_buf(buf, len, filename, base_dir, false, out, errs);
}

int
config_read_fd(int fd, size_t max, char **buf, size_t *len)
{
	char *nbuf;
	size_t cap = 0;
	ssize_t n;

	*buf = NULL;
	*len = 0;
	/* Read to the end rather than trust st_size: /dev/stdin and
	 * process substitution have none. */
	while (*len <= max) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nbuf = realloc(*buf, cap)) == NULL) {
				free(*buf);
				*buf = NULL;
				return ENOMEM;
			}
			*buf = nbuf;
		}
		n = read(fd, *buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(*buf);
			*buf = NULL;
			return errno;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return 0;
}

int
config_load(const char *path, const char *base_dir, struct config *out,
    struct config_errors *errs)
{
	char *buf;
	size_t len;
	int fd, rc, err;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		config_yaml_errors_append(errs, path, 0, 0, strerror(errno));
		return -1;
	}
	/* Past the limit, config_parse() says no. */
	err = config_read_fd(fd, MAX_FILE_SIZE, &buf, &len);
	close(fd);
	if (err != 0) {
		config_yaml_errors_append(errs, path, 0, 0, strerror(err));
		return -1;
	}
	rc = parse_buf(buf ? buf : "", len, path, base_dir, true, out, errs);
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
	free(cfg->cluster.name);
	if (cfg->cluster.key != NULL)
		explicit_bzero(cfg->cluster.key, cfg->cluster.key_len);
	free(cfg->cluster.key);
	free(cfg->cluster.key_file);
	for (i = 0; i < cfg->cluster.nseeds; i++)
		free(cfg->cluster.seeds[i].host);
	free(cfg->cluster.seeds);
	free(cfg->cluster.advertise.host);
	memset(cfg, 0, sizeof(*cfg));
}

static bool
config_str_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
config_peers_same(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->npeers != b->npeers)
		return false;
	for (i = 0; i < a->npeers; i++) {
		const struct config_peer *p = &a->peers[i], *q = &b->peers[i];

		if (strcmp(p->host, q->host) != 0 || p->port != q->port ||
		    p->save != q->save || p->ttl_ms != q->ttl_ms)
			return false;
	}
	return true;
}

static bool
config_addr_same(const struct config_addr *a, const struct config_addr *b)
{
	return config_str_same(a->host, b->host) && a->port == b->port;
}

static bool
config_cluster_same(const struct config_cluster *a,
    const struct config_cluster *b)
{
	size_t i;

	/* As for struct config below: a new field must be compared here. */
	_Static_assert(sizeof(struct config_cluster) == 152,
	    "config_cluster_same() compares every field");
	if (a->enabled != b->enabled || !config_str_same(a->name, b->name) ||
	    a->key_len != b->key_len || (a->key_len > 0 &&
	    memcmp(a->key, b->key, a->key_len) != 0) ||
	    !config_str_same(a->key_file, b->key_file) ||
	    a->nseeds != b->nseeds ||
	    !config_addr_same(&a->advertise, &b->advertise) ||
	    a->gossip_interval_ms != b->gossip_interval_ms ||
	    a->fanout != b->fanout ||
	    a->suspect_after_ms != b->suspect_after_ms ||
	    a->dead_after_ms != b->dead_after_ms || a->store != b->store ||
	    a->capacity != b->capacity || a->replicas != b->replicas ||
	    a->max_clock_skew_ms != b->max_clock_skew_ms ||
	    a->max_members != b->max_members ||
	    a->max_objects != b->max_objects)
		return false;
	for (i = 0; i < a->nseeds; i++)
		if (!config_addr_same(&a->seeds[i], &b->seeds[i]))
			return false;
	return true;
}

static bool
config_same_but_peers(const struct config *a, const struct config *b)
{
	/* A new field of struct config must be compared here: this fails
	 * to build until the size below is brought up to date with it. */
	_Static_assert(sizeof(struct config) == 256 + 152 + 64,
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
	    a->upload.ack == b->upload.ack &&
	    memcmp(&a->http, &b->http, sizeof(a->http)) == 0 &&
	    memcmp(&a->index, &b->index, sizeof(a->index)) == 0 &&
	    memcmp(&a->stripe, &b->stripe, sizeof(a->stripe)) == 0 &&
	    config_cluster_same(&a->cluster, &b->cluster);
}

enum config_change
config_compare(const struct config *a, const struct config *b)
{
	if (!config_same_but_peers(a, b))
		return CONFIG_CHANGED;
	return config_peers_same(a, b) ? CONFIG_SAME : CONFIG_PEERS_ONLY;
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
