/*
 * test-stall.c: the health-state rules as pure functions, with the clock
 * injected: the unchanged clock runs only between reachable observations,
 * progress resets it, fractional timeouts work, and the states rank as
 * documented; a stuck stream whose recovery budget is spent needs a
 * human; a label goes to a milder one only on new evidence.  The
 * recovery policy: the budget, the n-th attempt no sooner than
 * stall x 2^(n-1) after the previous (capped, jitter never shortening
 * it), and a whole budget after progress; the one refusal rule of a
 * recovery (a click, a run and the Recover button).  Also the parsers of
 * Last-Event-ID and history times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

static struct stall_input
working(double unchanged, double timeout)
{
	struct stall_input in;

	memset(&in, 0, sizeof in);
	in.counts = (struct model_counts){ 3, 1, 1, 0, 1, 0 };
	in.unchanged_s = unchanged;
	in.timeout_s = timeout;
	return in;
}

static enum stall_state
judge(const struct stall_input *in)
{
	json_t			*e;
	enum stall_state	 st = stall_judge(in, &e);

	assert_non_null(e);
	json_decref(e);
	return st;
}

static void
test_clock_runs_only_while_reachable(void **state)
{
	struct stall_track t = { 0, 0 };

	(void)state;
	stall_observe(&t, 100.0, true, false);
	assert_true(t.unchanged_s == 0);	/* a first look measures nothing */
	stall_observe(&t, 105.0, true, false);
	assert_true(t.unchanged_s == 5.0);
	stall_observe(&t, 110.0, false, false);	/* upstream down */
	stall_observe(&t, 500.0, false, false);
	assert_true(t.unchanged_s == 5.0);
	stall_observe(&t, 505.0, true, false);	/* back: restarts the clock */
	assert_true(t.unchanged_s == 5.0);
	stall_observe(&t, 507.5, true, false);
	assert_true(t.unchanged_s == 7.5);
	stall_observe(&t, 510.0, true, true);	/* progress */
	assert_true(t.unchanged_s == 0);
	stall_observe(&t, 509.0, true, false);	/* a clock that went back */
	assert_true(t.unchanged_s == 0);
}

static void
test_no_progress_needs_work_and_time(void **state)
{
	struct stall_input	in = working(35.9, 36.0);	/* 0.6 min */
	json_t			*e;

	(void)state;
	assert_int_equal(judge(&in), STALL_OK);
	in.unchanged_s = 36.0;
	assert_int_equal(stall_judge(&in, &e), STALL_NO_PROGRESS);
	assert_true(json_real_value(json_object_get(e,
	    "stallTimeoutMinutes")) == 0.6);
	assert_true(json_real_value(json_object_get(e,
	    "unchangedMinutes")) == 0.6);
	assert_int_equal(json_integer_value(json_object_get(e,
	    "inProgressTasks")), 1);
	json_decref(e);
	/* Nothing running and no session: waiting is not stalling. */
	in.counts = (struct model_counts){ 2, 0, 0, 0, 2, 0 };
	assert_int_equal(judge(&in), STALL_OK);
	in.session_live = true;
	assert_int_equal(judge(&in), STALL_NO_PROGRESS);
	/* A complete stream never stalls. */
	in.counts = (struct model_counts){ 2, 2, 0, 0, 0, 0 };
	assert_int_equal(judge(&in), STALL_OK);
	/* Nor one whose other tasks were cancelled (Task Copilot 3). */
	in.counts = (struct model_counts){ 3, 2, 0, 0, 0, 1 };
	assert_int_equal(judge(&in), STALL_OK);
}

static void
test_upstream_health_and_ranking(void **state)
{
	struct stall_input	 in = working(1, 600);
	json_t			*warnings = json_pack("[s]", "No checkpoint");
	json_t			*e;

	(void)state;
	in.upstream_unhealthy = true;
	in.upstream_warnings = warnings;
	assert_int_equal(stall_judge(&in, &e), STALL_UPSTREAM_UNHEALTHY);
	assert_string_equal(json_string_value(json_array_get(json_object_get(e,
	    "warnings"), 0)), "No checkpoint");
	json_decref(e);
	in.unchanged_s = 600;	/* our own judgement ranks above */
	assert_int_equal(judge(&in), STALL_NO_PROGRESS);
	in.agent.state = AGENT_CONTEXT_EXHAUSTED;
	snprintf(in.agent.reason, sizeof in.agent.reason,
	    "context window exceeded");
	assert_int_equal(stall_judge(&in, &e), STALL_CONTEXT_EXHAUSTED);
	assert_string_equal(json_string_value(json_object_get(e, "reason")),
	    "context window exceeded");
	json_decref(e);
	json_decref(warnings);
}

static void
test_a_spent_budget_makes_a_stuck_stream_need_a_human(void **state)
{
	struct stall_input	 in = working(600, 600);
	json_t			*e;

	(void)state;
	in.budget_spent = true;
	in.attempts = 3;
	assert_int_equal(stall_judge(&in, &e), STALL_NEEDS_HUMAN);
	assert_string_equal(json_string_value(json_object_get(e, "stuck")),
	    "no-progress");
	assert_int_equal(json_integer_value(json_object_get(e,
	    "recoveryAttempts")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e,
	    "stuckEvidence"), "inProgressTasks")), 1);
	json_decref(e);
	in.agent.state = AGENT_DEAD;
	assert_int_equal(judge(&in), STALL_NEEDS_HUMAN);
	in.agent.state = AGENT_CONTEXT_EXHAUSTED;
	assert_int_equal(judge(&in), STALL_NEEDS_HUMAN);
	/* Recovery does not act on these: they stay what they are. */
	in.agent.state = AGENT_WAITING_INPUT;
	assert_int_equal(judge(&in), STALL_WAITING_INPUT);
	in.agent.state = AGENT_USAGE_LIMITED;
	assert_int_equal(judge(&in), STALL_USAGE_LIMITED);
	in.agent.state = AGENT_NEEDS_LOGIN;
	assert_int_equal(judge(&in), STALL_NEEDS_LOGIN);
	in.agent.state = AGENT_UNKNOWN;
	in.unchanged_s = 1;
	assert_int_equal(judge(&in), STALL_OK);
	in.upstream_unhealthy = true;
	assert_int_equal(judge(&in), STALL_UPSTREAM_UNHEALTHY);
}

static void
test_recovery_budget_and_backoff(void **state)
{
	struct recovery_track	t = { 0, 0 };
	int64_t			wait, now = 1000000;
	const double		stall = 600.0;	/* 10 minutes */

	(void)state;
	assert_int_equal(recovery_decide(&t, 3, now, &wait), RECOVERY_NOW);
	assert_int_equal(wait, 0);
	/* The 2nd no sooner than 2 x stall after the 1st, the 3rd 4 x
	 * after the 2nd; jitter 0 is the least wait. */
	recovery_record(&t, now, stall, 0.0);
	assert_int_equal(t.attempts, 1);
	assert_int_equal(t.next_ms - now, 1200000);
	assert_int_equal(recovery_decide(&t, 3, now + 1199999, &wait),
	    RECOVERY_LATER);
	assert_int_equal(wait, 1);
	assert_int_equal(recovery_decide(&t, 3, now + 1200000, &wait),
	    RECOVERY_NOW);
	now += 1200000;
	recovery_record(&t, now, stall, 0.0);
	assert_int_equal(t.next_ms - now, 2400000);
	now += 2400000;
	/* 8 x 10 minutes is over the cap of an hour; jitter only
	 * lengthens that, by a fifth at most. */
	recovery_record(&t, now, stall, 0.999);
	assert_int_equal(t.attempts, 3);
	assert_true(t.next_ms - now > 3600000);
	assert_true(t.next_ms - now < (int64_t)(3600000 * 1.2));
	assert_int_equal(recovery_decide(&t, 3, t.next_ms, &wait),
	    RECOVERY_SPENT);
	assert_int_equal(recovery_decide(&t, 4, t.next_ms, &wait),
	    RECOVERY_NOW);
	recovery_reset(&t);
	assert_int_equal(recovery_decide(&t, 3, now, &wait), RECOVERY_NOW);
	assert_int_equal(t.attempts, 0);
	/* A budget of none: a stuck stream needs a human at once. */
	assert_int_equal(recovery_decide(&t, 0, now, &wait), RECOVERY_SPENT);
}

/* A stream of ours, stuck and judged after its window started. */
static struct recovery_ask
stuck(void)
{
	struct recovery_ask	q;

	memset(&q, 0, sizeof q);
	q.id = "Stream-B";
	q.session = q.window = true;
	q.started_ms = 1000;
	q.judged = true;
	q.state = STALL_NO_PROGRESS;
	q.judged_ms = 2000;
	q.max = 3;
	q.now_ms = 5000;
	return q;
}

static void
test_the_refusal_rule_of_a_recovery(void **state)
{
	struct recovery_ask	q = stuck();
	char			why[256];
	int64_t			wait;

	(void)state;
	assert_null(recovery_refusal(&q, why, sizeof why, &wait));
	q.state = STALL_DEAD;
	assert_null(recovery_refusal(&q, why, sizeof why, &wait));
	/* A stream that is not stuck, or not judged since its window
	 * (re)started: the state shown is not this window's. */
	q.state = STALL_OK;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "not-stuck");
	assert_non_null(strstr(why, "Stream-B is ok"));
	/* No poll judged it at all: its window is not judged, and without
	 * a window it is not known to be stuck. */
	q = stuck();
	q.judged = false;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "not-judged");
	q.window = false;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "not-stuck");
	assert_non_null(strstr(why, "Stream-B is not judged yet"));
	q = stuck();
	q.started_ms = q.judged_ms;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "not-judged");
	/* A dead agent whose window is gone is still ours to recover. */
	q.window = false;
	assert_null(recovery_refusal(&q, why, sizeof why, &wait));
	/* The budget, then the backoff, with the way to force them. */
	q = stuck();
	q.hint = true;
	q.rec.attempts = 3;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "budget-spent");
	assert_non_null(strstr(why, "(3 of 3)"));
	assert_non_null(strstr(why, "'taskgate recover Stream-B --force'"));
	q.rec.attempts = 1;
	q.rec.next_ms = q.now_ms + 60500;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "backoff");
	assert_int_equal(wait, 60500);
	assert_non_null(strstr(why, "due in 61 s"));
	q.force = true;
	assert_null(recovery_refusal(&q, why, sizeof why, &wait));
	/* Never, even forced: no session of ours, or an agent that waits
	 * for a person (by the poll's state or by its own word now). */
	q = stuck();
	q.force = true;
	q.session = false;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "not-running");
	q = stuck();
	q.force = true;
	q.state = STALL_WAITING_INPUT;
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "waits-for-person");
	q.state = STALL_NO_PROGRESS;
	q.agent.state = AGENT_USAGE_LIMITED;
	snprintf(q.agent.reason, sizeof q.agent.reason, "its limit is hit");
	assert_string_equal(recovery_refusal(&q, why, sizeof why, &wait),
	    "waits-for-person");
	assert_non_null(strstr(why, "(its limit is hit)"));
}

static void
test_the_agents_own_word(void **state)
{
	struct stall_input	 in = working(600, 600);	/* counts stuck */
	json_t			*e;

	(void)state;
	/* Its turn ended with work left: idle, not stalled. */
	in.agent.state = AGENT_IDLE;
	in.agent.at = 1796000000.0;
	snprintf(in.agent.reason, sizeof in.agent.reason, "its turn ended");
	assert_int_equal(stall_judge(&in, &e), STALL_IDLE);
	assert_string_equal(json_string_value(json_object_get(e, "agent")),
	    "its turn ended");
	assert_non_null(json_string_value(json_object_get(e, "agentSince")));
	json_decref(e);
	/* Idle with the stream complete is simply ok. */
	in.counts.completed = in.counts.total;
	in.counts.in_progress = 0;
	assert_int_equal(judge(&in), STALL_OK);
	/* Working with counts unchanged makes no progress, as before. */
	in = working(600, 600);
	in.agent.state = AGENT_WORKING;
	assert_int_equal(judge(&in), STALL_NO_PROGRESS);
	in.agent.state = AGENT_API_ERROR;
	assert_int_equal(judge(&in), STALL_API_ERROR);
	/* A person's prompt or a quota is never a stall, however long. */
	in.agent.state = AGENT_WAITING_INPUT;
	assert_int_equal(judge(&in), STALL_WAITING_INPUT);
	assert_false(stall_state_recoverable(STALL_WAITING_INPUT));
	assert_false(stall_state_recoverable(STALL_USAGE_LIMITED));
	assert_false(stall_state_recoverable(STALL_NEEDS_LOGIN));
	assert_false(stall_state_recoverable(STALL_IDLE));
	assert_non_null(stall_state_protected(STALL_WAITING_INPUT));
	assert_non_null(stall_state_protected(stall_state_of_agent(
	    AGENT_USAGE_LIMITED)));
	assert_null(stall_state_protected(STALL_NO_PROGRESS));
}

static void
test_blocked_work_waits_for_a_person(void **state)
{
	struct stall_input	 in = working(600, 600);
	json_t			*e;

	(void)state;
	in.counts.in_progress = 0;
	in.counts.blocked = 1;
	in.session_live = true;
	assert_int_equal(stall_judge(&in, &e), STALL_WAITING_INPUT);
	assert_int_equal(json_integer_value(json_object_get(e, "blockedTasks")),
	    1);
	json_decref(e);
	/* Another task still at work: the counts decide, as before. */
	in.counts.in_progress = 1;
	assert_int_equal(judge(&in), STALL_NO_PROGRESS);
	/* Not yet past the stall timeout: nothing to say. */
	in.counts.in_progress = 0;
	in.unchanged_s = 1;
	assert_int_equal(judge(&in), STALL_OK);
}

/* A label changes to a milder one only when what it was judged on moved. */
static void
test_a_label_changes_only_on_new_evidence(void **state)
{
	struct stall_input	in = working(700, 600);
	struct stall_basis	then, now, none;

	(void)state;
	in.upstream_unhealthy = true;
	assert_int_equal(judge(&in), STALL_NO_PROGRESS);
	stall_basis_of(&in, &then);
	/* A restarted window: its stall clock starts again, nothing moved. */
	in.session_live = true;
	in.unchanged_s = 5;
	assert_int_equal(judge(&in), STALL_UPSTREAM_UNHEALTHY);
	stall_basis_of(&in, &now);
	assert_true(stall_keeps(STALL_NO_PROGRESS, STALL_UPSTREAM_UNHEALTHY,
	    &then, &now));
	assert_true(stall_keeps(STALL_NO_PROGRESS, STALL_OK, &then, &now));
	/* A worse state is taken at once. */
	assert_false(stall_keeps(STALL_UPSTREAM_UNHEALTHY, STALL_NO_PROGRESS,
	    &then, &now));
	assert_false(stall_keeps(STALL_NO_PROGRESS, STALL_NEEDS_HUMAN, &then,
	    &now));
	/* Progress, the agent's own word, the upstream's verdict: evidence. */
	in.counts.completed = 2;
	stall_basis_of(&in, &now);
	assert_false(stall_keeps(STALL_NO_PROGRESS, STALL_OK, &then, &now));
	in = working(5, 600);
	in.upstream_unhealthy = true;
	in.agent.state = AGENT_IDLE;
	stall_basis_of(&in, &now);
	assert_false(stall_keeps(STALL_NO_PROGRESS, STALL_UPSTREAM_UNHEALTHY,
	    &then, &now));
	in.agent.state = AGENT_UNKNOWN;
	in.upstream_unhealthy = false;
	stall_basis_of(&in, &now);
	assert_false(stall_keeps(STALL_UPSTREAM_UNHEALTHY, STALL_OK, &then,
	    &now));
	/* A state read back from the database has no basis. */
	memset(&none, 0, sizeof none);
	assert_false(stall_keeps(STALL_NO_PROGRESS, STALL_OK, &none, &now));
	/* A spending limit raised (SIGHUP) is new evidence too. */
	in = working(5, 600);
	in.spend.stream_usd = 3;
	in.spend.stream_max = 2;
	assert_int_equal(judge(&in), STALL_BUDGET_SPENT);
	stall_basis_of(&in, &then);
	in.spend.stream_max = 10;
	stall_basis_of(&in, &now);
	assert_int_equal(judge(&in), STALL_OK);
	assert_false(stall_keeps(STALL_BUDGET_SPENT, STALL_OK, &then, &now));
}

static void
test_a_stream_past_its_spending_limit_is_budget_spent(void **state)
{
	struct stall_input	 in = working(0, 600);
	json_t			*e;

	(void)state;
	/* Under its limits: the counts and the agent decide. */
	in.spend = (struct agent_spend){ 1.5, 2.0, 4.0, 10.0 };
	in.agent.state = AGENT_WORKING;
	assert_int_equal(judge(&in), STALL_OK);

	/* Its own limit reached: budget-spent, with the figures; an agent
	 * still at work is stopped when its turn ends, and says so. */
	in.spend.stream_usd = 2.0;
	in.session_live = true;
	assert_int_equal(stall_judge(&in, &e), STALL_BUDGET_SPENT);
	assert_non_null(strstr(json_string_value(json_object_get(e, "reason")),
	    "stops it when its turn ends"));
	json_decref(e);
	in.session_live = false;
	assert_int_equal(stall_judge(&in, &e), STALL_BUDGET_SPENT);
	assert_null(strstr(json_string_value(json_object_get(e, "reason")),
	    "turn ends"));
	assert_true(json_number_value(json_object_get(e, "costUsd")) == 2.0);
	assert_true(json_number_value(json_object_get(e, "maxCostUsd")) ==
	    2.0);
	assert_non_null(strstr(json_string_value(json_object_get(e, "reason")),
	    "$2.00"));
	json_decref(e);

	/* All streams' limit reached: every stream still at work stops. */
	in.spend = (struct agent_spend){ 0.5, 0, 10.5, 10.0 };
	assert_int_equal(stall_judge(&in, &e), STALL_BUDGET_SPENT);
	assert_true(json_number_value(json_object_get(e, "maxTotalCostUsd")) ==
	    10.0);
	assert_non_null(strstr(json_string_value(json_object_get(e, "reason")),
	    "all streams"));
	json_decref(e);

	/* It outranks what the agent says and a spent recovery budget. */
	in.agent.state = AGENT_DEAD;
	in.budget_spent = true;
	assert_int_equal(judge(&in), STALL_BUDGET_SPENT);

	/* A complete stream has spent nothing it should not have. */
	in.agent.state = AGENT_IDLE;
	in.budget_spent = false;
	in.counts = (struct model_counts){ 3, 3, 0, 0, 0, 0 };
	assert_int_equal(judge(&in), STALL_OK);

	/* No limits: never. */
	in = working(0, 600);
	in.spend = (struct agent_spend){ 1000, 0, 1000, 0 };
	assert_int_equal(judge(&in), STALL_OK);

	/* An agent taskgate stopped for it stays so after the limit is
	 * raised, until it is started again. */
	in.agent.state = AGENT_BUDGET_SPENT;
	snprintf(in.agent.reason, sizeof in.agent.reason, "stopped");
	assert_int_equal(judge(&in), STALL_BUDGET_SPENT);
	assert_string_equal(stall_state_name(STALL_BUDGET_SPENT),
	    "budget-spent");
	assert_false(stall_state_recoverable(STALL_BUDGET_SPENT));
}

static void
test_names(void **state)
{
	int	i;

	(void)state;
	for (i = STALL_OK; i <= STALL_NEEDS_LOGIN; i++)
		assert_int_equal(stall_state_from_name(stall_state_name(i)), i);
	assert_string_equal(stall_state_name(STALL_NO_PROGRESS),
	    "no-progress");
	assert_int_equal(stall_state_from_name("fine"), -1);
}

static void
test_last_event_id(void **state)
{
	(void)state;
	assert_int_equal(valid_last_event_id("0"), 0);
	assert_int_equal(valid_last_event_id("42"), 42);
	assert_int_equal(valid_last_event_id(NULL), -1);
	assert_int_equal(valid_last_event_id(""), -1);
	assert_int_equal(valid_last_event_id("-1"), -1);
	assert_int_equal(valid_last_event_id("4 2"), -1);
	assert_int_equal(valid_last_event_id("0x10"), -1);
	assert_int_equal(valid_last_event_id("9999999999999999999999"), -1);
}

static void
test_history_times(void **state)
{
	(void)state;
	assert_int_equal(clock_parse_ms("0"), 0);
	assert_int_equal(clock_parse_ms("1796000000123"),
	    1796000000123LL);
	assert_int_equal(clock_parse_ms("1970-01-01T00:00:01Z"), 1000);
	assert_int_equal(clock_parse_ms("1970-01-01T00:00:01.5Z"),
	    1500);
	assert_int_equal(clock_parse_ms("1970-01-01T00:00:01.123456Z"),
	    1123);
	assert_int_equal(clock_parse_ms("2026-11-26T10:29:20.802Z"),
	    1795688960802LL);
	assert_int_equal(clock_parse_ms("yesterday"), -1);
	assert_int_equal(clock_parse_ms("2026-11-26T10:29:20+02:00"),
	    -1);
	assert_int_equal(clock_parse_ms(""), -1);
	assert_int_equal(clock_parse_ms("12345678901234567"), -1);
	/* No day that is not in the calendar, no leading sign or space. */
	assert_int_equal(clock_parse_ms("2026-02-30T00:00:00Z"), -1);
	assert_int_equal(clock_parse_ms("2026-02-28T24:00:00Z"), -1);
	assert_int_equal(clock_parse_ms("2028-02-29T00:00:00Z"),
	    1835395200000LL);
	assert_int_equal(clock_parse_ms(" 2026-11-26T10:29:20Z"), -1);
	assert_int_equal(clock_parse_ms("+5"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock_runs_only_while_reachable),
		cmocka_unit_test(test_no_progress_needs_work_and_time),
		cmocka_unit_test(test_upstream_health_and_ranking),
		cmocka_unit_test(
		    test_a_spent_budget_makes_a_stuck_stream_need_a_human),
		cmocka_unit_test(test_recovery_budget_and_backoff),
		cmocka_unit_test(test_the_refusal_rule_of_a_recovery),
		cmocka_unit_test(test_the_agents_own_word),
		cmocka_unit_test(test_blocked_work_waits_for_a_person),
		cmocka_unit_test(
		    test_a_stream_past_its_spending_limit_is_budget_spent),
		cmocka_unit_test(test_a_label_changes_only_on_new_evidence),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_last_event_id),
		cmocka_unit_test(test_history_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
