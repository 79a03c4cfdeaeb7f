/*
 * test-tcdb.c: Task Copilot 3's tasks.db read as an upstream: the five
 * streams of the fixture with tc's own percentages, the old API's shapes
 * (detail, tasks, activity, health), tasks without a stream shown as
 * "unassigned", phases derived when none is written, checkpoints 501,
 * and clear errors for a missing file and for a file that is not tc's.
 * Each test works on a copy, so the fixture file is never opened live.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "taskgate.h"

static char dir[] = "/tmp/tg-tcdb-XXXXXX";
static char copy[256];

static int
setup(void **state)
{
	char	*cmd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(copy, sizeof copy, "%s/tasks.db", dir);
	xasprintf(&cmd, "cp %s/tests/fixtures/tc/tasks.db %s", TASKGATE_SRCDIR,
	    copy);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static json_t *
get(const char *path, const char *uri, long *status)
{
	struct tcdb	*db = tcdb_new(path);
	char		 err[256];
	void		*snap = tcdb_snapshot_of(db, err, sizeof err);
	json_t		*out;

	if (snap == NULL)
		fail_msg("%s", err);
	out = tcdb_render(snap, uri, 1795689300.0 /* 10:35:00 */, status);
	tcdb_free(db);
	return out;
}

static void
test_streams_match_tc_watch(void **state)
{
	static const struct {
		const char *id, *name, *phase;
		long progress;
		const char *status;
	} want[] = {
		{ "Stream-A", "foundation", "foundation", 100, "completed" },
		{ "Stream-D", "hardening", "parallel", 0, "blocked" },
		{ "Stream-C", "monitor-scripts", "parallel", 100, "completed" },
		{ "Stream-B", "status-api", "parallel", 33, "in_progress" },
		{ "Stream-Z", "integration", "integration", 0, "pending" },
	};
	json_t	*list, *s;
	long	 status;
	size_t	 i;
	char	 err[200];

	(void)state;
	list = get(copy, "/api/streams", &status);
	assert_int_equal(status, 200);
	assert_int_equal(json_integer_value(json_object_get(list,
	    "totalStreams")), 5);
	assert_int_equal(model_augment_list(list, err, sizeof err), 0);
	json_array_foreach(json_object_get(list, "streams"), i, s) {
		assert_string_equal(json_string_value(json_object_get(s,
		    "streamId")), want[i].id);
		assert_string_equal(json_string_value(json_object_get(s,
		    "streamName")), want[i].name);
		assert_string_equal(json_string_value(json_object_get(s,
		    "streamPhase")), want[i].phase);
		assert_int_equal(json_integer_value(json_object_get(s,
		    "progressPercentage")), want[i].progress);
		assert_string_equal(json_string_value(json_object_get(s,
		    "status")), want[i].status);
	}
	s = json_array_get(json_object_get(list, "streams"), 2);
	assert_string_equal(json_string_value(json_object_get(s,
	    "worktreePath")), ".worktrees/Stream-C");
	json_decref(list);
}

static void
test_detail_tasks_activity_health(void **state)
{
	json_t	*d, *t, *a, *h;
	long	 status;
	char	 err[200];

	(void)state;
	d = get(copy, "/api/streams/Stream-D", &status);
	assert_int_equal(status, 200);
	assert_int_equal(model_augment_detail(d, err, sizeof err), 0);
	assert_int_equal(json_integer_value(json_object_get(d,
	    "blockedTasks")), 1);
	t = json_array_get(json_object_get(d, "tasks"), 1);
	assert_string_equal(json_string_value(json_object_get(t,
	    "blockedReason")), "Need decision: should POST "
	    "/api/streams/:id/checkpoint require auth?");
	assert_string_equal(json_string_value(json_object_get(t, "createdAt")),
	    "2026-11-26T05:33:36.000Z");
	json_decref(d);

	d = get(copy, "/api/streams/Stream-Q", &status);
	assert_int_equal(status, 404);
	json_decref(d);

	t = get(copy, "/api/tasks?status=in_progress", &status);
	assert_int_equal(json_integer_value(json_object_get(t, "totalTasks")),
	    2);
	json_decref(t);
	t = get(copy, "/api/tasks?streamId=Stream-B&limit=2", &status);
	assert_int_equal(json_array_size(json_object_get(t, "tasks")), 2);
	json_decref(t);

	a = get(copy, "/api/activity", &status);
	t = json_array_get(json_object_get(a, "activities"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "agentId")),
	    "me");
	assert_string_equal(json_string_value(json_object_get(t,
	    "agentName")), "Engineer");
	assert_true(json_is_true(json_object_get(t, "isActive")));
	assert_null(json_object_get(t, "activityDescription"));
	json_decref(a);

	h = get(copy, "/api/streams/Stream-D/health", &status);
	assert_true(json_is_false(json_object_get(h, "healthy")));
	assert_true(json_is_null(json_object_get(h, "lastCheckpoint")));
	json_decref(h);
	h = get(copy, "/api/checkpoints?streamId=Stream-B", &status);
	assert_int_equal(status, 501);
	json_decref(h);
}

static void
test_unassigned_and_derived_phases(void **state)
{
	char	 path[256];
	sqlite3	*h;
	json_t	*list, *s;
	long	 status;
	size_t	 i;
	int	 seen = 0;

	(void)state;
	snprintf(path, sizeof path, "%s/old.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	    "CREATE TABLE streams (id INTEGER PRIMARY KEY, name TEXT);"
	    "CREATE TABLE tasks (id INTEGER PRIMARY KEY, stream_id INTEGER,"
	    " title TEXT, status TEXT, metadata TEXT, created_at TEXT,"
	    " updated_at TEXT);"
	    "INSERT INTO tasks VALUES (1, NULL, 'by hand', 'pending', NULL,"
	    " '2026-11-26 05:00:00', '2026-11-26 05:00:00');"
	    "INSERT INTO tasks VALUES (2, NULL, 'base', 'completed',"
	    " '{\"streamId\":\"S-1\"}', '2026-11-26 05:00:01',"
	    " '2026-11-26 05:00:01');"
	    "INSERT INTO tasks VALUES (3, NULL, 'next', 'pending',"
	    " '{\"streamId\":\"S-2\",\"dependencies\":[\"S-1\"]}',"
	    " '2026-11-26 05:00:02', '2026-11-26 05:00:02');"
	    "INSERT INTO tasks VALUES (4, NULL, 'llm', 'pending', 'not json',"
	    " '2026-11-26 05:00:03', '2026-11-26 05:00:03');",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	list = get(path, "/api/streams", &status);
	json_array_foreach(json_object_get(list, "streams"), i, s) {
		const char *id = json_string_value(json_object_get(s,
		    "streamId"));
		const char *phase = json_string_value(json_object_get(s,
		    "streamPhase"));

		if (strcmp(id, "unassigned") == 0) {
			assert_int_equal(json_integer_value(json_object_get(s,
			    "totalTasks")), 2);
			seen++;
		} else if (strcmp(id, "S-1") == 0) {
			assert_string_equal(phase, "foundation");
			seen++;
		} else if (strcmp(id, "S-2") == 0) {
			assert_string_equal(phase, "parallel");
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	json_decref(list);
}

static void
test_errors_are_clear(void **state)
{
	struct tcdb	*db;
	char		 err[256], path[256];
	FILE		*f;
	sqlite3		*h;

	(void)state;
	snprintf(path, sizeof path, "%s/missing.db", dir);
	db = tcdb_new(path);
	assert_null(tcdb_snapshot_of(db, err, sizeof err));
	assert_non_null(strstr(err, "missing.db"));
	tcdb_free(db);

	snprintf(path, sizeof path, "%s/text.db", dir);
	f = fopen(path, "w");
	fputs("this is not a database, just some text to be read\n", f);
	fclose(f);
	db = tcdb_new(path);
	assert_null(tcdb_snapshot_of(db, err, sizeof err));
	assert_non_null(strstr(err, "not an SQLite database"));
	tcdb_free(db);

	snprintf(path, sizeof path, "%s/other.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE tasks (id INTEGER)",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	db = tcdb_new(path);
	assert_null(tcdb_snapshot_of(db, err, sizeof err));
	assert_non_null(strstr(err, "not a Task Copilot (tc) database"));
	tcdb_free(db);
}

/* A copy of the fixture at path, with Stream-B's task 7 renamed to title. */
static void
fixture_copy(const char *path, const char *title)
{
	sqlite3	*h;
	char	*cmd, *sql;

	xasprintf(&cmd, "cp %s/tests/fixtures/tc/tasks.db %s", TASKGATE_SRCDIR,
	    path);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	xasprintf(&sql, "UPDATE tasks SET title = '%s' WHERE id = 7", title);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(h);
}

/* rm path*: the file, its -wal and its -shm. */
static void
rm_db(const char *path)
{
	char	*side;

	assert_int_equal(unlink(path), 0);
	xasprintf(&side, "%s-wal", path);
	unlink(side);
	free(side);
	xasprintf(&side, "%s-shm", path);
	unlink(side);
	free(side);
}

/* The title of task 7 as the open tcdb reads it now, or NULL with err. */
static char *
title_of_7(struct tcdb *db, char *err, size_t errlen)
{
	struct tcdb_rows	*snap = tcdb_snapshot_of(db, err, errlen);
	size_t			 i;

	if (snap == NULL)
		return NULL;
	for (i = 0; i < snap->n_tasks; i++)
		if (snap->tasks[i].id == 7)
			return snap->tasks[i].title;
	return NULL;
}

/*
 * A tasks.db deleted, or replaced by another file (rm and tc init, mv),
 * is noticed at the next read: missing while it is, the new one read
 * once it is there, never the old one's rows.
 */
static void
test_a_deleted_or_replaced_file_is_noticed(void **state)
{
	struct tcdb	*db;
	char		 path[256], other[256], err[256], *t;

	(void)state;
	snprintf(path, sizeof path, "%s/live.db", dir);
	snprintf(other, sizeof other, "%s/other.db", dir);
	fixture_copy(path, "first");
	db = tcdb_new(path);
	t = title_of_7(db, err, sizeof err);
	assert_non_null(t);
	assert_string_equal(t, "first");

	/* rm .copilot/tasks.db*: missing, and said so. */
	rm_db(path);
	assert_null(tcdb_snapshot_of(db, err, sizeof err));
	assert_non_null(strstr(err, "missing"));
	assert_null(tcdb_snapshot_of(db, err, sizeof err));
	assert_non_null(strstr(err, "missing"));

	/* tc init (and the work after it): the new file is read. */
	fixture_copy(path, "second");
	t = title_of_7(db, err, sizeof err);
	assert_non_null(t);
	assert_string_equal(t, "second");

	/* mv other.db tasks.db, with no read in between. */
	fixture_copy(other, "third");
	assert_int_equal(rename(other, path), 0);
	t = title_of_7(db, err, sizeof err);
	assert_non_null(t);
	assert_string_equal(t, "third");

	/* rm, then a new file at once (its inode may be the old one's). */
	rm_db(path);
	fixture_copy(path, "fourth");
	t = title_of_7(db, err, sizeof err);
	assert_non_null(t);
	assert_string_equal(t, "fourth");
	tcdb_free(db);
}

/* An SQLite file with no tasks table is said to be no tc database. */
static void
test_no_tasks_table_is_said(void **state)
{
	struct tcdb	*db;
	char		 err[256], path[256];
	sqlite3		*h;

	(void)state;
	snprintf(path, sizeof path, "%s/notes.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE notes (id INTEGER,"
	    " body TEXT)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	db = tcdb_new(path);
	assert_null(tcdb_snapshot_of(db, err, sizeof err));
	assert_non_null(strstr(err, "not a Task Copilot (tc) database"));
	assert_non_null(strstr(err, "no tasks table"));
	assert_null(strstr(err, "column"));
	tcdb_free(db);
}

/* The project of a tasks.db: the directory that holds its .copilot/. */
static void
test_project_root(void **state)
{
	char	out[64];

	(void)state;
	assert_int_equal(tcdb_project_root("/home/me/app/.copilot/tasks.db",
	    out, sizeof out), 0);
	assert_string_equal(out, "/home/me/app");
	assert_int_equal(tcdb_project_root(".copilot/tasks.db", out,
	    sizeof out), 0);
	assert_string_equal(out, ".");
	assert_int_equal(tcdb_project_root("/.copilot/tasks.db", out,
	    sizeof out), 0);
	assert_string_equal(out, "/");
	assert_int_equal(tcdb_project_root("app/.copilot/tasks.db", out,
	    sizeof out), 0);
	assert_string_equal(out, "app");
	assert_int_equal(tcdb_project_root("/srv/tasks.db", out, sizeof out),
	    -1);
	assert_int_equal(tcdb_project_root("tasks.db", out, sizeof out), -1);
	assert_int_equal(tcdb_project_root("/a/x.copilot/tasks.db", out,
	    sizeof out), -1);
	assert_int_equal(tcdb_project_root("/a/very/long/path/that/does/not/"
	    "fit/in/the/output/.copilot/tasks.db", out, 16), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_streams_match_tc_watch),
		cmocka_unit_test(test_detail_tasks_activity_health),
		cmocka_unit_test(test_unassigned_and_derived_phases),
		cmocka_unit_test(test_errors_are_clear),
		cmocka_unit_test(test_a_deleted_or_replaced_file_is_noticed),
		cmocka_unit_test(test_no_tasks_table_is_said),
		cmocka_unit_test(test_project_root),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
