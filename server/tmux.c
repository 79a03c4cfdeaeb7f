/*
 * tmux.c: what taskgate says to tmux and what it reads back.  It builds
 * the argument vectors (pure, so a dry run can show them exactly) and
 * parses list-windows output; tmux_exec() runs one through spawn.c with
 * a timeout and logs a failure with tmux's own stderr.
 *
 * Targets are never names, which tmux's -t matches by prefix: the
 * session is "=NAME" (exact), windows and panes are their ids (@3, %5).
 * Text is typed with send-keys -l (literal), so "/continue Stream-B" is
 * never read as key names.  What a pane's text means is agent.c's.
 *
 * No text that reaches tmux becomes a command.  What tmux 3.3a does with
 * each argument taskgate gives it (checked on a private server, and in
 * its spawn.c, cmd-new-session.c, cmd-new-window.c and format.c):
 *
 *	-c DIR, -n NAME, -s NAME	expanded as formats (format_single):
 *					"#(cmd)" runs cmd through a shell,
 *					"#{...}", "#S" and the like are
 *					replaced, "##" is "#".  So a window
 *					in a directory named "#(id>x)" ran id.
 *					tmux_add_literal() escapes them.
 *	-t TARGET, -e VAR=VALUE,	taken as they are (send-keys has no -F
 *	send-keys -l TEXT, the command	in 3.3a, set-option expands only with
 *	after "--", set-option values	-F); only a final ';' is special, see
 *					tmux_add().
 *	-F FORMAT			a format: taskgate's own constants.
 *	set-hook's command		parsed as a tmux command when the hook
 *					runs: taskgate's own constant.
 *
 * The command after "--": with two or more arguments tmux execvp()s them;
 * with exactly one it runs default-shell -c ARG, so a one-word agent
 * command "true;touch${IFS}x" was shell text.  taskgate therefore starts
 * the agent as "env -- AGENT ARGS...": never one argument, always exec'd
 * (a program that is not found is a pane dead with status 127).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "taskgate.h"

#define TMUX_TIMEOUT	10.0

/* What execs the agent, so that tmux never gets it as one argument. */
#define TMUX_AGENT_RUNNER	"env", "--"

/* The command a hook runs to keep the pane of an agent that exited. */
#define TMUX_KEEP_DEAD	"set-option -w remain-on-exit on"

#define TMUX_LIST_FORMAT "#{window_id}\t#{pane_id}\t#{pane_dead}\t" \
	"#{pane_dead_status}\t#{pane_pid}\t#{window_activity}\t" \
	"#{history_size}\t#{cursor_x}\t#{cursor_y}\t#{window_name}"

/*
 * An argv being built.  tmux splits its own arguments into commands at a
 * trailing ';' ("x;" is "x", then a new command), so a path or an agent
 * argument ending in ';' would start a tmux command of its own.
 * tmux_add() adds an argument literally: a final ';' is written "\;",
 * which tmux reads back as ';'.  Only tmux_add_separator() ends a command.
 */
struct tmux_args {
	char	**v;
	size_t	  n;
};

static void
tmux_push(struct tmux_args *a, char *s)
{
	a->v = xrealloc(a->v, (a->n + 2) * sizeof *a->v);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void
tmux_add(struct tmux_args *a, const char *s)
{
	size_t	 n = strlen(s);
	char	*t;

	if (n == 0 || s[n - 1] != ';') {
		tmux_push(a, xstrdup(s));
		return;
	}
	t = xmalloc(n + 2);
	memcpy(t, s, n - 1);
	memcpy(t + n - 1, "\\;", 3);
	tmux_push(a, t);
}

/*
 * Adds s to an argument that tmux expands as a format, so that it comes
 * out of the expansion as s (see the top of the file).  In format_expand1
 * (tmux 3.2 and later) "##" is one '#', except that a run of two or more
 * '#' before '[' is a style and is kept as it is, and a single '#' before
 * '[' is kept too.  So each run of '#' is doubled unless '[' follows it.
 * Nothing else is special: '%' only with time expansion, which -c, -n and
 * -s do not get.  (tmux 3.0 and 3.1 read "##[" as "#[": a name with two
 * '#' before a '[' would come out one '#' short there, but run nothing.)
 */
static void
tmux_add_literal(struct tmux_args *a, const char *s)
{
	char		*t, *w;
	const char	*r, *run;
	size_t		 n;

	w = t = xmalloc(2 * strlen(s) + 1);
	for (r = s; *r != '\0';) {
		if (*r != '#') {
			*w++ = *r++;
			continue;
		}
		for (run = r; *r == '#'; r++)
			continue;
		n = (size_t)(r - run);
		memset(w, '#', n);
		w += n;
		if (*r != '[') {
			memset(w, '#', n);
			w += n;
		}
	}
	*w = '\0';
	tmux_add(a, t);
	free(t);
}

static void
tmux_add_list(struct tmux_args *a, char *const *list)
{
	size_t	i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		tmux_add(a, list[i]);
}

static void
tmux_add_separator(struct tmux_args *a)
{
	tmux_push(a, xstrdup(";"));
}

/* Adds the arguments up to a NULL. */
static void __attribute__((sentinel))
tmux_add_all(struct tmux_args *a, ...)
{
	va_list		 ap;
	const char	*s;

	va_start(ap, a);
	while ((s = va_arg(ap, const char *)) != NULL)
		tmux_add(a, s);
	va_end(ap);
}

/* A new argv of n fixed strings followed by the NULL-terminated extra. */
static char **
tmux_argv(char *const *extra, int n, ...)
{
	struct tmux_args	a = { NULL, 0 };
	va_list			ap;
	int			i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		tmux_add(&a, va_arg(ap, const char *));
	va_end(ap);
	tmux_add_list(&a, extra);
	return a.v;
}

void
tmux_argv_free(char **argv)
{
	size_t	i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* The argv as a JSON array of strings (new), for dry runs and audits. */
json_t *
tmux_argv_json(char **argv)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; argv[i] != NULL; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

static char *
tmux_session_target(const char *session, bool window)
{
	char	*t;

	xasprintf(&t, "=%s%s", session, window ? ":" : "");
	return t;
}

/*
 * Starts the agent in a new window named name, in cwd: a new session when
 * there is none yet.  Prints "@window %pane" (-P -F).  The window keeps
 * its pane when the agent exits (remain-on-exit), so that taskgate sees
 * the exit status, even of an agent that exits at once: in the same tmux
 * command, before the agent can be reaped.  A new session sets it on its
 * first window and leaves a hook on itself that sets it on every later
 * one; the hook is set again before each new window, in case the session
 * was made by someone else.  The agent runs as "env -- AGENT..." (see the
 * top of the file); tmux_agent_refusal() says which agents cannot.  env,
 * if not NULL, is one NAME=VALUE for the agent's environment (-e).
 */
char **
tmux_argv_new_window(const char *session, bool exists, const char *name,
    const char *cwd, const char *env, char *const agent[])
{
	struct tmux_args	 a = { NULL, 0 };
	char			*target = tmux_session_target(session, true);

	if (exists) {
		tmux_add_all(&a, "tmux", "set-hook", "-t", target,
		    "after-new-window", TMUX_KEEP_DEAD, NULL);
		tmux_add_separator(&a);
		tmux_add_all(&a, "new-window", "-d", "-P", "-F",
		    "#{window_id} #{pane_id}", "-t", target, "-n", NULL);
		tmux_add_literal(&a, name);
		tmux_add(&a, "-c");
		tmux_add_literal(&a, cwd);
		if (env != NULL)
			tmux_add_all(&a, "-e", env, NULL);
		tmux_add_all(&a, "--", TMUX_AGENT_RUNNER, NULL);
		tmux_add_list(&a, agent);
	} else {
		tmux_add_all(&a, "tmux", "new-session", "-d", "-P", "-F",
		    "#{window_id} #{pane_id}", "-s", NULL);
		tmux_add_literal(&a, session);
		tmux_add(&a, "-n");
		tmux_add_literal(&a, name);
		tmux_add(&a, "-c");
		tmux_add_literal(&a, cwd);
		tmux_add_all(&a, "-x", "200", "-y", "50", NULL);
		if (env != NULL)
			tmux_add_all(&a, "-e", env, NULL);
		tmux_add_all(&a, "--", TMUX_AGENT_RUNNER, NULL);
		tmux_add_list(&a, agent);
		tmux_add_separator(&a);
		tmux_add_all(&a, "set-option", "-w", "-t", target,
		    "remain-on-exit", "on", NULL);
		tmux_add_separator(&a);
		tmux_add_all(&a, "set-hook", "-t", target, "after-new-window",
		    TMUX_KEEP_DEAD, NULL);
	}
	free(target);
	return a.v;
}

/*
 * Why agent (an argv, NULL-terminated) cannot be started as
 * tmux_argv_new_window() starts it, or NULL.  env takes each leading
 * NAME=VALUE as a variable to set, so a first word with '=' in it would
 * not be the program; and an argument ending in ';' is refused, as a
 * person reading the tmux command would take it for tmux's separator.
 */
const char *
tmux_agent_refusal(char *const agent[])
{
	size_t	i, len;

	if (agent == NULL || agent[0] == NULL)
		return "it is empty";
	if (strchr(agent[0], '=') != NULL)
		return "the program may not have '=' in its name (env, which "
		    "starts it, would take it for a variable)";
	for (i = 0; agent[i] != NULL; i++) {
		len = strlen(agent[i]);
		if (len > 0 && agent[i][len - 1] == ';')
			return "an argument may not end with ';' (tmux would "
			    "split there)";
	}
	return NULL;
}

/* Exit status 0 when the session exists. */
char **
tmux_argv_has_session(const char *session)
{
	char	**argv, *target = tmux_session_target(session, false);

	argv = tmux_argv(NULL, 4, "tmux", "has-session", "-t", target);
	free(target);
	return argv;
}

char **
tmux_argv_list(const char *session)
{
	char	**argv, *target = tmux_session_target(session, false);

	argv = tmux_argv(NULL, 6, "tmux", "list-windows", "-t", target, "-F",
	    TMUX_LIST_FORMAT);
	free(target);
	return argv;
}

/* The last lines of a pane as plain text (no escapes: no -e). */
char **
tmux_argv_capture(const char *pane, int lines)
{
	char	start[16];

	snprintf(start, sizeof start, "-%d", lines);
	return tmux_argv(NULL, 8, "tmux", "capture-pane", "-p", "-J", "-t",
	    pane, "-S", start);
}

/* Types text literally (send-keys -l): no key names, no shell. */
char **
tmux_argv_type(const char *pane, const char *text)
{
	return tmux_argv(NULL, 7, "tmux", "send-keys", "-t", pane, "-l", "--",
	    text);
}

char **
tmux_argv_enter(const char *pane)
{
	return tmux_argv(NULL, 5, "tmux", "send-keys", "-t", pane, "Enter");
}

/* The Escape key, which cancels a dialog of the agent's. */
char **
tmux_argv_escape(const char *pane)
{
	return tmux_argv(NULL, 5, "tmux", "send-keys", "-t", pane, "Escape");
}

char **
tmux_argv_kill(const char *window)
{
	return tmux_argv(NULL, 4, "tmux", "kill-window", "-t", window);
}

/*
 * Whether tmux's error (from tmux_exec) says there is nothing there: no
 * server, no session, no window, or a server that exited meanwhile.
 */
bool
tmux_said_gone(const char *err)
{
	static const char *const gone[] = { "no server running",
	    "error connecting", "server exited unexpectedly",
	    "can't find session", "can't find window", NULL };
	size_t	i;

	for (i = 0; gone[i] != NULL; i++)
		if (strstr(err, gone[i]) != NULL)
			return true;
	return false;
}

/*
 * What tmux's error means in plain words, when it needs saying, or NULL.
 * tmux 3.3a makes a pane with forkpty() and says "fork failed: ERROR"
 * when that fails.  fork() itself fails only for want of memory or
 * processes; any other error (No such device: /dev/ptmx has no devpts
 * at /dev/pts; No such file or directory: no /dev/ptmx or no /dev/pts/N;
 * Permission denied, ...) came from opening the pseudo-terminal.
 */
const char *
tmux_plain_error(const char *err)
{
	static const char *const fork_errors[] = {
	    "Resource temporarily unavailable", "Cannot allocate memory",
	    NULL };
	const char	*why = strstr(err, "fork failed: ");
	size_t		 i;

	if (why == NULL)
		return NULL;
	why += strlen("fork failed: ");
	for (i = 0; fork_errors[i] != NULL; i++)
		if (strncmp(why, fork_errors[i], strlen(fork_errors[i])) == 0)
			return "tmux could not start a process for the window "
			    "(the machine is out of memory or processes)";
	return "tmux could not make a window: this machine gave it no "
	    "pseudo-terminal (pty); is devpts mounted on /dev/pts, as a "
	    "chroot or container needs?";
}

/* The names of the commands in argv, "set-hook; new-window", for errors. */
static void
tmux_command_names(char **argv, char *names, size_t len)
{
	size_t	i, at = 0;
	int	n;

	names[0] = '\0';
	for (i = 1; argv[i] != NULL && at < len; i++) {
		if (i > 1 && strcmp(argv[i - 1], ";") != 0)
			continue;
		n = snprintf(names + at, len - at, "%s%s", at > 0 ? "; " : "",
		    argv[i]);
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

/*
 * Runs argv; returns 0 with *out (new, may be NULL) on exit status 0,
 * else -1 with a sentence in err that includes tmux's stderr.  It does
 * not log: "no server running" is news only to some callers.
 */
int
tmux_exec(char **argv, char **out, char *err, size_t errlen)
{
	struct spawn_result	res;
	int			rc = -1;

	if (out != NULL)
		*out = NULL;
	if (spawn_run(argv, NULL, TMUX_TIMEOUT, &res) == -1) {
		snprintf(err, errlen, "%s%s", res.error, res.not_found ?
		    " (is tmux installed?)" : "");
	} else if (res.status != 0) {
		char		*why, names[64];
		const char	*plain;

		/* tmux's own line, without its newline. */
		while (res.err.len > 0 && (res.err.data[res.err.len - 1] ==
		    '\n' || res.err.data[res.err.len - 1] == '\r'))
			res.err.data[--res.err.len] = '\0';
		why = log_escape(res.err.data, 200);
		tmux_command_names(argv, names, sizeof names);
		/* The plain words first, so that a short err keeps them. */
		if ((plain = tmux_plain_error(res.err.data)) != NULL)
			snprintf(err, errlen, "%s (tmux %s failed, status %d: "
			    "%s)", plain, names, res.status, why);
		else
			snprintf(err, errlen, "tmux %s failed (status %d): %s",
			    names, res.status, why);
		free(why);
	} else {
		rc = 0;
		if (out != NULL)
			*out = buf_steal(&res.out, NULL);
	}
	spawn_result_clear(&res);
	return rc;
}

static bool
tmux_field_id(const char *s, char prefix)
{
	if (s[0] != prefix || s[1] == '\0')
		return false;
	for (s++; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/*
 * Parses list-windows output (TMUX_LIST_FORMAT) into *out (new).  Lines
 * that do not parse are skipped; names are kept whatever they are, the
 * caller decides which windows are taskgate's.
 */
size_t
tmux_parse_windows(const char *text, struct tmux_window **out)
{
	char	*copy = xstrdup(text != NULL ? text : ""), *line, *p = copy;
	size_t	 n = 0;

	*out = NULL;
	while ((line = strsep(&p, "\n")) != NULL) {
		char			*f[10], *q = line;
		struct tmux_window	 w;
		int			 k;

		for (k = 0; k < 9 && q != NULL; k++)
			f[k] = strsep(&q, "\t");
		if (k < 9 || q == NULL)
			continue;
		f[9] = q;	/* the name: the rest of the line */
		if (!tmux_field_id(f[0], '@') || !tmux_field_id(f[1], '%'))
			continue;
		memset(&w, 0, sizeof w);
		snprintf(w.id, sizeof w.id, "%s", f[0]);
		snprintf(w.pane, sizeof w.pane, "%s", f[1]);
		w.dead = strcmp(f[2], "1") == 0;
		/* tmux may show a pane dead before it has reaped it. */
		w.dead_status = f[3][0] != '\0' ? atoi(f[3]) : -1;
		w.pid = atol(f[4]);
		w.activity = atol(f[5]);
		w.history = atol(f[6]);
		w.cx = atol(f[7]);
		w.cy = atol(f[8]);
		snprintf(w.name, sizeof w.name, "%s", f[9]);
		*out = xrealloc(*out, (n + 1) * sizeof **out);
		(*out)[n++] = w;
	}
	free(copy);
	return n;
}

/* Text with control characters other than newline and tab removed. */
char *
tmux_plain_text(const char *text)
{
	char	*out = xstrdup(text != NULL ? text : ""), *w = out;
	const char *r;

	for (r = out; *r != '\0'; r++) {
		unsigned char c = (unsigned char)*r;

		if (c >= 0x20 || c == '\n' || c == '\t')
			*w++ = (char)c;
	}
	*w = '\0';
	return out;
}
