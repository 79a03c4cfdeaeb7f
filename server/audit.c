/*
 * audit.c: the audit log.  Every action taskgate takes or refuses on a
 * stream (start, stop, recover, run) is one row: who asked (the token's
 * owner, or "auto"), what, on which stream, when, the outcome, the HTTP
 * status answered and the evidence as JSON.  Rows are only ever added.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "taskgate.h"

/* Adds a row; evidence is borrowed (NULL: {}).  Returns its id or -1. */
int64_t
audit_add(struct db *db, const char *actor, const char *action,
    const char *stream, const char *result, unsigned int status,
    json_t *evidence)
{
	sqlite3		*h;
	sqlite3_stmt	*st;
	char		*text = evidence != NULL ?
			    json_dumps(evidence, JSON_COMPACT) : xstrdup("{}");
	int64_t		 id = -1;

	h = db_lock(db);
	if (sqlite3_prepare_v2(h, "INSERT INTO audit (at_ms, actor, action, "
	    "stream_id, result, status, evidence) VALUES (?, ?, ?, ?, ?, ?, ?)",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)(clock_wall() * 1000.0));
		sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
		if (stream != NULL)
			sqlite3_bind_text(st, 4, stream, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, result, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, (int)status);
		sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(h);
		sqlite3_finalize(st);
	}
	if (id == -1)
		log_warnx("audit: cannot record %s of %s: %s", action,
		    stream != NULL ? stream : "the plan", sqlite3_errmsg(h));
	db_note_write(db, id != -1);
	db_unlock(db);
	free(text);
	return id;
}

/* The newest rows (at most limit; of one stream when stream is set). */
json_t *
audit_list(struct db *db, const char *stream, long limit)
{
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
