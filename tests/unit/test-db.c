/*
 * test-db.c: opening the history database: an empty file is migrated to
 * the current schema in WAL mode; a database of the previous schema is
 * migrated forward with its rows kept; a file that is not taskgate's, or
 * that a newer taskgate wrote, is refused with a clear error.
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

extern const char *const db_migrations[];

static char dir[] = "/tmp/tg-db-XXXXXX";

static int
make_dir(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static long long
query_int(const char *path, const char *sql)
{
	sqlite3		*h;
	sqlite3_stmt	*st;
	long long	 v = -1;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static bool
is_wal(const char *path)
{
	sqlite3		*h;
	sqlite3_stmt	*st;
	bool		 wal = false;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st,
	    NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		wal = strcmp((const char *)sqlite3_column_text(st, 0),
		    "wal") == 0;
	sqlite3_finalize(st);
	sqlite3_close(h);
	return wal;
}

static int
known_versions(void)
{
	int	n = 0;

	while (db_migrations[n] != NULL)
		n++;
	return n;
}

static void
test_empty_file_is_migrated(void **state)
{
	char		 path[128], err[256];
	struct db	*db;

	(void)state;
	snprintf(path, sizeof path, "%s/new/history.db", dir);
	db = db_open(path, err, sizeof err);
	assert_non_null(db);
	db_close(db);
	assert_int_equal(query_int(path, "PRAGMA user_version"),
	    known_versions());
	assert_int_equal(query_int(path, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'samples'"), 1);
	assert_true(is_wal(path));
	/* Opening again changes nothing. */
	db = db_open(path, err, sizeof err);
	assert_non_null(db);
	db_close(db);
}

static void
test_previous_version_is_migrated_forward(void **state)
{
	char		 path[128], err[256], *sql;
	sqlite3		*h;
	struct db	*db;
	int		 v, last = known_versions();

	(void)state;
	snprintf(path, sizeof path, "%s/old.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	for (v = 1; v < last; v++)
		assert_int_equal(sqlite3_exec(h, db_migrations[v - 1], NULL,
		    NULL, NULL), SQLITE_OK);
	xasprintf(&sql, "PRAGMA user_version = %d; PRAGMA application_id = "
	    "%d;", last - 1, 0x74676174);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	if (last > 1)
		assert_int_equal(sqlite3_exec(h, "INSERT INTO samples VALUES "
		    "('Stream-A', 1, 4, 4, 0, 0, 0)", NULL, NULL, NULL),
		    SQLITE_OK);
	sqlite3_close(h);
	db = db_open(path, err, sizeof err);
	assert_non_null(db);
	db_close(db);
	assert_int_equal(query_int(path, "PRAGMA user_version"), last);
	if (last > 1)
		assert_int_equal(query_int(path,
		    "SELECT count(*) FROM samples"), 1);
}

static void
test_foreign_and_newer_files_are_refused(void **state)
{
	char		 path[128], err[256];
	sqlite3		*h;
	FILE		*f;

	(void)state;
	snprintf(path, sizeof path, "%s/other.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE t (x)", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_null(db_open(path, err, sizeof err));
	assert_non_null(strstr(err, "not a taskgate database"));

	snprintf(path, sizeof path, "%s/newer.db", dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 999; "
	    "PRAGMA application_id = 1952932212", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	assert_null(db_open(path, err, sizeof err));
	assert_non_null(strstr(err, "newer taskgate"));

	snprintf(path, sizeof path, "%s/text.db", dir);
	f = fopen(path, "w");
	fputs("hello, this is a text file and not a database at all.\n", f);
	fclose(f);
	assert_null(db_open(path, err, sizeof err));
	assert_non_null(strstr(err, path));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_file_is_migrated),
		cmocka_unit_test(test_previous_version_is_migrated_forward),
		cmocka_unit_test(test_foreign_and_newer_files_are_refused),
	};

	return cmocka_run_group_tests(tests, make_dir, NULL);
}
