//! XML plumbing shared by every reader of packets: a hardened, namespace-aware event reader
//! (DTDs refused, limits enforced) and canonicalization (C14N 1.0, exclusive C14N 1.0).

pub mod c14n;
pub mod reader;
