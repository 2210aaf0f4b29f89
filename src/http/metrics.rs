//! Counters for `/metrics`, in the Prometheus text format: packets accepted (by kind) and
//! refused (by code), responses by status, and what the group-commit writer did (commits,
//! units, failures, and so the mean batch size).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::store::{PacketKind, WriterStats};

/// The server's counters since it started.
#[derive(Debug, Default)]
pub struct Metrics {
    messages: AtomicU64,
    statuses: AtomicU64,
    replayed: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    responses: Mutex<BTreeMap<u16, u64>>,
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
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_rendered_in_the_prometheus_text_format() {
        let metrics = Metrics::default();
        metrics.accepted(PacketKind::Message, false);
        metrics.accepted(PacketKind::Message, true);
        metrics.accepted(PacketKind::Status, false);
        metrics.refused("dsig.digest_mismatch");
        metrics.refused("dsig.digest_mismatch");
        metrics.responded(202);
        let text = metrics.render(WriterStats {
            commits: 2,
            units_committed: 5,
            units_failed: 1,
            retried_batches: 1,
        });
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
}
