/*
 * log.c - the error log of every shoald process.
 *
 * A line is "2026-11-22T03:21:08.123Z shoald[PID] NODE IDENT LEVEL: text",
 * written with a single write(2) (O_APPEND makes it atomic against the other
 * processes for lines this short). For syslog, the time and pid are left to
 * syslog. State is per process and changed only by its main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define LOG_LINE_MAX 2048

enum log_target { LOG_TO_STDERR, LOG_TO_FILE, LOG_TO_SYSLOG };

static struct {
	enum log_target target;
	int fd;			/* stderr or the file */
	char path[4096];
	enum config_log_level level;
	char node[80];
	char ident[32];
} log_state = { LOG_TO_STDERR, STDERR_FILENO, "", CONFIG_LOG_INFO, "", "" };

static const char *const log_level_names[] = {
	[CONFIG_LOG_ERROR] = "error",
	[CONFIG_LOG_WARN] = "warn",
	[CONFIG_LOG_INFO] = "info",
	[CONFIG_LOG_DEBUG] = "debug",
};

void
log_init(const char *ident)
{
	log_set_ident(ident);
}

void
log_set_ident(const char *ident)
{
	snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident);
}

int
log_open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_open(const char *target, enum config_log_level level, const char *node)
{
	if (strcmp(target, "syslog") == 0) {
		if (log_state.target == LOG_TO_FILE)
			close(log_state.fd);
		openlog("shoald", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_state.target = LOG_TO_SYSLOG;
		log_state.fd = -1;
	} else if (strcmp(target, "stderr") == 0) {
		if (log_state.target == LOG_TO_FILE)
			close(log_state.fd);
		log_state.target = LOG_TO_STDERR;
		log_state.fd = STDERR_FILENO;
	} else {
		int fd = log_open_file(target);

		if (fd == -1)
			return -1;
		if (log_state.target == LOG_TO_FILE)
			close(log_state.fd);
		log_state.target = LOG_TO_FILE;
		log_state.fd = fd;
		snprintf(log_state.path, sizeof(log_state.path), "%s", target);
	}
	log_state.level = level;
	snprintf(log_state.node, sizeof(log_state.node), "%s", node);
	return 0;
}

int
log_reopen_path(const char *path, int fd)
{
	int nfd = log_open_file(path);

	if (nfd == -1)
		return -1;
	if (dup2(nfd, fd) == -1) {
		int saved = errno;

		close(nfd);
		errno = saved;
		return -1;
	}
	close(nfd);
	return 0;
}

int
log_reopen(void)
{
	if (log_state.target != LOG_TO_FILE)
		return 0;
	return log_reopen_path(log_state.path, log_state.fd);
}

int
log_chown(uid_t uid, gid_t gid)
{
	if (log_state.target != LOG_TO_FILE)
		return 0;
	return fchown(log_state.fd, uid, gid);
}

bool
log_debug_enabled(void)
{
	return log_state.level >= CONFIG_LOG_DEBUG;
}

bool
log_due(int64_t *last_ms, int64_t now_ms)
{
	if (*last_ms >= 0 && now_ms - *last_ms < LOG_EVERY_MS)
		return false;
	*last_ms = now_ms;
	return true;
}

static void
log_vwrite(enum config_log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t len = 0;
	int n;

	if (level > log_state.level)
		return;
	if (log_state.target != LOG_TO_SYSLOG) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + len, sizeof(line) - len,
		    ".%03ldZ shoald[%ld] ", ts.tv_nsec / 1000000L,
		    (long)getpid());
		len += (size_t)n;
	}
	n = snprintf(line + len, sizeof(line) - len, "%s%s%s %s: ",
	    log_state.node, log_state.node[0] ? " " : "", log_state.ident,
	    log_level_names[level]);
	if (n > 0)
		len = len + (size_t)n < sizeof(line) ? len + (size_t)n
		    : sizeof(line) - 1;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len = len + (size_t)n < sizeof(line) ? len + (size_t)n
		    : sizeof(line) - 1;
	if (errnum != 0 && len < sizeof(line) - 1) {
		char ebuf[128];

		n = snprintf(line + len, sizeof(line) - len, ": %s",
		    strerror_r(errnum, ebuf, sizeof(ebuf)));
		if (n > 0)
			len = len + (size_t)n < sizeof(line) ? len + (size_t)n
			    : sizeof(line) - 1;
	}
	if (log_state.target == LOG_TO_SYSLOG) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		    LOG_DEBUG };

		syslog(prio[level], "%s", line);
		return;
	}
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* A log that cannot be written has nowhere to complain to. */
	if (write(log_state.fd, line, len) < 0) {
		/* ignored on purpose */
	}
}

#define LOG_DEFINE(fn, level, with_errno)			\
void								\
fn(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_vwrite(level, with_errno ? saved : 0, fmt, ap);	\
	va_end(ap);						\
	errno = saved;						\
}

LOG_DEFINE(log_err, CONFIG_LOG_ERROR, 1)
LOG_DEFINE(log_errx, CONFIG_LOG_ERROR, 0)
LOG_DEFINE(log_warn, CONFIG_LOG_WARN, 1)
LOG_DEFINE(log_warnx, CONFIG_LOG_WARN, 0)
LOG_DEFINE(log_info, CONFIG_LOG_INFO, 0)
LOG_DEFINE(log_debug, CONFIG_LOG_DEBUG, 0)

void
log_fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(CONFIG_LOG_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(CONFIG_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
