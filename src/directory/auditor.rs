//! What a credential may read beyond its agency's own letters: an auditor's grant — a scope
//! (the whole exchange, or an agency and every unit below it) and whether the packets' bytes
//! are included — kept with the credential.

use crate::store::scope::Scope;
use crate::store::{CredentialRecord, CredentialRole};

/// An auditor credential's grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditorGrant {
    pub scope: Scope,
    /// Whether the auditor may read the packets' bytes, not only their metadata.
    pub reads_packets: bool,
}

impl AuditorGrant {
    /// The grant a credential row holds: an auditor's, else none.
    pub(crate) fn of(record: &CredentialRecord) -> Option<AuditorGrant> {
        match (record.role, &record.audit_scope) {
            (CredentialRole::Auditor, Some(scope)) => Some(AuditorGrant {
                scope: Scope::parse(scope),
                reads_packets: record.reads_packets,
            }),
            _ => None,
        }
    }
}

/// What a usable credential may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    pub role: CredentialRole,
    /// For an auditor, what it may read.
    pub auditor: Option<AuditorGrant>,
}
