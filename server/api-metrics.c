/*
 * api-metrics.c: GET /metrics, the Prometheus text of what metrics.c
 * counts, of the upstream's, the event stream's and the poller's own
 * figures (each stream's progress and state, from the poller's view).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "taskgate.h"

static void
api_metrics_head(struct buf *b, const char *name, const char *type,
    const char *help)
{
	char	*s;
	int	 n = xasprintf(&s, "# HELP %s %s\n# TYPE %s %s\n", name, help,
		    name, type);

	buf_add(b, s, (size_t)n);
	free(s);
}

static void	api_metrics_line(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
api_metrics_line(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_add(b, s, (size_t)n);
	free(s);
}

static void
api_metrics_streams(json_t *view, void *arg)
{
	struct buf	*b = arg;
	json_t		*s;
	size_t		 i;

	api_metrics_head(b, "taskgate_stream_progress_percent", "gauge",
	    "Completed tasks of the stream, in percent.");
	json_array_foreach(json_object_get(view, "streams"), i, s) {
		const char *id = json_string_value(json_object_get(s,
		    "streamId"));

		if (id != NULL && valid_stream_id(id))
			api_metrics_line(b, "taskgate_stream_progress_percent"
			    "{stream=\"%s\"} %lld\n", id, (long long)
			    json_integer_value(json_object_get(s,
			    "progressPercentage")));
	}
	api_metrics_head(b, "taskgate_stream_state", "gauge",
	    "1 for the health state each stream is in.");
	json_array_foreach(json_object_get(view, "streams"), i, s) {
		const char *id = json_string_value(json_object_get(s,
		    "streamId"));
		const char *st = json_string_value(json_object_get(
		    json_object_get(s, "state"), "name"));

		if (id != NULL && valid_stream_id(id) && st != NULL &&
		    stall_state_from_name(st) >= 0)
			api_metrics_line(b, "taskgate_stream_state{stream=\"%s\","
			    "state=\"%s\"} 1\n", id, st);
	}
	api_metrics_head(b, "taskgate_upstream_up", "gauge",
	    "1 while the last poll reached Task Copilot.");
	api_metrics_line(b, "taskgate_upstream_up %d\n",
	    json_is_true(json_object_get(view, "upstreamUp")) ? 1 : 0);
}

enum MHD_Result
api_metrics_serve(struct request *r)
{
	struct taskgate		*tg = r->tg;
	struct metrics		*m = tg->metrics;
	struct upstream_state	 st;
	struct MHD_Response	*resp;
	struct buf		 b;
	char			*text;
	size_t			 len;

	upstream_state(tg->upstream, &st);
	buf_init(&b, 0);
	api_metrics_head(&b, "taskgate_http_requests_total", "counter",
	    "HTTP requests received.");
	api_metrics_line(&b, "taskgate_http_requests_total %llu\n",
	    (unsigned long long)metrics_get(m, METRIC_HTTP_REQUESTS));
	api_metrics_head(&b, "taskgate_cache_requests_total", "counter",
	    "Cached upstream-compatible requests by result.");
	api_metrics_line(&b, "taskgate_cache_requests_total{result=\"hit\"} "
	    "%llu\ntaskgate_cache_requests_total{result=\"miss\"} %llu\n"
	    "taskgate_cache_requests_total{result=\"stale\"} %llu\n"
	    "taskgate_cache_requests_total{result=\"error\"} %llu\n",
	    (unsigned long long)metrics_get(m, METRIC_CACHE_HIT),
	    (unsigned long long)metrics_get(m, METRIC_CACHE_MISS),
	    (unsigned long long)metrics_get(m, METRIC_CACHE_STALE),
	    (unsigned long long)metrics_get(m, METRIC_CACHE_FAIL));
	api_metrics_head(&b, "taskgate_upstream_fetches_total", "counter",
	    "Requests taskgate made to Task Copilot.");
	api_metrics_line(&b, "taskgate_upstream_fetches_total %llu\n",
	    (unsigned long long)st.calls);
	api_metrics_head(&b, "taskgate_upstream_errors_total", "counter",
	    "Upstream requests that failed, by kind.");
	api_metrics_line(&b, "taskgate_upstream_errors_total{kind=\"unreachable\"}"
	    " %llu\ntaskgate_upstream_errors_total{kind=\"bad-response\"} "
	    "%llu\n", (unsigned long long)st.unreachable,
	    (unsigned long long)st.bad);
	api_metrics_head(&b, "taskgate_sse_clients", "gauge",
	    "Clients connected to the event stream.");
	api_metrics_line(&b, "taskgate_sse_clients %zu\n",
	    events_client_count(tg->events));
	api_metrics_head(&b, "taskgate_events_last_id", "gauge",
	    "Id of the newest recorded event.");
	api_metrics_line(&b, "taskgate_events_last_id %lld\n",
	    (long long)events_last_id(tg->events));
	api_metrics_head(&b, "taskgate_recoveries_total", "counter",
	    "Stream recoveries started.");
	api_metrics_line(&b, "taskgate_recoveries_total %llu\n",
	    (unsigned long long)metrics_get(m, METRIC_RECOVERIES));
	api_metrics_head(&b, "taskgate_hook_events_total", "counter",
	    "Hook events the agents posted and taskgate took.");
	api_metrics_line(&b, "taskgate_hook_events_total %llu\n",
	    (unsigned long long)metrics_get(m, METRIC_HOOK_EVENTS));
	poller_with_view(tg->poller, api_metrics_streams, &b);
	text = buf_steal(&b, &len);
	resp = MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	return reply_send(r, 200, resp);
}
