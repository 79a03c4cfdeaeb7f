/*
 * test-client.c: what the terminal face does to untrusted text before it
 * prints it (client_safe_text(): escape sequences and control characters
 * gone, widths counted in columns, lines cut at a width) and the frames
 * built from it (colours only when asked for, never from the text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

/* The safe form of s (new), its width in *w; max as client_safe_text. */
static char *
safe(const char *s, bool utf8, int max, int *w, int *cut)
{
	struct buf	b;
	int		width = 0, c;

	buf_init(&b, 0);
	c = client_safe_text(s, utf8, &b, max, &width);
	if (w != NULL)
		*w = width;
	if (cut != NULL)
		*cut = c;
	return buf_steal(&b, NULL);
}

static void
expect(const char *in, bool utf8, const char *want)
{
	char	*got = safe(in, utf8, 0, NULL, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void
test_escape_sequences_are_removed_whole(void **state)
{
	(void)state;
	expect("plain text", true, "plain text");
	expect("\033[2J\033[1;1Hhome", true, "home");
	expect("\033[31mred\033[0m", true, "red");
	expect("\033]0;title\007after", true, "after");
	expect("\033]8;;http://x\033\\link\033]8;;\033\\", true, "link");
	expect("\033P+q544e\033\\dcs", true, "dcs");
	expect("\033_apc\033\\x", true, "x");
	expect("\033(Bcharset", true, "charset");
	expect("\033c" "reset", true, "reset");
	expect("\xc2\x9b" "2Jc1", true, "c1");		/* C1 CSI */
	expect("\xc2\x9d" "0;t\x07" "osc", true, "osc");	/* C1 OSC */
	expect("cut\033[", true, "cut");
	expect("cut\033", true, "cut");
	expect("\033[1m\033[", true, "");
}

static void
test_controls_and_invisible_characters(void **state)
{
	(void)state;
	expect("a\tb\nc\rd", true, "a b c d");
	expect("bell\007 bs\b del\x7f nul-free", true, "bell bs del nul-free");
	expect("x\xe2\x80\xae" "evil", true, "xevil");	/* U+202E */
	expect("zero\xe2\x80\x8bwidth", true, "zerowidth");	/* U+200B */
	expect("line\xe2\x80\xa8sep", true, "line sep");	/* U+2028 */
	expect("\xc2\x85next", true, "next");			/* C1 NEL */
}

static void
test_utf8_and_its_absence(void **state)
{
	int	w;
	char	*s;

	(void)state;
	expect("caf\xc3\xa9", true, "caf\xc3\xa9");
	expect("caf\xc3\xa9", false, "caf?");
	expect("bad\xff" "byte", true, "bad\xef\xbf\xbd" "byte");
	expect("bad\xff" "byte", false, "bad?byte");
	expect("\xc0\xaf", true, "\xef\xbf\xbd\xef\xbf\xbd");	/* overlong */
	expect("\xed\xa0\x80", true,
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");		/* surrogate */
	s = safe("\xe2\x96\x88\xe2\x96\x91 ok", true, 0, &w, NULL);
	assert_int_equal(w, 5);
	free(s);
}

static void
test_width_cut(void **state)
{
	int	w, cut;
	char	*s;

	(void)state;
	s = safe("0123456789", true, 4, &w, &cut);
	assert_string_equal(s, "0123");
	assert_int_equal(w, 4);
	assert_int_equal(cut, 1);
	free(s);
	s = safe("\033[31m0123\033[0m", true, 4, &w, &cut);
	assert_string_equal(s, "0123");
	assert_int_equal(cut, 0);
	free(s);
	s = safe("\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88", true, 2, &w, &cut);
	assert_string_equal(s, "\xe2\x96\x88\xe2\x96\x88");
	assert_int_equal(w, 2);
	free(s);
}

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
	client_frame_free(&f);

	client_frame_init(&f, 8, true, true);
	client_frame_add(&f, CLIENT_GREEN, "ok");
	client_frame_add(&f, CLIENT_PLAIN, " and more than fits");
	assert_string_equal(f.lines[0].data, "\033[32mok\033[0m and m");
	assert_int_equal(f.width, 8);
	client_frame_free(&f);
}

static void
test_overview_text(void **state)
{
	struct client_frame	 f;
	json_t			*doc;
	struct buf		 all;
	size_t			 i;

	(void)state;
	doc = json_loads("{\"upstream\":{\"url\":\"http://u\",\"status\":"
	    "\"down\",\"lastError\":\"gone\\u001b[2J\"},\"overall\":"
	    "{\"totalTasks\":3,\"completedTasks\":1,\"progressPercentage\":33,"
	    "\"streams\":2},\"streams\":[{\"streamId\":\"S-Z\",\"streamPhase\":"
	    "\"integration\",\"status\":\"pending\",\"progressPercentage\":0,"
	    "\"totalTasks\":1},{\"streamId\":\"S-A\",\"streamName\":\"\\u001b]0;"
	    "x\\u0007base\",\"streamPhase\":\"foundation\",\"status\":"
	    "\"in_progress\",\"progressPercentage\":50,\"totalTasks\":2,"
	    "\"completedTasks\":1}],\"alerts\":[{\"message\":\"m\\u009b1m\"}],"
	    "\"nextActions\":[{\"action\":\"start\",\"streamId\":\"S-A\","
	    "\"reason\":\"ready\"}]}", 0, NULL);
	assert_non_null(doc);
	client_frame_init(&f, 0, false, false);
	client_frame_overview(&f, doc, false);
	buf_init(&all, 0);
	for (i = 0; i < f.n; i++) {
		if (f.lines[i].len > 0)
			buf_add(&all, f.lines[i].data, f.lines[i].len);
		buf_add(&all, "\n", 1);
	}
	assert_null(strchr(all.data, '\033'));
	assert_non_null(strstr(all.data, "Upstream  http://u down: gone\n"));
	assert_non_null(strstr(all.data, "33%  1/3 tasks in 2 streams"));
	assert_non_null(strstr(all.data, "S-A (base)"));
	assert_true(strstr(all.data, "FOUNDATION") < strstr(all.data,
	    "INTEGRATION"));
	assert_true(strstr(all.data, "S-A") < strstr(all.data, "S-Z"));
	assert_non_null(strstr(all.data, "! m\n"));
	assert_non_null(strstr(all.data, "1. start S-A: ready  (taskgate "
	    "start S-A)"));
	buf_free(&all);
	client_frame_free(&f);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_sequences_are_removed_whole),
		cmocka_unit_test(test_controls_and_invisible_characters),
		cmocka_unit_test(test_utf8_and_its_absence),
		cmocka_unit_test(test_width_cut),
		cmocka_unit_test(test_frames_colour_only_when_asked),
		cmocka_unit_test(test_overview_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
