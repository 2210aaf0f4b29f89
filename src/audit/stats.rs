//! A month's statistics per agency (`GET /v1/audit/stats`, `lienthong audit stats`), for an
//! agency (its own row) or an auditor (the agencies of its scope, or one of them), as JSON or
//! CSV. The counting is the store's (`store::stats`); this room decides whose rows a reader
//! gets and how they are written.

use serde::Serialize;

use crate::store::deadlines::AckWindows;
use crate::store::scope;
use crate::store::stats::{self, AgencyStats, StatsMonth, Whose};
use crate::store::Store;

use super::access::Viewer;
use super::period::Period;
use super::proofs::AuditError;

/// One agency's month as answered: times in seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsRow {
    pub agency: String,
    pub sent: i64,
    pub received: i64,
    pub acknowledged: i64,
    pub acknowledged_in_time: i64,
    pub overdue: i64,
    pub refused: i64,
    pub median_seconds_to_acknowledge: Option<f64>,
    pub median_seconds_to_assigned: Option<f64>,
}

impl From<AgencyStats> for StatsRow {
    fn from(s: AgencyStats) -> StatsRow {
        let seconds = |micros: Option<i64>| micros.map(|m| m as f64 / 1e6);
        StatsRow {
            median_seconds_to_acknowledge: seconds(s.median_to_acknowledge),
            median_seconds_to_assigned: seconds(s.median_to_assigned),
            agency: s.agency,
            sent: s.sent,
            received: s.received,
            acknowledged: s.acknowledged,
            acknowledged_in_time: s.acknowledged_in_time,
            overdue: s.overdue,
            refused: s.refused,
        }
    }
}

/// The month `month` (`2026-11`, Vietnam's time) for `viewer`: its own row, or the rows of its
/// scope (or of `agency` in it). `None` as viewer: every agency (the command line, which reads
/// the database itself).
pub async fn month(
    store: &Store,
    viewer: Option<Viewer<'_>>,
    month: &str,
    agency: Option<&str>,
    windows: &AckWindows,
) -> Result<Vec<StatsRow>, AuditError> {
    let key = Period::month_number(month)
        .map(StatsMonth)
        .map_err(|e| AuditError::BadRange(format!("month: {e}")))?;
    let mut conn = store.acquire().await?;
    let all = scope::Scope::All;
    let whose = match (viewer, agency) {
        (None, Some(code)) => Whose::Agency(code),
        (None, None) => Whose::Scope(&all),
        (Some(Viewer::Agency(me)), None) => Whose::Agency(me),
        (Some(Viewer::Agency(me)), Some(asked)) if asked == me => Whose::Agency(me),
        (Some(Viewer::Auditor(scope)), None) => Whose::Scope(scope),
        (Some(Viewer::Auditor(scope)), Some(asked))
            if !scope::within(&mut conn, scope, &[asked]).await?.is_empty() =>
        {
            Whose::Agency(asked)
        }
        (_, Some(asked)) => return Err(AuditError::OutOfScope(asked.to_owned())),
    };
    let rows = stats::month(&mut conn, key, whose, windows).await?;
    Ok(rows.into_iter().map(StatsRow::from).collect())
}

/// The rows as CSV with a header line.
pub fn csv(rows: &[StatsRow]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing to memory fails only on a serialization bug.
        let _ = writer.serialize(row);
    }
    if rows.is_empty() {
        let _ = writer.write_record([
            "agency",
            "sent",
            "received",
            "acknowledged",
            "acknowledged_in_time",
            "overdue",
            "refused",
            "median_seconds_to_acknowledge",
            "median_seconds_to_assigned",
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}
