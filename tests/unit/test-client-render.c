/*
 * test-client-render.c: the overview document as the terminal text that
 * status (a tree per stream) and watch (a line per stream) print
 * (client-render.c): the phases in order, the streams by id, what each
 * line says, glyphs for the terminal's character set, and no byte of
 * the document's text that could drive the terminal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client.h"

/* An overview with one stream of each kind a person meets. */
static const char doc_text[] =
    "{\"generatedAt\":\"2026-11-27T10:14:00Z\","
    "\"polledAt\":\"2026-11-27T10:13:58Z\","
    "\"upstream\":{\"url\":\"http://127.0.0.1:9090\",\"status\":\"up\"},"
    "\"overall\":{\"totalTasks\":9,\"completedTasks\":4,"
    "\"progressPercentage\":44,\"streams\":3},"
    "\"streams\":["
    "{\"streamId\":\"Stream-B\",\"streamName\":\"Backend API\","
    "\"streamPhase\":\"parallel\",\"status\":\"in_progress\","
    "\"progressPercentage\":33,\"totalTasks\":3,\"completedTasks\":1,"
    "\"inProgressTasks\":1,\"blockedTasks\":1,\"pendingTasks\":0,"
    "\"dependencies\":[{\"streamId\":\"Stream-A\",\"status\":\"completed\","
    "\"progressPercentage\":100}],"
    "\"state\":{\"name\":\"no-progress\",\"evidence\":{\"reason\":"
    "\"counts unchanged for 12m\",\"warnings\":[\"pane quiet\"]}},"
    "\"agent\":{\"agentId\":\"a1\",\"agentName\":\"Builder\","
    "\"activityDescription\":\"writing tests\",\"isActive\":true,"
    "\"lastHeartbeat\":\"2026-11-27T10:00:00Z\"},"
    "\"session\":{\"window\":\"@3\",\"live\":true,\"phase\":\"running\","
    "\"recoveryAttempts\":1,\"maxRecoveryAttempts\":3,\"spentUsd\":0.75,"
    "\"maxCostUsd\":2,\"agent\":{\"parkedUntil\":\"2026-11-27T10:20:05Z\"}},"
    "\"gate\":{\"canStart\":false,\"forceable\":false,\"reasons\":"
    "[\"Stream-B is already running\"]}},"
    "{\"streamId\":\"Stream-A\",\"streamName\":\"Schema\","
    "\"streamPhase\":\"foundation\",\"status\":\"completed\","
    "\"progressPercentage\":100,\"totalTasks\":2,\"completedTasks\":2,"
    "\"dependencies\":[],\"state\":{\"name\":\"ok\"},"
    "\"session\":{\"window\":\"@1\",\"dead\":true,\"exitStatus\":0}},"
    "{\"streamId\":\"Stream-Z\",\"streamName\":"
    "\"Integration of everything at once\",\"streamPhase\":\"integration\","
    "\"status\":\"pending\",\"progressPercentage\":0,\"totalTasks\":4,"
    "\"completedTasks\":0,\"pendingTasks\":4,"
    "\"dependencies\":[{\"streamId\":\"Stream-A\",\"status\":\"completed\","
    "\"progressPercentage\":100},{\"streamId\":\"Stream-B\",\"status\":"
    "\"in_progress\",\"progressPercentage\":33},{\"streamId\":\"Stream-Q\","
    "\"progressPercentage\":null}],\"state\":{\"name\":\"ok\"},"
    "\"gate\":{\"canStart\":false,\"forceable\":true,\"reasons\":"
    "[\"Stream-B is at 33%\",\"parallel streams unfinished\"]}}],"
    "\"alerts\":[{\"message\":\"Stream-B: no progress for 12m\"}],"
    "\"nextActions\":[{\"action\":\"recover\",\"streamId\":\"Stream-B\","
    "\"reason\":\"no progress\"},{\"action\":\"wait\",\"reason\":"
    "\"nothing else\"}]}";

/* The frame's lines, each ended by a newline (new). */
static char *
render(const char *text, int max, bool color, bool utf8, bool compact)
{
	struct client_frame	 f;
	struct buf		 all;
	json_t			*doc;
	size_t			 i;

	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	client_frame_init(&f, max, color, utf8);
	client_render_overview(&f, doc, compact ? CLIENT_ROWS : CLIENT_TREE);
	buf_init(&all, 0);
	for (i = 0; i < f.n; i++) {
		if (f.lines[i].len > 0)
			buf_add(&all, f.lines[i].data, f.lines[i].len);
		buf_add(&all, "\n", 1);
	}
	client_frame_clear(&f);
	json_decref(doc);
	return buf_steal(&all, NULL);
}

static void
test_overview_text(void **state)
{
	char	*all;

	(void)state;
	all = render("{\"upstream\":{\"url\":\"http://u\",\"status\":"
	    "\"down\",\"lastError\":\"gone\\u001b[2J\"},\"overall\":"
	    "{\"totalTasks\":3,\"completedTasks\":1,\"progressPercentage\":33,"
	    "\"streams\":2},\"streams\":[{\"streamId\":\"S-Z\",\"streamPhase\":"
	    "\"integration\",\"status\":\"pending\",\"progressPercentage\":0,"
	    "\"totalTasks\":1},{\"streamId\":\"S-A\",\"streamName\":\"\\u001b]0;"
	    "x\\u0007base\",\"streamPhase\":\"foundation\",\"status\":"
	    "\"in_progress\",\"progressPercentage\":50,\"totalTasks\":2,"
	    "\"completedTasks\":1}],\"alerts\":[{\"message\":\"m\\u009b1m\"}],"
	    "\"nextActions\":[{\"action\":\"start\",\"streamId\":\"S-A\","
	    "\"reason\":\"ready\"}]}", 0, false, false, false);
	assert_null(strchr(all, '\033'));
	assert_non_null(strstr(all, "Upstream  http://u down: gone\n"));
	assert_non_null(strstr(all, "33%  1/3 tasks in 2 streams"));
	assert_non_null(strstr(all, "S-A (base)"));
	assert_true(strstr(all, "FOUNDATION") < strstr(all, "INTEGRATION"));
	assert_true(strstr(all, "S-A") < strstr(all, "S-Z"));
	assert_non_null(strstr(all, "! m\n"));
	assert_non_null(strstr(all, "1. start S-A: ready  (taskgate "
	    "start S-A)"));
	free(all);
}

/* status: a tree per stream, phases in plan order, streams by id. */
static void
test_status_tree(void **state)
{
	char	*all;

	(void)state;
	all = render(doc_text, 0, false, false, false);
	assert_string_equal(all,
	    "Upstream  http://127.0.0.1:9090 up  (polled 10:13:58)\n"
	    "Overall   ########............  44%  4/9 tasks in 3 streams\n"
	    "\n"
	    "FOUNDATION\n"
	    "+ Stream-A (Schema)\n"
	    "|- Progress  #################### 100%  2/2 done\n"
	    "|- Status    complete - ok\n"
	    "|- Depends   none\n"
	    "|- Agent     none\n"
	    "`- Session   window @1 dead (exit 0)\n"
	    "\n"
	    "PARALLEL\n"
	    "x Stream-B (Backend API)\n"
	    "|- Progress  ######..............  33%  1/3 done - 1 in "
	    "progress, 1 blocked, 0 pending\n"
	    "|- Status    in progress - no-progress: counts unchanged for "
	    "12m (pane quiet)\n"
	    "|- Depends   Stream-A +100%\n"
	    "|- Agent     @a1 Builder: writing tests - active, heartbeat 14m "
	    "ago\n"
	    "|- Session   window @3 live (running), 1 of 3 recoveries, $0.75 "
	    "of $2.00, parked until 10:20:05\n"
	    "`- Start     Stream-B is already running\n"
	    "\n"
	    "INTEGRATION\n"
	    "o Stream-Z (Integration of everything at once)\n"
	    "|- Progress  ....................   0%  0/4 done - 0 in "
	    "progress, 0 blocked, 4 pending\n"
	    "|- Status    pending - ok\n"
	    "|- Depends   Stream-A +100%, Stream-B 33%, Stream-Q unknown\n"
	    "|- Agent     none\n"
	    "|- Session   none\n"
	    "`- Start     waiting: Stream-B is at 33%; parallel streams "
	    "unfinished (--force overrides)\n"
	    "\n"
	    "ALERTS\n"
	    "  ! Stream-B: no progress for 12m\n"
	    "\n"
	    "NEXT ACTIONS\n"
	    "  1. recover Stream-B: no progress  (taskgate recover "
	    "Stream-B)\n"
	    "  2. wait: nothing else\n");
	free(all);
}

/* watch: a line per stream, names cut to 24 columns, lines to the width. */
static void
test_watch_rows(void **state)
{
	char	*all;

	(void)state;
	all = render(doc_text, 0, false, false, true);
	assert_non_null(strstr(all, "Upstream  http://127.0.0.1:9090 up\n"));
	assert_non_null(strstr(all,
	    "  + Stream-A  Schema                    #################### "
	    "100%   2/2  complete - window @1 dead (exit 0)\n"));
	assert_non_null(strstr(all,
	    "  x Stream-B  Backend API               ######.............."
	    "  33%   1/3  in progress (1 blocked) - window @3 live (running)"
	    ", 1 of 3 recoveries, $0.75 of $2.00, parked until 10:20:05\n"
	    "      `- no-progress: counts unchanged for 12m\n"
	    "      `- @a1 Builder: writing tests - active, heartbeat 14m "
	    "ago\n"));
	assert_non_null(strstr(all,
	    "  o Stream-Z  Integration of...         ...................."
	    "   0%   0/4  pending\n"
	    "      `- waits for Stream-B 33%, Stream-Q unknown\n"));
	free(all);

	all = render(doc_text, 30, false, false, true);
	assert_non_null(strstr(all, "\n  x Stream-B  Backend API     \n"));
	assert_non_null(strstr(all, "\n      `- no-progress:...\n"));
	free(all);
}

static void
test_utf8_glyphs_and_colours(void **state)
{
	char	*all;

	(void)state;
	all = render(doc_text, 0, false, true, false);
	assert_non_null(strstr(all, "\xe2\x9c\x93 Stream-A (Schema)\n"));
	assert_non_null(strstr(all, "\xe2\x94\x9c\xe2\x94\x80 Progress  "
	    "\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88"
	    "\xe2\x96\x88\xe2\x96\x91"));
	assert_non_null(strstr(all, "\xe2\x9c\x97 Stream-B"));
	assert_non_null(strstr(all, "\xe2\x97\x8b Stream-Z"));
	assert_non_null(strstr(all, "  \xe2\x9a\xa0 Stream-B: no progress"));
	free(all);

	all = render(doc_text, 0, true, false, false);
	assert_non_null(strstr(all, "\033[1mFOUNDATION\033[0m\n"));
	assert_non_null(strstr(all, "\033[32m+ \033[0m\033[1mStream-A"
	    "\033[0m"));
	assert_non_null(strstr(all, "\033[31mno-progress\033[0m"));
	assert_non_null(strstr(all, "\033[33mwaiting: \033[0m"));
	free(all);
}

static void
test_no_streams_and_a_bare_document(void **state)
{
	char	*all;

	(void)state;
	all = render("{\"streams\":[]}", 0, false, false, false);
	assert_string_equal(all,
	    "Upstream  ? down\n"
	    "Overall   ....................   0%  0/0 tasks in 0 streams\n"
	    "\n"
	    "No streams yet: taskgate has not read them from Task Copilot, "
	    "or it has none.\n");
	free(all);

	/* Wrong types and a stream without an id: drawn, not trusted. */
	all = render("{\"streams\":[{\"streamName\":\"no id\"},{\"streamId\":"
	    "\"S-1\",\"streamPhase\":7,\"status\":[],\"progressPercentage\":"
	    "\"x\",\"agent\":{},\"session\":{\"window\":\"@9\"}}],"
	    "\"alerts\":[{}],\"nextActions\":[{}]}", 0, false, false, false);
	assert_null(strstr(all, "no id"));
	assert_non_null(strstr(all, "OTHER PHASES\no S-1\n"));
	assert_non_null(strstr(all, "|- Agent     @agent - idle\n"));
	assert_non_null(strstr(all, "|- Session   window @9\n"
	    "`- Start     -\n"));
	assert_non_null(strstr(all, "  ! ?\n"));
	assert_non_null(strstr(all, "  1. ?\n"));
	free(all);
}

/*
 * watch: a stream whose dependencies are all done but whose gate the
 * phase rule keeps closed says the phase, never "waits for none".
 */
static void
test_watch_says_the_phase_that_closes_the_gate(void **state)
{
	char	*all;

	(void)state;
	all = render("{\"streams\":[{\"streamId\":\"Stream-C\","
	    "\"streamName\":\"Scripts\",\"streamPhase\":\"parallel\","
	    "\"status\":\"pending\",\"progressPercentage\":0,"
	    "\"totalTasks\":3,\"completedTasks\":0,\"dependencies\":[],"
	    "\"state\":{\"name\":\"ok\"},\"gate\":{\"canStart\":false,"
	    "\"forceable\":true,\"reasons\":[\"the foundation phase is not "
	    "complete: Stream-A is at 50%\"]}}]}", 0, false, false, true);
	assert_null(strstr(all, "waits for none"));
	assert_non_null(strstr(all, "waits: the foundation phase is not "
	    "complete: Stream-A is at 50%"));
	free(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overview_text),
		cmocka_unit_test(test_status_tree),
		cmocka_unit_test(test_watch_rows),
		cmocka_unit_test(test_utf8_glyphs_and_colours),
		cmocka_unit_test(test_no_streams_and_a_bare_document),
		cmocka_unit_test(test_watch_says_the_phase_that_closes_the_gate),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
