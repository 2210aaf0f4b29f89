//! Audit: a tamper-evident log of every event, with proofs any auditor can check offline
//! (docs/ARCHITECTURE.md; issue 13). It depends on `store` and `exchange`, never the reverse.
//!
//! - `merkle`: the RFC 9162 Merkle tree over the events — hashing, the tree's right edge grown
//!   leaf by leaf, the subtrees proofs are made of, and proof verification.
//! - `note`: checkpoints (signed tree heads) as C2SP signed notes with the log's Ed25519 key.

pub mod merkle;
pub mod note;
