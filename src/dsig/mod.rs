//! XML-DSig for edXML packets, per the profile in spec/edxml.md §4: one enveloped signature in
//! edXMLHeader, one Reference URI="" covering the whole packet, RSA or ECDSA with SHA-2
//! (SHA-1 only behind a legacy switch). Everything else that could let a signature cover less
//! than the packet (more references, ID references, XPath/XSLT transforms, ds:Object) is refused.
//!
//! This module decides whether the bytes were signed by the key in the embedded certificate.
//! Whether that certificate is trusted, valid, unrevoked and bound to the sending agency is
//! the `pki` module's question; `trust` asks both.

pub mod algorithm;
mod certificates;
mod digest;
mod error;
pub mod sign;
pub mod signature;
pub mod verify;

pub use algorithm::{AlgorithmPolicy, DigestAlgorithm, KeyFamily, SignatureAlgorithm};
pub use error::DsigError;
pub use sign::{sign, sign_placed, Placement, PreparedSigner, SignOptions};
pub use verify::{verify, verify_document, verify_events, Algorithms, VerifiedSignature};

#[cfg(test)]
mod tests;
