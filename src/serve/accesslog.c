/*
 * accesslog.c - buffered access log of a worker.
 *
 * Two buffers: the loop appends to `pending`; a flush swaps it with the
 * empty `writing` buffer and a pool job writes `writing` out. `job_busy`
 * says the job owns `writing`; only the loop thread reads or sets it. If
 * the pending buffer grows past a bound while a slow disk holds the job,
 * further lines are dropped and counted, rather than letting memory grow
 * without limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "event/iopool.h"
#include "serve/accesslog.h"

#define ACCESSLOG_MAX_PENDING (4 << 20)

static struct {
	int fd;			/* -1: off */
	bool is_file;
	char path[4096];
	struct buf pending, writing;
	struct iopool_job job;
	bool job_busy;
	uint64_t dropped;
} accesslog = { .fd = -1 };

int
accesslog_open(const char *target)
{
	if (target == NULL) {
		accesslog.fd = -1;
		return 0;
	}
	if (strcmp(target, "stderr") == 0) {
		accesslog.fd = STDERR_FILENO;
		accesslog.is_file = false;
		return 0;
	}
	accesslog.fd = log_open_file(target);
	if (accesslog.fd == -1)
		return -1;
	accesslog.is_file = true;
	snprintf(accesslog.path, sizeof(accesslog.path), "%s", target);
	return 0;
}

bool
accesslog_enabled(void)
{
	return accesslog.fd != -1;
}

int
accesslog_reopen(void)
{
	if (!accesslog.is_file)
		return 0;
	return log_reopen_path(accesslog.path, accesslog.fd);
}

/* Appends s[0..len) inside quotes-safe escaping: no quote, backslash,
 * control or non-ASCII byte reaches the log raw. */
static void
accesslog_escaped(struct buf *b, const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len == 0) {
		buf_append(b, "-", 1);
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f)
			buf_printf(b, "\\x%02x", ch);
		else
			buf_append(b, &s[i], 1);
	}
}

void
accesslog_request(const char *addr, const struct http_message *req,
    int status, uint64_t bytes, int64_t ms)
{
	struct buf *b = &accesslog.pending;
	char when[40];
	struct tm tm;
	time_t now;

	if (accesslog.fd == -1)
		return;
	if (b->len > ACCESSLOG_MAX_PENDING) {
		accesslog.dropped++;
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	buf_printf(b, "%s - - [%s] \"", addr, when);
	if (req->method_name.p != NULL) {
		accesslog_escaped(b, req->method_name.p, req->method_name.len);
		buf_append(b, " ", 1);
		accesslog_escaped(b, req->target.p, req->target.len);
		buf_printf(b, " HTTP/1.%d", req->version_minor);
	} else {
		buf_append(b, "-", 1);
	}
	buf_printf(b, "\" %d %llu \"", status, (unsigned long long)bytes);
	accesslog_escaped(b, req->referer.p, req->referer.len);
	buf_append(b, "\" \"", 3);
	accesslog_escaped(b, req->user_agent.p, req->user_agent.len);
	buf_printf(b, "\" %lld.%03lld\n", (long long)(ms / 1000),
	    (long long)(ms % 1000));
}

static void
accesslog_write_all(const struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = write(accesslog.fd, b->data + off, b->len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		break;	/* a full disk loses log lines, not requests */
	}
}

static void
accesslog_work(struct iopool_job *job)
{
	(void)job;
	accesslog_write_all(&accesslog.writing);
}

static void
accesslog_done(struct iopool_job *job)
{
	(void)job;
	buf_reset(&accesslog.writing);
	accesslog.job_busy = false;
	if (accesslog.dropped > 0) {
		log_warnx("access log: %llu lines dropped while the disk was "
		    "slow", (unsigned long long)accesslog.dropped);
		accesslog.dropped = 0;
	}
}

void
accesslog_flush(struct iopool *pool)
{
	struct buf tmp;

	if (accesslog.job_busy || accesslog.pending.len == 0)
		return;
	tmp = accesslog.writing;
	accesslog.writing = accesslog.pending;
	accesslog.pending = tmp;
	accesslog.job.work = accesslog_work;
	accesslog.job.done = accesslog_done;
	accesslog.job_busy = true;
	iopool_submit(pool, &accesslog.job);
}

void
accesslog_close(void)
{
	if (accesslog.fd == -1)
		return;
	if (!accesslog.job_busy)
		accesslog_write_all(&accesslog.writing);
	accesslog_write_all(&accesslog.pending);
	buf_free(&accesslog.pending);
	buf_free(&accesslog.writing);
	if (accesslog.is_file)
		close(accesslog.fd);
	accesslog.fd = -1;
}
