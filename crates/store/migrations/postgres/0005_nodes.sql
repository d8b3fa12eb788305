-- Claims know their node, and nodes are known: a claim writes its node's id into claimed_by (a
-- finished attempt or a release clears it), and every node beats in `nodes`. A node silent for
-- longer than its peers allow has its claims given back by any live node at once, instead of
-- when their lease ends; a node that restarts with the same id gives back its own.
-- A nullable column without a default is added without rewriting the table.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
-- Only claims in flight are indexed: small, and what giving back one node's claims looks up.
CREATE INDEX deliveries_claimed_by ON deliveries(claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE nodes (
    id              TEXT PRIMARY KEY,
    started_at_ms   BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL
);
