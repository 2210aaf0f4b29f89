-- Mail to clerks (docs/DELIVERY.md). migrations/sqlite/0005_mails.sql has the same.

-- What a clerk's mail and the deadlines need of a document, read once from its first packet:
-- the number/notation as printed on the letter (số/ký hiệu, e.g. "15/BTN-VP"), the priority
-- (0 normal … 4 hỏa tốc hẹn giờ; NULL: not given) and the deadline for handling (yyyy-mm-dd).
ALTER TABLE documents ADD COLUMN notation TEXT;
ALTER TABLE documents ADD COLUMN priority BIGINT;
ALTER TABLE documents ADD COLUMN due_date TEXT;

-- The mail outbox: one row per event a clerk is told of, written in the transaction of the
-- event (an accepted letter: 'arrived' to the recipient's clerks; an accepted refusal, status
-- 02: 'refused' to the sender's; a parked push: 'parked' to the sender's). One row per event
-- and delivery (UNIQUE), so an event is never queued twice. Rows to the same agency are
-- gathered into one message: `batch` names it (its Message-ID) before the first try, so a
-- retry after a crash sends the same message again, never a second one.
-- state: pending (to send, at next_at), sent, failed (given up: last_error says why).
CREATE TABLE mails (
    id           BIGSERIAL PRIMARY KEY,
    event        TEXT    NOT NULL CHECK (event IN ('arrived', 'refused', 'parked', 'overdue')),
    delivery_seq BIGINT  NOT NULL REFERENCES deliveries (seq),
    agency       TEXT    NOT NULL,
    detail       TEXT,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    batch        TEXT,
    attempts     BIGINT  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at      BIGINT  NOT NULL,
    leased_until BIGINT,
    lease_owner  TEXT,
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    sent_at      BIGINT,
    UNIQUE (event, delivery_seq)
);
CREATE INDEX mails_due ON mails (agency, next_at) WHERE state = 'pending';
CREATE INDEX mails_by_batch ON mails (batch);
