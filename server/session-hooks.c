/*
 * session-hooks.c: Claude Code's hooks in taskgate's windows.  Which
 * windows get them (--agent-hooks), the settings file each is started
 * with (claude --settings FILE: an http hook per event and taskgate's
 * status line, posting with the window's own secret, which it reads from
 * TASKGATE_HOOK_SECRET in its environment), and what they post: hook
 * events and the status line are taken on the HTTP thread, in memory,
 * behind the secret and a rate limit per window (session_hooks_event(),
 * session_hooks_status()); a Stop with work left is answered "go on" (a
 * nudge); the session thread writes the rows down and tells each nudge
 * (session_hooks_save()).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"

#define SESSION_PERMISSION_MAX	16384	/* bytes of a tool's input kept */
#define SESSION_HOOK_RATE	20.0	/* hook events a second, sustained */
#define SESSION_HOOK_BURST	200.0	/* and at once */

/* This program's path (/proc/self/exe) in single quotes for sh (new). */
static char *
session_hooks_self_quoted(void)
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
void
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
	ss->self_quoted = session_hooks_self_quoted();
	snprintf(ss->hooks_dir, sizeof ss->hooks_dir, "%s", o->db_path);
	if ((slash = strrchr(ss->hooks_dir, '/')) != NULL)
		snprintf(slash, sizeof ss->hooks_dir - (size_t)(slash -
		    ss->hooks_dir), "/hooks");
	else
		snprintf(ss->hooks_dir, sizeof ss->hooks_dir, "hooks");
}

/*
 * Writes down the agent rows the hooks changed, and tells each nudge (an
 * event and an audit row, as for any act of taskgate's).
 */
void
session_hooks_save(struct sessions *ss)
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
		    "done", ss->status_of(SESSION_DONE), why);
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
session_hooks_door_locked(struct sessions *ss, const char *id,
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
session_hooks_limit_reset(struct session *s, json_t *limits)
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

struct session_hooks_view_counts {
	const char		*id;
	struct model_counts	*c;
	bool			 found;
};

static void
session_hooks_view_counts_of(json_t *view, const struct poller_fact *f,
    size_t n, void *arg)
{
	struct session_hooks_view_counts	*q = arg;
	json_t				*st;
	size_t				 i;

	(void)f;
	(void)n;
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
		q->c->cancelled = json_integer_value(json_object_get(st,
		    "cancelledTasks"));
		q->found = json_is_integer(json_object_get(st, "totalTasks"));
		return;
	}
}

/* The counts of stream id in the poller's published view; false if the
 * view has none. */
static bool
session_hooks_view_counts(struct sessions *ss, const char *id,
    struct model_counts *c)
{
	struct session_hooks_view_counts	q = { id, c, false };

	memset(c, 0, sizeof *c);
	poller_with_view(ss->tg->poller, session_hooks_view_counts_of, &q);
	return q.found;
}

/*
 * Whether s's turn that just ended (a Stop hook, body) is answered "go
 * on" (agent_nudge: work left, at most maxNudges in a row; a Stop that
 * follows no block of ours starts the count anew).  Then the reason is
 * in s->nudge_reason, and the session thread tells it.  The lock is held.
 */
static bool
session_hooks_nudge_locked(struct sessions *ss, struct session *s, json_t *body,
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
session_hooks_taken(struct sessions *ss, struct session *s,
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
session_hooks_status(struct sessions *ss, const char *id, const char *secret,
    json_t *body, bool *changed)
{
	struct session		*s;
	struct agent_fact	 before;
	enum session_hook_result why;
	json_t			*pct, *cost, *model;
	double			 share = ss->tg->conf.context_share;

	*changed = false;
	pthread_mutex_lock(&ss->lock);
	if ((s = session_hooks_door_locked(ss, id, secret, &why)) == NULL) {
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
	session_hooks_limit_reset(s, json_object_get(body, "rate_limits"));
	if (json_is_string(model))
		snprintf(s->agent.model, sizeof s->agent.model, "%s",
		    json_string_value(model));
	return session_hooks_taken(ss, s, &before, changed);
}

/*
 * What a permission prompt asks (a PermissionRequest hook's tool_name and
 * tool_input), kept for the page to show until the agent moves on (a
 * tool used, a prompt, its turn's end).  An input whose JSON is over
 * SESSION_PERMISSION_MAX bytes is kept as that much of its text, marked
 * truncated.  The lock is held.
 */
static void
session_hooks_note_permission(struct session *s, const char *ev,
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
session_hooks_event(struct sessions *ss, const char *id, const char *secret,
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
		counted = session_hooks_view_counts(ss, id, &c);
	pthread_mutex_lock(&ss->lock);
	if ((s = session_hooks_door_locked(ss, id, secret, &why)) == NULL) {
		pthread_mutex_unlock(&ss->lock);
		return why;
	}
	if (agent_from_hook(body, now, &f) == -1) {
		pthread_mutex_unlock(&ss->lock);
		return SESSION_HOOK_BAD_EVENT;
	}
	session_agent_locked(s, &before);
	ev = json_string_value(json_object_get(body, "hook_event_name"));
	session_hooks_note_permission(s, ev, body);
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
	if (stop && counted && session_hooks_nudge_locked(ss, s, body, &c)) {
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
	return session_hooks_taken(ss, s, &before, changed);
}

/*
 * Writes the Claude Code settings of id's window into path:
 * an http hook for each event taskgate takes, POSTed to taskgate with the
 * window's secret, which Claude Code reads from the window's environment
 * (allowedEnvVars), so the file holds no secret.  The user's own settings
 * files are never touched: --settings adds to them.  -1 with err.
 */
int
session_hooks_write_settings(struct sessions *ss, const char *id,
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
