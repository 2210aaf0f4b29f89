-- migrations/sqlite/0008_pending_indexed_once.sql has the same.
-- Every accepted letter writes a waiting push and mail per recipient, and each index over such a
-- row is one more b-tree write in the accepting transaction (docs/PERFORMANCE.md, issue 12).
-- A waiting row is now in one index besides its keys; the questions the dropped indexes
-- answered are answered from the ones that stay.

-- Pushes: pushes_due serves the lease and, holding state and created_at, the depth and age of
-- pending and retrying for /metrics. The operators' lists (GET /v1/deliveries) of the few
-- retrying and parked pushes have an index each (SQLite uses a partial index only for a
-- statement whose WHERE repeats the index's terms: `state = 'parked'` does not imply
-- `state IN ('retrying', 'parked')` to it); a list of pending, delivered or skipped pushes
-- reads the table in delivery order.
DROP INDEX pushes_due;
CREATE INDEX pushes_due ON pushes (next_at, state, created_at)
    WHERE state IN ('pending', 'retrying');
DROP INDEX pushes_by_state;
CREATE INDEX pushes_retrying ON pushes (delivery_seq, state, created_at) WHERE state = 'retrying';
CREATE INDEX pushes_parked ON pushes (delivery_seq, state, created_at) WHERE state = 'parked';

-- Mails: a pending mail is either not gathered yet (mails_ungathered) or in a batch
-- (mails_batched_due, which now holds created_at too); /metrics adds the two up.
DROP INDEX mails_pending;
DROP INDEX mails_batched_due;
CREATE INDEX mails_batched_due ON mails (next_at, batch, state, leased_until, created_at)
    WHERE state = 'pending' AND batch IS NOT NULL;
