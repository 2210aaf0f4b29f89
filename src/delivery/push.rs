//! The push worker: leases due pushes from the outbox (`store::pushes`), POSTs each packet's
//! exact bytes to its recipient's endpoint — signed (RFC 9421) and digested (RFC 9530) — and
//! records the outcome: delivered on 2xx, retried with back-off on no answer, 408, 429 and
//! 5xx, parked on any other answer or when the retry window ends (`retry`). Per endpoint a
//! concurrency cap and a circuit breaker (`breaker`) keep a dead endpoint from slowing the
//! others.
//!
//! A lease lasts the push timeout plus a margin (10 s); a node that dies holding leases leaves them
//! to expire, and any node then takes them again. A retry carries the same
//! `X-Lienthong-Delivery`, so a receiver that answered too late to be heard can see the
//! repeat for what it is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::exchange::Exchange;
use crate::store::pushes::{self, PushJob, PushOutcome};
use crate::store::{now_micros, Lane, Store, StoreError};

use super::breaker::{Admission, BreakerState, Breakers};
use super::outcomes::{Finished, RecordOutcomes};
use super::retry::{self, Failure, Next};
use super::signature::{self, MessageSigner};
use super::PushPolicy;

/// How long a lease outlives the push timeout: time to record the outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// How often an idle worker looks for due pushes (besides being woken by new acceptances).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How long the lease loop waits for a batch of free slots before leasing for fewer.
const LEASE_GATHER: Duration = Duration::from_millis(20);
/// When an endpoint already has its share of pushes in flight, a leased push waits this long
/// for a slot, and if none comes goes back to the queue for as long.
const BUSY_ENDPOINT_WAIT: Duration = Duration::from_secs(1);
/// Most bytes of an error answer kept as its detail.
const DETAIL_BYTES: usize = 300;

/// Why the push worker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Signature(#[from] signature::SignatureError),
    #[error("push client certificate: {0}")]
    ClientCertificate(String),
}

/// Counters of what the workers did, for /metrics.
#[derive(Debug, Default)]
pub struct PushCounters {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub parked: AtomicU64,
    pub skipped: AtomicU64,
    pub deferred: AtomicU64,
}

/// The push workers of this node. Cheap to clone.
#[derive(Clone)]
pub struct Pushes {
    inner: Arc<Inner>,
}

struct Inner {
    exchange: Exchange,
    policy: PushPolicy,
    signer: MessageSigner,
    agent: ureq::Agent,
    breakers: Breakers,
    /// This node's name on the leases it holds.
    owner: String,
    wake: Notify,
    slots: Arc<Semaphore>,
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
    counters: PushCounters,
    /// The writer's kind for outcomes: recorded in groups.
    record: Arc<RecordOutcomes>,
}

impl std::fmt::Debug for Pushes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushes")
            .field("owner", &self.inner.owner)
            .finish_non_exhaustive()
    }
}

impl Pushes {
    /// Prepares the workers (the HTTP agent, the signer); [`Pushes::start`] runs them.
    pub fn new(
        exchange: Exchange,
        policy: PushPolicy,
        signer: MessageSigner,
    ) -> Result<Pushes, PushError> {
        let agent = agent(&policy)?;
        Ok(Pushes {
            inner: Arc::new(Inner {
                exchange,
                breakers: Breakers::new(policy.breaker_failures, policy.breaker_probe),
                slots: Arc::new(Semaphore::new(policy.workers.max(1) as usize)),
                policy,
                signer,
                agent,
                owner: format!("node-{}", uuid::Uuid::new_v4()),
                wake: Notify::new(),
                endpoints: Mutex::new(HashMap::new()),
                counters: PushCounters::default(),
                record: Arc::new(RecordOutcomes),
            }),
        })
    }

    /// Runs the lease loop on `runtime` (delivery's, [`crate::delivery::DeliveryRuntime`])
    /// until the process ends; the pushes it starts run there too.
    pub fn start(&self, runtime: &tokio::runtime::Handle) {
        let inner = self.inner.clone();
        runtime.spawn(async move { inner.run().await });
    }

    /// Tells the workers that new pushes may be due (after an acceptance).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub fn counters(&self) -> &PushCounters {
        &self.inner.counters
    }

    /// Breakers that are not closed, by endpoint.
    pub fn breakers(&self) -> Vec<(String, BreakerState)> {
        self.inner.breakers.states()
    }
}

/// The HTTP agent: the push timeout for the whole exchange, non-2xx answers as answers (not
/// errors), no redirects (a push is for the endpoint named, nowhere else), no proxy from the
/// environment, and the exchange's client certificate when one is configured.
fn agent(policy: &PushPolicy) -> Result<ureq::Agent, PushError> {
    let mut tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier);
    if let (Some(cert), Some(key)) = (&policy.client_cert, &policy.client_key) {
        tls = tls.client_cert(Some(client_cert(cert, key)?));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(policy.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent(concat!("lienthong/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

fn client_cert(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<ureq::tls::ClientCert, PushError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| PushError::ClientCertificate(format!("{}: {e}", path.display())))
    };
    let chain: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&read(cert)?)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| PushError::ClientCertificate(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(PushError::ClientCertificate(format!(
            "{} holds no certificate",
            cert.display()
        )));
    }
    let key = ureq::tls::PrivateKey::from_pem(&read(key)?)
        .map_err(|e| PushError::ClientCertificate(format!("{}: {e}", key.display())))?;
    Ok(ureq::tls::ClientCert::new_with_certs(&chain, key))
}

impl Inner {
    fn store(&self) -> &Store {
        self.exchange.store()
    }

    async fn run(self: Arc<Self>) {
        tracing::info!(
            owner = %self.owner,
            workers = self.policy.workers,
            per_endpoint = self.policy.per_endpoint,
            "push workers started"
        );
        let batch = (self.policy.workers as usize / 4).clamp(1, 64);
        let mut idle = true;
        loop {
            if self.slots.available_permits() < batch {
                // Under a backlog slots free up one by one, and a lease per slot would cost the
                // writer a unit per push: wait a moment for a batch of them.
                let slots = self.slots.clone().acquire_many_owned(batch as u32);
                match tokio::time::timeout(LEASE_GATHER, slots).await {
                    Ok(Ok(permits)) => drop(permits),
                    Ok(Err(_closed)) => return,
                    Err(_elapsed) => {}
                }
            }
            let free = self.slots.available_permits();
            if free == 0 {
                continue;
            }
            let leased = self.lease(free, idle).await;
            idle = matches!(&leased, Ok(jobs) if jobs.is_empty());
            match leased {
                Ok(jobs) if jobs.is_empty() => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Ok(jobs) => {
                    for job in jobs {
                        let Ok(slot) = self.slots.clone().acquire_owned().await else {
                            return;
                        };
                        let inner = self.clone();
                        tokio::spawn(async move { inner.push(job, slot).await });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot lease pushes; trying again in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Leases up to `limit` due pushes. When the last lease found none (`idle`), a reader is
    /// asked first whether any is due, so that an idle node sends the writer nothing.
    async fn lease(&self, limit: usize, idle: bool) -> Result<Vec<PushJob>, StoreError> {
        let now = now_micros();
        if idle && !pushes::any_due(&mut *self.store().acquire().await?, now).await? {
            return Ok(Vec::new());
        }
        let until = now + retry::micros(self.policy.timeout + LEASE_MARGIN);
        let holding = self.breakers.holding(Instant::now());
        let input = (now, until, self.owner.clone(), limit as u32, holding);
        let leased = self
            .store()
            .write_in(
                Lane::Background,
                input,
                |conn, (now, until, owner, limit, holding)| {
                    Box::pin(pushes::lease(conn, *now, *until, owner, *limit, holding))
                },
            )
            .await?;
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.store().acquire().await?;
        pushes::leased_jobs(&mut conn, &leased).await
    }

    /// One leased push, start to outcome.
    async fn push(self: Arc<Self>, job: PushJob, slot: OwnedSemaphorePermit) {
        let endpoint = job.endpoint.clone();
        let outcome = self.attempt(&job).await;
        let counter = match &outcome {
            PushOutcome::Delivered { .. } => &self.counters.delivered,
            PushOutcome::Retry { .. } => &self.counters.retried,
            PushOutcome::Parked { .. } => &self.counters.parked,
            PushOutcome::Skipped { .. } => &self.counters.skipped,
            PushOutcome::Deferred { .. } => &self.counters.deferred,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match &outcome {
            PushOutcome::Delivered { status } => tracing::info!(
                delivery = job.delivery_seq, packet = %job.packet_id, recipient = %job.recipient,
                status, "pushed"
            ),
            PushOutcome::Retry { error, .. } => tracing::info!(
                delivery = job.delivery_seq, recipient = %job.recipient, %error,
                attempts = job.attempts + 1, "push failed; will retry"
            ),
            PushOutcome::Parked { error, .. } => tracing::warn!(
                delivery = job.delivery_seq, recipient = %job.recipient, %error, "push parked"
            ),
            PushOutcome::Skipped { reason } => tracing::info!(
                delivery = job.delivery_seq, recipient = %job.recipient, %reason, "push skipped"
            ),
            PushOutcome::Deferred { .. } => {}
        }
        let recorded = match self.event_number(&outcome).await {
            Ok(event) => {
                let finished = Finished {
                    delivery_seq: job.delivery_seq,
                    packet_id: job.packet_id.clone(),
                    recipient: job.recipient.clone(),
                    sender: job.sender.clone(),
                    owner: self.owner.clone(),
                    endpoint,
                    outcome,
                    at: now_micros(),
                    event,
                };
                self.store()
                    .write_bulk_in(Lane::Background, self.record.clone(), finished)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            // The lease expires and the push is made again: a repeat the receiver can tell
            // by its X-Lienthong-Delivery.
            tracing::warn!(delivery = job.delivery_seq, error = %e, "cannot record a push's outcome");
        }
        // Its slots (this node's and the endpoint's) are free again: the loop may have found
        // nothing it could push a moment ago because this endpoint was busy.
        drop(slot);
        self.wake.notify_one();
    }

    /// The audit event number an outcome the log keeps (delivered, parked) needs.
    async fn event_number(&self, outcome: &PushOutcome) -> Result<Option<i64>, StoreError> {
        match outcome {
            PushOutcome::Delivered { .. } | PushOutcome::Parked { .. } => {
                Ok(Some(self.store().event_number().await?))
            }
            _ => Ok(None),
        }
    }

    /// Decides whether to send, sends, and turns the answer into an outcome.
    async fn attempt(&self, job: &PushJob) -> PushOutcome {
        if let Some(at) = job.acked_at {
            return PushOutcome::Skipped {
                reason: format!(
                    "the recipient took the delivery by pull first ({})",
                    crate::exchange::receipt::rfc3339_micros(at)
                ),
            };
        }
        let Some(endpoint) = job.endpoint.clone().filter(|_| job.push_enabled) else {
            return PushOutcome::Skipped {
                reason: "the recipient switched pushes off or has no push endpoint any more"
                    .to_owned(),
            };
        };
        let now = Instant::now();
        let admission = self.breakers.admit(&endpoint, now);
        if let Admission::Wait(at) = admission {
            return wait_for_breaker(at, now);
        }
        let slots = self.endpoint_slots(&endpoint);
        let slot = match admission {
            // A probe is the breaker's one try: it does not wait behind others.
            Admission::Probe => slots.try_acquire_owned().ok(),
            // Waiting a moment costs nothing; going back to the queue costs two writes.
            _ => tokio::time::timeout(BUSY_ENDPOINT_WAIT, slots.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
        };
        let Some(_endpoint_slot) = slot else {
            if admission == Admission::Probe {
                self.breakers.release_probe(&endpoint, now);
            }
            return PushOutcome::Deferred {
                next_at: now_micros() + retry::micros(BUSY_ENDPOINT_WAIT),
            };
        };
        // The breaker may have opened while this push waited for the slot: the pushes ahead
        // of it failed. It then waits for the probe like every other.
        if admission == Admission::Go {
            let now = Instant::now();
            if let Admission::Wait(at) = self.breakers.admit(&endpoint, now) {
                return wait_for_breaker(at, now);
            }
        }
        let result = self.send(job, &endpoint).await;
        let now_us = now_micros();
        match result {
            Ok(status) => {
                self.breakers.succeeded(&endpoint);
                PushOutcome::Delivered { status }
            }
            Err(failure) => {
                if failure.is_transient() {
                    self.breakers.failed(&endpoint, Instant::now());
                } else {
                    self.breakers.succeeded(&endpoint);
                }
                let jitter = jitter();
                match retry::after_failure(
                    &self.policy,
                    &failure,
                    job.attempts + 1,
                    job.created_at,
                    now_us,
                    jitter,
                ) {
                    Next::RetryAt(next_at) => PushOutcome::Retry {
                        status: failure.status(),
                        error: failure.describe(),
                        next_at,
                    },
                    Next::Park(error) => PushOutcome::Parked {
                        status: failure.status(),
                        error,
                    },
                }
            }
        }
    }

    fn endpoint_slots(&self, endpoint: &str) -> Arc<Semaphore> {
        let mut endpoints = crate::sync::lock(&self.endpoints);
        endpoints
            .entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.policy.per_endpoint.max(1) as usize)))
            .clone()
    }

    /// POSTs the packet; `Ok(status)` for a 2xx.
    async fn send(&self, job: &PushJob, endpoint: &str) -> Result<u16, Failure> {
        let body = self
            .exchange
            .packet_body_for_delivery(&job.packet_id)
            .await
            .map_err(|e| Failure::Transport(format!("cannot read the packet: {e}")))?;
        let sha256 = hex::decode(&job.content_sha256)
            .map_err(|_| Failure::Transport("the packet's SHA-256 is not hex".to_owned()))?;
        let digest = signature::content_digest(&sha256);
        let target = signature::target_uri(endpoint);
        let delivery = job.delivery_seq.to_string();
        let created = now_micros() / 1_000_000;
        let headers = self
            .signer
            .sign(&target, &digest, &delivery, created)
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let request = ureq::http::Request::post(&target)
            .header("content-type", "application/xml")
            .header("content-length", body.len().to_string())
            .header("x-lienthong-packet-id", &job.packet_id)
            .header("x-lienthong-delivery", &delivery)
            .header("x-lienthong-sender", &job.sender)
            .header("x-lienthong-kind", job.kind.as_str())
            .header("content-digest", &digest)
            .header("signature-input", &headers.signature_input)
            .header("signature", &headers.signature)
            .body(())
            .map_err(|e| Failure::Transport(format!("the endpoint {endpoint:?}: {e}")))?;
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || {
            let mut reader = body.into_reader();
            let (parts, ()) = request.into_parts();
            let request =
                ureq::http::Request::from_parts(parts, ureq::SendBody::from_reader(&mut reader));
            match agent.run(request) {
                Ok(response) => answer(response),
                Err(e) => Err(Failure::Transport(e.to_string())),
            }
        })
        .await
        .unwrap_or_else(|e| Err(Failure::Transport(format!("push task: {e}"))))
    }
}

/// A response as an outcome: 2xx, or the failure with its status, Retry-After and the start of
/// its body.
fn answer(mut response: ureq::http::Response<ureq::Body>) -> Result<u16, Failure> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, now_micros() / 1_000_000));
    let detail = response
        .body_mut()
        .with_config()
        .limit(DETAIL_BYTES as u64)
        .read_to_vec()
        .map(|bytes| printable(&bytes))
        .unwrap_or_default();
    Err(Failure::Status {
        status,
        retry_after,
        detail,
    })
}

/// The outcome of a push whose endpoint's breaker is open: back to the queue until `at`.
fn wait_for_breaker(at: Instant, now: Instant) -> PushOutcome {
    PushOutcome::Deferred {
        next_at: now_micros() + retry::micros(at.saturating_duration_since(now)),
    }
}

/// The start of an error answer, on one line, without control characters.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(DETAIL_BYTES)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A number in [0, 1) for spreading retries.
fn jitter() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64;
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
