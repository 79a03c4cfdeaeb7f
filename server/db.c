/*
 * db.c: the history database.  It opens (or creates) the SQLite file in
 * WAL mode with a busy timeout, refuses a file that is not taskgate's or
 * that a newer taskgate wrote, and applies the numbered migrations of sql/
 * above PRAGMA user_version, each in one transaction with its version
 * bump.  What the tables mean belongs to the modules that use them.
 *
 * The file under a running taskgate.  SQLite goes on writing to a file
 * that was deleted (or moved away) as if nothing happened, so db_watch(),
 * called on each poll, compares the file at the path with the one opened
 * (device and inode).  The first time they differ it logs one line and
 * /health says the history is not writable, until it is put right:
 *
 *  - deleted: the whole database this taskgate holds (every sample,
 *    state, event and audit row, the writes since the deletion too) is
 *    copied with SQLite's backup API into a new file beside the path,
 *    which is then linked into place and opened as at startup;
 *  - replaced by another file: that file is opened as at startup (it must
 *    be a taskgate database; its migrations are applied), as a restore
 *    of a backup would want.
 *
 * The -wal and -shm files at the path, when they are still the old
 * file's (the same inodes as last seen beside it), are removed before the
 * new file is opened, so that they are never taken for the new file's;
 * the old handle goes on with them unlinked, and is closed with
 * SQLITE_FCNTL_PERSIST_WAL so that closing removes nothing by name.
 * Until the new file is open the old handle stays in use, nothing is
 * lost, and each poll tries again.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "taskgate.h"

#define DB_APPLICATION_ID	0x74676174	/* "tgat" */

extern const char *const db_migrations[];

struct db {
	sqlite3		*h;
	pthread_mutex_t	 lock;	/* one logical operation at a time */
	bool		 failing;	/* the last write failed */
	char		 error[256];	/* and why */
	char		*path;
	dev_t		 dev;		/* the file opened at path */
	ino_t		 ino;
	bool		 lost;		/* path is no longer that file */
	char		 lost_error[384];	/* and why it is not back */
	struct stat	 wal, shm;	/* its -wal and -shm as last seen */
};

static const char *const db_sidecars[] = { "-wal", "-shm" };

static struct stat *db_sidecar_seen(struct db *, size_t);
static void	db_sidecars_note(struct db *);
static void	db_sidecars_remove(struct db *);

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

/*
 * Opens the database at path into *hp, creating it, and notes which file
 * it is in *sb; -1 with one line in err.
 */
static int
db_open_handle(const char *path, sqlite3 **hp, struct stat *sb, char *err,
    size_t errlen)
{
	sqlite3		*h = NULL;
	char		*mode = NULL;
	sqlite3_stmt	*st;

	if (files_mkdirs_for(path, err, errlen) == -1)
		return -1;
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
	if (stat(path, sb) == -1) {
		snprintf(err, errlen, "cannot use database %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	*hp = h;
	return 0;
fail:
	sqlite3_close(h);
	return -1;
}

/* Opens the database at path, creating it; NULL with one line in err. */
struct db *
db_open(const char *path, char *err, size_t errlen)
{
	struct db	*db;
	struct stat	 sb;
	sqlite3		*h;

	if (db_open_handle(path, &h, &sb, err, errlen) == -1)
		return NULL;
	db = xcalloc(1, sizeof *db);
	db->h = h;
	db->path = xstrdup(path);
	db->dev = sb.st_dev;
	db->ino = sb.st_ino;
	db_sidecars_note(db);
	pthread_mutex_init(&db->lock, NULL);
	return db;
}

/* The -wal (i 0) or -shm (i 1) beside db's path, as last seen. */
static struct stat *
db_sidecar_seen(struct db *db, size_t i)
{
	return i == 0 ? &db->wal : &db->shm;
}

/* Notes the -wal and -shm now beside the file that is db's (lock held). */
static void
db_sidecars_note(struct db *db)
{
	char	*p;
	size_t	 i;

	for (i = 0; i < 2; i++) {
		xasprintf(&p, "%s%s", db->path, db_sidecars[i]);
		if (stat(p, db_sidecar_seen(db, i)) == -1)
			memset(db_sidecar_seen(db, i), 0, sizeof(struct stat));
		free(p);
	}
}

/* Removes the -wal and -shm at db's path that are the old file's. */
static void
db_sidecars_remove(struct db *db)
{
	struct stat	 sb, *seen;
	char		*p;
	size_t		 i;

	for (i = 0; i < 2; i++) {
		seen = db_sidecar_seen(db, i);
		xasprintf(&p, "%s%s", db->path, db_sidecars[i]);
		if (seen->st_ino != 0 && stat(p, &sb) == 0 &&
		    sb.st_dev == seen->st_dev && sb.st_ino == seen->st_ino)
			unlink(p);
		free(p);
		memset(seen, 0, sizeof *seen);
	}
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db->path);
	free(db);
}

/*
 * Copies the whole database of db's handle into a new file at db->path
 * (lock held); -1 with one line in err, the path untouched.
 */
static int
db_rescue(struct db *db, char *err, size_t errlen)
{
	sqlite3		*to = NULL;
	sqlite3_backup	*b;
	char		*tmp;
	int		 fd, rc;

	if (files_mkdirs_for(db->path, err, errlen) == -1)
		return -1;
	xasprintf(&tmp, "%s.rescue-XXXXXX", db->path);
	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "cannot create a file beside %s: %s",
		    db->path, strerror(errno));
		free(tmp);
		return -1;
	}
	close(fd);
	if (sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open a file beside %s: %s",
		    db->path, to != NULL ? sqlite3_errmsg(to) :
		    "out of memory");
		goto fail;
	}
	if ((b = sqlite3_backup_init(to, "main", db->h, "main")) == NULL) {
		snprintf(err, errlen, "cannot copy the history beside %s: "
		    "%s", db->path, sqlite3_errmsg(to));
		goto fail;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot copy the history beside %s: "
		    "%s", db->path, sqlite3_errstr(rc));
		goto fail;
	}
	if (sqlite3_close(to) != SQLITE_OK) {
		to = NULL;
		snprintf(err, errlen, "cannot close the copy beside %s",
		    db->path);
		goto fail;
	}
	to = NULL;
	/* Into place, unless a file came there meanwhile (next poll's). */
	if (link(tmp, db->path) == -1) {
		snprintf(err, errlen, "cannot put the copy at %s: %s",
		    db->path, strerror(errno));
		goto fail;
	}
	unlink(tmp);
	free(tmp);
	return 0;
fail:
	sqlite3_close(to);
	unlink(tmp);
	free(tmp);
	return -1;
}

/*
 * Makes db use the file now at db->path, after a rescue or as found (lock
 * held); -1 with one line in err, db unchanged.
 */
static int
db_switch(struct db *db, char *err, size_t errlen)
{
	struct stat	 sb;
	sqlite3		*h;
	int		 persist = 1;

	if (db_open_handle(db->path, &h, &sb, err, errlen) == -1)
		return -1;
	sqlite3_file_control(db->h, "main", SQLITE_FCNTL_PERSIST_WAL,
	    &persist);
	sqlite3_close(db->h);
	db->h = h;
	db->dev = sb.st_dev;
	db->ino = sb.st_ino;
	return 0;
}

/*
 * Checks that the file at the path is still the one open (called on each
 * poll); when it is not, says so once and puts it right if it can.
 * Returns whether the history is in the file at the path.
 */
bool
db_watch(struct db *db)
{
	struct stat	 sb;
	char		 err[256];
	bool		 gone;
	int		 rc;

	pthread_mutex_lock(&db->lock);
	rc = stat(db->path, &sb);
	if (rc == 0 && sb.st_dev == db->dev && sb.st_ino == db->ino) {
		db_sidecars_note(db);
		pthread_mutex_unlock(&db->lock);
		return true;
	}
	gone = rc == -1 && errno == ENOENT;
	if (!db->lost)
		log_warnx("history: %s was %s while taskgate ran; %s", db->path,
		    gone ? "deleted" : "replaced", gone ? "writing what this "
		    "taskgate holds into a new file there" : "opening the file "
		    "now there");
	db->lost = true;
	rc = gone ? db_rescue(db, err, sizeof err) : 0;
	if (rc == 0) {
		db_sidecars_remove(db);
		rc = db_switch(db, err, sizeof err);
	}
	if (rc == -1) {
		if (strstr(db->lost_error, err) == NULL)
			log_warnx("history: %s; trying again at the next poll",
			    err);
		snprintf(db->lost_error, sizeof db->lost_error, "%s was %s "
		    "while taskgate ran: %s", db->path, gone ? "deleted" :
		    "replaced", err);
		pthread_mutex_unlock(&db->lock);
		return false;
	}
	db_sidecars_note(db);
	db->lost = false;
	db->lost_error[0] = '\0';
	log_info("history: %s is in use again%s", db->path, gone ?
	    ", with everything this taskgate held" : "");
	pthread_mutex_unlock(&db->lock);
	return true;
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

/* Whether the last write worked, to the file at the path; err: why not. */
bool
db_writable(struct db *db, char *err, size_t errlen)
{
	bool	ok;

	pthread_mutex_lock(&db->lock);
	ok = !db->failing && !db->lost;
	snprintf(err, errlen, "%s", db->lost ? db->lost_error : ok ? "" :
	    db->error);
	pthread_mutex_unlock(&db->lock);
	return ok;
}
