/*
 * events.c: the event stream.  Every event gets the next id of the
 * persisted log (SQLite, AUTOINCREMENT), so ids are monotonic across
 * restarts and a client's Last-Event-ID replays exactly what it missed.
 * It owns the SSE clients of GET /api/events (api-events.c attaches
 * them; the SQL is history.c's): each has a capped queue of
 * bytes; emitting an event only appends to the queues, so a client that
 * stops reading is dropped when its queue is full and never delays the
 * others.  A client with nothing to read is a suspended connection (no
 * thread, no polling); a heartbeat comment goes out every 15 s.  The
 * watcher thread also sends the heartbeats: it waits in epoll for a
 * suspended client's peer to hang up (libmicrohttpd does not watch a
 * suspended socket), and ends that stream at once, so a closed dashboard
 * frees its connection now rather than at the next heartbeat.
 * An event that cannot be recorded (the disk is full, the file turned
 * read-only) waits in memory, in order, and is recorded and sent when
 * writing works again: no client ever sees an id it could not replay.
 * The snapshot a client gets on connecting is one shared frame, built at
 * most every EVENTS_SNAPSHOT_REUSE and again after any event, not a
 * copy per client: a thousand dashboards that connect at once cost one.
 * Lock order: events lock, then the db lock (via db_lock()).  No call
 * into libmicrohttpd is made with the events lock held: its threads take
 * that lock in events_read() and events_client_free(), and wait on their
 * own mutexes.  A client to resume is marked under the lock and pinned
 * (its free waits for the pin), and resumed once the lock is let go
 * (struct events_wake).
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "taskgate.h"

#define EVENTS_QUEUE_MAX	(1024 * 1024)	/* per client */
#define EVENTS_REPLAY_MAX	10000		/* events per reconnect */
#define EVENTS_HEARTBEAT	15.0		/* seconds */
#define EVENTS_PENDING_MAX	100000		/* unrecorded events kept */
#define EVENTS_SNAPSHOT_REUSE	0.2		/* s, while nothing happens */

/* A frame several clients send; the events lock guards refs. */
struct events_shared {
	int			 refs;
	size_t			 len;
	char			 data[];
};

struct events_client {
	struct events		*ev;
	struct MHD_Connection	*conn;
	uint64_t		 serial;	/* its name in the watcher */
	int			 fd;		/* its socket, or -1 */
	struct buf		 queue;		/* bytes not yet sent */
	size_t			 off;		/* sent prefix of queue */
	struct events_shared	*snap;		/* not yet sent, or NULL */
	size_t			 snap_at;	/* goes after queue[0..snap_at) */
	size_t			 snap_off;	/* sent prefix of snap */
	bool			 suspended;	/* waiting for bytes */
	int			 pins;		/* resumes under way */
	bool			 dropped;	/* end the stream */
	char			 person[PERSON_NAME_MAX + 1];	/* whose, or "" */
	char			 token_sha256[PEOPLE_HASH_HEX + 1];
						/* their token it came with, or "" */
	LIST_ENTRY(events_client) link;	/* in events.clients */
};

struct events_pending {
	struct fifo_link	 link;		/* first */
	char			*type;
	char			*data;		/* JSON text */
	int64_t			 at_ms;
};

struct events {
	struct db		*db;
	pthread_mutex_t		 lock;		/* guards what follows */
	pthread_cond_t		 unpinned;	/* a client's pins went to 0 */
	LIST_HEAD(, events_client) clients;
	size_t			 n_clients;
	uint64_t		 next_serial;
	int64_t			 last_id;
	struct fifo		 pending;	/* of events_pending */
	bool			 stopping;
	char			*(*snapshot)(void *);	/* new JSON text */
	void			*snapshot_arg;
	struct events_shared	*snap;		/* the latest, or NULL */
	double			 snap_at;	/* when it was built */
	struct webhook		*webhook;	/* or NULL */
	pthread_t		 thread;	/* heartbeats and hang-ups */
	bool			 started;
	int			 epfd;		/* client sockets, wake */
	int			 wake;		/* eventfd: stop */
};

/* The clients to resume once the events lock is let go. */
struct events_wake {
	struct events_client	**v;
	size_t			 n, cap;
};

static void	*events_main(void *);
static void	 events_wake_add(struct events_wake *, struct events_client *);
static void	 events_wake_run(struct events *, struct events_wake *);
static void	 events_queue(struct events_wake *, struct events_client *,
		    const char *, size_t);
static void	 events_watch(struct events *, struct events_client *);
static char	*events_frame(int64_t, const char *, const char *, size_t *);
static void	 events_shared_release(struct events_shared *);

static void
events_pending_free(struct events_pending *p)
{
	free(p->type);
	free(p->data);
	free(p);
}

/* Returns a new event log on db, or NULL with err set. */
struct events *
events_new(struct db *db, char *err, size_t errlen)
{
	struct events	*ev = xcalloc(1, sizeof *ev);

	if (history_events_last_id(db, &ev->last_id, err, errlen) == -1) {
		free(ev);
		return NULL;
	}
	ev->db = db;
	LIST_INIT(&ev->clients);
	fifo_init(&ev->pending, EVENTS_PENDING_MAX);
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->unpinned, NULL);
	ev->epfd = ev->wake = -1;
	return ev;
}

/* Marks a waiting client to be resumed by events_wake_run(); lock held. */
static void
events_wake_add(struct events_wake *w, struct events_client *c)
{
	if (!c->suspended)
		return;
	c->suspended = false;
	c->pins++;
	if (w->n == w->cap) {
		w->cap = w->cap == 0 ? 16 : w->cap * 2;
		w->v = xrealloc(w->v, w->cap * sizeof *w->v);
	}
	w->v[w->n++] = c;
}

/* Resumes the clients marked in w, then unpins them; lock not held. */
static void
events_wake_run(struct events *ev, struct events_wake *w)
{
	size_t	i;

	if (w->n == 0)
		return;
	for (i = 0; i < w->n; i++)
		MHD_resume_connection(w->v[i]->conn);
	pthread_mutex_lock(&ev->lock);
	for (i = 0; i < w->n; i++)
		w->v[i]->pins--;
	pthread_cond_broadcast(&ev->unpinned);
	pthread_mutex_unlock(&ev->lock);
	free(w->v);
	memset(w, 0, sizeof *w);
}

/* Sets where every recorded event is POSTed too (NULL: nowhere). */
void
events_set_webhook(struct events *ev, struct webhook *w)
{
	ev->webhook = w;
}

/* Sets where the snapshot sent on connect comes from. */
void
events_set_snapshot(struct events *ev, char *(*fn)(void *), void *arg)
{
	ev->snapshot = fn;
	ev->snapshot_arg = arg;
}

int
events_start(struct events *ev)
{
	struct epoll_event	e = { .events = EPOLLIN, .data.u64 = 0 };

	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev->epfd < 0 || ev->wake < 0 ||
	    epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->wake, &e) < 0 ||
	    pthread_create(&ev->thread, NULL, events_main, ev) != 0)
		return -1;
	ev->started = true;
	return 0;
}

/* Ends every stream (resuming waiting clients) and the heartbeats. */
void
events_stop(struct events *ev)
{
	struct events_client	*c;
	struct events_wake	 w = { 0 };

	pthread_mutex_lock(&ev->lock);
	ev->stopping = true;
	LIST_FOREACH(c, &ev->clients, link) {
		c->dropped = true;
		events_wake_add(&w, c);
	}
	pthread_mutex_unlock(&ev->lock);
	events_wake_run(ev, &w);
	if (ev->started) {
		uint64_t one = 1;

		if (write(ev->wake, &one, sizeof one) < 0)
			log_warn("events: cannot wake the watcher");
		pthread_join(ev->thread, NULL);
	}
	ev->started = false;
}

void
events_free(struct events *ev)
{
	struct fifo_link	*p;

	if (ev == NULL)
		return;
	if (ev->pending.n > 0)
		log_warnx("events: %zu events could not be recorded before "
		    "the end", ev->pending.n);
	while ((p = fifo_pop(&ev->pending)) != NULL)
		events_pending_free((struct events_pending *)p);
	events_shared_release(ev->snap);
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->unpinned);
	if (ev->epfd >= 0)
		close(ev->epfd);
	if (ev->wake >= 0)
		close(ev->wake);
	free(ev);
}

size_t
events_client_count(struct events *ev)
{
	size_t	n;

	pthread_mutex_lock(&ev->lock);
	n = ev->n_clients;
	pthread_mutex_unlock(&ev->lock);
	return n;
}

int64_t
events_last_id(struct events *ev)
{
	int64_t	id;

	pthread_mutex_lock(&ev->lock);
	id = ev->last_id;
	pthread_mutex_unlock(&ev->lock);
	return id;
}

/* Appends bytes to a client's queue and marks it to be woken in w; the
 * lock is held. */
static void
events_queue(struct events_wake *w, struct events_client *c, const char *p,
    size_t len)
{
	if (c->dropped)
		return;
	if (buf_add(&c->queue, p, len) == -1) {
		log_debug("events: dropping a client that stopped reading");
		c->dropped = true;
	}
	events_wake_add(w, c);
}

static void
events_shared_release(struct events_shared *sh)
{
	if (sh != NULL && --sh->refs == 0)
		free(sh);
}

/* The snapshot frame for a client connecting now; the lock is held. */
static struct events_shared *
events_snapshot(struct events *ev)
{
	double		 now = clock_mono();
	char		*snap, *frame;
	size_t		 len;

	if (ev->snap != NULL && now - ev->snap_at >= EVENTS_SNAPSHOT_REUSE) {
		events_shared_release(ev->snap);
		ev->snap = NULL;
	}
	if (ev->snap == NULL) {
		snap = ev->snapshot != NULL ? ev->snapshot(ev->snapshot_arg) :
		    NULL;
		frame = events_frame(0, "snapshot", snap != NULL ? snap : "{}",
		    &len);
		ev->snap = xmalloc(sizeof *ev->snap + len);
		ev->snap->refs = 1;
		ev->snap->len = len;
		memcpy(ev->snap->data, frame, len);
		ev->snap_at = now;
		free(frame);
		free(snap);
	}
	ev->snap->refs++;
	return ev->snap;
}

static char *
events_frame(int64_t id, const char *type, const char *data, size_t *len)
{
	char	*frame;
	int	 n;

	if (id > 0)
		n = xasprintf(&frame, "id: %lld\nevent: %s\ndata: %s\n\n",
		    (long long)id, type, data);
	else
		n = xasprintf(&frame, "event: %s\ndata: %s\n\n", type, data);
	*len = (size_t)n;
	return frame;
}

/*
 * Records the waiting events in order and sends each to every client
 * (marked in w to be woken); stops at the first that cannot be recorded.
 * The lock is held.
 */
static void
events_flush(struct events *ev, struct events_wake *w)
{
	struct events_client	*c;
	struct events_pending	*p;
	char			*frame;
	size_t			 len;
	int64_t			 id;

	while ((p = (struct events_pending *)ev->pending.head) != NULL) {
		id = history_event_add(ev->db, p->at_ms, p->type, p->data);
		if (id <= 0)
			return;
		ev->last_id = id;
		webhook_post(ev->webhook, id, p->type, p->data);
		events_shared_release(ev->snap);	/* out of date now */
		ev->snap = NULL;
		frame = events_frame(id, p->type, p->data, &len);
		LIST_FOREACH(c, &ev->clients, link)
			events_queue(w, c, frame, len);
		free(frame);
		events_pending_free((struct events_pending *)fifo_pop(
		    &ev->pending));
	}
}

/*
 * Records an event of type with data (stolen) and sends it to every
 * client, after any that are still waiting to be recorded.
 */
void
events_emit(struct events *ev, const char *type, json_t *data)
{
	struct events_pending	*p = xcalloc(1, sizeof *p);
	struct fifo_link	*old;
	struct events_wake	 w = { 0 };

	p->type = xstrdup(type);
	p->data = json_dumps(data, JSON_COMPACT);
	p->at_ms = (int64_t)(clock_wall() * 1000.0);
	json_decref(data);
	pthread_mutex_lock(&ev->lock);
	if ((old = fifo_push(&ev->pending, &p->link)) != NULL) {
		log_warnx("events: %d events wait to be recorded; dropping "
		    "the oldest", EVENTS_PENDING_MAX);
		events_pending_free((struct events_pending *)old);
	}
	events_flush(ev, &w);
	pthread_mutex_unlock(&ev->lock);
	events_wake_run(ev, &w);
}

/* Tries again to record what waits (called each poll). */
void
events_retry(struct events *ev)
{
	struct events_wake	w = { 0 };

	pthread_mutex_lock(&ev->lock);
	events_flush(ev, &w);
	pthread_mutex_unlock(&ev->lock);
	events_wake_run(ev, &w);
}

size_t
events_pending(struct events *ev)
{
	size_t	n;

	pthread_mutex_lock(&ev->lock);
	n = ev->pending.n;
	pthread_mutex_unlock(&ev->lock);
	return n;
}

/* One replayed event, queued for the client arg. */
static void
events_replay_one(int64_t id, const char *type, const char *data, void *arg)
{
	struct events_client	*c = arg;
	struct events_wake	 w = { 0 };	/* stays empty: c is new */
	size_t			 len;
	char			*frame = events_frame(id, type, data, &len);

	events_queue(&w, c, frame, len);
	free(frame);
	free(w.v);
}

/* Queues the events after last (at most EVENTS_REPLAY_MAX) for a client
 * not yet waiting; lock held. */
static void
events_replay(struct events *ev, struct events_client *c, int64_t last)
{
	history_events_after(ev->db, last, EVENTS_REPLAY_MAX,
	    events_replay_one, c);
}

/* MHD's content reader: the queue's bytes, or suspend until there are. */
static ssize_t
events_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct events_client	*c = cls;
	struct events		*ev = c->ev;
	const char		*from;
	size_t			 n;

	(void)pos;
	pthread_mutex_lock(&ev->lock);
	if (c->snap != NULL) {	/* what precedes the snapshot, then it */
		if (c->off < c->snap_at) {
			from = c->queue.data + c->off;
			n = c->snap_at - c->off;
		} else {
			from = c->snap->data + c->snap_off;
			n = c->snap->len - c->snap_off;
		}
		if (n > max)
			n = max;
		memcpy(out, from, n);
		if (c->off < c->snap_at)
			c->off += n;
		else if ((c->snap_off += n) == c->snap->len) {
			events_shared_release(c->snap);
			c->snap = NULL;
		}
		pthread_mutex_unlock(&ev->lock);
		return (ssize_t)n;
	}
	if (c->off == c->queue.len && c->dropped) {
		bool stopping = ev->stopping;

		pthread_mutex_unlock(&ev->lock);
		/* taskgate stopping ends the stream properly (the client will
		 * reconnect); a client dropped for not reading is cut. */
		return stopping ? MHD_CONTENT_READER_END_OF_STREAM :
		    MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (c->off == c->queue.len) {
		/* Marked under the lock, suspended after it: a resume that
		 * comes in between makes libmicrohttpd skip the suspend. */
		c->suspended = true;
		pthread_mutex_unlock(&ev->lock);
		MHD_suspend_connection(c->conn);
		return 0;
	}
	n = c->queue.len - c->off;
	if (n > max)
		n = max;
	memcpy(out, c->queue.data + c->off, n);
	c->off += n;
	if (c->off == c->queue.len) {
		c->off = c->queue.len = 0;
		buf_clear(&c->queue);	/* an idle client holds none */
	} else if (c->off > c->queue.len / 2) {	/* keep it compact */
		memmove(c->queue.data, c->queue.data + c->off,
		    c->queue.len - c->off);
		c->queue.len -= c->off;
		c->off = 0;
	}
	pthread_mutex_unlock(&ev->lock);
	return (ssize_t)n;
}

static void
events_client_free(void *cls)
{
	struct events_client	*c = cls;
	struct events		*ev = c->ev;

	pthread_mutex_lock(&ev->lock);
	while (c->pins > 0)	/* a resume of it is under way */
		pthread_cond_wait(&ev->unpinned, &ev->lock);
	LIST_REMOVE(c, link);
	ev->n_clients--;
	events_shared_release(c->snap);
	pthread_mutex_unlock(&ev->lock);
	buf_clear(&c->queue);
	free(c);
}

/*
 * A new client of the event stream on conn, after the event last (-1:
 * none to replay): the events it missed, a snapshot, then every event as
 * it happens.  person names whose stream it is (NULL or "": nobody's
 * that can be removed), and token_sha256 the hash of the person's token
 * it came with (NULL or "": a sign-in cookie or a Unix user), so a new
 * link ends it.  EVENTS_ATTACH_OK gives *resp, the response that
 * streams them (the client is freed with it); otherwise the stream is
 * full or taskgate is stopping.
 */
enum events_attach
events_attach(struct events *ev, struct MHD_Connection *conn, int64_t last,
    const char *person, const char *token_sha256, struct MHD_Response **resp)
{
	struct events_client		*c;
	const union MHD_ConnectionInfo	*ci;

	c = xcalloc(1, sizeof *c);
	c->ev = ev;
	if (person != NULL)
		snprintf(c->person, sizeof c->person, "%s", person);
	if (person != NULL && token_sha256 != NULL)
		snprintf(c->token_sha256, sizeof c->token_sha256, "%s",
		    token_sha256);
	c->conn = conn;
	ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c->fd = ci != NULL ? ci->connect_fd : -1;
	buf_init(&c->queue, EVENTS_QUEUE_MAX);
	buf_add(&c->queue, "retry: 2000\n\n", 13);
	pthread_mutex_lock(&ev->lock);
	if (ev->stopping || ev->n_clients >= TASKGATE_EVENTS_MAX_CLIENTS) {
		bool stopping = ev->stopping;

		pthread_mutex_unlock(&ev->lock);
		buf_clear(&c->queue);
		free(c);
		return stopping ? EVENTS_ATTACH_STOPPING : EVENTS_ATTACH_FULL;
	}
	if (last >= 0)
		events_replay(ev, c, last);
	c->snap = events_snapshot(ev);
	c->snap_at = c->queue.len;
	LIST_INSERT_HEAD(&ev->clients, c, link);
	ev->n_clients++;
	c->serial = ++ev->next_serial;
	events_watch(ev, c);
	pthread_mutex_unlock(&ev->lock);

	/* The block is used only without chunked encoding (HTTP/1.0):
	 * with it, libmicrohttpd writes into the connection's own pool.
	 * Small, as a waiting client should cost little memory. */
	*resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256,
	    events_read, c, events_client_free);
	return EVENTS_ATTACH_OK;
}

/*
 * Asks the watcher to tell when the client's peer hangs up.  Edge
 * triggered, hang-ups only: what the client sends is libmicrohttpd's.
 * The socket leaves the epoll set by itself when libmicrohttpd closes it;
 * a late report names a serial no client has any more, and is ignored.
 * The lock is held.
 */
static void
events_watch(struct events *ev, struct events_client *c)
{
	struct epoll_event	e = {
		.events = EPOLLRDHUP | EPOLLET,
		.data.u64 = c->serial,
	};

	if (ev->epfd < 0)
		return;
	if (c->fd < 0 || epoll_ctl(ev->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
		log_warn("events: cannot watch a client for hang-ups");
}

/* Ends the stream of the client whose peer hung up (marked in w to be
 * woken); the lock is held. */
static void
events_hung_up(struct events *ev, struct events_wake *w, uint64_t serial)
{
	struct events_client	*c;

	LIST_FOREACH(c, &ev->clients, link) {
		if (c->serial != serial)
			continue;
		c->dropped = true;
		c->off = c->queue.len = 0;	/* nobody will read it */
		events_shared_release(c->snap);
		c->snap = NULL;
		events_wake_add(w, c);
		return;
	}
}

/*
 * Ends at once the streams gone(arg, name, token_sha256) says may no
 * longer be open: their person was removed (`taskgate user remove`), or
 * the token they came with was replaced (`taskgate user link`).  Called
 * each poll, and at once when those verbs tell the daemon (POST
 * /api/people/check).  gone may take the db lock, which comes after the
 * events lock.  Returns how many streams it ended.
 */
size_t
events_end_gone(struct events *ev,
    bool (*gone)(void *, const char *, const char *), void *arg)
{
	struct events_client	*c;
	struct events_wake	 w = { NULL, 0, 0 };
	size_t			 ended = 0;

	pthread_mutex_lock(&ev->lock);
	LIST_FOREACH(c, &ev->clients, link) {
		if (c->person[0] == '\0' || c->dropped ||
		    !gone(arg, c->person, c->token_sha256))
			continue;
		c->dropped = true;
		c->off = c->queue.len = 0;
		events_shared_release(c->snap);
		c->snap = NULL;
		events_wake_add(&w, c);
		ended++;
	}
	pthread_mutex_unlock(&ev->lock);
	events_wake_run(ev, &w);
	return ended;
}

/*
 * The watcher thread: a comment to every client every 15 s, and the end
 * of a stream whose client hung up.
 */
static void *
events_main(void *arg)
{
	struct events		*ev = arg;
	struct events_client	*c;
	struct events_wake	 w = { 0 };
	struct epoll_event	 got[64];
	double			 next_beat, left, now;
	int			 i, n;
	static const char	 beat[] = ": heartbeat\n\n";

	next_beat = clock_mono() + EVENTS_HEARTBEAT;
	for (;;) {
		left = next_beat - clock_mono();
		n = epoll_wait(ev->epfd, got, 64,
		    left > 0 ? (int)(left * 1000) + 1 : 0);
		pthread_mutex_lock(&ev->lock);
		if (ev->stopping) {
			pthread_mutex_unlock(&ev->lock);
			break;
		}
		for (i = 0; i < n; i++)
			if (got[i].data.u64 != 0)
				events_hung_up(ev, &w, got[i].data.u64);
		now = clock_mono();
		if (now >= next_beat) {
			LIST_FOREACH(c, &ev->clients, link)
				events_queue(&w, c, beat, sizeof beat - 1);
			next_beat += EVENTS_HEARTBEAT;
			if (next_beat < now)
				next_beat = now + EVENTS_HEARTBEAT;
		}
		pthread_mutex_unlock(&ev->lock);
		events_wake_run(ev, &w);
	}
	return NULL;
}
