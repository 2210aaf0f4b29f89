//! The Merkle tree as the database keeps it: every leaf hash (level 0) and every complete
//! subtree of [`KEPT_FROM`] levels and up; a subtree in between is hashed again from its
//! leaves (at most 128 of them) when asked for. Subtree hashes, the right edge of the tree,
//! and inclusion and consistency proofs are read from there.

use std::ops::Range;

use sqlx::AnyConnection;

use crate::store::events::{self, NodeRecord};
use crate::store::StoreError;

use super::merkle::{self, Frontier, Hash, Node, NodeId};

/// The lowest level above the leaves whose complete subtrees are kept: one row per 256
/// leaves, instead of one per leaf for every level.
pub const KEPT_FROM: u32 = 8;

/// Whether the subtrees of `level` are kept.
pub fn kept(level: u32) -> bool {
    level == 0 || level >= KEPT_FROM
}

/// The nodes of `completed` (as [`Frontier::push`] answers them) that the database keeps.
pub fn records(completed: &[Node]) -> impl Iterator<Item = NodeRecord> + '_ {
    completed
        .iter()
        .filter(|node| kept(node.id.level))
        .map(|node| NodeRecord {
            level: node.id.level,
            index: i64::try_from(node.id.index).unwrap_or(i64::MAX),
            hash: node.hash,
        })
}

/// The hash of the complete subtree `id`, from its kept row or its leaves. The subtree must
/// be within the tree the database holds.
pub async fn subtree(conn: &mut AnyConnection, id: NodeId) -> Result<Hash, StoreError> {
    let index = to_i64(id.index)?;
    if kept(id.level) {
        let found = events::nodes(conn, id.level, index..index + 1).await?;
        return found
            .first()
            .map(|node| node.hash)
            .ok_or_else(|| missing(id));
    }
    let leaves = id.leaves();
    let hashes = events::nodes(conn, 0, to_i64(leaves.start)?..to_i64(leaves.end)?).await?;
    if hashes.len() as u64 != leaves.end - leaves.start {
        return Err(missing(id));
    }
    let mut frontier = Frontier::new();
    for leaf in &hashes {
        frontier.push(leaf.hash);
    }
    Ok(frontier.root())
}

/// The hash of the leaves `range` (a range a proof names: see [`merkle::cover`]).
pub async fn range(conn: &mut AnyConnection, range: Range<u64>) -> Result<Hash, StoreError> {
    let mut covering = Vec::new();
    for id in merkle::cover(range.clone()) {
        covering.push(subtree(conn, id).await?);
    }
    merkle::range_hash(&covering)
        .ok_or_else(|| StoreError::Database(format!("an empty range {range:?} of the log")))
}

/// The right edge of the tree of `size` leaves, rebuilt from the database.
pub async fn frontier(conn: &mut AnyConnection, size: u64) -> Result<Frontier, StoreError> {
    let mut edge = Vec::new();
    let mut start = 0u64;
    for level in (0..64u32).rev().filter(|level| size & (1 << level) != 0) {
        let id = NodeId {
            level,
            index: start >> level,
        };
        edge.push(Node {
            id,
            hash: subtree(conn, id).await?,
        });
        start += 1 << level;
    }
    Frontier::from_edge(size, edge)
        .ok_or_else(|| StoreError::Database(format!("the log's edge at size {size}")))
}

/// The inclusion proof of leaf `leaf` in the tree of `size` leaves (RFC 9162 §2.1.3.1).
pub async fn inclusion_proof(
    conn: &mut AnyConnection,
    leaf: u64,
    size: u64,
) -> Result<Vec<Hash>, StoreError> {
    let mut proof = Vec::new();
    for part in merkle::inclusion_path(leaf, size) {
        proof.push(range(conn, part).await?);
    }
    Ok(proof)
}

/// The consistency proof between the trees of `from` and `to` leaves (RFC 9162 §2.1.4.1).
pub async fn consistency_proof(
    conn: &mut AnyConnection,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, StoreError> {
    let mut proof = Vec::new();
    for part in merkle::consistency_path(from, to) {
        proof.push(range(conn, part).await?);
    }
    Ok(proof)
}

fn missing(id: NodeId) -> StoreError {
    StoreError::corrupt(format!(
        "the audit log has no hash for its leaves {:?}",
        id.leaves()
    ))
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::corrupt(format!("audit leaf {n}")))
}
