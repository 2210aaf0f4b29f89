//! Repository of the mail outbox (`mails`, migration 0005): one row per event a clerk is told
//! of, queued in the transaction of the event, gathered per agency into batches (one message
//! each, its Message-ID the batch id, fixed before the first try), leased by the mail workers
//! and finished with the outcome. What a mail says is `delivery::notify`'s business.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::error::StoreError;
use super::events::{self, EventKind};
use super::sql::{self, Style};

/// What a mail tells clerks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailEvent {
    /// A letter arrived for their agency.
    Arrived,
    /// A recipient refused their agency's letter (status 02).
    Refused,
    /// A push of their agency's letter was given up.
    Parked,
    /// A recipient has not acknowledged a letter within its deadline (to the sender's clerks).
    Overdue,
    /// A recipient has not finished handling (06) a letter by its DueDate (to the sender's).
    OverdueHandling,
}

impl MailEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            MailEvent::Arrived => "arrived",
            MailEvent::Refused => "refused",
            MailEvent::Parked => "parked",
            MailEvent::Overdue => "overdue",
            MailEvent::OverdueHandling => "overdue_handling",
        }
    }

    fn of_row(text: &str) -> Result<MailEvent, StoreError> {
        [
            MailEvent::Arrived,
            MailEvent::Refused,
            MailEvent::Parked,
            MailEvent::Overdue,
            MailEvent::OverdueHandling,
        ]
        .into_iter()
        .find(|e| e.as_str() == text)
        .ok_or_else(|| StoreError::corrupt(format!("mail event {text:?}")))
    }
}

/// One event of a batch, with what a clerk needs to recognise the letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailItem {
    pub id: i64,
    pub event: MailEvent,
    pub delivery_seq: i64,
    /// The refusal's reason, the park's reason.
    pub detail: Option<String>,
    pub packet_id: String,
    pub sender: String,
    pub sender_name: Option<String>,
    pub recipient: String,
    pub recipient_name: Option<String>,
    /// The document the packet is or reports on.
    pub document_sender: String,
    pub document_id: String,
    pub notation: Option<String>,
    pub subject: Option<String>,
    pub priority: Option<i64>,
    pub due_date: Option<String>,
    /// When the packet was accepted, microseconds.
    pub received_at: i64,
}

/// A leased batch: one message to one agency's clerks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailBatch {
    /// The batch id: the message's Message-ID.
    pub batch: String,
    pub agency: String,
    pub agency_name: Option<String>,
    /// The clerks' addresses as the directory says now.
    pub clerks: Vec<String>,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When its oldest event happened, microseconds.
    pub oldest: i64,
    pub items: Vec<MailItem>,
}

/// Most events in one message.
pub const MAX_BATCH: u32 = 100;

/// Queues an `arrived` mail for every delivery of the message packets `packet_ids` whose
/// recipient has clerks, in the transaction that creates the deliveries.
pub async fn queue_arrivals(
    conn: &mut AnyConnection,
    packet_ids: &[&str],
) -> Result<(), StoreError> {
    queue_from_deliveries(
        conn,
        packet_ids,
        "SELECT 'arrived', d.seq, d.recipient, NULL, 'pending', d.created_at, d.created_at, \
         d.created_at FROM deliveries d JOIN packets p ON p.id = d.packet_id \
         JOIN agencies a ON a.code = d.recipient \
         WHERE p.kind = 'message' AND a.clerk_emails <> '[]' AND d.packet_id IN",
    )
    .await
}

/// Queues a `refused` mail (to the original sender's clerks, with the reason) for every
/// delivery of the status packets `packet_ids` that report 02.
pub async fn queue_refusals(
    conn: &mut AnyConnection,
    packet_ids: &[&str],
) -> Result<(), StoreError> {
    queue_from_deliveries(
        conn,
        packet_ids,
        "SELECT 'refused', d.seq, d.recipient, h.description, 'pending', d.created_at, \
         d.created_at, d.created_at FROM deliveries d \
         JOIN status_history h ON h.packet_id = d.packet_id \
         JOIN agencies a ON a.code = d.recipient \
         WHERE h.status_code = '02' AND a.clerk_emails <> '[]' AND d.packet_id IN",
    )
    .await
}

async fn queue_from_deliveries(
    conn: &mut AnyConnection,
    packet_ids: &[&str],
    select: &str,
) -> Result<(), StoreError> {
    sql::execute_for_ids(conn, packet_ids, |list| {
        format!(
            "INSERT INTO mails (event, delivery_seq, agency, detail, state, next_at, created_at, \
             updated_at) {select} ({list})"
        )
    })
    .await?;
    Ok(())
}

/// Queues one mail of `event` about delivery `seq` to `agency`'s clerks (if it has any), once:
/// the same event for the same delivery again changes nothing.
pub async fn queue_event(
    conn: &mut AnyConnection,
    event: MailEvent,
    seq: i64,
    agency: &str,
    detail: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mails (event, delivery_seq, agency, detail, state, next_at, created_at, \
         updated_at) SELECT $1, $2, code, $3, 'pending', $4, $4, $4 FROM agencies \
         WHERE code = $5 AND clerk_emails <> '[]' ON CONFLICT (event, delivery_seq) DO NOTHING",
    )
    .bind(event.as_str())
    .bind(seq)
    .bind(detail)
    .bind(at)
    .bind(agency)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a lease may take, as read before it: batches formed before whose retry is due, then
/// the agencies whose oldest waiting mail happened before the gathering window, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseCandidates {
    pub batches: Vec<String>,
    pub agencies: Vec<String>,
}

impl LeaseCandidates {
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.agencies.is_empty()
    }
}

/// At most `limit` batches and agencies [`lease`] may take at `now`, with mails gathered since
/// before `gathered_before`. Read on any connection, not in the writer's transaction: finding
/// the agencies reads every mail not gathered yet (under a flood, tens of thousands), which
/// inside the writer would hold up every submission; and when nothing is due the worker needs
/// no writer unit at all. The lease checks each candidate again under its own conditions.
pub async fn lease_candidates(
    conn: &mut AnyConnection,
    now: i64,
    gathered_before: i64,
    limit: usize,
) -> Result<LeaseCandidates, StoreError> {
    let limit = limit as i64;
    let batches = sqlx::query(
        "SELECT DISTINCT batch FROM mails WHERE state = 'pending' AND batch IS NOT NULL \
         AND next_at <= $1 AND (leased_until IS NULL OR leased_until <= $1) LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let agencies = sqlx::query(
        "SELECT agency FROM mails WHERE state = 'pending' AND batch IS NULL \
         GROUP BY agency HAVING MIN(created_at) <= $1 ORDER BY MIN(created_at) LIMIT $2",
    )
    .bind(gathered_before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(LeaseCandidates {
        batches: batches
            .iter()
            .map(|row| row.try_get("batch"))
            .collect::<Result<_, _>>()?,
        agencies: agencies
            .iter()
            .map(|row| row.try_get("agency"))
            .collect::<Result<_, _>>()?,
    })
}

/// Leases mail batches for `owner` until `until`, from `candidates` ([`lease_candidates`]):
/// first the formed batches still unleased at `now`, then new ones — for each candidate
/// agency, every mail of it not gathered yet (up to [`MAX_BATCH`], oldest first) under the
/// next id of `new_ids`. At most `new_ids.len()` batches in all. A candidate another worker
/// took since it was read is left out (its rows no longer match). Answers the ids of the
/// batches leased; [`leased_batches`] reads them, after the commit and outside the writer.
pub async fn lease(
    conn: &mut AnyConnection,
    now: i64,
    until: i64,
    owner: &str,
    candidates: &LeaseCandidates,
    new_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut leased: Vec<String> = Vec::new();
    for batch in candidates.batches.iter().take(new_ids.len()) {
        let taken = sqlx::query(
            "UPDATE mails SET leased_until = $1, lease_owner = $2 WHERE batch = $3 \
             AND state = 'pending' AND next_at <= $4 \
             AND (leased_until IS NULL OR leased_until <= $4)",
        )
        .bind(until)
        .bind(owner)
        .bind(batch)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if taken.rows_affected() > 0 {
            leased.push(batch.clone());
        }
    }
    let room = new_ids.len().saturating_sub(leased.len());
    for (agency, id) in candidates.agencies.iter().zip(new_ids).take(room) {
        let formed = sqlx::query(
            "UPDATE mails SET batch = $1, leased_until = $2, lease_owner = $3 \
             WHERE id IN (SELECT id FROM mails WHERE state = 'pending' AND batch IS NULL \
             AND agency = $4 ORDER BY created_at, id LIMIT $5) AND batch IS NULL",
        )
        .bind(id)
        .bind(until)
        .bind(owner)
        .bind(agency)
        .bind(i64::from(MAX_BATCH))
        .execute(&mut *conn)
        .await?;
        if formed.rows_affected() > 0 {
            leased.push(id.clone());
        }
    }
    Ok(leased)
}

/// The batches `ids` (leased by [`lease`]) with their items, in the order of `ids`. Read on
/// any connection once the lease is committed: a leased batch is left alone by others until its
/// lease runs out, and reading its letters (seven tables) in the writer's transaction would
/// hold up every submission behind it.
pub async fn leased_batches(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<MailBatch>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let style = Style::of(conn);
    let mut by_batch: HashMap<String, MailBatch> = HashMap::new();
    for chunk in sql::chunks(ids) {
        let sql = format!(
            "SELECT m.id, m.batch, m.event, m.delivery_seq, m.agency, m.detail, m.attempts, \
             m.created_at, ag.name AS agency_name, ag.clerk_emails, \
             d.packet_id, d.recipient, rc.name AS recipient_name, \
             p.sender, sd.name AS sender_name, p.kind, p.document_id, p.received_at, \
             COALESCE(h.sender, p.sender) AS document_sender, \
             doc.notation, doc.subject, doc.priority, doc.due_date \
             FROM mails m JOIN deliveries d ON d.seq = m.delivery_seq \
             JOIN packets p ON p.id = d.packet_id \
             LEFT JOIN status_history h ON h.packet_id = p.id \
             LEFT JOIN documents doc ON doc.sender = COALESCE(h.sender, p.sender) \
                 AND doc.document_id = p.document_id \
             LEFT JOIN agencies ag ON ag.code = m.agency \
             LEFT JOIN agencies rc ON rc.code = d.recipient \
             LEFT JOIN agencies sd ON sd.code = p.sender \
             WHERE m.state = 'pending' AND m.batch IN ({}) ORDER BY m.id",
            style.parameters(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            add_row(&mut by_batch, &row)?;
        }
    }
    Ok(ids.iter().filter_map(|id| by_batch.remove(id)).collect())
}

fn add_row(by_batch: &mut HashMap<String, MailBatch>, row: &AnyRow) -> Result<(), StoreError> {
    let batch: String = row.try_get("batch")?;
    let created_at: i64 = row.try_get("created_at")?;
    let attempts: i64 = row.try_get("attempts")?;
    let clerks: Option<String> = row.try_get("clerk_emails")?;
    let entry = match by_batch.entry(batch.clone()) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => e.insert(MailBatch {
            batch,
            agency: row.try_get("agency")?,
            agency_name: row.try_get("agency_name")?,
            clerks: serde_json::from_str(clerks.as_deref().unwrap_or("[]"))
                .map_err(|e| StoreError::corrupt(format!("clerk_emails: {e}")))?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            oldest: created_at,
            items: Vec::new(),
        }),
    };
    entry.oldest = entry.oldest.min(created_at);
    entry.items.push(MailItem {
        id: row.try_get("id")?,
        event: MailEvent::of_row(&row.try_get::<String, _>("event")?)?,
        delivery_seq: row.try_get("delivery_seq")?,
        detail: row.try_get("detail")?,
        packet_id: row.try_get("packet_id")?,
        sender: row.try_get("sender")?,
        sender_name: row.try_get("sender_name")?,
        recipient: row.try_get("recipient")?,
        recipient_name: row.try_get("recipient_name")?,
        document_sender: row.try_get("document_sender")?,
        document_id: row.try_get("document_id")?,
        notation: row.try_get("notation")?,
        subject: row.try_get("subject")?,
        priority: row.try_get("priority")?,
        due_date: row.try_get("due_date")?,
        received_at: row.try_get("received_at")?,
    });
    Ok(())
}

/// How sending a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    Sent,
    /// Try again at `next_at`.
    Retry {
        error: String,
        next_at: i64,
    },
    /// Given up.
    Failed {
        error: String,
    },
}

/// Records how sending `batch` ended, if `owner` still holds its lease.
pub async fn finish(
    conn: &mut AnyConnection,
    batch: &str,
    owner: &str,
    outcome: &MailOutcome,
    at: i64,
) -> Result<u64, StoreError> {
    let done = match outcome {
        MailOutcome::Sent => {
            // The rows sent, as they are marked: once sent they are in no index by batch,
            // and reading them again would read the whole table in the writer.
            let sent = sqlx::query(
                "UPDATE mails SET state = 'sent', attempts = attempts + 1, sent_at = $1, \
             last_error = NULL, leased_until = NULL, updated_at = $1 \
             WHERE batch = $2 AND lease_owner = $3 AND state = 'pending' \
             RETURNING id, agency, event",
            )
            .bind(at)
            .bind(batch)
            .bind(owner)
            .fetch_all(&mut *conn)
            .await?;
            if !sent.is_empty() {
                log_sent(conn, batch, &sent, at).await?;
            }
            return Ok(sent.len() as u64);
        }
        MailOutcome::Retry { error, next_at } => {
            sqlx::query(
                "UPDATE mails SET attempts = attempts + 1, last_error = $1, next_at = $2, \
             leased_until = NULL, updated_at = $3 \
             WHERE batch = $4 AND lease_owner = $5 AND state = 'pending'",
            )
            .bind(error)
            .bind(*next_at)
            .bind(at)
            .bind(batch)
            .bind(owner)
            .execute(&mut *conn)
            .await?
        }
        MailOutcome::Failed { error } => {
            sqlx::query(
                "UPDATE mails SET state = 'failed', attempts = attempts + 1, last_error = $1, \
             leased_until = NULL, updated_at = $2 \
             WHERE batch = $3 AND lease_owner = $4 AND state = 'pending'",
            )
            .bind(error)
            .bind(at)
            .bind(batch)
            .bind(owner)
            .execute(&mut *conn)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Logs `mail.sent` for `batch`: its agency, how many mails, and their events in the order
/// of the mails (`sent`: the rows marked sent, with id, agency and event).
async fn log_sent(
    conn: &mut AnyConnection,
    batch: &str,
    sent: &[AnyRow],
    at: i64,
) -> Result<(), StoreError> {
    let mut rows: Vec<(i64, &AnyRow)> = Vec::with_capacity(sent.len());
    for row in sent {
        rows.push((row.try_get("id")?, row));
    }
    rows.sort_by_key(|(id, _)| *id);
    let mut agency = String::new();
    let mut kinds: Vec<String> = Vec::new();
    for (_, row) in &rows {
        agency = row.try_get("agency")?;
        let event: String = row.try_get("event")?;
        if !kinds.contains(&event) {
            kinds.push(event);
        }
    }
    let count = rows.len().to_string();
    let values = [batch, agency.as_str(), count.as_str(), &kinds.join(",")];
    events::log(conn, EventKind::MailSent, None, &values, at).await?;
    Ok(())
}

/// How many mails wait (pending) and have failed, and the oldest pending one's time.
pub async fn depth(conn: &mut AnyConnection) -> Result<(i64, i64, Option<i64>), StoreError> {
    // A pending mail is gathered into a batch or not yet: each part is answered from its own
    // partial index (migration 0008).
    let mut waiting = 0;
    let mut oldest: Option<i64> = None;
    for part in ["batch IS NULL", "batch IS NOT NULL"] {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM mails \
             WHERE state = 'pending' AND {part}"
        ))
        .fetch_one(&mut *conn)
        .await?;
        waiting += row.try_get::<i64, _>("n")?;
        let first: Option<i64> = row.try_get("oldest")?;
        oldest = oldest.into_iter().chain(first).min();
    }
    let failed = sqlx::query("SELECT COUNT(*) AS n FROM mails WHERE state = 'failed'")
        .fetch_one(&mut *conn)
        .await?;
    Ok((waiting, failed.try_get("n")?, oldest))
}
