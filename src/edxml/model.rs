//! The typed packets: a message (an official document, spec §1) or a status report (§2).
//! Cardinalities are in the types: `Option` for 0..1, `Vec` for 0..n, [`NonEmpty`] for 1..n.
//! Optional elements that a client wrote empty (`<Email/>`) are read as absent.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::codes::{shown, BusinessDocType, OrganId, Priority, StatusCode};
use super::content::{ContentId, EncodedContent};
use super::date::{EdxmlDate, EdxmlTimestamp};
use super::error::EdxmlError;

/// A list with at least one element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NonEmpty<T>(Vec<T>);

impl<T> NonEmpty<T> {
    pub fn new(first: T) -> Self {
        NonEmpty(vec![first])
    }

    /// `None` when `items` is empty.
    pub fn from_vec(items: Vec<T>) -> Option<Self> {
        if items.is_empty() {
            None
        } else {
            Some(NonEmpty(items))
        }
    }

    pub fn first(&self) -> &T {
        // The invariant (never empty) is kept by every constructor.
        &self.0[0]
    }

    pub fn push(&mut self, item: T) {
        self.0.push(item);
    }

    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T> std::ops::Deref for NonEmpty<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'a, T> IntoIterator for &'a NonEmpty<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The sender's identifier for a document (`DocumentId`): opaque, never parsed for meaning
/// (spec §6); non-empty, at most 512 bytes, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(String);

impl DocumentId {
    pub const MAX_LEN: usize = 512;

    pub fn parse(value: &str) -> Result<DocumentId, String> {
        if value.is_empty() {
            return Err("a document id may not be empty".into());
        }
        if value.len() > Self::MAX_LEN {
            return Err(format!(
                "{} is longer than {} bytes",
                shown(value),
                Self::MAX_LEN
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("{} contains control characters", shown(value)));
        }
        Ok(DocumentId(value.to_owned()))
    }

    /// A fresh random id (a UUID).
    pub fn generate() -> DocumentId {
        DocumentId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An agency as `From`, `To` or `Status/From` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Organization {
    pub organ_id: OrganId,
    pub organization_in_charge: Option<String>,
    pub organ_name: String,
    pub organ_add: Option<String>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub fax: Option<String>,
    pub website: Option<String>,
}

impl Organization {
    pub fn new(organ_id: OrganId, organ_name: impl Into<String>) -> Self {
        Organization {
            organ_id,
            organization_in_charge: None,
            organ_name: organ_name.into(),
            organ_add: None,
            email: None,
            telephone: None,
            fax: None,
            website: None,
        }
    }

    /// When only the code is known (the name lives in the directory), the code stands in
    /// for the name.
    pub fn from_code(organ_id: OrganId) -> Self {
        let name = organ_id.as_str().to_owned();
        Organization::new(organ_id, name)
    }
}

/// `Code`: the document's number (số) and notation (ký hiệu), printed as `number/notation`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentCode {
    pub number: String,
    pub notation: String,
}

impl fmt::Display for DocumentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.notation)
    }
}

/// `PromulgationInfo`: where and when the document was issued.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromulgationInfo {
    pub place: String,
    pub date: EdxmlDate,
}

/// `DocumentType`: `Type` (e.g. 18), `TypeDetail`, `TypeName` (e.g. "Công văn").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentType {
    pub type_code: u32,
    pub type_detail: Option<u32>,
    pub type_name: String,
}

impl DocumentType {
    /// Type 18, "Công văn" (an official letter), as the SDK numbers it.
    pub fn official_letter() -> Self {
        DocumentType {
            type_code: 18,
            type_detail: None,
            type_name: "Công văn".to_owned(),
        }
    }
}

/// `SignerInfo`: who signed the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignerInfo {
    /// e.g. "KT. BỘ TRƯỞNG".
    pub competence: Option<String>,
    pub position: Option<String>,
    pub full_name: String,
}

/// `OtherInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OtherInfo {
    pub priority: Option<Priority>,
    pub sphere_of_promulgation: Option<String>,
    pub typer_notation: Option<String>,
    pub promulgation_amount: Option<u32>,
    pub page_amount: Option<u32>,
    pub direction: Option<bool>,
    /// `Appendixes/Appendix`; empty entries are dropped.
    pub appendixes: Vec<String>,
}

/// `ResponseFor`: the earlier document a message answers, or a status reports on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseFor {
    /// The agency that sent the earlier document.
    pub organ_id: OrganId,
    /// `number/notation` of the earlier document, when given.
    pub code: Option<String>,
    pub promulgation_date: Option<EdxmlDate>,
    pub document_id: DocumentId,
}

/// `MessageHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    pub from: Organization,
    pub to: NonEmpty<Organization>,
    pub document_id: DocumentId,
    pub code: DocumentCode,
    pub promulgation: PromulgationInfo,
    pub document_type: DocumentType,
    /// Trích yếu: the summary line.
    pub subject: String,
    pub content: Option<String>,
    pub signer: SignerInfo,
    pub due_date: Option<EdxmlDate>,
    /// `ToPlaces/Place`: the recipients as printed on the letter.
    pub to_places: Option<NonEmpty<String>>,
    pub other_info: Option<OtherInfo>,
    pub steering_type: Option<u32>,
    pub response_for: Vec<ResponseFor>,
}

/// `StaffInfo`: the clerk or officer who acted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StaffInfo {
    pub department: Option<String>,
    pub staff: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
}

/// `BussinessDocumentInfo/ReceiverList/Receiver`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receiver {
    pub receiver_type: Option<String>,
    pub organ_id: OrganId,
}

/// `BussinessDocumentInfo`: what an update changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BusinessDocumentInfo {
    pub document_info: Option<String>,
    pub document_receiver: Option<String>,
    pub receivers: Vec<Receiver>,
}

/// `ReplacementInfoList/ReplacementInfo`: a document this one acts on, and its recipients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplacementInfo {
    pub document_id: DocumentId,
    /// `OrganIdList/OrganId`.
    pub organ_ids: Vec<OrganId>,
}

/// `Bussiness` (spelled so in every client).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Business {
    pub doc_type: BusinessDocType,
    pub reason: Option<String>,
    /// Whether a paper copy also follows.
    pub paper: Option<bool>,
    pub staff_info: Option<StaffInfo>,
    pub document_info: Option<BusinessDocumentInfo>,
    /// `ReplacementInfoList/ReplacementInfo`; an empty list is read as no list.
    pub replacements: Vec<ReplacementInfo>,
}

/// `TraceHeader`: one hop the packet passed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceHeader {
    pub organ_id: OrganId,
    pub timestamp: EdxmlTimestamp,
}

/// `TraceHeaderList`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceHeaderList {
    pub business: Option<Business>,
    pub trace_headers: NonEmpty<TraceHeader>,
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttachmentContent {
    /// Base64 text inside the packet the reader was given (never copied).
    InPacket(EncodedContent),
    /// Bytes to be base64-encoded by the writer.
    Bytes(Vec<u8>),
}

/// One attachment: a manifest `Reference` and its `Attachment` under `AttachmentEncoded`,
/// matched by content id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attachment {
    pub content_id: ContentId,
    pub name: String,
    pub content_type: String,
    pub description: Option<String>,
    pub content: AttachmentContent,
}

/// A message packet: an official document with its attachments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessagePacket {
    pub header: MessageHeader,
    pub trace: TraceHeaderList,
    /// In manifest order.
    pub attachments: Vec<Attachment>,
}

/// A status packet: what happened to a document at one agency.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusPacket {
    pub response_for: ResponseFor,
    pub from: Organization,
    pub status_code: StatusCode,
    pub description: Option<String>,
    pub timestamp: EdxmlTimestamp,
    pub staff_info: Option<StaffInfo>,
}

/// Either kind of packet (boxed: packets are large and moved whole).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Packet {
    Message(Box<MessagePacket>),
    Status(Box<StatusPacket>),
}

impl Packet {
    /// The agency that sent the packet (`From/OrganId`).
    pub fn sender(&self) -> &OrganId {
        match self {
            Packet::Message(m) => &m.header.from.organ_id,
            Packet::Status(s) => &s.from.organ_id,
        }
    }
}

impl From<MessagePacket> for Packet {
    fn from(message: MessagePacket) -> Self {
        Packet::Message(Box::new(message))
    }
}

impl From<StatusPacket> for Packet {
    fn from(status: StatusPacket) -> Self {
        Packet::Status(Box::new(status))
    }
}

impl MessagePacket {
    /// A new document (BussinessDocType 0) from `from` to `to` with sane defaults: a UUID as
    /// DocumentId, code `1/CV`, promulgated today in Vietnam at an unstated place, type 18
    /// "Công văn", signed in the sender's name, normal priority, one trace hop (the sender,
    /// now). Every field is public: adjust what you know.
    pub fn new_document(
        from: Organization,
        to: NonEmpty<Organization>,
        subject: impl Into<String>,
    ) -> MessagePacket {
        let trace = TraceHeader {
            organ_id: from.organ_id.clone(),
            timestamp: EdxmlTimestamp::now(),
        };
        let signer = SignerInfo {
            competence: None,
            position: None,
            full_name: from.organ_name.clone(),
        };
        MessagePacket {
            header: MessageHeader {
                from,
                to,
                document_id: DocumentId::generate(),
                code: DocumentCode {
                    number: "1".to_owned(),
                    notation: "CV".to_owned(),
                },
                promulgation: PromulgationInfo {
                    place: String::new(),
                    date: EdxmlDate::today(),
                },
                document_type: DocumentType::official_letter(),
                subject: subject.into(),
                content: None,
                signer,
                due_date: None,
                to_places: None,
                other_info: Some(OtherInfo {
                    priority: Some(Priority::Normal),
                    ..OtherInfo::default()
                }),
                steering_type: None,
                response_for: Vec::new(),
            },
            trace: TraceHeaderList {
                business: Some(Business::default()),
                trace_headers: NonEmpty::new(trace),
            },
            attachments: Vec::new(),
        }
    }

    /// Adds a file to be sent with the document under a fresh content id, which it returns.
    pub fn attach(
        &mut self,
        name: impl Into<String>,
        content_type: impl Into<String>,
        data: Vec<u8>,
    ) -> ContentId {
        let content_id = ContentId::generate();
        self.attachments.push(Attachment {
            content_id: content_id.clone(),
            name: name.into(),
            content_type: content_type.into(),
            description: None,
            content: AttachmentContent::Bytes(data),
        });
        content_id
    }

    /// What the packet does to documents (new when there is no `Bussiness`).
    pub fn business_doc_type(&self) -> BusinessDocType {
        self.trace
            .business
            .as_ref()
            .map(|b| b.doc_type)
            .unwrap_or_default()
    }

    /// The profile's rule that a revoke, update or replace names the original document
    /// (in ReplacementInfoList or ResponseFor). `root` is the path prefix for the message.
    pub(crate) fn check_names_original(&self, root: &str) -> Result<(), EdxmlError> {
        let doc_type = self.business_doc_type();
        let named = self
            .trace
            .business
            .as_ref()
            .is_some_and(|b| !b.replacements.is_empty())
            || !self.header.response_for.is_empty();
        if !doc_type.refers_to_original() || named {
            return Ok(());
        }
        let action = match doc_type {
            BusinessDocType::Revoke => "revoke",
            BusinessDocType::Update => "update",
            _ => "replace",
        };
        Err(EdxmlError::MissingOriginal {
            action,
            number: doc_type.as_str(),
            replacement: format!(
                "{root}/edXMLHeader/TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo"
            ),
            response_for: format!("{root}/edXMLHeader/MessageHeader/ResponseFor"),
        })
    }

    /// Decodes every attachment still held as a range of `source` (the bytes this packet was
    /// read from) into memory, so that the packet can be written again or compared. This
    /// costs the attachments' full size in memory: for large packets stream each one with
    /// [`EncodedContent::decode_to`] instead.
    pub fn load_attachments(&mut self, source: &[u8]) -> Result<(), EdxmlError> {
        for attachment in &mut self.attachments {
            if let AttachmentContent::InPacket(encoded) = &attachment.content {
                let data = encoded
                    .decode(source)
                    .map_err(|error| EdxmlError::Content {
                        path: format!("attachment {}", attachment.content_id),
                        error,
                    })?;
                attachment.content = AttachmentContent::Bytes(data);
            }
        }
        Ok(())
    }
}

/// A manifest `Reference`, before matching.
pub(crate) struct ManifestReference {
    pub content_id: ContentId,
    pub name: String,
    pub content_type: String,
    pub description: Option<String>,
}

/// An `Attachment` under `AttachmentEncoded`, before matching.
pub(crate) struct EncodedAttachment {
    pub content_id: ContentId,
    pub name: String,
    pub content_type: String,
    pub description: Option<String>,
    pub content: EncodedContent,
}

/// Matches manifest references with encoded attachments one to one (spec §1 Profile).
/// Names and content types must agree, so that what the manifest lists is what is delivered.
/// Hashing keeps this linear: a hostile packet may carry thousands of attachments.
pub(crate) fn pair_attachments(
    references: Vec<ManifestReference>,
    encoded: Vec<EncodedAttachment>,
) -> Result<Vec<Attachment>, EdxmlError> {
    let mismatch = |reason: String| EdxmlError::AttachmentMismatch { reason };
    let mut by_id: HashMap<ContentId, EncodedAttachment> = HashMap::with_capacity(encoded.len());
    for a in encoded {
        if by_id.contains_key(&a.content_id) {
            return Err(mismatch(format!(
                "two attachments have the content id {}",
                shown(a.content_id.as_str())
            )));
        }
        by_id.insert(a.content_id.clone(), a);
    }
    let mut listed: HashSet<ContentId> = HashSet::with_capacity(references.len());
    let mut paired = Vec::with_capacity(references.len());
    for r in references {
        if !listed.insert(r.content_id.clone()) {
            return Err(mismatch(format!(
                "the manifest lists the content id {} twice",
                shown(r.content_id.as_str())
            )));
        }
        let a = by_id.remove(&r.content_id).ok_or_else(|| {
            mismatch(format!(
                "the manifest lists {} ({}) but no attachment has that content id",
                shown(r.content_id.as_str()),
                shown(&r.name)
            ))
        })?;
        paired.push(pair(r, a)?);
    }
    if let Some(extra) = by_id
        .values()
        .min_by(|a, b| a.content_id.cmp(&b.content_id))
    {
        return Err(mismatch(format!(
            "attachment {} ({}) is not listed in the manifest",
            shown(extra.content_id.as_str()),
            shown(&extra.name)
        )));
    }
    Ok(paired)
}

fn pair(r: ManifestReference, a: EncodedAttachment) -> Result<Attachment, EdxmlError> {
    let mismatch = |reason: String| EdxmlError::AttachmentMismatch { reason };
    if a.name != r.name {
        return Err(mismatch(format!(
            "attachment {} is named {} in the manifest but {} beside its content",
            shown(r.content_id.as_str()),
            shown(&r.name),
            shown(&a.name)
        )));
    }
    if !a.content_type.eq_ignore_ascii_case(&r.content_type) {
        return Err(mismatch(format!(
            "attachment {} has content type {} in the manifest but {} beside its content",
            shown(r.content_id.as_str()),
            shown(&r.content_type),
            shown(&a.content_type)
        )));
    }
    Ok(Attachment {
        content_id: a.content_id,
        name: a.name,
        content_type: a.content_type,
        description: r.description.or(a.description),
        content: AttachmentContent::InPacket(a.content),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ContentId {
        ContentId::parse(s).unwrap()
    }

    fn reference(cid: &str, name: &str) -> ManifestReference {
        ManifestReference {
            content_id: id(cid),
            name: name.into(),
            content_type: "application/pdf".into(),
            description: Some("Văn bản".into()),
        }
    }

    fn encoded(cid: &str, name: &str) -> EncodedAttachment {
        EncodedAttachment {
            content_id: id(cid),
            name: name.into(),
            content_type: "APPLICATION/PDF".into(),
            description: None,
            content: EncodedContent::scan(b"QUJD", 10).unwrap(),
        }
    }

    fn mismatch(r: Vec<ManifestReference>, e: Vec<EncodedAttachment>) -> String {
        let err = pair_attachments(r, e).unwrap_err();
        assert_eq!(err.code(), "edxml.attachment_mismatch");
        err.to_string()
    }

    #[test]
    fn pairs_references_with_attachments_ignoring_cid_prefix() {
        let paired = pair_attachments(
            vec![reference("cid:a", "a.pdf"), reference("cid:b", "b.pdf")],
            vec![encoded("b", "b.pdf"), encoded("a", "a.pdf")],
        )
        .unwrap();
        assert_eq!(paired.len(), 2);
        assert_eq!(paired[0].content_id.as_str(), "a");
        assert_eq!(paired[1].name, "b.pdf");
        assert_eq!(paired[0].description.as_deref(), Some("Văn bản"));
        assert!(pair_attachments(vec![], vec![]).unwrap().is_empty());
    }

    #[test]
    fn refuses_every_kind_of_mismatch() {
        assert!(mismatch(vec![reference("a", "a.pdf")], vec![]).contains("no attachment"));
        assert!(mismatch(vec![], vec![encoded("a", "a.pdf")]).contains("not listed"));
        assert!(mismatch(
            vec![reference("a", "a.pdf"), reference("cid:a", "a.pdf")],
            vec![encoded("a", "a.pdf")]
        )
        .contains("twice"));
        assert!(mismatch(
            vec![reference("a", "a.pdf")],
            vec![encoded("a", "a.pdf"), encoded("cid:a", "a.pdf")]
        )
        .contains("two attachments"));
        assert!(
            mismatch(vec![reference("a", "a.pdf")], vec![encoded("a", "x.exe")]).contains("named")
        );
    }

    #[test]
    fn non_empty_keeps_its_promise() {
        assert!(NonEmpty::<u8>::from_vec(vec![]).is_none());
        let mut n = NonEmpty::new(1);
        n.push(2);
        assert_eq!(n.first(), &1);
        assert_eq!(n.len(), 2);
        assert_eq!(n.into_vec(), vec![1, 2]);
    }

    #[test]
    fn document_ids_are_opaque_but_bounded() {
        assert!(DocumentId::parse("000.00.00.G22,2024/03/05,123/VPCP-KSTT").is_ok());
        assert!(DocumentId::parse("").is_err());
        assert!(DocumentId::parse("a\u{0}b").is_err());
        assert!(DocumentId::parse(&"x".repeat(513)).is_err());
    }

    #[test]
    fn new_document_has_sane_defaults_and_attachments() {
        let from = Organization::from_code(OrganId::parse("000.00.00.H49").unwrap());
        let to = NonEmpty::new(Organization::new(
            OrganId::parse("000.00.00.G22").unwrap(),
            "Bộ Nội vụ",
        ));
        let mut m = MessagePacket::new_document(from, to, "Về việc báo cáo");
        assert_eq!(m.header.from.organ_name, "000.00.00.H49");
        assert_eq!(m.header.document_type.type_code, 18);
        assert_eq!(m.business_doc_type(), BusinessDocType::New);
        assert_eq!(
            m.trace.trace_headers.first().organ_id.as_str(),
            "000.00.00.H49"
        );
        let cid = m.attach("a.pdf", "application/pdf", b"%PDF".to_vec());
        assert_eq!(m.attachments[0].content_id, cid);
        assert!(m.check_names_original("edXML").is_ok());
        m.trace.business = Some(Business {
            doc_type: BusinessDocType::Revoke,
            ..Business::default()
        });
        let err = m.check_names_original("edXML").unwrap_err();
        assert_eq!(err.code(), "edxml.missing_element");
        assert!(err.to_string().contains("ReplacementInfo"), "{err}");
    }
}
