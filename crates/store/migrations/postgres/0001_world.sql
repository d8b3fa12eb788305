-- The world wabahook simulates: businesses, WABAs, phone numbers, apps, tokens, and the
-- webhook subscriptions that tie them together. The same shape as the SQLite schema; every
-- integer is BIGINT because every integer in the records is an i64.

CREATE TABLE businesses (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE wabas (
    id          TEXT PRIMARY KEY,
    business_id TEXT NOT NULL REFERENCES businesses(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE phone_numbers (
    id                   TEXT PRIMARY KEY,
    waba_id              TEXT NOT NULL REFERENCES wabas(id),
    display_phone_number TEXT NOT NULL,
    verified_name        TEXT NOT NULL,
    registered           BOOLEAN NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX phone_numbers_waba ON phone_numbers(waba_id);

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    business_id TEXT NOT NULL REFERENCES businesses(id),
    name        TEXT NOT NULL,
    link        TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE app_access (
    app_id      TEXT NOT NULL REFERENCES apps(id),
    business_id TEXT NOT NULL REFERENCES businesses(id),
    role        TEXT NOT NULL,
    PRIMARY KEY (app_id, business_id)
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id),
    business_id TEXT NOT NULL REFERENCES businesses(id),
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    token_hint  TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE token_assets (
    token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    waba_id  TEXT NOT NULL REFERENCES wabas(id),
    access   TEXT NOT NULL,
    PRIMARY KEY (token_id, waba_id)
);

CREATE TABLE app_subscriptions (
    app_id                     TEXT PRIMARY KEY REFERENCES apps(id),
    object                     TEXT NOT NULL,
    callback_url               TEXT NOT NULL,
    verify_token               TEXT NOT NULL,
    verified                   BOOLEAN NOT NULL,
    include_values             BOOLEAN NOT NULL,
    include_client_certificate BOOLEAN NOT NULL,
    active                     BOOLEAN NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE TABLE app_subscription_fields (
    app_id  TEXT NOT NULL REFERENCES app_subscriptions(app_id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE waba_subscriptions (
    app_id                TEXT NOT NULL REFERENCES apps(id),
    waba_id               TEXT NOT NULL REFERENCES wabas(id),
    override_callback_uri TEXT,
    override_verify_token TEXT,
    created_at            BIGINT NOT NULL,
    PRIMARY KEY (app_id, waba_id)
);
CREATE INDEX waba_subscriptions_waba ON waba_subscriptions(waba_id);

CREATE TABLE phone_number_overrides (
    app_id          TEXT NOT NULL REFERENCES apps(id),
    phone_number_id TEXT NOT NULL REFERENCES phone_numbers(id),
    callback_uri    TEXT NOT NULL,
    verify_token    TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (app_id, phone_number_id)
);

-- Business Use Case rate limiting: calls per (app, WABA) per unix minute, shared by every node.
CREATE TABLE buc_usage (
    app_id  TEXT NOT NULL,
    waba_id TEXT NOT NULL,
    minute  BIGINT NOT NULL,
    calls   BIGINT NOT NULL,
    PRIMARY KEY (app_id, waba_id, minute)
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
