/*
 * log.c: the daemon's one log sink (stderr), in the OpenBSD style:
 * log_warn adds errno's text, log_warnx does not, fatal/fatalx exit 2 and are
 * meant for startup only.  Untrusted text is passed through log_escape()
 * first.  Nothing here may ever print a token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

static bool log_verbose;

static void log_vwrite(const char *, const char *, va_list);

void
log_init(bool verbose)
{
	log_verbose = verbose;
}

static void
log_vwrite(const char *suffix, const char *fmt, va_list ap)
{
	char	line[1024];

	vsnprintf(line, sizeof line, fmt, ap);
	if (suffix != NULL)
		fprintf(stderr, "taskgate: %s: %s\n", line, suffix);
	else
		fprintf(stderr, "taskgate: %s\n", line);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(strerror(saved), fmt, ap);
	va_end(ap);
	exit(2);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
	exit(2);
}

/*
 * Returns a new string in which every byte outside printable ASCII is shown
 * as \xHH, so that text from the upstream or a client cannot forge log lines
 * or send escape sequences to a terminal.  At most max input bytes are
 * shown.
 */
char *
log_escape(const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	char	*out, *p;
	size_t	 i;

	if (s == NULL)
		return xstrdup("(null)");
	out = p = xmalloc(max * 4 + 4);
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
	return out;
}
