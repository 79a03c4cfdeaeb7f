/*
 * session-pane.c: the pane watcher, on the session thread.  Each tick it
 * lists the session's windows with one tmux call (adopting windows of
 * ours it did not know, noticing those that went), captures a pane only
 * when its activity, history or cursor moved, and classifies the text
 * (agent.c: context-exhausted, waiting-input, ...); a dead pane is an
 * exited agent.  A window that is starting gets "/continue ID" typed once
 * its screen has settled.  A line taskgate types is confirmed by the
 * UserPromptSubmit it causes, or reported undelivered with the pane's
 * last lines.  An agent that hit a usage limit is parked and resumed at
 * the limit's reset, one stream at a time.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

#define SESSION_READY_QUIET	1.0	/* screen unchanged this long: ready */
#define SESSION_READY_MAX	30.0	/* type anyway after this long */
#define SESSION_QUESTION_QUIET	2.0	/* a question unanswered this long */
#define SESSION_STATUS_WAIT	3.0	/* for tmux to learn an exit status */
#define SESSION_CAPTURE_LINES	200
#define SESSION_TYPED_WAIT	15.0	/* for a typed line's UserPromptSubmit */
#define SESSION_RESUME_LINE	"continue"

static int	 session_pane_type_line(struct sessions *, const char *,
		    const char *, const char *, char *, size_t);

/* Sets what the pane shows; the time moves only when the state does. */
static void
session_pane_set(struct session *s, enum agent_state st, const char *reason)
{
	if (s->pane.state != st)
		s->pane.at = clock_wall();
	s->pane.state = st;
	snprintf(s->pane.reason, sizeof s->pane.reason, "%s", reason);
}

/* The agent's process exited (or its window went): dead from now. */
static void
session_pane_set_dead(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_pane_set_dead(struct session *s, const char *fmt, ...)
{
	va_list	ap;

	s->process.state = AGENT_DEAD;
	s->process.at = clock_wall();
	va_start(ap, fmt);
	vsnprintf(s->process.reason, sizeof s->process.reason, fmt, ap);
	va_end(ap);
}

static bool
session_pane_capture(struct sessions *ss, struct session *s, int lines)
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
session_pane_seen(struct sessions *ss, struct session *s,
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
		session_pane_set_dead(s, "the agent exited with status %d",
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
		session_pane_capture(ss, s, SESSION_CAPTURE_LINES);
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
	session_pane_set(s, st, reason);
	pthread_mutex_unlock(&ss->lock);
	/* What the pane says now is news for the stream's state. */
	if (changed)
		poller_poke(ss->tg->poller);
}

/*
 * Lists the windows (one tmux call) and brings every record up to date:
 * adopts windows it did not know, notices windows that went away.
 */
void
session_pane_refresh(struct sessions *ss, double now)
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
		session_pane_seen(ss, s, &w[i], now);
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
			session_pane_set_dead(s, "the agent's window was "
			    "closed");
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
void
session_pane_type_when_ready(struct sessions *ss, double now)
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
		session_pane_expect_prompt(ss, s->row.id, text);
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
 * resume one now (session_pane_resume_now()).  The lock is held.
 */
static void
session_pane_park_locked(struct sessions *ss, struct session *s, int64_t now_ms)
{
	const struct orchconf	*c = &ss->tg->conf;
	int64_t			 base, slot_ms, at, latest = ss->last_resume_ms;
	size_t			 i;

	base = s->agent.limit_reset_ms > now_ms ? s->agent.limit_reset_ms :
	    now_ms + (int64_t)(c->limit_wait_min * 60000.0);
	slot_ms = (int64_t)(c->limit_spread_s * 1000.0);
	/* Its place in the line: a spread after the latest resume given
	 * out, whether that stream is still parked or resumed a moment ago
	 * (so streams parked at different moments never resume together). */
	for (i = 0; i < ss->n; i++)
		if (ss->s[i] != s && ss->s[i]->agent.resume_ms > latest)
			latest = ss->s[i]->agent.resume_ms;
	at = base;
	if (slot_ms > 0 && latest > 1 && latest + slot_ms > at)
		at = latest + slot_ms;
	if (slot_ms > 0)
		at += (int64_t)(random() % (slot_ms / 4 + 1));
	s->agent.resume_ms = at;
	if (at > ss->last_resume_ms)
		ss->last_resume_ms = at;
	s->agent_dirty = ss->agents_dirty = true;
}

/*
 * Parks the windows whose agents hit a usage limit, and resumes those
 * whose time has come: one line typed, confirmed like any other.
 */
void
session_pane_tend_limits(struct sessions *ss)
{
	int64_t		 now_ms = (int64_t)(clock_wall() * 1000.0);
	size_t		 i;

	for (i = 0;; i++) {
		struct session		*s;
		struct agent_fact	 a;
		char			 id[STREAM_ID_MAX + 1], pane[16], err[256];
		char			 actor[sizeof s->resume_actor];
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
			session_pane_park_locked(ss, s, now_ms);
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
		/* 1: a person said now (session_pane_resume_now()), the
		 * owner if taskgate restarted since. */
		snprintf(actor, sizeof actor, "%s", s->agent.resume_ms != 1 ?
		    "taskgate" : s->resume_actor[0] != '\0' ? s->resume_actor :
		    ss->owner);
		s->resume_actor[0] = '\0';
		s->agent.resume_ms = 0;
		s->agent_dirty = ss->agents_dirty = true;
		snprintf(id, sizeof id, "%s", s->row.id);
		snprintf(pane, sizeof pane, "%s", s->row.pane);
		pthread_mutex_unlock(&ss->lock);
		why = json_pack("{s:s,s:b}", "text", SESSION_RESUME_LINE,
		    "typed", session_pane_type_line(ss, id, pane,
		    SESSION_RESUME_LINE, err, sizeof err) == 0);
		/* The audit row first: whoever sees the event finds it. */
		audit_add(ss->tg->audit, actor, "resume", id, "done",
		    ss->status_of(SESSION_DONE), why);
		session_event(ss, "resumed", id, actor, json_deep_copy(why));
		json_decref(why);
	}
}

/*
 * Types text into pane as one literal line, then Enter, expecting the
 * UserPromptSubmit it causes; -1 with err when tmux fails.
 */
static int
session_pane_type_line(struct sessions *ss, const char *id, const char *pane,
    const char *text, char *err, size_t len)
{
	char	**argv;
	int	  rc;

	session_pane_expect_prompt(ss, id, text);
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
 * A person (actor, audited and told as such) resumes a parked stream now:
 * the line is typed at once and the stream leaves the queue.  -1 when id
 * is not parked.
 */
int
session_pane_resume_now(struct sessions *ss, const char *id,
    const char *actor)
{
	struct session	*s;
	int		 rc = -1;

	pthread_mutex_lock(&ss->lock);
	if ((s = session_find(ss, id)) != NULL && s->agent.resume_ms > 0) {
		s->agent.resume_ms = 1;		/* due: the next tick types it */
		snprintf(s->resume_actor, sizeof s->resume_actor, "%s", actor);
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
void
session_pane_check_typed(struct sessions *ss)
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
 * The line about to be typed into id's window is to be confirmed by the
 * UserPromptSubmit it causes: noted before it is typed, since the agent
 * may post the hook before tmux has even returned.
 */
void
session_pane_expect_prompt(struct sessions *ss, const char *id,
    const char *text)
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
