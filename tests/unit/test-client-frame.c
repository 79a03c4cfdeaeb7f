/*
 * test-client-frame.c: the frames the client verbs draw on
 * (client-frame.c): every string made safe, lines cut at the frame's
 * width, padding, and colours only when asked for, never from the text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"

static void
test_frames_colour_only_when_asked(void **state)
{
	struct client_frame	f;

	(void)state;
	client_frame_init(&f, 0, false, true);
	client_frame_add(&f, CLIENT_RED, "%s", "\033[5mblink");
	client_frame_line(&f);
	client_frame_add(&f, CLIENT_PLAIN, "two");
	assert_int_equal(f.n, 2);
	assert_string_equal(f.lines[0].data, "blink");
	assert_string_equal(f.lines[1].data, "two");
	client_frame_clear(&f);

	client_frame_init(&f, 8, true, true);
	client_frame_add(&f, CLIENT_GREEN, "ok");
	client_frame_add(&f, CLIENT_PLAIN, " and more than fits");
	/* Cut between words, with an ellipsis, never inside a word. */
	assert_string_equal(f.lines[0].data, "\033[32mok\033[0m and\xe2\x80\xa6");
	assert_int_equal(f.width, 7);
	client_frame_clear(&f);
}

static void
test_every_colour_is_closed(void **state)
{
	struct client_frame	f;

	(void)state;
	client_frame_init(&f, 4, true, false);
	client_frame_add(&f, CLIENT_BOLD, "%s", "Stream-B");
	client_frame_add(&f, CLIENT_CYAN, "%s", "more");
	/* A first word wider than the line is cut where it must be. */
	assert_string_equal(f.lines[0].data,
	    "\033[1mS...\033[0m\033[36m\033[0m");
	assert_int_equal(f.width, 4);
	client_frame_clear(&f);
}

static void
test_lines_and_padding(void **state)
{
	struct client_frame	f;
	int			i;

	(void)state;
	client_frame_init(&f, 0, false, false);
	client_frame_line(&f);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.lines[0].len, 0);
	client_frame_add(&f, CLIENT_PLAIN, "id");
	client_frame_pad(&f, 6);
	client_frame_add(&f, CLIENT_PLAIN, "|");
	assert_string_equal(f.lines[0].data, "id    |");
	client_frame_pad(&f, 3);		/* already past: nothing */
	assert_string_equal(f.lines[0].data, "id    |");
	client_frame_line(&f);
	assert_int_equal(f.width, 0);
	client_frame_clear(&f);

	/* Padding stops at the frame's width. */
	client_frame_init(&f, 5, false, false);
	client_frame_add(&f, CLIENT_PLAIN, "ab");
	client_frame_pad(&f, 40);
	assert_string_equal(f.lines[0].data, "ab   ");
	assert_int_equal(f.width, 5);
	client_frame_clear(&f);

	/* Many lines. */
	client_frame_init(&f, 0, false, false);
	for (i = 0; i < 200; i++) {
		client_frame_line(&f);
		client_frame_add(&f, CLIENT_PLAIN, "line %d", i);
	}
	assert_int_equal(f.n, 200);
	assert_string_equal(f.lines[199].data, "line 199");
	client_frame_clear(&f);
	assert_int_equal(f.n, 0);
	assert_null(f.lines);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_colour_only_when_asked),
		cmocka_unit_test(test_every_colour_is_closed),
		cmocka_unit_test(test_lines_and_padding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
