/*
 * test-acceptor.c: which daemon the front door gives a connection, from
 * the first bytes of its request, and whether the request may use the
 * places kept for the owner (acceptor_classify).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

#define MAX	ACCEPTOR_HEAD_MAX

static enum acceptor_route
route(const char *head)
{
	bool	privileged;

	return acceptor_classify(head, strlen(head), MAX, &privileged);
}

static bool
privileged(const char *head)
{
	bool	p;

	acceptor_classify(head, strlen(head), MAX, &p);
	return p;
}

static void
test_event_stream_heads(void **state)
{
	(void)state;
	assert_int_equal(route("GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n"),
	    ACCEPTOR_EVENTS);
	assert_int_equal(route("GET /api/events?lastEventId=42 HTTP/1.1\r\n"
	    "Host: localhost\r\nAccept: text/event-stream\r\n\r\n"), ACCEPTOR_EVENTS);
	/* Bare newlines end a head too, as libmicrohttpd accepts them. */
	assert_int_equal(route("GET /api/events HTTP/1.1\nHost: x\n\n"), ACCEPTOR_EVENTS);
}

static void
test_everything_else_is_general(void **state)
{
	(void)state;
	assert_int_equal(route("GET /api/streams HTTP/1.1\r\nHost: x\r\n\r\n"), ACCEPTOR_GENERAL);
	assert_int_equal(route("GET /api/eventsx HTTP/1.1\r\nHost: x\r\n\r\n"), ACCEPTOR_GENERAL);
	assert_int_equal(route("GET /api/events/1 HTTP/1.1\r\nHost: x\r\n\r\n"), ACCEPTOR_GENERAL);
	assert_int_equal(route("HEAD /api/events HTTP/1.1\r\nHost: x\r\n\r\n"), ACCEPTOR_GENERAL);
	assert_int_equal(route("POST /api/events HTTP/1.1\r\nHost: x\r\n\r\n"), ACCEPTOR_GENERAL);
	assert_int_equal(route("get /api/events HTTP/1.1\r\nHost: x\r\n\r\n"), ACCEPTOR_GENERAL);
}

static void
test_a_nul_byte_in_a_head_is_bad(void **state)
{
	static const char head[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\0.x\r\n\r\n";
	bool	p;

	(void)state;
	assert_int_equal(acceptor_classify(head, sizeof head - 1, MAX, &p),
	    ACCEPTOR_BAD);
	/* After the head, a NUL is the body's business. */
	assert_int_equal(acceptor_classify("POST /x HTTP/1.1\r\n\r\n\0", 21, MAX,
	    &p), ACCEPTOR_GENERAL);
}

static void
test_waits_for_a_whole_head(void **state)
{
	(void)state;
	assert_int_equal(route("G"), ACCEPTOR_WAIT);
	assert_int_equal(route("GET /api/ev"), ACCEPTOR_WAIT);
	assert_int_equal(route("GET /api/events"), ACCEPTOR_WAIT);
	assert_int_equal(route("GET /api/events HTTP/1.1\r\nHost: x\r\n"), ACCEPTOR_WAIT);
	assert_int_equal(route("GET /api/events HTTP/1.1\r\nHost: x\r\n\r"), ACCEPTOR_WAIT);
	/* Every head is waited for, so a slow one never reaches a daemon. */
	assert_int_equal(route("POST"), ACCEPTOR_WAIT);
	assert_int_equal(route("\x16\x03\x01"), ACCEPTOR_WAIT);	/* TLS */
	assert_int_equal(route("GET /api/streams"), ACCEPTOR_WAIT);
	assert_int_equal(route("GET /health HTTP/1.1\r\nHost: x\r\nX-a: 1\r\n"),
	    ACCEPTOR_WAIT);
	assert_int_equal(route(""), ACCEPTOR_WAIT);
}

static void
test_the_owners_places(void **state)
{
	(void)state;
	assert_true(privileged("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
	assert_true(privileged("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"));
	assert_true(privileged("GET /health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
	assert_true(privileged("POST /api/run HTTP/1.1\r\nHost: x\r\n"
	    "authorization: Bearer abc\r\n\r\n"));
	assert_true(privileged("GET /api/overview HTTP/1.1\r\nHost: x\r\n"
	    "Cookie: taskgate_token=abc\r\n\r\n"));
	assert_true(privileged("GET /api/events HTTP/1.1\nCookie: a=b\n\n"));
	assert_false(privileged("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
	assert_false(privileged("GET /api/streams HTTP/1.1\r\nHost: x\r\n\r\n"));
	/* Only a header line counts, not a value or the body after it. */
	assert_false(privileged("GET /api/streams HTTP/1.1\r\nX-a: Cookie: 1\r\n\r\n"));
	assert_false(privileged("POST /x HTTP/1.1\r\nHost: x\r\n\r\nCookie: 1\r\n"));
	/* Nothing is privileged before its head is whole. */
	assert_false(privileged("GET /health HTTP/1.1\r\n"));
}

static void
test_a_head_too_big_for_the_small_pool_is_general(void **state)
{
	char	*head = malloc(MAX);
	size_t	 len;

	(void)state;
	/* A big cookie: the look is full and the head has not ended. */
	bool	 p;

	len = (size_t)snprintf(head, MAX, "GET /api/events HTTP/1.1\r\nCookie: ");
	memset(head + len, 'a', MAX - len);
	assert_int_equal(acceptor_classify(head, MAX, MAX, &p), ACCEPTOR_GENERAL);
	/* The same bytes, fewer than the look holds: wait for more. */
	assert_int_equal(acceptor_classify(head, MAX - 1, MAX, &p), ACCEPTOR_WAIT);
	/* A whole head too big for the event stream's pool is general. */
	len = (size_t)snprintf(head, MAX, "GET /api/events HTTP/1.1\r\nCookie: ");
	memset(head + len, 'a', TASKGATE_EVENTS_HEAD_MAX);
	memcpy(head + len + TASKGATE_EVENTS_HEAD_MAX, "\r\n\r\n", 4);
	assert_int_equal(acceptor_classify(head, len + TASKGATE_EVENTS_HEAD_MAX + 4,
	    MAX, &p), ACCEPTOR_GENERAL);
	free(head);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_stream_heads),
		cmocka_unit_test(test_everything_else_is_general),
		cmocka_unit_test(test_waits_for_a_whole_head),
		cmocka_unit_test(test_the_owners_places),
		cmocka_unit_test(test_a_nul_byte_in_a_head_is_bad),
		cmocka_unit_test(test_a_head_too_big_for_the_small_pool_is_general),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
