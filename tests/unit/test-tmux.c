/*
 * test-tmux.c: how taskgate reads a pane.  A context-exhaustion phrase
 * counts in the pane's last 100 lines (blank lines at the end aside), in
 * any case, and not further up; a question on the last line is
 * waiting-input; the plain text keeps newlines and tabs and drops other
 * control characters.
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
pane(const char *line, int after, int blank)
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

static enum stall_state
classify(const char *text, const char **reason)
{
	return tmux_classify(text, tmux_default_phrases, reason);
}

static void
test_a_phrase_counts_in_the_last_100_lines_only(void **state)
{
	const char	*reason;
	char		*text;

	(void)state;
	/* The phrase on the 100th line from the end, under a screen of
	 * blank lines as tmux pads it. */
	text = pane("Error: Context Window Exceeded", TMUX_CLASSIFY_LINES - 1,
	    40);
	assert_int_equal(classify(text, &reason), STALL_CONTEXT_EXHAUSTED);
	assert_string_equal(reason, "context window exceeded");
	free(text);
	/* One line of work more, and it is history. */
	text = pane("Error: Context Window Exceeded", TMUX_CLASSIFY_LINES, 40);
	assert_int_equal(classify(text, &reason), STALL_OK);
	assert_null(reason);
	free(text);
	text = pane("The conversation is too long", 0, 0);
	assert_int_equal(classify(text, &reason), STALL_CONTEXT_EXHAUSTED);
	free(text);
}

static void
test_configured_phrases_replace_the_defaults(void **state)
{
	const char *const	 mine[] = { "out of tokens", NULL };
	const char		*reason;

	(void)state;
	assert_int_equal(tmux_classify("step 1\nOUT OF TOKENS, sorry\n", mine,
	    &reason), STALL_CONTEXT_EXHAUSTED);
	assert_string_equal(reason, "out of tokens");
	assert_int_equal(tmux_classify("context window exceeded\n", mine,
	    &reason), STALL_OK);
	assert_int_equal(tmux_classify(NULL, mine, &reason), STALL_OK);
	assert_int_equal(tmux_classify("", mine, &reason), STALL_OK);
}

static void
test_a_question_on_the_last_line_waits_for_input(void **state)
{
	const char	*reason;

	(void)state;
	assert_int_equal(classify("Edit main.c?\nDo you want to proceed? "
	    "(y/n)\n\n\n", &reason), STALL_WAITING_INPUT);
	assert_string_equal(reason, "Do you want to proceed? (y/n)");
	/* Asked and answered: the last line is work again. */
	assert_int_equal(classify("Proceed? (y/n)\ny\nworking\n", &reason),
	    STALL_OK);
}

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_a_phrase_counts_in_the_last_100_lines_only),
		cmocka_unit_test(test_configured_phrases_replace_the_defaults),
		cmocka_unit_test(
		    test_a_question_on_the_last_line_waits_for_input),
		cmocka_unit_test(test_plain_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
