//! Why the exchange refused a packet or a request: the exchange's own rules, plus the trust
//! core's, the state machine's and the store's refusals passed through with their codes.

use crate::directory::DirectoryError;
use crate::store::StoreError;
use crate::trust::Refusal;

use super::state::StateError;

/// A refusal or failure of the exchange, each with a stable code (docs/ERRORS.md).
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The trust core refused the packet (structure, signature, certificate, binding).
    #[error(transparent)]
    Refused(#[from] Refusal),

    /// The per-recipient state machine refused a status.
    #[error(transparent)]
    State(#[from] StateError),

    /// The packet is larger than the configured limit.
    #[error("the packet is larger than the limit of {limit} bytes; split the attachments over several documents")]
    TooLarge { limit: u64 },

    /// A field the exchange keeps in its own rows (the subject, a status's description) is
    /// longer than its documented maximum; the packet itself may be far smaller than the limit.
    #[error("{field} is {size} bytes, above its maximum of {limit} bytes (docs/ERRORS.md, limits.field_too_large)")]
    FieldTooLarge {
        field: &'static str,
        size: usize,
        limit: usize,
    },

    /// The request body could not be read to its end (the client stopped sending).
    #[error("the packet could not be received whole: {0}")]
    Body(String),

    /// The client sent the body too slowly: nothing for the idle timeout, or less than the
    /// minimum rate on average. The connection is closed and its memory given back.
    #[error("the packet arrived too slowly: {0}; send it again over a better connection")]
    SlowBody(String),

    /// No room to receive the packet within the wait: the agency's own share of uploads or
    /// memory is taken by its other uploads (`agency`), or the server's whole budget is.
    #[error("{}", if *.agency { "this agency's other uploads hold its whole share of the server; send again when they are done" } else { "the server is receiving as much as it can hold; send again shortly" })]
    Busy { agency: bool },

    /// Recipients named in `To` that are not active agencies of the directory.
    #[error("recipient{} {} {} not in the directory (or deactivated); the whole packet was refused, correct the To list and send again", plural(.codes.len()), .codes.join(", "), if .codes.len() == 1 { "is" } else { "are" })]
    UnknownRecipient { codes: Vec<String> },

    /// The packet's From is not the agency that authenticated the request.
    #[error("the packet is from {from}, but the request was authenticated as {authenticated}; an agency may only send as itself")]
    SenderMismatch { from: String, authenticated: String },

    /// Another packet was accepted under this sender's DocumentId.
    #[error("{sender} already sent a different packet with DocumentId {document_id}; a new document needs a new DocumentId (a retry must send exactly the same bytes)")]
    DuplicateDocument { sender: String, document_id: String },

    /// The document a packet refers to does not exist.
    #[error("there is no document {document_id} sent by {sender}")]
    UnknownDocument { sender: String, document_id: String },

    /// A revoke, update, replace or take-back names another agency's document.
    #[error("only {original_sender}, the document's original sender, may revoke, update, replace or take back document {document_id}; {agency} may not")]
    NotOriginalSender {
        agency: String,
        original_sender: String,
        document_id: String,
    },

    /// A status about a document from an agency that is neither its recipient nor its sender.
    #[error("{agency} is not a recipient of document {document_id} from {sender}, so it cannot report a status for it")]
    NotARecipient {
        agency: String,
        sender: String,
        document_id: String,
    },

    /// A packet, delivery or document that does not exist or that the caller may not see.
    #[error("{what} does not exist or is not visible to {agency}")]
    NotFound { what: String, agency: String },

    /// Signing the receipt failed (the receipt key or OpenSSL), not a property of the packet.
    #[error("cannot sign the receipt: {0}")]
    Receipt(String),

    /// A verification or blob task could not run to its end.
    #[error("an internal task failed: {0}")]
    Internal(String),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl ExchangeError {
    /// Stable dotted code, listed in docs/ERRORS.md.
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::Refused(e) => e.code(),
            ExchangeError::State(e) => e.code(),
            ExchangeError::TooLarge { .. } => "limits.too_large",
            ExchangeError::FieldTooLarge { .. } => "limits.field_too_large",
            ExchangeError::Body(_) => "http.body",
            ExchangeError::SlowBody(_) => "http.timeout",
            ExchangeError::Busy { .. } => "limits.busy",
            ExchangeError::UnknownRecipient { .. } => "exchange.unknown_recipient",
            ExchangeError::SenderMismatch { .. } => "exchange.sender_mismatch",
            ExchangeError::DuplicateDocument { .. } => "exchange.duplicate_document",
            ExchangeError::UnknownDocument { .. } => "exchange.unknown_document",
            ExchangeError::NotOriginalSender { .. } => "exchange.not_original_sender",
            ExchangeError::NotARecipient { .. } => "exchange.not_a_recipient",
            ExchangeError::NotFound { .. } => "exchange.not_found",
            ExchangeError::Receipt(_) => "exchange.receipt",
            ExchangeError::Internal(_) => "internal.task",
            ExchangeError::Store(e) => e.code(),
            ExchangeError::Directory(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_to_fix() {
        let one = ExchangeError::UnknownRecipient {
            codes: vec!["000.00.00.X99".into()],
        };
        assert_eq!(one.code(), "exchange.unknown_recipient");
        assert!(one
            .to_string()
            .starts_with("recipient 000.00.00.X99 is not"));
        let two = ExchangeError::UnknownRecipient {
            codes: vec!["000.00.00.X98".into(), "000.00.00.X99".into()],
        };
        assert!(two
            .to_string()
            .starts_with("recipients 000.00.00.X98, 000.00.00.X99 are not"));
        let state = ExchangeError::from(StateError::NothingToAnswer { code: "15" });
        assert_eq!(state.code(), "exchange.status_order");
    }
}
