//! Verification of the profile's one enveloped signature over the whole packet.
//!
//! Order of work: the packet is read once into [`Events`] (so a packet that is not well-formed
//! is refused before anything else), then structure and algorithm policy (no crypto on a packet
//! we would refuse anyway), then the SignatureValue over SignedInfo (cheap: a forged packet is
//! refused before we hash megabytes), then the digest of the packet, streamed into the hash.
//! Every pass walks the same events.

use base64::Engine as _;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use openssl::x509::{X509VerifyResult, X509};

use crate::xml::c14n::{self, Canonicalization, Subset};
use crate::xml::events::Events;
use crate::xml::reader::{Document, Limits};

use super::algorithm::{
    AlgorithmPolicy, DigestAlgorithm, KeyFamily, SignatureAlgorithm, ENVELOPED_SIGNATURE,
};
use super::digest::RunningDigest;
use super::signature::{self, AlgorithmRef, SignatureElement};
use super::DsigError;

/// The algorithms a verified signature used, for the verdict and the evidence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Algorithms {
    /// CanonicalizationMethod of SignedInfo (URI).
    pub signed_info_c14n: &'static str,
    /// Canonicalization applied to the packet after the enveloped-signature transform (URI).
    pub reference_c14n: &'static str,
    pub digest: DigestAlgorithm,
    pub signature: SignatureAlgorithm,
}

/// A signature that verified: who signed (not yet whether we trust them) and how.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The leaf certificate from KeyInfo whose key verified the SignatureValue.
    pub signer: X509,
    /// The other certificates KeyInfo carried (untrusted intermediates for path building).
    pub presented: Vec<X509>,
    pub algorithms: Algorithms,
    /// True when SHA-1 was involved and accepted only because the legacy switch is on.
    pub legacy_sha1: bool,
}

/// Verifies the packet's signature cryptographically. Certificate trust is the PKI's job.
pub fn verify(
    input: &[u8],
    policy: &AlgorithmPolicy,
    limits: Limits,
) -> Result<VerifiedSignature, DsigError> {
    verify_document(Document::check(input, limits)?, policy, limits)
}

/// [`verify`] for a document already checked (see [`Document`]).
pub fn verify_document(
    input: Document<'_>,
    policy: &AlgorithmPolicy,
    limits: Limits,
) -> Result<VerifiedSignature, DsigError> {
    verify_events(&Events::read(input, limits)?, policy)
}

/// [`verify`] for a document read earlier (see [`Events`]), whose events other passes share.
pub fn verify_events(
    input: &Events<'_>,
    policy: &AlgorithmPolicy,
) -> Result<VerifiedSignature, DsigError> {
    let sig = signature::locate_in(input)?;
    let plan = Plan::from_element(&sig, policy)?;
    let (signer, presented) = certificates(&sig.certificates)?;
    let key = signer.public_key()?;
    check_key(&key, plan.signature.family, policy)?;

    let mut signed_info = Vec::with_capacity(1024);
    c14n::canonicalize_events(
        input,
        &plan.signed_info_c14n,
        Subset::Only(sig.signed_info_offset),
        &mut signed_info,
    )?;
    let signature_value = decode_base64(&sig.signature_value, "SignatureValue")?;
    if !signature_verifies(&key, plan.signature, &signed_info, &signature_value)? {
        return Err(DsigError::SignatureInvalid);
    }

    let digest = packet_digest(input, &plan.reference_c14n, plan.digest, sig.offset)?;
    if digest.len() != plan.digest_value.len() || !openssl::memcmp::eq(&digest, &plan.digest_value)
    {
        return Err(DsigError::DigestMismatch);
    }
    Ok(VerifiedSignature {
        signer,
        presented,
        algorithms: Algorithms {
            signed_info_c14n: plan.signed_info_c14n.uri(),
            reference_c14n: plan.reference_c14n.uri(),
            digest: plan.digest,
            signature: plan.signature,
        },
        legacy_sha1: plan.digest == DigestAlgorithm::Sha1
            || plan.signature.digest == DigestAlgorithm::Sha1,
    })
}

/// Digest of the packet with the Signature at `signature_offset` removed, canonicalized.
/// Used by verification and by signing (which digests the unsigned packet with `Subset::Document`).
pub(crate) fn digest_subset(
    input: Document<'_>,
    c14n: &Canonicalization,
    digest: DigestAlgorithm,
    subset: Subset,
    limits: Limits,
) -> Result<Vec<u8>, DsigError> {
    // The canonicalizer buffers its output, so the hasher sees large writes.
    let mut hasher = RunningDigest::new(digest);
    c14n::canonicalize_document(input, c14n, subset, limits, &mut hasher)?;
    Ok(hasher.finish())
}

fn packet_digest(
    input: &Events<'_>,
    c14n: &Canonicalization,
    digest: DigestAlgorithm,
    signature_offset: usize,
) -> Result<Vec<u8>, DsigError> {
    // The canonicalizer buffers its output, so the hasher sees large writes.
    let mut hasher = RunningDigest::new(digest);
    c14n::canonicalize_events(input, c14n, Subset::Without(signature_offset), &mut hasher)?;
    Ok(hasher.finish())
}

/// The checked reading of a SignatureElement: what to compute and compare.
struct Plan {
    signed_info_c14n: Canonicalization,
    reference_c14n: Canonicalization,
    digest: DigestAlgorithm,
    digest_value: Vec<u8>,
    signature: SignatureAlgorithm,
}

impl Plan {
    fn from_element(sig: &SignatureElement, policy: &AlgorithmPolicy) -> Result<Self, DsigError> {
        if sig.signed_info_offset == 0 {
            return Err(DsigError::malformed("no SignedInfo"));
        }
        let c14n_ref = sig
            .canonicalization
            .as_ref()
            .ok_or_else(|| DsigError::malformed("SignedInfo has no CanonicalizationMethod"))?;
        let signed_info_c14n = canonicalization(c14n_ref)?;
        let method = sig
            .signature_method
            .as_deref()
            .ok_or_else(|| DsigError::malformed("SignedInfo has no SignatureMethod"))?;
        let signature = SignatureAlgorithm::from_uri(method).ok_or_else(|| {
            unsupported(
                method,
                "not a signature method of the profile (RSA or ECDSA with SHA-2)",
            )
        })?;
        if !policy.permits(signature.digest) {
            return Err(unsupported(
                method,
                "SHA-1 is refused unless the legacy SHA-1 switch is set",
            ));
        }
        let reference = match sig.references.as_slice() {
            [one] => one,
            [] => return Err(DsigError::malformed("SignedInfo has no Reference")),
            more => {
                return Err(DsigError::wrapping(format!(
                    "SignedInfo has {} References; the profile allows exactly one, covering the whole packet",
                    more.len()
                )))
            }
        };
        if reference.uri.as_deref() != Some("") {
            return Err(DsigError::wrapping(format!(
                "the Reference URI is {}; it must be URI=\"\" so that the signature covers the whole packet",
                reference.uri.as_deref().map_or("absent".to_owned(), |u| format!("\"{u}\""))
            )));
        }
        let reference_c14n = reference_transforms(&reference.transforms)?;
        let digest_uri = reference
            .digest_method
            .as_deref()
            .ok_or_else(|| DsigError::malformed("the Reference has no DigestMethod"))?;
        let digest = DigestAlgorithm::from_uri(digest_uri).ok_or_else(|| {
            unsupported(digest_uri, "not a digest of the profile (SHA-256/384/512)")
        })?;
        if !policy.permits(digest) {
            return Err(unsupported(
                digest_uri,
                "SHA-1 is refused unless the legacy SHA-1 switch is set",
            ));
        }
        let digest_value = decode_base64(&reference.digest_value, "DigestValue")?;
        Ok(Plan {
            signed_info_c14n,
            reference_c14n,
            digest,
            digest_value,
            signature,
        })
    }
}

/// The transforms must be exactly: enveloped-signature, then optionally one canonicalization.
/// Anything else could make the signature cover less than the packet.
fn reference_transforms(transforms: &[AlgorithmRef]) -> Result<Canonicalization, DsigError> {
    let (first, rest) = transforms.split_first().ok_or_else(|| {
        DsigError::wrapping("the Reference has no enveloped-signature transform, so it cannot cover the packet that contains it")
    })?;
    if first.uri != ENVELOPED_SIGNATURE {
        if is_filtering(first) {
            return Err(transform_refused(first));
        }
        return Err(DsigError::wrapping(
            "the Reference's transforms do not start with enveloped-signature, so they cannot cover the packet that contains the signature",
        ));
    }
    let c14n = match rest {
        // XML-DSig §4.3.3.2: a node-set left at the end is converted with inclusive C14N 1.0.
        [] => Canonicalization::from_uri(
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            Vec::new(),
        )
        .ok_or_else(|| DsigError::malformed("C14N 1.0 unavailable"))?,
        [one] => canonicalization(one).map_err(|_| transform_refused(one))?,
        more => {
            // Name the most telling one: a filtering transform if there is one.
            let worst = more.iter().find(|t| is_filtering(t)).unwrap_or(&more[0]);
            return Err(transform_refused(worst));
        }
    };
    // URI="" excludes comments whatever the algorithm says (XML-DSig §4.3.3.3).
    Ok(Canonicalization {
        with_comments: false,
        ..c14n
    })
}

fn is_filtering(t: &AlgorithmRef) -> bool {
    t.uri.contains("xpath") || t.uri.contains("xslt") || t.has_parameters
}

fn transform_refused(t: &AlgorithmRef) -> DsigError {
    if is_filtering(t) {
        DsigError::wrapping(format!(
            "transform {} selects or rewrites part of the packet; only enveloped-signature followed by a canonicalization is allowed",
            t.uri
        ))
    } else {
        unsupported(
            &t.uri,
            "only enveloped-signature followed by one canonicalization is allowed in the Reference",
        )
    }
}

fn canonicalization(a: &AlgorithmRef) -> Result<Canonicalization, DsigError> {
    if a.has_parameters {
        return Err(unsupported(
            &a.uri,
            "canonicalization parameters are not allowed",
        ));
    }
    Canonicalization::from_uri(&a.uri, a.inclusive_prefixes.clone())
        .ok_or_else(|| unsupported(&a.uri, "not C14N 1.0 or exclusive C14N 1.0"))
}

fn unsupported(uri: &str, reason: &str) -> DsigError {
    DsigError::UnsupportedAlgorithm {
        uri: uri.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(crate) fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, DsigError> {
    let engine = base64::engine::general_purpose::STANDARD;
    // XML-DSig allows line breaks in base64 content; most signers write none.
    let result = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        engine.decode(compact)
    } else {
        engine.decode(text)
    };
    result.map_err(|e| DsigError::malformed(format!("{what} is not valid base64: {e}")))
}

/// Decodes KeyInfo's certificates and picks the leaf: the one that issued none of the others
/// (as xmlsec does). Returns (leaf, the rest).
fn certificates(encoded: &[String]) -> Result<(X509, Vec<X509>), DsigError> {
    let mut certs = Vec::with_capacity(encoded.len());
    for (i, text) in encoded.iter().enumerate() {
        let cert = super::certificates::from_text(text, |text| {
            let der =
                decode_base64(text, "X509Certificate").map_err(|e| DsigError::BadCertificate {
                    reason: e.to_string(),
                })?;
            X509::from_der(&der).map_err(|e| DsigError::BadCertificate {
                reason: format!("certificate #{} in KeyInfo is not DER X.509: {e}", i + 1),
            })
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(DsigError::MissingCertificate);
    }
    let is_leaf = |i: usize| {
        certs
            .iter()
            .enumerate()
            .all(|(j, other)| i == j || certs[i].issued(other) != X509VerifyResult::OK)
    };
    let leaf = (0..certs.len()).find(|&i| is_leaf(i)).unwrap_or(0);
    let signer = certs.remove(leaf);
    Ok((signer, certs))
}

fn check_key(
    key: &PKey<Public>,
    family: KeyFamily,
    policy: &AlgorithmPolicy,
) -> Result<(), DsigError> {
    match KeyFamily::of(key.id()) {
        Some(f) if f == family => {}
        _ => {
            return Err(DsigError::UnsupportedAlgorithm {
                uri: format!("{family:?}"),
                reason: "the SignatureMethod does not match the certificate's key type".to_owned(),
            })
        }
    }
    if family == KeyFamily::Rsa && key.bits() < policy.min_rsa_bits {
        return Err(DsigError::WeakKey {
            reason: format!(
                "RSA key of {} bits; at least {} are required",
                key.bits(),
                policy.min_rsa_bits
            ),
        });
    }
    Ok(())
}

fn signature_verifies(
    key: &PKey<Public>,
    algorithm: SignatureAlgorithm,
    signed: &[u8],
    value: &[u8],
) -> Result<bool, DsigError> {
    let der;
    let value = match algorithm.family {
        KeyFamily::Rsa => value,
        KeyFamily::Ecdsa => match ecdsa_raw_to_der(value) {
            Some(d) => {
                der = d;
                &der
            }
            None => return Ok(false),
        },
    };
    let mut verifier = Verifier::new(algorithm.digest.message_digest(), key)?;
    // openssl reports a malformed signature as an error; for us it is simply invalid.
    Ok(verifier.verify_oneshot(value, signed).unwrap_or(false))
}

/// XML-DSig writes ECDSA signatures as r ‖ s (RFC 4050/6931); openssl wants DER.
fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let sig =
        EcdsaSig::from_private_components(BigNum::from_slice(r).ok()?, BigNum::from_slice(s).ok()?)
            .ok()?;
    sig.to_der().ok()
}
