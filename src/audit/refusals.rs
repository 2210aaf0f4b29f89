//! Refused packets as events (`packet.refused`): failed attempts matter to auditors, but a
//! client sending bad packets in a loop must not turn into a flood of log writes.
//!
//! So refusals are counted per caller, code and minute (UTC): the first refusal of a caller
//! and code in a minute is an event at once, with the SHA-256 of the bytes when they arrived
//! whole; the further ones of that minute are only counted here, and once the minute is over
//! one event gives their count. A caller makes at most two events per code and minute, however
//! fast it sends. The count of a minute not yet over is lost to a `kill -9` (the first refusal
//! of it is not); a stopping server writes it (`close`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::events::{self, EventKind, EventRecord};
use crate::store::{now_micros, Store, StoreError};
use crate::sync::lock;

/// How often finished minutes are written.
const TICK: Duration = Duration::from_secs(5);
const MINUTE: i64 = 60_000_000;

/// One refusal as the edge saw it.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    /// The authenticated agency that sent the packet.
    pub caller: &'a str,
    /// The stable code of the refusal (docs/ERRORS.md).
    pub code: &'static str,
    /// The SHA-256 (hex) of the bytes, when the body arrived whole.
    pub content_sha256: Option<&'a str>,
}

/// The refusal counter of one node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Refusals {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    minutes: Mutex<HashMap<Key, Minute>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    caller: String,
    code: &'static str,
}

/// A caller's minute for one code: which minute, and how many refusals after the first.
#[derive(Debug, Clone, Copy)]
struct Minute {
    start: i64,
    further: u64,
}

/// The count of a finished minute, to be written.
#[derive(Debug)]
struct Closed {
    key: Key,
    minute: Minute,
}

impl Refusals {
    pub fn new(store: Store) -> Refusals {
        Refusals {
            inner: Arc::new(Inner {
                store,
                minutes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts the task that writes the counts of finished minutes.
    pub fn start(&self) {
        let refusals = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                if let Err(error) = refusals.write_finished(now_micros()).await {
                    tracing::warn!(%error, "audit log: cannot write the counts of refusals");
                }
            }
        });
    }

    /// Counts `refused`; when it is the first of its caller and code this minute, logs it and
    /// answers the event's number once it is committed.
    pub async fn record(&self, refused: Refused<'_>) -> Result<Option<i64>, StoreError> {
        let at = now_micros();
        let start = at - at.rem_euclid(MINUTE);
        let key = Key {
            caller: refused.caller.to_owned(),
            code: refused.code,
        };
        let earlier = {
            let mut minutes = lock(&self.inner.minutes);
            match minutes.get_mut(&key) {
                Some(minute) if minute.start == start => {
                    minute.further += 1;
                    return Ok(None);
                }
                _ => minutes.insert(key.clone(), Minute { start, further: 0 }),
            }
        };
        let mut events = Vec::with_capacity(2);
        if let Some(minute) = earlier.filter(|m| m.further > 0) {
            let closed = Closed {
                key: key.clone(),
                minute,
            };
            events.push(self.count_event(&closed, at).await?);
        }
        let seq = self.inner.store.event_number().await?;
        let values = [
            refused.caller,
            refused.code,
            refused.content_sha256.unwrap_or(""),
            "1",
            &events::timestamp(start),
        ];
        events.push(EventRecord::new(
            seq,
            at,
            EventKind::PacketRefused,
            None,
            &values,
        ));
        self.write(events).await?;
        Ok(Some(seq))
    }

    /// Writes the counts of the minutes before `now`'s and forgets them.
    pub async fn write_finished(&self, now: i64) -> Result<usize, StoreError> {
        let current = now - now.rem_euclid(MINUTE);
        self.write_closed(|minute| minute.start < current, now)
            .await
    }

    /// Writes every count, the current minute's too (the server is stopping).
    pub async fn close(&self) -> Result<usize, StoreError> {
        self.write_closed(|_| true, now_micros()).await
    }

    async fn write_closed(
        &self,
        finished: impl Fn(&Minute) -> bool,
        at: i64,
    ) -> Result<usize, StoreError> {
        let closed: Vec<Closed> = {
            let mut minutes = lock(&self.inner.minutes);
            let keys: Vec<Key> = minutes
                .iter()
                .filter(|(_, minute)| finished(minute))
                .map(|(key, _)| key.clone())
                .collect();
            keys.into_iter()
                .filter_map(|key| {
                    let minute = minutes.remove(&key)?;
                    Some(Closed { key, minute })
                })
                .filter(|closed| closed.minute.further > 0)
                .collect()
        };
        let mut events = Vec::with_capacity(closed.len());
        for closed in &closed {
            events.push(self.count_event(closed, at).await?);
        }
        let written = events.len();
        if written > 0 {
            self.write(events).await?;
        }
        Ok(written)
    }

    /// The event counting a minute's refusals after its first: no hash (they are many).
    async fn count_event(&self, closed: &Closed, at: i64) -> Result<EventRecord, StoreError> {
        let seq = self.inner.store.event_number().await?;
        let values = [
            closed.key.caller.as_str(),
            closed.key.code,
            "",
            &closed.minute.further.to_string(),
            &events::timestamp(closed.minute.start),
        ];
        Ok(EventRecord::new(
            seq,
            at,
            EventKind::PacketRefused,
            None,
            &values,
        ))
    }

    async fn write(&self, events: Vec<EventRecord>) -> Result<(), StoreError> {
        self.inner
            .store
            .write(events, |conn, events| {
                Box::pin(async move {
                    let refs: Vec<&EventRecord> = events.iter().collect();
                    events::insert(conn, &refs).await
                })
            })
            .await
    }
}
