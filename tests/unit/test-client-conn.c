/*
 * test-client-conn.c: how a client verb finds the daemon and its token
 * (client-conn.c): the URL made from --listen (a wildcard address is
 * reached on loopback, a unix socket through http://localhost), which
 * addresses want the token on every request, where the token file is by
 * default, and a token file read only when it holds a token.  No request
 * is made here: test_80_client.py does that against a real daemon.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"

#define TOKEN	"0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef"

static void
expect_open(const char *listen, const char *base, const char *where,
    const char *unix_path, bool remote)
{
	struct client_conn	c;

	assert_int_equal(client_conn_open(&c, listen, "/nonexistent"), 0);
	assert_string_equal(c.base, base);
	assert_string_equal(c.where, where);
	if (unix_path == NULL)
		assert_null(c.unix_path);
	else
		assert_string_equal(c.unix_path, unix_path);
	assert_int_equal(c.remote, remote);
	assert_string_equal(c.token_file, "/nonexistent");
	assert_string_equal(c.token, "");
	client_conn_close(&c);
}

static void
test_the_daemon_is_found_by_listen(void **state)
{
	(void)state;
	expect_open("127.0.0.1:9191", "http://127.0.0.1:9191",
	    "http://127.0.0.1:9191", NULL, false);
	/* A wildcard is reached on loopback; such a daemon runs with
	 * --allow-remote, so the token goes with every request. */
	expect_open("0.0.0.0:8080", "http://127.0.0.1:8080",
	    "http://127.0.0.1:8080", NULL, true);
	expect_open("[::1]:9191", "http://[::1]:9191", "http://[::1]:9191",
	    NULL, false);
	expect_open("[::]:7", "http://[::1]:7", "http://[::1]:7", NULL,
	    true);
	expect_open("unix:/run/tg.sock", "http://localhost",
	    "unix:/run/tg.sock", "/run/tg.sock", false);
	expect_open("192.0.2.7:9191", "http://192.0.2.7:9191",
	    "http://192.0.2.7:9191", NULL, true);
}

static void
test_a_bad_listen_is_refused(void **state)
{
	struct client_conn	c;

	(void)state;
	assert_int_equal(client_conn_open(&c, "127.0.0.1:0", NULL), -1);
	assert_null(c.base);
	assert_null(c.token_file);
	assert_int_equal(client_conn_open(&c, "nowhere", NULL), -1);
	assert_null(c.base);
}

static void
test_the_default_token_file(void **state)
{
	struct client_conn	c;

	(void)state;
	setenv("XDG_STATE_HOME", "/state", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(client_conn_open(&c, "127.0.0.1:1", NULL), 0);
	assert_string_equal(c.token_file, "/state/taskgate/token");
	client_conn_close(&c);

	setenv("XDG_STATE_HOME", "relative", 1);
	assert_int_equal(client_conn_open(&c, "127.0.0.1:1", NULL), 0);
	assert_string_equal(c.token_file,
	    "/home/u/.local/state/taskgate/token");
	client_conn_close(&c);

	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	assert_int_equal(client_conn_open(&c, "127.0.0.1:1", NULL), 0);
	assert_null(c.token_file);
	assert_int_equal(client_conn_token(&c), -1);
	client_conn_close(&c);
}

/* Reads a token file holding text; the outcome of client_conn_token(). */
static int
read_token(const char *text, char *token, size_t len)
{
	struct client_conn	 c;
	char			 path[] = "/tmp/test-client-conn.XXXXXX";
	FILE			*f;
	int			 fd, rc;

	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(client_conn_open(&c, "127.0.0.1:1", path), 0);
	rc = client_conn_token(&c);
	snprintf(token, len, "%s", c.token);
	client_conn_close(&c);
	unlink(path);
	return rc;
}

static void
test_the_token_is_read_only_when_it_is_one(void **state)
{
	struct client_conn	c;
	char			token[128];

	(void)state;
	assert_int_equal(read_token(TOKEN "\n", token, sizeof token), 0);
	assert_string_equal(token, TOKEN);
	assert_int_equal(read_token(TOKEN "\r\n", token, sizeof token), 0);
	assert_string_equal(token, TOKEN);
	assert_int_equal(read_token(TOKEN, token, sizeof token), 0);
	assert_string_equal(token, TOKEN);

	assert_int_equal(read_token("", token, sizeof token), -1);
	assert_string_equal(token, "");
	assert_int_equal(read_token("not a token\n", token, sizeof token),
	    -1);
	assert_string_equal(token, "");
	assert_int_equal(read_token(TOKEN "0\n", token, sizeof token), -1);
	assert_string_equal(token, "");

	assert_int_equal(client_conn_open(&c, "127.0.0.1:1",
	    "/nonexistent/token"), 0);
	assert_int_equal(client_conn_token(&c), -1);
	client_conn_close(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_daemon_is_found_by_listen),
		cmocka_unit_test(test_a_bad_listen_is_refused),
		cmocka_unit_test(test_the_default_token_file),
		cmocka_unit_test(test_the_token_is_read_only_when_it_is_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
