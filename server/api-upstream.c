/*
 * api-upstream.c: the endpoints that Task Copilot itself serves, answered
 * from the cache: the same status and JSON as the upstream (its quirks
 * included), plus ETag/304, Cache-Control, X-Cache and Age, and the
 * additions taskgate makes (a "status" on each listed stream, counters on the
 * detail, an "upstream" object on /health).  Writes (the checkpoint POST)
 * are forwarded untouched and then expire the cache.  What the JSON means
 * is model.c's business; how it is fetched is cache.c's and upstream.c's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "taskgate.h"

static enum MHD_Result api_upstream_cached(struct request *,
		    enum cache_kind);
static enum MHD_Result api_upstream_send(struct request *,
		    struct cache_body *, const char *);

static void
api_upstream_suspend(struct cache_waiter *w)
{
	struct request	*r = (struct request *)((char *)w -
			    offsetof(struct request, waiter));

	request_suspend(r);
}

static void
api_upstream_wake(struct cache_waiter *w)
{
	struct request	*r = (struct request *)((char *)w -
			    offsetof(struct request, waiter));

	request_resume(r);
}

/* The headers of every cached answer, 200 or 304. */
static void
api_upstream_cache_headers(struct MHD_Response *resp, struct cache_body *b,
    const char *x_cache, long age)
{
	char	text[32];

	snprintf(text, sizeof text, "%ld", age);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, b->etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-cache");
	MHD_add_response_header(resp, "X-Cache", x_cache);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_AGE, text);
}

/* A new 304 for b, with the cache headers. */
static struct MHD_Response *
api_upstream_304_new(struct cache_body *b, const char *x_cache, long age)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	api_upstream_cache_headers(resp, b, x_cache, age);
	return resp;
}

/*
 * A body's shared 304.  Its headers change only with the second of Age
 * and the X-Cache word, so the dashboards that ask "has it changed?" all
 * get one response instead of building one each.
 */
struct api_upstream_304 {
	struct MHD_Response	*resp;
	long			 age;
	const char		*x_cache;
};

static void
api_upstream_304_free(void *arg)
{
	struct api_upstream_304	*nm = arg;

	MHD_destroy_response(nm->resp);
	free(nm);
}

static enum MHD_Result
api_upstream_not_modified(struct request *r, struct cache_body *b,
    const char *x_cache, long age)
{
	struct api_upstream_304	*nm;
	enum MHD_Result		 ret;

	pthread_mutex_lock(&b->memo_lock);
	nm = b->memo;
	if (nm == NULL || nm->age != age || strcmp(nm->x_cache, x_cache) != 0) {
		if (nm == NULL) {
			nm = xcalloc(1, sizeof *nm);
			b->memo = nm;
			b->memo_free = api_upstream_304_free;
		} else
			MHD_destroy_response(nm->resp);
		nm->resp = api_upstream_304_new(b, x_cache, age);
		reply_common_headers(nm->resp);
		nm->age = age;
		nm->x_cache = x_cache;
	}
	/* Under the lock: libmicrohttpd takes its own reference before
	 * another thread can replace this response. */
	ret = reply_shared(r, 304, nm->resp);
	pthread_mutex_unlock(&b->memo_lock);
	return ret;
}

/*
 * Sends body with the cache headers, or 304 when If-None-Match names it;
 * takes over the caller's reference to b.
 */
static enum MHD_Result
api_upstream_send(struct request *r, struct cache_body *b, const char *x_cache)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;
	double			 secs = clock_wall() - b->fetched_wall;
	long			 age = secs > 0 ? (long)secs : 0;

	if (b->status == 200 && etag_match(request_header(r,
	    MHD_HTTP_HEADER_IF_NONE_MATCH), b->etag)) {
		ret = reply_can_share(r) ?
		    api_upstream_not_modified(r, b, x_cache, age) :
		    reply_send(r, 304, api_upstream_304_new(b, x_cache, age));
		cache_body_unref(b);
		return ret;
	}
	/* The response keeps the reference, and drops it when sent. */
	resp = MHD_create_response_from_buffer_with_free_callback_cls(b->len,
	    b->data, cache_body_unref, b);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    b->content_type);
	api_upstream_cache_headers(resp, b, x_cache, age);
	return reply_send(r, (unsigned int)b->status, resp);
}

static enum MHD_Result
api_upstream_fail(struct request *r, const struct cache_answer *a)
{
	return reply_error(r, a->outcome == UPSTREAM_BAD_RESPONSE ?
	    REPLY_BAD_RESPONSE : REPLY_UNREACHABLE, "%s", a->error);
}

/*
 * Whether the request's Cache-Control says "no-cache" or "max-age=0"
 * (RFC 9111 5.2.1): the client wants an answer fetched after it asked.
 * Directives are case-insensitive and comma-separated; an argument may
 * be quoted.  Pragma: no-cache counts only without Cache-Control (5.4).
 */
static bool
api_upstream_wants_fresh(struct request *r)
{
	const char	*cc = request_header(r, MHD_HTTP_HEADER_CACHE_CONTROL);
	const char	*p, *end = cc;
	const char	*pragma;
	size_t		 len;

	if (cc == NULL) {
		pragma = request_header(r, MHD_HTTP_HEADER_PRAGMA);
		return pragma != NULL && strcasecmp(pragma, "no-cache") == 0;
	}
	for (p = cc; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		p += strspn(p, " \t");
		end = p + strcspn(p, ",");
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if ((len == 8 && strncasecmp(p, "no-cache", 8) == 0) ||
		    (len == 9 && strncasecmp(p, "max-age=0", 9) == 0) ||
		    (len == 11 && strncasecmp(p, "max-age=\"0\"", 11) == 0))
			return true;
	}
	return false;
}

static enum MHD_Result
api_upstream_cached(struct request *r, enum cache_kind kind)
{
	struct cache_answer	 a;
	const char		*x_cache;

	r->waiter.suspend = api_upstream_suspend;
	r->waiter.wake = api_upstream_wake;
	r->waiter.revalidate = api_upstream_wants_fresh(r);
	cache_get(r->tg->cache, r->uri, kind, &r->waiter, r->woken, &a);
	switch (a.verdict) {
	case CACHE_WAIT:
		return MHD_YES;
	case CACHE_FAIL:
		metrics_count(r->tg->metrics, METRIC_CACHE_FAIL);
		return api_upstream_fail(r, &a);
	case CACHE_SERVE:
		break;
	}
	x_cache = a.x_cache;
	if (r->woken && strcmp(x_cache, "HIT") == 0)
		x_cache = "MISS";
	metrics_count(r->tg->metrics, strcmp(x_cache, "HIT") == 0 ?
	    METRIC_CACHE_HIT : strcmp(x_cache, "MISS") == 0 ?
	    METRIC_CACHE_MISS : METRIC_CACHE_STALE);
	return api_upstream_send(r, a.body, x_cache);
}

enum MHD_Result
api_upstream_list(struct request *r)
{
	return api_upstream_cached(r, CACHE_LIST);
}

enum MHD_Result
api_upstream_detail(struct request *r)
{
	return api_upstream_cached(r, CACHE_DETAIL);
}

enum MHD_Result
api_upstream_passthrough(struct request *r)
{
	return api_upstream_cached(r, CACHE_PASSTHROUGH);
}

/* Whether the history is being written, and what waits to be. */
static json_t *
api_upstream_history(struct taskgate *tg)
{
	char	err[256];
	bool	ok = db_writable(tg->db, err, sizeof err);

	return json_pack("{s:b,s:I,s:s?}", "writable", ok, "pendingWrites",
	    (json_int_t)(poller_pending(tg->poller) +
	    events_pending(tg->events) + audit_pending(tg->audit)),
	    "lastError", ok ? NULL : err);
}

/*
 * GET /health: the upstream's own health, probed at most once per poll
 * interval, as 200 {"status":"ok"} or 503 {"status":"degraded"} with
 * what taskgate knows of the upstream.
 */
enum MHD_Result
api_upstream_health(struct request *r)
{
	struct cache_answer	 a;
	json_t			*o, *u;
	char			 now[32];
	bool			 up;

	r->waiter.suspend = api_upstream_suspend;
	r->waiter.wake = api_upstream_wake;
	r->waiter.revalidate = api_upstream_wants_fresh(r);
	cache_get(r->tg->cache, "/health", CACHE_PROBE, &r->waiter, r->woken,
	    &a);
	if (a.verdict == CACHE_WAIT)
		return MHD_YES;
	up = a.verdict == CACHE_SERVE && a.outcome == UPSTREAM_OK &&
	    a.body != NULL && a.body->status == 200;
	cache_body_unref(a.body);
	clock_iso8601(clock_wall(), now, sizeof now);
	u = upstream_json(r->tg->upstream, up);
	o = json_object();
	json_object_set_new(o, "status", json_string(up ? "ok" : "degraded"));
	json_object_set_new(o, "timestamp", json_string(now));
	json_object_set_new(o, "upstream", u);
	json_object_set_new(o, "history", api_upstream_history(r->tg));
	return reply_json(r, up ? 200 : 503, o);
}

static bool
api_upstream_is_json(const struct buf *b)
{
	json_t	*j;

	if (b->data == NULL)
		return false;
	j = json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	    NULL);
	json_decref(j);
	return j != NULL;
}

static void
api_upstream_forwarded(struct upstream_call *call, void *arg)
{
	struct request	*r = arg;

	(void)call;
	request_resume(r);
}

/*
 * POST /api/streams/{id}/checkpoint: forwarded with its body and content
 * type (nothing else: no token, no cookie), answered with the upstream's
 * status and body.  A success expires the cache (cache_write()), since
 * the stream's health and checkpoints just changed.
 */
enum MHD_Result
api_upstream_checkpoint(struct request *r)
{
	struct upstream_call	*c = r->call;
	struct MHD_Response	*resp;
	const char		*type;

	if (c == NULL) {
		c = r->call = upstream_call_new("POST", r->uri);
		c->body = buf_steal(&r->body, &c->body_len);
		type = request_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (type != NULL)
			c->content_type = xstrndup(type, 256);
		c->done = api_upstream_forwarded;
		c->arg = r;
		request_suspend(r);
		cache_write(r->tg->cache, c);
		return MHD_YES;
	}
	if (c->result != UPSTREAM_OK)
		return reply_error(r, c->result == UPSTREAM_BAD_RESPONSE ?
		    REPLY_BAD_RESPONSE : REPLY_UNREACHABLE, "%s", c->error);
	if (!api_upstream_is_json(&c->reply))
		return reply_error(r, REPLY_BAD_RESPONSE, "the upstream's reply "
		    "to POST %s is not JSON", r->path);
	audit_add(r->tg->audit, r->actor, "checkpoint", r->id, c->status < 300 ?
	    "done" : "failed", (unsigned int)c->status, NULL);
	resp = MHD_create_response_from_buffer(c->reply.len, c->reply.data,
	    MHD_RESPMEM_MUST_COPY);
	/* Always JSON: upstream text must never reach a browser as HTML. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	return reply_send(r, (unsigned int)c->status, resp);
}
