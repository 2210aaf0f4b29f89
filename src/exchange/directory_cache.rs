//! What the exchange needs of the directory on every packet — the certificate bindings and the
//! set of active agencies — as a snapshot shared by all requests and reloaded when it is older
//! than its time to live. Loading it per packet would cost a scan of the directory (about
//! 111,000 agencies nationally) each time.
//!
//! A refusal that a newer directory could turn around (an unknown recipient, a certificate not
//! bound) asks for a snapshot at most [`RECHECK_AGE`] old and decides again, so that an agency
//! or a certificate imported a moment ago is seen at once; deactivations take up to the time
//! to live to apply.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::directory::{Directory, DirectoryError};
use crate::pki::Bindings;
use crate::store::AgencyFilter;

/// How old a snapshot may be when a refusal depends on it.
pub(crate) const RECHECK_AGE: Duration = Duration::from_secs(1);

/// The directory as one packet's checks see it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) bindings: Bindings,
    active: HashSet<String>,
    taken: Option<Instant>,
}

impl Snapshot {
    fn empty() -> Snapshot {
        Snapshot {
            bindings: Bindings::default(),
            active: HashSet::new(),
            taken: None,
        }
    }

    /// Whether the agency is in the directory and active.
    pub(crate) fn is_active(&self, code: &str) -> bool {
        self.active.contains(code)
    }

    fn older_than(&self, age: Duration) -> bool {
        match self.taken {
            Some(taken) => taken.elapsed() > age,
            None => true,
        }
    }
}

/// The shared snapshot and the lock that lets one request reload it at a time.
#[derive(Debug)]
pub(crate) struct DirectoryCache {
    current: RwLock<Arc<Snapshot>>,
    reloading: tokio::sync::Mutex<()>,
    ttl: Duration,
}

impl DirectoryCache {
    pub(crate) fn new(ttl: Duration) -> DirectoryCache {
        DirectoryCache {
            current: RwLock::new(Arc::new(Snapshot::empty())),
            reloading: tokio::sync::Mutex::new(()),
            ttl,
        }
    }

    fn peek(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The snapshot, reloaded first when older than the time to live.
    pub(crate) async fn get(&self, directory: &Directory) -> Result<Arc<Snapshot>, DirectoryError> {
        self.at_most(directory, self.ttl).await
    }

    /// A snapshot at most `age` old.
    pub(crate) async fn at_most(
        &self,
        directory: &Directory,
        age: Duration,
    ) -> Result<Arc<Snapshot>, DirectoryError> {
        let snapshot = self.peek();
        if !snapshot.older_than(age) {
            return Ok(snapshot);
        }
        let _reloading = self.reloading.lock().await;
        // Another request may have reloaded it while this one waited.
        let snapshot = self.peek();
        if !snapshot.older_than(age) {
            return Ok(snapshot);
        }
        let fresh = Arc::new(load(directory).await?);
        match self.current.write() {
            Ok(mut guard) => *guard = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        Ok(fresh)
    }
}

async fn load(directory: &Directory) -> Result<Snapshot, DirectoryError> {
    let taken = Instant::now();
    let bindings = directory.bindings().await?;
    let filter = AgencyFilter {
        active_only: true,
        ..AgencyFilter::default()
    };
    let active = directory
        .list(&filter)
        .await?
        .into_iter()
        .map(|agency| agency.code.as_str().to_owned())
        .collect();
    Ok(Snapshot {
        bindings,
        active,
        taken: Some(taken),
    })
}
