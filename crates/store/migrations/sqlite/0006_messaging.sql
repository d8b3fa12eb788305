-- The messaging simulator's conversations: every message both ways between a business number
-- and a customer, the statuses of each (planned at send time, each dated when it happens, so
-- the current status is the latest one already past), the customer service window per
-- (business number, customer), who the customers are, and recipients made to fail.
CREATE TABLE messages (
    wamid           TEXT PRIMARY KEY NOT NULL,
    phone_number_id TEXT NOT NULL,
    waba_id         TEXT NOT NULL,
    -- The customer's phone number (digits) and business-scoped user id.
    wa_id           TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    -- 'outbound' (business to customer) or 'inbound'.
    direction       TEXT NOT NULL,
    type            TEXT NOT NULL,
    -- The send request as given, or the inbound message as Meta reports it.
    payload_json    TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX messages_pair ON messages(phone_number_id, wa_id, created_at_ms);
CREATE INDEX messages_created ON messages(created_at_ms);

CREATE TABLE message_statuses (
    wamid      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    status     TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    error_code INTEGER,
    PRIMARY KEY (wamid, seq)
) WITHOUT ROWID;

CREATE TABLE conversation_windows (
    phone_number_id     TEXT NOT NULL,
    wa_id               TEXT NOT NULL,
    last_inbound_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (phone_number_id, wa_id)
) WITHOUT ROWID;

CREATE TABLE customers (
    business_id   TEXT NOT NULL,
    wa_id         TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    username      TEXT,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (business_id, wa_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX customers_user_id ON customers(business_id, user_id);

CREATE TABLE failing_recipients (
    wa_id         TEXT PRIMARY KEY NOT NULL,
    code          INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- The outbox: what the simulator is to emit as events, written in the same transaction as the
-- change that causes it (a message and its statuses, a review decision), then marked with the
-- event `accept` stored for it. A crash in between leaves it pending, and a sweep emits it:
-- nothing the API acknowledged is lost (at least once). `refused` says why an emission can no
-- longer become an event (its WABA is gone), so that it is not tried again.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    waba_id         TEXT NOT NULL,
    phone_number_id TEXT,
    field           TEXT NOT NULL,
    value_json      TEXT NOT NULL,
    -- When it happens: its deliveries are due then.
    at_ms           INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    event_id        TEXT,
    refused         TEXT
);
CREATE INDEX outbox_pending ON outbox(created_at_ms, id)
    WHERE event_id IS NULL AND refused IS NULL;
