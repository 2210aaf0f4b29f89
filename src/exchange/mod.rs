//! The exchange rules: who may send what to whom, idempotency, and the per-recipient state
//! machine. See docs/EXCHANGE.md. This module decides; `store` keeps; `http` talks.

pub mod state;

pub use state::{Actor, Handling, PendingChange, RecipientState, StateError, Transition};
