//! The Merkle tree of RFC 9162 §2.1 (Certificate Transparency 2.0), over the audit log's
//! events: leaf = SHA-256(0x00 ‖ event), node = SHA-256(0x01 ‖ left ‖ right), the tree of n
//! leaves split at the largest power of two below n. Pure: hashing, the right edge of a tree
//! built leaf by leaf ([`Frontier`]), which subtrees a proof is made of, and the two
//! verification algorithms exactly as the RFC writes them (§2.1.3.2, §2.1.4.2), so that an
//! auditor's own tool and ours agree by construction.
//!
//! Proofs are made from the hashes of complete subtrees (2^level leaves from index·2^level):
//! the log keeps every one of them, so any proof is a few lookups, whatever the log's size.

use std::ops::Range;

use openssl::sha::Sha256;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x00]);
    h.update(data);
    h.finish()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    h.finish()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::new().finish()
}

/// The largest power of two smaller than `n` (n ≥ 2): where the RFC splits a tree of n leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A complete subtree: 2^level leaves from leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u32,
    pub index: u64,
}

impl NodeId {
    /// The leaves it covers.
    pub fn leaves(self) -> Range<u64> {
        let start = self.index << self.level;
        start..start + (1 << self.level)
    }
}

/// A complete subtree with its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    pub hash: Hash,
}

/// The right edge of a tree built leaf by leaf: the hashes of its largest complete subtrees,
/// left to right (one per bit set in the size) — all a tree needs to grow and to give its root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Decreasing levels.
    edge: Vec<Node>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete subtrees of the right edge, largest first.
    pub fn edge(&self) -> &[Node] {
        &self.edge
    }

    /// Rebuilds a frontier from its edge (as [`Frontier::edge`] gave it), checking that the
    /// subtrees are the ones a tree of `size` leaves has.
    pub fn from_edge(size: u64, edge: Vec<Node>) -> Option<Frontier> {
        let ids: Vec<NodeId> = Frontier::edge_ids(size).collect();
        if ids.len() != edge.len() || ids.iter().zip(&edge).any(|(id, node)| *id != node.id) {
            return None;
        }
        Some(Frontier { size, edge })
    }

    /// The complete subtrees on the right edge of a tree of `size` leaves, largest first.
    fn edge_ids(size: u64) -> impl Iterator<Item = NodeId> {
        let mut start = 0u64;
        (0..64u32)
            .rev()
            .filter(move |level| size & (1 << level) != 0)
            .map(move |level| {
                let id = NodeId {
                    level,
                    index: start >> level,
                };
                start += 1 << level;
                id
            })
    }

    /// Adds a leaf (its hash); answers the complete subtrees it completes, the leaf first and
    /// the largest last — the nodes the log keeps for proofs.
    pub fn push(&mut self, leaf: Hash) -> Vec<Node> {
        let mut node = Node {
            id: NodeId {
                level: 0,
                index: self.size,
            },
            hash: leaf,
        };
        let mut completed = vec![node];
        while let Some(last) = self.edge.last() {
            if last.id.level != node.id.level {
                break;
            }
            node = Node {
                id: NodeId {
                    level: node.id.level + 1,
                    index: last.id.index >> 1,
                },
                hash: node_hash(&last.hash, &node.hash),
            };
            self.edge.pop();
            completed.push(node);
        }
        self.edge.push(node);
        self.size += 1;
        completed
    }

    /// The tree's root hash (RFC 9162 MTH).
    pub fn root(&self) -> Hash {
        let mut nodes = self.edge.iter().rev();
        let Some(last) = nodes.next() else {
            return empty_root();
        };
        nodes.fold(last.hash, |right, left| node_hash(&left.hash, &right))
    }
}

/// The complete subtrees whose hashes make MTH of the leaves `range` — the range of a
/// subtree as RFC 9162 splits trees (`start` a multiple of the largest power of two ≤ its
/// length, as every range a proof names is) — left to right.
pub fn cover(range: Range<u64>) -> Vec<NodeId> {
    let mut ids = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let len = range.end - start;
        let mut level = 63 - len.leading_zeros();
        while start & ((1 << level) - 1) != 0 {
            level -= 1;
        }
        ids.push(NodeId {
            level,
            index: start >> level,
        });
        start += 1 << level;
    }
    ids
}

/// MTH of the leaves `range` from the hashes of its [`cover`] (given in that order).
pub fn range_hash(covering: &[Hash]) -> Option<Hash> {
    let (last, rest) = covering.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |right, left| node_hash(left, &right)),
    )
}

/// The subtrees whose hashes are the inclusion proof of leaf `m` in a tree of `n` leaves
/// (RFC 9162 §2.1.3.1, PATH), in the proof's order. Empty unless m < n.
pub fn inclusion_path(m: u64, n: u64) -> Vec<Range<u64>> {
    let mut path = Vec::new();
    if m < n {
        inclusion(m, 0..n, &mut path);
    }
    path
}

fn inclusion(m: u64, tree: Range<u64>, path: &mut Vec<Range<u64>>) {
    let n = tree.end - tree.start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    let middle = tree.start + k;
    if m < middle {
        inclusion(m, tree.start..middle, path);
        path.push(middle..tree.end);
    } else {
        inclusion(m, middle..tree.end, path);
        path.push(tree.start..middle);
    }
}

/// The subtrees whose hashes are the consistency proof between the trees of `m` and `n`
/// leaves (RFC 9162 §2.1.4.1, PROOF), in the proof's order. Empty unless 0 < m < n.
pub fn consistency_path(m: u64, n: u64) -> Vec<Range<u64>> {
    let mut path = Vec::new();
    if 0 < m && m < n {
        subproof(m, 0..n, true, &mut path);
    }
    path
}

fn subproof(m: u64, tree: Range<u64>, whole: bool, path: &mut Vec<Range<u64>>) {
    let n = tree.end - tree.start;
    if m == n {
        if !whole {
            path.push(tree);
        }
        return;
    }
    let k = split(n);
    let middle = tree.start + k;
    if m <= k {
        subproof(m, tree.start..middle, whole, path);
        path.push(middle..tree.end);
    } else {
        subproof(m - k, middle..tree.end, false, path);
        path.push(tree.start..middle);
    }
}

/// Why a proof does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the leaf index is not below the tree size")]
    IndexBeyondSize,
    #[error("the sizes are not those of a tree and a larger one")]
    BadSizes,
    #[error("the proof has too many or too few hashes")]
    WrongLength,
    #[error("the proof leads to another root")]
    RootMismatch,
}

/// RFC 9162 §2.1.3.2: whether `proof` shows that the leaf hashed `leaf` is number `index` of
/// the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: whether `proof` shows that the tree of `first` leaves with root
/// `first_root` is the beginning of the tree of `second` leaves with root `second_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first == second && proof.is_empty() {
        return if first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if first == 0 || first >= second {
        return Err(ProofError::BadSizes);
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != first_root || &sr != second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// MTH straight from the RFC's recursive definition, over leaf hashes.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("sự kiện {i}").as_bytes()))
            .collect()
    }

    /// The RFC 6962 / 9162 test data of Certificate Transparency.
    fn ct_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    /// The hashes of a proof's subtrees, from the complete subtrees a [`Frontier`] kept.
    fn hashes(paths: &[Range<u64>], nodes: &HashMap<NodeId, Hash>) -> Vec<Hash> {
        paths
            .iter()
            .map(|range| {
                let covering: Vec<Hash> = cover(range.clone()).iter().map(|id| nodes[id]).collect();
                range_hash(&covering).expect("not empty")
            })
            .collect()
    }

    fn grown(leaves: &[Hash]) -> (Frontier, HashMap<NodeId, Hash>) {
        let mut frontier = Frontier::new();
        let mut nodes = HashMap::new();
        for leaf in leaves {
            for node in frontier.push(*leaf) {
                assert!(
                    nodes.insert(node.id, node.hash).is_none(),
                    "{:?} twice",
                    node.id
                );
            }
        }
        (frontier, nodes)
    }

    #[test]
    fn roots_are_the_published_ones() {
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let ct = ct_leaves();
        for (n, root) in roots.iter().enumerate() {
            let (frontier, _) = grown(&ct[..n]);
            assert_eq!(hex::encode(frontier.root()), *root, "size {n}");
            assert_eq!(hex::encode(mth(&ct[..n])), *root, "size {n}");
        }
    }

    #[test]
    fn inclusion_proofs_are_the_published_ones() {
        let ct = ct_leaves();
        let (_, nodes) = grown(&ct);
        let vectors: [(u64, u64, &[&str]); 3] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
        ];
        for (m, n, want) in vectors {
            let proof: Vec<String> = hashes(&inclusion_path(m, n), &nodes)
                .iter()
                .map(hex::encode)
                .collect();
            assert_eq!(proof, want, "PATH({m}, D[{n}])");
        }
    }

    #[test]
    fn a_consistency_proof_is_the_published_one() {
        let (_, nodes) = grown(&ct_leaves());
        let proof: Vec<String> = hashes(&consistency_path(2, 5), &nodes)
            .iter()
            .map(hex::encode)
            .collect();
        assert_eq!(
            proof,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    #[test]
    fn every_node_a_frontier_completes_is_the_hash_of_its_leaves() {
        let all = leaves(70);
        let (frontier, nodes) = grown(&all);
        for (id, hash) in &nodes {
            let range = id.leaves();
            assert_eq!(*hash, mth(&all[range.start as usize..range.end as usize]));
        }
        assert_eq!(nodes.len(), 70 + 35 + 17 + 8 + 4 + 2 + 1);
        let again = Frontier::from_edge(frontier.size(), frontier.edge().to_vec());
        assert_eq!(again.as_ref(), Some(&frontier));
        assert_eq!(Frontier::from_edge(71, frontier.edge().to_vec()), None);
    }

    #[test]
    fn every_inclusion_proof_verifies_and_nothing_else_does() {
        let all = leaves(40);
        let (_, nodes) = grown(&all);
        for n in 1..=40u64 {
            let root = mth(&all[..n as usize]);
            for m in 0..n {
                let leaf = all[m as usize];
                let proof = hashes(&inclusion_path(m, n), &nodes);
                assert_eq!(
                    verify_inclusion(m, n, &leaf, &proof, &root),
                    Ok(()),
                    "{m} in {n}"
                );
                let other = leaf_hash(b"another event");
                assert!(verify_inclusion(m, n, &other, &proof, &root).is_err());
                // The same proof against the next tree head: the size and root of a signed
                // checkpoint belong together, and this proof is not for them.
                if n < 40 {
                    let next = mth(&all[..n as usize + 1]);
                    assert!(verify_inclusion(m, n + 1, &leaf, &proof, &next).is_err());
                }
                if n > 1 {
                    assert!(verify_inclusion((m + 1) % n, n, &leaf, &proof, &root).is_err());
                    let mut bent = proof.clone();
                    bent[0][0] ^= 1;
                    assert!(verify_inclusion(m, n, &leaf, &bent, &root).is_err());
                    assert!(verify_inclusion(m, n, &leaf, &proof[1..], &root).is_err());
                }
            }
            assert_eq!(
                verify_inclusion(n, n, &all[0], &[], &root),
                Err(ProofError::IndexBeyondSize)
            );
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_nothing_else_does() {
        let all = leaves(40);
        let (_, nodes) = grown(&all);
        for n in 1..=40u64 {
            let second = mth(&all[..n as usize]);
            for m in 1..=n {
                let first = mth(&all[..m as usize]);
                let proof = hashes(&consistency_path(m, n), &nodes);
                let verdict = verify_consistency(m, n, &first, &second, &proof);
                assert_eq!(verdict, Ok(()), "{m} → {n}");
                if m < n {
                    let wrong = mth(&all[1..=m as usize]);
                    assert!(verify_consistency(m, n, &wrong, &second, &proof).is_err());
                    assert!(verify_consistency(m, n, &first, &first, &proof).is_err());
                    let mut bent = proof.clone();
                    let last = bent.len() - 1;
                    bent[last][31] ^= 0x80;
                    assert!(verify_consistency(m, n, &first, &second, &bent).is_err());
                    assert!(verify_consistency(m, n, &first, &second, &[]).is_err());
                }
            }
        }
    }

    #[test]
    fn a_cover_is_the_fewest_complete_subtrees_left_to_right() {
        assert_eq!(cover(0..8), vec![NodeId { level: 3, index: 0 }]);
        assert_eq!(
            cover(8..13),
            vec![
                NodeId { level: 2, index: 2 },
                NodeId {
                    level: 0,
                    index: 12
                }
            ]
        );
        assert_eq!(cover(4..7).len(), 2);
        assert!(cover(5..5).is_empty());
    }
}
