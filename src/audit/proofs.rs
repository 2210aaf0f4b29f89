//! What the log answers: its latest checkpoint, an event's inclusion proof and the
//! consistency proof between two tree sizes (RFC 9162 §2.1.3, §2.1.4; hashes in base64, as
//! RFC 9162's own API gives them).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Serialize;

use crate::store::events::{self, CheckpointRecord, LoggedEvent};
use crate::store::{Store, StoreError};

use super::merkle::leaf_hash;
use super::tree;

/// Why the log cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    NotFound(String),
    /// The event is committed but has no leaf, or no checkpoint covers it, yet.
    #[error("{0}")]
    NotYet(String),
    #[error("{0}")]
    BadRange(String),
    /// An agency the reader may not search.
    #[error("agency {0} is not in your scope")]
    OutOfScope(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuditError {
    /// The stable code (docs/ERRORS.md).
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::NotFound(_) => "audit.not_found",
            AuditError::NotYet(_) => "audit.not_yet",
            AuditError::BadRange(_) => "audit.bad_range",
            AuditError::OutOfScope(_) => "audit.out_of_scope",
            AuditError::Store(e) => e.code(),
        }
    }
}

/// An event's inclusion proof.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InclusionProof {
    /// The event number.
    pub event: i64,
    /// Its leaf index.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The event's canonical bytes (UTF-8): its leaf hash is SHA-256(0x00 ‖ these bytes).
    pub event_text: String,
    pub leaf_hash: String,
    /// RFC 9162 §2.1.3.1 PATH, bottom up.
    pub inclusion_path: Vec<String>,
    /// The signed checkpoint of `tree_size`, when one was signed at that size.
    pub checkpoint: Option<String>,
}

/// A consistency proof.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// RFC 9162 §2.1.4.1 PROOF.
    pub consistency_path: Vec<String>,
}

/// Where the log stands: for /metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStatus {
    /// Events with a leaf.
    pub placed: i64,
    /// Events committed without a leaf yet.
    pub waiting: i64,
    /// The latest checkpoint's size and time (microseconds), if one was signed.
    pub checkpoint: Option<(i64, i64)>,
    /// Documents whose subject's words the search index does not hold yet.
    pub unindexed: i64,
}

pub async fn status(store: &Store) -> Result<LogStatus, AuditError> {
    let mut conn = store.acquire().await?;
    Ok(LogStatus {
        placed: events::tree_size(&mut conn).await?,
        waiting: events::waiting_count(&mut conn).await?,
        checkpoint: events::latest_checkpoint(&mut conn)
            .await?
            .map(|c| (c.size, c.at)),
        unindexed: crate::store::words::unindexed(&mut conn).await?,
    })
}

/// The checkpoint of the largest tree signed so far.
pub async fn latest(store: &Store) -> Result<CheckpointRecord, AuditError> {
    let mut conn = store.acquire().await?;
    events::latest_checkpoint(&mut conn)
        .await?
        .ok_or_else(|| AuditError::NotYet("no checkpoint has been signed yet".to_owned()))
}

/// The event numbered `seq`, for callers who may see it (the caller checks who may).
pub async fn event(store: &Store, seq: i64) -> Result<LoggedEvent, AuditError> {
    let mut conn = store.acquire().await?;
    events::by_number(&mut conn, seq)
        .await?
        .ok_or_else(|| AuditError::NotFound(format!("event {seq}")))
}

/// The inclusion proof of `event` in the tree of `size` leaves (by default the latest
/// checkpoint's).
pub async fn inclusion(
    store: &Store,
    event: &LoggedEvent,
    size: Option<u64>,
) -> Result<InclusionProof, AuditError> {
    let mut conn = store.acquire().await?;
    let not_yet = || {
        AuditError::NotYet(format!(
            "event {} is not in a checkpoint yet; ask again after the next one",
            event.seq
        ))
    };
    let leaf = event
        .leaf
        .and_then(|l| u64::try_from(l).ok())
        .ok_or_else(not_yet)?;
    let size = match size {
        Some(size) => size,
        None => events::latest_checkpoint(&mut conn)
            .await?
            .and_then(|c| u64::try_from(c.size).ok())
            .ok_or_else(not_yet)?,
    };
    let tree_size = current_size(&mut conn).await?;
    if leaf >= size {
        return Err(match size {
            s if s <= tree_size => not_yet(),
            _ => too_large(size, tree_size),
        });
    }
    if size > tree_size {
        return Err(too_large(size, tree_size));
    }
    let path = tree::inclusion_proof(&mut conn, leaf, size).await?;
    let checkpoint = events::checkpoint(&mut conn, to_i64(size))
        .await?
        .map(|c| c.note);
    Ok(InclusionProof {
        event: event.seq,
        leaf_index: leaf,
        tree_size: size,
        event_text: String::from_utf8_lossy(&event.body).into_owned(),
        leaf_hash: STANDARD.encode(leaf_hash(&event.body)),
        inclusion_path: path.iter().map(|h| STANDARD.encode(h)).collect(),
        checkpoint,
    })
}

/// The consistency proof between the trees of `from` and `to` leaves.
pub async fn consistency(
    store: &Store,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, AuditError> {
    let mut conn = store.acquire().await?;
    let tree_size = current_size(&mut conn).await?;
    if from > to {
        return Err(AuditError::BadRange(format!(
            "from={from} is larger than to={to}"
        )));
    }
    if to > tree_size {
        return Err(too_large(to, tree_size));
    }
    let path = tree::consistency_proof(&mut conn, from, to).await?;
    Ok(ConsistencyProof {
        from,
        to,
        consistency_path: path.iter().map(|h| STANDARD.encode(h)).collect(),
    })
}

async fn current_size(conn: &mut sqlx::AnyConnection) -> Result<u64, AuditError> {
    Ok(u64::try_from(events::tree_size(conn).await?).unwrap_or(0))
}

fn too_large(size: u64, tree_size: u64) -> AuditError {
    AuditError::BadRange(format!(
        "the log has {tree_size} events; a tree of {size} does not exist yet"
    ))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
