/*
 * fifo.c: a bounded first-in, first-out list of items that embed a
 * struct fifo_link as their first member: past its bound, pushing an item
 * takes the oldest off and hands it back.  It owns no item and takes no
 * lock: the module that keeps the list does both.  The events, audit rows
 * and webhook posts that wait their turn are such lists.
 */
#include <stddef.h>

#include "rules.h"

/* An empty list that holds at most max items. */
void
fifo_init(struct fifo *q, size_t max)
{
	q->head = NULL;
	q->tail = &q->head;
	q->n = 0;
	q->max = max;
}

/*
 * Adds item at the end; returns the oldest item, taken off to stay within
 * the bound (the caller frees it), or NULL.
 */
struct fifo_link *
fifo_push(struct fifo *q, struct fifo_link *item)
{
	struct fifo_link	*dropped = NULL;

	if (q->n >= q->max)
		dropped = fifo_pop(q);
	item->next = NULL;
	*q->tail = item;
	q->tail = &item->next;
	q->n++;
	return dropped;
}

/* Takes the oldest item off the list; NULL when it is empty. */
struct fifo_link *
fifo_pop(struct fifo *q)
{
	struct fifo_link	*item = q->head;

	if (item == NULL)
		return NULL;
	q->head = item->next;
	if (q->head == NULL)
		q->tail = &q->head;
	q->n--;
	return item;
}
