/*
 * check_mime.c - unit tests for src/mime.c (Content-Type by extension).
 * Includes the .c file so the table itself can be checked.
 * Runs in Check's fork mode: a crash is a failure, not an abort.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/mime.c"
#include "check_main.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"

static const char *
type_of(const char *name)
{
	return mime_type(name, strlen(name));
}

/* The binary search depends on it. */
START_TEST(table_sorted)
{
	size_t i;

	for (i = 1; i < MIME_COUNT; i++)
		ck_assert_msg(strcmp(mime_table[i - 1].me_ext,
		    mime_table[i].me_ext) < 0, "%s before %s",
		    mime_table[i - 1].me_ext, mime_table[i].me_ext);
	for (i = 0; i < MIME_COUNT; i++) {
		const char *e = mime_table[i].me_ext;

		ck_assert_uint_le(strlen(e), MIME_EXT_MAX);
		ck_assert_msg(strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789")
		    == strlen(e), "%s not lower case", e);
	}
}
END_TEST

/* Every entry is found through mime_type itself: a binary search bug
 * would miss some. */
START_TEST(every_entry_found)
{
	char name[32];
	size_t i;

	for (i = 0; i < MIME_COUNT; i++) {
		strcpy(name, "file.");
		strcat(name, mime_table[i].me_ext);
		ck_assert_str_eq(type_of(name), mime_table[i].me_type);
	}
}
END_TEST

START_TEST(known_types)
{
	static const char *const rows[][2] = {
		{ "a.txt",	TEXT_PLAIN },
		{ "a.text",	TEXT_PLAIN },
		{ "a.log",	TEXT_PLAIN },
		{ "a.md",	"text/markdown; charset=utf-8" },
		{ "a.csv",	"text/csv; charset=utf-8" },
		{ "a.html",	"text/html; charset=utf-8" },
		{ "a.htm",	"text/html; charset=utf-8" },
		{ "a.css",	"text/css; charset=utf-8" },
		{ "a.js",	"text/javascript; charset=utf-8" },
		{ "a.mjs",	"text/javascript; charset=utf-8" },
		{ "a.json",	"application/json" },
		{ "a.xml",	"application/xml" },
		{ "a.svg",	"image/svg+xml" },
		{ "a.png",	"image/png" },
		{ "a.jpg",	"image/jpeg" },
		{ "a.jpeg",	"image/jpeg" },
		{ "a.gif",	"image/gif" },
		{ "a.webp",	"image/webp" },
		{ "a.ico",	"image/vnd.microsoft.icon" },
		{ "a.pdf",	"application/pdf" },
		{ "a.zip",	"application/zip" },
		{ "a.gz",	"application/gzip" },
		{ "a.tgz",	"application/gzip" },
		{ "a.tar",	"application/x-tar" },
		{ "a.bz2",	"application/x-bzip2" },
		{ "a.xz",	"application/x-xz" },
		{ "a.zst",	"application/zstd" },
		{ "a.mp3",	"audio/mpeg" },
		{ "a.ogg",	"audio/ogg" },
		{ "a.wav",	"audio/wav" },
		{ "a.mp4",	"video/mp4" },
		{ "a.webm",	"video/webm" },
		{ "a.mkv",	"video/x-matroska" },
		{ "a.wasm",	"application/wasm" },
		{ "a.woff",	"font/woff" },
		{ "a.woff2",	"font/woff2" },
		{ "a.ttf",	"font/ttf" },
		{ "a.iso",	"application/x-iso9660-image" },
	};
	size_t i;

	ck_assert_uint_eq(sizeof(rows) / sizeof(rows[0]), MIME_COUNT);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ck_assert_str_eq(type_of(rows[i][0]), rows[i][1]);
}
END_TEST

START_TEST(case_insensitive)
{
	ck_assert_str_eq(type_of("README.TXT"), TEXT_PLAIN);
	ck_assert_str_eq(type_of("a.Txt"), TEXT_PLAIN);
	ck_assert_str_eq(type_of("PHOTO.JPEG"), "image/jpeg");
	ck_assert_str_eq(type_of("font.WOFF2"), "font/woff2");
	ck_assert_str_eq(type_of("x.ZsT"), "application/zstd");
}
END_TEST

START_TEST(last_dot_counts)
{
	ck_assert_str_eq(type_of("archive.tar.gz"), "application/gzip");
	ck_assert_str_eq(type_of("notes.txt.pdf"), "application/pdf");
	ck_assert_str_eq(type_of("a.b.c.json"), "application/json");
	ck_assert_str_eq(type_of("page.html.bak"), MIME_DEFAULT);
	ck_assert_str_eq(type_of(".txt"), TEXT_PLAIN);
}
END_TEST

START_TEST(defaults)
{
	static const char *const names[] = {
		"",
		"README",
		"Makefile",
		"file.",
		"file.txt.",
		".",
		"..",
		"a.exe",
		"a.tx",
		"a.txtx",
		"a.t",
		"a.jsonx",		/* longer than any known one */
		"a.woff22",
		"a.abcdefghijklmnop",
		"a. txt",
		"a.txt ",
		"a.b/c",
		"a.-",
		"a.\xc3\xa9",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(strcmp(type_of(names[i]), MIME_DEFAULT) == 0,
		    "\"%s\" is not the default", names[i]);
	ck_assert_str_eq(MIME_DEFAULT, "application/octet-stream");
}
END_TEST

START_TEST(length_bounds)
{
	/* Only len bytes count: "a.txt" of "a.txt.gz", "a.t" of "a.txt". */
	ck_assert_str_eq(mime_type("a.txt.gz", 5), TEXT_PLAIN);
	ck_assert_str_eq(mime_type("a.txt", 3), MIME_DEFAULT);
	ck_assert_str_eq(mime_type("a.txt", 0), MIME_DEFAULT);
	ck_assert_str_eq(mime_type(NULL, 0), MIME_DEFAULT);
	/* An embedded NUL does not end the extension early. */
	ck_assert_str_eq(mime_type("a.js\0x", 6), MIME_DEFAULT);
	ck_assert_str_eq(mime_type("a.j\0", 4), MIME_DEFAULT);
}
END_TEST

int
main(void)
{
	check_main_tcase("type", NULL, NULL, CHECK_MAIN_TESTS(table_sorted,
	    every_entry_found, known_types, case_insensitive, last_dot_counts,
	    defaults, length_bounds));
	return check_main_run();
}
