-- 005-people.sql: the people who share this taskgate (people.c).  Each
-- has a role (viewer, operator, admin), the SHA-256 of their sign-in
-- token (the token itself is never stored), and optionally the Unix login
-- that names them on the unix socket.  A sign-in is one browser's
-- session: the SHA-256 of its cookie and whose it is; signing out or
-- removing the person deletes it.
CREATE TABLE people (
	name		TEXT PRIMARY KEY,
	role		TEXT NOT NULL,		-- viewer, operator, admin
	token_sha256	TEXT NOT NULL,		-- hex
	unix_user	TEXT NOT NULL DEFAULT '',	-- '' when none
	created_ms	INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX people_token ON people (token_sha256);
-- A Unix login names one person at most.
CREATE UNIQUE INDEX people_unix_user ON people (unix_user)
	WHERE unix_user <> '';

CREATE TABLE signins (
	cookie_sha256	TEXT PRIMARY KEY,	-- hex
	name		TEXT NOT NULL,		-- people.name
	created_ms	INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX signins_name ON signins (name);
