/*
 * mime.c - the Content-Type of a file, chosen by its extension.
 *
 * A small constant table, sorted by extension so that a binary search
 * finds an entry; the unit test checks the order. Text types carry
 * "charset=utf-8" so that browsers do not guess. Anything unknown is
 * application/octet-stream, which makes browsers download rather than
 * render.
 *
 * Read-only data; any thread.
 */
#include <stddef.h>
#include <string.h>

#include "http/mime.h"

#define MIME_DEFAULT	"application/octet-stream"
#define MIME_EXT_MAX	5	/* the longest extension in the table */

struct mime_entry {
	const char *me_ext;	/* lower case, without the dot */
	const char *me_type;
};

static const struct mime_entry mime_table[] = {
	{ "bz2",	"application/x-bzip2" },
	{ "css",	"text/css; charset=utf-8" },
	{ "csv",	"text/csv; charset=utf-8" },
	{ "gif",	"image/gif" },
	{ "gz",		"application/gzip" },
	{ "htm",	"text/html; charset=utf-8" },
	{ "html",	"text/html; charset=utf-8" },
	{ "ico",	"image/vnd.microsoft.icon" },
	{ "iso",	"application/x-iso9660-image" },
	{ "jpeg",	"image/jpeg" },
	{ "jpg",	"image/jpeg" },
	{ "js",		"text/javascript; charset=utf-8" },
	{ "json",	"application/json" },
	{ "log",	"text/plain; charset=utf-8" },
	{ "md",		"text/markdown; charset=utf-8" },
	{ "mjs",	"text/javascript; charset=utf-8" },
	{ "mkv",	"video/x-matroska" },
	{ "mp3",	"audio/mpeg" },
	{ "mp4",	"video/mp4" },
	{ "ogg",	"audio/ogg" },
	{ "pdf",	"application/pdf" },
	{ "png",	"image/png" },
	{ "svg",	"image/svg+xml" },
	{ "tar",	"application/x-tar" },
	{ "text",	"text/plain; charset=utf-8" },
	{ "tgz",	"application/gzip" },
	{ "ttf",	"font/ttf" },
	{ "txt",	"text/plain; charset=utf-8" },
	{ "wasm",	"application/wasm" },
	{ "wav",	"audio/wav" },
	{ "webm",	"video/webm" },
	{ "webp",	"image/webp" },
	{ "woff",	"font/woff" },
	{ "woff2",	"font/woff2" },
	{ "xml",	"application/xml" },
	{ "xz",		"application/x-xz" },
	{ "zip",	"application/zip" },
	{ "zst",	"application/zstd" },
};

#define MIME_COUNT (sizeof(mime_table) / sizeof(mime_table[0]))

const char *
mime_type(const char *name, size_t len)
{
	char ext[MIME_EXT_MAX + 1];
	size_t dot = len, n, i, lo = 0, hi = MIME_COUNT;

	while (dot > 0 && name[dot - 1] != '.')
		dot--;
	if (dot == 0)			/* no dot at all */
		return MIME_DEFAULT;
	n = len - dot;
	if (n == 0 || n > MIME_EXT_MAX)	/* "name." or too long to be known */
		return MIME_DEFAULT;

	/* Fold to lower case by hand: tolower() follows the locale. A NUL
	 * would end the key early in strcmp ("a.js\0x"), so it is refused. */
	for (i = 0; i < n; i++) {
		char c = name[dot + i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '\0')
			return MIME_DEFAULT;
		ext[i] = c;
	}
	ext[n] = '\0';

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(ext, mime_table[mid].me_ext);

		if (cmp == 0)
			return mime_table[mid].me_type;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return MIME_DEFAULT;
}
