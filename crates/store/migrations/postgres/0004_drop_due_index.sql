-- Keeps the two migration histories at the same number: SQLite's 0004 drops deliveries_due, a
-- global due index that PostgreSQL never had (its 0002 created only the per-target one). From
-- here on each schema change is one migration with the same number and name on both backends;
-- tests/schema.rs compares the two schemas after migrating.
DROP INDEX IF EXISTS deliveries_due;
