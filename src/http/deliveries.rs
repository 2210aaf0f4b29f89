//! `GET /v1/deliveries`: the pushes of the letters an agency sent or receives, by state — what
//! is parked (and why), what is still being retried (docs/DELIVERY.md).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::delivery::outbox::{self, PushView, Viewer, MAX_PAGE};
use crate::directory::CredentialRole;
use crate::store::pushes::PushState;

use super::auth::Caller;
use super::{ApiError, AppState};

/// Pushes per page when the request does not say.
const DEFAULT_PAGE: u32 = 100;

#[derive(Deserialize)]
pub(super) struct Params {
    state: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct Page {
    deliveries: Vec<PushView>,
    next_after: i64,
}

pub(super) async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    let wanted = params.state.as_deref().unwrap_or("parked");
    let push_state = PushState::parse(wanted).ok_or_else(|| {
        ApiError::bad_request(
            "http.bad_request",
            format!(
                "state={wanted}: must be one of {}",
                PushState::ALL.map(PushState::as_str).join(", ")
            ),
        )
    })?;
    let after = params.after.unwrap_or(0);
    let limit = super::routes::page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let viewer = match caller.1 {
        CredentialRole::Operator => Viewer::Operator,
        // A `Caller` is never an auditor.
        CredentialRole::Agency | CredentialRole::Auditor => Viewer::Agency(caller.0.as_str()),
    };
    let deliveries = outbox::list(state.exchange.store(), viewer, push_state, after, limit).await?;
    let next_after = deliveries.last().map_or(after, |d| d.delivery);
    Ok(HttpResponse::Ok().json(Page {
        deliveries,
        next_after,
    }))
}
