//! Why a signature was refused (or could not be made), one variant per reason.

use crate::xml::c14n::C14nError;
use crate::xml::reader::XmlError;

#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the packet has no ds:Signature; every packet must be signed by the sending agency (XML-DSig, enveloped)")]
    Missing,
    #[error(
        "the packet carries {count} ds:Signature elements; exactly one, in edXMLHeader, is allowed"
    )]
    SeveralSignatures { count: usize },
    #[error("possible signature wrapping: {reason}")]
    Wrapping { reason: String },
    #[error("unsupported or refused algorithm {uri}: {reason}")]
    UnsupportedAlgorithm { uri: String, reason: String },
    #[error("the ds:Signature element is malformed: {reason}")]
    Malformed { reason: String },
    #[error("the signature carries no signing certificate (KeyInfo/X509Data/X509Certificate is required)")]
    MissingCertificate,
    #[error("a certificate in KeyInfo cannot be read: {reason}")]
    BadCertificate { reason: String },
    #[error("the signing key is too weak: {reason}")]
    WeakKey { reason: String },
    #[error("the digest of the packet does not match the signed DigestValue: the packet was changed after signing")]
    DigestMismatch,
    #[error("the SignatureValue does not verify with the signing certificate's public key")]
    SignatureInvalid,
    #[error("the packet is already signed; remove the existing ds:Signature first")]
    AlreadySigned,
    #[error("no place to put the signature: the packet has no edXMLHeader (or SOAP Header for a status)")]
    NoSignaturePlace,
    #[error("canonicalization failed: {0}")]
    C14n(C14nError),
    #[error("cryptographic library error: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

impl From<C14nError> for DsigError {
    fn from(e: C14nError) -> Self {
        match e {
            C14nError::Xml(x) => DsigError::Xml(x),
            other => DsigError::C14n(other),
        }
    }
}

impl DsigError {
    /// Stable error code, listed in docs/ERRORS.md.
    pub fn code(&self) -> &'static str {
        match self {
            DsigError::Xml(e) => e.code(),
            DsigError::Missing => "dsig.missing",
            DsigError::SeveralSignatures { .. } | DsigError::Wrapping { .. } => "dsig.wrapping",
            DsigError::UnsupportedAlgorithm { .. } => "dsig.unsupported_algorithm",
            DsigError::Malformed { .. } => "dsig.malformed",
            DsigError::MissingCertificate => "dsig.missing_certificate",
            DsigError::BadCertificate { .. } => "pki.bad_certificate",
            DsigError::WeakKey { .. } => "dsig.weak_key",
            DsigError::DigestMismatch => "dsig.digest_mismatch",
            DsigError::SignatureInvalid => "dsig.signature_invalid",
            DsigError::AlreadySigned => "dsig.already_signed",
            DsigError::NoSignaturePlace => "dsig.no_signature_place",
            DsigError::C14n(_) | DsigError::Crypto(_) => "internal.crypto",
        }
    }

    pub(crate) fn wrapping(reason: impl Into<String>) -> Self {
        DsigError::Wrapping {
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        DsigError::Malformed {
            reason: reason.into(),
        }
    }
}
