/*
 * api-streams.c: taskgate's own read endpoints about streams:
 * GET /api/overview (the dashboard's one call, also the snapshot event;
 * it says whose daemon it is: uid, user, pid)
 * and GET /api/streams/{id}/history (progress samples, oldest first).
 * The overview is built from the poller's latest view, the upstream's
 * state and the plan's gates; nothing here talks to the upstream.
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "taskgate.h"

#define HISTORY_LIMIT_DEFAULT	1000
#define HISTORY_LIMIT_MAX	100000

struct overview_build {
	struct taskgate			*tg;
	const struct poller_fact	*facts;	/* the view's, borrowed */
	size_t				 n_facts;
	json_t				*out;
};

/* The blocked tasks of a stream, with their reasons. */
static json_t *
overview_blocked(json_t *tasks, const char *id)
{
	json_t	*out = json_array(), *t;
	size_t	 i;

	json_array_foreach(tasks, i, t) {
		const char *sid = json_string_value(json_object_get(
		    json_object_get(t, "metadata"), "streamId"));

		if (sid == NULL || strcmp(sid, id) != 0)
			continue;
		json_array_append_new(out, json_pack("{s:O?,s:O?,s:O?}",
		    "taskId", json_object_get(t, "id"), "title",
		    json_object_get(t, "title"), "blockedReason",
		    json_object_get(t, "blockedReason")));
	}
	return out;
}

static json_t *
overview_deps(json_t *streams, json_t *deps)
{
	json_t	*out = json_array(), *d;
	size_t	 i;

	json_array_foreach(deps, i, d) {
		const char	*id = json_string_value(d);
		json_t		*s;

		if (id == NULL)
			continue;
		s = model_find_stream(streams, id);
		json_array_append_new(out, json_pack("{s:s,s:O?,s:O?}",
		    "streamId", id, "status", s ? json_object_get(s,
		    "status") : NULL, "progressPercentage", s ?
		    json_object_get(s, "progressPercentage") : NULL));
	}
	return out;
}

static void
overview_alert(json_t *alerts, const char *kind, const char *id,
    const char *message)
{
	json_t	*a = json_pack("{s:s,s:s}", "kind", kind, "message", message);

	if (id != NULL)
		json_object_set_new(a, "streamId", json_string(id));
	json_array_append_new(alerts, a);
}

/*
 * Says where and how to unblock a stream with a blocked task: the task,
 * its question, and the control the reader has.  With an agent window
 * taskgate runs, the answer goes to that agent (the card's reply box, or
 * taskgate reply); without one, to the task in Task Copilot.  Returns
 * acts, each "unblock" of such a stream given a "task" and a "how".
 */
static json_t *
overview_unblock_how(json_t *acts, json_t *streams,
    const struct plan_stream *ps, size_t n)
{
	json_t		*a, *s, *t;
	const char	*id, *title, *why;
	size_t		 i, k;
	bool		 live;

	json_array_foreach(acts, i, a) {
		id = json_string_value(json_object_get(a, "streamId"));
		if (id == NULL || strcmp(json_string_value(json_object_get(a,
		    "action")), "unblock") != 0 ||
		    (s = model_find_stream(streams, id)) == NULL ||
		    (t = json_array_get(json_object_get(s, "blockedTaskList"),
		    0)) == NULL)
			continue;
		title = json_string_value(json_object_get(t, "title"));
		why = json_string_value(json_object_get(t, "blockedReason"));
		for (k = 0, live = false; k < n; k++)
			if (strcmp(ps[k].id, id) == 0)
				live = ps[k].live;
		json_object_set_new(a, "task", json_deep_copy(t));
		json_object_set_new(a, "reason", json_sprintf("%s is blocked "
		    "on its task \"%s\": %s", id, title != NULL ? title :
		    "?", why != NULL ? why : "no reason given"));
		json_object_set_new(a, "how", live ? json_sprintf("answer "
		    "%s's agent: the reply box on its card, or taskgate reply "
		    "%s YOUR ANSWER", id, id) : json_sprintf("decide it and "
		    "write the answer on the task in Task Copilot (no agent "
		    "of %s runs in taskgate to reply to)", id));
	}
	return acts;
}

/*
 * Gate readiness of each stream and the suggested next actions, from the
 * plan rules (plan.c) applied to the streams as the overview shows them;
 * whether each may be recovered, from its state as judged (b's facts).
 */
static void
overview_plan(struct overview_build *b, json_t *streams, json_t *out)
{
	struct taskgate		*tg = b->tg;
	struct plan_stream	*ps;
	json_t			*s;
	long			 live;
	size_t			 n, i;

	/* The very inputs a start's gates are given (session.c). */
	n = session_plan(tg->sessions, streams, &ps, &live);
	json_array_foreach(streams, i, s) {
		json_t		*reasons = json_array();
		enum plan_gate	 g = plan_may_start(ps, n, i,
				    tg->conf.max_parallel, live, false, reasons);

		json_t		*sess = session_json(tg->sessions, ps[i].id);
		const char	*win = json_string_value(json_object_get(sess,
				    "window"));
		bool		 stop = win != NULL && *win != '\0';
		char		 why[256];
		bool		 recover = session_may_recover(tg->sessions,
				    ps[i].id, poller_fact_find(b->facts,
				    b->n_facts, ps[i].id), why, sizeof why);

		json_object_set_new(s, "gate", json_pack("{s:b,s:b,s:o,s:b,s:o,"
		    "s:b,s:o}", "canStart", g == PLAN_GATE_OPEN, "forceable",
		    g == PLAN_GATE_WAIT, "reasons", reasons, "canStop", stop,
		    "stopReasons", stop ? json_array() : json_pack("[s]",
		    "no session is running"), "canRecover", recover,
		    "recoverReasons", recover ? json_array() : json_pack("[s]",
		    why)));
		json_object_set_new(s, "session", sess);
	}
	json_object_set_new(out, "nextActions", overview_unblock_how(
	    plan_next_actions(ps, n, tg->conf.max_parallel, live), streams,
	    ps, n));
	plan_streams_free(ps, n);
}

/*
 * Whose taskgate this is: its user and process.  Two users on one box
 * may both use the default port; a client tells the reader when the
 * daemon that answered is not its own user's.
 */
static json_t *
overview_daemon(void)
{
	struct passwd	 pw, *found = NULL;
	char		 text[1024];
	uid_t		 uid = getuid();

	if (getpwuid_r(uid, &pw, text, sizeof text, &found) != 0)
		found = NULL;
	return json_pack("{s:I,s:s?,s:I}", "uid", (json_int_t)uid, "user",
	    found != NULL ? found->pw_name : NULL, "pid",
	    (json_int_t)getpid());
}

static void
overview_build(json_t *view, const struct poller_fact *facts, size_t n_facts,
    void *arg)
{
	struct overview_build	*b = arg;
	json_t			*out = json_object(), *streams = json_array();
	json_t			*alerts = json_array(), *src, *s, *t;
	json_t			*activities, *blocked;
	struct model_counts	 all = { 0 };
	size_t			 i, j;
	bool			 up;
	char			 now[32], *msg;

	b->out = out;
	b->facts = facts;
	b->n_facts = n_facts;
	clock_iso8601(clock_wall(), now, sizeof now);
	json_object_set_new(out, "generatedAt", json_string(now));
	up = view != NULL && json_is_true(json_object_get(view, "upstreamUp"));
	json_object_set_new(out, "upstream", upstream_json(b->tg->upstream, up));
	json_object_set_new(out, "daemon", overview_daemon());
	if (view != NULL && !up)
		overview_alert(alerts, "upstream", NULL, "Task Copilot does "
		    "not answer; the figures are from the last time it did");
	src = json_object_get(view, "streams");
	activities = json_object_get(view, "activities");
	blocked = json_object_get(view, "blocked");
	json_array_foreach(src, i, s) {
		const char	*id = json_string_value(json_object_get(s,
				    "streamId"));
		const struct poller_fact *f;
		json_t		*o, *bt, *agent;

		if (id == NULL)
			continue;
		o = json_deep_copy(s);
		json_object_del(o, "files");
		json_object_set_new(o, "dependencies", overview_deps(src,
		    json_object_get(s, "dependencies")));
		/* The newest activity of the stream: the list is newest first. */
		agent = model_find_stream(activities, id);
		json_object_set_new(o, "agent", agent != NULL ?
		    json_deep_copy(agent) : json_null());
		bt = overview_blocked(blocked, id);
		json_array_foreach(bt, j, t) {
			xasprintf(&msg, "%s: %s is blocked: %s", id,
			    json_string_value(json_object_get(t, "title")) ?
			    json_string_value(json_object_get(t, "title")) :
			    "a task", json_string_value(json_object_get(t,
			    "blockedReason")) ? json_string_value(
			    json_object_get(t, "blockedReason")) :
			    "no reason given");
			overview_alert(alerts, "blocked", id, msg);
			free(msg);
		}
		json_object_set_new(o, "blockedTaskList", bt);
		/* What was last done to it, by whom: "stopped by alice". */
		json_object_set_new(o, "lastAction", audit_last_action(
		    b->tg->audit, id));
		f = poller_fact_find(facts, n_facts, id);
		if (f != NULL && f->state != STALL_OK) {
			xasprintf(&msg, "%s is %s", id, stall_state_name(
			    f->state));
			overview_alert(alerts, "state", id, msg);
			free(msg);
		}
		all.total += json_integer_value(json_object_get(s,
		    "totalTasks"));
		all.completed += json_integer_value(json_object_get(s,
		    "completedTasks"));
		json_array_append_new(streams, o);
	}
	overview_plan(b, streams, out);
	json_object_set_new(out, "overall", json_pack("{s:I,s:I,s:I,s:I}",
	    "totalTasks", (json_int_t)all.total, "completedTasks",
	    (json_int_t)all.completed, "progressPercentage",
	    (json_int_t)model_progress(&all), "streams",
	    (json_int_t)json_array_size(streams)));
	json_object_set_new(out, "streams", streams);
	json_object_set_new(out, "alerts", alerts);
	if (b->tg->sessions != NULL) {
		json_t *spend = session_spend_json(b->tg->sessions);

		json_object_del(spend, "streams");
		json_object_set_new(out, "spend", spend);
	}
	t = json_object_get(view, "polledAt");
	json_object_set_new(out, "polledAt", t != NULL ? json_incref(t) :
	    json_null());
}

/* The overview document (new). */
json_t *
api_streams_overview_doc(struct taskgate *tg)
{
	struct overview_build	b = { tg, NULL, 0, NULL };

	poller_with_view(tg->poller, overview_build, &b);
	return b.out;
}

/* The overview as JSON text (new): the snapshot of the event stream. */
char *
api_streams_snapshot(void *arg)
{
	json_t	*doc = api_streams_overview_doc(arg);
	char	*text = json_dumps(doc, JSON_COMPACT);

	json_decref(doc);
	return text;
}

enum MHD_Result
api_streams_overview(struct request *r)
{
	return reply_json(r, 200, api_streams_overview_doc(r->tg));
}

/*
 * GET /api/streams/{id}/history?since=&until=&limit=: samples oldest
 * first; since and until take ms since the epoch or ISO-8601 UTC.
 */
enum MHD_Result
api_streams_history(struct request *r)
{
	const char	*since_s, *until_s, *limit_s;
	int64_t		 since = -1, until = INT64_MAX;
	long		 limit = HISTORY_LIMIT_DEFAULT;
	struct MHD_Response *resp;
	struct buf	 body;
	size_t		 len;
	char		*end, *text;

	if (request_query(r, "since", &since_s) == -1 ||
	    request_query(r, "until", &until_s) == -1 ||
	    request_query(r, "limit", &limit_s) == -1)
		return reply_error(r, REPLY_BAD_QUERY, "since, until and limit "
		    "may each be given once");
	if (since_s != NULL && (since = clock_parse_ms(since_s)) < 0)
		return reply_error(r, REPLY_BAD_QUERY, "since: expected "
		    "milliseconds since 1970 or a time such as "
		    "2026-11-26T10:29:20Z");
	if (until_s != NULL && (until = clock_parse_ms(until_s)) < 0)
		return reply_error(r, REPLY_BAD_QUERY, "until: expected "
		    "milliseconds since 1970 or a time such as "
		    "2026-11-26T10:29:20Z");
	if (limit_s != NULL) {
		limit = strtol(limit_s, &end, 10);
		if (*limit_s < '0' || *limit_s > '9' || *end != '\0' ||
		    limit < 1 ||
		    limit > HISTORY_LIMIT_MAX)
			return reply_error(r, REPLY_BAD_QUERY, "limit: expected a "
			    "whole number from 1 to %d", HISTORY_LIMIT_MAX);
	}
	buf_init(&body, 0);
	buf_add(&body, "{\"streamId\":\"", 13);
	buf_add(&body, r->id, strlen(r->id));	/* a valid id: no escapes */
	buf_add(&body, "\",\"samples\":", 12);
	if (history_samples(r->tg->db, r->id, since, until, limit,
	    &body) == -1) {
		buf_clear(&body);
		return reply_error(r, REPLY_INTERNAL, "the history database "
		    "could not be read");
	}
	buf_add(&body, "}", 1);
	text = buf_steal(&body, &len);
	resp = MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	return reply_send(r, 200, resp);
}
