/*
 * db.c: the history database.  It opens (or creates) the SQLite file in
 * WAL mode with a busy timeout, refuses a file that is not taskgate's or
 * that a newer taskgate wrote, and applies the numbered migrations of sql/
 * above PRAGMA user_version, each in one transaction with its version
 * bump.  What the tables mean belongs to the modules that use them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "taskgate.h"

#define DB_APPLICATION_ID	0x74676174	/* "tgat" */

extern const char *const db_migrations[];

struct db {
	sqlite3		*h;
	pthread_mutex_t	 lock;	/* one logical operation at a time */
	bool		 failing;	/* the last write failed */
	char		 error[256];	/* and why */
};

static int
db_int(sqlite3 *h, const char *sql, long long *out)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int
db_migrate(sqlite3 *h, const char *path, char *err, size_t errlen)
{
	long long	 version, app, tables;
	int		 known = 0, v;
	char		*msg = NULL, *sql;

	while (db_migrations[known] != NULL)
		known++;
	if (db_int(h, "PRAGMA user_version", &version) == -1 ||
	    db_int(h, "PRAGMA application_id", &app) == -1 ||
	    db_int(h, "SELECT count(*) FROM sqlite_master", &tables) == -1) {
		snprintf(err, errlen, "%s is not a database taskgate can "
		    "read: %s", path, sqlite3_errmsg(h));
		return -1;
	}
	if ((version > 0 || tables > 0) && app != DB_APPLICATION_ID) {
		snprintf(err, errlen, "%s is not a taskgate database; give "
		    "--db another path", path);
		return -1;
	}
	if (version > known) {
		snprintf(err, errlen, "%s was written by a newer taskgate "
		    "(schema %lld; this one knows up to %d)", path, version,
		    known);
		return -1;
	}
	for (v = (int)version + 1; v <= known; v++) {
		xasprintf(&sql, "BEGIN IMMEDIATE; %s\nPRAGMA user_version = %d;"
		    " PRAGMA application_id = %d; COMMIT;",
		    db_migrations[v - 1], v, DB_APPLICATION_ID);
		if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "%s: migration %d failed: %s",
			    path, v, msg != NULL ? msg : "unknown error");
			sqlite3_free(msg);
			sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
			free(sql);
			return -1;
		}
		free(sql);
	}
	return 0;
}

/* Opens the database at path, creating it; NULL with one line in err. */
struct db *
db_open(const char *path, char *err, size_t errlen)
{
	struct db	*db;
	sqlite3		*h = NULL;
	char		*mode = NULL;
	sqlite3_stmt	*st;

	if (files_mkdirs_for(path, err, errlen) == -1)
		return NULL;
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		    h != NULL ? sqlite3_errmsg(h) : "out of memory");
		goto fail;
	}
	if (sqlite3_db_readonly(h, "main") == 1) {
		snprintf(err, errlen, "cannot write database %s: it is "
		    "read-only", path);
		goto fail;
	}
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_prepare_v2(h, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			mode = xstrdup((const char *)sqlite3_column_text(st,
			    0));
		sqlite3_finalize(st);
	}
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		snprintf(err, errlen, "cannot use database %s: %s", path,
		    mode == NULL ? sqlite3_errmsg(h) :
		    "it cannot be switched to WAL mode");
		free(mode);
		goto fail;
	}
	free(mode);
	sqlite3_exec(h, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (db_migrate(h, path, err, errlen) == -1)
		goto fail;
	db = xcalloc(1, sizeof *db);
	db->h = h;
	pthread_mutex_init(&db->lock, NULL);
	return db;
fail:
	sqlite3_close(h);
	return NULL;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

/*
 * The handle, for the modules that own tables (history.c, events.c).
 * They hold db_lock() around each logical operation, so that one thread's
 * transaction never takes in another thread's statements.
 */
sqlite3 *
db_lock(struct db *db)
{
	pthread_mutex_lock(&db->lock);
	return db->h;
}

void
db_unlock(struct db *db)
{
	pthread_mutex_unlock(&db->lock);
}

/*
 * The outcome of a write, noted by the modules that write (lock held):
 * /health shows whether the history can be written right now.
 */
void
db_note_write(struct db *db, bool ok)
{
	if (ok) {
		if (db->failing)
			log_info("history: writing works again");
		db->failing = false;
		return;
	}
	if (!db->failing)
		log_warnx("history: cannot write %s; keeping what is to be "
		    "written in memory until it can", sqlite3_errmsg(db->h));
	db->failing = true;
	snprintf(db->error, sizeof db->error, "%s", sqlite3_errmsg(db->h));
}

/* Whether the last write worked; err gets why not. */
bool
db_writable(struct db *db, char *err, size_t errlen)
{
	bool	ok;

	pthread_mutex_lock(&db->lock);
	ok = !db->failing;
	snprintf(err, errlen, "%s", ok ? "" : db->error);
	pthread_mutex_unlock(&db->lock);
	return ok;
}
