//! Delivery: what happens to a letter after it is accepted — pushed to the recipient's system
//! (`push`), later mailed to clerks and watched for deadlines. Work comes from the outbox rows
//! the exchange writes in the accepting transaction (`store::pushes`); this module only takes
//! it, does it and records the outcome. It depends on `exchange` and `store`, never the reverse.

pub mod breaker;
pub mod outbox;
mod policy;
mod push;
pub mod retry;
pub mod signature;

pub use policy::{MailPolicy, PushPolicy};
pub use push::{PushCounters, PushError, Pushes};
