-- The exchange's tables (docs/EXCHANGE.md), PostgreSQL dialect. migrations/sqlite/0001_init.sql
-- has the same tables, columns and indexes. Times are microseconds since the Unix epoch (UTC),
-- identifiers TEXT, booleans BIGINT 0/1, lists JSON in TEXT.

CREATE TABLE agencies (
    code          TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    parent        TEXT    REFERENCES agencies (code),
    push_endpoint TEXT,
    clerk_emails  TEXT    NOT NULL DEFAULT '[]',
    active        BIGINT  NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    CHECK (parent IS NULL OR parent <> code)
);
CREATE INDEX agencies_by_parent ON agencies (parent, code);

CREATE TABLE agency_certificates (
    agency_code TEXT    NOT NULL REFERENCES agencies (code),
    sha256      TEXT    NOT NULL CHECK (length(sha256) = 64),
    subject     TEXT,
    serial      TEXT,
    not_after   BIGINT,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (agency_code, sha256)
);
-- A certificate identifies one agency (mTLS client certificate -> agency).
CREATE UNIQUE INDEX agency_certificates_by_sha256 ON agency_certificates (sha256);

CREATE TABLE agency_credentials (
    system_id   TEXT    NOT NULL PRIMARY KEY,
    agency_code TEXT    NOT NULL REFERENCES agencies (code),
    secret_hash TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX agency_credentials_by_agency ON agency_credentials (agency_code);

CREATE TABLE packets (
    id             TEXT    NOT NULL PRIMARY KEY,
    sender         TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('message', 'status')),
    document_id    TEXT    NOT NULL,
    content_sha256 TEXT    NOT NULL CHECK (length(content_sha256) = 64),
    size           BIGINT  NOT NULL CHECK (size >= 0),
    blob_key       TEXT    NOT NULL,
    received_at    BIGINT  NOT NULL,
    legacy_sha1    BIGINT  NOT NULL DEFAULT 0 CHECK (legacy_sha1 IN (0, 1)),
    verdict        TEXT    NOT NULL,
    UNIQUE (sender, content_sha256)
);
CREATE INDEX packets_by_document ON packets (sender, document_id);

CREATE TABLE documents (
    sender          TEXT    NOT NULL,
    document_id     TEXT    NOT NULL,
    first_packet_id TEXT    NOT NULL REFERENCES packets (id),
    content_sha256  TEXT    NOT NULL,
    business_type   TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (sender, document_id)
);

CREATE TABLE deliveries (
    seq        BIGSERIAL PRIMARY KEY,
    packet_id  TEXT    NOT NULL REFERENCES packets (id),
    recipient  TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    acked_at   BIGINT,
    UNIQUE (packet_id, recipient)
);
CREATE INDEX deliveries_inbox ON deliveries (recipient, seq);

CREATE TABLE recipient_states (
    sender      TEXT    NOT NULL,
    document_id TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (sender, document_id, recipient),
    FOREIGN KEY (sender, document_id) REFERENCES documents (sender, document_id)
);

CREATE TABLE status_history (
    seq         BIGSERIAL PRIMARY KEY,
    sender      TEXT    NOT NULL,
    document_id TEXT    NOT NULL,
    reporter    TEXT    NOT NULL,
    status_code TEXT    NOT NULL,
    description TEXT,
    packet_id   TEXT    NOT NULL REFERENCES packets (id),
    at          BIGINT  NOT NULL,
    FOREIGN KEY (sender, document_id) REFERENCES documents (sender, document_id)
);
CREATE INDEX status_history_by_document ON status_history (sender, document_id, seq);

CREATE TABLE receipts (
    packet_id   TEXT    NOT NULL PRIMARY KEY REFERENCES packets (id),
    receipt_xml TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
