//! The events held to the rows they describe: an accepted packet's event to its `packets`
//! row (sender, DocumentId, content hash, size), a delivery event to its `deliveries` row
//! (packet, recipient, and for the way it was taken, when). A row changed after the fact no
//! longer matches the event the log signed for it.

use std::collections::HashMap;

use sqlx::AnyConnection;

use crate::store::events::{self, EventKind, LoggedEvent};
use crate::store::{deliveries, packets, DeliveryRecord, PacketRecord, StoreError};

use super::Mismatch;

/// The first event of `batch` (in leaf order) whose row says otherwise, if any.
pub(super) async fn check(
    conn: &mut AnyConnection,
    batch: &[LoggedEvent],
) -> Result<Option<Mismatch>, StoreError> {
    let parsed: Vec<(
        &LoggedEvent,
        EventKind,
        std::collections::BTreeMap<&str, &str>,
    )> = batch
        .iter()
        .filter_map(|e| Some((e, EventKind::parse(&e.kind)?, events::fields(&e.body).ok()?)))
        .collect();
    let packet_ids: Vec<&str> = parsed
        .iter()
        .filter(|(_, kind, _)| *kind == EventKind::PacketAccepted)
        .filter_map(|(e, _, _)| e.packet_id.as_deref())
        .collect();
    let packets: HashMap<String, PacketRecord> = packets::packets_by_ids(conn, &packet_ids)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let seqs: Vec<i64> = parsed
        .iter()
        .filter(|(_, kind, _)| *kind != EventKind::PacketAccepted)
        .filter_map(|(_, _, fields)| fields.get("delivery")?.parse().ok())
        .collect();
    let deliveries: HashMap<i64, (DeliveryRecord, Option<String>)> =
        deliveries::taken_by_seqs(conn, &seqs)
            .await?
            .into_iter()
            .map(|(d, via)| (d.seq, (d, via)))
            .collect();
    for (event, kind, fields) in &parsed {
        let differs = match kind {
            EventKind::PacketAccepted => packet_differs(event, fields, &packets),
            EventKind::DeliveryPushed
            | EventKind::DeliveryAcknowledged
            | EventKind::DeliveryParked => delivery_differs(event, *kind, fields, &deliveries),
            // Its packet's own event covers the packet; the states it changed move on.
            EventKind::StatusRecorded => None,
            // A query changes no row; the others describe rows that move on (marks cleared,
            // mails retried, credentials revoked, agencies imported again).
            EventKind::AuditorQuery
            | EventKind::OverdueRaised
            | EventKind::OverdueCleared
            | EventKind::MailSent
            | EventKind::CredentialCreated
            | EventKind::CredentialRevoked
            | EventKind::DirectoryImported
            | EventKind::PacketRefused => None,
        };
        if let Some(what) = differs {
            return Ok(Some(Mismatch {
                event: Some(event.seq),
                leaf: event.leaf.and_then(|l| u64::try_from(l).ok()),
                what,
            }));
        }
    }
    Ok(None)
}

fn packet_differs(
    event: &LoggedEvent,
    fields: &std::collections::BTreeMap<&str, &str>,
    packets: &HashMap<String, PacketRecord>,
) -> Option<String> {
    let id = event.packet_id.as_deref().unwrap_or_default();
    let Some(packet) = packets.get(id) else {
        return Some(format!("packet {id}, whose acceptance it records, is gone"));
    };
    let size = packet.size.to_string();
    let expected = [
        ("sender", packet.sender.as_str()),
        ("document", packet.document_id.as_str()),
        ("content-sha256", packet.content_sha256.as_str()),
        ("size", size.as_str()),
    ];
    differing(fields, &expected, &format!("packet {id}"))
}

fn delivery_differs(
    event: &LoggedEvent,
    kind: EventKind,
    fields: &std::collections::BTreeMap<&str, &str>,
    deliveries: &HashMap<i64, (DeliveryRecord, Option<String>)>,
) -> Option<String> {
    let seq: i64 = fields.get("delivery")?.parse().ok()?;
    let Some((delivery, via)) = deliveries.get(&seq) else {
        return Some(format!("delivery {seq}, which it records, is gone"));
    };
    let expected = [
        ("packet", delivery.packet_id.as_str()),
        ("recipient", delivery.recipient.as_str()),
    ];
    if let Some(what) = differing(fields, &expected, &format!("delivery {seq}")) {
        return Some(what);
    }
    // The event of the way the delivery was taken holds its row's time and way.
    let taken_here = match kind {
        EventKind::DeliveryAcknowledged => Some("pull"),
        EventKind::DeliveryPushed if via.as_deref() == Some("push") => Some("push"),
        _ => None,
    }?;
    if via.as_deref() != Some(taken_here) || delivery.acked_at != Some(event.at) {
        return Some(format!(
            "delivery {seq} says it was taken {} at {}, the event says {taken_here} at {}",
            via.as_deref().unwrap_or("never"),
            delivery
                .acked_at
                .map_or_else(|| "no time".to_owned(), crate::store::events::timestamp),
            crate::store::events::timestamp(event.at)
        ));
    }
    None
}

/// The first of `expected` (field, the row's value) that the event's fields do not hold.
fn differing(
    fields: &std::collections::BTreeMap<&str, &str>,
    expected: &[(&str, &str)],
    row: &str,
) -> Option<String> {
    expected.iter().find_map(|(name, value)| {
        let logged = fields.get(name).copied().unwrap_or_default();
        (logged != crate::store::events::escape(value))
            .then(|| format!("{row} says {name} {value}, the event says {logged}"))
    })
}
