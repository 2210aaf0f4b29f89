//! Repository of the push outbox (`pushes`, migrations 0004): one row per delivery to push,
//! queued in the accepting transaction, leased by the push workers of any node, finished with
//! the outcome. What to do with a push (when to retry, when to park) is decided by
//! `delivery::push`; this module keeps the rows and makes sure two nodes never hold the same
//! lease.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::error::StoreError;
use super::records::PacketKind;
use super::sql::{self, Style};

/// Where a push stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushState {
    /// Not tried yet.
    Pending,
    /// Tried, failed, to be tried again at `next_at`.
    Retrying,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up (a 4xx, or the retry window ended): `last_error` says why.
    Parked,
    /// Not pushed: the recipient took it by pull first, or switched pushes off.
    Skipped,
}

impl PushState {
    pub const ALL: [PushState; 5] = [
        PushState::Pending,
        PushState::Retrying,
        PushState::Delivered,
        PushState::Parked,
        PushState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Pending => "pending",
            PushState::Retrying => "retrying",
            PushState::Delivered => "delivered",
            PushState::Parked => "parked",
            PushState::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<PushState> {
        PushState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    fn of_row(text: &str) -> Result<PushState, StoreError> {
        PushState::parse(text).ok_or_else(|| StoreError::corrupt(format!("push state {text:?}")))
    }
}

/// A leased push: the delivery, its packet and where it goes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushJob {
    pub delivery_seq: i64,
    pub recipient: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the delivery was queued (the packet's acceptance), microseconds.
    pub created_at: i64,
    /// The recipient's endpoint as the directory says now (none: removed since).
    pub endpoint: Option<String>,
    /// Whether the recipient still takes pushes.
    pub push_enabled: bool,
    /// When the recipient took the delivery already (by pull), if it did.
    pub acked_at: Option<i64>,
    pub packet_id: String,
    pub sender: String,
    pub kind: PacketKind,
    pub content_sha256: String,
    pub size: i64,
}

/// One push row as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    pub delivery_seq: i64,
    pub packet_id: String,
    pub sender: String,
    pub recipient: String,
    pub state: PushState,
    pub attempts: u32,
    pub next_at: i64,
    pub endpoint: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub done_at: Option<i64>,
}

/// How one attempt (or the decision not to make one) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// 2xx: the delivery is taken by the recipient's system.
    Delivered { status: u16 },
    /// Failed; try again at `next_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_at: i64,
    },
    /// Failed for good.
    Parked { status: Option<u16>, error: String },
    /// Not to be pushed.
    Skipped { reason: String },
    /// Not tried now (its endpoint's breaker is open or its endpoint is busy): not an attempt.
    Deferred { next_at: i64 },
}

/// Queues the pushes of the deliveries of `packet_ids` whose recipient has a push endpoint and
/// takes pushes — in the transaction that creates the deliveries, so that an accepted packet
/// never lacks its pushes and a refused one never has any. One statement per 32 packets.
pub async fn queue(conn: &mut AnyConnection, packet_ids: &[&str]) -> Result<(), StoreError> {
    sql::execute_for_ids(conn, packet_ids, |list| {
        format!(
            "INSERT INTO pushes (delivery_seq, recipient, state, next_at, created_at, updated_at) \
             SELECT d.seq, d.recipient, 'pending', d.created_at, d.created_at, d.created_at \
             FROM deliveries d JOIN agencies a ON a.code = d.recipient \
             WHERE a.push_endpoint IS NOT NULL AND a.push_enabled = 1 AND d.packet_id IN ({list})"
        )
    })
    .await?;
    Ok(())
}

/// Leases up to `limit` due pushes for `owner` until `until` (microseconds), oldest due first,
/// leaving out those whose endpoint is in `skip_endpoints` (breakers open on this node). On
/// PostgreSQL rows another node is leasing are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite
/// the writer's transaction holds the only write lock. An expired lease is taken again.
/// Answers the deliveries leased; [`leased_jobs`] reads them, after the commit and outside the
/// writer.
pub async fn lease(
    conn: &mut AnyConnection,
    now: i64,
    until: i64,
    owner: &str,
    limit: u32,
    skip_endpoints: &[String],
) -> Result<Vec<i64>, StoreError> {
    let style = Style::of(conn);
    let skip = if skip_endpoints.is_empty() {
        String::new()
    } else {
        format!(
            " AND (a.push_endpoint IS NULL OR a.push_endpoint NOT IN ({}))",
            style.parameters(5, skip_endpoints.len())
        )
    };
    let locking = match style {
        Style::Numbered => " FOR UPDATE OF p SKIP LOCKED",
        Style::Anonymous => "",
    };
    let due_index = due_index(style);
    let n = 5 + skip_endpoints.len();
    let sql = format!(
        "UPDATE pushes SET leased_until = {until_p}, lease_owner = {owner_p} \
         WHERE delivery_seq IN (SELECT p.delivery_seq FROM pushes p{due_index} \
         LEFT JOIN agencies a ON a.code = p.recipient \
         WHERE {due}{skip} \
         ORDER BY p.next_at LIMIT {limit_p}{locking}) RETURNING delivery_seq",
        until_p = style.parameter(1),
        owner_p = style.parameter(2),
        due = due(style, 3),
        limit_p = style.parameter(n),
    );
    let mut query = sqlx::query(&sql)
        .bind(until)
        .bind(owner)
        .bind(now)
        .bind(now);
    for endpoint in skip_endpoints {
        query = query.bind(endpoint);
    }
    let rows = query.bind(i64::from(limit)).fetch_all(&mut *conn).await?;
    let seqs: Vec<i64> = rows
        .iter()
        .map(|row| row.try_get("delivery_seq"))
        .collect::<Result<_, _>>()?;
    Ok(seqs)
}

/// Whether any push is due at `now` and not leased, as [`lease`] would find it (less the
/// endpoints it leaves out). Read on any connection: an idle worker asks this rather than
/// sending the writer a lease that finds nothing.
pub async fn any_due(conn: &mut AnyConnection, now: i64) -> Result<bool, StoreError> {
    let style = Style::of(conn);
    let sql = format!(
        "SELECT 1 AS due FROM pushes p{due_index} WHERE {due} LIMIT 1",
        due_index = due_index(style),
        due = due(style, 1)
    );
    let row = sqlx::query(&sql)
        .bind(now)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// How due pushes are read: SQLite, without statistics, would rather read every pending row
/// through another index and sort them — under a backlog, the whole queue per lease.
fn due_index(style: Style) -> &'static str {
    match style {
        Style::Numbered => "",
        Style::Anonymous => " INDEXED BY pushes_due",
    }
}

/// The condition of a push to make now: waiting, due at parameter `first`, and not leased (or
/// its lease ran out) at parameter `first + 1` (both `now`).
fn due(style: Style, first: usize) -> String {
    format!(
        "p.state IN ('pending', 'retrying') AND p.next_at <= {} \
         AND (p.leased_until IS NULL OR p.leased_until <= {})",
        style.parameter(first),
        style.parameter(first + 1)
    )
}

/// The pushes `seqs` (leased by [`lease`]) with their delivery, packet and endpoint, due first.
/// Read on any connection once the lease is committed, not in the writer's transaction.
pub async fn leased_jobs(
    conn: &mut AnyConnection,
    seqs: &[i64],
) -> Result<Vec<PushJob>, StoreError> {
    let style = Style::of(conn);
    let mut jobs = Vec::with_capacity(seqs.len());
    for chunk in sql::chunks(seqs) {
        let sql = format!(
            "SELECT p.delivery_seq, p.recipient, p.attempts, p.created_at, \
             a.push_endpoint, a.push_enabled, d.acked_at, d.packet_id, \
             k.sender, k.kind, k.content_sha256, k.size \
             FROM pushes p JOIN deliveries d ON d.seq = p.delivery_seq \
             JOIN packets k ON k.id = d.packet_id \
             LEFT JOIN agencies a ON a.code = p.recipient \
             WHERE p.delivery_seq IN ({}) ORDER BY p.next_at, p.delivery_seq",
            style.parameters(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for seq in chunk {
            query = query.bind(*seq);
        }
        for row in query.fetch_all(&mut *conn).await? {
            jobs.push(job_from_row(&row)?);
        }
    }
    Ok(jobs)
}

fn job_from_row(row: &AnyRow) -> Result<PushJob, StoreError> {
    let attempts: i64 = row.try_get("attempts")?;
    let enabled: Option<i64> = row.try_get("push_enabled")?;
    Ok(PushJob {
        delivery_seq: row.try_get("delivery_seq")?,
        recipient: row.try_get("recipient")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at: row.try_get("created_at")?,
        endpoint: row.try_get("push_endpoint")?,
        push_enabled: enabled == Some(1),
        acked_at: row.try_get("acked_at")?,
        packet_id: row.try_get("packet_id")?,
        sender: row.try_get("sender")?,
        kind: PacketKind::parse(&row.try_get::<String, _>("kind")?)?,
        content_sha256: row.try_get("content_sha256")?,
        size: row.try_get("size")?,
    })
}

/// Records how a leased push ended, at `at` (a delivered push's delivery is marked taken by
/// the caller, in the same transaction: `exchange::take_deliveries`). Returns whether the row
/// changed: an outcome of a lease that expired and was taken by another worker is dropped
/// (except a 2xx, which stands whoever leased the row since).
pub async fn finish(
    conn: &mut AnyConnection,
    seq: i64,
    owner: &str,
    endpoint: Option<&str>,
    outcome: &PushOutcome,
    at: i64,
) -> Result<bool, StoreError> {
    let status = |s: &Option<u16>| s.map(i64::from);
    let done =
        match outcome {
            PushOutcome::Delivered { status: code } => {
                let push = DeliveredPush {
                    seq,
                    endpoint,
                    status: *code,
                    at,
                };
                return Ok(!finish_delivered(conn, &[push]).await?.is_empty());
            }
            PushOutcome::Retry {
                status: code,
                error,
                next_at,
            } => sqlx::query(
                "UPDATE pushes SET state = 'retrying', attempts = attempts + 1, endpoint = $1, \
                 last_status = $2, last_error = $3, next_at = $4, leased_until = NULL, \
                 updated_at = $5 WHERE delivery_seq = $6 AND lease_owner = $7 \
                 AND state IN ('pending', 'retrying')",
            )
            .bind(endpoint)
            .bind(status(code))
            .bind(error)
            .bind(*next_at)
            .bind(at)
            .bind(seq)
            .bind(owner)
            .execute(&mut *conn)
            .await?,
            PushOutcome::Parked {
                status: code,
                error,
            } => {
                sqlx::query(
                    "UPDATE pushes SET state = 'parked', attempts = attempts + 1, endpoint = $1, \
                 last_status = $2, last_error = $3, leased_until = NULL, updated_at = $4, \
                 done_at = $4 WHERE delivery_seq = $5 AND lease_owner = $6 \
                 AND state IN ('pending', 'retrying')",
                )
                .bind(endpoint)
                .bind(status(code))
                .bind(error)
                .bind(at)
                .bind(seq)
                .bind(owner)
                .execute(&mut *conn)
                .await?
            }
            PushOutcome::Skipped { reason } => {
                sqlx::query(
                    "UPDATE pushes SET state = 'skipped', last_error = $1, leased_until = NULL, \
                 updated_at = $2, done_at = $2 WHERE delivery_seq = $3 AND lease_owner = $4 \
                 AND state IN ('pending', 'retrying')",
                )
                .bind(reason)
                .bind(at)
                .bind(seq)
                .bind(owner)
                .execute(&mut *conn)
                .await?
            }
            PushOutcome::Deferred { next_at } => {
                sqlx::query(
                    "UPDATE pushes SET next_at = $1, leased_until = NULL, updated_at = $2 \
                 WHERE delivery_seq = $3 AND lease_owner = $4 \
                 AND state IN ('pending', 'retrying')",
                )
                .bind(*next_at)
                .bind(at)
                .bind(seq)
                .bind(owner)
                .execute(&mut *conn)
                .await?
            }
        };
    Ok(done.rows_affected() > 0)
}

/// A push its endpoint answered 2xx, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredPush<'a> {
    pub seq: i64,
    pub endpoint: Option<&'a str>,
    pub status: u16,
    pub at: i64,
}

/// [`finish`] for many pushes answered 2xx at once, one statement per 32: the push workers
/// record their outcomes in groups, so that a busy exchange spends a statement on 32 pushes
/// rather than one each (see `delivery::outcomes`). Answers the deliveries whose push was
/// still to be made (a push an operator parked meanwhile stays parked).
pub async fn finish_delivered(
    conn: &mut AnyConnection,
    pushes: &[DeliveredPush<'_>],
) -> Result<Vec<i64>, StoreError> {
    let style = Style::of(conn);
    let mut changed = Vec::with_capacity(pushes.len());
    for chunk in sql::chunks(pushes) {
        // VALUES columns are column1… on both engines: (delivery, endpoint, status, at).
        let sql = format!(
            "UPDATE pushes SET state = 'delivered', attempts = attempts + 1, \
             endpoint = v.column2, last_status = v.column3, last_error = NULL, \
             leased_until = NULL, updated_at = v.column4, done_at = v.column4 \
             FROM (VALUES {}) AS v WHERE pushes.delivery_seq = v.column1 \
             AND pushes.state IN ('pending', 'retrying') RETURNING delivery_seq",
            style.values_list(chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for push in chunk {
            query = query
                .bind(push.seq)
                .bind(push.endpoint)
                .bind(i64::from(push.status))
                .bind(push.at);
        }
        for row in query.fetch_all(&mut *conn).await? {
            changed.push(row.try_get("delivery_seq")?);
        }
    }
    Ok(changed)
}

/// Sends a parked (or retrying) push again at once, as a fresh start of its retry window from
/// `at`; returns whether there was such a push. For operators (`lienthong delivery retry`).
pub async fn retry_now(conn: &mut AnyConnection, seq: i64, at: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE pushes SET state = 'retrying', next_at = $1, created_at = $1, leased_until = NULL, \
         done_at = NULL, updated_at = $1 WHERE delivery_seq = $2 AND state IN ('parked', 'retrying')",
    )
    .bind(at)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Parks a push that is still to be made, with `reason`; returns whether there was one. For
/// operators (`lienthong delivery park`).
pub async fn park(
    conn: &mut AnyConnection,
    seq: i64,
    reason: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE pushes SET state = 'parked', last_error = $1, leased_until = NULL, updated_at = $2, \
         done_at = $2 WHERE delivery_seq = $3 AND state IN ('pending', 'retrying')",
    )
    .bind(reason)
    .bind(at)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

const RECORD_COLUMNS: &str = "p.delivery_seq, d.packet_id, k.sender, p.recipient, p.state, \
     p.attempts, p.next_at, p.endpoint, p.last_status, p.last_error, p.created_at, \
     p.updated_at, p.done_at";

fn record_from_row(row: &AnyRow) -> Result<PushRecord, StoreError> {
    let attempts: i64 = row.try_get("attempts")?;
    Ok(PushRecord {
        delivery_seq: row.try_get("delivery_seq")?,
        packet_id: row.try_get("packet_id")?,
        sender: row.try_get("sender")?,
        recipient: row.try_get("recipient")?,
        state: PushState::of_row(&row.try_get::<String, _>("state")?)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_at: row.try_get("next_at")?,
        endpoint: row.try_get("endpoint")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        done_at: row.try_get("done_at")?,
    })
}

/// The push of one delivery, if it has one.
pub async fn push(conn: &mut AnyConnection, seq: i64) -> Result<Option<PushRecord>, StoreError> {
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM pushes p JOIN deliveries d ON d.seq = p.delivery_seq \
         JOIN packets k ON k.id = d.packet_id WHERE p.delivery_seq = $1"
    );
    let row = sqlx::query(&sql)
        .bind(seq)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(record_from_row).transpose()
}

/// Pushes in `state`, after the delivery `after`, oldest first; of deliveries sent by or to
/// `agency` when one is given.
pub async fn list(
    conn: &mut AnyConnection,
    state: PushState,
    agency: Option<&str>,
    after: i64,
    limit: u32,
) -> Result<Vec<PushRecord>, StoreError> {
    // The state is written into the statement (one of five fixed words), so that the planners
    // use the partial index of retrying or of parked pushes (migration 0008).
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM pushes p JOIN deliveries d ON d.seq = p.delivery_seq \
         JOIN packets k ON k.id = d.packet_id \
         WHERE p.state = '{state}' AND p.delivery_seq > $1 \
         AND ($2 = '' OR p.recipient = $2 OR k.sender = $2) \
         ORDER BY p.delivery_seq LIMIT $3",
        state = state.as_str()
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(agency.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(record_from_row).collect()
}

/// How many pushes wait in each unfinished state (and parked), and when the oldest of them
/// was queued: the queue's depth and age for /metrics.
pub async fn depth(conn: &mut AnyConnection) -> Result<Vec<(PushState, i64, i64)>, StoreError> {
    let rows = sqlx::query(
        // Each half is answered from its partial index alone (migration 0008).
        "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM pushes \
         WHERE state IN ('pending', 'retrying') GROUP BY state \
         UNION ALL SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM pushes \
         WHERE state = 'parked' GROUP BY state",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                PushState::of_row(&row.try_get::<String, _>("state")?)?,
                row.try_get("n")?,
                row.try_get("oldest")?,
            ))
        })
        .collect()
}
