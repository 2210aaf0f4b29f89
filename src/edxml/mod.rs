//! The edXML format (QCVN 102:2016): typed packets, codes, a streaming reader and a writer.
//!
//! ```
//! use lienthong::edxml::{self, MessagePacket, NonEmpty, OrganId, Organization, Packet};
//! use lienthong::xml::reader::Limits;
//!
//! let from = Organization::new(OrganId::parse("000.00.00.H49")?, "UBND tỉnh Quảng Ninh");
//! let to = NonEmpty::new(Organization::from_code(OrganId::parse("000.00.00.G22")?));
//! let mut letter = MessagePacket::new_document(from, to, "Về việc báo cáo tình hình");
//! letter.attach("bao-cao.pdf", "application/pdf", b"%PDF-1.7 ...".to_vec());
//!
//! let bytes = edxml::write(&letter.clone().into())?;
//! let Packet::Message(read) = edxml::read(&bytes, Limits::default())? else { unreachable!() };
//! assert_eq!(read.header, letter.header);
//! // Attachments stay in `bytes` until asked for.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The reader follows spec/edxml.md §1, §2 and the field notes of §6: it accepts the `edXML`
//! and `edXMLEnvelope` roots and SOAP 1.1-wrapped status packets, matches elements by namespace
//! URI only, takes children in any order, skips unknown elements and signature subtrees (the
//! `dsig` module owns those) and never copies attachment content.

pub mod codes;
pub mod content;
pub mod date;
pub mod error;
pub mod model;
pub mod reader;
mod tree;
pub mod writer;

pub use codes::{
    AgencyCode, BusinessDocType, CodeError, NonStandardCode, OrganId, Priority, StatusCode,
};
pub use content::{ContentError, ContentId, EncodedContent};
pub use date::{DateError, EdxmlDate, EdxmlTimestamp, VIETNAM_OFFSET};
pub use error::EdxmlError;
pub use model::{
    Attachment, AttachmentContent, Business, BusinessDocumentInfo, DocumentCode, DocumentId,
    DocumentType, MessageHeader, MessagePacket, NonEmpty, Organization, OtherInfo, Packet,
    PromulgationInfo, Receiver, ReplacementInfo, ResponseFor, SignerInfo, StaffInfo, StatusPacket,
    TraceHeader, TraceHeaderList,
};
pub use reader::{read, read_document, read_events};
pub use writer::{write, write_message, write_status};

/// The edXML namespace used by every known client (the prefix, usually `edXML`, carries no
/// meaning).
pub const NAMESPACE: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";

/// The SOAP 1.1 envelope namespace, for SOAP-wrapped status packets.
pub const SOAP_ENVELOPE_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The XML-DSig namespace; `Signature` elements in it are left to the dsig module.
pub const XMLDSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The XLink namespace of the manifest's `Reference` attributes.
pub const XLINK_NAMESPACE: &str = "http://www.w3.org/1999/xlink";
