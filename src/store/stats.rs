//! A month's statistics per agency (`GET /v1/audit/stats`, `lienthong audit stats`): letters
//! sent; letters received, acknowledged, acknowledged within the deadline of their priority,
//! overdue, refused (02); the median times to acknowledge and to 03 (assigned).
//!
//! Kept as the changes happen (migration 0015), in the transaction of each change, so that a
//! month of every agency is read from a few rows per agency — recounting a million letters
//! took ~20 s (docs/PERFORMANCE.md). `stats_counts` holds the counters per month and agency;
//! `stats_times` one row per duration, in the order of the medians, which are read exactly:
//! each agency's durations gathered in order into one array and its middle taken. The month
//! is the Vietnam month of the letter's acceptance (`yyyymm`); whatever happens later to a
//! letter counts in the month it was sent.
//!
//! Every counting statement is written once, with a filter: the changes count the rows they
//! touch, and [`recount_once`] (after the migration, or when an operator sets
//! `stats_recount.done` to 0) counts every row with the same text.

use sqlx::{AnyConnection, Connection, Row};

use super::scope::Scope;
use super::sql::{self, Style};
use super::windows::{AckWindows, APPOINTED};
use super::StoreError;

/// One agency's month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgencyStats {
    pub agency: String,
    pub sent: i64,
    pub received: i64,
    pub acknowledged: i64,
    pub acknowledged_in_time: i64,
    pub overdue: i64,
    pub refused: i64,
    /// Microseconds, for the letters acknowledged; none when none was.
    pub median_to_acknowledge: Option<i64>,
    /// Microseconds from arrival to the agency's first 03; none when it reported none.
    pub median_to_assigned: Option<i64>,
}

/// Whose rows.
#[derive(Debug, Clone)]
pub enum Whose<'a> {
    Agency(&'a str),
    Scope(&'a Scope),
}

/// A month as the statistics key it: `yyyymm`, Vietnam time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatsMonth(pub i64);

/// The Vietnam month (UTC+07:00) of the microseconds in `column`, as `yyyymm`.
fn month_of(style: Style, column: &str) -> String {
    match style {
        Style::Anonymous => {
            format!("CAST(strftime('%Y%m', {column} / 1000000 + 25200, 'unixepoch') AS INTEGER)")
        }
        Style::Numbered => format!(
            "CAST(to_char(to_timestamp({column} / 1000000 + 25200) AT TIME ZONE 'UTC', \
             'YYYYMM') AS BIGINT)"
        ),
    }
}

/// Adds to counter `column` of `stats_counts` the (month, agency, count) rows `select` gives.
fn add_counts(column: &str, select: &str) -> String {
    format!(
        "INSERT INTO stats_counts (month, agency, {column}) {select} GROUP BY 1, 2 \
         ON CONFLICT (month, agency) DO UPDATE SET {column} = stats_counts.{column} + \
         excluded.{column}"
    )
}

/// The letters sent, per sender and month, of the documents `filter` selects (`doc`).
fn sent_sql(style: Style, filter: &str) -> String {
    let month = month_of(style, "doc.created_at");
    add_counts(
        "sent",
        &format!("SELECT {month}, doc.sender, COUNT(*) FROM documents doc WHERE {filter}"),
    )
}

/// The deliveries of letters (their first packets), `d` joined to its document `doc`.
const LETTER_DELIVERIES: &str =
    "FROM deliveries d JOIN documents doc ON doc.first_packet_id = d.packet_id";

/// The letters received, per recipient and month, of the deliveries `filter` selects.
fn received_sql(style: Style, filter: &str) -> String {
    let month = month_of(style, "doc.created_at");
    add_counts(
        "received",
        &format!("SELECT {month}, d.recipient, COUNT(*) {LETTER_DELIVERIES} WHERE {filter}"),
    )
}

/// The letters raised overdue (either deadline), per recipient and month, of the deliveries
/// `filter` selects.
fn overdue_sql(style: Style, filter: &str) -> String {
    let month = month_of(style, "doc.created_at");
    add_counts(
        "overdue",
        &format!(
            "SELECT {month}, d.recipient, COUNT(*) {LETTER_DELIVERIES} \
             WHERE (d.ack_overdue_at IS NOT NULL OR d.handling_overdue_at IS NOT NULL) \
             AND {filter}"
        ),
    )
}

/// The status reports `s` of `code` that are an agency's first of that code on a letter not
/// its own, joined to the letter `doc`.
fn first_reports(code: &str) -> String {
    format!(
        "FROM status_history s JOIN documents doc ON doc.sender = s.sender \
         AND doc.document_id = s.document_id WHERE s.status_code = '{code}' \
         AND s.reporter <> doc.sender AND NOT EXISTS (SELECT 1 FROM status_history e \
         WHERE e.sender = s.sender AND e.document_id = s.document_id \
         AND e.reporter = s.reporter AND e.status_code = '{code}' AND e.seq < s.seq)"
    )
}

/// The letters refused (a first 02), per reporter and month, of the reports `filter` selects.
fn refused_sql(style: Style, filter: &str) -> String {
    let month = month_of(style, "doc.created_at");
    let from = first_reports("02");
    add_counts(
        "refused",
        &format!("SELECT {month}, s.reporter, COUNT(*) {from} AND {filter}"),
    )
}

const ADD_TIMES: &str =
    "INSERT INTO stats_times (month, kind, agency, micros, source, priority, appointed_after)";

/// The times to acknowledge of the taken letter deliveries `filter` selects.
fn acknowledge_sql(style: Style, filter: &str) -> String {
    let month = month_of(style, "doc.created_at");
    format!(
        "{ADD_TIMES} SELECT {month}, 'acknowledge', d.recipient, d.acked_at - d.created_at, \
         d.seq, doc.priority, CASE WHEN {APPOINTED} THEN doc.appointed_at - d.created_at END \
         {LETTER_DELIVERIES} \
         WHERE d.acked_at IS NOT NULL AND {filter} ON CONFLICT DO NOTHING"
    )
}

/// The times from arrival to an agency's first 03, of the reports `filter` selects.
fn assigned_sql(style: Style, filter: &str) -> String {
    let month = month_of(style, "doc.created_at");
    let from = first_reports("03");
    format!(
        "{ADD_TIMES} SELECT {month}, 'assigned', s.reporter, s.at - doc.created_at, s.seq, \
         NULL, NULL {from} AND {filter} ON CONFLICT DO NOTHING"
    )
}

/// Counts new letters, by the ids of their first packets: sent for their senders, received
/// for their recipients. In the transaction that writes them, after their deliveries.
pub async fn count_letters(
    conn: &mut AnyConnection,
    first_packets: &[&str],
) -> Result<(), StoreError> {
    let style = Style::of(conn);
    for chunk in sql::chunks(first_packets) {
        let list = style.parameters(1, chunk.len());
        let sent = sent_sql(style, &format!("doc.first_packet_id IN ({list})"));
        let received = received_sql(style, &format!("d.packet_id IN ({list})"));
        for text in [sent, received] {
            let mut query = sqlx::query(&text);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Records the times to acknowledge of the deliveries just taken (those of letters; a status
/// or a revocation taken is not a letter acknowledged).
pub async fn count_taken(conn: &mut AnyConnection, seqs: &[i64]) -> Result<(), StoreError> {
    let style = Style::of(conn);
    for chunk in sql::chunks(seqs) {
        let list = style.parameters(1, chunk.len());
        let text = acknowledge_sql(style, &format!("d.seq IN ({list})"));
        let mut query = sqlx::query(&text);
        for seq in chunk {
            query = query.bind(*seq);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Counts the status report `seq` just recorded, if it is an agency's first 02 (refused) or
/// first 03 (assigned) on a letter not its own.
pub async fn count_status(
    conn: &mut AnyConnection,
    seq: i64,
    code: &str,
) -> Result<(), StoreError> {
    let style = Style::of(conn);
    let filter = format!("s.seq = {}", style.parameter(1));
    let text = match code {
        "02" => refused_sql(style, &filter),
        "03" => assigned_sql(style, &filter),
        _ => return Ok(()),
    };
    sqlx::query(&text).bind(seq).execute(&mut *conn).await?;
    Ok(())
}

/// Counts delivery `seq` overdue when the deadline just raised is the first of its two.
pub async fn count_overdue(conn: &mut AnyConnection, seq: i64) -> Result<(), StoreError> {
    let style = Style::of(conn);
    let filter = format!(
        "d.seq = {} AND (d.ack_overdue_at IS NULL OR d.handling_overdue_at IS NULL)",
        style.parameter(1)
    );
    sqlx::query(&overdue_sql(style, &filter))
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Counts every row already stored, once: after migration 0015 (the letters of before it), or
/// after an operator set `stats_recount.done` to 0. Returns whether it counted. Several nodes
/// starting at once: the first takes the flag, the others find it taken; on PostgreSQL the
/// counters are locked meanwhile, so that a change committing during the count is counted
/// once, after it.
pub async fn recount_once(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    let style = Style::of(conn);
    let mut tx = conn.begin().await?;
    let claimed = sqlx::query("UPDATE stats_recount SET done = 1 WHERE done = 0")
        .execute(&mut *tx)
        .await?;
    if claimed.rows_affected() == 0 {
        return Ok(false);
    }
    if style == Style::Numbered {
        sqlx::query("LOCK TABLE stats_counts, stats_times IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
    }
    let all = "1 = 1";
    let statements = [
        "DELETE FROM stats_counts".to_owned(),
        "DELETE FROM stats_times".to_owned(),
        sent_sql(style, all),
        received_sql(style, all),
        overdue_sql(style, all),
        refused_sql(style, all),
        acknowledge_sql(style, all),
        assigned_sql(style, all),
    ];
    for text in statements {
        sqlx::query(&text).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The statistics of `month`, per agency of `whose`, by code.
pub async fn month(
    conn: &mut AnyConnection,
    month: StatsMonth,
    whose: Whose<'_>,
    windows: &AckWindows,
) -> Result<Vec<AgencyStats>, StoreError> {
    let style = Style::of(conn);
    // Whose rows (`$2`: the agency or the scope's root).
    let (cte, only, bound) = match &whose {
        Whose::Agency(code) => (String::new(), " AND agency = $2", Some(*code)),
        Whose::Scope(Scope::All) => (String::new(), "", None),
        Whose::Scope(scope @ Scope::Subtree(root)) => (
            scope.cte(2),
            " AND agency IN (SELECT code FROM scope)",
            Some(root.as_str()),
        ),
    };
    let text = month_sql(style, &cte, only, windows);
    let mut query = sqlx::query(&text).bind(month.0);
    if let Some(value) = bound {
        query = query.bind(value);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            let agency: String = r.try_get("agency")?;
            let figures: String = r.try_get("figures")?;
            figures_of(agency, &figures)
        })
        .collect()
}

/// One statement for the month: each agency's counters (an agency with durations received
/// letters that month, so it has counters), with its durations of each kind gathered in order
/// into one array and the middle taken — one pass over the index, in the database. The
/// numbers come back as one text per agency: the `Any` driver copies every value of every row
/// (~1.3 µs a value, measured), and a month has 111,000 agencies × 8 numbers.
fn month_sql(style: Style, cte: &str, only: &str, windows: &AckWindows) -> String {
    let (gather, lo, hi) = match style {
        Style::Anonymous => (
            "json_group_array(micros ORDER BY micros)",
            "json_extract(a, '$[' || ((n - 1) / 2) || ']')",
            "json_extract(a, '$[' || (n / 2) || ']')",
        ),
        Style::Numbered => (
            "array_agg(micros ORDER BY micros)",
            "a[CAST((n + 1) / 2 AS INTEGER)]",
            "a[CAST(n / 2 + 1 AS INTEGER)]",
        ),
    };
    let durations = |kind: &str| {
        format!(
            "(SELECT agency, n, in_time, ({lo} + {hi}) / 2 AS median FROM (SELECT agency, \
             COUNT(*) AS n, SUM(CASE WHEN micros <= COALESCE(appointed_after, {window}) \
             THEN 1 ELSE 0 END) AS in_time, {gather} AS a FROM stats_times \
             WHERE month = $1 AND kind = '{kind}'{only} GROUP BY agency) g)",
            window = windows.window_sql("priority"),
        )
    };
    let text = |column: &str| format!("COALESCE(CAST({column} AS TEXT), '-')");
    format!(
        "{cte}SELECT c.agency, {sent} || ' ' || {received} || ' ' || {overdue} || ' ' || \
         {refused} || ' ' || {n} || ' ' || {in_time} || ' ' || {to_ack} || ' ' || \
         {to_assigned} AS figures FROM (SELECT * FROM stats_counts WHERE month = $1{only}) c \
         LEFT JOIN {acks} k ON k.agency = c.agency LEFT JOIN {assigned} s \
         ON s.agency = c.agency ORDER BY c.agency",
        sent = text("c.sent"),
        received = text("c.received"),
        overdue = text("c.overdue"),
        refused = text("c.refused"),
        n = text("k.n"),
        in_time = text("k.in_time"),
        to_ack = text("k.median"),
        to_assigned = text("s.median"),
        acks = durations("acknowledge"),
        assigned = durations("assigned"),
    )
}

/// An agency's row from its figures: sent, received, overdue, refused, acknowledged, in time,
/// and the two medians, space-separated, `-` for none.
fn figures_of(agency: String, figures: &str) -> Result<AgencyStats, StoreError> {
    let bad = || StoreError::Corrupt(format!("statistics of {agency}: {figures:?}"));
    let mut numbers = figures.split(' ').map(|f| match f {
        "-" => Ok(None),
        f => f.parse::<i64>().map(Some).map_err(|_| bad()),
    });
    let mut next = || numbers.next().unwrap_or_else(|| Err(bad()));
    let mut count = || next().map(|n| n.unwrap_or(0));
    let (sent, received, overdue, refused) = (count()?, count()?, count()?, count()?);
    let (acknowledged, acknowledged_in_time) = (count()?, count()?);
    let (median_to_acknowledge, median_to_assigned) = (next()?, next()?);
    Ok(AgencyStats {
        sent,
        received,
        acknowledged,
        acknowledged_in_time,
        overdue,
        refused,
        median_to_acknowledge,
        median_to_assigned,
        agency,
    })
}
