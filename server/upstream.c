/*
 * upstream.c: every conversation with the Task Copilot server.  One thread
 * runs a libcurl multi handle; other threads hand it calls with
 * upstream_submit() and are told of the outcome through the call's done()
 * callback, which runs on this thread.  It caps reply bodies at 8 MiB and
 * time at --upstream-timeout, follows no redirects, speaks only http(s),
 * and sorts each failure into "unreachable" or "bad response".  It keeps
 * the upstream's last-known state for /health.  It knows nothing of
 * caching or of what the JSON means.
 *
 * An upstream of the form "sqlite:PATH" is Task Copilot 3's tasks.db,
 * read by tcdb.c on this same thread behind the same calls, so nothing
 * above this file knows which kind of source answers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "taskgate.h"

struct upstream {
	char			*base;		/* scheme://host:port, no '/' */
	struct tcdb		*tc;		/* for sqlite:PATH, else NULL */
	long			 timeout_ms;
	CURLM			*multi;		/* upstream thread only */
	pthread_t		 thread;
	bool			 running;

	pthread_mutex_t		 lock;		/* guards what follows */
	struct upstream_call	*queue;		/* submitted, not started */
	struct upstream_call	*active;	/* in the multi handle */
	bool			 stop;
	struct upstream_state	 state;
};

static void	*upstream_main(void *);
static void	 upstream_begin(struct upstream *, struct upstream_call *);
static void	 upstream_finish(struct upstream *, struct upstream_call *,
		    CURLcode);
static void	 upstream_complete(struct upstream *, struct upstream_call *);
static size_t	 upstream_write(char *, size_t, size_t, void *);

/* Whether a URL's path ends in the segment "api" (slashes after it too). */
static bool
upstream_path_is_api(const char *path)
{
	size_t	len = strlen(path);

	while (len > 0 && path[len - 1] == '/')
		len--;
	return len >= 4 && strncmp(path + len - 4, "/api", 4) == 0;
}

/*
 * Checks that url is an http(s) URL with a host: 0, else -1 with a
 * sentence, or -2 for such a URL with a path or query, which taskgate
 * would put before each of its own ("…/api" would ask "/api/api/streams").
 */
int
upstream_check_url(const char *url, char *err, size_t errlen)
{
	CURLU	*h;
	char	*scheme = NULL, *host = NULL, *path = NULL, *query = NULL;
	int	 rc = -1;

	if (strncmp(url, "sqlite:", 7) == 0) {
		if (url[7] != '\0')
			return 0;
		snprintf(err, errlen, "upstream '%s': give the path of the "
		    "tasks.db file, as sqlite:.copilot/tasks.db", url);
		return -1;
	}
	h = curl_url();
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		snprintf(err, errlen, "upstream '%s' is not a URL such as "
		    "http://127.0.0.1:9090", url);
	else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		snprintf(err, errlen, "upstream '%s': only http and https "
		    "are supported", url);
	else if (curl_url_get(h, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
	    upstream_path_is_api(path)) {
		/* taskgate asks PATH + "/api/streams": no "/api/api/...".  A
		 * path of a proxy in front of Task Copilot stays allowed. */
		snprintf(err, errlen, "upstream '%s' ends in /api (%.64s): "
		    "give Task Copilot's address alone, as %s://%s:PORT, and "
		    "taskgate asks /health and /api/... there", url, path,
		    scheme, host);
		rc = -2;
	} else if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
		snprintf(err, errlen, "upstream '%s' has a query: give Task "
		    "Copilot's address alone, as %s://%s:PORT", url, scheme,
		    host);
		rc = -2;
	} else
		rc = 0;
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);
	return rc;
}

/* Returns a new upstream for base_url; the caller checked the URL. */
struct upstream *
upstream_new(const char *base_url, double timeout)
{
	struct upstream	*up = xcalloc(1, sizeof *up);
	size_t		 len;

	up->base = xstrdup(base_url);
	if (strncmp(base_url, "sqlite:", 7) == 0)
		up->tc = tcdb_new(base_url + 7);
	len = strlen(up->base);
	while (len > 0 && up->base[len - 1] == '/')
		up->base[--len] = '\0';
	up->timeout_ms = (long)(timeout * 1000.0);
	if (up->timeout_ms < 1)
		up->timeout_ms = 1;
	pthread_mutex_init(&up->lock, NULL);
	return up;
}

const char *
upstream_url(const struct upstream *up)
{
	return up->base;
}

int
upstream_start(struct upstream *up)
{
	up->multi = curl_multi_init();
	if (up->multi == NULL)
		return -1;
	if (pthread_create(&up->thread, NULL, upstream_main, up) != 0) {
		curl_multi_cleanup(up->multi);
		up->multi = NULL;
		return -1;
	}
	up->running = true;
	return 0;
}

/* Stops the thread; calls still pending finish as unreachable. */
void
upstream_stop(struct upstream *up)
{
	if (!up->running)
		return;
	pthread_mutex_lock(&up->lock);
	up->stop = true;
	pthread_mutex_unlock(&up->lock);
	curl_multi_wakeup(up->multi);
	pthread_join(up->thread, NULL);
	up->running = false;
	curl_multi_cleanup(up->multi);
	up->multi = NULL;
}

void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	upstream_stop(up);
	tcdb_free(up->tc);
	pthread_mutex_destroy(&up->lock);
	free(up->base);
	free(up);
}

/* Returns a new call of method on uri (path?query). */
struct upstream_call *
upstream_call_new(const char *method, const char *uri)
{
	struct upstream_call	*c = xcalloc(1, sizeof *c);

	c->method = xstrdup(method);
	c->uri = xstrdup(uri);
	buf_init(&c->reply, TASKGATE_MAX_UPSTREAM);
	return c;
}

void
upstream_call_free(struct upstream_call *c)
{
	if (c == NULL)
		return;
	free(c->method);
	free(c->uri);
	free(c->body);
	free(c->content_type);
	buf_clear(&c->reply);
	free(c->reply_type);
	free(c);
}

/* Queues c; its done() will run on the upstream thread, exactly once. */
void
upstream_submit(struct upstream *up, struct upstream_call *c)
{
	bool	stopped;

	pthread_mutex_lock(&up->lock);
	stopped = up->stop || !up->running;
	if (!stopped) {
		c->next = up->queue;
		up->queue = c;
	}
	pthread_mutex_unlock(&up->lock);
	if (stopped) {
		c->result = UPSTREAM_UNREACHABLE;
		snprintf(c->error, sizeof c->error, "taskgate is stopping");
		c->done(c, c->arg);
		return;
	}
	curl_multi_wakeup(up->multi);
}

/*
 * What /health and the overview say of the upstream (new): its URL,
 * up or down as the caller judged it, and the last answer and error.
 */
json_t *
upstream_json(struct upstream *up, bool reached)
{
	struct upstream_state	st;
	char			ok_at[32];
	json_t			*u = json_object();

	upstream_state(up, &st);
	json_object_set_new(u, "url", json_string(up->base));
	json_object_set_new(u, "status", json_string(reached ? "up" : "down"));
	if (st.last_ok > 0) {
		clock_iso8601(st.last_ok, ok_at, sizeof ok_at);
		json_object_set_new(u, "lastOk", json_string(ok_at));
	} else
		json_object_set_new(u, "lastOk", json_null());
	json_object_set_new(u, "lastError", st.last_error[0] != '\0' ?
	    json_string(st.last_error) : json_null());
	return u;
}

struct upstream_wait {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	bool		done;
};

static void
upstream_wait_done(struct upstream_call *c, void *arg)
{
	struct upstream_wait	*w = arg;

	(void)c;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/*
 * Runs c and waits for its outcome, for threads that may block (never
 * the HTTP thread).  c->done and c->arg are taken over.
 */
void
upstream_run(struct upstream *up, struct upstream_call *c)
{
	struct upstream_wait	w;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	w.done = false;
	c->done = upstream_wait_done;
	c->arg = &w;
	upstream_submit(up, c);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
}

void
upstream_state(struct upstream *up, struct upstream_state *out)
{
	pthread_mutex_lock(&up->lock);
	*out = up->state;
	pthread_mutex_unlock(&up->lock);
}

/*
 * The caller found the answer of the call just completed (on this thread,
 * from its done()) to be no Task Copilot answer (HTML, not JSON, the wrong
 * shape): it counts as a failure, with err, not as the last good answer.
 */
void
upstream_note_bad(struct upstream *up, const char *err)
{
	pthread_mutex_lock(&up->lock);
	up->state.reached = false;
	up->state.last_ok = up->state.prev_ok;
	snprintf(up->state.last_error, sizeof up->state.last_error, "%s", err);
	pthread_mutex_unlock(&up->lock);
}

static size_t
upstream_write(char *p, size_t size, size_t n, void *arg)
{
	struct upstream_call	*c = arg;

	if (buf_add(&c->reply, p, size * n) == -1)
		return 0;	/* over the cap: libcurl fails the transfer */
	return size * n;
}

static void
upstream_begin(struct upstream *up, struct upstream_call *c)
{
	struct curl_slist	*h = NULL;
	CURL			*e = curl_easy_init();
	char			*url, *ct;

	xasprintf(&url, "%s%s", up->base, c->uri);
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, up->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, up->timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "taskgate/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	h = curl_slist_append(h, "Accept: application/json");
	if (strcmp(c->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)c->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    c->body != NULL ? c->body : "");
		/* Forward the client's type as is, or none at all. */
		xasprintf(&ct, "Content-Type:%s%s", c->content_type ? " " : "",
		    c->content_type ? c->content_type : "");
		h = curl_slist_append(h, ct);
		free(ct);
		h = curl_slist_append(h, "Expect:");
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	c->easy = e;
	c->headers = h;
	curl_multi_add_handle(up->multi, e);
}

static void
upstream_finish(struct upstream *up, struct upstream_call *c, CURLcode rc)
{
	CURL		*e = c->easy;
	char		*type = NULL;
	double		 secs = (double)up->timeout_ms / 1000.0;

	if (rc == CURLE_OK) {
		c->result = UPSTREAM_OK;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
		curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &type);
		if (type != NULL)
			c->reply_type = xstrdup(type);
	} else if (rc == CURLE_WRITE_ERROR) {
		c->result = UPSTREAM_BAD_RESPONSE;
		snprintf(c->error, sizeof c->error, "the upstream's reply to "
		    "%s %s is over 8 MiB", c->method, c->uri);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		c->result = UPSTREAM_BAD_RESPONSE;
		snprintf(c->error, sizeof c->error, "the upstream did not "
		    "answer %s %s within %g s", c->method, c->uri, secs);
	} else if (rc == CURLE_WEIRD_SERVER_REPLY ||
	    rc == CURLE_BAD_CONTENT_ENCODING || rc == CURLE_RANGE_ERROR) {
		c->result = UPSTREAM_BAD_RESPONSE;
		snprintf(c->error, sizeof c->error, "the upstream's reply to "
		    "%s %s is not valid HTTP (%s)", c->method, c->uri,
		    curl_easy_strerror(rc));
	} else {
		c->result = UPSTREAM_UNREACHABLE;
		snprintf(c->error, sizeof c->error, "cannot reach the upstream "
		    "at %s: %s", up->base, curl_easy_strerror(rc));
	}
	curl_multi_remove_handle(up->multi, e);
	curl_easy_cleanup(e);
	curl_slist_free_all(c->headers);
	c->easy = c->headers = NULL;
	upstream_complete(up, c);
}

/* Records the outcome of c in the upstream's state and runs its done(). */
static void
upstream_complete(struct upstream *up, struct upstream_call *c)
{
	pthread_mutex_lock(&up->lock);
	up->state.reached = c->result == UPSTREAM_OK;
	up->state.calls++;
	if (c->result == UPSTREAM_UNREACHABLE)
		up->state.unreachable++;
	else if (c->result == UPSTREAM_BAD_RESPONSE)
		up->state.bad++;
	up->state.prev_ok = up->state.last_ok;
	if (c->result == UPSTREAM_OK)
		up->state.last_ok = clock_wall();
	else
		snprintf(up->state.last_error, sizeof up->state.last_error,
		    "%s", c->error);
	pthread_mutex_unlock(&up->lock);
	log_debug("upstream %s %s: %s %ld", c->method, c->uri,
	    c->result == UPSTREAM_OK ? "status" : c->error, c->status);
	c->done(c, c->arg);
}

static void
upstream_unlink_active(struct upstream *up, struct upstream_call *c)
{
	struct upstream_call	**pp;

	for (pp = &up->active; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static void *
upstream_main(void *arg)
{
	struct upstream		*up = arg;
	struct upstream_call	*c, *next, *queue;
	CURLMsg			*msg;
	int			 running, left;
	bool			 stop;

	for (;;) {
		pthread_mutex_lock(&up->lock);
		queue = up->queue;
		up->queue = NULL;
		stop = up->stop;
		pthread_mutex_unlock(&up->lock);
		for (c = queue; c != NULL; c = next) {
			next = c->next;
			if (up->tc != NULL) {
				tcdb_call(up->tc, c);
				upstream_complete(up, c);
				continue;
			}
			c->next = up->active;
			up->active = c;
			upstream_begin(up, c);
		}
		if (stop)
			break;
		curl_multi_perform(up->multi, &running);
		while ((msg = curl_multi_info_read(up->multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&c);
			upstream_unlink_active(up, c);
			upstream_finish(up, c, msg->data.result);
		}
		curl_multi_poll(up->multi, NULL, 0, 1000, NULL);
	}
	while ((c = up->active) != NULL) {
		up->active = c->next;
		upstream_finish(up, c, CURLE_ABORTED_BY_CALLBACK);
	}
	return NULL;
}
