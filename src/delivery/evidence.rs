//! Delivery evidence: the server's signed statement, for a packet's sender, that a recipient's
//! system took the packet — or that pushing it was given up. Its events are named after ETSI
//! EN 319 522 (electronic registered delivery):
//!
//! | event | when |
//! |---|---|
//! | `ContentConsignment` | the recipient's push endpoint answered 2xx (`Via` push): the packet was consigned to its system |
//! | `ContentHandover` | the recipient's system acknowledged the delivery after pulling it (`Via` pull) |
//! | `ContentConsignmentFailure` | the push was parked (`Reason` says why) and the recipient has not pulled it since |
//!
//! A delivery neither taken nor parked has no evidence yet. A parked push the recipient later
//! acknowledges by pull has `ContentHandover`; one an operator sends again
//! (`lienthong delivery retry`) has none until that push ends.
//!
//! The document is the receipt's kin (`exchange::receipt`): the same namespace, writer and
//! signing profile (an enveloped XML-DSig signature with the receipt key as the root's last
//! child, so `xmlsec1 --verify` checks it), our own document, never an edit of the packet:
//!
//! ```xml
//! <DeliveryEvidence xmlns="urn:lienthong:receipt:1" version="1">
//!   <PacketId>…</PacketId><Kind>message</Kind><DocumentId>…</DocumentId>
//!   <Sender>000.00.00.G22</Sender>
//!   <Content><Sha256>…</Sha256><Size>2048</Size></Content>
//!   <AcceptedAt>2026-06-01T00:00:00.000000Z</AcceptedAt>
//!   <Event type="ContentConsignment">
//!     <Recipient>000.00.00.H49</Recipient><Delivery>17</Delivery><Via>push</Via>
//!     <At>2026-06-01T00:00:01.250000Z</At>
//!     <EndpointSha256>…</EndpointSha256><HttpStatus>200</HttpStatus>
//!   </Event>
//!   <Event type="ContentConsignmentFailure">
//!     <Recipient>000.00.00.H08</Recipient><Delivery>18</Delivery><Via>push</Via>
//!     <At>…</At><EndpointSha256>…</EndpointSha256><HttpStatus>403</HttpStatus>
//!     <Reason>the endpoint answered 403 Forbidden</Reason>
//!   </Event>
//!   <ds:Signature>…</ds:Signature>
//! </DeliveryEvidence>
//! ```
//!
//! One `Event` per recipient that has one, by recipient code; asked for one recipient, only
//! its own. `Delivery` is the delivery number (`X-Lienthong-Delivery` of the pushes, the
//! inbox's `delivery`). The endpoint is named by the SHA-256 of its URL, not the URL: an
//! agency's endpoint is shown to that agency only (`GET /v1/deliveries`), and the recipient
//! or an operator can still match it. `HttpStatus` is what the endpoint answered last (absent
//! when it did not answer: a timeout, a refused connection).
//!
//! Evidence is derived when asked from what the exchange recorded — the delivery (when and how
//! it was taken) and its push — and signed then; nothing in it is the time of asking, so the
//! same facts give the same document on every fetch (only the ECDSA signature value differs).

use crate::edxml::OrganId;
use crate::exchange::receipt::{self, element, escape_attribute, rfc3339_micros, NAMESPACE};
use crate::exchange::{Exchange, ExchangeError, TakenVia};
use crate::store::evidence::{delivery_facts, DeliveryFacts};
use crate::store::pushes::PushState;
use crate::store::{packets, PacketRecord, StoreError};

/// The root element's name.
pub const ROOT: &str = "DeliveryEvidence";

/// What happened to a delivery, in ETSI EN 319 522's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The recipient's push endpoint answered 2xx.
    ContentConsignment,
    /// The push was given up (parked).
    ContentConsignmentFailure,
    /// The recipient's system acknowledged the delivery it pulled.
    ContentHandover,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ContentConsignment => "ContentConsignment",
            EventType::ContentConsignmentFailure => "ContentConsignmentFailure",
            EventType::ContentHandover => "ContentHandover",
        }
    }
}

/// One recipient's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    pub recipient: String,
    /// The delivery number.
    pub delivery: i64,
    pub via: TakenVia,
    /// When it happened (microseconds since the epoch), as recorded then.
    pub at: i64,
    /// SHA-256 of the push endpoint's URL, lowercase hex (pushes only).
    pub endpoint_sha256: Option<String>,
    /// The HTTP status the endpoint answered (pushes only, when it answered).
    pub http_status: Option<i64>,
    /// Why the push was given up (failures only).
    pub reason: Option<String>,
}

/// The rule: the event a delivery's recorded facts support, if any.
pub fn event_of(facts: &DeliveryFacts) -> Option<Event> {
    let endpoint_sha256 = || {
        facts
            .push
            .as_ref()
            .and_then(|p| p.endpoint.as_deref())
            .map(|url| hex::encode(openssl::sha::sha256(url.as_bytes())))
    };
    let event = |kind, via, at| Event {
        kind,
        recipient: facts.recipient.clone(),
        delivery: facts.seq,
        via,
        at,
        endpoint_sha256: None,
        http_status: None,
        reason: None,
    };
    match (facts.acked_at, facts.taken_via.as_deref()) {
        (Some(at), Some("push")) => {
            let pushed = facts
                .push
                .as_ref()
                .filter(|p| p.state == PushState::Delivered);
            Some(Event {
                endpoint_sha256: endpoint_sha256(),
                http_status: pushed.and_then(|p| p.last_status),
                ..event(EventType::ContentConsignment, TakenVia::Push, at)
            })
        }
        // Taken by pull; a delivery acknowledged before pushes existed has no `taken_via`.
        (Some(at), _) => Some(event(EventType::ContentHandover, TakenVia::Pull, at)),
        (None, _) => {
            let parked = facts
                .push
                .as_ref()
                .filter(|p| p.state == PushState::Parked)?;
            Some(Event {
                endpoint_sha256: endpoint_sha256(),
                http_status: parked.last_status,
                reason: Some(
                    parked
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the push was given up".to_owned()),
                ),
                ..event(
                    EventType::ContentConsignmentFailure,
                    TakenVia::Push,
                    parked.done_at.unwrap_or(parked.updated_at),
                )
            })
        }
    }
}

/// What a delivery evidence document states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryEvidence {
    pub packet_id: String,
    /// `message` or `status`.
    pub kind: &'static str,
    pub document_id: String,
    pub sender: String,
    /// SHA-256 of the packet's bytes, lowercase hex.
    pub content_sha256: String,
    pub size: i64,
    /// When the exchange accepted the packet (microseconds).
    pub accepted_at: i64,
    /// At least one.
    pub events: Vec<Event>,
}

impl DeliveryEvidence {
    fn of(packet: &PacketRecord, events: Vec<Event>) -> DeliveryEvidence {
        DeliveryEvidence {
            packet_id: packet.id.clone(),
            kind: packet.kind.as_str(),
            document_id: packet.document_id.clone(),
            sender: packet.sender.clone(),
            content_sha256: packet.content_sha256.clone(),
            size: packet.size,
            accepted_at: packet.received_at,
            events,
        }
    }

    /// The unsigned document, its root in exclusive canonical form as the receipt's is
    /// (`ReceiptSigner::sign_document` signs it without reading it back).
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(1024 + 512 * self.events.len());
        x.push_str(receipt::PROLOG);
        x.push_str(&format!(r#"<{ROOT} xmlns="{NAMESPACE}" version="1">"#));
        element(&mut x, "PacketId", &self.packet_id);
        element(&mut x, "Kind", self.kind);
        element(&mut x, "DocumentId", &self.document_id);
        element(&mut x, "Sender", &self.sender);
        x.push_str("<Content>");
        element(&mut x, "Sha256", &self.content_sha256);
        element(&mut x, "Size", &self.size.to_string());
        x.push_str("</Content>");
        element(&mut x, "AcceptedAt", &rfc3339_micros(self.accepted_at));
        for event in &self.events {
            x.push_str(r#"<Event type=""#);
            escape_attribute(&mut x, event.kind.as_str());
            x.push_str(r#"">"#);
            element(&mut x, "Recipient", &event.recipient);
            element(&mut x, "Delivery", &event.delivery.to_string());
            element(&mut x, "Via", event.via.as_str());
            element(&mut x, "At", &rfc3339_micros(event.at));
            if let Some(sha256) = &event.endpoint_sha256 {
                element(&mut x, "EndpointSha256", sha256);
            }
            if let Some(status) = event.http_status {
                element(&mut x, "HttpStatus", &status.to_string());
            }
            if let Some(reason) = &event.reason {
                element(&mut x, "Reason", reason);
            }
            x.push_str("</Event>");
        }
        x.push_str(&format!("</{ROOT}>\n"));
        x
    }

    /// Whether every value is made of characters XML can carry.
    fn is_xml(&self) -> bool {
        let events = self.events.iter().flat_map(|e| {
            [Some(e.recipient.as_str()), e.reason.as_deref()]
                .into_iter()
                .flatten()
        });
        [
            self.packet_id.as_str(),
            self.document_id.as_str(),
            self.sender.as_str(),
            self.content_sha256.as_str(),
        ]
        .into_iter()
        .chain(events)
        .all(receipt::is_xml_text)
    }
}

/// Why evidence was not given.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The recipient (or, without one named, every recipient) has neither taken the packet nor
    /// had its push given up.
    #[error("{0}")]
    NotYet(String),
    /// The named agency is not a recipient of the packet.
    #[error("{recipient} is not a recipient of packet {packet}")]
    UnknownRecipient { packet: String, recipient: String },
    /// Signing failed (the receipt key or OpenSSL).
    #[error("cannot sign the delivery evidence: {0}")]
    Sign(String),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
}

impl From<StoreError> for EvidenceError {
    fn from(e: StoreError) -> Self {
        EvidenceError::Exchange(e.into())
    }
}

impl EvidenceError {
    pub fn code(&self) -> &'static str {
        match self {
            EvidenceError::NotYet(_) => "evidence.not_yet",
            EvidenceError::UnknownRecipient { .. } => "evidence.unknown_recipient",
            EvidenceError::Sign(_) => "exchange.receipt",
            EvidenceError::Exchange(e) => e.code(),
        }
    }
}

/// The signed delivery evidence of packet `packet_id`, for its sender only (anyone else, as
/// for a packet that does not exist: `exchange.not_found`); of `recipient` alone when one is
/// named.
pub async fn evidence(
    exchange: &Exchange,
    agency: &OrganId,
    packet_id: &str,
    recipient: Option<&str>,
) -> Result<String, EvidenceError> {
    let mut conn = exchange.store().acquire().await?;
    let not_found = || {
        EvidenceError::Exchange(ExchangeError::NotFound {
            what: format!("the delivery evidence of packet {packet_id}"),
            agency: agency.as_str().to_owned(),
        })
    };
    let packet = packets::packet(&mut conn, packet_id)
        .await?
        .filter(|p| p.sender == agency.as_str())
        .ok_or_else(not_found)?;
    let deliveries = delivery_facts(&mut conn, packet_id).await?;
    drop(conn);
    let events = choose(&packet.id, &deliveries, recipient)?;
    let document = DeliveryEvidence::of(&packet, events);
    exchange
        .receipts()
        .sign_document(&document.to_xml(), document.is_xml())
        .map_err(|e| match e {
            ExchangeError::Receipt(why) => EvidenceError::Sign(why),
            other => other.into(),
        })
}

/// The events to state: every recipient's that has one, or `recipient`'s.
fn choose(
    packet_id: &str,
    deliveries: &[DeliveryFacts],
    recipient: Option<&str>,
) -> Result<Vec<Event>, EvidenceError> {
    match recipient {
        Some(code) => {
            let facts = deliveries
                .iter()
                .find(|d| d.recipient == code)
                .ok_or_else(|| EvidenceError::UnknownRecipient {
                    packet: packet_id.to_owned(),
                    recipient: code.to_owned(),
                })?;
            let event = event_of(facts).ok_or_else(|| {
                EvidenceError::NotYet(format!(
                    "{code} has not taken packet {packet_id} yet, and its push was not given up"
                ))
            })?;
            Ok(vec![event])
        }
        None => {
            let events: Vec<Event> = deliveries.iter().filter_map(event_of).collect();
            if events.is_empty() {
                return Err(EvidenceError::NotYet(format!(
                    "no recipient has taken packet {packet_id} yet, and no push of it was given up"
                )));
            }
            Ok(events)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::evidence::PushFacts;
    use crate::store::PacketKind;

    fn facts(recipient: &str, acked_at: Option<i64>, via: Option<&str>) -> DeliveryFacts {
        DeliveryFacts {
            seq: 7,
            recipient: recipient.to_owned(),
            acked_at,
            taken_via: via.map(str::to_owned),
            push: None,
        }
    }

    fn push(state: PushState, status: Option<i64>, error: Option<&str>) -> Option<PushFacts> {
        Some(PushFacts {
            state,
            endpoint: Some("https://h49.example/push".to_owned()),
            last_status: status,
            last_error: error.map(str::to_owned),
            done_at: Some(300),
            updated_at: 300,
        })
    }

    #[test]
    fn each_recorded_outcome_gives_its_event() {
        let mut pushed = facts("H49", Some(200), Some("push"));
        pushed.push = push(PushState::Delivered, Some(202), None);
        let event = event_of(&pushed).expect("an event");
        assert_eq!(event.kind, EventType::ContentConsignment);
        assert_eq!((event.via, event.at), (TakenVia::Push, 200));
        assert_eq!(event.http_status, Some(202));
        assert_eq!(
            event.endpoint_sha256.as_deref(),
            Some(hex::encode(openssl::sha::sha256(b"https://h49.example/push")).as_str())
        );

        let pulled = facts("H49", Some(100), Some("pull"));
        let event = event_of(&pulled).expect("an event");
        assert_eq!(event.kind, EventType::ContentHandover);
        assert_eq!(
            (event.via, event.at, event.endpoint_sha256),
            (TakenVia::Pull, 100, None)
        );
        // Acknowledged before pushes existed.
        assert_eq!(
            event_of(&facts("H49", Some(100), None)).map(|e| e.kind),
            Some(EventType::ContentHandover)
        );

        let mut parked = facts("H49", None, None);
        parked.push = push(PushState::Parked, Some(403), Some("HTTP 403"));
        let event = event_of(&parked).expect("an event");
        assert_eq!(event.kind, EventType::ContentConsignmentFailure);
        assert_eq!((event.at, event.http_status), (300, Some(403)));
        assert_eq!(event.reason.as_deref(), Some("HTTP 403"));

        // Parked, then pulled: the handover stands.
        let mut rescued = facts("H49", Some(400), Some("pull"));
        rescued.push = push(PushState::Parked, Some(403), Some("HTTP 403"));
        assert_eq!(
            event_of(&rescued).map(|e| e.kind),
            Some(EventType::ContentHandover)
        );

        // Waiting: nothing yet, whether or not a push is still being tried.
        assert_eq!(event_of(&facts("H49", None, None)), None);
        let mut retrying = facts("H49", None, None);
        retrying.push = push(PushState::Retrying, Some(503), Some("HTTP 503"));
        assert_eq!(event_of(&retrying), None);
    }

    #[test]
    fn a_recipient_is_chosen_or_refused() {
        let deliveries = [facts("A", Some(1), Some("pull")), facts("B", None, None)];
        assert_eq!(
            choose("p", &deliveries, None).map(|e| e.len()).ok(),
            Some(1)
        );
        let code = |r| choose("p", &deliveries, r).err().map(|e| e.code());
        assert_eq!(code(Some("A")), None);
        assert_eq!(code(Some("B")), Some("evidence.not_yet"));
        assert_eq!(code(Some("C")), Some("evidence.unknown_recipient"));
        assert_eq!(
            choose("p", &deliveries[1..], None).err().map(|e| e.code()),
            Some("evidence.not_yet")
        );
    }

    fn document() -> DeliveryEvidence {
        let mut parked = facts("000.00.00.H08", None, None);
        parked.push = push(PushState::Parked, None, Some("timed out & <gave up>\r"));
        let packet = PacketRecord {
            id: "5f0c".into(),
            sender: "000.00.00.G22".into(),
            kind: PacketKind::Message,
            document_id: "G22,2026/06/01,12/CV & <x>".into(),
            content_sha256: "ab".repeat(32),
            size: 2048,
            blob_key: String::new(),
            received_at: 1_780_272_000_000_001,
            legacy_sha1: false,
            verdict: String::new(),
        };
        let events = [
            facts("000.00.00.H49", Some(1_780_272_001_000_000), Some("pull")),
            parked,
        ]
        .iter()
        .filter_map(event_of)
        .collect();
        DeliveryEvidence::of(&packet, events)
    }

    #[test]
    fn the_document_is_canonical_as_written_and_signs_as_the_receipt_does() {
        let e = document();
        let xml = e.to_xml();
        assert!(xml.contains(
            r#"<Event type="ContentHandover"><Recipient>000.00.00.H49</Recipient><Delivery>7</Delivery><Via>pull</Via><At>2026-06-01T00:00:01Z</At></Event>"#
        ));
        assert!(xml.contains("<Reason>timed out &amp; &lt;gave up&gt;&#xD;</Reason>"));
        let root = &xml[receipt::PROLOG.len()..xml.len() - 1];
        let mut canonical = Vec::new();
        crate::xml::c14n::canonicalize(
            xml.as_bytes(),
            &crate::dsig::SignOptions::default().canonicalization,
            crate::xml::c14n::Subset::Document,
            crate::xml::reader::Limits::default(),
            &mut canonical,
        )
        .expect("c14n");
        assert_eq!(String::from_utf8(canonical).expect("UTF-8"), root);

        let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        let signer = crate::exchange::ReceiptSigner::load(
            &dev.join("server-receipts-p256.pem"),
            &dev.join("server-receipts-p256.key.pem"),
        )
        .expect("dev receipt key");
        let signed = signer.sign_document(&xml, e.is_xml()).expect("signed");
        let start = signed.find("<ds:Signature").expect("a signature");
        let end = signed.find("</DeliveryEvidence>").expect("root end");
        assert_eq!(format!("{}{}", &signed[..start], &signed[end..]), xml);

        let mut bad = document();
        bad.events[1].reason = Some("\u{1}".into());
        assert!(!bad.is_xml());
        assert_eq!(
            signer
                .sign_document(&bad.to_xml(), bad.is_xml())
                .err()
                .map(|e| e.code()),
            Some("exchange.receipt")
        );
    }
}
