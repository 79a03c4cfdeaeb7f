/*
 * history.c: the progress history and the per-stream memory in SQLite.
 * A sample is written only when a stream's counts change (never once per
 * poll), so a month of polls stays small and a stream's history is one
 * index range scan.  stream_state keeps what must survive a restart or
 * kill -9: the last counts, when they changed, how long they have been
 * seen unchanged, and the health state with its evidence.  Each function
 * is one short transaction under db_lock(); errors are logged once here.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "taskgate.h"

static void
history_fail(sqlite3 *h, const char *what)
{
	log_warnx("history: %s: %s", what, sqlite3_errmsg(h));
}

/* Reads every stream_state row into *rows (new). */
int
history_load_rows(struct db *db, struct stream_row **rows, size_t *n)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	size_t		 cap = 0;
	int		 rc;

	*rows = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(h, "SELECT stream_id, total, completed, "
	    "in_progress, blocked, pending, last_change_ms, unchanged_s, "
	    "state, state_since_ms, evidence FROM stream_state", -1, &st,
	    NULL) != SQLITE_OK) {
		history_fail(h, "loading streams");
		db_unlock(db);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct stream_row *r;
		const char *id = (const char *)sqlite3_column_text(st, 0);

		if (id == NULL || !valid_stream_id(id))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*rows = xrealloc(*rows, cap * sizeof **rows);
		}
		r = &(*rows)[(*n)++];
		memset(r, 0, sizeof *r);
		snprintf(r->id, sizeof r->id, "%s", id);
		r->counts.total = sqlite3_column_int64(st, 1);
		r->counts.completed = sqlite3_column_int64(st, 2);
		r->counts.in_progress = sqlite3_column_int64(st, 3);
		r->counts.blocked = sqlite3_column_int64(st, 4);
		r->counts.pending = sqlite3_column_int64(st, 5);
		r->last_change_ms = sqlite3_column_int64(st, 6);
		r->unchanged_s = sqlite3_column_double(st, 7);
		snprintf(r->state, sizeof r->state, "%s",
		    (const char *)sqlite3_column_text(st, 8));
		r->state_since_ms = sqlite3_column_int64(st, 9);
		r->evidence = xstrdup(sqlite3_column_text(st, 10) ?
		    (const char *)sqlite3_column_text(st, 10) : "{}");
	}
	if (rc != SQLITE_DONE)
		history_fail(h, "loading streams");
	sqlite3_finalize(st);
	db_unlock(db);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Writes the rows in one transaction. */
int
history_save_rows(struct db *db, const struct stream_row *rows, size_t n)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st = NULL;
	size_t		 i;
	int		 ok = 1;

	if (sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "INSERT OR REPLACE INTO stream_state "
	    "(stream_id, total, completed, in_progress, blocked, pending, "
	    "last_change_ms, unchanged_s, state, state_since_ms, evidence) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) !=
	    SQLITE_OK)
		ok = 0;
	for (i = 0; ok && i < n; i++) {
		const struct stream_row *r = &rows[i];

		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r->counts.total);
		sqlite3_bind_int64(st, 3, r->counts.completed);
		sqlite3_bind_int64(st, 4, r->counts.in_progress);
		sqlite3_bind_int64(st, 5, r->counts.blocked);
		sqlite3_bind_int64(st, 6, r->counts.pending);
		sqlite3_bind_int64(st, 7, r->last_change_ms);
		sqlite3_bind_double(st, 8, r->unchanged_s);
		sqlite3_bind_text(st, 9, r->state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, r->state_since_ms);
		sqlite3_bind_text(st, 11, r->evidence ? r->evidence : "{}", -1,
		    SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (ok && sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ok = 0;
	/*
	 * The failure's own message first: an I/O error has often rolled
	 * the transaction back already, and a ROLLBACK then would put its
	 * "no transaction is active" in the place of why.
	 */
	db_note_write(db, ok);
	if (!ok && !sqlite3_get_autocommit(h))
		sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	db_unlock(db);
	return ok ? 0 : -1;
}

int
history_add_sample(struct db *db, const char *id, int64_t at_ms,
    const struct model_counts *c)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	int		 rc = -1;

	if (sqlite3_prepare_v2(h, "INSERT OR REPLACE INTO samples VALUES "
	    "(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, at_ms);
		sqlite3_bind_int64(st, 3, c->total);
		sqlite3_bind_int64(st, 4, c->completed);
		sqlite3_bind_int64(st, 5, c->in_progress);
		sqlite3_bind_int64(st, 6, c->blocked);
		sqlite3_bind_int64(st, 7, c->pending);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = 0;
		sqlite3_finalize(st);
	}
	db_note_write(db, rc == 0);
	db_unlock(db);
	return rc;
}

/*
 * The samples' JSON is the history's hot path (8,640 rows for 30 days of
 * a change every 5 minutes); it is written here without printf, which
 * took half of its time.  A row is at most 7 longs and a time: its line
 * of 256 bytes cannot overflow.
 */
struct history_day {
	int64_t		 day;		/* since the epoch */
	char		 prefix[24];	/* its "2026-11-26T" */
	size_t		 len;
};

static char *
history_put(char *p, const char *s)
{
	size_t	n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *
history_put_long(char *p, long v)
{
	char		 digits[24];
	size_t		 n = 0;
	unsigned long	 u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

	if (v < 0)
		*p++ = '-';
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

static char *
history_put_2(char *p, int64_t v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* Writes at_ms as clock_iso8601() does; the date only changes daily. */
static char *
history_put_at(char *p, int64_t at_ms, struct history_day *d)
{
	const int64_t	 day_ms = 86400000;
	int64_t		 day = at_ms / day_ms, in;
	char		 full[48];

	if (at_ms % day_ms < 0)
		day--;
	in = at_ms - day * day_ms;
	if (d->len == 0 || day != d->day) {
		clock_iso8601((double)day * 86400.0, full, sizeof full);
		d->len = strcspn(full, "T") + 1;
		if (d->len >= sizeof d->prefix)
			d->len = sizeof d->prefix - 1;
		memcpy(d->prefix, full, d->len);
		d->day = day;
	}
	memcpy(p, d->prefix, d->len);
	p += d->len;
	p = history_put_2(p, in / 3600000);
	*p++ = ':';
	p = history_put_2(p, in / 60000 % 60);
	*p++ = ':';
	p = history_put_2(p, in / 1000 % 60);
	*p++ = '.';
	*p++ = (char)('0' + in % 1000 / 100);
	p = history_put_2(p, in % 100);
	*p++ = 'Z';
	return p;
}

/*
 * Appends to out the samples of a stream between since and until (ms,
 * inclusive) as a JSON array, oldest first: without since (-1), the
 * latest limit samples; with it, the first limit from since.  -1 on
 * error.
 */
int
history_samples(struct db *db, const char *id, int64_t since, int64_t until,
    long limit, struct buf *out)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	const char	*sql = since >= 0 ?
	    "SELECT * FROM samples WHERE stream_id = ?1 AND at_ms >= ?2 AND "
	    "at_ms <= ?3 ORDER BY at_ms LIMIT ?4" :
	    "SELECT * FROM (SELECT * FROM samples WHERE stream_id = ?1 AND "
	    "at_ms >= ?2 AND at_ms <= ?3 ORDER BY at_ms DESC LIMIT ?4) "
	    "ORDER BY at_ms";
	bool		 first = true;
	struct history_day day = { 0, "", 0 };
	int		 rc;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		history_fail(h, "reading samples");
		db_unlock(db);
		return -1;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since >= 0 ? since : 0);
	sqlite3_bind_int64(st, 3, until);
	sqlite3_bind_int64(st, 4, limit);
	buf_add(out, "[", 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct model_counts	c;
		char			line[256], *p = line;

		c.total = sqlite3_column_int64(st, 2);
		c.completed = sqlite3_column_int64(st, 3);
		c.in_progress = sqlite3_column_int64(st, 4);
		c.blocked = sqlite3_column_int64(st, 5);
		c.pending = sqlite3_column_int64(st, 6);
		if (!first)
			*p++ = ',';
		p = history_put(p, "{\"at\":\"");
		p = history_put_at(p, sqlite3_column_int64(st, 1), &day);
		p = history_put(p, "\",\"totalTasks\":");
		p = history_put_long(p, c.total);
		p = history_put(p, ",\"completedTasks\":");
		p = history_put_long(p, c.completed);
		p = history_put(p, ",\"inProgressTasks\":");
		p = history_put_long(p, c.in_progress);
		p = history_put(p, ",\"blockedTasks\":");
		p = history_put_long(p, c.blocked);
		p = history_put(p, ",\"pendingTasks\":");
		p = history_put_long(p, c.pending);
		p = history_put(p, ",\"progressPercentage\":");
		p = history_put_long(p, model_progress(&c));
		*p++ = '}';
		buf_add(out, line, (size_t)(p - line));
		first = false;
	}
	if (rc != SQLITE_DONE) {
		history_fail(h, "reading samples");
		sqlite3_finalize(st);
		db_unlock(db);
		return -1;
	}
	buf_add(out, "]", 1);
	sqlite3_finalize(st);
	db_unlock(db);
	return 0;
}

void
history_rows_free(struct stream_row *rows, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(rows[i].evidence);
	free(rows);
}

/*
 * Runs the SELECT sql, whose first column is a stream id, and calls fn
 * for each row with a valid one; -1 (logged, as what) when it failed.
 */
static int
history_each_row(struct db *db, const char *sql, const char *what,
    void (*fn)(sqlite3_stmt *, const char *, void *), void *arg)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		history_fail(h, what);
		db_unlock(db);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		if (id != NULL && valid_stream_id(id))
			fn(st, id, arg);
	}
	sqlite3_finalize(st);
	db_unlock(db);
	return rc == SQLITE_DONE ? 0 : -1;
}

struct history_rows {
	void	*v;		/* the array (new) */
	size_t	 n, size;	/* rows, bytes of one */
};

/* A new zeroed row at the end of rows. */
static void *
history_rows_add(struct history_rows *rows)
{
	char	*r;

	rows->v = xrealloc(rows->v, (rows->n + 1) * rows->size);
	r = (char *)rows->v + rows->n++ * rows->size;
	memset(r, 0, rows->size);
	return r;
}

static void
history_session_of(sqlite3_stmt *st, const char *id, void *arg)
{
	struct session_row	*r = history_rows_add(arg);

	snprintf(r->id, sizeof r->id, "%s", id);
	snprintf(r->window, sizeof r->window, "%s",
	    (const char *)sqlite3_column_text(st, 1));
	snprintf(r->pane, sizeof r->pane, "%s",
	    (const char *)sqlite3_column_text(st, 2));
	r->started_ms = sqlite3_column_int64(st, 3);
	r->rec.attempts = (long)sqlite3_column_int64(st, 4);
	r->rec.next_ms = sqlite3_column_int64(st, 5);
}

/* Reads every sessions row into *rows (new). */
int
history_load_sessions(struct db *db, struct session_row **rows, size_t *n)
{
	struct history_rows	all = { NULL, 0, sizeof **rows };
	int			rc;

	rc = history_each_row(db, "SELECT stream_id, window_id, pane_id, "
	    "started_ms, attempts, next_ms FROM sessions", "loading sessions",
	    history_session_of, &all);
	*rows = all.v;
	*n = all.n;
	return rc;
}

int
history_save_session(struct db *db, const struct session_row *r)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	int		 rc = -1;

	if (sqlite3_prepare_v2(h, "INSERT OR REPLACE INTO sessions VALUES "
	    "(?, ?, ?, ?, ?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->window, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->pane, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, r->started_ms);
		sqlite3_bind_int64(st, 5, r->rec.attempts);
		sqlite3_bind_int64(st, 6, r->rec.next_ms);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = 0;
		sqlite3_finalize(st);
	}
	db_note_write(db, rc == 0);
	db_unlock(db);
	return rc;
}

static void
history_agent_of(sqlite3_stmt *st, const char *id, void *arg)
{
	struct agent_row	*r = history_rows_add(arg);

	snprintf(r->id, sizeof r->id, "%s", id);
	snprintf(r->secret, sizeof r->secret, "%s",
	    (const char *)sqlite3_column_text(st, 1));
	snprintf(r->claude_session, sizeof r->claude_session, "%s",
	    (const char *)sqlite3_column_text(st, 2));
	snprintf(r->last_event, sizeof r->last_event, "%s",
	    (const char *)sqlite3_column_text(st, 3));
	r->last_event_ms = sqlite3_column_int64(st, 4);
	snprintf(r->last_prompt, sizeof r->last_prompt, "%s",
	    (const char *)sqlite3_column_text(st, 5));
	r->last_prompt_ms = sqlite3_column_int64(st, 6);
	r->hook.state = agent_state_from_name((const char *)
	    sqlite3_column_text(st, 7));
	r->hook.at = (double)sqlite3_column_int64(st, 8) / 1000.0;
	snprintf(r->hook.reason, sizeof r->hook.reason, "%s",
	    (const char *)sqlite3_column_text(st, 9));
	r->context_pct = sqlite3_column_double(st, 10);
	r->cost_usd = sqlite3_column_double(st, 11);
	snprintf(r->model, sizeof r->model, "%s",
	    (const char *)sqlite3_column_text(st, 12));
	r->resume_ms = sqlite3_column_int64(st, 13);
	r->limit_reset_ms = sqlite3_column_int64(st, 14);
	r->cost_before_usd = sqlite3_column_double(st, 15);
}

/* Reads every agents row into *rows (new). */
int
history_load_agents(struct db *db, struct agent_row **rows, size_t *n)
{
	struct history_rows	all = { NULL, 0, sizeof **rows };
	int			rc;

	rc = history_each_row(db, "SELECT stream_id, secret, claude_session, "
	    "last_event, last_event_ms, last_prompt, last_prompt_ms, state, "
	    "state_ms, reason, context_pct, cost_usd, model, resume_ms, "
	    "limit_reset_ms, cost_before_usd FROM agents", "loading agents",
	    history_agent_of, &all);
	*rows = all.v;
	*n = all.n;
	return rc;
}

int
history_save_agent(struct db *db, const struct agent_row *r)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	int		 rc = -1;

	if (sqlite3_prepare_v2(h, "INSERT OR REPLACE INTO agents VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->secret, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->claude_session, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, r->last_event, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, r->last_event_ms);
		sqlite3_bind_text(st, 6, r->last_prompt, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, r->last_prompt_ms);
		sqlite3_bind_text(st, 8, agent_state_name(r->hook.state), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 9, (int64_t)(r->hook.at * 1000.0));
		sqlite3_bind_text(st, 10, r->hook.reason, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 11, r->context_pct);
		sqlite3_bind_double(st, 12, r->cost_usd);
		sqlite3_bind_text(st, 13, r->model, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 14, r->resume_ms);
		sqlite3_bind_int64(st, 15, r->limit_reset_ms);
		sqlite3_bind_double(st, 16, r->cost_before_usd);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = 0;
		sqlite3_finalize(st);
	}
	db_note_write(db, rc == 0);
	db_unlock(db);
	return rc;
}

/* The id of the newest recorded event (0 for none) into *id; -1 with err. */
int
history_events_last_id(struct db *db, int64_t *id, char *err, size_t len)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st = NULL;
	int		 rc = 0;

	if (sqlite3_prepare_v2(h, "SELECT coalesce(max(id), 0) FROM events",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, len, "cannot read the event log: %s",
		    sqlite3_errmsg(h));
		rc = -1;
	} else
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	db_unlock(db);
	return rc;
}

/* Records one event; its id, or -1 when it could not be recorded. */
int64_t
history_event_add(struct db *db, int64_t at_ms, const char *type,
    const char *data)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	int64_t		 id = -1;

	if (sqlite3_prepare_v2(h, "INSERT INTO events (at_ms, type, data) "
	    "VALUES (?, ?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, at_ms);
		sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, data, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(h);
		sqlite3_finalize(st);
	}
	db_note_write(db, id > 0);
	db_unlock(db);
	return id > 0 ? id : -1;
}

/* Calls fn for each event after last, oldest first, at most limit. */
void
history_events_after(struct db *db, int64_t last, int limit,
    void (*fn)(int64_t, const char *, const char *, void *), void *arg)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;

	if (sqlite3_prepare_v2(h, "SELECT id, type, data FROM events WHERE "
	    "id > ? ORDER BY id LIMIT ?", -1, &st, NULL) != SQLITE_OK) {
		history_fail(h, "replaying events");
		db_unlock(db);
		return;
	}
	sqlite3_bind_int64(st, 1, last);
	sqlite3_bind_int(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW)
		fn(sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2), arg);
	sqlite3_finalize(st);
	db_unlock(db);
}
