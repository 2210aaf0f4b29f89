//! Counters for `/metrics`, in the Prometheus text format: packets accepted (by kind) and
//! refused (by code), responses by status, and what the group-commit writer did (commits,
//! units, failures, the mean batch size, and histograms of units and seconds per commit).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::store::{HistogramSnapshot, PacketKind, WriterStats};

/// The server's counters since it started.
#[derive(Debug, Default)]
pub struct Metrics {
    messages: AtomicU64,
    statuses: AtomicU64,
    replayed: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    responses: Mutex<BTreeMap<u16, u64>>,
    throttled: AtomicU64,
    body_timeouts: AtomicU64,
}

impl Metrics {
    /// A packet was accepted (`replayed`: the same bytes had been accepted before).
    pub fn accepted(&self, kind: PacketKind, replayed: bool) {
        let counter = if replayed {
            &self.replayed
        } else {
            match kind {
                PacketKind::Message => &self.messages,
                PacketKind::Status => &self.statuses,
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A packet was refused with `code`.
    pub fn refused(&self, code: &'static str) {
        if let Ok(mut map) = self.refused.lock() {
            *map.entry(code).or_default() += 1;
        }
    }

    /// An authentication attempt was answered 429 (too many wrong secrets).
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// An upload was closed for sending too slowly.
    pub fn body_timed_out(&self) {
        self.body_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// A response was sent with `status`.
    pub fn responded(&self, status: u16) {
        if let Ok(mut map) = self.responses.lock() {
            *map.entry(status).or_default() += 1;
        }
    }

    /// The text `/metrics` serves.
    pub fn render(&self, writer: WriterStats) -> String {
        let mut out = String::with_capacity(2048);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        header(
            &mut out,
            "lienthong_packets_accepted_total",
            "counter",
            "Packets accepted and committed, by kind (replays not counted).",
        );
        let _ = writeln!(
            out,
            "lienthong_packets_accepted_total{{kind=\"message\"}} {}",
            load(&self.messages)
        );
        let _ = writeln!(
            out,
            "lienthong_packets_accepted_total{{kind=\"status\"}} {}",
            load(&self.statuses)
        );
        header(
            &mut out,
            "lienthong_packets_replayed_total",
            "counter",
            "Packets sent again with the same bytes, answered with the original id and receipt.",
        );
        let _ = writeln!(
            out,
            "lienthong_packets_replayed_total {}",
            load(&self.replayed)
        );
        header(
            &mut out,
            "lienthong_packets_refused_total",
            "counter",
            "Packets refused, by refusal code.",
        );
        if let Ok(map) = self.refused.lock() {
            for (code, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "lienthong_packets_refused_total{{code=\"{code}\"}} {n}"
                );
            }
        }
        header(
            &mut out,
            "lienthong_http_responses_total",
            "counter",
            "HTTP responses, by status.",
        );
        if let Ok(map) = self.responses.lock() {
            for (status, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "lienthong_http_responses_total{{status=\"{status}\"}} {n}"
                );
            }
        }
        header(
            &mut out,
            "lienthong_auth_throttled_total",
            "counter",
            "Authentication attempts answered 429 after too many wrong secrets.",
        );
        let _ = writeln!(
            out,
            "lienthong_auth_throttled_total {}",
            load(&self.throttled)
        );
        header(
            &mut out,
            "lienthong_upload_timeouts_total",
            "counter",
            "Uploads closed for sending nothing for the idle timeout or less than the minimum rate.",
        );
        let _ = writeln!(
            out,
            "lienthong_upload_timeouts_total {}",
            load(&self.body_timeouts)
        );
        let writer_counters = [
            (
                "lienthong_writer_commits_total",
                "Transactions the group-commit writer committed.",
                writer.commits,
            ),
            (
                "lienthong_writer_units_committed_total",
                "Units of work committed by the writer.",
                writer.units_committed,
            ),
            (
                "lienthong_writer_units_failed_total",
                "Units of work that failed and left nothing behind.",
                writer.units_failed,
            ),
            (
                "lienthong_writer_retried_batches_total",
                "Batches run again because one of their units failed.",
                writer.retried_batches,
            ),
            (
                "lienthong_writer_background_batches_total",
                "Transactions begun for the workers' units (push, mail, deadlines, audit) while no submission waited.",
                writer.background_batches,
            ),
        ];
        for (name, help, value) in writer_counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(
            &mut out,
            "lienthong_writer_mean_batch_size",
            "gauge",
            "Units per committed transaction since start (group-commit effect).",
        );
        let mean = if writer.commits == 0 {
            0.0
        } else {
            writer.units_committed as f64 / writer.commits as f64
        };
        let _ = writeln!(out, "lienthong_writer_mean_batch_size {mean:.3}");
        histogram(
            &mut out,
            "lienthong_writer_batch_units",
            "Units of work committed by each transaction of the group-commit writer.",
            &writer.batch_units,
        );
        histogram(
            &mut out,
            "lienthong_writer_commit_seconds",
            "Seconds from begin to the end of commit, for each transaction the writer committed.",
            &writer.commit_seconds,
        );
        out
    }
}

/// A histogram in the Prometheus text format: cumulative `_bucket`s ending with `+Inf`, then
/// `_sum` and `_count`.
fn histogram(out: &mut String, name: &str, help: &str, snapshot: &HistogramSnapshot) {
    header(out, name, "histogram", help);
    for (le, n) in snapshot.cumulative() {
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum {}", snapshot.sum());
    let _ = writeln!(out, "{name}_count {}", snapshot.count());
}

/// The CRLs the background refresher keeps, per distribution point: how old the cached one is,
/// how long until its nextUpdate (negative once due: packets then depend on the grace period),
/// and how many downloads failed, in all and since the last success (not 0: the point is failing
/// now, and the last good CRL is aging). An alert on `lienthong_crl_next_update_seconds < 3600` gives
/// an operator an hour before the CAs' packets start being refused.
pub fn render_crls(reports: &[crate::pki::CrlReport], now: time::OffsetDateTime) -> String {
    let mut out = String::new();
    if reports.is_empty() {
        return out;
    }
    let seconds = |d: time::Duration| d.as_seconds_f64().round();
    let series = [
        (
            "lienthong_crl_age_seconds",
            "gauge",
            "Seconds since the cached CRL's thisUpdate, per distribution point.",
        ),
        (
            "lienthong_crl_next_update_seconds",
            "gauge",
            "Seconds until the cached CRL's nextUpdate (negative when past it).",
        ),
        (
            "lienthong_crl_fetch_failures_total",
            "counter",
            "Failed downloads of the distribution point.",
        ),
        (
            "lienthong_crl_fetch_consecutive_failures",
            "gauge",
            "Failed downloads since the last success (0: the last download succeeded).",
        ),
    ];
    for (name, kind, help) in series {
        header(&mut out, name, kind, help);
        for r in reports {
            let value = match name {
                "lienthong_crl_age_seconds" => r.this_update.map(|t| seconds(now - t)),
                "lienthong_crl_next_update_seconds" => r.next_update.map(|t| seconds(t - now)),
                "lienthong_crl_fetch_consecutive_failures" => {
                    Some(f64::from(r.consecutive_failures))
                }
                _ => Some(r.failures as f64),
            };
            if let Some(v) = value {
                let _ = writeln!(out, "{name}{{url=\"{}\"}} {v}", label(&r.url));
            }
        }
    }
    out
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The in-flight budget's gauges: how much of it packets being received and verified hold,
/// and by how many agencies.
pub fn render_in_flight(in_flight: &crate::exchange::InFlight) -> String {
    let mut out = String::with_capacity(512);
    header(
        &mut out,
        "lienthong_in_flight_bytes",
        "gauge",
        "Bytes of the in-flight budget reserved by packets being received and verified.",
    );
    let _ = writeln!(
        out,
        "lienthong_in_flight_bytes {}",
        in_flight.total() - in_flight.available()
    );
    header(
        &mut out,
        "lienthong_in_flight_budget_bytes",
        "gauge",
        "The in-flight budget (in_flight_bytes, raised to fit one packet of the largest size).",
    );
    let _ = writeln!(
        out,
        "lienthong_in_flight_budget_bytes {}",
        in_flight.total()
    );
    header(
        &mut out,
        "lienthong_in_flight_agencies",
        "gauge",
        "Agencies holding part of the in-flight budget.",
    );
    let _ = writeln!(
        out,
        "lienthong_in_flight_agencies {}",
        in_flight.agencies_holding()
    );
    out
}

/// The push workers' gauges and counters: the outbox's depth and oldest age per state, pushes
/// by outcome, and the breakers that are not closed.
pub fn render_pushes(
    pushes: &crate::delivery::Pushes,
    depth: Option<&[(crate::store::pushes::PushState, i64, i64)]>,
    now: i64,
) -> String {
    use crate::delivery::breaker::BreakerState;
    use crate::store::pushes::PushState;
    use std::sync::atomic::Ordering;
    let mut out = String::with_capacity(1024);
    if let Some(depth) = depth {
        header(
            &mut out,
            "lienthong_push_queue",
            "gauge",
            "Pushes waiting (pending, retrying) or given up (parked), by state.",
        );
        let count = |state| depth.iter().find(|(s, _, _)| *s == state);
        for state in [PushState::Pending, PushState::Retrying, PushState::Parked] {
            let n = count(state).map_or(0, |(_, n, _)| *n);
            let _ = writeln!(
                out,
                "lienthong_push_queue{{state=\"{}\"}} {n}",
                state.as_str()
            );
        }
        header(
            &mut out,
            "lienthong_push_oldest_seconds",
            "gauge",
            "Age of the oldest push in each state (since its packet was accepted).",
        );
        for state in [PushState::Pending, PushState::Retrying, PushState::Parked] {
            let age = count(state).map_or(0.0, |(_, _, oldest)| (now - oldest).max(0) as f64 / 1e6);
            let _ = writeln!(
                out,
                "lienthong_push_oldest_seconds{{state=\"{}\"}} {age:.3}",
                state.as_str()
            );
        }
    }
    header(
        &mut out,
        "lienthong_pushes_total",
        "counter",
        "Push attempts on this node by outcome (deferred: not tried, breaker open or endpoint busy).",
    );
    let c = pushes.counters();
    for (outcome, n) in [
        ("delivered", &c.delivered),
        ("retried", &c.retried),
        ("parked", &c.parked),
        ("skipped", &c.skipped),
        ("deferred", &c.deferred),
    ] {
        let _ = writeln!(
            out,
            "lienthong_pushes_total{{outcome=\"{outcome}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    header(
        &mut out,
        "lienthong_push_breaker_open",
        "gauge",
        "Endpoints whose circuit breaker is open (1) or letting a probe through (2).",
    );
    for (endpoint, state) in pushes.breakers() {
        let value = match state {
            BreakerState::Closed => 0,
            BreakerState::Open { .. } => 1,
            BreakerState::Probing => 2,
        };
        let _ = writeln!(
            out,
            "lienthong_push_breaker_open{{endpoint=\"{}\"}} {value}",
            label(&endpoint)
        );
    }
    out
}

/// The mail worker's counters and the mail outbox's depth.
pub fn render_mails(
    mailer: &crate::delivery::Mailer,
    depth: Option<(i64, i64, Option<i64>)>,
    now: i64,
) -> String {
    use std::sync::atomic::Ordering;
    let mut out = String::with_capacity(512);
    if let Some((pending, failed, oldest)) = depth {
        header(
            &mut out,
            "lienthong_mail_queue",
            "gauge",
            "Mails to clerks waiting to be sent (pending) or given up (failed).",
        );
        let _ = writeln!(out, "lienthong_mail_queue{{state=\"pending\"}} {pending}");
        let _ = writeln!(out, "lienthong_mail_queue{{state=\"failed\"}} {failed}");
        header(
            &mut out,
            "lienthong_mail_oldest_seconds",
            "gauge",
            "Age of the oldest mail waiting to be sent.",
        );
        let age = oldest.map_or(0.0, |o| (now - o).max(0) as f64 / 1e6);
        let _ = writeln!(out, "lienthong_mail_oldest_seconds {age:.3}");
    }
    header(
        &mut out,
        "lienthong_mails_total",
        "counter",
        "Mails (one per batch of events to one agency's clerks) by outcome on this node.",
    );
    let c = mailer.counters();
    for (outcome, n) in [
        ("sent", &c.sent),
        ("retried", &c.retried),
        ("failed", &c.failed),
    ] {
        let _ = writeln!(
            out,
            "lienthong_mails_total{{outcome=\"{outcome}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    out
}

/// The audit log: events placed in the tree and waiting for it, the latest checkpoint.
pub fn render_audit(status: &crate::audit::proofs::LogStatus, now: i64) -> String {
    let mut out = String::with_capacity(512);
    header(
        &mut out,
        "lienthong_audit_events",
        "gauge",
        "Audit events in the Merkle tree (placed) and committed but not placed yet (waiting).",
    );
    let _ = writeln!(
        out,
        "lienthong_audit_events{{state=\"placed\"}} {}",
        status.placed
    );
    let _ = writeln!(
        out,
        "lienthong_audit_events{{state=\"waiting\"}} {}",
        status.waiting
    );
    header(
        &mut out,
        "lienthong_search_unindexed_documents",
        "gauge",
        "Documents whose subject's words the search index does not hold yet (searches read them without it).",
    );
    let _ = writeln!(
        out,
        "lienthong_search_unindexed_documents {}",
        status.unindexed
    );
    if let Some((size, at)) = status.checkpoint {
        header(
            &mut out,
            "lienthong_audit_checkpoint_size",
            "gauge",
            "Events covered by the latest signed checkpoint.",
        );
        let _ = writeln!(out, "lienthong_audit_checkpoint_size {size}");
        header(
            &mut out,
            "lienthong_audit_checkpoint_age_seconds",
            "gauge",
            "Time since the latest checkpoint was signed.",
        );
        let age = (now - at).max(0) as f64 / 1e6;
        let _ = writeln!(out, "lienthong_audit_checkpoint_age_seconds {age:.3}");
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Buckets, Histogram};

    const UNITS: Buckets = Buckets::new(&[1, 2, 4, 8], 1);
    const NANOS: Buckets = Buckets::new(&[1_000_000, 10_000_000], 1_000_000_000);

    /// Writer stats as the writer would have them after committing `batches`, each as
    /// (units, nanoseconds).
    fn writer_stats(batches: &[(u64, u64)]) -> WriterStats {
        let units = Histogram::new(UNITS);
        let nanos = Histogram::new(NANOS);
        for &(n, ns) in batches {
            units.observe(n);
            nanos.observe(ns);
        }
        WriterStats {
            commits: batches.len() as u64,
            units_committed: batches.iter().map(|b| b.0).sum(),
            units_failed: 1,
            retried_batches: 1,
            background_batches: 0,
            batch_units: units.snapshot(),
            commit_seconds: nanos.snapshot(),
        }
    }

    /// The value of the sample line `series` (name and labels, exactly).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn counters_are_rendered_in_the_prometheus_text_format() {
        let metrics = Metrics::default();
        metrics.accepted(PacketKind::Message, false);
        metrics.accepted(PacketKind::Message, true);
        metrics.accepted(PacketKind::Status, false);
        metrics.refused("dsig.digest_mismatch");
        metrics.refused("dsig.digest_mismatch");
        metrics.responded(202);
        let text = metrics.render(writer_stats(&[(2, 400_000), (3, 2_000_000)]));
        assert!(text.contains("lienthong_packets_accepted_total{kind=\"message\"} 1\n"));
        assert!(text.contains("lienthong_packets_accepted_total{kind=\"status\"} 1\n"));
        assert!(text.contains("lienthong_packets_replayed_total 1\n"));
        assert!(text.contains("lienthong_packets_refused_total{code=\"dsig.digest_mismatch\"} 2\n"));
        assert!(text.contains("lienthong_http_responses_total{status=\"202\"} 1\n"));
        assert!(text.contains("lienthong_writer_mean_batch_size 2.500\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn writer_histograms_are_rendered_cumulative_with_inf_sum_and_count() {
        // Units 1, 3, 3, 20; seconds 0.0005, 0.001 (on a bound), 0.002, 0.5.
        let stats = writer_stats(&[
            (1, 500_000),
            (3, 1_000_000),
            (3, 2_000_000),
            (20, 500_000_000),
        ]);
        let text = Metrics::default().render(stats);
        for (name, kind) in [
            ("lienthong_writer_batch_units", "histogram"),
            ("lienthong_writer_commit_seconds", "histogram"),
        ] {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{text}");
            assert!(text.contains(&format!("# HELP {name} ")), "{text}");
        }
        let units = "lienthong_writer_batch_units";
        let expected = [
            ("1", 1.0),
            ("2", 1.0),
            ("4", 3.0),
            ("8", 3.0),
            ("+Inf", 4.0),
        ];
        for (le, n) in expected {
            let series = format!("{units}_bucket{{le=\"{le}\"}}");
            assert_eq!(sample(&text, &series), Some(n), "{series} in {text}");
        }
        assert_eq!(sample(&text, &format!("{units}_sum")), Some(27.0));
        assert_eq!(sample(&text, &format!("{units}_count")), Some(4.0));
        let seconds = "lienthong_writer_commit_seconds";
        for (le, n) in [("0.001", 2.0), ("0.01", 3.0), ("+Inf", 4.0)] {
            let series = format!("{seconds}_bucket{{le=\"{le}\"}}");
            assert_eq!(sample(&text, &series), Some(n), "{series} in {text}");
        }
        let sum = sample(&text, &format!("{seconds}_sum")).unwrap_or(f64::NAN);
        assert!((sum - 0.5035).abs() < 1e-12, "{sum}");
        // Both histograms count every commit, and the units sum to the units committed.
        assert_eq!(sample(&text, &format!("{seconds}_count")), Some(4.0));
        assert_eq!(sample(&text, "lienthong_writer_commits_total"), Some(4.0));
        assert_eq!(
            sample(&text, "lienthong_writer_units_committed_total"),
            Some(27.0)
        );
        // Buckets appear in increasing order, +Inf last, each series exactly once.
        let les: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("lienthong_writer_batch_units_bucket{le=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        assert_eq!(les, ["1", "2", "4", "8", "+Inf"]);
    }
    #[test]
    fn crls_show_age_time_left_and_failures_per_distribution_point() {
        use crate::pki::CrlReport;
        use time::macros::datetime;
        let now = datetime!(2026-06-01 12:00 UTC);
        let cached = CrlReport {
            url: "http://ca.example/a.crl".to_owned(),
            this_update: Some(datetime!(2026-06-01 00:00 UTC)),
            next_update: Some(datetime!(2026-06-01 11:00 UTC)),
            fetched_at: Some(datetime!(2026-06-01 00:05 UTC)),
            failures: 3,
            consecutive_failures: 2,
            last_error: Some("timeout".to_owned()),
        };
        // Never downloaded: no age, no time left, but its failures count.
        let missing = CrlReport {
            url: "http://ca.example/\"b\".crl".to_owned(),
            this_update: None,
            next_update: None,
            fetched_at: None,
            failures: 1,
            consecutive_failures: 1,
            last_error: Some("HTTP 404".to_owned()),
        };
        let text = render_crls(&[cached, missing], now);
        let a = "{url=\"http://ca.example/a.crl\"}";
        let b = "{url=\"http://ca.example/\\\"b\\\".crl\"}";
        assert_eq!(
            sample(&text, &format!("lienthong_crl_age_seconds{a}")),
            Some(43_200.0)
        );
        // Past its nextUpdate by an hour: negative.
        assert_eq!(
            sample(&text, &format!("lienthong_crl_next_update_seconds{a}")),
            Some(-3_600.0)
        );
        assert_eq!(
            sample(&text, &format!("lienthong_crl_fetch_failures_total{a}")),
            Some(3.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("lienthong_crl_fetch_consecutive_failures{a}")
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, &format!("lienthong_crl_age_seconds{b}")),
            None
        );
        assert_eq!(
            sample(&text, &format!("lienthong_crl_fetch_failures_total{b}")),
            Some(1.0)
        );
        assert!(text.contains("# TYPE lienthong_crl_fetch_failures_total counter"));
        assert_eq!(render_crls(&[], now), "");
    }
}
