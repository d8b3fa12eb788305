-- The simulator's message templates and uploaded media.
--
-- A template's review is decided when it is created and takes effect later: `status` (and
-- `reason`) hold from `decided_at_ms` on, `prior_status` (and `prior_reason`) before it, so the
-- status read at any moment follows the clock without a job to flip it. `review_outbox_id` is
-- the outbox row announcing that decision, written with it: should another decision come first,
-- that row is superseded while still pending, or its event's deliveries cancelled once emitted.
CREATE TABLE templates (
    id               TEXT PRIMARY KEY NOT NULL,
    waba_id          TEXT NOT NULL,
    name             TEXT NOT NULL,
    language         TEXT NOT NULL,
    category         TEXT NOT NULL,
    parameter_format TEXT NOT NULL,
    components       TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    decided_at_ms    INTEGER NOT NULL,
    prior_status     TEXT NOT NULL,
    prior_reason     TEXT,
    review_outbox_id INTEGER,
    quality_score    TEXT NOT NULL,
    quality_at       INTEGER NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    UNIQUE (waba_id, name, language)
) WITHOUT ROWID;

-- WABAs whose built-in templates (Meta's `hello_world`) were put in place, once: a deleted
-- built-in stays deleted.
CREATE TABLE template_builtins (
    waba_id TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;

-- Media metadata; the bytes are files under `<data_dir>/media/`. `url_token` is the random part
-- of the current download URL, valid until `url_expires_at_ms`.
CREATE TABLE media (
    id                TEXT PRIMARY KEY NOT NULL,
    phone_number_id   TEXT NOT NULL,
    mime_type         TEXT NOT NULL,
    sha256            TEXT NOT NULL,
    file_size         INTEGER NOT NULL,
    file_name         TEXT NOT NULL,
    origin            TEXT NOT NULL,
    url_token         TEXT,
    url_expires_at_ms INTEGER,
    created_at_ms     INTEGER NOT NULL
) WITHOUT ROWID;

-- The outbox's sweep claims what it emits, under a lease, so that two nodes sharing a database
-- never emit the same row at once; a lease that ran out (its node died) is taken again. Rows
-- are deleted some time after `done_at_ms`, when they were emitted or refused.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until_ms INTEGER;
ALTER TABLE outbox ADD COLUMN done_at_ms INTEGER;
UPDATE outbox SET done_at_ms = created_at_ms WHERE event_id IS NOT NULL OR refused IS NOT NULL;
CREATE INDEX outbox_done ON outbox(done_at_ms) WHERE done_at_ms IS NOT NULL;
