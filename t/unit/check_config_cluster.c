/*
 * check_config_cluster.c - unit tests of the cluster: section of the
 * configuration (src/core/config_cluster.c): its keys, their defaults and
 * bounds, the rules across keys and sections, the key file that
 * config_load() reads, and config_compare() on cluster keys.
 *
 * Includes config_cluster.c to make its own allocations fail; the rest of
 * the loader comes from the library. The key file tests write into a
 * temporary directory that the parent process makes and removes.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* The allocations of config_cluster.c, made to fail one at a time: the
 * one numbered fail_at (from 0) returns NULL. Every header comes above,
 * as the macros would rename its declarations. */
static long alloc_count, fail_at = -1;

#undef strdup
#define malloc(n) (alloc_count++ == fail_at ? NULL : malloc(n))
#define strdup(s) (alloc_count++ == fail_at ? NULL : strdup(s))
#include "check_main.h"
#include "core/config_cluster.c"
#undef malloc
#undef strdup

/* Lines 1 and 2 of every case: a named listen address and a root. */
#define HEAD "listen: 10.0.0.1:8080\nroot: /r\n"
#define KEY32 "0123456789abcdef0123456789abcdef"

static struct config cfg;
static struct config_errors errs;
/* A directory made and removed by the parent (an unchecked fixture), so
 * that a failing test leaves nothing behind. */
static char dir[64];
static char yaml_path[96];	/* dir/t.yaml, what load() loads */

static void
make_dir(void)
{
	strcpy(dir, "/tmp/check_config_cluster.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(yaml_path, sizeof(yaml_path), "%s/t.yaml", dir);
}

static void
remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void
teardown(void)
{
	config_free(&cfg);
	config_errors_free(&errs);
}

/* config_parse() of yaml as "t.yaml" with base "/base". */
static int
parse(const char *yaml)
{
	config_free(&cfg);
	config_errors_free(&errs);
	return config_parse(yaml, strlen(yaml), "t.yaml", "/base", &cfg,
	    &errs);
}

/* Writes len bytes of data into a new dir/name with the given mode, in
 * place of whatever stood there (a FIFO or a directory left by a test). */
static void
write_file(const char *name, const char *data, size_t len, mode_t mode)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert(remove(path) == 0 || errno == ENOENT);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* config_load() of yaml, written to dir/t.yaml, with base dir. */
static int
load(const char *yaml)
{
	write_file("t.yaml", yaml, strlen(yaml), 0600);
	config_free(&cfg);
	config_errors_free(&errs);
	return config_load(yaml_path, dir, &cfg, &errs);
}

/* The errors must be exactly want[], each prefixed by `file` and ":". */
static void
errors_are(int rc, const char *file, const char *const *want)
{
	static const struct config zero;
	char line[1024];
	size_t i, n;

	for (n = 0; want[n] != NULL; n++)
		continue;
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(memcmp(&cfg, &zero, sizeof(cfg)) == 0,
	    "config not empty after an error");
	for (i = 0; i < n && i < errs.count; i++) {
		snprintf(line, sizeof(line), "%s:%s", file, want[i]);
		ck_assert_str_eq(errs.msgs[i], line);
	}
	ck_assert_msg(errs.count == n, "%zu errors, want %zu; first: %s",
	    errs.count, n, errs.count ? errs.msgs[0] : "-");
}

/* HEAD then yaml must fail with exactly the errors listed ("LINE:COLUMN:
 * message"; the file name is added). */
#define FAILS(yaml, ...) errors_are(parse(HEAD yaml), "t.yaml", \
	(const char *const[]){ __VA_ARGS__, NULL })
/* The same through config_load(), from dir/t.yaml. */
#define LOAD_FAILS(yaml, ...) errors_are(load(HEAD yaml), yaml_path, \
	(const char *const[]){ __VA_ARGS__, NULL })

static void
ok(int rc)
{
	ck_assert_msg(rc == 0, "failed: %s", errs.count ? errs.msgs[0] : "?");
	ck_assert_uint_eq(errs.count, 0);
}

#define PARSES(yaml) ok(parse(HEAD yaml))

/* ---- defaults ---- */

START_TEST(test_absent)
{
	PARSES("");
	ck_assert(!cfg.cluster.enabled);
	ck_assert_ptr_null(cfg.cluster.name);
	ck_assert_ptr_null(cfg.cluster.key);
	ck_assert_ptr_null(cfg.cluster.key_file);
	ck_assert_ptr_null(cfg.cluster.seeds);
	ck_assert_ptr_null(cfg.cluster.advertise.host);
	/* Nothing cluster-related is required of a wildcard listener. */
	ok(parse("listen: 8080\nroot: /r\n"));
	ck_assert(!cfg.cluster.enabled);
}
END_TEST

START_TEST(test_defaults)
{
	PARSES("cluster:\n  key: " KEY32 "\n");
	ck_assert(cfg.cluster.enabled);
	ck_assert_str_eq(cfg.cluster.name, "shoal");
	ck_assert_uint_eq(cfg.cluster.key_len, 32);
	ck_assert_mem_eq(cfg.cluster.key, KEY32, 32);
	ck_assert_ptr_null(cfg.cluster.key_file);
	ck_assert_ptr_null(cfg.cluster.seeds);
	ck_assert_uint_eq(cfg.cluster.nseeds, 0);
	ck_assert_ptr_null(cfg.cluster.advertise.host);
	ck_assert_uint_eq(cfg.cluster.advertise.port, 0);
	ck_assert_int_eq(cfg.cluster.gossip_interval_ms, 200);
	ck_assert_int_eq(cfg.cluster.fanout, 3);
	ck_assert_int_eq(cfg.cluster.suspect_after_ms, 0);
	ck_assert_int_eq(cfg.cluster.dead_after_ms, 0);
	ck_assert(cfg.cluster.store);
	ck_assert_uint_eq(cfg.cluster.capacity, 0);
	ck_assert_int_eq(cfg.cluster.replicas, 2);
	ck_assert_int_eq(cfg.cluster.max_clock_skew_ms, 10000);
	ck_assert_uint_eq(cfg.cluster.max_members, 1024);
}
END_TEST

START_TEST(test_every_key)
{
	PARSES("cluster:\n"
	    "  name: prod-eu.1_a\n"
	    "  key_file: etc/cluster.key\n"
	    "  seeds:\n"
	    "    - 10.0.0.2:8080\n"
	    "    - \"[fd00::3]:8081\"\n"
	    "    - node4.example:80\n"
	    "  advertise: 10.0.0.1:9000\n"
	    "  gossip_interval: 1s\n"
	    "  fanout: 5\n"
	    "  suspect_after: 5s\n"
	    "  dead_after: 1m\n"
	    "  store: false\n"
	    "  capacity: 100GiB\n"
	    "  replicas: 3\n"
	    "  max_clock_skew: 30s\n"
	    "  max_members: 4096\n");
	ck_assert(cfg.cluster.enabled);
	ck_assert_str_eq(cfg.cluster.name, "prod-eu.1_a");
	/* Made absolute like every path; config_parse() reads no file. */
	ck_assert_str_eq(cfg.cluster.key_file, "/base/etc/cluster.key");
	ck_assert_ptr_null(cfg.cluster.key);
	ck_assert_uint_eq(cfg.cluster.key_len, 0);
	ck_assert_uint_eq(cfg.cluster.nseeds, 3);
	ck_assert_str_eq(cfg.cluster.seeds[0].host, "10.0.0.2");
	ck_assert_uint_eq(cfg.cluster.seeds[0].port, 8080);
	ck_assert_str_eq(cfg.cluster.seeds[1].host, "fd00::3");
	ck_assert_uint_eq(cfg.cluster.seeds[1].port, 8081);
	ck_assert_str_eq(cfg.cluster.seeds[2].host, "node4.example");
	ck_assert_uint_eq(cfg.cluster.seeds[2].port, 80);
	ck_assert_str_eq(cfg.cluster.advertise.host, "10.0.0.1");
	ck_assert_uint_eq(cfg.cluster.advertise.port, 9000);
	ck_assert_int_eq(cfg.cluster.gossip_interval_ms, 1000);
	ck_assert_int_eq(cfg.cluster.fanout, 5);
	ck_assert_int_eq(cfg.cluster.suspect_after_ms, 5000);
	ck_assert_int_eq(cfg.cluster.dead_after_ms, 60000);
	ck_assert(!cfg.cluster.store);
	ck_assert_uint_eq(cfg.cluster.capacity, 100ULL << 30);
	ck_assert_int_eq(cfg.cluster.replicas, 3);
	ck_assert_int_eq(cfg.cluster.max_clock_skew_ms, 30000);
	ck_assert_uint_eq(cfg.cluster.max_members, 4096);
	/* "auto" is 0; flow style reads the same. */
	PARSES("cluster: {key: " KEY32 ", suspect_after: auto,"
	    " dead_after: auto, capacity: auto, seeds: []}\n");
	ck_assert_int_eq(cfg.cluster.suspect_after_ms, 0);
	ck_assert_int_eq(cfg.cluster.dead_after_ms, 0);
	ck_assert_uint_eq(cfg.cluster.capacity, 0);
	ck_assert_uint_eq(cfg.cluster.nseeds, 0);
}
END_TEST

/* ---- the section and its keys ---- */

START_TEST(test_section)
{
	/* Present but empty: the key is still required. */
	FAILS("cluster: {}\n", "3:10: missing required key "
	    "'cluster.key_file' or 'cluster.key'");
	FAILS("cluster:\n  fanout: 2\n", "4:3: missing required key "
	    "'cluster.key_file' or 'cluster.key'");
	FAILS("cluster:\n", "3:1: 'cluster' has no value");
	FAILS("cluster: [a]\n", "3:10: 'cluster' must be a mapping");
	FAILS("cluster: on\n", "3:10: 'cluster' must be a mapping");
	FAILS("cluster:\n  key: " KEY32 "\n  gossip: 1s\n",
	    "5:3: unknown key 'cluster.gossip'");
	FAILS("cluster:\n  key: " KEY32 "\n  fanout: 2\n  fanout: 3\n",
	    "6:3: duplicate key 'cluster.fanout' (first at 5:3)");
	FAILS("cluster: {key: " KEY32 "}\ncluster: {key: " KEY32 "}\n",
	    "4:1: duplicate key 'cluster' (first at 3:1)");
	FAILS("cluster:\n  enabled: true\n  key: " KEY32 "\n",
	    "4:3: unknown key 'cluster.enabled'");
}
END_TEST

START_TEST(test_name)
{
	char yaml[256];

	snprintf(yaml, sizeof(yaml), HEAD "cluster: {key: " KEY32
	    ", name: %064d}\n", 7);
	ok(parse(yaml));
	ck_assert_uint_eq(strlen(cfg.cluster.name), 64);
	snprintf(yaml, sizeof(yaml), HEAD "cluster: {key: " KEY32
	    ", name: %065d}\n", 7);
	errors_are(parse(yaml), "t.yaml", (const char *const[]){ "3:56: "
	    "'cluster.name' must be 1 to 64 letters, digits, '.', '_' or '-'",
	    NULL });
	FAILS("cluster:\n  key: " KEY32 "\n  name: \"a b\"\n", "5:9: "
	    "'cluster.name' must be 1 to 64 letters, digits, '.', '_' or '-'");
	FAILS("cluster:\n  key: " KEY32 "\n  name: a/b\n", "5:9: "
	    "'cluster.name' must be 1 to 64 letters, digits, '.', '_' or '-'");
	FAILS("cluster:\n  key: " KEY32 "\n  name: \"\"\n", "5:9: "
	    "'cluster.name' must be 1 to 64 letters, digits, '.', '_' or '-'");
	FAILS("cluster:\n  key: " KEY32 "\n  name: \"caf\\u00e9\"\n", "5:9: "
	    "'cluster.name' must be 1 to 64 letters, digits, '.', '_' or '-'");
	FAILS("cluster:\n  key: " KEY32 "\n  name: [a]\n", "5:9: "
	    "'cluster.name' must be 1 to 64 letters, digits, '.', '_' or '-'");
	FAILS("cluster:\n  key: " KEY32 "\n  name: \"a\\tb\"\n",
	    "5:9: 'cluster.name' must not contain control characters");
	FAILS("cluster:\n  key: " KEY32 "\n  name:\n",
	    "5:3: 'cluster.name' has no value");
}
END_TEST

START_TEST(test_key_inline)
{
	char yaml[1200];

	/* The longest key; quoted, a key may hold spaces. */
	snprintf(yaml, sizeof(yaml), HEAD "cluster:\n  key: %01024d\n", 5);
	ok(parse(yaml));
	ck_assert_uint_eq(cfg.cluster.key_len, 1024);
	PARSES("cluster:\n  key: \"" KEY32 " with spaces\"\n");
	ck_assert_uint_eq(cfg.cluster.key_len, 44);
	snprintf(yaml, sizeof(yaml), HEAD "cluster:\n  key: %01025d\n", 5);
	errors_are(parse(yaml), "t.yaml", (const char *const[]){ "4:8: "
	    "'cluster.key' holds more than 1024 bytes; a cluster key has at "
	    "most 1024", NULL });
	FAILS("cluster:\n  key: 0123456789abcdef0123456789abcde\n",
	    "4:8: 'cluster.key' holds 31 bytes; a cluster key has at least 32");
	FAILS("cluster:\n  key: \"\"\n",
	    "4:8: 'cluster.key' holds 0 bytes; a cluster key has at least 32");
	FAILS("cluster:\n  key: [" KEY32 "]\n",
	    "4:8: 'cluster.key' must be a string");
	FAILS("cluster:\n  key: \"" KEY32 "\\n\"\n",
	    "4:8: 'cluster.key' must not contain control characters");
	FAILS("cluster:\n  key: ~\n", "4:3: 'cluster.key' has no value");
}
END_TEST

START_TEST(test_key_rules)
{
	/* Both: once, at the second of the two, in either order. */
	FAILS("cluster:\n  key: " KEY32 "\n  key_file: /k\n",
	    "5:3: 'cluster.key' and 'cluster.key_file' exclude each other "
	    "(first at 4:3)");
	FAILS("cluster: {key_file: /k, key: " KEY32 "}\n",
	    "3:25: 'cluster.key' and 'cluster.key_file' exclude each other "
	    "(first at 3:11)");
	/* Neither: at the section. */
	FAILS("cluster:\n  name: a\n", "4:3: missing required key "
	    "'cluster.key_file' or 'cluster.key'");
	/* One of them, wrong: that is the only error. */
	FAILS("cluster:\n  key_file: \"\"\n",
	    "4:13: 'cluster.key_file' must not be empty");
	FAILS("cluster:\n  key_file:\n",
	    "4:3: 'cluster.key_file' has no value");
	FAILS("cluster:\n  key: short\n",
	    "4:8: 'cluster.key' holds 5 bytes; a cluster key has at least 32");
	/* config_parse() names the file but does not read it. */
	PARSES("cluster:\n  key_file: /no/such/file\n");
	ck_assert_str_eq(cfg.cluster.key_file, "/no/such/file");
	ck_assert_ptr_null(cfg.cluster.key);
}
END_TEST

START_TEST(test_seeds)
{
	char *yaml = malloc(64 * 32 + 256), *p = yaml;
	int i;

	PARSES("cluster:\n  key: " KEY32 "\n  seeds: [\"[::1]:1\", a:65535]\n");
	ck_assert_uint_eq(cfg.cluster.nseeds, 2);
	ck_assert_str_eq(cfg.cluster.seeds[0].host, "::1");
	ck_assert_uint_eq(cfg.cluster.seeds[0].port, 1);
	ck_assert_uint_eq(cfg.cluster.seeds[1].port, 65535);
	/* A port alone, a wildcard or a bad port is no seed. */
	FAILS("cluster:\n  key: " KEY32 "\n  seeds:\n    - 8080\n"
	    "    - \"*:8080\"\n    - a:0\n    - a:65536\n    - a\n"
	    "    - \"::1:80\"\n    - \"[::1]80\"\n    - \"a b:1\"\n"
	    "    -\n",
	    "6:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "7:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "8:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "9:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "10:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "11:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "12:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "13:7: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "14:6: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"");
	FAILS("cluster:\n  key: " KEY32 "\n  seeds: [\"a:1\\x01\"]\n",
	    "5:11: 'cluster.seeds' must not contain control characters");
	/* Duplicates: the host in any case, the same port. */
	FAILS("cluster:\n  key: " KEY32 "\n  seeds:\n    - node:1\n"
	    "    - node:2\n    - NODE:1\n    - \"[::1]:1\"\n"
	    "    - \"[::1]:1\"\n",
	    "8:7: duplicate seed 'NODE:1' (first at 6:7)",
	    "10:7: duplicate seed '[::1]:1' (first at 9:7)");
	FAILS("cluster:\n  key: " KEY32 "\n  seeds: a:1\n",
	    "5:10: 'cluster.seeds' must be a sequence of \"HOST:PORT\" or "
	    "\"[V6]:PORT\"");
	FAILS("cluster:\n  key: " KEY32 "\n  seeds: {a: 1}\n",
	    "5:10: 'cluster.seeds' must be a sequence of \"HOST:PORT\" or "
	    "\"[V6]:PORT\"");
	FAILS("cluster:\n  key: " KEY32 "\n  seeds:\n",
	    "5:3: 'cluster.seeds' has no value");
	/* Nothing valid nests deeper. */
	FAILS("cluster:\n  key: " KEY32 "\n  seeds: [[a:1]]\n",
	    "5:11: nesting too deep");

	/* At most CONFIG_MAX_SEEDS. */
	p += sprintf(p, HEAD "cluster:\n  key: " KEY32 "\n  seeds:\n");
	for (i = 0; i < CONFIG_MAX_SEEDS; i++)
		p += sprintf(p, "    - h%d:80\n", i);
	ok(parse(yaml));
	ck_assert_uint_eq(cfg.cluster.nseeds, CONFIG_MAX_SEEDS);
	ck_assert_str_eq(cfg.cluster.seeds[63].host, "h63");
	sprintf(p, "    - x:80\n    - y:80\n");
	errors_are(parse(yaml), "t.yaml",
	    (const char *const[]){ "70:7: more than 64 seeds", NULL });
	free(yaml);
}
END_TEST

/* The node's name is a member's name: no quote or backslash in it (which
 * a node outside a cluster may have). */
START_TEST(test_node_name)
{
	PARSES("node: a-b.c:1\ncluster:\n  key: " KEY32 "\n");
	ck_assert_str_eq(cfg.node, "a-b.c:1");
	ck_assert_int_eq(parse(HEAD "node: a\\\"b\n"), 0);
	FAILS("node: a\\\"b\ncluster:\n  key: " KEY32 "\n",
	    "3:7: in a cluster, 'node' must not hold a quote or a backslash");
	FAILS("node: 'a\\b'\ncluster:\n  key: " KEY32 "\n",
	    "3:7: in a cluster, 'node' must not hold a quote or a backslash");
}
END_TEST

START_TEST(test_advertise)
{
	static const char *const wildcard_listen[] = {
		"8080", "\"*:8080\"", "0.0.0.0:8080", "\"[::]:8080\"",
		"\"[0:0::0]:8080\"",
	};
	char yaml[256];
	size_t i;

	PARSES("cluster:\n  key: " KEY32 "\n  advertise: \"[fd00::1]:81\"\n");
	ck_assert_str_eq(cfg.cluster.advertise.host, "fd00::1");
	ck_assert_uint_eq(cfg.cluster.advertise.port, 81);
	/* Required when listen stands for every address. */
	for (i = 0; i < sizeof(wildcard_listen) / sizeof(*wildcard_listen);
	    i++) {
		snprintf(yaml, sizeof(yaml), "root: /r\ncluster:\n  key: "
		    KEY32 "\nlisten: %s\n", wildcard_listen[i]);
		errors_are(parse(yaml), "t.yaml", (const char *const[]){
		    "3:3: cluster.advertise is required when listen is a "
		    "wildcard address", NULL });
		snprintf(yaml, sizeof(yaml), "root: /r\ncluster:\n  key: "
		    KEY32 "\n  advertise: n1:8080\nlisten: %s\n",
		    wildcard_listen[i]);
		ok(parse(yaml));
		ck_assert_str_eq(cfg.cluster.advertise.host, "n1");
	}
	/* A listen that is wrong or missing is the only error. */
	FAILS("cluster: {key: " KEY32 "}\nlisten: 0\n",
	    "4:1: duplicate key 'listen' (first at 1:1)");
	errors_are(parse("root: /r\ncluster: {key: " KEY32 "}\nlisten: 0\n"),
	    "t.yaml", (const char *const[]){ "3:9: 'listen' must be a port "
	    "1..65535, \"PORT\", \"HOST:PORT\", \"*:PORT\" or \"[V6]:PORT\"",
	    NULL });
	errors_are(parse("root: /r\ncluster: {key: " KEY32 "}\n"), "t.yaml",
	    (const char *const[]){ "1:1: missing required key 'listen'",
	    NULL });
	/* Itself neither a wildcard nor a port alone. */
	FAILS("cluster:\n  key: " KEY32 "\n  advertise: 0.0.0.0:80\n",
	    "5:14: 'cluster.advertise' must not be a wildcard address");
	FAILS("cluster:\n  key: " KEY32 "\n  advertise: \"[::]:80\"\n",
	    "5:14: 'cluster.advertise' must not be a wildcard address");
	FAILS("cluster:\n  key: " KEY32 "\n  advertise: 80\n",
	    "5:14: 'cluster.advertise' must be \"HOST:PORT\" or \"[V6]:PORT\"");
	FAILS("cluster:\n  key: " KEY32 "\n  advertise: \"*:80\"\n",
	    "5:14: 'cluster.advertise' must be \"HOST:PORT\" or \"[V6]:PORT\"");
	FAILS("cluster:\n  key: " KEY32 "\n  advertise: [a:1]\n",
	    "5:14: 'cluster.advertise' must be \"HOST:PORT\" or \"[V6]:PORT\"");
	FAILS("cluster:\n  key: " KEY32 "\n  advertise: a:99999\n",
	    "5:14: 'cluster.advertise' must be \"HOST:PORT\" or \"[V6]:PORT\"");
	/* A wrong advertise under a wildcard listen is one error. */
	errors_are(parse("listen: 80\nroot: /r\ncluster:\n  key: " KEY32
	    "\n  advertise: 0.0.0.0:80\n"), "t.yaml", (const char *const[]){
	    "5:14: 'cluster.advertise' must not be a wildcard address",
	    NULL });
}
END_TEST

START_TEST(test_durations)
{
	PARSES("cluster:\n  key: " KEY32 "\n  gossip_interval: 10ms\n"
	    "  suspect_after: 10ms\n  dead_after: 1h\n"
	    "  max_clock_skew: 1s\n");
	ck_assert_int_eq(cfg.cluster.gossip_interval_ms, 10);
	ck_assert_int_eq(cfg.cluster.suspect_after_ms, 10);
	ck_assert_int_eq(cfg.cluster.dead_after_ms, 3600000);
	ck_assert_int_eq(cfg.cluster.max_clock_skew_ms, 1000);
	PARSES("cluster:\n  key: " KEY32 "\n  gossip_interval: 60\n"
	    "  suspect_after: 1m\n  max_clock_skew: 1h\n");
	ck_assert_int_eq(cfg.cluster.gossip_interval_ms, 60000);
	ck_assert_int_eq(cfg.cluster.max_clock_skew_ms, 3600000);
	FAILS("cluster:\n  key: " KEY32 "\n  gossip_interval: 9ms\n",
	    "5:20: 'cluster.gossip_interval' must be from 10ms to 1m");
	FAILS("cluster:\n  key: " KEY32 "\n  gossip_interval: 61s\n",
	    "5:20: 'cluster.gossip_interval' must be from 10ms to 1m");
	FAILS("cluster:\n  key: " KEY32 "\n  gossip_interval: auto\n",
	    "5:20: 'cluster.gossip_interval' must be a duration such as "
	    "500ms, 10s, 2m, 1h or 1d");
	FAILS("cluster:\n  key: " KEY32 "\n  suspect_after: 2h\n",
	    "5:18: 'cluster.suspect_after' must be from 10ms to 1h");
	FAILS("cluster:\n  key: " KEY32 "\n  dead_after: 0\n",
	    "5:15: 'cluster.dead_after' must be from 10ms to 1h");
	FAILS("cluster:\n  key: " KEY32 "\n  suspect_after: Auto\n",
	    "5:18: 'cluster.suspect_after' must be \"auto\" or a duration "
	    "such as 500ms, 10s, 2m, 1h or 1d");
	FAILS("cluster:\n  key: " KEY32 "\n  max_clock_skew: 999ms\n",
	    "5:19: 'cluster.max_clock_skew' must be from 1s to 1h");
	FAILS("cluster:\n  key: " KEY32 "\n  max_clock_skew: 3601s\n",
	    "5:19: 'cluster.max_clock_skew' must be from 1s to 1h");
	/* Never sooner than one gossip interval, written before or after. */
	FAILS("cluster:\n  key: " KEY32 "\n  suspect_after: 100ms\n",
	    "5:18: 'cluster.suspect_after' must be at least "
	    "'cluster.gossip_interval' (200ms)");
	FAILS("cluster:\n  key: " KEY32 "\n  dead_after: 1s\n"
	    "  suspect_after: 1s\n  gossip_interval: 2s\n",
	    "5:15: 'cluster.dead_after' must be at least "
	    "'cluster.gossip_interval' (2s)",
	    "6:18: 'cluster.suspect_after' must be at least "
	    "'cluster.gossip_interval' (2s)");
	/* A wrong gossip_interval is one error, not a yardstick. */
	FAILS("cluster:\n  key: " KEY32 "\n  gossip_interval: 5ms\n"
	    "  suspect_after: 100ms\n  dead_after: 20ms\n",
	    "5:20: 'cluster.gossip_interval' must be from 10ms to 1m");
	FAILS("cluster:\n  key: " KEY32 "\n  gossip_interval: [1s]\n"
	    "  suspect_after: 100ms\n",
	    "5:20: 'cluster.gossip_interval' must be a duration such as "
	    "500ms, 10s, 2m, 1h or 1d");
	PARSES("cluster:\n  key: " KEY32 "\n  suspect_after: 50ms\n"
	    "  dead_after: 50ms\n  gossip_interval: 50ms\n");
	ck_assert_int_eq(cfg.cluster.suspect_after_ms, 50);
}
END_TEST

START_TEST(test_numbers)
{
	PARSES("cluster:\n  key: " KEY32 "\n  fanout: 1\n  replicas: 16\n"
	    "  max_members: 16\n");
	ck_assert_int_eq(cfg.cluster.fanout, 1);
	ck_assert_int_eq(cfg.cluster.replicas, 16);
	ck_assert_uint_eq(cfg.cluster.max_members, 16);
	PARSES("cluster:\n  key: " KEY32 "\n  fanout: 16\n  replicas: 1\n"
	    "  max_members: 65536\n");
	ck_assert_int_eq(cfg.cluster.fanout, 16);
	ck_assert_int_eq(cfg.cluster.replicas, 1);
	ck_assert_uint_eq(cfg.cluster.max_members, 65536);
	FAILS("cluster:\n  key: " KEY32 "\n  fanout: 0\n",
	    "5:11: 'cluster.fanout' must be from 1 to 16");
	FAILS("cluster:\n  key: " KEY32 "\n  fanout: 17\n",
	    "5:11: 'cluster.fanout' must be from 1 to 16");
	FAILS("cluster:\n  key: " KEY32 "\n  replicas: 0\n",
	    "5:13: 'cluster.replicas' must be from 1 to 16");
	FAILS("cluster:\n  key: " KEY32 "\n  replicas: 17\n",
	    "5:13: 'cluster.replicas' must be from 1 to 16");
	FAILS("cluster:\n  key: " KEY32 "\n  max_members: 15\n",
	    "5:16: 'cluster.max_members' must be from 16 to 65536");
	FAILS("cluster:\n  key: " KEY32 "\n  max_members: 65537\n",
	    "5:16: 'cluster.max_members' must be from 16 to 65536");
	FAILS("cluster:\n  key: " KEY32 "\n  max_members: auto\n",
	    "5:16: 'cluster.max_members' must be an integer");
	FAILS("cluster:\n  key: " KEY32 "\n  fanout: -1\n",
	    "5:11: 'cluster.fanout' must be an integer");
}
END_TEST

START_TEST(test_store_capacity)
{
	PARSES("cluster:\n  key: " KEY32 "\n  store: false\n"
	    "  capacity: 1MiB\n");
	ck_assert(!cfg.cluster.store);
	ck_assert_uint_eq(cfg.cluster.capacity, 1 << 20);
	PARSES("cluster:\n  key: " KEY32 "\n  capacity: 1024TiB\n");
	ck_assert_uint_eq(cfg.cluster.capacity, 1ULL << 50);
	FAILS("cluster:\n  key: " KEY32 "\n  store: yes\n",
	    "5:10: 'cluster.store' must be true or false");
	FAILS("cluster:\n  key: " KEY32 "\n  capacity: 0\n",
	    "5:13: 'cluster.capacity' must be from 1MiB to 1024TiB");
	FAILS("cluster:\n  key: " KEY32 "\n  capacity: 1025TiB\n",
	    "5:13: 'cluster.capacity' must be from 1MiB to 1024TiB");
	FAILS("cluster:\n  key: " KEY32 "\n  capacity: 10GB\n",
	    "5:13: 'cluster.capacity' must be \"auto\" or a size such as 512, "
	    "64KiB, 10MiB, 1GiB or 1TiB");
}
END_TEST

START_TEST(test_every_error)
{
	/* One run shows every mistake, in the order of the file, the rules
	 * across keys and sections included. */
	errors_are(parse("listen: 8080\nroot: /r\ncluster:\n"
	    "  name: a b\n  seeds: [x:1, x:1, 9]\n  fanout: 99\n"
	    "  suspect_after: 20ms\n  colour: blue\n"), "t.yaml",
	    (const char *const[]){
	    "4:3: missing required key 'cluster.key_file' or 'cluster.key'",
	    "4:3: cluster.advertise is required when listen is a wildcard "
	    "address",
	    "4:9: 'cluster.name' must be 1 to 64 letters, digits, '.', '_' "
	    "or '-'",
	    "5:16: duplicate seed 'x:1' (first at 5:11)",
	    "5:21: 'cluster.seeds' must be \"HOST:PORT\" or \"[V6]:PORT\"",
	    "6:11: 'cluster.fanout' must be from 1 to 16",
	    "7:18: 'cluster.suspect_after' must be at least "
	    "'cluster.gossip_interval' (200ms)",
	    "8:3: unknown key 'cluster.colour'", NULL });
}
END_TEST

/* ---- the key file, through config_load() ---- */

START_TEST(test_key_file)
{
	char path[128], big[1026];
	struct config a;

	/* Relative to the base directory; one final newline is cut. */
	write_file("k", KEY32 "\n", 33, 0600);
	ok(load(HEAD "cluster:\n  key_file: k\n"));
	ck_assert_uint_eq(cfg.cluster.key_len, 32);
	ck_assert_mem_eq(cfg.cluster.key, KEY32, 32);
	snprintf(path, sizeof(path), "%s/k", dir);
	ck_assert_str_eq(cfg.cluster.key_file, path);
	/* CRLF too; no newline at all; a key may hold any byte. */
	write_file("k", KEY32 "\r\n", 34, 0600);
	ok(load(HEAD "cluster:\n  key_file: k\n"));
	ck_assert_uint_eq(cfg.cluster.key_len, 32);
	write_file("k", KEY32, 32, 0400);
	ok(load(HEAD "cluster:\n  key_file: k\n"));
	ck_assert_uint_eq(cfg.cluster.key_len, 32);
	write_file("k", KEY32 "\0\xff\n", 35, 0640);
	ok(load(HEAD "cluster:\n  key_file: k\n"));
	ck_assert_uint_eq(cfg.cluster.key_len, 34);
	ck_assert_mem_eq(cfg.cluster.key, KEY32 "\0\xff", 34);
	/* Only one newline: the next is part of the key. */
	write_file("k", KEY32 "\n\n", 34, 0600);
	ok(load(HEAD "cluster:\n  key_file: \"k\"\n"));
	ck_assert_uint_eq(cfg.cluster.key_len, 33);
	ck_assert_mem_eq(cfg.cluster.key, KEY32 "\n", 33);

	/* The longest key, with its CRLF. */
	memset(big, 'k', 1024);
	memcpy(big + 1024, "\r\n", 2);
	write_file("k", big, sizeof(big), 0600);
	ok(load(HEAD "cluster:\n  key_file: k\n"));
	ck_assert_uint_eq(cfg.cluster.key_len, 1024);
	/* On reload, config_compare() sees the bytes, not only the path. */
	a = cfg;
	memset(&cfg, 0, sizeof(cfg));
	ok(load(HEAD "cluster:\n  key_file: k\n"));
	ck_assert_int_eq(config_compare(&a, &cfg), CONFIG_SAME);
	big[0] = 'K';
	write_file("k", big, sizeof(big), 0600);
	ok(load(HEAD "cluster:\n  key_file: k\n"));
	ck_assert_int_eq(config_compare(&a, &cfg), CONFIG_CHANGED);
	config_free(&a);

	/* An inline key is loaded as parsed. */
	ok(load(HEAD "cluster:\n  key: " KEY32 "\n"));
	ck_assert_uint_eq(cfg.cluster.key_len, 32);
	ck_assert_ptr_null(cfg.cluster.key_file);
}
END_TEST

START_TEST(test_key_file_errors)
{
	char path[128], want[512], big[1027];

	snprintf(path, sizeof(path), "%s/k", dir);
	write_file("k", KEY32 "\n", 33, 0644);
	LOAD_FAILS("cluster:\n  key_file: k\n",
	    "4:13: cluster.key_file is readable by other users; chmod o-rwx");
	write_file("k", KEY32, 32, 0602);
	LOAD_FAILS("cluster:\n  key_file: k\n",
	    "4:13: cluster.key_file is readable by other users; chmod o-rwx");
	write_file("k", "0123456789abcdef0123456789abcde\n", 32, 0600);
	LOAD_FAILS("cluster:\n  key_file: k\n", "4:13: "
	    "'cluster.key_file' holds 31 bytes; a cluster key has at least 32");
	write_file("k", "\n", 1, 0600);
	LOAD_FAILS("cluster:\n  key_file: k\n", "4:13: "
	    "'cluster.key_file' holds 0 bytes; a cluster key has at least 32");
	memset(big, 'k', sizeof(big));
	big[1026] = '\n';
	write_file("k", big, sizeof(big), 0600);
	LOAD_FAILS("cluster:\n  key_file: k\n", "4:13: 'cluster.key_file' "
	    "holds more than 1024 bytes; a cluster key has at most 1024");
	/* Both faults of one file. */
	write_file("k", "short", 5, 0666);
	LOAD_FAILS("cluster:\n  key_file: k\n",
	    "4:13: cluster.key_file is readable by other users; chmod o-rwx",
	    "4:13: 'cluster.key_file' holds 5 bytes; a cluster key has at "
	    "least 32");
	/* Missing, a directory, a FIFO (which must not hang the load). */
	ck_assert_int_eq(unlink(path), 0);
	snprintf(want, sizeof(want), "4:13: cannot read cluster.key_file "
	    "%s: No such file or directory", path);
	LOAD_FAILS("cluster:\n  key_file: k\n", want);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(want, sizeof(want), "4:13: cluster.key_file %s is not a "
	    "regular file", path);
	LOAD_FAILS("cluster:\n  key_file: k\n", want);
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	LOAD_FAILS("cluster:\n  key_file: k\n", want);
	/* Among the other errors, in the order of the file. */
	snprintf(want, sizeof(want), "5:13: cluster.key_file %s is not a "
	    "regular file", path);
	LOAD_FAILS("cluster:\n  fanout: 0\n  key_file: k\n"
	    "  replicas: 0\n",
	    "4:11: 'cluster.fanout' must be from 1 to 16", want,
	    "6:13: 'cluster.replicas' must be from 1 to 16");
	/* The key file is read only when it is the one key. */
	LOAD_FAILS("cluster:\n  key_file: k\n  key: " KEY32 "\n",
	    "5:3: 'cluster.key' and 'cluster.key_file' exclude each other "
	    "(first at 4:3)");
}
END_TEST

/* ---- reloads ---- */

START_TEST(test_compare)
{
	static const char base[] = HEAD "cluster:\n  key: " KEY32 "\n"
	    "  seeds: [a:1, b:2]\n  advertise: n:1\n";
	/* Each differs from base in one cluster key. */
	static const char *const changed[] = {
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:2\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:3]\n"
		    "  advertise: n:1\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [b:2, a:1]\n"
		    "  advertise: n:1\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1]\n"
		    "  advertise: n:1\n",
		HEAD "cluster:\n  key: " KEY32 "x\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n",
		HEAD "cluster:\n  key: 1" KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n",
		HEAD "cluster:\n  key_file: /k\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  name: other\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  gossip_interval: 1s\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  fanout: 4\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  suspect_after: 1s\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  dead_after: 1s\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  store: false\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  capacity: 1GiB\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  replicas: 3\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  max_clock_skew: 5s\n",
		HEAD "cluster:\n  key: " KEY32 "\n  seeds: [a:1, b:2]\n"
		    "  advertise: n:1\n  max_members: 2048\n",
		HEAD,
	};
	struct config a;
	size_t i;

	ok(parse(base));
	a = cfg;
	memset(&cfg, 0, sizeof(cfg));
	/* The same file, and the same values written otherwise. */
	ok(parse(base));
	ck_assert_int_eq(config_compare(&a, &cfg), CONFIG_SAME);
	ok(parse(HEAD "cluster: {advertise: \"n:1\", seeds: [\"a:1\", b:2],"
	    " key: \"" KEY32 "\", name: shoal, fanout: 3, suspect_after: auto,"
	    " gossip_interval: 200ms, max_members: 1024}\n"));
	ck_assert_int_eq(config_compare(&a, &cfg), CONFIG_SAME);
	/* A change of peers beside the same cluster is still peers only. */
	ok(parse(HEAD "peers: [{host: p, port: 1}]\ncluster:\n  key: " KEY32
	    "\n  seeds: [a:1, b:2]\n  advertise: n:1\n"));
	ck_assert_int_eq(config_compare(&a, &cfg), CONFIG_PEERS_ONLY);
	for (i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		ok(parse(changed[i]));
		ck_assert_msg(config_compare(&a, &cfg) == CONFIG_CHANGED,
		    "case %zu: not a change", i);
		ck_assert_msg(config_compare(&cfg, &a) == CONFIG_CHANGED,
		    "case %zu: not a change back", i);
	}
	config_free(&a);
}
END_TEST

/* ---- allocations ---- */

START_TEST(test_out_of_memory)
{
	static const char yaml[] = HEAD "cluster:\n  name: n\n"
	    "  key: " KEY32 "\n";
	long n;

	/* Each allocation of config_cluster.c fails once: the load fails,
	 * says why, and leaves nothing behind. */
	for (n = 0;; n++) {
		alloc_count = 0;
		fail_at = n;
		if (parse(yaml) == 0) {
			ck_assert_int_eq(alloc_count, n);
			break;
		}
		ck_assert_str_eq(errs.msgs[errs.count - 1],
		    "t.yaml: out of memory");
		ck_assert(!cfg.cluster.enabled);
	}
	fail_at = -1;
	ck_assert_int_eq(n, 2);
}
END_TEST

static void
config_cluster_suite(void)
{
	TCase *tc;

	tc = check_main_tcase("keys", NULL, NULL, NULL, 0);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_absent);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_section);
	tcase_add_test(tc, test_name);
	tcase_add_test(tc, test_key_inline);
	tcase_add_test(tc, test_key_rules);
	tcase_add_test(tc, test_seeds);
	tcase_add_test(tc, test_node_name);
	tcase_add_test(tc, test_advertise);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_store_capacity);
	tcase_add_test(tc, test_every_error);

	tc = check_main_tcase("key file", NULL, NULL, NULL, 0);
	tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_key_file);
	tcase_add_test(tc, test_key_file_errors);

	tc = check_main_tcase("reloads", NULL, NULL, NULL, 0);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_compare);
	tcase_add_test(tc, test_out_of_memory);
}

int
main(void)
{
	config_cluster_suite();
	return check_main_run();
}
