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

/*
 * Spare buffers of one size, kept for reuse by the loop thread that gave
 * them back: the next connection to read takes the one given back last,
 * warm in the cache, without an allocation (glibc keeps no per-thread
 * cache of blocks this large, so each malloc and free would go through
 * its bins). The list runs through their first bytes; zero-initialised
 * means empty. The owner passes its buffers' size (and how many to keep).
 */
struct spares {
	size_t n;
	char *head;
};

/* A buffer of `size` bytes: a spare, or a new one. */
char *spares_take(struct spares *sp, size_t size);
/* Keeps b (of cap bytes) for reuse, or frees it when cap is not `size`
 * or `max` are kept. b may be NULL. */
void spares_give(struct spares *sp, char *b, size_t cap, size_t size,
    size_t max);
void spares_free_all(struct spares *sp);

/* calloc/realloc/strdup that abort with a message when memory is out. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

#endif
