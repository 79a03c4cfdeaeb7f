/*
 * buf.c: a growable byte buffer with a cap.  buf_add() refuses to grow past
 * the cap and returns -1, so every body read from the network is bounded.
 * The data is always NUL-terminated so that text parsers can take it.
 */
#include <stdlib.h>
#include <string.h>

#include "rules.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

/* Appends len bytes; -1 (and nothing appended) when that would pass max. */
int
buf_add(struct buf *b, const void *p, size_t len)
{
	size_t	need;

	if (b->max != 0 && (len > b->max || b->len > b->max - len))
		return -1;
	need = b->len + len + 1;
	if (need > b->cap) {
		size_t cap = b->cap == 0 ? 256 : b->cap;

		while (cap < need)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* Returns the data (new, NUL-terminated) and empties the buffer. */
char *
buf_steal(struct buf *b, size_t *len)
{
	char	*p;

	if (b->data == NULL)
		buf_add(b, "", 0);
	p = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
buf_clear(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
