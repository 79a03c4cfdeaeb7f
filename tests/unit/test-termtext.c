/*
 * test-termtext.c: what the terminal face does to untrusted text before
 * it prints it (termtext.c: escape sequences and control characters
 * gone, invalid UTF-8 replaced, widths counted in columns, text cut at a
 * width, never inside a character).
 */
#include <setjmp.h>
#include <locale.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>

#include "client.h"

/* The safe form of s (new), its width in *w; max as termtext_safe. */
static char *
safe(const char *s, bool utf8, int max, int *w, int *cut)
{
	struct buf	b;
	int		width = 0, c;

	buf_init(&b, 0);
	c = termtext_safe(s, utf8, &b, max, &width);
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
test_width_in_columns(void **state)
{
	(void)state;
	assert_int_equal(termtext_width(NULL, true), 0);
	assert_int_equal(termtext_width("", true), 0);
	assert_int_equal(termtext_width("Stream-B", true), 8);
	assert_int_equal(termtext_width("\033[1mbold\033[0m", true), 4);
	assert_int_equal(termtext_width("a\tb", true), 3);
	assert_int_equal(termtext_width("caf\xc3\xa9", true), 4);
	assert_int_equal(termtext_width("caf\xc3\xa9", false), 4);
	assert_int_equal(termtext_width("x\xe2\x80\xae" "y", true), 2);
	/* Wide characters take two columns where the locale knows them. */
	if (setlocale(LC_CTYPE, "C.UTF-8") != NULL && wcwidth(0x4e2d) == 2) {
		assert_int_equal(termtext_width("\xe4\xb8\xad\xe6\x96\x87",
		    true), 4);
		assert_int_equal(termtext_width("\xe4\xb8\xad\xe6\x96\x87",
		    false), 2);
	}
	setlocale(LC_CTYPE, "C");
}

static void
test_a_wide_character_is_not_split_by_a_cut(void **state)
{
	int	w, cut;
	char	*s;

	(void)state;
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL || wcwidth(0x4e2d) != 2)
		skip();
	s = safe("a\xe4\xb8\xad" "b", true, 2, &w, &cut);
	assert_string_equal(s, "a");
	assert_int_equal(w, 1);
	assert_int_equal(cut, 1);
	free(s);
	setlocale(LC_CTYPE, "C");
}

static void
test_dup(void **state)
{
	char	*s;

	(void)state;
	s = termtext_dup(NULL, true);
	assert_string_equal(s, "");
	free(s);
	s = termtext_dup("\033]0;owned\007Stream-B\r\nok", true);
	assert_string_equal(s, "Stream-B  ok");
	free(s);
	s = termtext_dup("caf\xc3\xa9 \xe2\x9c\x93", false);
	assert_string_equal(s, "caf? ?");
	free(s);
	/* Long text is never cut. */
	s = termtext_dup("0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789", true);
	assert_int_equal(strlen(s), 80);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_sequences_are_removed_whole),
		cmocka_unit_test(test_controls_and_invisible_characters),
		cmocka_unit_test(test_utf8_and_its_absence),
		cmocka_unit_test(test_width_cut),
		cmocka_unit_test(test_width_in_columns),
		cmocka_unit_test(test_a_wide_character_is_not_split_by_a_cut),
		cmocka_unit_test(test_dup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
