//! What is learned once about a certificate or a verified path and cannot change, kept (bounded)
//! so that validating a signer seen before costs lookups and comparisons instead of RSA
//! signature checks and DER parsing.
//!
//! Only facts that depend on nothing but the certificates' encodings are kept: what a
//! certificate says (names, serial, extensions), and that openssl verified a given path — its
//! signatures, basicConstraints, path length, key sizes — from a given leaf and set of presented
//! certificates. Whatever is judged at the verification time (validity periods, CRL freshness,
//! revocation dates) is decided again on every call; a path is reused only when every
//! certificate in it is strictly inside its validity period at that time, and otherwise openssl
//! builds and judges it again. Refusals are never kept: a certificate or path that failed is
//! examined afresh every time.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openssl::x509::X509Ref;
use time::OffsetDateTime;

use super::error::PkiError;
use super::facts::CertFacts;
use super::ident::Fingerprint;

/// How many certificates' facts are kept; the memo starts afresh when full.
const CERT_CAPACITY: usize = 4096;
/// How many verified paths are kept; the memo starts afresh when full.
const PATH_CAPACITY: usize = 4096;
/// A signature presenting more certificates than this is validated without the path memo, so
/// that a memo key stays small.
pub(crate) const MAX_PRESENTED: usize = 16;

/// A path openssl verified: the leaf, then its issuers up to the trust anchor.
pub(crate) struct VerifiedPath {
    leaf: Arc<CertFacts>,
    issuers: Vec<Arc<CertFacts>>,
}

impl VerifiedPath {
    /// The path from openssl's chain, leaf first; none when the chain is empty.
    pub(crate) fn new(chain: Vec<Arc<CertFacts>>) -> Option<Self> {
        let mut chain = chain.into_iter();
        Some(VerifiedPath {
            leaf: chain.next()?,
            issuers: chain.collect(),
        })
    }

    /// The signing certificate.
    pub(crate) fn leaf(&self) -> &CertFacts {
        &self.leaf
    }

    /// Every certificate, leaf first, anchor last.
    pub(crate) fn certs(&self) -> impl Iterator<Item = &CertFacts> {
        std::iter::once(&self.leaf)
            .chain(self.issuers.iter())
            .map(|cert| cert.as_ref())
    }

    /// Each certificate below the anchor with its issuer, leaf first.
    pub(crate) fn links(&self) -> impl Iterator<Item = (&CertFacts, &CertFacts)> {
        self.certs()
            .zip(self.issuers.iter().map(|cert| cert.as_ref()))
    }
}

/// Which path openssl verified for a leaf presented with given certificates: the leaf's
/// fingerprint, then those of the presented certificates in the order given.
pub(crate) type PathKey = Vec<Fingerprint>;

/// The per-store memo: certificate facts by fingerprint, verified paths by `PathKey`.
pub(crate) struct Memo {
    certs: Bounded<Fingerprint, Arc<CertFacts>>,
    paths: Bounded<PathKey, Arc<VerifiedPath>>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            certs: Bounded::new(CERT_CAPACITY),
            paths: Bounded::new(PATH_CAPACITY),
        }
    }
}

impl Memo {
    /// The facts of a certificate, read now unless already known.
    pub(crate) fn facts(
        &self,
        cert: &X509Ref,
        der: &[u8],
        what: &str,
    ) -> Result<Arc<CertFacts>, PkiError> {
        let fingerprint = Fingerprint::of_der(der);
        if let Some(known) = self.certs.get(&fingerprint) {
            return Ok(known);
        }
        let facts = Arc::new(CertFacts::read(cert, der, fingerprint, what)?);
        self.certs.insert(fingerprint, Arc::clone(&facts));
        Ok(facts)
    }

    /// The path openssl verified for `key`, when every certificate in it is strictly inside
    /// its validity period at `at`.
    pub(crate) fn path(&self, key: &PathKey, at: OffsetDateTime) -> Option<Arc<VerifiedPath>> {
        self.paths
            .get(key)
            .filter(|path| path.certs().all(|cert| cert.strictly_valid_at(at)))
    }

    /// How many paths are remembered.
    #[cfg(test)]
    pub(crate) fn remembered_paths(&self) -> usize {
        self.paths.len()
    }

    /// Remembers a path that openssl verified at `at` (leaf first, anchor last), unless the
    /// validity periods read here disagree with openssl's verdict at that time.
    pub(crate) fn remember_path(&self, key: PathKey, path: &Arc<VerifiedPath>, at: OffsetDateTime) {
        if path.certs().all(|cert| cert.agrees_valid_at(at)) {
            self.paths.insert(key, Arc::clone(path));
        }
    }
}

/// A map that never holds more than `capacity` entries: when full, it is emptied (a memo only
/// saves work, so forgetting is always correct).
struct Bounded<K, V> {
    entries: RwLock<HashMap<K, V>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            entries: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.read().get(key).cloned()
    }

    fn insert(&self, key: K, value: V) {
        let mut entries = self.write();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, value);
    }

    // A panic elsewhere while holding the lock cannot leave a half-written entry behind (insert
    // is one call): keep using the map.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<K, V>> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<K, V>> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::error::UsageProblem;
    use crate::pki::ident::CertId;
    use crate::pki::testdata;
    use time::macros::datetime;

    fn facts(name: &str) -> Arc<CertFacts> {
        let cert = testdata::cert(name);
        let der = cert.to_der().expect("DER");
        Memo::default().facts(&cert, &der, name).expect("facts")
    }

    #[test]
    fn facts_say_what_the_certificate_says() {
        let leaf = facts("agency-000.00.00.H49-rsa2048.pem");
        assert!(!leaf.is_ca);
        assert_eq!(leaf.signing_use, Ok(()));
        assert!(leaf.crl_signing.is_err());
        assert_eq!(
            leaf.distribution_points,
            vec!["http://127.0.0.1:8080/pki/dev-issuing-ca.crl".to_owned()]
        );
        assert_eq!(
            leaf.fingerprint(),
            Fingerprint::of(&leaf.cert).expect("digest")
        );
        assert_eq!(leaf.id(), CertId::of(&leaf.cert));
        let ca = facts("issuing-ca.pem");
        assert!(ca.is_ca);
        assert_eq!(ca.crl_signing, Ok(()));
        assert_eq!(ca.signing_use, Err(UsageProblem::IsCa));
    }

    #[test]
    fn validity_boundaries_are_left_to_openssl() {
        // Valid from 2025-01-01 00:00:00 to 2045-01-01 00:00:00.
        let leaf = facts("agency-000.00.00.G22-rsa2048.pem");
        let from = datetime!(2025-01-01 00:00 UTC);
        let to = datetime!(2045-01-01 00:00 UTC);
        assert!(!leaf.strictly_valid_at(from));
        assert!(leaf.strictly_valid_at(datetime!(2025-01-01 00:00:00.1 UTC)));
        assert!(leaf.strictly_valid_at(datetime!(2044-12-31 23:59:59.9 UTC)));
        assert!(!leaf.strictly_valid_at(to));
        assert!(!leaf.strictly_valid_at(datetime!(2046-01-01 00:00 UTC)));
        // openssl's reading, to the second: notBefore is valid, notAfter is not.
        assert!(leaf.agrees_valid_at(from));
        assert!(leaf.agrees_valid_at(datetime!(2044-12-31 23:59:59.9 UTC)));
        assert!(!leaf.agrees_valid_at(to));
        assert!(!leaf.agrees_valid_at(datetime!(2024-12-31 23:59:59.9 UTC)));
    }

    #[test]
    fn a_path_is_reused_only_strictly_inside_every_validity_period() {
        let memo = Memo::default();
        let chain: Vec<Arc<CertFacts>> = [
            "agency-000.00.00.G22-rsa2048.pem",
            "issuing-ca.pem",
            "root-ca.pem",
        ]
        .iter()
        .map(|name| facts(name))
        .collect();
        let key = vec![chain[0].fingerprint()];
        let issuing = chain[1].fingerprint();
        let path = Arc::new(VerifiedPath::new(chain).expect("not empty"));
        let links: Vec<(String, String)> = path
            .links()
            .map(|(subject, issuer)| {
                (
                    subject.summary.issuer.clone(),
                    issuer.summary.subject.clone(),
                )
            })
            .collect();
        assert_eq!(links.len(), 2);
        assert!(
            links.iter().all(|(named, issuer)| named == issuer),
            "{links:?}"
        );
        // In 2024 none of them was valid yet: a path "verified" then is not kept.
        memo.remember_path(key.clone(), &path, datetime!(2024-06-01 00:00 UTC));
        assert!(memo.paths.get(&key).is_none());
        memo.remember_path(key.clone(), &path, testdata::AT);
        assert!(memo.path(&key, testdata::AT).is_some());
        assert!(memo.path(&key, datetime!(2044-12-31 00:00 UTC)).is_some());
        // Not reused once the leaf (2045), or before the CAs (2025), were valid…
        assert!(memo.path(&key, datetime!(2045-01-01 00:00 UTC)).is_none());
        assert!(memo.path(&key, datetime!(2024-06-01 00:00 UTC)).is_none());
        // …nor for another key (here: the same leaf presented with a certificate).
        let presented = vec![key[0], issuing];
        assert!(memo.path(&presented, testdata::AT).is_none());
    }

    #[test]
    fn a_full_memo_starts_afresh() {
        let bounded: Bounded<u32, u32> = Bounded::new(3);
        for i in 0..3 {
            bounded.insert(i, i);
        }
        assert_eq!(bounded.len(), 3);
        bounded.insert(1, 10);
        assert_eq!((bounded.len(), bounded.get(&1)), (3, Some(10)));
        bounded.insert(7, 7);
        assert_eq!(
            (bounded.len(), bounded.get(&0), bounded.get(&7)),
            (1, None, Some(7))
        );
    }

    #[test]
    fn unreadable_certificates_are_not_kept() {
        let memo = Memo::default();
        let cert = testdata::cert("root-ca.pem");
        let mut der = cert.to_der().expect("DER");
        der.push(0);
        let err = memo.facts(&cert, &der, "a test certificate").err();
        assert_eq!(err.map(|e| e.code()), Some("pki.bad_certificate"));
        assert_eq!(memo.certs.len(), 0);
    }
}
