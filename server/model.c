/*
 * model.c: what taskgate knows about Task Copilot's JSON, as pure functions.
 *
 * It derives a stream's status and counters from its tasks the way the
 * upstream's own stream detail does, checks that an upstream document has
 * the shape a client relies on, and adds taskgate's own fields on top
 * (status on each listed stream, counters on the detail, the reason of a
 * listed stream's blocked task).  No I/O, no
 * clock, no locks: callers own the json_t they pass in.
 */
#include <string.h>

#include "rules.h"

static const char *const model_status_names[] = {
	[MODEL_PENDING] = "pending",
	[MODEL_IN_PROGRESS] = "in_progress",
	[MODEL_BLOCKED] = "blocked",
	[MODEL_COMPLETED] = "completed",
};

/*
 * Whether a stream is done: it has tasks and each is completed or, in
 * Task Copilot 3, cancelled (a cancelled task is never going to be done,
 * so it must not hold its stream or the streams waiting for it).
 */
bool
model_complete(const struct model_counts *c)
{
	return c->total > 0 && c->completed + c->cancelled >= c->total;
}

/*
 * The upstream's rule: completed when every task is done (completed or
 * cancelled), otherwise blocked if any task is blocked, then in_progress
 * if any is in progress, else pending.  A stream without tasks is
 * pending (progress 0).
 */
enum model_status
model_status_of(const struct model_counts *c)
{
	if (model_complete(c))
		return MODEL_COMPLETED;
	if (c->blocked > 0)
		return MODEL_BLOCKED;
	if (c->in_progress > 0)
		return MODEL_IN_PROGRESS;
	return MODEL_PENDING;
}

const char *
model_status_name(enum model_status s)
{
	return model_status_names[s];
}

/* completed / total as a whole percent, rounded half up; 0 for no tasks. */
long
model_progress(const struct model_counts *c)
{
	if (c->total <= 0)
		return 0;
	return (c->completed * 200 + c->total) / (c->total * 2);
}

/* Counts an array of task objects by status; -1 when it is not one. */
int
model_count_tasks(json_t *tasks, struct model_counts *c)
{
	size_t	 i;
	json_t	*task;

	memset(c, 0, sizeof *c);
	if (!json_is_array(tasks))
		return -1;
	json_array_foreach(tasks, i, task) {
		const char *st = json_string_value(json_object_get(task,
		    "status"));

		if (!json_is_object(task) || st == NULL)
			return -1;
		c->total++;
		if (strcmp(st, "completed") == 0)
			c->completed++;
		else if (strcmp(st, "in_progress") == 0)
			c->in_progress++;
		else if (strcmp(st, "blocked") == 0)
			c->blocked++;
		else if (strcmp(st, "pending") == 0)
			c->pending++;
		else if (strcmp(st, "cancelled") == 0)
			c->cancelled++;
	}
	return 0;
}

static int
model_get_count(json_t *o, const char *key, long *out)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (long)json_integer_value(v);
	return 0;
}

/* The first object of an array whose streamId is id (borrowed), or NULL. */
json_t *
model_find_stream(json_t *streams, const char *id)
{
	size_t	 i;
	json_t	*s;

	json_array_foreach(streams, i, s) {
		const char *sid = json_string_value(json_object_get(s,
		    "streamId"));

		if (sid != NULL && strcmp(sid, id) == 0)
			return s;
	}
	return NULL;
}

/* An optional count (Task Copilot 3's cancelledTasks): 0 when absent. */
static int
model_get_optional(json_t *o, const char *key, long *out)
{
	*out = 0;
	if (json_object_get(o, key) == NULL)
		return 0;
	return model_get_count(o, key, out);
}

/*
 * Checks a /api/streams document and adds "status" to each stream.
 * Returns -1 with a sentence in err when the shape is not the upstream's.
 */
int
model_augment_list(json_t *root, char *err, size_t errlen)
{
	json_t			*streams, *s;
	size_t			 i;
	struct model_counts	 c;

	streams = json_object_get(root, "streams");
	if (!json_is_object(root) || !json_is_array(streams)) {
		snprintf(err, errlen, "the stream list has no \"streams\" "
		    "array");
		return -1;
	}
	json_array_foreach(streams, i, s) {
		if (!json_is_object(s) ||
		    !json_is_string(json_object_get(s, "streamId")) ||
		    model_get_count(s, "totalTasks", &c.total) == -1 ||
		    model_get_count(s, "completedTasks", &c.completed) == -1 ||
		    model_get_count(s, "inProgressTasks", &c.in_progress) ==
		    -1 ||
		    model_get_count(s, "blockedTasks", &c.blocked) == -1 ||
		    model_get_count(s, "pendingTasks", &c.pending) == -1 ||
		    model_get_optional(s, "cancelledTasks", &c.cancelled) ==
		    -1) {
			snprintf(err, errlen, "stream %zu of the list lacks "
			    "its id or task counts", i);
			return -1;
		}
		json_object_set_new(s, "status",
		    json_string(model_status_name(model_status_of(&c))));
	}
	return 0;
}

/*
 * Checks a /api/streams/{id} document and adds the task counters that the
 * upstream's own scripts read (totalTasks ... pendingTasks).
 */
int
model_augment_detail(json_t *root, char *err, size_t errlen)
{
	struct model_counts	c;

	if (!json_is_object(root) ||
	    !json_is_string(json_object_get(root, "streamId")) ||
	    model_count_tasks(json_object_get(root, "tasks"), &c) == -1) {
		snprintf(err, errlen, "the stream detail lacks its id or a "
		    "\"tasks\" array of task objects");
		return -1;
	}
	json_object_set_new(root, "totalTasks", json_integer(c.total));
	json_object_set_new(root, "completedTasks", json_integer(c.completed));
	json_object_set_new(root, "inProgressTasks",
	    json_integer(c.in_progress));
	json_object_set_new(root, "blockedTasks", json_integer(c.blocked));
	json_object_set_new(root, "pendingTasks", json_integer(c.pending));
	if (c.cancelled > 0)
		json_object_set_new(root, "cancelledTasks",
		    json_integer(c.cancelled));
	return 0;
}

/*
 * Gives each listed stream that has a blocked task (blockedTasks > 0) the
 * "blockedReason" of its first blocked task in tasks (an /api/tasks
 * answer's "tasks" array), as Task Copilot's own scripts expect of a list
 * item; a stream that has one already, or no task with a reason, is left
 * alone.
 */
void
model_add_blocked_reasons(json_t *root, json_t *tasks)
{
	json_t	*streams = json_object_get(root, "streams"), *s, *t;
	size_t	 i, j;

	json_array_foreach(streams, i, s) {
		const char *id = json_string_value(json_object_get(s,
		    "streamId"));

		if (id == NULL || json_integer_value(json_object_get(s,
		    "blockedTasks")) <= 0 || json_object_get(s,
		    "blockedReason") != NULL)
			continue;
		json_array_foreach(tasks, j, t) {
			const char *sid = json_string_value(json_object_get(
			    json_object_get(t, "metadata"), "streamId"));
			const char *st = json_string_value(json_object_get(t,
			    "status"));
			json_t *why = json_object_get(t, "blockedReason");

			if (sid == NULL || strcmp(sid, id) != 0 || st == NULL ||
			    strcmp(st, "blocked") != 0 || !json_is_string(why))
				continue;
			json_object_set(s, "blockedReason", why);
			break;
		}
	}
}
