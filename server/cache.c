/*
 * cache.c: one entry per upstream URL (path and query as the client sent
 * them), so that a hundred clients cost the upstream one request.
 *
 * Rules: an entry is fetched at most once per poll interval, whatever the
 * outcome; while a fetch is in flight, every request for that URL waits
 * for it (single flight) instead of starting another.  A failed fetch
 * leaves the last good body in place, served as STALE; with none, the
 * failure itself is the answer (502).  A write through taskgate expires
 * every entry and starts a new generation: a request that comes after it
 * never takes the answer of a fetch that started before it.  Bodies are
 * immutable and reference-counted, so a response can point into one
 * without a copy.
 * The upstream thread turns each reply into a body here (validation and
 * taskgate's additions, done once per fetch, not once per request).
 * One mutex guards all entries; no callback runs under it (a waiter is
 * suspended just after it is let go: libmicrohttpd's threads take it, so
 * no call into libmicrohttpd is made with it held).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "taskgate.h"

#define CACHE_BUCKETS		256
#define CACHE_MAX_ENTRIES	1024

struct cache_entry {
	char			*key;		/* path?query */
	enum cache_kind		 kind;
	struct cache_body	*body;		/* last good answer, or NULL */
	bool			 answered;	/* a fetch has finished */
	bool			 expired;	/* refetch at the next request */
	bool			 inflight;
	unsigned long		 fetch_gen;	/* c->gen when the fetch began */
	double			 last_attempt;	/* monotonic */
	double			 last_used;	/* monotonic, for eviction */
	enum upstream_result	 outcome;	/* of the last fetch */
	char			 error[256];	/* its sentence when failed */
	struct cache_waiter	*waiters;
	struct cache_entry	*next;		/* in its bucket */
};

struct cache {
	struct upstream		*up;
	double			 poll;		/* seconds */
	pthread_mutex_t		 lock;
	struct cache_entry	*buckets[CACHE_BUCKETS];
	size_t			 count;
	bool			 closing;
	unsigned long		 gen;		/* writes seen: cache_expire_all */
	double			 last_ok;	/* monotonic: the last fetch of
						   any URL that worked */
	char			 told[256];	/* the failure last logged, until
						   a fetch works again */
};

struct cache_fetch {
	struct cache		*cache;
	struct cache_entry	*entry;
};

static struct cache_entry *cache_find(struct cache *, const char *,
		    enum cache_kind, double);
static void	cache_evict_one(struct cache *);
static void	cache_on_fetched(struct upstream_call *, void *);
static struct upstream_call *cache_fetch_start(struct cache *,
		    struct cache_entry *, double);
static struct cache_body *cache_make_body(struct cache *,
		    struct upstream_call *, enum cache_kind,
		    enum upstream_result *, char *, size_t);

struct cache *
cache_new(struct upstream *up, double poll)
{
	struct cache	*c = xcalloc(1, sizeof *c);

	c->up = up;
	c->poll = poll;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void
cache_entry_free(struct cache_entry *e)
{
	cache_body_unref(e->body);
	free(e->key);
	free(e);
}

void
cache_free(struct cache *c)
{
	struct cache_entry	*e, *next;
	size_t			 i;

	if (c == NULL)
		return;
	for (i = 0; i < CACHE_BUCKETS; i++) {
		for (e = c->buckets[i]; e != NULL; e = next) {
			next = e->next;
			cache_entry_free(e);
		}
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
cache_body_ref(struct cache_body *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

/* Drops a reference (a void * so that it can be a free callback). */
void
cache_body_unref(void *arg)
{
	struct cache_body	*b = arg;

	if (b == NULL || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (b->memo != NULL)
		b->memo_free(b->memo);
	pthread_mutex_destroy(&b->memo_lock);
	free(b->content_type);
	free(b->data);
	free(b);
}

static size_t
cache_hash(const char *s)
{
	size_t	h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h % CACHE_BUCKETS;
}

/* Finds or creates the entry for key; the lock is held. */
static struct cache_entry *
cache_find(struct cache *c, const char *key, enum cache_kind kind, double now)
{
	size_t			 h = cache_hash(key);
	struct cache_entry	*e;

	for (e = c->buckets[h]; e != NULL; e = e->next)
		if (e->kind == kind && strcmp(e->key, key) == 0)
			return e;
	if (c->count >= CACHE_MAX_ENTRIES)
		cache_evict_one(c);
	e = xcalloc(1, sizeof *e);
	e->key = xstrdup(key);
	e->kind = kind;
	e->last_used = now;
	e->next = c->buckets[h];
	c->buckets[h] = e;
	c->count++;
	return e;
}

/* Frees the least recently used idle entry; the lock is held. */
static void
cache_evict_one(struct cache *c)
{
	struct cache_entry	**victim = NULL, **pp, *e;
	size_t			  i;

	for (i = 0; i < CACHE_BUCKETS; i++) {
		for (pp = &c->buckets[i]; *pp != NULL; pp = &(*pp)->next) {
			e = *pp;
			if (e->inflight || e->waiters != NULL)
				continue;
			if (victim == NULL || e->last_used < (*victim)->last_used)
				victim = pp;
		}
	}
	if (victim == NULL)
		return;
	e = *victim;
	*victim = e->next;
	cache_entry_free(e);
	c->count--;
}

/*
 * The last good body stands in while the upstream cannot be reached; an
 * upstream that answers garbage (or too slowly) is said to, as a 502.
 */
static void
cache_answer_from(struct cache_entry *e, struct cache_answer *a)
{
	a->outcome = e->outcome;
	if (e->outcome == UPSTREAM_OK || (e->outcome == UPSTREAM_UNREACHABLE &&
	    e->body != NULL)) {
		a->verdict = CACHE_SERVE;
		a->body = e->body;
		if (a->body != NULL)
			cache_body_ref(a->body);
		a->x_cache = e->outcome == UPSTREAM_OK ? "HIT" : "STALE";
	} else {
		a->verdict = CACHE_FAIL;
		snprintf(a->error, sizeof a->error, "%s", e->error);
	}
}

/*
 * Answers a request for key.  CACHE_SERVE gives a body reference to drop
 * with cache_body_unref(); CACHE_FAIL gives the failure; CACHE_WAIT means
 * w->suspend() was called (after the lock) and w->wake() will be called
 * once the fetch finishes, after which the caller asks again with
 * woken set (and then gets the answer even if it is already old).
 */
int
cache_get(struct cache *c, const char *key, enum cache_kind kind,
    struct cache_waiter *w, bool woken, struct cache_answer *a)
{
	struct cache_entry	*e;
	struct upstream_call	*call = NULL;
	double			 now = clock_mono();
	bool			 fresh;

	memset(a, 0, sizeof *a);
	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		pthread_mutex_unlock(&c->lock);
		a->verdict = CACHE_FAIL;
		a->outcome = UPSTREAM_UNREACHABLE;
		snprintf(a->error, sizeof a->error, "taskgate is stopping");
		return 0;
	}
	e = cache_find(c, key, kind, now);
	e->last_used = now;
	/*
	 * A URL that could not reach the upstream is asked again as soon as
	 * another fetch worked (the upstream is back: /health says up), not
	 * a poll later; and a client's no-cache takes no stored answer but
	 * waits for a fetch, the one in flight or a new one (RFC 9111 5.2.1).
	 */
	fresh = e->answered && !e->expired && now - e->last_attempt < c->poll &&
	    !(e->outcome == UPSTREAM_UNREACHABLE && c->last_ok > e->last_attempt) &&
	    !w->revalidate;
	if (e->answered && (fresh || woken)) {
		cache_answer_from(e, a);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (!e->inflight)
		call = cache_fetch_start(c, e, now);
	w->gen = c->gen;
	w->next = e->waiters;
	e->waiters = w;
	a->verdict = CACHE_WAIT;
	pthread_mutex_unlock(&c->lock);
	/* A wake that comes first makes libmicrohttpd skip the suspend. */
	w->suspend(w);
	if (call != NULL)
		upstream_submit(c->up, call);
	return 0;
}

/* Marks e in flight (lock held); the call to submit once it is let go. */
static struct upstream_call *
cache_fetch_start(struct cache *c, struct cache_entry *e, double now)
{
	struct cache_fetch	*f = xmalloc(sizeof *f);
	struct upstream_call	*call;

	e->inflight = true;
	e->expired = false;
	e->fetch_gen = c->gen;
	e->last_attempt = now;
	f->cache = c;
	f->entry = e;
	call = upstream_call_new("GET", e->key);
	call->done = cache_on_fetched;
	call->arg = f;
	return call;
}

static const char *
cache_content_type(const char *upstream_type)
{
	if (upstream_type != NULL &&
	    strncmp(upstream_type, "application/json", 16) == 0)
		return upstream_type;
	return "application/json; charset=utf-8";
}

/*
 * Adds to a stream list the reasons of its blocked tasks, from the last
 * good answer to the poller's /api/tasks?status=blocked (a poll older at
 * most): the list itself has none, and the upstream's own scripts show
 * "Unknown reason" without one.
 */
static void
cache_blocked_reasons(struct cache *c, json_t *list)
{
	static const char	 key[] = "/api/tasks?status=blocked";
	struct cache_entry	*e;
	struct cache_body	*b = NULL;
	json_t			*tasks;

	pthread_mutex_lock(&c->lock);
	for (e = c->buckets[cache_hash(key)]; e != NULL; e = e->next) {
		if (e->kind == CACHE_PASSTHROUGH && strcmp(e->key, key) == 0 &&
		    e->body != NULL && e->body->status == 200) {
			b = e->body;
			cache_body_ref(b);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (b == NULL)
		return;
	tasks = json_loadb(b->data, b->len, 0, NULL);
	model_add_blocked_reasons(list, json_object_get(tasks, "tasks"));
	json_decref(tasks);
	cache_body_unref(b);
}

/*
 * The sentence for a reply that is not JSON.  A web page (a dev server, a
 * proxy's login page) means --upstream names the wrong server, or a path
 * on it: the user is told what came back and where to look.
 */
static void
cache_not_json(const struct upstream_call *call, const char *why, char *err,
    size_t errlen)
{
	const char	*type = call->reply_type;
	char		 shown[48];
	size_t		 i;

	if (type != NULL && strncasecmp(type, "text/html", 9) == 0) {
		snprintf(err, errlen, "check that --upstream is Task "
		    "Copilot's address: it answered %s %s with %ld and an "
		    "HTML page, not JSON", call->method, call->uri,
		    call->status);
		return;
	}
	/* The type is the upstream's text: printable ASCII only. */
	snprintf(shown, sizeof shown, "%s", type != NULL ? type : "no type");
	for (i = 0; shown[i] != '\0'; i++)
		if ((unsigned char)shown[i] < 0x20 || (unsigned char)shown[i] > 0x7e)
			shown[i] = '?';
	snprintf(err, errlen, "check that --upstream is Task Copilot's "
	    "address: its reply to %s %s is not JSON (%ld, %s: %.60s)",
	    call->method, call->uri, call->status, shown, why);
}

/*
 * Turns an upstream reply into a body (new), or NULL with the outcome and
 * the sentence set.  A gateway error from the upstream counts as down.
 */
static struct cache_body *
cache_make_body(struct cache *c, struct upstream_call *call,
    enum cache_kind kind, enum upstream_result *outcome, char *err,
    size_t errlen)
{
	struct cache_body	*b;
	json_error_t		 jerr;
	json_t			*root;
	char			 why[200];

	*outcome = call->result;
	if (call->result != UPSTREAM_OK) {
		snprintf(err, errlen, "%s", call->error);
		return NULL;
	}
	if (call->status == 502 || call->status == 503 || call->status == 504) {
		*outcome = UPSTREAM_UNREACHABLE;
		snprintf(err, errlen, "the upstream answered %s %s with %ld",
		    call->method, call->uri, call->status);
		return NULL;
	}
	root = json_loadb(call->reply.data ? call->reply.data : "",
	    call->reply.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		*outcome = UPSTREAM_BAD_RESPONSE;
		cache_not_json(call, jerr.text, err, errlen);
		return NULL;
	}
	b = xcalloc(1, sizeof *b);
	b->refs = 1;
	pthread_mutex_init(&b->memo_lock, NULL);
	b->status = call->status;
	b->fetched_wall = clock_wall();
	b->content_type = xstrdup(cache_content_type(call->reply_type));
	if (call->status == 200 && (kind == CACHE_LIST || kind == CACHE_DETAIL)) {
		int rc = kind == CACHE_LIST ?
		    model_augment_list(root, why, sizeof why) :
		    model_augment_detail(root, why, sizeof why);

		if (rc == -1) {
			json_decref(root);
			cache_body_unref(b);
			*outcome = UPSTREAM_BAD_RESPONSE;
			snprintf(err, errlen, "the upstream's reply to %s %s "
			    "has the wrong shape: %s", call->method, call->uri,
			    why);
			return NULL;
		}
		if (kind == CACHE_LIST)
			cache_blocked_reasons(c, root);
		b->data = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
		b->len = strlen(b->data);
	} else
		b->data = buf_steal(&call->reply, &b->len);
	json_decref(root);
	etag_of(b->data, b->len, b->etag, sizeof b->etag);
	return b;
}

/* The upstream thread's completion of a cache fetch. */
static void
cache_on_fetched(struct upstream_call *call, void *arg)
{
	struct cache_fetch	*f = arg;
	struct cache		*c = f->cache;
	struct cache_entry	*e = f->entry;
	struct cache_body	*nb, *old = NULL;
	struct cache_waiter	*w, *next, *wake = NULL, *later = NULL;
	struct upstream_call	*again = NULL;
	enum upstream_result	 outcome;
	char			 err[256];
	bool			 tell;

	nb = cache_make_body(c, call, e->kind, &outcome, err, sizeof err);
	/* An answer that is no Task Copilot's is no sign of one being up. */
	if (call->result == UPSTREAM_OK && outcome != UPSTREAM_OK)
		upstream_note_bad(c->up, err);
	pthread_mutex_lock(&c->lock);
	/*
	 * A failure is logged once, not again at each poll it lasts, nor
	 * for each URL when it is the same sentence ("cannot reach").
	 */
	tell = outcome != UPSTREAM_OK && (!e->answered ||
	    e->outcome == UPSTREAM_OK || strcmp(e->error, err) != 0) &&
	    strcmp(c->told, err) != 0;
	if (outcome == UPSTREAM_OK) {
		c->told[0] = '\0';
		c->last_ok = clock_mono();
	}
	else if (tell)
		snprintf(c->told, sizeof c->told, "%s", err);
	e->inflight = false;
	e->answered = true;
	e->outcome = outcome;
	snprintf(e->error, sizeof e->error, "%s", outcome == UPSTREAM_OK ?
	    "" : err);
	if (nb != NULL) {
		old = e->body;
		e->body = nb;
	}
	/* A request that came after a write waits for a fetch after it. */
	for (w = e->waiters; w != NULL; w = next) {
		next = w->next;
		if (w->gen > e->fetch_gen && !c->closing) {
			w->next = later;
			later = w;
		} else {
			w->next = wake;
			wake = w;
		}
	}
	e->waiters = later;
	if (later != NULL)
		again = cache_fetch_start(c, e, clock_mono());
	pthread_mutex_unlock(&c->lock);
	if (tell)
		log_warnx("%s", err);
	cache_body_unref(old);
	for (w = wake; w != NULL; w = next) {
		next = w->next;
		w->wake(w);
	}
	if (again != NULL)
		upstream_submit(c->up, again);
	upstream_call_free(call);
	free(f);
}

/* Makes every entry refetch at its next request (after a write). */
void
cache_expire_all(struct cache *c)
{
	struct cache_entry	*e;
	size_t			 i;

	pthread_mutex_lock(&c->lock);
	c->gen++;
	for (i = 0; i < CACHE_BUCKETS; i++)
		for (e = c->buckets[i]; e != NULL; e = e->next)
			e->expired = true;
	pthread_mutex_unlock(&c->lock);
}

/* A write the upstream took makes every later read fetch after it. */
static void
cache_after_write(struct cache *c, const struct upstream_call *call)
{
	if (call->result == UPSTREAM_OK && call->status >= 200 &&
	    call->status < 300)
		cache_expire_all(c);
}

struct cache_write {
	struct cache		*cache;
	upstream_done_fn	 done;		/* the caller's */
	void			*arg;
};

static void
cache_write_done(struct upstream_call *call, void *arg)
{
	struct cache_write	*w = arg;

	cache_after_write(w->cache, call);
	call->done = w->done;
	call->arg = w->arg;
	free(w);
	call->done(call, call->arg);
}

/*
 * Forwards a write (a checkpoint POST) to the upstream; call->done runs
 * on the upstream thread once the cache has expired, if the upstream
 * took it.  The one way a write goes out: a click's and a recovery's.
 */
void
cache_write(struct cache *c, struct upstream_call *call)
{
	struct cache_write	*w = xcalloc(1, sizeof *w);

	w->cache = c;
	w->done = call->done;
	w->arg = call->arg;
	call->done = cache_write_done;
	call->arg = w;
	upstream_submit(c->up, call);
}

/* cache_write(), waiting for the outcome (never on the HTTP thread). */
void
cache_write_run(struct cache *c, struct upstream_call *call)
{
	upstream_run(c->up, call);
	cache_after_write(c, call);
}

/* At shutdown: wakes every waiting request; later requests fail fast. */
void
cache_abort_waiters(struct cache *c)
{
	struct cache_waiter	*all = NULL, *w, *next;
	struct cache_entry	*e;
	size_t			 i;

	pthread_mutex_lock(&c->lock);
	c->closing = true;
	for (i = 0; i < CACHE_BUCKETS; i++) {
		for (e = c->buckets[i]; e != NULL; e = e->next) {
			for (w = e->waiters; w != NULL; w = next) {
				next = w->next;
				w->next = all;
				all = w;
			}
			e->waiters = NULL;
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (w = all; w != NULL; w = next) {
		next = w->next;
		w->wake(w);
	}
}
