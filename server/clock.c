/*
 * clock.c: the two clocks.  The monotonic one measures intervals (poll,
 * ages); the wall clock is only for timestamps shown to people.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "taskgate.h"

double
clock_mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
clock_wall(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes t as the upstream writes times: 2026-11-26T10:29:20.802Z. */
void
clock_iso8601(double t, char *out, size_t len)
{
	long long	all = llround(t * 1000.0);	/* whole milliseconds */
	time_t		secs = (time_t)(all / 1000);
	long		ms = (long)(all % 1000);
	struct tm	tm;

	gmtime_r(&secs, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
}
