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
	f->cut = false;
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

/*
 * Appends text, made safe, to b, the last line.  Text that does not fit is
 * cut between words, never inside one, and ends in an ellipsis: at the
 * last space that leaves room for it, or before the whole text when it
 * has no such space and the line already holds something (a first word
 * wider than the line is cut where it must be).  Nothing more is added to
 * a line once it was cut, unless the caller clears f->cut.
 */
static void
client_frame_put(struct client_frame *f, struct buf *b, const char *text)
{
	const char	*dots = f->utf8 ? "\xe2\x80\xa6" : "...";
	int		 dots_w = f->utf8 ? 1 : 3, room, w = 0;
	struct buf	 safe, head;
	size_t		 keep, back;

	if (f->cut)
		return;
	if (f->max == 0 || f->width + termtext_width(text, f->utf8) <= f->max) {
		termtext_safe(text, f->utf8, b, f->max, &f->width);
		return;
	}
	f->cut = true;
	room = f->max - f->width;
	if (room <= dots_w) {
		termtext_safe(text, f->utf8, b, f->max, &f->width);
		return;
	}
	/* The safe text, whole, then the part of it that fits with dots. */
	buf_init(&safe, 0);
	buf_add(&safe, "", 0);
	termtext_safe(text, f->utf8, &safe, 0, &w);
	buf_init(&head, 0);
	buf_add(&head, "", 0);
	w = 0;
	termtext_safe(safe.data, f->utf8, &head, room - dots_w, &w);
	keep = head.len;
	if (keep < safe.len && safe.data[keep] != ' ') {
		back = keep;
		while (back > 0 && head.data[back - 1] != ' ')
			back--;
		if (back > 0 || f->width > 0)
			keep = back;
	}
	while (keep > 0 && head.data[keep - 1] == ' ')
		keep--;
	head.data[keep] = '\0';
	w = 0;
	termtext_safe(head.data, f->utf8, b, 0, &w);
	f->width += w;
	buf_add(b, dots, strlen(dots));
	f->width += dots_w;
	buf_clear(&head);
	buf_clear(&safe);
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
	client_frame_put(f, b, text);
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
