/*
 * session-run.c: the plan runner behind --auto and POST /api/run, on the
 * session thread.  A run starts every stream whose gates are open, in
 * plan order, counting each start against the parallel limit, then
 * recovers the streams of ours that are stuck where the budget and the
 * backoff allow; --auto runs it each poll, and tells each decision not to
 * recover (an event and an audit row, once each).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

/* Whether id's agent exited in a window of taskgate's (a recovery's
 * business, with its checkpoint and budget, not a new start's). */
static bool
session_run_is_dead(struct sessions *ss, const char *id)
{
	struct session	*s;
	bool		 dead;

	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, id);
	dead = s != NULL && s->dead;
	pthread_mutex_unlock(&ss->lock);
	return dead;
}

/*
 * --auto chose not to recover id (its budget is spent, or the backoff
 * runs): an event and an audit row, once for each such decision.
 */
static void
session_run_tell(struct sessions *ss, const char *id, const char *what,
    json_t *why)
{
	session_event(ss, what, id, "auto", json_deep_copy(why));
	audit_add(ss->tg->audit, "auto", "recover", id, what,
	    ss->status_of(SESSION_REFUSED), why);
	json_decref(why);
}

/*
 * The recovery part of a run: each stream with a window of ours whose
 * state recovery acts on (no-progress, context-exhausted, dead) is
 * recovered where the budget and the backoff allow, with its own audit
 * row; the others go into skipped with why.  The states, and when they
 * were judged, are the poller's facts, in the order of the stream list.
 * --auto leaves it all alone when the config sets autoRecoveryEnabled to
 * false.
 */
static void
session_run_recoveries(struct sessions *ss, struct session_job *j,
    json_t *streams, const struct poller_fact *facts, size_t n_facts,
    json_t *recovered, json_t *skipped)
{
	size_t	 i;

	if (j->auto_run && !ss->tg->conf.auto_recovery)
		return;
	for (i = 0; i < n_facts; i++) {
		const struct poller_fact *f = &facts[i];
		const char		*id = f->id;
		const char		*state = stall_state_name(f->state);
		struct session		*se;
		struct session_job	 one;
		const char		*refused = NULL;
		int64_t			 wait = 0;
		long			 attempt = 0;
		bool			 ours, human, spent = false, tell = false;
		char			 why[256];

		human = f->state == STALL_NEEDS_HUMAN;
		if (!human && !stall_state_recoverable(f->state))
			continue;
		pthread_mutex_lock(&ss->lock);
		se = session_find(ss, id);
		ours = se != NULL && (se->row.window[0] != '\0' || se->dead);
		/* A window started since that judgement is not judged yet. */
		if (ours && se->row.window[0] != '\0' &&
		    se->row.started_ms >= f->judged_ms)
			ours = false;
		if (ours) {
			refused = session_refusal_locked(ss, se, f, false,
			    false, why, sizeof why, &wait);
			spent = refused != NULL && strcmp(refused,
			    "budget-spent") == 0;
			attempt = se->row.rec.attempts + 1;
		}
		/* needs-human is told from its own judgement, which knows
		 * how the last recovery went; before it, nothing. */
		if (ours && spent != human)
			ours = false;
		if (ours && j->auto_run && !j->dry_run && spent) {
			tell = !se->told_spent;
			se->told_spent = true;
		} else if (ours && j->auto_run && !j->dry_run &&
		    refused != NULL && strcmp(refused, "backoff") == 0) {
			tell = se->told_wait != attempt;
			se->told_wait = attempt;
		}
		pthread_mutex_unlock(&ss->lock);
		if (!ours)
			continue;	/* not taskgate's, or not judged yet */
		if (tell && spent)
			session_run_tell(ss, id, "needs-human", json_pack(
			    "{s:s,s:s,s:i}", "reason", why, "state", state,
			    "recoveryAttempts", (int)(attempt - 1)));
		else if (tell) {
			char	due[32];

			clock_iso8601(clock_wall() + (double)wait / 1000.0, due,
			    sizeof due);
			session_run_tell(ss, id, "recovery-later", json_pack(
			    "{s:s,s:s,s:i,s:s}", "reason", why, "state", state,
			    "attempt", (int)attempt, "dueAt", due));
		}
		if (refused != NULL) {
			json_array_append_new(skipped, json_pack("{s:s,s:[s]}",
			    "streamId", id, "reasons", why));
			continue;
		}
		memset(&one, 0, sizeof one);
		one.kind = JOB_RECOVER;
		one.auto_run = j->auto_run;
		one.dry_run = j->dry_run;
		snprintf(one.id, sizeof one.id, "%s", id);
		snprintf(one.actor, sizeof one.actor, "%s", j->actor);
		session_window_recover(ss, &one, streams, f);
		json_object_set_new(one.answer, "state", json_string(state));
		if (!one.dry_run)
			session_audit(ss, &one);
		if (one.result == SESSION_DONE ||
		    one.result == SESSION_STARTED)
			json_array_append(recovered, one.answer);
		else
			json_array_append_new(skipped, json_pack("{s:s,s:[O]}",
			    "streamId", id, "reasons", json_object_get(
			    one.answer, "error")));
		json_decref(one.answer);
	}
}

/*
 * Runs the plan: starts every stream whose gates are open, in plan order
 * (foundation, parallel, integration), counting each start against the
 * parallel limit; then recovers what is stuck.
 */
void
session_run_plan(struct sessions *ss, struct session_job *j, json_t *streams,
    const struct poller_fact *facts, size_t n_facts)
{
	struct plan_stream	*ps;
	json_t			*started = json_array(), *skipped = json_array();
	json_t			*recovered = json_array();
	size_t			 n, i;
	long			 live;
	enum plan_phase		 p;

	n = session_plan(ss, streams, &ps, &live);
	for (p = PLAN_FOUNDATION; p <= PLAN_INTEGRATION; p++) {
		for (i = 0; i < n; i++) {
			struct session_job	 one;
			json_t			*reasons;
			char			 dir[PATH_MAX];

			if (plan_phase_of(ps[i].phase) != p || ps[i].complete ||
			    ps[i].live || session_run_is_dead(ss, ps[i].id))
				continue;	/* a dead window is recovered, below */
			reasons = json_array();
			if (plan_may_start(ps, n, i, ss->tg->conf.max_parallel,
			    live, false, reasons) != PLAN_GATE_OPEN) {
				json_array_append_new(skipped, json_pack(
				    "{s:s,s:o}", "streamId", ps[i].id,
				    "reasons", reasons));
				continue;
			}
			json_decref(reasons);
			memset(&one, 0, sizeof one);
			snprintf(one.id, sizeof one.id, "%s", ps[i].id);
			snprintf(one.actor, sizeof one.actor, "%s", j->actor);
			one.dry_run = j->dry_run;
			if (session_window_workdir(ss, &one, model_find_stream(
			    streams, ps[i].id), dir) == 0)
				session_window_launch(ss, &one, dir, "started",
				    0);
			if (one.result == SESSION_DONE ||
			    one.result == SESSION_STARTED) {
				json_array_append(started, one.answer);
				ps[i].live = true;
				live++;
			} else
				json_array_append_new(skipped, json_pack(
				    "{s:s,s:[O]}", "streamId", ps[i].id,
				    "reasons", json_object_get(one.answer,
				    "error")));
			json_decref(one.answer);
		}
	}
	plan_streams_free(ps, n);
	session_run_recoveries(ss, j, streams, facts, n_facts, recovered,
	    skipped);
	session_answer(j, SESSION_DONE, json_pack("{s:b,s:o,s:o,s:o}", "dryRun",
	    j->dry_run, "started", started, "recovered", recovered, "skipped",
	    skipped));
}

/*
 * --auto: a run by "auto" each poll.  Its own audit row only when it
 * started something (each recovery and each decision not to recover has
 * its own); waiting-input only notifies (its state event).
 */
void
session_run_auto(struct sessions *ss)
{
	struct poller_fact	*facts;
	size_t			 n_facts;
	json_t			*streams = session_streams(ss, &facts, &n_facts);
	struct session_job	 j;

	if (streams == NULL) {
		free(facts);
		return;
	}
	memset(&j, 0, sizeof j);
	j.kind = JOB_RUN;
	j.auto_run = true;
	snprintf(j.actor, sizeof j.actor, "auto");
	session_run_plan(ss, &j, streams, facts, n_facts);
	if (json_array_size(json_object_get(j.answer, "started")) > 0)
		session_audit(ss, &j);
	json_decref(j.answer);
	json_decref(streams);
	free(facts);
}
