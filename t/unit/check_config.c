/*
 * check_config.c - unit tests of the configuration loader: its API
 * (src/core/config.c) and both passes behind it (config_yaml.c,
 * config_check.c). The units it reads values with have their own suite,
 * check_units.c.
 *
 * Includes the three .c files of the loader to reach their static helpers
 * and to count their allocations; units.c comes from the library. Run from
 * the top directory of the repository: the last cases load conf/ by
 * relative path.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * Allocation failures: the loader allocates through these, so a test can
 * make the Nth allocation fail and check that every path frees what it
 * holds.
 */
static long alloc_countdown = -1;	/* -1: never fail */

static bool
alloc_fails(void)
{
	if (alloc_countdown < 0)
		return false;
	return alloc_countdown-- == 0;
}

static void *
test_malloc(size_t n)
{
	return alloc_fails() ? NULL : malloc(n);
}

static void *
test_calloc(size_t n, size_t size)
{
	return alloc_fails() ? NULL : calloc(n, size);
}

static void *
test_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : realloc(p, n);
}

static char *
test_strdup(const char *s)
{
	return alloc_fails() ? NULL : strdup(s);
}

static char *
test_strndup(const char *s, size_t n)
{
	return alloc_fails() ? NULL : strndup(s, n);
}

#undef strdup
#undef strndup
#define malloc test_malloc
#define calloc test_calloc
#define realloc test_realloc
#define strdup test_strdup
#define strndup test_strndup
#include "core/config.c"
#include "core/config_check.c"
#include "core/config_yaml.c"
#undef malloc
#undef calloc
#undef realloc
#undef strdup
#undef strndup

#include <check.h>
#include <unistd.h>

#include "check_main.h"

static struct config cfg;
static struct config_errors errs;

static int
parse(const char *yaml)
{
	config_errors_free(&errs);
	config_free(&cfg);
	return config_parse(yaml, strlen(yaml), "t.yaml", "/base", &cfg,
	    &errs);
}

static void
teardown(void)
{
	config_free(&cfg);
	config_errors_free(&errs);
}

static bool
config_is_empty(const struct config *c)
{
	static const struct config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* Parses yaml, expects it to fail with exactly the messages in want. */
static void
expect_errors(const char *yaml, const char *const *want)
{
	size_t i, n;

	for (n = 0; want[n] != NULL; n++)
		continue;
	ck_assert_int_eq(parse(yaml), -1);
	ck_assert_msg(config_is_empty(&cfg), "config not empty after error");
	for (i = 0; i < errs.count && i < n; i++)
		ck_assert_str_eq(errs.msgs[i], want[i]);
	ck_assert_msg(errs.count == n, "%zu errors, want %zu; first: %s",
	    errs.count, n, errs.count ? errs.msgs[0] : "-");
}

#define EXPECT(yaml, ...) \
	expect_errors(yaml, (const char *const[]){ __VA_ARGS__, NULL })

/* The same after a valid "listen: 80\nroot: /r\n" (lines 1 and 2). */
#define EXPECT1(extra, ...) EXPECT("listen: 80\nroot: /r\n" extra, __VA_ARGS__)

static void
parse_ok(const char *yaml)
{
	int rc = parse(yaml);

	ck_assert_msg(rc == 0, "parse failed: %s",
	    errs.count ? errs.msgs[0] : "(no message)");
	ck_assert_uint_eq(errs.count, 0);
}

/* ---- defaults ---- */

/* Asserts every key of cfg that a test of the whole file checks, as want
 * has it (strings may be NULL; so may the peers); node and workers depend
 * on the machine and are the caller's to check. */
static void
assert_config(const struct config *want)
{
	size_t i;

	ck_assert_pstr_eq(cfg.listen_host, want->listen_host);
	ck_assert_uint_eq(cfg.listen_port, want->listen_port);
	ck_assert_pstr_eq(cfg.root, want->root);
	ck_assert_pstr_eq(cfg.state_dir, want->state_dir);
	ck_assert_int_eq(cfg.io_threads, want->io_threads);
	ck_assert_pstr_eq(cfg.user, want->user);
	ck_assert_pstr_eq(cfg.pid_file, want->pid_file);
	ck_assert_pstr_eq(cfg.error_log, want->error_log);
	ck_assert_int_eq(cfg.log_level, want->log_level);
	ck_assert_pstr_eq(cfg.access_log, want->access_log);
	ck_assert_int_eq(cfg.shutdown_timeout_ms, want->shutdown_timeout_ms);
	ck_assert_int_eq(cfg.save, want->save);
	ck_assert_int_eq(cfg.ttl_ms, want->ttl_ms);
	ck_assert_int_eq(cfg.peer_timeout_ms, want->peer_timeout_ms);
	ck_assert_uint_eq(cfg.npeers, want->npeers);
	if (want->peers == NULL)
		ck_assert_ptr_null(cfg.peers);
	for (i = 0; i < want->npeers; i++) {
		ck_assert_str_eq(cfg.peers[i].host, want->peers[i].host);
		ck_assert_uint_eq(cfg.peers[i].port, want->peers[i].port);
		ck_assert_int_eq(cfg.peers[i].save, want->peers[i].save);
		ck_assert_int_eq(cfg.peers[i].ttl_ms, want->peers[i].ttl_ms);
	}
	ck_assert_int_eq(cfg.upload.enabled, want->upload.enabled);
	ck_assert_pstr_eq(cfg.upload.token, want->upload.token);
	ck_assert_uint_eq(cfg.upload.max_size, want->upload.max_size);
	ck_assert_uint_eq(cfg.http.max_request_line,
	    want->http.max_request_line);
	ck_assert_uint_eq(cfg.http.max_header_line, want->http.max_header_line);
	ck_assert_uint_eq(cfg.http.max_headers, want->http.max_headers);
	ck_assert_uint_eq(cfg.http.max_header_size, want->http.max_header_size);
	ck_assert_int_eq(cfg.http.header_timeout_ms,
	    want->http.header_timeout_ms);
	ck_assert_int_eq(cfg.http.keepalive_timeout_ms,
	    want->http.keepalive_timeout_ms);
	ck_assert_int_eq(cfg.http.send_timeout_ms, want->http.send_timeout_ms);
	ck_assert_int_eq(cfg.http.body_timeout_ms, want->http.body_timeout_ms);
	ck_assert_uint_eq(cfg.http.max_connections,
	    want->http.max_connections);
}

START_TEST(test_defaults)
{
	static const struct config want = {
		.listen_port = 8080,
		.root = "/srv/files", .state_dir = "/srv/files/.shoal",
		.io_threads = 4,
		.pid_file = "/run/shoald.pid",
		.error_log = "stderr", .log_level = CONFIG_LOG_INFO,
		.shutdown_timeout_ms = 10000,
		.save = true, .peer_timeout_ms = 2000,
		.upload = { .enabled = true, .max_size = 10ULL << 30 },
		/* In the order of struct config_http: the lengths of the
		 * request line, of a header line, the headers, the head; the
		 * timeouts of the head, keep-alive, send, body; connections. */
		.http = { 8192, 8192, 100, 65536, 10000, 60000, 60000, 60000,
		    4096 },
	};
	char host[256], node[300];

	parse_ok("listen: 8080\nroot: /srv/files\n");
	assert_config(&want);
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	snprintf(node, sizeof(node), "%s:8080", host);
	if (strlen(node) <= 64)
		ck_assert_str_eq(cfg.node, node);
	ck_assert_int_eq(cfg.workers, config_workers_auto());
	ck_assert_int_ge(cfg.workers, 1);
}
END_TEST

START_TEST(test_empty_sections)
{
	parse_ok("listen: 1\nroot: /r\npeers: []\nupload: {}\nhttp: {}\n");
	ck_assert_uint_eq(cfg.npeers, 0);
	ck_assert_uint_eq(cfg.http.max_headers, 100);
	/* Quoted keys and values are scalars like any other. */
	parse_ok("\"listen\": '9'\nroot: \"/r\"\nio_threads: \"7\"\n");
	ck_assert_uint_eq(cfg.listen_port, 9);
	ck_assert_int_eq(cfg.io_threads, 7);
	/* An explicit document start and end are fine. */
	parse_ok("%YAML 1.1\n---\nlisten: 1\nroot: /r\n...\n");
}
END_TEST

START_TEST(test_default_node_fits)
{
	char *s = default_node(65535);

	ck_assert_ptr_nonnull(s);
	ck_assert(is_word(s, strlen(s), NODE_MAX));
	ck_assert(strlen(s) >= 7);
	ck_assert_str_eq(s + strlen(s) - 6, ":65535");
	free(s);
}
END_TEST

/* ---- every key ---- */

static const char every_key[] =
	"listen: \"10.0.0.1:9000\"\n"
	"root: /data/files\n"
	"state_dir: /data/state\n"
	"node: n1\n"
	"workers: 3\n"
	"io_threads: 16\n"
	"user: shoal\n"
	"pid_file: /tmp/shoald.pid\n"
	"error_log: syslog\n"
	"log_level: debug\n"
	"access_log: /var/log/shoal/access.log\n"
	"shutdown_timeout: 1m\n"
	"save: false\n"
	"ttl: 1d\n"
	"peer_timeout: 500ms\n"
	"peers:\n"
	"  - host: 10.0.0.2\n"
	"    port: 9000\n"
	"    save: true\n"
	"    ttl: 10m\n"
	"  - host: node3.example\n"
	"    port: 9001\n"
	"upload:\n"
	"  enabled: false\n"
	"  token: s3cret\n"
	"  max_size: 1GiB\n"
	"http:\n"
	"  max_request_line: 4KiB\n"
	"  max_header_line: 2KiB\n"
	"  max_headers: 50\n"
	"  max_header_size: 32KiB\n"
	"  header_timeout: 5s\n"
	"  keepalive_timeout: 0\n"
	"  send_timeout: 30s\n"
	"  body_timeout: 20s\n"
	"  max_connections: 1000\n";

START_TEST(test_every_key)
{
	static struct config_peer peers[] = {
		{ .host = "10.0.0.2", .port = 9000, .save = true,
		    .ttl_ms = 600000 },
		{ .host = "node3.example", .port = 9001, .save = false,
		    .ttl_ms = 86400000 },
	};
	static const struct config want = {
		.listen_host = "10.0.0.1", .listen_port = 9000,
		.root = "/data/files", .state_dir = "/data/state",
		.io_threads = 16, .user = "shoal",
		.pid_file = "/tmp/shoald.pid",
		.error_log = "syslog", .log_level = CONFIG_LOG_DEBUG,
		.access_log = "/var/log/shoal/access.log",
		.shutdown_timeout_ms = 60000,
		.save = false, .ttl_ms = 86400000, .peer_timeout_ms = 500,
		.peers = peers, .npeers = 2,
		.upload = { .enabled = false, .token = "s3cret",
		    .max_size = 1ULL << 30 },
		/* As test_defaults has them. */
		.http = { 4096, 2048, 50, 32768, 5000, 0, 30000, 20000, 1000 },
	};

	parse_ok(every_key);
	assert_config(&want);
	ck_assert_str_eq(cfg.node, "n1");
	ck_assert_int_eq(cfg.workers, 3);
}
END_TEST

START_TEST(test_listen_forms)
{
	parse_ok("listen: 1\nroot: /r\n");
	ck_assert_ptr_null(cfg.listen_host);
	ck_assert_uint_eq(cfg.listen_port, 1);
	parse_ok("listen: \"65535\"\nroot: /r\n");
	ck_assert_ptr_null(cfg.listen_host);
	ck_assert_uint_eq(cfg.listen_port, 65535);
	parse_ok("listen: \"*:8080\"\nroot: /r\n");
	ck_assert_ptr_null(cfg.listen_host);
	ck_assert_uint_eq(cfg.listen_port, 8080);
	parse_ok("listen: localhost:81\nroot: /r\n");
	ck_assert_str_eq(cfg.listen_host, "localhost");
	ck_assert_uint_eq(cfg.listen_port, 81);
	parse_ok("listen: \"[::1]:8080\"\nroot: /r\n");
	ck_assert_str_eq(cfg.listen_host, "::1");
	ck_assert_uint_eq(cfg.listen_port, 8080);
	parse_ok("listen: \"[::]:8080\"\nroot: /r\n");
	ck_assert_str_eq(cfg.listen_host, "::");
}
END_TEST

START_TEST(test_listen_bad)
{
	static const char *const bad[] = {
		"0", "65536", "99999999999999999999999", "-1", "+80",
		"\":80\"", "\"host:\"", "\"a b:80\"", "\"::1:80\"",
		"\"[::1]80\"", "\"[]:80\"", "\"[::1:80\"", "\"[::1]:\"",
		"\"*\"", "\"*:0\"", "\"host:80x\"", "\"80 \"", "\"\"",
		"[80]", "{port: 80}", "true",
	};
	char yaml[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "root: /r\nlisten: %s\n", bad[i]);
		EXPECT(yaml, "t.yaml:2:9: 'listen' must be a port 1..65535, "
		    "\"PORT\", \"HOST:PORT\", \"*:PORT\" or \"[V6]:PORT\"");
	}
}
END_TEST

START_TEST(test_words)
{
	parse_ok("listen: 1\nroot: /r\nerror_log: stderr\naccess_log: off\n");
	ck_assert_str_eq(cfg.error_log, "stderr");
	ck_assert_ptr_null(cfg.access_log);
	parse_ok("listen: 1\nroot: /r\naccess_log: stderr\n"
	    "log_level: error\n");
	ck_assert_str_eq(cfg.access_log, "stderr");
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_ERROR);
	parse_ok("listen: 1\nroot: /r\nlog_level: warn\n");
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_WARN);
	/* "syslog" is a word only for the error log. */
	parse_ok("listen: 1\nroot: /r\naccess_log: syslog\n");
	ck_assert_str_eq(cfg.access_log, "/base/syslog");
	EXPECT1("log_level: verbose\n",
	    "t.yaml:3:12: 'log_level' must be error, warn, info or debug");
	EXPECT1("log_level: INFO\n",
	    "t.yaml:3:12: 'log_level' must be error, warn, info or debug");
}
END_TEST

START_TEST(test_workers_auto)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	parse_ok("listen: 1\nroot: /r\nworkers: auto\n");
	ck_assert_int_eq(cfg.workers, n < 1 ? 1 : n > 256 ? 256 : n);
	parse_ok("listen: 1\nroot: /r\nworkers: 256\n");
	ck_assert_int_eq(cfg.workers, 256);
	EXPECT1("workers: 257\n",
	    "t.yaml:3:10: 'workers' must be from 1 to 256");
	EXPECT1("workers: 0\n", "t.yaml:3:10: 'workers' must be from 1 to 256");
	EXPECT1("workers: Auto\n",
	    "t.yaml:3:10: 'workers' must be \"auto\" or an integer");
	EXPECT1("workers: 2.5\n",
	    "t.yaml:3:10: 'workers' must be \"auto\" or an integer");
}
END_TEST

START_TEST(test_string_keys)
{
	char yaml[512];

	/* 64 bytes is the longest node name, 256 the longest token. */
	snprintf(yaml, sizeof(yaml), "listen: 1\nroot: /r\nnode: %064d\n", 0);
	parse_ok(yaml);
	snprintf(yaml, sizeof(yaml), "listen: 1\nroot: /r\nnode: %065d\n", 0);
	EXPECT(yaml, "t.yaml:3:7: 'node' must be 1 to 64 printable ASCII "
	    "characters without spaces");
	snprintf(yaml, sizeof(yaml),
	    "listen: 1\nroot: /r\nupload: {token: %0256d}\n", 0);
	parse_ok(yaml);
	snprintf(yaml, sizeof(yaml),
	    "listen: 1\nroot: /r\nupload: {token: %0257d}\n", 0);
	EXPECT(yaml, "t.yaml:3:17: 'upload.token' must be 1 to 256 printable "
	    "ASCII characters without spaces");
	EXPECT1("node: \"a b\"\n", "t.yaml:3:7: 'node' must be 1 to 64 "
	    "printable ASCII characters without spaces");
	EXPECT1("node: \"\"\n", "t.yaml:3:7: 'node' must be 1 to 64 "
	    "printable ASCII characters without spaces");
	EXPECT1("node: \"n\\u00e9\"\n", "t.yaml:3:7: 'node' must be 1 to 64 "
	    "printable ASCII characters without spaces");
	EXPECT1("user: ''\n", "t.yaml:3:7: 'user' must not be empty");
	EXPECT1("pid_file: \"\"\n", "t.yaml:3:11: 'pid_file' must not be empty");
	EXPECT1("user: \"a\\0b\"\n",
	    "t.yaml:3:7: 'user' must not contain control characters");
	EXPECT1("pid_file: |\n  /run/x\n",
	    "t.yaml:3:11: 'pid_file' must not contain control characters");
	/* A folded scalar without its final newline is fine. */
	parse_ok("listen: 1\nroot: /r\nuser: >-\n  shoal\n");
	ck_assert_str_eq(cfg.user, "shoal");
}
END_TEST

START_TEST(test_bools)
{
	parse_ok("listen: 1\nroot: /r\nsave: true\nupload: {enabled: false}\n");
	ck_assert(cfg.save);
	ck_assert(!cfg.upload.enabled);
	EXPECT1("save: yes\n", "t.yaml:3:7: 'save' must be true or false");
	EXPECT1("save: True\n", "t.yaml:3:7: 'save' must be true or false");
	EXPECT1("save: 1\n", "t.yaml:3:7: 'save' must be true or false");
	EXPECT1("upload:\n  enabled: on\n",
	    "t.yaml:4:12: 'upload.enabled' must be true or false");
}
END_TEST

/* ---- errors ---- */

START_TEST(test_syntax_error)
{
	/* One error, at libyaml's problem mark, and nothing else. */
	EXPECT("foo: 1\nlisten: [1\n", "t.yaml:3:1: did not find expected "
	    "',' or ']' (while parsing a flow sequence at 2:9)");
	EXPECT("a: b: c\n",
	    "t.yaml:1:5: mapping values are not allowed in this context");
	EXPECT("listen: 1\n\troot: /r\n", "t.yaml:2:1: found a tab character "
	    "that violates indentation (while scanning a plain scalar at "
	    "1:9)");
}
END_TEST

START_TEST(test_reader_errors)
{
	static const char nul[] = "listen: 1\nroot: /r\x00\n";
	/* The bad byte is the "t" after a lead byte. */
	static const char utf8[] = "listen: 1\nroot: /\xe9t\xe9\n";

	ck_assert_int_eq(config_parse(nul, sizeof(nul) - 1, "t.yaml", "/", &cfg,
	    &errs), -1);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0],
	    "t.yaml:2:9: control characters are not allowed");
	config_errors_free(&errs);
	ck_assert_int_eq(config_parse(utf8, sizeof(utf8) - 1, "t.yaml", "/",
	    &cfg, &errs), -1);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0],
	    "t.yaml:2:9: invalid trailing UTF-8 octet");
	ck_assert(config_is_empty(&cfg));
}
END_TEST

START_TEST(test_unknown_and_duplicate)
{
	EXPECT1("foo: 1\n", "t.yaml:3:1: unknown key 'foo'");
	EXPECT1("Listen: 1\n", "t.yaml:3:1: unknown key 'Listen'");
	EXPECT1("upload:\n  max: 1\n", "t.yaml:4:3: unknown key 'upload.max'");
	EXPECT1("http: {timeout: 1}\n", "t.yaml:3:8: unknown key 'http.timeout'");
	EXPECT1("peers:\n  - {host: a, port: 1, weight: 2}\n",
	    "t.yaml:4:24: unknown key 'peers.weight'");
	EXPECT1("root: /s\n", "t.yaml:3:1: duplicate key 'root' (first at 2:1)");
	EXPECT1("http:\n  max_headers: 1\n  max_headers: 2\n",
	    "t.yaml:5:3: duplicate key 'http.max_headers' (first at 4:3)");
	/* An unknown key repeated is unknown twice. */
	EXPECT1("x: 1\nx: 2\n", "t.yaml:3:1: unknown key 'x'",
	    "t.yaml:4:1: unknown key 'x'");
	/* A key with a NUL is not the key without it. */
	EXPECT1("\"io_threads\\0\": 1\n",
	    "t.yaml:3:1: unknown key 'io_threads?'");
	EXPECT1("[a]: 1\n", "t.yaml:3:1: keys must be strings");
	EXPECT1("? {a: 1}\n: 1\n", "t.yaml:3:3: keys must be strings");
}
END_TEST

START_TEST(test_long_key_quoted)
{
	char yaml[256], key[100], want[128];

	/* A long key is cut in messages, so a log line stays a line. */
	memset(key, 'k', 99);
	key[99] = '\0';
	snprintf(yaml, sizeof(yaml), "listen: 1\nroot: /r\n%s: 1\n", key);
	snprintf(want, sizeof(want), "t.yaml:3:1: unknown key '%.64s...'", key);
	EXPECT(yaml, want);
}
END_TEST

START_TEST(test_types)
{
	EXPECT1("io_threads: [1]\n",
	    "t.yaml:3:13: 'io_threads' must be an integer");
	EXPECT1("io_threads: {a: 1}\n",
	    "t.yaml:3:13: 'io_threads' must be an integer");
	EXPECT1("io_threads: -1\n", "t.yaml:3:13: 'io_threads' must be an integer");
	EXPECT1("io_threads: 0x10\n",
	    "t.yaml:3:13: 'io_threads' must be an integer");
	EXPECT1("io_threads: 1e3\n",
	    "t.yaml:3:13: 'io_threads' must be an integer");
	EXPECT1("root2: 1\nroot: [/r]\n", "t.yaml:3:1: unknown key 'root2'",
	    "t.yaml:4:1: duplicate key 'root' (first at 2:1)");
	EXPECT("listen: 1\nroot: [/r]\n", "t.yaml:2:7: 'root' must be a path");
	EXPECT1("user: {a: b}\n", "t.yaml:3:7: 'user' must be a string");
	EXPECT1("peers: {host: a}\n", "t.yaml:3:8: 'peers' must be a sequence");
	EXPECT1("peers: a\n", "t.yaml:3:8: 'peers' must be a sequence");
	EXPECT1("upload: [1]\n", "t.yaml:3:9: 'upload' must be a mapping");
	EXPECT1("http: 1\n", "t.yaml:3:7: 'http' must be a mapping");
	EXPECT1("error_log: [a]\n",
	    "t.yaml:3:12: 'error_log' must be a path, \"stderr\" or \"syslog\"");
	EXPECT1("ttl: 1x\n", "t.yaml:3:6: 'ttl' must be a duration such as "
	    "500ms, 10s, 2m, 1h or 1d");
	EXPECT1("upload: {max_size: 1KB}\n", "t.yaml:3:20: 'upload.max_size' "
	    "must be a size such as 512, 64KiB, 10MiB, 1GiB or 1TiB");
}
END_TEST

START_TEST(test_null_values)
{
	/* An empty value has no position: the error points at the key. */
	EXPECT("listen: 1\nroot:\n", "t.yaml:2:1: 'root' has no value");
	EXPECT1("user: ~\n", "t.yaml:3:1: 'user' has no value");
	EXPECT1("io_threads: null\n", "t.yaml:3:1: 'io_threads' has no value");
	EXPECT1("peers:\n", "t.yaml:3:1: 'peers' has no value");
	EXPECT1("upload:\nhttp:\n", "t.yaml:3:1: 'upload' has no value",
	    "t.yaml:4:1: 'http' has no value");
	EXPECT1("upload: {token: }\n",
	    "t.yaml:3:10: 'upload.token' has no value");
	EXPECT1("peers:\n  -\n", "t.yaml:4:4: each entry of 'peers' must be "
	    "a mapping");
	/* Quoted, "null" is a string. */
	parse_ok("listen: 1\nroot: /r\nuser: \"null\"\n");
	ck_assert_str_eq(cfg.user, "null");
}
END_TEST

START_TEST(test_ranges)
{
	/* Out of range points at the value. */
	EXPECT1("io_threads: 0\n",
	    "t.yaml:3:13: 'io_threads' must be from 1 to 256");
	EXPECT1("io_threads: 257\n",
	    "t.yaml:3:13: 'io_threads' must be from 1 to 256");
	EXPECT1("shutdown_timeout: 61m\n",
	    "t.yaml:3:19: 'shutdown_timeout' must be from 0ms to 1h");
	EXPECT1("peer_timeout: 0\n",
	    "t.yaml:3:15: 'peer_timeout' must be from 1ms to 10m");
	EXPECT1("peer_timeout: 601s\n",
	    "t.yaml:3:15: 'peer_timeout' must be from 1ms to 10m");
	EXPECT1("ttl: 36501d\n", "t.yaml:3:6: 'ttl' must be from 0ms to 36500d");
	EXPECT1("upload: {max_size: 0}\n",
	    "t.yaml:3:20: 'upload.max_size' must be from 1 to 1TiB");
	EXPECT1("upload: {max_size: 1025GiB}\n",
	    "t.yaml:3:20: 'upload.max_size' must be from 1 to 1TiB");
	EXPECT1("http: {max_request_line: 255}\n",
	    "t.yaml:3:26: 'http.max_request_line' must be from 256 to 1MiB");
	EXPECT1("http: {max_header_line: 2MiB}\n",
	    "t.yaml:3:25: 'http.max_header_line' must be from 256 to 1MiB");
	EXPECT1("http: {max_headers: 129}\n",
	    "t.yaml:3:21: 'http.max_headers' must be from 1 to 128");
	EXPECT1("http: {max_header_size: 1023}\n",
	    "t.yaml:3:25: 'http.max_header_size' must be from 1KiB to 1MiB");
	EXPECT1("http: {header_timeout: 0}\n",
	    "t.yaml:3:24: 'http.header_timeout' must be from 1ms to 1h");
	EXPECT1("http: {keepalive_timeout: 2h}\n",
	    "t.yaml:3:27: 'http.keepalive_timeout' must be from 0ms to 1h");
	EXPECT1("http: {send_timeout: 0ms}\n",
	    "t.yaml:3:22: 'http.send_timeout' must be from 1ms to 1h");
	EXPECT1("http: {body_timeout: 3601s}\n",
	    "t.yaml:3:22: 'http.body_timeout' must be from 1ms to 1h");
	EXPECT1("http: {max_connections: 1000001}\n",
	    "t.yaml:3:25: 'http.max_connections' must be from 1 to 1000000");
	/* The edges themselves are fine. */
	parse_ok("listen: 1\nroot: /r\nshutdown_timeout: 0\nttl: 36500d\n"
	    "peer_timeout: 10m\nupload: {max_size: 1TiB}\n"
	    "http: {max_request_line: 1MiB, max_header_line: 256,"
	    " max_headers: 128, max_header_size: 1KiB, header_timeout: 1h,"
	    " keepalive_timeout: 0, send_timeout: 1ms,"
	    " body_timeout: 3600, max_connections: 1000000}\n");
	ck_assert_int_eq(cfg.ttl_ms, 36500LL * 86400000);
	ck_assert_uint_eq(cfg.upload.max_size, 1ULL << 40);
	ck_assert_uint_eq(cfg.http.max_request_line, 1 << 20);
	ck_assert_int_eq(cfg.http.body_timeout_ms, 3600000);
}
END_TEST

START_TEST(test_stripe)
{
	parse_ok("listen: 1\nroot: /r\n");
	ck_assert_uint_eq(cfg.stripe.min_size, 64ULL << 20);
	ck_assert_int_eq(cfg.stripe.parts, 6);
	ck_assert_uint_eq(cfg.stripe.block, 1 << 20);
	ck_assert_int_eq(cfg.stripe.pending_timeout_ms, 600000);
	parse_ok("listen: 1\nroot: /r\nstripe: {min_size: 0, parts: 16, "
	    "block: 64KiB, pending_timeout: 1s}\n");
	ck_assert_uint_eq(cfg.stripe.min_size, 0);
	ck_assert_int_eq(cfg.stripe.parts, 16);
	ck_assert_uint_eq(cfg.stripe.block, 65536);
	ck_assert_int_eq(cfg.stripe.pending_timeout_ms, 1000);
	parse_ok("listen: 1\nroot: /r\nstripe: {parts: 2, block: 64MiB}\n");
	EXPECT1("stripe: {parts: 1}\n",
	    "t.yaml:3:17: 'stripe.parts' must be from 2 to 16");
	EXPECT1("stripe: {parts: 17}\n",
	    "t.yaml:3:17: 'stripe.parts' must be from 2 to 16");
	EXPECT1("stripe: {block: 65535}\n",
	    "t.yaml:3:17: 'stripe.block' must be from 64KiB to 64MiB");
	EXPECT1("stripe: {block: 65MiB}\n",
	    "t.yaml:3:17: 'stripe.block' must be from 64KiB to 64MiB");
	EXPECT1("stripe: {pending_timeout: 0}\n",
	    "t.yaml:3:27: 'stripe.pending_timeout' must be from 1s to 7d");
	ck_assert_int_eq(cfg.stripe.parity, 0);
	parse_ok("listen: 1\nroot: /r\nstripe: {parts: 12, parity: 4}\n");
	ck_assert_int_eq(cfg.stripe.parity, 4);
	EXPECT1("stripe: {parity: 5}\n",
	    "t.yaml:3:18: 'stripe.parity' must be from 0 to 4");
	EXPECT1("stripe: {parts: 13, parity: 4}\n",
	    "t.yaml:1:1: 'stripe.parts' plus 'stripe.parity' must be at "
	    "most 16");
}
END_TEST

START_TEST(test_anchors_tags)
{
	EXPECT1("io_threads: &n 4\n",
	    "t.yaml:3:13: anchors and aliases are not allowed");
	/* The alias is one error; the value it stands for is not checked. */
	EXPECT("listen: &p 80\nroot: /r\nio_threads: *p\n",
	    "t.yaml:1:9: anchors and aliases are not allowed",
	    "t.yaml:3:13: anchors and aliases are not allowed");
	EXPECT1("save: !!bool true\n", "t.yaml:3:7: tags are not allowed");
	EXPECT1("http: !map {max_headers: 3}\n",
	    "t.yaml:3:7: tags are not allowed");
	EXPECT1("peers: &x []\n",
	    "t.yaml:3:8: anchors and aliases are not allowed");
	EXPECT("&top {listen: 1, root: /r}\n",
	    "t.yaml:1:1: anchors and aliases are not allowed");
	/* An alias as a key or a peer is one error too. */
	EXPECT1("*k : 1\n", "t.yaml:3:1: anchors and aliases are not allowed");
	EXPECT1("peers: [*p]\n",
	    "t.yaml:3:9: anchors and aliases are not allowed");
}
END_TEST

START_TEST(test_documents)
{
	EXPECT("listen: 1\nroot: /r\n---\nlisten: 2\n",
	    "t.yaml:3:1: more than one document");
	EXPECT("- 1\n", "t.yaml:1:1: the top level must be a mapping");
	EXPECT("just text\n", "t.yaml:1:1: the top level must be a mapping");
	EXPECT("\n\n\"\"\n", "t.yaml:3:1: the top level must be a mapping");
}
END_TEST

START_TEST(test_empty_file)
{
	static const char *const empties[] = {
		"", "\n", "# only a comment\n", "---\n", "--- \n...\n",
	};
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++)
		EXPECT(empties[i], "t.yaml:1:1: missing required key 'listen'",
		    "t.yaml:1:1: missing required key 'root'");
	/* The top level is reported at 1:1 wherever the mapping starts. */
	EXPECT("# c\n\nroot: /r\n", "t.yaml:1:1: missing required key 'listen'");
}
END_TEST

START_TEST(test_nesting)
{
	static char deep[1000001];
	size_t i;

	/* Too deep is the one error, like a syntax error. */
	EXPECT1("foo: 1\nhttp: {a: {b: [1]}}\n",
	    "t.yaml:4:15: nesting too deep");
	EXPECT1("peers: [[[1]]]\n", "t.yaml:3:10: nesting too deep");
	EXPECT1("peers:\n  - host:\n      a: 1\n",
	    "t.yaml:5:7: nesting too deep");
	EXPECT("a:\n b:\n  c:\n   d: 1\n", "t.yaml:4:4: nesting too deep");
	/* Half a million brackets are one error, quickly: libyaml's scanner is
	 * quadratic in the depth, so the load must stop at once. */
	for (i = 0; i < sizeof(deep) - 1; i++)
		deep[i] = i < 500000 ? '[' : ']';
	EXPECT(deep, "t.yaml:1:4: nesting too deep");
	for (i = 0; i < sizeof(deep) - 1; i++)
		deep[i] = i < 500000 ? '{' : '}';
	EXPECT(deep, "t.yaml:1:4: nesting too deep");
}
END_TEST

START_TEST(test_error_count)
{
	/* Three mistakes, three errors, in file order. */
	EXPECT("io_threads: 0\nfoo: bar\nlisten: 1\nsave: maybe\nroot: /r\n",
	    "t.yaml:1:13: 'io_threads' must be from 1 to 256",
	    "t.yaml:2:1: unknown key 'foo'",
	    "t.yaml:4:7: 'save' must be true or false");
	/* Errors of both passes and missing keys, sorted by position. */
	EXPECT("save: 2\nttl: &a 1\n",
	    "t.yaml:1:1: missing required key 'listen'",
	    "t.yaml:1:1: missing required key 'root'",
	    "t.yaml:1:7: 'save' must be true or false",
	    "t.yaml:2:6: anchors and aliases are not allowed");
}
END_TEST

START_TEST(test_too_many_errors)
{
	char *yaml = malloc(200 * 16), *p = yaml;
	int i;

	for (i = 0; i < 200; i++)
		p += sprintf(p, "k%d: 1\n", i);
	ck_assert_int_eq(parse(yaml), -1);
	ck_assert_uint_eq(errs.count, 101);
	/* The first hundred found, then where the rest began. */
	ck_assert_str_eq(errs.msgs[0], "t.yaml:1:1: unknown key 'k0'");
	ck_assert_str_eq(errs.msgs[99], "t.yaml:100:1: unknown key 'k99'");
	ck_assert_str_eq(errs.msgs[100], "t.yaml:101:1: too many errors");
	free(yaml);
}
END_TEST

START_TEST(test_errors_append)
{
	/* Errors are appended to what the caller already holds. */
	ck_assert_int_eq(parse("foo: 1\n"), -1);
	ck_assert_uint_eq(errs.count, 3);
	ck_assert_int_eq(config_parse("x", 1, "u.yaml", "/", &cfg, &errs), -1);
	ck_assert_uint_eq(errs.count, 4);
	ck_assert_str_eq(errs.msgs[3],
	    "u.yaml:1:1: the top level must be a mapping");
	/* Without a file name, messages still have one. */
	ck_assert_int_eq(config_parse("x", 1, NULL, "/", &cfg, &errs), -1);
	ck_assert_str_eq(errs.msgs[4],
	    "(config):1:1: the top level must be a mapping");
	/* Success leaves them alone. */
	ck_assert_int_eq(config_parse("{listen: 1, root: /}", 20, "v.yaml",
	    "/", &cfg, &errs), 0);
	ck_assert_uint_eq(errs.count, 5);
}
END_TEST

/* ---- durations ---- */

START_TEST(test_duration_keys)
{
	parse_ok("listen: 1\nroot: /r\nttl: \"90\"\npeer_timeout: 1ms\n");
	ck_assert_int_eq(cfg.ttl_ms, 90000);
	ck_assert_int_eq(cfg.peer_timeout_ms, 1);
	EXPECT1("ttl: 99999999999999999999d\n", "t.yaml:3:6: 'ttl' must be a "
	    "duration such as 500ms, 10s, 2m, 1h or 1d");
	EXPECT1("ttl: 1.5h\n", "t.yaml:3:6: 'ttl' must be a duration such as "
	    "500ms, 10s, 2m, 1h or 1d");
}
END_TEST

/* ---- paths ---- */

START_TEST(test_relative_paths)
{
	parse_ok("listen: 1\nroot: var/a\npid_file: var/a.pid\n"
	    "error_log: log/err\naccess_log: ./log/access\n");
	ck_assert_str_eq(cfg.root, "/base/var/a");
	ck_assert_str_eq(cfg.state_dir, "/base/var/a/.shoal");
	ck_assert_str_eq(cfg.pid_file, "/base/var/a.pid");
	ck_assert_str_eq(cfg.error_log, "/base/log/err");
	ck_assert_str_eq(cfg.access_log, "/base/./log/access");
	config_free(&cfg);
	ck_assert_int_eq(config_parse("{listen: 1, root: r, state_dir: s}", 34,
	    "t.yaml", "/", &cfg, &errs), 0);
	ck_assert_str_eq(cfg.root, "/r");
	ck_assert_str_eq(cfg.state_dir, "/s");
	config_free(&cfg);
	ck_assert_int_eq(config_parse("{listen: 1, root: r}", 20, "t.yaml",
	    "/home/u/", &cfg, &errs), 0);
	ck_assert_str_eq(cfg.root, "/home/u/r");
	ck_assert_uint_eq(errs.count, 0);
}
END_TEST

START_TEST(test_path_join)
{
	char *s;

	s = config_path_join("/a", "b");
	ck_assert_str_eq(s, "/a/b");
	free(s);
	s = config_path_join("/a/", "b/c");
	ck_assert_str_eq(s, "/a/b/c");
	free(s);
	s = config_path_join("/a", "/abs");
	ck_assert_str_eq(s, "/abs");
	free(s);
	s = config_path_join(NULL, "x");
	ck_assert_str_eq(s, "/x");
	free(s);
	s = config_path_join("/", "/");
	ck_assert_str_eq(s, "/");
	free(s);
}
END_TEST

/* ---- peers ---- */

START_TEST(test_peer_resolution)
{
	/* The global save and ttl come after the peers. */
	parse_ok("listen: 1\nroot: /r\n"
	    "peers:\n"
	    "  - {host: a, port: 1}\n"
	    "  - {host: b, port: 1, save: true}\n"
	    "  - {host: c, port: 1, ttl: 0}\n"
	    "  - {host: a, port: 2, save: false, ttl: 5s}\n"
	    "save: false\n"
	    "ttl: 1h\n");
	ck_assert_uint_eq(cfg.npeers, 4);
	ck_assert(!cfg.peers[0].save);
	ck_assert_int_eq(cfg.peers[0].ttl_ms, 3600000);
	ck_assert(cfg.peers[1].save);
	ck_assert_int_eq(cfg.peers[1].ttl_ms, 3600000);
	ck_assert(!cfg.peers[2].save);
	ck_assert_int_eq(cfg.peers[2].ttl_ms, 0);
	ck_assert(!cfg.peers[3].save);
	ck_assert_int_eq(cfg.peers[3].ttl_ms, 5000);
	ck_assert_str_eq(cfg.peers[3].host, "a");
	ck_assert_uint_eq(cfg.peers[3].port, 2);
	/* Without globals, the defaults. */
	parse_ok("listen: 1\nroot: /r\npeers:\n  - host: \"::1\"\n"
	    "    port: \"65535\"\n");
	ck_assert(cfg.peers[0].save);
	ck_assert_int_eq(cfg.peers[0].ttl_ms, 0);
	ck_assert_str_eq(cfg.peers[0].host, "::1");
	ck_assert_uint_eq(cfg.peers[0].port, 65535);
}
END_TEST

START_TEST(test_peer_errors)
{
	EXPECT1("peers:\n  - host: a\n",
	    "t.yaml:4:5: missing required key 'peers.port'");
	EXPECT1("peers:\n  - {}\n",
	    "t.yaml:4:5: missing required key 'peers.host'",
	    "t.yaml:4:5: missing required key 'peers.port'");
	EXPECT1("peers:\n  - {host: a, port: 1}\n  - {host: A, port: 1}\n",
	    "t.yaml:5:5: duplicate peer 'A:1' (first at 4:5)");
	EXPECT1("peers:\n  - {host: \"::1\", port: 1}\n"
	    "  - {host: \"::1\", port: 1}\n",
	    "t.yaml:5:5: duplicate peer '[::1]:1' (first at 4:5)");
	EXPECT1("peers:\n  - {host: a b, port: 1}\n", "t.yaml:4:12: "
	    "'peers.host' must be 1 to 255 printable ASCII characters "
	    "without spaces");
	EXPECT1("peers:\n  - {host: a, port: 0}\n",
	    "t.yaml:4:21: 'peers.port' must be from 1 to 65535");
	EXPECT1("peers:\n  - {host: a, port: 65536}\n",
	    "t.yaml:4:21: 'peers.port' must be from 1 to 65535");
	EXPECT1("peers:\n  - {host: a, port: 1, save: no}\n",
	    "t.yaml:4:30: 'peers.save' must be true or false");
	EXPECT1("peers:\n  - {host: a, port: 1, ttl: 36501d}\n",
	    "t.yaml:4:29: 'peers.ttl' must be from 0ms to 36500d");
	EXPECT1("peers:\n  - a:1\n",
	    "t.yaml:4:5: each entry of 'peers' must be a mapping");
	EXPECT1("peers:\n  - {host: a, port: 1, host: b}\n",
	    "t.yaml:4:24: duplicate key 'peers.host' (first at 4:6)");
}
END_TEST

START_TEST(test_peer_limit)
{
	size_t cap = 300 * 40, i;
	char *yaml = malloc(cap), *p = yaml;

	p += sprintf(p, "listen: 1\nroot: /r\npeers:\n");
	for (i = 0; i < CONFIG_MAX_PEERS; i++)
		p += sprintf(p, "  - {host: h%zu, port: 80}\n", i);
	parse_ok(yaml);
	ck_assert_uint_eq(cfg.npeers, CONFIG_MAX_PEERS);
	ck_assert_str_eq(cfg.peers[255].host, "h255");
	sprintf(p, "  - {host: x, port: 80}\n  - {host: y, port: 80}\n");
	EXPECT(yaml, "t.yaml:260:5: more than 256 peers");
	free(yaml);
}
END_TEST

/* ---- files ---- */

START_TEST(test_load_missing)
{
	ck_assert_int_eq(config_load("t/unit/no/such.yaml", "/", &cfg, &errs),
	    -1);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0],
	    "t/unit/no/such.yaml: No such file or directory");
	ck_assert(config_is_empty(&cfg));
	config_errors_free(&errs);
	ck_assert_int_eq(config_load("t/unit", "/", &cfg, &errs), -1);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], "t/unit: Is a directory");
}
END_TEST

START_TEST(test_out_of_memory)
{
	static const char *const inputs[] = {
		every_key,
		"listen: \"[::1]:80\"\nroot: r\npeers: [{host: a, port: 1}]\n",
		"listen: 0\nfoo: 1\nsave: x\nttl: &a 1\npeers: [{port: 1}]\n",
		"a: [1\n",
	};
	size_t i;
	long n;
	int rc;

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		for (n = 0;; n++) {
			config_errors_free(&errs);
			alloc_countdown = n;
			rc = config_parse(inputs[i], strlen(inputs[i]), "t.yaml",
			    "/base", &cfg, &errs);
			if (alloc_countdown >= 0)
				break;	/* every allocation succeeded */
			alloc_countdown = -1;
			ck_assert_msg(rc == -1, "input %zu, allocation %ld: "
			    "success despite the failure", i, n);
			ck_assert(config_is_empty(&cfg));
			ck_assert_msg(n < 10000, "no end");
		}
		alloc_countdown = -1;
		/* With nothing failing, the verdict is the usual one. */
		ck_assert_int_eq(rc, i < 2 ? 0 : -1);
		config_free(&cfg);
	}
	/* A failed allocation in a valid file says why. */
	config_errors_free(&errs);
	alloc_countdown = 3;
	ck_assert_int_eq(config_parse(every_key, strlen(every_key), "t.yaml",
	    "/", &cfg, &errs), -1);
	alloc_countdown = -1;
	ck_assert_uint_ge(errs.count, 1);
	ck_assert_str_eq(errs.msgs[errs.count - 1], "t.yaml: out of memory");
}
END_TEST

START_TEST(test_too_large)
{
	char path[] = "/tmp/check_config.XXXXXX", want[128];
	size_t size = 1024 * 1024 + 1;
	char *big = malloc(size);
	int fd = mkstemp(path);

	/* All comment, otherwise valid: the size alone is refused. */
	memset(big, '#', size);
	memcpy(big, "listen: 1\nroot: /r\n", 19);
	ck_assert_int_eq(config_parse(big, size - 1, "t.yaml", "/", &cfg,
	    &errs), 0);
	config_free(&cfg);
	ck_assert_int_eq(config_parse(big, size, "t.yaml", "/", &cfg, &errs),
	    -1);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], "t.yaml: larger than 1MiB");
	config_errors_free(&errs);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, big, size), (ssize_t)size);
	ck_assert_int_eq(write(fd, big, size), (ssize_t)size);
	close(fd);
	ck_assert_int_eq(config_load(path, "/", &cfg, &errs), -1);
	unlink(path);
	snprintf(want, sizeof(want), "%s: larger than 1MiB", path);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], want);
	free(big);
}
END_TEST

START_TEST(test_load_positions)
{
	char path[] = "/tmp/check_config.XXXXXX", want[128];
	static const char yaml[] = "listen: 1\nroot: /r\nworkers: many\n";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, yaml, sizeof(yaml) - 1),
	    (ssize_t)sizeof(yaml) - 1);
	close(fd);
	ck_assert_int_eq(config_load(path, "/", &cfg, &errs), -1);
	unlink(path);
	snprintf(want, sizeof(want),
	    "%s:3:10: 'workers' must be \"auto\" or an integer", path);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], want);
}
END_TEST

static void
load_ok(const char *path)
{
	char cwd[4096];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	config_free(&cfg);
	ck_assert_msg(config_load(path, cwd, &cfg, &errs) == 0, "%s: %s", path,
	    errs.count ? errs.msgs[0] : "?");
	ck_assert_uint_eq(errs.count, 0);
}

START_TEST(test_shipped_example)
{
	load_ok("conf/shoal.yaml");
	ck_assert_ptr_null(cfg.listen_host);
	ck_assert_uint_eq(cfg.listen_port, 8080);
	ck_assert_str_eq(cfg.root, "/var/lib/shoal/files");
	ck_assert_str_eq(cfg.state_dir, "/var/lib/shoal/files/.shoal");
	ck_assert_str_eq(cfg.user, "shoal");
	ck_assert_str_eq(cfg.pid_file, "/run/shoald.pid");
	ck_assert_uint_eq(cfg.npeers, 0);
}
END_TEST

START_TEST(test_demo_configs)
{
	static const char *const names[] = { "a", "b", "c" };
	char path[64], cwd[4096], want[4200];
	size_t i, j;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "conf/demo/%s.yaml", names[i]);
		load_ok(path);
		ck_assert_str_eq(cfg.node, names[i]);
		ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
		ck_assert_uint_eq(cfg.listen_port, 8081 + i);
		snprintf(want, sizeof(want), "%s/var/%s", cwd, names[i]);
		ck_assert_str_eq(cfg.root, want);
		snprintf(want, sizeof(want), "%s/var/%s.pid", cwd, names[i]);
		ck_assert_str_eq(cfg.pid_file, want);
		ck_assert_int_eq(cfg.workers, 2);
		ck_assert_int_eq(cfg.io_threads, 2);
		ck_assert_str_eq(cfg.access_log, "stderr");
		/* The three find each other: a is the seed of b and c. */
		ck_assert_uint_eq(cfg.npeers, 0);
		ck_assert(cfg.cluster.enabled);
		ck_assert_str_eq(cfg.cluster.name, "demo");
		ck_assert_uint_ge(cfg.cluster.key_len, CONFIG_CLUSTER_KEY_MIN);
		ck_assert_int_eq(cfg.cluster.gossip_interval_ms, 200);
		ck_assert_uint_eq(cfg.cluster.nseeds, i == 0 ? 0 : 1);
		for (j = 0; j < cfg.cluster.nseeds; j++) {
			ck_assert_str_eq(cfg.cluster.seeds[j].host,
			    "127.0.0.1");
			ck_assert_uint_eq(cfg.cluster.seeds[j].port, 8081);
		}
	}
}
END_TEST

/* ---- helpers ---- */

START_TEST(test_helpers)
{
	struct config_node k = { .type = NODE_SCALAR };
	char buf[72], raw[100];
	int line, column;

	/* Freeing nothing is fine. */
	config_free(NULL);
	config_errors_free(NULL);

	ck_assert(is_word("a", 1, 1));
	ck_assert(!is_word("ab", 2, 1));
	ck_assert(!is_word("", 0, 5));
	ck_assert(!is_word("a\tb", 3, 5));
	ck_assert(!is_word("a\x7f", 2, 5));
	ck_assert(!is_word("\xc3\xa9", 2, 5));

	k.value = raw;
	memcpy(raw, "a\nb", 4);
	k.len = 3;
	quote_key(buf, sizeof(buf), &k);
	ck_assert_str_eq(buf, "a?b");
	/* Cut at 64 bytes, but not inside a UTF-8 character. */
	memset(raw, 'x', 63);
	memcpy(raw + 63, "\xc3\xa9yz", 5);
	k.len = 66;
	quote_key(buf, sizeof(buf), &k);
	ck_assert_uint_eq(strlen(buf), 66);
	ck_assert_str_eq(buf + 63, "...");

	offset_position("ab\ncd\xc3\xa9" "x", 8, 7, &line, &column);
	ck_assert_int_eq(line, 2);
	ck_assert_int_eq(column, 4);
	offset_position("ab", 2, 99, &line, &column);
	ck_assert_int_eq(line, 1);
	ck_assert_int_eq(column, 3);
}
END_TEST

/* ---- reloads ---- */

/* Parses yaml into *out (the caller frees it). */
static void
parse_into(const char *yaml, struct config *out)
{
	parse_ok(yaml);
	*out = cfg;
	memset(&cfg, 0, sizeof(cfg));
}

START_TEST(test_compare)
{
	static const char *const peer_h1 = "listen: 80\nroot: /r\npeers:\n"
	    "  - host: h\n    port: 1\n";
	static const struct {
		const char *yaml;
		enum config_change want;
	} rows[] = {
		{ "listen: 80\nroot: /r\npeers:\n  - host: h\n    port: 1\n",
		    CONFIG_SAME },
		/* Another peer, another port, another per-peer ttl or save:
		 * the peers only. */
		{ "listen: 80\nroot: /r\npeers:\n  - host: h\n    port: 2\n",
		    CONFIG_PEERS_ONLY },
		{ "listen: 80\nroot: /r\npeers:\n  - host: h\n    port: 1\n"
		    "    ttl: 5s\n", CONFIG_PEERS_ONLY },
		{ "listen: 80\nroot: /r\n", CONFIG_PEERS_ONLY },
		/* Anything else is a change, even beside the same peers; the
		 * global save and ttl too (they are every peer's default). */
		{ "listen: 80\nroot: /r\nworkers: 3\npeers:\n"
		    "  - host: h\n    port: 1\n", CONFIG_CHANGED },
		{ "listen: 80\nroot: /r\nttl: 1m\npeers:\n"
		    "  - host: h\n    port: 1\n", CONFIG_CHANGED },
		{ "listen: 80\nroot: /r\nhttp:\n  max_headers: 50\n"
		    "peers:\n  - host: h\n    port: 1\n", CONFIG_CHANGED },
		{ "listen: 80\nroot: /r\nupload:\n  token: t\n"
		    "peers:\n  - host: h\n    port: 1\n", CONFIG_CHANGED },
	};
	struct config a, b;
	size_t i;

	parse_into(peer_h1, &a);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		parse_into(rows[i].yaml, &b);
		ck_assert_msg(config_compare(&a, &b) == rows[i].want,
		    "row %zu: %d, want %d", i, (int)config_compare(&a, &b),
		    (int)rows[i].want);
		config_free(&b);
	}
	config_free(&a);
}
END_TEST

int
main(void)
{
	check_main_tcase("defaults", NULL, teardown,
	    CHECK_MAIN_TESTS(test_defaults, test_empty_sections,
	    test_default_node_fits));
	check_main_tcase("keys", NULL, teardown,
	    CHECK_MAIN_TESTS(test_every_key, test_listen_forms,
	    test_listen_bad, test_words, test_workers_auto, test_string_keys,
	    test_bools));
	check_main_tcase("errors", NULL, teardown,
	    CHECK_MAIN_TESTS(test_syntax_error, test_reader_errors,
	    test_unknown_and_duplicate, test_long_key_quoted, test_types,
	    test_null_values, test_ranges, test_stripe, test_anchors_tags, test_documents,
	    test_empty_file, test_nesting, test_error_count,
	    test_too_many_errors, test_errors_append));
	check_main_tcase("units", NULL, teardown,
	    CHECK_MAIN_TESTS(test_duration_keys));
	check_main_tcase("paths", NULL, teardown,
	    CHECK_MAIN_TESTS(test_relative_paths, test_path_join));
	check_main_tcase("peers", NULL, teardown,
	    CHECK_MAIN_TESTS(test_peer_resolution, test_peer_errors,
	    test_peer_limit, test_compare));
	check_main_tcase("files", NULL, teardown,
	    CHECK_MAIN_TESTS(test_load_missing, test_out_of_memory,
	    test_too_large, test_load_positions, test_shipped_example,
	    test_demo_configs, test_helpers));
	return check_main_run();
}
