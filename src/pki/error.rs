//! Why a certificate was refused: one variant per reason, each with a stable dotted code and a
//! sentence that names the certificate so that an operator can act on it.

use std::fmt;

use super::ident::{CertId, Fingerprint, UtcTime};

/// Where a certificate sits in the path being validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainPosition {
    /// The certificate that signed the document.
    Leaf,
    /// A CA between the leaf and the trust anchor.
    Intermediate,
    /// The configured trust anchor (root).
    Anchor,
}

impl fmt::Display for ChainPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChainPosition::Leaf => "signing certificate",
            ChainPosition::Intermediate => "intermediate CA certificate",
            ChainPosition::Anchor => "trusted root certificate",
        })
    }
}

/// What is wrong with a leaf's key usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageProblem {
    /// No KeyUsage extension at all: the CA did not say the key may sign.
    Missing,
    /// KeyUsage present without digitalSignature or nonRepudiation; lists what it does allow.
    NoSigningBit {
        /// The usages the certificate does carry, e.g. `keyEncipherment`.
        present: Vec<&'static str>,
    },
    /// The leaf is a CA (basicConstraints CA:TRUE): CA keys sign certificates, not documents.
    IsCa,
    /// The extension is there but unreadable or duplicated.
    Malformed(String),
}

impl fmt::Display for UsageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageProblem::Missing => f.write_str("it has no KeyUsage extension"),
            UsageProblem::NoSigningBit { present } if present.is_empty() => {
                f.write_str("its KeyUsage extension allows nothing")
            }
            UsageProblem::NoSigningBit { present } => write!(
                f,
                "its KeyUsage allows only {}, not digitalSignature or nonRepudiation",
                present.join(", ")
            ),
            UsageProblem::IsCa => f.write_str("it is a CA certificate (basicConstraints CA:TRUE)"),
            UsageProblem::Malformed(reason) => write!(f, "its KeyUsage is unreadable: {reason}"),
        }
    }
}

/// A refusal by the PKI layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PkiError {
    /// Trust material (anchors, intermediates, CRLs, bindings) could not be loaded.
    #[error("cannot use trust material {source_name}: {reason}")]
    Config {
        /// File name or description of the in-memory source.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A certificate could not be read as X.509.
    #[error("{what} is not a readable X.509 certificate: {reason}")]
    BadCertificate {
        /// Which certificate (e.g. "the signing certificate", "presented certificate #2").
        what: String,
        /// Parser message.
        reason: String,
    },

    /// No path from the certificate to a configured trust anchor.
    #[error("{cert} does not chain to a trusted root: {reason}")]
    Untrusted {
        /// The certificate at which the path broke.
        cert: CertId,
        /// What the path builder reported.
        reason: String,
    },

    /// A certificate in the path had expired at the verification time.
    #[error("the {position} {cert} expired at {not_after} (verification time {at})")]
    Expired {
        /// Leaf, intermediate or anchor.
        position: ChainPosition,
        /// The expired certificate.
        cert: CertId,
        /// Its notAfter.
        not_after: UtcTime,
        /// The verification time.
        at: UtcTime,
    },

    /// A certificate in the path was not yet valid at the verification time.
    #[error("the {position} {cert} is not valid before {not_before} (verification time {at})")]
    NotYetValid {
        /// Leaf, intermediate or anchor.
        position: ChainPosition,
        /// The certificate.
        cert: CertId,
        /// Its notBefore.
        not_before: UtcTime,
        /// The verification time.
        at: UtcTime,
    },

    /// A certificate in the path is listed on its issuer's CRL, or its issuer's OCSP responder
    /// says it is revoked.
    #[error("the {position} {cert} was revoked at {revoked_at}{reason} according to {authority}")]
    Revoked {
        /// Leaf or intermediate.
        position: ChainPosition,
        /// The revoked certificate.
        cert: CertId,
        /// Effective revocation time (for a CRL the earlier of revocationDate and
        /// invalidityDate; for OCSP the revocationTime).
        revoked_at: UtcTime,
        /// ` (reason: keyCompromise)` or empty.
        reason: ReasonText,
        /// The CRL or OCSP responder that said so.
        authority: RevocationSource,
    },

    /// The newest usable CRL for a certificate's issuer is past nextUpdate by more than the grace.
    #[error(
        "the CRL of \"{crl_issuer}\" needed for the {position} {cert} was due for renewal at {next_update}, \
         more than the allowed grace of {grace_seconds} s before the verification time {at}; \
         install a current CRL"
    )]
    CrlStale {
        /// Leaf or intermediate whose revocation status is unknown.
        position: ChainPosition,
        /// The certificate.
        cert: CertId,
        /// Subject of the CRL issuer.
        crl_issuer: String,
        /// The CRL's nextUpdate (its thisUpdate when it has none).
        next_update: UtcTime,
        /// Configured grace in seconds.
        grace_seconds: u64,
        /// The verification time.
        at: UtcTime,
    },

    /// No usable CRL from the certificate's issuer: revocation status cannot be known.
    #[error(
        "no usable CRL from \"{issuer}\" to check the {position} {cert}: {detail}; \
         install the issuer's CRL (or configure its distribution point)"
    )]
    RevocationUnknown {
        /// Leaf or intermediate.
        position: ChainPosition,
        /// The certificate.
        cert: CertId,
        /// Subject of its issuer.
        issuer: String,
        /// Which CRLs were considered and why each was not used.
        detail: String,
    },

    /// The leaf may not sign documents.
    #[error("the signing certificate {cert} may not sign documents: {problem}")]
    KeyUsage {
        /// The leaf.
        cert: CertId,
        /// What is wrong.
        problem: UsageProblem,
    },

    /// The certificate is valid but not bound to the agency that claims to have signed.
    #[error(
        "the signing certificate {cert} (SHA-256 {fingerprint}) is not bound to agency {agency}{bound}"
    )]
    BindingMismatch {
        /// Agency code as claimed by the packet.
        agency: String,
        /// The certificate.
        cert: CertId,
        /// Its fingerprint, to paste into bindings.json if the binding is legitimate.
        fingerprint: Fingerprint,
        /// Either ` (the agency has N bound certificates)` or ` (no certificate is bound to this agency)`.
        bound: BoundText,
    },
}

impl PkiError {
    /// Stable dotted code for APIs, logs and evidence.
    pub fn code(&self) -> &'static str {
        match self {
            PkiError::Config { .. } => "pki.config",
            PkiError::BadCertificate { .. } => "pki.bad_certificate",
            PkiError::Untrusted { .. } => "pki.untrusted",
            PkiError::Expired { .. } => "pki.expired",
            PkiError::NotYetValid { .. } => "pki.not_yet_valid",
            PkiError::Revoked { .. } => "pki.revoked",
            PkiError::CrlStale { .. } => "pki.crl_stale",
            PkiError::RevocationUnknown { .. } => "pki.revocation_unknown",
            PkiError::KeyUsage { .. } => "pki.key_usage",
            PkiError::BindingMismatch { .. } => "pki.binding_mismatch",
        }
    }

    pub(crate) fn config(source_name: impl Into<String>, reason: impl fmt::Display) -> Self {
        PkiError::Config {
            source_name: source_name.into(),
            reason: reason.to_string(),
        }
    }
}

/// Who declared a certificate revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationSource {
    /// A CRL signed by the certificate's issuer.
    Crl {
        /// Subject of the CRL issuer.
        issuer: String,
    },
    /// A signed OCSP response from the issuer or its delegated responder.
    Ocsp {
        /// The responder URL asked.
        responder: String,
    },
}

impl fmt::Display for RevocationSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevocationSource::Crl { issuer } => write!(f, "the CRL of \"{issuer}\""),
            RevocationSource::Ocsp { responder } => {
                write!(f, "the OCSP responder at {responder}")
            }
        }
    }
}

/// The optional reason of a revocation (an RFC 5280 reason name), printed as
/// ` (reason: keyCompromise)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonText(pub Option<&'static str>);

impl fmt::Display for ReasonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(reason) => write!(f, " (reason: {reason})"),
            None => Ok(()),
        }
    }
}

/// How many certificates an agency has bound, for the binding error's sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundText(pub usize);

impl fmt::Display for BoundText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str(" (no certificate is bound to this agency)"),
            1 => f.write_str(" (the agency has 1 other bound certificate)"),
            n => write!(f, " (the agency has {n} other bound certificates)"),
        }
    }
}
