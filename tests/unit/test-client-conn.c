/*
 * test-client-conn.c: how a client verb finds the daemon and its token
 * (client-conn.c): the URL made from --listen (a wildcard address is
 * reached on loopback, a unix socket through http://localhost), which
 * addresses want the token on every request, where the token file is by
 * default, and a token file read only when it holds a token; and, of
 * socket-note.c, which port's note a --listen reads and which lines of
 * /proc/net/tcp and tcp6 name a listener on that port's loopback.  No
 * request is made here: test_80_client.py does that against a real
 * daemon, test_44_unix_users.py the note.
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

static int
note_port(const char *listen)
{
	struct listen_addr	a;
	char			err[256];

	assert_int_equal(options_parse_listen(listen, &a, err, sizeof err), 0);
	return socket_note_port(&a);
}

static void
test_the_note_read_is_the_ports_on_this_machine(void **state)
{
	(void)state;
	assert_int_equal(note_port("127.0.0.1:9191"), 9191);
	assert_int_equal(note_port("localhost:8000"), 8000);
	assert_int_equal(note_port("[::1]:9192"), 9192);
	assert_int_equal(note_port("0.0.0.0:9193"), 9193);
	assert_int_equal(note_port("[::]:9194"), 9194);
	/* Another host's port, or a unix socket: no note. */
	assert_int_equal(note_port("192.0.2.7:9191"), 0);
	assert_int_equal(note_port("unix:/run/taskgate.sock"), 0);
}

static void
test_a_listener_is_read_from_proc_net_tcp(void **state)
{
	unsigned long	uid = 0;

	(void)state;
	/* 127.0.0.1:9191 (0x23E7), LISTEN (0A), uid 1000. */
	assert_true(socket_note_listener("   0: 0100007F:23E7 00000000:0000 "
	    "0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 "
	    "0000000000000000 100 0 0 10 0", 9191, &uid));
	assert_int_equal(uid, 1000);
	/* 0.0.0.0 and the v6 ::, ::1 and ::ffff:127.0.0.1 count too. */
	assert_true(socket_note_listener("1: 00000000:23E7 00000000:0000 0A "
	    "0:0 0:0 0 0 0 1", 9191, &uid));
	assert_int_equal(uid, 0);
	assert_true(socket_note_listener("2: 00000000000000000000000001000000"
	    ":23E7 00000000000000000000000000000000:0000 0A 0:0 0:0 0 33 0 1",
	    9191, &uid));
	assert_int_equal(uid, 33);
	assert_true(socket_note_listener("3: 0000000000000000FFFF00000100007F"
	    ":23E7 00000000000000000000000000000000:0000 0A 0:0 0:0 0 7 0 1",
	    9191, &uid));
	/* Not listening, another port, another address, the header line. */
	assert_false(socket_note_listener("4: 0100007F:23E7 0100007F:9C40 01 "
	    "0:0 0:0 0 1000 0 1", 9191, &uid));
	assert_false(socket_note_listener("5: 0100007F:23E8 00000000:0000 0A "
	    "0:0 0:0 0 1000 0 1", 9191, &uid));
	assert_false(socket_note_listener("6: 0702000A:23E7 00000000:0000 0A "
	    "0:0 0:0 0 1000 0 1", 9191, &uid));
	assert_false(socket_note_listener("  sl  local_address rem_address   "
	    "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
	    9191, &uid));
	assert_false(socket_note_listener("", 9191, &uid));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_daemon_is_found_by_listen),
		cmocka_unit_test(test_a_bad_listen_is_refused),
		cmocka_unit_test(test_the_default_token_file),
		cmocka_unit_test(test_the_token_is_read_only_when_it_is_one),
		cmocka_unit_test(test_the_note_read_is_the_ports_on_this_machine),
		cmocka_unit_test(test_a_listener_is_read_from_proc_net_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
