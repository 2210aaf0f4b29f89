//! Audit: a tamper-evident log of every event, with proofs any auditor can check offline
//! (docs/AUDIT.md; issue 13). It depends on `store` and `exchange`, never the reverse: the
//! changes write their events (`store::events`) in their own transactions; this room places
//! them in the tree, signs checkpoints and answers with proofs.
//!
//! - `merkle`: the RFC 9162 Merkle tree over the events — hashing, the tree's right edge grown
//!   leaf by leaf, the subtrees proofs are made of, and proof verification.
//! - `note`: checkpoints (signed tree heads) as C2SP signed notes with the log's Ed25519 key.
//! - `tree`: the tree as the database keeps it; subtree hashes and proofs read from it.
//! - `log`: the integrator — leaves for committed events, kept nodes, checkpoints — and the
//!   log key's file.
//! - `proofs`: what the routes answer — the latest checkpoint, inclusion and consistency proofs.
//! - `verify`: `audit verify` over a database.
//! - `export`, `bundle`: `audit export` writes a bundle of a period's events with their
//!   proofs; `bundle` is its format and the check that needs no server (`verify --bundle`).
//! - `access`: who may see which packet; every auditor query logged as an event.
//! - `refusals`: refused packets as events, counted per caller, code and minute under a flood.
//! - `search`: documents an agency or an auditor may find, by words without diacritics.
//! - `words`: the task that fills the word index those searches narrow rare words with.
//! - `stats`: a month's statistics per agency, as JSON or CSV.
//! - `trace`: a document's timeline from its events, as each caller may see it.
//! - `period`: days and months as Vietnam counts them.
//! - `policy`: the `[audit]` settings.

pub mod access;
pub mod bundle;
pub mod export;
pub mod log;
pub mod merkle;
pub mod note;
pub mod period;
pub mod policy;
pub mod proofs;
pub mod refusals;
pub mod search;
pub mod stats;
pub mod trace;
pub mod tree;
pub mod verify;
pub mod words;

pub use policy::AuditPolicy;
