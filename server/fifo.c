/*
 * fifo.c: a first-in, first-out list of items that embed a struct
 * fifo_link as their first member.  It owns no item and takes no lock:
 * the module that keeps the list does both.  The events, audit rows and
 * webhook posts that wait their turn are such lists.
 */
#include <stddef.h>

#include "taskgate.h"

void
fifo_init(struct fifo *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->n = 0;
}

void
fifo_push(struct fifo *q, struct fifo_link *item)
{
	item->next = NULL;
	*q->tail = item;
	q->tail = &item->next;
	q->n++;
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
