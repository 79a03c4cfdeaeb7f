/*
 * options.c: the command line and its TASKGATE_* environment twins, read
 * into struct options.  One table row per option gives its flag, its
 * environment variable and its help line, so the three cannot drift apart.
 * Order of precedence: defaults, then the orchestration config (applied by
 * main.c for the fields it carries), then the environment, then flags.
 * This file only parses; it opens no files and binds no sockets.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "taskgate.h"

enum opt_id {
	OPT_LISTEN = 256, OPT_SOCKET, OPT_SOCKET_GROUP, OPT_UPSTREAM, OPT_DB, OPT_TOKEN_FILE, OPT_POLL,
	OPT_UPSTREAM_TIMEOUT, OPT_TMUX_SESSION, OPT_AGENT_COMMAND,
	OPT_AGENT_HOOKS,
	OPT_WEB_ROOT, OPT_AUTO, OPT_WEBHOOK, OPT_CONFIG, OPT_ALLOW_REMOTE,
	OPT_ALLOWED_HOST, OPT_VERBOSE, OPT_HELP, OPT_VERSION
};

struct opt_row {
	const char	*name;		/* the long flag */
	int		 has_arg;	/* getopt_long's */
	enum opt_id	 id;
	const char	*env;		/* the environment twin, or NULL */
	const char	*arg;		/* how the help names the value */
	const char	*help;
};

static const struct opt_row opt_rows[] = {
	{ "listen", required_argument, OPT_LISTEN, "TASKGATE_LISTEN",
	  "ADDR", "where to listen: 127.0.0.1:PORT, [::1]:PORT or "
	  "unix:/path (default 127.0.0.1:9191)" },
	{ "socket", required_argument, OPT_SOCKET, "TASKGATE_SOCKET", "PATH",
	  "a unix socket to listen on as well: there the caller's Unix user "
	  "names them, no token needed; noted in /tmp/taskgate-PORT.socket, "
	  "where clients find it" },
	{ "socket-group", required_argument, OPT_SOCKET_GROUP,
	  "TASKGATE_SOCKET_GROUP", "GROUP", "the group that may connect to "
	  "the unix socket (mode 0660; default: only you, 0600)" },
	{ "upstream", required_argument, OPT_UPSTREAM, "TASKGATE_UPSTREAM",
	  "URL", "Task Copilot's URL (default: the config's apiEndpoint, "
	  "else http://127.0.0.1:9090)" },
	{ "db", required_argument, OPT_DB, "TASKGATE_DB", "PATH",
	  "history database (default $XDG_STATE_HOME/taskgate/history.db)" },
	{ "token-file", required_argument, OPT_TOKEN_FILE,
	  "TASKGATE_TOKEN_FILE", "PATH", "access token, created mode 0600 "
	  "(default $XDG_STATE_HOME/taskgate/token)" },
	{ "poll", required_argument, OPT_POLL, "TASKGATE_POLL", "SECONDS",
	  "fetch each upstream URL at most once per this many seconds "
	  "(default 5, fractions allowed)" },
	{ "upstream-timeout", required_argument, OPT_UPSTREAM_TIMEOUT,
	  "TASKGATE_UPSTREAM_TIMEOUT", "SECONDS", "give up on an upstream "
	  "request after this long (default 10)" },
	{ "tmux-session", required_argument, OPT_TMUX_SESSION,
	  "TASKGATE_TMUX_SESSION", "NAME", "tmux session of the agent "
	  "windows (default claude-streams)" },
	{ "agent-command", required_argument, OPT_AGENT_COMMAND,
	  "TASKGATE_AGENT_COMMAND", "CMD", "program started in each window "
	  "(default claude)" },
	{ "agent-hooks", required_argument, OPT_AGENT_HOOKS,
	  "TASKGATE_AGENT_HOOKS", "auto|on|off", "give each window Claude "
	  "Code's hooks (claude --settings FILE), so the agent tells its own "
	  "state; auto: when the program is named claude (default auto)" },
	{ "web-root", required_argument, OPT_WEB_ROOT, "TASKGATE_WEB_ROOT",
	  "DIR", "dashboard files (default: installed, or ./web)" },
	{ "auto", no_argument, OPT_AUTO, "TASKGATE_AUTO", NULL,
	  "run the plan and recover streams without a click" },
	{ "webhook", required_argument, OPT_WEBHOOK, "TASKGATE_WEBHOOK",
	  "URL", "POST events to this URL" },
	{ "config", required_argument, OPT_CONFIG, "TASKGATE_CONFIG", "PATH",
	  "orchestration config (default "
	  ".claude/orchestration/orchestration-config.json)" },
	{ "allow-remote", no_argument, OPT_ALLOW_REMOTE,
	  "TASKGATE_ALLOW_REMOTE", NULL, "allow a non-loopback --listen; "
	  "then every endpoint but /health needs the token" },
	{ "allowed-host", required_argument, OPT_ALLOWED_HOST,
	  "TASKGATE_ALLOWED_HOST", "NAME", "accept this Host header too "
	  "(repeatable; the variable takes a comma-separated list)" },
	{ "verbose", no_argument, OPT_VERBOSE, "TASKGATE_VERBOSE", NULL,
	  "log each upstream fetch and more" },
	{ "help", no_argument, OPT_HELP, NULL, NULL, "show this help" },
	{ "version", no_argument, OPT_VERSION, NULL, NULL,
	  "show the version" },
};
#define OPT_NROWS (sizeof opt_rows / sizeof opt_rows[0])

static int	options_apply(struct options *, const struct opt_row *,
		    const char *, const char *, char *, size_t);

void
options_usage(FILE *f)
{
	size_t	i;

	fprintf(f,
	    "usage: taskgate [serve] [options]\n"
	    "       taskgate status [--json] [--no-color]\n"
	    "       taskgate watch [--no-color]\n"
	    "       taskgate start|stop|recover ID [--force] [--dry-run]\n"
	    "       taskgate run [--dry-run]\n"
	    "       taskgate check-config [--config PATH]\n"
	    "       taskgate generate-config [--upstream URL] [--output PATH] "
	    "[--force]\n"
	    "\n"
	    "taskgate sits in front of a Task Copilot server: it caches its "
	    "HTTP API for\nevery client, keeps each stream's history and "
	    "serves a live dashboard.\n"
	    "\n"
	    "options (each also read from the environment variable shown):\n");
	for (i = 0; i < OPT_NROWS; i++) {
		const struct opt_row *r = &opt_rows[i];

		fprintf(f, "  --%s%s%s", r->name, r->arg ? " " : "",
		    r->arg ? r->arg : "");
		if (r->env != NULL)
			fprintf(f, "  [%s]", r->env);
		fprintf(f, "\n      %s\n", r->help);
	}
	fprintf(f,
	    "\n"
	    "On start taskgate prints the dashboard's address with the token; "
	    "open it once\nin a browser to sign in.  Errors in the options "
	    "exit with status 2.\nEach verb has its own --help; see also "
	    "taskgate(1).\n");
}

/* Parses a positive number of seconds, fractions allowed. */
int
options_parse_seconds(const char *s, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v <= 0 || v > 86400)
		return -1;
	*out = v;
	return 0;
}

/* Parses a flag's or variable's boolean: 1/true/yes/on, 0/false/no/off. */
int
options_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 ||
	    strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0)
		*out = true;
	else if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 ||
	    strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0 ||
	    *s == '\0')
		*out = false;
	else
		return -1;
	return 0;
}

static int
options_port(const char *s, struct sockaddr_storage *ss, int family)
{
	char	*end;
	long	 port;

	errno = 0;
	port = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || port < 0 ||
	    port > 65535)
		return -1;
	if (family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	return 0;
}

/*
 * Parses a --listen value: HOST:PORT with an IPv4 address or "localhost",
 * [IPV6]:PORT, or unix:/path.  Port 0 asks the kernel for a free one.
 */
int
options_parse_listen(const char *text, struct listen_addr *a, char *err,
    size_t errlen)
{
	char		 host[64];
	const char	*colon, *port;
	size_t		 hlen;

	memset(a, 0, sizeof *a);
	snprintf(a->text, sizeof a->text, "%s", text);
	if (strncmp(text, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;

		if (text[5] != '/' || strlen(text + 5) >= sizeof sun->sun_path) {
			snprintf(err, errlen, "--listen %s: a unix socket needs "
			    "an absolute path under %zu bytes", text,
			    sizeof sun->sun_path);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, text + 5);
		a->family = AF_UNIX;
		a->len = sizeof *sun;
		a->loopback = true;
		return 0;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		hlen = (size_t)(close - text - 1);
		port = close + 2;
		if (hlen == 0 || hlen >= sizeof host)
			goto bad;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		a->family = AF_INET6;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			goto bad;
		hlen = (size_t)(colon - text);
		port = colon + 1;
		if (hlen == 0 || hlen >= sizeof host)
			goto bad;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		a->family = AF_INET;
	}
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad;
		a->loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		a->len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad;
		a->loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
		a->len = sizeof *sin6;
	}
	if (options_port(port, &a->ss, a->family) == -1)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "--listen %s: expected 127.0.0.1:PORT, "
	    "[::1]:PORT or unix:/path", text);
	return -1;
}

/* FILE in taskgate's state directory (new), or NULL without a home. */
char *
options_state_path(const char *file)
{
	const char	*xdg = getenv("XDG_STATE_HOME");
	const char	*home = getenv("HOME");
	char		*p;

	if (xdg != NULL && xdg[0] == '/')
		xasprintf(&p, "%s/taskgate/%s", xdg, file);
	else if (home != NULL && home[0] == '/')
		xasprintf(&p, "%s/.local/state/taskgate/%s", home, file);
	else
		return NULL;
	return p;
}

static void
options_set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

static void
options_add_hosts(struct options *o, const char *list)
{
	char	*copy = xstrdup(list), *p = copy, *name;

	while ((name = strsep(&p, ",")) != NULL) {
		if (*name == '\0')
			continue;
		o->allowed_hosts = xrealloc(o->allowed_hosts,
		    (o->n_allowed_hosts + 1) * sizeof *o->allowed_hosts);
		o->allowed_hosts[o->n_allowed_hosts++] = xstrdup(name);
	}
	free(copy);
}

/* Applies one option's value; from names the flag or variable for errors. */
static int
options_apply(struct options *o, const struct opt_row *r, const char *v,
    const char *from, char *err, size_t errlen)
{
	bool	b;

	switch (r->id) {
	case OPT_LISTEN:
		options_set_str(&o->listen, v);
		break;
	case OPT_SOCKET:
		options_set_str(&o->socket_path, v);
		break;
	case OPT_SOCKET_GROUP:
		options_set_str(&o->socket_group, v);
		break;
	case OPT_UPSTREAM:
		options_set_str(&o->upstream, v);
		break;
	case OPT_DB:
		options_set_str(&o->db_path, v);
		break;
	case OPT_TOKEN_FILE:
		options_set_str(&o->token_file, v);
		break;
	case OPT_POLL:
	case OPT_UPSTREAM_TIMEOUT:
		if (options_parse_seconds(v, r->id == OPT_POLL ? &o->poll :
		    &o->upstream_timeout) == -1) {
			snprintf(err, errlen, "%s: '%s' is not a number of "
			    "seconds above 0", from, v);
			return -1;
		}
		if (r->id == OPT_POLL)
			o->poll_given = true;
		break;
	case OPT_TMUX_SESSION:
		options_set_str(&o->tmux_session, v);
		break;
	case OPT_AGENT_COMMAND:
		options_set_str(&o->agent_command, v);
		break;
	case OPT_AGENT_HOOKS:
		if (strcmp(v, "auto") == 0)
			o->agent_hooks = -1;
		else if (options_parse_bool(v, &b) == 0 && *v != '\0')
			o->agent_hooks = b;
		else {
			snprintf(err, errlen, "%s: '%s' is not auto, on or off",
			    from, v);
			return -1;
		}
		break;
	case OPT_WEB_ROOT:
		options_set_str(&o->web_root, v);
		break;
	case OPT_WEBHOOK:
		options_set_str(&o->webhook, v);
		break;
	case OPT_CONFIG:
		options_set_str(&o->config_path, v);
		o->config_given = true;
		break;
	case OPT_ALLOWED_HOST:
		options_add_hosts(o, v);
		break;
	case OPT_AUTO:
	case OPT_ALLOW_REMOTE:
	case OPT_VERBOSE:
		if (v == NULL)
			b = true;
		else if (options_parse_bool(v, &b) == -1) {
			snprintf(err, errlen, "%s: '%s' is not true or false",
			    from, v);
			return -1;
		}
		if (r->id == OPT_AUTO)
			o->auto_run = b;
		else if (r->id == OPT_ALLOW_REMOTE)
			o->allow_remote = b;
		else
			o->verbose = b;
		break;
	case OPT_HELP:
	case OPT_VERSION:
		break;
	}
	return 0;
}

/*
 * Fills o from the defaults, the environment and argv (the arguments after
 * the verb, argv[0] being the verb or the program).  On OPTIONS_ERROR err
 * holds one line for the user.
 */
enum options_result
options_parse(struct options *o, int argc, char **argv, char *err,
    size_t errlen)
{
	struct option	 longopts[OPT_NROWS + 1];
	size_t		 i;
	int		 ch;
	char		 from[64];

	memset(o, 0, sizeof *o);
	o->listen = xstrdup("127.0.0.1:9191");
	o->poll = 5;
	o->upstream_timeout = 10;
	o->tmux_session = xstrdup("claude-streams");
	o->agent_command = xstrdup("claude");
	o->agent_hooks = -1;
	o->config_path =
	    xstrdup(".claude/orchestration/orchestration-config.json");
	o->db_path = options_state_path("history.db");
	o->token_file = options_state_path("token");

	for (i = 0; i < OPT_NROWS; i++) {
		const char *v;

		if (opt_rows[i].env == NULL ||
		    (v = getenv(opt_rows[i].env)) == NULL)
			continue;
		if (options_apply(o, &opt_rows[i], v, opt_rows[i].env, err,
		    errlen) == -1)
			return OPTIONS_ERROR;
	}

	memset(longopts, 0, sizeof longopts);
	for (i = 0; i < OPT_NROWS; i++) {
		longopts[i].name = opt_rows[i].name;
		longopts[i].has_arg = opt_rows[i].has_arg;
		longopts[i].val = (int)opt_rows[i].id;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hVv", longopts, NULL)) != -1) {
		if (ch == 'h' || ch == OPT_HELP) {
			options_usage(stdout);
			return OPTIONS_EXIT_OK;
		}
		if (ch == 'V' || ch == OPT_VERSION) {
			printf("taskgate %s\n", PACKAGE_VERSION);
			return OPTIONS_EXIT_OK;
		}
		if (ch == 'v')
			ch = OPT_VERBOSE;
		if (ch == '?' || ch == ':') {
			const char *bad = argv[optind - 1];

			snprintf(err, errlen, "%s option '%s' (see "
			    "taskgate --help)", ch == ':' ?
			    "missing value for" : "unknown", bad);
			return OPTIONS_ERROR;
		}
		for (i = 0; i < OPT_NROWS; i++)
			if ((int)opt_rows[i].id == ch)
				break;
		snprintf(from, sizeof from, "--%s", opt_rows[i].name);
		if (options_apply(o, &opt_rows[i], optarg, from, err,
		    errlen) == -1)
			return OPTIONS_ERROR;
	}
	if (optind < argc) {
		const char *e = argv[optind];

		if (verb_is_command(e))
			snprintf(err, errlen, "'%s' must come first, before "
			    "any option: taskgate %s [options] (see taskgate "
			    "%s --help)", e, e, e);
		else
			snprintf(err, errlen, "unexpected argument '%.80s' "
			    "(see taskgate --help)", e);
		return OPTIONS_ERROR;
	}

	if (options_parse_listen(o->listen, &o->addr, err, errlen) == -1)
		return OPTIONS_ERROR;
	if (!o->addr.loopback && !o->allow_remote) {
		snprintf(err, errlen, "--listen %s is not a loopback address; "
		    "add --allow-remote to accept other machines (all but "
		    "/health then need the token)", o->listen);
		return OPTIONS_ERROR;
	}
	if (o->socket_path != NULL) {
		char	*text;
		int	 rc;

		xasprintf(&text, "unix:%s", o->socket_path);
		rc = options_parse_listen(text, &o->socket_addr, err, errlen);
		free(text);
		if (rc == -1)
			return OPTIONS_ERROR;
	}
	if (o->db_path == NULL || o->token_file == NULL) {
		snprintf(err, errlen, "neither XDG_STATE_HOME nor HOME is set: "
		    "give --db and --token-file");
		return OPTIONS_ERROR;
	}
	return OPTIONS_OK;
}

void
options_clear(struct options *o)
{
	size_t	i;

	free(o->listen);
	free(o->socket_path);
	free(o->socket_group);
	free(o->upstream);
	free(o->db_path);
	free(o->token_file);
	free(o->tmux_session);
	free(o->agent_command);
	free(o->web_root);
	free(o->webhook);
	free(o->config_path);
	for (i = 0; i < o->n_allowed_hosts; i++)
		free(o->allowed_hosts[i]);
	free(o->allowed_hosts);
	memset(o, 0, sizeof *o);
}
