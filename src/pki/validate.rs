//! `TrustStore::validate`: path to an anchor at a fixed time, leaf key usage, then revocation of
//! every non-anchor certificate (configured CRLs, then distribution points, then OCSP, each only
//! when the previous gave no current answer). The result is a `ValidatedPath`, which only this
//! function makes.
//!
//! A signer seen before (same leaf, same presented certificates) reuses the path openssl
//! verified the first time when every certificate of it is strictly inside its validity period
//! at the verification time (`memo`); revocation is judged afresh on every call.

use std::sync::Arc;
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::x509::{X509Ref, X509};
use time::OffsetDateTime;

use super::crl::Crl;
use super::error::{ChainPosition, PkiError};
use super::facts::parse;
pub use super::facts::CertSummary;
use super::ident::{CertId, Fingerprint};
use super::memo::{PathKey, VerifiedPath, MAX_PRESENTED};
use super::ocsp::Outcome;
use super::path;
use super::revocation::{
    self, CrlEvidence, CrlFreshness, Issuer, RevocationEvidence, RevocationMode, RevocationStatus,
    Subject,
};
use super::store::TrustStore;

/// When and how strictly to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// The verification time: validity periods, revocation dates and CRL freshness are judged
    /// at this instant.
    pub at: OffsetDateTime,
    /// How long past its nextUpdate a CRL, or an OCSP response, is still accepted (the path
    /// then says so).
    pub crl_grace: Duration,
    /// Whether revocation is checked.
    pub revocation: RevocationMode,
}

impl ValidationPolicy {
    /// Validation at `at`, revocation required, no CRL grace.
    pub fn at(at: OffsetDateTime) -> Self {
        ValidationPolicy {
            at,
            crl_grace: Duration::ZERO,
            revocation: RevocationMode::Require,
        }
    }

    /// Validation now, revocation required, no CRL grace.
    pub fn now() -> Self {
        ValidationPolicy::at(OffsetDateTime::now_utc())
    }

    /// The same policy with another CRL (and OCSP) grace period.
    pub fn with_crl_grace(self, crl_grace: Duration) -> Self {
        ValidationPolicy { crl_grace, ..self }
    }

    /// The same policy with another revocation mode.
    pub fn with_revocation(self, revocation: RevocationMode) -> Self {
        ValidationPolicy { revocation, ..self }
    }
}

/// Proof that a signing certificate chained to a trust anchor, may sign, and was not revoked,
/// at `verified_at`. Only `TrustStore::validate` makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedPath {
    leaf: CertSummary,
    issuers: Vec<CertSummary>,
    revocation: RevocationStatus,
    verified_at: OffsetDateTime,
}

impl ValidatedPath {
    /// The signing certificate.
    pub fn leaf(&self) -> &CertSummary {
        &self.leaf
    }

    /// Its subject, RFC 4514.
    pub fn leaf_subject(&self) -> &str {
        &self.leaf.subject
    }

    /// Its issuer, RFC 4514.
    pub fn leaf_issuer(&self) -> &str {
        &self.leaf.issuer
    }

    /// Its serial number, lowercase hex.
    pub fn serial_hex(&self) -> &str {
        &self.leaf.serial
    }

    /// SHA-256 of its DER encoding.
    pub fn fingerprint(&self) -> Fingerprint {
        self.leaf.sha256
    }

    /// The whole path, leaf first, trust anchor last.
    pub fn chain(&self) -> impl Iterator<Item = &CertSummary> {
        std::iter::once(&self.leaf).chain(self.issuers.iter())
    }

    /// Subjects of the path, leaf first, trust anchor last.
    pub fn chain_subjects(&self) -> Vec<&str> {
        self.chain().map(|c| c.subject.as_str()).collect()
    }

    /// The trust anchor the path ends at.
    pub fn anchor(&self) -> &CertSummary {
        self.issuers.last().unwrap_or(&self.leaf)
    }

    /// The revocation evidence (or that it was skipped).
    pub fn revocation(&self) -> &RevocationStatus {
        &self.revocation
    }

    /// The verification time used.
    pub fn verified_at(&self) -> OffsetDateTime {
        self.verified_at
    }
}

impl TrustStore {
    /// Validates a signing certificate at `policy.at`.
    ///
    /// `presented` are the certificates that came with the signature (e.g. KeyInfo): they may
    /// supply intermediates but are trusted for nothing by themselves.
    pub fn validate(
        &self,
        leaf: &X509,
        presented: &[X509],
        policy: &ValidationPolicy,
    ) -> Result<ValidatedPath, PkiError> {
        let leaf_der = der_of(leaf, "the signing certificate")?;
        let presented_ders: Vec<Result<Vec<u8>, ErrorStack>> =
            presented.iter().map(|cert| cert.to_der()).collect();
        let key = path_key(&leaf_der, &presented_ders);
        let known = key.as_ref().and_then(|key| self.memo.path(key, policy.at));
        let path = match known {
            Some(path) => path,
            None => self.verify_path(leaf, &leaf_der, presented, &presented_ders, key, policy)?,
        };
        self.finish(&path, policy)
    }

    /// openssl builds and verifies the path at `policy.at`; the leaf must then be allowed to
    /// sign. A path that passes is remembered under `key`.
    fn verify_path(
        &self,
        leaf: &X509,
        leaf_der: &[u8],
        presented: &[X509],
        presented_ders: &[Result<Vec<u8>, ErrorStack>],
        key: Option<PathKey>,
        policy: &ValidationPolicy,
    ) -> Result<Arc<VerifiedPath>, PkiError> {
        parse(leaf_der, "the signing certificate")?;
        for (index, der) in presented_ders.iter().enumerate() {
            let what = format!("presented certificate #{}", index + 1);
            let der = der.as_ref().map_err(|e| PkiError::BadCertificate {
                what: what.clone(),
                reason: e.to_string(),
            })?;
            parse(der, &what)?;
        }
        let untrusted: Vec<X509> = self
            .intermediates
            .iter()
            .chain(presented.iter())
            .cloned()
            .collect();
        let chain = path::build(&self.anchors, &untrusted, leaf, policy.at)?;

        let facts = chain
            .iter()
            .map(|cert| {
                let what = "a certificate of the path";
                self.memo.facts(cert, &der_of(cert, what)?, what)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let path = Arc::new(VerifiedPath::new(facts).ok_or_else(|| untrusted_empty(leaf))?);
        let signer = path.leaf();
        signer
            .signing_use
            .clone()
            .map_err(|problem| PkiError::KeyUsage {
                cert: signer.id(),
                problem,
            })?;
        if let Some(key) = key {
            self.memo.remember_path(key, &path, policy.at);
        }
        Ok(path)
    }

    /// Revocation of a verified path (leaf first, anchor last), and what the caller is told.
    fn finish(
        &self,
        path: &VerifiedPath,
        policy: &ValidationPolicy,
    ) -> Result<ValidatedPath, PkiError> {
        let revocation = match policy.revocation {
            RevocationMode::Skip => RevocationStatus::Skipped,
            RevocationMode::Require => {
                RevocationStatus::Checked(self.check_revocation(path, policy)?)
            }
        };
        Ok(ValidatedPath {
            leaf: path.leaf().summary.clone(),
            issuers: path.certs().skip(1).map(|c| c.summary.clone()).collect(),
            revocation,
            verified_at: policy.at,
        })
    }

    /// One revocation verdict per certificate below the anchor, leaf first.
    fn check_revocation(
        &self,
        path: &VerifiedPath,
        policy: &ValidationPolicy,
    ) -> Result<Vec<RevocationEvidence>, PkiError> {
        let mut evidence = Vec::new();
        for (depth, (subject, issuer)) in path.links().enumerate() {
            let position = if depth == 0 {
                ChainPosition::Leaf
            } else {
                ChainPosition::Intermediate
            };
            let subject = Subject {
                facts: subject,
                position,
            };
            let issuer = Issuer { facts: issuer };
            evidence.push(self.check_one(&subject, &issuer, policy)?);
        }
        Ok(evidence)
    }

    /// The CRLs first; OCSP only when they give no current answer. A CRL that lists the
    /// certificate therefore always wins, and when OCSP has no answer either the CRL verdict
    /// (within grace, stale or unknown) stands, with OCSP's reasons added to an unknown one.
    fn check_one(
        &self,
        subject: &Subject<'_>,
        issuer: &Issuer<'_>,
        policy: &ValidationPolicy,
    ) -> Result<RevocationEvidence, PkiError> {
        let by_crl = self.check_crls(subject, issuer, policy);
        let client = match &self.ocsp {
            Some(client) if !settled(&by_crl) => client,
            _ => return by_crl.map(RevocationEvidence::Crl),
        };
        match client.vouch(subject, issuer, policy.at, policy.crl_grace) {
            Outcome::Good(evidence) => Ok(RevocationEvidence::Ocsp(evidence)),
            Outcome::Revoked(error) => Err(error),
            Outcome::NoAnswer(notes) => by_crl
                .map(RevocationEvidence::Crl)
                .map_err(|e| with_details(e, &notes)),
        }
    }

    /// Configured CRLs first; the distribution points only when they give no current answer.
    /// A fetcher in the background still learns the distribution points when a configured CRL
    /// answered, so that a fetched successor is in hand before the configured one falls due.
    fn check_crls(
        &self,
        subject: &Subject<'_>,
        issuer: &Issuer<'_>,
        policy: &ValidationPolicy,
    ) -> Result<CrlEvidence, PkiError> {
        let configured: Vec<&Crl> = self.crls.iter().collect();
        let first = revocation::check(subject, issuer, &configured, policy.at, policy.crl_grace);
        let urls = &subject.facts.distribution_points;
        let fetcher = match &self.fetcher {
            Some(fetcher) if !settled(&first) => fetcher,
            Some(fetcher) => {
                fetcher.watch(urls);
                return first;
            }
            None => return first,
        };
        if urls.is_empty() {
            return first;
        }
        let (fetched, failures): (Vec<Arc<Crl>>, Vec<String>) = fetcher.crls_for(urls);
        let mut candidates = configured;
        candidates.extend(fetched.iter().map(|crl| crl.as_ref()));
        let second = revocation::check(subject, issuer, &candidates, policy.at, policy.crl_grace);
        second.map_err(|e| with_details(e, &failures))
    }
}

/// Whether a CRL verdict is final: a current CRL, or one that lists the certificate.
fn settled(verdict: &Result<CrlEvidence, PkiError>) -> bool {
    match verdict {
        Ok(evidence) => evidence.freshness == CrlFreshness::Current,
        Err(e) => matches!(e, PkiError::Revoked { .. }),
    }
}

/// Adds why the fetches or OCSP gave nothing to a "revocation unknown" refusal.
fn with_details(error: PkiError, details: &[String]) -> PkiError {
    match error {
        PkiError::RevocationUnknown {
            position,
            cert,
            issuer,
            detail,
        } if !details.is_empty() => PkiError::RevocationUnknown {
            position,
            cert,
            issuer,
            detail: format!("{detail}; {}", details.join("; ")),
        },
        other => other,
    }
}

fn untrusted_empty(leaf: &X509Ref) -> PkiError {
    PkiError::Untrusted {
        cert: CertId::of(leaf),
        reason: "openssl returned an empty path".to_owned(),
    }
}

fn der_of(cert: &X509Ref, what: &str) -> Result<Vec<u8>, PkiError> {
    cert.to_der().map_err(|e| PkiError::BadCertificate {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// The memo key of a leaf and the certificates presented with it; none when a certificate has no
/// DER encoding (the full validation then says which) or too many were presented.
fn path_key(leaf_der: &[u8], presented: &[Result<Vec<u8>, ErrorStack>]) -> Option<PathKey> {
    if presented.len() > MAX_PRESENTED {
        return None;
    }
    let mut key = Vec::with_capacity(presented.len() + 1);
    key.push(Fingerprint::of_der(leaf_der));
    for der in presented {
        key.push(Fingerprint::of_der(der.as_ref().ok()?));
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::testdata::{self, store, store_with_crls, AT};
    use time::macros::datetime;

    const DAY: Duration = Duration::from_secs(86_400);

    fn validate(
        store: &TrustStore,
        leaf: &str,
        policy: ValidationPolicy,
    ) -> Result<ValidatedPath, PkiError> {
        store.validate(&testdata::cert(leaf), &[], &policy)
    }

    fn code(result: Result<ValidatedPath, PkiError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn good_agency_certificates_validate_rsa_and_ec() {
        let store = store();
        for name in [
            "agency-000.00.00.G22-rsa2048.pem",
            "agency-000.00.00.G22-p256.pem",
            "agency-000.00.00.H49-rsa2048.pem",
            "agency-000.00.00.H49-p384.pem",
            "agency-000.01.01.H49-rsa2048.pem",
            "agency-000.00.00.H08-rsa2048.pem",
            "agency-000.00.00.H08-rsa3072.pem",
            "server-receipts-p256.pem",
        ] {
            let path = validate(&store, name, ValidationPolicy::at(AT))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(path.chain_subjects().len(), 3, "{name}");
            assert!(!path.revocation().within_grace());
        }
    }

    #[test]
    fn the_validated_path_describes_the_leaf_and_its_chain() {
        let leaf = testdata::cert("agency-000.00.00.H49-p384.pem");
        let path = store()
            .validate(&leaf, &[], &ValidationPolicy::at(AT))
            .expect("valid");
        assert_eq!(
            path.leaf_subject(),
            "CN=Ủy ban nhân dân tỉnh Quảng Ninh (DEV),O=Ủy ban nhân dân tỉnh Quảng Ninh (DEV),ST=Quảng Ninh,C=VN"
        );
        assert!(path
            .leaf_issuer()
            .starts_with("CN=Cục Chứng thực số và Bảo mật thông tin (DEV ISSUING CA)"));
        assert_eq!(path.fingerprint(), Fingerprint::of(&leaf).expect("digest"));
        let serial = leaf
            .serial_number()
            .to_bn()
            .expect("bn")
            .to_hex_str()
            .expect("hex")
            .to_ascii_lowercase();
        assert_eq!(path.serial_hex(), serial);
        assert_eq!(path.leaf().not_before, datetime!(2025-01-01 00:00 UTC));
        assert_eq!(path.leaf().not_after, datetime!(2045-01-01 00:00 UTC));
        assert_eq!(
            path.anchor().subject,
            "CN=Cơ quan chứng thực số chuyên dùng Chính phủ (DEV ROOT),O=Ban Cơ yếu Chính phủ,C=VN"
        );
        assert_eq!(path.verified_at(), AT);
        let RevocationStatus::Checked(evidence) = path.revocation() else {
            panic!("revocation was checked");
        };
        assert_eq!(evidence.len(), 2);
        assert_eq!(evidence[0].certificate().subject, path.leaf_subject());
        let leaf_crl = evidence[0].as_crl().expect("a CRL vouched");
        assert_eq!(leaf_crl.crl_number.as_deref(), Some("2"));
        assert_eq!(leaf_crl.freshness, CrlFreshness::Current);
        assert!(evidence[1].certificate().subject.contains("DEV ISSUING CA"));
        let ca_crl = evidence[1].as_crl().expect("a CRL vouched");
        assert!(ca_crl.crl_issuer.contains("DEV ROOT"));
    }

    #[test]
    fn validates_now_too() {
        let result = validate(
            &store(),
            "agency-000.00.00.G22-rsa2048.pem",
            ValidationPolicy::now(),
        );
        assert_eq!(code(result), "ok");
    }

    #[test]
    fn each_bad_case_gives_its_code() {
        let store = store();
        for (name, expected) in [
            ("bad-expired.pem", "pki.expired"),
            ("bad-not-yet-valid.pem", "pki.not_yet_valid"),
            ("bad-revoked.pem", "pki.revoked"),
            ("bad-foreign-leaf.pem", "pki.untrusted"),
            ("bad-impostor-leaf.pem", "pki.untrusted"),
            ("bad-no-signing-usage.pem", "pki.key_usage"),
            ("bad-no-key-usage.pem", "pki.key_usage"),
            ("bad-ca-as-leaf.pem", "pki.key_usage"),
        ] {
            assert_eq!(
                code(validate(&store, name, ValidationPolicy::at(AT))),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn errors_name_the_certificate_by_subject_and_serial() {
        let leaf = testdata::cert("bad-expired.pem");
        let err = store()
            .validate(&leaf, &[], &ValidationPolicy::at(AT))
            .expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("CN=Chứng thư đã hết hạn (DEV)"), "{text}");
        assert!(text.contains(&CertId::of(&leaf).serial), "{text}");
        assert!(text.contains("2021-01-01T00:00:00Z"), "{text}");
        assert!(matches!(
            err,
            PkiError::Expired {
                position: ChainPosition::Leaf,
                ..
            }
        ));

        let err =
            validate(&store(), "bad-revoked.pem", ValidationPolicy::at(AT)).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("revoked at 2025-03-01T00:00:00Z (reason: keyCompromise)"),
            "{text}"
        );
        assert!(
            text.contains("according to the CRL of \"CN=Cục Chứng thực số"),
            "{text}"
        );
        assert!(text.contains("CN=Chứng thư đã bị thu hồi (DEV)"), "{text}");
    }

    #[test]
    fn a_ca_outside_its_validity_is_named_as_such() {
        // In 2024 the root and the issuing CA did not exist yet: the path is refused at a CA.
        let err = validate(
            &store(),
            "agency-000.00.00.G22-rsa2048.pem",
            ValidationPolicy::at(datetime!(2024-06-01 00:00 UTC)),
        )
        .expect_err("refused");
        assert_eq!(err.code(), "pki.not_yet_valid");
        assert!(
            matches!(
                &err,
                PkiError::NotYetValid {
                    position: ChainPosition::Anchor | ChainPosition::Intermediate,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("DEV"), "{err}");
    }

    #[test]
    fn a_missing_crl_is_revocation_unknown_for_leaf_and_intermediate() {
        let no_issuing_crl = store_with_crls(&["root-ca.crl.pem"]);
        let err = validate(
            &no_issuing_crl,
            "agency-000.00.00.G22-rsa2048.pem",
            ValidationPolicy::at(AT),
        )
        .err();
        assert!(
            matches!(
                err,
                Some(PkiError::RevocationUnknown {
                    position: ChainPosition::Leaf,
                    ..
                })
            ),
            "{err:?}"
        );

        let no_root_crl = store_with_crls(&["issuing-ca.crl.pem"]);
        let err = validate(
            &no_root_crl,
            "agency-000.00.00.G22-rsa2048.pem",
            ValidationPolicy::at(AT),
        )
        .err();
        assert!(
            matches!(
                err,
                Some(PkiError::RevocationUnknown {
                    position: ChainPosition::Intermediate,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_crl_signed_by_another_key_is_not_believed() {
        // The impostor's CRL carries the issuing CA's name and lists nothing.
        let forged = store_with_crls(&["root-ca.crl.pem", "impostor-issuing-ca.crl.pem"]);
        let err =
            validate(&forged, "bad-revoked.pem", ValidationPolicy::at(AT)).expect_err("refused");
        assert_eq!(err.code(), "pki.revocation_unknown");
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
    }

    #[test]
    fn delta_partitioned_and_ca_only_crls_do_not_vouch_for_a_leaf() {
        for crl in [
            "issuing-ca-delta.crl.pem",
            "issuing-ca-ca-only.crl.pem",
            "issuing-ca-other-partition.crl.pem",
        ] {
            let store = store_with_crls(&["root-ca.crl.pem", crl]);
            let result = validate(
                &store,
                "agency-000.00.00.G22-rsa2048.pem",
                ValidationPolicy::at(AT),
            );
            assert_eq!(code(result), "pki.revocation_unknown", "{crl}");
        }
        // With the real CRL beside them, the real one is used even though their numbers are higher.
        let all = store_with_crls(&[
            "root-ca.crl.pem",
            "issuing-ca-delta.crl.pem",
            "issuing-ca-ca-only.crl.pem",
            "issuing-ca-other-partition.crl.pem",
            "issuing-ca.crl.pem",
        ]);
        assert_eq!(
            code(validate(&all, "bad-revoked.pem", ValidationPolicy::at(AT))),
            "pki.revoked"
        );
        let path = validate(
            &all,
            "agency-000.00.00.G22-rsa2048.pem",
            ValidationPolicy::at(AT),
        )
        .expect("valid");
        let RevocationStatus::Checked(evidence) = path.revocation() else {
            panic!("checked");
        };
        assert_eq!(
            evidence[0].as_crl().and_then(|e| e.crl_number.as_deref()),
            Some("2")
        );
    }

    #[test]
    fn a_stale_crl_is_accepted_within_grace_and_refused_after() {
        let stale = store_with_crls(&["root-ca.crl.pem", "issuing-ca-stale.crl.pem"]);
        let leaf = "agency-000.00.00.G22-rsa2048.pem";
        // The stale CRL was due on 2025-02-01.
        let two_days_late = ValidationPolicy::at(datetime!(2025-02-03 00:00 UTC));
        assert_eq!(code(validate(&stale, leaf, two_days_late)), "pki.crl_stale");

        let path =
            validate(&stale, leaf, two_days_late.with_crl_grace(7 * DAY)).expect("within grace");
        assert!(path.revocation().within_grace());
        let RevocationStatus::Checked(evidence) = path.revocation() else {
            panic!("checked");
        };
        assert_eq!(
            evidence[0].freshness(),
            CrlFreshness::WithinGrace { overdue: 2 * DAY }
        );
        assert_eq!(evidence[1].freshness(), CrlFreshness::Current);

        let err = validate(
            &stale,
            leaf,
            ValidationPolicy::at(AT).with_crl_grace(30 * DAY),
        )
        .expect_err("stale");
        assert_eq!(err.code(), "pki.crl_stale");
        assert!(err.to_string().contains("2025-02-01T00:00:00Z"), "{err}");
    }

    #[test]
    fn a_newer_crl_replaces_a_stale_one() {
        let both = store_with_crls(&[
            "root-ca.crl.pem",
            "issuing-ca-stale.crl.pem",
            "issuing-ca.crl.pem",
        ]);
        assert_eq!(
            code(validate(
                &both,
                "agency-000.00.00.G22-rsa2048.pem",
                ValidationPolicy::at(AT)
            )),
            "ok"
        );
        // The January CRL did not list the revocation of March; the June one does.
        assert_eq!(
            code(validate(&both, "bad-revoked.pem", ValidationPolicy::at(AT))),
            "pki.revoked"
        );
    }

    #[test]
    fn skip_mode_checks_no_crl_and_says_so() {
        let no_crls = store_with_crls(&[]);
        let skip = ValidationPolicy::at(AT).with_revocation(RevocationMode::Skip);
        let path = validate(&no_crls, "agency-000.00.00.G22-rsa2048.pem", skip).expect("valid");
        assert_eq!(path.revocation(), &RevocationStatus::Skipped);
        assert_eq!(
            code(validate(
                &no_crls,
                "agency-000.00.00.G22-rsa2048.pem",
                ValidationPolicy::at(AT)
            )),
            "pki.revocation_unknown"
        );
        // Skip turns off revocation only: the other rules still hold.
        assert_eq!(
            code(validate(&no_crls, "bad-expired.pem", skip)),
            "pki.expired"
        );
        assert_eq!(
            code(validate(&no_crls, "bad-no-key-usage.pem", skip)),
            "pki.key_usage"
        );
    }

    #[test]
    fn presented_intermediates_build_the_path_but_are_not_trusted() {
        let crls = [
            testdata::read("root-ca.crl.pem"),
            testdata::read("issuing-ca.crl.pem"),
        ]
        .concat();
        let anchors_only =
            TrustStore::from_pem(&testdata::read("trust.pem"), b"", &crls).expect("store");
        let leaf = testdata::cert("agency-000.00.00.G22-rsa2048.pem");
        let policy = ValidationPolicy::at(AT);
        assert_eq!(
            code(anchors_only.validate(&leaf, &[], &policy)),
            "pki.untrusted"
        );
        let issuing = testdata::cert("issuing-ca.pem");
        assert_eq!(
            code(anchors_only.validate(&leaf, &[issuing], &policy)),
            "ok"
        );
        // A foreign root presented with its leaf is still not a trust anchor.
        let foreign = testdata::cert("bad-foreign-leaf.pem");
        let foreign_root = testdata::cert("foreign-root-ca.pem");
        assert_eq!(
            code(anchors_only.validate(&foreign, &[foreign_root], &policy)),
            "pki.untrusted"
        );
        // Nor is the impostor CA that shares the issuing CA's name.
        let impostor = testdata::cert("bad-impostor-leaf.pem");
        let impostor_ca = testdata::cert("impostor-issuing-ca.pem");
        assert_eq!(
            code(store().validate(&impostor, &[impostor_ca], &policy)),
            "pki.untrusted"
        );
    }

    #[test]
    fn an_anchor_presented_as_the_leaf_is_not_a_signing_certificate() {
        let root = testdata::cert("root-ca.pem");
        let result = store().validate(&root, &[], &ValidationPolicy::at(AT));
        assert_ne!(code(result), "ok");
    }

    /// Every verdict — the path, its evidence, or the error and its wording — of a store that
    /// has validated before equals that of a store that never has.
    #[test]
    fn a_warm_store_judges_like_a_cold_one() {
        let crl_sets: [&[&str]; 3] = [
            &["root-ca.crl.pem", "issuing-ca.crl.pem"],
            &[
                "root-ca.crl.pem",
                "issuing-ca-stale.crl.pem",
                "issuing-ca.crl.pem",
            ],
            &["root-ca.crl.pem", "issuing-ca-stale.crl.pem"],
        ];
        let cases: [(&str, &[&str]); 8] = [
            ("agency-000.00.00.G22-rsa2048.pem", &[]),
            ("agency-000.00.00.G22-p256.pem", &["issuing-ca.pem"]),
            (
                "agency-000.00.00.H49-p384.pem",
                &["issuing-ca.pem", "root-ca.pem"],
            ),
            ("bad-revoked.pem", &[]),
            ("bad-expired.pem", &["issuing-ca.pem"]),
            ("bad-no-key-usage.pem", &[]),
            ("bad-impostor-leaf.pem", &["impostor-issuing-ca.pem"]),
            ("bad-foreign-leaf.pem", &["foreign-root-ca.pem"]),
        ];
        let times = [
            AT,
            datetime!(2024-12-31 23:59:59.5 UTC),
            datetime!(2025-01-01 00:00 UTC),
            datetime!(2025-01-01 00:00:00.5 UTC),
            datetime!(2025-01-15 00:00 UTC),
            datetime!(2025-02-03 00:00 UTC),
            datetime!(2025-03-15 00:00 UTC),
            datetime!(2044-12-31 23:59:59.5 UTC),
            datetime!(2045-01-01 00:00 UTC),
            datetime!(2045-01-01 00:00:00.5 UTC),
        ];
        for crls in crl_sets {
            let warm = store_with_crls(crls);
            for (leaf, presented) in cases {
                let leaf_cert = testdata::cert(leaf);
                let presented: Vec<X509> = presented.iter().map(|p| testdata::cert(p)).collect();
                for at in times {
                    for grace in [Duration::ZERO, 7 * DAY] {
                        let policy = ValidationPolicy::at(at).with_crl_grace(grace);
                        let cold = store_with_crls(crls).validate(&leaf_cert, &presented, &policy);
                        // Twice: the second answer comes from whatever the first one left behind.
                        for _ in 0..2 {
                            let again = warm.validate(&leaf_cert, &presented, &policy);
                            assert_eq!(
                                format!("{again:?}"),
                                format!("{cold:?}"),
                                "{leaf} at {at} with {crls:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn revocation_is_judged_at_every_call_even_for_a_known_path() {
        let store = store_with_crls(&[
            "root-ca.crl.pem",
            "issuing-ca-stale.crl.pem",
            "issuing-ca.crl.pem",
        ]);
        let leaf = testdata::cert("bad-revoked.pem");
        let in_january = ValidationPolicy::at(datetime!(2025-01-15 00:00 UTC));
        // In January 2025 only the January CRL existed, and it did not list the certificate.
        assert_eq!(code(store.validate(&leaf, &[], &in_january)), "ok");
        assert_eq!(
            code(store.validate(&leaf, &[], &ValidationPolicy::at(AT))),
            "pki.revoked"
        );
        assert_eq!(code(store.validate(&leaf, &[], &in_january)), "ok");
        let skip = ValidationPolicy::at(AT).with_revocation(RevocationMode::Skip);
        assert_eq!(code(store.validate(&leaf, &[], &skip)), "ok");
        assert_eq!(
            code(store.validate(&leaf, &[], &ValidationPolicy::at(AT))),
            "pki.revoked"
        );
    }

    #[test]
    fn a_known_path_is_not_reused_past_its_validity() {
        let store = store();
        let leaf = testdata::cert("agency-000.00.00.G22-rsa2048.pem");
        assert_eq!(
            code(store.validate(&leaf, &[], &ValidationPolicy::at(AT))),
            "ok"
        );
        let later = ValidationPolicy::at(datetime!(2046-01-01 00:00 UTC));
        let err = store.validate(&leaf, &[], &later).expect_err("expired");
        assert!(
            matches!(
                err,
                PkiError::Expired {
                    position: ChainPosition::Leaf,
                    ..
                }
            ),
            "{err}"
        );
        let earlier = ValidationPolicy::at(datetime!(2024-06-01 00:00 UTC));
        assert_eq!(
            code(store.validate(&leaf, &[], &earlier)),
            "pki.not_yet_valid"
        );
        assert_eq!(
            code(store.validate(&leaf, &[], &ValidationPolicy::at(AT))),
            "ok"
        );
    }

    #[test]
    fn presented_certificates_are_part_of_what_is_remembered() {
        // Known with the issuing CA presented; without it, an anchors-only store has no path.
        let crls = [
            testdata::read("root-ca.crl.pem"),
            testdata::read("issuing-ca.crl.pem"),
        ]
        .concat();
        let anchors_only =
            TrustStore::from_pem(&testdata::read("trust.pem"), b"", &crls).expect("store");
        let leaf = testdata::cert("agency-000.00.00.G22-rsa2048.pem");
        let issuing = testdata::cert("issuing-ca.pem");
        let policy = ValidationPolicy::at(AT);
        for _ in 0..2 {
            assert_eq!(
                code(anchors_only.validate(&leaf, std::slice::from_ref(&issuing), &policy)),
                "ok"
            );
            assert_eq!(
                code(anchors_only.validate(&leaf, &[], &policy)),
                "pki.untrusted"
            );
            let impostor = testdata::cert("impostor-issuing-ca.pem");
            assert_eq!(
                code(anchors_only.validate(&leaf, &[impostor, issuing.clone()], &policy)),
                "ok"
            );
        }
    }

    #[test]
    fn only_paths_openssl_verified_for_a_signing_leaf_are_remembered() {
        let store = store();
        let policy = ValidationPolicy::at(AT);
        let remembered = || store.memo.remembered_paths();
        for name in [
            "bad-expired.pem",
            "bad-no-key-usage.pem",
            "bad-foreign-leaf.pem",
        ] {
            assert_ne!(code(validate(&store, name, policy)), "ok", "{name}");
        }
        assert_eq!(remembered(), 0);
        let leaf = testdata::cert("agency-000.00.00.G22-rsa2048.pem");
        let issuing = testdata::cert("issuing-ca.pem");
        for _ in 0..3 {
            assert_eq!(code(store.validate(&leaf, &[], &policy)), "ok");
            assert_eq!(
                code(store.validate(&leaf, std::slice::from_ref(&issuing), &policy)),
                "ok"
            );
        }
        assert_eq!(remembered(), 2);
        // A revoked certificate's path is sound; its revocation is judged at every call.
        assert_eq!(
            code(validate(&store, "bad-revoked.pem", policy)),
            "pki.revoked"
        );
        assert_eq!(remembered(), 3);
        // A clone shares the memo.
        assert_eq!(store.clone().memo.remembered_paths(), 3);
    }

    #[test]
    fn a_shared_store_validates_from_many_threads() {
        let store = Arc::new(store());
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let (name, expected) = if worker % 2 == 0 {
                        ("agency-000.00.00.G22-p256.pem", "ok")
                    } else {
                        ("bad-revoked.pem", "pki.revoked")
                    };
                    let leaf = testdata::cert(name);
                    (0..20).all(|_| {
                        code(store.validate(&leaf, &[], &ValidationPolicy::at(AT))) == expected
                    })
                })
            })
            .collect();
        for worker in workers {
            assert_eq!(worker.join().ok(), Some(true));
        }
    }
}
