/*
 * test-tmux.c: what taskgate reads from tmux and tells it.  The plain
 * text of a pane keeps newlines and tabs and drops other control
 * characters; an argument ending in ';' stays one literal argument, and
 * a new window keeps the pane of an agent that exits within the same tmux
 * command; a directory or a name tmux expands as a format comes out of it
 * as it was; a one-word agent is exec'd by env, never given to a shell; a
 * missing pty is said plainly.  (What a pane's text means is
 * test-agent.c's.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

/* A writable copy of a string literal, for the argument vectors execvp
 * takes as char *const []. */
#define ARG(s)	((char []){ s })

static void
test_plain_text(void **state)
{
	char	*t = tmux_plain_text("a\tb\x1b[31mred\x07\r\nc");

	(void)state;
	assert_string_equal(t, "a\tb[31mred\nc");
	free(t);
	t = tmux_plain_text(NULL);
	assert_string_equal(t, "");
	free(t);
}

/* The argv joined with spaces, to compare with what a person would type. */
static char *
joined(char **argv)
{
	char	*text = NULL;
	size_t	 len = 0, i;
	FILE	*f = open_memstream(&text, &len);

	assert_non_null(f);
	for (i = 0; argv[i] != NULL; i++)
		fprintf(f, "%s%s", i ? " " : "", argv[i]);
	fclose(f);
	tmux_argv_free(argv);
	return text;
}

static void
test_a_new_session_keeps_a_dead_pane_in_the_same_command(void **state)
{
	char *const	 agent[] = { ARG("claude"), ARG("--resume"), NULL };
	char		*t;

	(void)state;
	t = joined(tmux_argv_new_window("claude-streams", false, "Stream-B",
	    "/srv/wt/B", NULL, agent));
	assert_string_equal(t, "tmux new-session -d -P -F #{window_id} "
	    "#{pane_id} -s claude-streams -n Stream-B -c /srv/wt/B -x 200 "
	    "-y 50 -- env -- claude --resume ; set-option -w -t "
	    "=claude-streams: remain-on-exit on ; set-hook -t =claude-streams: "
	    "after-new-window set-option -w remain-on-exit on");
	free(t);
	t = joined(tmux_argv_new_window("claude-streams", true, "Stream-C",
	    "/srv/wt/C", NULL, agent));
	assert_string_equal(t, "tmux set-hook -t =claude-streams: "
	    "after-new-window set-option -w remain-on-exit on ; new-window "
	    "-d -P -F #{window_id} #{pane_id} -t =claude-streams: -n "
	    "Stream-C -c /srv/wt/C -- env -- claude --resume");
	free(t);
	/* The hooks' secret goes into the agent's environment only. */
	t = joined(tmux_argv_new_window("claude-streams", true, "Stream-C",
	    "/srv/wt/C", "TASKGATE_HOOK_SECRET=ab12", agent));
	assert_string_equal(t, "tmux set-hook -t =claude-streams: "
	    "after-new-window set-option -w remain-on-exit on ; new-window "
	    "-d -P -F #{window_id} #{pane_id} -t =claude-streams: -n "
	    "Stream-C -c /srv/wt/C -e TASKGATE_HOOK_SECRET=ab12 -- env -- "
	    "claude --resume");
	free(t);
}

static void
test_a_trailing_semicolon_is_never_a_tmux_command(void **state)
{
	char *const	 agent[] = { ARG("sh"), ARG("-c"), ARG("true;"),
			    ARG("x\\;"), ARG(";"), NULL };
	char		**argv;
	size_t		 n;

	(void)state;
	argv = tmux_argv_new_window("s", true, "A", "/wt/a;", NULL, agent);
	for (n = 0; argv[n] != NULL; n++)
		continue;
	/* The separator after set-hook, and nothing else, is a bare ';'. */
	assert_string_equal(argv[6], ";");
	assert_string_equal(argv[n - 9], "/wt/a\\;");
	assert_string_equal(argv[n - 3], "true\\;");
	assert_string_equal(argv[n - 2], "x\\\\;");
	assert_string_equal(argv[n - 1], "\\;");
	tmux_argv_free(argv);
	argv = tmux_argv_type("%1", "/continue A;");
	assert_string_equal(argv[6], "/continue A\\;");
	tmux_argv_free(argv);
}

/* The argument after flag in argv (freed), a new string. */
static char *
after(char **argv, const char *flag)
{
	char	*s = NULL;
	size_t	 i;

	for (i = 0; argv[i] != NULL && s == NULL; i++)
		if (strcmp(argv[i], flag) == 0 && argv[i + 1] != NULL)
			s = strdup(argv[i + 1]);
	tmux_argv_free(argv);
	assert_non_null(s);
	return s;
}

static void
check_directory(const char *dir, const char *said)
{
	char *const	 agent[] = { ARG("claude"), NULL };
	char		*t;

	t = after(tmux_argv_new_window("s", true, "A", dir, NULL, agent), "-c");
	assert_string_equal(t, said);
	free(t);
	t = after(tmux_argv_new_window("s", false, "A", dir, NULL, agent), "-c");
	assert_string_equal(t, said);
	free(t);
}

static void
test_a_directory_is_never_a_tmux_format(void **state)
{
	char *const	 agent[] = { ARG("claude"), NULL };
	char		*t;

	(void)state;
	/* tmux reads "##" as '#', so "#(...)" runs nothing. */
	check_directory("/wt/#(id>x)", "/wt/##(id>x)");
	check_directory("/wt/C#/#{pane_id}#S#", "/wt/C##/##{pane_id}##S##");
	check_directory("/wt/a##b", "/wt/a####b");
	/* A run of '#' before '[' is a style tmux keeps as it is. */
	check_directory("/wt/#[x]/##[y]/#(z)", "/wt/#[x]/##[y]/##(z)");
	check_directory("/srv/wt/B", "/srv/wt/B");
	/* The window's name and a new session's name are formats too. */
	t = after(tmux_argv_new_window("s#(id)", false, "A", "/", NULL, agent),
	    "-s");
	assert_string_equal(t, "s##(id)");
	free(t);
	t = after(tmux_argv_new_window("s", true, "#{host}", "/", NULL, agent),
	    "-n");
	assert_string_equal(t, "##{host}");
	free(t);
	/* Targets are not expanded: they stay as they are. */
	t = after(tmux_argv_new_window("s#(id)", true, "A", "/", NULL, agent),
	    "-t");
	assert_string_equal(t, "=s#(id):");
	free(t);
}

static void
test_a_one_word_agent_is_execd_by_env(void **state)
{
	char *const	 one[] = { ARG("true;touch${IFS}/tmp/x"), NULL };
	char *const	 eq[] = { ARG("FOO=1"), ARG("claude"), NULL };
	char *const	 semi[] = { ARG("claude"), ARG("a;"), NULL };
	char *const	 none[] = { NULL };
	char		*t;

	(void)state;
	/* tmux gives one argument to sh -c, several to execvp. */
	t = joined(tmux_argv_new_window("s", true, "A", "/wt", NULL, one));
	assert_string_equal(t, "tmux set-hook -t =s: after-new-window "
	    "set-option -w remain-on-exit on ; new-window -d -P -F "
	    "#{window_id} #{pane_id} -t =s: -n A -c /wt -- env -- "
	    "true;touch${IFS}/tmp/x");
	free(t);
	assert_null(tmux_agent_refusal(one));
	assert_non_null(strstr(tmux_agent_refusal(eq), "'='"));
	assert_non_null(strstr(tmux_agent_refusal(semi), "';'"));
	assert_string_equal(tmux_agent_refusal(none), "it is empty");
	assert_string_equal(tmux_agent_refusal(NULL), "it is empty");
}

static void
test_no_pty_is_said_in_plain_words(void **state)
{
	(void)state;
	assert_non_null(strstr(tmux_plain_error("create window failed: fork "
	    "failed: No such device"), "no pseudo-terminal"));
	assert_non_null(strstr(tmux_plain_error("create window failed: fork "
	    "failed: No such file or directory"), "/dev/pts"));
	assert_non_null(strstr(tmux_plain_error("create window failed: fork "
	    "failed: Resource temporarily unavailable"), "out of memory or "
	    "processes"));
	assert_null(tmux_plain_error("can't find session: =claude-streams"));
	assert_null(tmux_plain_error(""));
}

static void
test_what_tmux_says_is_not_there(void **state)
{
	(void)state;
	assert_true(tmux_said_gone("tmux kill-window failed (status 1): "
	    "server exited unexpectedly"));
	assert_true(tmux_said_gone("tmux list-windows failed (status 1): "
	    "can't find session: =claude-streams"));
	assert_true(tmux_said_gone("no server running on /tmp/tmux-0/default"));
	assert_false(tmux_said_gone("tmux list-windows failed (status 1): "
	    "lost server"));
	assert_false(tmux_said_gone("timed out after 10 s"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(
		    test_a_new_session_keeps_a_dead_pane_in_the_same_command),
		cmocka_unit_test(
		    test_a_trailing_semicolon_is_never_a_tmux_command),
		cmocka_unit_test(test_a_directory_is_never_a_tmux_format),
		cmocka_unit_test(test_a_one_word_agent_is_execd_by_env),
		cmocka_unit_test(test_no_pty_is_said_in_plain_words),
		cmocka_unit_test(test_what_tmux_says_is_not_there),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
