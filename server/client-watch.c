/*
 * client-watch.c: `taskgate watch`, a live full-screen view of the
 * overview fed by the daemon's event stream (GET /api/events), never by
 * polling.  The connection and the token come from client-conn.c, the
 * overview as text from client-render.c, drawn on a frame
 * (client-frame.c); it calls nothing of client.c, whose watch verb calls
 * client_watch().
 *
 * How it consumes the stream: one thread, one loop around
 * curl_multi_poll().  The multi handle carries the event stream and, now
 * and then, one GET /api/overview.  Signal handlers only set a flag and
 * write a byte to a self-pipe whose read end is one of the poll's extra
 * descriptors, so the loop wakes at once and does the work outside the
 * handler; stdin, when it is a terminal, is the other (for q).
 *
 * The stream's write callback parses server-sent events (id:, event:,
 * data:, retry:, comments; LF, CRLF or CR line ends; a line or an event
 * over 8 MiB drops the connection).  A `snapshot` is the overview
 * itself: it is drawn as it is.  Any other event (stream, state,
 * session, upstream) that comes after this connection's snapshot asks
 * for one GET /api/overview -- events arriving while that runs ask for
 * one more after it -- and the answer is drawn; every event also goes to
 * the "Recent" lines, including those replayed before the snapshot.
 * When the stream ends or fails the view says "reconnecting", and after
 * the server's retry delay (2 s; doubling to 30 s while connecting keeps
 * failing) it reconnects, sending Last-Event-ID: the last id it saw.  A
 * stream silent for 45 s (the daemon sends a heartbeat every 15 s)
 * counts as dropped.
 *
 * The terminal: the alternate screen and a hidden cursor while it runs,
 * and stdin without echo or line editing, so q works and typing cannot
 * scribble on the view.  Each frame is drawn in one write from the top
 * left, every line cut to the window's width (TIOCGWINSZ, read again on
 * SIGWINCH), the rest of the screen cleared.  On q, Ctrl-C (SIGINT),
 * SIGTERM or SIGHUP it leaves the loop, shows the cursor, leaves the
 * alternate screen, restores the terminal modes and exits 0; Ctrl-Z
 * does the same before it stops and draws again when continued.
 *
 * Globals: the signal flags and the self-pipe's write end, which the
 * handlers need; nothing else.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"

#define WATCH_LINE_MAX		TASKGATE_MAX_UPSTREAM	/* one SSE line */
#define WATCH_DATA_MAX		TASKGATE_MAX_UPSTREAM	/* one event */
#define WATCH_ERROR_MAX		(64 * 1024)	/* a refusal's body */
#define WATCH_RECENT		6		/* events listed */
#define WATCH_RETRY_MS		2000L		/* until the server says */
#define WATCH_RETRY_MAX_MS	30000L
#define WATCH_SILENCE_S		45L		/* no byte: dropped */
#define WATCH_IDLE_MS		10000		/* the longest poll */

enum watch_conn { WATCH_CONNECTING, WATCH_LIVE, WATCH_RECONNECTING };

/* The parser's state: the line and the event being read. */
struct watch_sse {
	struct buf	 line;		/* bytes of the line so far */
	bool		 cr;		/* the last byte was CR: skip an LF */
	struct buf	 data;		/* data: lines, joined by LF */
	char		 event[32];	/* the event: field */
	char		 id[32];	/* the last id: field */
	bool		 id_seen;
};

struct watch_recent {
	char			*text;	/* owned; made safe when drawn */
	enum client_color	 color;
};

struct watch {
	struct client_conn	*c;
	CURLM			*multi;

	CURL			*sse;		/* the event stream, or NULL */
	struct curl_slist	*sse_headers;
	long			 sse_status;	/* 0 until known */
	struct buf		 sse_error;	/* the body of a refusal */
	struct watch_sse	 p;
	bool			 snapshot_seen;	/* on this connection */
	char			 last_id[32];	/* "" until an event had one */
	long			 retry_ms;	/* the server's retry: */
	long			 backoff_ms;
	double			 reconnect_at;	/* monotonic; 0: none due */
	int			 attempts;	/* failures in a row */
	char			 why[256];	/* why it is reconnecting */
	enum watch_conn		 conn;

	CURL			*fetch;		/* GET /api/overview, or NULL */
	struct curl_slist	*fetch_headers;
	struct buf		 fetch_body;
	bool			 want_fetch;	/* an event asked for one */

	json_t			*doc;		/* the overview drawn (owned) */
	char			 updated[16];	/* local time doc arrived */
	struct watch_recent	 recent[WATCH_RECENT];	/* oldest first */
	size_t			 n_recent;

	bool			 color;
	bool			 utf8;
	bool			 dirty;		/* draw again */
	bool			 tty_in;	/* stdin is a terminal */
	bool			 raw;		/* its modes are changed */
	struct termios		 saved;
	int			 pipe[2];	/* the self-pipe */
	struct sigaction	 old[6];
};

static const int watch_signals[6] = {
	SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP, SIGCONT
};

static volatile sig_atomic_t	watch_quit;	/* q, or a signal number */
static volatile sig_atomic_t	watch_winch;
static volatile sig_atomic_t	watch_tstp;
static volatile sig_atomic_t	watch_cont;
static int			watch_wake_fd = -1;

static void	watch_connect(struct watch *);

/* Signals and the terminal ---------------------------------------------- */

static void
watch_signal(int sig)
{
	int	saved = errno;
	char	c = 0;
	ssize_t	n = 0;

	if (sig == SIGWINCH)
		watch_winch = 1;
	else if (sig == SIGTSTP)
		watch_tstp = 1;
	else if (sig == SIGCONT)
		watch_cont = 1;
	else
		watch_quit = sig;
	if (watch_wake_fd != -1)
		n = write(watch_wake_fd, &c, 1);
	(void)n;
	errno = saved;
}

static void
watch_write(const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(STDOUT_FILENO, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;		/* the terminal is gone */
		p += n;
		len -= (size_t)n;
	}
}

/* stdin: no echo, no line editing, reads that never wait; signals kept. */
static void
watch_term_raw(struct watch *w)
{
	struct termios	t;

	if (!w->tty_in)
		return;
	t = w->saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
		w->raw = true;
}

static void
watch_screen_enter(struct watch *w)
{
	static const char	enter[] = "\033[?1049h\033[?25l\033[H\033[2J";

	watch_term_raw(w);
	watch_write(enter, sizeof enter - 1);
	w->dirty = true;
}

/* Shows the cursor, leaves the alternate screen, restores stdin's modes. */
static void
watch_screen_leave(struct watch *w)
{
	static const char	leave[] = "\033[0m\033[?25h\033[?1049l";

	watch_write(leave, sizeof leave - 1);
	if (w->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &w->saved);
	w->raw = false;
}

static int
watch_signals_install(struct watch *w)
{
	struct sigaction	sa;
	size_t			i;

	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warnx("cannot make a pipe: %s",
		    strerror(errno));
		return -1;
	}
	watch_wake_fd = w->pipe[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = watch_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 6; i++)
		sigaction(watch_signals[i], &sa, &w->old[i]);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
watch_signals_restore(struct watch *w)
{
	size_t	i;

	for (i = 0; i < 6; i++)
		sigaction(watch_signals[i], &w->old[i], NULL);
	watch_wake_fd = -1;
	close(w->pipe[0]);
	close(w->pipe[1]);
}

/* Ctrl-Z: give the terminal back, stop, and take it again on return. */
static void
watch_suspend(struct watch *w)
{
	struct sigaction	sa, old;

	watch_screen_leave(w);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, &old);
	raise(SIGTSTP);
	sigaction(SIGTSTP, &old, NULL);
	watch_screen_enter(w);
}

/* Reads the keys waiting on stdin: q quits, Ctrl-L redraws. */
static void
watch_keys(struct watch *w)
{
	char	keys[64];
	ssize_t	n, i;

	while ((n = read(STDIN_FILENO, keys, sizeof keys)) > 0) {
		for (i = 0; i < n; i++) {
			if (keys[i] == 'q' || keys[i] == 'Q')
				watch_quit = -1;
			else if (keys[i] == '\f') {
				watch_write("\033[2J", 4);
				w->dirty = true;
			}
		}
	}
}

/* Drawing -------------------------------------------------------------- */

static void
watch_header(struct watch *w, struct client_frame *f)
{
	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "taskgate watch");
	client_frame_add(f, CLIENT_PLAIN, "  %s  ", w->c->where);
	switch (w->conn) {
	case WATCH_LIVE:
		client_frame_add(f, CLIENT_GREEN, "%s live", w->utf8 ?
		    "\u25cf" : "*");
		break;
	case WATCH_CONNECTING:
		client_frame_add(f, CLIENT_YELLOW, "connecting");
		break;
	case WATCH_RECONNECTING:
		client_frame_add(f, CLIENT_RED, "reconnecting (attempt %d)%s%s",
		    w->attempts + 1, w->why[0] != '\0' ? ": " : "", w->why);
		break;
	}
	if (w->updated[0] != '\0')
		client_frame_add(f, CLIENT_GREY, "  updated %s", w->updated);
}

/* The whole frame: the header, the overview in detail, RECENT, the help. */
static void
watch_frame(struct watch *w, struct client_frame *f, int cols,
    enum client_detail detail)
{
	size_t	i;

	/* One column spare: a full last column would leave a pending wrap. */
	client_frame_init(f, cols > 1 ? cols - 1 : 1, w->color, w->utf8);
	watch_header(w, f);
	client_frame_line(f);
	client_render_overview(f, w->doc, detail);
	if (w->n_recent > 0) {
		client_frame_line(f);
		client_frame_line(f);
		client_frame_add(f, CLIENT_BOLD, "RECENT");
		for (i = 0; i < w->n_recent; i++) {
			client_frame_line(f);
			client_frame_add(f, w->recent[i].color, "  %s",
			    w->recent[i].text);
		}
	}
	client_frame_line(f);
	client_frame_line(f);
	client_frame_add(f, CLIENT_GREY, "%s to quit", w->tty_in ?
	    "q or Ctrl-C" : "Ctrl-C");
}

static void
watch_draw(struct watch *w)
{
	struct client_frame	f;
	struct winsize		ws;
	struct buf		out;
	enum client_detail	detail;
	int			rows = 24, cols = 80;
	size_t			i, shown;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	/*
	 * Less under each stream until the next actions fit in the window
	 * (they come right after the streams; alerts and RECENT after them).
	 */
	for (detail = CLIENT_ROWS; ; detail++) {
		watch_frame(w, &f, cols, detail);
		/* The "N more lines" notice may take the line after. */
		if (detail == CLIENT_ROWS_ONLY || f.n <= (size_t)rows ||
		    f.next_end + 1 <= (size_t)rows)
			break;
		client_frame_clear(&f);
	}

	buf_init(&out, 0);
	buf_add(&out, "\033[H", 3);
	shown = f.n <= (size_t)rows ? f.n : (size_t)rows;
	for (i = 0; i < shown; i++) {
		if (i > 0)
			buf_add(&out, "\r\n", 2);
		if (i + 1 == shown && shown < f.n) {
			struct client_frame more;

			client_frame_init(&more, f.max, w->color, w->utf8);
			client_frame_add(&more, CLIENT_GREY, "... %zu more "
			    "lines: make the window taller", f.n - shown + 1);
			buf_add(&out, more.lines[0].data, more.lines[0].len);
			client_frame_clear(&more);
		} else if (f.lines[i].len > 0)
			buf_add(&out, f.lines[i].data, f.lines[i].len);
		buf_add(&out, "\033[K", 3);
	}
	buf_add(&out, "\033[J", 3);
	watch_write(out.data, out.len);
	buf_clear(&out);
	client_frame_clear(&f);
}

/* Events -------------------------------------------------------------- */

static void
watch_now(char *out, size_t len)
{
	time_t		t = time(NULL);
	struct tm	tm;

	out[0] = '\0';
	if (localtime_r(&t, &tm) != NULL)
		strftime(out, len, "%H:%M:%S", &tm);
}

static const char *
watch_str(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "?";
}

/* Whether a stream event's counts of done and all tasks are as before. */
static bool
watch_same_progress(json_t *d, json_t *prev)
{
	static const char *const keys[] = { "completedTasks", "totalTasks" };
	size_t	i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (json_integer_value(json_object_get(d, keys[i])) !=
		    json_integer_value(json_object_get(prev, keys[i])))
			return false;
	return true;
}

/*
 * "12:00:01  Stream-B: 1 in progress (was 0), 0 pending (was 1)" for a
 * stream event whose progress stayed (new), or NULL when none of the
 * counts it has a previous value of changed: no change to list.
 */
static char *
watch_moved(const char *at, json_t *d, json_t *prev)
{
	static const struct {
		const char	*key, *word;
	} counts[] = {
		{ "inProgressTasks", "in progress" },
		{ "blockedTasks", "blocked" },
		{ "pendingTasks", "pending" },
	};
	struct buf	 b;
	json_t		*was;
	size_t		 i;
	char		*part, *text;
	bool		 any = false;

	buf_init(&b, 0);
	for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		was = json_object_get(prev, counts[i].key);
		if (!json_is_integer(was) || json_integer_value(was) ==
		    json_integer_value(json_object_get(d, counts[i].key)))
			continue;
		xasprintf(&part, "%s%lld %s (was %lld)", any ? ", " : ": ",
		    (long long)json_integer_value(json_object_get(d,
		    counts[i].key)), counts[i].word,
		    (long long)json_integer_value(was));
		buf_add(&b, part, strlen(part));
		free(part);
		any = true;
	}
	if (!any) {
		buf_clear(&b);
		return NULL;
	}
	xasprintf(&text, "%s  %s%s", at, json_string_value(json_object_get(d,
	    "streamId")) != NULL ? json_string_value(json_object_get(d,
	    "streamId")) : "?", b.data);
	buf_clear(&b);
	return text;
}

/* Adds one event to the Recent lines, as a sentence. */
static void
watch_recent(struct watch *w, const char *type, json_t *d)
{
	struct watch_recent	*r;
	json_t			*prev = json_object_get(d, "previous");
	char			 at[16], *text = NULL, *tail = NULL;
	enum client_color	 color = CLIENT_PLAIN;
	const char		*st;

	watch_now(at, sizeof at);
	if (strcmp(type, "stream") == 0 && json_is_object(prev) &&
	    watch_same_progress(d, prev)) {
		/* The tasks moved, not the progress: say which moved. */
		if ((text = watch_moved(at, d, prev)) == NULL)
			return;
	} else if (strcmp(type, "stream") == 0) {
		if (json_is_object(prev))
			xasprintf(&tail, ", was %lld%%", (long long)
			    json_integer_value(json_object_get(prev,
			    "progressPercentage")));
		xasprintf(&text, "%s  %s %lld/%lld tasks (%lld%%%s)", at,
		    watch_str(d, "streamId"), (long long)json_integer_value(
		    json_object_get(d, "completedTasks")), (long long)
		    json_integer_value(json_object_get(d, "totalTasks")),
		    (long long)json_integer_value(json_object_get(d,
		    "progressPercentage")), tail != NULL ? tail : "");
	} else if (strcmp(type, "state") == 0) {
		st = watch_str(d, "state");
		color = strcmp(st, "ok") == 0 ? CLIENT_GREEN : CLIENT_RED;
		xasprintf(&text, "%s  %s is %s (was %s)%s%s", at,
		    watch_str(d, "streamId"), st, watch_str(d, "previous"),
		    json_string_value(json_object_get(json_object_get(d,
		    "evidence"), "reason")) != NULL ? ": " : "",
		    json_string_value(json_object_get(json_object_get(d,
		    "evidence"), "reason")) != NULL ? json_string_value(
		    json_object_get(json_object_get(d, "evidence"),
		    "reason")) : "");
	} else if (strcmp(type, "session") == 0) {
		color = CLIENT_CYAN;
		if (json_is_integer(json_object_get(d, "exitStatus")))
			xasprintf(&tail, " (exit %lld)", (long long)
			    json_integer_value(json_object_get(d,
			    "exitStatus")));
		xasprintf(&text, "%s  %s %s by %s%s%s%s", at,
		    watch_str(d, "streamId"), watch_str(d, "event"),
		    watch_str(d, "actor"), json_is_string(json_object_get(d,
		    "window")) ? " in window " : "",
		    json_is_string(json_object_get(d, "window")) ?
		    watch_str(d, "window") : "", tail != NULL ? tail : "");
	} else {
		st = watch_str(d, "status");
		color = strcmp(st, "up") == 0 ? CLIENT_GREEN : CLIENT_RED;
		xasprintf(&text, "%s  upstream %s%s%s", at, st,
		    json_is_string(json_object_get(d, "error")) ? ": " : "",
		    json_is_string(json_object_get(d, "error")) ?
		    watch_str(d, "error") : "");
	}
	free(tail);
	if (w->n_recent == WATCH_RECENT) {
		free(w->recent[0].text);
		memmove(&w->recent[0], &w->recent[1],
		    (WATCH_RECENT - 1) * sizeof w->recent[0]);
		w->n_recent--;
	}
	r = &w->recent[w->n_recent++];
	r->text = text;
	r->color = color;
}

/* Takes a new overview (stolen) if it looks like one. */
static void
watch_take_doc(struct watch *w, json_t *doc)
{
	if (!json_is_object(doc) || !json_is_array(json_object_get(doc,
	    "streams"))) {
		json_decref(doc);
		return;
	}
	json_decref(w->doc);
	w->doc = doc;
	watch_now(w->updated, sizeof w->updated);
	w->dirty = true;
}

/* One whole event has been read: act on it. */
static void
watch_dispatch(struct watch *w)
{
	struct watch_sse	*p = &w->p;
	const char		*type = p->event[0] != '\0' ? p->event :
				    "message";
	json_t			*d;

	if (p->id_seen)
		snprintf(w->last_id, sizeof w->last_id, "%s", p->id);
	p->id_seen = false;
	if (p->data.len == 0) {
		p->event[0] = '\0';
		return;
	}
	d = json_loadb(p->data.data, p->data.len, 0, NULL);
	if (strcmp(type, "snapshot") == 0) {
		watch_take_doc(w, json_incref(d));
		w->snapshot_seen = true;
		w->conn = WATCH_LIVE;
		w->attempts = 0;
		w->backoff_ms = w->retry_ms;
		w->why[0] = '\0';
		w->dirty = true;
	} else if (json_is_object(d) && (strcmp(type, "stream") == 0 ||
	    strcmp(type, "state") == 0 || strcmp(type, "session") == 0 ||
	    strcmp(type, "upstream") == 0)) {
		watch_recent(w, type, d);
		if (w->snapshot_seen)
			w->want_fetch = true;
		w->dirty = true;
	}
	json_decref(d);
	p->data.len = 0;
	p->data.data[0] = '\0';
	p->event[0] = '\0';
}

/* One line of the stream; -1 to drop the connection. */
static int
watch_line(struct watch *w, const char *l, size_t len)
{
	struct watch_sse	*p = &w->p;
	const char		*colon, *v;
	size_t			 flen, vlen;
	long			 ms;

	if (len == 0) {
		watch_dispatch(w);
		return 0;
	}
	if (l[0] == ':')
		return 0;		/* a comment: the heartbeat */
	colon = memchr(l, ':', len);
	flen = colon != NULL ? (size_t)(colon - l) : len;
	v = colon != NULL ? colon + 1 : l + len;
	if (v < l + len && *v == ' ')
		v++;
	vlen = (size_t)(l + len - v);
	if (flen == 4 && memcmp(l, "data", 4) == 0) {
		if ((p->data.len > 0 && buf_add(&p->data, "\n", 1) == -1) ||
		    buf_add(&p->data, v, vlen) == -1)
			return -1;
	} else if (flen == 5 && memcmp(l, "event", 5) == 0) {
		if (vlen >= sizeof p->event)
			vlen = sizeof p->event - 1;
		memcpy(p->event, v, vlen);
		p->event[vlen] = '\0';
	} else if (flen == 2 && memcmp(l, "id", 2) == 0) {
		if (vlen < sizeof p->id && memchr(v, '\0', vlen) == NULL) {
			memcpy(p->id, v, vlen);
			p->id[vlen] = '\0';
			p->id_seen = true;
		}
	} else if (flen == 5 && memcmp(l, "retry", 5) == 0) {
		if (vlen > 0 && vlen < 8 && strspn(v, "0123456789") >= vlen) {
			ms = strtol(v, NULL, 10);
			w->retry_ms = ms < 100 ? 100 : ms > WATCH_RETRY_MAX_MS ?
			    WATCH_RETRY_MAX_MS : ms;
		}
	}
	return 0;
}

/* libcurl's write callback for the stream: splits lines, parses them. */
static size_t
watch_stream_write(char *data, size_t size, size_t n, void *arg)
{
	struct watch	*w = arg;
	struct watch_sse *p = &w->p;
	size_t		 len = size * n, i = 0, j;

	if (w->sse_status == 0)
		curl_easy_getinfo(w->sse, CURLINFO_RESPONSE_CODE,
		    &w->sse_status);
	if (w->sse_status != 200) {
		buf_add(&w->sse_error, data, len);	/* capped: cut short */
		return len;
	}
	while (i < len) {
		if (p->cr && data[i] == '\n') {
			p->cr = false;
			i++;
			continue;
		}
		p->cr = false;
		for (j = i; j < len && data[j] != '\n' && data[j] != '\r'; j++)
			;
		if (j > i && buf_add(&p->line, data + i, j - i) == -1)
			return 0;	/* a line over the cap */
		if (j == len)
			break;
		p->cr = data[j] == '\r';
		if (watch_line(w, p->line.data != NULL ? p->line.data : "",
		    p->line.len) == -1)
			return 0;
		p->line.len = 0;
		if (p->line.data != NULL)
			p->line.data[0] = '\0';
		i = j + 1;
	}
	return len;
}

static size_t
watch_fetch_write(char *data, size_t size, size_t n, void *arg)
{
	struct watch	*w = arg;

	if (buf_add(&w->fetch_body, data, size * n) == -1)
		return 0;
	return size * n;
}

/* The connection ------------------------------------------------------- */

static void
watch_sse_reset(struct watch *w)
{
	buf_clear(&w->p.line);
	buf_clear(&w->p.data);
	buf_clear(&w->sse_error);
	memset(&w->p, 0, sizeof w->p);
	buf_init(&w->p.line, WATCH_LINE_MAX);
	buf_init(&w->p.data, WATCH_DATA_MAX);
	buf_init(&w->sse_error, WATCH_ERROR_MAX);
	w->sse_status = 0;
	w->snapshot_seen = false;
}

static void
watch_schedule(struct watch *w, const char *why)
{
	if (w->conn == WATCH_LIVE) {
		w->attempts = 0;
		w->backoff_ms = w->retry_ms;
	} else {
		w->attempts++;
		w->backoff_ms = w->backoff_ms * 2 > WATCH_RETRY_MAX_MS ?
		    WATCH_RETRY_MAX_MS : w->backoff_ms * 2;
	}
	snprintf(w->why, sizeof w->why, "%s", why);
	w->conn = WATCH_RECONNECTING;
	w->reconnect_at = clock_mono() + (double)w->backoff_ms / 1000.0;
	w->dirty = true;
}

/* Opens the event stream, with Last-Event-ID when an event had an id. */
static void
watch_connect(struct watch *w)
{
	char	header[64];

	w->reconnect_at = 0;
	watch_sse_reset(w);
	w->sse = client_conn_easy(w->c, "/api/events", false,
	    "text/event-stream", &w->sse_headers);
	if (w->sse == NULL) {
		watch_schedule(w, "cannot set up a request");
		return;
	}
	if (w->last_id[0] != '\0') {
		snprintf(header, sizeof header, "Last-Event-ID: %s",
		    w->last_id);
		w->sse_headers = curl_slist_append(w->sse_headers, header);
		curl_easy_setopt(w->sse, CURLOPT_HTTPHEADER, w->sse_headers);
	}
	curl_easy_setopt(w->sse, CURLOPT_WRITEFUNCTION, watch_stream_write);
	curl_easy_setopt(w->sse, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->sse, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(w->sse, CURLOPT_LOW_SPEED_TIME, WATCH_SILENCE_S);
	curl_easy_setopt(w->sse, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_multi_add_handle(w->multi, w->sse);
}

/* Asks for a fresh overview, the answer to an event. */
static void
watch_fetch(struct watch *w)
{
	w->want_fetch = false;
	buf_clear(&w->fetch_body);
	buf_init(&w->fetch_body, TASKGATE_MAX_UPSTREAM);
	w->fetch = client_conn_easy(w->c, "/api/overview", false,
	    "application/json", &w->fetch_headers);
	if (w->fetch == NULL)
		return;
	curl_easy_setopt(w->fetch, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(w->fetch, CURLOPT_WRITEFUNCTION, watch_fetch_write);
	curl_easy_setopt(w->fetch, CURLOPT_WRITEDATA, w);
	curl_multi_add_handle(w->multi, w->fetch);
}

static void
watch_drop(struct watch *w, CURL **e, struct curl_slist **h)
{
	if (*e != NULL) {
		curl_multi_remove_handle(w->multi, *e);
		curl_easy_cleanup(*e);
	}
	curl_slist_free_all(*h);
	*e = NULL;
	*h = NULL;
}

/* A transfer has ended: the stream (reconnect) or an overview (draw). */
static void
watch_done(struct watch *w, CURL *e, CURLcode rc)
{
	json_t		*err;
	const char	*msg;
	char		 why[256];
	long		 status = 0;

	if (e == w->fetch) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && status == 200)
			watch_take_doc(w, json_loadb(w->fetch_body.data != NULL ?
			    w->fetch_body.data : "", w->fetch_body.len, 0,
			    NULL));
		watch_drop(w, &w->fetch, &w->fetch_headers);
		return;
	}
	if (e != w->sse)
		return;
	if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR)
		snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
	else if (rc == CURLE_WRITE_ERROR)
		snprintf(why, sizeof why, "an event over %d MiB",
		    WATCH_DATA_MAX / (1024 * 1024));
	else if (w->sse_status != 200) {
		err = json_loadb(w->sse_error.data != NULL ? w->sse_error.data :
		    "", w->sse_error.len, 0, NULL);
		msg = json_string_value(json_object_get(err, "error"));
		snprintf(why, sizeof why, "status %ld%s%s", w->sse_status,
		    msg != NULL ? ": " : "", msg != NULL ? msg : "");
		json_decref(err);
	} else
		snprintf(why, sizeof why, "the daemon ended the stream");
	watch_drop(w, &w->sse, &w->sse_headers);
	watch_schedule(w, why);
}

/* The loop ------------------------------------------------------------- */

static int
watch_timeout(struct watch *w)
{
	double	left;

	if (w->sse != NULL || w->reconnect_at <= 0)
		return WATCH_IDLE_MS;
	left = (w->reconnect_at - clock_mono()) * 1000.0;
	if (left <= 0)
		return 0;
	return left > WATCH_IDLE_MS ? WATCH_IDLE_MS : (int)left + 1;
}

static void
watch_loop(struct watch *w)
{
	struct curl_waitfd	 fds[2];
	CURLMsg			*m;
	char			 drain[64];
	int			 nfds, running, left;

	watch_connect(w);
	while (watch_quit == 0) {
		if (w->dirty) {
			w->dirty = false;
			watch_draw(w);
		}
		memset(fds, 0, sizeof fds);
		fds[0].fd = w->pipe[0];
		fds[0].events = CURL_WAIT_POLLIN;
		nfds = 1;
		if (w->tty_in) {
			fds[1].fd = STDIN_FILENO;
			fds[1].events = CURL_WAIT_POLLIN;
			nfds = 2;
		}
		if (curl_multi_poll(w->multi, fds, (unsigned int)nfds,
		    watch_timeout(w), NULL) != CURLM_OK)
			break;
		while (read(w->pipe[0], drain, sizeof drain) > 0)
			;
		if (nfds == 2 && fds[1].revents != 0)
			watch_keys(w);
		if (watch_quit != 0)
			break;
		if (watch_tstp) {
			watch_tstp = 0;
			watch_suspend(w);
			watch_cont = 0;		/* watch_suspend() redrew */
		}
		if (watch_cont) {
			watch_cont = 0;
			watch_screen_enter(w);
		}
		if (watch_winch) {
			watch_winch = 0;
			w->dirty = true;
		}
		curl_multi_perform(w->multi, &running);
		while ((m = curl_multi_info_read(w->multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE)
				watch_done(w, m->easy_handle, m->data.result);
		if (w->want_fetch && w->fetch == NULL)
			watch_fetch(w);
		if (w->sse == NULL && w->reconnect_at > 0 &&
		    clock_mono() >= w->reconnect_at)
			watch_connect(w);
	}
}

static void
watch_clear(struct watch *w)
{
	size_t	i;

	watch_drop(w, &w->sse, &w->sse_headers);
	watch_drop(w, &w->fetch, &w->fetch_headers);
	if (w->multi != NULL)
		curl_multi_cleanup(w->multi);
	buf_clear(&w->p.line);
	buf_clear(&w->p.data);
	buf_clear(&w->sse_error);
	buf_clear(&w->fetch_body);
	for (i = 0; i < w->n_recent; i++)
		free(w->recent[i].text);
	json_decref(w->doc);
}

/*
 * Runs the live view until q, Ctrl-C, SIGTERM or SIGHUP.  Returns the
 * exit status: 0 after a clean exit (the terminal restored), 1 when the
 * daemon refuses the first overview, 2 when stdout is not a terminal or
 * no daemon answers at the start (one line on stderr each).
 */
int
client_watch(struct client_conn *c, bool color)
{
	struct client_reply	r;
	struct watch		w;
	int			rc;

	if (!isatty(STDOUT_FILENO)) {
		log_warnx("watch needs a terminal; 'taskgate "
		    "status' prints a one-shot report");
		return 2;
	}
	if ((rc = client_conn_get_overview(c, 30000L, &r)) != 0)
		return rc;
	memset(&w, 0, sizeof w);
	w.c = c;
	w.color = color;
	w.utf8 = termtext_utf8_locale();
	w.retry_ms = w.backoff_ms = WATCH_RETRY_MS;
	w.conn = WATCH_CONNECTING;
	watch_take_doc(&w, json_incref(r.json));
	client_conn_reply_clear(&r);
	if ((w.multi = curl_multi_init()) == NULL) {
		log_warnx("cannot initialise libcurl");
		watch_clear(&w);
		return 2;
	}
	if (watch_signals_install(&w) == -1) {
		watch_clear(&w);
		return 2;
	}
	w.tty_in = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO,
	    &w.saved) == 0;
	watch_quit = watch_winch = watch_tstp = watch_cont = 0;
	watch_screen_enter(&w);
	watch_loop(&w);
	watch_screen_leave(&w);
	watch_signals_restore(&w);
	watch_clear(&w);
	return 0;
}
