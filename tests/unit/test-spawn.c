/*
 * test-spawn.c: the one place taskgate runs another program: exit
 * statuses, captured output, the working directory, a missing program
 * reported as such (not as status 127), the deadline, and bytes given on
 * the child's stdin (more than a pipe holds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

/* A writable copy of a string literal, for the argument vectors execvp
 * takes as char *const []. */
#define ARG(s)	((char []){ s })

static void
test_status_and_output(void **state)
{
	char *const		 ok[] = { ARG("sh"), ARG("-c"),
				    ARG("printf out; printf err >&2; exit 3"),
				    NULL };
	char *const		 pwd[] = { ARG("pwd"), NULL };
	struct spawn_result	 res;

	(void)state;
	assert_int_equal(spawn_run(ok, NULL, 5, &res), 0);
	assert_int_equal(res.status, 3);
	assert_string_equal(res.out.data, "out");
	assert_string_equal(res.err.data, "err");
	spawn_result_clear(&res);
	assert_int_equal(spawn_run(pwd, "/tmp", 5, &res), 0);
	assert_string_equal(res.out.data, "/tmp\n");
	spawn_result_clear(&res);
}

static void
test_input_on_stdin(void **state)
{
	char *const		 cat[] = { ARG("cat"), NULL };
	char *const		 count[] = { ARG("wc"), ARG("-c"), NULL };
	struct spawn_result	 res;
	size_t			 big = 300 * 1024;
	char			*data = malloc(big);

	(void)state;
	assert_non_null(data);
	assert_int_equal(spawn_run_input(cat, NULL, 5, "{\"a\": 1}\n", 9,
	    &res), 0);
	assert_string_equal(res.out.data, "{\"a\": 1}\n");
	spawn_result_clear(&res);
	/* More than a pipe holds: the child reads it all, nobody waits. */
	memset(data, 'x', big);
	assert_int_equal(spawn_run_input(count, NULL, 5, data, big, &res), 0);
	assert_int_equal(atol(res.out.data), (long)big);
	spawn_result_clear(&res);
	free(data);
	/* No input: stdin is /dev/null, as for spawn_run(). */
	assert_int_equal(spawn_run_input(cat, NULL, 5, NULL, 0, &res), 0);
	assert_string_equal(res.out.data, "");
	spawn_result_clear(&res);
}

static void
test_missing_program(void **state)
{
	char *const		 argv[] = { ARG("taskgate-no-such-program"), NULL };
	struct spawn_result	 res;

	(void)state;
	assert_int_equal(spawn_run(argv, NULL, 5, &res), -1);
	assert_true(res.not_found);
	assert_non_null(strstr(res.error, "taskgate-no-such-program"));
	spawn_result_clear(&res);
}

static void
test_deadline(void **state)
{
	char *const		 argv[] = { ARG("sleep"), ARG("10"), NULL };
	struct spawn_result	 res;
	double			 t0 = clock_mono();

	(void)state;
	assert_int_equal(spawn_run(argv, NULL, 0.3, &res), -1);
	assert_true(res.timed_out);
	assert_true(clock_mono() - t0 < 5.0);
	spawn_result_clear(&res);
}

static void
test_no_descriptor_leaks_into_the_child(void **state)
{
	char *const		 argv[] = { ARG("sh"), ARG("-c"),
				    ARG("ls /proc/self/fd | wc -l"),
				    NULL };
	struct spawn_result	 res;

	(void)state;
	assert_int_equal(spawn_run(argv, NULL, 5, &res), 0);
	/* 0, 1, 2, and the one ls opens to read the directory. */
	assert_int_equal(atoi(res.out.data), 4);
	spawn_result_clear(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_and_output),
		cmocka_unit_test(test_input_on_stdin),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_no_descriptor_leaks_into_the_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
