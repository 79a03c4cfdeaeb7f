/*
 * client.c: the verbs that talk to a running daemon -- `taskgate status`,
 * `watch`, `start ID`, `stop ID`, `recover ID` and `run` -- from where
 * main.c hands them over: each verb's flags and their environment twins,
 * its --help, its request and what it prints.  Reaching the daemon is
 * client-conn.c's job, the overview as text client-render.c's, the live
 * view client-watch.c's (reached through client.h; it calls nothing
 * here).  It binds no socket, starts no process and never writes a file.
 *
 * --listen and --token-file say where the daemon and its token are (see
 * client-conn.c); --socket names the daemon's unix socket, used instead
 * when it exists (there the caller's Unix user is who acts); without it,
 * the socket serve noted for the port is used, when the note, the socket
 * and the port are one user's (socket-note.c).  --force has no environment twin on purpose: an
 * exported variable would silently open the gates of every later start.
 * A read may take 30 s, an action 120 s (recover asks the upstream for a
 * checkpoint, then restarts a window).
 *
 * Text.  Every string taken from the daemon (much of it the upstream's,
 * so anyone's) is made safe by termtext.c before it is printed, so
 * nothing printed can move the cursor, retitle the window or reorder a
 * line; a --dry-run's tmux commands are printed quoted for a POSIX shell.
 *
 * Exit status: 0 done; 1 the daemon refused or failed the request (its
 * "error", then each of its "reasons", on stderr); 2 a usage error, a
 * token file that cannot be read, no daemon answering, or an answer that
 * is not taskgate's.  Each error is one line starting "taskgate: ".
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"

#define CLIENT_DEFAULT_LISTEN	"127.0.0.1:9191"
#define CLIENT_READ_MS		30000L
#define CLIENT_ACTION_MS	120000L

enum client_opt {
	CL_LISTEN = 256, CL_TOKEN_FILE, CL_SOCKET, CL_JSON, CL_NO_COLOR, CL_FORCE,
	CL_DRY_RUN, CL_ALLOW, CL_DENY, CL_HELP
};
#define CL_BIT(o)	(1u << ((o) - CL_LISTEN))

/* What the flags, their twins and the operand say; strings owned. */
struct client_args {
	char		*listen;
	char		*token_file;
	char		*socket;
	bool		 json;
	bool		 no_color;
	bool		 force;
	bool		 dry_run;
	bool		 allow, deny;	/* reply: the dialog's answer */
	const char	*id;		/* the operand, borrowed from argv */
	char		*text;		/* reply: the words after ID, joined */
};

struct client_verb;
typedef int (*client_run_fn)(struct client_conn *,
    const struct client_verb *, struct client_args *);

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
	{ "socket", required_argument, CL_SOCKET, "TASKGATE_SOCKET", "PATH",
	  "the daemon's unix socket (serve --socket): used instead of "
	  "--listen when it\n      exists; there your Unix user names you, "
	  "no token needed (default: the\n      one serve noted for "
	  "--listen's port in /tmp, when its user listens there)" },
	{ "json", no_argument, CL_JSON, "TASKGATE_JSON", NULL,
	  "print the overview document as the daemon sends it" },
	{ "no-color", no_argument, CL_NO_COLOR, "TASKGATE_NO_COLOR", NULL,
	  "no colours (there are none either when NO_COLOR is set or the "
	  "output is not a terminal)" },
	{ "force", no_argument, CL_FORCE, NULL, NULL,
	  "start: skip the dependency, phase-order and agent-at-work gates; "
	  "recover: go past "
	  "the recovery\n      budget and backoff.  Never read from the "
	  "environment, on purpose" },
	{ "dry-run", no_argument, CL_DRY_RUN, "TASKGATE_DRY_RUN", NULL,
	  "print the tmux commands it would run, one per line; change "
	  "nothing" },
	{ "allow", no_argument, CL_ALLOW, NULL, NULL,
	  "reply: allow once what its permission prompt asks" },
	{ "deny", no_argument, CL_DENY, NULL, NULL,
	  "reply: deny what its permission prompt asks" },
	{ "help", no_argument, CL_HELP, NULL, NULL, "show this help" },
};
#define CLIENT_NROWS	(sizeof client_rows / sizeof client_rows[0])

static int	client_status(struct client_conn *,
		    const struct client_verb *, struct client_args *);
static int	client_watch_verb(struct client_conn *,
		    const struct client_verb *, struct client_args *);
static int	client_act(struct client_conn *,
		    const struct client_verb *, struct client_args *);
static int	client_reply(struct client_conn *,
		    const struct client_verb *, struct client_args *);
static int	client_reply_args(struct client_args *, int, char **);
static char	*client_where(struct client_args *);

#define CL_CONN	(CL_BIT(CL_LISTEN) | CL_BIT(CL_TOKEN_FILE) | CL_BIT(CL_SOCKET) | \
	CL_BIT(CL_HELP))

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
	{ "reply", "ID TEXT... | ID --allow | ID --deny [--listen ADDR]",
	  "Answers the agent of stream ID that waits for a person: TEXT is "
	  "typed into its\nwindow as one line (and confirmed by the prompt "
	  "it causes); --allow and --deny\nanswer its permission prompt "
	  "(POST /api/streams/ID/reply).",
	  CL_CONN | CL_BIT(CL_ALLOW) | CL_BIT(CL_DENY), true, client_reply },
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
	case CL_SOCKET:
		free(a->socket);
		a->socket = xstrdup(v);
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
	case CL_ALLOW:
		flag = &a->allow;
		break;
	case CL_DENY:
		flag = &a->deny;
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
			log_warnx("%s needs a stream id, as in "
			    "'taskgate %s Stream-B'", v->name, v->name);
			return -1;
		}
		a->id = argv[optind++];
		if (!valid_stream_id(a->id)) {
			char *e = log_escape(a->id, 80);

			log_warnx("'%s' is not a stream id (1 "
			    "to %d letters, digits, '.', '_' or '-', starting "
			    "with a letter or digit)", e, STREAM_ID_MAX);
			free(e);
			return -1;
		}
	}
	if (strcmp(v->name, "reply") == 0)
		return client_reply_args(a, argc, argv);
	return verb_no_more(v->name, argc, argv);
}

static void
client_args_clear(struct client_args *a)
{
	free(a->listen);
	free(a->token_file);
	free(a->socket);
	memset(a, 0, sizeof *a);
}

/*
 * Where to reach the daemon: its unix socket (--socket) when that exists;
 * without --socket, the one serve noted for --listen's port, when that
 * is the same user's as the port (socket-note.c); else --listen, else
 * the default.  The text is a->listen's, kept there.
 */
static char *
client_where(struct client_args *a)
{
	char	*where;

	where = socket_note_where(a->socket, a->listen != NULL ? a->listen :
	    CLIENT_DEFAULT_LISTEN);
	free(a->listen);
	a->listen = where;
	return a->listen;
}

/* Text ---------------------------------------------------------------- */

/* A daemon's string, made safe for this terminal (new). */
static char *
client_safe(const char *s)
{
	return termtext_dup(s, termtext_utf8_locale());
}

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
client_status(struct client_conn *c, const struct client_verb *v,
    struct client_args *a)
{
	struct client_reply	r;
	struct client_frame	f;
	size_t			i;
	int			rc;

	(void)v;
	if ((rc = client_conn_get_overview(c, CLIENT_READ_MS, &r)) != 0)
		return rc;
	if (a->json) {
		fwrite(r.body.data, 1, r.body.len, stdout);
		if (r.body.len == 0 || r.body.data[r.body.len - 1] != '\n')
			putchar('\n');
		client_conn_reply_clear(&r);
		return 0;
	}
	client_frame_init(&f, 0, client_want_color(a),
	    termtext_utf8_locale());
	client_render_overview(&f, r.json, CLIENT_TREE);
	for (i = 0; i < f.n; i++)
		printf("%s\n", f.lines[i].data != NULL ? f.lines[i].data : "");
	client_frame_clear(&f);
	client_conn_reply_clear(&r);
	return 0;
}

static int
client_watch_verb(struct client_conn *c, const struct client_verb *v,
    struct client_args *a)
{
	(void)v;
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
		buf_clear(&b);
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
/* reply's operands: the words of TEXT, or --allow or --deny alone. */
static int
client_reply_args(struct client_args *a, int argc, char **argv)
{
	size_t	len = 0;
	int	i;

	for (i = optind; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if ((len > 0) + a->allow + a->deny != 1) {
		log_warnx("reply needs TEXT, --allow or --deny (one of them), "
		    "as in 'taskgate reply Stream-B yes, go on'");
		return -1;
	}
	if (len > 0) {
		a->text = xcalloc(1, len);
		for (i = optind; i < argc; i++) {
			if (i > optind)
				strcat(a->text, " ");
			strcat(a->text, argv[i]);
		}
	}
	return 0;
}

/* reply: POST /api/streams/ID/reply; the daemon types it or answers. */
static int
client_reply(struct client_conn *c, const struct client_verb *v,
    struct client_args *a)
{
	struct client_reply	 r;
	json_t			*o;
	char			*path, *what, *body;
	int			 rc = 0;

	(void)v;
	o = a->text != NULL ? json_pack("{s:s}", "text", a->text) :
	    json_pack("{s:s}", "answer", a->allow ? "allow" : "deny");
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	xasprintf(&path, "/api/streams/%s/reply", a->id);
	xasprintf(&what, "reply %s", a->id);
	c->body = body;
	if (client_conn_request(c, "POST", path, true, CLIENT_ACTION_MS,
	    &r) == -1)
		rc = 2;
	else if (r.status < 200 || r.status > 299) {
		client_conn_refused(what, c, &r);
		rc = 1;
	} else
		printf("replied to %s (%s)\n", a->id, a->text != NULL ?
		    "typed; its prompt will confirm it" : a->allow ?
		    "allowed once" : "denied");
	c->body = NULL;
	client_conn_reply_clear(&r);
	free(body);
	free(path);
	free(what);
	free(a->text);
	return rc;
}

static int
client_act(struct client_conn *c, const struct client_verb *v,
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
	if (client_conn_request(c, "POST", path, true, CLIENT_ACTION_MS,
	    &r) == -1) {
		client_conn_reply_clear(&r);
		free(path);
		free(what);
		return 2;
	}
	free(path);
	if (r.status < 200 || r.status > 299) {
		client_conn_refused(what, c, &r);
		/* Only dependencies or phase order closed it: say the flag. */
		if (strcmp(v->name, "start") == 0 && !a->force &&
		    json_is_true(json_object_get(r.json, "forceable")))
			fprintf(stderr, "  - 'taskgate start %s --force' skips "
			    "the dependency and phase-order gates\n", a->id);
		client_conn_reply_clear(&r);
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
	client_conn_reply_clear(&r);
	return 0;
}

/* The entry point ------------------------------------------------------ */

/* Runs the client verb argv[0]; returns the exit status. */
int
client_main(int argc, char **argv)
{
	const struct client_verb	*v = NULL;
	struct client_args		 a;
	struct client_conn		 c;
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
		client_args_clear(&a);
		return rc == 1 ? 0 : 2;
	}
	if (client_conn_open(&c, client_where(&a), a.token_file) == -1) {
		client_args_clear(&a);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("cannot initialise libcurl");
		rc = 2;
	} else {
		rc = v->run(&c, v, &a);
		curl_global_cleanup();
	}
	fflush(stdout);
	client_conn_close(&c);
	client_args_clear(&a);
	return rc;
}

