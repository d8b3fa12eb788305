-- Delivery policy per app, beyond Meta's: its own retry horizon, when a failing endpoint is
-- paused, and whether its deliveries go one at a time per key (ordered mode). A missing row or a
-- NULL column means the `[delivery]` default.
CREATE TABLE delivery_policies (
    app_id               TEXT PRIMARY KEY NOT NULL,
    horizon_secs         INTEGER,
    pause_after_failures INTEGER,
    pause_after_secs     INTEGER,
    ordered              TEXT,
    updated_at_ms        INTEGER NOT NULL
) WITHOUT ROWID;

-- How each (app, target URL) is doing: failed attempts in a row and since when, and whether it
-- is paused (since when, why). A paused target's deliveries are in state 'paused': kept, never
-- claimed, never expired, until it is resumed (or they are replayed).
CREATE TABLE target_health (
    app_id           TEXT NOT NULL,
    target_url       TEXT NOT NULL,
    failures         INTEGER NOT NULL DEFAULT 0,
    failing_since_ms INTEGER,
    last_error       TEXT,
    paused_at_ms     INTEGER,
    paused_reason    TEXT,
    PRIMARY KEY (app_id, target_url)
) WITHOUT ROWID;

-- Ordered mode: the key a delivery is ordered under (NULL: not ordered). A delivery is claimed
-- only while no older delivery of its (app, key) is undelivered.
ALTER TABLE deliveries ADD COLUMN order_key TEXT;
CREATE INDEX deliveries_paused ON deliveries(app_id, target_url) WHERE state = 'paused';
CREATE INDEX deliveries_order ON deliveries(app_id, order_key, id)
    WHERE order_key IS NOT NULL AND state IN ('pending', 'retrying', 'paused');
