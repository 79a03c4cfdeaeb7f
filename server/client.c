/*
 * client.c: the verbs that talk to a running daemon -- `taskgate status`,
 * `start ID`, `stop ID`, `recover ID` and `run` -- and what `watch`
 * (client-watch.c) shares with them: finding the daemon, reading the
 * token, one request over libcurl, and the overview as terminal text.
 * It binds no socket, starts no process and never writes a file.
 *
 * Finding the daemon.  --listen ADDR / TASKGATE_LISTEN takes what serve
 * takes (127.0.0.1:PORT, [::1]:PORT, unix:/path; default 127.0.0.1:9191);
 * a wildcard address (0.0.0.0, [::]) is reached on loopback.  The token
 * is read from --token-file / TASKGATE_TOKEN_FILE (default
 * $XDG_STATE_HOME/taskgate/token, else ~/.local/state/taskgate/token)
 * and never created here: only serve makes it.  It is sent as
 * "Authorization: Bearer" with the actions, and with every request when
 * the address is not a loopback one (such a daemon runs --allow-remote
 * and wants it everywhere).  --force has no environment twin on purpose:
 * an exported variable would silently open the gates of every later
 * start.
 *
 * Requests.  libcurl easy, synchronous: http only, no redirects, 5 s to
 * connect, 30 s for a read and 120 s for an action (recover asks the
 * upstream for a checkpoint, then restarts a window); replies are capped
 * at 8 MiB.
 *
 * Text.  Every string taken from the daemon (much of it the upstream's,
 * so anyone's) goes through client_safe_text(), which drops control
 * characters and whole escape sequences (ESC [ ..., ESC ] ... BEL, DCS,
 * the C1 forms, bidirectional overrides), so nothing printed can move
 * the cursor, retitle the window or reorder a line; lines are cut at a
 * width counted in terminal columns.
 *
 * Exit status: 0 done; 1 the daemon refused or failed the request (its
 * "error", then each of its "reasons", on stderr); 2 a usage error, a
 * token file that cannot be read, no daemon answering, or an answer that
 * is not taskgate's.  Each error is one line starting "taskgate: ".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <curl/curl.h>

#include "config.h"
#include "taskgate.h"

#define CLIENT_DEFAULT_LISTEN	"127.0.0.1:9191"
#define CLIENT_CONNECT_MS	5000L
#define CLIENT_READ_MS		30000L
#define CLIENT_ACTION_MS	120000L
#define CLIENT_BAR		20	/* progress bar width, columns */

enum client_opt {
	CL_LISTEN = 256, CL_TOKEN_FILE, CL_JSON, CL_NO_COLOR, CL_FORCE,
	CL_DRY_RUN, CL_HELP
};
#define CL_BIT(o)	(1u << ((o) - CL_LISTEN))

/* What the flags, their twins and the operand say; strings owned. */
struct client_args {
	char		*listen;
	char		*token_file;
	bool		 json;
	bool		 no_color;
	bool		 force;
	bool		 dry_run;
	const char	*id;		/* the operand, borrowed from argv */
};

struct client_verb;
typedef int (*client_run_fn)(struct client *, const struct client_verb *,
    struct client_args *);

struct client_verb {
	const char	*name;
	const char	*synopsis;
	const char	*about;
	unsigned int	 opts;		/* CL_BIT()s of the flags it takes */
	bool		 takes_id;
	client_run_fn	 run;
};

static const struct verb_flag client_rows[] = {
	{ "listen", required_argument, CL_LISTEN, "TASKGATE_LISTEN", "ADDR",
	  "the daemon's address: 127.0.0.1:PORT, [::1]:PORT or unix:/path "
	  "(default " CLIENT_DEFAULT_LISTEN ")" },
	{ "token-file", required_argument, CL_TOKEN_FILE,
	  "TASKGATE_TOKEN_FILE", "PATH", "the daemon's access token "
	  "(default $XDG_STATE_HOME/taskgate/token); made by serve only" },
	{ "json", no_argument, CL_JSON, "TASKGATE_JSON", NULL,
	  "print the overview document as the daemon sends it" },
	{ "no-color", no_argument, CL_NO_COLOR, "TASKGATE_NO_COLOR", NULL,
	  "no colours (there are none either when NO_COLOR is set or the "
	  "output is not a terminal)" },
	{ "force", no_argument, CL_FORCE, NULL, NULL,
	  "start: skip the dependency and phase-order gates; recover: go past "
	  "the recovery\n      budget and backoff.  Never read from the "
	  "environment, on purpose" },
	{ "dry-run", no_argument, CL_DRY_RUN, "TASKGATE_DRY_RUN", NULL,
	  "print the tmux commands it would run, one per line; change "
	  "nothing" },
	{ "help", no_argument, CL_HELP, NULL, NULL, "show this help" },
};
#define CLIENT_NROWS	(sizeof client_rows / sizeof client_rows[0])

static int	client_status(struct client *, const struct client_verb *,
		    struct client_args *);
static int	client_watch_verb(struct client *, const struct client_verb *,
		    struct client_args *);
static int	client_act(struct client *, const struct client_verb *,
		    struct client_args *);

#define CL_CONN	(CL_BIT(CL_LISTEN) | CL_BIT(CL_TOKEN_FILE) | CL_BIT(CL_HELP))

static const struct client_verb client_verbs[] = {
	{ "status", "[--json] [--no-color] [--listen ADDR]",
	  "Prints a one-shot report from GET /api/overview: the upstream, the "
	  "overall\nprogress, the streams by phase (progress, counts, status "
	  "and health state,\ndependencies, agent, session), alerts and the "
	  "suggested next actions.",
	  CL_CONN | CL_BIT(CL_JSON) | CL_BIT(CL_NO_COLOR), false,
	  client_status },
	{ "watch", "[--no-color] [--listen ADDR]",
	  "A live full-screen view fed by the daemon's event stream (GET "
	  "/api/events):\nprogress bars, agents, alerts and the connection. "
	  "Press q or Ctrl-C to leave.",
	  CL_CONN | CL_BIT(CL_NO_COLOR), false, client_watch_verb },
	{ "start", "ID [--force] [--dry-run] [--listen ADDR]",
	  "Starts the agent window of stream ID (POST "
	  "/api/streams/ID/start).",
	  CL_CONN | CL_BIT(CL_FORCE) | CL_BIT(CL_DRY_RUN), true, client_act },
	{ "stop", "ID [--dry-run] [--listen ADDR]",
	  "Kills the agent window of stream ID (POST /api/streams/ID/stop).",
	  CL_CONN | CL_BIT(CL_DRY_RUN), true, client_act },
	{ "recover", "ID [--force] [--dry-run] [--listen ADDR]",
	  "Asks the upstream for a checkpoint, then restarts the window of "
	  "stream ID\n(POST /api/streams/ID/recover).",
	  CL_CONN | CL_BIT(CL_FORCE) | CL_BIT(CL_DRY_RUN), true, client_act },
	{ "run", "[--dry-run] [--listen ADDR]",
	  "Starts every stream the gates allow, in plan order, within the "
	  "parallel limit,\nand recovers the stuck streams whose windows "
	  "taskgate started (POST /api/run).",
	  CL_CONN | CL_BIT(CL_DRY_RUN), false, client_act },
};
#define CLIENT_NVERBS	(sizeof client_verbs / sizeof client_verbs[0])

/* Arguments ------------------------------------------------------------- */

/* The flags verb v takes, as verb.c takes them; returns how many. */
static size_t
client_flags(const struct client_verb *v, const struct verb_flag **flags)
{
	size_t	i, n = 0;

	for (i = 0; i < CLIENT_NROWS && n < VERB_FLAGS_MAX; i++)
		if (v->opts & CL_BIT(client_rows[i].id))
			flags[n++] = &client_rows[i];
	return n;
}

static void
client_usage(const struct client_verb *v, FILE *f)
{
	const struct verb_flag	*flags[VERB_FLAGS_MAX];

	fprintf(f, "usage: taskgate %s %s\n\n%s\n\noptions (each also read "
	    "from the environment variable shown):\n", v->name, v->synopsis,
	    v->about);
	verb_usage(flags, client_flags(v, flags), f);
	fprintf(f, "\nExit status: 0 done, 1 the daemon refused (its reasons "
	    "on stderr), 2 a usage\nerror or no daemon answering.  See "
	    "taskgate(1).\n");
}

/* Applies one value; from names the flag or variable.  -1 after a line. */
static int
client_apply(void *args, int id, const char *v, const char *from)
{
	struct client_args	*a = args;
	bool			*flag = NULL;

	switch ((enum client_opt)id) {
	case CL_LISTEN:
		free(a->listen);
		a->listen = xstrdup(v);
		return 0;
	case CL_TOKEN_FILE:
		free(a->token_file);
		a->token_file = xstrdup(v);
		return 0;
	case CL_JSON:
		flag = &a->json;
		break;
	case CL_NO_COLOR:
		flag = &a->no_color;
		break;
	case CL_FORCE:
		flag = &a->force;
		break;
	case CL_DRY_RUN:
		flag = &a->dry_run;
		break;
	case CL_HELP:
		return 0;
	}
	if (v == NULL)
		*flag = true;
	else if (options_parse_bool(v, flag) == -1) {
		log_warnx("%s: '%s' is not true or false",
		    from, v);
		return -1;
	}
	return 0;
}

/*
 * Fills a from the environment, then argv (argv[0] is the verb).  Returns
 * 0 to go on, 1 when --help was shown, -1 after printing one line.
 */
static int
client_parse(const struct client_verb *v, struct client_args *a, int argc,
    char **argv)
{
	const struct verb_flag	*flags[VERB_FLAGS_MAX];
	int			 rc;

	memset(a, 0, sizeof *a);
	rc = verb_parse(v->name, flags, client_flags(v, flags), CL_HELP,
	    client_apply, a, argc, argv);
	if (rc == 1)
		client_usage(v, stdout);
	if (rc != 0)
		return rc;
	if (v->takes_id) {
		if (optind >= argc) {
			fprintf(stderr, "taskgate: %s needs a stream id, as in "
			    "'taskgate %s Stream-B'\n", v->name, v->name);
			return -1;
		}
		a->id = argv[optind++];
		if (!valid_stream_id(a->id)) {
			char *e = log_escape(a->id, 80);

			fprintf(stderr, "taskgate: '%s' is not a stream id (1 "
			    "to %d letters, digits, '.', '_' or '-', starting "
			    "with a letter or digit)\n", e, STREAM_ID_MAX);
			free(e);
			return -1;
		}
	}
	return verb_no_more(v->name, argc, argv);
}

static void
client_args_free(struct client_args *a)
{
	free(a->listen);
	free(a->token_file);
	memset(a, 0, sizeof *a);
}

/* Where the token file is by default (new), or NULL without a home. */
static char *
client_default_token_file(void)
{
	const char	*xdg = getenv("XDG_STATE_HOME");
	const char	*home = getenv("HOME");
	char		*p;

	if (xdg != NULL && xdg[0] == '/')
		xasprintf(&p, "%s/taskgate/token", xdg);
	else if (home != NULL && home[0] == '/')
		xasprintf(&p, "%s/.local/state/taskgate/token", home);
	else
		return NULL;
	return p;
}

/* Fills c from the address and token file given; -1 after a line. */
static int
client_setup(struct client *c, const char *listen, const char *token_file)
{
	struct listen_addr	 a;
	char			 err[256], host[INET6_ADDRSTRLEN];
	int			 port;

	memset(c, 0, sizeof *c);
	if (options_parse_listen(listen, &a, err, sizeof err) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	c->token_file = token_file != NULL ? xstrdup(token_file) :
	    client_default_token_file();
	if (a.family == AF_UNIX) {
		c->unix_path = xstrdup(((struct sockaddr_un *)&a.ss)->sun_path);
		c->base = xstrdup("http://localhost");
		xasprintf(&c->where, "unix:%s", c->unix_path);
		return 0;
	}
	if (a.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;

		port = ntohs(s4->sin_port);
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		xasprintf(&c->base, "http://%s:%d", host, port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;

		port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		xasprintf(&c->base, "http://[%s]:%d", host, port);
	}
	if (port == 0) {
		log_warnx("--listen %s: a client needs the "
		    "daemon's port", listen);
		free(c->base);
		free(c->token_file);
		memset(c, 0, sizeof *c);
		return -1;
	}
	c->where = xstrdup(c->base);
	c->remote = !a.loopback;
	return 0;
}

static void
client_free(struct client *c)
{
	free(c->base);
	free(c->unix_path);
	free(c->where);
	free(c->token_file);
	explicit_bzero(c->token, sizeof c->token);
	memset(c, 0, sizeof *c);
}

/* The connection ------------------------------------------------------- */

/*
 * Reads the token into c->token, once.  A client never makes the file:
 * a missing one means no daemon has run with it.  -1 after a line.
 */
int
client_token(struct client *c)
{
	char	data[TASKGATE_TOKEN_HEX + 8];
	ssize_t	n;
	int	fd;

	if (c->token[0] != '\0')
		return 0;
	if (c->token_file == NULL) {
		fprintf(stderr, "taskgate: neither XDG_STATE_HOME nor HOME is "
		    "set: give --token-file\n");
		return -1;
	}
	if ((fd = open(c->token_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		if (errno == ENOENT)
			log_warnx("no token file at %s: start "
			    "'taskgate serve' first (it makes one), or give "
			    "--token-file", c->token_file);
		else
			log_warnx("cannot open token file %s: "
			    "%s", c->token_file, strerror(errno));
		return -1;
	}
	n = read(fd, data, sizeof data - 1);
	close(fd);
	if (n < 0) {
		log_warnx("cannot read token file %s: %s",
		    c->token_file, strerror(errno));
		return -1;
	}
	data[n] = '\0';
	data[strcspn(data, "\r\n")] = '\0';
	if (!valid_token_hex(data)) {
		log_warnx("token file %s does not hold 64 hex "
		    "digits", c->token_file);
		explicit_bzero(data, sizeof data);
		return -1;
	}
	memcpy(c->token, data, TASKGATE_TOKEN_HEX + 1);
	explicit_bzero(data, sizeof data);
	return 0;
}

/*
 * A new easy handle for path on the daemon, with the options every
 * request shares; *headers (new) must outlive it.  accept is the Accept
 * header's value.  With auth (or a remote daemon) the token is sent; NULL
 * after a line when it cannot be read.
 */
void *
client_easy(struct client *c, const char *path, bool auth,
    const char *accept, struct curl_slist **headers)
{
	CURL	*e;
	char	*s;

	*headers = NULL;
	if ((auth || c->remote) && client_token(c) == -1)
		return NULL;
	if ((e = curl_easy_init()) == NULL) {
		fprintf(stderr, "taskgate: cannot initialise libcurl\n");
		return NULL;
	}
	xasprintf(&s, "%s%s", c->base, path);
	curl_easy_setopt(e, CURLOPT_URL, s);
	free(s);
	if (c->unix_path != NULL)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CLIENT_CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "taskgate/" PACKAGE_VERSION);
	xasprintf(&s, "Accept: %s", accept);
	*headers = curl_slist_append(*headers, s);
	free(s);
	if (auth || c->remote) {
		xasprintf(&s, "Authorization: Bearer %s", c->token);
		*headers = curl_slist_append(*headers, s);
		explicit_bzero(s, strlen(s));
		free(s);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
	return e;
}

static size_t
client_receive(char *p, size_t size, size_t n, void *arg)
{
	if (buf_add(arg, p, size * n) == -1)
		return 0;	/* over the cap: libcurl fails the transfer */
	return size * n;
}

/* True when rc says nothing answered at the address. */
static bool
client_unanswered(CURLcode rc, CURL *e)
{
	double	connected = 0;

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(e, CURLINFO_CONNECT_TIME, &connected);
		return connected <= 0;
	default:
		return false;
	}
}

/*
 * Runs METHOD path (an empty body for POST) and fills r.  Returns 0 when
 * the daemon answered, whatever the status, with a JSON body; -1 after
 * one line on stderr (the caller exits 2).
 */
int
client_request(struct client *c, const char *method, const char *path,
    bool auth, long timeout_ms, struct client_reply *r)
{
	struct curl_slist	*h;
	CURL			*e;
	CURLcode		 rc;

	memset(r, 0, sizeof *r);
	buf_init(&r->body, TASKGATE_MAX_UPSTREAM);
	if ((e = client_easy(c, path, auth, "application/json", &h)) == NULL)
		return -1;
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, client_receive);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->body);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK) {
		if (client_unanswered(rc, e))
			log_warnx("no taskgate answers at %s (is "
			    "'taskgate serve' running?)", c->where);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			log_warnx("the taskgate at %s did not "
			    "answer %s %s within %ld s", c->where, method,
			    path, timeout_ms / 1000);
		else if (rc == CURLE_WRITE_ERROR)
			log_warnx("the answer of %s to %s %s is "
			    "over %d MiB", c->where, method, path,
			    TASKGATE_MAX_UPSTREAM / (1024 * 1024));
		else
			log_warnx("%s %s at %s: %s", method,
			    path, c->where, curl_easy_strerror(rc));
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		return -1;
	r->json = json_loadb(r->body.data != NULL ? r->body.data : "",
	    r->body.len, 0, NULL);
	if (!json_is_object(r->json)) {
		log_warnx("%s answered %s %s with status %ld "
		    "and no JSON object: is it taskgate?", c->where, method,
		    path, r->status);
		return -1;
	}
	return 0;
}

void
client_reply_free(struct client_reply *r)
{
	buf_free(&r->body);
	json_decref(r->json);
	memset(r, 0, sizeof *r);
}

/* A daemon's string, made safe for a terminal (new). */
static char *
client_safe(const char *s)
{
	struct buf	b;
	int		w = 0;

	buf_init(&b, 0);
	client_safe_text(s != NULL ? s : "", client_utf8_locale() == 1, &b,
	    0, &w);
	return buf_steal(&b, NULL);
}

/*
 * Prints a refusal: "taskgate: WHAT: ERROR" and each reason on its own
 * line, on stderr.
 */
/*
 * GET /api/overview into r: 0, or the exit status after one line on
 * stderr (1 the daemon refused, 2 none answered), r then freed.
 */
int
client_get_overview(struct client *c, long timeout_ms, struct client_reply *r)
{
	if (client_request(c, "GET", "/api/overview", false, timeout_ms,
	    r) == -1) {
		client_reply_free(r);
		return 2;
	}
	if (r->status != 200) {
		client_refused("GET /api/overview", c, r);
		client_reply_free(r);
		return 1;
	}
	return 0;
}

void
client_refused(const char *what, const struct client *c,
    const struct client_reply *r)
{
	json_t		*reasons, *v;
	const char	*error, *code;
	char		*e, fallback[64];
	size_t		 i;

	error = json_string_value(json_object_get(r->json, "error"));
	code = json_string_value(json_object_get(r->json, "code"));
	if (error == NULL) {
		snprintf(fallback, sizeof fallback, "status %ld", r->status);
		error = fallback;
	}
	e = client_safe(error);
	fprintf(stderr, "taskgate: %s: %s", what, e);
	free(e);
	if (code != NULL) {
		e = client_safe(code);
		fprintf(stderr, " (%ld %s)\n", r->status, e);
		free(e);
	} else
		fprintf(stderr, " (%ld)\n", r->status);
	reasons = json_object_get(r->json, "reasons");
	json_array_foreach(reasons, i, v) {
		if (!json_is_string(v))
			continue;
		e = client_safe(json_string_value(v));
		fprintf(stderr, "  - %s\n", e);
		free(e);
	}
	if (r->status == 401) {
		e = log_escape(c->token_file != NULL ? c->token_file :
		    "(none)", 1024);
		fprintf(stderr, "  - the token in %s is not this taskgate's "
		    "(see --token-file)\n", e);
		free(e);
	}
}

/* Safe text ------------------------------------------------------------- */

/* 1 when the locale's character set is UTF-8 (LC_CTYPE set from env). */
int
client_utf8_locale(void)
{
	static int	utf8 = -1;
	const char	*cs;

	if (utf8 == -1) {
		setlocale(LC_CTYPE, "");
		cs = nl_langinfo(CODESET);
		utf8 = cs != NULL && (strcasecmp(cs, "UTF-8") == 0 ||
		    strcasecmp(cs, "utf8") == 0);
	}
	return utf8;
}

/* Decodes the UTF-8 sequence at s into *cp; its length, 0 if invalid. */
static size_t
client_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	uint32_t	c;
	size_t		n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* The length of a control string from s (after its introducer) to ST. */
static size_t
client_skip_string(const unsigned char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == 0x07)
			return i + 1;
		if (s[i] == 0x1b)
			return s[i + 1] == '\\' ? i + 2 : i;
		if (s[i] == 0xc2 && s[i + 1] == 0x9c)
			return i + 2;
	}
	return i;
}

/* The length of CSI parameters and final byte from s. */
static size_t
client_skip_csi(const unsigned char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == 0x1b)
			return i;	/* cut short by a new sequence */
		if (s[i] >= 0x40 && s[i] <= 0x7e)
			return i + 1;
	}
	return i;
}

/* The length of the escape sequence at s, which starts with ESC. */
static size_t
client_skip_escape(const unsigned char *s)
{
	size_t	i;

	switch (s[1]) {
	case '\0':
		return 1;
	case '[':
		return 2 + client_skip_csi(s + 2);
	case ']':
	case 'P':
	case 'X':
	case '^':
	case '_':
		return 2 + client_skip_string(s + 2);
	}
	for (i = 1; s[i] >= 0x20 && s[i] <= 0x2f; i++)
		;	/* intermediates, as in ESC ( B */
	return s[i] != '\0' ? i + 1 : i;
}

/* Invisible characters that reorder or hide text. */
static bool
client_invisible(uint32_t cp)
{
	return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a &&
	    cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

/*
 * Appends the printable part of s to out: control characters and escape
 * sequences dropped, tabs and line breaks made spaces, invalid UTF-8 (and
 * any non-ASCII when the terminal is not UTF-8) shown as a replacement.
 * *width counts columns; with max > 0 it stops before passing max.
 * Returns 1 when it stopped early, else 0.
 */
int
client_safe_text(const char *str, bool utf8, struct buf *out, int max,
    int *width)
{
	const unsigned char	*s = (const unsigned char *)str;
	uint32_t		 cp;
	size_t			 i = 0, n;
	int			 w;
	char			 sp = ' ';

	while (s[i] != '\0') {
		if (s[i] == 0x1b) {
			i += client_skip_escape(s + i);
			continue;
		}
		if ((n = client_utf8_decode(s + i, &cp)) == 0) {
			cp = 0xfffd;
			n = 1;
		}
		if (cp == 0x9b) {
			i += n + client_skip_csi(s + i + n);
			continue;
		}
		if (cp == 0x90 || cp == 0x98 || cp == 0x9d || cp == 0x9e ||
		    cp == 0x9f) {
			i += n + client_skip_string(s + i + n);
			continue;
		}
		if (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x2028 ||
		    cp == 0x2029)
			cp = ' ';
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
		    client_invisible(cp)) {
			i += n;
			continue;
		}
		if (cp < 0x80)
			w = 1;
		else if (!utf8)
			w = 1;
		else if ((w = wcwidth((wchar_t)cp)) < 0)
			w = 1;
		if (max > 0 && *width + w > max)
			return 1;
		if (cp == ' ')
			buf_add(out, &sp, 1);
		else if (cp < 0x80)
			buf_add(out, s + i, 1);
		else if (!utf8)
			buf_add(out, "?", 1);
		else if (cp == 0xfffd)
			buf_add(out, "\xef\xbf\xbd", 3);
		else
			buf_add(out, s + i, n);
		*width += w;
		i += n;
	}
	return 0;
}

/* Frames: lines of safe text ------------------------------------------- */

void
client_frame_init(struct client_frame *f, int max, bool color, bool utf8)
{
	memset(f, 0, sizeof *f);
	f->max = max;
	f->color = color;
	f->utf8 = utf8;
}

void
client_frame_free(struct client_frame *f)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		buf_free(&f->lines[i]);
	free(f->lines);
	memset(f, 0, sizeof *f);
}

/* Starts a new, empty line. */
void
client_frame_line(struct client_frame *f)
{
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 64 : f->cap * 2;
		f->lines = xrealloc(f->lines, f->cap * sizeof *f->lines);
	}
	buf_init(&f->lines[f->n++], 0);
	f->width = 0;
}

static const char *
client_sgr(enum client_color c)
{
	switch (c) {
	case CLIENT_GREEN:
		return "\033[32m";
	case CLIENT_YELLOW:
		return "\033[33m";
	case CLIENT_GREY:
		return "\033[90m";
	case CLIENT_RED:
		return "\033[31m";
	case CLIENT_BOLD:
		return "\033[1m";
	case CLIENT_CYAN:
		return "\033[36m";
	case CLIENT_PLAIN:
		break;
	}
	return NULL;
}

/* Appends formatted text, made safe, to the last line, in colour c. */
void
client_frame_add(struct client_frame *f, enum client_color c,
    const char *fmt, ...)
{
	struct buf	*b;
	const char	*sgr = f->color ? client_sgr(c) : NULL;
	va_list		 ap;
	char		*text;

	if (f->n == 0)
		client_frame_line(f);
	b = &f->lines[f->n - 1];
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	if (sgr != NULL)
		buf_add(b, sgr, strlen(sgr));
	client_safe_text(text, f->utf8, b, f->max, &f->width);
	if (sgr != NULL)
		buf_add(b, "\033[0m", 4);
	free(text);
}

/* Pads the last line with spaces to column col. */
static void
client_frame_pad(struct client_frame *f, int col)
{
	while (f->width < col && (f->max == 0 || f->width < f->max))
		client_frame_add(f, CLIENT_PLAIN, " ");
}

/* The columns s takes once made safe. */
static int
client_text_width(const char *s, bool utf8)
{
	struct buf	b;
	int		w = 0;

	buf_init(&b, 0);
	client_safe_text(s != NULL ? s : "", utf8, &b, 0, &w);
	buf_free(&b);
	return w;
}

/* The overview as text --------------------------------------------------- */

struct client_glyphs {
	const char	*full, *empty;		/* bar cells */
	const char	*fork, *last;		/* tree branches */
	const char	*done, *busy, *idle, *stuck, *alert, *dot;
};

static const struct client_glyphs client_utf8_glyphs = {
	"\u2588", "\u2591", "\u251c\u2500 ", "\u2514\u2500 ",
	"\u2713", "\u25cf", "\u25cb", "\u2717", "\u26a0", "\u00b7"
};

static const struct client_glyphs client_ascii_glyphs = {
	"#", ".", "|- ", "`- ", "+", "*", "o", "x", "!", "-"
};

static const char *
client_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long
client_int(json_t *o, const char *key)
{
	return (long)json_integer_value(json_object_get(o, key));
}

static const char *
client_state_name(json_t *s)
{
	const char	*n = client_str(json_object_get(s, "state"), "name");

	return n != NULL ? n : "ok";
}

/* A stream's colour: its status, or red when its health is not ok. */
static enum client_color
client_stream_color(json_t *s)
{
	const char	*st = client_str(s, "status");

	if (strcmp(client_state_name(s), "ok") != 0)
		return CLIENT_RED;
	if (st == NULL)
		return CLIENT_GREY;
	if (strcmp(st, "completed") == 0)
		return CLIENT_GREEN;
	if (strcmp(st, "in_progress") == 0)
		return CLIENT_YELLOW;
	if (strcmp(st, "blocked") == 0)
		return CLIENT_RED;
	return CLIENT_GREY;
}

static const char *
client_status_word(const char *st)
{
	if (st == NULL || strcmp(st, "pending") == 0)
		return "pending";
	if (strcmp(st, "completed") == 0)
		return "complete";
	if (strcmp(st, "in_progress") == 0)
		return "in progress";
	return st;
}

static const char *
client_icon(const struct client_glyphs *g, json_t *s)
{
	const char	*st = client_str(s, "status");

	if (strcmp(client_state_name(s), "ok") != 0 ||
	    (st != NULL && strcmp(st, "blocked") == 0))
		return g->stuck;
	if (st != NULL && strcmp(st, "completed") == 0)
		return g->done;
	if (st != NULL && strcmp(st, "in_progress") == 0)
		return g->busy;
	return g->idle;
}

static void
client_bar(struct client_frame *f, const struct client_glyphs *g,
    long pct, enum client_color c)
{
	struct buf	b;
	long		fill, i;

	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	fill = pct * CLIENT_BAR / 100;
	buf_init(&b, 0);
	for (i = 0; i < CLIENT_BAR; i++)
		buf_add(&b, i < fill ? g->full : g->empty,
		    strlen(i < fill ? g->full : g->empty));
	client_frame_add(f, c, "%s", b.data);
	client_frame_add(f, c, " %3ld%%", pct);
	buf_free(&b);
}

/* "14m" for the time from then to now (ISO-8601 both), "" if unknown. */
static void
client_ago(const char *then, const char *now, char *out, size_t len)
{
	int64_t	a = clock_parse_ms(then);
	int64_t	b = clock_parse_ms(now);
	int64_t	s;

	out[0] = '\0';
	if (a < 0 || b < 0)
		return;
	s = (b - a) / 1000;
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, len, "%lldm", (long long)(s / 60));
	else if (s < 86400 * 2)
		snprintf(out, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(s / 86400));
}

/* An ISO-8601 time as local HH:MM:SS, "" if unknown. */
static void
client_clock(const char *iso, char *out, size_t len)
{
	int64_t		ms = clock_parse_ms(iso);
	time_t		t;
	struct tm	tm;

	out[0] = '\0';
	if (ms < 0)
		return;
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) != NULL)
		strftime(out, len, "%H:%M:%S", &tm);
}

/* The upstream's URL and state; status adds when taskgate last polled. */
static void
client_upstream_line(struct client_frame *f, json_t *doc, bool polled)
{
	json_t		*u = json_object_get(doc, "upstream");
	const char	*st = client_str(u, "status"), *err;
	char		 at[16];
	bool		 up = st != NULL && strcmp(st, "up") == 0;

	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "Upstream  ");
	client_frame_add(f, CLIENT_PLAIN, "%s ", client_str(u, "url") ?
	    client_str(u, "url") : "?");
	client_frame_add(f, up ? CLIENT_GREEN : CLIENT_RED, "%s",
	    up ? "up" : "down");
	if (!up && (err = client_str(u, "lastError")) != NULL)
		client_frame_add(f, CLIENT_RED, ": %s", err);
	if (!polled)
		return;
	client_clock(client_str(doc, "polledAt"), at, sizeof at);
	if (at[0] != '\0')
		client_frame_add(f, CLIENT_GREY, "  (polled %s)", at);
}

static void
client_overall_line(struct client_frame *f, const struct client_glyphs *g,
    json_t *doc)
{
	json_t		*o = json_object_get(doc, "overall");
	long		 pct = client_int(o, "progressPercentage");
	long		 n = client_int(o, "streams");

	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "Overall   ");
	client_bar(f, g, pct, pct >= 100 ? CLIENT_GREEN : pct > 0 ?
	    CLIENT_YELLOW : CLIENT_GREY);
	client_frame_add(f, CLIENT_PLAIN, "  %ld/%ld tasks in %ld stream%s",
	    client_int(o, "completedTasks"), client_int(o, "totalTasks"), n,
	    n == 1 ? "" : "s");
}

/* "ok", or "no-progress: REASON (WARNINGS)" in red. */
static void
client_state_text(struct client_frame *f, json_t *s, bool warnings)
{
	json_t		*ev = json_object_get(json_object_get(s, "state"),
			    "evidence"), *w;
	const char	*name = client_state_name(s), *reason;
	size_t		 i;

	if (strcmp(name, "ok") == 0) {
		client_frame_add(f, CLIENT_GREEN, "ok");
		return;
	}
	client_frame_add(f, CLIENT_RED, "%s", name);
	if ((reason = client_str(ev, "reason")) != NULL)
		client_frame_add(f, CLIENT_RED, ": %s", reason);
	if (!warnings || json_array_size(json_object_get(ev, "warnings")) == 0)
		return;
	json_array_foreach(json_object_get(ev, "warnings"), i, w)
		client_frame_add(f, CLIENT_RED, "%s%s", i == 0 ? " (" : "; ",
		    json_string_value(w) ? json_string_value(w) : "?");
	client_frame_add(f, CLIENT_RED, ")");
}

static void
client_deps_text(struct client_frame *f, const struct client_glyphs *g,
    json_t *s, bool only_open)
{
	json_t	*deps = json_object_get(s, "dependencies"), *d;
	size_t	 i, shown = 0;

	json_array_foreach(deps, i, d) {
		const char	*st = client_str(d, "status");
		bool		 done = st != NULL && strcmp(st, "completed") == 0;

		if (only_open && done)
			continue;
		client_frame_add(f, CLIENT_PLAIN, "%s%s ", shown++ > 0 ? ", " :
		    "", client_str(d, "streamId") ? client_str(d, "streamId") :
		    "?");
		if (json_object_get(d, "progressPercentage") == NULL ||
		    json_is_null(json_object_get(d, "progressPercentage")))
			client_frame_add(f, CLIENT_RED, "unknown");
		else
			client_frame_add(f, done ? CLIENT_GREEN : CLIENT_YELLOW,
			    "%s%ld%%", done ? g->done : "", client_int(d,
			    "progressPercentage"));
	}
	if (shown == 0)
		client_frame_add(f, CLIENT_GREY, "none");
}

/* "@id Name: activity, active|idle 14m" or "none". */
static void
client_agent_text(struct client_frame *f, const struct client_glyphs *g,
    json_t *s, const char *now)
{
	json_t		*a = json_object_get(s, "agent");
	const char	*what;
	char		 ago[16];
	bool		 active;

	if (!json_is_object(a)) {
		client_frame_add(f, CLIENT_GREY, "none");
		return;
	}
	active = json_is_true(json_object_get(a, "isActive"));
	client_frame_add(f, CLIENT_CYAN, "@%s", client_str(a, "agentId") ?
	    client_str(a, "agentId") : "agent");
	if (client_str(a, "agentName") != NULL)
		client_frame_add(f, CLIENT_CYAN, " %s", client_str(a,
		    "agentName"));
	what = client_str(a, "activityDescription");
	if (what == NULL)
		what = client_str(a, "taskTitle");
	if (what != NULL)
		client_frame_add(f, CLIENT_PLAIN, ": %s", what);
	client_ago(client_str(a, "lastHeartbeat"), now, ago, sizeof ago);
	client_frame_add(f, active ? CLIENT_GREEN : CLIENT_GREY, " %s %s%s%s",
	    g->dot, active ? "active" : "idle", ago[0] ? ", heartbeat " : "",
	    ago);
	if (ago[0] != '\0')
		client_frame_add(f, active ? CLIENT_GREEN : CLIENT_GREY, " ago");
}

/* "window @3 live", "window @3 dead (exit 3)" or "none". */
static void
client_session_text(struct client_frame *f, json_t *s)
{
	json_t		*ss = json_object_get(s, "session");
	const char	*win = client_str(ss, "window");
	long		 tries = client_int(ss, "recoveryAttempts");

	if (!json_is_object(ss) || win == NULL || *win == '\0')
		client_frame_add(f, CLIENT_GREY, "none");
	else if (json_is_true(json_object_get(ss, "dead")))
		client_frame_add(f, CLIENT_RED, "window %s dead (exit %ld)", win,
		    client_int(ss, "exitStatus"));
	else if (json_is_true(json_object_get(ss, "live")))
		client_frame_add(f, CLIENT_GREEN, "window %s live (%s)", win,
		    client_str(ss, "phase") ? client_str(ss, "phase") :
		    "running");
	else
		client_frame_add(f, CLIENT_GREY, "window %s", win);
	if (tries > 0)
		client_frame_add(f, CLIENT_PLAIN, ", %ld of %ld recoveries",
		    tries, client_int(ss, "maxRecoveryAttempts"));
	if (json_is_true(json_object_get(ss, "needsHuman")))
		client_frame_add(f, CLIENT_RED, ", needs a human");
}

/* The gate: "ready: taskgate start ID", "waiting: REASONS", or nothing. */
static bool
client_gate_text(struct client_frame *f, json_t *s)
{
	json_t		*gate = json_object_get(s, "gate"), *r;
	const char	*id = client_str(s, "streamId");
	size_t		 i;

	if (!json_is_object(gate))
		return false;
	if (json_is_true(json_object_get(gate, "canStart"))) {
		client_frame_add(f, CLIENT_GREEN, "ready: taskgate start %s",
		    id);
		return true;
	}
	if (!json_is_true(json_object_get(gate, "forceable")))
		return false;
	client_frame_add(f, CLIENT_YELLOW, "waiting: ");
	json_array_foreach(json_object_get(gate, "reasons"), i, r)
		client_frame_add(f, CLIENT_YELLOW, "%s%s", i > 0 ? "; " : "",
		    json_string_value(r) ? json_string_value(r) : "");
	client_frame_add(f, CLIENT_GREY, " (--force overrides)");
	return true;
}

/* status: a small tree per stream. */
static void
client_stream_tree(struct client_frame *f, const struct client_glyphs *g,
    json_t *s, const char *now)
{
	enum client_color	 c = client_stream_color(s);
	const char		*name = client_str(s, "streamName");
	const char		*st = client_str(s, "status");
	bool			 done = st != NULL && strcmp(st, "completed") ==
				    0;

	client_frame_line(f);
	client_frame_add(f, c, "%s ", client_icon(g, s));
	client_frame_add(f, CLIENT_BOLD, "%s", client_str(s, "streamId"));
	if (name != NULL)
		client_frame_add(f, CLIENT_PLAIN, " (%s)", name);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sProgress  ", g->fork);
	client_bar(f, g, client_int(s, "progressPercentage"), c);
	client_frame_add(f, CLIENT_PLAIN, "  %ld/%ld done", client_int(s,
	    "completedTasks"), client_int(s, "totalTasks"));
	if (!done)
		client_frame_add(f, CLIENT_PLAIN, " %s %ld in progress, %ld "
		    "blocked, %ld pending", g->dot, client_int(s,
		    "inProgressTasks"), client_int(s, "blockedTasks"),
		    client_int(s, "pendingTasks"));

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sStatus    ", g->fork);
	client_frame_add(f, c, "%s", client_status_word(st));
	client_frame_add(f, CLIENT_PLAIN, " %s ", g->dot);
	client_state_text(f, s, true);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sDepends   ", g->fork);
	client_deps_text(f, g, s, false);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sAgent     ", g->fork);
	client_agent_text(f, g, s, now);

	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sSession   ", done ? g->last :
	    g->fork);
	client_session_text(f, s);
	if (done)
		return;
	client_frame_line(f);
	client_frame_add(f, CLIENT_PLAIN, "%sStart     ", g->last);
	if (!client_gate_text(f, s)) {
		json_t	*r;
		size_t	 i;

		json_array_foreach(json_object_get(json_object_get(s, "gate"),
		    "reasons"), i, r)
			client_frame_add(f, CLIENT_GREY, "%s%s", i > 0 ? "; " :
			    "", json_string_value(r) ? json_string_value(r) :
			    "");
		if (i == 0)
			client_frame_add(f, CLIENT_GREY, "-");
	}
}

/* watch: one line per stream, and one under it when there is more. */
static void
client_stream_row(struct client_frame *f, const struct client_glyphs *g,
    json_t *s, const char *now, int id_w, int name_w)
{
	enum client_color	 c = client_stream_color(s);
	const char		*st = client_str(s, "status");
	const char		*name = client_str(s, "streamName");
	json_t			*ss = json_object_get(s, "session");
	bool			 done = st != NULL && strcmp(st, "completed") ==
				    0;
	int			 col, max;

	client_frame_line(f);
	client_frame_add(f, c, "  %s ", client_icon(g, s));
	col = f->width;
	client_frame_add(f, CLIENT_BOLD, "%s", client_str(s, "streamId"));
	client_frame_pad(f, col + id_w + 2);
	col = f->width;
	max = f->max;
	if (f->max == 0 || col + name_w < f->max)
		f->max = col + name_w;		/* a long name is cut */
	client_frame_add(f, CLIENT_PLAIN, "%s", name != NULL ? name : "");
	f->max = max;
	client_frame_pad(f, col + name_w + 2);
	client_bar(f, g, client_int(s, "progressPercentage"), c);
	client_frame_add(f, CLIENT_PLAIN, "  %2ld/%-2ld ", client_int(s,
	    "completedTasks"), client_int(s, "totalTasks"));
	client_frame_add(f, c, "%s", client_status_word(st));
	if (client_int(s, "blockedTasks") > 0 && !done && (st == NULL ||
	    strcmp(st, "blocked") != 0))
		client_frame_add(f, CLIENT_RED, " (%ld blocked)", client_int(s,
		    "blockedTasks"));
	if (json_is_object(ss) && client_str(ss, "window") != NULL &&
	    *client_str(ss, "window") != '\0') {
		client_frame_add(f, CLIENT_PLAIN, " %s ", g->dot);
		client_session_text(f, s);
	}
	if (strcmp(client_state_name(s), "ok") != 0) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "      %s", g->last);
		client_state_text(f, s, false);
	}
	if (json_is_object(json_object_get(s, "agent")) && !done) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "      %s", g->last);
		client_agent_text(f, g, s, now);
	}
	if (!done && json_is_true(json_object_get(json_object_get(s, "gate"),
	    "forceable"))) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "      %s", g->last);
		client_frame_add(f, CLIENT_GREY, "waits for ");
		client_deps_text(f, g, s, true);
	}
}

static void
client_alerts(struct client_frame *f, const struct client_glyphs *g,
    json_t *doc)
{
	json_t	*alerts = json_object_get(doc, "alerts"), *a;
	size_t	 i;

	if (json_array_size(alerts) == 0)
		return;
	client_frame_line(f);
	client_frame_line(f);
	client_frame_add(f, CLIENT_RED, "ALERTS");
	json_array_foreach(alerts, i, a) {
		client_frame_line(f);
		client_frame_add(f, CLIENT_RED, "  %s %s", g->alert,
		    client_str(a, "message") ? client_str(a, "message") : "?");
	}
}

static void
client_next_actions(struct client_frame *f, json_t *doc)
{
	json_t		*acts = json_object_get(doc, "nextActions"), *a;
	const char	*act, *id;
	size_t		 i;

	if (json_array_size(acts) == 0)
		return;
	client_frame_line(f);
	client_frame_line(f);
	client_frame_add(f, CLIENT_BOLD, "NEXT ACTIONS");
	json_array_foreach(acts, i, a) {
		act = client_str(a, "action");
		id = client_str(a, "streamId");
		client_frame_line(f);
		client_frame_add(f, CLIENT_PLAIN, "  %zu. %s%s%s", i + 1,
		    act != NULL ? act : "?", id != NULL ? " " : "",
		    id != NULL ? id : "");
		if (client_str(a, "reason") != NULL)
			client_frame_add(f, CLIENT_PLAIN, ": %s",
			    client_str(a, "reason"));
		if (act != NULL && id != NULL && (strcmp(act, "start") == 0 ||
		    strcmp(act, "recover") == 0))
			client_frame_add(f, CLIENT_GREY, "  (taskgate %s %s)",
			    act, id);
	}
}

static int
client_by_id(const void *a, const void *b)
{
	const char	*x = client_str(*(json_t *const *)a, "streamId");
	const char	*y = client_str(*(json_t *const *)b, "streamId");

	return strcmp(x, y);
}

/* The streams of phase p that have an id, sorted by it (new array). */
static json_t **
client_phase_streams(json_t *streams, enum plan_phase p, size_t *n)
{
	json_t	**out = xcalloc(json_array_size(streams) + 1, sizeof *out);
	json_t	 *s;
	size_t	  i;

	*n = 0;
	json_array_foreach(streams, i, s) {
		if (plan_phase_of(client_str(s, "streamPhase")) == p &&
		    client_str(s, "streamId") != NULL)
			out[(*n)++] = s;
	}
	qsort(out, *n, sizeof *out, client_by_id);
	return out;
}

/*
 * Renders the overview document as lines: the upstream, the overall bar,
 * the streams by phase, alerts, next actions.  compact: one line per
 * stream (watch) instead of a tree (status).
 */
void
client_frame_overview(struct client_frame *f, json_t *doc, bool compact)
{
	const struct client_glyphs *g = f->utf8 ? &client_utf8_glyphs :
	    &client_ascii_glyphs;
	json_t		*streams = json_object_get(doc, "streams"), *s;
	json_t		**phase;
	const char	*now = client_str(doc, "generatedAt");
	int		 id_w = 0, name_w = 0, w;
	size_t		 i, n;
	enum plan_phase	 p;

	json_array_foreach(streams, i, s) {
		if ((w = client_text_width(client_str(s, "streamId"),
		    f->utf8)) > id_w)
			id_w = w;
		if ((w = client_text_width(client_str(s, "streamName"),
		    f->utf8)) > name_w)
			name_w = w;
	}
	if (name_w > 24)
		name_w = 24;
	client_upstream_line(f, doc, !compact);
	client_overall_line(f, g, doc);
	for (p = PLAN_FOUNDATION; p <= PLAN_UNKNOWN; p++) {
		phase = client_phase_streams(streams, p, &n);
		for (i = 0; i < n; i++) {
			s = phase[i];
			if (i == 0) {
				client_frame_line(f);
				client_frame_line(f);
				client_frame_add(f, CLIENT_BOLD, "%s",
				    p == PLAN_FOUNDATION ? "FOUNDATION" :
				    p == PLAN_PARALLEL ? "PARALLEL" :
				    p == PLAN_INTEGRATION ? "INTEGRATION" :
				    "OTHER PHASES");
			} else if (!compact)
				client_frame_line(f);
			if (compact)
				client_stream_row(f, g, s, now, id_w, name_w);
			else
				client_stream_tree(f, g, s, now);
		}
		free(phase);
	}
	if (json_array_size(streams) == 0) {
		client_frame_line(f);
		client_frame_line(f);
		client_frame_add(f, CLIENT_GREY, "No streams yet: taskgate has "
		    "not read them from Task Copilot, or it has none.");
	}
	client_alerts(f, g, doc);
	client_next_actions(f, doc);
}

/* status -------------------------------------------------------------- */

/* Whether to colour stdout: a terminal, no --no-color, no NO_COLOR. */
static bool
client_want_color(const struct client_args *a)
{
	const char	*nc = getenv("NO_COLOR");

	return !a->no_color && (nc == NULL || *nc == '\0') &&
	    isatty(STDOUT_FILENO);
}

static int
client_status(struct client *c, const struct client_verb *v,
    struct client_args *a)
{
	struct client_reply	r;
	struct client_frame	f;
	size_t			i;
	int			rc;

	if ((rc = client_get_overview(c, CLIENT_READ_MS, &r)) != 0)
		return rc;
	if (a->json) {
		fwrite(r.body.data, 1, r.body.len, stdout);
		if (r.body.len == 0 || r.body.data[r.body.len - 1] != '\n')
			putchar('\n');
		client_reply_free(&r);
		return 0;
	}
	client_frame_init(&f, 0, client_want_color(a),
	    client_utf8_locale() == 1);
	client_frame_overview(&f, r.json, false);
	for (i = 0; i < f.n; i++)
		printf("%s\n", f.lines[i].data != NULL ? f.lines[i].data : "");
	client_frame_free(&f);
	client_reply_free(&r);
	return 0;
}

static int
client_watch_verb(struct client *c, const struct client_verb *v,
    struct client_args *a)
{
	return client_watch(c, client_want_color(a));
}

/* Actions -------------------------------------------------------------- */

/* Appends s quoted for a POSIX shell, only when it needs quoting. */
static void
client_shell_quote(struct buf *b, const char *s)
{
	static const char	 safe[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				    "@%+=:,./-_";
	char			*text = client_safe(s);
	const char		*p;

	if (*text != '\0' && strspn(text, safe) == strlen(text)) {
		buf_add(b, text, strlen(text));
		free(text);
		return;
	}
	buf_add(b, "'", 1);
	for (p = text; *p != '\0'; p++) {
		if (*p == '\'')
			buf_add(b, "'\\''", 4);
		else
			buf_add(b, p, 1);
	}
	buf_add(b, "'", 1);
	free(text);
}

/* Prints each argument vector of argv, one command per line. */
static void
client_print_argv(json_t *argv)
{
	json_t		*cmd, *arg;
	struct buf	 b;
	size_t		 i, j;

	json_array_foreach(argv, i, cmd) {
		buf_init(&b, 0);
		json_array_foreach(cmd, j, arg) {
			if (j > 0)
				buf_add(&b, " ", 1);
			client_shell_quote(&b, json_string_value(arg) ?
			    json_string_value(arg) : "");
		}
		printf("%s\n", b.data != NULL ? b.data : "");
		buf_free(&b);
	}
}

/* One started (or would-be started) stream of a start, recover or run. */
static void
client_print_started(json_t *o, const char *verb, bool dry)
{
	char	*id = client_safe(client_str(o, "streamId"));
	char	*win = client_safe(client_str(o, "window"));
	char	*dir = client_safe(client_str(o, "directory"));

	if (dry) {
		printf("# dry run: would %s %s%s%s\n", verb, id,
		    *dir != '\0' ? " in " : "", dir);
		client_print_argv(json_object_get(o, "argv"));
	} else
		printf("%s %s in window %s (%s)", strcmp(verb, "start") == 0 ?
		    "started" : "recovered", id, win, dir);
	free(id);
	free(win);
	free(dir);
}

static void
client_print_recovered(json_t *o)
{
	json_t		*cp = json_object_get(o, "checkpoint");
	const char	*outcome = client_str(cp, "outcome");
	char		*e;

	client_print_started(o, "recover", false);
	printf(", attempt %ld", client_int(o, "attempt"));
	if (outcome != NULL && strcmp(outcome, "answered") == 0)
		printf("; the upstream answered the checkpoint with %ld",
		    client_int(cp, "status"));
	else if (outcome != NULL) {
		e = client_safe(client_str(cp, "error"));
		printf("; no checkpoint: %s", *e != '\0' ? e : "failed");
		free(e);
	}
	putchar('\n');
}

static void
client_print_run(json_t *o, bool dry)
{
	json_t	*started = json_object_get(o, "started");
	json_t	*recovered = json_object_get(o, "recovered");
	json_t	*skipped = json_object_get(o, "skipped"), *s, *r;
	size_t	 i, j;
	char	*e;

	json_array_foreach(started, i, s) {
		client_print_started(s, "start", dry);
		if (!dry)
			putchar('\n');
	}
	json_array_foreach(recovered, i, s) {
		if (dry)
			client_print_started(s, "recover", true);
		else
			client_print_recovered(s);
	}
	json_array_foreach(skipped, i, s) {
		e = client_safe(client_str(s, "streamId"));
		printf("%sskipped %s: ", dry ? "# " : "", e);
		free(e);
		json_array_foreach(json_object_get(s, "reasons"), j, r) {
			e = client_safe(json_string_value(r));
			printf("%s%s", j > 0 ? "; " : "", e);
			free(e);
		}
		putchar('\n');
	}
	if (json_array_size(started) == 0 && json_array_size(recovered) == 0)
		printf("%snothing to start or recover\n", dry ? "# " : "");
}

/* start, stop, recover and run: one POST and its outcome. */
static int
client_act(struct client *c, const struct client_verb *v,
    struct client_args *a)
{
	struct client_reply	 r;
	char			*path, *what, *id;
	bool			 dry = a->dry_run;

	if (strcmp(v->name, "run") == 0) {
		xasprintf(&path, "/api/run%s", dry ? "?dryRun=true" : "");
		what = xstrdup("run");
	} else {
		xasprintf(&path, "/api/streams/%s/%s%s%s%s", a->id, v->name,
		    a->force || dry ? "?" : "", a->force ? "force=true" : "",
		    dry ? (a->force ? "&dryRun=true" : "dryRun=true") : "");
		xasprintf(&what, "%s %s", v->name, a->id);
	}
	if (client_request(c, "POST", path, true, CLIENT_ACTION_MS,
	    &r) == -1) {
		client_reply_free(&r);
		free(path);
		free(what);
		return 2;
	}
	free(path);
	if (r.status < 200 || r.status > 299) {
		client_refused(what, c, &r);
		client_reply_free(&r);
		free(what);
		return 1;
	}
	free(what);
	if (strcmp(v->name, "run") == 0)
		client_print_run(r.json, dry);
	else if (strcmp(v->name, "stop") == 0 && dry) {
		printf("# dry run: would stop %s\n", a->id);
		client_print_argv(json_object_get(r.json, "argv"));
	} else if (strcmp(v->name, "stop") == 0) {
		id = client_safe(client_str(r.json, "window"));
		printf("stopped %s (window %s)\n", a->id, id);
		free(id);
	} else if (dry)
		client_print_started(r.json, v->name, true);
	else if (strcmp(v->name, "recover") == 0)
		client_print_recovered(r.json);
	else {
		client_print_started(r.json, v->name, false);
		putchar('\n');
	}
	client_reply_free(&r);
	return 0;
}

/* The entry point ------------------------------------------------------ */

/* Runs the client verb argv[0]; returns the exit status. */
int
client_main(int argc, char **argv)
{
	const struct client_verb	*v = NULL;
	struct client_args		 a;
	struct client			 c;
	size_t				 i;
	int				 rc;

	for (i = 0; i < CLIENT_NVERBS; i++)
		if (strcmp(argv[0], client_verbs[i].name) == 0)
			v = &client_verbs[i];
	if (v == NULL) {
		log_warnx("unknown command '%s'", argv[0]);
		return 2;
	}
	if ((rc = client_parse(v, &a, argc, argv)) != 0) {
		client_args_free(&a);
		return rc == 1 ? 0 : 2;
	}
	if (client_setup(&c, a.listen != NULL ? a.listen :
	    CLIENT_DEFAULT_LISTEN, a.token_file) == -1) {
		client_args_free(&a);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "taskgate: cannot initialise libcurl\n");
		rc = 2;
	} else {
		rc = v->run(&c, v, &a);
		curl_global_cleanup();
	}
	fflush(stdout);
	client_free(&c);
	client_args_free(&a);
	return rc;
}
