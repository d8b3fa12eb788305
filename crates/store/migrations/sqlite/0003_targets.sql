-- Endpoints that deliveries go to. Claims go target by target, so that one endpoint with a huge
-- backlog costs one index probe rather than a scan; `blocked_until` holds an unreachable
-- endpoint back without touching its (possibly millions of) deliveries.
CREATE TABLE targets (
    url           TEXT PRIMARY KEY,
    blocked_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT OR IGNORE INTO targets (url) SELECT DISTINCT target_url FROM deliveries;

-- Kept inside SQLite so that accepting an event costs no extra statement.
CREATE TRIGGER deliveries_target AFTER INSERT ON deliveries
BEGIN
    INSERT OR IGNORE INTO targets (url) VALUES (NEW.target_url);
END;
