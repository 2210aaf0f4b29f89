//! The trust pipeline: parse → signature → certificate path → agency binding, one verdict.
//!
//! This is the one function the CLI and (later) the exchange call to decide whether a packet
//! really comes from the agency it names. Each stage refuses with the stable code of its own
//! module; the first refusal wins, in this order, so that the cheapest checks run first and a
//! packet that is not even well-formed never reaches the cryptography.
//!
//! Architecture invariant: no I/O here beyond what `pki` does for configured CRL fetching;
//! the caller owns reading the bytes and loading the trust material.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::dsig::{self, AlgorithmPolicy, Algorithms, DsigError, VerifiedSignature};
use crate::edxml::{self, EdxmlError, OrganId, Packet};
use crate::pki::{
    Bindings, PkiError, RevocationStatus, TrustStore, ValidatedPath, ValidationPolicy,
};
use crate::xml::events::Events;
use crate::xml::reader::{Document, Limits};

/// Everything a deployment decides about trust, besides the trust material itself.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    pub limits: Limits,
    pub algorithms: AlgorithmPolicy,
    pub validation: ValidationPolicy,
}

impl TrustPolicy {
    /// The profile's defaults, validating certificates now.
    pub fn now() -> Self {
        TrustPolicy {
            limits: Limits::default(),
            algorithms: AlgorithmPolicy::profile(),
            validation: ValidationPolicy::now(),
        }
    }
}

/// Why a packet was refused: the refusal of the stage that refused it.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Edxml(#[from] EdxmlError),
    #[error(transparent)]
    Dsig(#[from] DsigError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("{role} {code} is not a standard agency code (DDD.DD.DD.LDD) and the directory does not list it")]
    UnlistedAgency { role: &'static str, code: String },
}

impl Refusal {
    /// Stable error code, listed in docs/ERRORS.md.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Edxml(e) => e.code(),
            Refusal::Dsig(e) => e.code(),
            Refusal::Pki(e) => e.code(),
            Refusal::UnlistedAgency { .. } => "edxml.invalid_agency_code",
        }
    }
}

/// Whether the certificate ↔ agency binding was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingCheck {
    /// The From agency is bound to the signing certificate.
    Bound,
    /// No bindings were given (CLI without --bindings); only the signature and path were checked.
    NotChecked,
}

/// A packet that passed every check, with what each check found.
#[derive(Debug)]
pub struct Verdict {
    pub packet: Packet,
    pub signature: VerifiedSignature,
    pub path: ValidatedPath,
    pub binding: BindingCheck,
}

/// Decides whether `input` is a well-formed edXML packet, signed per the profile by a certificate
/// that chains to `store`, is valid and unrevoked at `policy.validation.at`, and (when `bindings`
/// are given) is bound to the packet's From agency.
pub fn verify_packet(
    input: &[u8],
    store: &TrustStore,
    bindings: Option<&Bindings>,
    policy: &TrustPolicy,
) -> Result<Verdict, Refusal> {
    // The whole-input checks (size, UTF-8, forbidden characters) run once for all passes.
    // The document is read once; the model and the signature walk the same events.
    let document = Document::check(input, policy.limits).map_err(EdxmlError::from)?;
    let events = Events::read(document, policy.limits).map_err(EdxmlError::from)?;
    let packet = edxml::read_events(&events)?;
    check_agency_codes(&packet, bindings)?;
    let signature = dsig::verify_events(&events, &policy.algorithms)?;
    let path = store.validate(&signature.signer, &signature.presented, &policy.validation)?;
    let binding = match bindings {
        Some(b) => {
            b.check(packet.sender().as_str(), &signature.signer)?;
            BindingCheck::Bound
        }
        None => BindingCheck::NotChecked,
    };
    Ok(Verdict {
        packet,
        signature,
        path,
        binding,
    })
}

/// Profile (spec §3): non-standard codes are accepted only when the directory lists them.
fn check_agency_codes(packet: &Packet, bindings: Option<&Bindings>) -> Result<(), Refusal> {
    let mut named: Vec<(&'static str, &OrganId)> = vec![("From", packet.sender())];
    match packet {
        Packet::Message(m) => {
            named.extend(m.header.to.as_slice().iter().map(|o| ("To", &o.organ_id)))
        }
        Packet::Status(s) => named.push(("ResponseFor/OrganId", &s.response_for.organ_id)),
    }
    for (role, id) in named {
        if let OrganId::NonStandard(code) = id {
            if !bindings.is_some_and(|b| b.knows(code.as_str())) {
                return Err(Refusal::UnlistedAgency {
                    role,
                    code: code.as_str().to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// The one-line JSON the CLI prints for a valid packet (and the evidence the exchange keeps).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub valid: bool,
    pub kind: &'static str,
    pub from: String,
    pub to: Vec<String>,
    pub document_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_doc_type: Option<&'static str>,
    pub signer: Signer,
    pub algorithms: AlgorithmNames,
    pub revocation: String,
    pub binding: BindingCheck,
    pub legacy_sha1: bool,
    pub verified_at: String,
}

#[derive(Debug, Serialize)]
pub struct Signer {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub sha256: String,
    pub chain: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AlgorithmNames {
    pub signature: &'static str,
    pub digest: &'static str,
    pub signed_info_c14n: &'static str,
    pub reference_c14n: &'static str,
}

impl From<&Algorithms> for AlgorithmNames {
    fn from(a: &Algorithms) -> Self {
        AlgorithmNames {
            signature: a.signature.uri(),
            digest: a.digest.uri(),
            signed_info_c14n: a.signed_info_c14n,
            reference_c14n: a.reference_c14n,
        }
    }
}

impl Verdict {
    pub fn summary(&self) -> Summary {
        let (kind, to, document_id, status_code, business_doc_type) = match &self.packet {
            Packet::Message(m) => {
                let to: BTreeSet<String> = m
                    .header
                    .to
                    .as_slice()
                    .iter()
                    .map(|o| o.organ_id.as_str().to_owned())
                    .collect();
                (
                    "message",
                    to.into_iter().collect(),
                    m.header.document_id.as_str().to_owned(),
                    None,
                    Some(m.business_doc_type().as_str()),
                )
            }
            Packet::Status(s) => (
                "status",
                vec![s.response_for.organ_id.as_str().to_owned()],
                s.response_for.document_id.as_str().to_owned(),
                Some(s.status_code.as_str().to_owned()),
                None,
            ),
        };
        let revocation = match self.path.revocation() {
            RevocationStatus::Skipped => "skipped".to_owned(),
            status if status.within_grace() => {
                "checked (a CRL is overdue but within the grace period)".to_owned()
            }
            _ => "checked".to_owned(),
        };
        Summary {
            valid: true,
            kind,
            from: self.packet.sender().as_str().to_owned(),
            to,
            document_id,
            status_code,
            business_doc_type,
            signer: Signer {
                subject: self.path.leaf_subject().to_owned(),
                issuer: self.path.leaf_issuer().to_owned(),
                serial: self.path.serial_hex().to_owned(),
                sha256: self.path.fingerprint().to_string(),
                chain: self
                    .path
                    .chain_subjects()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            },
            algorithms: AlgorithmNames::from(&self.signature.algorithms),
            revocation,
            binding: self.binding,
            legacy_sha1: self.signature.legacy_sha1,
            verified_at: self
                .path
                .verified_at()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}
