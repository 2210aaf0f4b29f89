//! Why a packet could not be read or written, each reason with a stable code.

use crate::xml::reader::XmlError;

use super::codes::CodeError;
use super::content::ContentError;

/// Everything that can go wrong in reading or writing a packet.
#[derive(Debug, thiserror::Error)]
pub enum EdxmlError {
    /// The bytes are not acceptable XML at all (the code is the XML reader's own).
    #[error(transparent)]
    Xml(#[from] XmlError),

    #[error("the packet has no {path} element, which is required")]
    MissingElement { path: String },

    #[error("a {action} packet (BussinessDocType {number}) must name the original document in {replacement} or {response_for}, but names none")]
    MissingOriginal {
        action: &'static str,
        number: &'static str,
        replacement: String,
        response_for: String,
    },

    #[error("{path} appears more than once, but the packet may have only one")]
    DuplicateElement { path: String },

    #[error("{path} has an invalid value: {reason}")]
    InvalidValue { path: String, reason: String },

    #[error("{path}: {error}")]
    InvalidAgencyCode { path: String, error: CodeError },

    #[error("{path} is {found}, but packet elements must be in the edXML namespace \"{expected}\"{hint}")]
    WrongNamespace {
        path: String,
        found: String,
        expected: &'static str,
        hint: String,
    },

    #[error("this is not an edXML packet: the root element is {root}; expected edXML or edXMLEnvelope in the edXML namespace, or a SOAP 1.1 Envelope carrying a Status")]
    NotAPacket { root: String },

    #[error("the attachments do not match the manifest: {reason}")]
    AttachmentMismatch { reason: String },

    #[error("{path}: {error}")]
    Content { path: String, error: ContentError },

    #[error("attachment {content_id} still points into the packet it was read from; load it with MessagePacket::load_attachments before writing")]
    AttachmentNotLoaded { content_id: String },
}

impl EdxmlError {
    /// Stable error code (listed in docs/ERRORS.md).
    pub fn code(&self) -> &'static str {
        match self {
            EdxmlError::Xml(e) => e.code(),
            EdxmlError::MissingElement { .. } | EdxmlError::MissingOriginal { .. } => {
                "edxml.missing_element"
            }
            EdxmlError::DuplicateElement { .. } => "edxml.duplicate_element",
            EdxmlError::InvalidValue { .. } => "edxml.invalid_value",
            EdxmlError::InvalidAgencyCode { error, .. } => error.code(),
            EdxmlError::WrongNamespace { .. } => "edxml.wrong_namespace",
            EdxmlError::NotAPacket { .. } => "edxml.not_a_packet",
            EdxmlError::AttachmentMismatch { .. } => "edxml.attachment_mismatch",
            EdxmlError::Content { error, .. } => error.code(),
            EdxmlError::AttachmentNotLoaded { .. } => "edxml.attachment_source",
        }
    }
}
