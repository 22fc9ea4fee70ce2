/*
 * check_accesslog.c - unit tests for src/accesslog.c: lines are buffered
 * by the loop, written by a real I/O pool job on flush, escaped, and
 * follow a rotation on reopen.
 * Includes the .c file; links iopool.c, loop.c, buf.c and log.c.
 * Runs in Check's fork mode: the module's state is fresh in every test.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/accesslog.c"
#include "check_main.h"
#include "loop_fixture.h"
#include "pool_gate.h"
#include "tmp_dir.h"

/* Each test's log is a file of its own in tmp_dir. */
static char logpath[128];
static struct iopool *pool;

/* Per test: a fresh log path, a loop and a pool of one thread. */
static void
setup(void)
{
	static int n;

	snprintf(logpath, sizeof(logpath), "%s/access.%d.%d.log", tmp_dir,
	    (int)getpid(), n++);
	loop_fixture_setup();
	pool = iopool_create(loop, 1, 64);
	ck_assert_ptr_nonnull(pool);
}

static void
teardown(void)
{
	iopool_destroy(pool);
	loop_fixture_teardown();
}

/* Flushes and runs the loop until the pool has delivered the write. */
static void
flush_and_wait(void)
{
	accesslog_flush(pool);
	RUN_UNTIL(iopool_pending(pool) == 0, 3000);
	ck_assert_uint_eq(iopool_pending(pool), 0);
}

/* The whole file, NUL-terminated (caller frees). */
static char *
slurp(const char *path)
{
	struct buf b = { 0 };
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	buf_append(&b, "", 1);
	return b.data;
}

static struct http_str
str(const char *s)
{
	struct http_str h = { s, s != NULL ? strlen(s) : 0 };

	return h;
}

static void
make_req(struct http_message *m, const char *method, const char *target,
    int minor, const char *referer, const char *ua)
{
	memset(m, 0, sizeof(*m));
	m->method = HTTP_METHOD_GET;
	m->method_name = str(method);
	m->target = str(target);
	m->version_minor = minor;
	m->referer = str(referer);
	m->user_agent = str(ua);
}

/*
 * Checks one line: "ADDR - - [TIME] REST" where TIME is within
 * [before, after] and REST is exactly `rest` (newline included).
 */
static void
assert_line(const char *line, const char *addr, time_t before, time_t after,
    const char *rest)
{
	char prefix[128];
	const char *t, *close_br, *end;
	struct tm tm;
	time_t when;

	snprintf(prefix, sizeof(prefix), "%s - - [", addr);
	ck_assert_msg(strncmp(line, prefix, strlen(prefix)) == 0,
	    "line \"%s\" does not start with \"%s\"", line, prefix);
	t = line + strlen(prefix);
	memset(&tm, 0, sizeof(tm));
	end = strptime(t, "%d/%b/%Y:%H:%M:%S +0000", &tm);
	ck_assert_msg(end != NULL, "bad time in \"%s\"", line);
	close_br = strchr(t, ']');
	ck_assert_ptr_eq(end, close_br);
	when = timegm(&tm);
	ck_assert_int_ge(when, before);
	ck_assert_int_le(when, after);
	ck_assert_msg(strncmp(close_br + 1, " ", 1) == 0 &&
	    strncmp(close_br + 2, rest, strlen(rest)) == 0,
	    "got \"%s\", want \"... %s\"", close_br + 1, rest);
}

/* Flushes; the log must then be exactly one line, as assert_line() says. */
static void
assert_log_line(const char *addr, time_t before, time_t after,
    const char *rest)
{
	char *text;

	flush_and_wait();
	text = slurp(logpath);
	assert_line(text, addr, before, after, rest);
	ck_assert_ptr_eq(strchr(text, '\n'), text + strlen(text) - 1);
	free(text);
}

START_TEST(off_writes_nothing)
{
	struct http_message m;

	ck_assert_int_eq(accesslog_open(NULL), 0);
	ck_assert(!accesslog_enabled());
	make_req(&m, "GET", "/f", 1, NULL, NULL);
	accesslog_request("127.0.0.1", &m, 200, 1, 0);
	accesslog_flush(pool);
	ck_assert_uint_eq(iopool_pending(pool), 0);
	ck_assert_int_eq(accesslog_reopen(), 0);
	accesslog_close();
}
END_TEST

START_TEST(line_written_on_flush)
{
	struct http_message m;
	time_t before, after;
	char *text;

	ck_assert_int_eq(accesslog_open(logpath), 0);
	ck_assert(accesslog_enabled());
	make_req(&m, "GET", "/f?x=1", 1, "http://ref/", "curl/8.0");
	before = time(NULL);
	accesslog_request("127.0.0.1", &m, 200, 1234, 1500);
	after = time(NULL);

	/* The loop never writes: nothing on disk before the flush. */
	text = slurp(logpath);
	ck_assert_str_eq(text, "");
	free(text);

	assert_log_line("127.0.0.1", before, after,
	    "\"GET /f?x=1 HTTP/1.1\" 200 1234 \"http://ref/\" \"curl/8.0\" "
	    "1.500\n");
	accesslog_close();
	ck_assert(!accesslog_enabled());
}
END_TEST

START_TEST(fields_escaped)
{
	struct http_message m;
	time_t before, after;

	ck_assert_int_eq(accesslog_open(logpath), 0);
	make_req(&m, "GET", "/\"x", 0, "a\"ref",
	    "a\"b\\c\x01\n\xc3\xa9\x7f end");
	before = time(NULL);
	accesslog_request("::1", &m, 404, 0, 2);
	after = time(NULL);
	/* One line whatever the header held. */
	assert_log_line("::1", before, after,
	    "\"GET /\\x22x HTTP/1.0\" 404 0 \"a\\x22ref\" "
	    "\"a\\x22b\\x5cc\\x01\\x0a\\xc3\\xa9\\x7f end\" 0.002\n");
	accesslog_close();
}
END_TEST

/* A request that failed to parse (zeroed message) still gets a line. */
START_TEST(unparsed_request_logs_dashes)
{
	struct http_message m;
	time_t before, after;

	ck_assert_int_eq(accesslog_open(logpath), 0);
	memset(&m, 0, sizeof(m));
	before = time(NULL);
	accesslog_request("10.0.0.1", &m, 400, 57, 0);
	after = time(NULL);
	assert_log_line("10.0.0.1", before, after,
	    "\"-\" 400 57 \"-\" \"-\" 0.000\n");
	accesslog_close();
}
END_TEST

START_TEST(duration_format)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
		{ 0, " 0.000\n" },
		{ 1, " 0.001\n" },
		{ 999, " 0.999\n" },
		{ 1000, " 1.000\n" },
		{ 12345, " 12.345\n" },
	};
	struct http_message m;
	char *text, *line, *p;
	size_t i;

	ck_assert_int_eq(accesslog_open(logpath), 0);
	make_req(&m, "HEAD", "/f", 1, NULL, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		accesslog_request("127.0.0.1", &m, 200, 0, cases[i].ms);
	flush_and_wait();
	text = slurp(logpath);
	p = text;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		line = p;
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
		ck_assert_msg(strncmp(p - strlen(cases[i].s), cases[i].s,
		    strlen(cases[i].s)) == 0, "%lld ms: \"%.*s\"",
		    (long long)cases[i].ms, (int)(p - line), line);
	}
	ck_assert_str_eq(p, "");
	free(text);
	accesslog_close();
}
END_TEST

/* At most one write job at a time; lines logged meanwhile wait for the
 * next flush, and order is kept. */
START_TEST(one_job_at_a_time)
{
	struct http_message a, b;
	char *text;

	ck_assert_int_eq(accesslog_open(logpath), 0);
	make_req(&a, "GET", "/first", 1, NULL, NULL);
	make_req(&b, "GET", "/second", 1, NULL, NULL);
	accesslog_request("127.0.0.1", &a, 200, 1, 0);
	accesslog_flush(pool);
	ck_assert_uint_eq(iopool_pending(pool), 1);
	accesslog_request("127.0.0.1", &b, 200, 2, 0);
	accesslog_flush(pool);			/* busy: waits */
	ck_assert_uint_eq(iopool_pending(pool), 1);
	flush_and_wait();			/* only delivers the first */
	text = slurp(logpath);
	ck_assert_ptr_nonnull(strstr(text, "/first"));
	ck_assert_ptr_null(strstr(text, "/second"));
	free(text);
	flush_and_wait();
	text = slurp(logpath);
	ck_assert_ptr_nonnull(strstr(text, "/second"));
	ck_assert(strstr(text, "/first") < strstr(text, "/second"));
	free(text);
	accesslog_close();
}
END_TEST

START_TEST(reopen_after_rename)
{
	struct http_message a, b;
	char rotated[160], *text;

	ck_assert_int_eq(accesslog_open(logpath), 0);
	make_req(&a, "GET", "/before", 1, NULL, NULL);
	make_req(&b, "GET", "/after", 1, NULL, NULL);
	accesslog_request("127.0.0.1", &a, 200, 1, 0);
	flush_and_wait();
	snprintf(rotated, sizeof(rotated), "%s.1", logpath);
	ck_assert_int_eq(rename(logpath, rotated), 0);
	ck_assert_int_eq(accesslog_reopen(), 0);
	accesslog_request("127.0.0.1", &b, 200, 2, 0);
	flush_and_wait();

	text = slurp(rotated);
	ck_assert_ptr_nonnull(strstr(text, "/before"));
	ck_assert_ptr_null(strstr(text, "/after"));
	free(text);
	text = slurp(logpath);
	ck_assert_ptr_null(strstr(text, "/before"));
	ck_assert_ptr_nonnull(strstr(text, "/after"));
	free(text);
	accesslog_close();
}
END_TEST

/* At exit, what was never flushed is written synchronously. */
START_TEST(close_writes_pending)
{
	struct http_message m;
	char *text;

	ck_assert_int_eq(accesslog_open(logpath), 0);
	make_req(&m, "PUT", "/up", 1, NULL, "ua");
	accesslog_request("127.0.0.1", &m, 201, 10, 0);
	accesslog_close();
	text = slurp(logpath);
	ck_assert_ptr_nonnull(strstr(text, "\"PUT /up HTTP/1.1\" 201 10 \"-\" "
	    "\"ua\" 0.000\n"));
	free(text);
	ck_assert_uint_eq(iopool_pending(pool), 0);
}
END_TEST

START_TEST(to_stderr)
{
	struct http_message m;
	char *text;
	int fd;

	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	ck_assert_int_eq(accesslog_open("stderr"), 0);
	ck_assert(accesslog_enabled());
	make_req(&m, "GET", "/e", 1, NULL, NULL);
	accesslog_request("127.0.0.1", &m, 200, 3, 0);
	flush_and_wait();
	ck_assert_int_eq(accesslog_reopen(), 0);	/* nothing to reopen */
	text = slurp(logpath);
	ck_assert_ptr_nonnull(strstr(text, "\"GET /e HTTP/1.1\" 200 3"));
	free(text);
	accesslog_close();
	/* stderr itself stays open. */
	ck_assert_int_ne(fcntl(STDERR_FILENO, F_GETFD), -1);
}
END_TEST

START_TEST(open_fails_cleanly)
{
	char path[160];

	tmp_dir_join(path, sizeof(path), tmp_dir, "missing/dir/access.log");
	errno = 0;
	ck_assert_int_eq(accesslog_open(path), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert(!accesslog_enabled());
}
END_TEST

/*
 * While the disk is slow (the pool thread is held), pending lines are
 * bounded: the excess is dropped, counted, and reported once the write
 * completes. Afterwards logging works again.
 */
static void
work_gated(struct iopool_job *job)
{
	(void)job;
	pool_gate_pass();
}

static void
done_nothing(struct iopool_job *job)
{
	(void)job;
}

START_TEST(pending_is_bounded_while_disk_is_slow)
{
	enum { LINES = 3000 };
	static char ua[2000];
	struct iopool_job blocker = { work_gated, done_nothing, NULL };
	struct http_message m;
	char errpath[160], *text, *p;
	unsigned long long dropped = 0;
	int i, fd, written = 0;

	snprintf(errpath, sizeof(errpath), "%s.err", logpath);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	pool_gate_init();

	ck_assert_int_eq(accesslog_open(logpath), 0);
	memset(ua, 'u', sizeof(ua) - 1);
	make_req(&m, "GET", "/f", 1, NULL, ua);

	iopool_submit(pool, &blocker);		/* the slow disk */
	pool_gate_wait();
	accesslog_request("127.0.0.1", &m, 200, 0, 0);
	accesslog_flush(pool);		/* queued behind the blocker */
	for (i = 1; i < LINES; i++)		/* ~6 MB of lines */
		accesslog_request("127.0.0.1", &m, 200, 0, 0);
	ck_assert_uint_le(accesslog.pending.len,
	    ACCESSLOG_MAX_PENDING + sizeof(ua) + 200);
	pool_gate_open();
	flush_and_wait();	/* the first job, and the warning */
	flush_and_wait();	/* what was kept */

	text = slurp(logpath);
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		written++;
	free(text);
	text = slurp(errpath);
	p = strstr(text, "access log: ");
	ck_assert_msg(p != NULL, "no warning in \"%s\"", text);
	ck_assert_int_eq(sscanf(p, "access log: %llu lines dropped", &dropped),
	    1);
	free(text);
	ck_assert_int_gt(dropped, 0);
	ck_assert_int_eq(written + (int)dropped, LINES);

	/* And lines are taken again. */
	make_req(&m, "GET", "/later", 1, NULL, NULL);
	accesslog_request("127.0.0.1", &m, 200, 0, 0);
	flush_and_wait();
	text = slurp(logpath);
	ck_assert_ptr_nonnull(strstr(text, "/later"));
	free(text);
	accesslog_close();
	pool_gate_destroy();
}
END_TEST

int
main(void)
{
	TCase *tc = check_main_tcase("accesslog", setup, teardown,
	    CHECK_MAIN_TESTS(off_writes_nothing, line_written_on_flush,
	    fields_escaped, unparsed_request_logs_dashes, duration_format,
	    one_job_at_a_time, reopen_after_rename, close_writes_pending,
	    to_stderr, open_fails_cleanly,
	    pending_is_bounded_while_disk_is_slow));

	tmp_dir_add(tc);
	return check_main_run();
}
