//! `GET /v1/overdue`: the letters whose deadlines passed — those the caller sent that a
//! recipient has not acknowledged or handled in time, and those in its own inbox
//! (docs/DELIVERY.md, "Deadlines").

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::store::deadlines::Side;

use super::auth::Caller;
use super::{ApiError, AppState};

/// Entries of each kind when the request does not say, and at most.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

#[derive(Deserialize)]
pub(super) struct Params {
    role: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    let side = match params.role.as_deref() {
        None => Side::Both,
        Some("sender") => Side::Sent,
        Some("recipient") => Side::Received,
        Some(other) => {
            return Err(ApiError::bad_request(
                "http.bad_request",
                format!("role={other}: must be sender or recipient"),
            ))
        }
    };
    let limit = super::routes::page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let list = state
        .deadlines
        .overdue(caller.0.as_str(), side, limit)
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
