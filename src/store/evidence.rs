//! What delivery evidence is made of (`delivery::evidence`): each delivery of a packet with the
//! facts the exchange recorded about how it was taken — the delivery row (`acked_at`,
//! `taken_via`) and its push row, if it had one. Only reads; nothing here is written for
//! evidence.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::error::StoreError;
use super::pushes::PushState;

/// One delivery of a packet and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFacts {
    pub seq: i64,
    pub recipient: String,
    /// When the recipient's system took it (microseconds), if it did.
    pub acked_at: Option<i64>,
    /// `pull` or `push` (none for a delivery not taken, or taken before migration 0004, when
    /// only pulls existed).
    pub taken_via: Option<String>,
    /// Its push, when the recipient had an endpoint at acceptance.
    pub push: Option<PushFacts>,
}

/// What the push outbox recorded of a delivery's push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushFacts {
    pub state: PushState,
    /// The endpoint of the last attempt.
    pub endpoint: Option<String>,
    /// The HTTP status the endpoint answered last, if it answered.
    pub last_status: Option<i64>,
    /// Why the last attempt failed (or why it was parked or skipped).
    pub last_error: Option<String>,
    /// When the push ended (delivered, parked, skipped).
    pub done_at: Option<i64>,
    pub updated_at: i64,
}

/// The deliveries of packet `packet_id` by recipient, each with its push.
pub async fn delivery_facts(
    conn: &mut AnyConnection,
    packet_id: &str,
) -> Result<Vec<DeliveryFacts>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.seq, d.recipient, d.acked_at, d.taken_via, p.state, p.endpoint, \
         p.last_status, p.last_error, p.done_at, p.updated_at \
         FROM deliveries d LEFT JOIN pushes p ON p.delivery_seq = d.seq \
         WHERE d.packet_id = $1 ORDER BY d.recipient",
    )
    .bind(packet_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(facts_from_row).collect()
}

fn facts_from_row(row: &AnyRow) -> Result<DeliveryFacts, StoreError> {
    let state: Option<String> = row.try_get("state")?;
    let push = match state {
        None => None,
        Some(state) => Some(PushFacts {
            state: PushState::parse(&state)
                .ok_or_else(|| StoreError::corrupt(format!("push state {state:?}")))?,
            endpoint: row.try_get("endpoint")?,
            last_status: row.try_get("last_status")?,
            last_error: row.try_get("last_error")?,
            done_at: row.try_get("done_at")?,
            updated_at: row.try_get("updated_at")?,
        }),
    };
    Ok(DeliveryFacts {
        seq: row.try_get("seq")?,
        recipient: row.try_get("recipient")?,
        acked_at: row.try_get("acked_at")?,
        taken_via: row.try_get("taken_via")?,
        push,
    })
}
