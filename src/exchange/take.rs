//! Taking a delivery: the one rule for both ways a recipient's system takes a letter — it
//! acknowledges a pull (`POST /v1/inbox/{delivery}/ack`) or its push endpoint answers 2xx. The
//! delivery is marked taken (when and how), and a message's document moves to `delivered` at
//! that recipient. Whichever way comes first stands; the other finds it taken already. Run in
//! the caller's transaction.

use std::collections::HashMap;

use sqlx::AnyConnection;

use crate::store::deadlines;
use crate::store::deliveries::{self, Taking};
use crate::store::events::{self, EventRecord};
use crate::store::{Ack, RecipientStateRecord, StoreError};

use super::state::RecipientState;
use super::ExchangeError;

/// How a recipient's system took a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakenVia {
    /// It acknowledged the delivery (`POST /v1/inbox/{delivery}/ack`).
    Pull,
    /// Its push endpoint answered 2xx.
    Push,
}

impl TakenVia {
    pub fn as_str(self) -> &'static str {
        match self {
            TakenVia::Pull => "pull",
            TakenVia::Push => "push",
        }
    }
}

/// What acknowledging a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Taken now (microseconds since the epoch).
    Acked(i64),
    /// It had been acknowledged at that time; nothing changed.
    AlreadyAcked(i64),
}

/// Marks delivery `seq` taken by `recipient`'s system acknowledging its pull at `at`, logs it
/// as event number `event`, and moves a message's document to `delivered` at that recipient.
/// Another agency's delivery is `exchange.not_found`.
pub async fn take_pulled(
    conn: &mut AnyConnection,
    seq: i64,
    recipient: &str,
    at: i64,
    event: i64,
) -> Result<AckOutcome, ExchangeError> {
    let outcome = take_delivery(conn, seq, recipient, at, TakenVia::Pull).await?;
    if let AckOutcome::Acked(_) = outcome {
        let delivery = deliveries::delivery(conn, seq)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("delivery {seq} vanished")))?;
        let logged =
            EventRecord::delivery_acknowledged(event, at, &delivery.packet_id, seq, recipient);
        events::insert(conn, &[&logged]).await?;
        deadlines::log_cleared(conn, &[(seq, at)]).await?;
    }
    Ok(outcome)
}

/// Marks delivery `seq` taken by `recipient`'s system at `at`, and moves a message's document
/// to `delivered` at that recipient. Another agency's delivery is `exchange.not_found`.
async fn take_delivery(
    conn: &mut AnyConnection,
    seq: i64,
    recipient: &str,
    at: i64,
    via: TakenVia,
) -> Result<AckOutcome, ExchangeError> {
    match deliveries::ack_delivery(conn, seq, recipient, at, via.as_str()).await? {
        Ack::AlreadyAcked(when) => return Ok(AckOutcome::AlreadyAcked(when)),
        Ack::NotFound => {
            return Err(ExchangeError::NotFound {
                what: format!("delivery {seq}"),
                agency: recipient.to_owned(),
            })
        }
        Ack::Acked => {}
    }
    mark_delivered(conn, &[(seq, at)]).await?;
    Ok(AckOutcome::Acked(at))
}

/// [`take_delivery`] for many deliveries at once, a few statements per 32 of them: the push
/// workers record the 2xx answers of a busy exchange in groups. A delivery taken before, or
/// not addressed to the recipient named, is left as it is.
pub async fn take_deliveries(
    conn: &mut AnyConnection,
    taken: &[Taking<'_>],
    via: TakenVia,
) -> Result<(), StoreError> {
    let when: HashMap<i64, i64> = taken.iter().map(|t| (t.seq, t.at)).collect();
    let acked: Vec<(i64, i64)> = deliveries::ack_deliveries(conn, taken, via.as_str())
        .await?
        .into_iter()
        .filter_map(|seq| when.get(&seq).map(|at| (seq, *at)))
        .collect();
    mark_delivered(conn, &acked).await
}

/// Moves the documents of the message deliveries just taken (delivery, when) to `delivered`
/// at their recipients; a later state already implies delivery and stays.
async fn mark_delivered(conn: &mut AnyConnection, taken: &[(i64, i64)]) -> Result<(), StoreError> {
    if taken.is_empty() {
        return Ok(());
    }
    let when: HashMap<i64, i64> = taken.iter().copied().collect();
    let seqs: Vec<i64> = taken.iter().map(|(seq, _)| *seq).collect();
    // One row per (sender, document, recipient): two deliveries of one document to one
    // recipient in a group must not upsert the same row twice in one statement.
    let mut changed: HashMap<(String, String, String), RecipientStateRecord> = HashMap::new();
    for (seq, record) in deliveries::message_recipient_states(conn, &seqs).await? {
        let current = RecipientState::parse(&record.state)
            .ok_or_else(|| StoreError::Corrupt(format!("recipient state {:?}", record.state)))?;
        let next = current.delivered();
        if next == current {
            continue;
        }
        let key = (
            record.sender.clone(),
            record.document_id.clone(),
            record.recipient.clone(),
        );
        let updated_at = when.get(&seq).copied().unwrap_or(record.updated_at);
        changed.entry(key).or_insert(RecipientStateRecord {
            state: next.to_string(),
            updated_at,
            ..record
        });
    }
    let rows: Vec<RecipientStateRecord> = changed.into_values().collect();
    if !rows.is_empty() {
        deliveries::set_recipient_states(conn, &rows).await?;
    }
    Ok(())
}
