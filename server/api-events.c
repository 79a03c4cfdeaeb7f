/*
 * api-events.c: GET /api/events, the event stream.  It reads where the
 * client left off (Last-Event-ID, or ?lastEventId= for clients that
 * cannot set headers) and attaches it to the stream that events.c keeps;
 * a full stream or a stopping taskgate is a 503 that says which.
 */
#include "taskgate.h"

enum MHD_Result
api_events_serve(struct request *r)
{
	struct MHD_Response	*resp;
	const char		*hdr;

	hdr = http_header(r, "Last-Event-ID");
	if (hdr == NULL)
		hdr = MHD_lookup_connection_value(r->conn,
		    MHD_GET_ARGUMENT_KIND, "lastEventId");
	switch (events_attach(r->tg->events, r->conn, valid_last_event_id(hdr),
	    &resp)) {
	case EVENTS_ATTACH_STOPPING:
		return http_error(r, HTTP_UNAVAILABLE, "taskgate is stopping");
	case EVENTS_ATTACH_FULL:
		return http_error(r, HTTP_UNAVAILABLE, "the event stream has "
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
	return http_reply(r, 200, resp);
}
