//! The push outbox as people see it: an agency lists the pushes of the letters it sent or
//! receives (`GET /v1/deliveries`), an operator lists every push and sends a parked one again
//! or parks one by hand (`lienthong delivery list|retry|park`).

use serde::Serialize;
use sqlx::AnyConnection;

use crate::exchange::receipt::rfc3339_micros;
use crate::store::deliveries;
use crate::store::events::{self, EventRecord};
use crate::store::pushes::{self, PushRecord, PushState};
use crate::store::{now_micros, Store, StoreError};

/// Most pushes in one page.
pub const MAX_PAGE: u32 = 1000;

/// Who is looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer<'a> {
    /// An agency: the pushes of deliveries it sent or receives; the endpoint only of its own.
    Agency(&'a str),
    /// The operator (the CLI on the database): everything.
    Operator,
}

/// One push as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushView {
    pub delivery: i64,
    pub packet_id: String,
    pub sender: String,
    pub recipient: String,
    pub state: &'static str,
    pub attempts: u32,
    /// When the next attempt is due (pending and retrying only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The recipient's endpoint of the last attempt (shown to the recipient and operators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub queued_at: String,
    pub updated_at: String,
    pub done_at: Option<String>,
}

impl PushView {
    fn of(record: PushRecord, viewer: Viewer<'_>) -> PushView {
        let waiting = matches!(record.state, PushState::Pending | PushState::Retrying);
        let sees_endpoint = match viewer {
            Viewer::Operator => true,
            Viewer::Agency(code) => code == record.recipient,
        };
        PushView {
            delivery: record.delivery_seq,
            packet_id: record.packet_id,
            sender: record.sender,
            recipient: record.recipient,
            state: record.state.as_str(),
            attempts: record.attempts,
            next_attempt_at: waiting.then(|| rfc3339_micros(record.next_at)),
            endpoint: record.endpoint.filter(|_| sees_endpoint),
            last_status: record.last_status,
            last_error: record.last_error,
            queued_at: rfc3339_micros(record.created_at),
            updated_at: rfc3339_micros(record.updated_at),
            done_at: record.done_at.map(rfc3339_micros),
        }
    }
}

/// Pushes in `state` after delivery `after`, oldest first, as `viewer` may see them.
pub async fn list(
    store: &Store,
    viewer: Viewer<'_>,
    state: PushState,
    after: i64,
    limit: u32,
) -> Result<Vec<PushView>, StoreError> {
    let agency = match viewer {
        Viewer::Agency(code) => Some(code),
        Viewer::Operator => None,
    };
    let mut conn = store.acquire().await?;
    let records = pushes::list(&mut conn, state, agency, after, limit.clamp(1, MAX_PAGE)).await?;
    Ok(records
        .into_iter()
        .map(|r| PushView::of(r, viewer))
        .collect())
}

/// What an operator's action found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Done,
    /// No push of that delivery in a state the action applies to.
    NotApplicable,
}

/// Sends a parked (or retrying) push again now, with a fresh retry window.
pub async fn retry(store: &Store, delivery: i64) -> Result<Action, StoreError> {
    let done = store
        .write((delivery, now_micros()), |conn, (seq, at)| {
            Box::pin(pushes::retry_now(conn, *seq, *at))
        })
        .await?;
    Ok(if done {
        Action::Done
    } else {
        Action::NotApplicable
    })
}

/// Parks a push still to be made, with the operator's reason; logged as `delivery.parked`.
pub async fn park(store: &Store, delivery: i64, reason: &str) -> Result<Action, StoreError> {
    let input = (
        delivery,
        format!("parked by an operator: {reason}"),
        now_micros(),
        store.event_number().await?,
    );
    let done = store
        .write(input, |conn, (seq, reason, at, event)| {
            Box::pin(park_logged(conn, *seq, reason, *at, *event))
        })
        .await?;
    Ok(if done {
        Action::Done
    } else {
        Action::NotApplicable
    })
}

async fn park_logged(
    conn: &mut AnyConnection,
    seq: i64,
    reason: &str,
    at: i64,
    event: i64,
) -> Result<bool, StoreError> {
    if !pushes::park(conn, seq, reason, at).await? {
        return Ok(false);
    }
    let delivery = deliveries::delivery(conn, seq)
        .await?
        .ok_or_else(|| StoreError::corrupt(format!("delivery {seq} of a push vanished")))?;
    let logged = EventRecord::delivery_parked(
        event,
        at,
        &delivery.packet_id,
        seq,
        &delivery.recipient,
        reason,
    );
    events::insert(conn, &[&logged]).await?;
    Ok(true)
}

/// The push of one delivery, for the operator.
pub async fn show(store: &Store, delivery: i64) -> Result<Option<PushView>, StoreError> {
    let mut conn = store.acquire().await?;
    Ok(pushes::push(&mut conn, delivery)
        .await?
        .map(|r| PushView::of(r, Viewer::Operator)))
}
