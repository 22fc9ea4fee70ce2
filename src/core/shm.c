/*
 * shm.c - shared mappings and robust process-shared mutexes (see shm.h).
 */
#include <errno.h>
#include <sys/mman.h>

#include "core/shm.h"

void *
shm_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
shm_free(void *p, size_t size)
{
	if (p != NULL)
		munmap(p, size);
}

int
shm_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;
	int rc;

	if ((rc = pthread_mutexattr_init(&attr)) != 0)
		return rc;
	rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (rc == 0)
		rc = pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc;
}

int
shm_mutex_lock(pthread_mutex_t *m, int *owner_died)
{
	int rc = pthread_mutex_lock(m);

	if (owner_died != NULL)
		*owner_died = rc == EOWNERDEAD;
	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(m);
	return rc;
}
