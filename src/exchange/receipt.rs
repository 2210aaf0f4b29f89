//! The receipt: the server's signed evidence of what it accepted — which bytes (SHA-256 and
//! size), of what kind, from whom, for whom, when, and who signed them. It is a small XML
//! document in its own namespace ([`NAMESPACE`]) with an enveloped XML-DSig signature (ECDSA
//! P-256 with the configured receipt key: DESIGN.md's budget) as the root's last child, so any
//! XML-DSig tool (`xmlsec1 --verify`) can check it without lienthong.
//!
//! ```xml
//! <Receipt xmlns="urn:lienthong:receipt:1" version="1">
//!   <PacketId>…</PacketId><Kind>message</Kind><DocumentId>…</DocumentId>
//!   <Sender>000.00.00.G22</Sender>
//!   <Recipients><Recipient>000.00.00.H49</Recipient>…</Recipients>
//!   <Content><Sha256>…</Sha256><Size>2048</Size></Content>
//!   <AcceptedAt>2026-06-01T00:00:00.000000Z</AcceptedAt>
//!   <Signer><Sha256>…</Sha256><Subject>…</Subject></Signer>
//!   <LegacySha1>false</LegacySha1>
//!   <ds:Signature>…</ds:Signature>
//! </Receipt>
//! ```
//! A status packet's receipt adds `<Status code="03" originalSender="…"/>` after `DocumentId`.
//! The receipt is decided before the packet's transaction runs (the writer may run a unit
//! twice) and stored with the packet, so a retry gets the same bytes back.

use std::path::Path;

use openssl::pkey::PKey;
use openssl::x509::X509;
use time::format_description::well_known::Rfc3339;

use crate::dsig::{Placement, PreparedSigner, SignOptions};
use crate::xml::reader::Limits;

use super::ExchangeError;

/// The receipt's XML namespace.
pub const NAMESPACE: &str = "urn:lienthong:receipt:1";

/// What a receipt states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub packet_id: String,
    /// `message` or `status`.
    pub kind: &'static str,
    pub document_id: String,
    /// For a status: its code and the document's original sender.
    pub status: Option<(String, String)>,
    pub sender: String,
    /// The agencies the packet was routed to.
    pub recipients: Vec<String>,
    /// SHA-256 of the exact bytes received, lowercase hex.
    pub content_sha256: String,
    pub size: u64,
    /// Microseconds since the Unix epoch.
    pub accepted_at: i64,
    /// SHA-256 of the signing certificate (DER), lowercase hex.
    pub signer_sha256: String,
    pub signer_subject: String,
    pub legacy_sha1: bool,
}

impl Evidence {
    /// The unsigned receipt document.
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(1024);
        x.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        x.push('\n');
        x.push_str(&format!(r#"<Receipt xmlns="{NAMESPACE}" version="1">"#));
        element(&mut x, "PacketId", &self.packet_id);
        element(&mut x, "Kind", self.kind);
        element(&mut x, "DocumentId", &self.document_id);
        if let Some((code, original_sender)) = &self.status {
            x.push_str(&format!(
                r#"<Status code="{}" originalSender="{}"/>"#,
                escape(code),
                escape(original_sender)
            ));
        }
        element(&mut x, "Sender", &self.sender);
        x.push_str("<Recipients>");
        for recipient in &self.recipients {
            element(&mut x, "Recipient", recipient);
        }
        x.push_str("</Recipients><Content>");
        element(&mut x, "Sha256", &self.content_sha256);
        element(&mut x, "Size", &self.size.to_string());
        x.push_str("</Content>");
        element(&mut x, "AcceptedAt", &rfc3339_micros(self.accepted_at));
        x.push_str("<Signer>");
        element(&mut x, "Sha256", &self.signer_sha256);
        element(&mut x, "Subject", &self.signer_subject);
        x.push_str("</Signer>");
        element(
            &mut x,
            "LegacySha1",
            if self.legacy_sha1 { "true" } else { "false" },
        );
        x.push_str("</Receipt>\n");
        x
    }
}

fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Escapes text and attribute values; `\r` and tabs/newlines in attributes as references, so
/// that a parser gives back exactly the value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    // Most values (codes, hashes, ids) need no escaping at all.
    if !text.contains(['&', '<', '>', '"', '\r', '\n', '\t']) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#xD;"),
            '\n' => out.push_str("&#xA;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
}

/// `2026-06-01T00:00:00.123456Z` (UTC, microseconds).
pub fn rfc3339_micros(micros: i64) -> String {
    let nanos = i128::from(micros) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| micros.to_string())
}

/// The server's receipt key and certificate.
pub struct ReceiptSigner {
    signer: PreparedSigner,
    cert: X509,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptSigner")
            .field("subject", &crate::pki::Fingerprint::of(&self.cert).ok())
            .finish_non_exhaustive()
    }
}

impl ReceiptSigner {
    /// Loads the certificate (PEM: the receipt certificate, then any intermediates to embed)
    /// and its private key (PEM), refusing a key that does not belong to the certificate.
    pub fn load(cert: &Path, key: &Path) -> Result<ReceiptSigner, ExchangeError> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| ExchangeError::Receipt(format!("cannot read {}: {e}", path.display())))
        };
        let mut certs = X509::stack_from_pem(&read(cert)?).map_err(|e| {
            ExchangeError::Receipt(format!("{} is not PEM certificates: {e}", cert.display()))
        })?;
        if certs.is_empty() {
            return Err(ExchangeError::Receipt(format!(
                "{} holds no certificate",
                cert.display()
            )));
        }
        let leaf = certs.remove(0);
        let private = PKey::private_key_from_pem(&read(key)?).map_err(|e| {
            ExchangeError::Receipt(format!("{} is not a PEM private key: {e}", key.display()))
        })?;
        let matches = leaf
            .public_key()
            .map(|public| public.public_eq(&private))
            .unwrap_or(false);
        if !matches {
            return Err(ExchangeError::Receipt(format!(
                "the key {} does not belong to the certificate {}",
                key.display(),
                cert.display()
            )));
        }
        let signer = PreparedSigner::new(private, &leaf, &certs, SignOptions::default())
            .map_err(|e| ExchangeError::Receipt(format!("{e} ({})", e.code())))?;
        Ok(ReceiptSigner { signer, cert: leaf })
    }

    /// The signed receipt: an enveloped signature (SHA-256, exclusive C14N, the key's own
    /// family) as the root's last child. CPU work: one signature, some tens of microseconds.
    pub fn sign(&self, evidence: &Evidence) -> Result<String, ExchangeError> {
        let unsigned = evidence.to_xml();
        let signed = self
            .signer
            .sign(
                unsigned.as_bytes(),
                Placement::LastChildOfRoot,
                Limits::default(),
            )
            .map_err(|e| ExchangeError::Receipt(format!("{e} ({})", e.code())))?;
        String::from_utf8(signed)
            .map_err(|_| ExchangeError::Receipt("the signed receipt is not UTF-8".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence() -> Evidence {
        Evidence {
            packet_id: "5f0c".into(),
            kind: "status",
            document_id: "000.00.00.G22,2026/06/01,12/CV & <x>".into(),
            status: Some(("03".into(), "000.00.00.G22".into())),
            sender: "000.00.00.H49".into(),
            recipients: vec!["000.00.00.G22".into()],
            content_sha256: "ab".repeat(32),
            size: 2048,
            accepted_at: 1_780_272_000_000_001,
            signer_sha256: "cd".repeat(32),
            signer_subject: "CN=Ủy ban \"nhân dân\"".into(),
            legacy_sha1: false,
        }
    }

    #[test]
    fn the_evidence_is_escaped_and_reads_back() {
        let xml = evidence().to_xml();
        assert!(
            xml.contains("<DocumentId>000.00.00.G22,2026/06/01,12/CV &amp; &lt;x&gt;</DocumentId>")
        );
        assert!(xml.contains(r#"<Status code="03" originalSender="000.00.00.G22"/>"#));
        assert!(xml.contains("<AcceptedAt>2026-06-01T00:00:00.000001Z</AcceptedAt>"));
        let document = crate::xml::reader::Document::check(xml.as_bytes(), Limits::default());
        assert!(document.is_ok());
    }

    #[test]
    fn the_signer_refuses_a_key_of_another_certificate_and_signs_as_the_last_child() {
        let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        let wrong = ReceiptSigner::load(
            &dev.join("server-receipts-p256.pem"),
            &dev.join("agency-000.00.00.G22-p256.key.pem"),
        );
        assert_eq!(wrong.err().map(|e| e.code()), Some("exchange.receipt"));
        let signer = ReceiptSigner::load(
            &dev.join("server-receipts-p256.pem"),
            &dev.join("server-receipts-p256.key.pem"),
        )
        .expect("dev receipt key");
        let signed = signer.sign(&evidence()).expect("signed");
        let unsigned = evidence().to_xml();
        // Only the Signature was added, right before the root's end tag.
        let start = signed.find("<ds:Signature").expect("a signature");
        let end = signed.find("</Receipt>").expect("root end");
        assert!(signed[start..end].ends_with("</ds:Signature>"));
        assert_eq!(format!("{}{}", &signed[..start], &signed[end..]), unsigned);
        assert!(signed.contains("ecdsa-sha256"));
    }

    #[test]
    fn times_are_utc_with_microseconds() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_micros(1_500_000), "1970-01-01T00:00:01.5Z");
    }
}
