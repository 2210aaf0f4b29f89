//! A document's timeline from the audit log (`GET /v1/documents/{sender}/{id}/trace`): every
//! event about its packets — the letter (and its updates and replacements) accepted, each
//! delivery pushed, acknowledged or parked, each status with its staff and the status
//! packets' own deliveries — in time order, each entry with its number, so that any line can
//! be proved with `GET /v1/audit/proof/inclusion?event=N`.
//!
//! Who sees what: the document's sender everything; a recipient what concerns it (the letter,
//! its own deliveries and statuses, the sender's statuses); an auditor what the agencies of
//! its scope among the document's sender and recipients would see; anyone else nothing, with
//! the same answer as for a document that does not exist.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::store::events::{self, EventKind, LoggedEvent};
use crate::store::scope;
use crate::store::{deliveries, packets, Store};

use super::access::Viewer;
use super::proofs::AuditError;

/// One event of the timeline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TraceEntry {
    pub event: i64,
    pub at: String,
    pub kind: String,
    /// The event's fields after `seq`, `at` and `kind`, as its bytes say (unescaped).
    pub fields: BTreeMap<String, String>,
}

/// A document's timeline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Trace {
    pub sender: String,
    pub document_id: String,
    pub subject: String,
    pub notation: Option<String>,
    pub recipients: Vec<String>,
    pub entries: Vec<TraceEntry>,
}

/// The timeline of `sender`'s document `document_id` as `viewer` may see it.
pub async fn trace(
    store: &Store,
    viewer: Viewer<'_>,
    sender: &str,
    document_id: &str,
) -> Result<Trace, AuditError> {
    let mut conn = store.acquire().await?;
    let hidden = || AuditError::NotFound(format!("document {document_id} of {sender}"));
    let document = packets::document(&mut conn, sender, document_id)
        .await?
        .ok_or_else(hidden)?;
    let states = deliveries::recipient_states(&mut conn, sender, document_id).await?;
    let recipients: Vec<String> = states.into_iter().map(|s| s.recipient).collect();
    let involved: Vec<&str> = std::iter::once(sender)
        .chain(recipients.iter().map(String::as_str))
        .collect();
    let viewers: HashSet<String> = match viewer {
        Viewer::Agency(me) => involved
            .iter()
            .filter(|code| **code == me)
            .map(|code| (*code).to_owned())
            .collect(),
        Viewer::Auditor(scope) => scope::within(&mut conn, scope, &involved)
            .await?
            .into_iter()
            .collect(),
    };
    if viewers.is_empty() {
        return Err(hidden());
    }
    // Every packet of the document, with the agency that sent it: the letter and its updates
    // and replacements, and the status packets.
    let mut owners: HashMap<String, String> =
        packets::packets_of_document(&mut conn, sender, document_id)
            .await?
            .into_iter()
            .map(|p| (p.id, p.sender))
            .collect();
    owners.extend(
        deliveries::status_history(&mut conn, sender, document_id)
            .await?
            .into_iter()
            .map(|s| (s.packet_id, s.reporter)),
    );
    let ids: Vec<&str> = owners.keys().map(String::as_str).collect();
    let logged = events::by_packets(&mut conn, &ids).await?;
    let sees = Sight {
        sender,
        viewers: &viewers,
        owners: &owners,
    };
    // In time order: numbers are handed out in blocks per process (and inside the overdue
    // job's and the mail worker's transactions), so they order events of one source only.
    let mut logged = logged;
    logged.sort_by_key(|e| (e.at, e.seq));
    let entries = logged.iter().filter_map(|e| sees.entry(e)).collect();
    let recipients = match viewers.contains(sender) {
        true => recipients,
        false => recipients
            .into_iter()
            .filter(|r| viewers.contains(r))
            .collect(),
    };
    Ok(Trace {
        sender: document.sender,
        document_id: document.document_id,
        subject: document.subject,
        notation: document.notation,
        recipients,
        entries,
    })
}

/// What the agencies `viewers` see of the document sent by `sender`.
struct Sight<'a> {
    sender: &'a str,
    viewers: &'a HashSet<String>,
    /// Packet id → the agency that sent it.
    owners: &'a HashMap<String, String>,
}

impl Sight<'_> {
    /// The entry of `event`, when one of the viewers may see it.
    fn entry(&self, event: &LoggedEvent) -> Option<TraceEntry> {
        let raw = events::fields(&event.body).ok()?;
        let kind = EventKind::parse(&event.kind)?;
        let field = |name: &str| raw.get(name).copied().unwrap_or("");
        let seen = self.viewers.contains(self.sender)
            || match kind {
                // The letter and the sender's own statuses; a recipient's status packets.
                EventKind::PacketAccepted => {
                    field("sender") == self.sender || self.viewers.contains(field("sender"))
                }
                EventKind::DeliveryPushed
                | EventKind::DeliveryAcknowledged
                | EventKind::DeliveryParked
                | EventKind::OverdueRaised
                | EventKind::OverdueCleared => {
                    self.viewers.contains(field("recipient"))
                        || self
                            .owners
                            .get(field("packet"))
                            .is_some_and(|owner| self.viewers.contains(owner))
                }
                EventKind::StatusRecorded => {
                    field("reporter") == self.sender || self.viewers.contains(field("reporter"))
                }
                EventKind::AuditorQuery
                | EventKind::MailSent
                | EventKind::CredentialCreated
                | EventKind::CredentialRevoked
                | EventKind::DirectoryImported
                | EventKind::PacketRefused => false,
            };
        if !seen {
            return None;
        }
        let fields = kind
            .fields()
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), events::unescape(raw.get(name)?))))
            .collect();
        Some(TraceEntry {
            event: event.seq,
            at: events::timestamp(event.at),
            kind: event.kind.clone(),
            fields,
        })
    }
}
