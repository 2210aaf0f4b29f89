-- migrations/sqlite/0007_outbox_indexes.sql has the same.
-- Indexes for the mail outbox under a backlog (docs/PERFORMANCE.md, issue 12): the mail
-- worker's two questions — which formed batches are due again, and which agencies have mails
-- waiting to be gathered since when — answered from an index alone, not by reading every
-- pending row each half second inside the writer's transaction.
CREATE INDEX mails_batched_due ON mails (next_at, batch, state, leased_until)
    WHERE state = 'pending' AND batch IS NOT NULL;
CREATE INDEX mails_ungathered ON mails (agency, created_at, state, batch)
    WHERE state = 'pending' AND batch IS NULL;
-- Batches are looked up by id while they wait: neither mails not gathered yet nor those sent
-- are in this index (the first are found by mails_ungathered).
DROP INDEX mails_by_batch;
CREATE INDEX mails_by_batch ON mails (batch) WHERE state = 'pending' AND batch IS NOT NULL;
-- /metrics counts what waits and what failed without reading the mails already sent.
DROP INDEX mails_due;
CREATE INDEX mails_pending ON mails (created_at, state) WHERE state = 'pending';
CREATE INDEX mails_failed ON mails (state) WHERE state = 'failed';
