//! An agency as the directory knows it, with each field parsed once: a code in the edXML
//! form, a name, a place in the hierarchy, where to push its packets and whom to notify.

use std::fmt;

use crate::edxml::OrganId;
use crate::pki::Fingerprint;

/// An agency of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    /// Mã định danh: a standard code (validated strictly) or a non-standard one the directory vouches for.
    pub code: OrganId,
    pub name: AgencyName,
    /// The agency above it, when it has one in the directory.
    pub parent: Option<OrganId>,
    /// Where packets for it are pushed; `None` when it pulls its inbox.
    pub push_endpoint: Option<PushEndpoint>,
    /// Its clerks (văn thư), notified of new packets.
    pub clerk_emails: Vec<ClerkEmail>,
    /// A deactivated agency can neither send nor receive, and its credentials stop working.
    pub active: bool,
}

/// A certificate an agency may sign with, by SHA-256 of its DER, with what the operator needs
/// to recognise it when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundCertificate {
    pub fingerprint: Fingerprint,
    /// Subject distinguished name (RFC 4514), when the certificate was seen.
    pub subject: Option<String>,
    /// Serial number, lowercase hex.
    pub serial: Option<String>,
    /// notAfter, microseconds since the Unix epoch.
    pub not_after: Option<i64>,
}

impl BoundCertificate {
    /// A binding known only by fingerprint (as in an import file).
    pub fn fingerprint_only(fingerprint: Fingerprint) -> Self {
        BoundCertificate {
            fingerprint,
            subject: None,
            serial: None,
            not_after: None,
        }
    }

    /// A binding with the details read from the certificate itself (DER).
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let raw = cert.raw_serial();
        let first = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
        let serial = match raw.get(first..) {
            Some(digits) if !digits.is_empty() => hex::encode(digits),
            _ => "00".to_owned(),
        };
        Ok(BoundCertificate {
            fingerprint: Fingerprint::of_der(der),
            subject: Some(crate::pki::dn_string(cert.subject())),
            serial: Some(serial),
            not_after: cert.validity().not_after.timestamp().checked_mul(1_000_000),
        })
    }
}

/// Why a field of an agency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    /// The refused value, quoted and cut short.
    pub value: String,
    pub reason: &'static str,
}

fn refuse(field: &'static str, value: &str, reason: &'static str) -> FieldError {
    const MAX: usize = 80;
    let mut shown: String = value.chars().take(MAX).collect();
    if value.chars().nth(MAX).is_some() {
        shown.push('…');
    }
    FieldError {
        field,
        value: format!("{shown:?}"),
        reason,
    }
}

/// An agency's official name: 1 to 512 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgencyName(String);

impl AgencyName {
    pub const MAX_CHARS: usize = 512;

    pub fn parse(value: &str) -> Result<AgencyName, FieldError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(refuse("name", value, "is empty"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(refuse("name", value, "is longer than 512 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(refuse("name", value, "contains control characters"));
        }
        Ok(AgencyName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An `http://` or `https://` URL with a host, at most 2048 characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEndpoint(String);

impl PushEndpoint {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(value: &str) -> Result<PushEndpoint, FieldError> {
        let field = "push_endpoint";
        let value = value.trim();
        if value.len() > Self::MAX_LEN {
            return Err(refuse(field, value, "is longer than 2048 characters"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse(
                field,
                value,
                "contains spaces or control characters",
            ));
        }
        let lower = value.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .ok_or_else(|| refuse(field, value, "must start with https:// or http://"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(refuse(field, value, "has no host"));
        }
        if authority.contains('@') {
            return Err(refuse(
                field,
                value,
                "must not carry a user name or password (configure credentials elsewhere)",
            ));
        }
        Ok(PushEndpoint(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PushEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A clerk's e-mail address: `local@domain.tld`, at most 254 characters, no spaces, no
/// characters that would let it smuggle a second address or header.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClerkEmail(String);

impl ClerkEmail {
    pub fn parse(value: &str) -> Result<ClerkEmail, FieldError> {
        let field = "clerk e-mail";
        let value = value.trim();
        if value.len() > 254 {
            return Err(refuse(field, value, "is longer than 254 characters"));
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c))
        {
            return Err(refuse(
                field,
                value,
                "contains spaces or characters not allowed in an address",
            ));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(refuse(field, value, "has no @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(refuse(
                field,
                value,
                "needs 1 to 64 characters before the @",
            ));
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(refuse(field, value, "has no valid domain after the @"));
        }
        Ok(ClerkEmail(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClerkEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API client's system id: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SystemId(String);

impl SystemId {
    pub fn parse(value: &str) -> Result<SystemId, FieldError> {
        let ok_len = (1..=64).contains(&value.len());
        let ok_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok_len || !ok_chars {
            return Err(refuse(
                "system id",
                value,
                "must be 1 to 64 characters of letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(SystemId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SystemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            AgencyName::parse("  Ủy ban nhân dân tỉnh Quảng Ninh ").map(|n| n.to_string()),
            Ok("Ủy ban nhân dân tỉnh Quảng Ninh".to_owned())
        );
        assert!(AgencyName::parse("   ").is_err());
        assert!(AgencyName::parse("a\u{7}b").is_err());
        assert!(AgencyName::parse(&"x".repeat(513)).is_err());
        assert!(AgencyName::parse(&"ệ".repeat(512)).is_ok());
    }

    #[test]
    fn endpoints_need_a_scheme_and_a_host() {
        for good in [
            "https://edoc.quangninh.gov.vn/lienthong/inbox",
            "http://127.0.0.1:9000/push",
            "HTTPS://Example.VN",
        ] {
            assert!(PushEndpoint::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x.vn",
            "https://",
            "https://:80/x",
            "https://user:pw@x.vn/",
            "https://x.vn/a b",
            "x.vn",
        ] {
            assert!(PushEndpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clerk_addresses_are_single_plain_addresses() {
        assert!(ClerkEmail::parse("vanthu@quangninh.gov.vn").is_ok());
        assert!(ClerkEmail::parse("van.thu+so@sở-nội-vụ.vn").is_ok());
        for bad in [
            "vanthu",
            "@x.vn",
            "a@b",
            "a@b..vn",
            "a@-b.vn",
            "a b@x.vn",
            "a@x.vn,b@y.vn",
            "a@x.vn\r\nBcc: e@vil.vn",
            "Văn thư <a@x.vn>",
        ] {
            assert!(ClerkEmail::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn system_ids_are_short_and_plain() {
        assert!(SystemId::parse("qlvb-h49.prod_1").is_ok());
        assert!(SystemId::parse("").is_err());
        assert!(SystemId::parse("a/b").is_err());
        assert!(SystemId::parse("hệ-thống").is_err());
        assert!(SystemId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn certificate_details_are_read_from_der() {
        let pem = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("certs/dev/agency-000.00.00.H49-rsa2048.pem"),
        )
        .expect("dev certificate");
        let cert = openssl::x509::X509::from_pem(&pem).expect("pem");
        let der = cert.to_der().expect("der");
        let bound = BoundCertificate::from_der(&der).expect("parse");
        assert_eq!(bound.fingerprint, Fingerprint::of_der(&der));
        assert!(bound
            .subject
            .as_deref()
            .is_some_and(|s| s.contains("Quảng Ninh")));
        let serial = cert
            .serial_number()
            .to_bn()
            .and_then(|b| b.to_hex_str().map(|s| s.to_ascii_lowercase()))
            .expect("serial");
        assert_eq!(bound.serial.as_deref(), Some(serial.as_str()));
        // 2045-01-01T00:00:00Z, per certs/README.md.
        assert_eq!(bound.not_after, Some(2_366_841_600_000_000));
        assert!(BoundCertificate::from_der(b"not der").is_err());
    }
}
