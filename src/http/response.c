/*
 * response.c - response heads. The Date header is formatted once per
 * second per process (loop thread only).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/httpdate.h"
#include "http/response.h"

static const struct {
	int status;
	const char *phrase;
} response_phrases[] = {
	{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" },
	{ 204, "No Content" }, { 206, "Partial Content" },
	{ 304, "Not Modified" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
	{ 409, "Conflict" }, { 411, "Length Required" },
	{ 412, "Precondition Failed" }, { 413, "Content Too Large" },
	{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
	{ 416, "Range Not Satisfiable" }, { 417, "Expectation Failed" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
	{ 507, "Insufficient Storage" },
};

const char *
response_reason_phrase(int status)
{
	size_t i;

	for (i = 0; i < sizeof(response_phrases) / sizeof(response_phrases[0]);
	    i++)
		if (response_phrases[i].status == status)
			return response_phrases[i].phrase;
	return "Unknown";
}

static const char *
response_date(void)
{
	static char date[HTTPDATE_LEN + 1];
	static time_t cached = -1;
	time_t now = time(NULL);

	if (now != cached) {
		httpdate_format(now, date);
		cached = now;
	}
	return date;
}

/* Every response's status line, Server and Date: appended, not printed
 * (no format to interpret on every answer). */
void
response_start(struct buf *out, int status)
{
	char code[4];

	if (status < 100 || status > 999)
		status = 500;	/* not a status: never sent as one */
	code[0] = (char)('0' + status / 100);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	code[3] = ' ';
	buf_append(out, "HTTP/1.1 ", 9);
	buf_append(out, code, sizeof(code));
	buf_append_str(out, response_reason_phrase(status));
	buf_append_str(out, "\r\nServer: " RESPONSE_SERVER "\r\nDate: ");
	buf_append_str(out, response_date());
	buf_append(out, "\r\n", 2);
}

void
response_header(struct buf *out, const char *name, const char *value)
{
	buf_append_str(out, name);
	buf_append(out, ": ", 2);
	buf_append_str(out, value);
	buf_append(out, "\r\n", 2);
}

void
response_end(struct buf *out, bool close, bool http10_keepalive)
{
	if (close)
		buf_append_str(out, "Connection: close\r\n");
	else if (http10_keepalive)
		buf_append_str(out, "Connection: keep-alive\r\n");
	buf_append(out, "\r\n", 2);
}

size_t
response_text(struct buf *out, int status, const char *reason,
    const char *extra, bool head, bool close, bool http10_keepalive)
{
	size_t body_len = status == 304 || status == 204 ? 0 : strlen(reason) + 1;
	char len[32];

	response_start(out, status);
	if (status != 304 && status != 204) {
		response_header(out, "Content-Type", "text/plain; charset=utf-8");
		snprintf(len, sizeof(len), "%zu", body_len);
		response_header(out, "Content-Length", len);
	}
	if (extra != NULL)
		buf_append_str(out, extra);
	response_end(out, close, http10_keepalive);
	if (!head && body_len > 0) {
		buf_append_str(out, reason);
		buf_append(out, "\n", 1);
	}
	return body_len;
}
