/*
 * api-hooks.c: POST /api/hooks/{id}, where Claude Code posts the hook
 * events of the agent in id's window (its settings, written by
 * session.c, name this URL).  The request carries the window's own
 * secret in X-Taskgate-Hook; the token is not accepted here, and the
 * secret is accepted nowhere else.  Every refusal changes nothing: a
 * missing or wrong secret (401, 403), a body that is not a JSON object
 * (400; over 64 KiB is 413 before this runs), an event taskgate does not
 * take (422), a flood from one window (429).  POST /api/hooks/{id}/status
 * takes what the window's status line says, with the same secret.  An event that changes the
 * agent's state asks the poller to judge the streams now, so the state
 * reaches the event stream at once instead of at the next poll.
 */
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

#define API_HOOKS_HEADER	"X-Taskgate-Hook"

/* 429 with Retry-After, for a window that posts too much. */
static enum MHD_Result
api_hooks_flood(struct request *r)
{
	struct MHD_Response	*resp;
	char			*body;
	json_t			*o;

	o = json_pack("{s:s,s:s}", "error", "this window posts hook events "
	    "faster than taskgate takes them; try again in a second", "code",
	    "too-many-requests");
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	resp = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return reply_send(r, 429, resp);
}

/* The body as a JSON object, or NULL. */
static json_t *
api_hooks_body(struct request *r)
{
	json_t	*body = json_loadb(r->body.data != NULL ? r->body.data : "",
		    r->body.len, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(body)) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/*
 * The answer for what session_hooks_event() or session_hooks_status()
 * made of it.
 */
static enum MHD_Result
api_hooks_answer(struct request *r, enum session_hook_result rc,
    bool changed, const char *bad, char *answer)
{
	struct MHD_Response	*resp;

	if (rc != SESSION_HOOK_OK)
		free(answer);
	switch (rc) {
	case SESSION_HOOK_FORBIDDEN:
		return reply_error(r, REPLY_FORBIDDEN, "this is not the secret "
		    "taskgate gave the window of %s", r->id);
	case SESSION_HOOK_BAD_EVENT:
		return reply_error(r, REPLY_UNKNOWN_EVENT, "%s", bad);
	case SESSION_HOOK_FLOOD:
		return api_hooks_flood(r);
	case SESSION_HOOK_OK:
		break;
	}
	metrics_count(r->tg->metrics, METRIC_HOOK_EVENTS);
	if (changed)
		poller_poke(r->tg->poller);
	/* Claude Code takes a 2xx with an empty body as "carry on"; a Stop
	 * answered {"decision": "block", "reason": ...} makes the agent go
	 * on with the reason as its next instruction (a nudge). */
	if (answer == NULL)
		return reply_send(r, 200, MHD_create_response_from_buffer(0,
		    (void *)"", MHD_RESPMEM_PERSISTENT));
	resp = MHD_create_response_from_buffer(strlen(answer), answer,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	return reply_send(r, 200, resp);
}

/*
 * POST /api/hooks/{id} and /api/hooks/{id}/status: the window's secret,
 * a JSON object, then what the session layer makes of it.
 */
static enum MHD_Result
api_hooks_take(struct request *r, bool status)
{
	const char		*secret = request_header(r, API_HOOKS_HEADER);
	json_t			*body;
	char			*answer = NULL;
	bool			 changed;
	enum session_hook_result rc;

	if (secret == NULL)
		return reply_error(r, REPLY_UNAUTHORIZED, "a hook event or "
		    "status needs its window's secret in %s", API_HOOKS_HEADER);
	if ((body = api_hooks_body(r)) == NULL)
		return reply_error(r, REPLY_BAD_BODY, "a hook event or status "
		    "is a JSON object");
	rc = status ? session_hooks_status(r->tg->sessions, r->id, secret,
	    body, &changed) : session_hooks_event(r->tg->sessions, r->id,
	    secret, body, &changed, &answer);
	json_decref(body);
	return api_hooks_answer(r, rc, changed, status ? "a status line's "
	    "JSON has context_window.used_percentage or cost.total_cost_usd" :
	    "not a hook event taskgate takes (hook_event_name: "
	    "UserPromptSubmit, PreToolUse, PostToolUse, PermissionRequest, "
	    "Notification, Stop, StopFailure, PreCompact or SessionEnd)",
	    answer);
}

/* POST /api/hooks/{id}/status: what the window's status line says
 * (posted by `taskgate statusline`): context share, cost, model. */
enum MHD_Result
api_hooks_status(struct request *r)
{
	return api_hooks_take(r, true);
}

/* POST /api/hooks/{id}: one hook event of the window's Claude Code. */
enum MHD_Result
api_hooks_post(struct request *r)
{
	return api_hooks_take(r, false);
}
