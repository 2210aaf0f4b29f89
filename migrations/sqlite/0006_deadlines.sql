-- Acknowledgement and handling deadlines (docs/DELIVERY.md). migrations/postgres/0006_deadlines.sql
-- has the same.

-- Hỏa tốc hẹn giờ (priority 4): the packet's own time (its last TraceHeader timestamp, Vietnam
-- time), microseconds; the letter is due then when that lies after its acceptance.
ALTER TABLE documents ADD COLUMN appointed_at INTEGER;

-- When the overdue job found a delivery unacknowledged past its deadline (ack_overdue_at) or
-- unhandled past its DueDate (handling_overdue_at), and queued the sender's mail: each is
-- raised once. Whether a delivery is overdue now is decided from its state, not from these.
ALTER TABLE deliveries ADD COLUMN ack_overdue_at INTEGER;
ALTER TABLE deliveries ADD COLUMN handling_overdue_at INTEGER;
-- The job's scan: deliveries not taken whose acknowledgement deadline was not raised yet.
CREATE INDEX deliveries_awaiting_ack ON deliveries (created_at)
    WHERE acked_at IS NULL AND ack_overdue_at IS NULL;

-- A second overdue event: 'overdue' is the acknowledgement deadline, 'overdue_handling' the
-- DueDate. SQLite changes a CHECK only by rebuilding the table.
CREATE TABLE mails_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event        TEXT    NOT NULL CHECK (event IN ('arrived', 'refused', 'parked', 'overdue', 'overdue_handling')),
    delivery_seq INTEGER NOT NULL REFERENCES deliveries (seq),
    agency       TEXT    NOT NULL,
    detail       TEXT,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    batch        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at      INTEGER NOT NULL,
    leased_until INTEGER,
    lease_owner  TEXT,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    sent_at      INTEGER,
    UNIQUE (event, delivery_seq)
) STRICT;
INSERT INTO mails_new SELECT * FROM mails;
DROP TABLE mails;
ALTER TABLE mails_new RENAME TO mails;
CREATE INDEX mails_due ON mails (agency, next_at) WHERE state = 'pending';
CREATE INDEX mails_by_batch ON mails (batch);

-- What a credential may do: 'agency' (its agency's own letters) or 'operator' (also sees the
-- whole exchange's delivery work: GET /v1/deliveries of every agency).
ALTER TABLE agency_credentials ADD COLUMN role TEXT NOT NULL DEFAULT 'agency'
    CHECK (role IN ('agency', 'operator'));
