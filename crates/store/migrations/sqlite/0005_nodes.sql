-- Claims know their node, and nodes are known: a claim writes its node's id into claimed_by (a
-- finished attempt or a release clears it), so that a node's claims can be given back as soon as
-- the node is known to be gone, instead of when their lease ends. On SQLite one process owns the
-- file, so a starting node gives back every claim at once; the nodes table matters to PostgreSQL
-- and is kept alike here so that the schemas stay one.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
-- Only claims in flight are indexed: small, and what giving back one node's claims looks up.
CREATE INDEX deliveries_claimed_by ON deliveries(claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE nodes (
    id              TEXT PRIMARY KEY NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    heartbeat_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
