/*
 * acceptor.c: the front door.  It accepts every connection on the listen
 * socket, holds it until the whole head of its first request has arrived
 * (a look with MSG_PEEK: nothing is consumed), and then hands it to one of
 * two libmicrohttpd daemons:
 *
 *   - a short `GET /api/events` goes to the event-stream daemon, whose
 *     connections have a small memory pool: a dashboard that stays
 *     connected for hours costs about 10 KiB, not 24;
 *   - everything else goes to the general daemon, whose 32 KiB pool holds
 *     the long URLs Task Copilot's clients may send (an 8,000-character
 *     query is answered; a 20 KiB one gets Task Copilot's own 431).
 *
 * It also keeps the limits, so that no daemon is ever given more than it
 * takes.  libmicrohttpd 0.9.75 leaves a mutex locked when a connection
 * added with MHD_add_connection() finds its daemon full, and the daemon
 * then hangs for good; so the acceptor counts the connections it handed
 * to each daemon (down again when libmicrohttpd reports one closed, see
 * acceptor_closed()) and answers 503 itself past its limit, and each
 * daemon's own limit is set above what the acceptor can ever hand it.
 * The last ACCEPTOR_RESERVE general connections are kept for GET /health
 * and for requests that carry a token or a cookie: strangers who fill the
 * rest do not lock the owner out.
 *
 * A head that has not arrived within ACCEPTOR_HEAD_MS is answered 408
 * (closed without a word if nothing came at all), so a client that sends
 * its head a line at a time holds a connection for seconds, not forever;
 * one that hangs up before its head is whole is let go at once, so its
 * socket does not wait in CLOSE-WAIT for the deadline.
 * The acceptor owns the connections it has not yet handed over, and
 * nothing else; its one thread never blocks on a client and never holds
 * a lock.
 */
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "taskgate.h"

#define ACCEPTOR_HEAD_MS	5000	/* for a whole head, then 408 */
#define ACCEPTOR_MAX_WAITING	4096	/* then the oldest is let go */
#define ACCEPTOR_PAUSE_MS	100	/* out of file descriptors */

struct acceptor_conn {
	int			 fd;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int64_t			 deadline_ms;
	TAILQ_ENTRY(acceptor_conn) link;	/* in acceptor.waiting */
};

/* One daemon and how many connections it has from the acceptor. */
struct acceptor_door {
	struct MHD_Daemon	*daemon;
	unsigned int		 limit;		/* then 503 */
	unsigned int		 reserve;	/* of limit, for privileged heads */
	unsigned int		 live;		/* atomic: handed, not closed */
	const char		*full;		/* the 503's sentence */
};

struct acceptor {
	int			 listen_fd;
	struct acceptor_door	 doors[2];	/* general, events */
	int			 epfd;
	int			 wake;		/* eventfd: stop */
	bool			 listening;	/* listen_fd in epfd */
	int64_t			 resume_ms;	/* when to listen again */
	TAILQ_HEAD(, acceptor_conn) waiting;	/* oldest first */
	size_t			 n_waiting;
	size_t			 evict;		/* oldest to let go, after the batch */
	char			 head[ACCEPTOR_HEAD_MAX];	/* the look */
	pthread_t		 thread;
};

static void	*acceptor_main(void *);

static int64_t
acceptor_now_ms(void)
{
	return (int64_t)(clock_mono() * 1000.0);
}

/* Whether the line at p (within end) starts with name, any case. */
static bool
acceptor_header_is(const char *p, const char *end, const char *name)
{
	size_t	n = strlen(name);

	return (size_t)(end - p) >= n && strncasecmp(p, name, n) == 0;
}

/* Whether head starts with "METHOD path" followed by a space or a query. */
static bool
acceptor_request_is(const char *head, size_t len, const char *line)
{
	size_t	n = strlen(line);

	return len > n && memcmp(head, line, n) == 0 &&
	    (head[n] == ' ' || head[n] == '?');
}

/*
 * Which daemon a connection's first len bytes call for, in a look of max
 * bytes: ACCEPTOR_WAIT while the head may still be coming (no blank line
 * yet, and fewer than max bytes); ACCEPTOR_EVENTS for a whole head of at
 * most TASKGATE_EVENTS_HEAD_MAX bytes of a GET of /api/events (with or
 * without a query); ACCEPTOR_GENERAL otherwise, a head too big for the
 * look included (the general daemon answers it 431); ACCEPTOR_BAD for a
 * head with a NUL byte (answered 400).  *privileged tells
 * a GET of /health, or a head with an Authorization or Cookie header.
 */
enum acceptor_route
acceptor_classify(const char *head, size_t len, size_t max, bool *privileged)
{
	const char	*end = NULL, *p, *line, *stop = head + len;
	size_t		 i;

	*privileged = false;
	for (i = 0; i + 1 < len && end == NULL; i++)
		if (head[i] == '\n' && (head[i + 1] == '\n' ||
		    (head[i + 1] == '\r' && i + 2 < len && head[i + 2] == '\n')))
			end = head + i + 1;
	if (end == NULL)
		return len >= max ? ACCEPTOR_GENERAL : ACCEPTOR_WAIT;
	/* libmicrohttpd reads each line as a C string, and would cut a
	 * header at the NUL: a Host that is not the one it seems. */
	if (memchr(head, '\0', (size_t)(end - head)) != NULL)
		return ACCEPTOR_BAD;
	*privileged = acceptor_request_is(head, len, "GET /health") ||
	    acceptor_request_is(head, len, "HEAD /health");
	/* Each header line starts after a newline, up to the blank one. */
	for (p = head; p < end && !*privileged; p++) {
		if (*p != '\n')
			continue;
		line = p + 1;
		*privileged = acceptor_header_is(line, stop, "authorization:") ||
		    acceptor_header_is(line, stop, "cookie:");
	}
	if ((size_t)(end - head) < TASKGATE_EVENTS_HEAD_MAX &&
	    acceptor_request_is(head, len, "GET /api/events"))
		return ACCEPTOR_EVENTS;
	return ACCEPTOR_GENERAL;
}

/*
 * Starts accepting on listen_fd for the two daemons: at most general_limit
 * connections to general and events_limit to events (then 503).  NULL
 * with err on failure.
 */
struct acceptor *
acceptor_start(int listen_fd, struct MHD_Daemon *general,
    unsigned int general_limit, struct MHD_Daemon *events,
    unsigned int events_limit, char *err, size_t errlen)
{
	struct acceptor		*a = xcalloc(1, sizeof *a);
	struct epoll_event	 e = { .events = EPOLLIN };

	a->listen_fd = listen_fd;
	TAILQ_INIT(&a->waiting);
	a->doors[ACCEPTOR_GENERAL - 1] = (struct acceptor_door){ general,
	    general_limit, ACCEPTOR_RESERVE, 0, "taskgate has all the "
	    "connections it takes; try again shortly" };
	a->doors[ACCEPTOR_EVENTS - 1] = (struct acceptor_door){ events,
	    events_limit, 0, 0, "the event stream has all the clients it "
	    "takes; close some dashboards or terminals" };
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e.data.ptr = &a->wake;
	if (a->epfd == -1 || a->wake == -1 ||
	    epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->wake, &e) == -1)
		goto fail;
	e.data.ptr = &a->listen_fd;
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, listen_fd, &e) == -1)
		goto fail;
	a->listening = true;
	if (pthread_create(&a->thread, NULL, acceptor_main, a) != 0)
		goto fail;
	return a;
fail:
	snprintf(err, errlen, "cannot start accepting connections: %s",
	    strerror(errno));
	if (a->epfd != -1)
		close(a->epfd);
	if (a->wake != -1)
		close(a->wake);
	free(a);
	return NULL;
}

/*
 * Stops accepting; connections not yet handed over are closed.  The
 * daemons still report closed connections (acceptor_closed()) until they
 * stop: free it with acceptor_free() after them.
 */
void
acceptor_stop(struct acceptor *a)
{
	struct acceptor_conn	*c;
	uint64_t		 one = 1;

	if (a == NULL)
		return;
	if (write(a->wake, &one, sizeof one) != sizeof one)
		log_warn("acceptor: cannot wake the thread");
	pthread_join(a->thread, NULL);
	while ((c = TAILQ_FIRST(&a->waiting)) != NULL) {
		TAILQ_REMOVE(&a->waiting, c, link);
		close(c->fd);
		free(c);
	}
	close(a->epfd);
	close(a->wake);
	a->epfd = a->wake = -1;
}

void
acceptor_free(struct acceptor *a)
{
	free(a);
}

/*
 * A connection handed to the daemon of route has closed (libmicrohttpd's
 * connection notification, on its thread): its place is free again.
 */
void
acceptor_closed(struct acceptor *a, enum acceptor_route route)
{
	__atomic_sub_fetch(&a->doors[route - 1].live, 1, __ATOMIC_RELAXED);
}

/*
 * Whether the general daemon is more than half full: then its answers
 * close their connections, so that every request passes the front door's
 * head deadline and no client holds a place by keeping it alive.
 */
bool
acceptor_crowded(const struct acceptor *a)
{
	const struct acceptor_door *d = &a->doors[ACCEPTOR_GENERAL - 1];

	return __atomic_load_n(&d->live, __ATOMIC_RELAXED) > d->limit / 2;
}

/* Lets a connection go: out of the list and the epoll set. */
static void
acceptor_unlink(struct acceptor *a, struct acceptor_conn *c)
{
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	TAILQ_REMOVE(&a->waiting, c, link);
	a->n_waiting--;
}

/*
 * Answers a connection the acceptor does not hand over (status 503, 408
 * or 400, sentence, code) and closes it.  The head it has sent is read
 * first, so that the close does not reset the connection and take the
 * answer with it.
 */
static void
acceptor_refuse(struct acceptor *a, struct acceptor_conn *c, int status,
    const char *sentence, const char *code)
{
	char	 body[256], reply[512];
	int	 blen, rlen;

	acceptor_unlink(a, c);
	while (recv(c->fd, a->head, sizeof a->head, MSG_DONTWAIT) > 0)
		;
	blen = snprintf(body, sizeof body, "{\"error\":\"%s\",\"code\":\"%s\"}",
	    sentence, code);
	rlen = snprintf(reply, sizeof reply, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Content-Length: %d\r\n%sConnection: close\r\n"
	    "X-Content-Type-Options: nosniff\r\n\r\n%s", status,
	    status == 503 ? "Service Unavailable" : status == 400 ?
	    "Bad Request" : "Request Timeout", blen,
	    status == 503 ? "Retry-After: 1\r\n" : "", body);
	if (send(c->fd, reply, (size_t)rlen, MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    rlen)
		log_debug("acceptor: a refused client did not take its answer");
	close(c->fd);
	free(c);
}

/* Gives the connection to a daemon, or answers 503 when it is full. */
static void
acceptor_hand_over(struct acceptor *a, struct acceptor_conn *c,
    enum acceptor_route route, bool privileged)
{
	struct acceptor_door	*d = &a->doors[route - 1];
	unsigned int		 live, room;

	live = __atomic_load_n(&d->live, __ATOMIC_RELAXED);
	room = privileged ? d->limit : d->limit - d->reserve;
	if (live >= room) {
		acceptor_refuse(a, c, 503, d->full, "unavailable");
		return;
	}
	acceptor_unlink(a, c);
	__atomic_add_fetch(&d->live, 1, __ATOMIC_RELAXED);
	/* The daemon closes the socket if it cannot take it. */
	if (MHD_add_connection(d->daemon, c->fd, (struct sockaddr *)&c->addr,
	    c->addrlen) != MHD_YES) {
		__atomic_sub_fetch(&d->live, 1, __ATOMIC_RELAXED);
		log_debug("acceptor: a connection was refused: %s",
		    strerror(errno));
	}
	free(c);
}

/* Looks at what the client has sent so far; hands it over once that is a
 * whole head.  events is what epoll reported (0 when not from epoll): a
 * peer that hung up before its head was whole will never send the rest,
 * and is let go at once rather than left in CLOSE-WAIT until its
 * deadline. */
static void
acceptor_look(struct acceptor *a, struct acceptor_conn *c, uint32_t events)
{
	ssize_t			 n;
	enum acceptor_route	 route;
	bool			 privileged;

	n = recv(c->fd, a->head, sizeof a->head, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {	/* gone before it asked anything */
		acceptor_unlink(a, c);
		close(c->fd);
		free(c);
		return;
	}
	route = acceptor_classify(a->head, (size_t)n, sizeof a->head,
	    &privileged);
	if (route == ACCEPTOR_BAD)
		acceptor_refuse(a, c, 400, "the request head has a NUL byte",
		    "bad-header");
	else if (route != ACCEPTOR_WAIT)
		acceptor_hand_over(a, c, route, privileged);
	else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		acceptor_unlink(a, c);
		close(c->fd);
		free(c);
	}
}

/* A head that did not come in time: 408 if part of it came, else quiet. */
static void
acceptor_expire(struct acceptor *a, struct acceptor_conn *c)
{
	char	one;

	if (recv(c->fd, &one, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		acceptor_refuse(a, c, 408, "the request head did not arrive "
		    "in time", "request-timeout");
		return;
	}
	acceptor_unlink(a, c);
	close(c->fd);
	free(c);
}

static void
acceptor_accept(struct acceptor *a, int64_t now)
{
	struct acceptor_conn	*c;
	struct epoll_event	 e;
	int			 fd;

	for (;;) {
		c = xcalloc(1, sizeof *c);
		c->addrlen = sizeof c->addr;
		fd = accept4(a->listen_fd, (struct sockaddr *)&c->addr,
		    &c->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			free(c);
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("acceptor: cannot accept");
				epoll_ctl(a->epfd, EPOLL_CTL_DEL, a->listen_fd,
				    NULL);
				a->listening = false;
				a->resume_ms = now + ACCEPTOR_PAUSE_MS;
			}
			return;	/* EAGAIN, or a client gone already */
		}
		c->fd = fd;
		c->deadline_ms = now + ACCEPTOR_HEAD_MS;
		/* Edge triggered: the bytes stay in the socket when peeked. */
		e.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		e.data.ptr = c;
		if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &e) == -1) {
			log_warn("acceptor: cannot watch a connection");
			close(fd);
			free(c);
			continue;
		}
		/* Full of heads that do not come: the oldest makes room
		 * (once this batch of events is seen, as it may name it), so
		 * a client that sends its head at once always gets in. */
		if (a->n_waiting >= ACCEPTOR_MAX_WAITING + a->evict)
			a->evict++;
		TAILQ_INSERT_TAIL(&a->waiting, c, link);
		a->n_waiting++;
		acceptor_look(a, c, 0);	/* the head is often there already */
	}
}

static void *
acceptor_main(void *arg)
{
	struct acceptor		*a = arg;
	struct acceptor_conn	*c;
	struct epoll_event	 got[64];
	struct epoll_event	 e = { .events = EPOLLIN };
	int64_t			 now, until;
	int			 i, n;

	for (;;) {
		now = acceptor_now_ms();
		/* The oldest is first: its deadline is the next one. */
		c = TAILQ_FIRST(&a->waiting);
		until = c != NULL ? c->deadline_ms : INT64_MAX;
		if (!a->listening && a->resume_ms < until)
			until = a->resume_ms;
		n = epoll_wait(a->epfd, got, 64, until == INT64_MAX ? -1 :
		    until <= now ? 0 : (int)(until - now));
		now = acceptor_now_ms();
		for (i = 0; i < n; i++) {
			if (got[i].data.ptr == &a->wake)
				return NULL;
			if (got[i].data.ptr == &a->listen_fd)
				acceptor_accept(a, now);
			else
				acceptor_look(a, got[i].data.ptr,
				    got[i].events);
		}
		for (; a->evict > 0 && (c = TAILQ_FIRST(&a->waiting)) != NULL;
		    a->evict--)
			acceptor_expire(a, c);
		a->evict = 0;
		while ((c = TAILQ_FIRST(&a->waiting)) != NULL &&
		    c->deadline_ms <= now)
			acceptor_expire(a, c);
		if (!a->listening && a->resume_ms <= now) {
			e.data.ptr = &a->listen_fd;
			if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->listen_fd,
			    &e) == 0)
				a->listening = true;
			else
				a->resume_ms = now + ACCEPTOR_PAUSE_MS;
		}
	}
}
