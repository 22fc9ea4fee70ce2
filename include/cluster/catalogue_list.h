/*
 * catalogue_list.h - a page of the names the cluster holds, read from the
 * shared catalogue a slice at a time (GET /_/catalogue, /_/conflicts).
 *
 * A listing walks every version slot once, keeping copies of the `max`
 * + 1 smallest names after the page's start that match its prefix; the
 * walk goes CATALOGUE_LIST_SLICE slots per hold of the catalogue's lock,
 * so a page of a table of a million versions never holds the lock for
 * more than a slice (workers' misses and the gossip wait on it). A name
 * that arrives or goes while the slices run may be seen or missed, as in
 * any listing of a table that changes.
 *
 * Any thread; the caller takes the lock around each step.
 */
#ifndef SHOAL_CLUSTER_CATALOGUE_LIST_H
#define SHOAL_CLUSTER_CATALOGUE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct catalogue;

#define CATALOGUE_LIST_SLICE 4096	/* version slots per hold of the lock */

struct cat_list;

/*
 * A listing of at most `max` names starting with prefix[0..plen), after
 * after[0..alen) (NULL: from the start), only those in conflict when
 * `conflicts`. NULL when out of memory.
 */
struct cat_list *catalogue_list_new(const char *prefix, size_t plen,
    const char *after, size_t alen, bool conflicts, size_t max);

/* Looks at the next slice of the table; true once every slot was seen. */
bool catalogue_list_step_locked(const struct catalogue *cat,
    struct cat_list *l);

/*
 * Once every slot was seen: the names kept, in bytewise order (at most
 * `max`); *more tells whether names follow them.
 */
size_t catalogue_list_done(struct cat_list *l, bool *more);

/* The k-th name of the sorted listing (k < what catalogue_list_done
 * returned). */
const char *catalogue_list_name(const struct cat_list *l, size_t k,
    size_t *len);

void catalogue_list_free(struct cat_list *l);

#endif
