-- 002-streams-events.sql: what taskgate knows of each stream between
-- polls (its last counts, since when they have not changed, its health
-- state with the evidence), and the event log that feeds the event
-- stream and its replay (Last-Event-ID), also across restarts.
CREATE TABLE stream_state (
	stream_id	TEXT PRIMARY KEY,
	total		INTEGER NOT NULL,
	completed	INTEGER NOT NULL,
	in_progress	INTEGER NOT NULL,
	blocked		INTEGER NOT NULL,
	pending		INTEGER NOT NULL,
	last_change_ms	INTEGER NOT NULL,	-- when the counts last changed
	unchanged_s	REAL NOT NULL DEFAULT 0, -- seconds seen unchanged, upstream up
	state		TEXT NOT NULL DEFAULT 'ok',
	state_since_ms	INTEGER NOT NULL,
	evidence	TEXT NOT NULL DEFAULT '{}'	-- JSON
) WITHOUT ROWID;

-- AUTOINCREMENT: an id is never reused, so a client's Last-Event-ID
-- always means the same event.
CREATE TABLE events (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms		INTEGER NOT NULL,
	type		TEXT NOT NULL,
	data		TEXT NOT NULL	-- JSON
);
