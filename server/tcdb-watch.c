/*
 * tcdb-watch.c: says when Task Copilot 3's tasks.db may have changed, so
 * that taskgate reads it at once rather than at the next poll.  One thread
 * waits on inotify for the file's directory, which sees all of it: a
 * write to the file or to its -wal (where tc's commits land) or -journal,
 * and a file made, moved or deleted under its name (`tc init`, `mv
 * other.db tasks.db`, `rm tasks.db*`).  A burst of such events (a commit
 * writes several WAL frames) is one call of the callback, made once the
 * file has been quiet for TCW_QUIET_MS, or TCW_MAX_MS after the burst's
 * first event if it goes on.
 *
 * The callback only says "look now": main.c's makes the cache's entries
 * due and pokes the poller, so the data still flows source -> cache ->
 * poller -> events, and tcdb.c's PRAGMA data_version still skips a read
 * when nothing was committed (a -shm write, our own open).  Where inotify
 * is not to be had, nothing is lost but speed: the poll interval holds,
 * and a directory that cannot be watched (not there yet) is tried again
 * every TCW_RETRY_MS.  TASKGATE_TCDB_WATCH=off in the environment leaves
 * the watch out (a network file system, where another host's writes
 * raise no inotify event anyway; bench/run's polling figure).
 */
#include <sys/eventfd.h>
#include <sys/inotify.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taskgate.h"

#define TCW_QUIET_MS	3	/* a burst ends after this much quiet */
#define TCW_MAX_MS	25	/* or this long after it began */
#define TCW_RETRY_MS	1000	/* an unwatchable directory, again */
#define TCW_MASK	(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | \
			    IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | \
			    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct tcdb_watch {
	char			*dir;
	char			*base;		/* the file's name in dir */
	size_t			 base_len;
	int			 ifd;		/* inotify */
	int			 wd;		/* dir's watch, or -1 */
	int			 stopfd;	/* eventfd: stop */
	pthread_t		 thread;
	tcdb_change_fn		 fn;
	void			*arg;
	unsigned long		 calls;		/* for tests and logs */
};

/* Whether name is the file's, its -wal's or its -journal's. */
static bool
tcw_ours(const struct tcdb_watch *w, const char *name)
{
	if (strncmp(name, w->base, w->base_len) != 0)
		return false;
	name += w->base_len;
	return *name == '\0' || strcmp(name, "-wal") == 0 ||
	    strcmp(name, "-journal") == 0;
}

/*
 * Reads what inotify has; true when any event is about the file.  A lost
 * watch (the directory went) is noted in w->wd.
 */
static bool
tcw_drain(struct tcdb_watch *w)
{
	char	 buf[8192] __attribute__((aligned(
		    __alignof__(struct inotify_event))));
	ssize_t	 n;
	char	*p;
	bool	 ours = false;

	while ((n = read(w->ifd, buf, sizeof buf)) > 0) {
		for (p = buf; p < buf + n;
		    p += sizeof(struct inotify_event) +
		    ((struct inotify_event *)p)->len) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF |
			    IN_MOVE_SELF))
				ours = true;
			if (ev->mask & IN_IGNORED) {
				w->wd = -1;
				ours = true;
			}
			if (ev->len > 0 && tcw_ours(w, ev->name))
				ours = true;
		}
	}
	return ours;
}

static void *
tcw_main(void *arg)
{
	struct tcdb_watch	*w = arg;
	struct pollfd		 pfd[2];
	double			 first = 0, last = 0, now;
	bool			 pending = false, told = false;
	int			 timeout;

	for (;;) {
		if (w->wd == -1) {
			w->wd = inotify_add_watch(w->ifd, w->dir, TCW_MASK);
			if (w->wd == -1 && !told) {
				log_info("cannot watch %s (%s): tasks.db is "
				    "read at each poll until it can be",
				    w->dir, strerror(errno));
				told = true;
			} else if (w->wd != -1 && told) {
				told = false;
				pending = true;	/* it may be there now */
				first = last = clock_mono();
			}
		}
		timeout = w->wd == -1 ? TCW_RETRY_MS : -1;
		if (pending) {
			now = clock_mono();
			timeout = (int)((last + TCW_QUIET_MS / 1000.0 - now) *
			    1000.0 + 0.999);
			if ((int)((first + TCW_MAX_MS / 1000.0 - now) *
			    1000.0 + 0.999) < timeout)
				timeout = (int)((first + TCW_MAX_MS / 1000.0 -
				    now) * 1000.0 + 0.999);
			if (timeout < 0)
				timeout = 0;
		}
		pfd[0].fd = w->stopfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = w->ifd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR) {
			log_warn("tasks.db watch: poll");
			break;
		}
		if (pfd[0].revents & POLLIN)
			break;
		now = clock_mono();
		if ((pfd[1].revents & POLLIN) && tcw_drain(w)) {
			if (!pending)
				first = now;
			pending = true;
			last = now;
		}
		if (pending && (now - last >= TCW_QUIET_MS / 1000.0 ||
		    now - first >= TCW_MAX_MS / 1000.0)) {
			pending = false;
			w->calls++;
			w->fn(w->arg);
		}
	}
	return NULL;
}

/*
 * Starts watching the tasks.db at path: fn(arg) is called, from the
 * watch's thread, after each burst of changes.  NULL when inotify cannot
 * be had (then polling alone keeps the data fresh).
 */
struct tcdb_watch *
tcdb_watch_start(const char *path, tcdb_change_fn fn, void *arg)
{
	struct tcdb_watch	*w;
	const char		*slash = strrchr(path, '/');
	const char		*env = getenv("TASKGATE_TCDB_WATCH");

	if (env != NULL && strcmp(env, "off") == 0) {
		log_info("TASKGATE_TCDB_WATCH=off: %s is read at each poll",
		    path);
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	if (slash == NULL) {
		w->dir = xstrdup(".");
		w->base = xstrdup(path);
	} else {
		w->dir = slash == path ? xstrdup("/") :
		    xstrndup(path, (size_t)(slash - path));
		w->base = xstrdup(slash + 1);
	}
	w->base_len = strlen(w->base);
	w->fn = fn;
	w->arg = arg;
	w->wd = -1;
	w->stopfd = -1;
	if ((w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    (w->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    pthread_create(&w->thread, NULL, tcw_main, w) != 0) {
		log_warn("cannot watch %s for changes; it is read at each poll",
		    path);
		if (w->ifd != -1)
			close(w->ifd);
		if (w->stopfd != -1)
			close(w->stopfd);
		free(w->dir);
		free(w->base);
		free(w);
		return NULL;
	}
	return w;
}

/* Stops the watch and frees it; NULL is nothing to do. */
void
tcdb_watch_stop(struct tcdb_watch *w)
{
	uint64_t	one = 1;

	if (w == NULL)
		return;
	if (write(w->stopfd, &one, sizeof one) != (ssize_t)sizeof one)
		log_warn("tasks.db watch: stop");
	pthread_join(w->thread, NULL);
	close(w->ifd);
	close(w->stopfd);
	free(w->dir);
	free(w->base);
	free(w);
}
