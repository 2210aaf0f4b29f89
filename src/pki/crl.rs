//! A certificate revocation list read once into what revocation checking needs: who issued it,
//! when it was made and is due, which serials it lists, and which certificates it covers.
//!
//! The CRL is parsed by x509-parser (fields) and by openssl (signature check against the issuer
//! key at use time, name comparison); bytes that either parser refuses are refused. Whether a
//! given CA certificate issued and signed it depends only on the two encodings: it is found out
//! once per (CRL, CA certificate) and remembered with the CRL.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use openssl::pkey::{PKeyRef, Public};
use openssl::x509::{X509Crl, X509Ref};
use time::OffsetDateTime;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_CRL_NUMBER,
    OID_X509_EXT_DELTA_CRL_INDICATOR, OID_X509_EXT_INVALIDITY_DATE, OID_X509_EXT_ISSUER,
    OID_X509_EXT_REASON_CODE,
};
use x509_parser::revocation_list::{CertificateRevocationList, RevokedCertificate};

use super::error::PkiError;
use super::facts::CertFacts;
use super::ident::{asn1_to_datetime, canonical_integer, dn_string, Fingerprint};

/// How many CA certificates' verdicts one CRL remembers; more are forgotten all at once. A CRL
/// is normally only ever compared with its issuer's certificate (or two, across a renewal).
const AUTHORSHIP_CAPACITY: usize = 16;

/// Where a CRL came from, for evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlOrigin {
    /// Configured by the operator (file name or description).
    Configured(String),
    /// Downloaded from a certificate's CRL distribution point.
    Fetched {
        /// The URL it was fetched from.
        url: String,
    },
}

impl fmt::Display for CrlOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrlOrigin::Configured(name) => write!(f, "configured CRL {name}"),
            CrlOrigin::Fetched { url } => write!(f, "CRL fetched from {url}"),
        }
    }
}

/// Which certificates a CRL speaks for (RFC 5280 §5.2.5, issuingDistributionPoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CrlScope {
    /// Covers the certificates its issuer issued, possibly only one kind and only those whose
    /// CRL distribution point names one of `partition`.
    Covers {
        user_certs: bool,
        ca_certs: bool,
        partition: Option<Vec<String>>,
    },
    /// A kind of CRL we do not evaluate (delta, indirect, reason-partitioned, unknown critical
    /// extension). Never used to declare a certificate good.
    Unusable(String),
}

/// One listed serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevokedEntry {
    /// Earlier of revocationDate and invalidityDate: from then on, signatures are not trusted.
    pub(crate) effective: OffsetDateTime,
    /// RFC 5280 reason name, when the entry carries one.
    pub(crate) reason: Option<&'static str>,
}

/// Whether a CRL is the work of a given CA certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authorship {
    /// It names another issuer (openssl's canonical name comparison).
    OtherIssuer,
    /// It names the CA, but its signature does not verify under the CA's key.
    BadSignature,
    /// It names the CA and the CA's key verifies its signature.
    Signed,
}

/// Verdicts already reached, by SHA-256 of the CA certificate. Only definite answers are kept:
/// an openssl failure is asked again next time.
type Authorships = Mutex<Vec<(Fingerprint, Authorship)>>;

/// A parsed CRL.
#[derive(Clone)]
pub struct Crl {
    openssl: Arc<X509Crl>,
    authorships: Arc<Authorships>,
    issuer: String,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    number: Option<String>,
    scope: CrlScope,
    entries: HashMap<Vec<u8>, RevokedEntry>,
    origin: CrlOrigin,
}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer)
            .field("this_update", &self.this_update)
            .field("next_update", &self.next_update)
            .field("number", &self.number)
            .field("entries", &self.entries.len())
            .field("scope", &self.scope)
            .field("origin", &self.origin)
            .finish()
    }
}

impl Crl {
    /// Reads one DER-encoded CRL.
    pub fn from_der(der: &[u8], origin: CrlOrigin) -> Result<Self, PkiError> {
        let bad = |reason: String| PkiError::config(origin.to_string(), reason);
        let (rest, parsed) = x509_parser::parse_x509_crl(der)
            .map_err(|e| bad(format!("not a readable CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes after the CRL", rest.len())));
        }
        let openssl =
            X509Crl::from_der(der).map_err(|e| bad(format!("openssl cannot read the CRL: {e}")))?;
        let scope = match crl_scope(&parsed) {
            Ok(scope) => scope,
            Err(reason) => CrlScope::Unusable(reason),
        };
        let (entries, entry_problem) = revoked_entries(&parsed);
        let scope = match entry_problem {
            Some(reason) => CrlScope::Unusable(reason),
            None => scope,
        };
        Ok(Crl {
            openssl: Arc::new(openssl),
            authorships: Arc::default(),
            issuer: dn_string(parsed.issuer()),
            this_update: asn1_to_datetime(parsed.last_update()),
            next_update: parsed.next_update().map(asn1_to_datetime),
            number: parsed.crl_number().map(|n| n.to_string()),
            scope,
            entries,
            origin,
        })
    }

    /// Reads every CRL in a buffer: one DER CRL, or any number of PEM `X509 CRL` blocks.
    pub fn all_from_bytes(bytes: &[u8], source_name: &str) -> Result<Vec<Self>, PkiError> {
        if !looks_like_pem(bytes) {
            let origin = CrlOrigin::Configured(source_name.to_owned());
            return Ok(vec![Crl::from_der(bytes, origin)?]);
        }
        let mut crls = Vec::new();
        for (index, pem) in x509_parser::pem::Pem::iter_from_buffer(bytes).enumerate() {
            let pem = pem.map_err(|e| PkiError::config(source_name, format!("bad PEM: {e}")))?;
            if pem.label != "X509 CRL" {
                return Err(PkiError::config(
                    source_name,
                    format!(
                        "PEM block #{} is a {}, not an X509 CRL",
                        index + 1,
                        pem.label
                    ),
                ));
            }
            let origin = CrlOrigin::Configured(format!("{source_name} #{}", index + 1));
            crls.push(Crl::from_der(&pem.contents, origin)?);
        }
        if crls.is_empty() {
            return Err(PkiError::config(source_name, "no CRL in it"));
        }
        Ok(crls)
    }

    /// Reads a CRL downloaded from `url`: DER, or a single PEM `X509 CRL` block.
    pub(crate) fn fetched(bytes: &[u8], url: &str) -> Result<Self, PkiError> {
        let origin = CrlOrigin::Fetched {
            url: url.to_owned(),
        };
        if !looks_like_pem(bytes) {
            return Crl::from_der(bytes, origin);
        }
        let mut blocks = x509_parser::pem::Pem::iter_from_buffer(bytes);
        match (blocks.next(), blocks.next()) {
            (Some(Ok(pem)), None) if pem.label == "X509 CRL" => {
                Crl::from_der(&pem.contents, origin)
            }
            _ => Err(PkiError::config(
                origin.to_string(),
                "expected one DER CRL or one PEM X509 CRL block",
            )),
        }
    }

    /// Subject of the issuer, RFC 4514.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// thisUpdate.
    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }

    /// nextUpdate, when the CRL has one.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.next_update
    }

    /// CRL number in decimal, when present.
    pub fn number(&self) -> Option<&str> {
        self.number.as_deref()
    }

    /// Where it came from.
    pub fn origin(&self) -> &CrlOrigin {
        &self.origin
    }

    /// Number of listed serials.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no serial is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn scope(&self) -> &CrlScope {
        &self.scope
    }

    /// Whether the CA certificate `issuer` (whose public key is `key`) issued and signed this
    /// CRL; worked out by openssl the first time, remembered after.
    pub(crate) fn authorship(&self, issuer: &CertFacts, key: &PKeyRef<Public>) -> Authorship {
        let fingerprint = issuer.fingerprint();
        let known = self
            .authorships()
            .iter()
            .find(|(seen, _)| *seen == fingerprint)
            .map(|(_, verdict)| *verdict);
        if let Some(verdict) = known {
            return verdict;
        }
        let (verdict, definite) = self.find_authorship(&issuer.cert, key);
        if definite {
            let mut known = self.authorships();
            if known.len() >= AUTHORSHIP_CAPACITY {
                known.clear();
            }
            known.push((fingerprint, verdict));
        }
        verdict
    }

    /// openssl's verdict, and whether it is definite (no openssl failure on the way). A name
    /// that cannot be compared counts as another issuer's, a signature that cannot be checked
    /// as a bad one: both fail closed.
    fn find_authorship(&self, issuer: &X509Ref, key: &PKeyRef<Public>) -> (Authorship, bool) {
        match self.openssl.issuer_name().try_cmp(issuer.subject_name()) {
            Ok(std::cmp::Ordering::Equal) => {}
            Ok(_) => return (Authorship::OtherIssuer, true),
            Err(_) => return (Authorship::OtherIssuer, false),
        }
        match self.openssl.verify(key) {
            Ok(true) => (Authorship::Signed, true),
            Ok(false) => (Authorship::BadSignature, true),
            Err(_) => (Authorship::BadSignature, false),
        }
    }

    fn authorships(&self) -> MutexGuard<'_, Vec<(Fingerprint, Authorship)>> {
        // A panic elsewhere while holding the lock leaves whole entries only: keep using them.
        self.authorships
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry for a serial number (DER INTEGER content octets), if listed.
    pub(crate) fn entry(&self, raw_serial: &[u8]) -> Option<&RevokedEntry> {
        self.entries.get(canonical_integer(raw_serial))
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Reads the CRL-level extensions into a scope, or says why the CRL cannot be used.
fn crl_scope(crl: &CertificateRevocationList<'_>) -> Result<CrlScope, String> {
    let mut scope = CrlScope::Covers {
        user_certs: true,
        ca_certs: true,
        partition: None,
    };
    for ext in crl.extensions() {
        if ext.oid == OID_X509_EXT_DELTA_CRL_INDICATOR {
            return Err("it is a delta CRL".to_owned());
        }
        match ext.parsed_extension() {
            ParsedExtension::IssuingDistributionPoint(idp) => {
                if idp.indirect_crl {
                    return Err("it is an indirect CRL".to_owned());
                }
                if idp.only_some_reasons.is_some() {
                    return Err("it covers only some revocation reasons".to_owned());
                }
                if idp.only_contains_attribute_certs {
                    return Err("it covers only attribute certificates".to_owned());
                }
                let partition = match &idp.distribution_point {
                    None => None,
                    Some(DistributionPointName::FullName(names)) => Some(uris(names)?),
                    Some(DistributionPointName::NameRelativeToCRLIssuer(_)) => {
                        return Err("its distribution point is a relative name".to_owned())
                    }
                };
                scope = CrlScope::Covers {
                    user_certs: !idp.only_contains_ca_certs,
                    ca_certs: !idp.only_contains_user_certs,
                    partition,
                };
            }
            ParsedExtension::CRLNumber(_) | ParsedExtension::AuthorityKeyIdentifier(_) => {}
            _ if ext.critical => {
                return Err(format!(
                    "it has an unsupported critical extension {}",
                    ext.oid
                ))
            }
            _ => {}
        }
    }
    Ok(scope)
}

fn uris(names: &[GeneralName<'_>]) -> Result<Vec<String>, String> {
    let found: Vec<String> = names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        })
        .collect();
    if found.is_empty() {
        Err("its distribution point has no URI".to_owned())
    } else {
        Ok(found)
    }
}

/// The listed serials, and a reason to distrust the whole CRL if an entry is beyond us.
fn revoked_entries(
    crl: &CertificateRevocationList<'_>,
) -> (HashMap<Vec<u8>, RevokedEntry>, Option<String>) {
    let mut entries: HashMap<Vec<u8>, RevokedEntry> = HashMap::new();
    let mut problem = None;
    for revoked in crl.iter_revoked_certificates() {
        if let Err(reason) = entry_extensions_supported(revoked) {
            problem.get_or_insert(reason);
        }
        let entry = revoked_entry(revoked);
        let key = canonical_integer(revoked.raw_serial()).to_vec();
        // A serial listed twice counts from its earliest date.
        entries
            .entry(key)
            .and_modify(|existing| {
                if entry.effective < existing.effective {
                    *existing = entry.clone();
                }
            })
            .or_insert(entry);
    }
    (entries, problem)
}

fn revoked_entry(revoked: &RevokedCertificate<'_>) -> RevokedEntry {
    let revoked_at = asn1_to_datetime(revoked.revocation_date);
    let invalid_from = revoked
        .invalidity_date()
        .map(|(_, date)| asn1_to_datetime(date));
    let effective = match invalid_from {
        Some(date) if date < revoked_at => date,
        _ => revoked_at,
    };
    let reason = revoked.reason_code().map(|(_, code)| reason_name(code.0));
    RevokedEntry { effective, reason }
}

fn entry_extensions_supported(revoked: &RevokedCertificate<'_>) -> Result<(), String> {
    for ext in revoked.extensions() {
        if ext.oid == OID_X509_EXT_ISSUER {
            return Err("it has certificateIssuer entries (indirect CRL)".to_owned());
        }
        let known = ext.oid == OID_X509_EXT_REASON_CODE
            || ext.oid == OID_X509_EXT_INVALIDITY_DATE
            || ext.oid == OID_X509_EXT_CRL_NUMBER
            || ext.oid == OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER;
        if ext.critical && !known {
            return Err(format!(
                "an entry has an unsupported critical extension {}",
                ext.oid
            ));
        }
    }
    Ok(())
}

/// RFC 5280 §5.3.1 reason names (OCSP's revocationReason uses the same codes).
pub(crate) fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown reason",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::testdata;

    #[test]
    fn reads_the_issuing_ca_crl_with_its_revoked_entry() {
        let crls = testdata::crls("issuing-ca.crl.pem");
        assert_eq!(crls.len(), 1);
        let crl = &crls[0];
        assert_eq!(crl.len(), 1);
        assert_eq!(
            crl.this_update(),
            time::macros::datetime!(2025-06-01 00:00 UTC)
        );
        assert_eq!(
            crl.next_update(),
            Some(time::macros::datetime!(2045-01-01 00:00 UTC))
        );
        assert!(crl
            .issuer()
            .starts_with("CN=Cục Chứng thực số và Bảo mật thông tin (DEV ISSUING CA)"));
        let revoked = testdata::parsed_serial("bad-revoked.pem");
        let entry = crl.entry(&revoked);
        assert_eq!(
            entry.map(|e| (e.effective, e.reason)),
            Some((
                time::macros::datetime!(2025-03-01 00:00 UTC),
                Some("keyCompromise")
            ))
        );
        assert!(matches!(
            crl.scope(),
            CrlScope::Covers {
                user_certs: true,
                ca_certs: true,
                partition: None
            }
        ));
    }

    #[test]
    fn der_and_pem_give_the_same_crl() {
        let der = testdata::read("issuing-ca.crl.der");
        let from_der = Crl::all_from_bytes(&der, "issuing-ca.crl.der").expect("DER CRL");
        let from_pem = testdata::crls("issuing-ca.crl.pem");
        assert_eq!(from_der.len(), 1);
        assert_eq!(from_der[0].number(), from_pem[0].number());
        assert_eq!(from_der[0].len(), from_pem[0].len());
    }

    #[test]
    fn garbage_is_a_config_error() {
        let err = Crl::all_from_bytes(b"not a crl", "junk.crl").err();
        assert_eq!(err.map(|e| e.code()), Some("pki.config"));
        let pem_cert = testdata::read("root-ca.pem");
        let err = Crl::all_from_bytes(&pem_cert, "root-ca.pem").err();
        assert_eq!(err.map(|e| e.code()), Some("pki.config"));
    }

    #[test]
    fn authorship_is_found_once_per_ca_certificate() {
        let crl = &testdata::crls("issuing-ca.crl.pem")[0];
        let forged = &testdata::crls("impostor-issuing-ca.crl.pem")[0];
        let facts = |name: &str| {
            let cert = testdata::cert(name);
            let der = cert.to_der().expect("DER");
            CertFacts::read(&cert, &der, Fingerprint::of_der(&der), name).expect("facts")
        };
        let issuing = facts("issuing-ca.pem");
        let impostor = facts("impostor-issuing-ca.pem");
        let root = facts("root-ca.pem");
        let verdict =
            |crl: &Crl, ca: &CertFacts| crl.authorship(ca, &ca.cert.public_key().expect("key"));
        for _ in 0..2 {
            assert_eq!(verdict(crl, &issuing), Authorship::Signed);
            assert_eq!(verdict(crl, &root), Authorship::OtherIssuer);
            // Same name as the issuing CA, another key.
            assert_eq!(verdict(crl, &impostor), Authorship::BadSignature);
            assert_eq!(verdict(forged, &issuing), Authorship::BadSignature);
            assert_eq!(verdict(forged, &impostor), Authorship::Signed);
        }
        assert_eq!(crl.authorships().len(), 3);
        // A clone is the same CRL and shares what was found; each verdict is the certificate's
        // own (asked with another key, the remembered verdict of that certificate stands).
        let clone = crl.clone();
        let root_key = root.cert.public_key().expect("key");
        assert_eq!(clone.authorship(&issuing, &root_key), Authorship::Signed);
        assert_eq!(clone.authorships().len(), 3);
    }

    #[test]
    fn reason_names_follow_rfc5280() {
        assert_eq!(reason_name(1), "keyCompromise");
        assert_eq!(reason_name(6), "certificateHold");
        assert_eq!(reason_name(7), "unknown reason");
    }
}
