/*
 * recovery.c: the recovery policy, as pure functions of an attempt
 * record and an injected clock and jitter.  At most max attempts per
 * stream; the n-th no sooner than stallTimeout x 2^(n-1) after the one
 * before (that wait capped at an hour, then lengthened by up to 20 % of
 * jitter, so streams that stalled together do not restart together, and
 * never shortened); attempts reset after progress.
 */
#include <math.h>

#include "rules.h"

#define RECOVERY_CAP_S	3600.0

/* May an attempt start at now_ms?  *wait_ms says how long until then. */
enum recovery_verdict
recovery_decide(const struct recovery_track *t, long max, int64_t now_ms,
    int64_t *wait_ms)
{
	*wait_ms = 0;
	if (t->attempts >= max)
		return RECOVERY_SPENT;
	if (now_ms < t->next_ms) {
		*wait_ms = t->next_ms - now_ms;
		return RECOVERY_LATER;
	}
	return RECOVERY_NOW;
}

/*
 * Records an attempt made at now_ms, the n-th since the last progress.
 * The (n+1)-th may come stall_s x 2^n later, or an hour if that is less;
 * jitter in [0, 1) adds up to a fifth of it.
 */
void
recovery_record(struct recovery_track *t, int64_t now_ms, double stall_s,
    double jitter)
{
	double	delay = stall_s * pow(2.0, (double)(t->attempts + 1));

	if (delay > RECOVERY_CAP_S)
		delay = RECOVERY_CAP_S;
	delay *= 1.0 + 0.2 * jitter;
	t->attempts++;
	t->next_ms = now_ms + (int64_t)(delay * 1000.0);
}

/* Progress: the budget is whole again. */
void
recovery_reset(struct recovery_track *t)
{
	t->attempts = 0;
	t->next_ms = 0;
}
