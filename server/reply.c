/*
 * reply.c: how a handler answers: JSON, an error as {"error": sentence,
 * "code": kebab} with its status (the one table of them), a response
 * shared by many requests, the 404 shaped as Task Copilot shapes it.
 * Every answer carries nosniff; one on the event-stream daemon that is
 * not its stream, or any while the server is crowded, closes its
 * connection.  Handlers answer through here and never through http.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

static const struct {
	unsigned int	 status;
	const char	*code;
} reply_errors[] = {
	[REPLY_NOT_FOUND] = { 404, "not-found" },
	[REPLY_BAD_METHOD] = { 405, "method-not-allowed" },
	[REPLY_BAD_ID] = { 400, "invalid-stream-id" },
	[REPLY_BAD_PATH] = { 400, "bad-path" },
	[REPLY_UNAUTHORIZED] = { 401, "unauthorized" },
	[REPLY_FORBIDDEN_HOST] = { 403, "forbidden-host" },
	[REPLY_FORBIDDEN_ORIGIN] = { 403, "forbidden-origin" },
	[REPLY_TOO_LARGE] = { 413, "body-too-large" },
	[REPLY_UNREACHABLE] = { 502, "upstream-unreachable" },
	[REPLY_BAD_RESPONSE] = { 502, "upstream-bad-response" },
	[REPLY_UNAVAILABLE] = { 503, "unavailable" },
	[REPLY_BAD_QUERY] = { 400, "bad-query" },
	[REPLY_CONFLICT] = { 409, "conflict" },
	[REPLY_UNPROCESSABLE] = { 422, "unprocessable" },
	[REPLY_INTERNAL] = { 500, "internal-error" },
	[REPLY_BAD_HEADER] = { 400, "bad-header" },
	[REPLY_TOO_MANY_ARGS] = { 431, "too-many-arguments" },
	[REPLY_FORBIDDEN] = { 403, "forbidden" },
	[REPLY_BAD_BODY] = { 400, "bad-body" },
	[REPLY_UNKNOWN_EVENT] = { 422, "unknown-event" },
	[REPLY_FORBIDDEN_ROLE] = { 403, "forbidden-role" },
	[REPLY_TOO_MANY_GUESSES] = { 429, "too-many-attempts" },
};

/* A JSON string of untrusted bytes: as is when UTF-8, else escaped. */
static json_t *
reply_json_text(const char *s)
{
	json_t	*j = json_string(s);
	char	*safe;

	if (j != NULL)
		return j;
	safe = log_escape(s, 1024);
	j = json_string(safe);
	free(safe);
	return j;
}

/*
 * 404 for a path nothing serves, shaped as the upstream shapes it, byte for
 * byte, so that clients see the same answer with or without taskgate.
 */
enum MHD_Result
reply_not_found(struct request *r)
{
	json_t	*o = json_object();
	char	*msg;

	/* Fastify names the raw URL, query included. */
	xasprintf(&msg, "Route %s:%s not found", r->method, r->uri);
	json_object_set_new(o, "message", reply_json_text(msg));
	json_object_set_new(o, "error", json_string("Not Found"));
	json_object_set_new(o, "statusCode", json_integer(404));
	free(msg);
	return reply_json(r, 404, o);
}

/* Adds the headers every answer carries. */
void
reply_common_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/*
 * Whether r may be answered with a response that other requests share
 * (built once, with http_common_headers): not on the event-stream
 * daemon, whose answers other than 200 need a header of their own.
 */
bool
reply_can_share(const struct request *r)
{
	return !r->events_door && !r->crowded;
}

/* Queues a shared response (see http_can_share); the caller keeps it. */
enum MHD_Result
reply_shared(struct request *r, unsigned int status,
    struct MHD_Response *resp)
{
	r->state = REQ_DONE;
	return MHD_queue_response(r->conn, status, resp);
}

/* Queues resp with the headers every answer carries, and frees it. */
enum MHD_Result
reply_send(struct request *r, unsigned int status, struct MHD_Response *resp)
{
	enum MHD_Result	ret;

	reply_common_headers(resp);
	if (status != 200 && r->events_door)
		/* Its small pool is for one event stream, not for what the
		 * client might send next on the connection. */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	else if (!r->events_door && r->crowded)
		/* Each request passes the front door's head deadline. */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->state = REQ_DONE;
	return ret;
}

/*
 * 401 for a request that needs a token and has none that opens anything;
 * 429 with Retry-After once its address (r->peer, named where the wrong
 * token was read) has sent too many wrong ones.
 */
enum MHD_Result
reply_unauthorized(struct request *r, const char *why)
{
	if (r->bad_credentials &&
	    (r->retry_after = auth_guess_failed(r->tg->auth, r->peer)) > 0)
		return reply_error(r, REPLY_TOO_MANY_GUESSES, "too many wrong "
		    "tokens from this address; try again in %d s",
		    r->retry_after);
	return reply_error(r, REPLY_UNAUTHORIZED, "%s", why);
}

/* Answers with o (stolen) as compact JSON. */
enum MHD_Result
reply_json(struct request *r, unsigned int status, json_t *o)
{
	struct MHD_Response	*resp;
	char			*body = json_dumps(o, JSON_COMPACT |
				    JSON_ENCODE_ANY);

	json_decref(o);
	resp = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	if (status == 401)
		MHD_add_response_header(resp,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"taskgate\"");
	if (status == 429 && r->retry_after > 0) {
		char	 secs[16];

		snprintf(secs, sizeof secs, "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
		    secs);
	}
	return reply_send(r, status, resp);
}

/* 405 for a method the path does not take, with the Allow it takes. */
enum MHD_Result
reply_bad_method(struct request *r, const char *allow)
{
	struct MHD_Response	*resp;
	char			*body;
	json_t			*o;

	o = json_pack("{s:s,s:s}", "error", "this path does not take that "
	    "method", "code", reply_errors[REPLY_BAD_METHOD].code);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	resp = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json; charset=utf-8");
	return reply_send(r, 405, resp);
}

/* Answers {"error": sentence, "code": kebab} with the error's status. */
enum MHD_Result
reply_error(struct request *r, enum reply_error e, const char *fmt, ...)
{
	json_t	*o = json_object();
	char	 sentence[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(sentence, sizeof sentence, fmt, ap);
	va_end(ap);
	json_object_set_new(o, "error", json_string(sentence));
	json_object_set_new(o, "code", json_string(reply_errors[e].code));
	return reply_json(r, reply_errors[e].status, o);
}
