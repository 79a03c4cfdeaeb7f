-- 003-sessions-audit.sql: the agent sessions taskgate started (so that a
-- restarted taskgate adopts its windows and keeps counting recovery
-- attempts), and the audit log of every action: who (the token's owner
-- or "auto"), what, on which stream, when, with what evidence.
CREATE TABLE sessions (
	stream_id	TEXT PRIMARY KEY,
	window_id	TEXT NOT NULL,		-- tmux @N, '' when none
	pane_id		TEXT NOT NULL,		-- tmux %N, '' when none
	started_ms	INTEGER NOT NULL,
	attempts	INTEGER NOT NULL DEFAULT 0,	-- recoveries since progress
	next_ms		INTEGER NOT NULL DEFAULT 0	-- no recovery before
) WITHOUT ROWID;

CREATE TABLE audit (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms		INTEGER NOT NULL,
	actor		TEXT NOT NULL,
	action		TEXT NOT NULL,	-- start, stop, recover, run
	stream_id	TEXT,
	result		TEXT NOT NULL,	-- done, refused, failed, dry-run
	status		INTEGER NOT NULL,	-- the HTTP status answered
	evidence	TEXT NOT NULL DEFAULT '{}'	-- JSON
);
CREATE INDEX audit_stream ON audit (stream_id, id);
