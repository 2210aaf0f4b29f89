//! The audit log's routes (docs/AUDIT.md): the log's verifier key, its latest checkpoint, an
//! event's inclusion proof and the consistency proof between two tree sizes. The key and the
//! checkpoints are the log's public face; an event's proof goes to whoever may see the packet
//! it is about (its sender and recipients), and to operators.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::audit::proofs::{self, AuditError};
use crate::directory::CredentialRole;

use super::auth::Caller;
use super::{ApiError, AppState};

/// `GET /v1/audit/key`: the verifier key in signed-note `vkey` form.
pub(super) async fn key(state: web::Data<AppState>) -> HttpResponse {
    let vkey = state.audit.key().verifier().to_vkey();
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{vkey}\n"))
}

/// `GET /v1/audit/checkpoints/latest`: the latest signed checkpoint, a C2SP signed note.
pub(super) async fn latest(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let checkpoint = proofs::latest(state.exchange.store()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(checkpoint.note))
}

#[derive(Deserialize)]
pub(super) struct InclusionParams {
    event: i64,
    size: Option<u64>,
}

/// `GET /v1/audit/proof/inclusion?event=N[&size=S]`.
pub(super) async fn inclusion(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<InclusionParams>,
) -> Result<HttpResponse, ApiError> {
    let store = state.exchange.store();
    let event = proofs::event(store, params.event).await?;
    let hidden = || AuditError::NotFound(format!("event {}", params.event));
    if caller.1 != CredentialRole::Operator {
        let packet = event.packet_id.as_deref().ok_or_else(hidden)?;
        if !state.exchange.may_see_packet(&caller.0, packet).await? {
            return Err(hidden().into());
        }
    }
    let proof = proofs::inclusion(store, &event, params.size).await?;
    Ok(HttpResponse::Ok().json(proof))
}

#[derive(Deserialize)]
pub(super) struct ConsistencyParams {
    from: u64,
    to: u64,
}

/// `GET /v1/audit/proof/consistency?from=M&to=N`.
pub(super) async fn consistency(
    state: web::Data<AppState>,
    _caller: Caller,
    params: web::Query<ConsistencyParams>,
) -> Result<HttpResponse, ApiError> {
    let proof = proofs::consistency(state.exchange.store(), params.from, params.to).await?;
    Ok(HttpResponse::Ok().json(proof))
}
