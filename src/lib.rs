//! lienthong — the trust core and exchange for edXML (QCVN 102:2016) packets between
//! Vietnamese state agencies. This file is the module map and nothing else; see
//! `docs/ARCHITECTURE.md` for what each module owns and the invariants between them.
#![deny(unsafe_code)]

pub mod audit;
pub mod client;
pub mod config;
pub mod delivery;
pub mod directory;
pub mod dsig;
pub mod edxml;
pub mod exchange;
pub mod http;
pub mod pki;
pub mod store;
mod sync;
pub mod trust;
pub mod xml;
