/*
 * log.h - the error log: stderr, a file, or syslog, with levels.
 *
 * Every process (the master, the workers, the agent) has its own log
 * state, set up by log_open() and inherited through fork; each sets its
 * ident (log_set_ident: "master", "worker N", "agent"). Each message is
 * written with one write(2) so lines from several processes do not
 * interleave. Pool threads may log too: the state is only changed by the
 * loop thread, between jobs that could read it (log_open/log_reopen happen
 * before threads start or while they are idle on the configuration they
 * were given).
 */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"

/* Logs to stderr at level info until log_open() is called. `ident` names
 * the process in each line ("master", "worker 3"). */
void log_init(const char *ident);
void log_set_ident(const char *ident);

/* Directs the log to `target` ("stderr", "syslog" or a path, opened with
 * O_APPEND|O_CREAT, mode 0640) at `level`, tagging lines with `node`.
 * Returns 0, or -1 with errno set when the file cannot be opened (the old
 * target stays). */
int log_open(const char *target, enum config_log_level level, const char *node);

/* Reopens a log file by its path (after rotation). Returns 0 or -1. */
int log_reopen(void);

/* Opens `path` for appending, created 0640 (also for the access log).
 * Returns the descriptor or -1 with errno. */
int log_open_file(const char *path);

/* Opens `path` for appending (created 0640) onto the descriptor number fd
 * with dup2, so that a write in flight from another thread goes to the old
 * file or the new one, never to a closed or reused descriptor. Returns 0 or
 * -1 with errno. Shared with the access log. */
int log_reopen_path(const char *path, int fd);

/* When the log is a file created by root for workers that drop to another
 * user, the master hands it over with this. */
int log_chown(uid_t uid, gid_t gid);

/* The _x variants do not append strerror(errno). */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool log_debug_enabled(void);

/* For a message that a passing state could repeat in a storm: true at the
 * first call, then at most once per LOG_EVERY_MS; *last_ms (start at -1)
 * remembers when, now_ms is the caller's clock. */
#define LOG_EVERY_MS 60000
bool log_due(int64_t *last_ms, int64_t now_ms);

/* Logs at level error and exits with status 1. */
void log_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void log_fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
