/*
 * session.c: the agent sessions, one tmux window per stream.  This file
 * owns the table of sessions and the job queue (session_submit()), the
 * facts and JSON other threads read under the lock (the gates' inputs,
 * whether a recovery is refused (by recovery.c's rule), the views of
 * /api/sessions and a pane's text, the stall judgement's input, what
 * each stream has cost), progress as the poller's published facts show
 * it (the poller never calls in to say so), the view handed to the jobs
 * with those facts (the states a recovery is judged on, in numbers), and
 * the helpers the other session files share (events, saved rows, answers
 * with a result, audit rows).  session.h says which file does what; this
 * one calls none of them.
 *
 * Every tmux call runs on the session thread (session-thread.c), never
 * on the HTTP thread.  Windows are found by name when taskgate starts
 * (adoption), so a restarted taskgate never starts a twin; each action is
 * checked against the live window list, not only against memory.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session.h"

/* Task Copilot counts an agent active this long after its heartbeat. */
#define SESSION_OWN_AGENT_MS	(5 * 60 * 1000)

/*
 * The agent's state from its witnesses; the lock is held.  A status line
 * that said the context is (nearly) full holds until a fresh window: no
 * later turn of the same context makes room.
 */
void
session_agent_locked(const struct session *s, struct agent_fact *out)
{
	agent_combine(&s->agent.hook, &s->pane, &s->process, out);
	if (out->state != AGENT_DEAD && s->context_full.state ==
	    AGENT_CONTEXT_EXHAUSTED)
		*out = s->context_full;
}

/* Forgets what the pane and process said: a new window, or none. */
void
session_forget_agent(struct session *s)
{
	memset(&s->pane, 0, sizeof s->pane);
	memset(&s->process, 0, sizeof s->process);
	memset(&s->context_full, 0, sizeof s->context_full);
	s->typed = TYPED_NONE;
	s->nudges = 0;
	json_decref(s->permission);
	s->permission = NULL;
}

struct session *
session_find(struct sessions *ss, const char *id)
{
	size_t	i;

	for (i = 0; i < ss->n; i++)
		if (strcmp(ss->s[i]->row.id, id) == 0)
			return ss->s[i];
	return NULL;
}

/* Finds or adds the record of id; the lock is held. */
struct session *
session_get(struct sessions *ss, const char *id)
{
	struct session	*s = session_find(ss, id);

	if (s != NULL)
		return s;
	ss->s = xrealloc(ss->s, (ss->n + 1) * sizeof *ss->s);
	s = ss->s[ss->n++] = xcalloc(1, sizeof *s);
	snprintf(s->row.id, sizeof s->row.id, "%s", id);
	s->agent.context_pct = s->agent.cost_usd = -1;
	return s;
}

static char **
session_split(const char *cmd)
{
	char	**argv = NULL, *copy = xstrdup(cmd), *p = copy, *w;
	size_t	  n = 0;

	while ((w = strsep(&p, " \t")) != NULL) {
		if (*w == '\0')
			continue;
		argv = xrealloc(argv, (n + 2) * sizeof *argv);
		argv[n++] = xstrdup(w);
		argv[n] = NULL;
	}
	free(copy);
	return argv;
}

/* Returns the session layer; the rows of an earlier run are loaded. */
struct sessions *
session_new(struct taskgate *tg,
    unsigned int (*status_of)(enum session_result), char *err, size_t errlen)
{
	struct sessions		*ss = xcalloc(1, sizeof *ss);
	struct session_row	*rows;
	struct agent_row	*agents;
	struct passwd		*pw = getpwuid(getuid());
	const char		*why;
	size_t			 n, i;

	ss->tg = tg;
	ss->status_of = status_of;
	ss->agent = session_split(tg->opts->agent_command);
	if ((why = tmux_agent_refusal(ss->agent)) != NULL) {
		snprintf(err, errlen, "--agent-command: %s", why);
		tmux_argv_free(ss->agent);
		free(ss);
		return NULL;
	}
	ss->phrases = tg->conf.phrases != NULL ?
	    (const char *const *)tg->conf.phrases : agent_default_phrases;
	snprintf(ss->owner, sizeof ss->owner, "%s", pw != NULL ?
	    pw->pw_name : "token");
	pthread_mutex_init(&ss->lock, NULL);
	pthread_cond_init(&ss->cond, NULL);
	ss->jobs_tail = &ss->jobs;
	if (history_load_sessions(tg->db, &rows, &n) == 0) {
		for (i = 0; i < n; i++)
			session_get(ss, rows[i].id)->row = rows[i];
		free(rows);
	}
	if (history_load_agents(tg->db, &agents, &n) == 0) {
		for (i = 0; i < n; i++)
			session_get(ss, agents[i].id)->agent = agents[i];
		free(agents);
	}
	return ss;
}

const char *
session_owner(struct sessions *ss)
{
	return ss->owner;
}

void
session_free(struct sessions *ss)
{
	size_t	i;

	if (ss == NULL)
		return;
	for (i = 0; i < ss->n; i++) {
		free(ss->s[i]->text);
		json_decref(ss->s[i]->permission);
		free(ss->s[i]);
	}
	free(ss->s);
	tmux_argv_free(ss->agent);
	free(ss->self_quoted);
	pthread_mutex_destroy(&ss->lock);
	pthread_cond_destroy(&ss->cond);
	free(ss);
}

/* Queues a job; -1 when an action on that stream is already waiting. */
int
session_submit(struct sessions *ss, struct session_job *j)
{
	struct session	*s = NULL;

	pthread_mutex_lock(&ss->lock);
	if (ss->stop) {
		pthread_mutex_unlock(&ss->lock);
		return -2;
	}
	if (j->id[0] != '\0') {
		s = session_get(ss, j->id);
		if (s->busy) {
			pthread_mutex_unlock(&ss->lock);
			return -1;
		}
		s->busy = true;
	}
	j->next = NULL;
	*ss->jobs_tail = j;
	ss->jobs_tail = &j->next;
	pthread_cond_broadcast(&ss->cond);
	pthread_mutex_unlock(&ss->lock);
	return 0;
}

/* Facts for other threads ------------------------------------------- */

static bool
session_spent_locked(struct sessions *ss, const struct session *s)
{
	return s != NULL && s->row.rec.attempts >= ss->tg->conf.max_recovery;
}

/*
 * Why s may not be recovered now, its stream being as the poller's fact f
 * says (NULL: no poll judged it) (recovery_refusal(), the one rule for a
 * click, a run and the overview's Recover button, on what this layer
 * knows of s now).  The lock is held.
 */
const char *
session_refusal_locked(struct sessions *ss, const struct session *s,
    const struct poller_fact *f, bool force, bool hint, char *why,
    size_t len, int64_t *wait_ms)
{
	struct recovery_ask	q;

	memset(&q, 0, sizeof q);
	q.id = s != NULL ? s->row.id : "";
	q.session = s != NULL && (s->row.window[0] != '\0' || s->dead);
	q.window = s != NULL && s->row.window[0] != '\0';
	q.started_ms = s != NULL ? s->row.started_ms : 0;
	if (f != NULL) {
		q.judged = true;
		q.state = f->state;
		q.judged_ms = f->judged_ms;
	}
	if (s != NULL) {
		session_agent_locked(s, &q.agent);
		q.rec = s->row.rec;
	}
	q.max = ss->tg->conf.max_recovery;
	q.now_ms = (int64_t)(clock_wall() * 1000.0);
	q.force = force;
	q.hint = hint;
	return recovery_refusal(&q, why, len, wait_ms);
}

/*
 * Whether a person's click may recover id, whose stream is as the
 * poller's fact f says (NULL: not judged); why (len bytes) says why not.
 */
bool
session_may_recover(struct sessions *ss, const char *id,
    const struct poller_fact *f, char *why, size_t len)
{
	const char	*code;
	int64_t		 wait;

	if (ss == NULL || id == NULL) {
		snprintf(why, len, "no session to recover; start it instead");
		return false;
	}
	pthread_mutex_lock(&ss->lock);
	code = session_refusal_locked(ss, session_find(ss, id), f, false,
	    true, why, len, &wait);
	pthread_mutex_unlock(&ss->lock);
	return code == NULL;
}

static long
session_live_count_locked(struct sessions *ss)
{
	size_t	i;
	long	n = 0;

	for (i = 0; i < ss->n; i++)
		if (ss->s[i]->live || ss->s[i]->phase == PHASE_STARTING)
			n++;
	return n;
}

/* The agent's state, its evidence and since when, what its hooks said
 * last, and whether the line taskgate typed arrived (new). */
static json_t *
session_agent_json_locked(const struct session *s)
{
	struct agent_fact	 a;
	json_t			*o;
	char			 at[32];

	session_agent_locked(s, &a);
	o = json_pack("{s:s,s:s}", "state", agent_state_name(a.state),
	    "evidence", a.reason);
	clock_iso8601(a.at, at, sizeof at);
	json_object_set_new(o, "since", a.at > 0 ? json_string(at) :
	    json_null());
	json_object_set_new(o, "hooks", json_boolean(s->agent.secret[0] !=
	    '\0'));
	if (s->agent.last_event[0] != '\0') {
		clock_iso8601((double)s->agent.last_event_ms / 1000.0, at,
		    sizeof at);
		json_object_set_new(o, "lastEvent", json_pack("{s:s,s:s}",
		    "name", s->agent.last_event, "at", at));
	}
	if (s->agent.claude_session[0] != '\0')
		json_object_set_new(o, "claudeSession",
		    json_string(s->agent.claude_session));
	if (s->agent.last_prompt_ms > 0) {
		clock_iso8601((double)s->agent.last_prompt_ms / 1000.0, at,
		    sizeof at);
		json_object_set_new(o, "lastPrompt", json_pack("{s:s%,s:s}",
		    "text", s->agent.last_prompt, strnlen(s->agent.last_prompt,
		    sizeof s->agent.last_prompt), "at", at));
	}
	if (s->agent.resume_ms > 1) {
		clock_iso8601((double)s->agent.resume_ms / 1000.0, at,
		    sizeof at);
		json_object_set_new(o, "parkedUntil", json_string(at));
	}
	if (s->agent.context_pct >= 0)
		json_object_set_new(o, "contextPercent",
		    json_real(s->agent.context_pct));
	if (s->agent.cost_usd >= 0)
		json_object_set_new(o, "costUsd", json_real(s->agent.cost_usd));
	if (s->agent.model[0] != '\0')
		json_object_set_new(o, "model", json_string(s->agent.model));
	/* Only the tool here, which anyone on loopback may read; what it
	 * would run is like the pane's text, for a viewer's eyes
	 * (session_output()). */
	if (s->permission != NULL && a.state == AGENT_WAITING_INPUT)
		json_object_set_new(o, "permission", json_pack("{s:O}", "tool",
		    json_object_get(s->permission, "tool")));
	if (s->typed != TYPED_NONE)
		json_object_set_new(o, "typed", json_pack("{s:s,s:s,s:s}",
		    "text", s->typed_text, "delivery", s->typed ==
		    TYPED_WAITING ? "waiting" : s->typed == TYPED_DELIVERED ?
		    "delivered" : "undelivered", "evidence",
		    s->typed_evidence));
	return o;
}

static void	session_spend_json_locked(struct sessions *,
		    const struct session *, json_t *);

static json_t *
session_json_locked(struct sessions *ss, struct session *s)
{
	json_t	*o;
	char	 at[32];

	if (s == NULL || (s->row.window[0] == '\0' && s->row.rec.attempts ==
	    0 && s->agent.hook.state != AGENT_BUDGET_SPENT))
		return json_null();
	clock_iso8601((double)s->row.started_ms / 1000.0, at, sizeof at);
	o = json_pack("{s:s,s:s,s:s,s:b,s:b,s:s,s:I,s:I,s:b}", "streamId",
	    s->row.id, "window", s->row.window, "pane", s->row.pane, "live",
	    s->live, "dead", s->dead, "phase", s->phase == PHASE_STARTING ?
	    "starting" : s->row.window[0] != '\0' ? "running" : "none",
	    "recoveryAttempts", (json_int_t)s->row.rec.attempts,
	    "maxRecoveryAttempts", (json_int_t)ss->tg->conf.max_recovery,
	    "needsHuman", session_spent_locked(ss, s));
	json_object_set_new(o, "startedAt", s->row.started_ms > 0 ?
	    json_string(at) : json_null());
	json_object_set_new(o, "agent", session_agent_json_locked(s));
	session_spend_json_locked(ss, s, o);
	if (s->dead)
		json_object_set_new(o, "exitStatus",
		    json_integer(s->dead_status));
	return o;
}

/* The session of id as the API shows it (new), or null. */
json_t *
session_json(struct sessions *ss, const char *id)
{
	json_t	*o;

	if (ss == NULL)
		return json_null();
	pthread_mutex_lock(&ss->lock);
	o = session_json_locked(ss, session_find(ss, id));
	pthread_mutex_unlock(&ss->lock);
	return o;
}

/* Every session (new array), for GET /api/sessions. */
json_t *
session_list(struct sessions *ss)
{
	json_t	*a = json_array(), *o;
	size_t	 i;

	pthread_mutex_lock(&ss->lock);
	for (i = 0; i < ss->n; i++) {
		o = session_json_locked(ss, ss->s[i]);
		if (json_is_null(o))
			json_decref(o);
		else
			json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&ss->lock);
	return a;
}

/*
 * The last lines (at most lines) of id's pane as plain text (new
 * object), or NULL when taskgate never had a session for it.  A session
 * whose window is gone (stopped, closed) has no text and is not live, so
 * that a pane view asking just after a Stop is told so, not a 404.  The
 * text is the latest capture, taken whenever the pane moved: no tmux call
 * here.
 */
json_t *
session_output(struct sessions *ss, const char *id, long lines)
{
	struct session	*s;
	json_t		*o = NULL;
	const char	*start;
	long		 seen = 0;

	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, id);
	if (s != NULL && s->row.window[0] != '\0') {
		const char *text = s->text != NULL ? s->text : "", *end;

		end = text + strlen(text);
		while (end > text && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		start = end;
		while (start > text) {
			if (start[-1] == '\n' && ++seen >= lines)
				break;
			start--;
		}
		struct agent_fact a;

		session_agent_locked(s, &a);
		o = json_pack("{s:s,s:s,s:b,s:s,s:s%}", "streamId", id,
		    "window", s->row.window, "live", s->live, "state",
		    agent_state_name(a.state), "text", start,
		    (size_t)(end - start));
		/* What its permission prompt would run, in full. */
		if (s->permission != NULL && a.state == AGENT_WAITING_INPUT)
			json_object_set(o, "permission", s->permission);
	} else if (s != NULL)
		o = json_pack("{s:s,s:s,s:b,s:s,s:s}", "streamId", id,
		    "window", "", "live", 0, "state",
		    agent_state_name(AGENT_UNKNOWN), "text", "");
	pthread_mutex_unlock(&ss->lock);
	return o;
}

/*
 * What the session layer knows for the health judgement of id: a live
 * session, the pane's state, and the stall clock shortened to the time
 * since the session (re)started, so a fresh session gets a whole timeout.
 */
void
session_stall_input(void *arg, const char *id, double now_mono,
    struct stall_input *in)
{
	struct sessions	*ss = arg;
	struct session	*s;

	if (ss == NULL)
		return;
	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, id);
	if (s != NULL) {
		in->session_live = s->live;
		if (s->live && s->started_mono > 0 &&
		    now_mono - s->started_mono < in->unchanged_s)
			in->unchanged_s = now_mono - s->started_mono;
		session_agent_locked(s, &in->agent);
		in->budget_spent = session_spent_locked(ss, s);
		in->attempts = s->row.rec.attempts;
	}
	session_spend_locked(ss, s, &in->spend);
	pthread_mutex_unlock(&ss->lock);
}

/*
 * The counts of s's stream moved: the recovery budget is whole again; true
 * when its row is to be written down.  The lock is held.
 */
static bool
session_progress_locked(struct session *s)
{
	s->nudges = s->handoffs = 0;	/* progress: both count anew */
	if (s->row.rec.attempts == 0)
		return false;
	recovery_reset(&s->row.rec);
	s->told_wait = 0;
	s->told_spent = false;
	return true;
}

/*
 * Progress, read from the poller's published facts (never told by the
 * poller): a stream whose counts moved since its session last looked (at
 * the first look, since its window started) has made progress.
 */
void
session_watch_progress(struct sessions *ss)
{
	struct poller_fact	*f;
	struct session_row	*rows;
	size_t			 nf, i, k, n = 0;

	nf = poller_facts(ss->tg->poller, &f);
	pthread_mutex_lock(&ss->lock);
	rows = xcalloc(ss->n + 1, sizeof *rows);
	for (i = 0; i < ss->n; i++) {
		struct session *s = ss->s[i];

		for (k = 0; k < nf && strcmp(f[k].id, s->row.id) != 0; k++)
			;
		if (k == nf)
			continue;
		if (s->progress_ms == 0)
			s->progress_ms = s->row.started_ms;
		if (f[k].last_change_ms <= s->progress_ms)
			continue;
		s->progress_ms = f[k].last_change_ms;
		if (session_progress_locked(s))
			rows[n++] = s->row;
	}
	pthread_mutex_unlock(&ss->lock);
	for (i = 0; i < n; i++)
		history_save_session(ss->tg->db, &rows[i]);
	free(rows);
	free(f);
}

/*
 * The poller published a round (its listener, on its thread): the session
 * thread reads the progress in it now, without a tmux call.
 */
void
session_view_published(void *arg)
{
	struct sessions	*ss = arg;

	pthread_mutex_lock(&ss->lock);
	ss->view_new = true;
	pthread_cond_signal(&ss->cond);
	pthread_mutex_unlock(&ss->lock);
}

/* Spending -------------------------------------------------------------- */

/* What s's stream has cost: its earlier agents and the one now. */
double
session_spent_of(const struct session *s)
{
	return s->agent.cost_before_usd + (s->agent.cost_usd > 0 ?
	    s->agent.cost_usd : 0);
}

/*
 * What s's stream and all streams have cost, and their limits (the
 * stream's maxCostUsd in the config, and the top-level one), into *sp.
 * The lock is held.
 */
void
session_spend_locked(struct sessions *ss, const struct session *s,
    struct agent_spend *sp)
{
	const struct orchconf	*c = &ss->tg->conf;
	size_t			 i;

	memset(sp, 0, sizeof *sp);
	sp->total_max = c->max_cost_usd;
	for (i = 0; i < ss->n; i++)
		sp->total_usd += session_spent_of(ss->s[i]);
	if (s == NULL)
		return;
	sp->stream_usd = session_spent_of(s);
	for (i = 0; i < c->n_streams; i++)
		if (strcmp(c->streams[i].id, s->row.id) == 0)
			sp->stream_max = c->streams[i].max_cost_usd;
}

/* Whether s's stream is past a spending limit; the lock is held. */
bool
session_spend_over_locked(struct sessions *ss, const struct session *s,
    char *why, size_t len)
{
	struct agent_spend	sp;
	char			dummy[8];

	session_spend_locked(ss, s, &sp);
	return agent_spend_over(&sp, why != NULL ? why : dummy, why != NULL ?
	    len : sizeof dummy);
}

/*
 * What s's stream has cost (all its agents) and its limit, into o, the
 * session's JSON: spentUsd, and maxCostUsd when it has one.  The lock is
 * held.
 */
static void
session_spend_json_locked(struct sessions *ss, const struct session *s,
    json_t *o)
{
	struct agent_spend	sp;

	session_spend_locked(ss, s, &sp);
	json_object_set_new(o, "spentUsd", json_real(sp.stream_usd));
	if (sp.stream_max > 0)
		json_object_set_new(o, "maxCostUsd", json_real(sp.stream_max));
}

/* Whether stream id may not be started for what it (or all) cost. */
bool
session_cost_spent(struct sessions *ss, const char *id)
{
	struct agent_spend	sp;
	char			why[8];
	bool			over;

	if (ss == NULL || id == NULL)
		return false;
	pthread_mutex_lock(&ss->lock);
	/* A stream that never ran has cost nothing: only the limit of all
	 * may stop it. */
	session_spend_locked(ss, session_find(ss, id), &sp);
	over = agent_spend_over(&sp, why, sizeof why);
	pthread_mutex_unlock(&ss->lock);
	return over;
}

/*
 * Takes the spending limits of fresh (a config read again): all streams'
 * and each stream's that the running config names (a stream it does not
 * name keeps none).  The limits are only read under this lock
 * (session_spend_locked()), so they may change while taskgate runs.
 */
void
session_set_limits(struct sessions *ss, const struct orchconf *fresh)
{
	struct orchconf	*c = &ss->tg->conf;
	size_t		 i, k;

	pthread_mutex_lock(&ss->lock);
	c->max_cost_usd = fresh->max_cost_usd;
	for (i = 0; i < c->n_streams; i++) {
		c->streams[i].max_cost_usd = 0;
		for (k = 0; k < fresh->n_streams; k++)
			if (strcmp(fresh->streams[k].id, c->streams[i].id) == 0)
				c->streams[i].max_cost_usd =
				    fresh->streams[k].max_cost_usd;
	}
	pthread_mutex_unlock(&ss->lock);
}

/*
 * What every stream has cost and the limits (new), for the overview and
 * /metrics: {"totalUsd", "maxCostUsd" (null: none), "streams": {id:
 * {"spentUsd", "maxCostUsd"}}}.
 */
json_t *
session_spend_json(struct sessions *ss)
{
	json_t			*o, *streams = json_object();
	struct agent_spend	 sp;
	size_t			 i;

	pthread_mutex_lock(&ss->lock);
	session_spend_locked(ss, NULL, &sp);
	for (i = 0; i < ss->n; i++) {
		struct agent_spend one;

		session_spend_locked(ss, ss->s[i], &one);
		json_object_set_new(streams, ss->s[i]->row.id, json_pack(
		    "{s:f,s:o}", "spentUsd", one.stream_usd, "maxCostUsd",
		    one.stream_max > 0 ? json_real(one.stream_max) :
		    json_null()));
	}
	pthread_mutex_unlock(&ss->lock);
	o = json_pack("{s:f,s:o,s:o}", "totalUsd", sp.total_usd, "maxCostUsd",
	    sp.total_max > 0 ? json_real(sp.total_max) : json_null(),
	    "streams", streams);
	return o;
}

void
session_event(struct sessions *ss, const char *what, const char *id,
    const char *actor, json_t *extra)
{
	json_t	*data = json_pack("{s:s,s:s,s:s}", "streamId", id, "event",
		    what, "actor", actor);

	if (extra != NULL) {
		json_object_update(data, extra);
		json_decref(extra);
	}
	events_emit(ss->tg->events, "session", data);
}

void
session_save(struct sessions *ss, struct session *s)
{
	struct session_row	row;

	pthread_mutex_lock(&ss->lock);
	row = s->row;
	pthread_mutex_unlock(&ss->lock);
	history_save_session(ss->tg->db, &row);
}

struct session_copy {
	json_t			 *streams;
	struct poller_fact	**facts;
	size_t			 *n_facts;
};

static void
session_copy_view(json_t *view, const struct poller_fact *f, size_t n,
    void *arg)
{
	struct session_copy	*c = arg;

	c->streams = view != NULL ? json_deep_copy(json_object_get(view,
	    "streams")) : NULL;
	if (c->facts == NULL)
		return;
	*c->facts = xcalloc(n + 1, sizeof **c->facts);
	if (n > 0)
		memcpy(*c->facts, f, n * sizeof **c->facts);
	*c->n_facts = n;
}

/*
 * A deep copy of the streams as the last poll judged them, or NULL; with
 * facts, a copy of the facts published with them (new, *facts, *n_facts:
 * their states and when they were judged, in numbers).
 */
json_t *
session_streams(struct sessions *ss, struct poller_fact **facts,
    size_t *n_facts)
{
	struct session_copy	c = { NULL, facts, n_facts };

	poller_with_view(ss->tg->poller, session_copy_view, &c);
	return c.streams;
}

void
session_answer(struct session_job *j, enum session_result result,
    json_t *answer)
{
	j->result = result;
	json_decref(j->answer);
	j->answer = answer;
}

void
session_refuse(struct session_job *j, enum session_result result,
    const char *code, const char *fmt, ...)
{
	char	sentence[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(sentence, sizeof sentence, fmt, ap);
	va_end(ap);
	session_answer(j, result, json_pack("{s:s,s:s}", "error", sentence,
	    "code", code));
}

/*
 * The plan as the gates see it, with what this layer knows of windows:
 * each stream's live window and spent budget, and *live, the windows
 * live or starting (of any stream, listed or not).  The one place the
 * gates' inputs are built: a start, a run and the overview's canStart
 * all use it, so the page never offers what a start then refuses.
 */
size_t
session_plan(struct sessions *ss, json_t *streams, struct plan_stream **ps,
    long *live)
{
	size_t	n = plan_streams_from_json(streams, ps), i;
	int64_t	recent = (int64_t)(clock_wall() * 1000.0) - SESSION_OWN_AGENT_MS;

	*live = 0;
	if (ss == NULL)
		return n;
	pthread_mutex_lock(&ss->lock);
	for (i = 0; i < n; i++) {
		struct session *s = session_find(ss, (*ps)[i].id);

		(*ps)[i].live = s != NULL && (s->live ||
		    s->phase == PHASE_STARTING);
		(*ps)[i].budget_spent = s != NULL && s->row.rec.attempts >=
		    ss->tg->conf.max_recovery;
		/* The agent Task Copilot saw at work may be the one taskgate
		 * ran there until a moment ago (stopped, dead, over its
		 * limit): that is no other agent. */
		if (s != NULL && (s->agent.last_event_ms > recent ||
		    s->row.started_ms > recent))
			(*ps)[i].worked_by = NULL;
	}
	*live = session_live_count_locked(ss);
	pthread_mutex_unlock(&ss->lock);
	for (i = 0; i < n; i++)
		(*ps)[i].cost_spent = session_cost_spent(ss, (*ps)[i].id);
	return n;
}

/* What an audit row says of a job's result: done, refused or failed. */
static const char *
session_result_outcome(enum session_result r)
{
	switch (r) {
	case SESSION_DONE:
	case SESSION_STARTED:
	case SESSION_TYPED:
		return "done";
	case SESSION_UNKNOWN_STREAM:
	case SESSION_REFUSED:
	case SESSION_BAD_WORKTREE:
		return "refused";
	default:
		return "failed";
	}
}

/*
 * The job's audit row, with the HTTP status the API answers for its
 * result (ss->status_of, from api-sessions.c), whether a request asked
 * or the session thread acted by itself.
 */
void
session_audit(struct sessions *ss, struct session_job *j)
{
	audit_add(ss->tg->audit, j->actor, session_job_name(j->kind),
	    j->id[0] != '\0' ? j->id : NULL, j->dry_run ? "dry-run" :
	    session_result_outcome(j->result), ss->status_of(j->result),
	    j->answer);
}

const char *
session_job_name(enum session_job_kind k)
{
	static const char *const names[] = { "start", "stop", "recover",
	    "run", "reply", "handoff" };

	return names[k];
}
