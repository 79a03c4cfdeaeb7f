/*
 * idempotency.c: the answers of actions sent with an Idempotency-Key, so
 * that a repeated key gets the first answer again without acting twice:
 * a key still running is told so, and a key used with another action is
 * refused.  A fixed ring of slots, each kept a day at most.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

#define IDEM_SLOTS	256
#define IDEM_TTL	86400.0		/* seconds */

struct idempotency_entry {
	char		 key[IDEMPOTENCY_KEY_MAX + 1];
	char		*target;	/* method and uri it was used with */
	double		 at;		/* monotonic */
	bool		 pending;	/* its request is still running */
	unsigned int	 status;
	char		*body;
};

struct idempotency {
	pthread_mutex_t			lock;
	struct idempotency_entry	slots[IDEM_SLOTS];
	size_t				next;
};

struct idempotency *
idempotency_new(void)
{
	struct idempotency	*id = xcalloc(1, sizeof *id);

	pthread_mutex_init(&id->lock, NULL);
	return id;
}

void
idempotency_free(struct idempotency *id)
{
	size_t	i;

	if (id == NULL)
		return;
	for (i = 0; i < IDEM_SLOTS; i++) {
		free(id->slots[i].target);
		free(id->slots[i].body);
	}
	pthread_mutex_destroy(&id->lock);
	free(id);
}

/* Whether k may be an Idempotency-Key: 1 to 128 printable characters. */
bool
idempotency_key_ok(const char *k)
{
	size_t	len = strlen(k), i;

	if (len == 0 || len > IDEMPOTENCY_KEY_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return false;
	return true;
}

/* Looks key up; a new key is reserved (pending) for this request. */
enum idempotency_verdict
idempotency_claim(struct idempotency *id, const char *key, const char *target,
    unsigned int *status, char **body)
{
	struct idempotency_entry	*e;
	double				 now = clock_mono();
	size_t				 i;
	enum idempotency_verdict		 v = IDEMPOTENCY_NEW;

	pthread_mutex_lock(&id->lock);
	for (i = 0; i < IDEM_SLOTS; i++) {
		e = &id->slots[i];
		if (e->target == NULL || strcmp(e->key, key) != 0 ||
		    now - e->at > IDEM_TTL)
			continue;
		if (strcmp(e->target, target) != 0)
			v = IDEMPOTENCY_MISMATCH;
		else if (e->pending)
			v = IDEMPOTENCY_PENDING;
		else {
			*status = e->status;
			*body = xstrdup(e->body);
			v = IDEMPOTENCY_REPLAY;
		}
		pthread_mutex_unlock(&id->lock);
		return v;
	}
	e = &id->slots[id->next];
	id->next = (id->next + 1) % IDEM_SLOTS;
	free(e->target);
	free(e->body);
	memset(e, 0, sizeof *e);
	snprintf(e->key, sizeof e->key, "%s", key);
	e->target = xstrdup(target);
	e->at = now;
	e->pending = true;
	pthread_mutex_unlock(&id->lock);
	return v;
}

/* Keeps the answer of the request that claimed key. */
void
idempotency_store(struct idempotency *id, const char *key, const char *target,
    unsigned int status, const char *body)
{
	size_t	i;

	pthread_mutex_lock(&id->lock);
	for (i = 0; i < IDEM_SLOTS; i++) {
		struct idempotency_entry *e = &id->slots[i];

		if (e->target != NULL && e->pending &&
		    strcmp(e->key, key) == 0 && strcmp(e->target, target) == 0) {
			e->pending = false;
			e->status = status;
			e->body = xstrdup(body);
			break;
		}
	}
	pthread_mutex_unlock(&id->lock);
}
