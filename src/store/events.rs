//! The audit log's rows (issue 13, docs/AUDIT.md): events, written in the transaction of the
//! change each records; the Merkle tree's kept nodes; signed checkpoints; event numbers.
//!
//! An event is a canonical byte string — the input of its leaf hash — built here and only
//! here ([`EventRecord::new`]): a first line naming the format, then one `name value` line per
//! field, in the fixed order [`EventKind::fields`] gives, values escaped so that a value can
//! never end a line. `audit` places events in the tree, signs checkpoints and makes proofs.

use std::collections::BTreeMap;
use std::ops::Range;

use sqlx::{AnyConnection, Row};

use super::scope::Scope;
use super::sql::{self, AnyQuery, Style};
use super::StoreError;

/// The first line of every event: the format and its version.
pub const FORMAT: &str = "lienthong-event/1";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A packet (a letter or a status) was accepted and its receipt signed.
    PacketAccepted,
    /// A recipient's endpoint answered a push of the delivery with 2xx.
    DeliveryPushed,
    /// A recipient's system acknowledged a pulled delivery.
    DeliveryAcknowledged,
    /// A push was given up: the delivery waits in the pull inbox.
    DeliveryParked,
    /// A status packet was applied to the document's recipients' states.
    StatusRecorded,
    /// An auditor read the audit routes: who, with which scope, what it asked.
    AuditorQuery,
    /// A delivery missed its deadline to be acknowledged or handled (the overdue job).
    OverdueRaised,
    /// An overdue delivery was taken after all.
    OverdueCleared,
    /// A mail to an agency's clerks was handed to the SMTP server.
    MailSent,
    /// An API credential was created.
    CredentialCreated,
    /// An API credential was revoked.
    CredentialRevoked,
    /// A directory file was imported.
    DirectoryImported,
    /// A packet was refused: its caller, code and bytes' hash, or (under a flood) how many
    /// more of that caller and code a minute had (`audit::refusals`).
    PacketRefused,
}

impl EventKind {
    pub const ALL: [EventKind; 13] = [
        EventKind::PacketAccepted,
        EventKind::DeliveryPushed,
        EventKind::DeliveryAcknowledged,
        EventKind::DeliveryParked,
        EventKind::StatusRecorded,
        EventKind::AuditorQuery,
        EventKind::OverdueRaised,
        EventKind::OverdueCleared,
        EventKind::MailSent,
        EventKind::CredentialCreated,
        EventKind::CredentialRevoked,
        EventKind::DirectoryImported,
        EventKind::PacketRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PacketAccepted => "packet.accepted",
            EventKind::DeliveryPushed => "delivery.pushed",
            EventKind::DeliveryAcknowledged => "delivery.acknowledged",
            EventKind::DeliveryParked => "delivery.parked",
            EventKind::StatusRecorded => "status.recorded",
            EventKind::AuditorQuery => "auditor.query",
            EventKind::OverdueRaised => "overdue.raised",
            EventKind::OverdueCleared => "overdue.cleared",
            EventKind::MailSent => "mail.sent",
            EventKind::CredentialCreated => "credential.created",
            EventKind::CredentialRevoked => "credential.revoked",
            EventKind::DirectoryImported => "directory.imported",
            EventKind::PacketRefused => "packet.refused",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The fields after `seq`, `at` and `kind`, in their order (docs/AUDIT.md lists them).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            EventKind::PacketAccepted => &[
                "packet",
                "type",
                "sender",
                "document",
                "status",
                "recipients",
                "content-sha256",
                "size",
                "signer-sha256",
                "receipt-sha256",
            ],
            EventKind::DeliveryPushed => {
                &["packet", "delivery", "recipient", "endpoint", "http-status"]
            }
            EventKind::DeliveryAcknowledged => &["packet", "delivery", "recipient"],
            EventKind::DeliveryParked => &["packet", "delivery", "recipient", "reason"],
            EventKind::StatusRecorded => &[
                "packet",
                "reporter",
                "original-sender",
                "document",
                "code",
                "description",
                "department",
                "staff",
                "email",
                "mobile",
                "transitions",
            ],
            EventKind::AuditorQuery => &["auditor", "scope", "query"],
            EventKind::OverdueRaised => &["packet", "delivery", "recipient", "deadline", "due"],
            EventKind::OverdueCleared => &["packet", "delivery", "recipient", "deadline"],
            EventKind::MailSent => &["batch", "agency", "mails", "events"],
            EventKind::CredentialCreated => &["system", "agency", "role", "scope", "packets"],
            EventKind::CredentialRevoked => &["system"],
            EventKind::DirectoryImported => &["source", "imported", "updated", "certificates"],
            EventKind::PacketRefused => &["caller", "code", "content-sha256", "count", "minute"],
        }
    }
}

/// One row of `audit_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The event number.
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub at: i64,
    pub kind: EventKind,
    /// The packet it is about, if any (the trace finds events by it).
    pub packet_id: Option<String>,
    /// The canonical bytes.
    pub body: Vec<u8>,
}

impl EventRecord {
    /// The event `kind` numbered `seq` at `at`, with `values` for [`EventKind::fields`] in
    /// their order (a value may be empty: the field is then written with nothing after it).
    pub fn new(
        seq: i64,
        at: i64,
        kind: EventKind,
        packet_id: Option<&str>,
        values: &[&str],
    ) -> EventRecord {
        let names = kind.fields();
        assert_eq!(
            names.len(),
            values.len(),
            "event {} takes {} values",
            kind.as_str(),
            names.len()
        );
        let mut body = String::with_capacity(256);
        body.push_str(FORMAT);
        body.push('\n');
        line(&mut body, "seq", &seq.to_string());
        line(&mut body, "at", &timestamp(at));
        line(&mut body, "kind", kind.as_str());
        for (name, value) in names.iter().zip(values) {
            line(&mut body, name, value);
        }
        EventRecord {
            seq,
            at,
            kind,
            packet_id: packet_id.map(str::to_owned),
            body: body.into_bytes(),
        }
    }
}

impl EventRecord {
    /// `delivery.pushed`: `recipient`'s endpoint answered a push of delivery `delivery` (of
    /// packet `packet`) with `status`.
    pub fn delivery_pushed(
        seq: i64,
        at: i64,
        packet: &str,
        delivery: i64,
        recipient: &str,
        endpoint: &str,
        status: u16,
    ) -> EventRecord {
        let values = [
            packet,
            &delivery.to_string(),
            recipient,
            endpoint,
            &status.to_string(),
        ];
        EventRecord::new(seq, at, EventKind::DeliveryPushed, Some(packet), &values)
    }

    /// `delivery.acknowledged`: `recipient`'s system acknowledged the pulled delivery.
    pub fn delivery_acknowledged(
        seq: i64,
        at: i64,
        packet: &str,
        delivery: i64,
        recipient: &str,
    ) -> EventRecord {
        let values = [packet, &delivery.to_string(), recipient];
        EventRecord::new(
            seq,
            at,
            EventKind::DeliveryAcknowledged,
            Some(packet),
            &values,
        )
    }

    /// `delivery.parked`: the push of the delivery was given up, for `reason`.
    pub fn delivery_parked(
        seq: i64,
        at: i64,
        packet: &str,
        delivery: i64,
        recipient: &str,
        reason: &str,
    ) -> EventRecord {
        let values = [packet, &delivery.to_string(), recipient, reason];
        EventRecord::new(seq, at, EventKind::DeliveryParked, Some(packet), &values)
    }
}

/// `name value\n`, the value escaped: `\` as `\\`, a line feed as `\n`, a carriage return as
/// `\r`.
fn line(body: &mut String, name: &str, value: &str) {
    body.push_str(name);
    body.push(' ');
    escape_into(body, value);
    body.push('\n');
}

/// A value as written in an event's line, read back (the inverse of [`escape`]).
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// An event's `name value` lines after its format line, name → value as written (escaped; a
/// repeated name keeps its first value), or why the bytes are not an event.
pub fn fields(body: &[u8]) -> Result<BTreeMap<&str, &str>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "its bytes are not UTF-8")?;
    let mut lines = text.lines();
    if lines.next() != Some(FORMAT) {
        return Err(format!("its bytes do not start with {FORMAT}"));
    }
    let mut fields = BTreeMap::new();
    for line in lines {
        let (name, value) = line.split_once(' ').unwrap_or((line, ""));
        fields.entry(name).or_insert(value);
    }
    Ok(fields)
}

/// A value as an event's line writes it.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    escape_into(&mut out, value);
    out
}

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// `2026-12-05T22:00:00.123456Z`: UTC, always six digits of the second.
pub fn timestamp(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    match time::OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{fraction:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => micros.to_string(),
    }
}

/// Writes events, in the caller's transaction.
pub async fn insert(conn: &mut AnyConnection, events: &[&EventRecord]) -> Result<(), StoreError> {
    let head = "INSERT INTO audit_events (seq, at, kind, packet_id, body)";
    sql::insert_rows(conn, head, "", 5, events, |query, event| {
        query
            .bind(event.seq)
            .bind(event.at)
            .bind(event.kind.as_str())
            .bind(event.packet_id.as_deref())
            .bind(event.body.as_slice())
    })
    .await?;
    Ok(())
}

/// Takes the next `count` event numbers for this node (in the caller's transaction).
pub async fn reserve_numbers(
    conn: &mut AnyConnection,
    count: i64,
) -> Result<Range<i64>, StoreError> {
    let row = sqlx::query("UPDATE audit_numbers SET next = next + $1 WHERE id = 1 RETURNING next")
        .bind(count)
        .fetch_one(&mut *conn)
        .await?;
    let end: i64 = row.try_get("next")?;
    Ok(end - count..end)
}

/// Writes an event of `kind` in the caller's transaction, numbered there (for changes that do
/// not know before their transaction how many events they make: the overdue job, the mail
/// worker, the directory); answers its number.
pub async fn log(
    conn: &mut AnyConnection,
    kind: EventKind,
    packet: Option<&str>,
    values: &[&str],
    at: i64,
) -> Result<i64, StoreError> {
    let seq = reserve_numbers(conn, 1).await?.start;
    insert(conn, &[&EventRecord::new(seq, at, kind, packet, values)]).await?;
    Ok(seq)
}

/// An event as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub packet_id: Option<String>,
    pub body: Vec<u8>,
    /// Its place in the tree, once it has one.
    pub leaf: Option<i64>,
}

const EVENT_COLUMNS: &str = "seq, at, kind, packet_id, body, leaf";

fn event_from_row(row: &sqlx::any::AnyRow) -> Result<LoggedEvent, StoreError> {
    Ok(LoggedEvent {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        packet_id: row.try_get("packet_id")?,
        body: row.try_get("body")?,
        leaf: row.try_get("leaf")?,
    })
}

/// Events without a place in the tree yet, by number.
pub async fn waiting(conn: &mut AnyConnection, limit: u32) -> Result<Vec<LoggedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE leaf IS NULL ORDER BY seq LIMIT $1"
    );
    let rows = sqlx::query(&sql)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(event_from_row).collect()
}

/// How many events have no place in the tree yet.
pub async fn waiting_count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE leaf IS NULL")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// The events at the leaves `range`, in leaf order (a missing leaf is missing from the answer).
pub async fn by_leaves(
    conn: &mut AnyConnection,
    range: Range<i64>,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE leaf >= $1 AND leaf < $2 ORDER BY leaf"
    );
    let rows = sqlx::query(&sql)
        .bind(range.start)
        .bind(range.end)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(event_from_row).collect()
}

/// The event numbered `seq`.
pub async fn by_number(
    conn: &mut AnyConnection,
    seq: i64,
) -> Result<Option<LoggedEvent>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq = $1");
    let row = sqlx::query(&sql)
        .bind(seq)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(event_from_row).transpose()
}

/// The events about the packets `ids`, by number.
pub async fn by_packets(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> Result<Vec<LoggedEvent>, StoreError> {
    let style = Style::of(conn);
    let mut found = Vec::new();
    for chunk in sql::chunks(ids) {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE packet_id IN ({}) ORDER BY seq",
            style.parameters(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(event_from_row(&row)?);
        }
    }
    found.sort_by_key(|e| e.seq);
    Ok(found)
}

/// The PostgreSQL advisory lock key of the integration ("lienthon").
const INTEGRATION_LOCK: i64 = 0x6c69_656e_7468_6f6e;

/// Makes the caller's transaction the only integration running until it ends: on PostgreSQL
/// several nodes may try at once (a transaction-scoped advisory lock); on SQLite the writer is
/// the only writer already.
pub async fn hold_integration(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if Style::of(conn) == Style::Numbered {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INTEGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Gives events their leaves: `(seq, leaf)` pairs.
pub async fn place(conn: &mut AnyConnection, placed: &[(i64, i64)]) -> Result<(), StoreError> {
    let style = Style::of(conn);
    for chunk in sql::chunks(placed) {
        let sql = format!(
            "UPDATE audit_events SET leaf = v.column2 FROM (VALUES {}) AS v \
             WHERE audit_events.seq = v.column1 AND audit_events.leaf IS NULL",
            style.values_list(chunk.len(), 2)
        );
        let mut query = sqlx::query(&sql);
        for (seq, leaf) in chunk {
            query = query.bind(*seq).bind(*leaf);
        }
        let done = query.execute(&mut *conn).await?.rows_affected();
        if done != chunk.len() as u64 {
            return Err(StoreError::Database(format!(
                "{} of {} events were placed in the tree: another integrator ran at once",
                done,
                chunk.len()
            )));
        }
    }
    Ok(())
}

/// A kept node of the tree: `level`, `index` and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRecord {
    pub level: u32,
    pub index: i64,
    pub hash: [u8; 32],
}

/// Keeps nodes of the tree.
pub async fn insert_nodes(
    conn: &mut AnyConnection,
    nodes: &[NodeRecord],
) -> Result<(), StoreError> {
    let head = "INSERT INTO audit_nodes (level, idx, hash)";
    sql::insert_rows(conn, head, "", 3, nodes, |query, node| {
        query
            .bind(i64::from(node.level))
            .bind(node.index)
            .bind(node.hash.as_slice())
    })
    .await?;
    Ok(())
}

/// The kept nodes of `level` with indexes in `range`, in order.
pub async fn nodes(
    conn: &mut AnyConnection,
    level: u32,
    range: Range<i64>,
) -> Result<Vec<NodeRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT level, idx, hash FROM audit_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 \
         ORDER BY idx",
    )
    .bind(i64::from(level))
    .bind(range.start)
    .bind(range.end)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(node_from_row).collect()
}

fn node_from_row(row: &sqlx::any::AnyRow) -> Result<NodeRecord, StoreError> {
    let level: i64 = row.try_get("level")?;
    let hash: Vec<u8> = row.try_get("hash")?;
    Ok(NodeRecord {
        level: u32::try_from(level)
            .map_err(|_| StoreError::corrupt(format!("audit node level {level}")))?,
        index: row.try_get("idx")?,
        hash: hash
            .try_into()
            .map_err(|_| StoreError::corrupt("an audit node hash is not 32 bytes"))?,
    })
}

/// How many leaves the tree has: one past the last leaf hash kept.
pub async fn tree_size(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT MAX(idx) AS last FROM audit_nodes WHERE level = 0")
        .fetch_one(&mut *conn)
        .await?;
    let last: Option<i64> = row.try_get("last")?;
    Ok(last.map_or(0, |l| l + 1))
}

/// One row of `audit_checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub size: i64,
    pub root: [u8; 32],
    pub at: i64,
    /// The signed note.
    pub note: String,
}

pub async fn insert_checkpoint(
    conn: &mut AnyConnection,
    checkpoint: &CheckpointRecord,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_checkpoints (size, root, at, note) VALUES ($1, $2, $3, $4)")
        .bind(checkpoint.size)
        .bind(checkpoint.root.as_slice())
        .bind(checkpoint.at)
        .bind(&checkpoint.note)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const CHECKPOINT_COLUMNS: &str = "size, root, at, note";

fn checkpoint_from_row(row: &sqlx::any::AnyRow) -> Result<CheckpointRecord, StoreError> {
    let root: Vec<u8> = row.try_get("root")?;
    Ok(CheckpointRecord {
        size: row.try_get("size")?,
        root: root
            .try_into()
            .map_err(|_| StoreError::corrupt("a checkpoint root is not 32 bytes"))?,
        at: row.try_get("at")?,
        note: row.try_get("note")?,
    })
}

/// The checkpoint of the largest tree.
pub async fn latest_checkpoint(
    conn: &mut AnyConnection,
) -> Result<Option<CheckpointRecord>, StoreError> {
    let sql =
        format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size DESC LIMIT 1");
    let row = sqlx::query(&sql).fetch_optional(&mut *conn).await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// The checkpoint of the tree of `size` leaves, if one was signed.
pub async fn checkpoint(
    conn: &mut AnyConnection,
    size: i64,
) -> Result<Option<CheckpointRecord>, StoreError> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE size = $1");
    let row = sqlx::query(&sql)
        .bind(size)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// Every checkpoint, smallest tree first.
pub async fn checkpoints(conn: &mut AnyConnection) -> Result<Vec<CheckpointRecord>, StoreError> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(checkpoint_from_row).collect()
}

/// Which events an export takes: those placed in the tree of `size` leaves, written within
/// `period` (microseconds, half-open), about packets sent or received in `scope` (for the
/// whole exchange: every event, packet or not).
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub from: i64,
    pub to: i64,
    pub scope: &'a Scope,
}

impl Selection<'_> {
    /// The `WHERE` terms after `$1` (the scope's root, when it has one), with the first free
    /// parameter number.
    fn terms(&self) -> (String, usize) {
        let first = if self.scope.root().is_some() { 2 } else { 1 };
        let mut terms = format!("at >= ${first} AND at < ${}", first + 1);
        if self.scope.root().is_some() {
            terms.push_str(
                " AND packet_id IN (SELECT id FROM packets WHERE sender IN (SELECT code FROM \
                 scope) UNION SELECT packet_id FROM deliveries WHERE recipient IN (SELECT code \
                 FROM scope))",
            );
        }
        (terms, first + 2)
    }

    fn bind<'q>(&'q self, mut query: AnyQuery<'q>) -> AnyQuery<'q> {
        if let Some(root) = self.scope.root() {
            query = query.bind(root);
        }
        query.bind(self.from).bind(self.to)
    }

    /// How many selected events have a leaf below `size`, and how many do not yet.
    pub async fn count(
        &self,
        conn: &mut AnyConnection,
        size: i64,
    ) -> Result<(i64, i64), StoreError> {
        let (terms, n) = self.terms();
        let sql = format!(
            "{}SELECT COALESCE(SUM(CASE WHEN leaf < ${n} THEN 1 ELSE 0 END), 0) AS placed, \
             COUNT(*) AS events FROM audit_events WHERE {terms}",
            self.scope.cte(1)
        );
        let row = self
            .bind(sqlx::query(&sql))
            .bind(size)
            .fetch_one(&mut *conn)
            .await?;
        let placed: i64 = row.try_get("placed")?;
        let events: i64 = row.try_get("events")?;
        Ok((placed, events - placed))
    }

    /// Up to `limit` selected events with a leaf below `size` and a number above `after`, by
    /// number.
    pub async fn page(
        &self,
        conn: &mut AnyConnection,
        size: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let (terms, n) = self.terms();
        let sql = format!(
            "{}SELECT {EVENT_COLUMNS} FROM audit_events WHERE {terms} AND leaf < ${n} AND \
             seq > ${} ORDER BY seq LIMIT ${}",
            self.scope.cte(1),
            n + 1,
            n + 2
        );
        let query = self
            .bind(sqlx::query(&sql))
            .bind(size)
            .bind(after)
            .bind(limit);
        let rows = query.fetch_all(&mut *conn).await?;
        rows.iter().map(event_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_reads_back_what_escape_wrote() {
        for value in [
            "",
            "plain",
            "a\\b",
            "line\nbreak\r",
            "\\n is not a break",
            "Đảng ủy \\",
        ] {
            assert_eq!(unescape(&escape(value)), value);
            assert!(!escape(value).contains('\n'));
        }
    }

    #[test]
    fn an_event_is_its_fields_in_order_one_per_line_with_values_escaped() {
        let event = EventRecord::new(
            42,
            1_764_979_200_000_001,
            EventKind::DeliveryParked,
            Some("p-1"),
            &["p-1", "7", "000.00.00.H49", "HTTP 403\nForbidden \\ no"],
        );
        assert_eq!(
            String::from_utf8(event.body).unwrap(),
            "lienthong-event/1\nseq 42\nat 2025-12-06T00:00:00.000001Z\nkind delivery.parked\n\
             packet p-1\ndelivery 7\nrecipient 000.00.00.H49\nreason HTTP 403\\nForbidden \\\\ no\n"
        );
    }

    #[test]
    #[should_panic(expected = "takes 3 values")]
    fn an_event_with_a_field_missing_is_a_bug() {
        EventRecord::new(1, 0, EventKind::DeliveryAcknowledged, None, &["p", "1"]);
    }

    #[test]
    fn kinds_read_back() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("packet.eaten"), None);
    }
}
