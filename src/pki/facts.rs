//! What a certificate says, read once from its DER encoding: the leaf module the rest of `pki`
//! builds on (names, serial, validity, the extensions that matter — distribution points, OCSP
//! responders, key usage). It depends only on `error`, `ident` and `usage`, so that `memo`,
//! `crl`, `revocation`, `ocsp` and `validate` can all use these facts without depending on
//! each other.

use openssl::x509::{X509Ref, X509};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;

use super::error::{PkiError, UsageProblem};
use super::ident::{asn1_to_datetime, dn_string, serial_hex, CertId, Fingerprint};
use super::usage::{check_signing_leaf, may_sign_crls};

/// What is known about one certificate of a validated path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject, RFC 4514 (`CN=…,O=…,C=VN`).
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// SHA-256 of the DER encoding.
    pub sha256: Fingerprint,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
}

impl CertSummary {
    /// What `cert`, whose DER encoding has SHA-256 `sha256`, says about itself.
    pub(crate) fn of(cert: &X509Certificate<'_>, sha256: Fingerprint) -> Self {
        let validity = cert.validity();
        CertSummary {
            subject: dn_string(cert.subject()),
            issuer: dn_string(cert.issuer()),
            serial: serial_hex(cert.raw_serial()),
            sha256,
            not_before: asn1_to_datetime(validity.not_before),
            not_after: asn1_to_datetime(validity.not_after),
        }
    }
}

/// What one certificate says, read once from its DER encoding.
pub(crate) struct CertFacts {
    /// The certificate, for openssl (keys, names, OCSP requests).
    pub(crate) cert: X509,
    /// Names, serial, fingerprint and validity period as reported in a validated path.
    pub(crate) summary: CertSummary,
    /// Serial number as DER INTEGER content octets, for CRL lookups.
    pub(crate) raw_serial: Vec<u8>,
    /// basicConstraints CA:TRUE (as x509-parser reads it).
    pub(crate) is_ca: bool,
    /// URIs of its CRL distribution points.
    pub(crate) distribution_points: Vec<String>,
    /// URIs of its OCSP responders (Authority Information Access).
    pub(crate) ocsp_responders: Vec<String>,
    /// Whether it may sign documents (as a leaf).
    pub(crate) signing_use: Result<(), UsageProblem>,
    /// Whether it may sign CRLs (as an issuer).
    pub(crate) crl_signing: Result<(), String>,
}

impl CertFacts {
    /// Reads a certificate whose DER encoding is `der` and SHA-256 `fingerprint`; `what` names
    /// it in the error when x509-parser cannot read it.
    pub(crate) fn read(
        cert: &X509Ref,
        der: &[u8],
        fingerprint: Fingerprint,
        what: &str,
    ) -> Result<Self, PkiError> {
        let parsed = parse(der, what)?;
        Ok(CertFacts {
            cert: cert.to_owned(),
            summary: CertSummary::of(&parsed, fingerprint),
            raw_serial: parsed.raw_serial().to_vec(),
            is_ca: parsed.is_ca(),
            distribution_points: distribution_points(&parsed),
            ocsp_responders: responder_urls(&parsed),
            signing_use: check_signing_leaf(&parsed),
            crl_signing: may_sign_crls(&parsed),
        })
    }

    /// Subject and serial, for errors and evidence.
    pub(crate) fn id(&self) -> CertId {
        CertId {
            subject: self.summary.subject.clone(),
            serial: self.summary.serial.clone(),
        }
    }

    /// SHA-256 of the DER encoding.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        self.summary.sha256
    }

    /// Whether `at` is strictly between notBefore and notAfter. An instant on a boundary is
    /// left to openssl, so that its exact rule (valid from notBefore, expired at notAfter, to
    /// the second) is never second-guessed.
    pub(crate) fn strictly_valid_at(&self, at: OffsetDateTime) -> bool {
        self.summary.not_before < at && at < self.summary.not_after
    }

    /// Whether openssl's verdict "valid at `at`" agrees with the validity period read here:
    /// openssl judges the whole second of `at`, from notBefore (inclusive) to notAfter
    /// (exclusive). A path is only remembered when both readings agree.
    pub(crate) fn agrees_valid_at(&self, at: OffsetDateTime) -> bool {
        let second = at.replace_nanosecond(0).unwrap_or(at);
        self.summary.not_before <= second && second < self.summary.not_after
    }
}

/// Parses with x509-parser, refusing trailing bytes.
pub(crate) fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, PkiError> {
    let bad = |reason: String| PkiError::BadCertificate {
        what: what.to_owned(),
        reason,
    };
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| bad(e.to_string()))?;
    if rest.is_empty() {
        Ok(cert)
    } else {
        Err(bad(format!("{} bytes after the certificate", rest.len())))
    }
}

/// The URIs in a certificate's CRL distribution points extension.
pub(crate) fn distribution_points(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut uris = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            for point in points.iter() {
                if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                    for name in names {
                        if let GeneralName::URI(uri) = name {
                            uris.push((*uri).to_owned());
                        }
                    }
                }
            }
        }
    }
    uris
}

/// The OCSP URIs of a certificate's Authority Information Access extension.
pub(crate) fn responder_urls(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut urls = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for desc in aia.iter() {
                if desc.access_method != OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                    continue;
                }
                if let GeneralName::URI(uri) = &desc.access_location {
                    urls.push((*uri).to_owned());
                }
            }
        }
    }
    urls
}
