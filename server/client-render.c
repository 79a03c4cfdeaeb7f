/*
 * client-render.c: the overview document (GET /api/overview, or the
 * event stream's snapshot) as terminal text, drawn on a frame: the
 * upstream, the overall bar, the streams by phase and by id, alerts and
 * next actions.  status asks for a small tree per stream, watch for one
 * line per stream (and one under it when there is more).  Every string
 * of the document goes through the frame, so it is made safe there; a
 * field that is missing or of the wrong type is drawn as "?", "none" or
 * left out, never trusted.  It reads the document, the local time zone
 * and the reader's uid (a daemon of another user is said to be), nothing
 * else.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define RENDER_BAR	20	/* progress bar width, columns */

struct render_glyphs {
	const char	*full, *empty;		/* bar cells */
	const char	*fork, *last;		/* tree branches */
	const char	*done, *busy, *idle, *stuck, *alert, *dot;
};

static const struct render_glyphs render_utf8_glyphs = {
	"\u2588", "\u2591", "\u251c\u2500 ", "\u2514\u2500 ",
	"\u2713", "\u25cf", "\u25cb", "\u2717", "\u26a0", "\u00b7"
};

static const struct render_glyphs render_ascii_glyphs = {
	"#", ".", "|- ", "`- ", "+", "*", "o", "x", "!", "-"
};

static const char *
render_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long
render_int(json_t *o, const char *key)
{
	return (long)json_integer_value(json_object_get(o, key));
}

static const char *
render_state_name(json_t *s)
{
	const char	*n = render_str(json_object_get(s, "state"), "name");

	return n != NULL ? n : "ok";
}

/* A stream's colour: its status, or red when its health is not ok. */
static enum client_color
render_stream_color(json_t *s)
{
	const char	*st = render_str(s, "status");

	if (strcmp(render_state_name(s), "ok") != 0)
		return CLIENT_RED;
	if (st == NULL)
		return CLIENT_GREY;
	if (strcmp(st, "completed") == 0)
		return CLIENT_GREEN;
	if (strcmp(st, "in_progress") == 0)
		return CLIENT_YELLOW;
	if (strcmp(st, "blocked") == 0)
		return CLIENT_RED;
	return CLIENT_GREY;
}

static const char *
render_status_word(const char *st)
{
	if (st == NULL || strcmp(st, "pending") == 0)
		return "pending";
	if (strcmp(st, "completed") == 0)
		return "complete";
	if (strcmp(st, "in_progress") == 0)
		return "in progress";
	return st;
}

static const char *
render_icon(const struct render_glyphs *g, json_t *s)
{
	const char	*st = render_str(s, "status");

	if (strcmp(render_state_name(s), "ok") != 0 ||
	    (st != NULL && strcmp(st, "blocked") == 0))
		return g->stuck;
	if (st != NULL && strcmp(st, "completed") == 0)
		return g->done;
	if (st != NULL && strcmp(st, "in_progress") == 0)
		return g->busy;
	return g->idle;
}

static void
render_bar(struct client_frame *f, const struct render_glyphs *g,
    long pct, enum client_color c)
{
	struct buf	b;
	long		fill, i;

	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	fill = pct * RENDER_BAR / 100;
	buf_init(&b, 0);
	for (i = 0; i < RENDER_BAR; i++)
		buf_add(&b, i < fill ? g->full : g->empty,
		    strlen(i < fill ? g->full : g->empty));
	client_frame_add(f, c, "%s", b.data);
	client_frame_add(f, c, " %3ld%%", pct);
	buf_clear(&b);
}

/* "14m" for the time from then to now (ISO-8601 both), "" if unknown. */
static void
render_ago(const char *then, const char *now, char *out, size_t len)
{
	int64_t	a = clock_parse_ms(then);
	int64_t	b = clock_parse_ms(now);
	int64_t	s;

	out[0] = '\0';
	if (a < 0 || b < 0)
		return;
	s = (b - a) / 1000;
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, len, "%lldm", (long long)(s / 60));
	else if (s < 86400 * 2)
		snprintf(out, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(s / 86400));
}

/* An ISO-8601 time as local HH:MM:SS, "" if unknown. */
static void
render_clock(const char *iso, char *out, size_t len)
{
	int64_t		ms = clock_parse_ms(iso);
	time_t		t;
	struct tm	tm;

	out[0] = '\0';
	if (ms < 0)
		return;
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) != NULL)
		strftime(out, len, "%H:%M:%S", &tm);
}

/* The upstream's URL and state; status adds when taskgate last polled. */
static void
render_upstream_line(struct client_frame *f, json_t *doc, bool polled)
{
	json_t		*u = json_object_get(doc, "upstream");
	const char	*st = render_str(u, "status"), *err;
	char		 at[16];
	bool		 up = st != NULL && strcmp(st, "up") == 0;

	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "Upstream  ");
	client_frame_add(f, CLIENT_PLAIN, "%s ", render_str(u, "url") ?
	    render_str(u, "url") : "?");
	client_frame_add(f, up ? CLIENT_GREEN : CLIENT_RED, "%s",
	    up ? "up" : "down");
	if (!up && (err = render_str(u, "lastError")) != NULL)
		client_frame_add(f, CLIENT_RED, ": %s", err);
	if (!polled)
		return;
	render_clock(render_str(doc, "polledAt"), at, sizeof at);
	if (at[0] != '\0')
		client_frame_add(f, CLIENT_GREY, "  (polled %s)", at);
}

/*
 * A daemon of another user (two users, one default port): a line saying
 * whose it is, since its streams, token and windows are not the reader's.
 */
static void
render_daemon_line(struct client_frame *f, json_t *doc)
{
	json_t		*d = json_object_get(doc, "daemon");
	json_t		*uid = json_object_get(d, "uid");
	const char	*user = render_str(d, "user");

	if (!json_is_integer(uid) || json_integer_value(uid) ==
	    (json_int_t)getuid())
		return;
	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "Daemon    ");
	client_frame_add(f, CLIENT_YELLOW, "not yours: it runs as %s%s(uid "
	    "%lld, pid %lld); use --listen to reach your own", user != NULL ?
	    user : "", user != NULL ? " " : "", (long long)json_integer_value(
	    uid), (long long)render_int(d, "pid"));
}

static void
render_overall_line(struct client_frame *f, const struct render_glyphs *g,
    json_t *doc)
{
	json_t		*o = json_object_get(doc, "overall");
	long		 pct = render_int(o, "progressPercentage");
	long		 n = render_int(o, "streams");

	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "Overall   ");
	render_bar(f, g, pct, pct >= 100 ? CLIENT_GREEN : pct > 0 ?
	    CLIENT_YELLOW : CLIENT_GREY);
	client_frame_add(f, CLIENT_PLAIN, "  %ld/%ld tasks in %ld stream%s",
	    render_int(o, "completedTasks"), render_int(o, "totalTasks"), n,
	    n == 1 ? "" : "s");
}

/* "ok", or "no-progress: REASON (WARNINGS)" in red. */
static void
render_state_text(struct client_frame *f, json_t *s, bool warnings)
{
	json_t		*ev = json_object_get(json_object_get(s, "state"),
			    "evidence"), *w;
	const char	*name = render_state_name(s), *reason;
	size_t		 i;

	if (strcmp(name, "ok") == 0) {
		client_frame_add(f, CLIENT_GREEN, "ok");
		return;
	}
	client_frame_add(f, CLIENT_RED, "%s", name);
	if ((reason = render_str(ev, "reason")) != NULL)
		client_frame_add(f, CLIENT_RED, ": %s", reason);
	if (!warnings || json_array_size(json_object_get(ev, "warnings")) == 0)
		return;
	json_array_foreach(json_object_get(ev, "warnings"), i, w)
		client_frame_add(f, CLIENT_RED, "%s%s", i == 0 ? " (" : "; ",
		    json_string_value(w) ? json_string_value(w) : "?");
	client_frame_add(f, CLIENT_RED, ")");
}

static void
render_deps_text(struct client_frame *f, const struct render_glyphs *g,
    json_t *s, bool only_open)
{
	json_t	*deps = json_object_get(s, "dependencies"), *d;
	size_t	 i, shown = 0;

	json_array_foreach(deps, i, d) {
		const char	*st = render_str(d, "status");
		bool		 done = st != NULL && strcmp(st, "completed") == 0;

		if (only_open && done)
			continue;
		client_frame_add(f, CLIENT_PLAIN, "%s%s ", shown++ > 0 ? ", " :
		    "", render_str(d, "streamId") ? render_str(d, "streamId") :
		    "?");
		if (json_object_get(d, "progressPercentage") == NULL ||
		    json_is_null(json_object_get(d, "progressPercentage")))
			client_frame_add(f, CLIENT_RED, "unknown");
		else
			client_frame_add(f, done ? CLIENT_GREEN : CLIENT_YELLOW,
			    "%s%ld%%", done ? g->done : "", render_int(d,
			    "progressPercentage"));
	}
	if (shown == 0)
		client_frame_add(f, CLIENT_GREY, "none");
}

/* How many of a stream's dependencies are not completed. */
static size_t
render_open_deps(json_t *s)
{
	json_t	*d;
	size_t	 i, n = 0;

	json_array_foreach(json_object_get(s, "dependencies"), i, d) {
		const char *st = render_str(d, "status");

		n += st == NULL || strcmp(st, "completed") != 0;
	}
	return n;
}

/* "@id Name: activity, active|idle 14m" or "none". */
static void
render_agent_text(struct client_frame *f, const struct render_glyphs *g,
    json_t *s, const char *now)
{
	json_t		*a = json_object_get(s, "agent");
	const char	*what;
	char		 ago[16];
	bool		 active;

	if (!json_is_object(a)) {
		client_frame_add(f, CLIENT_GREY, "none");
		return;
	}
	active = json_is_true(json_object_get(a, "isActive"));
	client_frame_add(f, CLIENT_CYAN, "@%s", render_str(a, "agentId") ?
	    render_str(a, "agentId") : "agent");
	if (render_str(a, "agentName") != NULL)
		client_frame_add(f, CLIENT_CYAN, " %s", render_str(a,
		    "agentName"));
	what = render_str(a, "activityDescription");
	if (what == NULL)
		what = render_str(a, "taskTitle");
	if (what != NULL)
		client_frame_add(f, CLIENT_PLAIN, ": %s", what);
	render_ago(render_str(a, "lastHeartbeat"), now, ago, sizeof ago);
	client_frame_add(f, active ? CLIENT_GREEN : CLIENT_GREY, " %s %s%s%s",
	    g->dot, active ? "active" : "idle", ago[0] ? ", heartbeat " : "",
	    ago);
	if (ago[0] != '\0')
		client_frame_add(f, active ? CLIENT_GREEN : CLIENT_GREY, " ago");
}

/* An audit action's past tense: "stop" -> "stopped". */
static const char *
render_past(const char *action)
{
	static const char *const past[][2] = {
		{ "start", "started" }, { "stop", "stopped" },
		{ "recover", "recovered" }, { "reply", "replied to" },
		{ "resume", "resumed" }, { "checkpoint", "checkpointed" },
		{ "handoff", "handed off" },
	};
	size_t	i;

	for (i = 0; i < sizeof past / sizeof past[0]; i++)
		if (strcmp(action, past[i][0]) == 0)
			return past[i][1];
	return action;
}

/* ", stopped by alice, 3m ago": the stream's last action, if any. */
static void
render_last_action_text(struct client_frame *f, json_t *s, const char *now)
{
	json_t		*la = json_object_get(s, "lastAction");
	const char	*action = render_str(la, "action");
	const char	*actor = render_str(la, "actor");
	char		 ago[16];

	if (action == NULL || actor == NULL)
		return;
	render_ago(render_str(la, "at"), now, ago, sizeof ago);
	client_frame_add(f, CLIENT_GREY, ", %s by %s%s%s", render_past(action),
	    actor, ago[0] != '\0' ? ", " : "", ago);
	if (ago[0] != '\0')
		client_frame_add(f, CLIENT_GREY, " ago");
}

/* "window @3 live", "window @3 dead (exit 3)" or "none". */
/*
 * What a session's stream has cost, against its limit ("$0.75 of $2.00"),
 * and when a stream parked by a usage limit resumes (local time).
 */
static void
render_spend_text(struct client_frame *f, json_t *ss)
{
	json_t	*spent = json_object_get(ss, "spentUsd");
	json_t	*max = json_object_get(ss, "maxCostUsd");
	char	 at[16];

	if (json_is_number(spent) && (json_number_value(spent) > 0 ||
	    json_is_number(max)))
		client_frame_add(f, json_is_number(max) &&
		    json_number_value(spent) >= json_number_value(max) ?
		    CLIENT_RED : CLIENT_PLAIN, ", $%.2f", json_number_value(spent));
	if (json_is_number(spent) && json_is_number(max))
		client_frame_add(f, CLIENT_PLAIN, " of $%.2f",
		    json_number_value(max));
	render_clock(render_str(json_object_get(ss, "agent"), "parkedUntil"),
	    at, sizeof at);
	if (at[0] != '\0')
		client_frame_add(f, CLIENT_YELLOW, ", parked until %s", at);
}

static void
render_session_text(struct client_frame *f, json_t *s)
{
	json_t		*ss = json_object_get(s, "session");
	const char	*win = render_str(ss, "window");
	long		 tries = render_int(ss, "recoveryAttempts");

	if (!json_is_object(ss) || win == NULL || *win == '\0')
		client_frame_add(f, CLIENT_GREY, "none");
	else if (json_is_true(json_object_get(ss, "dead")))
		client_frame_add(f, CLIENT_RED, "window %s dead (exit %ld)", win,
		    render_int(ss, "exitStatus"));
	else if (json_is_true(json_object_get(ss, "live")))
		client_frame_add(f, CLIENT_GREEN, "window %s live (%s)", win,
		    render_str(ss, "phase") ? render_str(ss, "phase") :
		    "running");
	else
		client_frame_add(f, CLIENT_GREY, "window %s", win);
	if (tries > 0)
		client_frame_add(f, CLIENT_PLAIN, ", %ld of %ld recoveries",
		    tries, render_int(ss, "maxRecoveryAttempts"));
	if (json_is_true(json_object_get(ss, "needsHuman")))
		client_frame_add(f, CLIENT_RED, ", needs a human");
	render_spend_text(f, ss);
}

/* The gate: "ready: taskgate start ID", "waiting: REASONS", or nothing. */
static bool
render_gate_text(struct client_frame *f, json_t *s)
{
	json_t		*gate = json_object_get(s, "gate"), *r;
	const char	*id = render_str(s, "streamId");
	size_t		 i;

	if (!json_is_object(gate))
		return false;
	if (json_is_true(json_object_get(gate, "canStart"))) {
		client_frame_add(f, CLIENT_GREEN, "ready: taskgate start %s",
		    id);
		return true;
	}
	if (!json_is_true(json_object_get(gate, "forceable")))
		return false;
	client_frame_add(f, CLIENT_YELLOW, "waiting: ");
	json_array_foreach(json_object_get(gate, "reasons"), i, r)
		client_frame_add(f, CLIENT_YELLOW, "%s%s", i > 0 ? "; " : "",
		    json_string_value(r) ? json_string_value(r) : "");
	client_frame_add(f, CLIENT_GREY, " (--force overrides)");
	return true;
}

/* status: a small tree per stream. */
static void
render_stream_tree(struct client_frame *f, const struct render_glyphs *g,
    json_t *s, const char *now)
{
	enum client_color	 c = render_stream_color(s);
	const char		*name = render_str(s, "streamName");
	const char		*st = render_str(s, "status");
	bool			 done = st != NULL && strcmp(st, "completed") ==
				    0;

	client_frame_line(f);
	client_frame_add(f, c, "%s ", render_icon(g, s));
	client_frame_add(f, CLIENT_BOLD, "%s", render_str(s, "streamId"));
	if (name != NULL)
		client_frame_add(f, CLIENT_PLAIN, " (%s)", name);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sProgress  ", g->fork);
	render_bar(f, g, render_int(s, "progressPercentage"), c);
	client_frame_add(f, CLIENT_PLAIN, "  %ld/%ld done", render_int(s,
	    "completedTasks"), render_int(s, "totalTasks"));
	if (!done)
		client_frame_add(f, CLIENT_PLAIN, " %s %ld in progress, %ld "
		    "blocked, %ld pending", g->dot, render_int(s,
		    "inProgressTasks"), render_int(s, "blockedTasks"),
		    render_int(s, "pendingTasks"));

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sStatus    ", g->fork);
	client_frame_add(f, c, "%s", render_status_word(st));
	client_frame_add(f, CLIENT_PLAIN, " %s ", g->dot);
	render_state_text(f, s, true);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sDepends   ", g->fork);
	render_deps_text(f, g, s, false);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sAgent     ", g->fork);
	render_agent_text(f, g, s, now);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sSession   ", done ? g->last :
	    g->fork);
	render_session_text(f, s);
	render_last_action_text(f, s, now);
	if (done)
		return;
	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sStart     ", g->last);
	if (!render_gate_text(f, s)) {
		json_t	*r;
		size_t	 i;

		json_array_foreach(json_object_get(json_object_get(s, "gate"),
		    "reasons"), i, r)
			client_frame_add(f, CLIENT_GREY, "%s%s", i > 0 ? "; " :
			    "", json_string_value(r) ? json_string_value(r) :
			    "");
		if (i == 0)
			client_frame_add(f, CLIENT_GREY, "-");
	}
}

/*
 * What a stream whose gate is closed waits for: its dependencies under
 * 100 %, or, when they are all done, the gate's own reasons (the phase
 * rule), never "none".
 */
static void
render_waits_text(struct client_frame *f, const struct render_glyphs *g,
    json_t *s)
{
	json_t		*r;
	size_t		 i;

	if (render_open_deps(s) > 0) {
		client_frame_add(f, CLIENT_GREY, "waits for ");
		render_deps_text(f, g, s, true);
		return;
	}
	client_frame_add(f, CLIENT_GREY, "waits: ");
	json_array_foreach(json_object_get(json_object_get(s, "gate"),
	    "reasons"), i, r)
		client_frame_add(f, CLIENT_GREY, "%s%s", i > 0 ? "; " : "",
		    json_string_value(r) != NULL ? json_string_value(r) : "?");
	if (i == 0)
		client_frame_add(f, CLIENT_GREY, "the plan's gate");
}

/* watch: one line per stream, and one under it when there is more. */
static void
render_stream_row(struct client_frame *f, const struct render_glyphs *g,
    json_t *s, const char *now, int id_w, int name_w,
    enum client_detail detail)
{
	enum client_color	 c = render_stream_color(s);
	const char		*st = render_str(s, "status");
	const char		*name = render_str(s, "streamName");
	json_t			*ss = json_object_get(s, "session");
	bool			 done = st != NULL && strcmp(st, "completed") ==
				    0;
	int			 col, max;

	client_frame_line(f);
	client_frame_add(f, c, "  %s ", render_icon(g, s));
	col = f->width;
	client_frame_add(f, CLIENT_BOLD, "%s", render_str(s, "streamId"));
	client_frame_pad(f, col + id_w + 2);
	col = f->width;
	max = f->max;
	if (f->max == 0 || col + name_w < f->max)
		f->max = col + name_w;		/* a long name is cut */
	client_frame_add(f, CLIENT_PLAIN, "%s", name != NULL ? name : "");
	f->max = max;
	f->cut = false;		/* the name's own cut: the row goes on */
	client_frame_pad(f, col + name_w + 2);
	render_bar(f, g, render_int(s, "progressPercentage"), c);
	client_frame_add(f, CLIENT_PLAIN, "  %2ld/%-2ld ", render_int(s,
	    "completedTasks"), render_int(s, "totalTasks"));
	client_frame_add(f, c, "%s", render_status_word(st));
	if (render_int(s, "blockedTasks") > 0 && !done && (st == NULL ||
	    strcmp(st, "blocked") != 0))
		client_frame_add(f, CLIENT_RED, " (%ld blocked)", render_int(s,
		    "blockedTasks"));
	if (json_is_object(ss) && render_str(ss, "window") != NULL &&
	    *render_str(ss, "window") != '\0') {
		client_frame_add(f, CLIENT_PLAIN, " %s ", g->dot);
		render_session_text(f, s);
		render_last_action_text(f, s, now);
	}
	if (detail == CLIENT_ROWS_ONLY)
		return;
	if (strcmp(render_state_name(s), "ok") != 0) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "      %s", g->last);
		render_state_text(f, s, false);
	}
	if (json_is_object(json_object_get(s, "agent")) && !done &&
	    detail == CLIENT_ROWS) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "      %s", g->last);
		render_agent_text(f, g, s, now);
	}
	if (!done && json_is_true(json_object_get(json_object_get(s, "gate"),
	    "forceable"))) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "      %s", g->last);
		render_waits_text(f, g, s);
	}
}

static void
render_alerts(struct client_frame *f, const struct render_glyphs *g,
    json_t *doc)
{
	json_t	*alerts = json_object_get(doc, "alerts"), *a;
	size_t	 i;

	if (json_array_size(alerts) == 0)
		return;
	client_frame_line(f);
	client_frame_line(f);
	client_frame_add(f, CLIENT_RED, "ALERTS");
	json_array_foreach(alerts, i, a) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_RED, "  %s %s", g->alert,
		    render_str(a, "message") ? render_str(a, "message") : "?");
	}
}

static void
render_next_actions(struct client_frame *f, json_t *doc)
{
	json_t		*acts = json_object_get(doc, "nextActions"), *a;
	const char	*act, *id;
	size_t		 i;

	if (json_array_size(acts) == 0)
		return;
	client_frame_line(f);
	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "NEXT ACTIONS");
	json_array_foreach(acts, i, a) {
		act = render_str(a, "action");
		id = render_str(a, "streamId");
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "  %zu. %s%s%s", i + 1,
		    act != NULL ? act : "?", id != NULL ? " " : "",
		    id != NULL ? id : "");
		if (render_str(a, "reason") != NULL)
			client_frame_add(f, CLIENT_PLAIN, ": %s",
			    render_str(a, "reason"));
		if (act != NULL && id != NULL && (strcmp(act, "start") == 0 ||
		    strcmp(act, "recover") == 0))
			client_frame_add(f, CLIENT_GREY, "  (taskgate %s %s)",
			    act, id);
		if (render_str(a, "how") != NULL) {
			client_frame_line(f);
			client_frame_add(f, CLIENT_GREY, "     %s",
			    render_str(a, "how"));
		}
	}
	f->next_end = f->n;
}

static int
render_by_id(const void *a, const void *b)
{
	const char	*x = render_str(*(json_t *const *)a, "streamId");
	const char	*y = render_str(*(json_t *const *)b, "streamId");

	return strcmp(x, y);
}

/* The streams of phase p that have an id, sorted by it (new array). */
static json_t **
render_phase_streams(json_t *streams, enum plan_phase p, size_t *n)
{
	json_t	**out = xcalloc(json_array_size(streams) + 1, sizeof *out);
	json_t	 *s;
	size_t	  i;

	*n = 0;
	json_array_foreach(streams, i, s) {
		if (plan_phase_of(render_str(s, "streamPhase")) == p &&
		    render_str(s, "streamId") != NULL)
			out[(*n)++] = s;
	}
	qsort(out, *n, sizeof *out, render_by_id);
	return out;
}

/*
 * Renders the overview document as lines: the upstream, the overall bar,
 * the streams by phase, alerts, next actions.  detail: a tree per stream
 * (status), or rows (watch), where the next actions come before the
 * alerts, since a short window shows the top of the frame and what to do
 * matters most; the watch asks for less under each row when the frame
 * is taller than its window.
 */
void
client_render_overview(struct client_frame *f, json_t *doc,
    enum client_detail detail)
{
	bool		 compact = detail != CLIENT_TREE;
	const struct render_glyphs *g = f->utf8 ? &render_utf8_glyphs :
	    &render_ascii_glyphs;
	json_t		*streams = json_object_get(doc, "streams"), *s;
	json_t		**phase;
	const char	*now = render_str(doc, "generatedAt");
	int		 id_w = 0, name_w = 0, w;
	size_t		 i, n;
	enum plan_phase	 p;

	json_array_foreach(streams, i, s) {
		if ((w = termtext_width(render_str(s, "streamId"),
		    f->utf8)) > id_w)
			id_w = w;
		if ((w = termtext_width(render_str(s, "streamName"),
		    f->utf8)) > name_w)
			name_w = w;
	}
	if (name_w > 24)
		name_w = 24;
	render_daemon_line(f, doc);
	render_upstream_line(f, doc, !compact);
	render_overall_line(f, g, doc);
	for (p = PLAN_FOUNDATION; p <= PLAN_UNKNOWN; p++) {
		phase = render_phase_streams(streams, p, &n);
		for (i = 0; i < n; i++) {
			s = phase[i];
			if (i == 0) {
				client_frame_line(f);
				client_frame_line(f);
				client_frame_add(f, CLIENT_BOLD, "%s",
				    p == PLAN_FOUNDATION ? "FOUNDATION" :
				    p == PLAN_PARALLEL ? "PARALLEL" :
				    p == PLAN_INTEGRATION ? "INTEGRATION" :
				    "OTHER PHASES");
			} else if (!compact)
				client_frame_line(f);
			if (compact)
				render_stream_row(f, g, s, now, id_w, name_w,
				    detail);
			else
				render_stream_tree(f, g, s, now);
		}
		free(phase);
	}
	if (json_array_size(streams) == 0) {
		client_frame_line(f);
		client_frame_line(f);
		client_frame_add(f, CLIENT_GREY, "No streams yet: taskgate has "
		    "not read them from Task Copilot, or it has none.");
	}
	if (compact)
		render_next_actions(f, doc);
	render_alerts(f, g, doc);
	if (!compact)
		render_next_actions(f, doc);
}
