//! The mail worker: leases batches from the mail outbox (`store::mails`), composes each
//! (`compose`) and hands it to the SMTP server (lettre), then records the outcome. A batch's
//! Message-ID is its id, fixed before the first try: a retry after an SMTP failure or a crash
//! sends the same message, which mail systems recognise, never a second different one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport as _};
use tokio::sync::Notify;

use crate::store::mails::{self, MailBatch, MailOutcome};
use crate::store::{now_micros, Lane, Store, StoreError};

use super::compose::compose;
use super::retry::micros;
use super::MailPolicy;

/// How often an idle worker looks for mails to send.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Batches leased at once.
const BATCHES: usize = 8;
/// The first wait after an SMTP failure; it doubles up to an hour.
const RETRY_FIRST: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(3600);

/// Why the mail worker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp.url: {0}")]
    Url(String),
    #[error("smtp.from {from:?} is not an address: {reason}")]
    From { from: String, reason: String },
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct MailCounters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
}

/// The mail worker of this node. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    policy: MailPolicy,
    transport: SmtpTransport,
    from: Mailbox,
    /// The domain of Message-IDs: the sender address's.
    domain: String,
    owner: String,
    wake: Notify,
    counters: MailCounters,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.inner.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The worker for `policy`, or none when no SMTP server is configured.
    pub fn new(store: Store, policy: MailPolicy) -> Result<Option<Mailer>, MailError> {
        let (Some(url), Some(from)) = (policy.smtp_url.clone(), policy.from.clone()) else {
            return Ok(None);
        };
        let transport = SmtpTransport::from_url(&url)
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(policy.timeout))
            .build();
        let from: Mailbox =
            from.parse()
                .map_err(|e: lettre::address::AddressError| MailError::From {
                    from: from.clone(),
                    reason: e.to_string(),
                })?;
        let domain = from.email.domain().to_owned();
        Ok(Some(Mailer {
            inner: Arc::new(Inner {
                store,
                policy,
                transport,
                from,
                domain,
                owner: format!("node-{}", uuid::Uuid::new_v4()),
                wake: Notify::new(),
                counters: MailCounters::default(),
            }),
        }))
    }

    /// Runs the worker on `runtime` (delivery's) until the process ends.
    pub fn start(&self, runtime: &tokio::runtime::Handle) {
        let inner = self.inner.clone();
        runtime.spawn(async move { inner.run().await });
    }

    /// Tells the worker that mails may be due.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub fn counters(&self) -> &MailCounters {
        &self.inner.counters
    }
}

impl Inner {
    async fn run(self: Arc<Self>) {
        tracing::info!(from = %self.from, gather_seconds = self.policy.gather.as_secs(), "mail worker started");
        loop {
            match self.lease().await {
                Ok(batches) if batches.is_empty() => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Ok(batches) => {
                    for batch in batches {
                        self.send(batch).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot lease mails; trying again in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn lease(&self) -> Result<Vec<MailBatch>, StoreError> {
        let now = now_micros();
        let gathered_before = now - micros(self.policy.gather);
        let until = now + micros(self.policy.timeout * 2 + Duration::from_secs(10));
        let candidates = {
            let mut conn = self.store.acquire().await?;
            mails::lease_candidates(&mut conn, now, gathered_before, BATCHES).await?
        };
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = (0..BATCHES)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let input = (now, until, self.owner.clone(), candidates, ids);
        let leased = self
            .store
            .write_in(
                Lane::Background,
                input,
                |conn, (now, until, owner, candidates, ids)| {
                    Box::pin(mails::lease(conn, *now, *until, owner, candidates, ids))
                },
            )
            .await?;
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.store.acquire().await?;
        mails::leased_batches(&mut conn, &leased).await
    }

    async fn send(&self, batch: MailBatch) {
        let outcome = self.attempt(&batch).await;
        match &outcome {
            MailOutcome::Sent => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(batch = %batch.batch, agency = %batch.agency, events = batch.items.len(), "mailed");
            }
            MailOutcome::Retry { error, .. } => {
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(batch = %batch.batch, agency = %batch.agency, %error, "mail not sent; will retry");
            }
            MailOutcome::Failed { error } => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(batch = %batch.batch, agency = %batch.agency, %error, "mail given up");
            }
        }
        let input = (
            batch.batch.clone(),
            self.owner.clone(),
            outcome,
            now_micros(),
        );
        let recorded = self
            .store
            .write_in(
                Lane::Background,
                input,
                |conn, (batch, owner, outcome, at)| {
                    Box::pin(mails::finish(conn, batch, owner, outcome, *at))
                },
            )
            .await;
        if let Err(e) = recorded {
            // The lease runs out and the same message (same Message-ID) goes again.
            tracing::warn!(batch = %batch.batch, error = %e, "cannot record a mail's outcome");
        }
    }

    async fn attempt(&self, batch: &MailBatch) -> MailOutcome {
        let now = now_micros();
        if now - batch.oldest > micros(self.policy.retry_window) {
            return MailOutcome::Failed {
                error: format!(
                    "not sent within the retry window of {} h",
                    self.policy.retry_window.as_secs_f64() / 3600.0
                ),
            };
        }
        let message = match self.message(batch) {
            Ok(message) => message,
            Err(error) => return MailOutcome::Failed { error },
        };
        let transport = self.transport.clone();
        let sent = tokio::task::spawn_blocking(move || transport.send(&message)).await;
        let error = match sent {
            Ok(Ok(_)) => return MailOutcome::Sent,
            Ok(Err(e)) if e.is_permanent() => {
                return MailOutcome::Failed {
                    error: format!("the SMTP server refused the mail: {e}"),
                }
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("mail task: {e}"),
        };
        let doublings = batch.attempts.min(16);
        let wait = RETRY_FIRST.saturating_mul(1 << doublings).min(RETRY_MAX);
        MailOutcome::Retry {
            error,
            next_at: now + micros(wait),
        }
    }

    /// The message of a batch: to every clerk of the agency, text and HTML.
    fn message(&self, batch: &MailBatch) -> Result<Message, String> {
        let composed = compose(batch, self.policy.console_base_url.as_deref());
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(composed.subject)
            .message_id(Some(format!("<{}@{}>", batch.batch, self.domain)));
        let mut clerks = 0;
        for clerk in &batch.clerks {
            match clerk.parse::<Mailbox>() {
                Ok(mailbox) => {
                    builder = builder.to(mailbox);
                    clerks += 1;
                }
                Err(e) => {
                    tracing::warn!(agency = %batch.agency, %clerk, error = %e, "a clerk's address is not an address")
                }
            }
        }
        if clerks == 0 {
            return Err(format!("{} has no clerk address to mail", batch.agency));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                composed.text,
                composed.html,
            ))
            .map_err(|e| format!("cannot build the mail: {e}"))
    }
}
