//! The rows of the exchange's tables as plain structs: what goes in and comes out of the
//! repository functions. Codes and identifiers are plain strings here — `directory` and
//! `exchange` parse them; the store only keeps them. Times are microseconds since the Unix
//! epoch (UTC).

use std::fmt;

use super::error::StoreError;

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// One row of `agencies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyRecord {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    pub push_endpoint: Option<String>,
    pub clerk_emails: Vec<String>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which agencies [`super::agencies::list`] returns, ordered by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgencyFilter {
    /// Only the direct children of this agency.
    pub parent: Option<String>,
    /// Only the agencies below this one, at any depth (its children, their children, …).
    pub under: Option<String>,
    /// Only codes starting with this text.
    pub prefix: Option<String>,
    /// Only codes after this one (paging).
    pub after: Option<String>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
    /// Leave out deactivated agencies.
    pub active_only: bool,
}

/// Whether an upsert created the row or changed an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Inserted,
    Updated,
}

/// One row of `agency_certificates`: a certificate an agency may sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    pub agency_code: String,
    /// SHA-256 of the certificate's DER, 64 lowercase hex digits.
    pub sha256: String,
    pub subject: Option<String>,
    pub serial: Option<String>,
    pub not_after: Option<i64>,
    pub created_at: i64,
}

/// One row of `agency_credentials`: an API system id and the argon2 hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub system_id: String,
    pub agency_code: String,
    /// PHC string (`$argon2id$v=19$…`); never the secret.
    pub secret_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub role: CredentialRole,
    /// An auditor's scope as stored: `all`, or the code of the agency whose subtree it reads.
    pub audit_scope: Option<String>,
    /// Whether an auditor may read the packets' bytes, not only their metadata.
    pub reads_packets: bool,
}

/// What a credential may do beyond its agency's own letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CredentialRole {
    /// An agency's system: its own letters, statuses and pushes.
    #[default]
    Agency,
    /// The exchange's operator: also the delivery work of every agency.
    Operator,
    /// An auditor: reads the audit routes and traces of the documents in its scope, nothing
    /// else, and writes nothing.
    Auditor,
}

impl CredentialRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialRole::Agency => "agency",
            CredentialRole::Operator => "operator",
            CredentialRole::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<CredentialRole> {
        [
            CredentialRole::Agency,
            CredentialRole::Operator,
            CredentialRole::Auditor,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// A message (letter) or a status report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    Message,
    Status,
}

impl PacketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PacketKind::Message => "message",
            PacketKind::Status => "status",
        }
    }

    pub fn parse(text: &str) -> Result<PacketKind, StoreError> {
        match text {
            "message" => Ok(PacketKind::Message),
            "status" => Ok(PacketKind::Status),
            other => Err(StoreError::corrupt(format!(
                "packet kind {other:?} is neither message nor status"
            ))),
        }
    }
}

impl fmt::Display for PacketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `packets`: a packet as accepted, its bytes in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRecord {
    /// Our identifier (UUIDv7: time-ordered).
    pub id: String,
    /// The From agency (authenticated and bound to the signing certificate).
    pub sender: String,
    pub kind: PacketKind,
    /// The DocumentId the packet carries (for a status: the document it reports on).
    pub document_id: String,
    /// SHA-256 of the bytes as received, 64 lowercase hex digits.
    pub content_sha256: String,
    pub size: i64,
    pub blob_key: String,
    pub received_at: i64,
    /// Signed with SHA-1 under the legacy switch.
    pub legacy_sha1: bool,
    /// The trust verdict's JSON summary.
    pub verdict: String,
}

/// One row of `documents`: the first packet seen for (sender, DocumentId).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentRecord {
    pub sender: String,
    pub document_id: String,
    pub first_packet_id: String,
    pub content_sha256: String,
    /// BusinessDocType as written (`0` new … `3` replace).
    pub business_type: String,
    pub subject: String,
    pub created_at: i64,
    /// Số/ký hiệu as printed on the letter ("15/BTN-VP"); none for documents recorded before
    /// it was kept.
    pub notation: Option<String>,
    /// Priority: 0 normal (thường) … 4 hỏa tốc hẹn giờ; none when the packet gave none.
    pub priority: Option<i64>,
    /// Deadline for handling (DueDate), `yyyy-mm-dd`.
    pub due_date: Option<String>,
    /// Hỏa tốc hẹn giờ only: the packet's own time (its last TraceHeader timestamp, Vietnam
    /// time), microseconds — the appointed hour it is due at.
    pub appointed_at: Option<i64>,
}

/// A delivery to create: one per recipient of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub packet_id: String,
    pub recipient: String,
    pub created_at: i64,
}

/// One row of `deliveries`. `seq` is the inbox cursor: it only grows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub seq: i64,
    pub packet_id: String,
    pub recipient: String,
    pub created_at: i64,
    pub acked_at: Option<i64>,
}

/// Which deliveries [`super::deliveries::inbox`] returns, by ascending `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxQuery {
    pub recipient: String,
    /// Only deliveries with a larger `seq` (0 for all).
    pub after: i64,
    pub limit: u32,
    /// Leave out acknowledged deliveries.
    pub pending_only: bool,
}

/// A delivery with what an inbox listing shows of its packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub delivery: DeliveryRecord,
    pub sender: String,
    pub kind: PacketKind,
    pub document_id: String,
    pub content_sha256: String,
    pub size: i64,
    pub received_at: i64,
    /// For a status packet: the status it carries (`"03"`).
    pub status_code: Option<String>,
}

/// What acknowledging a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Marked as taken now.
    Acked,
    /// It had been acknowledged before (at that time); nothing changed.
    AlreadyAcked(i64),
    /// No such delivery for this recipient.
    NotFound,
}

/// One row of `recipient_states`: where a document stands with one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStateRecord {
    pub sender: String,
    pub document_id: String,
    pub recipient: String,
    /// `submitted`, `delivered`, or a status code (`01` … `06`, `13`, `15`, `16`).
    pub state: String,
    pub updated_at: i64,
}

/// A status report to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStatus {
    /// The document's original sender.
    pub sender: String,
    pub document_id: String,
    /// The agency that reported the status.
    pub reporter: String,
    pub status_code: String,
    pub description: Option<String>,
    pub packet_id: String,
    pub at: i64,
}

/// One row of `status_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    pub seq: i64,
    pub sender: String,
    pub document_id: String,
    pub reporter: String,
    pub status_code: String,
    pub description: Option<String>,
    pub packet_id: String,
    pub at: i64,
}

/// One row of `receipts`: the server-signed evidence of what was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub packet_id: String,
    pub receipt_xml: String,
    pub created_at: i64,
}
