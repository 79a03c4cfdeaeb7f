/*
 * api-metrics.c: GET /metrics, the Prometheus text of what metrics.c
 * counts, of the upstream's, the event stream's and the poller's own
 * figures (each stream's progress, state and time since it last moved,
 * from the poller's view), of each agent session (up, recoveries left,
 * from the session layer's memory), the build, and the process_* figures
 * every Prometheus exporter gives (read from /proc/self and getrlimit).
 */
#include "config.h"

#include <sys/resource.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
api_metrics_streams(json_t *view, const struct poller_fact *f, size_t n,
    void *arg)
{
	struct buf	*b = arg;
	json_t		*s;
	size_t		 i;
	double		 now, since;

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
	/* The states and times in numbers: the facts published with view. */
	api_metrics_head(b, "taskgate_stream_state", "gauge",
	    "1 for the health state each stream is in.");
	for (i = 0; i < n; i++)
		api_metrics_line(b, "taskgate_stream_state{stream=\"%s\","
		    "state=\"%s\"} 1\n", f[i].id, stall_state_name(f[i].state));
	api_metrics_head(b, "taskgate_stream_seconds_since_progress", "gauge",
	    "Seconds since the stream's task counts last changed.");
	now = clock_wall();
	for (i = 0; i < n; i++) {
		if (f[i].last_change_ms <= 0)
			continue;
		since = now - (double)f[i].last_change_ms / 1000.0;
		api_metrics_line(b, "taskgate_stream_seconds_since_"
		    "progress{stream=\"%s\"} %.3f\n", f[i].id,
		    since > 0 ? since : 0.0);
	}
	api_metrics_head(b, "taskgate_upstream_up", "gauge",
	    "1 while the last poll reached Task Copilot.");
	api_metrics_line(b, "taskgate_upstream_up %d\n",
	    json_is_true(json_object_get(view, "upstreamUp")) ? 1 : 0);
}

/* What each stream and all of them have cost (every agent each had),
 * and the spending limits (maxCostUsd). */
static void
api_metrics_spend(struct buf *b, struct sessions *ss)
{
	json_t		*spend = session_spend_json(ss), *o;
	const char	*id;

	api_metrics_head(b, "taskgate_stream_cost_usd", "gauge",
	    "What each stream's agents have cost, together, in US dollars.");
	json_object_foreach(json_object_get(spend, "streams"), id, o)
		if (valid_stream_id(id))
			api_metrics_line(b, "taskgate_stream_cost_usd{stream="
			    "\"%s\"} %.4f\n", id, json_number_value(
			    json_object_get(o, "spentUsd")));
	api_metrics_head(b, "taskgate_stream_max_cost_usd", "gauge",
	    "Each stream's spending limit (maxCostUsd), where it has one.");
	json_object_foreach(json_object_get(spend, "streams"), id, o)
		if (valid_stream_id(id) && json_is_number(json_object_get(o,
		    "maxCostUsd")))
			api_metrics_line(b, "taskgate_stream_max_cost_usd{stream="
			    "\"%s\"} %.4f\n", id, json_number_value(
			    json_object_get(o, "maxCostUsd")));
	api_metrics_head(b, "taskgate_cost_usd", "gauge",
	    "What all streams' agents have cost, in US dollars.");
	api_metrics_line(b, "taskgate_cost_usd %.4f\n", json_number_value(
	    json_object_get(spend, "totalUsd")));
	if (json_is_number(json_object_get(spend, "maxCostUsd"))) {
		api_metrics_head(b, "taskgate_max_cost_usd", "gauge",
		    "The spending limit of all streams together (maxCostUsd).");
		api_metrics_line(b, "taskgate_max_cost_usd %.4f\n",
		    json_number_value(json_object_get(spend, "maxCostUsd")));
	}
	json_decref(spend);
}

/* Each agent session: live or not, and its recovery budget left. */
static void
api_metrics_sessions(struct buf *b, struct sessions *ss)
{
	json_t	*list, *o;
	size_t	 i;

	list = ss != NULL ? session_list(ss) : json_array();
	api_metrics_head(b, "taskgate_session_up", "gauge",
	    "1 while the stream's agent window is live.");
	json_array_foreach(list, i, o) {
		const char *id = json_string_value(json_object_get(o,
		    "streamId"));

		if (id != NULL && valid_stream_id(id))
			api_metrics_line(b, "taskgate_session_up{stream=\"%s\"} "
			    "%d\n", id, json_is_true(json_object_get(o, "live")));
	}
	api_metrics_head(b, "taskgate_stream_recovery_attempts_left", "gauge",
	    "Automatic recoveries the stream may still have.");
	json_array_foreach(list, i, o) {
		const char *id = json_string_value(json_object_get(o,
		    "streamId"));
		json_int_t left = json_integer_value(json_object_get(o,
		    "maxRecoveryAttempts")) - json_integer_value(
		    json_object_get(o, "recoveryAttempts"));

		if (id != NULL && valid_stream_id(id))
			api_metrics_line(b, "taskgate_stream_recovery_attempts_"
			    "left{stream=\"%s\"} %lld\n", id,
			    (long long)(left > 0 ? left : 0));
	}
	api_metrics_head(b, "taskgate_stream_resume_at_seconds", "gauge",
	    "When a stream parked by a usage limit is resumed (Unix time).");
	json_array_foreach(list, i, o) {
		const char *id = json_string_value(json_object_get(o,
		    "streamId"));
		json_t *agent = json_object_get(o, "agent");
		const char *until = json_string_value(json_object_get(agent,
		    "parkedUntil"));
		int64_t ms = until != NULL ? clock_parse_ms(until) : -1;

		if (id != NULL && valid_stream_id(id) && ms > 0)
			api_metrics_line(b, "taskgate_stream_resume_at_seconds"
			    "{stream=\"%s\"} %.3f\n", id, (double)ms / 1000.0);
	}
	api_metrics_head(b, "taskgate_agent_cost_usd", "gauge",
	    "What the agent's status line says it has cost, in US dollars.");
	json_array_foreach(list, i, o) {
		const char *id = json_string_value(json_object_get(o,
		    "streamId"));
		json_t *cost = json_object_get(json_object_get(o, "agent"),
		    "costUsd");

		if (id != NULL && valid_stream_id(id) && json_is_number(cost))
			api_metrics_line(b, "taskgate_agent_cost_usd{stream="
			    "\"%s\"} %.4f\n", id, json_number_value(cost));
	}
	json_decref(list);
	if (ss != NULL)
		api_metrics_spend(b, ss);
}

/* The number of open descriptors, or -1. */
static long
api_metrics_open_fds(void)
{
	DIR		*d;
	struct dirent	*e;
	long		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* not the one reading the directory */
}

/* The boot time, in seconds since the epoch, from /proc/stat, or -1. */
static long long
api_metrics_boot_time(void)
{
	FILE		*f;
	char		 line[256];
	long long	 btime = -1;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	return btime;
}

/*
 * The process_* metrics of the Prometheus client libraries, from
 * /proc/self/stat (fields 14-15 utime and stime, 22 starttime, 23 vsize,
 * 24 rss; the name in field 2 may hold spaces and parentheses, so the
 * fields are counted after its last ')'), /proc/self/fd and getrlimit.
 * A figure that cannot be read is left out.
 */
static void
api_metrics_process(struct buf *b)
{
	FILE			*f;
	char			 stat[1024], *p, *tok, *save;
	unsigned long long	 v[25] = { 0 };
	long			 tick = sysconf(_SC_CLK_TCK);
	long			 page = sysconf(_SC_PAGESIZE);
	long			 fds;
	long long		 btime;
	struct rlimit		 rl;
	size_t			 n = 0, field;

	if ((f = fopen("/proc/self/stat", "re")) != NULL) {
		n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
	}
	stat[n] = '\0';
	if ((p = strrchr(stat, ')')) != NULL && tick > 0 && page > 0) {
		field = 3;
		for (tok = strtok_r(p + 1, " \n", &save); tok != NULL &&
		    field < 25; tok = strtok_r(NULL, " \n", &save), field++)
			v[field] = strtoull(tok, NULL, 10);
		if (field == 25) {
			api_metrics_head(b, "process_cpu_seconds_total",
			    "counter", "User and system CPU time spent in "
			    "seconds.");
			api_metrics_line(b, "process_cpu_seconds_total %.2f\n",
			    (double)(v[14] + v[15]) / (double)tick);
			api_metrics_head(b, "process_virtual_memory_bytes",
			    "gauge", "Virtual memory size in bytes.");
			api_metrics_line(b, "process_virtual_memory_bytes "
			    "%llu\n", v[23]);
			api_metrics_head(b, "process_resident_memory_bytes",
			    "gauge", "Resident memory size in bytes.");
			api_metrics_line(b, "process_resident_memory_bytes "
			    "%llu\n", v[24] * (unsigned long long)page);
			if ((btime = api_metrics_boot_time()) > 0) {
				api_metrics_head(b, "process_start_time_seconds",
				    "gauge", "Start time of the process since "
				    "unix epoch in seconds.");
				api_metrics_line(b, "process_start_time_seconds "
				    "%.2f\n", (double)btime + (double)v[22] /
				    (double)tick);
			}
		}
	}
	if ((fds = api_metrics_open_fds()) >= 0) {
		api_metrics_head(b, "process_open_fds", "gauge",
		    "Number of open file descriptors.");
		api_metrics_line(b, "process_open_fds %ld\n", fds);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		api_metrics_head(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		api_metrics_line(b, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
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
	api_metrics_sessions(&b, tg->sessions);
	api_metrics_head(&b, "taskgate_build_info", "gauge",
	    "Always 1; the version taskgate was built from.");
	api_metrics_line(&b, "taskgate_build_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	api_metrics_process(&b);
	text = buf_steal(&b, &len);
	resp = MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	return reply_send(r, 200, resp);
}
