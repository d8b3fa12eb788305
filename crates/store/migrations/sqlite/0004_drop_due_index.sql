-- Claims go target by target through deliveries_target_due; the global due index is no longer
-- read by any query, and every insert, claim and finish paid for keeping it.
DROP INDEX IF EXISTS deliveries_due;
