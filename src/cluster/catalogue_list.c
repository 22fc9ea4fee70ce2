/*
 * catalogue_list.c - a page of the catalogue's names, a slice at a time
 * (see catalogue_list.h).
 *
 * The names kept are copies (the table's slots may be reused once the
 * lock is let go), in a max-heap by name of `max` + 1 entries: the
 * largest kept is dropped when a smaller one comes, so a page costs
 * O(V log max) name comparisons over V versions, and max + 1 tells
 * whether names follow.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/catalogue_list.h"
#include "store/name.h"

struct cat_list_name {
	size_t len;
	char name[NAME_MAX_LEN + 1];
};

struct cat_list {
	char prefix[NAME_MAX_LEN + 1];
	size_t plen;
	char after[NAME_MAX_LEN + 1];
	size_t alen;
	bool has_after;
	bool conflicts;
	uint32_t cursor;
	struct cat_list_name *names;	/* cap of them */
	size_t *heap;			/* indices into names, n of them */
	size_t n, cap;
};

static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen;
}

static int
kept_cmp(const struct cat_list *l, size_t a, size_t b)
{
	return name_cmp(l->names[a].name, l->names[a].len, l->names[b].name,
	    l->names[b].len);
}

static void
swap(size_t *a, size_t *b)
{
	size_t t = *a;

	*a = *b;
	*b = t;
}

static void
sift_down(struct cat_list *l, size_t n, size_t i)
{
	size_t big, c;

	for (;;) {
		big = i;
		for (c = 2 * i + 1; c <= 2 * i + 2 && c < n; c++)
			if (kept_cmp(l, l->heap[c], l->heap[big]) > 0)
				big = c;
		if (big == i)
			return;
		swap(&l->heap[i], &l->heap[big]);
		i = big;
	}
}

static void
sift_up(struct cat_list *l, size_t i)
{
	while (i > 0 && kept_cmp(l, l->heap[(i - 1) / 2], l->heap[i]) < 0) {
		swap(&l->heap[i], &l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

struct cat_list *
catalogue_list_new(const char *prefix, size_t plen, const char *after,
    size_t alen, bool conflicts, size_t max)
{
	struct cat_list *l;

	if (max == 0 || plen > NAME_MAX_LEN || alen > NAME_MAX_LEN ||
	    (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if (plen > 0)
		memcpy(l->prefix, prefix, plen);
	l->plen = plen;
	if (after != NULL) {
		if (alen > 0)
			memcpy(l->after, after, alen);
		l->alen = alen;
		l->has_after = true;
	}
	l->conflicts = conflicts;
	l->cap = max + 1;
	l->names = malloc(l->cap * sizeof(*l->names));
	l->heap = malloc(l->cap * sizeof(*l->heap));
	if (l->names == NULL || l->heap == NULL) {
		catalogue_list_free(l);
		return NULL;
	}
	return l;
}

static void
list_visit(void *arg, const struct cat_version_view *v)
{
	struct cat_list *l = arg;
	size_t slot;

	if (!v->vv_winner || (l->conflicts && v->vv_nversions < 2) ||
	    v->vv_name_len < l->plen ||
	    memcmp(v->vv_name, l->prefix, l->plen) != 0 ||
	    (l->has_after && name_cmp(v->vv_name, v->vv_name_len, l->after,
	    l->alen) <= 0))
		return;
	if (l->n == l->cap) {
		slot = l->heap[0];
		if (name_cmp(v->vv_name, v->vv_name_len, l->names[slot].name,
		    l->names[slot].len) >= 0)
			return;
	} else
		slot = l->n;
	memcpy(l->names[slot].name, v->vv_name, v->vv_name_len);
	l->names[slot].len = v->vv_name_len;
	if (l->n == l->cap)
		sift_down(l, l->n, 0);	/* the root's slot, reused */
	else {
		l->heap[l->n] = slot;
		sift_up(l, l->n++);
	}
}

bool
catalogue_list_step_locked(const struct catalogue *cat, struct cat_list *l)
{
	(void)catalogue_walk_locked(cat, &l->cursor, CATALOGUE_LIST_SLICE,
	    list_visit, l);
	/* The walk wraps to 0 at the end of the table. */
	return l->cursor == 0;
}

size_t
catalogue_list_done(struct cat_list *l, bool *more)
{
	size_t k;

	/* Take the largest off until the rest is sorted. */
	for (k = l->n; k > 1; k--) {
		swap(&l->heap[0], &l->heap[k - 1]);
		sift_down(l, k - 1, 0);
	}
	*more = l->n == l->cap;
	return *more ? l->n - 1 : l->n;
}

const char *
catalogue_list_name(const struct cat_list *l, size_t k, size_t *len)
{
	*len = l->names[l->heap[k]].len;
	return l->names[l->heap[k]].name;
}

void
catalogue_list_free(struct cat_list *l)
{
	if (l == NULL)
		return;
	free(l->names);
	free(l->heap);
	free(l);
}
