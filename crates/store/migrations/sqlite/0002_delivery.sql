-- Events and the deliveries they cause. An event and its deliveries are written in one
-- transaction. A delivery's next_attempt_at doubles as its lease: claiming it moves the time
-- forward by the lease, so a node that dies mid-attempt leaves it due again once the lease ends.

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    waba_id         TEXT NOT NULL,
    field           TEXT NOT NULL,
    value           TEXT NOT NULL,
    phone_number_id TEXT,
    time            INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL REFERENCES events(id),
    app_id          TEXT NOT NULL,
    waba_id         TEXT NOT NULL,
    field           TEXT NOT NULL,
    target_url      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claim_seq       INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    finished_at_ms  INTEGER
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_target_due ON deliveries(target_url, next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_event ON deliveries(event_id);
CREATE INDEX deliveries_app ON deliveries(app_id, created_at_ms);

CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   INTEGER NOT NULL REFERENCES deliveries(id),
    at_ms         INTEGER NOT NULL,
    status        INTEGER,
    latency_ms    INTEGER NOT NULL,
    error_class   TEXT,
    response_head TEXT NOT NULL
);
CREATE INDEX attempts_delivery ON attempts(delivery_id);
