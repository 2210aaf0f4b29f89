-- Auditors (issue 13, docs/AUDIT.md): a credential of role 'auditor' reads the audit routes
-- and traces of the documents sent or received in its scope — 'all', or an agency's code for
-- that agency and every unit below it — and the packets' bytes only when granted them.
-- SQLite changes a CHECK only by rebuilding the table.
CREATE TABLE agency_credentials_new (
    system_id     TEXT    NOT NULL PRIMARY KEY,
    agency_code   TEXT    NOT NULL REFERENCES agencies (code),
    secret_hash   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    role          TEXT    NOT NULL DEFAULT 'agency' CHECK (role IN ('agency', 'operator', 'auditor')),
    audit_scope   TEXT,
    reads_packets INTEGER NOT NULL DEFAULT 0 CHECK (reads_packets IN (0, 1)),
    CHECK ((role = 'auditor') = (audit_scope IS NOT NULL))
) STRICT;
INSERT INTO agency_credentials_new (system_id, agency_code, secret_hash, created_at, revoked_at, role)
    SELECT system_id, agency_code, secret_hash, created_at, revoked_at, role FROM agency_credentials;
DROP TABLE agency_credentials;
ALTER TABLE agency_credentials_new RENAME TO agency_credentials;
CREATE INDEX agency_credentials_by_agency ON agency_credentials (agency_code);
