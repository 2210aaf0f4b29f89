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
//!   <LogEvent>42</LogEvent>
//!   <Signer><Sha256>…</Sha256><Subject>…</Subject></Signer>
//!   <LegacySha1>false</LegacySha1>
//!   <ds:Signature>…</ds:Signature>
//! </Receipt>
//! ```
//! A status packet's receipt adds `<Status code="03" originalSender="…"/>` after `DocumentId`.
//! The receipt is decided before the packet's transaction runs (the writer may run a unit
//! twice) and stored with the packet, so a retry gets the same bytes back.
//!
//! The server's other signed documents in this namespace (delivery evidence:
//! `delivery::evidence`) are written with the same helpers ([`element`], [`escape_attribute`],
//! [`PROLOG`]) and signed with the same profile ([`ReceiptSigner::sign_document`]).

use std::path::Path;

use openssl::pkey::PKey;
use openssl::x509::X509;
use time::format_description::well_known::Rfc3339;

use crate::dsig::{Placement, PreparedSigner, SignOptions};
use crate::store::events::{EventKind, EventRecord};
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
    /// The number of the audit event that records the acceptance: the sender proves its
    /// submission with the log's inclusion proof of that event (docs/AUDIT.md).
    pub log_event: i64,
    /// SHA-256 of the signing certificate (DER), lowercase hex.
    pub signer_sha256: String,
    pub signer_subject: String,
    pub legacy_sha1: bool,
}

/// The XML declaration and line break before the root element of every document the server
/// signs in [`NAMESPACE`]; the root follows, then one line break.
pub(crate) const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

impl Evidence {
    /// The audit event of this acceptance (`packet.accepted`), numbered as the receipt says,
    /// naming the signed receipt by its SHA-256.
    pub fn log_event(&self, receipt_xml: &str) -> EventRecord {
        let status = self
            .status
            .as_ref()
            .map(|(code, original_sender)| format!("{code} {original_sender}"))
            .unwrap_or_default();
        let receipt_sha256 = hex::encode(openssl::sha::sha256(receipt_xml.as_bytes()));
        EventRecord::new(
            self.log_event,
            self.accepted_at,
            EventKind::PacketAccepted,
            Some(&self.packet_id),
            &[
                &self.packet_id,
                self.kind,
                &self.sender,
                &self.document_id,
                &status,
                &self.recipients.join(","),
                &self.content_sha256,
                &self.size.to_string(),
                &self.signer_sha256,
                &receipt_sha256,
            ],
        )
    }

    /// The unsigned receipt document. Its root element is written in exclusive canonical form
    /// (C14N escaping, end tags written out, attributes in order), so signing it needs no
    /// reading back ([`PreparedSigner::sign_canonical_root`]).
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(1024);
        x.push_str(PROLOG);
        x.push_str(&format!(r#"<Receipt xmlns="{NAMESPACE}" version="1">"#));
        element(&mut x, "PacketId", &self.packet_id);
        element(&mut x, "Kind", self.kind);
        element(&mut x, "DocumentId", &self.document_id);
        if let Some((code, original_sender)) = &self.status {
            x.push_str(r#"<Status code=""#);
            escape_attribute(&mut x, code);
            x.push_str(r#"" originalSender=""#);
            escape_attribute(&mut x, original_sender);
            x.push_str(r#""></Status>"#);
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
        element(&mut x, "LogEvent", &self.log_event.to_string());
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

    /// Whether every value is made of characters XML can carry (a control character cannot
    /// be written, not even escaped, in XML 1.0).
    fn is_xml(&self) -> bool {
        let status = self
            .status
            .iter()
            .flat_map(|(a, b)| [a.as_str(), b.as_str()]);
        [
            self.packet_id.as_str(),
            self.document_id.as_str(),
            self.sender.as_str(),
            self.content_sha256.as_str(),
            self.signer_sha256.as_str(),
            self.signer_subject.as_str(),
        ]
        .into_iter()
        .chain(status)
        .chain(self.recipients.iter().map(String::as_str))
        .all(is_xml_text)
    }
}

/// Whether every character of `text` can be carried by XML 1.0.
pub(crate) fn is_xml_text(text: &str) -> bool {
    text.chars().all(is_xml_char)
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `<name>text</name>`, the text escaped as C14N writes it.
pub(crate) fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_text(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Text as C14N writes it: `&`, `<`, `>` and carriage returns as references.
fn escape_text(out: &mut String, text: &str) {
    if !text.contains(['&', '<', '>', '\r']) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// An attribute value as C14N writes it: `&`, `<`, `"` and the three whitespace characters
/// that attribute normalization would turn into spaces as references.
pub(crate) fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
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
    /// The key again, for what else the server signs with it (pushes: `delivery::signature`).
    key: PKey<openssl::pkey::Private>,
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
        let signer = PreparedSigner::new(private.clone(), &leaf, &certs, SignOptions::default())
            .map_err(|e| ExchangeError::Receipt(format!("{e} ({})", e.code())))?;
        Ok(ReceiptSigner {
            signer,
            cert: leaf,
            key: private,
        })
    }

    /// The receipt certificate.
    pub fn certificate(&self) -> &X509 {
        &self.cert
    }

    /// The receipt key.
    pub fn key(&self) -> &PKey<openssl::pkey::Private> {
        &self.key
    }

    /// The signed receipt: an enveloped signature (SHA-256, exclusive C14N, the key's own
    /// family) as the root's last child. CPU work: one signature, some tens of microseconds.
    pub fn sign(&self, evidence: &Evidence) -> Result<String, ExchangeError> {
        self.sign_document(&evidence.to_xml(), evidence.is_xml())
    }

    /// Signs a document the server wrote in [`NAMESPACE`] as the receipt is written:
    /// [`PROLOG`], then the root in exclusive canonical form (written with [`element`] and
    /// [`escape_attribute`]), then one line break; `is_xml` says whether every value was made
    /// of characters XML can carry ([`is_xml_text`]). The same profile as the receipt: an
    /// enveloped signature as the root's last child.
    pub(crate) fn sign_document(
        &self,
        unsigned: &str,
        is_xml: bool,
    ) -> Result<String, ExchangeError> {
        let canonical = is_xml && unsigned.starts_with(PROLOG) && unsigned.ends_with('\n');
        let signed = if canonical {
            // The root is canonical as written: from after the prolog to before the last
            // line break.
            let root = PROLOG.len()..unsigned.len() - 1;
            self.signer
                .sign_canonical_root(unsigned.as_bytes(), root, Limits::default())
        } else {
            // Not XML at all: the general path reads it and says why.
            self.signer.sign(
                unsigned.as_bytes(),
                Placement::LastChildOfRoot,
                Limits::default(),
            )
        }
        .map_err(|e| ExchangeError::Receipt(format!("{e} ({})", e.code())))?;
        String::from_utf8(signed)
            .map_err(|_| ExchangeError::Receipt("the signed document is not UTF-8".to_owned()))
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
            log_event: 42,
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
        assert!(xml.contains(r#"<Status code="03" originalSender="000.00.00.G22"></Status>"#));
        assert!(xml.contains("<AcceptedAt>2026-06-01T00:00:00.000001Z</AcceptedAt>"));
        assert!(xml.contains("<LogEvent>42</LogEvent>"));
        let document = crate::xml::reader::Document::check(xml.as_bytes(), Limits::default());
        assert!(document.is_ok());
    }

    #[test]
    fn the_log_event_names_the_receipt_by_its_hash_and_the_number_the_receipt_gives() {
        let evidence = evidence();
        let event = evidence.log_event("<Receipt/>");
        let text = String::from_utf8(event.body).expect("utf-8");
        assert_eq!(event.seq, 42);
        assert_eq!(event.packet_id.as_deref(), Some("5f0c"));
        assert!(text.starts_with("lienthong-event/1\nseq 42\nat 2026-06-01T00:00:00.000001Z\n"));
        assert!(text.contains("\nstatus 03 000.00.00.G22\n"), "{text}");
        let hash = hex::encode(openssl::sha::sha256(b"<Receipt/>"));
        assert!(
            text.ends_with(&format!("\nreceipt-sha256 {hash}\n")),
            "{text}"
        );
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

    fn signer() -> ReceiptSigner {
        let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        ReceiptSigner::load(
            &dev.join("server-receipts-p256.pem"),
            &dev.join("server-receipts-p256.key.pem"),
        )
        .expect("dev receipt key")
    }

    /// The document without the (randomized) ECDSA value.
    fn without_value(signed: &str) -> String {
        let start = signed.find("<ds:SignatureValue>").expect("value") + 19;
        let end = signed.find("</ds:SignatureValue>").expect("value end");
        format!("{}{}", &signed[..start], &signed[end..])
    }

    fn canonical(xml: &str) -> String {
        let mut out = Vec::new();
        crate::xml::c14n::canonicalize(
            xml.as_bytes(),
            &SignOptions::default().canonicalization,
            crate::xml::c14n::Subset::Document,
            Limits::default(),
            &mut out,
        )
        .expect("c14n");
        String::from_utf8(out).expect("UTF-8")
    }

    proptest::proptest! {
        /// The receipt's root is written exactly as exclusive C14N renders it, whatever the
        /// values hold, so signing it without reading it back signs what a verifier digests;
        /// and the quick path signs byte for byte what the general path signs.
        #[test]
        fn the_receipt_root_is_canonical_as_written(
            document_id in "[ -~\t\r\n\u{a0}-\u{2ff}\u{1ea0}-\u{1ef9}]{1,40}",
            subject in "[ -~\t\r\n\u{a0}-\u{2ff}\u{1ea0}-\u{1ef9}]{0,40}",
            original_sender in "[ -~\t\r\n]{1,20}",
        ) {
            let mut e = evidence();
            e.document_id = document_id;
            e.signer_subject = subject;
            e.status = Some(("03".into(), original_sender));
            let xml = e.to_xml();
            let root = &xml[PROLOG.len()..xml.len() - 1];
            proptest::prop_assert_eq!(canonical(&xml), root);
            let signer = signer();
            let quick = signer.sign(&e).expect("signed");
            let general = signer
                .signer
                .sign(xml.as_bytes(), Placement::LastChildOfRoot, Limits::default())
                .expect("signed");
            let general = String::from_utf8(general).expect("UTF-8");
            proptest::prop_assert_eq!(without_value(&quick), without_value(&general));
        }
    }

    #[test]
    fn a_value_xml_cannot_carry_is_refused_not_signed() {
        let mut e = evidence();
        e.signer_subject = "CN=\u{1}".into();
        assert_eq!(
            signer().sign(&e).err().map(|e| e.code()),
            Some("exchange.receipt")
        );
    }
}
