//! Revocation by CRL, decided here rather than by openssl so that freshness, the grace period and
//! failing closed are ours: for each non-anchor certificate in the path, the newest CRL that its
//! issuer signed and that covers it must not list it, and must not be overdue beyond the grace.
//! Also the evidence types of the revocation check, whether a CRL or OCSP (`ocsp`) answered.

use std::time::Duration;

use openssl::pkey::{PKey, Public};
use time::OffsetDateTime;

use super::crl::{Authorship, Crl, CrlOrigin, CrlScope};
use super::error::{ChainPosition, PkiError, ReasonText, RevocationSource};
use super::facts::CertFacts;
use super::ident::{CertId, UtcTime};

/// Whether revocation is checked at all (how: the store's CRLs, fetcher and OCSP client).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RevocationMode {
    /// Every non-anchor certificate needs a usable CRL from its issuer; without one the
    /// certificate is refused (`pki.revocation_unknown`). The default.
    #[default]
    Require,
    /// No revocation check. An explicit operator opt-out, recorded in the validated path.
    Skip,
}

/// How current the CRL (or OCSP response) that vouched for a certificate was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlFreshness {
    /// At or before nextUpdate.
    Current,
    /// Past nextUpdate by `overdue`, which is within the configured grace (`crl_grace`).
    WithinGrace {
        /// How long past nextUpdate the verification time was.
        overdue: Duration,
    },
}

/// The CRL that vouched for one certificate of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlEvidence {
    /// The certificate checked.
    pub certificate: CertId,
    /// Subject of the CRL's issuer.
    pub crl_issuer: String,
    /// CRL number, decimal.
    pub crl_number: Option<String>,
    /// thisUpdate of the CRL used.
    pub this_update: OffsetDateTime,
    /// nextUpdate of the CRL used.
    pub next_update: Option<OffsetDateTime>,
    /// Where the CRL came from.
    pub origin: CrlOrigin,
    /// Current or within grace.
    pub freshness: CrlFreshness,
}

/// The signed OCSP response that vouched for one certificate of the path (status good).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspEvidence {
    /// The certificate checked.
    pub certificate: CertId,
    /// The responder URL asked.
    pub responder: String,
    /// thisUpdate of the response's entry for the certificate.
    pub this_update: OffsetDateTime,
    /// nextUpdate of that entry, when the responder gave one.
    pub next_update: Option<OffsetDateTime>,
    /// Current or within grace, judged like a CRL at the verification time.
    pub freshness: CrlFreshness,
}

/// What vouched for one certificate of the path: a CRL, or an OCSP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationEvidence {
    /// A CRL from the certificate's issuer did not list it.
    Crl(CrlEvidence),
    /// The issuer's OCSP responder said "good" (asked only when no CRL gave a current answer).
    Ocsp(OcspEvidence),
}

impl RevocationEvidence {
    /// The certificate checked.
    pub fn certificate(&self) -> &CertId {
        match self {
            RevocationEvidence::Crl(e) => &e.certificate,
            RevocationEvidence::Ocsp(e) => &e.certificate,
        }
    }

    /// How current the CRL or OCSP response was.
    pub fn freshness(&self) -> CrlFreshness {
        match self {
            RevocationEvidence::Crl(e) => e.freshness,
            RevocationEvidence::Ocsp(e) => e.freshness,
        }
    }

    /// The CRL evidence, when a CRL vouched.
    pub fn as_crl(&self) -> Option<&CrlEvidence> {
        match self {
            RevocationEvidence::Crl(e) => Some(e),
            RevocationEvidence::Ocsp(_) => None,
        }
    }

    /// The OCSP evidence, when an OCSP response vouched.
    pub fn as_ocsp(&self) -> Option<&OcspEvidence> {
        match self {
            RevocationEvidence::Ocsp(e) => Some(e),
            RevocationEvidence::Crl(_) => None,
        }
    }
}

/// The revocation part of a validated path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Checked; one entry per non-anchor certificate, leaf first.
    Checked(Vec<RevocationEvidence>),
    /// Not checked: `RevocationMode::Skip`.
    Skipped,
}

impl RevocationStatus {
    /// Whether any CRL or OCSP response used was past its nextUpdate (accepted only thanks to
    /// the grace).
    pub fn within_grace(&self) -> bool {
        match self {
            RevocationStatus::Checked(list) => list
                .iter()
                .any(|e| matches!(e.freshness(), CrlFreshness::WithinGrace { .. })),
            RevocationStatus::Skipped => false,
        }
    }
}

/// A certificate whose revocation status is being checked.
pub(crate) struct Subject<'a> {
    pub(crate) facts: &'a CertFacts,
    pub(crate) position: ChainPosition,
}

/// The certificate that issued it (next in the path).
pub(crate) struct Issuer<'a> {
    pub(crate) facts: &'a CertFacts,
}

/// Checks one certificate against the candidate CRLs.
pub(crate) fn check(
    subject: &Subject<'_>,
    issuer: &Issuer<'_>,
    crls: &[&Crl],
    at: OffsetDateTime,
    grace: Duration,
) -> Result<CrlEvidence, PkiError> {
    let id = subject.facts.id();
    let unknown = |detail: String| PkiError::RevocationUnknown {
        position: subject.position,
        cert: id.clone(),
        issuer: issuer.facts.summary.subject.clone(),
        detail,
    };
    issuer.facts.crl_signing.clone().map_err(unknown)?;
    let key = issuer
        .facts
        .cert
        .public_key()
        .map_err(|e| unknown(format!("the issuer's public key is unreadable: {e}")))?;

    let crl = choose(subject, issuer, &key, crls, at).map_err(unknown)?;
    if let Some(entry) = crl.entry(&subject.facts.raw_serial) {
        if entry.effective <= at {
            return Err(PkiError::Revoked {
                position: subject.position,
                cert: id,
                revoked_at: UtcTime(entry.effective),
                reason: ReasonText(entry.reason),
                authority: RevocationSource::Crl {
                    issuer: crl.issuer().to_owned(),
                },
            });
        }
    }
    let freshness = freshness(crl.this_update(), crl.next_update(), at, grace).map_err(|due| {
        PkiError::CrlStale {
            position: subject.position,
            cert: id.clone(),
            crl_issuer: crl.issuer().to_owned(),
            next_update: UtcTime(due),
            grace_seconds: grace.as_secs(),
            at: UtcTime(at),
        }
    })?;
    Ok(CrlEvidence {
        certificate: id,
        crl_issuer: crl.issuer().to_owned(),
        crl_number: crl.number().map(str::to_owned),
        this_update: crl.this_update(),
        next_update: crl.next_update(),
        origin: crl.origin().clone(),
        freshness,
    })
}

/// The newest CRL that applies, or a sentence saying why none does.
fn choose<'c>(
    subject: &Subject<'_>,
    issuer: &Issuer<'_>,
    key: &PKey<Public>,
    crls: &[&'c Crl],
    at: OffsetDateTime,
) -> Result<&'c Crl, String> {
    let mut best: Option<&Crl> = None;
    let mut refused = Vec::new();
    for crl in crls {
        match applies(crl, subject, issuer, key, at) {
            Ok(()) => {
                if best.map_or(true, |b| newer(crl, b)) {
                    best = Some(crl);
                }
            }
            Err(Some(why)) => refused.push(format!("{}: {why}", crl.origin())),
            Err(None) => {}
        }
    }
    best.ok_or_else(|| {
        if refused.is_empty() {
            "no CRL from this issuer is available".to_owned()
        } else {
            format!("none of its CRLs applies ({})", refused.join("; "))
        }
    })
}

/// Whether a CRL speaks for `subject` at `at`. `Err(None)`: another issuer's CRL, not worth
/// mentioning; `Err(Some(why))`: this issuer's name, but unusable.
fn applies(
    crl: &Crl,
    subject: &Subject<'_>,
    issuer: &Issuer<'_>,
    key: &PKey<Public>,
    at: OffsetDateTime,
) -> Result<(), Option<String>> {
    match crl.authorship(issuer.facts, key) {
        Authorship::OtherIssuer => return Err(None),
        Authorship::BadSignature => {
            return Err(Some(
                "its signature does not verify under the issuer's key".to_owned(),
            ))
        }
        Authorship::Signed => {}
    }
    covers(crl.scope(), subject.facts).map_err(Some)?;
    if crl.this_update() > at {
        return Err(Some(format!(
            "it was issued at {}, after the verification time",
            UtcTime(crl.this_update())
        )));
    }
    Ok(())
}

/// Whether a CRL's scope includes the certificate (kind and distribution point).
fn covers(scope: &CrlScope, cert: &CertFacts) -> Result<(), String> {
    match scope {
        CrlScope::Unusable(why) => Err(why.clone()),
        CrlScope::Covers {
            user_certs,
            ca_certs,
            partition,
        } => {
            if cert.is_ca && !ca_certs {
                return Err("it covers only end-entity certificates".to_owned());
            }
            if !cert.is_ca && !user_certs {
                return Err("it covers only CA certificates".to_owned());
            }
            if let Some(points) = partition {
                let own = &cert.distribution_points;
                if !own.iter().any(|uri| points.contains(uri)) {
                    return Err("it covers another CRL distribution point".to_owned());
                }
            }
            Ok(())
        }
    }
}

fn newer(candidate: &Crl, best: &Crl) -> bool {
    if candidate.this_update() != best.this_update() {
        return candidate.this_update() > best.this_update();
    }
    let number = |c: &Crl| c.number().map(|n| (n.len(), n.to_owned()));
    number(candidate) > number(best)
}

/// Current, within grace, or overdue (`Err(due)`). A CRL without nextUpdate is due at once.
pub(crate) fn freshness(
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    at: OffsetDateTime,
    grace: Duration,
) -> Result<CrlFreshness, OffsetDateTime> {
    let due = next_update.unwrap_or(this_update);
    if at <= due {
        return Ok(CrlFreshness::Current);
    }
    let overdue = (at - due).unsigned_abs();
    if overdue <= grace {
        Ok(CrlFreshness::WithinGrace { overdue })
    } else {
        Err(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::facts::distribution_points;
    use time::macros::datetime;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn freshness_before_at_and_after_next_update() {
        let this = datetime!(2025-01-01 00:00 UTC);
        let next = Some(datetime!(2025-02-01 00:00 UTC));
        assert_eq!(
            freshness(this, next, datetime!(2025-01-15 00:00 UTC), Duration::ZERO),
            Ok(CrlFreshness::Current)
        );
        assert_eq!(
            freshness(this, next, datetime!(2025-02-01 00:00 UTC), Duration::ZERO),
            Ok(CrlFreshness::Current)
        );
        assert_eq!(
            freshness(this, next, datetime!(2025-02-03 00:00 UTC), 7 * DAY),
            Ok(CrlFreshness::WithinGrace { overdue: 2 * DAY })
        );
        assert_eq!(
            freshness(this, next, datetime!(2025-02-08 00:00 UTC), 7 * DAY),
            Ok(CrlFreshness::WithinGrace { overdue: 7 * DAY })
        );
        assert_eq!(
            freshness(this, next, datetime!(2025-02-08 00:00:01 UTC), 7 * DAY),
            Err(datetime!(2025-02-01 00:00 UTC))
        );
    }

    #[test]
    fn a_crl_without_next_update_is_due_at_once() {
        let this = datetime!(2025-01-01 00:00 UTC);
        assert_eq!(
            freshness(this, None, datetime!(2025-01-02 00:00 UTC), Duration::ZERO),
            Err(this)
        );
        assert_eq!(
            freshness(this, None, datetime!(2025-01-02 00:00 UTC), 2 * DAY),
            Ok(CrlFreshness::WithinGrace { overdue: DAY })
        );
    }

    #[test]
    fn reads_the_distribution_point_of_a_dev_agency() {
        let der = crate::pki::testdata::cert("agency-000.00.00.H49-rsa2048.pem")
            .to_der()
            .expect("DER");
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("parse");
        assert_eq!(
            distribution_points(&parsed),
            vec!["http://127.0.0.1:8080/pki/dev-issuing-ca.crl".to_owned()]
        );
    }

    #[test]
    fn within_grace_is_reported_only_for_overdue_crls() {
        let evidence = |freshness| CrlEvidence {
            certificate: CertId {
                subject: "CN=x".to_owned(),
                serial: "01".to_owned(),
            },
            crl_issuer: "CN=ca".to_owned(),
            crl_number: None,
            this_update: datetime!(2025-01-01 00:00 UTC),
            next_update: None,
            origin: CrlOrigin::Configured("test".to_owned()),
            freshness,
        };
        let ocsp = |freshness| {
            RevocationEvidence::Ocsp(OcspEvidence {
                certificate: CertId {
                    subject: "CN=x".to_owned(),
                    serial: "01".to_owned(),
                },
                responder: "http://127.0.0.1:8081/ocsp".to_owned(),
                this_update: datetime!(2025-01-01 00:00 UTC),
                next_update: Some(datetime!(2025-01-02 00:00 UTC)),
                freshness,
            })
        };
        let crl = |freshness| RevocationEvidence::Crl(evidence(freshness));
        let current = RevocationStatus::Checked(vec![
            crl(CrlFreshness::Current),
            ocsp(CrlFreshness::Current),
        ]);
        assert!(!current.within_grace());
        let late = RevocationStatus::Checked(vec![
            crl(CrlFreshness::Current),
            crl(CrlFreshness::WithinGrace { overdue: DAY }),
        ]);
        assert!(late.within_grace());
        let late_ocsp = RevocationStatus::Checked(vec![
            ocsp(CrlFreshness::WithinGrace { overdue: DAY }),
            crl(CrlFreshness::Current),
        ]);
        assert!(late_ocsp.within_grace());
        assert!(!RevocationStatus::Skipped.within_grace());
    }
}
