/*
 * termtext.c: text from outside (the daemon's answers, much of them the
 * upstream's, so anyone's) made safe to print on a terminal.
 * termtext_safe() drops control characters and whole escape sequences
 * (ESC [ ..., ESC ] ... BEL, DCS, the C1 forms, bidirectional overrides
 * and other invisible characters), so nothing printed can move the
 * cursor, retitle the window or reorder a line; it shows invalid UTF-8
 * (and, on a terminal that does not take UTF-8, any non-ASCII) as a
 * replacement, counts the width in terminal columns (wcwidth) and cuts at
 * a width.  It owns nothing else: no colours, no lines, no I/O; only
 * termtext_utf8_locale() sets the locale (LC_CTYPE from the environment,
 * once).
 */
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include "client.h"

/* Whether the locale's character set is UTF-8 (LC_CTYPE set from env). */
bool
termtext_utf8_locale(void)
{
	static int	utf8 = -1;
	const char	*cs;

	if (utf8 == -1) {
		setlocale(LC_CTYPE, "");
		cs = nl_langinfo(CODESET);
		utf8 = cs != NULL && (strcasecmp(cs, "UTF-8") == 0 ||
		    strcasecmp(cs, "utf8") == 0);
	}
	return utf8 == 1;
}

/* Decodes the UTF-8 sequence at s into *cp; its length, 0 if invalid. */
static size_t
termtext_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	uint32_t	c;
	size_t		n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* The length of a control string from s (after its introducer) to ST. */
static size_t
termtext_skip_string(const unsigned char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == 0x07)
			return i + 1;
		if (s[i] == 0x1b)
			return s[i + 1] == '\\' ? i + 2 : i;
		if (s[i] == 0xc2 && s[i + 1] == 0x9c)
			return i + 2;
	}
	return i;
}

/* The length of CSI parameters and final byte from s. */
static size_t
termtext_skip_csi(const unsigned char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == 0x1b)
			return i;	/* cut short by a new sequence */
		if (s[i] >= 0x40 && s[i] <= 0x7e)
			return i + 1;
	}
	return i;
}

/* The length of the escape sequence at s, which starts with ESC. */
static size_t
termtext_skip_escape(const unsigned char *s)
{
	size_t	i;

	switch (s[1]) {
	case '\0':
		return 1;
	case '[':
		return 2 + termtext_skip_csi(s + 2);
	case ']':
	case 'P':
	case 'X':
	case '^':
	case '_':
		return 2 + termtext_skip_string(s + 2);
	}
	for (i = 1; s[i] >= 0x20 && s[i] <= 0x2f; i++)
		;	/* intermediates, as in ESC ( B */
	return s[i] != '\0' ? i + 1 : i;
}

/* Invisible characters that reorder or hide text. */
static bool
termtext_invisible(uint32_t cp)
{
	return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a &&
	    cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

/*
 * Appends the printable part of s to out: control characters and escape
 * sequences dropped, tabs and line breaks made spaces, invalid UTF-8 (and
 * any non-ASCII when the terminal is not UTF-8) shown as a replacement.
 * *width counts columns; with max > 0 it stops before passing max.
 * Returns 1 when it stopped early, else 0.
 */
int
termtext_safe(const char *str, bool utf8, struct buf *out, int max,
    int *width)
{
	const unsigned char	*s = (const unsigned char *)str;
	uint32_t		 cp;
	size_t			 i = 0, n;
	int			 w;
	char			 sp = ' ';

	while (s[i] != '\0') {
		if (s[i] == 0x1b) {
			i += termtext_skip_escape(s + i);
			continue;
		}
		if ((n = termtext_utf8_decode(s + i, &cp)) == 0) {
			cp = 0xfffd;
			n = 1;
		}
		if (cp == 0x9b) {
			i += n + termtext_skip_csi(s + i + n);
			continue;
		}
		if (cp == 0x90 || cp == 0x98 || cp == 0x9d || cp == 0x9e ||
		    cp == 0x9f) {
			i += n + termtext_skip_string(s + i + n);
			continue;
		}
		if (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x2028 ||
		    cp == 0x2029)
			cp = ' ';
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
		    termtext_invisible(cp)) {
			i += n;
			continue;
		}
		if (cp < 0x80)
			w = 1;
		else if (!utf8)
			w = 1;
		else if ((w = wcwidth((wchar_t)cp)) < 0)
			w = 1;
		if (max > 0 && *width + w > max)
			return 1;
		if (cp == ' ')
			buf_add(out, &sp, 1);
		else if (cp < 0x80)
			buf_add(out, s + i, 1);
		else if (!utf8)
			buf_add(out, "?", 1);
		else if (cp == 0xfffd)
			buf_add(out, "\xef\xbf\xbd", 3);
		else
			buf_add(out, s + i, n);
		*width += w;
		i += n;
	}
	return 0;
}

/* The columns s (NULL: "") takes once made safe. */
int
termtext_width(const char *s, bool utf8)
{
	struct buf	b;
	int		w = 0;

	buf_init(&b, 0);
	termtext_safe(s != NULL ? s : "", utf8, &b, 0, &w);
	buf_clear(&b);
	return w;
}

/* s (NULL: "") made safe, whole, as a new string. */
char *
termtext_dup(const char *s, bool utf8)
{
	struct buf	b;
	int		w = 0;

	buf_init(&b, 0);
	termtext_safe(s != NULL ? s : "", utf8, &b, 0, &w);
	return buf_steal(&b, NULL);
}
