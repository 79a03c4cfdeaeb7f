/*
 * recovery.c: the recovery policy, as pure functions of an attempt
 * record and an injected clock and jitter.  At most max attempts per
 * stream; the n-th no sooner than stallTimeout x 2^(n-1) after the one
 * before (that wait capped at an hour, then lengthened by up to 20 % of
 * jitter, so streams that stalled together do not restart together, and
 * never shortened); attempts reset after progress.  recovery_refusal()
 * is the one rule of whether a stream may be recovered now, for a click,
 * a run and the overview's Recover button.
 */
#include <math.h>
#include <stdio.h>

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

/*
 * Why the stream of q may not be recovered now: the refusal's code, with
 * a sentence in why (len bytes) and the backoff left in *wait_ms, or NULL
 * when it may.  force passes the budget, the backoff and the state, never
 * a missing session nor an agent that waits for a person; hint adds how
 * to force.  A window (re)started since the judging poll is not judged
 * yet: its state is the old window's; nor is a stream no poll judged.
 */
const char *
recovery_refusal(const struct recovery_ask *q, char *why, size_t len,
    int64_t *wait_ms)
{
	enum recovery_verdict	v;
	const char		*waits;

	*wait_ms = 0;
	if (!q->session) {
		snprintf(why, len, "no session to recover; start it instead");
		return "not-running";
	}
	/* Not even forced: a restart would lose what it waits for.  The
	 * agent's own word now counts, not only the last poll's. */
	if ((q->judged && (waits = stall_state_protected(q->state)) != NULL) ||
	    (agent_state_protected(q->agent.state) && (waits =
	    stall_state_protected(stall_state_of_agent(q->agent.state))) !=
	    NULL)) {
		snprintf(why, len, "%s %s (%s); taskgate never kills such a "
		    "window: answer it in its pane, or stop it yourself",
		    q->id, waits, q->agent.reason[0] != '\0' ? q->agent.reason :
		    "its pane says so");
		return "waits-for-person";
	}
	v = recovery_decide(&q->rec, q->max, q->now_ms, wait_ms);
	if (q->force)
		return NULL;
	if (v == RECOVERY_SPENT) {
		snprintf(why, len, "the recovery budget is spent (%ld of %ld); "
		    "it needs a human%s%s%s", q->rec.attempts, q->max, q->hint ?
		    " ('taskgate recover " : "", q->hint ? q->id : "", q->hint ?
		    " --force' tries again)" : "");
		return "budget-spent";
	}
	if (v == RECOVERY_LATER) {
		snprintf(why, len, "the next recovery is due in %lld s%s%s%s",
		    (long long)((*wait_ms + 999) / 1000), q->hint ?
		    " ('taskgate recover " : "", q->hint ? q->id : "", q->hint ?
		    " --force' tries now)" : "");
		return "backoff";
	}
	if (q->window && (!q->judged || q->started_ms >= q->judged_ms)) {
		snprintf(why, len, "%s was (re)started after taskgate last "
		    "looked; it is judged at the next poll%s%s%s", q->id,
		    q->hint ? " ('taskgate recover " : "", q->hint ? q->id : "",
		    q->hint ? " --force' recovers anyway)" : "");
		return "not-judged";
	}
	if (!q->judged || !stall_state_recoverable(q->state)) {
		snprintf(why, len, "%s is %s; recovery is for no-progress, "
		    "context-exhausted and dead streams%s%s%s", q->id,
		    q->judged ? stall_state_name(q->state) : "not judged yet",
		    q->hint ? " ('taskgate recover " : "", q->hint ? q->id : "",
		    q->hint ? " --force' recovers anyway)" : "");
		return "not-stuck";
	}
	return NULL;
}
