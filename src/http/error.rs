//! The one error of the HTTP edge: a status and a JSON body `{code, message}` whose code is a
//! stable dotted code of docs/ERRORS.md. Every refusal of the layers below maps here; the
//! status only groups them (clients match on `code`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::directory::DirectoryError;
use crate::exchange::ExchangeError;
use crate::store::StoreError;

/// An API refusal or failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.json(Body {
            code: self.code,
            message: &self.message,
        })
    }
}

/// The status a code is answered with.
pub fn status_of(code: &str) -> StatusCode {
    let family = code.split('.').next().unwrap_or_default();
    match code {
        "limits.too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "exchange.duplicate_document" | "store.conflict" => StatusCode::CONFLICT,
        "exchange.status_order" | "exchange.status_final" => StatusCode::CONFLICT,
        "exchange.sender_mismatch"
        | "exchange.not_original_sender"
        | "exchange.not_a_recipient"
        | "exchange.status_not_allowed" => StatusCode::FORBIDDEN,
        "exchange.not_found" | "directory.unknown_agency" => StatusCode::NOT_FOUND,
        "exchange.unknown_recipient" | "exchange.unknown_document" => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        "store.unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "pki.config" => StatusCode::INTERNAL_SERVER_ERROR,
        "http.not_found" => StatusCode::NOT_FOUND,
        _ => match family {
            // The request itself is wrong (unreadable body, bad parameter).
            "http" => StatusCode::BAD_REQUEST,
            // The packet itself is malformed.
            "xml" | "edxml" | "limits" => StatusCode::BAD_REQUEST,
            // Well-formed, but its signature or certificate is refused.
            "dsig" | "pki" => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

impl From<ExchangeError> for ApiError {
    fn from(e: ExchangeError) -> Self {
        let code = e.code();
        ApiError::new(status_of(code), code, e.to_string())
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        let code = e.code();
        ApiError::new(status_of(code), code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = e.code();
        ApiError::new(status_of(code), code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_documented_statuses() {
        assert_eq!(status_of("edxml.malformed"), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_of("dsig.digest_mismatch"),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status_of("pki.revoked"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status_of("pki.config"), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of("limits.too_large"), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            status_of("exchange.duplicate_document"),
            StatusCode::CONFLICT
        );
        assert_eq!(status_of("exchange.status_order"), StatusCode::CONFLICT);
        assert_eq!(status_of("exchange.sender_mismatch"), StatusCode::FORBIDDEN);
        assert_eq!(
            status_of("exchange.unknown_recipient"),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status_of("exchange.not_found"), StatusCode::NOT_FOUND);
        assert_eq!(
            status_of("store.unavailable"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of("store.database"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
