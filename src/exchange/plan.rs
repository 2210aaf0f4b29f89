//! What accepting a packet decides and the writer applies: the plan of a message or a status,
//! the writer's unit (`Record`), the answer (`Accepted`), and the rows a plan turns into. Both
//! the general accept path (`accept`) and the bulk path for new documents (`new_documents`)
//! build on these; this module depends on neither.

use sqlx::AnyConnection;

use crate::edxml::{BusinessDocType, StaffInfo, StatusCode};
use crate::store::events::EventRecord;
use crate::store::{
    packets, DocumentRecord, NewDelivery, PacketKind, PacketRecord, ReceiptRecord,
    RecipientStateRecord,
};

use super::state::{Actor, RecipientState};
use super::ExchangeError;

/// Largest Subject (trích yếu) kept in the documents row, in bytes: a summary line is a few
/// hundred characters; this leaves room for the longest seen in the field many times over.
pub const MAX_SUBJECT_BYTES: usize = 4096;
/// Largest number/notation (số/ký hiệu, `CodeNumber/CodeNotation`) kept in the documents row,
/// in bytes: real ones are a few dozen characters ("1234/QĐ-UBND").
pub const MAX_NOTATION_BYTES: usize = 512;
/// Largest status Description kept in the status history, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;

/// Refuses a field that would be copied into a row when it is above its maximum.
pub(super) fn within_maximum(
    field: &'static str,
    value: &str,
    limit: usize,
) -> Result<(), ExchangeError> {
    if value.len() > limit {
        return Err(ExchangeError::FieldTooLarge {
            field,
            size: value.len(),
            limit,
        });
    }
    Ok(())
}

/// The rule for the documents a message names, in one place: every original a revoke, update
/// or replace acts on (sender, DocumentId) exists, and the DocumentId a new document comes
/// under is not the sender's already. Checked before the unit is queued (to refuse early) and
/// again inside the transaction (where it is decided); the bulk path for new documents decides
/// the second half for a whole group at once (`new_documents`).
pub(super) async fn check_documents(
    conn: &mut AnyConnection,
    originals: &[(String, String)],
    creates: Option<(&str, &str)>,
) -> Result<(), ExchangeError> {
    for (sender, document_id) in originals {
        if packets::document(conn, sender, document_id)
            .await?
            .is_none()
        {
            return Err(ExchangeError::UnknownDocument {
                sender: sender.clone(),
                document_id: document_id.clone(),
            });
        }
    }
    if let Some((sender, document_id)) = creates {
        if packets::document(conn, sender, document_id)
            .await?
            .is_some()
        {
            return Err(ExchangeError::DuplicateDocument {
                sender: sender.to_owned(),
                document_id: document_id.to_owned(),
            });
        }
    }
    Ok(())
}

/// The answer to an accepted packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The packet's id at this exchange.
    pub id: String,
    /// The signed receipt (XML).
    pub receipt: String,
    pub kind: PacketKind,
    /// The DocumentId (for a status: of the document it reports on).
    pub document_id: String,
    /// True when these bytes had been accepted before: the original id and receipt.
    pub replayed: bool,
}

impl Accepted {
    /// The first answer to bytes accepted before, from what was stored then.
    pub(super) fn replay_of(packet: PacketRecord, receipt: ReceiptRecord) -> Accepted {
        Accepted {
            id: packet.id,
            receipt: receipt.receipt_xml,
            kind: packet.kind,
            document_id: packet.document_id,
            replayed: true,
        }
    }
}

/// What a packet does, decided before the transaction and applied in it.
#[derive(Debug)]
pub(super) enum Plan {
    Message(MessagePlan),
    Status(StatusPlan),
}

#[derive(Debug)]
pub(super) struct MessagePlan {
    /// The document this packet creates (none when it acts on an original under its id).
    pub(super) document: Option<DocumentRecord>,
    /// `To`, without repeats, in the packet's order.
    pub(super) recipients: Vec<String>,
    /// (sender, DocumentId) of the documents a revoke/update/replace acts on.
    pub(super) originals: Vec<(String, String)>,
    pub(super) business: BusinessDocType,
}

#[derive(Debug)]
pub(super) struct StatusPlan {
    pub(super) original_sender: String,
    pub(super) document_id: String,
    pub(super) code: StatusCode,
    pub(super) description: Option<String>,
    pub(super) actor: Actor,
    /// The recipients whose state the status applies to.
    pub(super) targets: Vec<String>,
    /// Where the status packet is delivered.
    pub(super) route_to: Vec<String>,
    /// Who acted, as the packet's `StaffInfo` says.
    pub(super) staff: Option<StaffInfo>,
    /// The number of its `status.recorded` audit event.
    pub(super) event: i64,
}

impl Plan {
    pub(super) fn kind(&self) -> PacketKind {
        match self {
            Plan::Message(_) => PacketKind::Message,
            Plan::Status(_) => PacketKind::Status,
        }
    }

    /// The agencies the packet is delivered to.
    pub(super) fn routed_to(&self) -> &[String] {
        match self {
            Plan::Message(m) => &m.recipients,
            Plan::Status(s) => &s.route_to,
        }
    }

    /// For a status: its code and the document's original sender.
    pub(super) fn status(&self) -> Option<(String, String)> {
        match self {
            Plan::Status(s) => Some((s.code.as_str().to_owned(), s.original_sender.clone())),
            Plan::Message(_) => None,
        }
    }
}

/// The writer's unit: everything decided, nothing generated inside.
#[derive(Debug)]
pub(super) struct Record {
    pub(super) packet: PacketRecord,
    /// The packet's bytes when they are kept in its row (none: in the blob store).
    pub(super) content: Option<Vec<u8>>,
    /// The share of the in-flight budget that `content` holds, given back when the writer
    /// drops the record.
    pub(super) _reserved: Option<super::spool::Reservation>,
    pub(super) plan: Plan,
    pub(super) receipt: ReceiptRecord,
    /// The audit event of the acceptance, written with the packet.
    pub(super) event: EventRecord,
}

impl Record {
    /// The answer once this record is committed.
    pub(super) fn accepted(&self) -> Accepted {
        Accepted {
            id: self.packet.id.clone(),
            receipt: self.receipt.receipt_xml.clone(),
            kind: self.packet.kind,
            document_id: self.packet.document_id.clone(),
            replayed: false,
        }
    }
}

/// The deliveries of a packet to its recipients.
pub(super) fn deliveries_of(packet: &PacketRecord, recipients: &[String]) -> Vec<NewDelivery> {
    recipients
        .iter()
        .map(|recipient| NewDelivery {
            packet_id: packet.id.clone(),
            recipient: recipient.clone(),
            created_at: packet.received_at,
        })
        .collect()
}

/// The rows a packet creating a new document writes besides itself: the document (`new`,
/// completed with the packet) and the document's state with each recipient.
pub(super) fn new_document_rows(
    packet: &PacketRecord,
    new: &DocumentRecord,
    recipients: &[String],
) -> (DocumentRecord, Vec<RecipientStateRecord>) {
    let at = packet.received_at;
    let document = DocumentRecord {
        first_packet_id: packet.id.clone(),
        content_sha256: packet.content_sha256.clone(),
        created_at: at,
        ..new.clone()
    };
    let states = recipients
        .iter()
        .map(|recipient| RecipientStateRecord {
            sender: document.sender.clone(),
            document_id: document.document_id.clone(),
            recipient: recipient.clone(),
            state: RecipientState::NEW.to_string(),
            updated_at: at,
        })
        .collect();
    (document, states)
}
