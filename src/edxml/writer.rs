//! Writes packets as clients of the axis do: UTF-8 with an XML declaration, every element under
//! the `edXML` prefix, MessageHeader children in the SDK's order (spec §6), attachments
//! base64-encoded beside the envelope with a matching manifest. No signature: the signer adds
//! it last in edXMLHeader.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::codes::shown;
use super::error::EdxmlError;
use super::model::{
    Attachment, AttachmentContent, Business, MessageHeader, MessagePacket, Organization, OtherInfo,
    Packet, ResponseFor, StaffInfo, StatusPacket, TraceHeaderList,
};
use super::{NAMESPACE, XLINK_NAMESPACE};

const PREFIX: &str = "edXML";

/// Writes either kind of packet.
pub fn write(packet: &Packet) -> Result<Vec<u8>, EdxmlError> {
    match packet {
        Packet::Message(m) => write_message(m),
        Packet::Status(s) => write_status(s),
    }
}

/// `edXML > edXMLEnvelope (header, manifest) + AttachmentEncoded`. Attachments must hold
/// their bytes ([`AttachmentContent::Bytes`]).
pub fn write_message(m: &MessagePacket) -> Result<Vec<u8>, EdxmlError> {
    m.check_names_original("edXML")?;
    check_attachments(&m.attachments)?;
    let mut w = Out::new();
    w.open_root("edXML")?;
    w.open("edXMLEnvelope")?;
    w.open("edXMLHeader")?;
    message_header(&mut w, &m.header)?;
    trace_list(&mut w, &m.trace)?;
    w.close();
    w.open("edXMLBody")?;
    w.open_with("edXMLManifest", &[("version", "1.0")])?;
    for a in &m.attachments {
        manifest_reference(&mut w, a)?;
    }
    w.close();
    w.close();
    w.close();
    if !m.attachments.is_empty() {
        w.open("AttachmentEncoded")?;
        for a in &m.attachments {
            encoded_attachment(&mut w, a)?;
        }
        w.close();
    }
    w.close();
    Ok(w.finish())
}

/// `edXMLEnvelope > edXMLHeader > Status`, then an empty edXMLBody (spec §2).
pub fn write_status(s: &StatusPacket) -> Result<Vec<u8>, EdxmlError> {
    let mut w = Out::new();
    w.open_root("edXMLEnvelope")?;
    w.open("edXMLHeader")?;
    w.open("Status")?;
    response_for(&mut w, &s.response_for)?;
    organization(&mut w, "From", &s.from)?;
    w.leaf("StatusCode", s.status_code.as_str())?;
    w.opt_leaf("Description", s.description.as_deref())?;
    w.leaf("Timestamp", &s.timestamp.to_string())?;
    if let Some(staff) = &s.staff_info {
        staff_info(&mut w, staff)?;
    }
    w.close();
    w.close();
    w.open("edXMLBody")?;
    w.close();
    w.close();
    Ok(w.finish())
}

fn check_attachments(attachments: &[Attachment]) -> Result<(), EdxmlError> {
    let mut seen = std::collections::HashSet::with_capacity(attachments.len());
    for a in attachments {
        if !seen.insert(&a.content_id) {
            return Err(EdxmlError::AttachmentMismatch {
                reason: format!(
                    "two attachments have the content id {}",
                    shown(a.content_id.as_str())
                ),
            });
        }
        if let AttachmentContent::InPacket(_) = a.content {
            return Err(EdxmlError::AttachmentNotLoaded {
                content_id: a.content_id.to_string(),
            });
        }
    }
    Ok(())
}

/// The SDK order: From, To, Code, PromulgationInfo, DocumentType, Subject, Content,
/// SignerInfo, DueDate, ToPlaces, OtherInfo, SteeringType, ResponseFor, DocumentId last.
fn message_header(w: &mut Out, h: &MessageHeader) -> Result<(), EdxmlError> {
    w.open("MessageHeader")?;
    organization(w, "From", &h.from)?;
    for to in &h.to {
        organization(w, "To", to)?;
    }
    w.open("Code")?;
    w.leaf("CodeNumber", &h.code.number)?;
    w.leaf("CodeNotation", &h.code.notation)?;
    w.close();
    w.open("PromulgationInfo")?;
    w.leaf("Place", &h.promulgation.place)?;
    w.leaf("PromulgationDate", &h.promulgation.date.to_string())?;
    w.close();
    w.open("DocumentType")?;
    w.leaf("Type", &h.document_type.type_code.to_string())?;
    w.leaf("TypeName", &h.document_type.type_name)?;
    w.opt_leaf(
        "TypeDetail",
        h.document_type
            .type_detail
            .map(|d| d.to_string())
            .as_deref(),
    )?;
    w.close();
    w.leaf("Subject", &h.subject)?;
    w.opt_leaf("Content", h.content.as_deref())?;
    w.open("SignerInfo")?;
    w.opt_leaf("Competence", h.signer.competence.as_deref())?;
    w.opt_leaf("Position", h.signer.position.as_deref())?;
    w.leaf("FullName", &h.signer.full_name)?;
    w.close();
    w.opt_leaf("DueDate", h.due_date.map(|d| d.to_string()).as_deref())?;
    if let Some(places) = &h.to_places {
        w.open("ToPlaces")?;
        for place in places {
            w.leaf("Place", place)?;
        }
        w.close();
    }
    if let Some(other) = &h.other_info {
        other_info(w, other)?;
    }
    w.opt_leaf(
        "SteeringType",
        h.steering_type.map(|s| s.to_string()).as_deref(),
    )?;
    for r in &h.response_for {
        response_for(w, r)?;
    }
    w.leaf("DocumentId", h.document_id.as_str())?;
    w.close();
    Ok(())
}

fn organization(w: &mut Out, name: &'static str, o: &Organization) -> Result<(), EdxmlError> {
    w.open(name)?;
    w.leaf("OrganId", o.organ_id.as_str())?;
    w.opt_leaf("OrganizationInCharge", o.organization_in_charge.as_deref())?;
    w.leaf("OrganName", &o.organ_name)?;
    w.opt_leaf("OrganAdd", o.organ_add.as_deref())?;
    w.opt_leaf("Email", o.email.as_deref())?;
    w.opt_leaf("Telephone", o.telephone.as_deref())?;
    w.opt_leaf("Fax", o.fax.as_deref())?;
    w.opt_leaf("Website", o.website.as_deref())?;
    w.close();
    Ok(())
}

fn other_info(w: &mut Out, o: &OtherInfo) -> Result<(), EdxmlError> {
    w.open("OtherInfo")?;
    w.opt_leaf("Priority", o.priority.map(|p| p.as_str()))?;
    w.opt_leaf("SphereOfPromulgation", o.sphere_of_promulgation.as_deref())?;
    w.opt_leaf("TyperNotation", o.typer_notation.as_deref())?;
    w.opt_leaf(
        "PromulgationAmount",
        o.promulgation_amount.map(|n| n.to_string()).as_deref(),
    )?;
    w.opt_leaf(
        "PageAmount",
        o.page_amount.map(|n| n.to_string()).as_deref(),
    )?;
    w.opt_leaf(
        "Direction",
        o.direction.map(|d| if d { "true" } else { "false" }),
    )?;
    if !o.appendixes.is_empty() {
        w.open("Appendixes")?;
        for a in &o.appendixes {
            w.leaf("Appendix", a)?;
        }
        w.close();
    }
    w.close();
    Ok(())
}

fn response_for(w: &mut Out, r: &ResponseFor) -> Result<(), EdxmlError> {
    w.open("ResponseFor")?;
    w.leaf("OrganId", r.organ_id.as_str())?;
    w.opt_leaf("Code", r.code.as_deref())?;
    w.opt_leaf(
        "PromulgationDate",
        r.promulgation_date.map(|d| d.to_string()).as_deref(),
    )?;
    w.leaf("DocumentId", r.document_id.as_str())?;
    w.close();
    Ok(())
}

/// Bussiness first, then the hops.
fn trace_list(w: &mut Out, t: &TraceHeaderList) -> Result<(), EdxmlError> {
    w.open("TraceHeaderList")?;
    if let Some(b) = &t.business {
        business(w, b)?;
    }
    for hop in &t.trace_headers {
        w.open("TraceHeader")?;
        w.leaf("OrganId", hop.organ_id.as_str())?;
        w.leaf("Timestamp", &hop.timestamp.to_string())?;
        w.close();
    }
    w.close();
    Ok(())
}

fn business(w: &mut Out, b: &Business) -> Result<(), EdxmlError> {
    w.open("Bussiness")?;
    w.leaf("BussinessDocType", b.doc_type.as_str())?;
    w.opt_leaf("BussinessDocReason", b.reason.as_deref())?;
    w.opt_leaf("Paper", b.paper.map(|p| if p { "1" } else { "0" }))?;
    if let Some(staff) = &b.staff_info {
        staff_info(w, staff)?;
    }
    if let Some(info) = &b.document_info {
        w.open("BussinessDocumentInfo")?;
        w.opt_leaf("DocumentInfo", info.document_info.as_deref())?;
        w.opt_leaf("DocumentReceiver", info.document_receiver.as_deref())?;
        if !info.receivers.is_empty() {
            w.open("ReceiverList")?;
            for r in &info.receivers {
                w.open("Receiver")?;
                w.opt_leaf("ReceiverType", r.receiver_type.as_deref())?;
                w.leaf("OrganId", r.organ_id.as_str())?;
                w.close();
            }
            w.close();
        }
        w.close();
    }
    if !b.replacements.is_empty() {
        w.open("ReplacementInfoList")?;
        for r in &b.replacements {
            w.open("ReplacementInfo")?;
            w.leaf("DocumentId", r.document_id.as_str())?;
            if !r.organ_ids.is_empty() {
                w.open("OrganIdList")?;
                for id in &r.organ_ids {
                    w.leaf("OrganId", id.as_str())?;
                }
                w.close();
            }
            w.close();
        }
        w.close();
    }
    w.close();
    Ok(())
}

fn staff_info(w: &mut Out, s: &StaffInfo) -> Result<(), EdxmlError> {
    w.open("StaffInfo")?;
    w.opt_leaf("Department", s.department.as_deref())?;
    w.opt_leaf("Staff", s.staff.as_deref())?;
    w.opt_leaf("Mobile", s.mobile.as_deref())?;
    w.opt_leaf("Email", s.email.as_deref())?;
    w.close();
    Ok(())
}

/// A manifest entry as clients write it: XLink attributes and a `cid:` content id.
fn manifest_reference(w: &mut Out, a: &Attachment) -> Result<(), EdxmlError> {
    let cid = a.content_id.to_cid_url();
    w.open_with(
        "Reference",
        &[
            ("xmlns:xlink", XLINK_NAMESPACE),
            ("xlink:href", &cid),
            ("xlink:type", "simple"),
        ],
    )?;
    w.leaf("ContentId", &cid)?;
    w.leaf("ContentType", &a.content_type)?;
    w.leaf("AttachmentName", &a.name)?;
    w.opt_leaf("Description", a.description.as_deref())?;
    w.close();
    Ok(())
}

/// Characters per line of base64 text (RFC 2045's limit).
const BASE64_LINE: usize = 76;

/// The attachment with its bare content id and its bytes in base64.
fn encoded_attachment(w: &mut Out, a: &Attachment) -> Result<(), EdxmlError> {
    w.open("Attachment")?;
    w.leaf("ContentId", a.content_id.as_str())?;
    w.leaf("AttachmentName", &a.name)?;
    w.leaf("ContentType", &a.content_type)?;
    w.opt_leaf("Description", a.description.as_deref())?;
    let AttachmentContent::Bytes(data) = &a.content else {
        return Err(EdxmlError::AttachmentNotLoaded {
            content_id: a.content_id.to_string(),
        });
    };
    w.base64_leaf("ContentTransferEncoded", data);
    w.close();
    Ok(())
}

/// An indenting XML writer for one prefix, tracking the open path for error messages.
struct Out {
    buf: String,
    /// Open elements: name and whether a child element was written inside.
    open: Vec<(&'static str, bool)>,
}

impl Out {
    fn new() -> Self {
        Out {
            buf: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            open: Vec::new(),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.push('\n');
        self.buf.into_bytes()
    }

    fn path(&self, name: &str) -> String {
        let mut parts: Vec<&str> = self.open.iter().map(|(n, _)| *n).collect();
        parts.push(name);
        parts.join("/")
    }

    fn newline(&mut self) {
        self.buf.push('\n');
        for _ in 0..self.open.len() {
            self.buf.push_str("  ");
        }
    }

    fn start_tag(
        &mut self,
        name: &'static str,
        attributes: &[(&str, &str)],
    ) -> Result<(), EdxmlError> {
        if let Some(parent) = self.open.last_mut() {
            parent.1 = true;
        }
        self.newline();
        self.buf.push('<');
        self.buf.push_str(PREFIX);
        self.buf.push(':');
        self.buf.push_str(name);
        for (key, value) in attributes {
            self.buf.push(' ');
            self.buf.push_str(key);
            self.buf.push_str("=\"");
            let path = self.path(name);
            escape(&mut self.buf, value, true).map_err(|reason| EdxmlError::InvalidValue {
                path: format!("{path}/@{key}"),
                reason,
            })?;
            self.buf.push('"');
        }
        Ok(())
    }

    fn open_root(&mut self, name: &'static str) -> Result<(), EdxmlError> {
        self.open_with(name, &[("xmlns:edXML", NAMESPACE)])
    }

    fn open(&mut self, name: &'static str) -> Result<(), EdxmlError> {
        self.open_with(name, &[])
    }

    fn open_with(
        &mut self,
        name: &'static str,
        attributes: &[(&str, &str)],
    ) -> Result<(), EdxmlError> {
        self.start_tag(name, attributes)?;
        self.buf.push('>');
        self.open.push((name, false));
        Ok(())
    }

    fn close(&mut self) {
        if let Some((name, had_children)) = self.open.pop() {
            if had_children {
                self.newline();
            }
            self.end_tag(name);
        }
    }

    fn end_tag(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(PREFIX);
        self.buf.push(':');
        self.buf.push_str(name);
        self.buf.push('>');
    }

    fn leaf(&mut self, name: &'static str, value: &str) -> Result<(), EdxmlError> {
        self.start_tag(name, &[])?;
        self.buf.push('>');
        let path = self.path(name);
        escape(&mut self.buf, value, false)
            .map_err(|reason| EdxmlError::InvalidValue { path, reason })?;
        self.end_tag(name);
        Ok(())
    }

    /// Writes the element only for a non-empty value (an empty one would read back as absent).
    fn opt_leaf(&mut self, name: &'static str, value: Option<&str>) -> Result<(), EdxmlError> {
        match value {
            Some(v) if !v.is_empty() => self.leaf(name, v),
            _ => Ok(()),
        }
    }

    /// Base64 in lines of 76 characters separated by `\n`, as MIME (RFC 2045 §6.8) and every
    /// client of the axis write it: readers that expect lines get them, and verifiers (ours
    /// and xmlsec1) are measured on the shape they will meet.
    fn base64_leaf(&mut self, name: &'static str, data: &[u8]) {
        // The name is a constant, so the tag needs no checks.
        let _ = self.start_tag(name, &[]);
        self.buf.push('>');
        let encoded = STANDARD.encode(data);
        self.buf
            .reserve(encoded.len() + encoded.len() / BASE64_LINE + 1);
        for (i, line) in encoded.as_bytes().chunks(BASE64_LINE).enumerate() {
            if i > 0 {
                self.buf.push('\n');
            }
            // Base64 is ASCII: every chunk is a str.
            self.buf
                .push_str(std::str::from_utf8(line).unwrap_or_default());
        }
        self.end_tag(name);
    }
}

/// Escapes character data or an attribute value. Characters that XML 1.0 cannot carry are
/// refused; `\r` (and in attributes tab and newline) are written as references so that they
/// survive the reader's normalization.
fn escape(out: &mut String, value: &str, attribute: bool) -> Result<(), String> {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => {
                out.push(c)
            }
            _ => {
                return Err(format!(
                    "{} contains the character U+{:04X}, which XML 1.0 cannot carry",
                    shown(value),
                    u32::from(c)
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edxml::{
        read, BusinessDocType, BusinessDocumentInfo, ContentId, DocumentId, EdxmlDate,
        EdxmlTimestamp, NonEmpty, OrganId, Priority, Receiver, ReplacementInfo, SignerInfo,
        StatusCode, TraceHeader,
    };
    use crate::xml::reader::Limits;

    fn id(code: &str) -> OrganId {
        OrganId::parse(code).unwrap()
    }

    fn full_organization(code: &str, name: &str) -> Organization {
        Organization {
            organ_id: id(code),
            organization_in_charge: Some("Văn phòng".into()),
            organ_name: name.into(),
            organ_add: Some("Số 8 Tôn Thất Thuyết, Hà Nội".into()),
            email: Some("vanthu@example.gov.vn".into()),
            telephone: Some("024 3824 0101".into()),
            fax: Some("024 3824 0102".into()),
            website: Some("https://example.gov.vn".into()),
        }
    }

    fn response(document_id: &str) -> ResponseFor {
        ResponseFor {
            organ_id: id("000.00.00.G22"),
            code: Some("1021/BNV-CCHC".into()),
            promulgation_date: Some(EdxmlDate::parse("2024/03/11").unwrap()),
            document_id: DocumentId::parse(document_id).unwrap(),
        }
    }

    /// A message with every optional element present.
    fn full_message() -> MessagePacket {
        let mut to = NonEmpty::new(full_organization("000.00.00.G22", "Bộ Nội vụ"));
        to.push(Organization::from_code(id("vxp.saas.03")));
        let mut m = MessagePacket::new_document(
            full_organization("000.00.00.H49", "UBND tỉnh Quảng Ninh"),
            to,
            "V/v báo cáo <quý I> & kế hoạch \"quý II\"",
        );
        let h = &mut m.header;
        h.code.number = "1234".into();
        h.code.notation = "UBND-TH".into();
        h.promulgation.place = "Quảng Ninh".into();
        h.document_type.type_detail = Some(2);
        h.content = Some("Dòng một\nDòng hai\r\nDòng ba\tcó tab".into());
        h.signer = SignerInfo {
            competence: Some("KT. CHỦ TỊCH".into()),
            position: Some("PHÓ CHỦ TỊCH".into()),
            full_name: "Nguyễn Văn Thành".into(),
        };
        h.due_date = Some(EdxmlDate::parse("2024/03/20").unwrap());
        let mut places = NonEmpty::new("Bộ Nội vụ".to_owned());
        places.push("Lưu: VT, TH.".to_owned());
        h.to_places = Some(places);
        h.other_info = Some(OtherInfo {
            priority: Some(Priority::VeryUrgent),
            sphere_of_promulgation: Some("Liên thông văn bản quốc gia".into()),
            typer_notation: Some("TVC".into()),
            promulgation_amount: Some(3),
            page_amount: Some(12),
            direction: Some(true),
            appendixes: vec!["Phụ lục I".into(), "Phụ lục II".into()],
        });
        h.steering_type = Some(1);
        h.response_for = vec![response("000.00.00.G22,2024/03/11,1021/BNV-CCHC")];
        m.trace.business = Some(Business {
            doc_type: BusinessDocType::Update,
            reason: Some("Cập nhật nơi nhận".into()),
            paper: Some(false),
            staff_info: Some(StaffInfo {
                department: Some("Văn phòng".into()),
                staff: Some("Trần Thị Mai".into()),
                mobile: Some("0912 345 678".into()),
                email: Some("ttmai@example.gov.vn".into()),
            }),
            document_info: Some(BusinessDocumentInfo {
                document_info: Some("0".into()),
                document_receiver: Some("1".into()),
                receivers: vec![Receiver {
                    receiver_type: Some("1".into()),
                    organ_id: id("000.00.07.H49"),
                }],
            }),
            replacements: vec![ReplacementInfo {
                document_id: DocumentId::parse("000.00.00.H49,2024/03/01,1200/UBND-TH").unwrap(),
                organ_ids: vec![id("000.00.00.G22"), id("vxp.saas.03")],
            }],
        });
        m.trace.trace_headers.push(TraceHeader {
            organ_id: id("000.00.00.G22"),
            timestamp: EdxmlTimestamp::parse("2024/03/05 09:41:07").unwrap(),
        });
        m
    }

    fn status() -> StatusPacket {
        StatusPacket {
            response_for: response("000.00.00.H49,2024/03/05,1234/UBND-TH"),
            from: Organization::new(id("000.00.00.G22"), "Bộ Nội vụ"),
            status_code: StatusCode::Acceptance,
            description: Some("Đã vào sổ văn bản đến, số đến 4521".into()),
            timestamp: EdxmlTimestamp::parse("2024/03/05 10:15:03").unwrap(),
            staff_info: Some(StaffInfo {
                department: Some("Văn phòng Bộ".into()),
                staff: Some("Đỗ Văn Nam".into()),
                ..StaffInfo::default()
            }),
        }
    }

    fn round_trip(packet: Packet) -> (Vec<u8>, Packet) {
        let bytes = write(&packet).unwrap();
        let read_back = read(&bytes, Limits::default()).unwrap();
        (bytes, read_back)
    }

    #[test]
    fn message_round_trips() {
        let packet = Packet::from(full_message());
        let (_, back) = round_trip(packet.clone());
        assert_eq!(back, packet);
        let minimal = MessagePacket::new_document(
            Organization::from_code(id("000.00.00.H49")),
            NonEmpty::new(Organization::from_code(id("000.00.00.G22"))),
            "Thông báo",
        );
        let (_, back) = round_trip(minimal.clone().into());
        assert_eq!(back, minimal.into());
    }

    #[test]
    fn status_round_trips() {
        let (bytes, back) = round_trip(status().into());
        assert_eq!(back, status().into());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXML:edXMLEnvelope xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">"));
        assert!(text.contains("<edXML:StatusCode>03</edXML:StatusCode>"));
        for code in StatusCode::ALL {
            let mut s = status();
            s.status_code = code;
            s.staff_info = None;
            s.description = None;
            s.response_for.code = None;
            s.response_for.promulgation_date = None;
            assert_eq!(round_trip(s.clone().into()).1, s.into());
        }
    }

    #[test]
    fn attachments_round_trip_through_the_manifest() {
        let mut m = full_message();
        let pdf: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        m.attach("Công văn 1234.pdf", "application/pdf", pdf.clone());
        m.attach("Phụ lục.txt", "text/plain", "Phụ lục".as_bytes().to_vec());
        m.attachments[1].description = Some("Phụ lục số liệu".into());
        m.attach("rỗng.bin", "application/octet-stream", Vec::new());
        let (bytes, back) = round_trip(m.clone().into());
        let Packet::Message(mut back) = back else {
            panic!()
        };
        assert!(matches!(
            back.attachments[0].content,
            AttachmentContent::InPacket(_)
        ));
        back.load_attachments(&bytes).unwrap();
        assert_eq!(*back, m);
        let text = String::from_utf8(bytes).unwrap();
        let cid = m.attachments[0].content_id.as_str();
        assert!(text.contains(&format!("xlink:href=\"cid:{cid}\"")));
        assert!(text.contains(&format!("<edXML:ContentId>cid:{cid}</edXML:ContentId>")));
        assert!(text.contains(&format!("<edXML:ContentId>{cid}</edXML:ContentId>")));
        assert!(text.find("</edXML:edXMLEnvelope>") < text.find("<edXML:AttachmentEncoded>"));
    }

    #[test]
    fn message_header_is_written_in_sdk_order() {
        let bytes = write_message(&full_message()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let header = &text[text.find("<edXML:MessageHeader>").unwrap()
            ..text.find("</edXML:MessageHeader>").unwrap()];
        let order = [
            "From",
            "To",
            "Code",
            "PromulgationInfo",
            "DocumentType",
            "Subject",
            "Content",
            "SignerInfo",
            "DueDate",
            "ToPlaces",
            "OtherInfo",
            "SteeringType",
            "ResponseFor",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|name| {
                header
                    .find(&format!("\n        <edXML:{name}>"))
                    .unwrap_or_else(|| panic!("{name}"))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        let last_child = header.rfind("\n        <edXML:").unwrap();
        assert!(header[last_child..].starts_with("\n        <edXML:DocumentId>"));
        let doc_type = &header[header.find("<edXML:DocumentType>").unwrap()..];
        assert!(doc_type.find("<edXML:Type>") < doc_type.find("<edXML:TypeName>"));
        assert!(doc_type.find("<edXML:TypeName>") < doc_type.find("<edXML:TypeDetail>"));
        let trace = &text[text.find("<edXML:TraceHeaderList>").unwrap()..];
        assert!(trace.find("<edXML:Bussiness>") < trace.find("<edXML:TraceHeader>"));
        assert!(!text.contains("Signature"));
    }

    #[test]
    fn escapes_markup_and_refuses_what_xml_cannot_carry() {
        let text = String::from_utf8(write_message(&full_message()).unwrap()).unwrap();
        assert!(text.contains("V/v báo cáo &lt;quý I&gt; &amp; kế hoạch \"quý II\""));
        assert!(text.contains("Dòng hai&#13;\nDòng ba"));
        let mut m = full_message();
        m.header.subject = "bad \u{1} byte".into();
        let err = write_message(&m).unwrap_err();
        assert_eq!(err.code(), "edxml.invalid_value");
        assert!(
            err.to_string()
                .contains("edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Subject"),
            "{err}"
        );
        assert!(err.to_string().contains("U+0001"), "{err}");
    }

    #[test]
    fn refuses_packets_it_could_not_read_back() {
        let mut revoke = full_message();
        revoke.header.response_for.clear();
        if let Some(b) = revoke.trace.business.as_mut() {
            b.doc_type = BusinessDocType::Revoke;
            b.replacements.clear();
        }
        assert_eq!(
            write_message(&revoke).unwrap_err().code(),
            "edxml.missing_element"
        );

        let mut twice = full_message();
        twice.attach("a.txt", "text/plain", b"a".to_vec());
        let copy = twice.attachments[0].clone();
        twice.attachments.push(copy);
        assert_eq!(
            write_message(&twice).unwrap_err().code(),
            "edxml.attachment_mismatch"
        );

        let mut m = full_message();
        m.attach("a.txt", "text/plain", b"abc".to_vec());
        let bytes = write_message(&m).unwrap();
        let Packet::Message(read_back) = read(&bytes, Limits::default()).unwrap() else {
            panic!()
        };
        let err = write_message(&read_back).unwrap_err();
        assert_eq!(err.code(), "edxml.attachment_source");
        assert!(err
            .to_string()
            .contains(m.attachments[0].content_id.as_str()));
    }

    #[test]
    fn empty_optionals_are_left_out() {
        let mut m = full_message();
        m.header.content = Some(String::new());
        let text = String::from_utf8(write_message(&m).unwrap()).unwrap();
        assert!(!text.contains("<edXML:Content>"));
        let cid = ContentId::parse("cid:x").unwrap();
        assert_eq!(cid.as_str(), "x");
    }
}
