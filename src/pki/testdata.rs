//! Test access to the committed dev PKI in `certs/dev/` (made by `certs/make-dev-pki.sh`).

use std::path::PathBuf;

use openssl::x509::X509;
use time::OffsetDateTime;

use super::crl::Crl;
use super::store::TrustStore;

/// A fixed verification time inside every good certificate's validity and after the revocation
/// (2025-03-01) and the current CRL (2025-06-01), so that tests never rot.
pub(crate) const AT: OffsetDateTime = time::macros::datetime!(2026-06-01 00:00 UTC);

pub(crate) fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join("dev")
        .join(name)
}

pub(crate) fn read(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap_or_else(|e| panic!("read certs/dev/{name}: {e}"))
}

pub(crate) fn cert(name: &str) -> X509 {
    X509::from_pem(&read(name)).unwrap_or_else(|e| panic!("parse certs/dev/{name}: {e}"))
}

pub(crate) fn crls(name: &str) -> Vec<Crl> {
    Crl::all_from_bytes(&read(name), name).unwrap_or_else(|e| panic!("certs/dev/{name}: {e}"))
}

/// The serial of a committed certificate as DER INTEGER content octets.
pub(crate) fn parsed_serial(name: &str) -> Vec<u8> {
    let der = cert(name).to_der().expect("DER");
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("x509-parser");
    parsed.raw_serial().to_vec()
}

/// Root as anchor, issuing CA as configured intermediate, and the given CRL files.
pub(crate) fn store_with_crls(crl_files: &[&str]) -> TrustStore {
    let crls: Vec<PathBuf> = crl_files.iter().map(|f| path(f)).collect();
    TrustStore::from_pem_files(&[path("trust.pem")], &[path("intermediates.pem")], &crls)
        .unwrap_or_else(|e| panic!("trust store: {e}"))
}

/// The normal configuration: root CRL and the current issuing CA CRL.
pub(crate) fn store() -> TrustStore {
    store_with_crls(&["root-ca.crl.pem", "issuing-ca.crl.pem"])
}
