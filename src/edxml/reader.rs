//! Reads packet bytes into a typed [`Packet`]: elements are matched by namespace URI and local
//! name (never by prefix), children in any order, unknown elements skipped; every missing,
//! repeated or malformed value is refused with its full path.

use std::borrow::Cow;

use crate::xml::events::Events;
use crate::xml::reader::{Document, Limits};

use super::codes::{shown, BusinessDocType, CodeError, OrganId, Priority, StatusCode};
use super::content::{ContentId, EncodedContent};
use super::date::{DateError, EdxmlDate, EdxmlTimestamp};
use super::error::EdxmlError;
use super::model::{
    pair_attachments, Business, BusinessDocumentInfo, DocumentCode, DocumentId, DocumentType,
    EncodedAttachment, ManifestReference, MessageHeader, MessagePacket, NonEmpty, Organization,
    OtherInfo, Packet, PromulgationInfo, Receiver, ReplacementInfo, ResponseFor, SignerInfo,
    StaffInfo, StatusPacket, TraceHeader, TraceHeaderList,
};
use super::tree::{Node, Piece, Tree};
use super::{NAMESPACE, SOAP_ENVELOPE_NAMESPACE};

/// Reads one packet. Attachments are not decoded: each records where its base64 text is in
/// `input` (see [`super::EncodedContent`]).
pub fn read(input: &[u8], limits: Limits) -> Result<Packet, EdxmlError> {
    read_document(Document::check(input, limits)?, limits)
}

/// [`read`] for a document already checked (see [`Document`]).
pub fn read_document(document: Document<'_>, limits: Limits) -> Result<Packet, EdxmlError> {
    read_events(&Events::read(document, limits)?)
}

/// [`read`] for a document read earlier (see [`Events`]), whose events other passes share.
pub fn read_events(events: &Events<'_>) -> Result<Packet, EdxmlError> {
    let tree = Tree::build(events)?;
    let root = El::root(&tree).ok_or_else(|| EdxmlError::NotAPacket {
        root: "an XML-DSig signature".to_owned(),
    })?;
    let node = root.node();
    let ns = node.namespace.as_deref();
    match (ns, node.local) {
        (Some(NAMESPACE), "edXML") => read_edxml_root(&root),
        (Some(NAMESPACE), "edXMLEnvelope") => read_envelope(&root, &root, None),
        (Some(SOAP_ENVELOPE_NAMESPACE), "Envelope") => read_soap(&root),
        (_, "edXML" | "edXMLEnvelope") => Err(root.wrong_namespace(NAMESPACE)),
        (_, "Envelope") => Err(root.wrong_namespace(SOAP_ENVELOPE_NAMESPACE)),
        _ => Err(EdxmlError::NotAPacket {
            root: describe_name(node),
        }),
    }
}

fn describe_name(node: &Node<'_>) -> String {
    match node.namespace.as_deref() {
        Some(ns) => format!("{} in the namespace {}", shown(node.local), shown(ns)),
        None => format!("{} in no namespace", shown(node.local)),
    }
}

/// `edXML` root: the envelope, then (outside it) the encoded attachments.
fn read_edxml_root(root: &El<'_, '_, '_>) -> Result<Packet, EdxmlError> {
    let envelope = root.one("edXMLEnvelope")?;
    let attachments = root.opt("AttachmentEncoded")?;
    read_envelope(root, &envelope, attachments)
}

/// `edXMLEnvelope > edXMLHeader > MessageHeader | Status`.
fn read_envelope(
    root: &El<'_, '_, '_>,
    envelope: &El<'_, '_, '_>,
    outer_attachments: Option<El<'_, '_, '_>>,
) -> Result<Packet, EdxmlError> {
    let header = envelope.one("edXMLHeader")?;
    let message = header.opt("MessageHeader")?;
    let status = header.opt("Status")?;
    match (message, status) {
        (Some(message), None) => {
            let inner_attachments = envelope.opt("AttachmentEncoded")?;
            let attachments = match (outer_attachments, inner_attachments) {
                (Some(_), Some(inner)) => {
                    return Err(EdxmlError::DuplicateElement { path: inner.path() })
                }
                (a, b) => a.or(b),
            };
            read_message(root, envelope, &header, &message, attachments).map(Packet::from)
        }
        (None, Some(status)) => read_status(&status).map(Packet::from),
        (Some(_), Some(_)) => Err(EdxmlError::InvalidValue {
            path: header.path(),
            reason: "it holds both a MessageHeader and a Status; a packet is one or the other"
                .into(),
        }),
        (None, None) => Err(EdxmlError::MissingElement {
            path: header.child_path("MessageHeader"),
        }),
    }
}

/// SOAP 1.1 `Envelope > Header > Status` (the Body is empty and ignored).
fn read_soap(root: &El<'_, '_, '_>) -> Result<Packet, EdxmlError> {
    let header = root.one_in(SOAP_ENVELOPE_NAMESPACE, "Header")?;
    let status = header.one("Status")?;
    read_status(&status).map(Packet::from)
}

fn read_message(
    root: &El<'_, '_, '_>,
    envelope: &El<'_, '_, '_>,
    header: &El<'_, '_, '_>,
    message: &El<'_, '_, '_>,
    attachments: Option<El<'_, '_, '_>>,
) -> Result<MessagePacket, EdxmlError> {
    let header_model = read_message_header(message)?;
    let trace = read_trace_list(&header.one("TraceHeaderList")?)?;
    let body = envelope.one("edXMLBody")?;
    let references = match body.opt("edXMLManifest")? {
        Some(manifest) => manifest
            .many("Reference")?
            .iter()
            .map(read_reference)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let encoded = match attachments {
        Some(holder) => holder
            .many("Attachment")?
            .iter()
            .map(read_encoded_attachment)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let packet = MessagePacket {
        header: header_model,
        trace,
        attachments: pair_attachments(references, encoded)?,
    };
    packet.check_names_original(&root.path())?;
    Ok(packet)
}

fn read_message_header(h: &El<'_, '_, '_>) -> Result<MessageHeader, EdxmlError> {
    let to = h
        .many("To")?
        .iter()
        .map(read_organization)
        .collect::<Result<Vec<_>, _>>()?;
    let to = NonEmpty::from_vec(to).ok_or_else(|| EdxmlError::MissingElement {
        path: h.child_path("To"),
    })?;
    let code = h.one("Code")?;
    let promulgation = h.one("PromulgationInfo")?;
    let doc_type = h.one("DocumentType")?;
    let signer = h.one("SignerInfo")?;
    Ok(MessageHeader {
        from: read_organization(&h.one("From")?)?,
        to,
        document_id: h.value("DocumentId", DocumentId::parse)?,
        code: DocumentCode {
            number: code.string("CodeNumber")?,
            notation: code.string("CodeNotation")?,
        },
        promulgation: PromulgationInfo {
            place: promulgation.string("Place")?,
            date: promulgation.value("PromulgationDate", EdxmlDate::parse)?,
        },
        document_type: DocumentType {
            type_code: doc_type.value("Type", parse_u32)?,
            type_detail: doc_type.opt_value("TypeDetail", parse_u32)?,
            type_name: doc_type.string("TypeName")?,
        },
        subject: h.string("Subject")?,
        content: h.opt_string("Content")?,
        signer: SignerInfo {
            competence: signer.opt_string("Competence")?,
            position: signer.opt_string("Position")?,
            full_name: signer.string("FullName")?,
        },
        due_date: h.opt_value("DueDate", EdxmlDate::parse)?,
        to_places: match h.opt("ToPlaces")? {
            Some(places) => NonEmpty::from_vec(places.strings("Place")?),
            None => None,
        },
        other_info: h
            .opt("OtherInfo")?
            .map(|o| read_other_info(&o))
            .transpose()?,
        steering_type: h.opt_value("SteeringType", parse_u32)?,
        response_for: h
            .many("ResponseFor")?
            .iter()
            .map(read_response_for)
            .collect::<Result<_, _>>()?,
    })
}

fn read_organization(o: &El<'_, '_, '_>) -> Result<Organization, EdxmlError> {
    Ok(Organization {
        organ_id: o.value("OrganId", OrganId::parse)?,
        organization_in_charge: o.opt_string("OrganizationInCharge")?,
        organ_name: o.string("OrganName")?,
        organ_add: o.opt_string("OrganAdd")?,
        email: o.opt_string("Email")?,
        telephone: o.opt_string("Telephone")?,
        fax: o.opt_string("Fax")?,
        website: o.opt_string("Website")?,
    })
}

fn read_other_info(o: &El<'_, '_, '_>) -> Result<OtherInfo, EdxmlError> {
    Ok(OtherInfo {
        priority: o.opt_value("Priority", Priority::parse)?,
        sphere_of_promulgation: o.opt_string("SphereOfPromulgation")?,
        typer_notation: o.opt_string("TyperNotation")?,
        promulgation_amount: o.opt_value("PromulgationAmount", parse_u32)?,
        page_amount: o.opt_value("PageAmount", parse_u32)?,
        direction: o.opt_value("Direction", parse_bool)?,
        appendixes: match o.opt("Appendixes")? {
            Some(list) => list.strings("Appendix")?,
            None => Vec::new(),
        },
    })
}

fn read_response_for(r: &El<'_, '_, '_>) -> Result<ResponseFor, EdxmlError> {
    Ok(ResponseFor {
        organ_id: r.value("OrganId", OrganId::parse)?,
        code: r.opt_string("Code")?,
        promulgation_date: r.opt_value("PromulgationDate", EdxmlDate::parse)?,
        document_id: r.value("DocumentId", DocumentId::parse)?,
    })
}

fn read_trace_list(t: &El<'_, '_, '_>) -> Result<TraceHeaderList, EdxmlError> {
    let hops = t
        .many("TraceHeader")?
        .iter()
        .map(|h| {
            Ok(TraceHeader {
                organ_id: h.value("OrganId", OrganId::parse)?,
                timestamp: h.value("Timestamp", EdxmlTimestamp::parse)?,
            })
        })
        .collect::<Result<Vec<_>, EdxmlError>>()?;
    Ok(TraceHeaderList {
        business: t.opt("Bussiness")?.map(|b| read_business(&b)).transpose()?,
        trace_headers: NonEmpty::from_vec(hops).ok_or_else(|| EdxmlError::MissingElement {
            path: t.child_path("TraceHeader"),
        })?,
    })
}

fn read_business(b: &El<'_, '_, '_>) -> Result<Business, EdxmlError> {
    let replacements = match b.opt("ReplacementInfoList")? {
        Some(list) => list
            .many("ReplacementInfo")?
            .iter()
            .map(|r| {
                let organ_ids = match r.opt("OrganIdList")? {
                    Some(ids) => ids.values("OrganId", OrganId::parse)?,
                    None => Vec::new(),
                };
                Ok(ReplacementInfo {
                    document_id: r.value("DocumentId", DocumentId::parse)?,
                    organ_ids,
                })
            })
            .collect::<Result<Vec<_>, EdxmlError>>()?,
        None => Vec::new(),
    };
    Ok(Business {
        doc_type: b.value("BussinessDocType", BusinessDocType::parse)?,
        reason: b.opt_string("BussinessDocReason")?,
        paper: b.opt_value("Paper", parse_bool)?,
        staff_info: b.opt("StaffInfo")?.map(|s| read_staff(&s)).transpose()?,
        document_info: b
            .opt("BussinessDocumentInfo")?
            .map(|d| read_document_info(&d))
            .transpose()?,
        replacements,
    })
}

fn read_document_info(d: &El<'_, '_, '_>) -> Result<BusinessDocumentInfo, EdxmlError> {
    let receivers = match d.opt("ReceiverList")? {
        Some(list) => list
            .many("Receiver")?
            .iter()
            .map(|r| {
                Ok(Receiver {
                    receiver_type: r.opt_string("ReceiverType")?,
                    organ_id: r.value("OrganId", OrganId::parse)?,
                })
            })
            .collect::<Result<Vec<_>, EdxmlError>>()?,
        None => Vec::new(),
    };
    Ok(BusinessDocumentInfo {
        document_info: d.opt_string("DocumentInfo")?,
        document_receiver: d.opt_string("DocumentReceiver")?,
        receivers,
    })
}

fn read_staff(s: &El<'_, '_, '_>) -> Result<StaffInfo, EdxmlError> {
    Ok(StaffInfo {
        department: s.opt_string("Department")?,
        staff: s.opt_string("Staff")?,
        mobile: s.opt_string("Mobile")?,
        email: s.opt_string("Email")?,
    })
}

fn read_reference(r: &El<'_, '_, '_>) -> Result<ManifestReference, EdxmlError> {
    Ok(ManifestReference {
        content_id: r.value("ContentId", ContentId::parse)?,
        name: r.string("AttachmentName")?,
        content_type: r.string("ContentType")?,
        description: r.opt_string("Description")?,
    })
}

fn read_encoded_attachment(a: &El<'_, '_, '_>) -> Result<EncodedAttachment, EdxmlError> {
    Ok(EncodedAttachment {
        content_id: a.value("ContentId", ContentId::parse)?,
        name: a.string("AttachmentName")?,
        content_type: a.string("ContentType")?,
        description: a.opt_string("Description")?,
        content: read_encoded_content(&a.one("ContentTransferEncoded")?)?,
    })
}

/// The one run of base64 text in `ContentTransferEncoded`, located but not copied.
fn read_encoded_content(e: &El<'_, '_, '_>) -> Result<EncodedContent, EdxmlError> {
    e.leaf()?;
    let mut runs = e.tree.text(e.id).filter(|p| !p.is_whitespace());
    let run = runs.next();
    if runs.next().is_some() {
        return Err(
            e.invalid("the base64 text must be one run, not split by comments or CDATA sections")
        );
    }
    let (text, offset): (&[u8], usize) = match run {
        Some(piece) => (piece.raw().as_bytes(), piece.offset()),
        None => (b"", 0),
    };
    EncodedContent::scan(text, offset).map_err(|error| EdxmlError::Content {
        path: e.path(),
        error,
    })
}

fn read_status(s: &El<'_, '_, '_>) -> Result<StatusPacket, EdxmlError> {
    Ok(StatusPacket {
        response_for: read_response_for(&s.one("ResponseFor")?)?,
        from: read_organization(&s.one("From")?)?,
        status_code: s.value("StatusCode", StatusCode::parse)?,
        description: s.opt_string("Description")?,
        timestamp: s.value("Timestamp", EdxmlTimestamp::parse)?,
        staff_info: s.opt("StaffInfo")?.map(|i| read_staff(&i)).transpose()?,
    })
}

/// A non-negative integer written with ASCII digits only.
fn parse_u32(value: &str) -> Result<u32, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{} is not a non-negative integer", shown(value)));
    }
    value
        .parse()
        .map_err(|_| format!("{} is too large", shown(value)))
}

/// xs:boolean, in any letter case because .NET clients write `True`/`False`.
fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!(
            "{} is not a boolean (expected true, false, 1 or 0)",
            shown(value)
        )),
    }
}

/// A value parser's failure, turned into a path-bearing packet error.
trait ValueError {
    fn at(self, path: String) -> EdxmlError;
}

impl ValueError for String {
    fn at(self, path: String) -> EdxmlError {
        EdxmlError::InvalidValue { path, reason: self }
    }
}

impl ValueError for DateError {
    fn at(self, path: String) -> EdxmlError {
        EdxmlError::InvalidValue {
            path,
            reason: self.to_string(),
        }
    }
}

impl ValueError for CodeError {
    fn at(self, path: String) -> EdxmlError {
        match self {
            CodeError::Unknown { .. } => EdxmlError::InvalidValue {
                path,
                reason: self.to_string(),
            },
            error => EdxmlError::InvalidAgencyCode { path, error },
        }
    }
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// An element of the tree and how it was reached, from which its path is spelled out (for
/// error messages) only when one is needed.
struct El<'p, 't, 'a> {
    tree: &'t Tree<'a>,
    id: usize,
    /// The element this one was reached from; `None` for the root.
    parent: Option<&'p El<'p, 't, 'a>>,
    /// The last step of the path: the name asked for, or the root's own name.
    name: &'p str,
    /// The 1-based position among the children of the same name, when it was reached as one of
    /// several.
    index: Option<usize>,
}

impl<'p, 't, 'a> El<'p, 't, 'a> {
    fn root(tree: &'t Tree<'a>) -> Option<El<'t, 't, 'a>> {
        let id = tree.root()?;
        Some(El {
            tree,
            id,
            parent: None,
            name: tree.node(id).local,
            index: None,
        })
    }

    fn node(&self) -> &'t Node<'a> {
        self.tree.node(self.id)
    }

    /// The path from the root, e.g. `edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]`.
    fn path(&self) -> String {
        let mut path = match self.parent {
            Some(parent) => parent.child_path(self.name),
            None => self.name.to_owned(),
        };
        if let Some(i) = self.index {
            path.push_str(&format!("[{i}]"));
        }
        path
    }

    fn child_path(&self, name: &str) -> String {
        let mut path = self.path();
        path.push('/');
        path.push_str(name);
        path
    }

    fn invalid(&self, reason: impl Into<String>) -> EdxmlError {
        EdxmlError::InvalidValue {
            path: self.path(),
            reason: reason.into(),
        }
    }

    fn wrong_namespace(&self, expected: &'static str) -> EdxmlError {
        let node = self.node();
        let found = match node.namespace.as_deref() {
            Some(ns) => format!("in the namespace {}", shown(ns)),
            None => "in no namespace".to_owned(),
        };
        let hint = match (node.prefix, node.namespace.as_deref()) {
            (Some(p), Some(SOAP_ENVELOPE_NAMESPACE)) => format!(
                " (the prefix {p:?} is bound to the SOAP envelope namespace; bind it to the namespace above)"
            ),
            (Some(p), _) => format!(" (check the declaration xmlns:{p}=…)"),
            (None, _) => " (check the default namespace declaration xmlns=…)".to_owned(),
        };
        EdxmlError::WrongNamespace {
            path: self.path(),
            found,
            expected,
            hint,
        }
    }

    /// Children named `name` in `namespace`. When there are none but a child of that name
    /// sits in another namespace, the packet is refused rather than the child ignored.
    fn children_in<'s>(
        &'s self,
        namespace: &'static str,
        name: &'s str,
    ) -> Result<impl Iterator<Item = usize> + 's, EdxmlError> {
        let tree = self.tree;
        let named = move |c: &usize| tree.node(*c).local == name;
        let mut found = tree
            .children(self.id)
            .filter(named)
            .filter(move |&c| tree.node(c).in_namespace(namespace))
            .peekable();
        if found.peek().is_none() {
            if let Some(stray) = tree.children(self.id).find(named) {
                return Err(self.child(stray, name, None).wrong_namespace(namespace));
            }
        }
        Ok(found)
    }

    fn child<'s>(&'s self, id: usize, name: &'s str, index: Option<usize>) -> El<'s, 't, 'a> {
        El {
            tree: self.tree,
            id,
            parent: Some(self),
            name,
            index,
        }
    }

    fn opt_in<'s>(
        &'s self,
        namespace: &'static str,
        name: &'s str,
    ) -> Result<Option<El<'s, 't, 'a>>, EdxmlError> {
        let mut found = self.children_in(namespace, name)?;
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some(one), None) => Ok(Some(self.child(one, name, None))),
            (Some(_), Some(second)) => Err(EdxmlError::DuplicateElement {
                path: self.child(second, name, None).path(),
            }),
        }
    }

    fn one_in<'s>(
        &'s self,
        namespace: &'static str,
        name: &'s str,
    ) -> Result<El<'s, 't, 'a>, EdxmlError> {
        self.opt_in(namespace, name)?
            .ok_or_else(|| EdxmlError::MissingElement {
                path: self.child_path(name),
            })
    }

    fn opt<'s>(&'s self, name: &'s str) -> Result<Option<El<'s, 't, 'a>>, EdxmlError> {
        self.opt_in(NAMESPACE, name)
    }

    fn one<'s>(&'s self, name: &'s str) -> Result<El<'s, 't, 'a>, EdxmlError> {
        self.one_in(NAMESPACE, name)
    }

    /// All children named `name`, paths indexed from 1.
    fn many<'s>(&'s self, name: &'s str) -> Result<Vec<El<'s, 't, 'a>>, EdxmlError> {
        Ok(self
            .children_in(NAMESPACE, name)?
            .enumerate()
            .map(|(i, c)| self.child(c, name, Some(i + 1)))
            .collect())
    }

    /// Refuses child elements where only text belongs.
    fn leaf(&self) -> Result<(), EdxmlError> {
        match self.tree.children(self.id).next() {
            None => Ok(()),
            Some(c) => Err(self.invalid(format!(
                "it must hold text only, but holds the element {}",
                shown(self.tree.node(c).local)
            ))),
        }
    }

    /// The element's text, trimmed of surrounding XML whitespace.
    fn text(&self) -> Result<Cow<'a, str>, EdxmlError> {
        self.leaf()?;
        let mut pieces = self.tree.text(self.id);
        let value = match (pieces.next(), pieces.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(one), None) => one.value(),
            (Some(first), Some(second)) => Cow::Owned(
                [first, second]
                    .into_iter()
                    .chain(pieces)
                    .map(Piece::value)
                    .collect::<String>(),
            ),
        };
        Ok(match value {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim_matches(is_xml_space)),
            Cow::Owned(s) => Cow::Owned(s.trim_matches(is_xml_space).to_owned()),
        })
    }

    /// A required free-text element (may be empty).
    fn string(&self, name: &str) -> Result<String, EdxmlError> {
        Ok(self.one(name)?.text()?.into_owned())
    }

    /// An optional free-text element; written empty counts as absent.
    fn opt_string(&self, name: &str) -> Result<Option<String>, EdxmlError> {
        match self.opt(name)? {
            Some(e) => Ok(Some(e.text()?.into_owned()).filter(|s| !s.is_empty())),
            None => Ok(None),
        }
    }

    /// Every non-empty text of the children named `name`.
    fn strings(&self, name: &str) -> Result<Vec<String>, EdxmlError> {
        let mut out = Vec::new();
        for e in self.many(name)? {
            let text = e.text()?;
            if !text.is_empty() {
                out.push(text.into_owned());
            }
        }
        Ok(out)
    }

    fn parse_text<T, E: ValueError>(
        &self,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, EdxmlError> {
        let text = self.text()?;
        parse(&text).map_err(|e| e.at(self.path()))
    }

    /// A required typed element; empty text is handed to the parser (and refused by it).
    fn value<T, E: ValueError>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, EdxmlError> {
        self.one(name)?.parse_text(parse)
    }

    /// An optional typed element; written empty counts as absent.
    fn opt_value<T, E: ValueError>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, EdxmlError> {
        match self.opt(name)? {
            Some(e) if e.text()?.is_empty() => Ok(None),
            Some(e) => e.parse_text(parse).map(Some),
            None => Ok(None),
        }
    }

    /// Every child named `name`, each parsed; empty ones are skipped.
    fn values<T, E: ValueError>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Vec<T>, EdxmlError> {
        let mut out = Vec::new();
        for e in self.many(name)? {
            if !e.text()?.is_empty() {
                out.push(e.parse_text(&parse)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edxml::{AttachmentContent, XMLDSIG_NAMESPACE};

    const FROM: &str =
        "<From><OrganId>000.00.00.H49</OrganId><OrganName>UBND tỉnh Quảng Ninh</OrganName></From>";
    const TO: &str = "<To><OrganId>000.00.00.G22</OrganId><OrganName>Bộ Nội vụ</OrganName></To>";
    const CODE: &str =
        "<Code><CodeNumber>12</CodeNumber><CodeNotation>UBND-VP</CodeNotation></Code>";
    const PROMULGATION: &str = "<PromulgationInfo><Place>Hạ Long</Place><PromulgationDate>2024/03/05</PromulgationDate></PromulgationInfo>";
    const DOC_TYPE: &str =
        "<DocumentType><Type>18</Type><TypeName>Công văn</TypeName><TypeDetail>0</TypeDetail></DocumentType>";
    const SUBJECT: &str = "<Subject>V/v báo cáo tình hình</Subject>";
    const SIGNER: &str =
        "<SignerInfo><Position>CHỦ TỊCH</Position><FullName>Nguyễn Văn A</FullName></SignerInfo>";
    const DOC_ID: &str = "<DocumentId>000.00.00.H49,2024/03/05,12/UBND-VP</DocumentId>";
    const HOP: &str = "<TraceHeader><OrganId>000.00.00.H49</OrganId><Timestamp>2024/03/05 09:00:00</Timestamp></TraceHeader>";
    const NEW: &str = "<Bussiness><BussinessDocType>0</BussinessDocType></Bussiness>";

    fn header() -> Vec<&'static str> {
        vec![
            FROM,
            TO,
            CODE,
            PROMULGATION,
            DOC_TYPE,
            SUBJECT,
            SIGNER,
            DOC_ID,
        ]
    }

    fn message_with(header: &[&str], trace: &str, body: &str, attachments: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NAMESPACE}" xmlns:ds="{XMLDSIG_NAMESPACE}">
 <edXMLEnvelope>
  <edXMLHeader>
   <MessageHeader>{}</MessageHeader>
   <TraceHeaderList>{trace}</TraceHeaderList>
  </edXMLHeader>
  <edXMLBody>{body}</edXMLBody>
 </edXMLEnvelope>{attachments}
</edXML>"#,
            header.concat()
        )
    }

    fn message(header: &[&str]) -> String {
        message_with(header, &format!("{NEW}{HOP}"), "", "")
    }

    fn read_str(doc: &str) -> Result<Packet, EdxmlError> {
        read(doc.as_bytes(), Limits::default())
    }

    fn read_message(doc: &str) -> MessagePacket {
        match read_str(doc) {
            Ok(Packet::Message(m)) => *m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn read_status(doc: &str) -> StatusPacket {
        match read_str(doc) {
            Ok(Packet::Status(s)) => *s,
            other => panic!("expected a status, got {other:?}"),
        }
    }

    fn error(doc: &str) -> EdxmlError {
        match read_str(doc) {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(e) => e,
        }
    }

    fn replace(doc: &str, from: &str, to: &str) -> String {
        assert!(doc.contains(from), "{from:?} is not in the document");
        doc.replacen(from, to, 1)
    }

    #[test]
    fn reads_a_minimal_message() {
        let m = read_message(&message(&header()));
        let h = &m.header;
        assert_eq!(h.from.organ_id.as_str(), "000.00.00.H49");
        assert_eq!(h.from.organ_name, "UBND tỉnh Quảng Ninh");
        assert_eq!(h.to.len(), 1);
        assert_eq!(h.to.first().organ_name, "Bộ Nội vụ");
        assert_eq!(h.code.to_string(), "12/UBND-VP");
        assert_eq!(h.promulgation.date.to_string(), "2024/03/05");
        assert_eq!(h.document_type.type_code, 18);
        assert_eq!(h.document_type.type_detail, Some(0));
        assert_eq!(h.signer.position.as_deref(), Some("CHỦ TỊCH"));
        assert_eq!(h.signer.competence, None);
        assert_eq!(
            h.document_id.as_str(),
            "000.00.00.H49,2024/03/05,12/UBND-VP"
        );
        assert_eq!(m.business_doc_type(), BusinessDocType::New);
        assert_eq!(m.trace.trace_headers.len(), 1);
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn child_order_does_not_matter() {
        let expected = read_message(&message(&header()));
        let mut reversed = header();
        reversed.reverse();
        assert_eq!(read_message(&message(&reversed)), expected);
        for shift in 1..header().len() {
            let mut rotated = header();
            rotated.rotate_left(shift);
            assert_eq!(
                read_message(&message(&rotated)),
                expected,
                "rotated by {shift}"
            );
        }
        let from_reversed =
            "<From><OrganName>UBND tỉnh Quảng Ninh</OrganName><OrganId>000.00.00.H49</OrganId></From>";
        let mut parts = header();
        parts[0] = from_reversed;
        assert_eq!(read_message(&message(&parts)), expected);
        let trace_first = message_with(&header(), &format!("{HOP}{NEW}"), "", "");
        assert_eq!(read_message(&trace_first), expected);
    }

    #[test]
    fn both_roots_and_any_prefix() {
        let expected = read_message(&message(&header()));
        let envelope_root = format!(
            r#"<edXMLEnvelope xmlns="{NAMESPACE}"><edXMLHeader><MessageHeader>{}</MessageHeader><TraceHeaderList>{NEW}{HOP}</TraceHeaderList></edXMLHeader><edXMLBody/></edXMLEnvelope>"#,
            header().concat()
        );
        assert_eq!(read_message(&envelope_root), expected);
        // Prefixes are names for namespaces, nothing more: "q" on the outer elements, a
        // redeclared edXML prefix on the header, the default namespace undeclared inside it.
        let prefixed = format!(
            r#"<q:edXML xmlns:q="{NAMESPACE}"><q:edXMLEnvelope><q:edXMLHeader>
<edXML:MessageHeader xmlns:edXML="{NAMESPACE}" xmlns="">{}</edXML:MessageHeader>
<q:TraceHeaderList xmlns="{NAMESPACE}">{NEW}{HOP}</q:TraceHeaderList></q:edXMLHeader><q:edXMLBody/></q:edXMLEnvelope></q:edXML>"#,
            header().concat()
        );
        let err = error(&prefixed);
        assert_eq!(
            err.code(),
            "edxml.wrong_namespace",
            "MessageHeader's children are in no namespace"
        );
        assert!(err.to_string().contains("MessageHeader/"), "{err}");
        let fixed = prefixed.replace(r#" xmlns="">"#, &format!(r#" xmlns="{NAMESPACE}">"#));
        assert_eq!(read_message(&fixed), expected);
    }

    #[test]
    fn skips_unknown_elements_and_signatures() {
        let expected = read_message(&message(&header()));
        let mut parts = header();
        parts.push("<Extension><Subject>not the subject</Subject></Extension>");
        parts.push(r#"<o:Note xmlns:o="urn:other"><o:Subject>x</o:Subject></o:Note>"#);
        let doc = message(&parts);
        let signed = replace(
            &doc,
            "</TraceHeaderList>",
            "</TraceHeaderList><DigitalSignature><ds:Signature><ds:SignedInfo><Subject>in signature</Subject></ds:SignedInfo></ds:Signature></DigitalSignature><ds:Signature><From/></ds:Signature><Signature><SignedInfo/></Signature>",
        );
        assert_eq!(read_message(&signed), expected);
    }

    #[test]
    fn dates_and_timestamps_in_both_forms() {
        let mut parts = header();
        parts[3] = "<PromulgationInfo><Place>Hạ Long</Place><PromulgationDate>05/03/2024</PromulgationDate></PromulgationInfo>";
        parts.push("<DueDate>20/03/2024</DueDate>");
        let hop = "<TraceHeader><OrganId>000.00.00.H49</OrganId><Timestamp>05/03/2024 09:00:00</Timestamp></TraceHeader>";
        let m = read_message(&message_with(&parts, hop, "", ""));
        let expected = read_message(&message(&header()));
        assert_eq!(m.header.promulgation, expected.header.promulgation);
        assert_eq!(
            m.header.due_date.map(|d| d.to_string()).as_deref(),
            Some("2024/03/20")
        );
        assert_eq!(m.trace.trace_headers, expected.trace.trace_headers);
    }

    #[test]
    fn text_is_decoded_trimmed_and_empty_optionals_are_absent() {
        let mut parts = header();
        parts[5] = "<Subject>\n   V/v <![CDATA[<số liệu>]]> &amp; báo cáo <!-- note --> quý I \r\n</Subject>";
        parts.push("<Content>  </Content>");
        parts.push("<DueDate/>");
        parts.push("<ToPlaces/>");
        parts.push("<OtherInfo><Priority>3</Priority><Direction>False</Direction><PageAmount></PageAmount><Appendixes><Appendix/><Appendix> Phụ lục </Appendix></Appendixes></OtherInfo>");
        parts.push("<SteeringType>2</SteeringType>");
        let m = read_message(&message(&parts));
        let h = &m.header;
        assert_eq!(
            h.subject,
            "V/v <số liệu> &amp; báo cáo  quý I".replace("&amp;", "&")
        );
        assert_eq!(h.content, None);
        assert_eq!(h.due_date, None);
        assert_eq!(h.to_places, None);
        let other = h.other_info.as_ref().unwrap();
        assert_eq!(other.priority, Some(Priority::Express));
        assert_eq!(other.direction, Some(false));
        assert_eq!(other.page_amount, None);
        assert_eq!(other.appendixes, vec!["Phụ lục".to_owned()]);
        assert_eq!(h.steering_type, Some(2));
    }

    #[test]
    fn reads_business_and_replacement_details() {
        let business = "<Bussiness><Paper>1</Paper><BussinessDocType>3</BussinessDocType><BussinessDocReason>Thay thế</BussinessDocReason>\
            <StaffInfo><Staff>Trần Thị Mai</Staff><Email/></StaffInfo>\
            <BussinessDocumentInfo><DocumentInfo>1</DocumentInfo><ReceiverList><Receiver><OrganId>vxp.saas.03</OrganId><ReceiverType>1</ReceiverType></Receiver></ReceiverList></BussinessDocumentInfo>\
            <ReplacementInfoList><ReplacementInfo><OrganIdList><OrganId>000.00.00.G22</OrganId><OrganId/></OrganIdList><DocumentId>000.00.00.H49,2024/03/01,11/UBND-VP</DocumentId></ReplacementInfo></ReplacementInfoList></Bussiness>";
        let m = read_message(&message_with(
            &header(),
            &format!("{HOP}{business}"),
            "",
            "",
        ));
        let b = m.trace.business.as_ref().unwrap();
        assert_eq!(b.doc_type, BusinessDocType::Replace);
        assert_eq!(b.paper, Some(true));
        assert_eq!(
            b.staff_info.as_ref().unwrap().staff.as_deref(),
            Some("Trần Thị Mai")
        );
        assert_eq!(b.staff_info.as_ref().unwrap().email, None);
        let info = b.document_info.as_ref().unwrap();
        assert_eq!(info.receivers[0].organ_id.as_str(), "vxp.saas.03");
        assert!(matches!(
            info.receivers[0].organ_id,
            OrganId::NonStandard(_)
        ));
        assert_eq!(b.replacements[0].organ_ids.len(), 1);
        assert_eq!(
            b.replacements[0].document_id.as_str(),
            "000.00.00.H49,2024/03/01,11/UBND-VP"
        );
    }

    fn attachment(cid: &str, name: &str, base64: &str) -> String {
        format!("<Attachment><ContentTransferEncoded>{base64}</ContentTransferEncoded><AttachmentName>{name}</AttachmentName><ContentId>{cid}</ContentId><ContentType>text/plain</ContentType></Attachment>")
    }

    fn reference(cid: &str, name: &str) -> String {
        format!(
            r#"<Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="{cid}" xlink:type="simple"><ContentType>text/plain</ContentType><ContentId>{cid}</ContentId><AttachmentName>{name}</AttachmentName><Description>Phụ lục</Description></Reference>"#
        )
    }

    fn with_attachments(refs: &[String], atts: &[String]) -> String {
        message_with(
            &header(),
            &format!("{NEW}{HOP}"),
            &format!(
                r#"<edXMLManifest version="1.0">{}</edXMLManifest>"#,
                refs.concat()
            ),
            &format!("<AttachmentEncoded>{}</AttachmentEncoded>", atts.concat()),
        )
    }

    #[test]
    fn attachments_are_located_not_copied() {
        // "Văn bản" and "Phụ lục" in base64.
        let doc = with_attachments(
            &[reference("cid:a-1", "a.txt"), reference("cid:b-2", "b.txt")],
            &[
                attachment("b-2", "b.txt", "\n  UGjhu6UgbOG7pWM=\n  "),
                attachment("cid:a-1", "a.txt", "VsSDbiBi4bqjbg=="),
            ],
        );
        let m = read_message(&doc);
        assert_eq!(m.attachments.len(), 2);
        let a = &m.attachments[0];
        assert_eq!(a.content_id.as_str(), "a-1");
        assert_eq!(a.description.as_deref(), Some("Phụ lục"));
        let AttachmentContent::InPacket(encoded) = &a.content else {
            panic!("content should stay in the packet")
        };
        assert_eq!(&doc[encoded.range()], "VsSDbiBi4bqjbg==");
        assert_eq!(encoded.decoded_len(), "Văn bản".len() as u64);
        assert_eq!(
            encoded.decode(doc.as_bytes()).unwrap(),
            "Văn bản".as_bytes()
        );
        let AttachmentContent::InPacket(second) = &m.attachments[1].content else {
            panic!()
        };
        assert_eq!(second.decode(doc.as_bytes()).unwrap(), "Phụ lục".as_bytes());
        let mut loaded = m.clone();
        loaded.load_attachments(doc.as_bytes()).unwrap();
        assert_eq!(
            loaded.attachments[1].content,
            AttachmentContent::Bytes("Phụ lục".as_bytes().to_vec())
        );
    }

    #[test]
    fn many_attachments_are_matched() {
        let n = 5000;
        let refs: Vec<String> = (0..n)
            .map(|i| reference(&format!("cid:{i}"), &format!("{i}.txt")))
            .collect();
        let atts: Vec<String> = (0..n)
            .rev()
            .map(|i| attachment(&i.to_string(), &format!("{i}.txt"), "QUJD"))
            .collect();
        let started = std::time::Instant::now();
        let m = read_message(&with_attachments(&refs, &atts));
        assert_eq!(m.attachments.len(), n);
        assert_eq!(m.attachments[n - 1].name, format!("{}.txt", n - 1));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn envelope_root_carries_its_attachments_inside() {
        let manifest = format!(
            r#"<edXMLManifest version="1.0">{}</edXMLManifest>"#,
            reference("cid:a", "a.txt")
        );
        let encoded = format!(
            "<AttachmentEncoded>{}</AttachmentEncoded>",
            attachment("a", "a.txt", "QUJD")
        );
        let doc = format!(
            r#"<edXMLEnvelope xmlns="{NAMESPACE}"><edXMLHeader><MessageHeader>{}</MessageHeader><TraceHeaderList>{HOP}</TraceHeaderList></edXMLHeader><edXMLBody>{manifest}</edXMLBody>{encoded}</edXMLEnvelope>"#,
            header().concat()
        );
        let m = read_message(&doc);
        let AttachmentContent::InPacket(e) = &m.attachments[0].content else {
            panic!()
        };
        assert_eq!(e.decode(doc.as_bytes()).unwrap(), b"ABC");
        let twice = format!(r#"<edXML xmlns="{NAMESPACE}">{doc}{encoded}</edXML>"#);
        let err = error(&twice);
        assert_eq!(err.code(), "edxml.duplicate_element");
        assert!(
            err.to_string()
                .contains("edXML/edXMLEnvelope/AttachmentEncoded"),
            "{err}"
        );
    }

    #[test]
    fn attachment_text_must_be_base64() {
        let split = with_attachments(
            &[reference("a", "a.txt")],
            &[attachment("a", "a.txt", "VsSD<!-- x -->biBi4bqjbg==")],
        );
        assert_eq!(error(&split).code(), "edxml.invalid_value");
        let bad = with_attachments(
            &[reference("a", "a.txt")],
            &[attachment("a", "a.txt", "V$SD")],
        );
        let err = error(&bad);
        assert_eq!(err.code(), "edxml.invalid_value");
        assert!(
            err.to_string()
                .contains("Attachment[1]/ContentTransferEncoded"),
            "{err}"
        );
        let cdata = with_attachments(
            &[reference("a", "a.txt")],
            &[attachment("a", "a.txt", " <![CDATA[VsSDbiBi4bqjbg==]]> ")],
        );
        let m = read_message(&cdata);
        let AttachmentContent::InPacket(e) = &m.attachments[0].content else {
            panic!()
        };
        assert_eq!(e.decode(cdata.as_bytes()).unwrap(), "Văn bản".as_bytes());
    }

    #[test]
    fn attachments_must_match_the_manifest() {
        let unlisted = with_attachments(&[], &[attachment("a", "a.txt", "")]);
        assert_eq!(error(&unlisted).code(), "edxml.attachment_mismatch");
        let missing = with_attachments(&[reference("a", "a.txt")], &[]);
        assert_eq!(error(&missing).code(), "edxml.attachment_mismatch");
        let renamed = with_attachments(&[reference("a", "a.txt")], &[attachment("a", "a.exe", "")]);
        assert_eq!(error(&renamed).code(), "edxml.attachment_mismatch");
        let no_manifest = message_with(
            &header(),
            HOP,
            "",
            &format!(
                "<AttachmentEncoded>{}</AttachmentEncoded>",
                attachment("a", "a.txt", "")
            ),
        );
        assert_eq!(error(&no_manifest).code(), "edxml.attachment_mismatch");
    }

    #[test]
    fn missing_elements_are_named_by_full_path() {
        let mut parts = header();
        parts[0] = "<From><OrganName>UBND tỉnh Quảng Ninh</OrganName></From>";
        let err = error(&message(&parts));
        assert_eq!(err.code(), "edxml.missing_element");
        assert!(
            err.to_string()
                .contains("edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId"),
            "{err}"
        );
        let mut no_to = header();
        no_to.remove(1);
        assert!(error(&message(&no_to))
            .to_string()
            .contains("MessageHeader/To"));
        let no_hop = message_with(&header(), NEW, "", "");
        assert!(error(&no_hop)
            .to_string()
            .contains("TraceHeaderList/TraceHeader"));
        let mut no_id = header();
        no_id.pop();
        assert!(error(&message(&no_id))
            .to_string()
            .contains("MessageHeader/DocumentId"));
        let deep = message(&header()).replace(
            TO,
            "<To><OrganId>000.00.00.G22</OrganId><OrganName>A</OrganName></To><To><OrganId>000.00.00.G01</OrganId></To>",
        );
        assert!(error(&deep)
            .to_string()
            .contains("MessageHeader/To[2]/OrganName"));
        let no_body = replace(&message(&header()), "<edXMLBody></edXMLBody>", "");
        assert!(error(&no_body)
            .to_string()
            .contains("edXMLEnvelope/edXMLBody"));
        let empty_header =
            format!(r#"<edXMLEnvelope xmlns="{NAMESPACE}"><edXMLHeader/></edXMLEnvelope>"#);
        assert!(error(&empty_header)
            .to_string()
            .contains("edXMLHeader/MessageHeader"));
    }

    #[test]
    fn repeated_single_elements_are_refused() {
        for dup in [SUBJECT, FROM, CODE, DOC_ID] {
            let mut parts = header();
            parts.push(dup);
            let err = error(&message(&parts));
            assert_eq!(err.code(), "edxml.duplicate_element", "{dup}");
        }
        let twice = message_with(&header(), &format!("{NEW}{HOP}{NEW}"), "", "");
        let err = error(&twice);
        assert_eq!(err.code(), "edxml.duplicate_element");
        assert!(
            err.to_string().contains("TraceHeaderList/Bussiness"),
            "{err}"
        );
        let inner = message(&header()).replace(
            "<FullName>Nguyễn Văn A</FullName>",
            "<FullName>A</FullName><FullName>B</FullName>",
        );
        assert!(error(&inner).to_string().contains("SignerInfo/FullName"));
    }

    #[test]
    fn invalid_values_say_where_and_why() {
        let cases = [
            (
                "<PromulgationDate>2024/03/05</PromulgationDate>",
                "<PromulgationDate>2024-03-05</PromulgationDate>",
                "PromulgationInfo/PromulgationDate",
                "edxml.invalid_value",
            ),
            (
                "<Type>18</Type>",
                "<Type>mười tám</Type>",
                "DocumentType/Type",
                "edxml.invalid_value",
            ),
            (
                "<Type>18</Type>",
                "<Type>-1</Type>",
                "DocumentType/Type",
                "edxml.invalid_value",
            ),
            (
                "<Type>18</Type>",
                "<Type>99999999999</Type>",
                "DocumentType/Type",
                "edxml.invalid_value",
            ),
            (
                "<Type>18</Type>",
                "<Type/>",
                "DocumentType/Type",
                "edxml.invalid_value",
            ),
            (
                "<BussinessDocType>0</BussinessDocType>",
                "<BussinessDocType>7</BussinessDocType>",
                "Bussiness/BussinessDocType",
                "edxml.invalid_value",
            ),
            (
                "<Timestamp>2024/03/05 09:00:00</Timestamp>",
                "<Timestamp>2024/03/05</Timestamp>",
                "TraceHeader[1]/Timestamp",
                "edxml.invalid_value",
            ),
            (
                "<OrganId>000.00.00.G22</OrganId>",
                "<OrganId>000.00.00.g22</OrganId>",
                "To[1]/OrganId",
                "edxml.invalid_agency_code",
            ),
            (
                "<OrganId>000.00.00.G22</OrganId>",
                "<OrganId/>",
                "To[1]/OrganId",
                "edxml.invalid_agency_code",
            ),
            (
                "<DocumentId>000.00.00.H49,2024/03/05,12/UBND-VP</DocumentId>",
                "<DocumentId> </DocumentId>",
                "MessageHeader/DocumentId",
                "edxml.invalid_value",
            ),
            (
                "<Subject>V/v báo cáo tình hình</Subject>",
                "<Subject>V/v <b>báo cáo</b></Subject>",
                "MessageHeader/Subject",
                "edxml.invalid_value",
            ),
        ];
        for (from, to, path, code) in cases {
            let err = error(&replace(&message(&header()), from, to));
            assert_eq!(err.code(), code, "{to}: {err}");
            assert!(err.to_string().contains(path), "{to}: {err}");
        }
        let mut parts = header();
        parts.push("<OtherInfo><Priority>5</Priority><Direction>có</Direction></OtherInfo>");
        let err = error(&message(&parts));
        assert!(
            err.to_string().contains("OtherInfo/Priority") && err.to_string().contains("\"5\""),
            "{err}"
        );
    }

    #[test]
    fn revoke_update_replace_must_name_the_original() {
        let response_for = "<ResponseFor><OrganId>000.00.00.H49</OrganId><DocumentId>000.00.00.H49,2024/03/01,11/UBND-VP</DocumentId></ResponseFor>";
        for doc_type in ["1", "2", "3"] {
            let business =
                format!("<Bussiness><BussinessDocType>{doc_type}</BussinessDocType></Bussiness>");
            let bare = message_with(&header(), &format!("{business}{HOP}"), "", "");
            let err = error(&bare);
            assert_eq!(err.code(), "edxml.missing_element");
            assert!(
                err.to_string().contains("ReplacementInfoList")
                    && err.to_string().contains("ResponseFor"),
                "{err}"
            );
            let empty_list = bare.replace(
                "</BussinessDocType>",
                "</BussinessDocType><ReplacementInfoList/>",
            );
            assert_eq!(error(&empty_list).code(), "edxml.missing_element");
            let mut parts = header();
            parts.push(response_for);
            let named = message_with(&parts, &format!("{business}{HOP}"), "", "");
            let m = read_message(&named);
            assert_eq!(m.header.response_for[0].code, None);
            assert_eq!(m.business_doc_type().as_str(), doc_type);
        }
    }

    #[test]
    fn namespaces_are_checked_by_uri() {
        let none = message(&header()).replace(&format!(r#" xmlns="{NAMESPACE}""#), "");
        let err = error(&none);
        assert_eq!(err.code(), "edxml.wrong_namespace");
        assert!(err.to_string().contains("in no namespace"), "{err}");
        let foreign = message(&header()).replace(
            "<MessageHeader>",
            r#"<MessageHeader xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2017">"#,
        );
        let err = error(&foreign);
        assert_eq!(err.code(), "edxml.wrong_namespace");
        assert!(
            err.to_string().contains("edXMLHeader/MessageHeader"),
            "{err}"
        );
        let soap_bound = format!(
            r#"<S:Envelope xmlns:S="{SOAP_ENVELOPE_NAMESPACE}"><S:Header><edXML:Status xmlns:edXML="{SOAP_ENVELOPE_NAMESPACE}"/></S:Header><S:Body/></S:Envelope>"#
        );
        let err = error(&soap_bound);
        assert_eq!(err.code(), "edxml.wrong_namespace");
        let text = err.to_string();
        assert!(
            text.contains("Envelope/Header/Status")
                && text.contains("SOAP envelope namespace")
                && text.contains(NAMESPACE),
            "{text}"
        );
        let soap12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>"#;
        assert_eq!(error(soap12).code(), "edxml.wrong_namespace");
    }

    #[test]
    fn other_documents_are_not_packets() {
        for doc in [
            "<html><body/></html>",
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>"#,
            &format!(r#"<Status xmlns="{NAMESPACE}"/>"#),
        ] {
            let code = error(doc).code();
            assert!(
                code == "edxml.not_a_packet" || code == "edxml.malformed",
                "{doc}: {code}"
            );
        }
        let err = error(&format!(r#"<edXMLHeader xmlns="{NAMESPACE}"/>"#));
        assert!(err.to_string().contains("\"edXMLHeader\""), "{err}");
    }

    #[test]
    fn xml_errors_keep_their_codes() {
        assert_eq!(
            error("<!DOCTYPE edXML><edXML/>").code(),
            "xml.dtd_forbidden"
        );
        assert_eq!(error(&message(&header())[..300]).code(), "edxml.malformed");
        let small = Limits {
            max_bytes: 100,
            ..Limits::default()
        };
        let err = read(message(&header()).as_bytes(), small).unwrap_err();
        assert_eq!(err.code(), "limits.too_large");
    }

    const STATUS: &str = "<ResponseFor><OrganId>000.00.00.H49</OrganId><Code>12/UBND-VP</Code><PromulgationDate>05/03/2024</PromulgationDate><DocumentId>000.00.00.H49,2024/03/05,12/UBND-VP</DocumentId></ResponseFor>\
        <From><OrganId>000.00.00.G22</OrganId><OrganName>Bộ Nội vụ</OrganName><Email/></From>\
        <StatusCode>03</StatusCode><Description>Đã vào sổ</Description><Timestamp>06/03/2024 08:15:30</Timestamp>\
        <StaffInfo><Department>Văn phòng</Department><Staff>Đỗ Văn Nam</Staff></StaffInfo>";

    #[test]
    fn reads_status_in_every_wrapper() {
        let soap = format!(
            r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENVELOPE_NAMESPACE}"><SOAP-ENV:Header><edXML:Status xmlns:edXML="{NAMESPACE}">{}</edXML:Status></SOAP-ENV:Header><SOAP-ENV:Body/></SOAP-ENV:Envelope>"#,
            STATUS
                .replace('<', "<edXML:")
                .replace("<edXML:/", "</edXML:")
        );
        let envelope = format!(
            r#"<edXMLEnvelope xmlns="{NAMESPACE}"><edXMLHeader><Status>{STATUS}</Status><DigitalSignature/></edXMLHeader><edXMLBody/></edXMLEnvelope>"#
        );
        let rooted = format!(
            r#"<edXML xmlns="{NAMESPACE}"><edXMLEnvelope><edXMLHeader><Status>{STATUS}</Status></edXMLHeader></edXMLEnvelope></edXML>"#
        );
        let s = read_status(&soap);
        assert_eq!(read_status(&envelope), s);
        assert_eq!(read_status(&rooted), s);
        assert_eq!(s.status_code, StatusCode::Acceptance);
        assert_eq!(s.timestamp.to_string(), "2024/03/06 08:15:30");
        assert_eq!(
            s.response_for
                .promulgation_date
                .map(|d| d.to_string())
                .as_deref(),
            Some("2024/03/05")
        );
        assert_eq!(s.response_for.code.as_deref(), Some("12/UBND-VP"));
        assert_eq!(s.from.email, None);
        assert_eq!(
            s.staff_info.as_ref().and_then(|i| i.staff.as_deref()),
            Some("Đỗ Văn Nam")
        );
        let unpadded =
            envelope.replace("<StatusCode>03</StatusCode>", "<StatusCode>3</StatusCode>");
        assert_eq!(read_status(&unpadded).status_code, StatusCode::Acceptance);
        let unknown =
            envelope.replace("<StatusCode>03</StatusCode>", "<StatusCode>14</StatusCode>");
        let err = error(&unknown);
        assert_eq!(err.code(), "edxml.invalid_value");
        assert!(
            err.to_string()
                .contains("edXMLEnvelope/edXMLHeader/Status/StatusCode"),
            "{err}"
        );
        let both = envelope.replace(
            "<Status>",
            &format!(
                "<MessageHeader>{}</MessageHeader><Status>",
                header().concat()
            ),
        );
        assert_eq!(error(&both).code(), "edxml.invalid_value");
        let no_status = format!(
            r#"<S:Envelope xmlns:S="{SOAP_ENVELOPE_NAMESPACE}"><S:Header/><S:Body/></S:Envelope>"#
        );
        assert!(error(&no_status)
            .to_string()
            .contains("Envelope/Header/Status"));
    }
}
