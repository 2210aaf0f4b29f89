//! `lienthong audit verify` over a database: recomputes the tree from the events' bytes and
//! holds it to what the log recorded and signed — every leaf hash, every kept subtree, every
//! checkpoint (its signature with the verifier key, and its root) — and stops at the first
//! event that does not match, naming it.
//!
//! What each check catches: an event's bytes changed (its leaf hash differs), an event
//! deleted or moved (its leaf is missing or holds another event's bytes), an event whose
//! row disagrees with its bytes (number, kind, time, packet), leaf hashes changed with the
//! bytes (the kept subtrees, and the signed roots, differ).

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use crate::store::events::{self, LoggedEvent};
use crate::store::{Store, StoreError};

use super::merkle::{leaf_hash, Frontier, Hash};
use super::note::{Checkpoint, NoteVerifier};
use super::tree;

mod rows;

/// Leaves read at a time.
const BATCH: i64 = 10_000;

/// Where the log and its events part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The event number, when the mismatch is one event's.
    pub event: Option<i64>,
    /// The leaf where it was found.
    pub leaf: Option<u64>,
    pub what: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.event, self.leaf) {
            (Some(event), Some(leaf)) => write!(f, "event {event} (leaf {leaf}): {}", self.what),
            (Some(event), None) => write!(f, "event {event}: {}", self.what),
            (None, Some(leaf)) => write!(f, "leaf {leaf}: {}", self.what),
            (None, None) => f.write_str(&self.what),
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Leaves checked.
    pub leaves: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: usize,
    /// The largest checkpoint: size and root.
    pub latest: Option<(u64, Hash)>,
    /// Events committed but without a leaf yet (the integrator places them within seconds).
    pub waiting: u64,
    /// The first thing that does not match; `None` when everything does.
    pub mismatch: Option<Mismatch>,
}

/// Verifies the log in `store` against checkpoints signed by `verifier`; `progress` hears
/// the number of leaves checked after each batch.
pub async fn database(
    store: &Store,
    verifier: &NoteVerifier,
    mut progress: impl FnMut(u64),
) -> Result<Report, StoreError> {
    let mut conn = store.acquire().await?;
    let mut report = Report {
        leaves: 0,
        checkpoints: 0,
        latest: None,
        waiting: u64::try_from(events::waiting_count(&mut conn).await?).unwrap_or(0),
        mismatch: None,
    };
    let roots = match signed_roots(&mut conn, verifier).await? {
        Ok(roots) => roots,
        Err(mismatch) => {
            report.mismatch = Some(mismatch);
            return Ok(report);
        }
    };
    report.checkpoints = roots.len();
    report.latest = roots.iter().next_back().map(|(s, r)| (*s, *r));
    let size = u64::try_from(events::tree_size(&mut conn).await?).unwrap_or(0);
    if let Some((&signed, _)) = roots.iter().next_back().filter(|(s, _)| **s > size) {
        report.mismatch = Some(Mismatch {
            event: None,
            leaf: Some(size),
            what: format!(
                "a checkpoint was signed for {signed} events, but the log holds only {size}: \
                 events were deleted from its end"
            ),
        });
        return Ok(report);
    }
    let mut frontier = Frontier::new();
    let mut start = 0i64;
    let end = i64::try_from(size).unwrap_or(i64::MAX);
    while start < end {
        let stop = (start + BATCH).min(end);
        let found = check_leaves(&mut conn, start..stop, &mut frontier, &roots).await?;
        report.leaves = frontier.size();
        progress(report.leaves);
        if let Some(mismatch) = found {
            report.mismatch = Some(mismatch);
            return Ok(report);
        }
        start = stop;
    }
    report.mismatch = stray_events(&mut conn, size).await?;
    Ok(report)
}

/// Every checkpoint's root by size, each checked: its signature, its text, and that its
/// size and root are the row's.
async fn signed_roots(
    conn: &mut AnyConnection,
    verifier: &NoteVerifier,
) -> Result<Result<BTreeMap<u64, Hash>, Mismatch>, StoreError> {
    let mut roots = BTreeMap::new();
    for record in events::checkpoints(conn).await? {
        let bad = |what: String| Mismatch {
            event: None,
            leaf: None,
            what: format!("the checkpoint of size {}: {what}", record.size),
        };
        let text = match verifier.verify(&record.note) {
            Ok(text) => text,
            Err(e) => return Ok(Err(bad(format!("its signature does not verify ({e})")))),
        };
        let checkpoint = match Checkpoint::parse(text) {
            Ok(c) => c,
            Err(e) => return Ok(Err(bad(e.to_string()))),
        };
        if i64::try_from(checkpoint.size).ok() != Some(record.size)
            || checkpoint.root != record.root
        {
            return Ok(Err(bad(
                "the signed note and the row's size or root differ".to_owned(),
            )));
        }
        roots.insert(checkpoint.size, checkpoint.root);
    }
    Ok(Ok(roots))
}

/// Checks the leaves `range`, growing `frontier` with the hashes of the events' bytes.
async fn check_leaves(
    conn: &mut AnyConnection,
    range: std::ops::Range<i64>,
    frontier: &mut Frontier,
    roots: &BTreeMap<u64, Hash>,
) -> Result<Option<Mismatch>, StoreError> {
    let batch = events::by_leaves(conn, range.clone()).await?;
    let recorded = events::nodes(conn, 0, range.clone()).await?;
    let mut found = batch.iter().cloned().peekable();
    let mut recorded = recorded.into_iter().peekable();
    for leaf in range {
        let index = u64::try_from(leaf).unwrap_or(0);
        let Some(event) = found.next_if(|e| e.leaf == Some(leaf)) else {
            return Ok(Some(Mismatch {
                event: None,
                leaf: Some(index),
                what: "no event holds this leaf: it was deleted, or moved to another place"
                    .to_owned(),
            }));
        };
        let at_leaf = |what: String| {
            Some(Mismatch {
                event: Some(event.seq),
                leaf: Some(index),
                what,
            })
        };
        if let Some(what) = disagreement(&event) {
            return Ok(at_leaf(what));
        }
        let hash = leaf_hash(&event.body);
        match recorded.next_if(|n| n.index == leaf) {
            Some(node) if node.hash == hash => {}
            Some(_) => {
                return Ok(at_leaf(
                    "its bytes do not hash to the leaf the log recorded: the event was \
                     changed, or another event put in its place"
                        .to_owned(),
                ))
            }
            None => return Ok(at_leaf("the log has no hash for this leaf".to_owned())),
        }
        for node in frontier.push(hash) {
            if node.id.level < tree::KEPT_FROM {
                continue;
            }
            if tree::subtree(conn, node.id).await? != node.hash {
                return Ok(at_leaf(format!(
                    "the leaves {:?} do not give the subtree hash the log kept: leaf hashes \
                     were changed with the events",
                    node.id.leaves()
                )));
            }
        }
        if let Some(root) = roots.get(&frontier.size()) {
            if *root != frontier.root() {
                return Ok(at_leaf(format!(
                    "the events up to here do not give the root signed in the checkpoint of \
                     size {}",
                    frontier.size()
                )));
            }
        }
    }
    rows::check(conn, &batch).await
}

/// Where an event's row and its bytes disagree: number, kind, time, packet.
fn disagreement(event: &LoggedEvent) -> Option<String> {
    let fields = match events::fields(&event.body) {
        Ok(fields) => fields,
        Err(why) => return Some(why),
    };
    let expect = [
        ("seq", Some(event.seq.to_string())),
        ("at", Some(events::timestamp(event.at))),
        ("kind", Some(event.kind.clone())),
        ("packet", event.packet_id.clone()),
    ];
    for (name, wanted) in expect {
        let Some(wanted) = wanted else { continue };
        if fields.get(name).copied() != Some(wanted.as_str()) {
            return Some(format!(
                "its row says {name} {wanted}, its bytes say {}",
                fields.get(name).copied().unwrap_or("nothing")
            ));
        }
    }
    None
}

/// An event with a leaf past the tree's end (a leaf hash was deleted, or a row renumbered).
async fn stray_events(conn: &mut AnyConnection, size: u64) -> Result<Option<Mismatch>, StoreError> {
    let end = i64::try_from(size).unwrap_or(i64::MAX);
    let stray = events::by_leaves(conn, end..i64::MAX).await?;
    Ok(stray.first().map(|event| Mismatch {
        event: Some(event.seq),
        leaf: event.leaf.and_then(|l| u64::try_from(l).ok()),
        what: format!("its leaf is past the end of the tree ({size} leaves)"),
    }))
}
