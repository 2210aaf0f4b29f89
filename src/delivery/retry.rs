//! When a failed push is tried again, and when it is given up: pure decisions over the
//! attempt count, the times and what the endpoint answered.

use std::time::Duration;

use super::PushPolicy;

/// How an attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer: connection refused or reset, DNS, TLS, timeout.
    Transport(String),
    /// An HTTP answer other than 2xx; `retry_after` from its `Retry-After` (seconds).
    Status {
        status: u16,
        retry_after: Option<Duration>,
        detail: String,
    },
}

impl Failure {
    /// Whether trying again may help: no answer, 408, 429 and 5xx. Any other 4xx says the
    /// request itself is wrong for that endpoint; sending it again would get the same.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Transport(_) => true,
            Failure::Status { status, .. } => {
                *status == 408 || *status == 429 || (500..600).contains(status)
            }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Transport(_) => None,
            Failure::Status { status, .. } => Some(*status),
        }
    }

    /// A sentence for `last_error`, operators and the sender's mail.
    pub fn describe(&self) -> String {
        match self {
            Failure::Transport(reason) => reason.clone(),
            Failure::Status { status, detail, .. } if detail.is_empty() => {
                format!("the endpoint answered HTTP {status}")
            }
            Failure::Status { status, detail, .. } => {
                format!("the endpoint answered HTTP {status}: {detail}")
            }
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (microseconds).
    RetryAt(i64),
    /// Give up, for this reason.
    Park(String),
}

/// The wait before attempt `attempts + 1` (after `attempts` failures, ≥ 1): `retry_first`
/// doubled per failure, capped at `retry_max`, then spread by `jitter` ∈ [0, 1) over its upper
/// half (a wait of w becomes w/2 + jitter·w/2), so that the pushes of an endpoint that comes
/// back do not all return at the same instant.
pub fn backoff(policy: &PushPolicy, attempts: u32, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(32);
    let full = policy
        .retry_first
        .saturating_mul(1u32 << doublings.min(31))
        .min(policy.retry_max);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// After a failure of attempt number `attempts` (counting this one) at `now` of a delivery
/// queued at `queued` (both microseconds): retry at a jittered back-off — or later when the
/// endpoint asked so with `Retry-After` — unless the failure is permanent or the retry would
/// fall after the retry window.
pub fn after_failure(
    policy: &PushPolicy,
    failure: &Failure,
    attempts: u32,
    queued: i64,
    now: i64,
    jitter: f64,
) -> Next {
    if !failure.is_transient() {
        return Next::Park(failure.describe());
    }
    let mut wait = backoff(policy, attempts, jitter);
    if let Failure::Status {
        retry_after: Some(asked),
        ..
    } = failure
    {
        wait = wait.max((*asked).min(policy.retry_max));
    }
    let at = now.saturating_add(micros(wait));
    let window_end = queued.saturating_add(micros(policy.retry_window));
    if at > window_end {
        return Next::Park(format!(
            "{} (gave up after {attempts} attempts: the retry window of {} h ended)",
            failure.describe(),
            policy.retry_window.as_secs_f64() / 3600.0
        ));
    }
    Next::RetryAt(at)
}

pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// `Retry-After` in seconds or as an HTTP date, as a wait from `now_unix` (seconds).
pub fn parse_retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format).ok()?;
    let wait = at.assume_utc().unix_timestamp() - now_unix;
    Some(Duration::from_secs(u64::try_from(wait).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn unavailable() -> Failure {
        Failure::Status {
            status: 503,
            retry_after: None,
            detail: String::new(),
        }
    }

    #[test]
    fn waits_double_from_the_first_up_to_the_cap_with_jitter_in_the_upper_half() {
        let policy = PushPolicy::default();
        let secs = |attempts, jitter| backoff(&policy, attempts, jitter).as_secs();
        assert_eq!(secs(1, 1.0), 10);
        assert_eq!(secs(1, 0.0), 5);
        assert_eq!(secs(2, 1.0), 20);
        assert_eq!(secs(3, 1.0), 40);
        assert_eq!(secs(9, 1.0), 2560);
        assert_eq!(secs(10, 1.0), 3600);
        assert_eq!(secs(1000, 1.0), 3600);
        assert_eq!(secs(1000, 0.5), 2700);
    }

    #[test]
    fn transient_failures_retry_within_the_window_and_park_after_it() {
        let policy = PushPolicy::default();
        assert_eq!(
            after_failure(&policy, &unavailable(), 1, 0, 100 * S, 1.0),
            Next::RetryAt(110 * S)
        );
        let late = 72 * 3600 * S - 5 * S;
        assert!(matches!(
            after_failure(&policy, &unavailable(), 30, 0, late, 1.0),
            Next::Park(reason) if reason.contains("retry window")
        ));
        let refused = Failure::Transport("connection refused".to_owned());
        assert!(matches!(
            after_failure(&policy, &refused, 1, 0, 0, 0.0),
            Next::RetryAt(_)
        ));
    }

    #[test]
    fn a_client_error_parks_at_once_and_retry_after_is_honoured() {
        let policy = PushPolicy::default();
        let forbidden = Failure::Status {
            status: 403,
            retry_after: None,
            detail: "unknown sender".to_owned(),
        };
        assert_eq!(
            after_failure(&policy, &forbidden, 1, 0, 0, 0.5),
            Next::Park("the endpoint answered HTTP 403: unknown sender".to_owned())
        );
        for status in [408, 429, 500, 502, 503, 504] {
            let f = Failure::Status {
                status,
                retry_after: None,
                detail: String::new(),
            };
            assert!(f.is_transient(), "{status}");
        }
        let slow_down = Failure::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(120)),
            detail: String::new(),
        };
        assert_eq!(
            after_failure(&policy, &slow_down, 1, 0, 0, 1.0),
            Next::RetryAt(120 * S)
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_as_a_date() {
        assert_eq!(parse_retry_after(" 30 ", 0), Some(Duration::from_secs(30)));
        // 2015-10-21 07:28:00 UTC is 1445412480.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_480 - 60),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
