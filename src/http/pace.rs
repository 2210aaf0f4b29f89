//! Deadlines of an upload's body: it must never go quiet for the idle timeout, and once it has
//! had that long to get going it must keep up a minimum average rate. A stalled or trickling
//! body is closed (408 `http.timeout`) and the memory it reserved goes back at once — without
//! these, eight connections sending one byte a second held the whole in-flight budget.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;

/// How an upload is keeping up.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    started: Instant,
    last: Instant,
    received: u64,
    idle: Duration,
    min_rate: u64,
}

/// Which rule a slow body broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooSlow {
    /// Nothing arrived for the idle timeout.
    Idle(Duration),
    /// Less than the minimum rate arrived on average.
    Rate {
        received: u64,
        elapsed: Duration,
        min_rate: u64,
    },
}

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TooSlow::Idle(idle) => write!(f, "nothing arrived for {} s", idle.as_secs()),
            TooSlow::Rate {
                received,
                elapsed,
                min_rate,
            } => write!(
                f,
                "{received} bytes in {:.0} s is below the minimum of {min_rate} bytes per second",
                elapsed.as_secs_f64()
            ),
        }
    }
}

impl Pace {
    pub fn new(now: Instant, idle: Duration, min_rate: u64) -> Pace {
        Pace {
            started: now,
            last: now,
            received: 0,
            idle,
            min_rate,
        }
    }

    /// The next piece of the body arrived.
    pub fn received(&mut self, bytes: usize, now: Instant) {
        self.received = self.received.saturating_add(bytes as u64);
        self.last = now;
    }

    /// When the body is too slow unless more arrives: the idle deadline, or earlier the moment
    /// the bytes so far fall below the minimum rate (never before the first idle timeout).
    pub fn deadline(&self) -> Instant {
        let idle = self.last + self.idle;
        if self.min_rate == 0 {
            return idle;
        }
        let covered = Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        idle.min(self.started + covered.max(self.idle))
    }

    /// Which rule the body broke, once its deadline has passed.
    pub fn broken(&self, now: Instant) -> TooSlow {
        if now >= self.last + self.idle {
            TooSlow::Idle(self.idle)
        } else {
            TooSlow::Rate {
                received: self.received,
                elapsed: now - self.started,
                min_rate: self.min_rate,
            }
        }
    }
}

/// An answer that holds the unread body of a request until the answer has been written.
///
/// actix drains a dropped chunked body to keep the connection alive — for a sender that has
/// stopped sending, that is a connection held open until the keep-alive runs out. A body still
/// held when the answer ends makes actix close the connection instead.
pub struct Closing {
    answer: Option<Bytes>,
    _unread: actix_web::web::Payload,
}

impl Closing {
    /// `response` with `unread` kept until its last byte is written.
    pub fn answer(
        response: actix_web::HttpResponse,
        unread: actix_web::web::Payload,
    ) -> actix_web::HttpResponse {
        let (response, body) = response.into_parts();
        let answer = body.try_into_bytes().unwrap_or_default();
        response
            .set_body(Closing {
                answer: Some(answer),
                _unread: unread,
            })
            .map_into_boxed_body()
    }
}

impl MessageBody for Closing {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.answer.as_ref().map_or(0, |a| a.len() as u64))
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.get_mut().answer.take().map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_quiet_body_meets_the_idle_deadline() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0, 10 * S, 0);
        assert_eq!(pace.deadline(), t0 + 10 * S);
        pace.received(1, t0 + 4 * S);
        assert_eq!(pace.deadline(), t0 + 14 * S);
        assert_eq!(pace.broken(t0 + 14 * S), TooSlow::Idle(10 * S));
    }

    #[test]
    fn a_trickle_meets_the_rate_deadline_after_the_first_idle_timeout() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0, 10 * S, 100);
        // One byte a second keeps the idle rule quiet …
        for n in 1..=9 {
            pace.received(1, t0 + n * S);
        }
        // … but 9 bytes cover 0.09 s of the rate: the rule bites at the first idle timeout.
        assert_eq!(pace.deadline(), t0 + 10 * S);
        assert!(matches!(
            pace.broken(t0 + 10 * S),
            TooSlow::Rate { received: 9, .. }
        ));
        // A body at the rate is never cut.
        let mut fast = Pace::new(t0, 10 * S, 100);
        fast.received(5_000, t0 + 2 * S);
        assert_eq!(
            fast.deadline(),
            t0 + 12 * S,
            "50 s covered, the idle rule first"
        );
    }
}
