//! The government PKI: trust anchors, chain building, revocation, certificate ↔ agency binding.
//!
//! Reads like a checklist, one small module per rule:
//! - `store`: the operator's trust material (anchors, intermediates, CRLs), checked at load;
//! - `path`: a path from the signing certificate to an anchor, verified by openssl at a fixed
//!   time (signatures, validity, basicConstraints, path length, key sizes);
//! - `usage`: the leaf must carry digitalSignature or nonRepudiation and must not be a CA;
//! - `revocation` and `crl`: every non-anchor certificate is checked against a CRL its issuer
//!   signed — fail closed, with a grace period for an overdue CRL;
//! - `fetch`: CRLs downloaded from distribution points when configured;
//! - `binding`: which certificates each agency may sign with;
//! - `validate`: `TrustStore::validate`, which runs the rules above in that order;
//! - `error` and `ident`: refusals with stable codes, and how certificates are named in them.
//!
//! ```no_run
//! use lienthong::pki::{Bindings, TrustStore, ValidationPolicy};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dev = std::path::Path::new("certs/dev");
//! let store = TrustStore::from_pem_files(
//!     &[dev.join("trust.pem")],
//!     &[dev.join("intermediates.pem")],
//!     &[dev.join("root-ca.crl.pem"), dev.join("issuing-ca.crl.pem")],
//! )?;
//! let bindings = Bindings::load(&dev.join("bindings.json"))?;
//!
//! let leaf = openssl::x509::X509::from_pem(&std::fs::read(
//!     dev.join("agency-000.00.00.G22-rsa2048.pem"),
//! )?)?;
//! let path = store.validate(&leaf, &[], &ValidationPolicy::now())?; // pki.expired, pki.revoked, …
//! bindings.check("000.00.00.G22", &leaf)?; // pki.binding_mismatch
//! println!("signed by {} ({})", path.leaf_subject(), path.fingerprint());
//! # Ok(()) }
//! ```
//!
//! Architecture invariant: `pki` knows nothing of XML, HTTP or databases; the agency code is a
//! plain string here (the `edxml` module owns its syntax).

mod binding;
mod crl;
mod error;
mod fetch;
mod ident;
mod path;
mod revocation;
mod store;
mod usage;
mod validate;

#[cfg(test)]
mod testdata;

pub use binding::{Binding, Bindings};
pub use crl::{Crl, CrlOrigin};
pub use error::{BoundText, ChainPosition, PkiError, ReasonText, UsageProblem};
pub use fetch::{CrlFetcher, FetchConfig};
pub use ident::{dn_string, CertId, Fingerprint, UtcTime};
pub use revocation::{CrlEvidence, CrlFreshness, RevocationMode, RevocationStatus};
pub use store::{TrustStore, TrustStoreBuilder};
pub use validate::{CertSummary, ValidatedPath, ValidationPolicy};

#[cfg(test)]
mod tests {
    #[test]
    fn shared_types_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::TrustStore>();
        send_sync::<super::Bindings>();
        send_sync::<super::ValidatedPath>();
        send_sync::<super::PkiError>();
    }
}
