/*
 * test-validate.c: the pure checks of untrusted text: stream ids, tokens,
 * ETags and If-None-Match lists, the constant-time comparison, and the
 * decoding of raw paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

static void
test_stream_ids(void **state)
{
	char	long_id[80];

	(void)state;
	assert_true(valid_stream_id("Stream-B"));
	assert_true(valid_stream_id("Stream_B.2"));
	assert_true(valid_stream_id("a"));
	assert_false(valid_stream_id(""));
	assert_false(valid_stream_id(NULL));
	assert_false(valid_stream_id("-a"));
	assert_false(valid_stream_id(".a"));
	assert_false(valid_stream_id("a/b"));
	assert_false(valid_stream_id("a b"));
	assert_false(valid_stream_id("a;rm"));
	assert_false(valid_stream_id("$(id)"));
	assert_false(valid_stream_id("\xc3\xa9t\xc3\xa9"));
	memset(long_id, 'a', 64);
	long_id[64] = '\0';
	assert_true(valid_stream_id(long_id));
	long_id[64] = 'a';
	long_id[65] = '\0';
	assert_false(valid_stream_id(long_id));
}

static void
test_tokens(void **state)
{
	const char *good =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	(void)state;
	assert_true(valid_token_hex(good));
	assert_false(valid_token_hex("0123"));
	assert_false(valid_token_hex(
	    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_true(equal_const_time(good, good));
	assert_false(equal_const_time("", good));
	assert_false(equal_const_time("0123456789", good));
	assert_false(equal_const_time(
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdee",
	    good));
	assert_false(equal_const_time(
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
	    good));
}

static void
test_etags(void **state)
{
	char	a[40], b[40];

	(void)state;
	etag_of("hello", 5, a, sizeof a);
	etag_of("hellp", 5, b, sizeof b);
	assert_string_not_equal(a, b);
	assert_int_equal(a[0], '"');
	assert_int_equal(etag_match(a, a), 1);
	assert_int_equal(etag_match("*", a), 1);
	assert_int_equal(etag_match(NULL, a), 0);
	assert_int_equal(etag_match(b, a), 0);
	{
		char list[120];

		snprintf(list, sizeof list, "\"x\", W/%s , \"y\"", a);
		assert_int_equal(etag_match(list, a), 1);
		snprintf(list, sizeof list, "\"x\", %.10s", a);
		assert_int_equal(etag_match(list, a), 0);
	}
	assert_int_equal(etag_match("\"unterminated", a), 0);
	assert_int_equal(etag_match("garbage, ,,", a), 0);
}

static void
test_path_decoding(void **state)
{
	char	*p;

	(void)state;
	assert_int_equal(valid_decode_path("/api/streams/Stream%2DB?x=%00", &p),
	    0);
	assert_string_equal(p, "/api/streams/Stream-B");
	free(p);
	assert_int_equal(valid_decode_path("/a%2Fb", &p), 0);
	assert_string_equal(p, "/a/b");
	free(p);
	assert_int_equal(valid_decode_path("/a%00b", &p), -1);
	assert_null(p);
	assert_int_equal(valid_decode_path("/a%0", &p), -1);
	assert_int_equal(valid_decode_path("/a%", &p), -1);
	assert_int_equal(valid_decode_path("/a%zz", &p), -1);
}

static void
test_person_names_and_roles(void **state)
{
	(void)state;
	assert_true(valid_person_name("alice"));
	assert_true(valid_person_name("a.b_c-1"));
	assert_true(valid_person_name("abcdefghijabcdefghijabcdefghij12"));
	assert_false(valid_person_name("abcdefghijabcdefghijabcdefghij123"));
	assert_false(valid_person_name(""));
	assert_false(valid_person_name(NULL));
	assert_false(valid_person_name("-alice"));
	assert_false(valid_person_name("al ice"));
	assert_false(valid_person_name("al\x1b]0;x\x07ice"));
	assert_false(valid_person_name("al\nice"));
	assert_false(valid_person_name("al\xc3\xa9"));
	assert_int_equal(role_parse("viewer"), ROLE_VIEWER);
	assert_int_equal(role_parse("operator"), ROLE_OPERATOR);
	assert_int_equal(role_parse("admin"), ROLE_ADMIN);
	assert_int_equal(role_parse("Admin"), ROLE_NONE);
	assert_int_equal(role_parse("root"), ROLE_NONE);
	assert_int_equal(role_parse(NULL), ROLE_NONE);
	assert_true(ROLE_VIEWER < ROLE_OPERATOR && ROLE_OPERATOR < ROLE_ADMIN);
	assert_string_equal(role_name(ROLE_OPERATOR), "operator");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_ids),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_etags),
		cmocka_unit_test(test_path_decoding),
		cmocka_unit_test(test_person_names_and_roles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
