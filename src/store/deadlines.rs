//! Repository of deadlines (migration 0006): which deliveries of a letter missed the time to be
//! acknowledged or handled. The deadline itself is decided when asked, from the windows the
//! caller gives (`delivery::DeadlinePolicy`), so changed settings apply to letters already
//! waiting. The overdue job raises each miss once (a marker on `deliveries`, and the sender's
//! mail queued in the same transaction); the listing decides from the state as it is now, so
//! acknowledging a letter takes it off at once.
//!
//! Only the deliveries of a document's first packet count (the letter itself; not its
//! revoke/update/replace packets nor statuses). Acknowledged means the delivery was taken (pull
//! ack or push 2xx) or the recipient reported any status: its state is no longer `submitted`.
//! Handled means 02, 06 or a take-back agreed (`withdrawn`).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::error::StoreError;
use super::events::{self, EventKind};
use super::mails::{self, MailEvent};
use super::stats;
pub use super::windows::AckWindows;

/// Which deadline was missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverdueKind {
    /// Not acknowledged within the window of its priority.
    Acknowledgement,
    /// Not handled (06) by the end of its DueDate.
    Handling,
}

impl OverdueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OverdueKind::Acknowledgement => "acknowledgement",
            OverdueKind::Handling => "handling",
        }
    }
}

/// Whose overdue letters: those an agency sent, those it received, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Sent,
    Received,
    Both,
}

/// One missed deadline of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueRecord {
    pub kind: OverdueKind,
    pub delivery_seq: i64,
    pub packet_id: String,
    pub sender: String,
    pub document_id: String,
    pub notation: Option<String>,
    pub subject: String,
    pub priority: Option<i64>,
    pub recipient: String,
    /// The recipient's state (`submitted`, `delivered`, `01` …).
    pub state: String,
    /// When the letter was accepted, microseconds.
    pub received_at: i64,
    /// The acknowledgement deadline, microseconds (acknowledgement only).
    pub due_at: Option<i64>,
    /// The DueDate, `yyyy-mm-dd` (handling only).
    pub due_date: Option<String>,
}

const FROM: &str = "FROM deliveries d \
     JOIN packets p ON p.id = d.packet_id \
     JOIN documents doc ON doc.sender = p.sender AND doc.document_id = p.document_id \
       AND doc.first_packet_id = d.packet_id \
     JOIN recipient_states rs ON rs.sender = doc.sender AND rs.document_id = doc.document_id \
       AND rs.recipient = d.recipient";

const UNACKNOWLEDGED: &str = "d.acked_at IS NULL AND rs.state = 'submitted'";
const UNHANDLED: &str = "doc.due_date IS NOT NULL AND rs.state NOT IN ('02', '06', 'withdrawn')";

/// Raises, once each, the acknowledgement deadlines missed by `now` (at most `limit`): marks
/// the delivery and queues the `overdue` mail to the sender's clerks, naming the deadline.
/// Returns how many were raised.
pub async fn raise_unacknowledged(
    conn: &mut AnyConnection,
    windows: &AckWindows,
    now: i64,
    limit: i64,
) -> Result<u64, StoreError> {
    let due = windows.due_sql();
    let sql = format!(
        "SELECT d.seq, doc.sender, {due} AS due_at {FROM} \
         WHERE {UNACKNOWLEDGED} AND d.ack_overdue_at IS NULL AND {due} <= $1 \
         ORDER BY d.created_at LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut raised = 0;
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        let sender: String = row.try_get("sender")?;
        let due_at: i64 = row.try_get("due_at")?;
        let detail = due_at.to_string();
        raised += raise(
            conn,
            OverdueKind::Acknowledgement,
            seq,
            &sender,
            Some(&detail),
            now,
        )
        .await?;
    }
    Ok(raised)
}

/// Raises, once each, the handling deadlines (DueDate) that ended before `today` (Vietnam
/// date, `yyyy-mm-dd`) and not before `since`: marks the delivery and queues the
/// `overdue_handling` mail to the sender's clerks. Returns how many were raised.
pub async fn raise_unhandled(
    conn: &mut AnyConnection,
    today: &str,
    since: &str,
    now: i64,
    limit: i64,
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT d.seq, doc.sender {FROM} \
         WHERE doc.due_date < $1 AND doc.due_date >= $2 AND {UNHANDLED} \
         AND d.handling_overdue_at IS NULL ORDER BY d.seq LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(today)
        .bind(since)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut raised = 0;
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        let sender: String = row.try_get("sender")?;
        raised += raise(conn, OverdueKind::Handling, seq, &sender, None, now).await?;
    }
    Ok(raised)
}

/// Marks delivery `seq`'s missed deadline of `kind` as raised at `now` and queues the sender's
/// mail (`overdue`, `overdue_handling`), unless it was raised before. Returns 1 when it raised
/// it, 0 when not.
async fn raise(
    conn: &mut AnyConnection,
    kind: OverdueKind,
    seq: i64,
    sender: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<u64, StoreError> {
    let (column, event) = match kind {
        OverdueKind::Acknowledgement => ("ack_overdue_at", MailEvent::Overdue),
        OverdueKind::Handling => ("handling_overdue_at", MailEvent::OverdueHandling),
    };
    let marked = sqlx::query(&format!(
        "UPDATE deliveries SET {column} = $1 WHERE seq = $2 AND {column} IS NULL"
    ))
    .bind(now)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    if marked.rows_affected() == 0 {
        return Ok(0);
    }
    mails::queue_event(conn, event, seq, sender, detail, now).await?;
    stats::count_overdue(conn, seq).await?;
    let row = sqlx::query("SELECT seq, packet_id, recipient FROM deliveries WHERE seq = $1")
        .bind(seq)
        .fetch_one(&mut *conn)
        .await?;
    let due = detail.unwrap_or("");
    log_overdue(conn, EventKind::OverdueRaised, &row, kind, &[due], now).await?;
    Ok(1)
}

/// Logs `event` about the delivery `row` (its `seq`, `packet_id`, `recipient`) and the
/// deadline `kind`, with the kind's `extra` fields.
async fn log_overdue(
    conn: &mut AnyConnection,
    event: EventKind,
    row: &AnyRow,
    kind: OverdueKind,
    extra: &[&str],
    at: i64,
) -> Result<(), StoreError> {
    let delivery = row.try_get::<i64, _>("seq")?.to_string();
    let packet: String = row.try_get("packet_id")?;
    let recipient: String = row.try_get("recipient")?;
    let mut values = vec![
        packet.as_str(),
        delivery.as_str(),
        recipient.as_str(),
        kind.as_str(),
    ];
    values.extend_from_slice(extra);
    events::log(conn, event, Some(&packet), &values, at).await?;
    Ok(())
}

/// Logs `overdue.cleared` for each delivery of `taken` (number, time taken) that this very
/// taking acknowledged (its `acked_at` is that time: a delivery already taken another way was
/// cleared then) and whose acknowledgement deadline had been raised.
pub async fn log_cleared(conn: &mut AnyConnection, taken: &[(i64, i64)]) -> Result<(), StoreError> {
    let style = super::sql::Style::of(conn);
    for chunk in super::sql::chunks(taken) {
        let sql = format!(
            "SELECT seq, packet_id, recipient, acked_at FROM deliveries WHERE \
             ack_overdue_at IS NOT NULL AND seq IN ({}) ORDER BY seq",
            style.parameters(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for (seq, _) in chunk {
            query = query.bind(*seq);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let seq: i64 = row.try_get("seq")?;
            let acked_at: Option<i64> = row.try_get("acked_at")?;
            let Some(at) = chunk
                .iter()
                .find(|(s, at)| *s == seq && Some(*at) == acked_at)
                .map(|(_, at)| *at)
            else {
                continue;
            };
            let kind = OverdueKind::Acknowledgement;
            log_overdue(conn, EventKind::OverdueCleared, &row, kind, &[], at).await?;
        }
    }
    Ok(())
}

/// The letters of `agency` (as `side`) overdue now: missed acknowledgement deadlines, then
/// missed handling deadlines, each oldest deadline first, at most `limit` of each.
pub async fn overdue(
    conn: &mut AnyConnection,
    agency: &str,
    side: Side,
    windows: &AckWindows,
    now: i64,
    today: &str,
    limit: i64,
) -> Result<Vec<OverdueRecord>, StoreError> {
    let whose = match side {
        Side::Sent => "doc.sender = $1",
        Side::Received => "d.recipient = $1",
        Side::Both => "(doc.sender = $1 OR d.recipient = $1)",
    };
    let due = windows.due_sql();
    let columns = "d.seq, d.packet_id, doc.sender, doc.document_id, doc.notation, doc.subject, \
                   doc.priority, d.recipient, rs.state, d.created_at, doc.due_date";
    let acks = format!(
        "SELECT {columns}, {due} AS due_at {FROM} \
         WHERE {whose} AND {UNACKNOWLEDGED} AND {due} <= $2 ORDER BY due_at, d.seq LIMIT $3"
    );
    let mut found = Vec::new();
    for row in sqlx::query(&acks)
        .bind(agency)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
    {
        found.push(record(&row, OverdueKind::Acknowledgement)?);
    }
    let handling = format!(
        "SELECT {columns} {FROM} WHERE {whose} AND {UNHANDLED} AND doc.due_date < $2 \
         ORDER BY doc.due_date, d.seq LIMIT $3"
    );
    for row in sqlx::query(&handling)
        .bind(agency)
        .bind(today)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
    {
        found.push(record(&row, OverdueKind::Handling)?);
    }
    Ok(found)
}

fn record(row: &AnyRow, kind: OverdueKind) -> Result<OverdueRecord, StoreError> {
    let due_date: Option<String> = row.try_get("due_date")?;
    Ok(OverdueRecord {
        kind,
        delivery_seq: row.try_get("seq")?,
        packet_id: row.try_get("packet_id")?,
        sender: row.try_get("sender")?,
        document_id: row.try_get("document_id")?,
        notation: row.try_get("notation")?,
        subject: row.try_get("subject")?,
        priority: row.try_get("priority")?,
        recipient: row.try_get("recipient")?,
        state: row.try_get("state")?,
        received_at: row.try_get("created_at")?,
        due_at: match kind {
            OverdueKind::Acknowledgement => Some(row.try_get("due_at")?),
            OverdueKind::Handling => None,
        },
        due_date: match kind {
            OverdueKind::Acknowledgement => None,
            OverdueKind::Handling => due_date,
        },
    })
}
