/*
 * buf.c - growable byte buffers and allocation that cannot fail quietly.
 * Runs in any process; a buffer is owned by one thread at a time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"

static void
out_of_memory(void)
{
	static const char msg[] = "shoald: out of memory\n";

	/* Nothing else is safe to call here: no allocation, no stdio. */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	abort();
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		out_of_memory();
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		out_of_memory();
	return p;
}

char *
buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap - b->len < n)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(buf_reserve(b, n), p, n);
	b->len += n;
}

void
buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* Formatted once when it fits the room left (the common case: a
	 * response head into a reused buffer), twice otherwise. */
	va_start(ap, fmt);
	n = vsnprintf(b->cap > 0 ? b->data + b->len : NULL, b->cap - b->len,
	    fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
spares_take(struct spares *sp, size_t size)
{
	char *b = sp->head;

	if (b == NULL)
		return xrealloc(NULL, size);
	memcpy(&sp->head, b, sizeof(sp->head));
	sp->n--;
	return b;
}

void
spares_give(struct spares *sp, char *b, size_t cap, size_t size,
    size_t max)
{
	if (b == NULL)
		return;
	if (cap != size || sp->n >= max) {
		free(b);
		return;
	}
	memcpy(b, &sp->head, sizeof(sp->head));
	sp->head = b;
	sp->n++;
}

void
spares_free_all(struct spares *sp)
{
	while (sp->head != NULL)
		free(spares_take(sp, 0));
}
