-- 001-samples.sql: progress samples, one row each time a stream's task
-- counts change (never one per poll), so a month of 5-second polls stays
-- small.  Times are wall-clock milliseconds since the epoch.
CREATE TABLE samples (
	stream_id	TEXT NOT NULL,
	at_ms		INTEGER NOT NULL,
	total		INTEGER NOT NULL,
	completed	INTEGER NOT NULL,
	in_progress	INTEGER NOT NULL,
	blocked		INTEGER NOT NULL,
	pending		INTEGER NOT NULL,
	PRIMARY KEY (stream_id, at_ms)
) WITHOUT ROWID;
