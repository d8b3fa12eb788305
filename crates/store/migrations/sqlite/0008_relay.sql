-- Relay mode: Meta's real webhooks taken once and fanned out as events.
--
-- The upstream Meta apps whose webhooks the relay accepts: the app secret that signs them and
-- the verify token of Meta's handshake, both sealed with the secrets key like app secrets.
CREATE TABLE upstream_apps (
    id            TEXT PRIMARY KEY NOT NULL,
    secret        TEXT NOT NULL,
    verify_token  TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Every upstream POST that passed its signature check, as received, with what became of it.
-- A body seen before (same hash) is kept too, pointing at the first one, and fanned out no
-- more: the partial unique index makes two nodes that race on one body agree on which is first.
CREATE TABLE ingest_log (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    upstream_app_id   TEXT NOT NULL,
    body              TEXT NOT NULL,
    signature         TEXT NOT NULL,
    -- SHA-256 of the body bytes, hex.
    body_hash         TEXT NOT NULL,
    received_at_ms    INTEGER NOT NULL,
    duplicate_of      INTEGER,
    -- Changes in the body; of them, those stored as events, those quarantined, and those seen
    -- within the dedup window already.
    changes           INTEGER NOT NULL,
    events            INTEGER NOT NULL,
    quarantined       INTEGER NOT NULL,
    duplicate_changes INTEGER NOT NULL,
    -- Why a signed body gave no changes (it was not a webhook body); kept, never dropped.
    error             TEXT
);
CREATE UNIQUE INDEX ingest_log_first_body ON ingest_log(body_hash) WHERE duplicate_of IS NULL;
CREATE INDEX ingest_log_received ON ingest_log(received_at_ms);

-- The changes fanned out lately, by the hash of (WABA, field, value bytes): the same change
-- again within the dedup window is not fanned out twice.
CREATE TABLE relay_changes (
    change_hash TEXT PRIMARY KEY NOT NULL,
    seen_at_ms  INTEGER NOT NULL,
    event_id    TEXT NOT NULL
);
CREATE INDEX relay_changes_seen ON relay_changes(seen_at_ms);

-- Changes of WABAs (or phone numbers) the relay does not know, under the `quarantine` policy:
-- kept as received until released into events once the WABA is configured.
CREATE TABLE relay_quarantine (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    ingest_id       INTEGER NOT NULL,
    waba_id         TEXT NOT NULL,
    field           TEXT NOT NULL,
    value           TEXT NOT NULL,
    phone_number_id TEXT,
    received_at_ms  INTEGER NOT NULL,
    released_at_ms  INTEGER,
    event_id        TEXT
);
CREATE INDEX relay_quarantine_waba ON relay_quarantine(waba_id, id);
