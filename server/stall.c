/*
 * stall.c: a stream's health state, as pure functions of what was
 * observed, with the clock injected by the caller.
 *
 * stall_observe() keeps the "unchanged" clock: it runs only between two
 * consecutive observations that both reached the upstream, so time while
 * the upstream (or taskgate) was down never counts as a stall.
 * stall_judge() turns an observation into a state and its evidence:
 *   budget-spent > needs-human > the agent's own state (dead, context-exhausted,
 *   usage-limited, needs-login, waiting-input, api-error) >
 *   no-progress > idle > upstream-unhealthy > ok
 * The agent's state comes from the session layer through the input
 * (agent.c: its hooks, its pane, its process); this file only ranks it
 * against the task counts.  An agent whose turn ended is idle, not
 * stalled; one working (or of unknown state) with counts unchanged for
 * the stall timeout makes no progress; one whose tasks are blocked, with
 * none in progress, waits for a person.
 * needs-human is any state recovery acts on (no-progress,
 * context-exhausted, dead) once the input says the recovery budget is
 * spent.  budget-spent is a stream that is not complete and has cost its
 * limit (maxCostUsd, its own or all streams'), or whose agent taskgate
 * stopped for that: nothing more is spent on it until a person raises
 * the limit and starts it again.
 * stall_keeps() makes a label change only on new evidence: a stream does
 * not go to a milder state (stuck -> upstream-unhealthy -> ok) while
 * nothing it was judged on has moved -- its counts, whether it is at
 * work, its agent's state, the upstream's verdict, its budget.  A window
 * restarted on a stuck stream, whose stall clock starts again, is no such
 * evidence: the stream stays stuck, not "upstream says unhealthy" for a
 * minute and stuck again.
 */
#include <stdio.h>
#include <string.h>

#include "rules.h"

static const char *const stall_names[] = {
	[STALL_OK] = "ok",
	[STALL_UPSTREAM_UNHEALTHY] = "upstream-unhealthy",
	[STALL_NO_PROGRESS] = "no-progress",
	[STALL_WAITING_INPUT] = "waiting-input",
	[STALL_CONTEXT_EXHAUSTED] = "context-exhausted",
	[STALL_DEAD] = "dead",
	[STALL_NEEDS_HUMAN] = "needs-human",
	[STALL_IDLE] = "idle",
	[STALL_USAGE_LIMITED] = "usage-limited",
	[STALL_API_ERROR] = "api-error",
	[STALL_NEEDS_LOGIN] = "needs-login",
	[STALL_BUDGET_SPENT] = "budget-spent",
};

/* The stream state an agent's own state gives, or STALL_OK for those the
 * counts decide (working, unknown, idle). */
enum stall_state
stall_state_of_agent(enum agent_state a)
{
	switch (a) {
	case AGENT_DEAD:
		return STALL_DEAD;
	case AGENT_CONTEXT_EXHAUSTED:
		return STALL_CONTEXT_EXHAUSTED;
	case AGENT_WAITING_INPUT:
		return STALL_WAITING_INPUT;
	case AGENT_USAGE_LIMITED:
		return STALL_USAGE_LIMITED;
	case AGENT_NEEDS_LOGIN:
		return STALL_NEEDS_LOGIN;
	case AGENT_API_ERROR:
		return STALL_API_ERROR;
	case AGENT_BUDGET_SPENT:
		return STALL_BUDGET_SPENT;
	default:
		return STALL_OK;
	}
}

const char *
stall_state_name(enum stall_state s)
{
	return stall_names[s];
}

/* The state of that name, or -1. */
int
stall_state_from_name(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof stall_names / sizeof stall_names[0]; i++)
		if (strcmp(stall_names[i], name) == 0)
			return (int)i;
	return -1;
}

/*
 * Records one observation at now (seconds, any clock that only moves
 * forward).  reachable: the upstream answered; changed: the counts differ
 * from the previous observation.
 */
void
stall_observe(struct stall_track *t, double now, bool reachable, bool changed)
{
	if (!reachable) {
		t->last_obs = 0;	/* the clock stops until the next answer */
		return;
	}
	if (changed)
		t->unchanged_s = 0;
	else if (t->last_obs > 0 && now > t->last_obs)
		t->unchanged_s += now - t->last_obs;
	t->last_obs = now;
}

/* Adds when the agent's state began (its witness's time) to evidence. */
static void
stall_agent_since(json_t *e, const struct agent_fact *a)
{
	char	buf[32];

	if (a->at <= 0)
		return;
	clock_iso8601(a->at, buf, sizeof buf);
	json_object_set_new(e, "agentSince", json_string(buf));
}

/* The state the observation shows, before the budget is considered. */
static enum stall_state
stall_judge_one(const struct stall_input *in, json_t *e)
{
	const struct model_counts	*c = &in->counts;
	bool				 complete = model_complete(c);
	bool				 working = c->in_progress > 0 ||
					    in->session_live;
	enum stall_state		 own = stall_state_of_agent(in->agent.state);

	if (own != STALL_OK) {
		json_object_set_new(e, "reason", json_string(
		    in->agent.reason[0] != '\0' ? in->agent.reason :
		    stall_state_name(own)));
		stall_agent_since(e, &in->agent);
		return own;
	}
	if (!complete && in->agent.state == AGENT_IDLE) {
		json_object_set_new(e, "reason", json_string("the agent's turn "
		    "ended with work left"));
		json_object_set_new(e, "agent", json_string(in->agent.reason));
		stall_agent_since(e, &in->agent);
		json_object_set_new(e, "completedTasks",
		    json_integer(c->completed));
		json_object_set_new(e, "totalTasks", json_integer(c->total));
		return STALL_IDLE;
	}
	/* Blocked tasks and nothing at work: a person has to decide, and a
	 * restart would not (the agent would only find them blocked). */
	if (!complete && c->blocked > 0 && c->in_progress == 0 &&
	    in->unchanged_s >= in->timeout_s) {
		json_object_set_new(e, "reason", json_string("its work is "
		    "blocked and waits for a person's decision (see the "
		    "blocked tasks and their reasons)"));
		json_object_set_new(e, "blockedTasks", json_integer(c->blocked));
		return STALL_WAITING_INPUT;
	}
	if (!complete && working && in->unchanged_s >= in->timeout_s) {
		json_object_set_new(e, "reason", json_string("task counts "
		    "unchanged for longer than the stall timeout"));
		json_object_set_new(e, "unchangedMinutes",
		    json_real((double)(long)(in->unchanged_s / 0.6) / 100.0));
		json_object_set_new(e, "stallTimeoutMinutes",
		    json_real(in->timeout_s / 60.0));
		json_object_set_new(e, "inProgressTasks",
		    json_integer(c->in_progress));
		json_object_set_new(e, "completedTasks",
		    json_integer(c->completed));
		json_object_set_new(e, "totalTasks", json_integer(c->total));
		return STALL_NO_PROGRESS;
	}
	if (!complete && in->upstream_unhealthy) {
		json_object_set_new(e, "reason", json_string("the upstream "
		    "reports the stream unhealthy"));
		json_object_set_new(e, "warnings", in->upstream_warnings ?
		    json_incref(in->upstream_warnings) : json_array());
		return STALL_UPSTREAM_UNHEALTHY;
	}
	return STALL_OK;
}

/*
 * Why a window in state st must never be killed (it waits for a person
 * or a quota), as words after the stream's id; NULL when it may be.
 */
const char *
stall_state_protected(enum stall_state st)
{
	switch (st) {
	case STALL_WAITING_INPUT:
		return "waits for a person to answer it";
	case STALL_USAGE_LIMITED:
		return "waits for its usage limit to reset";
	case STALL_NEEDS_LOGIN:
		return "needs a person to log in or settle billing";
	default:
		return NULL;
	}
}

/* Whether recovery acts on a stream in state st. */
bool
stall_state_recoverable(enum stall_state st)
{
	return st == STALL_NO_PROGRESS || st == STALL_CONTEXT_EXHAUSTED ||
	    st == STALL_DEAD;
}

/*
 * Whether the stream has spent its money: not complete, and past a
 * limit, or its agent stopped for that (why: in words).
 */
static bool
stall_spent(const struct stall_input *in, char *why, size_t len)
{
	const struct model_counts	*c = &in->counts;

	if (c->total > 0 && c->completed == c->total)
		return false;
	if (agent_spend_over(&in->spend, why, len)) {
		if (in->session_live && strlen(why) + 40 < len)
			strcat(why, "; taskgate stops it when its turn ends");
		return true;
	}
	if (in->agent.state != AGENT_BUDGET_SPENT)
		return false;
	snprintf(why, len, "%s", in->agent.reason[0] != '\0' ?
	    in->agent.reason : "taskgate stopped it past its spending limit");
	return true;
}

/*
 * Judges one stream; *evidence (new) says why, in words and numbers.  A
 * stream recovery would act on (no-progress, context-exhausted, dead)
 * needs a human once its recovery budget is spent.
 */
enum stall_state
stall_judge(const struct stall_input *in, json_t **evidence)
{
	json_t			*e = json_object();
	enum stall_state	 st = stall_judge_one(in, e);
	char			 why[240];

	*evidence = e;
	if (stall_spent(in, why, sizeof why)) {
		json_decref(e);
		*evidence = json_pack("{s:s,s:f,s:f}", "reason", why,
		    "costUsd", in->spend.stream_usd, "totalCostUsd",
		    in->spend.total_usd);
		if (in->spend.stream_max > 0)
			json_object_set_new(*evidence, "maxCostUsd",
			    json_real(in->spend.stream_max));
		if (in->spend.total_max > 0)
			json_object_set_new(*evidence, "maxTotalCostUsd",
			    json_real(in->spend.total_max));
		return STALL_BUDGET_SPENT;
	}
	if (in->budget_spent && (st == STALL_NO_PROGRESS ||
	    st == STALL_CONTEXT_EXHAUSTED || st == STALL_DEAD)) {
		*evidence = json_pack("{s:s,s:s,s:I,s:o}", "reason", "the "
		    "recovery budget is spent and the stream is still stuck",
		    "stuck", stall_state_name(st), "recoveryAttempts",
		    (json_int_t)in->attempts, "stuckEvidence", e);
		return STALL_NEEDS_HUMAN;
	}
	return st;
}

/* What in judged on, to tell later whether anything moved since. */
void
stall_basis_of(const struct stall_input *in, struct stall_basis *b)
{
	char	why[8];

	memset(b, 0, sizeof *b);
	b->set = true;
	b->counts = in->counts;
	b->working = in->counts.in_progress > 0 || in->session_live;
	b->agent = in->agent.state;
	b->unhealthy = in->upstream_unhealthy;
	b->spent = in->budget_spent;
	b->over_limit = agent_spend_over(&in->spend, why, sizeof why);
}

/* 0 for ok, 1 for the upstream's word alone, 2 for a stuck stream. */
static int
stall_severity(enum stall_state s)
{
	return s == STALL_OK ? 0 : s == STALL_UPSTREAM_UNHEALTHY ? 1 : 2;
}

/*
 * Whether a stream in state cur, judged on then, keeps it although the
 * judgement on now says next: next is milder and nothing in the basis
 * moved.  Without a basis (a state read back from the database) the
 * judgement stands.
 */
bool
stall_keeps(enum stall_state cur, enum stall_state next,
    const struct stall_basis *then, const struct stall_basis *now)
{
	if (!then->set || stall_severity(next) >= stall_severity(cur))
		return false;
	return memcmp(&then->counts, &now->counts, sizeof now->counts) == 0 &&
	    then->working == now->working && then->agent == now->agent &&
	    then->unhealthy == now->unhealthy && then->spent == now->spent &&
	    then->over_limit == now->over_limit;
}
