//! The operator's trust material: anchors (roots), configured intermediates and CRLs, loaded from
//! PEM (CRLs also DER) files or bytes, checked once at load so that a bad file fails at start-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssl::x509::X509;
use time::OffsetDateTime;

use super::crl::Crl;
use super::error::PkiError;
use super::facts;
use super::fetch::CrlFetcher;
use super::memo::Memo;
use super::ocsp::{OcspClient, OcspConfig};
use super::path;

/// Trust anchors, known intermediates and CRLs. Cheap to share behind an `Arc`; immutable once
/// built (reload by building a new one). It remembers what it verified once and what cannot
/// change — certificate contents, paths openssl verified, CRL signatures — so that validating a
/// signer seen before is cheap; clones share that memo.
#[derive(Clone)]
pub struct TrustStore {
    pub(crate) anchors: Vec<X509>,
    pub(crate) intermediates: Vec<X509>,
    pub(crate) crls: Vec<Crl>,
    pub(crate) fetcher: Option<CrlFetcher>,
    pub(crate) ocsp: Option<OcspClient>,
    pub(crate) memo: Arc<Memo>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStore")
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("crls", &self.crls.len())
            .field("fetches_crls", &self.fetcher.is_some())
            .field("asks_ocsp", &self.ocsp.is_some())
            .finish()
    }
}

impl TrustStore {
    /// An empty builder.
    pub fn builder() -> TrustStoreBuilder {
        TrustStoreBuilder::default()
    }

    /// Loads anchors and intermediates from PEM files (several certificates per file allowed) and
    /// CRLs from PEM or DER files. Any unreadable file is a `pki.config` error naming it.
    pub fn from_pem_files(
        anchors: &[PathBuf],
        intermediates: &[PathBuf],
        crls: &[PathBuf],
    ) -> Result<Self, PkiError> {
        let mut builder = TrustStore::builder();
        for path in anchors {
            builder = builder.anchors_pem(&read(path)?, &path.display().to_string())?;
        }
        for path in intermediates {
            builder = builder.intermediates_pem(&read(path)?, &path.display().to_string())?;
        }
        for path in crls {
            builder = builder.crls(&read(path)?, &path.display().to_string())?;
        }
        builder.build()
    }

    /// Same from bytes in memory. `intermediates` and `crls` may be empty; `crls` holds PEM
    /// blocks or a single DER CRL.
    pub fn from_pem(anchors: &[u8], intermediates: &[u8], crls: &[u8]) -> Result<Self, PkiError> {
        let mut builder = TrustStore::builder().anchors_pem(anchors, "anchors (in memory)")?;
        if !intermediates.is_empty() {
            builder = builder.intermediates_pem(intermediates, "intermediates (in memory)")?;
        }
        if !crls.is_empty() {
            builder = builder.crls(crls, "CRLs (in memory)")?;
        }
        builder.build()
    }

    /// The fetcher of CRL distribution points, when one is set (its cache, for /metrics).
    pub fn crl_fetcher(&self) -> Option<&CrlFetcher> {
        self.fetcher.as_ref()
    }

    /// Adds a fetcher for CRL distribution points: used when no configured CRL is current for
    /// a certificate. A fetcher in the background is told at once the distribution points of
    /// the configured intermediates whose path to an anchor verifies now, so that their
    /// issuers' CRLs can be downloaded before the first packet needs them.
    pub fn with_crl_fetcher(mut self, fetcher: CrlFetcher) -> Self {
        if fetcher.in_background() {
            fetcher.watch(&self.intermediates_distribution_points(OffsetDateTime::now_utc()));
        }
        self.fetcher = Some(fetcher);
        self
    }

    /// The distribution points named by the configured intermediates that chain to an anchor at
    /// `at` (only a verified certificate's URLs are ever fetched).
    fn intermediates_distribution_points(&self, at: OffsetDateTime) -> Vec<String> {
        let mut urls = Vec::new();
        for cert in &self.intermediates {
            if path::build(&self.anchors, &self.intermediates, cert, at).is_err() {
                continue;
            }
            let Ok(der) = cert.to_der() else { continue };
            if let Ok(parsed) = facts::parse(&der, "a configured intermediate") {
                for url in facts::distribution_points(&parsed) {
                    if !urls.contains(&url) {
                        urls.push(url);
                    }
                }
            }
        }
        urls
    }

    /// Asks OCSP (per `config`) for a certificate when no CRL gives a current answer for it;
    /// with `config.enabled` false, turns OCSP off.
    pub fn with_ocsp(mut self, config: OcspConfig) -> Self {
        self.ocsp = config.enabled.then(|| OcspClient::new(config));
        self
    }

    /// The OCSP configuration in use, when OCSP is on.
    pub fn ocsp(&self) -> Option<&OcspConfig> {
        self.ocsp.as_ref().map(OcspClient::config)
    }

    /// The trust anchors.
    pub fn anchors(&self) -> &[X509] {
        &self.anchors
    }

    /// The configured intermediates (untrusted by themselves; used to build paths).
    pub fn intermediates(&self) -> &[X509] {
        &self.intermediates
    }

    /// The configured CRLs.
    pub fn crls(&self) -> &[Crl] {
        &self.crls
    }
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|e| PkiError::config(path.display().to_string(), e))
}

/// Collects trust material; `build` refuses a store without anchors.
#[derive(Default)]
pub struct TrustStoreBuilder {
    anchors: Vec<X509>,
    intermediates: Vec<X509>,
    crls: Vec<Crl>,
}

impl TrustStoreBuilder {
    /// Adds every certificate in `pem` as a trust anchor. Each must be a self-signed root:
    /// a subordinate CA belongs with the intermediates.
    pub fn anchors_pem(mut self, pem: &[u8], source_name: &str) -> Result<Self, PkiError> {
        for (index, cert) in certificates(pem, source_name)?.into_iter().enumerate() {
            if let Err(reason) = self_signed(&cert) {
                return Err(PkiError::config(
                    source_name,
                    format!(
                        "certificate #{} cannot be a trust anchor: {reason}; \
                         put subordinate CAs in the intermediates",
                        index + 1
                    ),
                ));
            }
            self.anchors.push(cert);
        }
        Ok(self)
    }

    /// Adds every certificate in `pem` as a known intermediate.
    pub fn intermediates_pem(mut self, pem: &[u8], source_name: &str) -> Result<Self, PkiError> {
        self.intermediates.extend(certificates(pem, source_name)?);
        Ok(self)
    }

    /// Adds the CRLs in `bytes` (PEM blocks or one DER CRL).
    pub fn crls(mut self, bytes: &[u8], source_name: &str) -> Result<Self, PkiError> {
        self.crls.extend(Crl::all_from_bytes(bytes, source_name)?);
        Ok(self)
    }

    /// The store. Refuses an empty set of anchors: nothing could ever validate.
    pub fn build(self) -> Result<TrustStore, PkiError> {
        if self.anchors.is_empty() {
            return Err(PkiError::config(
                "trust anchors",
                "no trust anchor configured",
            ));
        }
        Ok(TrustStore {
            anchors: self.anchors,
            intermediates: self.intermediates,
            crls: self.crls,
            fetcher: None,
            ocsp: None,
            memo: Arc::default(),
        })
    }
}

/// Every certificate in a PEM buffer; each must also be readable by x509-parser, so that later
/// checks never meet a certificate only one parser understands.
fn certificates(pem: &[u8], source_name: &str) -> Result<Vec<X509>, PkiError> {
    let certs = X509::stack_from_pem(pem)
        .map_err(|e| PkiError::config(source_name, format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::config(source_name, "no certificate in it"));
    }
    for (index, cert) in certs.iter().enumerate() {
        let der = cert
            .to_der()
            .map_err(|e| PkiError::config(source_name, e))?;
        if let Err(e) = x509_parser::parse_x509_certificate(&der) {
            return Err(PkiError::config(
                source_name,
                format!("certificate #{} is not readable X.509: {e}", index + 1),
            ));
        }
    }
    Ok(certs)
}

fn self_signed(cert: &X509) -> Result<(), String> {
    let same_name = matches!(
        cert.subject_name().try_cmp(cert.issuer_name()),
        Ok(std::cmp::Ordering::Equal)
    );
    if !same_name {
        return Err("its issuer is not itself".to_owned());
    }
    let key = cert.public_key().map_err(|e| e.to_string())?;
    match cert.verify(&key) {
        Ok(true) => Ok(()),
        _ => Err("its signature does not verify under its own key".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::testdata;

    #[test]
    fn loads_the_dev_material() {
        let store = testdata::store();
        assert_eq!(store.anchors().len(), 1);
        assert_eq!(store.intermediates().len(), 1);
        assert_eq!(store.crls().len(), 2);
        assert_eq!(store.ocsp(), None);
    }

    #[test]
    fn ocsp_is_on_only_when_enabled() {
        let off = testdata::store().with_ocsp(crate::pki::OcspConfig::default());
        assert_eq!(off.ocsp(), None);
        let config = crate::pki::OcspConfig {
            enabled: true,
            ..crate::pki::OcspConfig::default()
        };
        let on = testdata::store().with_ocsp(config.clone());
        assert_eq!(on.ocsp(), Some(&config));
        assert!(format!("{on:?}").contains("asks_ocsp: true"));
        assert_eq!(on.with_ocsp(crate::pki::OcspConfig::default()).ocsp(), None);
    }

    #[test]
    fn a_subordinate_ca_is_refused_as_anchor() {
        let err = TrustStore::from_pem(&testdata::read("issuing-ca.pem"), b"", b"").err();
        assert_eq!(err.as_ref().map(|e| e.code()), Some("pki.config"));
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("intermediates"), "{text}");
    }

    #[test]
    fn missing_or_empty_files_are_config_errors() {
        let missing = TrustStore::from_pem_files(&[testdata::path("nope.pem")], &[], &[]).err();
        assert_eq!(missing.as_ref().map(|e| e.code()), Some("pki.config"));
        assert!(missing
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("nope.pem"));
        assert_eq!(
            TrustStore::from_pem(b"", b"", b"").err().map(|e| e.code()),
            Some("pki.config")
        );
        let bad_crl = TrustStore::from_pem(&testdata::read("trust.pem"), b"", b"junk").err();
        assert_eq!(bad_crl.map(|e| e.code()), Some("pki.config"));
    }
}
