//! `GET /v1/packets/{id}/evidence`: the signed delivery evidence of a packet, for its sender
//! (docs/DELIVERY.md, "Delivery evidence"; the rule and the document: `delivery::evidence`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::delivery::evidence;

use super::auth::Caller;
use super::{ApiError, AppState};

#[derive(Deserialize)]
pub(super) struct Params {
    /// Only this recipient's event.
    recipient: Option<String>,
}

pub(super) async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    params: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    let xml =
        evidence::evidence(&state.exchange, &caller.0, &id, params.recipient.as_deref()).await?;
    Ok(HttpResponse::Ok().content_type("application/xml").body(xml))
}
