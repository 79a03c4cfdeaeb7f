/*
 * test-options.c: flags, their environment twins and the precedence
 * between them, and the --listen forms.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

static int
clear_env(void **state)
{
	(void)state;
	unsetenv("TASKGATE_POLL");
	unsetenv("TASKGATE_LISTEN");
	unsetenv("TASKGATE_ALLOWED_HOST");
	unsetenv("TASKGATE_AUTO");
	setenv("XDG_STATE_HOME", "/tmp/xdg-test", 1);
	return 0;
}

static enum options_result
parse(struct options *o, char *err, ...)
{
	static char	 verb[] = "serve";
	char		*argv[16];
	int		 argc = 0;
	va_list		 ap;

	argv[argc++] = verb;
	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return options_parse(o, argc, argv, err, 256);
}

static void
test_defaults(void **state)
{
	struct options	o;
	char		err[256];

	(void)state;
	assert_int_equal(parse(&o, err, NULL), OPTIONS_OK);
	assert_string_equal(o.listen, "127.0.0.1:9191");
	assert_null(o.upstream);
	assert_string_equal(o.db_path, "/tmp/xdg-test/taskgate/history.db");
	assert_string_equal(o.token_file, "/tmp/xdg-test/taskgate/token");
	assert_true(o.poll == 5.0);
	assert_string_equal(o.tmux_session, "claude-streams");
	assert_string_equal(o.agent_command, "claude");
	assert_false(o.auto_run);
	assert_false(o.allow_remote);
	options_clear(&o);
}

static void
test_flag_beats_environment(void **state)
{
	struct options	o;
	char		err[256];

	(void)state;
	setenv("TASKGATE_POLL", "2.5", 1);
	assert_int_equal(parse(&o, err, NULL), OPTIONS_OK);
	assert_true(o.poll == 2.5);
	assert_true(o.poll_given);
	options_clear(&o);
	assert_int_equal(parse(&o, err, "--poll", "0.25", NULL), OPTIONS_OK);
	assert_true(o.poll == 0.25);
	options_clear(&o);
	unsetenv("TASKGATE_POLL");
}

static void
test_booleans_and_lists(void **state)
{
	struct options	o;
	char		err[256];

	(void)state;
	setenv("TASKGATE_AUTO", "yes", 1);
	setenv("TASKGATE_ALLOWED_HOST", "a.example,,b.example", 1);
	assert_int_equal(parse(&o, err, "--allowed-host", "c.example", NULL),
	    OPTIONS_OK);
	assert_true(o.auto_run);
	assert_int_equal(o.n_allowed_hosts, 3);
	assert_string_equal(o.allowed_hosts[2], "c.example");
	options_clear(&o);
	setenv("TASKGATE_AUTO", "perhaps", 1);
	assert_int_equal(parse(&o, err, NULL), OPTIONS_ERROR);
	assert_non_null(strstr(err, "TASKGATE_AUTO"));
	options_clear(&o);
}

static void
test_errors_name_the_option(void **state)
{
	struct options	o;
	char		err[256];

	(void)state;
	assert_int_equal(parse(&o, err, "--poll", "-1", NULL), OPTIONS_ERROR);
	assert_non_null(strstr(err, "--poll"));
	options_clear(&o);
	assert_int_equal(parse(&o, err, "--poll", "nan", NULL), OPTIONS_ERROR);
	options_clear(&o);
	assert_int_equal(parse(&o, err, "--nope", NULL), OPTIONS_ERROR);
	assert_non_null(strstr(err, "--nope"));
	options_clear(&o);
	assert_int_equal(parse(&o, err, "extra", NULL), OPTIONS_ERROR);
	assert_non_null(strstr(err, "extra"));
	options_clear(&o);
	assert_int_equal(parse(&o, err, "--listen", "10.0.0.1:80", NULL),
	    OPTIONS_ERROR);
	assert_non_null(strstr(err, "--allow-remote"));
	options_clear(&o);
	assert_int_equal(parse(&o, err, "--listen", "10.0.0.1:80",
	    "--allow-remote", NULL), OPTIONS_OK);
	options_clear(&o);
}

static void
test_listen_forms(void **state)
{
	struct listen_addr	a;
	char			err[256];

	(void)state;
	assert_int_equal(options_parse_listen("127.0.0.1:9191", &a, err,
	    sizeof err), 0);
	assert_int_equal(a.family, AF_INET);
	assert_true(a.loopback);
	assert_int_equal(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 9191);
	assert_int_equal(options_parse_listen("127.1.2.3:0", &a, err,
	    sizeof err), 0);
	assert_true(a.loopback);
	assert_int_equal(options_parse_listen("localhost:80", &a, err,
	    sizeof err), 0);
	assert_true(a.loopback);
	assert_int_equal(options_parse_listen("[::1]:9191", &a, err,
	    sizeof err), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_true(a.loopback);
	assert_int_equal(options_parse_listen("[::]:9191", &a, err,
	    sizeof err), 0);
	assert_false(a.loopback);
	assert_int_equal(options_parse_listen("0.0.0.0:1", &a, err,
	    sizeof err), 0);
	assert_false(a.loopback);
	assert_int_equal(options_parse_listen("unix:/run/tg.sock", &a, err,
	    sizeof err), 0);
	assert_int_equal(a.family, AF_UNIX);
	assert_true(a.loopback);
	assert_int_equal(options_parse_listen("unix:relative", &a, err,
	    sizeof err), -1);
	assert_int_equal(options_parse_listen("127.0.0.1", &a, err,
	    sizeof err), -1);
	assert_int_equal(options_parse_listen("127.0.0.1:65536", &a, err,
	    sizeof err), -1);
	assert_int_equal(options_parse_listen("example.com:80", &a, err,
	    sizeof err), -1);
	assert_int_equal(options_parse_listen("[::1:80", &a, err,
	    sizeof err), -1);
	assert_int_equal(options_parse_listen(":80", &a, err, sizeof err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clear_env),
		cmocka_unit_test_setup(test_flag_beats_environment, clear_env),
		cmocka_unit_test_setup(test_booleans_and_lists, clear_env),
		cmocka_unit_test_setup(test_errors_name_the_option, clear_env),
		cmocka_unit_test(test_listen_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
