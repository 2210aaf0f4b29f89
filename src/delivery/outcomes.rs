//! Recording what push attempts came to, in groups. Each push's outcome is a unit of the
//! store's writer of one [`Bulk`] kind, so the outcomes that finish while the writer is busy
//! are recorded together: the 2xx answers (nearly all of them on a healthy exchange) with a
//! few statements per 32 pushes, instead of six statements each in the writer that also
//! commits the accepted letters. The rare outcomes (retry, park, skip, defer) are recorded
//! one by one in the same transaction.

use std::collections::HashSet;

use sqlx::AnyConnection;

use crate::exchange::{take_deliveries, TakenVia};
use crate::store::deadlines;
use crate::store::deliveries::Taking;
use crate::store::events::{self, EventRecord};
use crate::store::mails::{self, MailEvent};
use crate::store::pushes::{self, DeliveredPush, PushOutcome};
use crate::store::{BoxFuture, Bulk, BulkOutcomes, StoreError};

/// One push's outcome, to record.
#[derive(Debug, Clone)]
pub struct Finished {
    pub delivery_seq: i64,
    pub packet_id: String,
    pub recipient: String,
    pub sender: String,
    /// The lease holder (this node).
    pub owner: String,
    /// The endpoint the push went to, if it was made.
    pub endpoint: Option<String>,
    pub outcome: PushOutcome,
    pub at: i64,
    /// The number of its audit event, for a push delivered or parked (`Store::event_number`).
    pub event: Option<i64>,
}

impl Finished {
    /// The audit event of this outcome, when it is one the log keeps and has a number.
    fn event(&self) -> Option<EventRecord> {
        let seq = self.event?;
        let endpoint = self.endpoint.as_deref().unwrap_or_default();
        let (packet, delivery) = (self.packet_id.as_str(), self.delivery_seq);
        match &self.outcome {
            PushOutcome::Delivered { status } => Some(EventRecord::delivery_pushed(
                seq,
                self.at,
                packet,
                delivery,
                &self.recipient,
                endpoint,
                *status,
            )),
            PushOutcome::Parked { error, .. } => Some(EventRecord::delivery_parked(
                seq,
                self.at,
                packet,
                delivery,
                &self.recipient,
                error,
            )),
            _ => None,
        }
    }
}

/// The writer's kind for push outcomes.
#[derive(Debug, Default)]
pub struct RecordOutcomes;

impl Bulk for RecordOutcomes {
    type Input = Finished;
    type Output = ();
    type Error = StoreError;

    fn run<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        inputs: &'a [&'a Finished],
    ) -> BoxFuture<'a, BulkOutcomes<Self>> {
        Box::pin(async move {
            record(conn, inputs).await?;
            Ok(inputs.iter().map(|_| Ok(())).collect())
        })
    }
}

/// Records `finished`: a delivered push marks its delivery taken (unless an operator parked
/// the push meanwhile); a push parked now queues the mail to the sender's clerks (the letter
/// did not reach the recipient's system; it waits in the pull inbox). Both are logged.
async fn record(conn: &mut AnyConnection, finished: &[&Finished]) -> Result<(), StoreError> {
    let mut delivered = Vec::new();
    let mut logged = Vec::new();
    for f in finished {
        match &f.outcome {
            PushOutcome::Delivered { status } => delivered.push(DeliveredPush {
                seq: f.delivery_seq,
                endpoint: f.endpoint.as_deref(),
                status: *status,
                at: f.at,
            }),
            outcome => {
                let changed = pushes::finish(
                    conn,
                    f.delivery_seq,
                    &f.owner,
                    f.endpoint.as_deref(),
                    outcome,
                    f.at,
                )
                .await?;
                if let (true, PushOutcome::Parked { error, .. }) = (changed, outcome) {
                    let (seq, sender) = (f.delivery_seq, f.sender.as_str());
                    mails::queue_event(conn, MailEvent::Parked, seq, sender, Some(error), f.at)
                        .await?;
                    logged.extend(f.event());
                }
            }
        }
    }
    if delivered.is_empty() {
        let logged: Vec<&EventRecord> = logged.iter().collect();
        return events::insert(conn, &logged).await;
    }
    let changed: HashSet<i64> = pushes::finish_delivered(conn, &delivered)
        .await?
        .into_iter()
        .collect();
    logged.extend(
        finished
            .iter()
            .filter(|f| changed.contains(&f.delivery_seq))
            .filter_map(|f| f.event()),
    );
    let logged: Vec<&EventRecord> = logged.iter().collect();
    events::insert(conn, &logged).await?;
    let taken: Vec<Taking<'_>> = finished
        .iter()
        .filter(|f| changed.contains(&f.delivery_seq))
        .map(|f| Taking {
            seq: f.delivery_seq,
            recipient: &f.recipient,
            at: f.at,
        })
        .collect();
    take_deliveries(conn, &taken, TakenVia::Push).await?;
    let pairs: Vec<(i64, i64)> = taken.iter().map(|t| (t.seq, t.at)).collect();
    deadlines::log_cleared(conn, &pairs).await
}
