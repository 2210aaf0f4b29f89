//! The one error of the HTTP edge: a status and a JSON body `{code, message}` whose code is a
//! stable dotted code of docs/ERRORS.md. Every refusal of the layers below maps here; the
//! status only groups them (clients match on `code`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::audit::proofs::AuditError;
use crate::delivery::evidence::EvidenceError;
use crate::directory::DirectoryError;
use crate::exchange::ExchangeError;
use crate::store::StoreError;

/// An API refusal or failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Too many requests of this kind now: try again after `seconds`.
    pub fn too_many(code: &'static str, message: impl Into<String>, seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    /// No credentials, or credentials that do not name an active agency.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="lienthong""#));
        }
        match self.retry_after {
            Some(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            None if self.status == StatusCode::SERVICE_UNAVAILABLE
                || self.status == StatusCode::TOO_MANY_REQUESTS =>
            {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            None => {}
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a slow body is not waited for: the connection ends with the answer.
            response.force_close();
        }
        response.json(Body {
            code: self.code,
            message: &self.message,
        })
    }
}

/// Statuses decided on the error's variants, in one place: the status only groups refusals for
/// HTTP (clients match on the code), and a code string is never parsed to choose it.
mod status {
    use actix_web::http::StatusCode;

    use crate::directory::DirectoryError;
    use crate::dsig::DsigError;
    use crate::edxml::EdxmlError;
    use crate::exchange::{ExchangeError, StateError};
    use crate::pki::PkiError;
    use crate::store::StoreError;
    use crate::trust::Refusal;
    use crate::xml::reader::XmlError;

    pub fn of_exchange(e: &ExchangeError) -> StatusCode {
        match e {
            ExchangeError::Refused(r) => of_refusal(r),
            ExchangeError::State(StateError::WrongActor { .. }) => StatusCode::FORBIDDEN,
            ExchangeError::State(_) | ExchangeError::DuplicateDocument { .. } => {
                StatusCode::CONFLICT
            }
            ExchangeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ExchangeError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            ExchangeError::Busy { agency: true } => StatusCode::TOO_MANY_REQUESTS,
            ExchangeError::Busy { agency: false } => StatusCode::SERVICE_UNAVAILABLE,
            ExchangeError::Body(_) | ExchangeError::FieldTooLarge { .. } => StatusCode::BAD_REQUEST,
            ExchangeError::UnknownRecipient { .. } | ExchangeError::UnknownDocument { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ExchangeError::SenderMismatch { .. }
            | ExchangeError::NotOriginalSender { .. }
            | ExchangeError::NotARecipient { .. } => StatusCode::FORBIDDEN,
            ExchangeError::NotFound { .. } => StatusCode::NOT_FOUND,
            ExchangeError::Receipt(_) | ExchangeError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ExchangeError::Store(e) => of_store(e),
            ExchangeError::Directory(e) => of_directory(e),
        }
    }

    /// Malformed packets are the client's (400, 413 when too large), refused signatures and
    /// certificates are well-formed but unacceptable (422), our own trust material or crypto
    /// failing is ours (500).
    fn of_refusal(r: &Refusal) -> StatusCode {
        match r {
            Refusal::Edxml(EdxmlError::Xml(x)) | Refusal::Dsig(DsigError::Xml(x)) => of_xml(x),
            Refusal::Edxml(_) | Refusal::UnlistedAgency { .. } => StatusCode::BAD_REQUEST,
            Refusal::Dsig(DsigError::C14n(_) | DsigError::Crypto(_))
            | Refusal::Pki(PkiError::Config { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::Dsig(_) | Refusal::Pki(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn of_xml(x: &XmlError) -> StatusCode {
        match x {
            XmlError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Only a database that cannot be reached is worth retrying (503, with Retry-After); a
    /// conflict is the caller's; anything else is a bug or damaged data, answered 500.
    pub fn of_store(e: &StoreError) -> StatusCode {
        match e {
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Config { .. }
            | StoreError::Migration(_)
            | StoreError::Io { .. }
            | StoreError::BlobMissing(_)
            | StoreError::Corrupt(_)
            | StoreError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn of_directory(e: &DirectoryError) -> StatusCode {
        match e {
            DirectoryError::UnknownAgency(_) => StatusCode::NOT_FOUND,
            DirectoryError::Store(e) => of_store(e),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ExchangeError> for ApiError {
    fn from(e: ExchangeError) -> Self {
        ApiError::new(status::of_exchange(&e), e.code(), e.to_string())
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        ApiError::new(status::of_directory(&e), e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(status::of_store(&e), e.code(), e.to_string())
    }
}

/// Evidence not there yet is a state of the packet (409); a named agency that is not a
/// recipient, like a packet the caller cannot see, is not found (404).
impl From<EvidenceError> for ApiError {
    fn from(e: EvidenceError) -> Self {
        let status = match &e {
            EvidenceError::NotYet(_) => StatusCode::CONFLICT,
            EvidenceError::UnknownRecipient { .. } => StatusCode::NOT_FOUND,
            EvidenceError::Sign(_) => StatusCode::INTERNAL_SERVER_ERROR,
            EvidenceError::Exchange(e) => status::of_exchange(e),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// A proof not there yet is a state of the log (409); what the caller may not see is not found.
impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        let status = match &e {
            AuditError::NotFound(_) => StatusCode::NOT_FOUND,
            AuditError::NotYet(_) => StatusCode::CONFLICT,
            AuditError::BadRange(_) => StatusCode::BAD_REQUEST,
            AuditError::OutOfScope(_) => StatusCode::FORBIDDEN,
            AuditError::Store(e) => status::of_store(e),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_their_statuses_by_variant() {
        use crate::exchange::StateError;
        let status = |e: ExchangeError| ApiError::from(e).status;
        assert_eq!(
            status(ExchangeError::TooLarge { limit: 1 }),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status(ExchangeError::DuplicateDocument {
                sender: "a".into(),
                document_id: "b".into()
            }),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(ExchangeError::State(StateError::Final {
                code: "03",
                state: "06".into()
            })),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(ExchangeError::State(StateError::WrongActor {
                code: "13",
                expected: "sender"
            })),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(ExchangeError::NotFound {
                what: "x".into(),
                agency: "y".into()
            }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(ExchangeError::Refused(crate::trust::Refusal::Dsig(
                crate::dsig::DsigError::DigestMismatch
            ))),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn only_an_unreachable_database_is_worth_a_retry() {
        let unavailable = ApiError::from(StoreError::Unavailable("down".into()));
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
        let response = unavailable.error_response();
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        for bug in [
            StoreError::Corrupt("bad row".into()),
            StoreError::Database("syntax".into()),
            StoreError::BlobMissing("k".into()),
        ] {
            let answer = ApiError::from(bug);
            assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
            assert!(!answer
                .error_response()
                .headers()
                .contains_key(header::RETRY_AFTER));
        }
        assert_eq!(
            ApiError::from(StoreError::Conflict("dup".into())).status,
            StatusCode::CONFLICT
        );
    }
}
