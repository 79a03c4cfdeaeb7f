/*
 * api-sessions.c: the endpoints that act on agent sessions:
 * POST /api/streams/{id}/start|stop|recover and POST /api/run (token;
 * ?force=true, ?dryRun=true, Idempotency-Key), GET /api/sessions,
 * GET /api/sessions/{id}/output?lines=N (token) and GET /api/audit
 * (token).  An action becomes a job for the session thread; the request
 * waits suspended and answers with the job's outcome: this file alone
 * says which HTTP status each result of the session layer is (the audit
 * rows the session thread writes ask it too).  A repeated
 * Idempotency-Key gets the first answer again, without acting twice
 * (idempotency.c keeps the answers).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

#define OUTPUT_LINES	50
#define OUTPUT_MAX	200
#define AUDIT_LIMIT	100

/* The HTTP status of each result of a session job. */
static const unsigned int api_sessions_statuses[] = {
	[SESSION_DONE] = 200,
	[SESSION_STARTED] = 201,
	[SESSION_TYPED] = 202,
	[SESSION_UNKNOWN_STREAM] = 404,
	[SESSION_REFUSED] = 409,
	[SESSION_BAD_WORKTREE] = 422,
	[SESSION_FAILED] = 500,
	[SESSION_TMUX_FAILED] = 502,
	[SESSION_UNAVAILABLE] = 503,
};

unsigned int
api_sessions_status(enum session_result r)
{
	return api_sessions_statuses[r];
}

/* Who asked, as http_identify() named them: a person, a Unix login, or
 * the owner. */
static const char *
api_sessions_actor(struct request *r)
{
	return r->actor[0] != '\0' ? r->actor : session_owner(
	    r->tg->sessions);
}

static void
api_sessions_done(struct session_job *j)
{
	request_resume(j->arg);
}

/* A boolean query parameter: true/1, false/0, absent; -1 otherwise. */
static int
api_sessions_flag(struct request *r, const char *name, bool *out)
{
	const char	*v;

	*out = false;
	if (request_query(r, name, &v) == -1)
		return -1;
	if (v == NULL || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || *v == '\0') {
		*out = true;
		return 0;
	}
	return -1;
}

static enum MHD_Result
api_sessions_answer(struct request *r, unsigned int status, const char *body)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	return reply_send(r, status, resp);
}

static enum MHD_Result
api_sessions_submit(struct request *, enum session_job_kind,
    enum session_reply, const char *);

static enum MHD_Result
api_sessions_act(struct request *r, enum session_job_kind kind)
{
	return api_sessions_submit(r, kind, SESSION_REPLY_TEXT, NULL);
}

/*
 * POST /api/streams/{id}/reply: a person's answer to an agent that waits,
 * {"text": "one line"} typed into its window, or {"answer": "allow"} /
 * {"answer": "deny"} for its permission dialog.  Audited with the text.
 */
enum MHD_Result
api_sessions_reply(struct request *r)
{
	json_t			*body, *text, *answer;
	enum session_reply	 which = SESSION_REPLY_TEXT;
	enum MHD_Result		 ret;
	const char		*t = NULL;
	size_t			 i;

	if (r->job != NULL)
		return api_sessions_submit(r, JOB_REPLY, SESSION_REPLY_TEXT, NULL);
	body = json_loadb(r->body.data != NULL ? r->body.data : "",
	    r->body.len, JSON_REJECT_DUPLICATES, NULL);
	text = json_object_get(body, "text");
	answer = json_object_get(body, "answer");
	if (!json_is_object(body) || (text == NULL) == (answer == NULL)) {
		json_decref(body);
		return reply_error(r, REPLY_BAD_BODY, "a reply is {\"text\": "
		    "\"one line\"} or {\"answer\": \"allow\"|\"deny\"}");
	}
	if (answer != NULL) {
		const char *a = json_string_value(answer);

		if (a != NULL && strcmp(a, "allow") == 0)
			which = SESSION_REPLY_ALLOW;
		else if (a != NULL && strcmp(a, "deny") == 0)
			which = SESSION_REPLY_DENY;
		else {
			json_decref(body);
			return reply_error(r, REPLY_BAD_BODY, "answer is "
			    "\"allow\" or \"deny\"");
		}
	} else {
		t = json_string_value(text);
		for (i = 0; t != NULL && t[i] != '\0'; i++)
			if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
				t = NULL;
		if (t == NULL || t[0] == '\0' || strlen(t) > 1000) {
			json_decref(body);
			return reply_error(r, REPLY_BAD_BODY, "a reply's text is "
			    "one line of 1 to 1000 bytes, with no control "
			    "characters");
		}
	}
	ret = api_sessions_submit(r, JOB_REPLY, which, t);
	json_decref(body);
	return ret;
}

/*
 * POST /api/streams/{id}/resume: a stream parked by a usage limit is
 * resumed now, instead of at its turn, audited as whoever asked.
 */
enum MHD_Result
api_sessions_resume(struct request *r)
{
	if (session_pane_resume_now(r->tg->sessions, r->id, api_sessions_actor(
	    r)) == -1)
		return reply_error(r, REPLY_CONFLICT, "%s is not parked by a "
		    "usage limit", r->id);
	return reply_json(r, 202, json_pack("{s:s,s:s}", "streamId", r->id,
	    "status", "resuming"));
}

static enum MHD_Result
api_sessions_submit(struct request *r, enum session_job_kind kind,
    enum session_reply which, const char *text)
{
	struct session_job	*j = r->job;
	const char		*key = request_header(r, "Idempotency-Key");
	char			*target, *body;
	unsigned int		 status;
	enum MHD_Result		 ret;
	int			 rc;

	xasprintf(&target, "%s %s", r->method, r->uri);
	if (j != NULL) {		/* the session thread answered */
		body = json_dumps(j->answer, JSON_COMPACT);
		status = api_sessions_status(j->result);
		if (key != NULL)
			idempotency_store(r->tg->idempotency, key, target,
			    status, body);
		ret = api_sessions_answer(r, status, body);
		free(body);
		free(target);
		return ret;
	}
	j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->reply = which;
	j->text = text != NULL ? xstrdup(text) : NULL;
	if (kind != JOB_RUN)
		snprintf(j->id, sizeof j->id, "%s", r->id);
	if (api_sessions_flag(r, "force", &j->force) == -1 ||
	    api_sessions_flag(r, "dryRun", &j->dry_run) == -1) {
		free(j->text);
		free(j);
		free(target);
		return reply_error(r, REPLY_BAD_QUERY, "force and dryRun take "
		    "true or false, once each");
	}
	if (key != NULL) {
		if (!idempotency_key_ok(key)) {
			free(j->text);
			free(j);
			free(target);
			return reply_error(r, REPLY_BAD_QUERY, "an Idempotency-Key "
			    "is 1 to %d printable characters", IDEMPOTENCY_KEY_MAX);
		}
		switch (idempotency_claim(r->tg->idempotency, key, target,
		    &status, &body)) {
		case IDEMPOTENCY_REPLAY:
			ret = api_sessions_answer(r, status, body);
			free(body);
			free(j->text);
			free(j);
			free(target);
			return ret;
		case IDEMPOTENCY_PENDING:
			free(j->text);
			free(j);
			free(target);
			return reply_error(r, REPLY_CONFLICT, "a request with "
			    "this Idempotency-Key is still running");
		case IDEMPOTENCY_MISMATCH:
			free(j->text);
			free(j);
			free(target);
			return reply_error(r, REPLY_UNPROCESSABLE, "this "
			    "Idempotency-Key was used for another request");
		case IDEMPOTENCY_NEW:
			break;
		}
	}
	free(target);
	snprintf(j->actor, sizeof j->actor, "%s", api_sessions_actor(r));
	j->done = api_sessions_done;
	j->arg = r;
	r->job = j;
	request_suspend(r);
	rc = session_submit(r->tg->sessions, j);
	if (rc == 0)
		return MHD_YES;
	j->result = rc == -1 ? SESSION_REFUSED : SESSION_UNAVAILABLE;
	j->answer = rc == -1 ? json_pack("{s:s,s:s}", "error", "another "
	    "action on this stream is still running", "code", "busy") :
	    json_pack("{s:s,s:s}", "error", "taskgate is stopping", "code",
	    "unavailable");
	request_resume(r);
	return MHD_YES;
}

enum MHD_Result
api_sessions_start(struct request *r)
{
	return api_sessions_act(r, JOB_START);
}

enum MHD_Result
api_sessions_stop(struct request *r)
{
	return api_sessions_act(r, JOB_STOP);
}

enum MHD_Result
api_sessions_recover(struct request *r)
{
	return api_sessions_act(r, JOB_RECOVER);
}

enum MHD_Result
api_sessions_run(struct request *r)
{
	return api_sessions_act(r, JOB_RUN);
}

enum MHD_Result
api_sessions_list(struct request *r)
{
	return reply_json(r, 200, json_pack("{s:s,s:o}", "tmuxSession",
	    r->tg->opts->tmux_session, "sessions",
	    session_list(r->tg->sessions)));
}

static int
api_sessions_number(struct request *r, const char *name, long def, long max,
    long *out)
{
	const char	*v;
	char		*end;

	*out = def;
	if (request_query(r, name, &v) == -1)
		return -1;
	if (v == NULL)
		return 0;
	*out = strtol(v, &end, 10);
	return *v == '\0' || *end != '\0' || *out < 1 || *out > max ? -1 : 0;
}

enum MHD_Result
api_sessions_output(struct request *r)
{
	json_t	*o;
	long	 lines;

	if (api_sessions_number(r, "lines", OUTPUT_LINES, OUTPUT_MAX,
	    &lines) == -1)
		return reply_error(r, REPLY_BAD_QUERY, "lines: expected a whole "
		    "number from 1 to %d", OUTPUT_MAX);
	o = session_output(r->tg->sessions, r->id, lines);
	if (o == NULL)
		return reply_error(r, REPLY_NOT_FOUND, "taskgate has no session "
		    "for %s", r->id);
	json_object_set_new(o, "lines", json_integer(lines));
	return reply_json(r, 200, o);
}

enum MHD_Result
api_sessions_audit(struct request *r)
{
	const char	*stream;
	json_t		*rows;
	long		 limit;

	if (api_sessions_number(r, "limit", AUDIT_LIMIT, 10000, &limit) ==
	    -1 || request_query(r, "streamId", &stream) == -1 ||
	    (stream != NULL && !valid_stream_id(stream)))
		return reply_error(r, REPLY_BAD_QUERY, "limit takes 1 to 10000 "
		    "and streamId a stream id, once each");
	rows = audit_list(r->tg->audit, stream, limit);
	if (rows == NULL)
		return reply_error(r, REPLY_INTERNAL, "the audit log could not "
		    "be read");
	return reply_json(r, 200, json_pack("{s:o}", "audit", rows));
}
