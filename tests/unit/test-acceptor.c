/*
 * test-acceptor.c: which daemon the front door gives a connection, from
 * the first bytes of its request (acceptor_classify).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

#define MAX	TASKGATE_EVENTS_HEAD_MAX

static enum acceptor_route
route(const char *head)
{
	return acceptor_classify(head, strlen(head), MAX);
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
	/* No need to wait for the rest of a head that is not ours. */
	assert_int_equal(route("POST"), ACCEPTOR_GENERAL);
	assert_int_equal(route("\x16\x03\x01"), ACCEPTOR_GENERAL);	/* TLS */
	assert_int_equal(route("GET /api/streams"), ACCEPTOR_GENERAL);
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
	assert_int_equal(acceptor_classify("", 0, MAX), ACCEPTOR_WAIT);
}

static void
test_a_head_too_big_for_the_small_pool_is_general(void **state)
{
	char	*head = malloc(MAX);
	size_t	 len;

	(void)state;
	/* A big cookie: the look is full and the head has not ended. */
	len = (size_t)snprintf(head, MAX, "GET /api/events HTTP/1.1\r\nCookie: ");
	memset(head + len, 'a', MAX - len);
	assert_int_equal(acceptor_classify(head, MAX, MAX), ACCEPTOR_GENERAL);
	/* The same bytes, fewer than the look holds: wait for more. */
	assert_int_equal(acceptor_classify(head, MAX - 1, MAX), ACCEPTOR_WAIT);
	free(head);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_stream_heads),
		cmocka_unit_test(test_everything_else_is_general),
		cmocka_unit_test(test_waits_for_a_whole_head),
		cmocka_unit_test(test_a_head_too_big_for_the_small_pool_is_general),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
