//! How certificates are named in errors and evidence: distinguished names as RFC 4514 strings,
//! serial numbers, SHA-256 fingerprints and instants printed in UTC.

use std::fmt;

use openssl::x509::X509Ref;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::objects::{oid2abbrev, oid_registry};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// A certificate as a person finds it again: its subject and serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    /// Subject distinguished name, RFC 4514 order (most specific first, e.g. `CN=…,O=…,C=VN`).
    pub subject: String,
    /// Serial number as lowercase hex without leading zero bytes.
    pub serial: String,
}

impl CertId {
    /// Names a certificate parsed by x509-parser.
    pub(crate) fn of_parsed(cert: &X509Certificate<'_>) -> Self {
        CertId {
            subject: dn_string(cert.subject()),
            serial: serial_hex(cert.raw_serial()),
        }
    }

    /// Names an openssl certificate. Falls back on openssl's own rendering when x509-parser
    /// cannot read it, so that an error about an odd certificate still says which one.
    pub(crate) fn of(cert: &X509Ref) -> Self {
        if let Ok(der) = cert.to_der() {
            if let Ok((_, parsed)) = x509_parser::parse_x509_certificate(&der) {
                return CertId::of_parsed(&parsed);
            }
        }
        let serial = cert
            .serial_number()
            .to_bn()
            .and_then(|bn| bn.to_hex_str().map(|s| s.to_ascii_lowercase()))
            .unwrap_or_else(|_| "?".to_owned());
        let mut parts: Vec<String> = cert
            .subject_name()
            .entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = String::from_utf8_lossy(e.data().as_slice());
                format!("{key}={}", escape_value(&value))
            })
            .collect();
        parts.reverse();
        let subject = parts.join(",");
        CertId { subject, serial }
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\" (serial {})", self.subject, self.serial)
    }
}

/// SHA-256 of a certificate's DER encoding: what bindings and evidence refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Digest of DER bytes.
    pub fn of_der(der: &[u8]) -> Self {
        // openssl's low-level SHA-256 rather than a digest looked up by name, which in OpenSSL 3
        // fetches the algorithm from the provider (behind a global lock) on every call.
        let mut hasher = openssl::sha::Sha256::new();
        hasher.update(der);
        Fingerprint(hasher.finish())
    }

    /// Digest of an openssl certificate's DER encoding.
    pub fn of(cert: &X509Ref) -> Result<Self, openssl::error::ErrorStack> {
        Ok(Fingerprint::of_der(&cert.to_der()?))
    }

    /// Reads 64 hex digits, in any case, optionally separated by colons (`AB:CD:…`), as tools
    /// print them. Anything else is refused: a fingerprint is never guessed.
    pub fn parse(text: &str) -> Option<Self> {
        let digits: String = text.trim().chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes).ok()?;
        Some(Fingerprint(bytes))
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// An instant printed as RFC 3339 in UTC (`2025-03-01T00:00:00Z`) in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime(pub OffsetDateTime);

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let utc = self.0.to_offset(time::UtcOffset::UTC);
        match utc.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{utc}"),
        }
    }
}

/// Converts an ASN.1 time to an `OffsetDateTime` (UTC).
pub(crate) fn asn1_to_datetime(t: x509_parser::time::ASN1Time) -> OffsetDateTime {
    t.to_datetime()
}

/// Serial number bytes as lowercase hex without leading zero bytes, as openssl prints it.
pub(crate) fn serial_hex(raw: &[u8]) -> String {
    let first = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    match raw.get(first..) {
        Some(digits) if !digits.is_empty() => hex::encode(digits),
        _ => "00".to_owned(),
    }
}

/// The minimal two's-complement encoding of a DER INTEGER's content octets.
///
/// DER already requires minimal encoding, but a CA that pads a serial in its CRL and not in the
/// certificate (or the other way round) must not make a revoked certificate look unrevoked: both
/// sides are compared in this form.
pub(crate) fn canonical_integer(raw: &[u8]) -> &[u8] {
    let mut rest = raw;
    while let [first, tail @ ..] = rest {
        let Some(second) = tail.first() else {
            break;
        };
        let redundant_zero = *first == 0x00 && *second < 0x80;
        let redundant_ones = *first == 0xff && *second >= 0x80;
        if redundant_zero || redundant_ones {
            rest = tail;
        } else {
            break;
        }
    }
    rest
}

/// A distinguished name as an RFC 4514 string: RDNs from most specific to least, `+` inside a
/// multi-valued RDN, special characters escaped. Values that are not strings are shown as `#hex`.
pub fn dn_string(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(attribute_string)
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn attribute_string(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type();
    let key = match oid2abbrev(oid, oid_registry()) {
        Ok(abbrev) => abbrev.to_owned(),
        Err(_) => oid.to_id_string(),
    };
    match attribute_text(attr) {
        Some(value) => format!("{key}={}", escape_value(&value)),
        None => format!("{key}=#{}", hex::encode(attr.as_slice())),
    }
}

fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    if let Ok(s) = attr.as_str() {
        return Some(s.to_owned());
    }
    let data = attr.as_slice();
    match attr.attr_value().tag() {
        // Older Vietnamese certificates write names as BMPString (UTF-16BE).
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .filter_map(|pair| pair.try_into().ok().map(u16::from_be_bytes))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => {
            if data.len() % 4 != 0 {
                return None;
            }
            data.chunks_exact(4)
                .map(|q| {
                    q.try_into()
                        .ok()
                        .and_then(|bytes| char::from_u32(u32::from_be_bytes(bytes)))
                })
                .collect()
        }
        // T.61 is close enough to Latin-1 for the names it is used for in practice.
        Tag::TeletexString | Tag::VisibleString => {
            Some(data.iter().map(|b| char::from(*b)).collect())
        }
        _ => None,
    }
}

/// RFC 4514 §2.4 escaping of an attribute value.
fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let needs = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
        } else {
            if needs {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_accepts_colons_and_any_case() {
        let plain = "c93eb2b2501753abe83e1d9255737b60c630c0f3eeabb9800b3e30f0b8c5d7a6";
        let colons = "C9:3E:B2:B2:50:17:53:AB:E8:3E:1D:92:55:73:7B:60:C6:30:C0:F3:EE:AB:B9:80:0B:3E:30:F0:B8:C5:D7:A6";
        let a = Fingerprint::parse(plain);
        assert!(a.is_some());
        assert_eq!(a, Fingerprint::parse(colons));
        assert_eq!(a.map(|f| f.to_string()).as_deref(), Some(plain));
    }

    #[test]
    fn fingerprint_refuses_wrong_length_and_non_hex() {
        assert_eq!(Fingerprint::parse("abcd"), None);
        assert_eq!(Fingerprint::parse(&"g".repeat(64)), None);
        assert_eq!(Fingerprint::parse(&"a".repeat(66)), None);
    }

    #[test]
    fn canonical_integer_strips_only_redundant_padding() {
        assert_eq!(canonical_integer(&[0x00, 0x00, 0x7f]), &[0x7f]);
        assert_eq!(canonical_integer(&[0x00, 0x80]), &[0x00, 0x80]);
        assert_eq!(canonical_integer(&[0xff, 0xff, 0x80]), &[0x80]);
        assert_eq!(canonical_integer(&[0xff, 0x7f]), &[0xff, 0x7f]);
        assert_eq!(canonical_integer(&[0x01, 0x00]), &[0x01, 0x00]);
        assert_eq!(serial_hex(&[0x00, 0x4f, 0xf8]), "4ff8");
        assert_eq!(serial_hex(&[0x00, 0xc5, 0x63]), "c563");
        assert_eq!(serial_hex(&[0x00]), "00");
    }

    #[test]
    fn serials_print_like_openssl_for_every_dev_certificate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("certs/dev") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if !name.ends_with(".pem") || name.ends_with(".key.pem") || name.contains(".crl.") {
                continue;
            }
            let pem = std::fs::read(&path).expect("read");
            for cert in openssl::x509::X509::stack_from_pem(&pem).expect("pem") {
                let expected = cert
                    .serial_number()
                    .to_bn()
                    .expect("bn")
                    .to_hex_str()
                    .expect("hex");
                assert_eq!(
                    CertId::of(&cert).serial,
                    expected.to_ascii_lowercase(),
                    "{name}"
                );
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} certificates found");
    }

    #[test]
    fn escaping_follows_rfc4514() {
        assert_eq!(escape_value("Bộ A, B"), "Bộ A\\, B");
        assert_eq!(escape_value(" lead"), "\\ lead");
        assert_eq!(escape_value("#x"), "\\#x");
        assert_eq!(escape_value("trail "), "trail\\ ");
        assert_eq!(escape_value("a+b"), "a\\+b");
    }

    #[test]
    fn utc_time_prints_rfc3339() {
        let t = time::macros::datetime!(2025-03-01 00:00 UTC);
        assert_eq!(UtcTime(t).to_string(), "2025-03-01T00:00:00Z");
    }
}
