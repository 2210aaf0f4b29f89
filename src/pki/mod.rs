//! The government PKI: trust anchors, chain building, revocation, certificate ↔ agency binding.
//!
//! Reads like a checklist, one small module per rule:
//! - `store`: the operator's trust material (anchors, intermediates, CRLs), checked at load;
//! - `path`: a path from the signing certificate to an anchor, verified by openssl at a fixed
//!   time (signatures, validity, basicConstraints, path length, key sizes);
//! - `usage`: the leaf must carry digitalSignature or nonRepudiation and must not be a CA;
//! - `revocation` and `crl`: every non-anchor certificate is checked against a CRL its issuer
//!   signed — fail closed, with a grace period for an overdue CRL;
//! - `fetch`: CRLs downloaded from distribution points when configured — on the caller's path
//!   for a one-shot command, by a background refresher for the server (requests only read its
//!   cache);
//! - `ocsp`: optional OCSP (RFC 6960), off by default, asked only when no CRL gave a current
//!   answer;
//! - `binding`: which certificates each agency may sign with;
//! - `validate`: `TrustStore::validate`, which runs the rules above in that order;
//! - `memo`: what was verified once and cannot change (what a certificate says, a path openssl
//!   verified, a CRL's signature), so that a signer seen before costs lookups rather than
//!   signature checks; validity periods, CRL freshness and revocation are judged at every call;
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
//! # Revocation, in order
//!
//! For each certificate below the anchor: (1) the configured CRLs; (2) when they give no current
//! answer and a `CrlFetcher` is set, the CRLs at the certificate's distribution points; (3) when
//! still no current answer and OCSP is enabled (`TrustStore::with_ocsp`), its issuer's OCSP
//! responder. A CRL that lists the certificate always wins (OCSP is then not asked). OCSP
//! "good" accepts the certificate and the evidence says so (`RevocationEvidence::Ocsp`: responder
//! URL, thisUpdate, nextUpdate, freshness); "revoked" at or before the verification time refuses
//! it (`pki.revoked`, naming the responder); anything else — unknown, stale beyond the grace,
//! unreachable, over the size cap, bad signature or responder, missing or wrong nonce — is no
//! answer, and the CRL verdict stands (`pki.revocation_unknown`, with OCSP's reasons added, or
//! `pki.crl_stale`, or a CRL within grace).
//!
//! An OCSP response is believed only when signed by the certificate's issuer, or by a responder
//! certificate the issuer issued with the OCSP-signing EKU that is valid at the verification time
//! (the responder's own revocation is not checked, as with id-pkix-ocsp-nocheck). It must echo
//! the request's nonce. thisUpdate/nextUpdate are judged like a CRL's, at the policy's `at`
//! (not the wall clock) with `crl_grace`; a response without nextUpdate is due at its
//! thisUpdate. Responder URLs come from the certificate's Authority Information Access, or from
//! `OcspConfig::responder_override` for every certificate; only `http://` is asked.
//!
//! ```no_run
//! use lienthong::pki::{OcspConfig, TrustStore};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dev = std::path::Path::new("certs/dev");
//! let store = TrustStore::from_pem_files(
//!     &[dev.join("trust.pem")],
//!     &[dev.join("intermediates.pem")],
//!     &[dev.join("root-ca.crl.pem")],
//! )?
//! .with_ocsp(OcspConfig {
//!     enabled: true,
//!     ..OcspConfig::default() // 10 s timeout, 256 KiB cap, nonce required, URL from the AIA
//! });
//! # let _ = store; Ok(()) }
//! ```
//!
//! Architecture invariant: `pki` knows nothing of XML or databases, and speaks HTTP only to
//! fetch CRLs and ask OCSP responders when configured; the agency code is a plain string here
//! (the `edxml` module owns its syntax).

mod binding;
mod crl;
pub mod dev;
mod error;
mod facts;
mod fetch;
mod ident;
mod memo;
mod ocsp;
mod path;
mod revocation;
mod store;
mod usage;
mod validate;

#[cfg(test)]
mod testdata;

pub use binding::{Binding, Bindings};
pub use crl::{Crl, CrlOrigin};
pub use error::{BoundText, ChainPosition, PkiError, ReasonText, RevocationSource, UsageProblem};
pub use fetch::{CrlFetcher, CrlReport, FetchConfig};
pub use ident::{dn_string, CertId, Fingerprint, UtcTime};
pub use ocsp::{NonceProblem, OcspAnswer, OcspClient, OcspConfig, OcspError, OcspReply};
pub use revocation::{
    CrlEvidence, CrlFreshness, OcspEvidence, RevocationEvidence, RevocationMode, RevocationStatus,
};
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
        send_sync::<super::OcspClient>();
    }

    #[test]
    fn the_error_stays_small() {
        // clippy's result_large_err threshold: every caller returns Result<_, PkiError>.
        assert!(std::mem::size_of::<super::PkiError>() < 128);
    }
}
