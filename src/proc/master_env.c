/*
 * master_env.c - what the master sets up for its children to inherit: the
 * directories, the user to drop to, the error log, the descriptor limit,
 * the peer table, and the shared index. Master process only,
 * one thread (see master_int.h for the state), at start and on SIGHUP.
 *
 * These are the master's only blocking disk calls, and each runs before
 * the children that need it are forked: at start before any child, on
 * reload before the new generation (mkdir, chown, opening a log file).
 *
 * Workers inherit the master's descriptor limit. A shell's soft limit
 * (often 1024) is below the default http.max_connections, so the master
 * raises its soft limit towards the hard one before it forks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "core/config.h"
#include "core/log.h"
#include "event/loop.h"
#include "peer/peer_table.h"
#include "proc/daemon.h"
#include "proc/master.h"
#include "proc/master_int.h"
#include "store/file.h"
#include "store/fill.h"
#include "store/index.h"
#include "store/metrics.h"
#include "store/sweeper.h"
#include "stripe/stripe.h"

static int
master_make_dir(const char *path, uid_t uid, gid_t gid, bool chown_dir)
{
	if (mkdir(path, 0750) == -1 && errno != EEXIST) {
		log_err("mkdir %s", path);
		return -1;
	}
	if (chown_dir && chown(path, uid, gid) == -1) {
		log_err("chown %s", path);
		return -1;
	}
	return 0;
}

int
master_prepare_dirs(const struct config *cfg, uid_t uid, gid_t gid,
    bool chown_dirs, bool clean)
{
	char tmp[4096];
	struct stat st;
	int fd, n;

	if (stat(cfg->root, &st) == -1) {
		log_err("root %s", cfg->root);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_errx("root %s: not a directory", cfg->root);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/%s", cfg->root, FILE_TMP_DIR);
	if (master_make_dir(cfg->state_dir, uid, gid, chown_dirs) == -1 ||
	    master_make_dir(tmp, uid, gid, chown_dirs) == -1)
		return -1;
	if (!clean)
		return 0;
	fd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	n = fd == -1 ? -1 : file_tmp_clean(fd);
	if (n == -1)
		log_err("cleaning %s", tmp);
	else if (n > 0)
		log_info("removed %d temporary file%s left in %s", n,
		    n == 1 ? "" : "s", tmp);
	if (fd != -1)
		close(fd);
	return 0;
}

/* Resolved here (blocking, as nginx resolves its upstreams when it reads
 * its configuration), so that no worker ever waits for a name server. */
int
master_load_peers(const struct config *cfg)
{
	struct peer_spec *specs = xcalloc(cfg->npeers ? cfg->npeers : 1,
	    sizeof(*specs));
	const char *why;
	size_t i;
	int rc;

	for (i = 0; i < cfg->npeers; i++) {
		const struct config_peer *cp = &cfg->peers[i];

		if (peer_spec_resolve(cp->host, cp->port, &specs[i], &why) == -1)
			log_warnx("peer %s: %s; it will count as refusing",
			    specs[i].ps_name, why);
		specs[i].ps_save = cp->save;
		specs[i].ps_ttl_ms = cp->ttl_ms;
	}
	rc = peer_table_replace(master.tables.ct_peers, PEER_SOURCE_CONFIG, specs,
	    cfg->npeers, loop_clock_ms());
	if (rc == -1)
		log_warn("peers");
	free(specs);
	return rc;
}

/*
 * The cluster's shared tables: made at the first configuration that has a
 * `cluster:` section and kept from then on (a reload gives them the new
 * key and numbers). A configuration without one leaves the new children
 * without a cluster and the peer table without gossip peers.
 */
int
master_load_cluster(const struct config *cfg)
{
	struct cluster *cl = master.tables.ct_cluster;
	const char *why = NULL;

	if (!cfg->cluster.enabled) {
		if (cl != NULL)
			(void)peer_table_replace(master.tables.ct_peers,
			    PEER_SOURCE_GOSSIP, NULL, 0, loop_clock_ms());
		master.tables.ct_cluster = NULL;
		return 0;
	}
	if (cl == NULL)
		cl = master.cluster;	/* made before, then switched off */
	if (cl != NULL) {
		cluster_reconfigure(cl, cfg);
		master.tables.ct_cluster = cl;
		return 0;
	}
	cl = cluster_create(cfg, loop_clock_ms(), loop_wall_ms(), &why);
	if (cl == NULL) {
		log_errx("cluster: %s", why);
		return -1;
	}
	if (master.tables.ct_stripe == NULL &&
	    (master.tables.ct_stripe = stripe_shared_create()) == NULL) {
		log_err("striping's shared counters");
		cluster_destroy(cl);
		return -1;
	}
	master.cluster = master.tables.ct_cluster = cl;
	log_info("cluster %s: this node is %s", cl->cl_name, cfg->node);
	return 0;
}

int
master_resolve_user(const struct config *cfg, uid_t *uid, gid_t *gid,
    bool *have)
{
	*have = false;
	if (cfg->user == NULL || geteuid() != 0)
		return 0;
	if (daemon_user_lookup(cfg->user, uid, gid) == -1) {
		log_err("user %s", cfg->user);
		return -1;
	}
	*have = true;
	return 0;
}

const char *
master_error_log_target(const struct config *cfg)
{
	/* A detached daemon has no stderr: send "stderr" to syslog. */
	if (!master.opt->foreground && strcmp(cfg->error_log, "stderr") == 0)
		return "syslog";
	return cfg->error_log;
}

int
master_open_log(const struct config *cfg)
{
	const char *target = master_error_log_target(cfg);

	if (log_open(target, cfg->log_level, cfg->node) == -1) {
		log_err("error_log %s", target);
		return -1;
	}
	if (master.have_user && log_chown(master.uid, master.gid) == -1)
		log_warn("chown error_log %s", target);
	return 0;
}

/* Descriptors a worker may need: a socket per connection, and as many
 * again for files, peers and temporary files, plus its own few. */
static rlim_t
master_nofile_wanted(const struct config *cfg)
{
	return (rlim_t)cfg->http.max_connections * 2 + 256;
}

void
master_raise_nofile(const struct config *cfg)
{
	static rlim_t warned_at;
	struct rlimit rl;
	rlim_t want = master_nofile_wanted(cfg);

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)rl.rlim_cur);
			rl.rlim_cur = old;
		} else {
			log_debug("descriptor limit raised from %llu to %llu",
			    (unsigned long long)old,
			    (unsigned long long)rl.rlim_cur);
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)cfg->http.max_connections + 64 &&
	    warned_at != rl.rlim_cur) {
		warned_at = rl.rlim_cur;
		log_warnx("the descriptor limit (%llu) is below "
		    "http.max_connections (%zu): a worker will stop accepting "
		    "before it; raise the hard limit (LimitNOFILE=, ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur, cfg->http.max_connections);
	}
}

int
master_open_index(const struct config *cfg)
{
	struct index_open_report report;
	char path[4096];
	static const char *const how[] = {
		[INDEX_OPEN_KEPT] = "opened",
		[INDEX_OPEN_CREATED] = "created",
		[INDEX_OPEN_RESIZED] = "resized",
		[INDEX_OPEN_REBUILT_LAYOUT] = "rebuilt (another layout)",
		[INDEX_OPEN_REBUILT_CORRUPT] = "rebuilt (it was damaged)",
	};

	snprintf(path, sizeof(path), "%s/index", cfg->state_dir);
	master.tables.ct_index = index_open(path, cfg->index.capacity, loop_wall_ms(),
	    &report);
	if (master.tables.ct_index == NULL) {
		if (errno == EWOULDBLOCK)
			log_errx("index %s: in use by another shoald", path);
		else
			log_err("index %s", path);
		return -1;
	}
	metrics_set_index(master.tables.ct_index);
	if ((master.tables.ct_fills = fill_table_create()) == NULL) {
		log_err("mapping the table of fills");
		return -1;
	}
	log_info("index %s %s: %llu entries of %llu", path, how[report.r_how],
	    (unsigned long long)report.r_kept,
	    (unsigned long long)index_capacity(master.tables.ct_index));
	/* Their records are gone: nobody else would ever remove them. The
	 * records of copies that are gone are the first agent's to drop. */
	sweeper_remove_lost(cfg, &report);
	free(report.r_lost);
	return 0;
}
