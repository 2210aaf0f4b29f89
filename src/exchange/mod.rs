//! The exchange rules: who may send what to whom, idempotency, routing, and the per-recipient
//! state machine. See docs/EXCHANGE.md. This module decides; `store` keeps; `http` talks.
//!
//! ```no_run
//! use std::time::Duration;
//! use lienthong::directory::Directory;
//! use lienthong::exchange::{Exchange, ExchangeLimits, ReceiptSigner, TrustSettings};
//! use lienthong::pki::TrustStore;
//! use lienthong::store::{BlobStore, Store};
//! # async fn demo(agency: lienthong::edxml::OrganId, body: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let dev = std::path::Path::new("certs/dev");
//! let store = Store::connect("sqlite://./data/lienthong.db?mode=rwc").await?;
//! store.migrate().await?;
//! let exchange = Exchange::new(
//!     store.clone(),
//!     Directory::new(store),
//!     BlobStore::open(std::path::Path::new("./data"))?,
//!     TrustSettings::new(TrustStore::from_pem_files(
//!         &[dev.join("trust.pem")],
//!         &[dev.join("intermediates.pem")],
//!         &[dev.join("root-ca.crl.pem"), dev.join("issuing-ca.crl.pem")],
//!     )?),
//!     ReceiptSigner::load(&dev.join("server-receipts-p256.pem"), &dev.join("server-receipts-p256.key.pem"))?,
//!     ExchangeLimits {
//!         directory_ttl: Duration::from_secs(30),
//!         ..ExchangeLimits::default()
//!     },
//! );
//! let mut spool = exchange.spool(&agency, Some(body.len() as u64), Duration::from_secs(30)).await?;
//! spool.write(body)?; // the body, as it arrives
//! let accepted = exchange.accept(&agency, spool.finish()).await?; // after the commit
//! println!("{} {}", accepted.id, accepted.receipt);
//! # Ok(()) }
//! ```

mod accept;
mod directory_cache;
mod error;
mod new_documents;
mod plan;
mod query;
pub mod receipt;
mod spool;
pub mod state;
mod take;

use std::sync::Arc;
use std::time::Duration;

use crate::directory::Directory;
use crate::dsig::AlgorithmPolicy;
use crate::pki::{RevocationMode, TrustStore, ValidationPolicy};
use crate::store::{BlobStore, Store};
use crate::trust::TrustPolicy;
use crate::xml::reader::Limits;

pub use error::ExchangeError;
pub use plan::{Accepted, MAX_DESCRIPTION_BYTES, MAX_NOTATION_BYTES, MAX_SUBJECT_BYTES};
pub use query::{
    DocumentStatus, PacketAnswer, PacketBody, StoredPacket, CHUNK_BYTES, MAX_INBOX_PAGE,
};
pub use receipt::{Evidence, ReceiptSigner};
pub use spool::{InFlight, Reservation, Spool, Spooled, UploadSlot, IN_FLIGHT_BUDGET};
pub use state::{Actor, Handling, PendingChange, RecipientState, StateError, Transition};
pub use take::{take_deliveries, AckOutcome, TakenVia};

use directory_cache::DirectoryCache;

/// How long the directory snapshot (bindings, active agencies) is used before it is reloaded,
/// by default (the server's `directory_ttl_seconds`): deactivations take up to this long to
/// apply.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(10);

/// Default number of bodies one agency may have being received at once
/// ([`ExchangeLimits::agency_uploads`]).
pub const AGENCY_UPLOADS: u32 = 8;

/// Largest packet accepted by default: 64 MiB (the server's `max_packet_bytes`).
pub const MAX_PACKET_BYTES: u64 = 64 * 1024 * 1024;

/// The exchange's resource limits. `Default` gives the defaults, which the configuration takes
/// from here: [`MAX_PACKET_BYTES`], [`IN_FLIGHT_BUDGET`] and [`DIRECTORY_TTL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeLimits {
    /// Larger packets are refused (`limits.too_large`).
    pub max_packet_bytes: u64,
    /// Bytes of packets held in memory at once across all requests being received and
    /// verified; a request that does not fit waits. Raised to `max_packet_bytes` when smaller,
    /// so that one packet of the largest size always fits (the configuration refuses that case
    /// instead).
    pub in_flight_bytes: u64,
    /// One agency's share of `in_flight_bytes`.
    pub agency_in_flight_bytes: u64,
    /// Bodies one agency may have being received at once.
    pub agency_uploads: u32,
    /// How long the directory snapshot is used before it is reloaded.
    pub directory_ttl: Duration,
}

impl Default for ExchangeLimits {
    fn default() -> ExchangeLimits {
        ExchangeLimits {
            max_packet_bytes: MAX_PACKET_BYTES,
            in_flight_bytes: IN_FLIGHT_BUDGET,
            agency_in_flight_bytes: IN_FLIGHT_BUDGET / 4,
            agency_uploads: AGENCY_UPLOADS,
            directory_ttl: DIRECTORY_TTL,
        }
    }
}

/// The trust material and the operator's choices that every packet is verified with; the
/// verification time is the moment each packet is received.
#[derive(Debug, Clone)]
pub struct TrustSettings {
    pub store: TrustStore,
    pub limits: Limits,
    pub algorithms: AlgorithmPolicy,
    pub crl_grace: Duration,
    pub revocation: RevocationMode,
}

impl TrustSettings {
    /// The profile's defaults: SHA-1 refused, revocation required, no CRL grace.
    pub fn new(store: TrustStore) -> TrustSettings {
        TrustSettings {
            store,
            limits: Limits::default(),
            algorithms: AlgorithmPolicy::profile(),
            crl_grace: Duration::ZERO,
            revocation: RevocationMode::Require,
        }
    }

    /// Certificate validation as of now, with the configured grace and revocation mode.
    pub fn validation_now(&self) -> ValidationPolicy {
        ValidationPolicy::now()
            .with_crl_grace(self.crl_grace)
            .with_revocation(self.revocation)
    }

    fn policy_now(&self) -> TrustPolicy {
        TrustPolicy {
            limits: self.limits,
            algorithms: self.algorithms,
            validation: self.validation_now(),
        }
    }
}

/// The exchange: accepts packets and answers what agencies may read. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Exchange {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    directory: Directory,
    blobs: BlobStore,
    trust: TrustSettings,
    receipts: ReceiptSigner,
    cache: DirectoryCache,
    in_flight: InFlight,
    limits: ExchangeLimits,
}

impl Exchange {
    pub fn new(
        store: Store,
        directory: Directory,
        blobs: BlobStore,
        trust: TrustSettings,
        receipts: ReceiptSigner,
        limits: ExchangeLimits,
    ) -> Exchange {
        Exchange {
            inner: Arc::new(Inner {
                store,
                directory,
                blobs,
                trust,
                receipts,
                cache: DirectoryCache::new(limits.directory_ttl),
                in_flight: InFlight::new(
                    limits.in_flight_bytes,
                    limits.max_packet_bytes,
                    limits.agency_in_flight_bytes,
                    limits.agency_uploads,
                ),
                limits,
            }),
        }
    }

    /// Starts receiving `agency`'s packet; `announced` is its Content-Length when known.
    /// Waits, at most `wait`, while the agency's other uploads hold its share
    /// ([`ExchangeLimits::agency_in_flight_bytes`], [`ExchangeLimits::agency_uploads`]) or
    /// all packets in flight hold the budget ([`ExchangeLimits::in_flight_bytes`]).
    pub async fn spool(
        &self,
        agency: &crate::edxml::OrganId,
        announced: Option<u64>,
        wait: Duration,
    ) -> Result<Spool, ExchangeError> {
        Spool::reserved(
            &self.inner.blobs,
            &self.inner.in_flight,
            agency,
            self.inner.limits.max_packet_bytes,
            announced,
            wait,
        )
        .await
    }

    /// The in-flight budget, for /metrics.
    pub fn in_flight(&self) -> &InFlight {
        &self.inner.in_flight
    }

    /// The packet size limit.
    pub fn max_packet_bytes(&self) -> u64 {
        self.inner.limits.max_packet_bytes
    }

    /// The limits this exchange was built with.
    pub fn limits(&self) -> ExchangeLimits {
        self.inner.limits
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    /// The trust material packets (and mTLS client certificates) are checked against.
    pub fn trust(&self) -> &TrustSettings {
        &self.inner.trust
    }

    /// The receipt key and certificate, for the other documents the server signs with them
    /// (delivery evidence: `delivery::evidence`).
    pub fn receipts(&self) -> &ReceiptSigner {
        &self.inner.receipts
    }
}
