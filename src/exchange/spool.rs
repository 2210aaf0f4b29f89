//! A packet being received: its bytes are kept in memory for the verifier, which needs the
//! whole document as one slice, and hashed on the way. Over the size limit it refuses at once.
//!
//! Where an accepted packet's bytes are kept depends on its size. A packet of at most
//! [`INLINE_LIMIT`] bytes (nearly every letter) goes into its database row, in the same
//! transaction as the rest of what it does: shared commits then cover its bytes too, and it
//! costs no file and no fsync of its own. A larger packet is written to a temporary file of
//! the blob store from the moment it passes that size; once accepted, the file becomes its blob
//! (fsync, rename) without being written again, and a refused one's file is deleted. Chunks
//! are written to the page cache from the caller's thread (no fsync there: that happens once,
//! on a blocking thread, when the exchange keeps the packet).
//!
//! Memory is bounded across requests: a packet reserves its size (its Content-Length, or the
//! limit when it has none) from [`InFlight`] before a byte is read. A large packet gives it back
//! once the verifier is done with the bytes; a small one keeps what its bytes need until the
//! writer has committed them (they travel to it in the unit). A request that does not fit
//! waits for others to finish.

use std::io::Write;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::{BlobKey, BlobStore, BlobWriter, StoreError};

use super::ExchangeError;

/// Bytes reserved up front at most, whatever the announced length says: the announcement
/// comes from the client and is only trusted to refuse early.
const MAX_RESERVE: u64 = 1024 * 1024;

/// Largest packet kept in its database row rather than as a file of the blob store. SQLite
/// reads and writes rows of this size faster than files of it, and a row shares its
/// transaction's fsync.
pub const INLINE_LIMIT: u64 = 64 * 1024;

/// Bytes of packets held in memory at once, at most (unless one packet alone is larger), by
/// default: the server's `in_flight_bytes` ([`super::ExchangeLimits::in_flight_bytes`]).
pub const IN_FLIGHT_BUDGET: u64 = 512 * 1024 * 1024;

/// Reservations are counted in units of this many bytes.
const UNIT: u64 = 64 * 1024;

/// The memory budget shared by all packets being received and verified.
#[derive(Debug, Clone)]
pub struct InFlight {
    budget: Arc<Semaphore>,
    units: u64,
}

impl InFlight {
    /// A budget of `bytes`, raised to `largest` so that one packet of the largest size fits.
    pub fn new(bytes: u64, largest: u64) -> InFlight {
        let units = bytes.max(largest).div_ceil(UNIT).max(1);
        let permits = usize::try_from(units)
            .unwrap_or(Semaphore::MAX_PERMITS)
            .min(Semaphore::MAX_PERMITS);
        InFlight {
            budget: Arc::new(Semaphore::new(permits)),
            units: permits as u64,
        }
    }

    /// Waits until `bytes` fit in the budget and holds them until the permit is dropped.
    pub async fn reserve(&self, bytes: u64) -> Result<OwnedSemaphorePermit, ExchangeError> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units);
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        self.budget
            .clone()
            .acquire_many_owned(units)
            .await
            .map_err(|e| ExchangeError::Internal(format!("in-flight budget: {e}")))
    }

    /// Shrinks a reservation to what `bytes` need, giving the rest back to the budget (a
    /// packet sent without a Content-Length reserved the whole limit).
    pub fn shrink(mut permit: OwnedSemaphorePermit, bytes: u64) -> OwnedSemaphorePermit {
        let keep = usize::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(usize::MAX);
        if permit.num_permits() <= keep {
            return permit;
        }
        // `split` moves `keep` permits out; dropping what remains gives it back.
        permit.split(keep).unwrap_or(permit)
    }

    /// Bytes free in the budget now.
    pub fn available(&self) -> u64 {
        self.budget.available_permits() as u64 * UNIT
    }
}

/// A packet being received. See the module documentation.
pub struct Spool {
    blobs: BlobStore,
    /// The blob store's temporary file, once the packet is larger than [`INLINE_LIMIT`].
    file: Option<BlobWriter>,
    bytes: Vec<u8>,
    hasher: openssl::sha::Sha256,
    limit: u64,
    reserved: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("file", &self.file)
            .field("len", &self.bytes.len())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// A packet received whole.
#[derive(Debug)]
pub struct Spooled {
    pub(crate) bytes: Vec<u8>,
    pub(crate) sha256: BlobKey,
    /// The unfinished blob holding the bytes; none for a packet kept in its database row.
    pub(crate) file: Option<BlobWriter>,
    /// The packet's share of the in-flight budget, given back with `bytes`.
    pub(crate) reserved: Option<OwnedSemaphorePermit>,
}

impl Spool {
    /// Starts receiving a packet of at most `limit` bytes. `announced` is the request's
    /// Content-Length when it has one: a packet announced larger than the limit is refused
    /// before a byte is read, and one longer than announced is refused as too large.
    pub fn new(
        blobs: &BlobStore,
        limit: u64,
        announced: Option<u64>,
    ) -> Result<Spool, ExchangeError> {
        Spool::check_announced(limit, announced)?;
        let capacity = announced.unwrap_or(0).min(MAX_RESERVE).min(limit);
        Ok(Spool {
            blobs: blobs.clone(),
            file: None,
            bytes: Vec::with_capacity(usize::try_from(capacity).unwrap_or(0)),
            hasher: openssl::sha::Sha256::new(),
            limit: announced.map_or(limit, |n| n.min(limit)),
            reserved: None,
        })
    }

    /// Like [`Spool::new`], after reserving the packet's size from the in-flight budget.
    pub async fn reserved(
        blobs: &BlobStore,
        in_flight: &InFlight,
        limit: u64,
        announced: Option<u64>,
    ) -> Result<Spool, ExchangeError> {
        Spool::check_announced(limit, announced)?;
        let permit = in_flight.reserve(announced.unwrap_or(limit)).await?;
        let mut spool = Spool::new(blobs, limit, announced)?;
        spool.reserved = Some(permit);
        Ok(spool)
    }

    fn check_announced(limit: u64, announced: Option<u64>) -> Result<(), ExchangeError> {
        match announced {
            Some(n) if n > limit => Err(ExchangeError::TooLarge { limit }),
            _ => Ok(()),
        }
    }

    /// Appends the next piece of the body; refuses once the packet exceeds the limit.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ExchangeError> {
        let total = self.len().saturating_add(chunk.len() as u64);
        if total > self.limit {
            return Err(ExchangeError::TooLarge { limit: self.limit });
        }
        if self.file.is_none() && total > INLINE_LIMIT {
            let mut file = self.blobs.writer()?;
            write_to(&mut file, &self.bytes)?;
            self.file = Some(file);
        }
        if let Some(file) = self.file.as_mut() {
            write_to(file, chunk)?;
        }
        self.hasher.update(chunk);
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The whole packet: its bytes, their SHA-256 and the unfinished file holding them, if
    /// it is too large for its database row.
    pub fn finish(self) -> Spooled {
        Spooled {
            bytes: self.bytes,
            sha256: BlobKey::from(self.hasher.finish()),
            file: self.file,
            reserved: self.reserved,
        }
    }
}

fn write_to(file: &mut BlobWriter, bytes: &[u8]) -> Result<(), ExchangeError> {
    file.write_all(bytes).map_err(|e| {
        ExchangeError::Store(StoreError::Io {
            path: "the spool file".to_owned(),
            reason: e.to_string(),
        })
    })
}

impl Spooled {
    /// SHA-256 of the packet's bytes.
    pub fn sha256(&self) -> BlobKey {
        self.sha256
    }

    /// The packet's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_enforced_before_and_while_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let early = Spool::new(&blobs, 4, Some(5)).err();
        assert_eq!(early.map(|e| e.code()), Some("limits.too_large"));
        let mut spool = Spool::new(&blobs, 4, None).expect("spool");
        spool.write(b"abc").expect("fits");
        assert_eq!(
            spool.write(b"de").err().map(|e| e.code()),
            Some("limits.too_large")
        );
        spool.write(b"d").expect("exactly the limit");
        let spooled = spool.finish();
        assert_eq!(spooled.bytes(), b"abcd");
        assert_eq!(spooled.sha256(), BlobKey::of(b"abcd"));
    }

    #[tokio::test]
    async fn the_in_flight_budget_is_reserved_and_given_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let in_flight = InFlight::new(4 * UNIT, 2 * UNIT);
        let first = Spool::reserved(&blobs, &in_flight, 2 * UNIT, Some(UNIT + 1))
            .await
            .expect("fits");
        assert_eq!(in_flight.available(), 2 * UNIT);
        // Without a Content-Length a packet reserves the whole limit.
        let second = Spool::reserved(&blobs, &in_flight, 2 * UNIT, None)
            .await
            .expect("fits");
        assert_eq!(in_flight.available(), 0);
        let waiting = Spool::reserved(&blobs, &in_flight, 2 * UNIT, Some(1));
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), waiting).await;
        assert!(timed_out.is_err(), "a packet over the budget must wait");
        drop(first.finish());
        assert_eq!(in_flight.available(), 2 * UNIT);
        // A packet that turned out small keeps only what its bytes need.
        let kept = InFlight::shrink(second.finish().reserved.expect("reserved"), 10);
        assert_eq!(in_flight.available(), 3 * UNIT);
        drop(kept);
        assert_eq!(in_flight.available(), 4 * UNIT);
        // A body longer than its Content-Length is refused.
        let mut short = Spool::new(&blobs, 1024, Some(3)).expect("spool");
        assert_eq!(
            short.write(b"abcd").err().map(|e| e.code()),
            Some("limits.too_large")
        );
    }

    #[test]
    fn a_large_spool_becomes_the_blob_and_a_dropped_one_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let tmp_files = || {
            std::fs::read_dir(dir.path().join("blobs/tmp"))
                .expect("tmp")
                .count()
        };
        let large = vec![b'x'; usize::try_from(INLINE_LIMIT).expect("size") + 10];
        let mut kept = Spool::new(&blobs, 1024 * 1024, None).expect("spool");
        let (head, tail) = large.split_at(100);
        kept.write(head).expect("write");
        assert_eq!(tmp_files(), 0, "a small beginning stays in memory");
        kept.write(tail).expect("write");
        assert_eq!(tmp_files(), 1, "past the inline limit it goes to a file");
        let spooled = kept.finish();
        let blob = spooled.file.expect("a file").finish().expect("finish");
        assert_eq!(blob.key, BlobKey::of(&large));
        assert_eq!(blobs.get(&blob.key).expect("stored"), large);

        let mut refused = Spool::new(&blobs, 1024 * 1024, None).expect("spool");
        refused.write(&large[1..]).expect("write");
        assert_eq!(tmp_files(), 1);
        drop(refused.finish());
        assert!(!blobs.contains(&BlobKey::of(&large[1..])));
        assert_eq!(tmp_files(), 0);
    }

    #[test]
    fn a_small_packet_is_kept_in_memory_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let mut spool = Spool::new(&blobs, 1024 * 1024, Some(5)).expect("spool");
        spool.write(b"hello").expect("write");
        let spooled = spool.finish();
        assert!(spooled.file.is_none());
        assert_eq!(spooled.bytes(), b"hello");
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs/tmp"))
                .expect("tmp")
                .count(),
            0
        );
    }
}
