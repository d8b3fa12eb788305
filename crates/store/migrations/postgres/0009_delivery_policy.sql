-- Delivery policy per app, beyond Meta's: its own retry horizon, when a failing endpoint is
-- paused, and whether its deliveries go one at a time per key (ordered mode). A missing row or a
-- NULL column means the `[delivery]` default.
CREATE TABLE delivery_policies (
    app_id               TEXT PRIMARY KEY,
    horizon_secs         BIGINT,
    pause_after_failures BIGINT,
    pause_after_secs     BIGINT,
    ordered              TEXT,
    updated_at_ms        BIGINT NOT NULL
);

-- Nodes cache each app's policy per world generation: a change tells every node.
CREATE TRIGGER delivery_policies_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON delivery_policies FOR EACH STATEMENT EXECUTE FUNCTION wabahook_world_changed();

-- How each (app, target URL) is doing: failed attempts in a row and since when, and whether it
-- is paused (since when, why). A paused target's deliveries are in state 'paused': kept, never
-- claimed, never expired, until it is resumed (or they are replayed).
CREATE TABLE target_health (
    app_id           TEXT NOT NULL,
    target_url       TEXT NOT NULL,
    failures         BIGINT NOT NULL DEFAULT 0,
    failing_since_ms BIGINT,
    last_error       TEXT,
    paused_at_ms     BIGINT,
    paused_reason    TEXT,
    PRIMARY KEY (app_id, target_url)
);

-- Ordered mode: the key a delivery is ordered under (NULL: not ordered). A delivery is claimed
-- only while no older delivery of its (app, key) is undelivered.
-- A nullable column without a default is added without rewriting the table.
ALTER TABLE deliveries ADD COLUMN order_key TEXT;
CREATE INDEX deliveries_paused ON deliveries(app_id, target_url) WHERE state = 'paused';
CREATE INDEX deliveries_order ON deliveries(app_id, order_key, id)
    WHERE order_key IS NOT NULL AND state IN ('pending', 'retrying', 'paused');
