/*
 * session.c: the agent sessions, one tmux window per stream, and the
 * thread that owns them.
 *
 * Every tmux call runs on this thread, never on the HTTP thread: actions
 * (start, stop, recover, run) arrive as jobs, run one at a time in the
 * order they came, and wake the request that asked.  Each tick the thread
 * lists the session's windows with one tmux call, captures a pane only
 * when its activity, history or cursor moved, and classifies the text
 * (context-exhausted, waiting-input); a dead pane is an exited agent.  A
 * window that is starting gets "/continue ID" typed once its screen has
 * settled.  With --auto it also runs the plan and recovers streams.
 *
 * Windows are found by name when taskgate starts (adoption), so a
 * restarted taskgate never starts a twin; each action is checked against
 * the live window list, not only against memory.  Other threads read the
 * per-stream facts (live, agent state, budget) under the lock.
 *
 * A Claude Code window is given hooks (claude --settings FILE) that POST
 * its events to taskgate with a secret of its own, in the window's
 * environment (TASKGATE_HOOK_SECRET); session_hook() takes them on the
 * HTTP thread, in memory, and this thread writes them down.  A line
 * taskgate types is confirmed by the UserPromptSubmit it causes, or
 * reported undelivered with the pane's last lines.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "taskgate.h"

#define SESSION_TICK_FAST	0.25	/* seconds, while a window starts */
#define SESSION_TICK_IDLE	10.0	/* seconds, while tmux has no session */
#define SESSION_READY_QUIET	1.0	/* screen unchanged this long: ready */
#define SESSION_READY_MAX	30.0	/* type anyway after this long */
#define SESSION_QUESTION_QUIET	2.0	/* a question unanswered this long */
#define SESSION_STATUS_WAIT	3.0	/* for tmux to learn an exit status */
#define SESSION_CAPTURE_LINES	200
#define SESSION_TYPED_WAIT	15.0	/* for a typed line's UserPromptSubmit */
#define SESSION_HOOK_RATE	20.0	/* hook events a second, sustained */
#define SESSION_HOOK_BURST	200.0	/* and at once */
#define SESSION_SECRET_ENV	"TASKGATE_HOOK_SECRET"
#define SESSION_RESUME_LINE	"continue"
#define SESSION_HANDOFFS	2	/* in a row, without progress */
#define SESSION_PERMISSION_MAX	16384	/* bytes of a tool's input kept */

enum session_typed { TYPED_NONE, TYPED_WAITING, TYPED_DELIVERED,
	TYPED_UNDELIVERED };

enum session_phase { PHASE_NONE, PHASE_STARTING, PHASE_RUNNING };

struct session {
	struct session_row	 row;		/* persisted */
	enum session_phase	 phase;
	bool			 live;		/* window there, agent alive */
	bool			 dead;		/* window there, agent exited */
	int			 dead_status;	/* -1: not known */
	double			 dead_seen;	/* first seen dead, status unknown */
	double			 started_mono;
	double			 changed_mono;	/* the pane last moved */
	char			 sig[64];	/* activity/history/cursor */
	char			*text;		/* last capture, plain */
	struct agent_fact	 pane;		/* what the pane shows, since */
	struct agent_fact	 process;	/* dead, or unknown */
	struct agent_row	 agent;		/* its hooks' word (persisted) */
	struct agent_fact	 context_full;	/* its status line's, if full */
	bool			 agent_dirty;	/* to be written down */
	enum session_typed	 typed;		/* the last line taskgate typed */
	char			 typed_text[1024];
	double			 typed_at;	/* wall */
	char			 typed_evidence[600];	/* pane's last lines */
	double			 hook_tokens;	/* flood control */
	double			 hook_refill;	/* mono */
	long			 told_wait;	/* --auto told it waits for this
						   attempt (event, audit row) */
	bool			 told_spent;	/* and that it needs a human */
	bool			 busy;		/* a job for it is queued */
	bool			 question;	/* asked, not yet still long enough */
	int			 nudges;	/* Stop hooks answered "go on" in a
						   row */
	int			 handoffs;	/* since the last progress */
	bool			 nudge_pending;	/* to tell (event, audit row) */
	char			 nudge_reason[512];
	json_t			*permission;	/* what its PermissionRequest
						   asks: {tool, input}, or NULL */
};

struct sessions {
	struct taskgate		*tg;
	char			**agent;	/* argv of --agent-command */
	bool			 hooks;		/* give windows Claude Code hooks */
	char			*self_quoted;	/* this program, quoted for sh */
	char			 hooks_dir[PATH_MAX];	/* their settings files */
	const char *const	*phrases;
	char			 owner[64];	/* the token's owner */
	pthread_t		 thread;
	bool			 started;

	pthread_mutex_t		 lock;		/* guards what follows */
	pthread_cond_t		 cond;
	struct session		**s;		/* each allocated alone, so a
						   pointer outlives a realloc */
	size_t			 n;
	struct session_job	*jobs, **jobs_tail;
	bool			 stop;
	bool			 agents_dirty;	/* an agent row to write */
	bool			 wake;		/* tick now (a resume now) */
	bool			 have_tmux_session;
	char			 tmux_error[256];
};

static void	*session_main(void *);
static json_t	*session_checkpoint(struct sessions *, const char *,
		    const char *);
static void	 session_do_handoff(struct sessions *, struct session_job *,
		    json_t *);
static void	 session_audit(struct sessions *, struct session_job *);
static int	 session_type_line(struct sessions *, const char *,
		    const char *, const char *, char *, size_t);
static void	 session_expect_prompt(struct sessions *, const char *,
		    const char *);
static void	 session_note_permission_locked(struct session *,
		    const char *, json_t *);

/*
 * The agent's state from its witnesses; the lock is held.  A status line
 * that said the context is (nearly) full holds until a fresh window: no
 * later turn of the same context makes room.
 */
static void
session_agent_locked(const struct session *s, struct agent_fact *out)
{
	agent_combine(&s->agent.hook, &s->pane, &s->process, out);
	if (out->state != AGENT_DEAD && s->context_full.state ==
	    AGENT_CONTEXT_EXHAUSTED)
		*out = s->context_full;
}

/* Sets what the pane shows; the time moves only when the state does. */
static void
session_set_pane(struct session *s, enum agent_state st, const char *reason)
{
	if (s->pane.state != st)
		s->pane.at = clock_wall();
	s->pane.state = st;
	snprintf(s->pane.reason, sizeof s->pane.reason, "%s", reason);
}

/* The agent's process exited (or its window went): dead from now. */
static void
session_set_dead(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_set_dead(struct session *s, const char *fmt, ...)
{
	va_list	ap;

	s->process.state = AGENT_DEAD;
	s->process.at = clock_wall();
	va_start(ap, fmt);
	vsnprintf(s->process.reason, sizeof s->process.reason, fmt, ap);
	va_end(ap);
}

/* Forgets what the pane and process said: a new window, or none. */
static void
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

static struct session *
session_find(struct sessions *ss, const char *id)
{
	size_t	i;

	for (i = 0; i < ss->n; i++)
		if (strcmp(ss->s[i]->row.id, id) == 0)
			return ss->s[i];
	return NULL;
}

/* Finds or adds the record of id; the lock is held. */
static struct session *
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

/* This program's path (/proc/self/exe) in single quotes for sh (new). */
static char *
session_self_quoted(void)
{
	char	 path[PATH_MAX], *out, *w;
	ssize_t	 n = readlink("/proc/self/exe", path, sizeof path - 1);
	size_t	 i;

	if (n <= 0)
		snprintf(path, sizeof path, "taskgate");
	else
		path[n] = '\0';
	w = out = xmalloc(strlen(path) * 4 + 3);
	*w++ = '\'';
	for (i = 0; path[i] != '\0'; i++) {
		if (path[i] == '\'') {
			memcpy(w, "'\\''", 4);
			w += 4;
		} else
			*w++ = path[i];
	}
	*w++ = '\'';
	*w = '\0';
	return out;
}

/*
 * Whether windows get Claude Code's hooks: --agent-hooks on, or auto and
 * the agent program is named claude; and where their settings files go
 * (beside the history database, in hooks/).  A unix-socket taskgate has
 * no URL Claude Code can POST to.
 */
static void
session_hooks_setup(struct sessions *ss)
{
	const struct options	*o = ss->tg->opts;
	const char		*prog = strrchr(ss->agent[0], '/');
	char			*slash;

	prog = prog != NULL ? prog + 1 : ss->agent[0];
	ss->hooks = o->agent_hooks == 1 || (o->agent_hooks == -1 &&
	    strcmp(prog, "claude") == 0);
	if (ss->hooks && ss->tg->hook_base[0] == '\0') {
		log_warnx("agents get no hooks: taskgate listens on a unix "
		    "socket, and Claude Code posts its hooks over TCP");
		ss->hooks = false;
	}
	ss->self_quoted = session_self_quoted();
	snprintf(ss->hooks_dir, sizeof ss->hooks_dir, "%s", o->db_path);
	if ((slash = strrchr(ss->hooks_dir, '/')) != NULL)
		snprintf(slash, sizeof ss->hooks_dir - (size_t)(slash -
		    ss->hooks_dir), "/hooks");
	else
		snprintf(ss->hooks_dir, sizeof ss->hooks_dir, "hooks");
}

/* Returns the session layer; the rows of an earlier run are loaded. */
struct sessions *
session_new(struct taskgate *tg, char *err, size_t errlen)
{
	struct sessions		*ss = xcalloc(1, sizeof *ss);
	struct session_row	*rows;
	struct agent_row	*agents;
	struct passwd		*pw = getpwuid(getuid());
	const char		*why;
	size_t			 n, i;

	ss->tg = tg;
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
	session_hooks_setup(ss);
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

int
session_start_thread(struct sessions *ss)
{
	if (pthread_create(&ss->thread, NULL, session_main, ss) != 0)
		return -1;
	ss->started = true;
	return 0;
}

const char *
session_owner(struct sessions *ss)
{
	return ss->owner;
}

/* Fails the jobs not yet run, stops the thread. */
void
session_stop_thread(struct sessions *ss)
{
	struct session_job	*j, *next;

	pthread_mutex_lock(&ss->lock);
	ss->stop = true;
	j = ss->jobs;
	ss->jobs = NULL;
	ss->jobs_tail = &ss->jobs;
	pthread_cond_broadcast(&ss->cond);
	pthread_mutex_unlock(&ss->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		j->status = 503;
		j->answer = json_pack("{s:s,s:s}", "error", "taskgate is "
		    "stopping", "code", "unavailable");
		j->done(j);
	}
	if (ss->started)
		pthread_join(ss->thread, NULL);
	ss->started = false;
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

bool
session_is_live(struct sessions *ss, const char *id)
{
	struct session	*s;
	bool		 live;

	if (ss == NULL || id == NULL)
		return false;
	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, id);
	live = s != NULL && (s->live || s->phase == PHASE_STARTING);
	pthread_mutex_unlock(&ss->lock);
	return live;
}

/* Whether id's agent exited in a window of taskgate's (a recovery's
 * business, with its checkpoint and budget, not a new start's). */
static bool
session_is_dead(struct sessions *ss, const char *id)
{
	struct session	*s;
	bool		 dead;

	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, id);
	dead = s != NULL && s->dead;
	pthread_mutex_unlock(&ss->lock);
	return dead;
}

static bool
session_spent_locked(struct sessions *ss, const struct session *s)
{
	return s != NULL && s->row.rec.attempts >= ss->tg->conf.max_recovery;
}

bool
session_budget_spent(struct sessions *ss, const char *id)
{
	bool	spent;

	if (ss == NULL || id == NULL)
		return false;
	pthread_mutex_lock(&ss->lock);
	spent = session_spent_locked(ss, session_find(ss, id));
	pthread_mutex_unlock(&ss->lock);
	return spent;
}

/*
 * Why s may not be recovered now, its stream being in state as judged
 * by the poll of judged_ms: the refusal's code, with a sentence in why
 * (and the backoff left in *wait_ms), or NULL when it may.  force passes
 * the budget, the backoff and the state, never a missing session; hint
 * adds how to force.  A window (re)started since that poll is not judged
 * yet: its state is the old window's.  The one rule for a click, a run
 * and the overview's Recover button.  The lock is held.
 */
static const char *
session_refusal_locked(struct sessions *ss, const struct session *s,
    const char *state, int64_t judged_ms, bool force, bool hint, char *why,
    size_t len, int64_t *wait_ms)
{
	enum recovery_verdict	v;
	long			max = ss->tg->conf.max_recovery;
	const char		*waits;
	struct agent_fact	a;

	*wait_ms = 0;
	if (s == NULL || (s->row.window[0] == '\0' && !s->dead)) {
		snprintf(why, len, "no session to recover; start it instead");
		return "not-running";
	}
	/* Not even forced: a restart would lose what it waits for.  The
	 * agent's own word now counts, not only the last poll's. */
	session_agent_locked(s, &a);
	if ((waits = stall_state_protected(state)) != NULL ||
	    (agent_state_protected(a.state) && (waits = stall_state_protected(
	    agent_state_name(a.state))) != NULL)) {
		snprintf(why, len, "%s %s (%s); taskgate never kills such a "
		    "window: answer it in its pane, or stop it yourself",
		    s->row.id, waits, a.reason[0] != '\0' ? a.reason :
		    "its pane says so");
		return "waits-for-person";
	}
	v = recovery_decide(&s->row.rec, max, (int64_t)(clock_wall() *
	    1000.0), wait_ms);
	if (force)
		return NULL;
	if (v == RECOVERY_SPENT) {
		snprintf(why, len, "the recovery budget is spent (%ld of %ld); "
		    "it needs a human%s%s%s", s->row.rec.attempts, max, hint ?
		    " ('taskgate recover " : "", hint ? s->row.id : "", hint ?
		    " --force' tries again)" : "");
		return "budget-spent";
	}
	if (v == RECOVERY_LATER) {
		snprintf(why, len, "the next recovery is due in %lld s%s%s%s",
		    (long long)((*wait_ms + 999) / 1000), hint ?
		    " ('taskgate recover " : "", hint ? s->row.id : "", hint ?
		    " --force' tries now)" : "");
		return "backoff";
	}
	if (s->row.window[0] != '\0' && s->row.started_ms >= judged_ms) {
		snprintf(why, len, "%s was (re)started after taskgate last "
		    "looked; it is judged at the next poll%s%s%s", s->row.id,
		    hint ? " ('taskgate recover " : "", hint ? s->row.id : "",
		    hint ? " --force' recovers anyway)" : "");
		return "not-judged";
	}
	if (!stall_state_recoverable(state)) {
		snprintf(why, len, "%s is %s; recovery is for no-progress, "
		    "context-exhausted and dead streams%s%s%s", s->row.id,
		    state != NULL ? state : "not judged yet", hint ?
		    " ('taskgate recover " : "", hint ? s->row.id : "", hint ?
		    " --force' recovers anyway)" : "");
		return "not-stuck";
	}
	return NULL;
}

/*
 * Whether a person's click may recover id, whose stream is in state;
 * why (len bytes) says why not.
 */
bool
session_may_recover(struct sessions *ss, const char *id, const char *state,
    int64_t judged_ms, char *why, size_t len)
{
	const char	*code;
	int64_t		 wait;

	if (ss == NULL || id == NULL) {
		snprintf(why, len, "no session to recover; start it instead");
		return false;
	}
	pthread_mutex_lock(&ss->lock);
	code = session_refusal_locked(ss, session_find(ss, id), state,
	    judged_ms, false, true, why, len, &wait);
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
	if (s->permission != NULL && a.state == AGENT_WAITING_INPUT)
		json_object_set(o, "permission", s->permission);
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
static void	session_spend_locked(struct sessions *, const struct session *,
		    struct agent_spend *);

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
session_stall_input(struct sessions *ss, const char *id, double now_mono,
    struct stall_input *in)
{
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

/* The counts of id moved: the recovery budget is whole again. */
void
session_progress(struct sessions *ss, const char *id)
{
	struct session	*s;
	bool		 save = false;
	struct session_row row;

	if (ss == NULL)
		return;
	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, id);
	if (s != NULL)
		s->nudges = s->handoffs = 0;	/* progress: both count anew */
	if (s != NULL && s->row.rec.attempts > 0) {
		recovery_reset(&s->row.rec);
		s->told_wait = 0;
		s->told_spent = false;
		row = s->row;
		save = true;
	}
	pthread_mutex_unlock(&ss->lock);
	if (save)
		history_save_session(ss->tg->db, &row);
}

/* Spending -------------------------------------------------------------- */

/* What s's stream has cost: its earlier agents and the one now. */
static double
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
static void
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
static bool
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

/* The thread ---------------------------------------------------------- */

static void
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

static void
session_save(struct sessions *ss, struct session *s)
{
	struct session_row	row;

	pthread_mutex_lock(&ss->lock);
	row = s->row;
	pthread_mutex_unlock(&ss->lock);
	history_save_session(ss->tg->db, &row);
}

static bool
session_capture(struct sessions *ss, struct session *s, int lines)
{
	char	**argv = tmux_argv_capture(s->row.pane, lines), *out, err[256];
	char	*plain;

	if (tmux_exec(argv, &out, err, sizeof err) == -1) {
		tmux_argv_free(argv);
		return false;
	}
	tmux_argv_free(argv);
	plain = tmux_plain_text(out);
	free(out);
	pthread_mutex_lock(&ss->lock);
	free(s->text);
	s->text = plain;
	pthread_mutex_unlock(&ss->lock);
	return true;
}

/* Updates one known window from the list; the lock is not held. */
static void
session_seen(struct sessions *ss, struct session *s,
    const struct tmux_window *w, double now)
{
	char		 sig[64], reason[200];
	enum agent_state st;
	double		 still;
	bool		 changed;

	snprintf(sig, sizeof sig, "%ld/%ld/%ld/%ld", w->activity, w->history,
	    w->cx, w->cy);
	if (w->dead && !s->dead && w->dead_status < 0 && s->dead_seen == 0)
		s->dead_seen = now;	/* wait a moment for the status */
	if (w->dead && !s->dead && (w->dead_status >= 0 ||
	    now - s->dead_seen > SESSION_STATUS_WAIT)) {
		pthread_mutex_lock(&ss->lock);
		s->dead = true;
		s->live = false;
		s->dead_status = w->dead_status;
		session_set_dead(s, "the agent exited with status %d",
		    w->dead_status);
		pthread_mutex_unlock(&ss->lock);
		session_event(ss, "exited", s->row.id, "tmux", json_pack(
		    "{s:i,s:s}", "exitStatus", w->dead_status, "window",
		    w->id));
		poller_poke(ss->tg->poller);
		return;
	}
	if (w->dead)
		return;
	if (strcmp(sig, s->sig) != 0) {
		snprintf(s->sig, sizeof s->sig, "%s", sig);
		s->changed_mono = now;
		session_capture(ss, s, SESSION_CAPTURE_LINES);
	}
	/* How long the pane has been still, by tmux's own clock when it
	 * says (taskgate may notice a change a tick late). */
	still = w->activity > 0 ? clock_wall() - (double)w->activity :
	    now - s->changed_mono;
	pthread_mutex_lock(&ss->lock);
	st = agent_from_pane(s->text, ss->phrases, reason, sizeof reason);
	/* A question on the last line may be half written: it counts once
	 * the pane has been still a while (the thread ticks fast until
	 * then).  A dialog is whole at once. */
	s->question = st == AGENT_WAITING_INPUT && strncmp(reason,
	    "a permission prompt", 19) != 0 && still < SESSION_QUESTION_QUIET;
	if (s->question)
		st = AGENT_UNKNOWN;
	s->live = true;
	changed = s->pane.state != st;
	session_set_pane(s, st, reason);
	pthread_mutex_unlock(&ss->lock);
	/* What the pane says now is news for the stream's state. */
	if (changed)
		poller_poke(ss->tg->poller);
}

/*
 * Lists the windows (one tmux call) and brings every record up to date:
 * adopts windows it did not know, notices windows that went away.
 */
static void
session_refresh(struct sessions *ss, double now)
{
	struct tmux_window	*w = NULL;
	struct session		**snap;
	char			**argv, *out, err[256];
	size_t			 n = 0, i, k, nsnap;
	bool			 have, none;

	argv = tmux_argv_list(ss->tg->opts->tmux_session);
	have = tmux_exec(argv, &out, err, sizeof err) == 0;
	tmux_argv_free(argv);
	/* No server or no session yet is normal; anything else is news. */
	none = !have && tmux_said_gone(err);
	pthread_mutex_lock(&ss->lock);
	if (!have && !none && strcmp(err, ss->tmux_error) != 0)
		log_warnx("%s", err);
	snprintf(ss->tmux_error, sizeof ss->tmux_error, "%s", have ? "" : err);
	pthread_mutex_unlock(&ss->lock);
	/*
	 * tmux did not answer (a timeout, say): that is no news of the
	 * windows, so none of them is taken for closed.
	 */
	if (!have && !none)
		return;
	if (have) {
		n = tmux_parse_windows(out, &w);
		free(out);
	}
	pthread_mutex_lock(&ss->lock);
	ss->have_tmux_session = have;
	pthread_mutex_unlock(&ss->lock);

	for (i = 0; i < n; i++) {
		struct session	*s;
		bool		 adopted = false;

		if (!valid_stream_id(w[i].name))
			continue;	/* not one of ours */
		pthread_mutex_lock(&ss->lock);
		s = session_find(ss, w[i].name);
		if (s != NULL && s->row.window[0] != '\0' &&
		    strcmp(s->row.window, w[i].id) != 0) {
			pthread_mutex_unlock(&ss->lock);
			continue;	/* a second window of that name */
		}
		s = session_get(ss, w[i].name);
		if (s->row.window[0] == '\0' || s->phase == PHASE_NONE) {
			adopted = strcmp(s->row.window, w[i].id) != 0;
			snprintf(s->row.window, sizeof s->row.window, "%s",
			    w[i].id);
			snprintf(s->row.pane, sizeof s->row.pane, "%s",
			    w[i].pane);
			s->phase = PHASE_RUNNING;
			s->started_mono = now;
			if (s->row.started_ms == 0)
				s->row.started_ms = (int64_t)(clock_wall() *
				    1000.0);
		}
		pthread_mutex_unlock(&ss->lock);
		if (adopted) {
			session_save(ss, s);
			session_event(ss, "started", s->row.id, "adopt",
			    json_pack("{s:s,s:b}", "window", w[i].id,
			    "adopted", 1));
		}
		session_seen(ss, s, &w[i], now);
	}
	/* Windows that are gone. */
	pthread_mutex_lock(&ss->lock);
	nsnap = ss->n;
	snap = xcalloc(nsnap, sizeof *snap);
	if (nsnap > 0)
		memcpy(snap, ss->s, nsnap * sizeof *snap);
	pthread_mutex_unlock(&ss->lock);
	for (k = 0; k < nsnap; k++) {
		struct session	*s = snap[k];
		bool		 found = false;

		if (s->row.window[0] == '\0')
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(w[i].id, s->row.window) == 0)
				found = true;
		if (found)
			continue;
		pthread_mutex_lock(&ss->lock);
		s->row.window[0] = s->row.pane[0] = '\0';
		s->live = false;
		s->dead = s->phase != PHASE_NONE;
		if (s->dead)
			session_set_dead(s, "the agent's window was closed");
		else
			session_forget_agent(s);
		s->phase = PHASE_NONE;
		pthread_mutex_unlock(&ss->lock);
		session_save(ss, s);
		if (s->dead)
			session_event(ss, "exited", s->row.id, "tmux",
			    json_pack("{s:s}", "reason", "the window was "
			    "closed"));
	}
	free(snap);
	free(w);
}

/* Types "/continue ID" into windows whose agent is ready. */
static void
session_type_when_ready(struct sessions *ss, double now)
{
	struct session	**snap;
	size_t		  i, n;

	pthread_mutex_lock(&ss->lock);
	n = ss->n;
	snap = xcalloc(n, sizeof *snap);
	if (n > 0)
		memcpy(snap, ss->s, n * sizeof *snap);
	pthread_mutex_unlock(&ss->lock);
	for (i = 0; i < n; i++) {
		struct session	*s = snap[i];
		char		 text[STREAM_ID_MAX + 16], err[256], **argv;
		bool		 quiet, has_text;

		if (s->phase != PHASE_STARTING || s->dead || !s->live)
			continue;
		has_text = s->text != NULL && strspn(s->text, " \t\n") !=
		    strlen(s->text);
		quiet = now - s->changed_mono >= SESSION_READY_QUIET;
		if (!(has_text && quiet) &&
		    now - s->started_mono < SESSION_READY_MAX)
			continue;
		snprintf(text, sizeof text, "/continue %s", s->row.id);
		session_expect_prompt(ss, s->row.id, text);
		argv = tmux_argv_type(s->row.pane, text);
		if (tmux_exec(argv, NULL, err, sizeof err) == -1)
			log_warnx("%s: %s", s->row.id, err);
		tmux_argv_free(argv);
		argv = tmux_argv_enter(s->row.pane);
		if (tmux_exec(argv, NULL, err, sizeof err) == -1)
			log_warnx("%s: %s", s->row.id, err);
		tmux_argv_free(argv);
		pthread_mutex_lock(&ss->lock);
		s->phase = PHASE_RUNNING;
		pthread_mutex_unlock(&ss->lock);
		log_info("%s: typed /continue into %s", s->row.id,
		    s->row.window);
		/* The window is up and at work: no page has to poll for it. */
		session_event(ss, "running", s->row.id, "taskgate", json_pack(
		    "{s:s,s:s}", "window", s->row.window, "pane", s->row.pane));
	}
	free(snap);
}

/*
 * Usage limits.  An agent that hit one is parked: never restarted into
 * the wall, and resumed by typing SESSION_RESUME_LINE at the limit's
 * reset (its status line's rate_limits resets_at when it says, else
 * usageLimitWaitMinutes from now).  Streams parked together are resumed
 * one at a time, usageLimitSpreadSeconds apart (with a little jitter),
 * so that they do not all hit the API at the same moment.  A person may
 * resume one now (session_resume_now()).  The lock is held.
 */
static void
session_park_locked(struct sessions *ss, struct session *s, int64_t now_ms)
{
	const struct orchconf	*c = &ss->tg->conf;
	int64_t			 base, slot_ms, at;
	size_t			 i, before = 0;

	base = s->agent.limit_reset_ms > now_ms ? s->agent.limit_reset_ms :
	    now_ms + (int64_t)(c->limit_wait_min * 60000.0);
	slot_ms = (int64_t)(c->limit_spread_s * 1000.0);
	/* Its place in the line: after every stream already parked. */
	for (i = 0; i < ss->n; i++)
		if (ss->s[i] != s && ss->s[i]->agent.resume_ms > 0)
			before++;
	at = base + (int64_t)before * slot_ms;
	if (slot_ms > 0)
		at += (int64_t)(random() % (slot_ms / 4 + 1));
	s->agent.resume_ms = at;
	s->agent_dirty = ss->agents_dirty = true;
}

/*
 * Parks the windows whose agents hit a usage limit, and resumes those
 * whose time has come: one line typed, confirmed like any other.
 */
static void
session_tend_limits(struct sessions *ss)
{
	int64_t		 now_ms = (int64_t)(clock_wall() * 1000.0);
	size_t		 i;

	for (i = 0;; i++) {
		struct session		*s;
		struct agent_fact	 a;
		char			 id[STREAM_ID_MAX + 1], pane[16], err[256];
		const char		*actor;
		json_t			*why;
		int64_t			 late;

		pthread_mutex_lock(&ss->lock);
		if (i >= ss->n) {
			pthread_mutex_unlock(&ss->lock);
			break;
		}
		s = ss->s[i];
		session_agent_locked(s, &a);
		if (!s->live) {
			pthread_mutex_unlock(&ss->lock);
			continue;
		}
		if (a.state == AGENT_USAGE_LIMITED && s->agent.resume_ms == 0) {
			session_park_locked(ss, s, now_ms);
			snprintf(id, sizeof id, "%s", s->row.id);
			late = s->agent.resume_ms;
			pthread_mutex_unlock(&ss->lock);
			session_event(ss, "parked", id, "taskgate", json_pack(
			    "{s:s,s:I}", "reason", a.reason, "resumeAtMs",
			    (json_int_t)late));
			continue;
		}
		/* It went on by itself (its own retry got through). */
		if (s->agent.resume_ms > 1 && a.state != AGENT_USAGE_LIMITED &&
		    a.state != AGENT_UNKNOWN) {
			s->agent.resume_ms = 0;
			s->agent_dirty = ss->agents_dirty = true;
		}
		if (s->agent.resume_ms == 0 || now_ms < s->agent.resume_ms) {
			pthread_mutex_unlock(&ss->lock);
			continue;
		}
		/* 1: a person said now (session_resume_now()). */
		actor = s->agent.resume_ms == 1 ? ss->owner : "taskgate";
		s->agent.resume_ms = 0;
		s->agent_dirty = ss->agents_dirty = true;
		snprintf(id, sizeof id, "%s", s->row.id);
		snprintf(pane, sizeof pane, "%s", s->row.pane);
		pthread_mutex_unlock(&ss->lock);
		why = json_pack("{s:s,s:b}", "text", SESSION_RESUME_LINE,
		    "typed", session_type_line(ss, id, pane,
		    SESSION_RESUME_LINE, err, sizeof err) == 0);
		/* The audit row first: whoever sees the event finds it. */
		audit_add(ss->tg->audit, actor, "resume", id, "done", 200, why);
		session_event(ss, "resumed", id, actor, json_deep_copy(why));
		json_decref(why);
	}
}

/*
 * Types text into pane as one literal line, then Enter, expecting the
 * UserPromptSubmit it causes; -1 with err when tmux fails.
 */
static int
session_type_line(struct sessions *ss, const char *id, const char *pane,
    const char *text, char *err, size_t len)
{
	char	**argv;
	int	  rc;

	session_expect_prompt(ss, id, text);
	argv = tmux_argv_type(pane, text);
	rc = tmux_exec(argv, NULL, err, len);
	tmux_argv_free(argv);
	if (rc == 0) {
		argv = tmux_argv_enter(pane);
		rc = tmux_exec(argv, NULL, err, len);
		tmux_argv_free(argv);
	}
	if (rc == -1)
		log_warnx("%s: %s", id, err);
	return rc;
}

/*
 * A person resumes a parked stream now: the line is typed at once and
 * the stream leaves the queue.  -1 when id is not parked.
 */
int
session_resume_now(struct sessions *ss, const char *id)
{
	struct session	*s;
	int		 rc = -1;

	pthread_mutex_lock(&ss->lock);
	if ((s = session_find(ss, id)) != NULL && s->agent.resume_ms > 0) {
		s->agent.resume_ms = 1;		/* due: the next tick types it */
		ss->wake = true;
		pthread_cond_signal(&ss->cond);
		rc = 0;
	}
	pthread_mutex_unlock(&ss->lock);
	return rc;
}

/*
 * A line typed into a window with hooks that no UserPromptSubmit
 * confirmed within SESSION_TYPED_WAIT was not delivered: say so, with
 * the pane's last lines as evidence.
 */
static void
session_check_typed(struct sessions *ss)
{
	double	now = clock_wall();
	size_t	i;

	for (i = 0;; i++) {
		struct session	*s;
		char		 id[STREAM_ID_MAX + 1], text[sizeof s->typed_text];
		char		 evidence[sizeof s->typed_evidence];

		pthread_mutex_lock(&ss->lock);
		if (i >= ss->n) {
			pthread_mutex_unlock(&ss->lock);
			break;
		}
		s = ss->s[i];
		if (s->typed != TYPED_WAITING || now - s->typed_at <
		    SESSION_TYPED_WAIT || !s->live) {
			pthread_mutex_unlock(&ss->lock);
			continue;
		}
		s->typed = TYPED_UNDELIVERED;
		agent_pane_tail_copy(s->text != NULL ? s->text : "", 8,
		    s->typed_evidence, sizeof s->typed_evidence);
		snprintf(id, sizeof id, "%s", s->row.id);
		snprintf(text, sizeof text, "%s", s->typed_text);
		snprintf(evidence, sizeof evidence, "%s", s->typed_evidence);
		pthread_mutex_unlock(&ss->lock);
		log_warnx("%s: the line taskgate typed was not delivered "
		    "(no UserPromptSubmit within %.0f s)", id,
		    SESSION_TYPED_WAIT);
		session_event(ss, "undelivered", id, "taskgate", json_pack(
		    "{s:s,s:s,s:s}", "text", text, "reason", "the agent did "
		    "not take the typed line as a prompt", "pane", evidence));
	}
}

/*
 * Writes down the agent rows the hooks changed, and tells each nudge (an
 * event and an audit row, as for any act of taskgate's).
 */
static void
session_save_agents(struct sessions *ss)
{
	struct agent_row	*rows = NULL;
	struct session_told {
		char	id[STREAM_ID_MAX + 1];
		char	reason[512];
		int	in_row;
	}			*told = NULL;
	size_t			 i, n = 0, nt = 0;

	pthread_mutex_lock(&ss->lock);
	if (ss->agents_dirty) {
		rows = xcalloc(ss->n, sizeof *rows);
		told = xcalloc(ss->n, sizeof *told);
		for (i = 0; i < ss->n; i++) {
			struct session *s = ss->s[i];

			if (s->agent_dirty) {
				s->agent_dirty = false;
				rows[n++] = s->agent;
			}
			if (s->nudge_pending) {
				s->nudge_pending = false;
				snprintf(told[nt].id, sizeof told[nt].id, "%s",
				    s->row.id);
				snprintf(told[nt].reason,
				    sizeof told[nt].reason, "%s",
				    s->nudge_reason);
				told[nt++].in_row = s->nudges;
			}
		}
		ss->agents_dirty = false;
	}
	pthread_mutex_unlock(&ss->lock);
	for (i = 0; i < n; i++)
		if (history_save_agent(ss->tg->db, &rows[i]) == -1)
			log_warnx("%s: cannot record what its hooks said",
			    rows[i].id);
	for (i = 0; i < nt; i++) {
		json_t *why = json_pack("{s:s,s:i,s:i}", "reason",
		    told[i].reason, "inRow", told[i].in_row, "maxNudges",
		    ss->tg->conf.max_nudges);

		audit_add(ss->tg->audit, "taskgate", "nudge", told[i].id,
		    "done", 200, why);
		session_event(ss, "nudged", told[i].id, "taskgate",
		    json_deep_copy(why));
		json_decref(why);
	}
	free(told);
	free(rows);
}

/*
 * The window of id, if secret is the one taskgate gave it and it has not
 * posted too much (a token bucket per window: a flood from one costs the
 * others nothing, and a burst of tool calls fits); *why otherwise.  The
 * lock is held.
 */
static struct session *
session_hook_door_locked(struct sessions *ss, const char *id,
    const char *secret, enum session_hook_result *why)
{
	struct session	*s = session_find(ss, id);
	double		 mono = clock_mono();

	if (s == NULL || s->agent.secret[0] == '\0' || secret == NULL ||
	    !equal_const_time(secret, s->agent.secret)) {
		*why = SESSION_HOOK_FORBIDDEN;
		return NULL;
	}
	if (s->hook_refill == 0)
		s->hook_tokens = SESSION_HOOK_BURST;
	else
		s->hook_tokens += (mono - s->hook_refill) * SESSION_HOOK_RATE;
	if (s->hook_tokens > SESSION_HOOK_BURST)
		s->hook_tokens = SESSION_HOOK_BURST;
	s->hook_refill = mono;
	if (s->hook_tokens < 1.0) {
		*why = SESSION_HOOK_FLOOD;
		return NULL;
	}
	s->hook_tokens -= 1.0;
	return s;
}

/*
 * When a usage limit the status line reports as reached (a window at 99 %
 * or more) resets: its resets_at (Unix seconds), the latest of them.
 */
static void
session_limit_reset(struct session *s, json_t *limits)
{
	const char	*name;
	json_t		*w, *used, *at;

	json_object_foreach(limits, name, w) {
		used = json_object_get(w, "used_percentage");
		at = json_object_get(w, "resets_at");
		if (json_is_number(used) && json_number_value(used) >= 99 &&
		    json_is_number(at) && json_number_value(at) > 0 &&
		    (int64_t)(json_number_value(at) * 1000.0) >
		    s->agent.limit_reset_ms)
			s->agent.limit_reset_ms = (int64_t)(json_number_value(at) *
			    1000.0);
	}
}

struct session_view_counts {
	const char		*id;
	struct model_counts	*c;
	bool			 found;
};

static void
session_view_counts_of(json_t *view, void *arg)
{
	struct session_view_counts	*q = arg;
	json_t				*st;
	size_t				 i;

	json_array_foreach(json_object_get(view, "streams"), i, st) {
		const char *sid = json_string_value(json_object_get(st,
		    "streamId"));

		if (sid == NULL || strcmp(sid, q->id) != 0)
			continue;
		q->c->total = json_integer_value(json_object_get(st,
		    "totalTasks"));
		q->c->completed = json_integer_value(json_object_get(st,
		    "completedTasks"));
		q->c->in_progress = json_integer_value(json_object_get(st,
		    "inProgressTasks"));
		q->c->blocked = json_integer_value(json_object_get(st,
		    "blockedTasks"));
		q->c->pending = json_integer_value(json_object_get(st,
		    "pendingTasks"));
		q->found = json_is_integer(json_object_get(st, "totalTasks"));
		return;
	}
}

/* The counts of stream id in the poller's published view; false if the
 * view has none. */
static bool
session_view_counts(struct sessions *ss, const char *id,
    struct model_counts *c)
{
	struct session_view_counts	q = { id, c, false };

	memset(c, 0, sizeof *c);
	poller_with_view(ss->tg->poller, session_view_counts_of, &q);
	return q.found;
}

/*
 * Whether s's turn that just ended (a Stop hook, body) is answered "go
 * on" (agent_nudge: work left, at most maxNudges in a row; a Stop that
 * follows no block of ours starts the count anew).  Then the reason is
 * in s->nudge_reason, and the session thread tells it.  The lock is held.
 */
static bool
session_nudge_locked(struct sessions *ss, struct session *s, json_t *body,
    const struct model_counts *c)
{
	if (!json_is_true(json_object_get(body, "stop_hook_active")))
		s->nudges = 0;
	if (s->context_full.state == AGENT_CONTEXT_EXHAUSTED)
		return false;	/* a full context needs a fresh window */
	if (session_spend_over_locked(ss, s, NULL, 0))
		return false;	/* it is stopped, not told to go on */
	if (!agent_nudge(s->row.id, c, s->nudges, ss->tg->conf.max_nudges,
	    s->nudge_reason, sizeof s->nudge_reason))
		return false;
	s->nudges++;
	s->nudge_pending = true;
	return true;
}

/*
 * What a hook or status changed of s, to be written down by the session
 * thread; lets the lock go.  *changed: whether the agent's state did.
 */
static enum session_hook_result
session_hook_taken(struct sessions *ss, struct session *s,
    const struct agent_fact *before, bool *changed)
{
	struct agent_fact	after;

	session_agent_locked(s, &after);
	*changed = before->state != after.state;
	s->agent_dirty = ss->agents_dirty = true;
	pthread_cond_signal(&ss->cond);
	pthread_mutex_unlock(&ss->lock);
	return SESSION_HOOK_OK;
}

/*
 * What id's status line says (body, the JSON Claude Code gives it),
 * posted with the window's secret: its context share, its cost and its
 * model.  A context share at or over contextSharePercent is the agent's
 * own word that its context is exhausted.  *changed tells whether the
 * agent's state changed.
 */
enum session_hook_result
session_status(struct sessions *ss, const char *id, const char *secret,
    json_t *body, bool *changed)
{
	struct session		*s;
	struct agent_fact	 before;
	enum session_hook_result why;
	json_t			*pct, *cost, *model;
	double			 share = ss->tg->conf.context_share;

	*changed = false;
	pthread_mutex_lock(&ss->lock);
	if ((s = session_hook_door_locked(ss, id, secret, &why)) == NULL) {
		pthread_mutex_unlock(&ss->lock);
		return why;
	}
	pct = json_object_get(json_object_get(body, "context_window"),
	    "used_percentage");
	cost = json_object_get(json_object_get(body, "cost"),
	    "total_cost_usd");
	model = json_object_get(json_object_get(body, "model"),
	    "display_name");
	if (!json_is_number(pct) && !json_is_number(cost)) {
		pthread_mutex_unlock(&ss->lock);
		return SESSION_HOOK_BAD_EVENT;
	}
	session_agent_locked(s, &before);
	if (json_is_number(pct) && json_number_value(pct) >= 0 &&
	    json_number_value(pct) <= 100) {
		s->agent.context_pct = json_number_value(pct);
		if (s->agent.context_pct >= share &&
		    s->context_full.state != AGENT_CONTEXT_EXHAUSTED) {
			s->context_full.state = AGENT_CONTEXT_EXHAUSTED;
			s->context_full.at = clock_wall();
			snprintf(s->context_full.reason,
			    sizeof s->context_full.reason, "its status line "
			    "says %.0f %% of the context is used (the limit is "
			    "%.0f %%)", s->agent.context_pct, share);
		}
	}
	if (json_is_number(cost) && json_number_value(cost) >= 0)
		s->agent.cost_usd = json_number_value(cost);
	session_limit_reset(s, json_object_get(body, "rate_limits"));
	if (json_is_string(model))
		snprintf(s->agent.model, sizeof s->agent.model, "%s",
		    json_string_value(model));
	return session_hook_taken(ss, s, &before, changed);
}

/*
 * What a permission prompt asks (a PermissionRequest hook's tool_name and
 * tool_input), kept for the page to show until the agent moves on (a
 * tool used, a prompt, its turn's end).  An input whose JSON is over
 * SESSION_PERMISSION_MAX bytes is kept as that much of its text, marked
 * truncated.  The lock is held.
 */
static void
session_note_permission_locked(struct session *s, const char *ev,
    json_t *body)
{
	json_t	*input = json_object_get(body, "tool_input");
	char	*text;

	if (strcmp(ev, "Notification") == 0)
		return;		/* the prompt's own notice */
	json_decref(s->permission);
	s->permission = NULL;
	if (strcmp(ev, "PermissionRequest") != 0)
		return;
	s->permission = json_pack("{s:s}", "tool", json_is_string(
	    json_object_get(body, "tool_name")) ? json_string_value(
	    json_object_get(body, "tool_name")) : "");
	if (input == NULL)
		return;
	/* ASCII only (\uXXXX), so that a cut never splits a character. */
	text = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT |
	    JSON_ENSURE_ASCII);
	if (text != NULL && strlen(text) > SESSION_PERMISSION_MAX) {
		text[SESSION_PERMISSION_MAX] = '\0';
		json_object_set_new(s->permission, "inputText",
		    json_string(text));
		json_object_set_new(s->permission, "truncated", json_true());
	} else
		json_object_set(s->permission, "input", input);
	free(text);
}

/*
 * A hook event of id's window (body, its JSON), posted with secret.  The
 * secret must be the one taskgate gave that window: not another's, not
 * the token.  Records the event and the state it gives; *changed tells
 * whether the agent's state changed.  Runs on the HTTP thread: memory
 * only, the session thread writes it down.
 */
enum session_hook_result
session_hook(struct sessions *ss, const char *id, const char *secret,
    json_t *body, bool *changed, char **answer)
{
	struct session		*s;
	struct agent_fact	 f, before;
	struct model_counts	 c;
	const char		*ev, *sid, *prompt;
	double			 now = clock_wall();
	enum session_hook_result why;
	bool			 stop, counted = false;

	*changed = false;
	*answer = NULL;
	/* A turn that ended: how much of its stream is left (the poller's
	 * view, read before this layer's lock). */
	stop = json_is_string(json_object_get(body, "hook_event_name")) &&
	    strcmp(json_string_value(json_object_get(body,
	    "hook_event_name")), "Stop") == 0;
	if (stop)
		counted = session_view_counts(ss, id, &c);
	pthread_mutex_lock(&ss->lock);
	if ((s = session_hook_door_locked(ss, id, secret, &why)) == NULL) {
		pthread_mutex_unlock(&ss->lock);
		return why;
	}
	if (agent_from_hook(body, now, &f) == -1) {
		pthread_mutex_unlock(&ss->lock);
		return SESSION_HOOK_BAD_EVENT;
	}
	session_agent_locked(s, &before);
	ev = json_string_value(json_object_get(body, "hook_event_name"));
	session_note_permission_locked(s, ev, body);
	snprintf(s->agent.last_event, sizeof s->agent.last_event, "%s", ev);
	s->agent.last_event_ms = (int64_t)(now * 1000.0);
	if ((sid = json_string_value(json_object_get(body, "session_id"))) !=
	    NULL)
		snprintf(s->agent.claude_session,
		    sizeof s->agent.claude_session, "%s", sid);
	prompt = json_string_value(json_object_get(body, "prompt"));
	if (strcmp(ev, "UserPromptSubmit") == 0 && prompt != NULL) {
		snprintf(s->agent.last_prompt, sizeof s->agent.last_prompt,
		    "%s", prompt);
		s->agent.last_prompt_ms = s->agent.last_event_ms;
		if (s->typed == TYPED_WAITING && strstr(prompt,
		    s->typed_text) != NULL)
			s->typed = TYPED_DELIVERED;
		s->nudges = 0;		/* a new prompt: a new count */
	}
	if (stop && counted && session_nudge_locked(ss, s, body, &c)) {
		json_t *o = json_pack("{s:s,s:s}", "decision", "block",
		    "reason", s->nudge_reason);

		*answer = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	if (f.state != AGENT_UNKNOWN)
		s->agent.hook = f;
	/* A compaction Claude Code starts by itself is, if the config says
	 * so, the moment to hand off to a fresh context. */
	if (strcmp(ev, "PreCompact") == 0 && ss->tg->conf.handoff_on_compact &&
	    json_is_string(json_object_get(body, "trigger")) &&
	    strcmp(json_string_value(json_object_get(body, "trigger")),
	    "auto") == 0 &&
	    s->context_full.state != AGENT_CONTEXT_EXHAUSTED) {
		s->context_full.state = AGENT_CONTEXT_EXHAUSTED;
		s->context_full.at = now;
		snprintf(s->context_full.reason, sizeof s->context_full.reason,
		    "it began compacting its context by itself");
	}
	return session_hook_taken(ss, s, &before, changed);
}

/* Actions --------------------------------------------------------------- */

static void
session_copy_view(json_t *view, void *arg)
{
	json_t	**streams = arg;

	*streams = view != NULL ? json_deep_copy(json_object_get(view,
	    "streams")) : NULL;
}

/* A deep copy of the streams as the last poll judged them, or NULL. */
static json_t *
session_streams(struct sessions *ss)
{
	json_t	*streams = NULL;

	poller_with_view(ss->tg->poller, session_copy_view, &streams);
	return streams;
}

/* When the poll read the session layer to judge stream (wall ms), or -1. */
int64_t
session_judged_ms(const json_t *stream)
{
	return clock_parse_ms(json_string_value(json_object_get(
	    json_object_get(stream, "state"), "judgedAt")));
}

static void
session_answer(struct session_job *j, unsigned int status, json_t *answer)
{
	j->status = status;
	json_decref(j->answer);
	j->answer = answer;
}

static void	session_refuse(struct session_job *, unsigned int, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

static void
session_refuse(struct session_job *j, unsigned int status, const char *code,
    const char *fmt, ...)
{
	char	sentence[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(sentence, sizeof sentence, fmt, ap);
	va_end(ap);
	session_answer(j, status, json_pack("{s:s,s:s}", "error", sentence,
	    "code", code));
}

/*
 * The directory of a stream's window: projectRoot/worktreePath from the
 * config, or taskgate's working directory and the upstream's worktreePath.
 * It must exist and resolve inside projectRoot.  -1 with the job answered
 * 422 naming the path.
 */
static int
session_workdir(struct sessions *ss, struct session_job *j, json_t *stream,
    char *out)
{
	const struct orchconf	*c = &ss->tg->conf;
	const char		*root = NULL, *wt = NULL;
	char			 rroot[PATH_MAX], want[PATH_MAX], cwd[PATH_MAX];
	size_t			 i, len;

	for (i = 0; i < c->n_streams; i++) {
		if (strcmp(c->streams[i].id, j->id) == 0) {
			root = c->streams[i].project_root;
			wt = c->streams[i].worktree_path;
			break;
		}
	}
	if (i == c->n_streams)
		wt = json_string_value(json_object_get(stream,
		    "worktreePath"));
	if (root == NULL) {
		if (getcwd(cwd, sizeof cwd) == NULL) {
			session_refuse(j, 422, "bad-worktree", "taskgate's "
			    "working directory cannot be read");
			return -1;
		}
		root = cwd;
	}
	if (realpath(root, rroot) == NULL) {
		session_refuse(j, 422, "bad-worktree", "projectRoot %s of %s "
		    "does not exist", root, j->id);
		json_object_set_new(j->answer, "path", json_string(root));
		return -1;
	}
	if (wt == NULL || *wt == '\0')
		wt = ".";
	if ((size_t)snprintf(want, sizeof want, "%s%s%s", wt[0] == '/' ? "" :
	    rroot, wt[0] == '/' ? "" : "/", wt) >= sizeof want) {
		session_refuse(j, 422, "bad-worktree", "the worktreePath of %s "
		    "is too long", j->id);
		return -1;
	}
	len = strlen(rroot);
	if (realpath(want, out) == NULL) {
		session_refuse(j, 422, "bad-worktree", "the working directory "
		    "%s of %s does not exist", want, j->id);
		json_object_set_new(j->answer, "path", json_string(want));
		return -1;
	}
	if (strncmp(out, rroot, len) != 0 || (out[len] != '\0' &&
	    out[len] != '/' && strcmp(rroot, "/") != 0)) {
		session_refuse(j, 422, "bad-worktree", "the working directory "
		    "%s of %s resolves outside projectRoot %s", want, j->id,
		    rroot);
		json_object_set_new(j->answer, "path", json_string(want));
		return -1;
	}
	return 0;
}

/* The plan as the gates see it, with what this thread knows of windows. */
static size_t
session_plan(struct sessions *ss, json_t *streams, struct plan_stream **ps,
    long *live)
{
	size_t	n = plan_streams_from_json(streams, ps), i;

	pthread_mutex_lock(&ss->lock);
	for (i = 0; i < n; i++) {
		struct session *s = session_find(ss, (*ps)[i].id);

		(*ps)[i].live = s != NULL && (s->live ||
		    s->phase == PHASE_STARTING);
		(*ps)[i].budget_spent = s != NULL && s->row.rec.attempts >=
		    ss->tg->conf.max_recovery;
	}
	*live = session_live_count_locked(ss);
	pthread_mutex_unlock(&ss->lock);
	for (i = 0; i < n; i++)
		(*ps)[i].cost_spent = session_cost_spent(ss, (*ps)[i].id);
	return n;
}

static json_t *
session_argv_list(char **a, char **b, char **c)
{
	json_t	*out = json_array();

	if (a != NULL)
		json_array_append_new(out, tmux_argv_json(a));
	if (b != NULL)
		json_array_append_new(out, tmux_argv_json(b));
	if (c != NULL)
		json_array_append_new(out, tmux_argv_json(c));
	return out;
}

/* Whether taskgate's tmux session exists now (killing its last window
 * ends it). */
static bool
session_tmux_has(struct sessions *ss)
{
	char	**argv = tmux_argv_has_session(ss->tg->opts->tmux_session);
	char	  err[256];
	bool	  has = tmux_exec(argv, NULL, err, sizeof err) == 0;

	tmux_argv_free(argv);
	return has;
}

/*
 * Makes the agent window of id in dir; tmux prints "@window %pane" into
 * *out (new).  The session may end between has-session and new-window
 * (its last window killed, by a recovery or by hand): then once more, as
 * a new session.
 */
static int
session_make_window(struct sessions *ss, bool exists, const char *id,
    const char *dir, const char *env, char *const agent[], char **out,
    char *err, size_t len)
{
	const char	 *name = ss->tg->opts->tmux_session;
	char		**argv;
	int		  rc;

	argv = tmux_argv_new_window(name, exists, id, dir, env, agent);
	rc = tmux_exec(argv, out, err, len);
	tmux_argv_free(argv);
	/* A server whose last window was just killed is on its way out and
	 * refuses the new session: a moment later there is none, and a new
	 * server takes it. */
	if (rc != 0 && strstr(err, "server exited unexpectedly") != NULL) {
		free(*out);
		*out = NULL;
		usleep(100000);
		argv = tmux_argv_new_window(name, exists && session_tmux_has(ss),
		    id, dir, env, agent);
		rc = tmux_exec(argv, out, err, len);
		tmux_argv_free(argv);
		return rc;
	}
	if (rc == 0 || !exists || session_tmux_has(ss))
		return rc;
	free(*out);
	*out = NULL;
	argv = tmux_argv_new_window(name, false, id, dir, env, agent);
	rc = tmux_exec(argv, out, err, len);
	tmux_argv_free(argv);
	return rc;
}

/*
 * Writes the Claude Code settings of id's window into path:
 * an http hook for each event taskgate takes, POSTed to taskgate with the
 * window's secret, which Claude Code reads from the window's environment
 * (allowedEnvVars), so the file holds no secret.  The user's own settings
 * files are never touched: --settings adds to them.  -1 with err.
 */
static int
session_write_settings(struct sessions *ss, const char *id,
    const char *path, char *err, size_t len)
{
	const char *const	*ev = agent_hook_events();
	json_t			*hooks = json_object(), *doc, *entry;
	char			*url, *command, tmp[PATH_MAX + 8];
	int			 fd, rc;
	size_t			 i;

	if (mkdir(ss->hooks_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, len, "cannot make %.150s: %.60s", ss->hooks_dir,
		    strerror(errno));
		json_decref(hooks);
		return -1;
	}
	xasprintf(&url, "%s/api/hooks/%s", ss->tg->hook_base, id);
	for (i = 0; ev[i] != NULL; i++) {
		entry = json_pack("{s:[{s:s,s:s,s:{s:s},s:[s],s:i}]}", "hooks",
		    "type", "http", "url", url, "headers", "X-Taskgate-Hook",
		    "$" SESSION_SECRET_ENV, "allowedEnvVars", SESSION_SECRET_ENV,
		    "timeout", 5);
		if (strcmp(ev[i], "PreToolUse") == 0 ||
		    strcmp(ev[i], "PostToolUse") == 0 ||
		    strcmp(ev[i], "PermissionRequest") == 0)
			json_object_set_new(entry, "matcher", json_string("*"));
		json_object_set_new(hooks, ev[i], json_pack("[o]", entry));
	}
	/* The status line: taskgate statusline URL reads Claude Code's JSON
	 * on stdin, posts it with the secret, prints a short line.  Claude
	 * Code runs the command with a shell: the program's path is quoted. */
	xasprintf(&command, "%s statusline %s/status", ss->self_quoted, url);
	free(url);
	doc = json_pack("{s:o,s:{s:s,s:s}}", "hooks", hooks, "statusLine",
	    "type", "command", "command", command);
	free(command);
	if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp) {
		json_decref(doc);
		snprintf(err, len, "the path of the hooks is too long");
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	rc = fd == -1 ? -1 : json_dumpfd(doc, fd, JSON_INDENT(2));
	if (fd != -1 && close(fd) == -1)
		rc = -1;
	json_decref(doc);
	if (rc == -1 || rename(tmp, path) == -1) {
		snprintf(err, len, "cannot write %.150s: %.60s", path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The agent's argument vector with "--settings path" added (new). */
static char **
session_agent_argv(struct sessions *ss, const char *settings)
{
	char	**argv;
	size_t	  n, i;

	for (n = 0; ss->agent[n] != NULL; n++)
		;
	argv = xcalloc(n + 3, sizeof *argv);
	for (i = 0; i < n; i++)
		argv[i] = xstrdup(ss->agent[i]);
	if (settings != NULL) {
		argv[n++] = xstrdup("--settings");
		argv[n++] = xstrdup(settings);
	}
	return argv;
}

/*
 * Starts the agent window of j->id in dir (gates already passed), or
 * describes it for a dry run.  Answers the job.
 */
static void
session_launch(struct sessions *ss, struct session_job *j, const char *dir,
    const char *why, long attempt)
{
	struct session	*s;
	char		**argv, **type, **enter, **agent, *out = NULL;
	char		 err[256], window[16], pane[16], text[STREAM_ID_MAX + 16];
	char		 secret[TASKGATE_TOKEN_HEX + 1] = "", settings[PATH_MAX];
	char		 env[sizeof SESSION_SECRET_ENV + sizeof secret];
	double		 before;
	bool		 exists, made;

	if (j->dry_run) {
		pthread_mutex_lock(&ss->lock);
		exists = ss->have_tmux_session;
		pthread_mutex_unlock(&ss->lock);
	} else
		exists = session_tmux_has(ss);
	snprintf(text, sizeof text, "/continue %s", j->id);
	/* Its hooks: a settings file, and a secret of its own. */
	if (snprintf(settings, sizeof settings, "%s/%s.json", ss->hooks_dir,
	    j->id) >= (int)sizeof settings)
		settings[0] = '\0';	/* refused below */
	if (ss->hooks && !j->dry_run && (settings[0] == '\0' ||
	    auth_random_hex(secret,
	    sizeof secret) == -1 || session_write_settings(ss, j->id, settings,
	    err, sizeof err) == -1)) {
		if (settings[0] == '\0')
			snprintf(err, sizeof err, "the path of the hooks is "
			    "too long");
		else if (secret[0] == '\0')
			snprintf(err, sizeof err, "cannot get random bytes");
		log_warnx("%s: %s", j->id, err);
		session_refuse(j, 500, "hooks-failed", "%s", err);
		return;
	}
	snprintf(env, sizeof env, "%s=%s", SESSION_SECRET_ENV, ss->hooks &&
	    j->dry_run ? "SECRET" : secret);
	agent = session_agent_argv(ss, ss->hooks ? settings : NULL);
	if (j->dry_run) {
		argv = tmux_argv_new_window(ss->tg->opts->tmux_session, exists,
		    j->id, dir, ss->hooks ? env : NULL, agent);
		tmux_argv_free(agent);
		type = tmux_argv_type("{pane}", text);
		enter = tmux_argv_enter("{pane}");
		session_answer(j, 200, json_pack("{s:b,s:s,s:s,s:o}", "dryRun",
		    1, "streamId", j->id, "directory", dir, "argv",
		    session_argv_list(argv, type, enter)));
		tmux_argv_free(type);
		tmux_argv_free(enter);
		tmux_argv_free(argv);
		return;
	}
	made = session_make_window(ss, exists, j->id, dir, ss->hooks ? env :
	    NULL, agent, &out, err, sizeof err) == 0;
	tmux_argv_free(agent);
	if (!made || out == NULL || sscanf(out, "%15s %15s", window,
	    pane) != 2) {
		if (made)
			snprintf(err, sizeof err, "tmux did not say which "
			    "window it made");
		log_warnx("%s: %s", j->id, err);
		session_refuse(j, 502, "tmux-failed", "%s", err);
		free(out);
		return;
	}
	free(out);

	pthread_mutex_lock(&ss->lock);
	ss->have_tmux_session = true;
	s = session_get(ss, j->id);
	snprintf(s->row.window, sizeof s->row.window, "%s", window);
	snprintf(s->row.pane, sizeof s->row.pane, "%s", pane);
	s->row.started_ms = (int64_t)(clock_wall() * 1000.0);
	s->started_mono = s->changed_mono = clock_mono();
	s->phase = PHASE_STARTING;
	s->live = true;
	s->dead = false;
	s->dead_seen = 0;
	s->sig[0] = '\0';
	free(s->text);
	s->text = NULL;
	session_forget_agent(s);
	before = session_spent_of(s);	/* the new agent counts from 0 */
	memset(&s->agent, 0, sizeof s->agent);
	s->agent.cost_before_usd = before;
	s->agent.context_pct = s->agent.cost_usd = -1;
	snprintf(s->agent.id, sizeof s->agent.id, "%s", j->id);
	snprintf(s->agent.secret, sizeof s->agent.secret, "%s", secret);
	s->agent_dirty = true;
	pthread_mutex_unlock(&ss->lock);
	session_save(ss, s);
	session_event(ss, why, j->id, j->actor, attempt > 0 ?
	    json_pack("{s:s,s:s,s:s,s:i}", "window", window, "pane", pane,
	    "directory", dir, "attempt", (int)attempt) :
	    json_pack("{s:s,s:s,s:s}", "window", window, "pane", pane,
	    "directory", dir));
	session_answer(j, 201, json_pack("{s:s,s:s,s:s,s:s,s:s}", "streamId",
	    j->id, "window", window, "pane", pane, "directory", dir,
	    "status", "starting"));
}

static void
session_do_start(struct sessions *ss, struct session_job *j, json_t *streams)
{
	struct plan_stream	*ps;
	json_t			*reasons, *stream;
	char			 dir[PATH_MAX];
	size_t			 n, i;
	long			 live;
	enum plan_gate		 g;

	stream = model_find_stream(streams, j->id);
	if (stream == NULL) {
		session_refuse(j, 404, "unknown-stream", "Task Copilot has no "
		    "stream %s", j->id);
		return;
	}
	n = session_plan(ss, streams, &ps, &live);
	for (i = 0; i < n && strcmp(ps[i].id, j->id) != 0; i++)
		;
	reasons = json_array();
	g = plan_may_start(ps, n, i, ss->tg->conf.max_parallel, live,
	    j->force, reasons);
	plan_streams_free(ps, n);
	if (g != PLAN_GATE_OPEN) {
		session_answer(j, 409, json_pack("{s:s,s:s,s:o,s:b}", "error",
		    "the gates do not allow starting this stream now", "code",
		    "gate-closed", "reasons", reasons, "forceable",
		    g == PLAN_GATE_WAIT));
		return;
	}
	json_decref(reasons);
	if (session_workdir(ss, j, stream, dir) == -1)
		return;
	session_launch(ss, j, dir, "started", 0);
}

static void
session_kill(struct sessions *ss, struct session *s)
{
	char	**argv, err[256], window[16];

	pthread_mutex_lock(&ss->lock);
	snprintf(window, sizeof window, "%s", s->row.window);
	pthread_mutex_unlock(&ss->lock);
	if (window[0] != '\0') {
		/* Killing the last window ends the server: not news. */
		argv = tmux_argv_kill(window);
		if (tmux_exec(argv, NULL, err, sizeof err) == -1 &&
		    !tmux_said_gone(err))
			log_warnx("%s: %s", s->row.id, err);
		tmux_argv_free(argv);
	}
	pthread_mutex_lock(&ss->lock);
	s->row.window[0] = s->row.pane[0] = '\0';
	s->phase = PHASE_NONE;
	s->live = s->dead = false;
	session_forget_agent(s);
	/* The killed agent's last word (a question, say) is no longer so. */
	memset(&s->agent.hook, 0, sizeof s->agent.hook);
	s->agent_dirty = ss->agents_dirty = true;
	pthread_mutex_unlock(&ss->lock);
	session_save(ss, s);
}

/*
 * The line about to be typed into id's window is to be confirmed by the
 * UserPromptSubmit it causes: noted before it is typed, since the agent
 * may post the hook before tmux has even returned.
 */
static void
session_expect_prompt(struct sessions *ss, const char *id, const char *text)
{
	struct session	*s;

	pthread_mutex_lock(&ss->lock);
	if ((s = session_find(ss, id)) != NULL && s->agent.secret[0] != '\0') {
		s->typed = TYPED_WAITING;
		s->typed_at = clock_wall();
		snprintf(s->typed_text, sizeof s->typed_text, "%s", text);
		s->typed_evidence[0] = '\0';
	}
	pthread_mutex_unlock(&ss->lock);
}

/*
 * A person's reply to an agent that waits: a line typed into its pane
 * literally, then Enter (confirmed by the UserPromptSubmit it causes, as
 * any line taskgate types), or a permission dialog answered: Allow once
 * is Enter on its first choice ("1. Yes"), Deny is Escape.  The dialog
 * keys go only to a pane that shows the dialog.
 */
static void
session_do_reply(struct sessions *ss, struct session_job *j)
{
	struct session		*s;
	struct agent_fact	 a;
	char			 pane[16], err[256], **argv, **enter = NULL;
	bool			 dialog, hooks;

	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, j->id);
	snprintf(pane, sizeof pane, "%s", s != NULL && s->live ? s->row.pane :
	    "");
	if (s != NULL)
		session_agent_locked(s, &a);
	dialog = s != NULL && strncmp(s->pane.reason, "a permission prompt",
	    19) == 0 && s->pane.state == AGENT_WAITING_INPUT;
	hooks = s != NULL && s->agent.secret[0] != '\0';
	pthread_mutex_unlock(&ss->lock);
	if (pane[0] == '\0') {
		session_refuse(j, 409, "not-running", "%s has no live window to "
		    "reply to", j->id);
		return;
	}
	if (j->reply != SESSION_REPLY_TEXT && !dialog) {
		session_refuse(j, 409, "no-dialog", "%s shows no permission "
		    "prompt to %s (reply with text instead)", j->id,
		    j->reply == SESSION_REPLY_ALLOW ? "allow" : "deny");
		return;
	}
	if (j->reply == SESSION_REPLY_TEXT && hooks)
		session_expect_prompt(ss, j->id, j->text);
	if (j->reply == SESSION_REPLY_TEXT) {
		argv = tmux_argv_type(pane, j->text);
		enter = tmux_argv_enter(pane);
	} else
		argv = j->reply == SESSION_REPLY_ALLOW ? tmux_argv_enter(pane) :
		    tmux_argv_escape(pane);
	if (tmux_exec(argv, NULL, err, sizeof err) == -1 || (enter != NULL &&
	    tmux_exec(enter, NULL, err, sizeof err) == -1)) {
		tmux_argv_free(argv);
		tmux_argv_free(enter);
		session_refuse(j, 502, "tmux-failed", "%s", err);
		return;
	}
	tmux_argv_free(argv);
	tmux_argv_free(enter);
	session_event(ss, "replied", j->id, j->actor, json_pack("{s:s,s:s?}",
	    "answer", j->reply == SESSION_REPLY_TEXT ? "text" : j->reply ==
	    SESSION_REPLY_ALLOW ? "allow" : "deny", "text", j->text));
	session_answer(j, 202, json_pack("{s:s,s:s,s:s?,s:s}", "streamId",
	    j->id, "answer", j->reply == SESSION_REPLY_TEXT ? "text" : j->reply ==
	    SESSION_REPLY_ALLOW ? "allow" : "deny", "text", j->text, "delivery",
	    j->reply == SESSION_REPLY_TEXT && hooks ? "waiting for its "
	    "UserPromptSubmit" : "typed (this agent has no hooks to confirm "
	    "it)"));
}

static void
session_do_stop(struct sessions *ss, struct session_job *j)
{
	struct session	*s;
	char		 window[16];

	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, j->id);
	snprintf(window, sizeof window, "%s", s != NULL ? s->row.window : "");
	pthread_mutex_unlock(&ss->lock);
	if (window[0] == '\0') {
		session_refuse(j, 409, "not-running", "%s has no window to stop",
		    j->id);
		return;
	}
	if (j->dry_run) {
		char **argv = tmux_argv_kill(window);

		session_answer(j, 200, json_pack("{s:b,s:s,s:o}", "dryRun", 1,
		    "streamId", j->id, "argv", session_argv_list(argv, NULL,
		    NULL)));
		tmux_argv_free(argv);
		return;
	}
	session_kill(ss, s);
	session_event(ss, "stopped", j->id, j->actor, json_pack("{s:s}",
	    "window", window));
	session_answer(j, 200, json_pack("{s:s,s:s,s:s}", "streamId", j->id,
	    "window", window, "status", "stopped"));
}

/*
 * A context handoff: a stream whose agent's context is (nearly) full, its
 * turn over, goes on in a fresh agent: a checkpoint through the upstream,
 * the window killed, a new one started, /continue typed.  Like a
 * recovery, but it counts against no budget and waits for no backoff:
 * nothing went wrong.  At most once per crossing of the threshold (the
 * new window starts with an empty context).
 */
static void
session_do_handoff(struct sessions *ss, struct session_job *j,
    json_t *streams)
{
	struct session	*s;
	json_t		*stream, *checkpoint;
	char		 dir[PATH_MAX], reason[200];

	stream = model_find_stream(streams, j->id);
	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, j->id);
	snprintf(reason, sizeof reason, "%s", s != NULL ?
	    s->context_full.reason : "");
	pthread_mutex_unlock(&ss->lock);
	if (stream == NULL || s == NULL) {
		session_refuse(j, 404, "unknown-stream", "no stream %s to hand "
		    "off", j->id);
		return;
	}
	if (session_workdir(ss, j, stream, dir) == -1)
		return;
	checkpoint = session_checkpoint(ss, j->id, "taskgate context handoff");
	session_kill(ss, s);
	session_launch(ss, j, dir, "handed-off", 0);
	if (j->answer != NULL) {
		json_object_set(j->answer, "checkpoint", checkpoint);
		json_object_set_new(j->answer, "reason", json_string(reason));
	}
	json_decref(checkpoint);
}

/*
 * Hands off every stream whose agent's context is full and whose turn
 * has ended (its last hook a Stop or a StopFailure): the session thread
 * runs the job itself, with taskgate as the actor.
 */
static void
session_tend_handoffs(struct sessions *ss)
{
	json_t	*streams = NULL;
	size_t	 i;

	for (i = 0;; i++) {
		struct session		*s;
		struct session_job	 j;
		bool			 due;

		pthread_mutex_lock(&ss->lock);
		if (i >= ss->n) {
			pthread_mutex_unlock(&ss->lock);
			break;
		}
		s = ss->s[i];
		/* A fresh agent whose context is full at once, again and
		 * again, is not helped by another: after SESSION_HANDOFFS
		 * without progress it stays context-exhausted, which the
		 * recovery rules (and their budget) judge. */
		due = s->live && !s->busy && s->context_full.state ==
		    AGENT_CONTEXT_EXHAUSTED && (strcmp(s->agent.last_event,
		    "Stop") == 0 || strcmp(s->agent.last_event,
		    "StopFailure") == 0) && s->handoffs < SESSION_HANDOFFS;
		if (due)
			s->handoffs++;
		memset(&j, 0, sizeof j);
		if (due) {
			j.kind = JOB_HANDOFF;
			snprintf(j.id, sizeof j.id, "%s", s->row.id);
			snprintf(j.actor, sizeof j.actor, "taskgate");
		}
		pthread_mutex_unlock(&ss->lock);
		if (!due)
			continue;
		if (streams == NULL && (streams = session_streams(ss)) == NULL)
			break;
		session_do_handoff(ss, &j, streams);
		session_audit(ss, &j);
		json_decref(j.answer);
	}
	json_decref(streams);
}

/*
 * Stops every stream past its spending limit (maxCostUsd, its own or all
 * streams') once its agent's turn has ended (its last hook a Stop or a
 * StopFailure): the window is closed, so nothing more is spent, and the
 * agent's state says budget-spent until a person raises the limit and
 * starts it again.  An event and an audit row, with the figures.
 */
static void
session_tend_spend(struct sessions *ss)
{
	size_t	i;

	for (i = 0;; i++) {
		struct session		*s;
		struct agent_spend	 sp;
		char			 id[STREAM_ID_MAX + 1], window[16];
		char			 why[200];
		bool			 due;
		json_t			*ev;

		pthread_mutex_lock(&ss->lock);
		if (i >= ss->n) {
			pthread_mutex_unlock(&ss->lock);
			break;
		}
		s = ss->s[i];
		due = s->live && !s->busy && (strcmp(s->agent.last_event,
		    "Stop") == 0 || strcmp(s->agent.last_event,
		    "StopFailure") == 0) && session_spend_over_locked(ss, s,
		    why, sizeof why);
		if (due) {
			session_spend_locked(ss, s, &sp);
			snprintf(id, sizeof id, "%s", s->row.id);
			snprintf(window, sizeof window, "%s", s->row.window);
		}
		pthread_mutex_unlock(&ss->lock);
		if (!due)
			continue;
		session_kill(ss, s);
		pthread_mutex_lock(&ss->lock);
		s->agent.hook.state = AGENT_BUDGET_SPENT;
		s->agent.hook.at = clock_wall();
		snprintf(s->agent.hook.reason, sizeof s->agent.hook.reason,
		    "taskgate stopped it when its turn ended: %.150s", why);
		s->agent_dirty = ss->agents_dirty = true;
		pthread_mutex_unlock(&ss->lock);
		log_info("%s: stopped past its spending limit: %s", id, why);
		ev = json_pack("{s:s,s:s,s:f,s:f}", "reason", why, "window",
		    window, "costUsd", sp.stream_usd, "totalCostUsd",
		    sp.total_usd);
		if (sp.stream_max > 0)
			json_object_set_new(ev, "maxCostUsd",
			    json_real(sp.stream_max));
		if (sp.total_max > 0)
			json_object_set_new(ev, "maxTotalCostUsd",
			    json_real(sp.total_max));
		/* The audit row first: whoever sees the event finds it. */
		audit_add(ss->tg->audit, "taskgate", "stop", id, "budget-spent",
		    200, ev);
		session_event(ss, "budget-spent", id, "taskgate",
		    json_deep_copy(ev));
		json_decref(ev);
	}
}

/*
 * Asks the upstream for a checkpoint of id (why, in its reason), through
 * the cache; what came of it, as JSON for the answer and the audit.
 */
static json_t *
session_checkpoint(struct sessions *ss, const char *id, const char *why)
{
	struct upstream_call	*call;
	json_t			*checkpoint, *req;
	char			*uri;

	xasprintf(&uri, "/api/streams/%s/checkpoint", id);
	call = upstream_call_new("POST", uri);
	free(uri);
	req = json_pack("{s:s,s:s}", "trigger", "error", "reason", why);
	call->body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	call->body_len = strlen(call->body);
	call->content_type = xstrdup("application/json");
	cache_write_run(ss->tg->cache, call);
	checkpoint = json_pack("{s:s,s:I}", "outcome", call->result ==
	    UPSTREAM_OK ? "answered" : "failed", "status",
	    (json_int_t)call->status);
	if (call->result == UPSTREAM_OK && call->reply.data != NULL) {
		json_t *body = json_loadb(call->reply.data, call->reply.len, 0,
		    NULL);

		if (body != NULL)
			json_object_set_new(checkpoint, "reply", body);
	} else if (call->result != UPSTREAM_OK)
		json_object_set_new(checkpoint, "error",
		    json_string(call->error));
	upstream_call_free(call);
	return checkpoint;
}

/*
 * Recovery: a checkpoint through the upstream (a refusal there is noted,
 * not fatal: the upstream may have no task in progress, or not support
 * it), the window killed, a new one started and /continue typed.  The
 * rules hold for a click too (a stuck state, the budget, the backoff);
 * force=true is a person overriding them, and says so in the audit row.
 */
static void
session_do_recover(struct sessions *ss, struct session_job *j,
    json_t *streams)
{
	struct session		*s;
	json_t			*stream, *checkpoint;
	const char		*state, *refused;
	char			 dir[PATH_MAX], why[256];
	int64_t			 now_ms = (int64_t)(clock_wall() * 1000.0);
	int64_t			 wait_ms;
	enum recovery_verdict	 v;
	long			 attempt;

	stream = model_find_stream(streams, j->id);
	if (stream == NULL) {
		session_refuse(j, 404, "unknown-stream", "Task Copilot has no "
		    "stream %s", j->id);
		return;
	}
	state = json_string_value(json_object_get(json_object_get(stream,
	    "state"), "name"));
	pthread_mutex_lock(&ss->lock);
	/* Recovering a stream that never ran would start it past its gates:
	 * that is what start is for (not-running). */
	s = session_find(ss, j->id);
	refused = session_refusal_locked(ss, s, state,
	    session_judged_ms(stream), j->force, true, why, sizeof why,
	    &wait_ms);
	if (refused == NULL) {
		v = recovery_decide(&s->row.rec, ss->tg->conf.max_recovery,
		    now_ms, &wait_ms);
		attempt = s->row.rec.attempts + 1;
	}
	pthread_mutex_unlock(&ss->lock);
	if (refused != NULL) {
		session_refuse(j, 409, refused, "%s", why);
		if (strcmp(refused, "backoff") == 0)
			json_object_set_new(j->answer, "retryAfter",
			    json_integer((wait_ms + 999) / 1000));
		return;
	}
	if (session_workdir(ss, j, stream, dir) == -1)
		return;
	if (j->dry_run) {
		session_launch(ss, j, dir, "recovered", attempt);
		return;
	}
	snprintf(why, sizeof why, "taskgate recovery %ld of %s", attempt,
	    j->id);
	checkpoint = session_checkpoint(ss, j->id, why);
	session_kill(ss, s);
	pthread_mutex_lock(&ss->lock);
	recovery_record(&s->row.rec, now_ms, ss->tg->conf.stall_timeout_min *
	    60.0, (double)(random() % 1000) / 1000.0);
	pthread_mutex_unlock(&ss->lock);
	metrics_count(ss->tg->metrics, METRIC_RECOVERIES);
	session_launch(ss, j, dir, "recovered", attempt);
	if (j->answer != NULL) {
		json_object_set_new(j->answer, "attempt", json_integer(attempt));
		json_object_set(j->answer, "checkpoint", checkpoint);
		if (v != RECOVERY_NOW || !stall_state_recoverable(state))
			json_object_set_new(j->answer, "forced", json_string(
			    v == RECOVERY_SPENT ? "past the recovery budget" :
			    v == RECOVERY_LATER ? "before the backoff ended" :
			    "while the stream was not stuck"));
	}
	json_decref(checkpoint);
}

static void
session_audit(struct sessions *ss, struct session_job *j)
{
	const char	*result = j->dry_run ? "dry-run" : j->status < 300 ?
			    "done" : j->status < 500 ? "refused" : "failed";

	audit_add(ss->tg->audit, j->actor, session_job_name(j->kind),
	    j->id[0] != '\0' ? j->id : NULL, result, j->status, j->answer);
}

/*
 * --auto chose not to recover id (its budget is spent, or the backoff
 * runs): an event and an audit row, once for each such decision.
 */
static void
session_tell(struct sessions *ss, const char *id, const char *what,
    json_t *why)
{
	session_event(ss, what, id, "auto", json_deep_copy(why));
	audit_add(ss->tg->audit, "auto", "recover", id, what, 409, why);
	json_decref(why);
}

/*
 * The recovery part of a run: each stream with a window of ours whose
 * state recovery acts on (no-progress, context-exhausted, dead) is
 * recovered where the budget and the backoff allow, with its own audit
 * row; the others go into skipped with why.  --auto leaves it all alone
 * when the config sets autoRecoveryEnabled to false.
 */
static void
session_run_recoveries(struct sessions *ss, struct session_job *j,
    json_t *streams, json_t *recovered, json_t *skipped)
{
	json_t	*s;
	size_t	 i;

	if (j->auto_run && !ss->tg->conf.auto_recovery)
		return;
	json_array_foreach(streams, i, s) {
		const char		*id = json_string_value(json_object_get(
					    s, "streamId"));
		const char		*state = json_string_value(
					    json_object_get(json_object_get(s,
					    "state"), "name"));
		struct session		*se;
		struct session_job	 one;
		const char		*refused = NULL;
		int64_t			 wait = 0;
		long			 attempt = 0;
		bool			 ours, human, spent = false, tell = false;
		char			 why[256];

		if (id == NULL || state == NULL)
			continue;
		human = strcmp(state, "needs-human") == 0;
		if (!human && !stall_state_recoverable(state))
			continue;
		pthread_mutex_lock(&ss->lock);
		se = session_find(ss, id);
		ours = se != NULL && (se->row.window[0] != '\0' || se->dead);
		/* A window started since that judgement is not judged yet. */
		if (ours && se->row.window[0] != '\0' &&
		    se->row.started_ms >= session_judged_ms(s))
			ours = false;
		if (ours) {
			refused = session_refusal_locked(ss, se, state,
			    session_judged_ms(s), false, false, why,
			    sizeof why, &wait);
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
			session_tell(ss, id, "needs-human", json_pack(
			    "{s:s,s:s,s:i}", "reason", why, "state", state,
			    "recoveryAttempts", (int)(attempt - 1)));
		else if (tell) {
			char	due[32];

			clock_iso8601(clock_wall() + (double)wait / 1000.0, due,
			    sizeof due);
			session_tell(ss, id, "recovery-later", json_pack(
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
		session_do_recover(ss, &one, streams);
		json_object_set_new(one.answer, "state", json_string(state));
		if (!one.dry_run)
			session_audit(ss, &one);
		if (one.status == 200 || one.status == 201)
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
static void
session_do_run(struct sessions *ss, struct session_job *j, json_t *streams)
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
			    ps[i].live || session_is_dead(ss, ps[i].id))
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
			if (session_workdir(ss, &one, model_find_stream(
			    streams, ps[i].id), dir) == 0)
				session_launch(ss, &one, dir, "started", 0);
			if (one.status == 200 || one.status == 201) {
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
	session_run_recoveries(ss, j, streams, recovered, skipped);
	session_answer(j, 200, json_pack("{s:b,s:o,s:o,s:o}", "dryRun",
	    j->dry_run, "started", started, "recovered", recovered, "skipped",
	    skipped));
}

static void
session_run_job(struct sessions *ss, struct session_job *j)
{
	json_t	*streams = session_streams(ss);

	if (streams == NULL)
		session_refuse(j, 503, "not-ready", "taskgate has not read "
		    "the stream list from Task Copilot yet");
	else if (j->kind == JOB_START)
		session_do_start(ss, j, streams);
	else if (j->kind == JOB_STOP)
		session_do_stop(ss, j);
	else if (j->kind == JOB_RECOVER)
		session_do_recover(ss, j, streams);
	else if (j->kind == JOB_REPLY)
		session_do_reply(ss, j);
	else if (j->kind == JOB_HANDOFF)
		session_do_handoff(ss, j, streams);
	else
		session_do_run(ss, j, streams);
	json_decref(streams);
	session_audit(ss, j);
}

/*
 * --auto: a run by "auto" each poll.  Its own audit row only when it
 * started something (each recovery and each decision not to recover has
 * its own); waiting-input only notifies (its state event).
 */
static void
session_auto(struct sessions *ss)
{
	json_t			*streams = session_streams(ss);
	struct session_job	 j;

	if (streams == NULL)
		return;
	memset(&j, 0, sizeof j);
	j.kind = JOB_RUN;
	j.auto_run = true;
	snprintf(j.actor, sizeof j.actor, "auto");
	session_do_run(ss, &j, streams);
	if (json_array_size(json_object_get(j.answer, "started")) > 0)
		session_audit(ss, &j);
	json_decref(j.answer);
	json_decref(streams);
}

const char *
session_job_name(enum session_job_kind k)
{
	static const char *const names[] = { "start", "stop", "recover",
	    "run", "reply", "handoff" };

	return names[k];
}

static void *
session_main(void *arg)
{
	struct sessions		*ss = arg;
	struct session_job	*jobs, *j, *next;
	struct timespec		 ts;
	double			 tick, now, last_auto = 0;
	size_t			 i;
	bool			 fast, timed_out, hooks_only = false;

	for (;;) {
		now = clock_mono();
		if (!hooks_only) {
			session_refresh(ss, now);
			session_type_when_ready(ss, now);
		}
		session_check_typed(ss);
		if (!hooks_only) {
			session_tend_spend(ss);
			session_tend_limits(ss);
			session_tend_handoffs(ss);
		}
		session_save_agents(ss);
		if (hooks_only) {
			hooks_only = false;
			pthread_mutex_lock(&ss->lock);
			goto wait;
		}

		pthread_mutex_lock(&ss->lock);
		jobs = ss->jobs;
		ss->jobs = NULL;
		ss->jobs_tail = &ss->jobs;
		pthread_mutex_unlock(&ss->lock);
		for (j = jobs; j != NULL; j = next) {
			struct session *s;

			next = j->next;
			session_run_job(ss, j);
			pthread_mutex_lock(&ss->lock);
			if (j->id[0] != '\0' &&
			    (s = session_find(ss, j->id)) != NULL)
				s->busy = false;
			pthread_mutex_unlock(&ss->lock);
			j->done(j);
		}
		if (ss->tg->opts->auto_run && (jobs != NULL ||
		    now - last_auto >= ss->tg->opts->poll)) {
			session_auto(ss);
			last_auto = now;
		}

		pthread_mutex_lock(&ss->lock);
		fast = false;
		for (i = 0; i < ss->n; i++)
			if (ss->s[i]->phase == PHASE_STARTING ||
			    ss->s[i]->typed == TYPED_WAITING ||
			    ss->s[i]->question)
				fast = true;
		/* One tmux call per poll while windows exist or --auto may
		 * start some; rarely otherwise (it only looks for windows to
		 * adopt). */
		tick = fast ? SESSION_TICK_FAST : ss->tg->opts->poll;
		if (!fast && !ss->have_tmux_session &&
		    !ss->tg->opts->auto_run && tick < SESSION_TICK_IDLE)
			tick = SESSION_TICK_IDLE;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(tick * 1e9);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		/* A wake for hooks keeps this deadline: the windows are still
		 * listed once a tick, however many hooks come. */
wait:
		timed_out = false;
		while (!ss->stop && ss->jobs == NULL && !ss->agents_dirty &&
		    !ss->wake && !timed_out)
			timed_out = pthread_cond_timedwait(&ss->cond, &ss->lock,
			    &ts) != 0;
		/* Woken only to write down what hooks said: no tmux call. */
		hooks_only = !timed_out && ss->jobs == NULL && ss->agents_dirty &&
		    !ss->wake;
		ss->wake = false;
		if (ss->stop) {
			pthread_mutex_unlock(&ss->lock);
			break;
		}
		pthread_mutex_unlock(&ss->lock);
	}
	return NULL;
}
