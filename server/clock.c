/*
 * clock.c: the two clocks and the time formats.  The monotonic one
 * measures intervals (poll, ages); the wall clock is only for timestamps
 * shown to people, written and read here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules.h"

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

/* Parses ms since the epoch, or an ISO-8601 UTC time; -1 when neither. */
int64_t
clock_parse_ms(const char *s)
{
	struct tm	 tm, want, back;
	time_t		 t;
	const char	*p;
	char		*end;
	long long	 ms = 0;
	int		 digits = 0;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	if (strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 15)
			return -1;
		return strtoll(s, &end, 10);
	}
	memset(&tm, 0, sizeof tm);
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
		while (digits > 0 && digits < 3) {
			ms *= 10;
			digits++;
		}
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "") != 0)
		return -1;
	/* strptime takes 2026-02-30; timegm would make it March 2nd. */
	want = tm;
	t = timegm(&tm);
	if (gmtime_r(&t, &back) == NULL || back.tm_year != want.tm_year ||
	    back.tm_mon != want.tm_mon || back.tm_mday != want.tm_mday ||
	    back.tm_hour != want.tm_hour || back.tm_min != want.tm_min ||
	    back.tm_sec != want.tm_sec)
		return -1;
	return (int64_t)t * 1000 + ms;
}
