/*
 * poller.c: taskgate's own look at the upstream, once per --poll.
 *
 * Each round reads, through the same cache the clients use (so it costs
 * the upstream nothing extra), the stream list, each unfinished stream's
 * health, the activity and the blocked tasks.  For each stream it writes
 * a sample only when the counts changed, keeps the "unchanged" clock
 * (stall.c; it does not run while the upstream is unreachable), judges
 * the health state, persists all of it, publishes the result as the
 * "view" that /api/overview and the snapshot are built from, and only
 * then emits the events (stream, state, upstream), so that a client
 * connecting in between never gets a snapshot older than an event.
 * The view is an immutable JSON document replaced whole each round; it
 * is read under the poller's lock.  Beside it the round publishes each
 * stream's facts in numbers (struct poller_fact: counts, when they last
 * moved, the state, when it was judged), which the sessions, the
 * overview and /metrics read instead of parsing the view's text back,
 * and then tells the listener (the session layer, which reads its
 * progress from them): data goes from here to the sessions, never back.
 * Each round also ends the event streams of people removed since they
 * connected (events_end_gone()): the fallback for a `taskgate user
 * remove` that found no daemon to tell.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskgate.h"

struct poller_stream {
	struct stream_row	row;		/* persisted memory */
	struct stall_track	track;
	bool			seen;		/* in the latest list */
	struct stall_basis	basis;		/* what row.state was judged on */
	int			unhealthy;	/* the upstream's last verdict:
						   -1 none yet, 0, 1 */
	json_t			*warnings;	/* with it, or NULL */
};

struct poller_sample {
	char			id[STREAM_ID_MAX + 1];
	int64_t			at_ms;
	struct model_counts	counts;
};

struct poller {
	struct taskgate		*tg;
	pthread_t		 thread;
	bool			 started;

	/* The poller thread's own. */
	struct poller_stream	*streams;
	size_t			 n_streams;
	int			 upstream_up;	/* -1 unknown, 0, 1 */
	struct poller_sample	*unwritten;	/* samples the db refused */
	size_t			 n_unwritten;
	int64_t			 batch;		/* the last round's events' */

	pthread_mutex_t		 lock;		/* guards what follows */
	pthread_cond_t		 cond;
	bool			 stop;
	bool			 poked;		/* judge again now */
	json_t			*view;		/* published; immutable */
	struct poller_fact	*facts;		/* published with it */
	size_t			 n_facts;
	void			(*listener)(void *);	/* after each round */
	void			(*stall_input)(void *, const char *, double,
				    struct stall_input *);
	void			*listener_arg;		/* of both */
	size_t			 n_pending;	/* n_unwritten, for others */
};

struct poller_wait {
	struct cache_waiter	 w;		/* first: see poller_wake() */
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 done;
};

static void	*poller_main(void *);
static void	 poller_round(struct poller *);

/* Returns a new poller; the rows of earlier runs are loaded from the db. */
struct poller *
poller_new(struct taskgate *tg)
{
	struct poller		*p = xcalloc(1, sizeof *p);
	struct stream_row	*rows;
	size_t			 n, i;

	p->tg = tg;
	p->upstream_up = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (history_load_rows(tg->db, &rows, &n) == 0) {
		p->streams = xcalloc(n, sizeof *p->streams);
		for (i = 0; i < n; i++) {
			p->streams[i].row = rows[i];
			p->streams[i].track.unchanged_s = rows[i].unchanged_s;
			p->streams[i].unhealthy = -1;
		}
		p->n_streams = n;
		free(rows);	/* the evidence strings moved into streams */
	}
	return p;
}

int
poller_start(struct poller *p)
{
	if (pthread_create(&p->thread, NULL, poller_main, p) != 0)
		return -1;
	p->started = true;
	return 0;
}

/* Asks the thread to stop; poller_join() waits for it. */
void
poller_stop(struct poller *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void
poller_join(struct poller *p)
{
	if (p->started)
		pthread_join(p->thread, NULL);
	p->started = false;
}

void
poller_free(struct poller *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_streams; i++) {
		free(p->streams[i].row.evidence);
		json_decref(p->streams[i].warnings);
	}
	free(p->streams);
	json_decref(p->view);
	free(p->facts);
	free(p->unwritten);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

/*
 * Calls fn with the latest view (borrowed; NULL before the first round)
 * and the n facts published with it (borrowed), under the poller's lock:
 * fn must be quick and must keep neither.
 */
void
poller_with_view(struct poller *p, void (*fn)(json_t *,
    const struct poller_fact *, size_t, void *), void *arg)
{
	pthread_mutex_lock(&p->lock);
	fn(p->view, p->facts, p->n_facts, arg);
	pthread_mutex_unlock(&p->lock);
}

/* The fact of stream id among the n of f, or NULL (not judged). */
const struct poller_fact *
poller_fact_find(const struct poller_fact *f, size_t n, const char *id)
{
	size_t	i;

	for (i = 0; id != NULL && i < n; i++)
		if (strcmp(f[i].id, id) == 0)
			return &f[i];
	return NULL;
}

/*
 * A copy of the facts the last round published (new, *out), one per
 * listed stream; 0 before the first round that reached the upstream.
 */
size_t
poller_facts(struct poller *p, struct poller_fact **out)
{
	size_t	n;

	pthread_mutex_lock(&p->lock);
	n = p->n_facts;
	*out = xcalloc(n + 1, sizeof **out);
	if (n > 0)
		memcpy(*out, p->facts, n * sizeof **out);
	pthread_mutex_unlock(&p->lock);
	return n;
}

/*
 * The session layer, without calling into it: published(arg) is called
 * after each round has published its view and facts, on the poller's
 * thread, with no lock held, and must be quick (a wake);
 * stall_input(arg, id, now, in) adds what the sessions know of stream id
 * to its judgement (a read).  main.c wires them before poller_start().
 */
void
poller_set_sessions(struct poller *p, void (*published)(void *),
    void (*stall_input)(void *, const char *, double, struct stall_input *),
    void *arg)
{
	p->listener = published;
	p->stall_input = stall_input;
	p->listener_arg = arg;
}

static void
poller_noop(struct cache_waiter *w)
{
	(void)w;
}

static void
poller_wake(struct cache_waiter *w)
{
	struct poller_wait	*pw = (struct poller_wait *)w;

	pthread_mutex_lock(&pw->lock);
	pw->done = true;
	pthread_cond_signal(&pw->cond);
	pthread_mutex_unlock(&pw->lock);
}

/*
 * Reads key through the cache, waiting for a fetch if one is needed.
 * Returns the parsed body (new) when the upstream answered 200 just now
 * or within the poll interval (not a stale copy), else NULL.
 */
static json_t *
poller_get(struct poller *p, const char *key, enum cache_kind kind)
{
	struct poller_wait	 pw;
	struct cache_answer	 a;
	json_t			*doc = NULL;

	memset(&pw, 0, sizeof pw);
	pw.w.suspend = poller_noop;
	pw.w.wake = poller_wake;
	pthread_mutex_init(&pw.lock, NULL);
	pthread_cond_init(&pw.cond, NULL);
	cache_get(p->tg->cache, key, kind, &pw.w, false, &a);
	if (a.verdict == CACHE_WAIT) {
		pthread_mutex_lock(&pw.lock);
		while (!pw.done)
			pthread_cond_wait(&pw.cond, &pw.lock);
		pthread_mutex_unlock(&pw.lock);
		cache_get(p->tg->cache, key, kind, &pw.w, true, &a);
	}
	pthread_mutex_destroy(&pw.lock);
	pthread_cond_destroy(&pw.cond);
	if (a.verdict == CACHE_SERVE && a.outcome == UPSTREAM_OK &&
	    a.body != NULL && a.body->status == 200)
		doc = json_loadb(a.body->data, a.body->len, 0, NULL);
	cache_body_unref(a.body);
	return doc;
}

/*
 * Writes a sample, after any the database refused before; keeps it (and
 * those) in memory, in order, while writing fails.
 */
static void
poller_sample(struct poller *p, const char *id, int64_t at_ms,
    const struct model_counts *c)
{
	struct poller_sample	*s;
	size_t			 done = 0;

	if (id != NULL) {
		p->unwritten = xrealloc(p->unwritten, (p->n_unwritten + 1) *
		    sizeof *p->unwritten);
		s = &p->unwritten[p->n_unwritten++];
		snprintf(s->id, sizeof s->id, "%s", id);
		s->at_ms = at_ms;
		s->counts = *c;
	}
	while (done < p->n_unwritten && history_add_sample(p->tg->db,
	    p->unwritten[done].id, p->unwritten[done].at_ms,
	    &p->unwritten[done].counts) == 0)
		done++;
	if (done > 0) {
		memmove(p->unwritten, p->unwritten + done, (p->n_unwritten -
		    done) * sizeof *p->unwritten);
		p->n_unwritten -= done;
	}
	pthread_mutex_lock(&p->lock);
	p->n_pending = p->n_unwritten;
	pthread_mutex_unlock(&p->lock);
}

/* Samples waiting to be written (for /health). */
size_t
poller_pending(struct poller *p)
{
	size_t	n;

	pthread_mutex_lock(&p->lock);
	n = p->n_pending;
	pthread_mutex_unlock(&p->lock);
	return n;
}

static struct poller_stream *
poller_stream(struct poller *p, const char *id, int64_t now_ms)
{
	struct poller_stream	*s;
	size_t			 i;

	for (i = 0; i < p->n_streams; i++)
		if (strcmp(p->streams[i].row.id, id) == 0)
			return &p->streams[i];
	p->streams = xrealloc(p->streams, (p->n_streams + 1) *
	    sizeof *p->streams);
	s = &p->streams[p->n_streams++];
	memset(s, 0, sizeof *s);
	snprintf(s->row.id, sizeof s->row.id, "%s", id);
	s->row.counts.total = -1;	/* never seen: the first is a change */
	s->row.last_change_ms = now_ms;
	s->row.state_since_ms = now_ms;
	snprintf(s->row.state, sizeof s->row.state, "ok");
	s->row.evidence = xstrdup("{}");
	s->unhealthy = -1;
	return s;
}

static bool
poller_counts_of(json_t *o, struct model_counts *c)
{
	json_t	*v[5];

	v[0] = json_object_get(o, "totalTasks");
	v[1] = json_object_get(o, "completedTasks");
	v[2] = json_object_get(o, "inProgressTasks");
	v[3] = json_object_get(o, "blockedTasks");
	v[4] = json_object_get(o, "pendingTasks");
	c->total = json_integer_value(v[0]);
	c->completed = json_integer_value(v[1]);
	c->in_progress = json_integer_value(v[2]);
	c->blocked = json_integer_value(v[3]);
	c->pending = json_integer_value(v[4]);
	c->cancelled = json_integer_value(json_object_get(o,
	    "cancelledTasks"));
	return json_is_integer(v[0]);
}

static json_t *
poller_time(int64_t ms)
{
	char	buf[32];

	clock_iso8601((double)ms / 1000.0, buf, sizeof buf);
	return json_string(buf);
}

/* The event data of a stream whose counts changed (new). */
static json_t *
poller_stream_event(json_t *s, const struct model_counts *before)
{
	json_t	*e = json_deep_copy(s), *prev = json_object();

	json_object_del(e, "files");
	if (before->total >= 0) {
		json_object_set_new(prev, "totalTasks",
		    json_integer(before->total));
		json_object_set_new(prev, "completedTasks",
		    json_integer(before->completed));
		json_object_set_new(prev, "inProgressTasks",
		    json_integer(before->in_progress));
		json_object_set_new(prev, "blockedTasks",
		    json_integer(before->blocked));
		json_object_set_new(prev, "pendingTasks",
		    json_integer(before->pending));
		json_object_set_new(prev, "progressPercentage",
		    json_integer(model_progress(before)));
		json_object_set_new(e, "previous", prev);
	} else
		json_decref(prev);
	return e;
}

/*
 * Judges one listed stream; queues its events on *events (stolen) and
 * fills *fact.  false for an entry that is no stream.
 */
static bool
poller_judge(struct poller *p, json_t *s, int64_t now_ms, double now,
    json_t *events, struct poller_fact *fact)
{
	struct poller_stream	*ps;
	struct stall_input	 in;
	struct stall_basis	 basis;
	struct model_counts	 c;
	const char		*id = json_string_value(json_object_get(s,
				    "streamId"));
	json_t			*health = NULL, *evidence, *state;
	enum stall_state	 st;
	bool			 changed, progressed, kept;
	int64_t			 judged_ms;
	char			*key, *ev_text;

	if (id == NULL || !valid_stream_id(id) || !poller_counts_of(s, &c))
		return false;
	ps = poller_stream(p, id, now_ms);
	ps->seen = true;
	/* Not cancelled: the stored rows have no such column, and every
	 * change of it moves another count too. */
	changed = c.total != ps->row.counts.total ||
	    c.completed != ps->row.counts.completed ||
	    c.in_progress != ps->row.counts.in_progress ||
	    c.blocked != ps->row.counts.blocked ||
	    c.pending != ps->row.counts.pending;
	progressed = changed && ps->row.counts.total >= 0;
	if (changed) {
		json_t *e = poller_stream_event(s, &ps->row.counts);

		poller_sample(p, id, now_ms, &c);
		ps->row.counts = c;
		ps->row.last_change_ms = now_ms;
		json_array_append_new(events, json_pack("{s:s,s:o}", "type",
		    "stream", "data", e));
	}
	stall_observe(&ps->track, now, true, changed);
	ps->row.unchanged_s = ps->track.unchanged_s;

	/* A window (re)started from now on is not in this judgement. */
	judged_ms = (int64_t)(clock_wall() * 1000.0);
	memset(&in, 0, sizeof in);
	in.counts = c;
	in.unchanged_s = ps->track.unchanged_s;
	in.timeout_s = p->tg->conf.stall_timeout_min * 60.0;
	if (p->stall_input != NULL)
		p->stall_input(p->listener_arg, id, now, &in);
	/* The budget counts recoveries since the last progress: this round
	 * saw progress, so none (the session layer resets its own count when
	 * it reads these facts). */
	if (progressed) {
		in.budget_spent = false;
		in.attempts = 0;
	}
	if (!model_complete(&c)) {
		xasprintf(&key, "/api/streams/%s/health", id);
		health = poller_get(p, key, CACHE_PASSTHROUGH);
		free(key);
		/* A health that could not be read is no verdict: the last
		 * one stands, not "healthy". */
		if (json_is_boolean(json_object_get(health, "healthy"))) {
			ps->unhealthy = json_is_false(json_object_get(health,
			    "healthy"));
			json_decref(ps->warnings);
			ps->warnings = json_incref(json_object_get(health,
			    "warnings"));
		}
		if (ps->unhealthy == 1) {
			in.upstream_unhealthy = true;
			in.upstream_warnings = ps->warnings;
		}
	}
	st = stall_judge(&in, &evidence);
	json_decref(health);
	stall_basis_of(&in, &basis);
	kept = stall_state_from_name(ps->row.state) >= 0 &&
	    stall_keeps((enum stall_state)stall_state_from_name(ps->row.state),
	    st, &ps->basis, &basis);
	if (kept) {
		/* Nothing moved: the state and its evidence stay. */
		json_decref(evidence);
		evidence = json_loads(ps->row.evidence, 0, NULL);
		if (evidence == NULL)
			evidence = json_object();
	} else if (strcmp(stall_state_name(st), ps->row.state) != 0 ||
	    !ps->basis.set)
		ps->basis = basis;
	if (!kept && strcmp(stall_state_name(st), ps->row.state) != 0) {
		state = json_object();
		json_object_set_new(state, "streamId", json_string(id));
		json_object_set_new(state, "state",
		    json_string(stall_state_name(st)));
		json_object_set_new(state, "previous",
		    json_string(ps->row.state));
		json_object_set_new(state, "since", poller_time(now_ms));
		json_object_set_new(state, "evidence", json_incref(evidence));
		json_array_append_new(events, json_pack("{s:s,s:o}", "type",
		    "state", "data", state));
		snprintf(ps->row.state, sizeof ps->row.state, "%s",
		    stall_state_name(st));
		ps->row.state_since_ms = now_ms;
	}
	/* Keep the evidence current (minutes grow) even without a change. */
	ev_text = json_dumps(evidence, JSON_COMPACT);
	free(ps->row.evidence);
	ps->row.evidence = ev_text;
	json_decref(evidence);

	json_object_set_new(s, "state", json_pack("{s:s,s:o,s:o,s:o}",
	    "name", ps->row.state, "since", poller_time(ps->row.state_since_ms),
	    "judgedAt", poller_time(judged_ms), "evidence",
	    json_loads(ps->row.evidence, 0, NULL)));
	json_object_set_new(s, "lastChange",
	    poller_time(ps->row.last_change_ms));
	snprintf(fact->id, sizeof fact->id, "%s", id);
	fact->counts = c;
	fact->last_change_ms = ps->row.last_change_ms;
	/* The state as published: a kept one is the old, not st. */
	fact->state = kept ? (enum stall_state)stall_state_from_name(
	    ps->row.state) : st;
	fact->judged_ms = judged_ms;
	return true;
}

/* The published view when the upstream could not be read this round. */
static json_t *
poller_view_down(struct poller *p)
{
	json_t	*view;

	pthread_mutex_lock(&p->lock);
	view = p->view != NULL ? json_deep_copy(p->view) : json_pack(
	    "{s:[],s:[],s:[]}", "streams", "activities", "blocked");
	pthread_mutex_unlock(&p->lock);
	return view;
}

static void
poller_upstream_event(struct poller *p, bool up, json_t *events)
{
	struct upstream_state	st;
	json_t			*data;

	if (p->upstream_up == (int)up)
		return;
	p->upstream_up = up;
	upstream_state(p->tg->upstream, &st);
	data = json_pack("{s:s,s:s}", "status", up ? "up" : "down", "url",
	    p->tg->upstream_url);
	if (!up && st.last_error[0] != '\0')
		json_object_set_new(data, "error", json_string(st.last_error));
	json_array_append_new(events, json_pack("{s:s,s:o}", "type",
	    "upstream", "data", data));
}

/*
 * Gives each stream of the view its newest agent activity ("agent", the
 * activity list is newest first), as the overview shows it, so that the
 * gates of a start see an agent that works on it outside taskgate.
 */
static void
poller_agents(json_t *view)
{
	json_t	*s, *a;
	size_t	 i;

	json_array_foreach(json_object_get(view, "streams"), i, s) {
		const char *id = json_string_value(json_object_get(s,
		    "streamId"));

		a = id != NULL ? model_find_stream(json_object_get(view,
		    "activities"), id) : NULL;
		json_object_set_new(s, "agent", a != NULL ? json_deep_copy(a) :
		    json_null());
	}
}

static void
poller_round(struct poller *p)
{
	json_t		*list, *view, *events = json_array(), *s, *e;
	struct stream_row *rows;
	struct poller_fact *facts = NULL;
	size_t		 n_facts = 0;
	int64_t		 now_ms = (int64_t)(clock_wall() * 1000.0);
	double		 now = clock_mono();
	size_t		 i;
	bool		 up;

	db_watch(p->tg->db);
	if (p->n_unwritten > 0)
		poller_sample(p, NULL, 0, NULL);
	events_retry(p->tg->events);
	audit_retry(p->tg->audit);
	events_end_gone(p->tg->events, people_gone, p->tg->db);
	list = poller_get(p, "/api/streams", CACHE_LIST);
	up = list != NULL;
	poller_upstream_event(p, up, events);
	if (!up) {
		for (i = 0; i < p->n_streams; i++)
			stall_observe(&p->streams[i].track, now, false, false);
		view = poller_view_down(p);
	} else {
		view = json_object();
		facts = xcalloc(json_array_size(json_object_get(list,
		    "streams")) + 1, sizeof *facts);
		json_array_foreach(json_object_get(list, "streams"), i, s)
			if (poller_judge(p, s, now_ms, now, events,
			    &facts[n_facts]))
				n_facts++;
		json_object_set(view, "streams", json_object_get(list,
		    "streams"));
		e = poller_get(p, "/api/activity", CACHE_PASSTHROUGH);
		json_object_set_new(view, "activities", json_is_array(
		    json_object_get(e, "activities")) ? json_incref(
		    json_object_get(e, "activities")) : json_array());
		json_decref(e);
		poller_agents(view);
		e = poller_get(p, "/api/tasks?status=blocked",
		    CACHE_PASSTHROUGH);
		json_object_set_new(view, "blocked", json_is_array(
		    json_object_get(e, "tasks")) ? json_incref(
		    json_object_get(e, "tasks")) : json_array());
		json_decref(e);
		rows = xcalloc(p->n_streams, sizeof *rows);
		for (i = 0; i < p->n_streams; i++)
			rows[i] = p->streams[i].row;
		history_save_rows(p->tg->db, rows, p->n_streams);
		free(rows);
	}
	json_decref(list);
	json_object_set_new(view, "upstreamUp", json_boolean(up));
	json_object_set_new(view, "polledAt", poller_time(now_ms));

	pthread_mutex_lock(&p->lock);
	json_decref(p->view);
	p->view = view;
	if (facts != NULL) {	/* a round that did not reach the upstream
				   keeps the last facts, as it keeps the view */
		free(p->facts);
		p->facts = facts;
		p->n_facts = n_facts;
	}
	pthread_mutex_unlock(&p->lock);
	if (p->listener != NULL)
		p->listener(p->listener_arg);

	/* One round, one batch: its events say so, and how many they are. */
	p->batch = now_ms > p->batch ? now_ms : p->batch + 1;
	json_array_foreach(events, i, e) {
		json_object_set_new(json_object_get(e, "data"), "batch",
		    json_pack("{s:I,s:I}", "id", (json_int_t)p->batch, "size",
		    (json_int_t)json_array_size(events)));
		events_emit(p->tg->events, json_string_value(json_object_get(e,
		    "type")), json_incref(json_object_get(e, "data")));
	}
	json_decref(events);
}

/*
 * Asks for a round now: an agent's hook changed its state.  The round
 * reads the upstream through the cache, so within the poll interval it
 * costs the upstream nothing.
 */
void
poller_poke(struct poller *p)
{
	pthread_mutex_lock(&p->lock);
	p->poked = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void *
poller_main(void *arg)
{
	struct poller	*p = arg;
	struct timespec	 ts;
	double		 wait;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_unlock(&p->lock);
		poller_round(p);
		/* Sleep a whole interval after each round, so the cache's
		 * entries are due again when the next round asks. */
		wait = p->tg->opts->poll;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)wait;
		ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&p->lock);
		while (!p->stop && !p->poked && pthread_cond_timedwait(
		    &p->cond, &p->lock, &ts) == 0)
			;
		p->poked = false;
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}
