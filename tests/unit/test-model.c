/*
 * test-model.c: the upstream's stream rules as taskgate derives them:
 * status from the counts, rounded progress, and the additions to the list
 * (its status, a blocked stream's reason) and the detail, checked on the
 * captured fixture documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

static json_t *
fixture(const char *name)
{
	char		*path;
	json_error_t	 err;
	json_t		*j;

	xasprintf(&path, "%s/tests/fixtures/task-copilot/%s.json",
	    TASKGATE_SRCDIR, name);
	j = json_load_file(path, 0, &err);
	free(path);
	assert_non_null(j);
	return j;
}

static void
test_status_rules(void **state)
{
	struct model_counts c = { 0 };

	(void)state;
	assert_string_equal(model_status_name(model_status_of(&c)), "pending");
	c = (struct model_counts){ 4, 4, 0, 0, 0, 0 };
	assert_int_equal(model_status_of(&c), MODEL_COMPLETED);
	c = (struct model_counts){ 2, 0, 1, 1, 0, 0 };
	assert_int_equal(model_status_of(&c), MODEL_BLOCKED);
	c = (struct model_counts){ 3, 1, 1, 0, 1, 0 };
	assert_int_equal(model_status_of(&c), MODEL_IN_PROGRESS);
	/* Partly done with nothing running is pending, as upstream says. */
	c = (struct model_counts){ 3, 2, 0, 0, 1, 0 };
	assert_int_equal(model_status_of(&c), MODEL_PENDING);
	/* A task of an unknown status keeps a stream from being completed. */
	c = (struct model_counts){ 3, 2, 0, 0, 0, 0 };
	assert_int_equal(model_status_of(&c), MODEL_PENDING);
	/* A cancelled one (Task Copilot 3) is done, though not completed. */
	c = (struct model_counts){ 4, 3, 0, 0, 0, 1 };
	assert_int_equal(model_status_of(&c), MODEL_COMPLETED);
	assert_int_equal(model_progress(&c), 75);
	c = (struct model_counts){ 4, 2, 0, 0, 1, 1 };
	assert_int_equal(model_status_of(&c), MODEL_PENDING);
}

static void
test_progress_rounds_like_upstream(void **state)
{
	struct model_counts c = { 0 };

	(void)state;
	assert_int_equal(model_progress(&c), 0);
	c.total = 3;
	c.completed = 1;
	assert_int_equal(model_progress(&c), 33);
	c.completed = 2;
	assert_int_equal(model_progress(&c), 67);
	c.total = 2;
	c.completed = 1;
	assert_int_equal(model_progress(&c), 50);
	c.total = 8;
	c.completed = 1;	/* 12.5 rounds up */
	assert_int_equal(model_progress(&c), 13);
}

static void
test_list_gains_status(void **state)
{
	json_t	*list = fixture("streams-list"), *s;
	char	 err[200];
	size_t	 i;
	const char *want[] = { "completed", "blocked", "completed",
	    "in_progress", "pending" };

	(void)state;
	assert_int_equal(model_augment_list(list, err, sizeof err), 0);
	json_array_foreach(json_object_get(list, "streams"), i, s) {
		assert_string_equal(json_string_value(json_object_get(s,
		    "status")), want[i]);
		/* Every other key is kept, in order, with status last. */
		assert_string_equal(json_object_iter_key(json_object_iter(s)),
		    "streamId");
	}
	json_decref(list);
}

static void
test_detail_gains_counters(void **state)
{
	json_t	*d = fixture("stream-D");
	char	 err[200];

	(void)state;
	assert_int_equal(model_augment_detail(d, err, sizeof err), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "totalTasks")),
	    2);
	assert_int_equal(json_integer_value(json_object_get(d,
	    "inProgressTasks")), 1);
	assert_int_equal(json_integer_value(json_object_get(d,
	    "blockedTasks")), 1);
	assert_int_equal(json_integer_value(json_object_get(d,
	    "completedTasks")), 0);
	assert_int_equal(json_integer_value(json_object_get(d,
	    "pendingTasks")), 0);
	json_decref(d);
}

/* A listed stream with a blocked task gets that task's reason, only it. */
static void
test_list_gains_blocked_reasons(void **state)
{
	json_t	*list, *tasks;

	(void)state;
	list = json_loads("{\"streams\":["
	    "{\"streamId\":\"S-A\",\"blockedTasks\":0},"
	    "{\"streamId\":\"S-D\",\"blockedTasks\":1},"
	    "{\"streamId\":\"S-E\",\"blockedTasks\":1,"
	    "\"blockedReason\":\"its own\"},"
	    "{\"streamId\":\"S-F\",\"blockedTasks\":2}]}", 0, NULL);
	tasks = json_loads("["
	    "{\"status\":\"blocked\",\"blockedReason\":\"not mine\","
	    "\"metadata\":{\"streamId\":\"S-A\"}},"
	    "{\"status\":\"completed\",\"blockedReason\":\"old\","
	    "\"metadata\":{\"streamId\":\"S-D\"}},"
	    "{\"status\":\"blocked\",\"blockedReason\":\"Need decision\","
	    "\"metadata\":{\"streamId\":\"S-D\"}},"
	    "{\"status\":\"blocked\",\"blockedReason\":\"other\","
	    "\"metadata\":{\"streamId\":\"S-E\"}},"
	    "{\"status\":\"blocked\",\"blockedReason\":7,"
	    "\"metadata\":{\"streamId\":\"S-F\"}},"
	    "\"junk\"]", 0, NULL);
	assert_non_null(list);
	assert_non_null(tasks);
	model_add_blocked_reasons(list, tasks);
	assert_null(json_object_get(json_array_get(json_object_get(list,
	    "streams"), 0), "blockedReason"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(list, "streams"), 1), "blockedReason")),
	    "Need decision");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(list, "streams"), 2), "blockedReason")), "its own");
	assert_null(json_object_get(json_array_get(json_object_get(list,
	    "streams"), 3), "blockedReason"));
	model_add_blocked_reasons(list, NULL);
	json_decref(list);
	json_decref(tasks);
}

static void
test_wrong_shapes_are_refused(void **state)
{
	const char *lists[] = { "[]", "{}", "{\"streams\":{}}",
	    "{\"streams\":[1]}", "{\"streams\":[{\"streamId\":\"A\"}]}",
	    "{\"streams\":[{\"streamId\":\"A\",\"totalTasks\":-1,"
	    "\"completedTasks\":0,\"inProgressTasks\":0,\"blockedTasks\":0,"
	    "\"pendingTasks\":0}]}" };
	const char *details[] = { "[]", "{\"streamId\":\"A\"}",
	    "{\"streamId\":\"A\",\"tasks\":[{}]}",
	    "{\"streamId\":\"A\",\"tasks\":[{\"status\":3}]}",
	    "{\"tasks\":[]}" };
	char	 err[200];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		json_t *j = json_loads(lists[i], JSON_DECODE_ANY, NULL);

		err[0] = '\0';
		assert_int_equal(model_augment_list(j, err, sizeof err), -1);
		assert_true(strlen(err) > 0);
		json_decref(j);
	}
	for (i = 0; i < sizeof details / sizeof details[0]; i++) {
		json_t *j = json_loads(details[i], JSON_DECODE_ANY, NULL);

		err[0] = '\0';
		assert_int_equal(model_augment_detail(j, err, sizeof err), -1);
		assert_true(strlen(err) > 0);
		json_decref(j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_rules),
		cmocka_unit_test(test_progress_rounds_like_upstream),
		cmocka_unit_test(test_list_gains_status),
		cmocka_unit_test(test_detail_gains_counters),
		cmocka_unit_test(test_list_gains_blocked_reasons),
		cmocka_unit_test(test_wrong_shapes_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
