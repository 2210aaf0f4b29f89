//! The `[audit]` settings: where the log key is kept and how often checkpoints are signed.

use std::path::PathBuf;
use std::time::Duration;

/// How the audit log runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPolicy {
    /// The log's Ed25519 key in the signed-note private key form (`PRIVATE+KEY+NAME+…`,
    /// `lienthong audit keygen` writes one). `None`: `DATA_DIR/audit-log.key`, made at the
    /// first start when missing.
    pub key_file: Option<PathBuf>,
    /// A checkpoint is signed when the tree has grown and this long has passed since the last.
    pub checkpoint_every: Duration,
    /// … or as soon as this many events were added since the last.
    pub checkpoint_events: u64,
}

impl Default for AuditPolicy {
    fn default() -> Self {
        AuditPolicy {
            key_file: None,
            checkpoint_every: Duration::from_secs(10),
            checkpoint_events: 10_000,
        }
    }
}
