/*
 * client-frame.c: the canvas the client verbs draw on -- lines of
 * terminal text, each string added made safe by termtext_safe() and cut
 * at the frame's width, in colours (SGR) only when the frame was asked
 * for them, never from the text.  status prints a frame line by line;
 * watch draws its header, the overview and the Recent lines in one and
 * writes it in one go.  What goes in a frame is the callers' business.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

void
client_frame_init(struct client_frame *f, int max, bool color, bool utf8)
{
	memset(f, 0, sizeof *f);
	f->max = max;
	f->color = color;
	f->utf8 = utf8;
}

void
client_frame_clear(struct client_frame *f)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		buf_clear(&f->lines[i]);
	free(f->lines);
	memset(f, 0, sizeof *f);
}

/* Starts a new, empty line. */
void
client_frame_line(struct client_frame *f)
{
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 64 : f->cap * 2;
		f->lines = xrealloc(f->lines, f->cap * sizeof *f->lines);
	}
	buf_init(&f->lines[f->n++], 0);
	f->width = 0;
}

static const char *
client_frame_sgr(enum client_color c)
{
	switch (c) {
	case CLIENT_GREEN:
		return "\033[32m";
	case CLIENT_YELLOW:
		return "\033[33m";
	case CLIENT_GREY:
		return "\033[90m";
	case CLIENT_RED:
		return "\033[31m";
	case CLIENT_BOLD:
		return "\033[1m";
	case CLIENT_CYAN:
		return "\033[36m";
	case CLIENT_PLAIN:
		break;
	}
	return NULL;
}

/* Appends formatted text, made safe, to the last line, in colour c. */
void
client_frame_add(struct client_frame *f, enum client_color c,
    const char *fmt, ...)
{
	struct buf	*b;
	const char	*sgr = f->color ? client_frame_sgr(c) : NULL;
	va_list		 ap;
	char		*text;

	if (f->n == 0)
		client_frame_line(f);
	b = &f->lines[f->n - 1];
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	if (sgr != NULL)
		buf_add(b, sgr, strlen(sgr));
	termtext_safe(text, f->utf8, b, f->max, &f->width);
	if (sgr != NULL)
		buf_add(b, "\033[0m", 4);
	free(text);
}

/* Pads the last line with spaces to column col. */
void
client_frame_pad(struct client_frame *f, int col)
{
	while (f->width < col && (f->max == 0 || f->width < f->max))
		client_frame_add(f, CLIENT_PLAIN, " ");
}
