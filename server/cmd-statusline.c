/*
 * cmd-statusline.c: `taskgate statusline URL`, the status line taskgate
 * gives each Claude Code window (its settings' statusLine command).
 * Claude Code runs it with its status JSON on stdin (context share,
 * cost, model); it posts that JSON to URL (the daemon's
 * /api/hooks/ID/status) with the window's secret from
 * TASKGATE_HOOK_SECRET, and prints one short line for the status bar.
 *
 * A user who has a status line of their own keeps it: the first
 * statusLine command of their Claude Code settings (the project's
 * .claude/settings.local.json, then .claude/settings.json, then
 * ~/.claude/settings.json, as Claude Code ranks them) is run as Claude
 * Code runs it, by /bin/sh -c in the project's directory with the same
 * JSON on stdin, and what it prints is printed instead of taskgate's
 * line.  A status line must never get in the agent's way: whatever fails,
 * it prints what it can and exits 0, within two seconds for the post and
 * STATUSLINE_USER_S for the user's command (then it is killed).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "taskgate.h"

#define STATUSLINE_MAX		(64 * 1024)	/* bytes of JSON read */
#define STATUSLINE_TIMEOUT_MS	2000L
#define STATUSLINE_USER_S	2.0	/* the user's own command, at most */
#define STATUSLINE_USER_OUT	4096	/* bytes of what it prints */
#define STATUSLINE_SETTINGS_MAX	(1024 * 1024)	/* bytes of a settings file */
#define STATUSLINE_NESTED	"TASKGATE_STATUSLINE_NESTED"

static size_t
cmd_statusline_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Posts body to url with the secret; quietly, since nobody reads it. */
static void
cmd_statusline_post(const char *url, const char *secret, const char *body,
    size_t len)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	char			*header;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (c = curl_easy_init()) == NULL)
		return;
	xasprintf(&header, "X-Taskgate-Hook: %s", secret);
	h = curl_slist_append(h, header);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, STATUSLINE_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cmd_statusline_discard);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(header);
	curl_global_cleanup();
}

/*
 * The statusLine command of the Claude Code settings file at path (new),
 * or NULL: none, or not readable.  Only a regular file of sane size is
 * read, opened without blocking: a FIFO or a device planted under that
 * name would hang the status line, which must answer at once.
 */
static char *
cmd_statusline_command_in(const char *path)
{
	json_t		*doc, *line;
	const char	*type, *cmd;
	char		*out = NULL;
	struct stat	 st;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > STATUSLINE_SETTINGS_MAX) {
		close(fd);
		return NULL;
	}
	doc = json_loadfd(fd, 0, NULL);
	close(fd);
	if (doc == NULL)
		return NULL;
	line = json_object_get(doc, "statusLine");
	type = json_string_value(json_object_get(line, "type"));
	cmd = json_string_value(json_object_get(line, "command"));
	if (type != NULL && strcmp(type, "command") == 0 && cmd != NULL &&
	    cmd[0] != '\0')
		out = xstrdup(cmd);
	json_decref(doc);
	return out;
}

/*
 * The user's own status line command (new), from their settings as
 * Claude Code ranks them, for the project in dir; NULL when they have
 * none.
 */
static char *
cmd_statusline_users(const char *dir)
{
	const char	*home = getenv("HOME"), *conf = getenv("CLAUDE_CONFIG_DIR");
	char		*path, *cmd = NULL;

	if (dir != NULL) {
		xasprintf(&path, "%s/.claude/settings.local.json", dir);
		cmd = cmd_statusline_command_in(path);
		free(path);
		if (cmd == NULL) {
			xasprintf(&path, "%s/.claude/settings.json", dir);
			cmd = cmd_statusline_command_in(path);
			free(path);
		}
	}
	if (cmd == NULL && (conf != NULL && conf[0] != '\0')) {
		xasprintf(&path, "%s/settings.json", conf);
		cmd = cmd_statusline_command_in(path);
		free(path);
	} else if (cmd == NULL && home != NULL && home[0] != '\0') {
		xasprintf(&path, "%s/.claude/settings.json", home);
		cmd = cmd_statusline_command_in(path);
		free(path);
	}
	return cmd;
}

/*
 * Runs the user's own status line with body on its stdin and prints what
 * it printed; false when they have none, or it printed nothing (then
 * taskgate's line is printed).  Its exit status does not matter, as for
 * Claude Code; one that hangs is killed.
 */
static bool
cmd_statusline_run_users(json_t *doc, const char *body, size_t len)
{
	struct spawn_result	 res;
	const char		*dir;
	char			*cmd, *argv[4], cwd[PATH_MAX];
	char			 sh[] = "/bin/sh", dash_c[] = "-c";
	bool			 printed = false;
	size_t			 n;

	/* Never itself again, should a settings file name taskgate's. */
	if (getenv(STATUSLINE_NESTED) != NULL)
		return false;
	dir = json_string_value(json_object_get(json_object_get(doc,
	    "workspace"), "project_dir"));
	if (dir == NULL)
		dir = json_string_value(json_object_get(doc, "cwd"));
	if (dir == NULL || dir[0] != '/')
		dir = getcwd(cwd, sizeof cwd);
	if ((cmd = cmd_statusline_users(dir)) == NULL)
		return false;
	setenv(STATUSLINE_NESTED, "1", 1);
	argv[0] = sh;
	argv[1] = dash_c;
	argv[2] = cmd;
	argv[3] = NULL;
	if (spawn_run_input(argv, dir, STATUSLINE_USER_S, body, len,
	    &res) == 0 && res.out.len > 0) {
		n = res.out.len < STATUSLINE_USER_OUT ? res.out.len :
		    STATUSLINE_USER_OUT;
		fwrite(res.out.data, 1, n, stdout);
		printed = true;
	}
	spawn_result_clear(&res);
	free(cmd);
	return printed;
}

int
cmd_statusline(int argc, char **argv)
{
	const char	*secret = getenv("TASKGATE_HOOK_SECRET");
	json_t		*doc, *pct, *cost;
	char		*body = xmalloc(STATUSLINE_MAX + 1);
	size_t		 len;

	len = fread(body, 1, STATUSLINE_MAX, stdin);
	body[len] = '\0';
	if (argc == 2 && strncmp(argv[1], "http://", 7) == 0 &&
	    secret != NULL && secret[0] != '\0')
		cmd_statusline_post(argv[1], secret, body, len);
	doc = json_loadb(body, len, 0, NULL);
	pct = json_object_get(json_object_get(doc, "context_window"),
	    "used_percentage");
	cost = json_object_get(json_object_get(doc, "cost"),
	    "total_cost_usd");
	/* The user's own line, as they wrote it, or taskgate's: numbers
	 * only, nothing from outside reaches the terminal. */
	if (cmd_statusline_run_users(doc, body, len))
		;
	else if (json_is_number(pct) && json_is_number(cost))
		printf("taskgate · context %.0f%% · $%.2f\n",
		    json_number_value(pct), json_number_value(cost));
	else if (json_is_number(pct))
		printf("taskgate · context %.0f%%\n", json_number_value(pct));
	else
		printf("taskgate\n");
	json_decref(doc);
	free(body);
	return 0;
}
