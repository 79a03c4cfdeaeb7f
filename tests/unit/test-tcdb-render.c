/*
 * test-tcdb-render.c: what a client of a Task Copilot 3 project sees,
 * rendered from rows given as plain data (no database): a stream with
 * tasks in every status, an empty project, metadata an LLM got wrong,
 * names with spaces, and text that is not UTF-8, which must still be
 * shown rather than drop its stream or task from the answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

#define NOW	1795689300.0	/* 2026-11-26 10:35:00 UTC */

static struct tcdb_rows *
rows_new(void)
{
	return xcalloc(1, sizeof (struct tcdb_rows));
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
add_stream(struct tcdb_rows *s, long long id, const char *name,
    const char *status, const char *worktree)
{
	struct tcdb_stream_row	*r;

	s->streams = xrealloc(s->streams, (s->n_streams + 1) *
	    sizeof *s->streams);
	r = &s->streams[s->n_streams++];
	r->id = id;
	r->name = dup_or_null(name);
	r->status = dup_or_null(status);
	r->worktree = dup_or_null(worktree);
}

/* A task created at 05:00:id, as tc stores times; meta is JSON or NULL. */
static struct tcdb_task *
add_task(struct tcdb_rows *s, long long id, long long stream,
    const char *title, const char *status, const char *meta)
{
	struct tcdb_task	*t;
	char			*at;

	s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) * sizeof *s->tasks);
	t = &s->tasks[s->n_tasks++];
	memset(t, 0, sizeof *t);
	t->id = id;
	t->stream_row = stream;
	t->title = dup_or_null(title);
	t->status = dup_or_null(status);
	if (meta != NULL)
		assert_non_null(t->metadata = json_loads(meta, JSON_DECODE_ANY,
		    NULL));
	xasprintf(&at, "2026-11-26 05:00:%02lld", id % 60);
	t->created_at = xstrdup(at);
	t->updated_at = at;
	return t;
}

/* GET uri: its result in *r, and the body, which must be JSON text. */
static json_t *
get(const struct tcdb_rows *s, const char *uri, enum tcdb_result *r)
{
	json_t	*body = NULL;
	char	*text;

	*r = tcdb_render_request(s, "GET", uri, NOW, &body);
	assert_non_null(body);
	text = json_dumps(body, JSON_COMPACT);
	assert_non_null(text);
	free(text);
	return body;
}

static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long
num(json_t *o, const char *key)
{
	assert_true(json_is_integer(json_object_get(o, key)));
	return json_integer_value(json_object_get(o, key));
}

/* The listed stream with that id, or NULL (borrowed). */
static json_t *
listed(json_t *list, const char *id)
{
	json_t	*s;
	size_t	 i;

	json_array_foreach(json_object_get(list, "streams"), i, s)
		if (strcmp(str(s, "streamId"), id) == 0)
			return s;
	return NULL;
}

static void
test_stream_with_mixed_statuses(void **state)
{
	struct tcdb_rows	*s = rows_new();
	struct tcdb_task	*t;
	enum tcdb_result	 r;
	json_t			*list, *b, *d, *tasks, *a, *h;
	const char		*meta_a = "{\"streamId\":\"Stream-A\"}";
	const char		*meta_b = "{\"streamId\":\"Stream-B\","
				    "\"streamDependencies\":[\"Stream-A\"],"
				    "\"files\":[\"src/a.ts\"]}";

	(void)state;
	add_stream(s, 1, "foundation", "active", NULL);
	add_stream(s, 2, "status-api", "active", ".worktrees/Stream-B");
	add_task(s, 1, 1, "schema", "completed", meta_a);
	add_task(s, 2, 2, "routes", "completed", meta_b);
	add_task(s, 3, 2, "filters", "completed", meta_b);
	t = add_task(s, 4, 2, "activity", "in_progress", meta_b);
	t->agent = xstrdup("me");
	t->claimed_at = xstrdup("2026-11-26 10:20:00");
	t->last_log = xstrdup("2026-11-26 10:33:00");
	t = add_task(s, 5, 2, "auth", "blocked", meta_b);
	t->blocked_reason = xstrdup("Need decision: who may write?");
	t = add_task(s, 6, 2, "docs", "pending", meta_b);
	t->blocked_reason = xstrdup("an old reason");
	add_task(s, 7, 2, "dropped", "cancelled", meta_b);

	list = get(s, "/api/streams", &r);
	assert_int_equal(r, TCDB_OK);
	assert_int_equal(num(list, "totalStreams"), 2);
	/* Foundation first, then by the dependency graph. */
	assert_string_equal(str(json_array_get(json_object_get(list,
	    "streams"), 0), "streamId"), "Stream-A");
	b = listed(list, "Stream-B");
	assert_non_null(b);
	assert_string_equal(str(b, "streamName"), "status-api");
	assert_string_equal(str(b, "streamPhase"), "parallel");
	assert_string_equal(str(b, "worktreePath"), ".worktrees/Stream-B");
	/* A cancelled task counts in the total only, as in `tc watch`. */
	assert_int_equal(num(b, "totalTasks"), 6);
	assert_int_equal(num(b, "completedTasks"), 2);
	assert_int_equal(num(b, "inProgressTasks"), 1);
	assert_int_equal(num(b, "blockedTasks"), 1);
	assert_int_equal(num(b, "pendingTasks"), 1);
	assert_int_equal(num(b, "progressPercentage"), 33);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(b, "dependencies"), 0)), "Stream-A");
	json_decref(list);

	d = get(s, "/api/streams/Stream-B", &r);
	assert_int_equal(r, TCDB_OK);
	assert_string_equal(str(d, "status"), "blocked");
	assert_true(json_is_false(json_object_get(d, "archived")));
	tasks = json_object_get(d, "tasks");
	assert_int_equal(json_array_size(tasks), 6);
	assert_string_equal(str(json_array_get(tasks, 0), "title"), "routes");
	assert_string_equal(str(json_array_get(tasks, 0), "createdAt"),
	    "2026-11-26T05:00:02.000Z");
	/* Only a blocked task shows why. */
	assert_string_equal(str(json_array_get(tasks, 3), "blockedReason"),
	    "Need decision: who may write?");
	assert_null(json_object_get(json_array_get(tasks, 4),
	    "blockedReason"));
	json_decref(d);

	a = get(s, "/api/activity", &r);
	assert_int_equal(num(a, "totalActive"), 1);
	assert_int_equal(num(a, "totalIdle"), 0);
	assert_string_equal(str(json_array_get(json_object_get(a,
	    "activities"), 0), "agentName"), "Engineer");
	assert_string_equal(str(json_array_get(json_object_get(a,
	    "activities"), 0), "lastHeartbeat"), "2026-11-26T10:33:00.000Z");
	json_decref(a);

	h = get(s, "/api/streams/Stream-B/health", &r);
	assert_int_equal(r, TCDB_OK);
	assert_true(json_is_true(json_object_get(h, "healthy")));
	assert_int_equal(num(h, "currentTask"), 4);
	assert_int_equal(num(h, "timeSinceActivity"), 120);
	json_decref(h);

	tasks = get(s, "/api/tasks?status=completed&limit=1", &r);
	assert_int_equal(num(tasks, "totalTasks"), 1);
	/* Newest first. */
	assert_int_equal(num(json_array_get(json_object_get(tasks, "tasks"),
	    0), "id"), 3);
	json_decref(tasks);
	tcdb_rows_free(s);
}

static void
test_empty_project(void **state)
{
	struct tcdb_rows	*s = rows_new();
	enum tcdb_result	 r;
	json_t			*o;

	(void)state;
	o = get(s, "/api/streams", &r);
	assert_int_equal(r, TCDB_OK);
	assert_int_equal(json_array_size(json_object_get(o, "streams")), 0);
	assert_int_equal(num(o, "totalStreams"), 0);
	json_decref(o);
	o = get(s, "/api/tasks", &r);
	assert_int_equal(num(o, "totalTasks"), 0);
	json_decref(o);
	o = get(s, "/api/activity?active=false", &r);
	assert_int_equal(json_array_size(json_object_get(o, "activities")), 0);
	assert_int_equal(num(o, "totalActive"), 0);
	assert_int_equal(num(o, "totalIdle"), 0);
	json_decref(o);

	o = get(s, "/api/streams/Stream-A", &r);
	assert_int_equal(r, TCDB_NO_STREAM);
	assert_string_equal(str(o, "error"), "Stream not found");
	assert_string_equal(str(o, "streamId"), "Stream-A");
	json_decref(o);
	o = get(s, "/api/streams/Stream-A/health", &r);
	assert_int_equal(r, TCDB_NO_STREAM);
	json_decref(o);

	o = get(s, "/health", &r);
	assert_int_equal(r, TCDB_OK);
	assert_string_equal(str(o, "status"), "ok");
	assert_string_equal(str(o, "timestamp"), "2026-11-26T10:35:00.000Z");
	json_decref(o);
	o = get(s, "/api/checkpoints", &r);
	assert_int_equal(r, TCDB_READ_ONLY);
	assert_string_equal(str(o, "code"), "not-implemented");
	json_decref(o);
	o = get(s, "/api/nothing?x=1", &r);
	assert_int_equal(r, TCDB_NO_ROUTE);
	assert_string_equal(str(o, "message"),
	    "Route GET:/api/nothing?x=1 not found");
	json_decref(o);
	o = get(s, "/api/streams/a%00b", &r);
	assert_int_equal(r, TCDB_BAD_PATH);
	json_decref(o);

	assert_int_equal(tcdb_render_request(s, "POST",
	    "/api/streams/Stream-A/checkpoint", NOW, &o), TCDB_READ_ONLY);
	assert_non_null(strstr(str(o, "error"), "read-only"));
	json_decref(o);
	tcdb_rows_free(s);
}

static void
test_odd_metadata(void **state)
{
	struct tcdb_rows	*s = rows_new();
	enum tcdb_result	 r;
	json_t			*list, *o, *t;

	(void)state;
	add_stream(s, 1, "tools", "active", NULL);
	/* Not an object: none, so the stream row names the stream. */
	add_task(s, 1, 1, "array", "pending", "[1, 2]");
	add_task(s, 2, 1, "string", "pending", "\"Stream-X\"");
	/* Not a stream id: ignored; a name that is no string: the id. */
	add_task(s, 3, 0, "bad id", "pending", "{\"streamId\":\"bad id!\","
	    "\"streamName\":7}");
	/* Lists of the wrong kind, and an unknown phase: derived. */
	add_task(s, 4, 0, "lists", "pending", "{\"streamId\":\"S-1\","
	    "\"streamPhase\":\"soon\",\"files\":[1,\"a b.ts\",null],"
	    "\"dependencies\":\"tools\"}");
	/* No title or status stored: tc's defaults. */
	add_task(s, 5, 0, NULL, NULL, "{\"streamId\":\"S-2\","
	    "\"streamDependencies\":[\"S-1\", 3]}");

	list = get(s, "/api/streams", &r);
	assert_int_equal(r, TCDB_OK);
	assert_int_equal(num(list, "totalStreams"), 4);
	o = listed(list, "tools");
	assert_non_null(o);
	assert_int_equal(num(o, "totalTasks"), 2);
	o = listed(list, "unassigned");
	assert_non_null(o);
	assert_string_equal(str(o, "streamName"), "unassigned");
	o = listed(list, "S-1");
	assert_non_null(o);
	assert_string_equal(str(o, "streamPhase"), "foundation");
	assert_int_equal(json_array_size(json_object_get(o, "files")), 1);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(o, "files"), 0)), "a b.ts");
	o = listed(list, "S-2");
	assert_non_null(o);
	assert_string_equal(str(o, "streamPhase"), "parallel");
	assert_int_equal(num(o, "pendingTasks"), 1);
	json_decref(list);

	o = get(s, "/api/streams/tools", &r);
	assert_int_equal(r, TCDB_OK);
	t = json_array_get(json_object_get(o, "tasks"), 0);
	assert_true(json_is_object(json_object_get(t, "metadata")));
	assert_int_equal(json_object_size(json_object_get(t, "metadata")), 0);
	json_decref(o);
	o = get(s, "/api/streams/S-2", &r);
	t = json_array_get(json_object_get(o, "tasks"), 0);
	assert_string_equal(str(t, "title"), "");
	assert_string_equal(str(t, "status"), "pending");
	json_decref(o);
	tcdb_rows_free(s);
}

static void
test_names_with_spaces(void **state)
{
	struct tcdb_rows	*s = rows_new();
	struct tcdb_task	*t;
	enum tcdb_result	 r;
	json_t			*o, *x;

	(void)state;
	add_stream(s, 1, "my stream", "active", "/home/me/work tree");
	t = add_task(s, 1, 1, "fix  the  thing", "in_progress", NULL);
	t->agent = xstrdup("code reviewer");
	t->claimed_at = xstrdup("2026-11-26 10:34:00");
	add_stream(s, 2, "old stream", "archived", NULL);
	add_task(s, 2, 2, "gone", "pending", NULL);

	o = get(s, "/api/streams", &r);
	assert_int_equal(num(o, "totalStreams"), 1);
	/* The id is one taskgate takes everywhere: no space in it. */
	assert_null(listed(o, "my stream"));
	x = listed(o, "my-stream");
	assert_non_null(x);
	assert_string_equal(str(x, "streamName"), "my stream");
	assert_string_equal(str(x, "worktreePath"), "/home/me/work tree");
	json_decref(o);
	o = get(s, "/api/streams?includeArchived=true", &r);
	assert_non_null(listed(o, "old-stream"));
	json_decref(o);

	o = get(s, "/api/streams/my-stream", &r);
	assert_int_equal(r, TCDB_OK);
	assert_string_equal(str(json_array_get(json_object_get(o, "tasks"),
	    0), "title"), "fix  the  thing");
	json_decref(o);
	o = get(s, "/api/streams/old-stream", &r);
	assert_int_equal(r, TCDB_NO_STREAM);
	json_decref(o);
	o = get(s, "/api/streams/old-stream?includeArchived=true", &r);
	assert_int_equal(r, TCDB_OK);
	assert_true(json_is_true(json_object_get(o, "archived")));
	json_decref(o);

	o = get(s, "/api/tasks?streamId=my-stream", &r);
	assert_int_equal(num(o, "totalTasks"), 1);
	json_decref(o);
	o = get(s, "/api/tasks?streamId=my-stream&assignedAgent=code%20"
	    "reviewer", &r);
	assert_int_equal(num(o, "totalTasks"), 1);
	json_decref(o);
	o = get(s, "/api/activity", &r);
	x = json_array_get(json_object_get(o, "activities"), 0);
	assert_string_equal(str(x, "streamId"), "my-stream");
	assert_string_equal(str(x, "streamName"), "my stream");
	assert_string_equal(str(x, "agentId"), "code reviewer");
	assert_string_equal(str(x, "agentName"), "code reviewer");
	assert_true(json_is_true(json_object_get(x, "isActive")));
	json_decref(o);
	tcdb_rows_free(s);
}

static void
test_text_that_is_not_utf8(void **state)
{
	struct tcdb_rows	*s = rows_new();
	struct tcdb_task	*t;
	enum tcdb_result	 r;
	json_t			*o, *x;

	(void)state;
	/* Latin-1 bytes, a cut sequence, a surrogate, an overlong '/'. */
	add_stream(s, 1, "caf\xe9", "active", "/srv/\xed\xa0\x80");
	t = add_task(s, 1, 1, "na\xefve \xc3", "in_progress", NULL);
	t->agent = xstrdup("\xc0\xaf");
	t->claimed_at = xstrdup("2026-11-26 10:34:00");
	t->description = xstrdup("ok \xe2\x82\xac, not ok \xff");

	o = get(s, "/api/streams", &r);
	assert_int_equal(num(o, "totalStreams"), 1);
	x = listed(o, "caf");
	assert_non_null(x);
	assert_string_equal(str(x, "streamName"), "caf\xef\xbf\xbd");
	assert_string_equal(str(x, "worktreePath"),
	    "/srv/\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(o);

	o = get(s, "/api/streams/caf", &r);
	assert_int_equal(r, TCDB_OK);
	assert_string_equal(str(o, "streamId"), "caf");
	assert_string_equal(str(o, "streamName"), "caf\xef\xbf\xbd");
	x = json_array_get(json_object_get(o, "tasks"), 0);
	assert_string_equal(str(x, "title"), "na\xef\xbf\xbdve \xef\xbf\xbd");
	assert_string_equal(str(x, "description"),
	    "ok \xe2\x82\xac, not ok \xef\xbf\xbd");
	assert_string_equal(str(x, "assignedAgent"),
	    "\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(o);

	o = get(s, "/api/activity", &r);
	assert_int_equal(json_array_size(json_object_get(o, "activities")), 1);
	assert_int_equal(num(o, "totalActive"), 1);
	json_decref(o);
	o = get(s, "/api/tasks", &r);
	assert_int_equal(num(o, "totalTasks"), 1);
	json_decref(o);

	/* A path or query that decodes to such bytes is answered too. */
	o = get(s, "/api/streams/%FF", &r);
	assert_int_equal(r, TCDB_NO_STREAM);
	assert_string_equal(str(o, "streamId"), "\xef\xbf\xbd");
	json_decref(o);
	o = get(s, "/api/streams/%FF/health", &r);
	assert_int_equal(r, TCDB_NO_STREAM);
	json_decref(o);
	o = get(s, "/api/x\xff", &r);
	assert_int_equal(r, TCDB_NO_ROUTE);
	assert_string_equal(str(o, "message"),
	    "Route GET:/api/x\xef\xbf\xbd not found");
	json_decref(o);
	tcdb_rows_free(s);
}

/*
 * A stream is a tc stream (tasks.stream_id), as `tc watch` counts: a task
 * with no metadata joins its stream, not a stream of its own, and a task
 * whose metadata names another stream still counts in its own.
 */
static void
test_a_stream_is_a_tc_stream(void **state)
{
	struct tcdb_rows	*s = rows_new();
	enum tcdb_result	 r;
	json_t			*list, *a, *b, *tasks;
	const char		*meta_a = "{\"streamId\":\"Stream-A\","
				    "\"streamPhase\":\"foundation\"}";
	const char		*meta_b = "{\"streamId\":\"Stream-B\","
				    "\"streamPhase\":\"parallel\","
				    "\"streamDependencies\":[\"Stream-A\"]}";

	(void)state;
	add_stream(s, 1, "foundation", "active", NULL);
	add_stream(s, 2, "status-api", "active", NULL);
	add_task(s, 1, 1, "schema", "completed", meta_a);
	add_task(s, 2, 1, "types", "completed", meta_a);
	add_task(s, 3, 2, "routes", "pending", meta_b);
	add_task(s, 4, 2, "filters", "pending", meta_b);
	/* `tc task create --stream 1` with no metadata. */
	add_task(s, 5, 1, "by hand", "completed", NULL);
	/* In stream 2, though its metadata says Stream-A. */
	add_task(s, 6, 2, "misfiled", "pending", meta_a);

	list = get(s, "/api/streams", &r);
	assert_int_equal(r, TCDB_OK);
	assert_int_equal(num(list, "totalStreams"), 2);
	assert_null(listed(list, "foundation"));
	a = listed(list, "Stream-A");
	assert_non_null(a);
	assert_int_equal(num(a, "totalTasks"), 3);
	assert_int_equal(num(a, "completedTasks"), 3);
	assert_int_equal(num(a, "progressPercentage"), 100);
	b = listed(list, "Stream-B");
	assert_non_null(b);
	assert_string_equal(str(b, "streamName"), "status-api");
	assert_int_equal(num(b, "totalTasks"), 3);
	json_decref(list);

	b = get(s, "/api/streams/Stream-B", &r);
	assert_int_equal(r, TCDB_OK);
	tasks = json_object_get(b, "tasks");
	assert_int_equal(json_array_size(tasks), 3);
	assert_int_equal(num(json_array_get(tasks, 2), "id"), 6);
	json_decref(b);
	b = get(s, "/api/tasks?streamId=Stream-A", &r);
	assert_int_equal(num(b, "totalTasks"), 3);
	json_decref(b);
	tcdb_rows_free(s);
}

/*
 * A cancelled task is done for the stream's status (so for the gates of
 * the streams after it), while the percentage is tc watch's: completed
 * over all tasks, the cancelled included.
 */
static void
test_cancelled_tasks_are_done(void **state)
{
	struct tcdb_rows	*s = rows_new();
	enum tcdb_result	 r;
	json_t			*list, *b, *d;
	char			 err[200];
	const char		*meta_b = "{\"streamId\":\"Stream-B\"}";

	(void)state;
	add_stream(s, 2, "status-api", "active", NULL);
	add_task(s, 1, 2, "routes", "completed", meta_b);
	add_task(s, 2, 2, "filters", "completed", meta_b);
	add_task(s, 3, 2, "activity", "completed", meta_b);
	add_task(s, 4, 2, "dropped", "cancelled", meta_b);

	list = get(s, "/api/streams", &r);
	assert_int_equal(model_augment_list(list, err, sizeof err), 0);
	b = listed(list, "Stream-B");
	assert_int_equal(num(b, "progressPercentage"), 75);
	assert_int_equal(num(b, "totalTasks"), 4);
	assert_int_equal(num(b, "completedTasks"), 3);
	assert_int_equal(num(b, "cancelledTasks"), 1);
	assert_string_equal(str(b, "status"), "completed");
	json_decref(list);

	d = get(s, "/api/streams/Stream-B", &r);
	assert_string_equal(str(d, "status"), "completed");
	assert_int_equal(num(d, "progressPercentage"), 75);
	assert_int_equal(model_augment_detail(d, err, sizeof err), 0);
	assert_int_equal(num(d, "cancelledTasks"), 1);
	json_decref(d);
	tcdb_rows_free(s);
}

/* A streamPhase written in the metadata is the phase, never derived. */
static void
test_a_written_phase_is_kept(void **state)
{
	struct tcdb_rows	*s = rows_new();
	enum tcdb_result	 r;
	json_t			*list;

	(void)state;
	add_stream(s, 1, "docs", "active", NULL);
	add_stream(s, 2, "glue", "active", NULL);
	/* No dependencies, yet written as integration. */
	add_task(s, 1, 1, "guide", "pending", "{\"streamId\":\"Docs\","
	    "\"streamPhase\":\"integration\"}");
	add_task(s, 2, 2, "wire", "pending", "{\"streamId\":\"Glue\"}");
	list = get(s, "/api/streams", &r);
	assert_string_equal(str(listed(list, "Docs"), "streamPhase"),
	    "integration");
	assert_string_equal(str(listed(list, "Glue"), "streamPhase"),
	    "foundation");
	json_decref(list);
	tcdb_rows_free(s);
}

/*
 * Ids made from names: valid wherever an id is taken, and no two streams
 * share one.
 */
static void
test_ids_made_from_names(void **state)
{
	static const struct {
		const char	*name;
		const char	*id;
	} want[] = {
		{ "Workstream 02", "Workstream-02" },
		{ "  --api  v2 (new)!", "api-v2-new" },
		{ "caf\xc3\xa9 cr\xc3\xa8me", "caf-cr-me" },
		{ "", "stream-7" },
		{ "***", "stream-7" },
		{ NULL, "stream-7" },
		{ "a.b_c-d", "a.b_c-d" },
	};
	struct tcdb_rows	*s = rows_new();
	enum tcdb_result	 r;
	json_t			*list, *o;
	char			 id[STREAM_ID_MAX + 1], name[200];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		tcdb_id_from_name(want[i].name, 7, id, sizeof id);
		assert_string_equal(id, want[i].id);
		assert_true(valid_stream_id(id));
	}
	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	name[3] = ' ';
	tcdb_id_from_name(name, 7, id, sizeof id);
	assert_int_equal(strlen(id), STREAM_ID_MAX);
	assert_true(valid_stream_id(id));

	add_stream(s, 1, "a b", "active", NULL);
	add_stream(s, 2, "a-b", "active", NULL);
	add_task(s, 1, 1, "one", "pending", NULL);
	add_task(s, 2, 2, "two", "pending", NULL);
	list = get(s, "/api/streams", &r);
	assert_int_equal(num(list, "totalStreams"), 2);
	assert_non_null(listed(list, "a-b"));
	assert_non_null(listed(list, "a-b-2"));
	json_array_foreach(json_object_get(list, "streams"), i, o)
		assert_true(valid_stream_id(str(o, "streamId")));
	json_decref(list);
	o = get(s, "/api/streams/a-b-2", &r);
	assert_int_equal(r, TCDB_OK);
	assert_string_equal(str(o, "streamName"), "a-b");
	json_decref(o);
	tcdb_rows_free(s);
}

/*
 * With no dependency in the metadata, the tasks' own (task_dependencies)
 * make the streams' dependencies and phases.
 */
static void
test_task_dependencies_make_stream_dependencies(void **state)
{
	struct tcdb_rows	*s = rows_new();
	enum tcdb_result	 r;
	json_t			*list, *o;

	(void)state;
	add_stream(s, 1, "base", "active", NULL);
	add_stream(s, 2, "api", "active", NULL);
	add_stream(s, 3, "glue", "active", NULL);
	add_task(s, 1, 1, "schema", "completed", NULL);
	add_task(s, 2, 2, "routes", "pending", NULL);
	add_task(s, 3, 3, "wire", "pending", NULL);
	add_task(s, 4, 3, "ship", "pending", NULL);
	s->deps = xcalloc(4, sizeof *s->deps);
	s->deps[s->n_deps++] = (struct tcdb_dep){ 2, 1 };
	s->deps[s->n_deps++] = (struct tcdb_dep){ 3, 2 };
	s->deps[s->n_deps++] = (struct tcdb_dep){ 4, 3 };	/* within */
	s->deps[s->n_deps++] = (struct tcdb_dep){ 4, 99 };	/* no task */

	list = get(s, "/api/streams", &r);
	o = listed(list, "api");
	assert_string_equal(str(o, "streamPhase"), "parallel");
	assert_int_equal(json_array_size(json_object_get(o, "dependencies")),
	    1);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(o, "dependencies"), 0)), "base");
	o = listed(list, "glue");
	assert_string_equal(str(o, "streamPhase"), "integration");
	assert_int_equal(json_array_size(json_object_get(o, "dependencies")),
	    1);
	assert_string_equal(str(listed(list, "base"), "streamPhase"),
	    "foundation");
	json_decref(list);
	tcdb_rows_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_with_mixed_statuses),
		cmocka_unit_test(test_empty_project),
		cmocka_unit_test(test_odd_metadata),
		cmocka_unit_test(test_names_with_spaces),
		cmocka_unit_test(test_text_that_is_not_utf8),
		cmocka_unit_test(test_a_stream_is_a_tc_stream),
		cmocka_unit_test(test_cancelled_tasks_are_done),
		cmocka_unit_test(test_a_written_phase_is_kept),
		cmocka_unit_test(test_ids_made_from_names),
		cmocka_unit_test(test_task_dependencies_make_stream_dependencies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
