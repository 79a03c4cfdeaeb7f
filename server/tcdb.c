/*
 * tcdb.c: Task Copilot 3's `.copilot/tasks.db` as an upstream.  taskgate
 * answers the old HTTP API's GET endpoints from the file, so everything
 * above upstream.c (cache, history, states, events, sessions, the
 * dashboard) works unchanged: upstream.c hands a call here instead of to
 * libcurl when the upstream is "sqlite:PATH".
 *
 * Reading: the file is opened read-only (never "immutable": it is live),
 * with a busy timeout; the columns are detected, not assumed from a
 * schema version; PRAGMA data_version tells whether anything was
 * committed since the last snapshot, and a new snapshot is read in one
 * short read transaction, so a writer committing meanwhile never yields
 * a torn view.  A snapshot is plain rows (struct tcdb_rows); what they
 * mean in the old API's shapes is tcdb-render.c's business, which is
 * pure and answers with a tcdb_result.  This file plays the old API's
 * server: it turns that result into the status the old API gave, and the
 * body into the reply of the upstream call.  docs/tc-source.md says what
 * is approximated and what is left out.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "taskgate.h"

struct tcdb {
	char			*path;
	sqlite3			*h;
	int			 fd;		/* the file h reads, or -1 */
	dev_t			 dev;		/* and its identity */
	ino_t			 ino;
	int64_t			 data_version;
	struct tcdb_rows	*snap;
	bool			 warned_uid;
	/* Detected columns. */
	char			*task_sql;
	char			*stream_sql;
	bool			 have_products;
	bool			 have_log;
	bool			 have_deps;
};

static char *
tc_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

/* Column list entry: the column if the table has it, else NULL. */
static const char *
tc_col(sqlite3 *h, const char *table, const char *col, bool *have)
{
	sqlite3_stmt	*st;
	bool		 found = false;

	if (sqlite3_prepare_v2(h, "SELECT 1 FROM pragma_table_info(?1) WHERE "
	    "name = ?2", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	if (have != NULL)
		*have = found;
	return found ? col : "NULL";
}

/*
 * Checks that the open file is a tc database and builds the SELECTs from
 * the columns it has.  -1 with a sentence in err.
 */
static int
tc_detect(struct tcdb *db, char *err, size_t errlen)
{
	static const char *const need_tasks[] = { "id", "stream_id", "title",
	    "status", "created_at", "updated_at", NULL };
	sqlite3		*h = db->h;
	sqlite3_stmt	*st;
	bool		 have, tasks = false;
	size_t		 i;

	if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = "
	    "'table' AND name = 'tasks'", -1, &st, NULL) == SQLITE_OK) {
		tasks = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	} else {
		snprintf(err, errlen, "cannot read the tc database %s: %s",
		    db->path, sqlite3_errmsg(h));
		return -1;
	}
	if (!tasks) {
		snprintf(err, errlen, "%s is an SQLite database but not a Task "
		    "Copilot (tc) database: it has no tasks table (is it the "
		    "project's .copilot/tasks.db?)", db->path);
		return -1;
	}
	for (i = 0; need_tasks[i] != NULL; i++) {
		tc_col(h, "tasks", need_tasks[i], &have);
		if (!have) {
			snprintf(err, errlen, "%s is not a Task Copilot (tc) "
			    "database: table tasks has no column %s", db->path,
			    need_tasks[i]);
			return -1;
		}
	}
	tc_col(h, "streams", "name", &have);
	if (!have) {
		snprintf(err, errlen, "%s is not a Task Copilot (tc) database: "
		    "no streams table with a name column", db->path);
		return -1;
	}
	tc_col(h, "work_products", "title", &db->have_products);
	tc_col(h, "agent_log", "task_id", &db->have_log);
	tc_col(h, "task_dependencies", "depends_on", &db->have_deps);
	free(db->task_sql);
	free(db->stream_sql);
	xasprintf(&db->task_sql, "SELECT id, %s, %s, stream_id, title, %s, "
	    "status, %s, %s, %s, %s, created_at, updated_at FROM tasks "
	    "ORDER BY created_at, id",
	    tc_col(h, "tasks", "prd_id", NULL),
	    tc_col(h, "tasks", "parent_task_id", NULL),
	    tc_col(h, "tasks", "description", NULL),
	    tc_col(h, "tasks", "agent", NULL),
	    tc_col(h, "tasks", "claimed_by", NULL),
	    tc_col(h, "tasks", "claimed_at", NULL),
	    tc_col(h, "tasks", "metadata", NULL));
	xasprintf(&db->stream_sql, "SELECT id, name, %s, %s FROM streams",
	    tc_col(h, "streams", "status", NULL),
	    tc_col(h, "streams", "worktree_path", NULL));
	return 0;
}

/* Lets the file go, and what was read of it. */
static void
tc_close(struct tcdb *db)
{
	sqlite3_close(db->h);
	db->h = NULL;
	if (db->fd != -1)
		close(db->fd);
	db->fd = -1;
	tcdb_rows_free(db->snap);
	db->snap = NULL;
}

static int
tc_open(struct tcdb *db, char *err, size_t errlen)
{
	char		 magic[16];
	struct stat	 st;
	int		 fd;

	fd = open(db->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		snprintf(err, errlen, "cannot open the tc database %s: the file "
		    "is missing (deleted, moved away, or not made yet by `tc "
		    "init`)", db->path);
		return -1;
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot open the tc database %s: %s",
		    db->path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() && !db->warned_uid) {
		log_warnx("%s belongs to another user: reading it may leave "
		    "its -wal and -shm files owned by this one; run taskgate as "
		    "its owner", db->path);
		db->warned_uid = true;
	}
	if (read(fd, magic, sizeof magic) != (ssize_t)sizeof magic ||
	    memcmp(magic, "SQLite format 3", 16) != 0) {
		close(fd);
		snprintf(err, errlen, "%s is not an SQLite database, so not a "
		    "Task Copilot (tc) database", db->path);
		return -1;
	}
	/*
	 * Kept open while h reads the file: its link count tells when the
	 * file is deleted, and, held, its inode cannot be reused by a new
	 * file at the same path meanwhile (rm tasks.db; tc init).
	 */
	db->fd = fd;
	db->dev = st.st_dev;
	db->ino = st.st_ino;
	if (sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open the tc database %s: %s",
		    db->path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
		tc_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db->h, 5000);
	if (tc_detect(db, err, errlen) == -1) {
		tc_close(db);
		return -1;
	}
	db->data_version = -1;
	return 0;
}

/*
 * Whether the open file is still the one at the path: not when it was
 * deleted (no link left), or another file took its name (a new inode or
 * device: `mv other.db tasks.db`, `rm tasks.db*; tc init`).  A missing
 * path is said in err.
 */
static bool
tc_same_file(struct tcdb *db, char *err, size_t errlen)
{
	struct stat	st;

	if (fstat(db->fd, &st) == -1 || st.st_nlink == 0) {
		if (stat(db->path, &st) == -1)
			goto missing;
		return false;
	}
	if (stat(db->path, &st) == -1)
		goto missing;
	return st.st_dev == db->dev && st.st_ino == db->ino;
missing:
	snprintf(err, errlen, "cannot open the tc database %s: the file is "
	    "missing (deleted, moved away, or not made yet by `tc init`)",
	    db->path);
	return false;
}

struct tcdb *
tcdb_new(const char *path)
{
	struct tcdb	*db = xcalloc(1, sizeof *db);

	db->path = xstrdup(path);
	db->fd = -1;
	return db;
}

void
tcdb_free(struct tcdb *db)
{
	if (db == NULL)
		return;
	tc_close(db);
	free(db->task_sql);
	free(db->stream_sql);
	free(db->path);
	free(db);
}

static struct tcdb_task *
tc_task_by_id(struct tcdb_rows *s, long long id)
{
	size_t	i;

	for (i = 0; i < s->n_tasks; i++)
		if (s->tasks[i].id == id)
			return &s->tasks[i];
	return NULL;
}

static int
tc_load_tasks(struct tcdb *db, struct tcdb_rows *s)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(db->h, db->task_sql, -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tcdb_task	*t;
		char			*meta;

		s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) *
		    sizeof *s->tasks);
		t = &s->tasks[s->n_tasks++];
		memset(t, 0, sizeof *t);
		t->id = sqlite3_column_int64(st, 0);
		t->has_prd_id = sqlite3_column_type(st, 1) != SQLITE_NULL;
		t->prd_id = sqlite3_column_int64(st, 1);
		t->has_parent_id = sqlite3_column_type(st, 2) != SQLITE_NULL;
		t->parent_id = sqlite3_column_int64(st, 2);
		t->stream_row = sqlite3_column_int64(st, 3);
		t->title = tc_col_text(st, 4);
		t->description = tc_col_text(st, 5);
		t->status = tc_col_text(st, 6);
		t->agent = tc_col_text(st, 7);
		t->claimed_by = tc_col_text(st, 8);
		t->claimed_at = tc_col_text(st, 9);
		meta = tc_col_text(st, 10);
		t->created_at = tc_col_text(st, 11);
		t->updated_at = tc_col_text(st, 12);
		/* Whatever it is: the renderer judges it. */
		t->metadata = meta != NULL ? json_loads(meta, 0, NULL) : NULL;
		free(meta);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
tc_load_rest(struct tcdb *db, struct tcdb_rows *s)
{
	sqlite3_stmt	*st;
	struct tcdb_task	*t;
	int			 rc;

	if (sqlite3_prepare_v2(db->h, db->stream_sql, -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tcdb_stream_row *r;

		s->streams = xrealloc(s->streams, (s->n_streams + 1) *
		    sizeof *s->streams);
		r = &s->streams[s->n_streams++];
		r->id = sqlite3_column_int64(st, 0);
		r->name = tc_col_text(st, 1);
		r->status = tc_col_text(st, 2);
		r->worktree = tc_col_text(st, 3);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	/* The reason of a blocked task: its newest "Blocked: ..." product. */
	if (db->have_products && sqlite3_prepare_v2(db->h, "SELECT task_id, "
	    "title FROM work_products WHERE type = 'other' AND title LIKE "
	    "'Blocked:%' ORDER BY id", -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *title = (const char *)
			    sqlite3_column_text(st, 1);

			t = tc_task_by_id(s, sqlite3_column_int64(st, 0));
			if (t == NULL || title == NULL)
				continue;
			title += strlen("Blocked:");
			while (*title == ' ')
				title++;
			free(t->blocked_reason);
			t->blocked_reason = xstrdup(title);
		}
		sqlite3_finalize(st);
	}
	/* Which task waits for which: the streams' dependencies too. */
	if (db->have_deps && sqlite3_prepare_v2(db->h, "SELECT task_id, "
	    "depends_on FROM task_dependencies", -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			s->deps = xrealloc(s->deps, (s->n_deps + 1) *
			    sizeof *s->deps);
			s->deps[s->n_deps].task = sqlite3_column_int64(st, 0);
			s->deps[s->n_deps++].on = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	if (db->have_log && sqlite3_prepare_v2(db->h, "SELECT task_id, "
	    "max(created_at) FROM agent_log WHERE task_id IS NOT NULL GROUP BY "
	    "task_id", -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			t = tc_task_by_id(s, sqlite3_column_int64(st, 0));
			if (t != NULL)
				t->last_log = tc_col_text(st, 1);
		}
		sqlite3_finalize(st);
	}
	return 0;
}

/*
 * Makes db->snap current: nothing to do when no connection committed
 * since (data_version), else one read transaction for all of it.
 */
static int
tc_refresh(struct tcdb *db, char *err, size_t errlen)
{
	struct tcdb_rows	*s;
	sqlite3_stmt		*st;
	int64_t			 version = -1;

	err[0] = '\0';
	if (db->h != NULL && !tc_same_file(db, err, errlen)) {
		log_info("%s was deleted or replaced: reading it afresh",
		    db->path);
		tc_close(db);
		if (err[0] != '\0')
			return -1;
	}
	if (db->h == NULL && tc_open(db, err, errlen) == -1)
		return -1;
	if (sqlite3_prepare_v2(db->h, "PRAGMA data_version", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			version = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (db->snap != NULL && version == db->data_version)
		return 0;
	s = xcalloc(1, sizeof *s);
	if (sqlite3_exec(db->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    tc_load_tasks(db, s) == -1 || tc_load_rest(db, s) == -1) {
		snprintf(err, errlen, "cannot read the tc database %s: %s",
		    db->path, sqlite3_errmsg(db->h));
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		tcdb_rows_free(s);
		/* Maybe replaced or damaged: open it afresh next time. */
		tc_close(db);
		return -1;
	}
	sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
	tcdb_rows_free(db->snap);
	db->snap = s;
	db->data_version = version;
	return 0;
}

/* Playing the old API's server --------------------------------------- */

/* Its status for each answer of the renderer. */
static const long tcdb_statuses[] = {
	[TCDB_OK] = 200,
	[TCDB_BAD_PATH] = 400,
	[TCDB_NO_STREAM] = 404,
	[TCDB_NO_ROUTE] = 404,
	[TCDB_READ_ONLY] = 501,
};

/* The old API's answer to method on uri: *status and the body (new). */
static json_t *
tc_answer(const struct tcdb_rows *s, const char *method, const char *uri,
    double now, long *status)
{
	json_t			*body;
	enum tcdb_result	 r;

	r = tcdb_render_request(s, method, uri, now, &body);
	*status = tcdb_statuses[r];
	/* Its route errors repeat their status in the body. */
	if (r == TCDB_NO_ROUTE)
		json_object_set_new(body, "statusCode", json_integer(*status));
	return body;
}

/*
 * Answers a GET of uri from snapshot s at time now (seconds since the
 * epoch): *status and the body (new).
 */
json_t *
tcdb_render(const struct tcdb_rows *s, const char *uri, double now,
    long *status)
{
	return tc_answer(s, "GET", uri, now, status);
}

/*
 * Runs one upstream call against the file: fills c->result, c->status,
 * c->reply and c->error as the HTTP source would.
 */
void
tcdb_call(struct tcdb *db, struct upstream_call *c)
{
	json_t	*body;
	char	*text;

	if (tc_refresh(db, c->error, sizeof c->error) == -1) {
		c->result = UPSTREAM_UNREACHABLE;
		return;
	}
	body = tc_answer(db->snap, c->method, c->uri, clock_wall(),
	    &c->status);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	c->result = UPSTREAM_OK;
	buf_add(&c->reply, text, strlen(text));
	c->reply_type = xstrdup("application/json; charset=utf-8");
	free(text);
}

/*
 * The project whose tasks.db is at path: the directory that holds its
 * .copilot/ (tc keeps the file at <project>/.copilot/tasks.db).  -1 when
 * the file is not in a directory named .copilot.
 */
int
tcdb_project_root(const char *path, char *out, size_t len)
{
	const char	*slash = strrchr(path, '/'), *dir;
	size_t		 dlen;

	if (slash == NULL)
		return -1;
	for (dir = slash; dir > path && dir[-1] != '/'; dir--)
		;
	dlen = (size_t)(slash - dir);
	if (dlen != strlen(".copilot") || strncmp(dir, ".copilot", dlen) != 0)
		return -1;
	if (dir == path)
		return snprintf(out, len, ".") >= (int)len ? -1 : 0;
	if (dir == path + 1)
		return snprintf(out, len, "/") >= (int)len ? -1 : 0;
	return snprintf(out, len, "%.*s", (int)(dir - 1 - path), path) >=
	    (int)len ? -1 : 0;
}

/* For tests: a snapshot of the file at path (borrowed), or NULL with err. */
struct tcdb_rows *
tcdb_snapshot_of(struct tcdb *db, char *err, size_t errlen)
{
	if (tc_refresh(db, err, errlen) == -1)
		return NULL;
	return db->snap;
}
