//! XML plumbing shared by every reader of packets: a hardened, namespace-aware event reader
//! (DTDs refused, limits enforced), the events of a document read once for several passes, and
//! canonicalization (C14N 1.0, exclusive C14N 1.0).

pub mod c14n;
pub mod events;
pub mod reader;
