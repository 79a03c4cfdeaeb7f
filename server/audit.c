/*
 * audit.c: the audit log.  Every action taskgate takes or refuses on a
 * stream (start, stop, recover, run) is one row: who asked (the token's
 * owner, or "auto"), what, on which stream, when, the outcome, the HTTP
 * status answered and the evidence as JSON.  Rows are only ever added.
 * A row that cannot be written (the disk is full, the file turned
 * read-only) waits in memory, in order, with its own time, and is
 * written when writing works again (audit_retry, each poll): no action
 * goes unrecorded.  It owns that queue, and each stream's last action
 * done (what, by whom, when: "stopped by alice, 3 min ago" in the
 * overview), kept in memory from the rows so that the overview costs no
 * query.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "taskgate.h"

#define AUDIT_PENDING_MAX	100000	/* rows kept while none can be written */

struct audit_row {
	struct fifo_link	 link;		/* first */
	int64_t			 at_ms;
	char			*actor, *action, *stream, *result;
	unsigned int		 status;
	char			*evidence;	/* JSON text */
};

struct audit {
	struct db		*db;
	pthread_mutex_t		 lock;		/* guards what follows */
	struct fifo		 pending;	/* of audit_row */
	json_t			*last;		/* stream id -> its last action */
};

static void	audit_load_last(struct audit *);

static void	audit_flush(struct audit *);

struct audit *
audit_new(struct db *db)
{
	struct audit	*a = xcalloc(1, sizeof *a);

	a->db = db;
	fifo_init(&a->pending, AUDIT_PENDING_MAX);
	pthread_mutex_init(&a->lock, NULL);
	a->last = json_object();
	audit_load_last(a);
	return a;
}

static void
audit_row_free(struct audit_row *row)
{
	free(row->actor);
	free(row->action);
	free(row->stream);
	free(row->result);
	free(row->evidence);
	free(row);
}

void
audit_free(struct audit *a)
{
	struct fifo_link	*row;

	if (a == NULL)
		return;
	audit_flush(a);	/* a last try */
	if (a->pending.n > 0)
		log_warnx("audit: %zu rows could not be recorded before the "
		    "end", a->pending.n);
	while ((row = fifo_pop(&a->pending)) != NULL)
		audit_row_free((struct audit_row *)row);
	pthread_mutex_destroy(&a->lock);
	json_decref(a->last);
	free(a);
}

/* Notes row as its stream's last action when it was done; lock held. */
static void
audit_note_last(struct audit *a, const char *stream, const char *action,
    const char *actor, int64_t at_ms)
{
	char	at[32];

	if (stream == NULL)
		return;
	clock_iso8601((double)at_ms / 1000.0, at, sizeof at);
	json_object_set_new(a->last, stream, json_pack("{s:s,s:s,s:s}",
	    "action", action, "actor", actor, "at", at));
}

/* Reads each stream's last action done from the rows written before. */
static void
audit_load_last(struct audit *a)
{
	sqlite3		*h = db_lock(a->db);
	sqlite3_stmt	*st;

	if (sqlite3_prepare_v2(h, "SELECT stream_id, action, actor, at_ms "
	    "FROM audit WHERE id IN (SELECT MAX(id) FROM audit WHERE "
	    "stream_id IS NOT NULL AND result = 'done' GROUP BY stream_id)",
	    -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *sid = (const char *)sqlite3_column_text(st,
			    0);

			if (sid != NULL && valid_stream_id(sid))
				audit_note_last(a, sid, (const char *)
				    sqlite3_column_text(st, 1), (const char *)
				    sqlite3_column_text(st, 2),
				    sqlite3_column_int64(st, 3));
		}
		sqlite3_finalize(st);
	} else
		log_warnx("audit: cannot read the last actions: %s",
		    sqlite3_errmsg(h));
	db_unlock(a->db);
}

/* The last action done on stream: {action, actor, at} (new), or null. */
json_t *
audit_last_action(struct audit *a, const char *stream)
{
	json_t	*o;

	pthread_mutex_lock(&a->lock);
	o = json_object_get(a->last, stream);
	o = o != NULL ? json_deep_copy(o) : json_null();
	pthread_mutex_unlock(&a->lock);
	return o;
}

/* Writes one row; its id, or -1 (logged) when it cannot. */
static int64_t
audit_write(struct db *db, const struct audit_row *row)
{
	sqlite3		*h;
	sqlite3_stmt	*st;
	int64_t		 id = -1;

	h = db_lock(db);
	if (sqlite3_prepare_v2(h, "INSERT INTO audit (at_ms, actor, action, "
	    "stream_id, result, status, evidence) VALUES (?, ?, ?, ?, ?, ?, ?)",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, row->at_ms);
		sqlite3_bind_text(st, 2, row->actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, row->action, -1, SQLITE_STATIC);
		if (row->stream != NULL)
			sqlite3_bind_text(st, 4, row->stream, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, row->result, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, (int)row->status);
		sqlite3_bind_text(st, 7, row->evidence, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(h);
		sqlite3_finalize(st);
	}
	if (id == -1)
		log_warnx("audit: cannot record %s of %s yet: %s", row->action,
		    row->stream != NULL ? row->stream : "the plan",
		    sqlite3_errmsg(h));
	db_note_write(db, id != -1);
	db_unlock(db);
	return id;
}

/* Writes the waiting rows in order, up to the first that fails; lock held. */
static void
audit_flush(struct audit *a)
{
	struct audit_row	*row;

	while ((row = (struct audit_row *)a->pending.head) != NULL &&
	    audit_write(a->db, row) != -1)
		audit_row_free((struct audit_row *)fifo_pop(&a->pending));
}

/*
 * Adds a row, now; evidence is borrowed (NULL: {}).  It is written at once
 * if it can be, else later, in order.
 */
void
audit_add(struct audit *a, const char *actor, const char *action,
    const char *stream, const char *result, unsigned int status,
    json_t *evidence)
{
	struct audit_row	*row = xcalloc(1, sizeof *row);
	struct fifo_link	*old;

	row->at_ms = (int64_t)(clock_wall() * 1000.0);
	row->actor = xstrdup(actor);
	row->action = xstrdup(action);
	row->stream = stream != NULL ? xstrdup(stream) : NULL;
	row->result = xstrdup(result);
	row->status = status;
	row->evidence = evidence != NULL ? json_dumps(evidence, JSON_COMPACT) :
	    xstrdup("{}");
	if (row->evidence == NULL)
		row->evidence = xstrdup("{}");
	pthread_mutex_lock(&a->lock);
	if (strcmp(result, "done") == 0)
		audit_note_last(a, stream, action, actor, row->at_ms);
	if ((old = fifo_push(&a->pending, &row->link)) != NULL) {
		log_warnx("audit: %d rows wait to be recorded; dropping the "
		    "oldest", AUDIT_PENDING_MAX);
		audit_row_free((struct audit_row *)old);
	}
	audit_flush(a);
	pthread_mutex_unlock(&a->lock);
}

/* Tries again to write what waits (called each poll). */
void
audit_retry(struct audit *a)
{
	pthread_mutex_lock(&a->lock);
	if (a->pending.head != NULL)
		audit_flush(a);
	pthread_mutex_unlock(&a->lock);
}

size_t
audit_pending(struct audit *a)
{
	size_t	n;

	pthread_mutex_lock(&a->lock);
	n = a->pending.n;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/*
 * The newest rows written (at most limit; of one stream when stream is
 * set).  Rows still waiting to be written are not among them yet.
 */
json_t *
audit_list(struct audit *a, const char *stream, long limit)
{
	struct db	*db = a->db;
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	json_t		*out = json_array();

	if (sqlite3_prepare_v2(h, "SELECT id, at_ms, actor, action, "
	    "stream_id, result, status, evidence FROM audit WHERE ?1 IS NULL "
	    "OR stream_id = ?1 ORDER BY id DESC LIMIT ?2", -1, &st, NULL) !=
	    SQLITE_OK) {
		log_warnx("audit: cannot read: %s", sqlite3_errmsg(h));
		db_unlock(db);
		json_decref(out);
		return NULL;
	}
	if (stream != NULL)
		sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char		 at[32];
		const char	*sid = (const char *)sqlite3_column_text(st, 4);
		json_t		*ev = json_loads((const char *)
				    sqlite3_column_text(st, 7), 0, NULL);

		clock_iso8601((double)sqlite3_column_int64(st, 1) / 1000.0, at,
		    sizeof at);
		json_array_append_new(out, json_pack("{s:I,s:s,s:s,s:s,s:s?,"
		    "s:s,s:i,s:o}", "id", (json_int_t)sqlite3_column_int64(st,
		    0), "at", at, "actor", sqlite3_column_text(st, 2), "action",
		    sqlite3_column_text(st, 3), "streamId", sid, "result",
		    sqlite3_column_text(st, 5), "status",
		    sqlite3_column_int(st, 6), "evidence", ev != NULL ? ev :
		    json_object()));
	}
	sqlite3_finalize(st);
	db_unlock(db);
	return out;
}
