//! A fixed-bucket histogram that the writer records into and `/metrics` reads, without locks:
//! one atomic counter per bucket and an atomic sum, so recording never waits on a reader.
//!
//! Observations are whole numbers in a recorded unit (units of work, nanoseconds) so that the
//! sum is exact and a plain `fetch_add`; each [`Buckets`] says how many recorded steps make
//! one reported unit (a second is 1 000 000 000 nanoseconds). The count is not kept apart: it
//! is the total of the buckets, so a snapshot's `+Inf` bucket always equals its count, as
//! Prometheus requires, even while the writer records.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of a histogram's buckets (inclusive, strictly increasing, in the recorded
/// unit) and how many recorded steps make one unit of the reported value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    bounds: &'static [u64],
    per_unit: u64,
}

impl Buckets {
    /// Buckets with upper `bounds`, reported divided by `per_unit`. Meant for constants: a
    /// `const` whose bounds do not strictly increase, or whose `per_unit` is 0, does not compile.
    pub const fn new(bounds: &'static [u64], per_unit: u64) -> Buckets {
        assert!(per_unit > 0, "a histogram's per_unit must be positive");
        let mut i = 1;
        while i < bounds.len() {
            assert!(
                bounds[i - 1] < bounds[i],
                "a histogram's bucket bounds must strictly increase"
            );
            i += 1;
        }
        Buckets { bounds, per_unit }
    }

    /// The bucket a value falls in: the first whose bound is at least the value, else the
    /// `+Inf` bucket (index `bounds.len()`).
    fn index(&self, value: u64) -> usize {
        self.bounds.partition_point(|&bound| bound < value)
    }

    fn reported(&self, value: u64) -> f64 {
        value as f64 / self.per_unit as f64
    }
}

/// A histogram being recorded into.
#[derive(Debug)]
pub struct Histogram {
    buckets: Buckets,
    /// One counter per bound, then the `+Inf` bucket; not cumulative.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `buckets`.
    pub fn new(buckets: Buckets) -> Histogram {
        Histogram {
            buckets,
            counts: (0..=buckets.bounds.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Records one observation of `value`, in the recorded unit. The sum wraps past
    /// `u64::MAX` (centuries of nanoseconds), which Prometheus reads as a counter reset.
    pub fn observe(&self, value: u64) {
        self.sum.fetch_add(value, Ordering::Relaxed);
        if let Some(counter) = self.counts.get(self.buckets.index(value)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What has been recorded so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets,
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A histogram's counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: Buckets,
    /// Per bucket, `+Inf` last; not cumulative.
    counts: Vec<u64>,
    sum: u64,
}

impl HistogramSnapshot {
    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .fold(0, |total, n| total.saturating_add(*n))
    }

    /// The sum of the observations, in the reported unit.
    pub fn sum(&self) -> f64 {
        self.buckets.reported(self.sum)
    }

    /// Each bucket's upper bound (reported unit) with the observations at or below it, in
    /// increasing order and ending with `+Inf` (whose count is [`HistogramSnapshot::count`]).
    pub fn cumulative(&self) -> impl Iterator<Item = (UpperBound, u64)> + '_ {
        let bounds = self
            .buckets
            .bounds
            .iter()
            .map(|&b| UpperBound::At(self.buckets.reported(b)))
            .chain(std::iter::once(UpperBound::Infinite));
        bounds.zip(&self.counts).scan(0u64, |total, (bound, n)| {
            *total = total.saturating_add(*n);
            Some((bound, *total))
        })
    }
}

/// A bucket's upper bound as Prometheus writes it in `le`: a number, or `+Inf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UpperBound {
    At(f64),
    Infinite,
}

impl fmt::Display for UpperBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpperBound::At(bound) => write!(f, "{bound}"),
            UpperBound::Infinite => f.write_str("+Inf"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POWERS: Buckets = Buckets::new(&[1, 2, 4, 8], 1);
    const MILLIS: Buckets = Buckets::new(&[500_000, 1_000_000, 2_500_000], 1_000_000_000);

    fn labels(snapshot: &HistogramSnapshot) -> Vec<(String, u64)> {
        snapshot
            .cumulative()
            .map(|(le, n)| (le.to_string(), n))
            .collect()
    }

    #[test]
    fn a_value_on_a_bound_falls_in_that_bucket_and_one_above_in_the_next() {
        let h = Histogram::new(POWERS);
        for value in [0, 1, 2, 3, 4, 5, 8, 9, 1000] {
            h.observe(value);
        }
        let s = h.snapshot();
        // Not cumulative: le=1 {0,1}, le=2 {2}, le=4 {3,4}, le=8 {5,8}, +Inf {9,1000}.
        assert_eq!(s.counts, vec![2, 1, 2, 2, 2]);
        assert_eq!(s.count(), 9);
        assert_eq!(s.sum(), 1032.0);
    }

    #[test]
    fn buckets_are_cumulative_and_end_with_inf_equal_to_the_count() {
        let h = Histogram::new(POWERS);
        for value in [1, 3, 3, 7, 100] {
            h.observe(value);
        }
        let s = h.snapshot();
        let expected = [("1", 1), ("2", 1), ("4", 3), ("8", 4), ("+Inf", 5)];
        let expected: Vec<(String, u64)> =
            expected.iter().map(|(l, n)| (l.to_string(), *n)).collect();
        assert_eq!(labels(&s), expected);
        assert_eq!(s.count(), 5);
    }

    #[test]
    fn bounds_and_sum_are_reported_in_the_reported_unit() {
        let h = Histogram::new(MILLIS);
        h.observe(500_000);
        h.observe(500_001);
        h.observe(3_000_000_000);
        let s = h.snapshot();
        let expected = [("0.0005", 1), ("0.001", 2), ("0.0025", 2), ("+Inf", 3)];
        let expected: Vec<(String, u64)> =
            expected.iter().map(|(l, n)| (l.to_string(), *n)).collect();
        assert_eq!(labels(&s), expected);
        assert!((s.sum() - 3.001_000_001).abs() < 1e-12, "{}", s.sum());
    }

    #[test]
    fn an_empty_histogram_has_zero_everywhere() {
        let s = Histogram::new(MILLIS).snapshot();
        assert_eq!(s.count(), 0);
        assert_eq!(s.sum(), 0.0);
        assert!(s.cumulative().all(|(_, n)| n == 0));
        assert_eq!(s.cumulative().count(), 4);
    }

    #[test]
    fn without_bounds_everything_is_in_inf() {
        let h = Histogram::new(Buckets::new(&[], 1));
        h.observe(0);
        h.observe(u64::MAX);
        let s = h.snapshot();
        assert_eq!(labels(&s), vec![("+Inf".to_owned(), 2)]);
    }

    #[test]
    #[should_panic(expected = "strictly increase")]
    fn bounds_that_do_not_increase_are_refused() {
        let _ = Buckets::new(&[1, 4, 4], 1);
    }

    #[test]
    #[should_panic(expected = "per_unit")]
    fn a_zero_per_unit_is_refused() {
        let _ = Buckets::new(&[1], 0);
    }

    #[test]
    fn concurrent_recording_loses_nothing() {
        let h = std::sync::Arc::new(Histogram::new(POWERS));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || (0..1000u64).for_each(|i| h.observe((i + t) % 16)))
            })
            .collect();
        for thread in threads {
            assert!(thread.join().is_ok());
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 4000);
        let sum: u64 = (0..4u64)
            .map(|t| (0..1000u64).map(|i| (i + t) % 16).sum::<u64>())
            .sum();
        assert_eq!(s.sum(), sum as f64);
    }
}
