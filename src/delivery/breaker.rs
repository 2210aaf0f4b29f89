//! Circuit breakers, one per push endpoint, on this node: after `breaker_failures` failures in
//! a row an endpoint's breaker opens and its pushes wait; once per `breaker_probe` interval one
//! push goes through as a probe. A success closes the breaker; a failed probe keeps it open
//! for another interval. So a dead province costs the workers one attempt per interval
//! instead of one per letter, and the others' pushes keep their pace.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where one endpoint's breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Pushes go through.
    Closed,
    /// Pushes wait; the next probe may go at the instant given.
    Open { probe_at: Instant },
    /// One probe is on its way; the others wait for its outcome.
    Probing,
}

#[derive(Debug, Clone, Copy)]
struct Endpoint {
    failures: u32,
    state: BreakerState,
}

/// What a worker may do with a push to an endpoint now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Go,
    /// Send it as the probe of an open breaker.
    Probe,
    /// Do not send it; try again at this instant.
    Wait(Instant),
}

/// The breakers of every endpoint this node pushes to.
#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    probe_interval: Duration,
    endpoints: Mutex<HashMap<String, Endpoint>>,
}

impl Breakers {
    pub fn new(threshold: u32, probe_interval: Duration) -> Breakers {
        Breakers {
            threshold: threshold.max(1),
            probe_interval,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Endpoint>> {
        crate::sync::lock(&self.endpoints)
    }

    /// Whether a push to `endpoint` may go at `now`.
    pub fn admit(&self, endpoint: &str, now: Instant) -> Admission {
        let mut endpoints = self.lock();
        let Some(entry) = endpoints.get_mut(endpoint) else {
            return Admission::Go;
        };
        match entry.state {
            BreakerState::Closed => Admission::Go,
            BreakerState::Open { probe_at } if now >= probe_at => {
                entry.state = BreakerState::Probing;
                Admission::Probe
            }
            BreakerState::Open { probe_at } => Admission::Wait(probe_at),
            // A probe whose outcome never came (its task died) does not hold the breaker
            // forever: after an interval another probe may go.
            BreakerState::Probing => Admission::Wait(now + self.probe_interval),
        }
    }

    /// The probe admitted for `endpoint` was not sent after all (the endpoint was busy): the
    /// next push may probe at once.
    pub fn release_probe(&self, endpoint: &str, now: Instant) {
        if let Some(entry) = self.lock().get_mut(endpoint) {
            if entry.state == BreakerState::Probing {
                entry.state = BreakerState::Open { probe_at: now };
            }
        }
    }

    /// A push to `endpoint` was answered 2xx (or failed in a way that is not the endpoint's).
    pub fn succeeded(&self, endpoint: &str) {
        self.lock().remove(endpoint);
    }

    /// A push to `endpoint` failed at `now` (no answer, 5xx, 408 or 429).
    pub fn failed(&self, endpoint: &str, now: Instant) {
        let mut endpoints = self.lock();
        let entry = endpoints.entry(endpoint.to_owned()).or_insert(Endpoint {
            failures: 0,
            state: BreakerState::Closed,
        });
        entry.failures = entry.failures.saturating_add(1);
        if entry.state == BreakerState::Probing || entry.failures >= self.threshold {
            entry.state = BreakerState::Open {
                probe_at: now + self.probe_interval,
            };
        }
    }

    /// Endpoints whose pushes should not be leased at `now` (open, probe not due; or probing).
    pub fn holding(&self, now: Instant) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, e)| match e.state {
                BreakerState::Closed => false,
                BreakerState::Open { probe_at } => now < probe_at,
                BreakerState::Probing => true,
            })
            .map(|(endpoint, _)| endpoint.clone())
            .collect()
    }

    /// Every endpoint with a breaker that is not closed, for /metrics.
    pub fn states(&self) -> Vec<(String, BreakerState)> {
        let mut states: Vec<(String, BreakerState)> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.state != BreakerState::Closed)
            .map(|(endpoint, e)| (endpoint.clone(), e.state))
            .collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        states
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_once_per_interval_and_closes_on_success() {
        let breakers = Breakers::new(3, Duration::from_secs(30));
        let t0 = Instant::now();
        let dead = "http://dead.example/push";
        for _ in 0..2 {
            assert_eq!(breakers.admit(dead, t0), Admission::Go);
            breakers.failed(dead, t0);
        }
        assert_eq!(breakers.admit(dead, t0), Admission::Go);
        breakers.failed(dead, t0);
        let probe_at = t0 + Duration::from_secs(30);
        assert_eq!(breakers.admit(dead, t0), Admission::Wait(probe_at));
        assert_eq!(breakers.holding(t0), vec![dead.to_owned()]);
        // Another endpoint is not affected.
        assert_eq!(breakers.admit("http://alive.example/", t0), Admission::Go);

        // The probe goes; while it is out, the others wait.
        assert_eq!(breakers.admit(dead, probe_at), Admission::Probe);
        assert!(matches!(breakers.admit(dead, probe_at), Admission::Wait(_)));
        // It fails: open for another interval.
        breakers.failed(dead, probe_at);
        assert_eq!(
            breakers.admit(dead, probe_at),
            Admission::Wait(probe_at + Duration::from_secs(30))
        );
        let next = probe_at + Duration::from_secs(30);
        assert_eq!(breakers.admit(dead, next), Admission::Probe);
        breakers.succeeded(dead);
        assert_eq!(breakers.admit(dead, next), Admission::Go);
        assert!(breakers.states().is_empty());
    }
}
