/*
 * metrics.c: taskgate's counters (requests, cache results, recoveries,
 * hook events), lock-free atomics.  api-metrics.c serves them.
 */
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

struct metrics {
	uint64_t	counters[METRIC__COUNT];
};

struct metrics *
metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

void
metrics_count(struct metrics *m, enum metric which)
{
	__atomic_add_fetch(&m->counters[which], 1, __ATOMIC_RELAXED);
}

uint64_t
metrics_get(struct metrics *m, enum metric which)
{
	return __atomic_load_n(&m->counters[which], __ATOMIC_RELAXED);
}
