-- 006-agent-spend.sql: what the earlier agents of a stream cost (each
-- new window's status line counts from zero), so that a stream's spend,
-- and its limit (maxCostUsd), count every agent it ever had.
ALTER TABLE agents ADD COLUMN cost_before_usd REAL NOT NULL DEFAULT 0;
