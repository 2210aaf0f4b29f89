//! Revocation by OCSP (RFC 6960): optional, off by default, and asked only when no CRL gives a
//! current answer for a certificate.
//!
//! A request for (certificate, issuer) carries a fresh 32-byte nonce and is POSTed over plain
//! HTTP with a timeout and a size cap. The response is believed only if it is signed by the
//! issuer itself or by a responder certificate that the issuer issued with the OCSP-signing EKU
//! and that is valid at the verification time; if it echoes the request's nonce (a missing nonce
//! is refused unless `require_nonce` is off); and if it lists the certificate. Its thisUpdate
//! and nextUpdate are judged at the policy's verification time with the CRL grace, never at the
//! wall clock. "good" vouches for the certificate, "revoked" (at or before the verification
//! time) refuses it; anything else — unknown, stale, unreachable, badly signed — is no answer,
//! and the CRL rules decide as if OCSP were off.
//!
//! Like CRL distribution points, responder URLs are only taken from certificates whose path to
//! a trust anchor has already been verified (or from the operator's override).

use std::sync::Arc;
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::ocsp::{
    OcspBasicResponseRef, OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse,
    OcspResponseStatus,
};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::X509Ref;
use time::OffsetDateTime;

use super::crl::reason_name;
use super::error::{PkiError, ReasonText, RevocationSource};
use super::ident::UtcTime;
use super::revocation::{freshness, Issuer, OcspEvidence, Subject};

mod der;
#[cfg(test)]
mod tests;

/// RFC 8954 allows 1 to 32 octets; the most makes a replay hardest.
const NONCE_LEN: usize = 32;

/// Same security level as path building: the responder's certificate needs 112-bit keys and
/// no SHA-1 signature.
const AUTH_LEVEL: i32 = 2;

/// Whether and how OCSP is asked. Off by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspConfig {
    /// Ask OCSP when the CRLs give no current answer. `false` by default.
    pub enabled: bool,
    /// Whole-request timeout (connect, send, receive).
    pub timeout: Duration,
    /// Largest response accepted, in bytes.
    pub max_bytes: u64,
    /// Ask this responder (an `http://` URL) for every certificate instead of the ones named
    /// in the certificates' Authority Information Access: a local responder or mirror.
    pub responder_override: Option<String>,
    /// Refuse a response that does not echo the request's nonce (a pre-computed or replayed
    /// response). `true` by default; turn off only for a responder that cannot echo nonces.
    pub require_nonce: bool,
}

impl Default for OcspConfig {
    fn default() -> Self {
        OcspConfig {
            enabled: false,
            timeout: Duration::from_secs(10),
            max_bytes: 256 * 1024,
            responder_override: None,
            require_nonce: true,
        }
    }
}

/// What a responder said about one certificate, once its response was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspAnswer {
    /// Not revoked.
    Good,
    /// Revoked at `revoked_at`.
    Revoked {
        /// revocationTime.
        revoked_at: OffsetDateTime,
        /// RFC 5280 reason name, when the responder gave one.
        reason: Option<&'static str>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A verified OCSP response's entry for one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspReply {
    /// The responder URL asked.
    pub responder: String,
    /// Good, revoked or unknown.
    pub answer: OcspAnswer,
    /// thisUpdate of the entry (to the second).
    pub this_update: OffsetDateTime,
    /// nextUpdate of the entry, when given (to the second).
    pub next_update: Option<OffsetDateTime>,
}

/// What is wrong with a response's nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceProblem {
    /// The response carries no nonce.
    Missing,
    /// The response carries another nonce than the request.
    Mismatch,
}

impl std::fmt::Display for NonceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NonceProblem::Missing => "carries no nonce",
            NonceProblem::Mismatch => "carries another nonce than the request",
        })
    }
}

/// Why an OCSP query gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    /// Only plain HTTP responders are asked.
    #[error("OCSP responder {url} is not an http:// URL; only http:// responders are asked")]
    UnsupportedUrl {
        /// The URL.
        url: String,
    },
    /// The request could not be made (an openssl failure).
    #[error("cannot build the OCSP request: {reason}")]
    Request {
        /// What openssl reported.
        reason: String,
    },
    /// No HTTP answer, an HTTP error, a timeout or a response over the size cap.
    #[error("OCSP responder {url} gave no answer: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The responder answered with an error status instead of a response.
    #[error("OCSP responder {url} refused the request ({status})")]
    Refused {
        /// The URL.
        url: String,
        /// RFC 6960 responseStatus name, e.g. `tryLater`.
        status: &'static str,
    },
    /// The answer is not a readable basic OCSP response.
    #[error("the answer of OCSP responder {url} is not a usable OCSP response: {reason}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not signed by the issuer or by a responder the issuer authorised.
    #[error(
        "the answer of OCSP responder {url} is not signed by the certificate's issuer or by a \
         responder certificate the issuer issued for OCSP signing: {reason}"
    )]
    Signature {
        /// The URL.
        url: String,
        /// What openssl reported.
        reason: String,
    },
    /// The answer does not echo the request's nonce.
    #[error(
        "the answer of OCSP responder {url} {problem}; a replayed or pre-computed answer is not \
         accepted (set require_nonce to false only for a responder that cannot echo nonces)"
    )]
    Nonce {
        /// The URL.
        url: String,
        /// Missing or different.
        problem: NonceProblem,
    },
    /// The answer does not mention the certificate asked about.
    #[error("the answer of OCSP responder {url} does not mention the certificate")]
    NotListed {
        /// The URL.
        url: String,
    },
}

impl OcspError {
    /// Stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            OcspError::UnsupportedUrl { .. } => "pki.ocsp.unsupported_url",
            OcspError::Request { .. } => "pki.ocsp.request",
            OcspError::Transport { .. } => "pki.ocsp.transport",
            OcspError::Refused { .. } => "pki.ocsp.refused",
            OcspError::Malformed { .. } => "pki.ocsp.malformed",
            OcspError::Signature { .. } => "pki.ocsp.signature",
            OcspError::Nonce { .. } => "pki.ocsp.nonce",
            OcspError::NotListed { .. } => "pki.ocsp.not_listed",
        }
    }
}

/// Asks OCSP responders. Clones share one HTTP agent.
#[derive(Clone)]
pub struct OcspClient {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    config: OcspConfig,
}

impl std::fmt::Debug for OcspClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// How one certificate fared with OCSP, for `TrustStore::validate`.
pub(crate) enum Outcome {
    /// A current (or within-grace) "good".
    Good(OcspEvidence),
    /// Revoked at or before the verification time: `PkiError::Revoked`.
    Revoked(PkiError),
    /// No usable answer; one sentence per responder asked.
    NoAnswer(Vec<String>),
}

impl OcspClient {
    /// A client for `config`. `config.enabled` is not looked at here: `TrustStore::with_ocsp`
    /// makes a client only when it is set.
    pub fn new(config: OcspConfig) -> Self {
        let agent_config = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .build();
        OcspClient {
            inner: Arc::new(Inner {
                agent: ureq::Agent::new_with_config(agent_config),
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OcspConfig {
        &self.inner.config
    }

    /// Asks the responder at `url` about `cert`, issued by `issuer`, and verifies the answer
    /// (signature and responder authority at `at`, nonce, the certificate listed). Judging
    /// thisUpdate/nextUpdate against `at` is left to the caller: see `OcspReply`.
    pub fn query(
        &self,
        url: &str,
        cert: &X509Ref,
        issuer: &X509Ref,
        at: OffsetDateTime,
    ) -> Result<OcspReply, OcspError> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce).map_err(request_failed)?;
        let request = Request::new(cert, issuer, Some(&nonce))?;
        let body = self.post(url, &request.der)?;
        read_reply(
            url,
            &body,
            &request,
            issuer,
            at,
            self.inner.config.require_nonce,
        )
    }

    /// The responders to ask about a certificate: the override, else its AIA OCSP URIs.
    #[cfg(test)]
    pub(crate) fn responders(
        &self,
        cert: &x509_parser::certificate::X509Certificate<'_>,
    ) -> Vec<String> {
        self.responders_among(&super::facts::responder_urls(cert))
    }

    /// The override, else `named` (the certificate's AIA OCSP URIs).
    fn responders_among(&self, named: &[String]) -> Vec<String> {
        match &self.inner.config.responder_override {
            Some(url) => vec![url.clone()],
            None => named.to_vec(),
        }
    }

    /// Asks each responder in turn until one says good or revoked.
    pub(crate) fn vouch(
        &self,
        subject: &Subject<'_>,
        issuer: &Issuer<'_>,
        at: OffsetDateTime,
        grace: Duration,
    ) -> Outcome {
        let urls = self.responders_among(&subject.facts.ocsp_responders);
        if urls.is_empty() {
            return Outcome::NoAnswer(vec![
                "OCSP: the certificate names no OCSP responder and no override is configured"
                    .to_owned(),
            ]);
        }
        let mut notes = Vec::new();
        for url in urls {
            let note = match self.query(&url, &subject.facts.cert, &issuer.facts.cert, at) {
                Ok(reply) => match judge(reply, subject, at, grace) {
                    Ok(Judged::Good(evidence)) => return Outcome::Good(evidence),
                    Ok(Judged::Revoked(error)) => return Outcome::Revoked(error),
                    Err(note) => note,
                },
                Err(error) => error.to_string(),
            };
            notes.push(format!("OCSP: {note}"));
        }
        Outcome::NoAnswer(notes)
    }

    /// POSTs a DER request; returns the body of a 2xx answer within the size cap.
    pub(crate) fn post(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, OcspError> {
        if !url.starts_with("http://") {
            return Err(OcspError::UnsupportedUrl {
                url: url.to_owned(),
            });
        }
        let transport = |reason: String| OcspError::Transport {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .inner
            .agent
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .header("Accept", "application/ocsp-response")
            .send(request)
            .map_err(|e| transport(format!("request failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(transport(format!("HTTP {status}")));
        }
        let max = self.inner.config.max_bytes;
        response
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    transport(format!("it sent more than the {max}-byte limit"))
                }
                other => transport(format!("reading the answer failed: {other}")),
            })
    }
}

/// A DER OCSPRequest for one certificate, and what its answer must match.
pub(crate) struct Request {
    pub(crate) der: Vec<u8>,
    id: OcspCertId,
    /// extnValue of the nonce extension sent, if any.
    nonce: Option<Vec<u8>>,
}

impl Request {
    /// The CertID uses SHA-1, as RFC 5019 requires of clients and every responder accepts; it
    /// names the certificate, it does not protect anything.
    pub(crate) fn new(
        cert: &X509Ref,
        issuer: &X509Ref,
        nonce: Option<&[u8]>,
    ) -> Result<Self, OcspError> {
        let id = || OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer);
        let mut request = OcspRequest::new().map_err(request_failed)?;
        request
            .add_id(id().map_err(request_failed)?)
            .map_err(request_failed)?;
        let plain = request.to_der().map_err(request_failed)?;
        let (der, nonce) = match nonce {
            None => (plain, None),
            Some(bytes) => {
                let value = der::nonce_value(bytes);
                let der = der::with_nonce(&plain, &value)
                    .map_err(|reason| OcspError::Request { reason })?;
                (der, Some(value))
            }
        };
        Ok(Request {
            der,
            id: id().map_err(request_failed)?,
            nonce,
        })
    }
}

fn request_failed(e: ErrorStack) -> OcspError {
    OcspError::Request {
        reason: e.to_string(),
    }
}

/// Reads and verifies a responder's answer to `request`.
fn read_reply(
    url: &str,
    body: &[u8],
    request: &Request,
    issuer: &X509Ref,
    at: OffsetDateTime,
    require_nonce: bool,
) -> Result<OcspReply, OcspError> {
    let malformed = |reason: String| OcspError::Malformed {
        url: url.to_owned(),
        reason,
    };
    let response = OcspResponse::from_der(body).map_err(|e| malformed(e.to_string()))?;
    let status = response.status();
    if status != OcspResponseStatus::SUCCESSFUL {
        return Err(OcspError::Refused {
            url: url.to_owned(),
            status: status_name(status),
        });
    }
    let basic = response
        .basic()
        .map_err(|e| malformed(format!("no basic response: {e}")))?;
    let extensions = der::response_extensions(body).map_err(malformed)?;
    verify_signer(&basic, issuer, at).map_err(|reason| OcspError::Signature {
        url: url.to_owned(),
        reason,
    })?;
    check_nonce(&extensions, request.nonce.as_deref(), require_nonce).map_err(|problem| {
        OcspError::Nonce {
            url: url.to_owned(),
            problem,
        }
    })?;
    if let Some(unknown) = extensions
        .iter()
        .find(|e| e.critical && e.oid != der::NONCE_OID)
    {
        return Err(malformed(format!(
            "it has an unsupported critical extension {}",
            unknown.oid_string()
        )));
    }
    let entry = basic
        .find_status(&request.id)
        .ok_or_else(|| OcspError::NotListed {
            url: url.to_owned(),
        })?;
    let this_update = der::printed_time(&entry.this_update.to_string()).map_err(malformed)?;
    let next_update = entry
        .next_update()
        .map(|t| der::printed_time(&t.to_string()))
        .transpose()
        .map_err(malformed)?;
    if next_update.is_some_and(|next| next < this_update) {
        return Err(malformed(
            "its nextUpdate is before its thisUpdate".to_owned(),
        ));
    }
    let answer = if entry.status == OcspCertStatus::GOOD {
        OcspAnswer::Good
    } else if entry.status == OcspCertStatus::REVOKED {
        let time = entry
            .revocation_time
            .ok_or_else(|| malformed("a revoked entry has no revocationTime".to_owned()))?;
        OcspAnswer::Revoked {
            revoked_at: der::printed_time(&time.to_string()).map_err(malformed)?,
            reason: u8::try_from(entry.reason.as_raw()).ok().map(reason_name),
        }
    } else {
        OcspAnswer::Unknown
    };
    Ok(OcspReply {
        responder: url.to_owned(),
        answer,
        this_update,
        next_update,
    })
}

/// Verifies the response signature and that the signer is the issuer, or was issued by it with
/// the OCSP-signing EKU, at `at`.
///
/// openssl does the work: the issuer is the only trust anchor (a partial chain), so a signer
/// must chain to it, and openssl then requires the signer to be the CertID's issuer or a
/// certificate issued by it with the OCSP-signing EKU. `NO_EXPLICIT` turns off its fallback of
/// accepting a signer whose top certificate is marked trusted for OCSP signing, leaving exactly
/// RFC 6960 §4.2.2.2's two cases.
fn verify_signer(
    basic: &OcspBasicResponseRef,
    issuer: &X509Ref,
    at: OffsetDateTime,
) -> Result<(), String> {
    let failed = |e: ErrorStack| e.to_string();
    // time_t is i64 on the platforms we build for; the conversion stays for the others.
    #[allow(clippy::useless_conversion)]
    let time = at
        .unix_timestamp()
        .try_into()
        .map_err(|_| format!("verification time {} is out of range", UtcTime(at)))?;
    let mut param = X509VerifyParam::new().map_err(failed)?;
    param.set_time(time);
    param.set_auth_level(AUTH_LEVEL);
    param
        .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
        .map_err(failed)?;
    let mut store = X509StoreBuilder::new().map_err(failed)?;
    store.add_cert(issuer.to_owned()).map_err(failed)?;
    store.set_param(&param).map_err(failed)?;
    let store = store.build();
    // Responses signed by the issuer often carry no certificate: offer it.
    let mut known = Stack::new().map_err(failed)?;
    known.push(issuer.to_owned()).map_err(failed)?;
    basic
        .verify(&known, &store, OcspFlag::NO_EXPLICIT)
        .map_err(failed)
}

/// Whether the response's nonce extension is the one sent.
fn check_nonce(
    extensions: &[der::Extension],
    sent: Option<&[u8]>,
    required: bool,
) -> Result<(), NonceProblem> {
    let received = extensions
        .iter()
        .find(|e| e.oid == der::NONCE_OID)
        .map(|e| e.value.as_slice());
    match (sent, received) {
        (Some(sent), Some(received)) if sent == received => Ok(()),
        (_, Some(_)) => Err(NonceProblem::Mismatch),
        (Some(_), None) if required => Err(NonceProblem::Missing),
        (_, None) => Ok(()),
    }
}

enum Judged {
    Good(OcspEvidence),
    Revoked(PkiError),
}

/// What a verified reply means at `at`: good (fresh enough), revoked, or a note saying why it
/// decides nothing.
fn judge(
    reply: OcspReply,
    subject: &Subject<'_>,
    at: OffsetDateTime,
    grace: Duration,
) -> Result<Judged, String> {
    let cert = subject.facts.id();
    match reply.answer {
        OcspAnswer::Revoked { revoked_at, reason } if revoked_at <= at => {
            Ok(Judged::Revoked(PkiError::Revoked {
                position: subject.position,
                cert,
                revoked_at: UtcTime(revoked_at),
                reason: ReasonText(reason),
                authority: RevocationSource::Ocsp {
                    responder: reply.responder,
                },
            }))
        }
        OcspAnswer::Revoked { revoked_at, .. } => Err(format!(
            "responder {} says the certificate was revoked at {}, after the verification \
             time {}; that is not taken as good",
            reply.responder,
            UtcTime(revoked_at),
            UtcTime(at)
        )),
        OcspAnswer::Unknown => Err(format!(
            "responder {} does not know the certificate (status unknown)",
            reply.responder
        )),
        OcspAnswer::Good => match freshness(reply.this_update, reply.next_update, at, grace) {
            Ok(freshness) => Ok(Judged::Good(OcspEvidence {
                certificate: cert,
                responder: reply.responder,
                this_update: reply.this_update,
                next_update: reply.next_update,
                freshness,
            })),
            Err(due) => Err(format!(
                "the answer of responder {} was due for renewal at {}, more than the allowed \
                 grace of {} s before the verification time {}",
                reply.responder,
                UtcTime(due),
                grace.as_secs(),
                UtcTime(at)
            )),
        },
    }
}

/// RFC 6960 §4.2.1 names of the error statuses.
fn status_name(status: OcspResponseStatus) -> &'static str {
    match status.as_raw() {
        1 => "malformedRequest",
        2 => "internalError",
        3 => "tryLater",
        5 => "sigRequired",
        6 => "unauthorized",
        _ => "an unknown status",
    }
}
