-- 004-agents.sql: what each agent window said of itself through Claude
-- Code's hooks, so that a restarted taskgate keeps the secret its windows
-- post with and the last word of each agent: its Claude session, its last
-- event and prompt, the state that event gave (agent.c), and what its
-- status line said of its context, cost and model (-1: never said).
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
	reason		TEXT NOT NULL DEFAULT '',
	context_pct	REAL NOT NULL DEFAULT -1,	-- its status line's word
	cost_usd	REAL NOT NULL DEFAULT -1,
	model		TEXT NOT NULL DEFAULT '',
	resume_ms	INTEGER NOT NULL DEFAULT 0,	-- parked by a usage
							-- limit until then
	limit_reset_ms	INTEGER NOT NULL DEFAULT 0	-- its status line's
							-- word on the reset
) WITHOUT ROWID;
