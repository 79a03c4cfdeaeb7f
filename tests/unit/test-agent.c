/*
 * test-agent.c: an agent's state from its hook events, its pane (the
 * texts the real Claude Code prints; for any agent, a context-exhaustion
 * phrase in the pane's last 100 lines, blank lines at the end aside, in
 * any case, and not further up; a question on the last line) and its
 * process (agent.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

/* A pane: line, then `after` lines of work, then `blank` empty lines. */
static char *
lines_pane(const char *line, int after, int blank)
{
	char	*text = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&text, &len);
	int	 i;

	assert_non_null(f);
	fprintf(f, "$ claude\n%s\n", line);
	for (i = 0; i < after; i++)
		fprintf(f, "working on step %d\n", i);
	for (i = 0; i < blank; i++)
		fputc('\n', f);
	fclose(f);
	return text;
}

static char reason_buf[200];

static enum agent_state
classify(const char *text, const char **reason)
{
	enum agent_state st = agent_from_pane(text, agent_default_phrases,
	    reason_buf, sizeof reason_buf);

	*reason = reason_buf[0] != '\0' ? reason_buf : NULL;
	return st;
}

static void
test_a_phrase_counts_in_the_last_100_lines_only(void **state)
{
	const char	*reason;
	char		*text;

	(void)state;
	/* The phrase on the 100th line from the end, under a screen of
	 * blank lines as tmux pads it. */
	text = lines_pane("Error: Context Window Exceeded", AGENT_PHRASE_LINES - 1,
	    40);
	assert_int_equal(classify(text, &reason), AGENT_CONTEXT_EXHAUSTED);
	assert_string_equal(reason, "context window exceeded");
	free(text);
	/* One line of work more, and it is history. */
	text = lines_pane("Error: Context Window Exceeded", AGENT_PHRASE_LINES, 40);
	assert_int_equal(classify(text, &reason), AGENT_UNKNOWN);
	assert_null(reason);
	free(text);
	text = lines_pane("The conversation is too long", 0, 0);
	assert_int_equal(classify(text, &reason), AGENT_CONTEXT_EXHAUSTED);
	free(text);
}

static void
test_configured_phrases_replace_the_defaults(void **state)
{
	const char *const	 mine[] = { "out of tokens", NULL };
	const char		*reason;

	(void)state;
	char			 r[200];

	assert_int_equal(agent_from_pane("step 1\nOUT OF TOKENS, sorry\n",
	    mine, r, sizeof r), AGENT_CONTEXT_EXHAUSTED);
	assert_string_equal(r, "out of tokens");
	assert_int_equal(agent_from_pane("context window exceeded\n", mine,
	    r, sizeof r), AGENT_UNKNOWN);
	assert_int_equal(agent_from_pane(NULL, mine, r, sizeof r),
	    AGENT_UNKNOWN);
	assert_int_equal(agent_from_pane("", mine, r, sizeof r),
	    AGENT_UNKNOWN);
	(void)reason;
}

static void
test_a_question_on_the_last_line_waits_for_input(void **state)
{
	const char	*reason;

	(void)state;
	assert_int_equal(classify("Edit main.c?\nDo you want to proceed? "
	    "(y/n)\n\n\n", &reason), AGENT_WAITING_INPUT);
	assert_string_equal(reason, "Do you want to proceed? (y/n)");
	/* Asked and answered: the last line is work again. */
	assert_int_equal(classify("Proceed? (y/n)\ny\nworking\n", &reason),
	    AGENT_UNKNOWN);
}

static enum agent_state
hook(const char *json, char *reason, size_t len)
{
	json_error_t		 e;
	json_t			*body = json_loads(json, 0, &e);
	struct agent_fact	 f;
	int			 rc;

	assert_non_null(body);
	rc = agent_from_hook(body, 100.0, &f);
	json_decref(body);
	assert_int_equal(rc, 0);
	if (reason != NULL)
		snprintf(reason, len, "%s", f.reason);
	return f.state;
}

static enum agent_state
pane(const char *text, char *reason, size_t len)
{
	static const char *const phrases[] = { "context window exceeded", NULL };

	return agent_from_pane(text, phrases, reason, len);
}

static void
test_hooks_name_the_state(void **state)
{
	char	r[200];

	(void)state;
	assert_int_equal(hook("{\"hook_event_name\":\"UserPromptSubmit\","
	    "\"session_id\":\"s\",\"prompt\":\"/continue Stream-B\"}", NULL, 0),
	    AGENT_WORKING);
	assert_int_equal(hook("{\"hook_event_name\":\"PreToolUse\","
	    "\"tool_name\":\"Bash\"}", NULL, 0), AGENT_WORKING);
	assert_int_equal(hook("{\"hook_event_name\":\"PermissionRequest\","
	    "\"tool_name\":\"Bash\"}", r, sizeof r), AGENT_WAITING_INPUT);
	assert_string_equal(r, "asks permission to use Bash");
	assert_int_equal(hook("{\"hook_event_name\":\"Notification\","
	    "\"notification_type\":\"permission_prompt\",\"message\":"
	    "\"Claude needs your permission to use Bash\"}", r, sizeof r),
	    AGENT_WAITING_INPUT);
	assert_string_equal(r, "Claude needs your permission to use Bash");
	assert_int_equal(hook("{\"hook_event_name\":\"Notification\","
	    "\"notification_type\":\"idle_prompt\"}", NULL, 0), AGENT_IDLE);
	assert_int_equal(hook("{\"hook_event_name\":\"Stop\","
	    "\"last_assistant_message\":\"Done.\"}", NULL, 0), AGENT_IDLE);
	assert_int_equal(hook("{\"hook_event_name\":\"StopFailure\","
	    "\"error\":\"rate_limit\"}", NULL, 0), AGENT_USAGE_LIMITED);
	assert_int_equal(hook("{\"hook_event_name\":\"StopFailure\","
	    "\"error\":\"authentication_failed\"}", NULL, 0), AGENT_NEEDS_LOGIN);
	assert_int_equal(hook("{\"hook_event_name\":\"StopFailure\","
	    "\"error\":\"billing_error\"}", NULL, 0), AGENT_NEEDS_LOGIN);
	assert_int_equal(hook("{\"hook_event_name\":\"StopFailure\","
	    "\"error\":\"server_error\"}", NULL, 0), AGENT_API_ERROR);
	assert_int_equal(hook("{\"hook_event_name\":\"StopFailure\","
	    "\"error\":\"invalid_request\",\"error_details\":\"Prompt is too "
	    "long\"}", NULL, 0), AGENT_CONTEXT_EXHAUSTED);
	assert_int_equal(hook("{\"hook_event_name\":\"SessionEnd\","
	    "\"reason\":\"other\"}", r, sizeof r), AGENT_DEAD);
	assert_string_equal(r, "the session ended (other)");
	/* Known, but no word on the state. */
	assert_int_equal(hook("{\"hook_event_name\":\"Notification\","
	    "\"notification_type\":\"auth_success\"}", NULL, 0), AGENT_UNKNOWN);
}

static void
test_a_body_that_is_no_hook_event_is_refused(void **state)
{
	static const char *const bad[] = {
		"{}", "{\"hook_event_name\":\"Bogus\"}",
		"{\"hook_event_name\":42}", "[\"Stop\"]", "\"Stop\"",
		"{\"hook_event_name\":\"stop\"}",
	};
	struct agent_fact	f;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *body = json_loads(bad[i], JSON_DECODE_ANY, NULL);

		assert_non_null(body);
		assert_int_equal(agent_from_hook(body, 1.0, &f), -1);
		json_decref(body);
	}
	assert_true(agent_hook_known("PreCompact"));
	assert_false(agent_hook_known(NULL));
}

/* The screens of Claude Code 2.1.332, as its panes show them (copied
 * from tests/claude/OBSERVED.md, where the real binary drew them). */
#define RULE	"────────────────────────────────────────\n"
#define BOX	RULE "❯\n" RULE "  taskgate-rig status\n"

static const char idle_screen[] =
    "❯ Say hello\n"
    "\n"
    "● Hello from the stand-in.\n"
    "\n"
    "✻ Brewed for 0s · done 12:14 PM\n"
    "\n\n\n"
    "                                      ◐ medium · /effort\n"
    BOX
    "  ⏸ manual mode on\n";

static const char working_screen[] =
    "❯ Say hello\n"
    "\n\n\n"
    "✽ Warping… (running UserPromptSubmit hook · 1s)\n"
    "                                      ◐ medium · /effort\n"
    BOX
    "  ⏸ manual mode on · esc to interrupt · ← for agents\n";

static const char hang_screen[] =
    "❯ Do the work\n"
    "\n"
    "· Billowing… (1m 27s)\n"
    "\n"
    BOX
    "  ⏸ manual mode on · esc to interrupt\n";

static const char limit_screen[] =
    "❯ Do the work\n"
    "  ● API Error: Request rejected (429) · This request would exceed "
    "your account's rate limit. Please try again later.\n"
    "\n"
    RULE
    "❯ Resend your message to try again\n"
    RULE
    "  ⏸ manual mode on\n";

static const char limit_retrying_screen[] =
    "❯ Do the work\n"
    "\n"
    "✻ 429 This request would exceed your account's rate limit. Please "
    "try again later. · retrying in 35s · attempt 5/10\n"
    "\n"
    BOX
    "  ⏸ manual mode on · esc to interrupt\n";

static const char retrying_screen[] =
    "❯ Do the work\n"
    "\n"
    "✻ API error · retrying in 1s · attempt 1/10\n"
    "\n"
    BOX
    "  ⏸ manual mode on · esc to interrupt\n";

static const char overloaded_screen[] =
    "❯ Do the work\n"
    "● API Error: Repeated 529 Overloaded errors. The API is at capacity — "
    "this is usually temporary.\n"
    "\n"
    RULE
    "❯ Resend your message to try again\n"
    RULE
    "  ⏸ manual mode on\n";

static const char long_screen[] =
    "❯ Do the work\n"
    "  ⎿  Prompt is too long · the request is ~212000 tokens (limit 200000) "
    "but this conversation is only ~2778 tokens\n"
    "\n"
    RULE
    "❯ Once fixed, resend your message\n"
    RULE
    "  ⏸ manual mode on\n";

static const char context_limit_screen[] =
    "❯ two\n"
    "  ⎿  Context limit reached · /compact or /clear to continue\n"
    "\n"
    RULE
    "❯ Once fixed, resend your message\n"
    RULE
    "  ⏸ manual mode on\n";

static const char permission_screen[] =
    RULE
    " Bash command\n"
    " Create x\n"
    "╌╌╌╌╌╌╌╌\n"
    " touch x\n"
    "╌╌╌╌╌╌╌╌\n"
    " Do you want to proceed?\n"
    " ❯ 1. Yes\n"
    "   2. Yes, and always allow access to /tmp/p from this project\n"
    "   3. Yes, and switch to auto mode · auto mode handles these prompts\n"
    "   4. No\n"
    "\n"
    " Esc to cancel · Tab to amend\n";

static const char denied_screen[] =
    "❯ Create x\n"
    "  Did not run 1 call\n"
    "  ⎿  $ touch x\n"
    "\n"
    BOX
    "  ⏸ manual mode on\n";

static void
test_claude_code_screens(void **state)
{
	char	r[200];

	(void)state;
	assert_int_equal(pane(idle_screen, r, sizeof r), AGENT_IDLE);
	/* The input box is drawn while it works too: the mode line says. */
	assert_int_equal(pane(working_screen, r, sizeof r), AGENT_WORKING);
	assert_int_equal(pane(hang_screen, r, sizeof r), AGENT_WORKING);
	assert_int_equal(pane(limit_screen, r, sizeof r), AGENT_USAGE_LIMITED);
	assert_non_null(strstr(r, "429"));
	assert_int_equal(pane(limit_retrying_screen, r, sizeof r),
	    AGENT_USAGE_LIMITED);
	assert_int_equal(pane(retrying_screen, r, sizeof r), AGENT_API_ERROR);
	assert_non_null(strstr(r, "retrying in 1s"));
	assert_int_equal(pane(overloaded_screen, r, sizeof r), AGENT_API_ERROR);
	assert_string_equal(r, "API Error: Repeated 529 Overloaded errors. The "
	    "API is at capacity — this is usually temporary.");
	/* Another mark before an error keeps its whole character. */
	assert_int_equal(pane("❯ go\n  ⚠ API Error: rate limit\n\n" BOX
	    "  ⏸ manual mode on\n", r, sizeof r), AGENT_USAGE_LIMITED);
	assert_string_equal(r, "⚠ API Error: rate limit");
	assert_int_equal(pane(long_screen, r, sizeof r),
	    AGENT_CONTEXT_EXHAUSTED);
	assert_non_null(strstr(r, "Prompt is too long"));
	assert_int_equal(pane(context_limit_screen, r, sizeof r),
	    AGENT_CONTEXT_EXHAUSTED);
	assert_int_equal(pane(permission_screen, r, sizeof r),
	    AGENT_WAITING_INPUT);
	assert_non_null(strstr(r, "Do you want to proceed?"));
	/* Refused: no hook says so, the pane does. */
	assert_int_equal(pane(denied_screen, r, sizeof r), AGENT_IDLE);
}

/*
 * The whole screen of a 50-line window, as Claude Code leaves it after a
 * short turn that failed: the banner, the prompt and its error near the
 * top, dozens of blank lines, then the input box at the bottom.
 */
static void
test_an_error_at_the_top_of_the_screen_names_the_state(void **state)
{
	static const struct {
		const char		*error;
		enum agent_state	 want;
	} cases[] = {
		{ "● API Error: Request rejected (429) · This request would "
		    "exceed your account's rate limit. Please try again later.",
		    AGENT_USAGE_LIMITED },
		{ "● API Error: Repeated 529 Overloaded errors. The API is at "
		    "capacity — this is usually temporary.", AGENT_API_ERROR },
		{ "  ⎿  Prompt is too long · the request is ~212000 tokens "
		    "(limit 200000)", AGENT_CONTEXT_EXHAUSTED },
		{ "● Picked up Stream-B from its checkpoint.", AGENT_IDLE },
	};
	char	*text, r[200];
	size_t	 len, c;
	FILE	*f;
	int	 i;

	(void)state;
	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		f = open_memstream(&text, &len);
		assert_non_null(f);
		fprintf(f, "\n ▐▛███▛█   Claude Code v2.1.332\n"
		    "▝▜██████▀  Opus 5.5 · API Usage Billing\n"
		    " ▝▝   ▝▝   /tmp/project/wt/Stream-D\n\n\n"
		    "❯ /continue Stream-D\n%s\n", cases[c].error);
		for (i = 0; i < 36; i++)
			fputc('\n', f);
		fprintf(f, "%100s◐ medium · /effort\n" RULE "❯ Resend your "
		    "message to try again\n" RULE "  ⏸ manual mode on\n", "");
		fclose(f);
		assert_int_equal(pane(text, r, sizeof r), cases[c].want);
		free(text);
	}
}

static void
test_an_old_error_above_a_later_answer_is_idle(void **state)
{
	char	r[200];
	char	text[2048];

	(void)state;
	/* The 429 scrolled up; a later prompt was answered. */
	snprintf(text, sizeof text, "  ⎿  API Error: Request rejected (429)\n"
	    "%s", idle_screen);
	assert_int_equal(pane(text, r, sizeof r), AGENT_IDLE);
}

static void
test_other_agents(void **state)
{
	char	r[200];

	(void)state;
	assert_int_equal(pane("working...\nError: context window exceeded\n",
	    r, sizeof r), AGENT_CONTEXT_EXHAUSTED);
	assert_string_equal(r, "context window exceeded");
	assert_int_equal(pane("fake-claude> Do you want to proceed? (y/n)\n",
	    r, sizeof r), AGENT_WAITING_INPUT);
	assert_int_equal(pane("working on: /continue Stream-B\nfake-claude> ",
	    r, sizeof r), AGENT_UNKNOWN);
	assert_int_equal(pane("", r, sizeof r), AGENT_UNKNOWN);
	assert_int_equal(agent_from_pane(NULL, NULL, r, sizeof r),
	    AGENT_UNKNOWN);
}

/* Is s valid UTF-8?  (jansson refuses a string that is not.) */
static bool
valid_utf8(const char *s)
{
	json_t	*j = json_string(s);
	bool	 ok = j != NULL;

	json_decref(j);
	return ok;
}

/*
 * Claude Code's lines are wide and full of multibyte characters (rules of
 * "─", "·", "—"): evidence cut to its buffer's size stays valid UTF-8, or
 * the event that carries it would lose it.
 */
static void
test_evidence_cut_to_size_stays_utf8(void **state)
{
	char		 rule[200 * 3 + 1], pane_text[2048], tail[600], r[200];
	char		 line[400];
	struct agent_fact f;
	json_t		*body;
	int		 i, shift;

	(void)state;
	rule[0] = '\0';
	for (i = 0; i < 200; i++)
		strcat(rule, "─");
	for (shift = 0; shift < 3; shift++) {
		/* The pane of a /continue Claude Code did not take. */
		snprintf(pane_text, sizeof pane_text, "❯ /resume Stream-B%.*s\n"
		    "  ⎿  Session Stream-B was not found.\n\n\n%s\n❯ \n%s\n"
		    "  ⏸ manual mode on\n", shift, "xx", rule, rule);
		agent_pane_tail_copy(pane_text, 8, tail, sizeof tail);
		assert_true(valid_utf8(tail));
		assert_true(strncmp(tail, "❯ /resume", 9) == 0);
		assert_true(strlen(tail) > sizeof tail - 4);
	}
	/* An error line wider than the reason, cut inside a "—". */
	for (shift = 0; shift < 3; shift++) {
		snprintf(line, sizeof line, "%.*s", shift, "xx");
		for (i = 0; i < 70; i++)
			strcat(line, "—");
		snprintf(pane_text, sizeof pane_text, "● API Error: %s\n%s\n❯ "
		    "\n%s\n  ⏸ manual mode on\n", line, rule, rule);
		assert_int_equal(agent_from_pane(pane_text, NULL, r, sizeof r),
		    AGENT_API_ERROR);
		assert_true(valid_utf8(r));
		assert_true(strncmp(r, "API Error: ", 11) == 0);
	}
	/* A hook's message, cut by the reason's precision. */
	for (shift = 0; shift < 3; shift++) {
		snprintf(line, sizeof line, "%.*s", shift, "xx");
		for (i = 0; i < 100; i++)
			strcat(line, "é");
		body = json_pack("{s:s,s:s,s:s}", "hook_event_name",
		    "Notification", "notification_type", "permission_prompt",
		    "message", line);
		assert_int_equal(agent_from_hook(body, 1.0, &f), 0);
		assert_int_equal(f.state, AGENT_WAITING_INPUT);
		assert_true(valid_utf8(f.reason));
		assert_true(strlen(f.reason) >= 148);
		json_decref(body);
	}
}

static void
test_a_limit_reached_is_spent(void **state)
{
	struct agent_spend	sp = { 0.99, 1.0, 5.0, 0 };
	char			why[200];

	(void)state;
	assert_false(agent_spend_over(&sp, why, sizeof why));
	assert_string_equal(why, "");
	sp.stream_usd = 1.0;		/* reached: spent */
	assert_true(agent_spend_over(&sp, why, sizeof why));
	assert_non_null(strstr(why, "$1.00"));
	assert_non_null(strstr(why, "maxCostUsd"));
	sp = (struct agent_spend){ 0.1, 0, 7.25, 7.0 };
	assert_true(agent_spend_over(&sp, why, sizeof why));
	assert_non_null(strstr(why, "all streams together have cost $7.25"));
	sp = (struct agent_spend){ 99, 0, 99, 0 };	/* no limits */
	assert_false(agent_spend_over(&sp, why, sizeof why));
	assert_string_equal(agent_state_name(AGENT_BUDGET_SPENT),
	    "budget-spent");
	assert_int_equal(agent_state_from_name("budget-spent"),
	    AGENT_BUDGET_SPENT);
}

static void
test_the_newest_witness_wins_and_death_beats_all(void **state)
{
	struct agent_fact	h = { AGENT_WAITING_INPUT, 10.0, "hook" };
	struct agent_fact	p = { AGENT_WORKING, 5.0, "pane" };
	struct agent_fact	d = { AGENT_DEAD, 1.0, "exited" };
	struct agent_fact	none = { AGENT_UNKNOWN, 0, "" };
	struct agent_fact	out;

	(void)state;
	agent_combine(&h, &p, &none, &out);
	assert_int_equal(out.state, AGENT_WAITING_INPUT);
	p.at = 10.5;	/* the pane still drawing what the hook said */
	agent_combine(&h, &p, &none, &out);
	assert_int_equal(out.state, AGENT_WAITING_INPUT);
	p.at = 12.0;	/* the pane moved on after the hook */
	agent_combine(&h, &p, &none, &out);
	assert_int_equal(out.state, AGENT_WORKING);
	p.state = AGENT_UNKNOWN;	/* a pane that says nothing */
	agent_combine(&h, &p, &none, &out);
	assert_int_equal(out.state, AGENT_WAITING_INPUT);
	agent_combine(&h, &p, &d, &out);
	assert_int_equal(out.state, AGENT_DEAD);
	agent_combine(NULL, NULL, NULL, &out);
	assert_int_equal(out.state, AGENT_UNKNOWN);
	assert_true(agent_state_protected(AGENT_WAITING_INPUT));
	assert_true(agent_state_protected(AGENT_USAGE_LIMITED));
	assert_true(agent_state_protected(AGENT_NEEDS_LOGIN));
	assert_false(agent_state_protected(AGENT_CONTEXT_EXHAUSTED));
	assert_false(agent_state_protected(AGENT_IDLE));
}

static void
test_a_turn_that_ends_with_work_left_is_nudged(void **state)
{
	struct model_counts	c = { 3, 1, 0, 0, 2, 0 };
	char			r[512];

	(void)state;
	assert_true(agent_nudge("Stream-B", &c, 0, 2, r, sizeof r));
	assert_non_null(strstr(r, "stream Stream-B is not complete: 1 of 3 "
	    "tasks done, 2 left"));
	assert_true(agent_nudge("Stream-B", &c, 1, 2, r, sizeof r));
	/* At most max in a row. */
	assert_false(agent_nudge("Stream-B", &c, 2, 2, r, sizeof r));
	assert_false(agent_nudge("Stream-B", &c, 0, 0, r, sizeof r));
	/* Complete, empty, or all that is left waits for a person. */
	c = (struct model_counts){ 3, 3, 0, 0, 0, 0 };
	assert_false(agent_nudge("Stream-B", &c, 0, 2, r, sizeof r));
	/* Cancelled tasks are done too (Task Copilot 3). */
	c = (struct model_counts){ 4, 3, 0, 0, 0, 1 };
	assert_false(agent_nudge("Stream-B", &c, 0, 2, r, sizeof r));
	c = (struct model_counts){ 0, 0, 0, 0, 0, 0 };
	assert_false(agent_nudge("Stream-B", &c, 0, 2, r, sizeof r));
	c = (struct model_counts){ 3, 2, 0, 1, 0, 0 };
	assert_false(agent_nudge("Stream-B", &c, 0, 2, r, sizeof r));
	/* A blocked task beside others still to do: go on with those. */
	c = (struct model_counts){ 3, 1, 0, 1, 1, 0 };
	assert_true(agent_nudge("Stream-B", &c, 0, 2, r, sizeof r));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_a_phrase_counts_in_the_last_100_lines_only),
		cmocka_unit_test(test_configured_phrases_replace_the_defaults),
		cmocka_unit_test(
		    test_a_question_on_the_last_line_waits_for_input),
		cmocka_unit_test(test_hooks_name_the_state),
		cmocka_unit_test(test_a_turn_that_ends_with_work_left_is_nudged),
		cmocka_unit_test(test_a_body_that_is_no_hook_event_is_refused),
		cmocka_unit_test(test_claude_code_screens),
		cmocka_unit_test(test_an_old_error_above_a_later_answer_is_idle),
		cmocka_unit_test(
		    test_an_error_at_the_top_of_the_screen_names_the_state),
		cmocka_unit_test(test_other_agents),
		cmocka_unit_test(test_evidence_cut_to_size_stays_utf8),
		cmocka_unit_test(test_the_newest_witness_wins_and_death_beats_all),
		cmocka_unit_test(test_a_limit_reached_is_spent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
