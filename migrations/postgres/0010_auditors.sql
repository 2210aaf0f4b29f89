-- Auditors (issue 13, docs/AUDIT.md): a credential of role 'auditor' reads the audit routes
-- and traces of the documents sent or received in its scope — 'all', or an agency's code for
-- that agency and every unit below it — and the packets' bytes only when granted them.
ALTER TABLE agency_credentials DROP CONSTRAINT agency_credentials_role_check;
ALTER TABLE agency_credentials ADD CONSTRAINT agency_credentials_role_check
    CHECK (role IN ('agency', 'operator', 'auditor'));
ALTER TABLE agency_credentials ADD COLUMN audit_scope TEXT;
ALTER TABLE agency_credentials ADD COLUMN reads_packets BIGINT NOT NULL DEFAULT 0
    CHECK (reads_packets IN (0, 1));
ALTER TABLE agency_credentials ADD CONSTRAINT agency_credentials_auditor_scope
    CHECK ((role = 'auditor') = (audit_scope IS NOT NULL));
