//! Who reads the audit trail and what it may see: an agency the documents it sent or
//! received, an auditor those its scope's agencies sent or received. Every query an auditor
//! makes is itself an event, committed before it is answered.

use crate::store::events::{self, EventKind, EventRecord};
use crate::store::scope::{self, Scope};
use crate::store::{deliveries, now_micros, packets, Store};

use super::proofs::AuditError;

/// A reader of the audit trail, as the reads check it.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// An agency's system: its own documents.
    Agency(&'a str),
    /// An auditor: the documents of its scope.
    Auditor(&'a Scope),
}

/// Whether `viewer` may see the packet `id` (false for a packet that does not exist).
pub async fn sees_packet(store: &Store, viewer: Viewer<'_>, id: &str) -> Result<bool, AuditError> {
    let mut conn = store.acquire().await?;
    let Some(packet) = packets::packet(&mut conn, id).await? else {
        return Ok(false);
    };
    let recipients: Vec<String> = deliveries::deliveries_of_packet(&mut conn, id)
        .await?
        .into_iter()
        .map(|d| d.recipient)
        .collect();
    let involved: Vec<&str> = std::iter::once(packet.sender.as_str())
        .chain(recipients.iter().map(String::as_str))
        .collect();
    Ok(match viewer {
        Viewer::Agency(me) => involved.contains(&me),
        Viewer::Auditor(scope) => !scope::within(&mut conn, scope, &involved).await?.is_empty(),
    })
}

/// Whether the agency `code` is in `scope`.
pub async fn in_scope(store: &Store, scope: &Scope, code: &str) -> Result<bool, AuditError> {
    let mut conn = store.acquire().await?;
    Ok(!scope::within(&mut conn, scope, &[code]).await?.is_empty())
}

/// Logs that the auditor `system_id` (of `scope`) asked `query` (the request's path and
/// query string); answers the event's number once it is committed.
pub async fn record_query(
    store: &Store,
    system_id: &str,
    scope: &Scope,
    query: &str,
) -> Result<i64, AuditError> {
    let seq = store.event_number().await?;
    let event = EventRecord::new(
        seq,
        now_micros(),
        EventKind::AuditorQuery,
        None,
        &[system_id, scope.as_str(), query],
    );
    store
        .write(event, |conn, event| {
            Box::pin(async move { events::insert(conn, &[event]).await })
        })
        .await?;
    Ok(seq)
}
