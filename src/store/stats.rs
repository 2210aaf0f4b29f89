//! A month's statistics per agency (`GET /v1/audit/stats`, `lienthong audit stats`): letters
//! sent; letters received, acknowledged, acknowledged within the deadline of their priority,
//! overdue, refused (02); the median times to acknowledge and to 03 (assigned). Counted over
//! the documents created in the period, by SQL on both engines — medians with window
//! functions — so a month of a million letters is a few grouped scans, not a million rows
//! sent to the server.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use super::deadlines::AckWindows;
use super::scope::Scope;
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

/// The statistics of the documents created in `[from, to)`, per agency of `whose`, by code.
pub async fn month(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    whose: Whose<'_>,
    windows: &AckWindows,
) -> Result<Vec<AgencyStats>, StoreError> {
    let mut rows: BTreeMap<String, AgencyStats> = BTreeMap::new();
    let in_month = "doc.created_at >= $1 AND doc.created_at < $2";
    // Whose rows, as a term on each statement's agency column (`$3`: the agency or the
    // scope's root).
    let (cte, party, bound) = match &whose {
        Whose::Agency(code) => (String::new(), "= $3", Some(*code)),
        Whose::Scope(Scope::All) => (String::new(), "", None),
        Whose::Scope(scope @ Scope::Subtree(root)) => (
            scope.cte(3),
            "IN (SELECT code FROM scope)",
            Some(root.as_str()),
        ),
    };
    let only = |column: &str| match party {
        "" => String::new(),
        party => format!(" AND {column} {party}"),
    };
    let due = windows.due_sql();
    let statements = [
        (
            "sent",
            format!(
                "SELECT doc.sender AS agency, COUNT(*) AS a FROM documents doc WHERE {in_month}{} \
                 GROUP BY doc.sender",
                only("doc.sender")
            ),
        ),
        (
            "received",
            format!(
                "SELECT d.recipient AS agency, COUNT(*) AS a, \
                 SUM(CASE WHEN d.acked_at IS NOT NULL THEN 1 ELSE 0 END) AS b, \
                 SUM(CASE WHEN d.acked_at IS NOT NULL AND d.acked_at <= {due} THEN 1 ELSE 0 END) AS c, \
                 SUM(CASE WHEN d.ack_overdue_at IS NOT NULL OR d.handling_overdue_at IS NOT NULL \
                 THEN 1 ELSE 0 END) AS e \
                 FROM documents doc JOIN deliveries d ON d.packet_id = doc.first_packet_id \
                 WHERE {in_month}{} GROUP BY d.recipient",
                only("d.recipient")
            ),
        ),
        (
            "refused",
            format!(
                "SELECT s.reporter AS agency, COUNT(DISTINCT s.document_id) AS a \
                 FROM status_history s JOIN documents doc ON s.sender = doc.sender AND \
                 s.document_id = doc.document_id WHERE {in_month} AND s.status_code = '02' \
                 AND s.reporter <> doc.sender{} GROUP BY s.reporter",
                only("s.reporter")
            ),
        ),
        (
            "to_acknowledge",
            median(&format!(
                "SELECT d.recipient AS agency, d.acked_at - d.created_at AS t \
                 FROM documents doc JOIN deliveries d ON d.packet_id = doc.first_packet_id \
                 WHERE {in_month} AND d.acked_at IS NOT NULL{}",
                only("d.recipient")
            )),
        ),
        (
            "to_assigned",
            median(&format!(
                "SELECT s.reporter AS agency, MIN(s.at) - MIN(doc.created_at) AS t \
                 FROM status_history s JOIN documents doc ON s.sender = doc.sender AND \
                 s.document_id = doc.document_id WHERE {in_month} AND s.status_code = '03' \
                 AND s.reporter <> doc.sender{} GROUP BY s.reporter, s.sender, s.document_id",
                only("s.reporter")
            )),
        ),
    ];
    for (what, sql) in statements {
        let sql = format!("{cte}{sql}");
        let mut query = sqlx::query(&sql).bind(from).bind(to);
        if let Some(value) = bound {
            query = query.bind(value);
        }
        let found = query.fetch_all(&mut *conn).await?;
        for r in &found {
            let agency: String = r.try_get("agency")?;
            let entry = rows.entry(agency.clone()).or_insert_with(|| AgencyStats {
                agency,
                ..AgencyStats::default()
            });
            let a: i64 = number(r, "a")?;
            match what {
                "sent" => entry.sent = a,
                "received" => {
                    entry.received = a;
                    entry.acknowledged = number(r, "b")?;
                    entry.acknowledged_in_time = number(r, "c")?;
                    entry.overdue = number(r, "e")?;
                }
                "refused" => entry.refused = a,
                "to_acknowledge" => entry.median_to_acknowledge = Some(a),
                _ => entry.median_to_assigned = Some(a),
            }
        }
    }
    Ok(rows.into_values().collect())
}

/// The median of `t` per agency of `rows` (a SELECT of `agency` and `t`), as column `a`:
/// the middle value, or the mean of the two middle ones.
fn median(rows: &str) -> String {
    format!(
        "SELECT agency, CAST(AVG(t) AS BIGINT) AS a FROM (SELECT agency, t, \
         ROW_NUMBER() OVER (PARTITION BY agency ORDER BY t) AS n, \
         COUNT(*) OVER (PARTITION BY agency) AS c FROM ({rows}) m) r \
         WHERE n = (c + 1) / 2 OR n = (c + 2) / 2 GROUP BY agency"
    )
}

/// A count or a sum (SQLite answers integers, PostgreSQL `SUM` a numeric it casts here).
fn number(row: &sqlx::any::AnyRow, column: &str) -> Result<i64, StoreError> {
    if let Ok(n) = row.try_get::<i64, _>(column) {
        return Ok(n);
    }
    let n: Option<f64> = row.try_get(column)?;
    Ok(n.map_or(0, |n| n as i64))
}
