//! Delivery: what happens to a letter after it is accepted — pushed to the recipient's system
//! (`push`), its clerks mailed (`notify`, `compose`), its deadlines watched (`deadlines`), all on threads of its own that yield the CPU to
//! accepting (`runtime`). Work comes from the
//! outbox rows the exchange writes in the accepting transaction (`store::pushes`,
//! `store::mails`); this module only takes it, does it and records the outcome. It depends on
//! `exchange` and `store`, never the reverse.

pub mod breaker;
mod compose;
pub mod deadlines;
pub mod evidence;
mod notify;
pub mod outbox;
mod outcomes;
mod policy;
mod push;
pub mod retry;
mod runtime;
pub mod signature;

pub use notify::{MailCounters, MailError, Mailer};
pub use policy::{DeadlinePolicy, MailPolicy, PushPolicy};
pub use push::{PushCounters, PushError, Pushes};
pub use runtime::DeliveryRuntime;
