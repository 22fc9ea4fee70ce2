/*
 * buf.h - a growable byte buffer for response heads and small bodies.
 * Not thread-safe; owned by whoever holds it.
 */
#ifndef SHOAL_BUF_H
#define SHOAL_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

/* All appends grow the buffer as needed and abort the process when memory
 * runs out (there is no sane way to answer without memory). */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes and returns where they go (len unchanged). */
char *buf_reserve(struct buf *b, size_t n);
void buf_reset(struct buf *b);	/* len = 0, memory kept */
void buf_free(struct buf *b);	/* back to empty, memory released */

/* calloc/realloc/strdup that abort with a message when memory is out. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

#endif
