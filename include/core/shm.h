/*
 * shm.h - memory shared by the processes of one node: anonymous shared
 * mappings made by the master before it forks (every child, present and
 * future, sees them; the peer table is one), and process-shared robust
 * mutexes inside any shared mapping (the peer table's lock, and the
 * stripe locks in the index's file).
 *
 * Any process, any thread; no logging: -1 (or an errno) on failure.
 */
#ifndef SHOAL_CORE_SHM_H
#define SHOAL_CORE_SHM_H

#include <pthread.h>
#include <stddef.h>

/* `size` bytes of zeroed MAP_SHARED|MAP_ANONYMOUS memory, or NULL with
 * errno. Free with shm_free(). */
void *shm_anon(size_t size);
void shm_free(void *p, size_t size);

/* Initialises a mutex that works across processes and survives its
 * holder's death (PTHREAD_MUTEX_ROBUST). Returns 0 or an errno. */
int shm_mutex_init(pthread_mutex_t *m);

/* Locks m. When its last holder died holding it, the state it guards may
 * be half-changed: *owner_died is set (when not NULL) for the caller to
 * repair it, and the mutex is made consistent again. Returns 0 or an
 * errno. */
int shm_mutex_lock(pthread_mutex_t *m, int *owner_died);

#endif
