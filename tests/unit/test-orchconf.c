/*
 * test-orchconf.c: reading orchestration-config.json: defaults, the
 * fields taskgate uses, unknown fields ignored, and errors that name the
 * field of the wrong type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "taskgate.h"

static int
parse(const char *text, struct orchconf *c, char *err)
{
	json_t	*j = json_loads(text, JSON_DECODE_ANY, NULL);
	int	 rc;

	assert_non_null(j);
	rc = orchconf_parse(j, c, err, 256);
	json_decref(j);
	return rc;
}

static void
test_defaults_and_fields(void **state)
{
	struct orchconf	c;
	char		err[256];

	(void)state;
	assert_int_equal(parse("{}", &c, err), 0);
	assert_null(c.api_endpoint);
	assert_int_equal(c.max_parallel, 5);
	assert_true(c.stall_timeout_min == 10);
	assert_true(c.auto_recovery);
	assert_int_equal(c.max_recovery, 3);
	assert_true(c.max_cost_usd == 0);	/* no spending limit */
	orchconf_clear(&c);

	assert_int_equal(parse("{\"apiEndpoint\":\"http://127.0.0.1:9090\","
	    "\"pollInterval\":2.5,\"maxParallelStreams\":2,\"future\":[1],"
	    "\"contextRecovery\":{\"stallTimeoutMinutes\":0.5,"
	    "\"autoRecoveryEnabled\":false,\"maxRecoveryAttempts\":1},"
	    "\"executionPlan\":{\"phases\":[]},"
	    "\"streams\":[{\"streamId\":\"Stream-A\",\"streamName\":\"f\","
	    "\"streamPhase\":\"foundation\",\"dependencies\":[],"
	    "\"projectRoot\":\"/p\",\"worktreePath\":null},"
	    "{\"streamId\":\"Stream-B\",\"dependencies\":[\"Stream-A\"],"
	    "\"worktreePath\":\"wt/B\"}]}", &c, err), 0);
	assert_string_equal(c.api_endpoint, "http://127.0.0.1:9090");
	assert_true(c.poll_interval == 2.5);
	assert_int_equal(c.max_parallel, 2);
	assert_true(c.stall_timeout_min == 0.5);
	assert_false(c.auto_recovery);
	assert_int_equal(c.max_recovery, 1);
	assert_int_equal(c.n_streams, 2);
	assert_null(c.streams[0].worktree_path);
	assert_string_equal(c.streams[1].deps[0], "Stream-A");
	assert_string_equal(c.streams[1].worktree_path, "wt/B");
	assert_true(c.streams[0].max_cost_usd == 0);
	orchconf_clear(&c);

	/* Spending limits: for all streams at the top, one's on it. */
	assert_int_equal(parse("{\"maxCostUsd\":25,\"streams\":[{\"streamId\""
	    ":\"A\",\"maxCostUsd\":2.5},{\"streamId\":\"B\"}]}", &c, err), 0);
	assert_true(c.max_cost_usd == 25);
	assert_true(c.streams[0].max_cost_usd == 2.5);
	assert_true(c.streams[1].max_cost_usd == 0);
	orchconf_clear(&c);
}

static void
test_wrong_types_name_the_field(void **state)
{
	static const struct {
		const char *doc;
		const char *field;
	} bad[] = {
		{ "[]", "top level" },
		{ "{\"apiEndpoint\":9090}", "apiEndpoint" },
		{ "{\"pollInterval\":\"5\"}", "pollInterval" },
		{ "{\"pollInterval\":1e300}", "pollInterval" },
		{ "{\"maxParallelStreams\":2.5}", "maxParallelStreams" },
		{ "{\"contextRecovery\":[]}", "contextRecovery" },
		{ "{\"contextRecovery\":{\"stallTimeoutMinutes\":\"x\"}}",
		  "contextRecovery.stallTimeoutMinutes" },
		{ "{\"contextRecovery\":{\"autoRecoveryEnabled\":1}}",
		  "contextRecovery.autoRecoveryEnabled" },
		{ "{\"executionPlan\":[]}", "executionPlan" },
		{ "{\"executionPlan\":{\"parallel\":\"Stream-B\"}}",
		  "executionPlan.parallel" },
		{ "{\"executionPlan\":{\"foundation\":[\"A\",7]}}",
		  "executionPlan.foundation[1]" },
		{ "{\"streams\":{}}", "streams" },
		{ "{\"streams\":[1]}", "streams[0]" },
		{ "{\"streams\":[{}]}", "streams[0].streamId" },
		{ "{\"streams\":[{\"streamId\":\"A\"},{\"streamId\":\"../x\"}]}",
		  "streams[1].streamId" },
		{ "{\"streams\":[{\"streamId\":\"A\",\"dependencies\":\"B\"}]}",
		  "streams[0].dependencies" },
		{ "{\"streams\":[{\"streamId\":\"A\",\"dependencies\":[1]}]}",
		  "streams[0].dependencies[0]" },
		{ "{\"streams\":[{\"streamId\":\"A\",\"worktreePath\":3}]}",
		  "streams[0].worktreePath" },
		{ "{\"maxCostUsd\":\"10\"}", "maxCostUsd" },
		{ "{\"maxCostUsd\":0}", "maxCostUsd" },
		{ "{\"maxCostUsd\":-1}", "maxCostUsd" },
		{ "{\"streams\":[{\"streamId\":\"A\",\"maxCostUsd\":true}]}",
		  "streams[0].maxCostUsd" },
	};
	struct orchconf	c;
	char		err[256];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse(bad[i].doc, &c, err), -1);
		if (strstr(err, bad[i].field) == NULL)
			fail_msg("'%s' does not name %s", err, bad[i].field);
		orchconf_clear(&c);
	}
}

static void
test_load_reports_the_path(void **state)
{
	struct orchconf	c;
	char		err[256];
	char		path[] = "/tmp/orchconf-XXXXXX";
	int		fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"streams\": [", 13), 13);
	close(fd);
	assert_int_equal(orchconf_load(path, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	orchconf_clear(&c);
	unlink(path);
	assert_int_equal(orchconf_load(path, &c, err, sizeof err), -1);
	orchconf_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_fields),
		cmocka_unit_test(test_wrong_types_name_the_field),
		cmocka_unit_test(test_load_reports_the_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
