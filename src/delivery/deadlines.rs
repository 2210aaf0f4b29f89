//! Acknowledgement and handling deadlines: the overdue job, which raises each missed deadline
//! once (the sender's clerks are mailed), and the overdue list an agency sees
//! (`GET /v1/overdue`). The rule for what is overdue is `store::deadlines`'; the windows are
//! the `[deadlines]` settings, read when asked, so changed settings apply to waiting letters.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::edxml::Priority;
use crate::exchange::receipt::rfc3339_micros;
use crate::store::deadlines::{self, AckWindows, OverdueRecord, Side};
use crate::store::{now_micros, Lane, Store, StoreError};

use super::retry::micros;
use super::DeadlinePolicy;

/// Missed deadlines raised per transaction of the job.
const RAISE_BATCH: i64 = 500;
/// How far back the job looks for missed DueDates: one missed while the job was not running
/// for longer than this is still listed, but not mailed.
const HANDLING_LOOKBACK_DAYS: i64 = 90;

/// Vietnam's offset (no daylight saving): DueDates end at midnight there.
fn vietnam() -> UtcOffset {
    UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The date in Vietnam at `micros`.
fn vietnam_date(micros: i64) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(vietnam())
        .date()
}

/// When a DueDate (`yyyy-mm-dd`) ends: the next midnight in Vietnam, microseconds.
fn end_of_due_date(due_date: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(due_date, &format).ok()?.next_day()?;
    let end = date.midnight().assume_offset(vietnam());
    i64::try_from(end.unix_timestamp_nanos() / 1000).ok()
}

impl DeadlinePolicy {
    /// The acknowledgement windows as the store computes deadlines with them.
    pub fn windows(&self) -> AckWindows {
        AckWindows {
            normal: micros(self.normal),
            khan: micros(self.khan),
            thuong_khan: micros(self.thuong_khan),
            hoa_toc: micros(self.hoa_toc),
        }
    }
}

/// The overdue job of this node. Several nodes may run it: raising marks each delivery once.
#[derive(Debug, Clone)]
pub struct Deadlines {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    policy: DeadlinePolicy,
}

/// What one pass of the job raised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raised {
    pub acknowledgement: u64,
    pub handling: u64,
}

impl Deadlines {
    pub fn new(store: Store, policy: DeadlinePolicy) -> Deadlines {
        Deadlines {
            inner: Arc::new(Inner { store, policy }),
        }
    }

    /// The policy's acknowledgement windows (for statistics of deadlines met).
    pub fn windows(&self) -> AckWindows {
        self.inner.policy.windows()
    }

    /// Runs the job on `runtime` (delivery's) until the process ends: acknowledgement
    /// deadlines every `deadlines.scan_seconds`; DueDates at start and whenever the date
    /// changes in Vietnam (they end at midnight there). `on_raised` is called after a pass
    /// that raised something (to wake the mail worker).
    pub fn start(&self, runtime: &tokio::runtime::Handle, on_raised: impl Fn() + Send + 'static) {
        let this = self.clone();
        runtime.spawn(async move {
            tracing::info!(
                normal_hours = this.inner.policy.normal.as_secs_f64() / 3600.0,
                scan_seconds = this.inner.policy.scan.as_secs_f64(),
                "overdue job started"
            );
            let mut handled_for: Option<Date> = None;
            loop {
                let today = vietnam_date(now_micros());
                let with_handling = handled_for != Some(today);
                match this.pass(with_handling).await {
                    Ok(raised) => {
                        if with_handling {
                            handled_for = Some(today);
                        }
                        if raised != Raised::default() {
                            tracing::info!(
                                acknowledgement = raised.acknowledgement,
                                handling = raised.handling,
                                "overdue letters raised"
                            );
                            on_raised();
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the overdue job failed; trying again"),
                }
                tokio::time::sleep(this.inner.policy.scan).await;
            }
        });
    }

    /// One pass: raises every missed acknowledgement deadline, and missed DueDates when
    /// `with_handling`.
    pub async fn pass(&self, with_handling: bool) -> Result<Raised, StoreError> {
        let mut raised = Raised::default();
        let windows = self.inner.policy.windows();
        loop {
            let n = self
                .inner
                .store
                .write_in(
                    Lane::Background,
                    (windows, now_micros()),
                    |conn, (windows, now)| {
                        Box::pin(deadlines::raise_unacknowledged(
                            conn,
                            windows,
                            *now,
                            RAISE_BATCH,
                        ))
                    },
                )
                .await?;
            raised.acknowledgement += n;
            if n < RAISE_BATCH as u64 {
                break;
            }
        }
        if !with_handling {
            return Ok(raised);
        }
        loop {
            let now = now_micros();
            let today = vietnam_date(now);
            let since = today.saturating_sub(time::Duration::days(HANDLING_LOOKBACK_DAYS));
            let input = (today.to_string(), since.to_string(), now);
            let n = self
                .inner
                .store
                .write_in(Lane::Background, input, |conn, (today, since, now)| {
                    Box::pin(deadlines::raise_unhandled(
                        conn,
                        today,
                        since,
                        *now,
                        RAISE_BATCH,
                    ))
                })
                .await?;
            raised.handling += n;
            if n < RAISE_BATCH as u64 {
                break;
            }
        }
        Ok(raised)
    }

    /// What `agency` sees overdue now (as `side`): at most `limit` of each kind.
    pub async fn overdue(
        &self,
        agency: &str,
        side: Side,
        limit: u32,
    ) -> Result<OverdueList, StoreError> {
        let now = now_micros();
        let today = vietnam_date(now).to_string();
        let mut conn = self.inner.store.acquire().await?;
        let windows = self.inner.policy.windows();
        let records = deadlines::overdue(
            &mut conn,
            agency,
            side,
            &windows,
            now,
            &today,
            i64::from(limit),
        )
        .await?;
        Ok(OverdueList {
            as_of: rfc3339_micros(now),
            overdue: records
                .into_iter()
                .map(|r| OverdueView::of(r, now))
                .collect(),
        })
    }

    /// How often the job runs.
    pub fn scan_interval(&self) -> Duration {
        self.inner.policy.scan
    }
}

/// The answer of `GET /v1/overdue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueList {
    pub as_of: String,
    pub overdue: Vec<OverdueView>,
}

/// One missed deadline as an agency sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueView {
    /// `acknowledgement` or `handling`.
    pub kind: &'static str,
    pub delivery: i64,
    pub packet_id: String,
    pub sender: String,
    pub document_id: String,
    pub notation: Option<String>,
    pub subject: String,
    /// `thuong`, `khan`, `thuong-khan`, `hoa-toc`, `hoa-toc-hen-gio`; none when not given.
    pub priority: Option<&'static str>,
    pub recipient: String,
    /// The recipient's state now (`submitted`, `01` …).
    pub state: String,
    pub received_at: String,
    /// The deadline that passed.
    pub due_at: Option<String>,
    /// The DueDate (handling only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    pub overdue_seconds: i64,
}

impl OverdueView {
    fn of(record: OverdueRecord, now: i64) -> OverdueView {
        let due = record
            .due_at
            .or_else(|| record.due_date.as_deref().and_then(end_of_due_date));
        OverdueView {
            kind: record.kind.as_str(),
            delivery: record.delivery_seq,
            packet_id: record.packet_id,
            sender: record.sender,
            document_id: record.document_id,
            notation: record.notation,
            subject: record.subject,
            priority: record
                .priority
                .and_then(Priority::of_level)
                .map(Priority::keyword),
            recipient: record.recipient,
            state: record.state,
            received_at: rfc3339_micros(record.received_at),
            due_at: due.map(rfc3339_micros),
            due_date: record.due_date,
            overdue_seconds: due.map_or(0, |due| (now - due).max(0) / 1_000_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_date_ends_at_midnight_in_vietnam() {
        // 2026-12-05 ends at 2026-12-05T17:00:00Z.
        assert_eq!(end_of_due_date("2026-12-05"), Some(1_796_490_000_000_000));
        assert_eq!(end_of_due_date("05/12/2026"), None);
    }

    #[test]
    fn the_vietnam_date_turns_at_17_utc() {
        let before = 1_796_489_999_000_000; // 16:59:59Z
        assert_eq!(vietnam_date(before).to_string(), "2026-12-05");
        assert_eq!(vietnam_date(before + 1_000_000).to_string(), "2026-12-06");
    }
}
