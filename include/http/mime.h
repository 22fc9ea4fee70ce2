/*
 * mime.h - the Content-Type of a file, chosen by its extension.
 * A static table; any thread.
 */
#ifndef SHOAL_MIME_H
#define SHOAL_MIME_H

#include <stddef.h>

/* The media type for name[0..len): "text/plain; charset=utf-8" for .txt and
 * the like, "application/octet-stream" when the extension is unknown. The
 * match is case-insensitive. Returns a static string. */
const char *mime_type(const char *name, size_t len);

#endif
