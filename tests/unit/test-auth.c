/*
 * test-auth.c: the token file (created 0600 with 64 hex digits, reused,
 * refused when damaged), Bearer and cookie checks, the Host allowlist and
 * the Origin check.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "taskgate.h"

static char dir[] = "/tmp/tg-auth-XXXXXX";

static int
make_dir(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static void
test_token_file(void **state)
{
	char		 path[128], err[256], a[65], b[65];
	struct stat	 st;
	FILE		*f;

	(void)state;
	snprintf(path, sizeof path, "%s/sub/dir/token", dir);
	assert_int_equal(auth_token_file(path, a, sizeof a, err, sizeof err),
	    0);
	assert_true(valid_token_hex(a));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(auth_token_file(path, b, sizeof b, err, sizeof err),
	    0);
	assert_string_equal(a, b);
	f = fopen(path, "w");
	fputs("not a token\n", f);
	fclose(f);
	assert_int_equal(auth_token_file(path, b, sizeof b, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, path));
}

static void
test_checks(void **state)
{
	char		 path[128], err[256], bearer[80], cookie[120];
	char		 host[] = "tg.internal", *hosts[] = { host };
	struct auth	*a;

	(void)state;
	snprintf(path, sizeof path, "%s/token2", dir);
	a = auth_new(path, hosts, 1, err, sizeof err);
	assert_non_null(a);
	snprintf(bearer, sizeof bearer, "Bearer %s", auth_token(a));
	snprintf(cookie, sizeof cookie, "a=b; taskgate_token=%s; c=d",
	    auth_token(a));
	assert_int_equal(auth_check(a, bearer, NULL), AUTH_BEARER);
	assert_int_equal(auth_check(a, NULL, cookie), AUTH_COOKIE);
	assert_int_equal(auth_check(a, NULL, NULL), AUTH_NONE);
	assert_int_equal(auth_check(a, "Bearer 00", cookie), AUTH_NONE);
	assert_int_equal(auth_check(a, "Basic xyz", cookie), AUTH_COOKIE);
	assert_int_equal(auth_check(a, NULL, "taskgate_token=00"), AUTH_NONE);
	assert_int_equal(auth_check(a, NULL, "xtaskgate_token=00"), AUTH_NONE);

	assert_true(auth_host_allowed(a, "localhost"));
	assert_true(auth_host_allowed(a, "localhost:9191"));
	assert_true(auth_host_allowed(a, "LocalHost."));
	assert_true(auth_host_allowed(a, "127.0.0.1:1"));
	assert_true(auth_host_allowed(a, "[::1]:9191"));
	assert_true(auth_host_allowed(a, "tg.internal"));
	assert_false(auth_host_allowed(a, NULL));
	assert_false(auth_host_allowed(a, ""));
	assert_false(auth_host_allowed(a, "evil.example"));
	assert_false(auth_host_allowed(a, "localhost.evil.example"));
	assert_false(auth_host_allowed(a, "localhost:9191x"));
	assert_false(auth_host_allowed(a, "localhost:"));
	assert_false(auth_host_allowed(a, "[::1"));
	assert_false(auth_host_allowed(a, "127.0.0.2"));

	assert_true(auth_origin_matches("http://localhost:9191",
	    "localhost:9191"));
	assert_false(auth_origin_matches("http://localhost:9191",
	    "localhost:9192"));
	assert_false(auth_origin_matches("https://localhost:9191",
	    "localhost:9191"));
	assert_false(auth_origin_matches(NULL, "localhost"));
	assert_false(auth_origin_matches("null", "localhost"));
	auth_free(a);
}

/* Twenty wrong tokens a minute from one address, then a Retry-After. */
static void
test_guesses(void **state)
{
	char		 path[128], err[256], value[80];
	struct auth	*a;
	int		 i, wait;

	(void)state;
	snprintf(path, sizeof path, "%s/token3", dir);
	a = auth_new(path, NULL, 0, err, sizeof err);
	assert_non_null(a);
	for (i = 0; i < 20; i++)
		assert_int_equal(auth_guess_failed(a, "127.0.0.1"), 0);
	wait = auth_guess_failed(a, "127.0.0.1");
	assert_true(wait > 0 && wait <= 61);
	/* Another address has its own allowance. */
	assert_int_equal(auth_guess_failed(a, "unix:1000"), 0);

	assert_int_equal(auth_presented("Bearer  abc", "taskgate_token=x",
	    value, sizeof value), AUTH_BEARER);
	assert_string_equal(value, "abc");
	assert_int_equal(auth_presented(NULL, "a=b; taskgate_token=x",
	    value, sizeof value), AUTH_COOKIE);
	assert_string_equal(value, "x");
	assert_int_equal(auth_presented("Basic abc", NULL, value,
	    sizeof value), AUTH_BEARER);
	assert_string_equal(value, "");
	assert_int_equal(auth_presented(NULL, "a=b", value, sizeof value),
	    AUTH_NONE);
	assert_int_equal(auth_peer_user(-1, NULL, value, sizeof value), -1);
	auth_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_guesses),
	};

	return cmocka_run_group_tests(tests, make_dir, NULL);
}
