/*
 * list.h - one intrusive doubly linked list for every list of the program,
 * and container_of() to get from an embedded member back to its struct.
 *
 * A list is a circular chain through a head: an empty list is a head that
 * points at itself. Elements embed a `struct list` and are linked into at
 * most one list through it at a time. list_remove() re-initialises the
 * element, so removing twice, or removing one never inserted but
 * list_init()ed, is harmless.
 *
 * No locking: a list belongs to whoever owns its head (a worker's loop
 * thread, mostly).
 */
#ifndef SHOAL_CORE_LIST_H
#define SHOAL_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

/* The struct of `type` whose member `member` is at pointer p. */
#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

struct list {
	struct list *prev, *next;
};

#define LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void
list_init(struct list *l)
{
	l->prev = l->next = l;
}

static inline bool
list_empty(const struct list *head)
{
	return head->next == head;
}

/* Whether element e is in some list (after list_init or list_remove it
 * is not). */
static inline bool
list_linked(const struct list *e)
{
	return e->next != NULL && e->next != e;
}

static inline void
list_insert_after(struct list *at, struct list *e)
{
	e->prev = at;
	e->next = at->next;
	at->next->prev = e;
	at->next = e;
}

static inline void
list_insert_head(struct list *head, struct list *e)
{
	list_insert_after(head, e);
}

static inline void
list_insert_tail(struct list *head, struct list *e)
{
	list_insert_after(head->prev, e);
}

static inline void
list_remove(struct list *e)
{
	if (e->next == NULL)
		return;		/* never initialised: in no list */
	e->prev->next = e->next;
	e->next->prev = e->prev;
	list_init(e);
}

/* The first element's link, or NULL when the list is empty. */
static inline struct list *
list_first(const struct list *head)
{
	return head->next == head ? NULL : head->next;
}

/* Walks the list; the body may remove (and free) the current element,
 * since the next one is read before it runs. */
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	    (pos) = (tmp), (tmp) = (pos)->next)

#define list_for_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

#endif
