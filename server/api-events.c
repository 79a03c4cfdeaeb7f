/*
 * api-events.c: GET /api/events, the event stream.  It reads where the
 * client left off (Last-Event-ID, or ?lastEventId= for clients that
 * cannot set headers) and attaches it to the stream that events.c keeps;
 * a full stream or a stopping taskgate is a 503 that says which.  A
 * person's stream ends when the person is removed, or when the token it
 * came with is replaced (events_end_gone()).
 */
#include "taskgate.h"

enum MHD_Result
api_events_serve(struct request *r)
{
	struct MHD_Response	*resp;
	const char		*hdr;

	hdr = request_header(r, "Last-Event-ID");
	if (hdr == NULL)
		hdr = MHD_lookup_connection_value(r->conn,
		    MHD_GET_ARGUMENT_KIND, "lastEventId");
	switch (events_attach(r->tg->events, r->conn, valid_last_event_id(hdr),
	    r->person, r->token_sha256, &resp)) {
	case EVENTS_ATTACH_STOPPING:
		return reply_error(r, REPLY_UNAVAILABLE, "taskgate is stopping");
	case EVENTS_ATTACH_FULL:
		return reply_error(r, REPLY_UNAVAILABLE, "the event stream has "
		    "its %d clients already; close some dashboards or "
		    "terminals", TASKGATE_EVENTS_MAX_CLIENTS);
	case EVENTS_ATTACH_OK:
		break;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return reply_send(r, 200, resp);
}
