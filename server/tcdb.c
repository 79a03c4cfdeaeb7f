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
 * a torn view.  Rendering the old API's shapes from a snapshot is pure
 * (tcdb_render), mapping fields as the fixture notes describe:
 * docs/tc-source.md says what is approximated and what is left out.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "taskgate.h"

#define TC_ACTIVE_S	300	/* the old API's isActive window */
#define TC_STALE_S	600	/* its "no activity for 10+ minutes" */

struct tc_task {
	long long	 id;
	json_t		*prd_id;	/* integer or null */
	json_t		*parent_id;
	long long	 stream_row;	/* streams.id, 0 when none */
	char		*title, *description, *status, *agent, *claimed_by;
	char		*claimed_at, *created_at, *updated_at;
	json_t		*metadata;	/* an object, or NULL */
	char		*blocked_reason;	/* from a "Blocked:" product */
	char		*last_log;	/* newest agent_log time of the task */
	char		*label;		/* the stream it belongs to */
};

struct tc_stream_row {
	long long	 id;
	char		*name, *status, *worktree;
};

struct tc_snapshot {
	struct tc_task		*tasks;
	size_t			 n_tasks;
	struct tc_stream_row	*rows;
	size_t			 n_rows;
};

struct tcdb {
	char			*path;
	sqlite3			*h;
	int64_t			 data_version;
	struct tc_snapshot	*snap;
	bool			 warned_uid;
	/* Detected columns. */
	char			*task_sql;
	char			*stream_sql;
	bool			 have_products;
	bool			 have_log;
};

static void	tc_snapshot_free(struct tc_snapshot *);

static char *
tc_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

static json_t *
tc_col_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null() :
	    json_integer(sqlite3_column_int64(st, i));
}

/* "2026-11-26 10:33:13" as the old API wrote times (new), or NULL. */
static char *
tc_iso(const char *t)
{
	char	*out;

	if (t == NULL || strlen(t) < 19)
		return NULL;
	xasprintf(&out, "%.10sT%.8s.000Z", t, t + 11);
	return out;
}

static double
tc_epoch(const char *t)
{
	struct tm	tm;

	if (t == NULL)
		return 0;
	memset(&tm, 0, sizeof tm);
	if (strptime(t, "%Y-%m-%d %H:%M:%S", &tm) == NULL)
		return 0;
	return (double)timegm(&tm);
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
	sqlite3	*h = db->h;
	bool	 have;
	size_t	 i;

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

static int
tc_open(struct tcdb *db, char *err, size_t errlen)
{
	char		 magic[16];
	struct stat	 st;
	int		 fd;

	fd = open(db->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open the tc database %s: %s",
		    db->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && st.st_uid != geteuid() && !db->warned_uid) {
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
	close(fd);
	if (sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open the tc database %s: %s",
		    db->path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
		sqlite3_close(db->h);
		db->h = NULL;
		return -1;
	}
	sqlite3_busy_timeout(db->h, 5000);
	if (tc_detect(db, err, errlen) == -1) {
		sqlite3_close(db->h);
		db->h = NULL;
		return -1;
	}
	db->data_version = -1;
	return 0;
}

struct tcdb *
tcdb_new(const char *path)
{
	struct tcdb	*db = xcalloc(1, sizeof *db);

	db->path = xstrdup(path);
	return db;
}

void
tcdb_free(struct tcdb *db)
{
	if (db == NULL)
		return;
	tc_snapshot_free(db->snap);
	sqlite3_close(db->h);
	free(db->task_sql);
	free(db->stream_sql);
	free(db->path);
	free(db);
}

static void
tc_snapshot_free(struct tc_snapshot *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_tasks; i++) {
		struct tc_task *t = &s->tasks[i];

		json_decref(t->prd_id);
		json_decref(t->parent_id);
		json_decref(t->metadata);
		free(t->title);
		free(t->description);
		free(t->status);
		free(t->agent);
		free(t->claimed_by);
		free(t->claimed_at);
		free(t->created_at);
		free(t->updated_at);
		free(t->blocked_reason);
		free(t->last_log);
		free(t->label);
	}
	for (i = 0; i < s->n_rows; i++) {
		free(s->rows[i].name);
		free(s->rows[i].status);
		free(s->rows[i].worktree);
	}
	free(s->tasks);
	free(s->rows);
	free(s);
}

static struct tc_task *
tc_task_by_id(struct tc_snapshot *s, long long id)
{
	size_t	i;

	for (i = 0; i < s->n_tasks; i++)
		if (s->tasks[i].id == id)
			return &s->tasks[i];
	return NULL;
}

static const struct tc_stream_row *
tc_row(const struct tc_snapshot *s, long long id)
{
	size_t	i;

	for (i = 0; i < s->n_rows; i++)
		if (s->rows[i].id == id)
			return &s->rows[i];
	return NULL;
}

/* A task's stream: metadata.streamId, else its stream row's name. */
static char *
tc_label(const struct tc_snapshot *s, const struct tc_task *t)
{
	const char		*id = json_string_value(json_object_get(
				    t->metadata, "streamId"));
	const struct tc_stream_row *r = tc_row(s, t->stream_row);

	if (id != NULL && valid_stream_id(id))
		return xstrdup(id);
	if (r != NULL && r->name != NULL)
		return xstrdup(r->name);
	return xstrdup("unassigned");
}

static int
tc_load_tasks(struct tcdb *db, struct tc_snapshot *s)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(db->h, db->task_sql, -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tc_task	*t;
		char		*meta;

		s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) *
		    sizeof *s->tasks);
		t = &s->tasks[s->n_tasks++];
		memset(t, 0, sizeof *t);
		t->id = sqlite3_column_int64(st, 0);
		t->prd_id = tc_col_int(st, 1);
		t->parent_id = tc_col_int(st, 2);
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
		if (t->title == NULL)
			t->title = xstrdup("");
		if (t->status == NULL)
			t->status = xstrdup("pending");
		/* An LLM writes this JSON: anything but an object is none. */
		t->metadata = meta != NULL ? json_loads(meta, 0, NULL) : NULL;
		if (t->metadata != NULL && !json_is_object(t->metadata)) {
			json_decref(t->metadata);
			t->metadata = NULL;
		}
		free(meta);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
tc_load_rest(struct tcdb *db, struct tc_snapshot *s)
{
	sqlite3_stmt	*st;
	struct tc_task	*t;
	int		 rc;

	if (sqlite3_prepare_v2(db->h, db->stream_sql, -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tc_stream_row *r;

		s->rows = xrealloc(s->rows, (s->n_rows + 1) * sizeof *s->rows);
		r = &s->rows[s->n_rows++];
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
	struct tc_snapshot	*s;
	sqlite3_stmt		*st;
	int64_t			 version = -1;
	size_t			 i;

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
		tc_snapshot_free(s);
		/* Maybe replaced or damaged: open it afresh next time. */
		sqlite3_close(db->h);
		db->h = NULL;
		return -1;
	}
	sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
	for (i = 0; i < s->n_tasks; i++)
		s->tasks[i].label = tc_label(s, &s->tasks[i]);
	tc_snapshot_free(db->snap);
	db->snap = s;
	db->data_version = version;
	return 0;
}

/* Rendering: pure functions of a snapshot ------------------------------ */

struct tc_stream {
	const char	*label;
	const char	*name;
	const char	*phase;
	const char	*worktree;
	bool		 archived;
	json_t		*deps;		/* labels (new) */
	json_t		*files;		/* (new) */
	struct model_counts c;
	size_t		 first;		/* index of its first task */
};

static const char *const tc_agent_names[][2] = {
	{ "me", "Engineer" }, { "ta", "Tech Architect" }, { "qa", "QA Engineer" },
	{ "sec", "Security" }, { "doc", "Documentation" }, { "do", "DevOps" },
	{ "sd", "Service Designer" }, { "uxd", "UX Designer" },
	{ "uids", "UI Designer" }, { "uid", "UI Developer" },
	{ "cw", "Copywriter" },
};

static const char *
tc_agent_name(const char *id)
{
	size_t	i;

	for (i = 0; i < sizeof tc_agent_names / sizeof tc_agent_names[0]; i++)
		if (strcmp(tc_agent_names[i][0], id) == 0)
			return tc_agent_names[i][1];
	return id;
}

static void
tc_union(json_t *into, json_t *list)
{
	json_t	*v, *w;
	size_t	 i, j;
	bool	 seen;

	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			continue;
		seen = false;
		json_array_foreach(into, j, w)
			if (json_equal(v, w))
				seen = true;
		if (!seen)
			json_array_append(into, v);
	}
}

static int
tc_phase_rank(const char *p)
{
	if (p == NULL)
		return 3;
	if (strcmp(p, "foundation") == 0)
		return 0;
	if (strcmp(p, "parallel") == 0)
		return 1;
	if (strcmp(p, "integration") == 0)
		return 2;
	return 3;
}

/* Groups the tasks into streams (new array, *n streams). */
static struct tc_stream *
tc_streams(const struct tc_snapshot *s, size_t *n)
{
	struct tc_stream	*out = NULL;
	size_t			 i, k, pass;

	*n = 0;
	for (i = 0; i < s->n_tasks; i++) {
		const struct tc_task		*t = &s->tasks[i];
		const struct tc_stream_row	*row = tc_row(s, t->stream_row);
		struct tc_stream		*st = NULL;
		json_t				*deps;

		for (k = 0; k < *n; k++)
			if (strcmp(out[k].label, t->label) == 0)
				st = &out[k];
		if (st == NULL) {
			out = xrealloc(out, (*n + 1) * sizeof *out);
			st = &out[(*n)++];
			memset(st, 0, sizeof *st);
			st->label = t->label;
			st->first = i;
			st->deps = json_array();
			st->files = json_array();
			st->name = row != NULL ? row->name : json_string_value(
			    json_object_get(t->metadata, "streamName"));
			if (st->name == NULL)
				st->name = t->label;
			st->worktree = row != NULL ? row->worktree : NULL;
			st->archived = row != NULL && row->status != NULL &&
			    strcmp(row->status, "archived") == 0;
		}
		if (st->phase == NULL)
			st->phase = json_string_value(json_object_get(
			    t->metadata, "streamPhase"));
		deps = json_object_get(t->metadata, "streamDependencies");
		if (deps == NULL)
			deps = json_object_get(t->metadata, "dependencies");
		tc_union(st->deps, deps);
		tc_union(st->files, json_object_get(t->metadata, "files"));
		st->c.total++;
		if (strcmp(t->status, "completed") == 0)
			st->c.completed++;
		else if (strcmp(t->status, "in_progress") == 0)
			st->c.in_progress++;
		else if (strcmp(t->status, "blocked") == 0)
			st->c.blocked++;
		else if (strcmp(t->status, "pending") == 0)
			st->c.pending++;
	}
	/* No streamPhase written: derive it from the dependency graph. */
	for (pass = 0; pass < 3; pass++) {
		for (k = 0; k < *n; k++) {
			json_t		*d;
			size_t		 j, m;
			int		 worst = -1;

			if (out[k].phase != NULL && tc_phase_rank(
			    out[k].phase) < 3 && pass == 0)
				continue;
			if (json_array_size(out[k].deps) == 0) {
				out[k].phase = "foundation";
				continue;
			}
			json_array_foreach(out[k].deps, j, d)
				for (m = 0; m < *n; m++)
					if (strcmp(out[m].label,
					    json_string_value(d)) == 0 &&
					    tc_phase_rank(out[m].phase) > worst)
						worst = tc_phase_rank(
						    out[m].phase);
			out[k].phase = worst <= 0 ? "parallel" : "integration";
		}
	}
	return out;
}

static void
tc_streams_free(struct tc_stream *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		json_decref(v[i].deps);
		json_decref(v[i].files);
	}
	free(v);
}

static int
tc_stream_cmp(const void *a, const void *b)
{
	const struct tc_stream	*x = a, *y = b;
	int			 d = tc_phase_rank(x->phase) -
				    tc_phase_rank(y->phase);

	return d != 0 ? d : strcmp(x->name, y->name);
}

/* A task in the old API's shape (new); optional fields omitted. */
static json_t *
tc_task_json(const struct tc_task *t)
{
	json_t	*o = json_object();
	char	*at;

	json_object_set_new(o, "id", json_integer(t->id));
	if (!json_is_null(t->prd_id))
		json_object_set(o, "prdId", t->prd_id);
	if (!json_is_null(t->parent_id))
		json_object_set(o, "parentId", t->parent_id);
	json_object_set_new(o, "title", json_string(t->title));
	if (t->description != NULL && *t->description != '\0')
		json_object_set_new(o, "description",
		    json_string(t->description));
	if (t->agent != NULL)
		json_object_set_new(o, "assignedAgent", json_string(t->agent));
	json_object_set_new(o, "status", json_string(t->status));
	if (strcmp(t->status, "blocked") == 0 && t->blocked_reason != NULL)
		json_object_set_new(o, "blockedReason",
		    json_string(t->blocked_reason));
	json_object_set_new(o, "metadata", t->metadata != NULL ?
	    json_incref(t->metadata) : json_object());
	at = tc_iso(t->created_at);
	json_object_set_new(o, "createdAt", at ? json_string(at) : json_null());
	free(at);
	at = tc_iso(t->updated_at);
	json_object_set_new(o, "updatedAt", at ? json_string(at) : json_null());
	free(at);
	return o;
}

/* A query parameter, percent-decoded (new), or NULL. */
static char *
tc_query(const char *uri, const char *name)
{
	const char	*q = strchr(uri, '?'), *p;
	size_t		 nlen = strlen(name);

	if (q == NULL)
		return NULL;
	for (p = q + 1; *p != '\0'; p += strcspn(p, "&"), p += *p == '&') {
		size_t	 len = strcspn(p, "&"), i, j = 0;
		char	*v;

		if (len <= nlen || strncmp(p, name, nlen) != 0 || p[nlen] != '=')
			continue;
		v = xmalloc(len);
		for (i = nlen + 1; i < len; i++) {
			if (p[i] == '%' && i + 2 < len + 1 && isxdigit(
			    (unsigned char)p[i + 1]) && isxdigit(
			    (unsigned char)p[i + 2])) {
				char hex[3] = { p[i + 1], p[i + 2], 0 };

				v[j++] = (char)strtol(hex, NULL, 16);
				i += 2;
			} else
				v[j++] = p[i] == '+' ? ' ' : p[i];
		}
		v[j] = '\0';
		return v;
	}
	return NULL;
}

static json_t *
tc_render_list(const struct tc_snapshot *s, const char *uri)
{
	struct tc_stream	*v;
	char			*arch = tc_query(uri, "includeArchived");
	bool			 with_archived = arch != NULL &&
				    strcmp(arch, "true") == 0;
	json_t			*list = json_array();
	size_t			 n, i;

	free(arch);
	v = tc_streams(s, &n);
	qsort(v, n, sizeof *v, tc_stream_cmp);
	for (i = 0; i < n; i++) {
		json_t *o;

		if (v[i].archived && !with_archived)
			continue;
		o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:O,s:O}",
		    "streamId", v[i].label, "streamName", v[i].name,
		    "streamPhase", v[i].phase, "totalTasks",
		    (json_int_t)v[i].c.total, "completedTasks",
		    (json_int_t)v[i].c.completed, "inProgressTasks",
		    (json_int_t)v[i].c.in_progress, "blockedTasks",
		    (json_int_t)v[i].c.blocked, "pendingTasks",
		    (json_int_t)v[i].c.pending, "files", v[i].files,
		    "dependencies", v[i].deps);
		if (v[i].worktree != NULL)
			json_object_set_new(o, "worktreePath",
			    json_string(v[i].worktree));
		json_object_set_new(o, "progressPercentage",
		    json_integer(model_progress(&v[i].c)));
		json_array_append_new(list, o);
	}
	tc_streams_free(v, n);
	return json_pack("{s:o,s:I}", "streams", list, "totalStreams",
	    (json_int_t)json_array_size(list));
}

static json_t *
tc_render_detail(const struct tc_snapshot *s, const char *id, const char *uri,
    long *status)
{
	struct tc_stream	*v;
	json_t			*o = NULL, *tasks;
	char			*arch = tc_query(uri, "includeArchived");
	size_t			 n, i, k;

	v = tc_streams(s, &n);
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].label, id) != 0)
			continue;
		if (v[i].archived && (arch == NULL || strcmp(arch, "true")))
			break;
		tasks = json_array();
		for (k = 0; k < s->n_tasks; k++)
			if (strcmp(s->tasks[k].label, id) == 0)
				json_array_append_new(tasks,
				    tc_task_json(&s->tasks[k]));
		o = json_pack("{s:s,s:s,s:s,s:o}", "streamId", id, "streamName",
		    v[i].name, "streamPhase", v[i].phase, "tasks", tasks);
		json_object_set_new(o, "dependencies", json_deep_copy(
		    json_object_get(s->tasks[v[i].first].metadata,
		    "streamDependencies") ? json_object_get(
		    s->tasks[v[i].first].metadata, "streamDependencies") :
		    v[i].deps));
		json_object_set_new(o, "status", json_string(model_status_name(
		    model_status_of(&v[i].c))));
		if (v[i].worktree != NULL)
			json_object_set_new(o, "worktreePath",
			    json_string(v[i].worktree));
		json_object_set_new(o, "archived", json_boolean(v[i].archived));
		json_object_set_new(o, "progressPercentage",
		    json_integer(model_progress(&v[i].c)));
		break;
	}
	tc_streams_free(v, n);
	free(arch);
	if (o == NULL) {
		*status = 404;
		return json_pack("{s:s,s:s}", "error", "Stream not found",
		    "streamId", id);
	}
	return o;
}

static bool
tc_matches(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

static json_t *
tc_render_tasks(const struct tc_snapshot *s, const char *uri)
{
	char	*status = tc_query(uri, "status"), *stream = tc_query(uri,
		    "streamId"), *agent = tc_query(uri, "assignedAgent");
	char	*prd = tc_query(uri, "prdId"), *limit_s = tc_query(uri,
		    "limit"), prd_text[32];
	json_t	*list = json_array();
	long	 limit = limit_s != NULL ? atol(limit_s) : 0;
	size_t	 i;

	for (i = s->n_tasks; i-- > 0;) {
		const struct tc_task *t = &s->tasks[i];
		const struct tc_stream_row *row = tc_row(s, t->stream_row);

		if (row != NULL && row->status != NULL &&
		    strcmp(row->status, "archived") == 0)
			continue;
		snprintf(prd_text, sizeof prd_text, "%lld", (long long)
		    json_integer_value(t->prd_id));
		if (!tc_matches(status, t->status) || !tc_matches(stream,
		    t->label) || !tc_matches(agent, t->agent) ||
		    (prd != NULL && (json_is_null(t->prd_id) ||
		    strcmp(prd, prd_text) != 0)))
			continue;
		if (limit >= 1 && (long)json_array_size(list) >= limit)
			break;
		json_array_append_new(list, tc_task_json(t));
	}
	free(status);
	free(stream);
	free(agent);
	free(prd);
	free(limit_s);
	return json_pack("{s:o,s:I}", "tasks", list, "totalTasks",
	    (json_int_t)json_array_size(list));
}

/* The newest of a task's claim, update and log times: its "heartbeat". */
static const char *
tc_heartbeat(const struct tc_task *t)
{
	const char	*best = t->claimed_at;

	if (t->updated_at != NULL && (best == NULL ||
	    strcmp(t->updated_at, best) > 0))
		best = t->updated_at;
	if (t->last_log != NULL && (best == NULL ||
	    strcmp(t->last_log, best) > 0))
		best = t->last_log;
	return best;
}

static int
tc_activity_cmp(const void *a, const void *b)
{
	const char	*x = json_string_value(json_object_get(*(json_t *const *)a,
			    "lastHeartbeat"));
	const char	*y = json_string_value(json_object_get(*(json_t *const *)b,
			    "lastHeartbeat"));

	return strcmp(y != NULL ? y : "", x != NULL ? x : "");
}

static json_t *
tc_render_activity(const struct tc_snapshot *s, const char *uri, double now)
{
	char	*active = tc_query(uri, "active"), *stream = tc_query(uri,
		    "streamId");
	bool	 all = active != NULL && strcmp(active, "false") == 0;
	json_t	**items = NULL, *list = json_array();
	size_t	 n = 0, i;
	long	 on = 0;

	for (i = 0; i < s->n_tasks; i++) {
		const struct tc_task	*t = &s->tasks[i];
		const char		*agent = t->agent != NULL ? t->agent :
					    t->claimed_by;
		const char		*phase = json_string_value(
					    json_object_get(t->metadata,
					    "phase"));
		const struct tc_stream_row *row = tc_row(s, t->stream_row);
		char			*started, *beat;
		json_t			*o;
		bool			 is_active;

		if (t->claimed_at == NULL || agent == NULL ||
		    !tc_matches(stream, t->label) || (!all &&
		    (strcmp(t->status, "completed") == 0 ||
		    strcmp(t->status, "cancelled") == 0)))
			continue;
		started = tc_iso(t->claimed_at);
		beat = tc_iso(tc_heartbeat(t));
		is_active = now - tc_epoch(tc_heartbeat(t)) < TC_ACTIVE_S;
		o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "streamId", t->label,
		    "streamName", row != NULL && row->name != NULL ? row->name :
		    t->label, "agentId", agent, "agentName",
		    tc_agent_name(agent), "taskId", (json_int_t)t->id,
		    "taskTitle", t->title);
		if (phase != NULL)
			json_object_set_new(o, "phase", json_string(phase));
		json_object_set_new(o, "startedAt", json_string(started));
		json_object_set_new(o, "lastHeartbeat", json_string(beat));
		json_object_set_new(o, "isActive", json_boolean(is_active));
		free(started);
		free(beat);
		on += is_active;
		items = xrealloc(items, (n + 1) * sizeof *items);
		items[n++] = o;
	}
	qsort(items, n, sizeof *items, tc_activity_cmp);
	for (i = 0; i < n; i++)
		json_array_append_new(list, items[i]);
	free(items);
	free(active);
	free(stream);
	return json_pack("{s:o,s:I,s:I}", "activities", list, "totalActive",
	    (json_int_t)on, "totalIdle", (json_int_t)(n - (size_t)on));
}

static json_t *
tc_render_health(const struct tc_snapshot *s, const char *id, double now,
    long *status)
{
	const struct tc_task	*current = NULL;
	const char		*last = NULL;
	json_t			*warnings = json_array(), *o;
	char			*last_iso;
	size_t			 i, n = 0;
	bool			 healthy = true;

	for (i = 0; i < s->n_tasks; i++) {
		const struct tc_task *t = &s->tasks[i];

		if (strcmp(t->label, id) != 0)
			continue;
		n++;
		if (current == NULL && strcmp(t->status, "in_progress") == 0)
			current = t;
		if (t->last_log != NULL && (last == NULL ||
		    strcmp(t->last_log, last) > 0))
			last = t->last_log;
	}
	if (n == 0) {
		json_decref(warnings);
		*status = 404;
		return json_pack("{s:s,s:s}", "error", "Stream not found",
		    "streamId", id);
	}
	if (current != NULL && (last == NULL ||
	    now - tc_epoch(last) > TC_STALE_S)) {
		healthy = false;
		json_array_append_new(warnings, json_string("Task in_progress "
		    "but no activity for 10+ minutes"));
	}
	last_iso = tc_iso(last);
	o = json_pack("{s:s,s:b}", "streamId", id, "healthy", healthy);
	json_object_set_new(o, "currentTask", current != NULL ?
	    json_integer(current->id) : json_null());
	json_object_set_new(o, "taskStatus", current != NULL ?
	    json_string(current->status) : json_null());
	json_object_set_new(o, "lastActivity", last_iso != NULL ?
	    json_string(last_iso) : json_null());
	json_object_set_new(o, "lastCheckpoint", json_null());
	json_object_set_new(o, "currentCheckpoint", json_null());
	json_object_set_new(o, "timeSinceActivity", last != NULL ?
	    json_integer((json_int_t)(now - tc_epoch(last))) : json_null());
	json_object_set_new(o, "timeSinceCheckpoint", json_null());
	json_object_set_new(o, "warnings", warnings);
	free(last_iso);
	return o;
}

/*
 * Answers a GET of uri from snapshot s at time now (seconds since the
 * epoch): *status and the body (new).
 */
json_t *
tcdb_render(const void *snap, const char *uri, double now, long *status)
{
	const struct tc_snapshot	*s = snap;
	char				*path, *id = NULL, *rest;
	size_t				 plen = strcspn(uri, "?");
	json_t				*out;

	*status = 200;
	if (valid_decode_path(uri, &path) == -1) {
		*status = 400;
		return json_pack("{s:s}", "error", "bad path");
	}
	if (plen > 1 && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	if (strncmp(path, "/api/streams/", 13) == 0) {
		id = xstrdup(path + 13);
		rest = strchr(id, '/');
		if (rest != NULL)
			*rest++ = '\0';
	} else
		rest = NULL;
	if (strcmp(path, "/health") == 0) {
		char ts[32];

		clock_iso8601(now, ts, sizeof ts);
		out = json_pack("{s:s,s:s}", "status", "ok", "timestamp", ts);
	} else if (strcmp(path, "/api/streams") == 0)
		out = tc_render_list(s, uri);
	else if (id != NULL && rest == NULL)
		out = tc_render_detail(s, id, uri, status);
	else if (id != NULL && strcmp(rest, "health") == 0)
		out = tc_render_health(s, id, now, status);
	else if (strcmp(path, "/api/tasks") == 0)
		out = tc_render_tasks(s, uri);
	else if (strcmp(path, "/api/activity") == 0)
		out = tc_render_activity(s, uri, now);
	else if (strcmp(path, "/api/checkpoints") == 0 || (id != NULL &&
	    strcmp(rest, "checkpoint") == 0)) {
		*status = 501;
		out = json_pack("{s:s,s:s}", "error", "Task Copilot 3 (tc) keeps "
		    "no checkpoints, and taskgate reads its database read-only",
		    "code", "not-implemented");
	} else {
		char *msg;

		*status = 404;
		xasprintf(&msg, "Route GET:%s not found", uri);
		out = json_pack("{s:s,s:s,s:i}", "message", msg, "error",
		    "Not Found", "statusCode", 404);
		free(msg);
	}
	free(id);
	free(path);
	return out;
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
	long	 status;

	if (tc_refresh(db, c->error, sizeof c->error) == -1) {
		c->result = UPSTREAM_UNREACHABLE;
		return;
	}
	if (strcmp(c->method, "GET") == 0)
		body = tcdb_render(db->snap, c->uri, clock_wall(), &status);
	else {
		status = 501;
		body = json_pack("{s:s,s:s}", "error", "Task Copilot 3 (tc) "
		    "takes no writes through taskgate: it keeps no checkpoints, "
		    "and taskgate reads its database read-only", "code",
		    "not-implemented");
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	c->result = UPSTREAM_OK;
	c->status = status;
	buf_add(&c->reply, text, strlen(text));
	c->reply_type = xstrdup("application/json; charset=utf-8");
	free(text);
}

/* For tests: a snapshot of the file at path (new), or NULL with err. */
void *
tcdb_snapshot_of(struct tcdb *db, char *err, size_t errlen)
{
	if (tc_refresh(db, err, errlen) == -1)
		return NULL;
	return db->snap;
}
