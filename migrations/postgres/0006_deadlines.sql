-- Acknowledgement and handling deadlines (docs/DELIVERY.md). migrations/sqlite/0006_deadlines.sql
-- has the same.

-- Hỏa tốc hẹn giờ (priority 4): the packet's own time (its last TraceHeader timestamp, Vietnam
-- time), microseconds; the letter is due then when that lies after its acceptance.
ALTER TABLE documents ADD COLUMN appointed_at BIGINT;

-- When the overdue job found a delivery unacknowledged past its deadline (ack_overdue_at) or
-- unhandled past its DueDate (handling_overdue_at), and queued the sender's mail: each is
-- raised once. Whether a delivery is overdue now is decided from its state, not from these.
ALTER TABLE deliveries ADD COLUMN ack_overdue_at BIGINT;
ALTER TABLE deliveries ADD COLUMN handling_overdue_at BIGINT;
-- The job's scan: deliveries not taken whose acknowledgement deadline was not raised yet.
CREATE INDEX deliveries_awaiting_ack ON deliveries (created_at)
    WHERE acked_at IS NULL AND ack_overdue_at IS NULL;

-- A second overdue event: 'overdue' is the acknowledgement deadline, 'overdue_handling' the
-- DueDate.
ALTER TABLE mails DROP CONSTRAINT mails_event_check;
ALTER TABLE mails ADD CONSTRAINT mails_event_check
    CHECK (event IN ('arrived', 'refused', 'parked', 'overdue', 'overdue_handling'));

-- What a credential may do: 'agency' (its agency's own letters) or 'operator' (also sees the
-- whole exchange's delivery work: GET /v1/deliveries of every agency).
ALTER TABLE agency_credentials ADD COLUMN role TEXT NOT NULL DEFAULT 'agency'
    CHECK (role IN ('agency', 'operator'));
