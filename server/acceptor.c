/*
 * acceptor.c: the front door.  It accepts every connection on the listen
 * socket and hands it to one of two libmicrohttpd daemons, choosing by a
 * look (MSG_PEEK: nothing is consumed) at the first request's head:
 *
 *   - a short `GET /api/events` goes to the event-stream daemon, whose
 *     connections have a small memory pool: a dashboard that stays
 *     connected for hours costs about 10 KiB, not 24;
 *   - everything else goes to the general daemon, whose 32 KiB pool holds
 *     the long URLs Task Copilot's clients may send (an 8,000-character
 *     query is answered; a 20 KiB one gets Task Copilot's own 431).
 *
 * A connection whose head has not arrived within a second, or does not
 * fit in the look, goes to the general daemon, which applies its own
 * timeouts and limits.  The acceptor owns the connections it has not yet
 * handed over, and nothing else; its one thread never blocks on a client.
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
#include <unistd.h>

#include "taskgate.h"

#define ACCEPTOR_WAIT_MS	1000	/* for a head, then general */
#define ACCEPTOR_MAX_WAITING	4096	/* then straight to general */
#define ACCEPTOR_PAUSE_MS	100	/* out of file descriptors */

struct acceptor_conn {
	int			 fd;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int64_t			 deadline_ms;
	LIST_ENTRY(acceptor_conn) link;	/* in acceptor.waiting */
};

struct acceptor {
	int			 listen_fd;
	struct MHD_Daemon	*general, *events;
	int			 epfd;
	int			 wake;		/* eventfd: stop */
	bool			 listening;	/* listen_fd in epfd */
	int64_t			 resume_ms;	/* when to listen again */
	LIST_HEAD(, acceptor_conn) waiting;
	size_t			 n_waiting;
	pthread_t		 thread;
};

static void	*acceptor_main(void *);

static int64_t
acceptor_now_ms(void)
{
	return (int64_t)(clock_mono() * 1000.0);
}

/*
 * Which daemon a connection's first bytes call for: ACCEPTOR_EVENTS for a
 * whole head, within len bytes, of a GET of /api/events (with or without
 * a query); ACCEPTOR_WAIT while the head may still be coming (fewer than
 * max bytes and no blank line yet); ACCEPTOR_GENERAL otherwise.
 */
enum acceptor_route
acceptor_classify(const char *head, size_t len, size_t max)
{
	static const char	 want[] = "GET /api/events";
	const size_t		 wlen = sizeof want - 1;
	bool			 whole = false;
	size_t			 i;

	/* Not ours: no need to wait for, or look at, the rest. */
	if (memcmp(head, want, len < wlen ? len : wlen) != 0)
		return ACCEPTOR_GENERAL;
	for (i = 0; i + 1 < len && !whole; i++)
		if (head[i] == '\n' && (head[i + 1] == '\n' ||
		    (head[i + 1] == '\r' && i + 2 < len && head[i + 2] == '\n')))
			whole = true;
	if (!whole)
		return len >= max ? ACCEPTOR_GENERAL : ACCEPTOR_WAIT;
	return len > wlen && (head[wlen] == ' ' || head[wlen] == '?') ?
	    ACCEPTOR_EVENTS : ACCEPTOR_GENERAL;
}

/* Starts accepting on listen_fd; NULL with err on failure. */
struct acceptor *
acceptor_start(int listen_fd, struct MHD_Daemon *general,
    struct MHD_Daemon *events, char *err, size_t errlen)
{
	struct acceptor		*a = xcalloc(1, sizeof *a);
	struct epoll_event	 e = { .events = EPOLLIN };

	a->listen_fd = listen_fd;
	LIST_INIT(&a->waiting);
	a->general = general;
	a->events = events;
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

/* Stops accepting; connections not yet handed over are closed. */
void
acceptor_stop(struct acceptor *a)
{
	struct acceptor_conn	*c, *next;
	uint64_t		 one = 1;

	if (a == NULL)
		return;
	if (write(a->wake, &one, sizeof one) != sizeof one)
		log_warn("acceptor: cannot wake the thread");
	pthread_join(a->thread, NULL);
	for (c = LIST_FIRST(&a->waiting); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		close(c->fd);
		free(c);
	}
	close(a->epfd);
	close(a->wake);
	free(a);
}

static void
acceptor_unlink(struct acceptor *a, struct acceptor_conn *c)
{
	LIST_REMOVE(c, link);
	a->n_waiting--;
}

/* Gives the connection to a daemon, which closes it if it cannot take it. */
static void
acceptor_hand_over(struct acceptor *a, struct acceptor_conn *c,
    enum acceptor_route route)
{
	struct MHD_Daemon	*d = route == ACCEPTOR_EVENTS ? a->events :
	    a->general;

	epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	acceptor_unlink(a, c);
	if (MHD_add_connection(d, c->fd, (struct sockaddr *)&c->addr,
	    c->addrlen) != MHD_YES)
		log_debug("acceptor: a connection was refused: %s",
		    strerror(errno));
	free(c);
}

/* Looks at what the client has sent so far; hands it over if that says
 * enough. */
static void
acceptor_look(struct acceptor *a, struct acceptor_conn *c)
{
	char			 head[TASKGATE_EVENTS_HEAD_MAX];
	ssize_t			 n;
	enum acceptor_route	 route;

	n = recv(c->fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)	/* closed or failed: the daemon will see it */
		route = ACCEPTOR_GENERAL;
	else
		route = acceptor_classify(head, (size_t)n, sizeof head);
	if (route != ACCEPTOR_WAIT)
		acceptor_hand_over(a, c, route);
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
		c->deadline_ms = now + ACCEPTOR_WAIT_MS;
		LIST_INSERT_HEAD(&a->waiting, c, link);
		a->n_waiting++;
		/* Edge triggered: the bytes stay in the socket when peeked. */
		e.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		e.data.ptr = c;
		if (a->n_waiting > ACCEPTOR_MAX_WAITING ||
		    epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &e) == -1) {
			acceptor_unlink(a, c);
			if (MHD_add_connection(a->general, fd,
			    (struct sockaddr *)&c->addr, c->addrlen) != MHD_YES)
				log_debug("acceptor: a connection was refused");
			free(c);
			continue;
		}
		acceptor_look(a, c);	/* the head is often there already */
	}
}

static void *
acceptor_main(void *arg)
{
	struct acceptor		*a = arg;
	struct acceptor_conn	*c, *next;
	struct epoll_event	 got[64];
	struct epoll_event	 e = { .events = EPOLLIN };
	int64_t			 now, until;
	int			 i, n;

	for (;;) {
		now = acceptor_now_ms();
		until = INT64_MAX;	/* the next deadline */
		LIST_FOREACH(c, &a->waiting, link)
			if (c->deadline_ms < until)
				until = c->deadline_ms;
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
				acceptor_look(a, got[i].data.ptr);
		}
		for (c = LIST_FIRST(&a->waiting); c != NULL; c = next) {
			next = LIST_NEXT(c, link);
			if (c->deadline_ms <= now)
				acceptor_hand_over(a, c, ACCEPTOR_GENERAL);
		}
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
