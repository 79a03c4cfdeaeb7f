/*
 * test-plan.c: the plan rules -- every plan_check() message with its exact
 * text and order, the gates of plan_may_start() with their reasons and
 * force, and the next actions of plan_next_actions() -- over small tables
 * of streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

#define MAX_LINES	8

/* A fixture-like plan: A done, B at 33%, C done, D blocked, Z waiting. */
static const char *deps_a[] = { "Stream-A" };
static const char *deps_bc[] = { "Stream-B", "Stream-C" };

static const struct plan_stream fixture[] = {
	{ "Stream-A", "foundation", NULL, 0, 100, true, false, false, false,
	  false, NULL },
	{ "Stream-D", "parallel", deps_a, 1, 0, false, true, false, false, false,
	  NULL },
	{ "Stream-C", "parallel", deps_a, 1, 100, true, false, false, false, false,
	  NULL },
	{ "Stream-B", "parallel", deps_a, 1, 33, false, false, false, false, false,
	  NULL },
	{ "Stream-Z", "integration", deps_bc, 2, 0, false, false, false,
	  false, false, NULL },
};
#define NFIXTURE	(sizeof fixture / sizeof fixture[0])

/* check ------------------------------------------------------------------ */

static void
check_doc(const char *doc, const char *const *want)
{
	struct orchconf	  c;
	json_t		 *j = json_loads(doc, 0, NULL);
	char		  err[256], **got;
	size_t		  n, i, nwant = 0;
	int		  rc;

	if (j == NULL)
		fail_msg("bad test document: %s", doc);
	if (orchconf_parse(j, &c, err, sizeof err) == -1)
		fail_msg("orchconf_parse: %s", err);
	json_decref(j);
	while (want[nwant] != NULL)
		nwant++;
	rc = plan_check(&c, &got, &n);
	for (i = 0; i < n || i < nwant; i++) {
		const char *g = i < n ? got[i] : "(none)";
		const char *w = i < nwant ? want[i] : "(none)";

		if (strcmp(g, w) != 0)
			fail_msg("%s\nline %zu: got '%s', want '%s'", doc, i, g,
			    w);
	}
	assert_int_equal(rc, nwant == 0 ? 0 : -1);
	plan_problems_free(got, n);
	orchconf_clear(&c);
}

#define S(id, phase, deps) \
	"{\"streamId\":\"" id "\",\"streamPhase\":\"" phase "\"," \
	"\"dependencies\":[" deps "]}"

static void
test_check_messages(void **state)
{
	static const struct {
		const char	*doc;
		const char	*want[MAX_LINES];
	} cases[] = {
		/* Sound plans. */
		{ "{\"streams\":[" S("Stream-A", "foundation", "") ","
		  S("Stream-B", "parallel", "\"Stream-A\"") ","
		  S("Stream-C", "parallel", "\"Stream-A\",\"Stream-B\"") ","
		  S("Stream-Z", "integration", "\"Stream-B\",\"Stream-C\"")
		  "]}", { NULL } },
		{ "{\"streams\":[{\"streamId\":\"A\",\"streamPhase\":"
		  "\"foundation\",\"worktreePath\":\"a/../b/./c//d\"},"
		  "{\"streamId\":\"B\",\"streamPhase\":\"foundation\","
		  "\"worktreePath\":\".\"},{\"streamId\":\"C\","
		  "\"streamPhase\":\"foundation\",\"worktreePath\":"
		  "\"a/..\"}]}", { NULL } },
		/* No foundation stream. */
		{ "{}", { "no foundation stream (at least one stream needs "
		  "streamPhase \"foundation\")", NULL } },
		{ "{\"streams\":[" S("Stream-B", "parallel", "") "]}",
		  { "no foundation stream (at least one stream needs "
		  "streamPhase \"foundation\")", NULL } },
		/* Cycles, printed as their path. */
		{ "{\"streams\":[" S("Stream-A", "foundation", "") ","
		  S("Stream-B", "parallel", "\"Stream-C\"") ","
		  S("Stream-C", "parallel", "\"Stream-B\"") "]}",
		  { "circular dependency: Stream-B -> Stream-C -> Stream-B",
		  NULL } },
		{ "{\"streams\":[" S("A", "foundation", "\"A\"") "]}",
		  { "circular dependency: A -> A", NULL } },
		{ "{\"streams\":[" S("A", "foundation", "") ","
		  S("B", "parallel", "\"C\"") "," S("C", "parallel", "\"D\"")
		  "," S("D", "parallel", "\"B\",\"E\"") ","
		  S("E", "parallel", "\"D\"") "]}",
		  { "circular dependency: B -> C -> D -> B",
		  "circular dependency: D -> E -> D", NULL } },
		/* A dependency listed twice is reported once. */
		{ "{\"streams\":[" S("A", "foundation", "\"A\",\"A\"") "]}",
		  { "circular dependency: A -> A", NULL } },
		{ "{\"streams\":[" S("A", "foundation", "\"Q\",\"Q\"") "]}",
		  { "A depends on unknown stream Q", NULL } },
		/* Unknown dependencies, as they are (escaped where printed). */
		{ "{\"streams\":[" S("A", "foundation", "\"Stream-Q\"") "]}",
		  { "A depends on unknown stream Stream-Q", NULL } },
		{ "{\"streams\":[" S("A", "foundation", "\"x\\ny\"") "]}",
		  { "A depends on unknown stream x\ny", NULL } },
		/* Too many parallel streams. */
		{ "{\"maxParallelStreams\":2,\"streams\":["
		  S("A", "foundation", "") "," S("B", "parallel", "") ","
		  S("C", "parallel", "") "," S("D", "parallel", "") "]}",
		  { "too many parallel streams: 3, maxParallelStreams is 2",
		  NULL } },
		{ "{\"maxParallelStreams\":2,\"streams\":["
		  S("A", "foundation", "") "," S("B", "parallel", "") ","
		  S("C", "parallel", "") "]}", { NULL } },
		/* Phases. */
		{ "{\"streams\":[" S("A", "foundation", "") ","
		  S("B", "sequential", "") ",{\"streamId\":\"C\"}]}",
		  { "B has an unknown streamPhase 'sequential' (expected "
		  "foundation, parallel or integration)",
		  "C has no streamPhase (expected foundation, parallel or "
		  "integration)", NULL } },
		{ "{\"streams\":[" S("A", "foundation", "") ","
		  S("B", "Parallel", "") "]}",
		  { "B has an unknown streamPhase 'Parallel' (expected "
		  "foundation, parallel or integration)", NULL } },
		/* Duplicates. */
		{ "{\"streams\":[" S("A", "foundation", "") ","
		  S("B", "parallel", "") "," S("A", "parallel", "") ","
		  S("B", "parallel", "") "]}",
		  { "duplicate streamId A (streams[0] and streams[2])",
		  "duplicate streamId B (streams[1] and streams[3])", NULL } },
		/* Worktree paths. */
		{ "{\"streams\":[{\"streamId\":\"A\",\"streamPhase\":"
		  "\"foundation\",\"worktreePath\":\"/srv/wt/A\"},"
		  "{\"streamId\":\"B\",\"streamPhase\":\"foundation\","
		  "\"worktreePath\":\"../B\"},{\"streamId\":\"C\","
		  "\"streamPhase\":\"foundation\",\"worktreePath\":"
		  "\"wt/../../C\"},{\"streamId\":\"D\",\"streamPhase\":"
		  "\"foundation\",\"worktreePath\":\"wt/./..//..\"}]}",
		  { "A has an absolute worktreePath '/srv/wt/A' (it must be "
		  "relative to projectRoot)",
		  "B has a worktreePath '../B' that resolves outside "
		  "projectRoot",
		  "C has a worktreePath 'wt/../../C' that resolves outside "
		  "projectRoot",
		  "D has a worktreePath 'wt/./..//..' that resolves outside "
		  "projectRoot", NULL } },
		/* Dependencies on a later phase. */
		{ "{\"streams\":[" S("A", "foundation", "\"B\"") ","
		  S("B", "parallel", "\"Z\"") "," S("Z", "integration", "")
		  "]}",
		  { "A (foundation) depends on B of a later phase (parallel)",
		  "B (parallel) depends on Z of a later phase (integration)",
		  NULL } },
		/* Several at once: per stream in file order, then the plan. */
		{ "{\"maxParallelStreams\":1,\"streams\":["
		  S("B", "parallel", "\"C\",\"Q\"") ","
		  S("C", "parallel", "\"B\"") ","
		  "{\"streamId\":\"B\",\"streamPhase\":\"odd\","
		  "\"worktreePath\":\"/x\"}]}",
		  { "B depends on unknown stream Q",
		  "duplicate streamId B (streams[0] and streams[2])",
		  "B has an unknown streamPhase 'odd' (expected foundation, "
		  "parallel or integration)",
		  "B has an absolute worktreePath '/x' (it must be relative to "
		  "projectRoot)",
		  "no foundation stream (at least one stream needs streamPhase "
		  "\"foundation\")",
		  "too many parallel streams: 2, maxParallelStreams is 1",
		  "circular dependency: B -> C -> B", NULL } },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_doc(cases[i].doc, cases[i].want);
}

/* A chain far longer than any stack a recursive walk could afford. */
static void
test_check_long_chain(void **state)
{
	enum { N = 200000 };
	struct orchconf	  c;
	char		**got;
	size_t		  n, i;

	(void)state;
	orchconf_defaults(&c);
	c.streams = xcalloc(N, sizeof *c.streams);
	c.n_streams = N;
	for (i = 0; i < N; i++) {
		xasprintf(&c.streams[i].id, "S%zu", i);
		c.streams[i].phase = xstrdup(i == 0 ? "foundation" :
		    "integration");
	}
	for (i = 0; i < N; i++) {
		c.streams[i].deps = xcalloc(1, sizeof *c.streams[i].deps);
		c.streams[i].deps[0] = xstrdup(c.streams[(i + 1) % N].id);
		c.streams[i].n_deps = 1;
	}
	assert_int_equal(plan_check(&c, &got, &n), -1);
	assert_int_equal(n, 2);
	assert_string_equal(got[0], "S0 (foundation) depends on S1 of a later "
	    "phase (integration)");
	assert_int_equal(strncmp(got[1], "circular dependency: S0 -> S1 -> S2 "
	    "-> ", 37), 0);
	assert_non_null(strstr(got[1], " -> S199999 -> S0"));
	plan_problems_free(got, n);
	orchconf_clear(&c);
}

static void
test_phase_names(void **state)
{
	(void)state;
	assert_int_equal(plan_phase_of("foundation"), PLAN_FOUNDATION);
	assert_int_equal(plan_phase_of("parallel"), PLAN_PARALLEL);
	assert_int_equal(plan_phase_of("integration"), PLAN_INTEGRATION);
	assert_int_equal(plan_phase_of("Foundation"), PLAN_UNKNOWN);
	assert_int_equal(plan_phase_of(NULL), PLAN_UNKNOWN);
	assert_string_equal(plan_phase_name(PLAN_PARALLEL), "parallel");
}

/* gates ------------------------------------------------------------------ */

static void	expect_actions(const struct plan_stream *, size_t, long, long,
		    const char *);

static void
expect_gate(const struct plan_stream *v, size_t n, size_t i, long max,
    long live, bool force, enum plan_gate want, const char *want_reasons)
{
	json_t		*reasons = json_array(), *w;
	enum plan_gate	 got;
	char		*text;

	got = plan_may_start(v, n, i, max, live, force, reasons);
	w = json_loads(want_reasons, 0, NULL);
	assert_non_null(w);
	if (!json_equal(reasons, w) || got != want) {
		text = json_dumps(reasons, 0);
		fail_msg("%s (force %d): gate %d, reasons %s; want %d, %s",
		    v[i].id, force, got, text, want, want_reasons);
	}
	json_decref(w);
	json_decref(reasons);
}

static void
test_gates_fixture(void **state)
{
	(void)state;
	/* Stream-B: Stream-A is complete, so is the foundation phase. */
	expect_gate(fixture, NFIXTURE, 3, 5, 0, false, PLAN_GATE_OPEN, "[]");
	/* Stream-Z waits for B and for the parallel phase. */
	expect_gate(fixture, NFIXTURE, 4, 5, 0, false, PLAN_GATE_WAIT,
	    "[\"Stream-B is at 33%\", \"the parallel phase is not complete: "
	    "Stream-D is at 0%, Stream-B is at 33%\"]");
	/* force overrides dependencies and phase order. */
	expect_gate(fixture, NFIXTURE, 4, 5, 0, true, PLAN_GATE_OPEN, "[]");
	/* Already complete. */
	expect_gate(fixture, NFIXTURE, 2, 5, 0, false, PLAN_GATE_CLOSED,
	    "[\"Stream-C is already complete\"]");
	expect_gate(fixture, NFIXTURE, 2, 5, 5, true, PLAN_GATE_CLOSED,
	    "[\"Stream-C is already complete\"]");
	/* The parallel limit holds even with force. */
	expect_gate(fixture, NFIXTURE, 3, 5, 5, false, PLAN_GATE_CLOSED,
	    "[\"the parallel limit is reached: 5 of 5 sessions are live\"]");
	expect_gate(fixture, NFIXTURE, 4, 2, 3, true, PLAN_GATE_CLOSED,
	    "[\"the parallel limit is reached: 3 of 2 sessions are live\"]");
	expect_gate(fixture, NFIXTURE, 4, 2, 3, false, PLAN_GATE_CLOSED,
	    "[\"Stream-B is at 33%\", \"the parallel phase is not complete: "
	    "Stream-D is at 0%, Stream-B is at 33%\", "
	    "\"the parallel limit is reached: 3 of 2 sessions are live\"]");
}

static void
test_gates_rules(void **state)
{
	static const char *dep_a[] = { "A" };
	static const char *dep_q[] = { "Stream-Q" };
	static const char *dep_b[] = { "B" };
	struct plan_stream v[] = {
		{ "A", "foundation", NULL, 0, 50, false, false, false, false, false, NULL },
		{ "B", "parallel", dep_a, 1, 100, false, false, false, false, false, NULL },
		{ "C", "parallel", dep_q, 1, 0, false, false, false, false, false, NULL },
		{ "D", "whatever", NULL, 0, 0, false, false, false, false, false, NULL },
		{ "E", "integration", dep_b, 1, 0, false, false, false, false, false, NULL },
		{ "F", "foundation", NULL, 0, 10, false, false, true, true, false, NULL },
	};
	struct plan_stream g[] = {
		{ "G", "foundation", NULL, 0, 10, false, false, false, false, false,
		  "me" },
	};
	size_t	n = sizeof v / sizeof v[0];

	(void)state;
	/* A dependency under 100% and the foundation phase. */
	expect_gate(v, n, 1, 5, 1, false, PLAN_GATE_WAIT,
	    "[\"A is at 50%\", \"the foundation phase is not complete: "
	    "A is at 50%, F is at 10%\"]");
	expect_gate(v, n, 2, 5, 1, false, PLAN_GATE_WAIT,
	    "[\"Stream-Q is not in the plan\", \"the foundation phase is not "
	    "complete: A is at 50%, F is at 10%\"]");
	expect_gate(v, n, 2, 5, 1, true, PLAN_GATE_OPEN, "[]");
	expect_gate(v, n, 3, 5, 1, false, PLAN_GATE_WAIT,
	    "[\"D has an unknown streamPhase 'whatever'\"]");
	/* Integration waits for foundation too; 100% is not complete. */
	expect_gate(v, n, 4, 5, 1, false, PLAN_GATE_WAIT,
	    "[\"B is at 99%\", \"the foundation phase is not complete: "
	    "A is at 50%, F is at 10%\", \"the parallel phase is not "
	    "complete: B is at 99%, C is at 0%\"]");
	/* Running, and its recovery budget spent: force changes nothing. */
	expect_gate(v, n, 5, 5, 1, true, PLAN_GATE_CLOSED,
	    "[\"F is already running\", \"F has used all its recovery "
	    "attempts and needs a human\"]");
	/* An agent at work on it outside taskgate: no second one, but a
	 * person may force it. */
	expect_gate(g, 1, 0, 5, 1, false, PLAN_GATE_WAIT,
	    "[\"G is being worked on: agent @me is active in Task Copilot\"]");
	expect_gate(g, 1, 0, 5, 1, true, PLAN_GATE_OPEN, "[]");
	g[0].live = true;	/* taskgate's own window: already running */
	expect_gate(g, 1, 0, 5, 1, false, PLAN_GATE_CLOSED,
	    "[\"G is already running\"]");
	/* A foundation stream has nothing to wait for. */
	expect_gate(v, n, 0, 5, 4, false, PLAN_GATE_OPEN, "[]");
	expect_gate(v, n, 0, 1, 1, false, PLAN_GATE_CLOSED,
	    "[\"the parallel limit is reached: 1 of 1 sessions are live\"]");
	/* Past its spending limit: closed, force or not, until a person
	 * raises the limit; the next action says so. */
	v[0].cost_spent = true;
	expect_gate(v, n, 0, 5, 1, true, PLAN_GATE_CLOSED,
	    "[\"A has cost its spending limit (maxCostUsd); raise the limit "
	    "to go on\"]");
	expect_actions(v, 1, 5, 0, "[{\"action\": \"unblock\", \"streamId\": "
	    "\"A\", \"reason\": \"A has cost its spending limit "
	    "(maxCostUsd)\"}]");
}

/* next actions ----------------------------------------------------------- */

static void
expect_actions(const struct plan_stream *v, size_t n, long max, long live,
    const char *want_text)
{
	json_t	*got = plan_next_actions(v, n, max, live);
	json_t	*want = json_loads(want_text, 0, NULL);
	char	*text;

	assert_non_null(want);
	if (!json_equal(got, want)) {
		text = json_dumps(got, JSON_INDENT(1));
		fail_msg("got %s\nwant %s", text, want_text);
	}
	json_decref(got);
	json_decref(want);
}

static void
test_actions_fixture(void **state)
{
	(void)state;
	expect_actions(fixture, NFIXTURE, 5, 0, "["
	    "{\"action\":\"unblock\",\"streamId\":\"Stream-D\","
	    "\"reason\":\"Stream-D has blocked tasks\"},"
	    "{\"action\":\"start\",\"streamId\":\"Stream-B\","
	    "\"reason\":\"ready to start\"},"
	    "{\"action\":\"wait\",\"streamId\":\"Stream-Z\","
	    "\"reason\":\"Stream-B is at 33%; the parallel phase is not "
	    "complete: Stream-D is at 0%, Stream-B is at 33%\"}]");
}

static void
test_actions_rules(void **state)
{
	static const char *dep_q[] = { "Q" };
	struct plan_stream done[] = {
		{ "A", "foundation", NULL, 0, 100, true, false, false, false, false, NULL },
		{ "B", "parallel", NULL, 0, 100, true, false, false, false, false, NULL },
	};
	/* Out of plan order on purpose; three ready, room for two. */
	struct plan_stream v[] = {
		{ "Z", "integration", NULL, 0, 0, false, false, false, false, false, NULL },
		{ "P1", "parallel", NULL, 0, 0, false, false, false, false, false, NULL },
		{ "P2", "parallel", NULL, 0, 0, false, false, false, false, false, NULL },
		{ "A", "foundation", NULL, 0, 100, true, false, false, false, false, NULL },
		{ "P3", "parallel", NULL, 0, 0, false, false, false, false, false, NULL },
		{ "R", "parallel", NULL, 0, 33, false, false, true, false, false, NULL },
		{ "Q1", "parallel", dep_q, 1, 0, false, false, false, false, false, NULL },
		{ "H", "parallel", NULL, 0, 0, false, false, false, true, false, NULL },
		{ "O", "odd", NULL, 0, 0, false, false, false, false, false, NULL },
	};

	(void)state;
	expect_actions(NULL, 0, 5, 0, "[]");
	expect_actions(done, 2, 5, 0, "[{\"action\":\"done\",\"streamId\":null,"
	    "\"reason\":\"all 2 streams are complete\"}]");
	expect_actions(done, 1, 5, 0, "[{\"action\":\"done\",\"streamId\":null,"
	    "\"reason\":\"all 1 stream is complete\"}]");
	expect_actions(v, sizeof v / sizeof v[0], 3, 1, "["
	    "{\"action\":\"start\",\"streamId\":\"P1\","
	    "\"reason\":\"ready to start\"},"
	    "{\"action\":\"start\",\"streamId\":\"P2\","
	    "\"reason\":\"ready to start\"},"
	    "{\"action\":\"wait\",\"streamId\":\"P3\",\"reason\":"
	    "\"the parallel limit is reached: 3 of 3 sessions are live\"},"
	    "{\"action\":\"wait\",\"streamId\":\"R\","
	    "\"reason\":\"R is running (33%)\"},"
	    "{\"action\":\"unblock\",\"streamId\":\"Q1\",\"reason\":"
	    "\"Q is not in the plan; the parallel limit is reached: 3 of 3 "
	    "sessions are live\"},"
	    "{\"action\":\"unblock\",\"streamId\":\"H\",\"reason\":"
	    "\"H has used all its recovery attempts and needs a human\"},"
	    "{\"action\":\"wait\",\"streamId\":\"Z\",\"reason\":"
	    "\"the parallel phase is not complete: P1 is at 0%, P2 is at 0%, "
	    "P3 is at 0%, R is at 33%, Q1 is at 0%, H is at 0%; "
	    "the parallel limit is reached: 3 of 3 sessions are live\"},"
	    "{\"action\":\"unblock\",\"streamId\":\"O\",\"reason\":"
	    "\"O has an unknown streamPhase 'odd'; the parallel limit is "
	    "reached: 3 of 3 sessions are live\"}]");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_messages),
		cmocka_unit_test(test_check_long_chain),
		cmocka_unit_test(test_phase_names),
		cmocka_unit_test(test_gates_fixture),
		cmocka_unit_test(test_gates_rules),
		cmocka_unit_test(test_actions_fixture),
		cmocka_unit_test(test_actions_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
