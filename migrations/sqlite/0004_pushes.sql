-- Delivery by push (docs/DELIVERY.md). migrations/postgres/0004_pushes.sql has the same.

-- An agency may switch pushes off; its endpoint stays recorded.
ALTER TABLE agencies ADD COLUMN push_enabled INTEGER NOT NULL DEFAULT 1 CHECK (push_enabled IN (0, 1));

-- How the recipient's system took a delivery (set with acked_at): 'pull' (it acknowledged the
-- delivery) or 'push' (its endpoint answered 2xx). Whichever comes first stands.
ALTER TABLE deliveries ADD COLUMN taken_via TEXT CHECK (taken_via IN ('pull', 'push'));

-- The push outbox: one row per delivery whose recipient had a push endpoint when the packet was
-- accepted, written in the accepting transaction. Workers lease due rows (leased_until, with
-- the leasing node in lease_owner); a lease not finished in time is taken again.
-- state: pending (not tried yet), retrying, delivered (2xx), parked (given up: last_error says
-- why), skipped (taken by pull first, or push switched off).
CREATE TABLE pushes (
    delivery_seq INTEGER NOT NULL PRIMARY KEY REFERENCES deliveries (seq),
    recipient    TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'parked', 'skipped')),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at      INTEGER NOT NULL,
    leased_until INTEGER,
    lease_owner  TEXT,
    endpoint     TEXT,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    done_at      INTEGER
) STRICT;
-- Only work still to do is indexed by time: finished rows cost the queue nothing.
CREATE INDEX pushes_due ON pushes (next_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX pushes_by_state ON pushes (state, recipient, delivery_seq);
