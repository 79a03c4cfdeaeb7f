/*
 * people.c: the people who share this taskgate, in the history database
 * (sql/005-people.sql): each one's name, role and Unix login, and the
 * SHA-256 of their sign-in token; and the browsers signed in as them.
 * A token or a cookie is never stored, only its hash (nettle's SHA-256):
 * a copy of the database opens nothing.  A token is looked up by its
 * hash, so the time a lookup takes says nothing of the token; the stored
 * hash is then compared in constant time all the same.  Removing a person
 * deletes their sign-ins with them.  The `taskgate user` verbs
 * (cmd-user.c) and the daemon's checks (http.c) both go through here.
 */
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>
#include <sqlite3.h>

#include "taskgate.h"

/* The SHA-256 of text, in hex, into out (65 bytes). */
void
people_hash(const char *text, char out[PEOPLE_HASH_HEX + 1])
{
	static const char	 hex[] = "0123456789abcdef";
	struct sha256_ctx	 ctx;
	uint8_t			 digest[SHA256_DIGEST_SIZE];
	size_t			 i;

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(text), (const uint8_t *)text);
	sha256_digest(&ctx, sizeof digest, digest);
	for (i = 0; i < sizeof digest; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[PEOPLE_HASH_HEX] = '\0';
	explicit_bzero(&ctx, sizeof ctx);
}

/*
 * A fresh sign-in token, into token, and its hash, into hash: what is
 * stored.  -1 with err when no random bytes can be had.
 */
static int
people_fresh_token(char token[TASKGATE_TOKEN_HEX + 1],
    char hash[PEOPLE_HASH_HEX + 1], char *err, size_t errlen)
{
	if (auth_random_hex(token, TASKGATE_TOKEN_HEX + 1) == -1) {
		snprintf(err, errlen, "cannot get random bytes");
		return -1;
	}
	people_hash(token, hash);
	return 0;
}

/* Runs sql with text arguments (NULL: none); its changes, or -1. */
static int
people_exec(sqlite3 *h, const char *sql, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	const char	*args[] = { a1, a2, a3, a4 };
	sqlite3_stmt	*st;
	int		 rc, i;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	for (i = 0; i < 4; i++)
		if (args[i] != NULL)
			sqlite3_bind_text(st, i + 1, args[i], -1,
			    SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)(clock_wall() * 1000.0));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? sqlite3_changes(h) : -1;
}

/*
 * Adds name with role (and the Unix login that names them, or NULL) and a
 * fresh token, into token (65 bytes).  -1 with one line in err.
 */
int
people_add(struct db *db, const char *name, enum role role,
    const char *unix_user, char token[TASKGATE_TOKEN_HEX + 1], char *err,
    size_t errlen)
{
	char	 hash[PEOPLE_HASH_HEX + 1];
	sqlite3	*h;
	int	 rc;

	if (people_fresh_token(token, hash, err, errlen) == -1)
		return -1;
	h = db_lock(db);
	rc = people_exec(h, "INSERT INTO people (name, role, token_sha256, "
	    "unix_user, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)", name,
	    role_name(role), hash, unix_user != NULL ? unix_user : "");
	if (rc == -1 &&
	    sqlite3_extended_errcode(h) == SQLITE_CONSTRAINT_PRIMARYKEY)
		snprintf(err, errlen, "there is already a person named %s",
		    name);
	else if (rc == -1 &&
	    sqlite3_extended_errcode(h) == SQLITE_CONSTRAINT_UNIQUE)
		snprintf(err, errlen, "the Unix user %s already names another "
		    "person (taskgate user list shows who)", unix_user != NULL ?
		    unix_user : "");
	else {
		if (rc == -1)
			snprintf(err, errlen, "cannot add %s: %s", name,
			    sqlite3_errmsg(h));
		db_note_write(db, rc != -1);
	}
	db_unlock(db);
	if (rc == -1)
		explicit_bzero(token, TASKGATE_TOKEN_HEX + 1);
	return rc == -1 ? -1 : 0;
}

/* Removes name and their sign-ins; 0, or -1 with one line in err. */
int
people_remove(struct db *db, const char *name, char *err, size_t errlen)
{
	sqlite3	*h = db_lock(db);
	int	 rc;

	rc = people_exec(h, "DELETE FROM people WHERE name = ?1", name, NULL,
	    NULL, NULL);
	if (rc == 0)
		snprintf(err, errlen, "there is no person named %s", name);
	else if (rc == -1 || people_exec(h, "DELETE FROM signins WHERE "
	    "name = ?1", name, NULL, NULL, NULL) == -1) {
		snprintf(err, errlen, "cannot remove %s: %s", name,
		    sqlite3_errmsg(h));
		rc = -1;
	}
	db_note_write(db, rc != -1);
	db_unlock(db);
	return rc > 0 ? 0 : -1;
}

/*
 * Gives name a fresh token, into token; the old one opens nothing from
 * now on (the browsers signed in with it stay signed in).  -1 with err.
 */
int
people_new_token(struct db *db, const char *name,
    char token[TASKGATE_TOKEN_HEX + 1], char *err, size_t errlen)
{
	char	 hash[PEOPLE_HASH_HEX + 1];
	sqlite3	*h;
	int	 rc;

	if (people_fresh_token(token, hash, err, errlen) == -1)
		return -1;
	h = db_lock(db);
	rc = people_exec(h, "UPDATE people SET token_sha256 = ?2 WHERE "
	    "name = ?1", name, hash, NULL, NULL);
	if (rc == 0)
		snprintf(err, errlen, "there is no person named %s", name);
	else if (rc == -1)
		snprintf(err, errlen, "cannot change %s's token: %s", name,
		    sqlite3_errmsg(h));
	db_note_write(db, rc != -1);
	db_unlock(db);
	if (rc <= 0)
		explicit_bzero(token, TASKGATE_TOKEN_HEX + 1);
	return rc > 0 ? 0 : -1;
}

/* Every person, by name: [{name, role, unixUser, createdAt}]; NULL on error. */
json_t *
people_list(struct db *db)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	json_t		*out = json_array();

	if (sqlite3_prepare_v2(h, "SELECT name, role, unix_user, created_ms "
	    "FROM people ORDER BY name", -1, &st, NULL) != SQLITE_OK) {
		log_warnx("people: cannot read: %s", sqlite3_errmsg(h));
		db_unlock(db);
		json_decref(out);
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		char at[32];

		clock_iso8601((double)sqlite3_column_int64(st, 3) / 1000.0, at,
		    sizeof at);
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}",
		    "name", sqlite3_column_text(st, 0), "role",
		    sqlite3_column_text(st, 1), "unixUser",
		    sqlite3_column_text(st, 2), "createdAt", at));
	}
	sqlite3_finalize(st);
	db_unlock(db);
	return out;
}

/*
 * Fills p from the one row sql finds with arg; the row's column 3, when
 * there is one, must equal want (a hash) in constant time.
 */
static bool
people_find(struct db *db, const char *sql, const char *arg,
    const char *want, struct person *p)
{
	sqlite3		*h = db_lock(db);
	sqlite3_stmt	*st;
	bool		 found = false;

	memset(p, 0, sizeof *p);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("people: cannot read: %s", sqlite3_errmsg(h));
		db_unlock(db);
		return false;
	}
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *role = (const char *)sqlite3_column_text(st, 1);
		const char *login = (const char *)sqlite3_column_text(st, 2);
		const char *hash = (const char *)sqlite3_column_text(st, 3);

		if (valid_person_name(name) && role_parse(role) != ROLE_NONE &&
		    (want == NULL || (hash != NULL &&
		    equal_const_time(hash, want)))) {
			snprintf(p->name, sizeof p->name, "%s", name);
			snprintf(p->unix_user, sizeof p->unix_user, "%s",
			    login != NULL ? login : "");
			p->role = role_parse(role);
			found = true;
		}
	}
	sqlite3_finalize(st);
	db_unlock(db);
	return found;
}

/* The person whose sign-in token is token (64 hex digits). */
bool
people_by_token(struct db *db, const char *token, struct person *p)
{
	char	hash[PEOPLE_HASH_HEX + 1];

	if (!valid_token_hex(token))
		return false;
	people_hash(token, hash);
	return people_find(db, "SELECT name, role, unix_user, token_sha256 "
	    "FROM people WHERE token_sha256 = ?1", hash, hash, p);
}

/* The person the Unix login names (user add --unix-user). */
bool
people_by_unix_user(struct db *db, const char *login, struct person *p)
{
	if (!valid_person_name(login))
		return false;
	return people_find(db, "SELECT name, role, unix_user, NULL FROM people "
	    "WHERE unix_user = ?1 ORDER BY name LIMIT 1", login, NULL, p);
}

/* The person a browser's cookie (64 hex digits) signed in as. */
bool
people_by_cookie(struct db *db, const char *cookie, struct person *p)
{
	char	hash[PEOPLE_HASH_HEX + 1];

	if (!valid_token_hex(cookie))
		return false;
	people_hash(cookie, hash);
	return people_find(db, "SELECT p.name, p.role, p.unix_user, "
	    "s.cookie_sha256 FROM signins s JOIN people p ON p.name = s.name "
	    "WHERE s.cookie_sha256 = ?1", hash, hash, p);
}

/* Whether name is still a person. */
bool
people_exists(struct db *db, const char *name)
{
	struct person	p;

	return people_find(db, "SELECT name, role, unix_user, NULL FROM people "
	    "WHERE name = ?1", name, NULL, &p);
}

/*
 * Whether a stream of name's may no longer be open (for
 * events_end_gone(); db is the struct db): name is no longer a person,
 * or token_sha256 (not "") is no longer their token's hash.
 */
bool
people_gone(void *db, const char *name, const char *token_sha256)
{
	struct person	p;

	if (token_sha256 == NULL || token_sha256[0] == '\0')
		return !people_exists(db, name);
	return !people_find(db, "SELECT name, role, unix_user, token_sha256 "
	    "FROM people WHERE name = ?1", name, token_sha256, &p);
}

/*
 * Signs a browser in as name: a fresh cookie value into cookie (65
 * bytes), of which only the hash is kept.  -1 when it cannot be written.
 */
int
people_sign_in(struct db *db, const char *name,
    char cookie[TASKGATE_TOKEN_HEX + 1])
{
	char	 hash[PEOPLE_HASH_HEX + 1];
	sqlite3	*h;
	int	 rc;

	if (auth_random_hex(cookie, TASKGATE_TOKEN_HEX + 1) == -1)
		return -1;
	people_hash(cookie, hash);
	h = db_lock(db);
	rc = people_exec(h, "INSERT INTO signins (cookie_sha256, name, "
	    "created_ms) VALUES (?1, ?2, ?5)", hash, name, NULL, NULL);
	if (rc == -1)
		log_warnx("people: cannot sign %s in: %s", name,
		    sqlite3_errmsg(h));
	db_note_write(db, rc != -1);
	db_unlock(db);
	return rc == -1 ? -1 : 0;
}

/* Ends the sign-in whose cookie is cookie, if there is one. */
void
people_sign_out(struct db *db, const char *cookie)
{
	char	 hash[PEOPLE_HASH_HEX + 1];
	sqlite3	*h;

	if (!valid_token_hex(cookie))
		return;
	people_hash(cookie, hash);
	h = db_lock(db);
	if (people_exec(h, "DELETE FROM signins WHERE cookie_sha256 = ?1",
	    hash, NULL, NULL, NULL) == -1)
		log_warnx("people: cannot sign out: %s", sqlite3_errmsg(h));
	db_unlock(db);
}
