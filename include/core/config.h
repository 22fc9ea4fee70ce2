/*
 * config.h - the YAML configuration of shoald (see man/shoal.yaml.5).
 * Durations and sizes are written with units (core/units.h).
 *
 * The parser is pure: it takes a buffer, fills a struct config and collects
 * every error as "FILE:LINE:COLUMN: message". It never exits, never logs and
 * touches no file system state, so the master can refuse a bad file on
 * SIGHUP and keep running, and a fuzzer can drive it. The loader around it
 * reads the file, and the cluster key file it names. Only the master calls
 * them; the workers and the agent receive the parsed struct through fork.
 */
#ifndef SHOAL_CONFIG_H
#define SHOAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/shoal/shoal.yaml"
#define CONFIG_MAX_WORKERS 256
#define CONFIG_MAX_IO_THREADS 256
#define CONFIG_MAX_PEERS 256

enum config_log_level {
	CONFIG_LOG_ERROR,
	CONFIG_LOG_WARN,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG,
};

struct config_peer {
	char *host;		/* as written: a name or an address */
	uint16_t port;
	bool save;		/* resolved: the global save unless overridden */
	int64_t ttl_ms;		/* resolved: the global ttl unless overridden */
};

/* HTTP limits and timeouts; the "http:" section. */
struct config_http {
	size_t max_request_line;	/* longer request line: 414 */
	size_t max_header_line;		/* longer header line: 431 */
	size_t max_headers;		/* more header lines: 431 */
	size_t max_header_size;		/* whole head larger: 431 */
	int64_t header_timeout_ms;	/* head not complete in time: 408 */
	int64_t keepalive_timeout_ms;	/* idle connection closed */
	int64_t send_timeout_ms;	/* no write progress: closed */
	int64_t body_timeout_ms;	/* no body progress: 408 */
	size_t max_connections;		/* per worker; beyond: 503 and close */
};

/* The shared index of saved copies; the "index:" section. */
struct config_index {
	uint64_t capacity;		/* entries; read at start only */
	int64_t negative_ttl_ms;	/* "no peer has it" remembered */
};

/* A "HOST:PORT" of the cluster section (a seed, the advertised address). */
struct config_addr {
	char *host;		/* as written: a name or an address */
	uint16_t port;
};

#define CONFIG_CLUSTER_KEY_MIN 32	/* bytes of the cluster key, at least */
#define CONFIG_CLUSTER_KEY_MAX 1024
#define CONFIG_MAX_SEEDS 64

/*
 * The "cluster:" section: gossip membership (see man/shoal.yaml.5).
 * Absent, `enabled` is false and the node knows only its `peers` (the
 * other fields hold their defaults and mean nothing).
 */
struct config_cluster {
	bool enabled;
	char *name;			/* default "shoal" */
	/* The shared secret: the inline `key:`, or the bytes of key_file
	 * less one final newline. config_parse() does not read key_file:
	 * then key is NULL and key_len 0; config_load() reads it. */
	unsigned char *key;
	size_t key_len;			/* CONFIG_CLUSTER_KEY_MIN..MAX */
	char *key_file;			/* absolute, NULL when `key:` is inline */
	struct config_addr *seeds;
	size_t nseeds;
	struct config_addr advertise;	/* host NULL: the listen address,
					 * then never a wildcard */
	int64_t gossip_interval_ms;	/* default 200 */
	int fanout;			/* default 3 */
	int64_t suspect_after_ms;	/* 0: auto */
	int64_t dead_after_ms;		/* 0: auto */
	bool store;			/* default true */
	uint64_t capacity;		/* 0: auto */
	int replicas;			/* default 2 */
	int64_t max_clock_skew_ms;	/* default 10 s */
	size_t max_members;		/* default 1024 */
	uint64_t max_objects;		/* catalogue versions; default 1Mi */
};

/* When a 201 is sent: once the local copy is durable, or once
 * cluster.replicas copies are. */
enum config_upload_ack {
	UPLOAD_ACK_LOCAL,
	UPLOAD_ACK_REPLICAS
};

struct config_upload {
	bool enabled;
	char *token;		/* NULL: no token required */
	uint64_t max_size;
	int ack;		/* enum config_upload_ack; default local */
};

/* Striped uploads; the "stripe:" section (see stripe/layout.h). */
#define CONFIG_STRIPE_PARTS_MAX 16	/* data and parity parts */
#define CONFIG_STRIPE_PARITY_MAX 4
struct config_stripe {
	uint64_t min_size;		/* bytes; 0: never striped */
	int parts;			/* 2..CONFIG_STRIPE_PARTS_MAX; default 6 */
	int parity;			/* 0..CONFIG_STRIPE_PARITY_MAX, with
					 * parts at most PARTS_MAX; default 0 */
	int rebalance_spread;		/* fill points the stores may differ */
	uint64_t block;			/* 64 KiB..64 MiB; default 1 MiB */
	int64_t pending_timeout_ms;	/* parts never committed: removed */
	uint64_t rebalance_rate;	/* bytes/s of parts moved; 0: off */
	uint64_t heal_rate;		/* bytes/s of parts rebuilt; 0: off */
	uint64_t scrub_rate;		/* bytes/s of parts checked; 0: off */
};

struct config {
	char *listen_host;	/* NULL: every address (IPv6 and IPv4) */
	uint16_t listen_port;
	char *root;		/* absolute */
	char *state_dir;	/* absolute; default ROOT/.shoal */
	char *node;		/* default HOSTNAME:PORT */
	int workers;		/* resolved: "auto" is the number of CPUs */
	int io_threads;
	char *user;		/* NULL: no privilege drop */
	char *pid_file;		/* absolute */
	char *error_log;	/* absolute path, "stderr" or "syslog" */
	enum config_log_level log_level;
	char *access_log;	/* absolute path, "stderr", or NULL for off */
	int64_t shutdown_timeout_ms;

	bool save;
	int64_t ttl_ms;		/* 0: for ever */
	int64_t peer_timeout_ms;
	struct config_peer *peers;
	size_t npeers;

	struct config_upload upload;
	struct config_http http;
	struct config_index index;
	struct config_cluster cluster;
	struct config_stripe stripe;
};

/* Every error of one load, in the order found; each is a full line
 * "FILE:LINE:COLUMN: message" without a newline. */
struct config_errors {
	char **msgs;
	size_t count;
};

/*
 * Parses the YAML in buf[0..len) as the file `filename` (used in messages).
 * Relative paths in the file are made absolute against `base_dir` (the
 * directory shoald was started in). On success returns 0 and fills *out,
 * which the caller frees with config_free(). On error returns -1, leaves
 * *out empty (nothing to free) and appends every error found to *errs,
 * which the caller frees with config_errors_free(). Never exits or logs.
 */
int config_parse(const char *buf, size_t len, const char *filename,
    const char *base_dir, struct config *out, struct config_errors *errs);

/* Reads `path` and hands it to config_parse(). A file that cannot be read is
 * one error, "PATH: strerror". Unlike config_parse() it also reads
 * cluster.key_file into cluster.key; what is wrong with that file (it
 * cannot be read, its key is too short or too long, other users may read
 * it) is reported at the key_file value like any other error. */
int config_load(const char *path, const char *base_dir, struct config *out,
    struct config_errors *errs);

void config_free(struct config *cfg);

/* How configuration b differs from a: a reload that changes nothing but
 * `peers` keeps the workers (they follow the peer table); any other
 * reload, an unchanged file included, starts new ones. */
enum config_change {
	CONFIG_SAME,
	CONFIG_PEERS_ONLY,
	CONFIG_CHANGED,
};
enum config_change config_compare(const struct config *a,
    const struct config *b);
void config_errors_free(struct config_errors *errs);

#endif
