/*
 * log.c: the one place taskgate writes a line for a person to read: the
 * daemon's log (stderr) and the lines of the offline and client verbs
 * (stderr and stdout), in the OpenBSD style: log_warn adds errno's text,
 * log_warnx does not, fatal/fatalx exit 2 and are meant for startup only;
 * log_out writes a verb's result line on stdout.  Nothing here may ever
 * print a token (the start line of main.c shows the one meant to be seen).
 *
 * The rule for outside text.  Text that came from outside -- config
 * values, upstream replies, pane text, tasks.db, request headers, paths,
 * argv and the environment -- goes into a message as it is, and each line
 * is escaped once, here, where it is written: log_escape() shows every
 * byte outside printable ASCII, and the backslash, as \xHH.  So no line
 * can carry an escape sequence to a terminal (a clipboard write, a screen
 * clear, a new title) or forge a second log line, and a message built
 * with snprintf into an err buffer needs no care until it is printed,
 * which it is only through these functions (or, in a JSON reply, by
 * jansson's quoting).  Callers do not escape what they log: that would
 * show each backslash twice.
 *
 * Outside this file nothing writes to stdout or stderr with a %s of
 * anything but constant text, with two exceptions: the usage texts (the
 * static tables of verbs and flags), and the screens of status, watch
 * and the client verbs' results, whose daemon text passes client.c's
 * client_safe_text() (it keeps UTF-8 and drops whole escape sequences).
 * tests/unit/check-escapes.py holds the sources to this rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

#define LOG_LINE_MAX	1024	/* bytes of one message before escaping */

static bool log_verbose;

static size_t	log_escape_into(char *, const char *, size_t);
static void	log_vwrite(FILE *, bool, const char *, const char *,
		    va_list);

void
log_init(bool verbose)
{
	log_verbose = verbose;
}

/*
 * Formats one message, adds suffix (errno's text) if any, escapes the
 * whole of it and writes it as one line on f, after "taskgate: " when
 * prefixed.
 */
static void	log_vwrite(FILE *, bool, const char *, const char *, va_list)
		    __attribute__((format(printf, 4, 0)));

static void
log_vwrite(FILE *f, bool prefixed, const char *suffix, const char *fmt,
    va_list ap)
{
	char	line[LOG_LINE_MAX], safe[LOG_LINE_MAX * 4 + 4];
	size_t	len;

	vsnprintf(line, sizeof line, fmt, ap);
	if (suffix != NULL) {
		len = strlen(line);
		snprintf(line + len, sizeof line - len, ": %s", suffix);
	}
	log_escape_into(safe, line, sizeof line);
	fprintf(f, "%s%s\n", prefixed ? "taskgate: " : "", safe);
	fflush(f);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(stderr, true, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(stderr, true, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(stderr, true, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(stderr, true, NULL, fmt, ap);
	va_end(ap);
}

/* A verb's result: one escaped line on stdout, as given (no prefix). */
void
log_out(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(stdout, false, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(stderr, true, strerror(saved), fmt, ap);
	va_end(ap);
	exit(2);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(stderr, true, NULL, fmt, ap);
	va_end(ap);
	exit(2);
}

/*
 * Writes into out (room for max * 4 + 4 bytes) the first max bytes of s
 * with every byte outside printable ASCII, and the backslash, shown as
 * \xHH, then "..." if s was longer; returns the length written.
 */
static size_t
log_escape_into(char *out, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	char	*p = out;
	size_t	 i;

	for (i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		*p++ = 'x';
		*p++ = hex[c >> 4];
		*p++ = hex[c & 0xf];
	}
	if (s[i] != '\0') {
		memcpy(p, "...", 3);
		p += 3;
	}
	*p = '\0';
	return (size_t)(p - out);
}

/*
 * The escaping of the log, as a new string: for text that must be plain
 * ASCII somewhere else (a JSON string of bytes that are not UTF-8).  At
 * most max input bytes are shown.
 */
char *
log_escape(const char *s, size_t max)
{
	char	*out;

	if (s == NULL)
		return xstrdup("(null)");
	out = xmalloc(max * 4 + 4);
	log_escape_into(out, s, max);
	return out;
}
