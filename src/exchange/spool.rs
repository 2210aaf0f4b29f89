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
//! Memory is bounded across requests: a packet reserves what it will cost (its Content-Length,
//! or the limit when it has none, plus what verifying it may hold: see [`cost`]) from
//! [`InFlight`] before a byte is read — from its agency's share first, then from the server's
//! budget, so that one agency can fill its share and no more. A large packet gives it back once
//! the verifier is done with the bytes; a small one keeps what its bytes need until the writer
//! has committed them (they travel to it in the unit). A request that does not fit waits for
//! others to finish, up to a deadline the caller gives. While its body is being received a
//! packet also holds one of its agency's upload slots.
//!
//! The bytes are one buffer, sized to the Content-Length when there is one and otherwise grown
//! to at most the limit — never the doubling of a growing `Vec`, which held up to twice the
//! packet while only its size was reserved.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::edxml::OrganId;
use crate::store::{BlobKey, BlobStore, BlobWriter, StoreError};
use crate::xml::events::KEPT_EVENTS_BUDGET;

use super::ExchangeError;
use crate::sync::lock;

/// The first buffer of a body sent without a Content-Length (one with a Content-Length gets a
/// buffer of that size: it was reserved in full before a byte was read).
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

/// What receiving and verifying a packet of `bytes` may hold in memory: its bytes, and the
/// verifier's kept events, which stay under [`KEPT_EVENTS_BUDGET`] and under the size of the
/// document they describe.
pub fn cost(bytes: u64) -> u64 {
    bytes.saturating_add(bytes.min(KEPT_EVENTS_BUDGET as u64))
}

/// The memory budget shared by all packets being received and verified, and each agency's
/// share of it.
#[derive(Debug, Clone)]
pub struct InFlight {
    budget: Arc<Semaphore>,
    units: u64,
    agency_units: u64,
    agency_uploads: u32,
    shares: Arc<Mutex<HashMap<OrganId, Holders>>>,
}

/// One agency's share, and how many reservations and upload slots hold it (the entry goes
/// when none does, so the table holds only agencies sending now).
#[derive(Debug)]
struct Holders {
    share: Arc<Share>,
    count: usize,
}

#[derive(Debug)]
struct Share {
    bytes: Arc<Semaphore>,
    uploads: Arc<Semaphore>,
}

/// A packet's memory, from its agency's share and from the budget; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    global: OwnedSemaphorePermit,
    agency: OwnedSemaphorePermit,
    /// Where more comes from, for a body of unknown length that grows.
    budget: Arc<Semaphore>,
    share: Arc<Share>,
    /// The most one packet may reserve (the agency's share).
    cap_units: u64,
    _holder: Holder,
}

/// One of an agency's upload slots, held while a body is being received.
#[derive(Debug)]
pub struct UploadSlot {
    _permit: OwnedSemaphorePermit,
    _holder: Holder,
}

/// Keeps an agency's share in the table while it lives.
#[derive(Debug)]
struct Holder {
    shares: Arc<Mutex<HashMap<OrganId, Holders>>>,
    agency: OrganId,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let mut shares = lock(&self.shares);
        if let Some(holders) = shares.get_mut(&self.agency) {
            holders.count -= 1;
            if holders.count == 0 {
                shares.remove(&self.agency);
            }
        }
    }
}

fn units_of(bytes: u64) -> u64 {
    bytes.div_ceil(UNIT).max(1)
}

fn semaphore(units: u64) -> (Arc<Semaphore>, u64) {
    let permits = usize::try_from(units.max(1))
        .unwrap_or(Semaphore::MAX_PERMITS)
        .min(Semaphore::MAX_PERMITS);
    (Arc::new(Semaphore::new(permits)), permits as u64)
}

impl InFlight {
    /// A budget of `bytes`, raised so that one packet of the `largest` size fits; each agency
    /// may hold `agency_bytes` of it (raised the same way) over at most `agency_uploads`
    /// bodies being received at once.
    pub fn new(bytes: u64, largest: u64, agency_bytes: u64, agency_uploads: u32) -> InFlight {
        let largest = cost(largest);
        let (budget, units) = semaphore(units_of(bytes.max(largest)));
        InFlight {
            budget,
            units,
            agency_units: units_of(agency_bytes.max(largest)).min(units),
            agency_uploads: agency_uploads.max(1),
            shares: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The agency's share, counted as held once more.
    fn share(&self, agency: &OrganId) -> (Arc<Share>, Holder) {
        let mut shares = lock(&self.shares);
        let holders = shares.entry(agency.clone()).or_insert_with(|| Holders {
            share: Arc::new(Share {
                bytes: semaphore(self.agency_units).0,
                uploads: Arc::new(Semaphore::new(self.agency_uploads as usize)),
            }),
            count: 0,
        });
        holders.count += 1;
        let holder = Holder {
            shares: self.shares.clone(),
            agency: agency.clone(),
        };
        (holders.share.clone(), holder)
    }

    /// Waits, at most `wait`, for one of the agency's upload slots and for `bytes` of its
    /// share and of the budget; [`ExchangeError::Busy`] when they do not come in time.
    pub async fn reserve(
        &self,
        agency: &OrganId,
        bytes: u64,
        wait: Duration,
    ) -> Result<(Reservation, UploadSlot), ExchangeError> {
        let units = u32::try_from(units_of(bytes).min(self.agency_units)).unwrap_or(u32::MAX);
        let closed = |e: tokio::sync::AcquireError| {
            ExchangeError::Internal(format!("in-flight budget: {e}"))
        };
        let deadline = tokio::time::Instant::now() + wait;
        let within = |agency_share: bool| {
            move |_| ExchangeError::Busy {
                agency: agency_share,
            }
        };
        let (share, holder) = self.share(agency);
        let upload = tokio::time::timeout_at(deadline, share.uploads.clone().acquire_owned())
            .await
            .map_err(within(true))?
            .map_err(closed)?;
        let slot = UploadSlot {
            _permit: upload,
            _holder: holder,
        };
        let agency_permit =
            tokio::time::timeout_at(deadline, share.bytes.clone().acquire_many_owned(units))
                .await
                .map_err(within(true))?
                .map_err(closed)?;
        let global =
            tokio::time::timeout_at(deadline, self.budget.clone().acquire_many_owned(units))
                .await
                .map_err(within(false))?
                .map_err(closed)?;
        let (_, holder) = self.share(agency);
        Ok((
            Reservation {
                global,
                agency: agency_permit,
                budget: self.budget.clone(),
                share,
                cap_units: self.agency_units,
                _holder: holder,
            },
            slot,
        ))
    }

    /// Bytes free in the budget now.
    pub fn available(&self) -> u64 {
        self.budget.available_permits() as u64 * UNIT
    }

    /// Bytes of the budget.
    pub fn total(&self) -> u64 {
        self.units * UNIT
    }

    /// Bytes of one agency's share.
    pub fn agency_total(&self) -> u64 {
        self.agency_units * UNIT
    }

    /// Agencies holding part of the budget now.
    pub fn agencies_holding(&self) -> usize {
        lock(&self.shares).len()
    }
}

impl Reservation {
    /// Shrinks the reservation to what `bytes` need, giving the rest back (a packet sent
    /// without a Content-Length reserved the whole limit; a verified packet no longer needs
    /// the verifier's part).
    pub fn shrink(self, bytes: u64) -> Reservation {
        let keep = usize::try_from(units_of(bytes)).unwrap_or(usize::MAX);
        let cut = |mut permit: OwnedSemaphorePermit| {
            if permit.num_permits() <= keep {
                return permit;
            }
            // `split` moves `keep` permits out; dropping what remains gives it back.
            permit.split(keep).unwrap_or(permit)
        };
        Reservation {
            global: cut(self.global),
            agency: cut(self.agency),
            ..self
        }
    }

    /// Grows the reservation to cover `bytes`, waiting until `deadline` for the agency's share
    /// and the budget ([`ExchangeError::Busy`] after it).
    pub async fn grow(
        &mut self,
        bytes: u64,
        deadline: tokio::time::Instant,
    ) -> Result<(), ExchangeError> {
        let have = self.global.num_permits() as u64;
        let want = units_of(bytes).min(self.cap_units);
        if want <= have {
            return Ok(());
        }
        let more = u32::try_from(want - have).unwrap_or(u32::MAX);
        let closed = |e: tokio::sync::AcquireError| {
            ExchangeError::Internal(format!("in-flight budget: {e}"))
        };
        let agency =
            tokio::time::timeout_at(deadline, self.share.bytes.clone().acquire_many_owned(more))
                .await
                .map_err(|_| ExchangeError::Busy { agency: true })?
                .map_err(closed)?;
        let global =
            tokio::time::timeout_at(deadline, self.budget.clone().acquire_many_owned(more))
                .await
                .map_err(|_| ExchangeError::Busy { agency: false })?
                .map_err(closed)?;
        self.agency.merge(agency);
        self.global.merge(global);
        Ok(())
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
    reserved: Option<Reservation>,
    /// The agency's upload slot, given back once the body is whole.
    slot: Option<UploadSlot>,
    /// For a body of unknown length: how long to wait for more room as it grows.
    growing: Option<Duration>,
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
    pub(crate) reserved: Option<Reservation>,
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
        let capacity = match announced {
            // Reserved in full already: one allocation of the right size.
            Some(n) => n.min(limit),
            None => MAX_RESERVE.min(limit),
        };
        Ok(Spool {
            blobs: blobs.clone(),
            file: None,
            bytes: Vec::with_capacity(usize::try_from(capacity).unwrap_or(0)),
            hasher: openssl::sha::Sha256::new(),
            limit: announced.map_or(limit, |n| n.min(limit)),
            reserved: None,
            slot: None,
            growing: None,
        })
    }

    /// Like [`Spool::new`], after reserving what the packet will cost from `agency`'s share
    /// of the in-flight budget (waiting at most `wait`).
    pub async fn reserved(
        blobs: &BlobStore,
        in_flight: &InFlight,
        agency: &OrganId,
        limit: u64,
        announced: Option<u64>,
        wait: Duration,
    ) -> Result<Spool, ExchangeError> {
        Spool::check_announced(limit, announced)?;
        // A body of unknown length starts with what its first buffer holds and grows its
        // reservation as it arrives ([`Spool::make_room`]).
        let size = announced.unwrap_or(MAX_RESERVE.min(limit));
        let (reservation, slot) = in_flight.reserve(agency, cost(size), wait).await?;
        let mut spool = Spool::new(blobs, limit, announced)?;
        spool.reserved = Some(reservation);
        spool.slot = Some(slot);
        spool.growing = announced.is_none().then_some(wait);
        Ok(spool)
    }

    /// Before writing `more` bytes of a body of unknown length: grows its reservation (to
    /// twice what it has received, at most the limit) so that its memory stays counted. A body
    /// with a Content-Length reserved it all at the start; this does nothing for it.
    pub async fn make_room(&mut self, more: usize) -> Result<(), ExchangeError> {
        let (Some(wait), Some(reserved)) = (self.growing, self.reserved.as_mut()) else {
            return Ok(());
        };
        let needed = self.bytes.len() as u64 + more as u64;
        if needed > self.limit {
            return Err(ExchangeError::TooLarge { limit: self.limit });
        }
        let target = needed.max(self.bytes.len() as u64 * 2).min(self.limit);
        reserved
            .grow(cost(target), tokio::time::Instant::now() + wait)
            .await
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
        let needed = self.bytes.len() + chunk.len();
        if needed > self.bytes.capacity() {
            // Grow by doubling, but never past the limit that was reserved.
            let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
            let target = needed
                .max(self.bytes.capacity().saturating_mul(2))
                .min(limit);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
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
        drop(self.slot);
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

    fn agency(code: &str) -> OrganId {
        OrganId::parse(code).expect("code")
    }

    const WAIT: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn the_in_flight_budget_is_reserved_and_given_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let g22 = agency("000.00.00.G22");
        // Small packets cost twice their size (the bytes, and the verifier's events).
        let in_flight = InFlight::new(8 * UNIT, 2 * UNIT, 8 * UNIT, 8);
        let first = Spool::reserved(&blobs, &in_flight, &g22, 2 * UNIT, Some(UNIT), WAIT)
            .await
            .expect("fits");
        assert_eq!(in_flight.available(), 6 * UNIT);
        // Without a Content-Length a packet reserves what the whole limit would cost.
        let second = Spool::reserved(&blobs, &in_flight, &g22, 2 * UNIT, None, WAIT)
            .await
            .expect("fits");
        assert_eq!(in_flight.available(), 2 * UNIT);
        let waiting = Spool::reserved(&blobs, &in_flight, &g22, 2 * UNIT, Some(2 * UNIT), WAIT);
        assert!(
            matches!(waiting.await, Err(ExchangeError::Busy { .. })),
            "a packet over the budget waits, then is refused"
        );
        drop(first.finish());
        assert_eq!(in_flight.available(), 4 * UNIT);
        // A packet that turned out small keeps only what its bytes need.
        let kept = second.finish().reserved.expect("reserved").shrink(10);
        assert_eq!(in_flight.available(), 7 * UNIT);
        drop(kept);
        assert_eq!(in_flight.available(), 8 * UNIT);
        assert_eq!(
            in_flight.agencies_holding(),
            0,
            "no share kept for idle agencies"
        );
        // A body longer than its Content-Length is refused.
        let mut short = Spool::new(&blobs, 1024, Some(3)).expect("spool");
        assert_eq!(
            short.write(b"abcd").err().map(|e| e.code()),
            Some("limits.too_large")
        );
    }

    #[tokio::test]
    async fn one_agency_fills_its_share_and_another_is_still_received() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let (g22, h49) = (agency("000.00.00.G22"), agency("000.00.00.H49"));
        let in_flight = InFlight::new(16 * UNIT, UNIT, 4 * UNIT, 8);
        let reserve = |who: OrganId| {
            let (blobs, in_flight) = (blobs.clone(), in_flight.clone());
            async move { Spool::reserved(&blobs, &in_flight, &who, UNIT, Some(UNIT), WAIT).await }
        };
        let held = [
            reserve(g22.clone()).await.expect("first"),
            reserve(g22.clone()).await.expect("second"),
        ];
        let over = reserve(g22.clone()).await;
        assert!(
            matches!(over, Err(ExchangeError::Busy { agency: true })),
            "G22's share is full: {over:?}"
        );
        let other = reserve(h49.clone())
            .await
            .expect("H49 is not held up by G22");
        assert_eq!(in_flight.agencies_holding(), 2);
        drop(held);
        drop(other);
        assert_eq!(in_flight.available(), 16 * UNIT);
        assert_eq!(in_flight.agencies_holding(), 0);
    }

    #[tokio::test]
    async fn an_upload_slot_is_held_while_the_body_is_received() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let g22 = agency("000.00.00.G22");
        let in_flight = InFlight::new(64 * UNIT, UNIT, 64 * UNIT, 2);
        let reserve = || Spool::reserved(&blobs, &in_flight, &g22, UNIT, Some(10), WAIT);
        let first = reserve().await.expect("first");
        let _second = reserve().await.expect("second");
        let third = reserve().await;
        assert!(matches!(third, Err(ExchangeError::Busy { agency: true })));
        // A whole body gives its slot back; its memory stays reserved until it is done.
        let received = first.finish();
        let _third = reserve().await.expect("a slot came free");
        assert!(received.reserved.is_some());
    }

    #[tokio::test]
    async fn a_body_without_length_reserves_as_it_grows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let g22 = agency("000.00.00.G22");
        let mib = 1024 * 1024;
        let in_flight = InFlight::new(64 * mib, 16 * mib, 64 * mib, 8);
        let total = in_flight.total();
        let mut spool = Spool::reserved(&blobs, &in_flight, &g22, 16 * mib, None, WAIT)
            .await
            .expect("room");
        // At first what its first buffer holds (and verifying it), not the 16 MiB limit.
        assert_eq!(total - in_flight.available(), cost(MAX_RESERVE));
        let chunk = vec![b' '; 256 * 1024];
        for _ in 0..12 {
            spool.make_room(chunk.len()).await.expect("room to grow");
            spool.write(&chunk).expect("write");
            assert!(
                total - in_flight.available() >= cost(spool.len()),
                "{} bytes received, {} reserved",
                spool.len(),
                total - in_flight.available()
            );
        }
        assert!(total - in_flight.available() <= cost(16 * mib));
        drop(spool.finish());
        assert_eq!(in_flight.available(), total);
        // Past the limit it is refused before the write.
        let mut small = Spool::reserved(&blobs, &in_flight, &g22, 1024, None, WAIT)
            .await
            .expect("room");
        assert!(matches!(
            small.make_room(2048).await,
            Err(ExchangeError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_body_without_length_never_grows_past_its_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let limit = 3 * MAX_RESERVE + 5;
        let mut spool = Spool::new(&blobs, limit, None).expect("spool");
        let chunk = vec![b'x'; 64 * 1024];
        while spool.len() + chunk.len() as u64 <= limit {
            spool.write(&chunk).expect("write");
        }
        assert!(
            spool.bytes.capacity() as u64 <= limit,
            "{}",
            spool.bytes.capacity()
        );
        // With a Content-Length the buffer is that size from the start.
        let announced = Spool::new(&blobs, limit, Some(MAX_RESERVE * 2)).expect("spool");
        assert_eq!(announced.bytes.capacity() as u64, MAX_RESERVE * 2);
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
