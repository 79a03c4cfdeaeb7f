-- 004-agents.sql: what each agent window said of itself through Claude
-- Code's hooks, so that a restarted taskgate keeps the secret its windows
-- post with and the last word of each agent: its Claude session, its last
-- event and prompt, and the state that event gave (agent.c).
CREATE TABLE agents (
	stream_id	TEXT PRIMARY KEY,
	secret		TEXT NOT NULL,		-- the window's hook secret, hex
	claude_session	TEXT NOT NULL DEFAULT '',
	last_event	TEXT NOT NULL DEFAULT '',
	last_event_ms	INTEGER NOT NULL DEFAULT 0,
	last_prompt	TEXT NOT NULL DEFAULT '',
	last_prompt_ms	INTEGER NOT NULL DEFAULT 0,
	state		TEXT NOT NULL DEFAULT 'unknown',	-- the hooks' word
	state_ms	INTEGER NOT NULL DEFAULT 0,
	reason		TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
