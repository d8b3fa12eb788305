-- The messaging simulator's conversations: every message both ways between a business number
-- and a customer, the statuses of each (planned at send time, each dated when it happens, so
-- the current status is the latest one already past), the customer service window per
-- (business number, customer), who the customers are, and recipients made to fail.
CREATE TABLE messages (
    wamid           TEXT PRIMARY KEY,
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
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX messages_pair ON messages(phone_number_id, wa_id, created_at_ms);
CREATE INDEX messages_created ON messages(created_at_ms);

CREATE TABLE message_statuses (
    wamid      TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    status     TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    error_code BIGINT,
    PRIMARY KEY (wamid, seq)
);

CREATE TABLE conversation_windows (
    phone_number_id     TEXT NOT NULL,
    wa_id               TEXT NOT NULL,
    last_inbound_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (phone_number_id, wa_id)
);

CREATE TABLE customers (
    business_id   TEXT NOT NULL,
    wa_id         TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    username      TEXT,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (business_id, wa_id)
);
CREATE UNIQUE INDEX customers_user_id ON customers(business_id, user_id);

CREATE TABLE failing_recipients (
    wa_id         TEXT PRIMARY KEY,
    code          BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
