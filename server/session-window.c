/*
 * session-window.c: the window lifecycle, one job at a time on the
 * session thread.  A start passes the plan's gates, a stop kills the
 * window, a recovery (the refusal rule in session.c first) asks Task
 * Copilot for a checkpoint, kills the window and starts a new one, a
 * handoff does the same for a full context without counting against the
 * budget, and a reply types a person's line or answers a permission
 * dialog.  A new window gets its directory (projectRoot/worktreePath,
 * checked), its hooks' settings and secret, and "/continue ID" once it is
 * ready (session-pane.c).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"

#define SESSION_HANDOFFS	2	/* in a row, without progress */

static json_t	*session_window_checkpoint(struct sessions *, const char *,
		    const char *);

/*
 * The directory of a stream's window: projectRoot/worktreePath from the
 * config, or the upstream's worktreePath in the project of a tasks.db
 * upstream (the directory of its .copilot/), else in taskgate's working
 * directory.  It must exist and resolve inside projectRoot.  -1 with the
 * job answered naming the path, or saying what is missing.
 */
int
session_window_workdir(struct sessions *ss, struct session_job *j,
    json_t *stream, char *out)
{
	const struct orchconf	*c = &ss->tg->conf;
	const char		*root = NULL, *wt = NULL;
	char			 rroot[PATH_MAX], want[PATH_MAX], cwd[PATH_MAX];
	const char		*tc = ss->tg->upstream_url;
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
	if (root == NULL && strncmp(tc, "sqlite:", 7) == 0) {
		if (tcdb_project_root(tc + 7, cwd, sizeof cwd) == -1) {
			session_refuse(j, SESSION_BAD_WORKTREE, "bad-worktree",
			    "the project root of %s is missing: %s is not in a "
			    "project's .copilot directory; give projectRoot in "
			    "the orchestration config (--config)", j->id, tc + 7);
			return -1;
		}
		root = cwd;
	}
	if (root == NULL) {
		if (getcwd(cwd, sizeof cwd) == NULL) {
			session_refuse(j, SESSION_BAD_WORKTREE, "bad-worktree",
			    "taskgate's working directory cannot be read");
			return -1;
		}
		root = cwd;
	}
	if (realpath(root, rroot) == NULL) {
		session_refuse(j, SESSION_BAD_WORKTREE, "bad-worktree",
		    "projectRoot %s of %s does not exist", root, j->id);
		json_object_set_new(j->answer, "path", json_string(root));
		return -1;
	}
	if (wt == NULL || *wt == '\0')
		wt = ".";
	if ((size_t)snprintf(want, sizeof want, "%s%s%s", wt[0] == '/' ? "" :
	    rroot, wt[0] == '/' ? "" : "/", wt) >= sizeof want) {
		session_refuse(j, SESSION_BAD_WORKTREE, "bad-worktree",
		    "the worktreePath of %s is too long", j->id);
		return -1;
	}
	len = strlen(rroot);
	if (realpath(want, out) == NULL) {
		session_refuse(j, SESSION_BAD_WORKTREE, "bad-worktree",
		    "the working directory %s of %s does not exist", want,
		    j->id);
		json_object_set_new(j->answer, "path", json_string(want));
		return -1;
	}
	if (strncmp(out, rroot, len) != 0 || (out[len] != '\0' &&
	    out[len] != '/' && strcmp(rroot, "/") != 0)) {
		session_refuse(j, SESSION_BAD_WORKTREE, "bad-worktree",
		    "the working directory %s of %s resolves outside "
		    "projectRoot %s", want, j->id, rroot);
		json_object_set_new(j->answer, "path", json_string(want));
		return -1;
	}
	return 0;
}

static json_t *
session_window_argv_list(char **a, char **b, char **c)
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
session_window_tmux_has(struct sessions *ss)
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
session_window_make(struct sessions *ss, bool exists, const char *id,
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
		argv = tmux_argv_new_window(name, exists &&
		    session_window_tmux_has(ss), id, dir, env, agent);
		rc = tmux_exec(argv, out, err, len);
		tmux_argv_free(argv);
		return rc;
	}
	if (rc == 0 || !exists || session_window_tmux_has(ss))
		return rc;
	free(*out);
	*out = NULL;
	argv = tmux_argv_new_window(name, false, id, dir, env, agent);
	rc = tmux_exec(argv, out, err, len);
	tmux_argv_free(argv);
	return rc;
}

/* The agent's argument vector with "--settings path" added (new). */
static char **
session_window_agent_argv(struct sessions *ss, const char *settings)
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
void
session_window_launch(struct sessions *ss, struct session_job *j,
    const char *dir, const char *why, long attempt)
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
		exists = session_window_tmux_has(ss);
	snprintf(text, sizeof text, "/continue %s", j->id);
	/* Its hooks: a settings file, and a secret of its own. */
	if (snprintf(settings, sizeof settings, "%s/%s.json", ss->hooks_dir,
	    j->id) >= (int)sizeof settings)
		settings[0] = '\0';	/* refused below */
	if (ss->hooks && !j->dry_run && (settings[0] == '\0' ||
	    auth_random_hex(secret, sizeof secret) == -1 ||
	    session_hooks_write_settings(ss, j->id, settings, err,
	    sizeof err) == -1)) {
		if (settings[0] == '\0')
			snprintf(err, sizeof err, "the path of the hooks is "
			    "too long");
		else if (secret[0] == '\0')
			snprintf(err, sizeof err, "cannot get random bytes");
		log_warnx("%s: %s", j->id, err);
		session_refuse(j, SESSION_FAILED, "hooks-failed", "%s", err);
		return;
	}
	snprintf(env, sizeof env, "%s=%s", SESSION_SECRET_ENV, ss->hooks &&
	    j->dry_run ? "SECRET" : secret);
	agent = session_window_agent_argv(ss, ss->hooks ? settings : NULL);
	if (j->dry_run) {
		argv = tmux_argv_new_window(ss->tg->opts->tmux_session, exists,
		    j->id, dir, ss->hooks ? env : NULL, agent);
		tmux_argv_free(agent);
		type = tmux_argv_type("{pane}", text);
		enter = tmux_argv_enter("{pane}");
		session_answer(j, SESSION_DONE, json_pack("{s:b,s:s,s:s,s:o}",
		    "dryRun", 1, "streamId", j->id, "directory", dir, "argv",
		    session_window_argv_list(argv, type, enter)));
		tmux_argv_free(type);
		tmux_argv_free(enter);
		tmux_argv_free(argv);
		return;
	}
	made = session_window_make(ss, exists, j->id, dir, ss->hooks ? env :
	    NULL, agent, &out, err, sizeof err) == 0;
	tmux_argv_free(agent);
	if (!made || out == NULL || sscanf(out, "%15s %15s", window,
	    pane) != 2) {
		if (made)
			snprintf(err, sizeof err, "tmux did not say which "
			    "window it made");
		log_warnx("%s: %s", j->id, err);
		session_refuse(j, SESSION_TMUX_FAILED, "tmux-failed", "%s",
		    err);
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
	session_answer(j, SESSION_STARTED, json_pack("{s:s,s:s,s:s,s:s,s:s}",
	    "streamId", j->id, "window", window, "pane", pane, "directory",
	    dir, "status", "starting"));
}

void
session_window_start(struct sessions *ss, struct session_job *j,
    json_t *streams)
{
	struct plan_stream	*ps;
	json_t			*reasons, *stream;
	char			 dir[PATH_MAX];
	size_t			 n, i;
	long			 live;
	enum plan_gate		 g;

	stream = model_find_stream(streams, j->id);
	if (stream == NULL) {
		session_refuse(j, SESSION_UNKNOWN_STREAM, "unknown-stream",
		    "Task Copilot has no stream %s", j->id);
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
		session_answer(j, SESSION_REFUSED, json_pack(
		    "{s:s,s:s,s:o,s:b}", "error", "the gates do not allow "
		    "starting this stream now", "code", "gate-closed",
		    "reasons", reasons, "forceable", g == PLAN_GATE_WAIT));
		return;
	}
	json_decref(reasons);
	if (session_window_workdir(ss, j, stream, dir) == -1)
		return;
	session_window_launch(ss, j, dir, "started", 0);
}

static void
session_window_kill(struct sessions *ss, struct session *s)
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
 * A person's reply to an agent that waits: a line typed into its pane
 * literally, then Enter (confirmed by the UserPromptSubmit it causes, as
 * any line taskgate types), or a permission dialog answered: Allow once
 * is Enter on its first choice ("1. Yes"), Deny is Escape.  The dialog
 * keys go only to a pane that shows the dialog.
 */
void
session_window_reply(struct sessions *ss, struct session_job *j)
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
		session_refuse(j, SESSION_REFUSED, "not-running", "%s has no "
		    "live window to reply to", j->id);
		return;
	}
	if (j->reply != SESSION_REPLY_TEXT && !dialog) {
		session_refuse(j, SESSION_REFUSED, "no-dialog", "%s shows no "
		    "permission prompt to %s (reply with text instead)", j->id,
		    j->reply == SESSION_REPLY_ALLOW ? "allow" : "deny");
		return;
	}
	if (j->reply == SESSION_REPLY_TEXT && hooks)
		session_pane_expect_prompt(ss, j->id, j->text);
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
		session_refuse(j, SESSION_TMUX_FAILED, "tmux-failed", "%s",
		    err);
		return;
	}
	tmux_argv_free(argv);
	tmux_argv_free(enter);
	session_event(ss, "replied", j->id, j->actor, json_pack("{s:s,s:s?}",
	    "answer", j->reply == SESSION_REPLY_TEXT ? "text" : j->reply ==
	    SESSION_REPLY_ALLOW ? "allow" : "deny", "text", j->text));
	session_answer(j, SESSION_TYPED, json_pack("{s:s,s:s,s:s?,s:s}",
	    "streamId", j->id, "answer", j->reply == SESSION_REPLY_TEXT ?
	    "text" : j->reply == SESSION_REPLY_ALLOW ? "allow" : "deny",
	    "text", j->text, "delivery",
	    j->reply == SESSION_REPLY_TEXT && hooks ? "waiting for its "
	    "UserPromptSubmit" : "typed (this agent has no hooks to confirm "
	    "it)"));
}

void
session_window_stop(struct sessions *ss, struct session_job *j)
{
	struct session	*s;
	char		 window[16];

	pthread_mutex_lock(&ss->lock);
	s = session_find(ss, j->id);
	snprintf(window, sizeof window, "%s", s != NULL ? s->row.window : "");
	pthread_mutex_unlock(&ss->lock);
	if (window[0] == '\0') {
		session_refuse(j, SESSION_REFUSED, "not-running", "%s has no "
		    "window to stop", j->id);
		return;
	}
	if (j->dry_run) {
		char **argv = tmux_argv_kill(window);

		session_answer(j, SESSION_DONE, json_pack("{s:b,s:s,s:o}",
		    "dryRun", 1, "streamId", j->id, "argv",
		    session_window_argv_list(argv, NULL, NULL)));
		tmux_argv_free(argv);
		return;
	}
	session_window_kill(ss, s);
	session_event(ss, "stopped", j->id, j->actor, json_pack("{s:s}",
	    "window", window));
	session_answer(j, SESSION_DONE, json_pack("{s:s,s:s,s:s}", "streamId",
	    j->id, "window", window, "status", "stopped"));
}

/*
 * A context handoff: a stream whose agent's context is (nearly) full, its
 * turn over, goes on in a fresh agent: a checkpoint through the upstream,
 * the window killed, a new one started, /continue typed.  Like a
 * recovery, but it counts against no budget and waits for no backoff:
 * nothing went wrong.  At most once per crossing of the threshold (the
 * new window starts with an empty context).
 */
void
session_window_handoff(struct sessions *ss, struct session_job *j,
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
		session_refuse(j, SESSION_UNKNOWN_STREAM, "unknown-stream",
		    "no stream %s to hand off", j->id);
		return;
	}
	if (session_window_workdir(ss, j, stream, dir) == -1)
		return;
	checkpoint = session_window_checkpoint(ss, j->id,
	    "taskgate context handoff");
	session_window_kill(ss, s);
	session_window_launch(ss, j, dir, "handed-off", 0);
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
void
session_window_tend_handoffs(struct sessions *ss)
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
		if (streams == NULL && (streams = session_streams(ss, NULL,
		    NULL)) == NULL)
			break;
		session_window_handoff(ss, &j, streams);
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
void
session_window_tend_spend(struct sessions *ss)
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
		session_window_kill(ss, s);
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
session_window_checkpoint(struct sessions *ss, const char *id, const char *why)
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
 * The stream's state is the poller's fact f (NULL: not judged yet).
 */
void
session_window_recover(struct sessions *ss, struct session_job *j,
    json_t *streams, const struct poller_fact *f)
{
	struct session		*s;
	json_t			*stream, *checkpoint;
	const char		*refused;
	char			 dir[PATH_MAX], why[256];
	int64_t			 now_ms = (int64_t)(clock_wall() * 1000.0);
	int64_t			 wait_ms;
	enum recovery_verdict	 v;
	long			 attempt;

	stream = model_find_stream(streams, j->id);
	if (stream == NULL) {
		session_refuse(j, SESSION_UNKNOWN_STREAM, "unknown-stream",
		    "Task Copilot has no stream %s", j->id);
		return;
	}
	pthread_mutex_lock(&ss->lock);
	/* Recovering a stream that never ran would start it past its gates:
	 * that is what start is for (not-running). */
	s = session_find(ss, j->id);
	refused = session_refusal_locked(ss, s, f, j->force, true, why,
	    sizeof why, &wait_ms);
	if (refused == NULL) {
		v = recovery_decide(&s->row.rec, ss->tg->conf.max_recovery,
		    now_ms, &wait_ms);
		attempt = s->row.rec.attempts + 1;
	}
	pthread_mutex_unlock(&ss->lock);
	if (refused != NULL) {
		session_refuse(j, SESSION_REFUSED, refused, "%s", why);
		if (strcmp(refused, "backoff") == 0)
			json_object_set_new(j->answer, "retryAfter",
			    json_integer((wait_ms + 999) / 1000));
		return;
	}
	if (session_window_workdir(ss, j, stream, dir) == -1)
		return;
	if (j->dry_run) {
		session_window_launch(ss, j, dir, "recovered", attempt);
		return;
	}
	snprintf(why, sizeof why, "taskgate recovery %ld of %s", attempt,
	    j->id);
	checkpoint = session_window_checkpoint(ss, j->id, why);
	session_window_kill(ss, s);
	pthread_mutex_lock(&ss->lock);
	recovery_record(&s->row.rec, now_ms, ss->tg->conf.stall_timeout_min *
	    60.0, (double)(random() % 1000) / 1000.0);
	pthread_mutex_unlock(&ss->lock);
	metrics_count(ss->tg->metrics, METRIC_RECOVERIES);
	session_window_launch(ss, j, dir, "recovered", attempt);
	if (j->answer != NULL) {
		json_object_set_new(j->answer, "attempt", json_integer(attempt));
		json_object_set(j->answer, "checkpoint", checkpoint);
		if (v != RECOVERY_NOW || f == NULL ||
		    !stall_state_recoverable(f->state))
			json_object_set_new(j->answer, "forced", json_string(
			    v == RECOVERY_SPENT ? "past the recovery budget" :
			    v == RECOVERY_LATER ? "before the backoff ended" :
			    "while the stream was not stuck"));
	}
	json_decref(checkpoint);
}
